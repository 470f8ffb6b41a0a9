//! The documentation of the routes mounted outside [`crate::routes`]: the
//! proxy and `/metrics`. Their handlers live in
//! `crate::proxy` and `crate::metrics`; the functions here are never
//! routed and only carry `#[utoipa::path]` attributes.

use actix_web::http::Method;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{ContentBuilder, PathItem, RefOr};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use crate::error::{PROBLEM_JSON, Problem};
use crate::openapi::problem;
use crate::openapi::schemas::{self, named_schemas, strings};

pub const PROXY_STATUS: &str = "/api/v1/proxy/status";
/// Everything else under the proxy's prefix; `{path}` may hold `/`.
pub const PROXY_FORWARD: &str = crate::proxy::ROUTE_TEMPLATE;
pub const METRICS: &str = "/metrics";

/// The methods the proxy forwards; any other gets 405
/// `method_not_allowed`.
const FORWARDED: [(Method, HttpMethod); 7] = [
    (Method::GET, HttpMethod::Get),
    (Method::POST, HttpMethod::Post),
    (Method::PUT, HttpMethod::Put),
    (Method::PATCH, HttpMethod::Patch),
    (Method::DELETE, HttpMethod::Delete),
    (Method::HEAD, HttpMethod::Head),
    (Method::OPTIONS, HttpMethod::Options),
];

/// Every route documented here, as `(method, path)`.
pub fn routes() -> Vec<(Method, String)> {
    let mut routes = vec![
        (Method::GET, PROXY_STATUS.to_owned()),
        (Method::GET, METRICS.to_owned()),
    ];
    routes.extend(
        FORWARDED
            .iter()
            .map(|(method, _)| (method.clone(), PROXY_FORWARD.to_owned())),
    );
    routes
}

#[derive(OpenApi)]
#[openapi(paths(proxy_status, forward, metrics))]
struct Api;

/// The paths, with the forwarding operation copied to every forwarded
/// method.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = Api::openapi();
    if let Some(item) = api.paths.paths.get_mut(PROXY_FORWARD)
        && let Some(template) = item.get.take()
    {
        *item = FORWARDED
            .iter()
            .map(|(method, http_method)| {
                PathItem::new(http_method.clone(), forwarding(method, template.clone()))
            })
            .fold(PathItem::default(), |mut all, one| {
                all.merge_operations(one);
                all
            });
    }
    api
}

/// The forwarding operation as `method` has it: its own id, a body where
/// the method has one, none in a HEAD response.
fn forwarding(method: &Method, mut operation: Operation) -> Operation {
    let name = method.as_str().to_ascii_lowercase();
    operation.operation_id = Some(format!("proxy_{name}"));
    operation.summary = Some(format!("Forward a {method} request to the Zenzefi server"));
    if [Method::POST, Method::PUT, Method::PATCH].contains(method) {
        operation.request_body = Some(RefOr::T(
            RequestBodyBuilder::new()
                .description(Some(
                    "Any body, streamed to the upstream as it arrives (no size limit)",
                ))
                .content("*/*", ContentBuilder::new().build())
                .build(),
        ));
    }
    if *method == Method::HEAD {
        for response in operation.responses.responses.values_mut() {
            if let RefOr::T(response) = response {
                response.content.clear();
            }
        }
    }
    operation
}

// The handler's own type is private to `crate::proxy`; the OpenAPI test
// compares this copy with what the route answers.
/// A valid token's state, as the token holder's client shows it.
#[derive(ToSchema)]
#[schema(as = ProxyStatus)]
#[allow(dead_code, reason = "a schema only: never built, never read")]
struct ProxyStatusSchema {
    #[schema(example = true)]
    connected: bool,
    user_id: Uuid,
    token_id: Uuid,
    #[schema(value_type = schemas::Scope)]
    scope: String,
    /// Whether a proxied request has started the token's clock.
    is_activated: bool,
    /// `null` until activation.
    expires_at: Option<time::OffsetDateTime>,
    duration_hours: u32,
    /// Until expiry; the whole duration before activation.
    time_remaining_seconds: i64,
    #[schema(value_type = ProxyState)]
    status: String,
}

