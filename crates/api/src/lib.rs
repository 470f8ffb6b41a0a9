//! The HTTP API of Zenzefi Gateway: transport (actix-web handlers,
//! extractors, middleware) and the composition root that wires adapters
//! into the domain's use-cases.

mod body_deadline;
mod console;
mod error;
mod extract;
mod health;
mod jwt;
mod metrics;
mod money;
mod openapi;
mod proxy;
mod quota_rounds;
mod rate_limit;
mod readiness;
mod request_id;
mod routes;
mod session_flusher;
mod startup;
mod state;
mod upstream;

use actix_web::http::Method;

pub use console::CONTENT_SECURITY_POLICY;
pub use openapi::documentation_routes;
pub use routes::admin::admin_routes;
pub use startup::{Application, StartupError};

/// Every `(method, path)` the application routes, paths with `{…}`
/// placeholders as the router has them: the route tables the router is
/// built from, the proxy and `/metrics`, and the routes that serve pages
/// rather than API operations ([`page_routes`]).
pub fn served_routes() -> Vec<(Method, String)> {
    let mut all = routes::table_routes();
    all.extend(openapi::extra_routes());
    all.extend(page_routes());
    all
}

/// The routes the OpenAPI document leaves out because they serve pages:
/// the documentation's own ([`documentation_routes`]) and the console's.
pub fn page_routes() -> Vec<(Method, String)> {
    let mut all = documentation_routes();
    all.extend(console::routes());
    all
}
