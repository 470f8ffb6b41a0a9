//! Every response carries `X-Request-Id` (the client's, when it sent a
//! sane one), and every log line of the request carries it too. The same
//! middleware counts the request in `zenzefi_http_requests_total` and tells
//! readiness about dependency outages: one layer instead of three on every
//! request, the proxy's included.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

use crate::{metrics, proxy, readiness};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, in the request's extensions: the
/// header value itself, so that passing it on copies nothing.
#[derive(Debug, Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Only visible ASCII gets in (`acceptable`, or a UUID's text).
        self.0.to_str().unwrap_or_default()
    }
}

fn acceptable(value: &HeaderValue) -> Option<HeaderValue> {
    let bytes = value.as_bytes();
    let sane = (1..=128).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic);
    sane.then(|| value.clone())
}

/// A new id: a UUIDv7's text, written without `fmt`.
fn generate() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(acceptable)
        .unwrap_or_else(generate);
    req.extensions_mut().insert(RequestId(id.clone()));
    // Proxied requests, the hot path, get no span: it would cost more than
    // the rest of their log line. Their completion line and the proxy's own
    // warnings carry the id instead.
    let proxied = req.path().starts_with(proxy::PREFIX);
    let span = if proxied {
        tracing::Span::none()
    } else {
        tracing::info_span!(
            "request",
            request_id = id.to_str().unwrap_or_default(),
            method = req.method().as_str()
        )
    };
    let started = Instant::now();
    let method = req.method().clone();

    // Handler and extractor errors arrive here as responses already.
    let outcome = next.call(req).instrument(span.clone()).await;
    metrics::count_response(&method, &outcome);
    let mut res = outcome?;
    readiness::observe_response(&res);
    // The fields are evaluated only when the line is logged.
    let route = || metrics::route_label(res.request());
    let elapsed_ms = || started.elapsed().as_millis() as u64;
    if proxied {
        tracing::info!(
            request_id = id.to_str().unwrap_or_default(),
            method = method.as_str(),
            route = route().as_ref(),
            status = res.status().as_u16(),
            elapsed_ms = elapsed_ms(),
            "request completed"
        );
    } else {
        span.in_scope(|| {
            tracing::info!(
                route = route().as_ref(),
                status = res.status().as_u16(),
                elapsed_ms = elapsed_ms(),
                "request completed"
            );
        });
    }
    res.headers_mut().insert(X_REQUEST_ID, id);
    Ok(res)
}
