//! `ANY /api/v1/proxy/{path}` and `GET /api/v1/proxy/status`: the HTTP side
//! of proxying. A request is parsed, handed to the domain's admission, and
//! if admitted streamed to the upstream and back; the admission hears when
//! the upstream answered and when both bodies are done.

mod body;
mod errors;
mod headers;
mod in_flight;
mod status;

use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use zenzefi_domain::admission::{Admitted, ProxyAdmission, ProxyRequest, Refusal};
use zenzefi_domain::proxy::ProxyPath;

use self::body::{Download, ExchangeReport, upload};
use self::errors::ProxyError;
use self::headers::{REQUEST_DROPS, RESPONSE_DROPS, connection_named, is_end_to_end, names};
pub use self::in_flight::InFlight;
use crate::error::ApiError;
use crate::extract::{Forwarding, client_ip, payload_error, user_agent};
use crate::metrics;
use crate::rate_limit::{Policy, insert_headers};
use crate::request_id::RequestId;
use crate::state::AppState;
use crate::upstream::{OutgoingBody, RequestHead, Response, Upstream, UpstreamError, header_safe};

pub const PREFIX: &str = "/api/v1/proxy/";

const FORWARDED_METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

/// What a proxying HTTP worker holds: its own upstream client and the
/// shared admission.
pub struct Proxy {
    pub upstream: Upstream,
    pub admission: Arc<ProxyAdmission>,
    /// Shared by every worker: the caps are per instance.
    pub in_flight: Arc<InFlight>,
}

/// The route label of every forwarded request.
pub const ROUTE_TEMPLATE: &str = "/api/v1/proxy/{path}";

/// A scope with a static prefix and a default service: routing a proxied
/// request costs a prefix comparison, not a regex match.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/proxy")
            .service(web::resource("/status").route(web::get().to(status::status)))
            .default_service(web::to(forward)),
    );
}

/// A header the proxy decides by, which a client may send at most once:
/// with two copies, which one a check reads would be left to chance.
fn credential(req: &HttpRequest, name: header::HeaderName) -> Result<Option<&str>, ProxyError> {
    let mut values = req.headers().get_all(&name);
    let first = values.next();
    if values.next().is_some() {
        return Err(ProxyError::RepeatedHeader(name));
    }
    Ok(first.and_then(|v| v.to_str().ok()))
}

/// Every refusal and failure is counted under its problem code.
async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    proxy: web::Data<Proxy>,
) -> Result<HttpResponse, ApiError> {
    forward_checked(req, payload, &state, &proxy)
        .await
        .inspect_err(|err| {
            metrics::proxy_denied(err.code());
            if err.code() == "rate_limited" {
                metrics::rate_limited(Policy::Proxy.as_str());
            }
        })
}

async fn forward_checked(
    req: HttpRequest,
    payload: web::Payload,
    state: &AppState,
    proxy: &Proxy,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    if !FORWARDED_METHODS.contains(req.method()) {
        return Err(ProxyError::MethodNotForwarded.into());
    }
    let admitted = proxy
        .admission
        .admit(ProxyRequest {
            // The raw target, before actix or anyone decodes it.
            raw_path: req.uri().path().strip_prefix(PREFIX).unwrap_or_default(),
            device_id: credential(&req, names::client::DEVICE_ID)?,
            access_token: credential(&req, names::client::ACCESS_TOKEN)?,
            client_ip: client_ip(&req),
            user_agent: user_agent(&req),
        })
        .await?;
    let Admitted {
        token,
        path,
        exchange,
        session,
        quota,
    } = admitted;
    let flight = proxy.in_flight.enter(&token).map_err(ProxyError::from)?;
    let upstream = &proxy.upstream;
    // Proxied requests log without a request span (it costs more than the
    // rest of the log): the lines that need the id carry it.
    let request_id = req.extensions().get::<RequestId>().cloned();
    let head = upstream_head(
        &req,
        upstream,
        &path,
        &state.forwarding,
        request_id.as_ref(),
    )?;
    let mut report = ExchangeReport::new(
        proxy.admission.clone(),
        exchange,
        session,
        flight,
        request_id,
    );
    let (body, upload_fault) = if has_body(&req) {
        let (body, fault) = upload(payload, &report);
        (body, Some(fault))
    } else {
        (OutgoingBody::Empty, None)
    };

    let sent = {
        let send = upstream.send(head, body, upstream.request_timeout);
        futures::pin_mut!(send);
        // A token revoked while the upstream thinks is refused like any other.
        std::future::poll_fn(|cx| match report.poll_cut(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => send.as_mut().poll(cx).map(Some),
        })
        .await
    };
    let latency = started.elapsed();
    let mut failure = None;
    let answered: Result<Response, ApiError> = match sent {
        None => Err(Refusal::InvalidToken.into()),
        // The upload failing is what made the exchange fail.
        Some(Err(_)) if let Some(fault) = upload_fault.as_ref().and_then(|f| f.get()) => {
            Err(payload_error(fault))
        }
        Some(Err(err)) => {
            if let UpstreamError::Unavailable(cause) = &err {
                tracing::warn!(request_id = report.request_id(), error = %cause, "upstream unavailable");
            }
            let err = ProxyError::from(err);
            failure = err.usage_reason();
            Err(err.into())
        }
        Some(Ok(response)) => proxy
            .admission
            .answered(&token)
            .await
            .map(|()| response)
            .map_err(ApiError::from),
    };
    let status = match &answered {
        Ok(response) => response.status,
        Err(err) => err.status_code().as_u16(),
    };
    report.answered(status, failure);
    metrics::proxied(req.method(), status, token.scope, latency);
    let head_request = req.method() == Method::HEAD;
    let answered = answered.map_err(|err| match quota {
        Some(quota) => err.with_quota(Policy::Proxy, quota),
        None => err,
    })?;
    let mut relayed = relay(answered, report, upstream.request_timeout, head_request);
    if let Some(quota) = &quota {
        insert_headers(relayed.headers_mut(), Policy::Proxy, quota);
    }
    Ok(relayed)
}

