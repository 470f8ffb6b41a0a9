//! Problem responses that many operations share, as reusable
//! response components: an operation names them with
//! `(status = 401, response = problem::NotAuthenticated)`. Problems that
//! belong to one operation are written inline at the operation.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToResponse, ToSchema};

use crate::error::{PROBLEM_JSON, Problem};

/// A problem+json response whose body is the `Problem` schema.
fn problem(description: &str, example: Value) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(Problem::name())))
            .example(Some(example))
            .build(),
    )
}

/// Declares a unit struct per shared problem and its [`ToResponse`].
macro_rules! shared_problems {
    ($($name:ident => $build:expr;)+) => {
        $(
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), RefOr::T($build.build()))
                }
            }
        )+

        /// Every shared problem, for the document's components.
        pub fn all() -> Vec<(&'static str, RefOr<Response>)> {
            vec![$(<$name as ToResponse>::response()),+]
        }
    };
}

shared_problems! {
    NotAuthenticated => problem(
        "`not_authenticated`: no valid `Authorization: Bearer <JWT>` (missing, malformed, \
         expired, or its user no longer exists)",
        json!({
            "type": "about:blank", "title": "Unauthorized", "status": 401,
            "detail": "A valid bearer token is required", "code": "not_authenticated"
        }),
    )
    .header(
        "WWW-Authenticate",
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).examples(["Bearer"])))
            .description(Some("`Bearer`"))
            .build(),
    );
    ValidationFailed => problem(
        "`validation_failed`: one entry in `errors` per invalid field (body, query or path)",
        json!({
            "type": "about:blank", "title": "Unprocessable Entity", "status": 422,
            "detail": "Invalid request: limit", "code": "validation_failed",
            "errors": [{ "field": "limit", "message": "must be between 1 and 100" }]
        }),
    );
    MalformedJson => problem(
        "`malformed_json`: the body is not JSON; `bad_request`: it could not be read",
        json!({
            "type": "about:blank", "title": "Bad Request", "status": 400,
            "detail": "The body is not valid JSON", "code": "malformed_json"
        }),
    );
    RequestTimeout => problem(
        "`request_timeout`: the body did not arrive within `server.client_body_timeout_secs` \
         (a proxied body: paused longer than that between two chunks)",
        json!({
            "type": "about:blank", "title": "Request Timeout", "status": 408,
            "detail": "The request body did not arrive in time", "code": "request_timeout"
        }),
    );
    PayloadTooLarge => problem(
        "`payload_too_large`: JSON bodies are limited to 64 KiB",
        json!({
            "type": "about:blank", "title": "Payload Too Large", "status": 413,
            "detail": "JSON bodies are limited to 65536 bytes", "code": "payload_too_large"
        }),
    );
    UnsupportedMediaType => problem(
        "`unsupported_media_type`: the body must be sent as `application/json`",
        json!({
            "type": "about:blank", "title": "Unsupported Media Type", "status": 415,
            "detail": "Send the body as application/json", "code": "unsupported_media_type"
        }),
    );
    BalanceLimit => problem(
        "`balance_limit`: crediting this would take the balance above `currency.max_balance`; \
         nothing is credited (a paid deposit stays pending until there is room)",
        json!({
            "type": "about:blank", "title": "Conflict", "status": 409,
            "detail": "This would take the balance above the limit of 10000000.00 ZNC",
            "code": "balance_limit"
        }),
    );
    RateLimited => problem(
        "`rate_limited`: over this endpoint's limit (SPEC §13); retry after `Retry-After` seconds",
        json!({
            "type": "about:blank", "title": "Too Many Requests", "status": 429,
            "detail": "Too many requests for this account; retry later", "code": "rate_limited"
        }),
    )
    .header(
        "Retry-After",
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1))))
            .description(Some("Seconds to wait before the next attempt"))
            .build(),
    );
    InternalError => problem(
        "`internal_error`: the cause is logged with the request id, never sent",
        json!({
            "type": "about:blank", "title": "Internal Server Error", "status": 500,
            "detail": "The server could not complete the request", "code": "internal_error"
        }),
    );
    ServiceUnavailable => problem(
        "`service_unavailable`: the database or Redis is unreachable, or the instance is at capacity (password hashing queue, `proxy.max_in_flight`); retry shortly",
        json!({
            "type": "about:blank", "title": "Service Unavailable", "status": 503,
            "detail": "A dependency of the service is unavailable; try again shortly",
            "code": "service_unavailable"
        }),
    );
}

/// A reference to a shared response of `components.responses`.
fn shared<R: ToResponse<'static>>() -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(R::response().0))
}

/// The refusals every admin operation can answer, named once:
/// `responses((status = 200, ...), problem::AdminRefusals)`.
pub struct AdminRefusals;

impl IntoResponses for AdminRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let forbidden = ResponseBuilder::new()
            .description("`superuser_required`, or `user_inactive`")
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(Problem::name())))
                    .build(),
            )
            .build();
        BTreeMap::from([
            ("401".to_owned(), shared::<NotAuthenticated>()),
            ("403".to_owned(), RefOr::T(forbidden)),
            ("422".to_owned(), shared::<ValidationFailed>()),
            ("500".to_owned(), shared::<InternalError>()),
            ("503".to_owned(), shared::<ServiceUnavailable>()),
        ])
    }
}

/// The refusals of every endpoint that reads a JSON body, named once:
/// malformed (400), too slow (408), too large (413), not JSON (415),
/// invalid fields (422).
pub struct JsonBodyRefusals;

impl IntoResponses for JsonBodyRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("400".to_owned(), shared::<MalformedJson>()),
            ("408".to_owned(), shared::<RequestTimeout>()),
            ("413".to_owned(), shared::<PayloadTooLarge>()),
            ("415".to_owned(), shared::<UnsupportedMediaType>()),
            ("422".to_owned(), shared::<ValidationFailed>()),
        ])
    }
}
