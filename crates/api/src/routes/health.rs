//! `GET /health` and `GET /health/detailed`, served from the
//! background checker's last report, and this instance's own
//! `GET /health/live` and `GET /health/ready`.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::{OpenApi, ToSchema};
use zenzefi_domain::health::{Check, HealthReport, HealthStatus};

use super::Endpoint;
use crate::openapi::schemas;
use crate::readiness::Readiness;
use crate::state::AppState;

pub(super) const ROUTES: &[Endpoint] = &[
    (Method::GET, "/health", |r| r.to(health)),
    (Method::GET, "/health/detailed", |r| r.to(detailed)),
    (Method::GET, "/health/live", |r| r.to(live)),
    (Method::GET, "/health/ready", |r| r.to(ready)),
];

#[derive(OpenApi)]
#[openapi(paths(health, detailed, live, ready))]
pub(super) struct Api;

/// The overall grade and when it was checked.
#[derive(Serialize, ToSchema)]
struct HealthResponse {
    /// `healthy`, `degraded` (only the upstream is down) or `unhealthy`
    /// (the database or Redis is down, or the last check is too old).
    #[schema(value_type = schemas::HealthStatus)]
    status: &'static str,
    /// When the reported check ran; `null` before the first one finished.
    #[schema(value_type = Option<String>, format = DateTime)]
    timestamp: Option<String>,
}

/// The summary, with each dependency's outcome and latency.
#[derive(Serialize, ToSchema)]
struct DetailedHealthResponse {
    #[serde(flatten)]
    summary: HealthResponse,
    checks: Checks,
    latencies: Latencies,
}

/// Each dependency's outcome: `ok`, `unavailable` or `not_configured`
/// (no Redis in this deployment).
#[derive(Serialize, ToSchema)]
struct Checks {
    #[schema(value_type = schemas::CheckOutcome)]
    database: &'static str,
    #[schema(value_type = schemas::CheckOutcome)]
    redis: &'static str,
    /// The upstream Zenzefi server.
    #[schema(value_type = schemas::CheckOutcome)]
    zenzefi: &'static str,
}

/// Each check's duration in milliseconds; `null` when it did not run.
#[derive(Serialize, ToSchema)]
struct Latencies {
    database_ms: Option<f64>,
    redis_ms: Option<f64>,
    zenzefi_ms: Option<f64>,
}

impl Checks {
    fn of(report: &HealthReport) -> Self {
        Self {
            database: report.database.outcome.as_str(),
            redis: report.redis.outcome.as_str(),
            zenzefi: report.upstream.outcome.as_str(),
        }
    }
}

impl Latencies {
    fn of(report: &HealthReport) -> Self {
        let ms = |c: &Check| {
            c.latency
                .map(|l| (l.as_secs_f64() * 1000.0 * 100.0).round() / 100.0)
        };
        Self {
            database_ms: ms(&report.database),
            redis_ms: ms(&report.redis),
            zenzefi_ms: ms(&report.upstream),
        }
    }
}

fn respond(report: Option<HealthReport>, detailed: bool) -> HttpResponse {
    let Some(report) = report else {
        // Only before the first check has finished.
        return HttpResponse::ServiceUnavailable().json(HealthResponse {
            status: HealthStatus::Unhealthy.as_str(),
            timestamp: None,
        });
    };
    let summary = HealthResponse {
        status: report.status.as_str(),
        timestamp: report.checked_at.format(&Rfc3339).ok(),
    };
    let mut response = HttpResponse::build(match report.status {
        HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        HealthStatus::Healthy | HealthStatus::Degraded => StatusCode::OK,
    });
    if detailed {
        response.json(DetailedHealthResponse {
            summary,
            checks: Checks::of(&report),
            latencies: Latencies::of(&report),
        })
    } else {
        response.json(summary)
    }
}

#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "health",
    summary = "The last health check's grade",
    description = "Served from the background checker's cached report; never waits on a dependency.",
    responses(
        (status = 200, description = "`healthy` or `degraded`", body = HealthResponse),
        (status = 503, description = "`unhealthy`", body = HealthResponse),
    )
)]
async fn health(state: web::Data<AppState>) -> HttpResponse {
    respond(state.health.current(), false)
}

#[utoipa::path(
    get,
    path = "/health/detailed",
    operation_id = "health_detailed",
    tag = "health",
    summary = "The last health check, per dependency",
    responses(
        (status = 200, description = "`healthy` or `degraded`", body = DetailedHealthResponse),
        (status = 503, description = "`unhealthy`", body = DetailedHealthResponse),
    )
)]
async fn detailed(state: web::Data<AppState>) -> HttpResponse {
    respond(state.health.current(), true)
}

/// This instance's own state, for a load balancer.
#[derive(Serialize, ToSchema)]
struct InstanceResponse {
    /// `live`, `ready` or `not_ready`.
    #[schema(example = "ready")]
    status: &'static str,
}

#[utoipa::path(
    get,
    path = "/health/live",
    operation_id = "health_live",
    tag = "health",
    summary = "Whether this instance serves",
    description = "200 while the process answers HTTP; checks no dependency. For a liveness probe: restart the instance when it fails.",
    responses((status = 200, description = "`live`", body = InstanceResponse))
)]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(InstanceResponse { status: "live" })
}

#[utoipa::path(
    get,
    path = "/health/ready",
    operation_id = "health_ready",
    tag = "health",
    summary = "Whether this instance can serve requests now",
    description = "This instance's own view, not the shared report of `/health`: 503 within a second of its requests or its own probes failing on PostgreSQL (or Redis, when configured), 200 again within a second of recovery. For a load balancer: send traffic only to instances answering 200.",
    responses(
        (status = 200, description = "`ready`", body = InstanceResponse),
        (status = 503, description = "`not_ready`", body = InstanceResponse),
    )
)]
async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_ready() {
        HttpResponse::Ok().json(InstanceResponse { status: "ready" })
    } else {
        HttpResponse::ServiceUnavailable().json(InstanceResponse {
            status: "not_ready",
        })
    }
}
