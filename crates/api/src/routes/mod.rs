//! The HTTP routes, one module per area of SPEC.

pub(crate) mod admin;
mod auth;
mod currency;
mod health;
mod pagination;
mod payments;
mod sessions;
mod tokens;
mod users;

use actix_web::{HttpResponse, web};

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::configure).service(
        web::scope("/api/v1")
            .configure(auth::configure)
            .configure(users::configure)
            .configure(sessions::configure)
            .configure(currency::configure)
            .configure(payments::configure)
            .configure(tokens::configure)
            .configure(admin::configure),
    );
}

/// Unknown routes and methods answer problem+json too.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("No such endpoint"))
}