named_schemas! {
    /// `ready` before the token's first proxied request, `active` after.
    ProxyState => strings(["ready", "active"]);
}

#[utoipa::path(
    get,
    path = PROXY_STATUS,
    operation_id = "proxy_status",
    tag = "proxy",
    summary = "What a token holder's client shows",
    description = "Validates the token without activating it and without opening a session.",
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The token is valid", body = ProxyStatusSchema),
        (status = 400, description = "`bad_request`: `X-Access-Token` sent twice", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "`invalid_token`: missing, unknown, expired or revoked", body = Problem, content_type = PROBLEM_JSON),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
#[allow(
    dead_code,
    reason = "documentation only: crate::proxy serves the route"
)]
fn proxy_status() {}

#[utoipa::path(
    get,
    path = PROXY_FORWARD,
    operation_id = "proxy_forward",
    tag = "proxy",
    description = "Checks, in this order: `X-Device-ID`, the token, the raw path's safety, the \
                   token's scope, the token's session (one device at a time). Then forwards \
                   to the upstream with the original query, streaming both bodies; the \
                   gateway's own headers (`X-Access-Token`, `X-Device-ID`) and hop-by-hop \
                   headers are not forwarded. The first answered request activates the token.",
    security(("access_token" = [])),
    params(
        ("path" = String, Path,
            description = "The upstream path, `/` included, forwarded exactly as sent. Refused \
                           with `invalid_path` unless, decoded once, it is UTF-8 without control \
                           characters or `%`, has no encoded `/` or `\\` (nor a literal `\\`), \
                           and no segment is empty, `.` or `..` once its `;…` parameters are \
                           dropped (`..;` and `%2e%2e;x` are dot segments)"),
        ("X-Device-ID" = String, Header,
            description = "The client device: 8–255 visible ASCII characters",
            min_length = 8, max_length = 255, pattern = "^[!-~]+$"),
    ),
    responses(
        (status = 200, description = "The upstream's answer: its status, headers (minus \
            hop-by-hop) and body pass through unchanged, streamed; with the token's \
            `RateLimit-Policy` and `RateLimit` headers added", content(("*/*"))),
        (status = 400, description = "`device_id_required`, `invalid_device_id`, `invalid_path`, or `bad_request` (`X-Access-Token` or `X-Device-ID` sent twice, or the request body was cut short or badly framed)", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "`invalid_token`: missing, unknown, expired or revoked", body = Problem, content_type = PROBLEM_JSON),
        (status = 403, description = "`user_inactive`, or `scope_denied`: a `certificates_only` \
            token outside the certificate paths (matched on the decoded path), or with any `;`", body = Problem, content_type = PROBLEM_JSON),
        (status = 408, response = problem::RequestTimeout),
        (status = 409, description = "`device_conflict`: another device holds the token's live session", body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "`rate_limited`: over the token's limit (SPEC §13), retry after `Retry-After` seconds; or `too_many_in_flight`: the token has `proxy.max_in_flight_per_token` requests in flight on this instance", body = Problem, content_type = PROBLEM_JSON,
            headers(("Retry-After" = u32, description = "Seconds to wait before the next attempt (with `rate_limited`)"))),
        (status = 500, response = problem::InternalError),
        (status = 502, description = "`upstream_unavailable`", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, response = problem::ServiceUnavailable),
        (status = 504, description = "`upstream_timeout`", body = Problem, content_type = PROBLEM_JSON),
        (status = "default", description = "Any other status the upstream answered, passed through", content(("*/*"))),
    )
)]
#[allow(
    dead_code,
    reason = "documentation only: crate::proxy serves the route"
)]
fn forward() {}

#[utoipa::path(
    get,
    path = METRICS,
    operation_id = "metrics",
    tag = "metrics",
    summary = "Prometheus metrics",
    description = "Open, unless `metrics.bearer_token` is set: then it must be sent as \
                   `Authorization: Bearer <it>`.",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "`not_authenticated`: `metrics.bearer_token` is set and was not sent", body = Problem, content_type = PROBLEM_JSON),
    )
)]
#[allow(
    dead_code,
    reason = "documentation only: crate::metrics serves the route"
)]
fn metrics() {}
