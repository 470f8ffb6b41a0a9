//! `GET /health` and `GET /health/detailed` (SPEC §10), served from the
//! background checker's last report.

use actix_web::{HttpResponse, web};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use zenzefi_domain::health::{Check, HealthReport, HealthStatus};

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(health)))
        .service(web::resource("/health/detailed").route(web::get().to(detailed)));
}

fn respond(report: Option<HealthReport>, detailed: bool) -> HttpResponse {
    let Some(report) = report else {
        // Only before the first check has finished.
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unhealthy", "timestamp": null }));
    };
    let timestamp = report.checked_at.format(&Rfc3339).ok();
    let mut body = json!({ "status": report.status.as_str(), "timestamp": timestamp });
    if detailed {
        let ms = |c: &Check| {
            c.latency
                .map(|l| (l.as_secs_f64() * 1000.0 * 100.0).round() / 100.0)
        };
        body["checks"] = json!({
            "database": report.database.outcome.as_str(),
            "redis": report.redis.outcome.as_str(),
            "zenzefi": report.upstream.outcome.as_str(),
        });
        body["latencies"] = json!({
            "database_ms": ms(&report.database),
            "redis_ms": ms(&report.redis),
            "zenzefi_ms": ms(&report.upstream),
        });
    }
    match report.status {
        HealthStatus::Unhealthy => HttpResponse::ServiceUnavailable().json(body),
        HealthStatus::Healthy | HealthStatus::Degraded => HttpResponse::Ok().json(body),
    }
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    respond(state.health.current(), false)
}

async fn detailed(state: web::Data<AppState>) -> HttpResponse {
    respond(state.health.current(), true)
}
