//! The OpenAPI 3.1 document (`GET /openapi.json`), built from the handlers'
//! `#[utoipa::path]` attributes, and Swagger UI at `/docs`. The UI's assets
//! are compiled into the binary (utoipa-swagger-ui's `vendored` feature):
//! nothing is fetched at build time, and the page loads nothing from a CDN.

mod amount_pattern;
mod configured;
mod extra_paths;
pub(crate) mod problem;
pub(crate) mod schemas;

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::{FieldProblem, Problem};
use crate::routes;

/// Where the document is served.
pub const DOCUMENT: &str = "/openapi.json";
/// Swagger UI's page; it redirects to [`UI_FILES`]' index so that the
/// page's relative asset links resolve under `/docs/`.
const UI: &str = "/docs";
const UI_FILES: &str = "/docs/{_:.*}";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zenzefi Gateway",
        description = "Sells time-limited access tokens to the Zenzefi server and proxies \
                       token holders' requests to it.\n\n\
                       Every error is `application/problem+json` (RFC 9457) with a stable \
                       `code`. Amounts of ZNC are decimal strings with two places \
                       (`\"18.00\"`); instants are RFC 3339, UTC.",
    ),
    tags(
        (name = "auth", description = "Registration and login"),
        (name = "users", description = "The caller's account"),
        (name = "sessions", description = "The caller's proxy sessions"),
        (name = "currency", description = "ZNC balance, ledger and deposits"),
        (name = "payments", description = "The payment provider's side"),
        (name = "tokens", description = "Access tokens: pricing, purchase, revocation"),
        (name = "proxy", description = "The reverse proxy to the Zenzefi server"),
        (name = "admin", description = "Operators' API; superusers only"),
        (name = "health", description = "Dependency health, and this instance's liveness and readiness"),
        (name = "metrics", description = "Prometheus metrics"),
    ),
    components(schemas(Problem, FieldProblem)),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

/// The credentials operations name in their `security`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The `access_token` of `POST /api/v1/auth/login`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Access-Token",
                "An access token's secret (`zzf_…`), as bought",
            ))),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`metrics.bearer_token`, when one is configured"))
                    .build(),
            ),
        );
    }
}

pub use configured::Limits;

/// The document as served: built once at startup, for this configuration.
pub struct Document(web::Bytes);

impl Document {
    pub fn new(limits: &Limits) -> Self {
        let mut doc = serde_json::to_value(document()).expect("the document serializes");
        configured::apply(&mut doc, limits);
        Self(serde_json::to_vec(&doc).expect("JSON serializes").into())
    }
}

/// Every route of [`crate::served_routes`] but the documentation's own,
/// before [`configured::apply`].
fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(routes::openapi());
    doc.merge(extra_paths::openapi());
    doc.components
        .get_or_insert_with(Default::default)
        .responses
        .extend(
            problem::all()
                .into_iter()
                .map(|(name, r)| (name.to_owned(), r)),
        );
    doc
}

/// The routes mounted outside [`crate::routes`]' tables and documented
/// here: the proxy and `/metrics`.
pub fn extra_routes() -> Vec<(Method, String)> {
    extra_paths::routes()
}

/// The documentation's own routes, which the document leaves out.
pub fn documentation_routes() -> Vec<(Method, String)> {
    [DOCUMENT, UI, UI_FILES]
        .into_iter()
        .map(|path| (Method::GET, path.to_owned()))
        .collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(DOCUMENT).route(web::get().to(serve_document)))
        .service(web::resource(UI).route(web::get().to(redirect_to_ui)))
        // No validator badge: it would ask validator.swagger.io about the document.
        .service(SwaggerUi::new(UI_FILES).config(Config::from(DOCUMENT).validator_url("none")));
}

async fn serve_document(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(document.0.clone())
}

async fn redirect_to_ui() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, format!("{UI}/")))
        .finish()
}
