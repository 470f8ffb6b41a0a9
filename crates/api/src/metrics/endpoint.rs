//! `GET /metrics`: the recorder rendered as Prometheus text, behind
//! `metrics.bearer_token` when one is set.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;
use zenzefi_bootstrap::Secret;

use crate::error::ApiError;

pub struct MetricsEndpoint {
    pub recorder: PrometheusHandle,
    /// Empty: the endpoint is open.
    pub bearer_token: Secret,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(render)));
}

async fn render(
    req: HttpRequest,
    endpoint: web::Data<MetricsEndpoint>,
) -> Result<HttpResponse, ApiError> {
    if !endpoint.bearer_token.is_empty() {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let allowed = presented.is_some_and(|token| {
            same_secret(token.as_bytes(), endpoint.bearer_token.expose().as_bytes())
        });
        if !allowed {
            return Err(ApiError::not_authenticated());
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(endpoint.recorder.render()))
}

/// Compares in time that depends on the lengths only, not on where the
/// first difference is.
fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn only_the_exact_secret_matches() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3creT", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }
}
