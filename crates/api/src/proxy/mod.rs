//! `ANY /api/v1/proxy/{path}` and `GET /api/v1/proxy/status` (SPEC §7):
//! checks in the SPEC's order, then a streaming forward to the upstream.

mod body;
mod errors;
mod headers;
mod status;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use zenzefi_domain::ports::{ProxyExchange, SessionTracker};
use zenzefi_domain::proxy::{DeviceId, ProxyPath};
use zenzefi_domain::token::AccessToken;

use self::body::{Download, ExchangeReport, upload};
use self::errors::ProxyError;
use self::headers::{
    ACCESS_TOKEN, DEVICE_ID, REQUEST_DROPS, RESPONSE_DROPS, connection_named, end_to_end,
};
use crate::error::ApiError;
use crate::extract::request_context;
use crate::metrics;
use crate::request_id::RequestId;
use crate::state::AppState;
use crate::upstream::Upstream;

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

/// What the proxy needs besides the use-cases.
pub struct Proxy {
    pub upstream: Upstream,
    pub sessions: Arc<dyn SessionTracker>,
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

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The token named by `X-Access-Token`, valid right now; never activates.
async fn presented_token(req: &HttpRequest, state: &AppState) -> Result<AccessToken, ApiError> {
    let presented = header(req, ACCESS_TOKEN).ok_or(ProxyError::InvalidToken)?;
    Ok(state.tokens.validate(presented, false).await?)
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
        .inspect_err(|err| metrics::proxy_denied(err.code()))
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
    let device = match header(&req, DEVICE_ID) {
        None => return Err(ProxyError::DeviceIdRequired.into()),
        Some(raw) => DeviceId::parse(raw).ok_or(ProxyError::InvalidDeviceId)?,
    };
    let token = presented_token(&req, state).await?;
    // The raw target, before actix or anyone decodes it.
    let raw_path = req.uri().path().strip_prefix(PREFIX).unwrap_or_default();
    let path = ProxyPath::parse(raw_path).map_err(ProxyError::InvalidPath)?;
    if !token.scope.allows(&path) {
        return Err(ProxyError::ScopeDenied.into());
    }
    let ctx = request_context(&req);
    let exchange = ProxyExchange {
        user_id: token.user_id,
        token_id: token.id,
        device_id: device,
        ip: ctx.ip,
        user_agent: ctx.user_agent,
    };
    let session = proxy.sessions.admit(&exchange).await?;
    let report = ExchangeReport::new(proxy.sessions.clone(), exchange, session);

    let upstream = &proxy.upstream;
    let url = upstream.url_for(path.as_str(), req.uri().query());
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ProxyError::MethodNotForwarded)?;
    let mut outgoing = upstream.client.request(method, url);
    let incoming = req
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()));
    let named = connection_named(req.headers().get_all("connection").map(|v| v.as_bytes()));
    for (name, value) in end_to_end(incoming, named, &REQUEST_DROPS) {
        outgoing = outgoing.header(name, value);
    }
    outgoing = forwarded_headers(&req, outgoing);
    if has_body(&req) {
        outgoing = outgoing.body(upload(payload, &report));
    }

    let scope = token.scope;
    let sent = tokio::time::timeout(upstream.request_timeout, outgoing.send()).await;
    let latency = started.elapsed();
    let answered: Result<reqwest::Response, ApiError> = match sent {
        Err(_) => Err(ProxyError::UpstreamTimeout.into()),
        Ok(Err(err)) => Err(ProxyError::from_client(err).into()),
        // The first proxied request that got an answer starts the token's clock.
        Ok(Ok(response)) => state
            .tokens
            .activate(token)
            .await
            .map(|_| response)
            .map_err(ApiError::from),
    };
    let status = match &answered {
        Ok(response) => response.status().as_u16(),
        Err(err) => err.status_code().as_u16(),
    };
    metrics::proxied(req.method(), status, scope, latency);
    Ok(relay(answered?, report))
}

/// `X-Forwarded-*` as a reverse proxy sets them, and our request id.
fn forwarded_headers(
    req: &HttpRequest,
    outgoing: reqwest::RequestBuilder,
) -> reqwest::RequestBuilder {
    let conn = req.connection_info();
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let forwarded_for = match (header(req, "x-forwarded-for"), peer) {
        (Some(chain), Some(peer)) => format!("{chain}, {peer}"),
        (Some(chain), None) => chain.to_owned(),
        (None, Some(peer)) => peer,
        (None, None) => String::new(),
    };
    let mut outgoing = outgoing
        .header("x-forwarded-proto", conn.scheme())
        .header("x-forwarded-host", conn.host());
    if !forwarded_for.is_empty() {
        outgoing = outgoing.header("x-forwarded-for", forwarded_for);
    }
    if let Some(id) = req.extensions().get::<RequestId>() {
        outgoing = outgoing.header("x-request-id", id.0.as_str());
    }
    outgoing
}

/// A request has a body when its framing says so (RFC 9112 §6.1).
fn has_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    headers.contains_key("transfer-encoding")
        || headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// The upstream's answer, status and end-to-end headers unchanged, body
/// streamed with the same length when the upstream declared one.
fn relay(response: reqwest::Response, report: ExchangeReport) -> HttpResponse {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut relayed = HttpResponse::build(status);
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()));
    let named = connection_named(
        response
            .headers()
            .get_all("connection")
            .iter()
            .map(|v| v.as_bytes()),
    );
    for (name, value) in end_to_end(headers, named, &RESPONSE_DROPS) {
        relayed.append_header((name, value));
    }
    let length = response.content_length();
    let body = Download::new(Box::pin(response.bytes_stream()), report);
    match length {
        Some(length) => relayed.body(SizedStream::new(length, body)),
        None => relayed.body(BodyStream::new(body)),
    }
}
