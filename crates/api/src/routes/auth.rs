//! Registration and login (SPEC §4).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use zenzefi_domain::auth::Registration;

use super::users::UserResponse;
use crate::error::ApiError;
use crate::extract::Client;
use crate::metrics;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").route(web::post().to(register)))
        .service(web::resource("/auth/login").route(web::post().to(login)));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    email: String,
    username: String,
    password: String,
    full_name: Option<String>,
}

async fn register(
    state: web::Data<AppState>,
    Client(ctx): Client,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let registration = Registration::parse(
        &body.email,
        &body.username,
        body.password,
        body.full_name.as_deref(),
    )?;
    let user = state.auth.register(registration, &ctx).await?;
    Ok(HttpResponse::Created().json(UserResponse::from(&user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

async fn login(
    state: web::Data<AppState>,
    Client(ctx): Client,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = metrics::login_attempt(state.auth.login(&body.email, body.password, &ctx).await)?;
    let issued = state
        .jwt
        .issue(&user, state.clock.now())
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        access_token: issued.token,
        token_type: "bearer",
        expires_in: issued.expires_in,
    }))
}
