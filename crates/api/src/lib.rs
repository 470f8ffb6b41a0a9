//! The HTTP API of Zenzefi Gateway: transport (actix-web handlers,
//! extractors, middleware) and the composition root that wires adapters
//! into the domain's use-cases.

mod error;
mod extract;
mod health;
mod jwt;
mod metrics;
mod money;
mod proxy;
mod request_id;
mod routes;
mod startup;
mod state;
mod upstream;

pub use routes::admin::admin_routes;
pub use startup::{Application, StartupError};
