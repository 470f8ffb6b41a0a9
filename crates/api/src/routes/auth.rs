//! Registration and login.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use zenzefi_domain::auth::Registration;

use super::users::UserResponse;
use super::{Endpoint, no_store};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::Client;
use crate::metrics;
use crate::openapi::{problem, schemas};
use crate::state::AppState;

pub(super) const ROUTES: &[Endpoint] = &[
    (Method::POST, "/auth/register", |r| r.to(register)),
    (Method::POST, "/auth/login", |r| r.to(login)),
];

#[derive(OpenApi)]
#[openapi(paths(register, login))]
pub(super) struct Api;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    /// Unique, case-insensitive.
    #[schema(value_type = schemas::EmailAddress)]
    email: String,
    /// Unique; 3–50 of `A-Z a-z 0-9 _ . -`.
    #[schema(
        min_length = 3,
        max_length = 50,
        pattern = r"^[A-Za-z0-9_.-]+$",
        example = "ada"
    )]
    username: String,
    #[schema(value_type = schemas::NewPassword)]
    password: String,
    #[schema(value_type = Option<schemas::FullName>)]
    full_name: Option<String>,
}

#[utoipa::path(
    post,
    path = "/auth/register",
    operation_id = "register",
    tag = "auth",
    summary = "Create an account",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new account", body = UserResponse),
        problem::JsonBodyRefusals,
        (status = 409, description = "`email_taken` or `username_taken`", body = Problem, content_type = PROBLEM_JSON),
        (status = 429, response = problem::RateLimited),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    #[schema(example = "ada@example.com")]
    email: String,
    #[schema(format = Password, example = "Correct-Horse-9")]
    password: String,
}

#[derive(Serialize, ToSchema)]
struct LoginResponse {
    /// A JWT (HS256) to send as `Authorization: Bearer <it>`.
    access_token: String,
    #[schema(value_type = String, example = "bearer")]
    token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    expires_in: u64,
}

#[utoipa::path(
    post,
    path = "/auth/login",
    operation_id = "login",
    tag = "auth",
    summary = "Exchange email and password for a JWT",
    description = "Unknown email and wrong password get the same answer, in similar time. \
                   Attempts are limited per client IP and per email.",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A bearer JWT", body = LoginResponse),
        problem::JsonBodyRefusals,
        (status = 401, description = "`invalid_credentials`", body = Problem, content_type = PROBLEM_JSON),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 429, response = problem::RateLimited),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
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
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .json(LoginResponse {
            access_token: issued.token,
            token_type: "bearer",
            expires_in: issued.expires_in,
        }))
}