/// The request line and headers for the upstream: the client's end-to-end
/// headers, then `X-Forwarded-*` and our request id. A chunked upload is
/// forwarded chunked, and then any `Content-Length` beside it is not: two
/// framings could be read two ways (request smuggling).
fn upstream_head(
    req: &HttpRequest,
    upstream: &Upstream,
    path: &ProxyPath,
    forwarding: &Forwarding,
    request_id: Option<&RequestId>,
) -> Result<RequestHead, ProxyError> {
    let mut head = upstream
        .request(req.method().as_str(), path.as_str(), req.uri().query())
        .ok_or(ProxyError::UnforwardableTarget)?;
    let headers = req.headers();
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let named = connection_named(headers.get_all(header::CONNECTION).map(|v| v.as_bytes()));
    for (name, value) in headers.iter() {
        let name = name.as_str();
        if is_end_to_end(name, &named, &REQUEST_DROPS) && !(chunked && name == "content-length") {
            head.header(name, value.as_bytes());
        }
    }
    forwarded_headers(req, forwarding, &mut head);
    if let Some(id) = request_id {
        head.header(names::upstream::REQUEST_ID, id.as_str().as_bytes());
    }
    if has_body(req) {
        head.with_body(!chunked);
    }
    Ok(head)
}

/// `X-Forwarded-*` as a reverse proxy sets them, and our request id: the
/// addresses the gateway vouches for (client first, the peer last), and the
/// scheme and host a trusted proxy reported or else `server.public_url`'s,
/// never an untrusted client's `Host` or request line.
fn forwarded_headers(req: &HttpRequest, forwarding: &Forwarding, head: &mut RequestHead) {
    let mut forwarded_for = String::new();
    for ip in forwarding.chain(req) {
        if !forwarded_for.is_empty() {
            forwarded_for.push_str(", ");
        }
        push_ip(&mut forwarded_for, ip);
    }
    let (scheme, host) = forwarding.proto_and_host(req);
    let pairs = [
        (names::upstream::FORWARDED_PROTO, scheme),
        (names::upstream::FORWARDED_HOST, host),
        (names::upstream::FORWARDED_FOR, forwarded_for.as_str()),
    ];
    for (name, value) in pairs {
        if !value.is_empty() && header_safe(value) {
            head.header(name, value.as_bytes());
        }
    }
}

/// Appends `ip` in its usual text form; IPv4 without `fmt`, whose
/// machinery costs more than the rest of the header on every request.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        // Writing into a String cannot fail.
        IpAddr::V6(v6) => drop(write!(out, "{v6}")),
    }
}

/// A request has a body when its framing says so (RFC 9112 §6.1).
fn has_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || content_length(headers.get(header::CONTENT_LENGTH).map(|v| v.as_bytes()))
            .is_some_and(|n| n > 0)
}

/// A `Content-Length` value as a number (either side's header type).
fn content_length(value: Option<&[u8]>) -> Option<u64> {
    std::str::from_utf8(value?).ok()?.parse().ok()
}

/// The upstream's answer, status and end-to-end headers unchanged, body
/// streamed with the same length when the upstream declared one. actix
/// writes `Content-Length` from the body it is given, so the answer to a
/// HEAD (no body) declares the length the upstream's header announced.
fn relay(
    response: Response,
    report: ExchangeReport,
    idle_limit: Duration,
    head_request: bool,
) -> HttpResponse {
    let Response {
        status,
        headers,
        body,
    } = response;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let length = if head_request {
        content_length(headers.get(header::CONTENT_LENGTH).map(|v| v.as_bytes()))
    } else {
        body.exact_len()
    };
    let named = connection_named(headers.get_all(header::CONNECTION).map(|v| v.as_bytes()));
    let body = Download::new(body, report, idle_limit);
    let mut relayed = match length {
        Some(length) => HttpResponse::build(status).body(SizedStream::new(length, body)),
        None => HttpResponse::build(status).body(BodyStream::new(body)),
    };
    let kept = relayed.headers_mut();
    for (name, value) in headers {
        if is_end_to_end(name.as_str(), &named, &RESPONSE_DROPS) {
            kept.append(name, value);
        }
    }
    relayed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_as_std_prints_them() {
        for ip in [
            "0.0.0.0",
            "10.200.3.45",
            "127.0.0.1",
            "255.255.255.255",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = String::from("x, ");
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x, {ip}"));
        }
    }
}
