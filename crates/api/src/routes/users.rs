//! The caller's own account.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use zenzefi_domain::auth::ProfileUpdate;
use zenzefi_domain::user::User;

use super::Endpoint;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::{Client, CurrentUser};
use crate::openapi::problem;
use crate::openapi::schemas;
use crate::state::AppState;

pub(super) const ROUTES: &[Endpoint] = &[
    (Method::GET, "/users/me", |r| r.to(me)),
    (Method::PATCH, "/users/me", |r| r.to(update_me)),
];

#[derive(OpenApi)]
#[openapi(paths(me, update_me))]
pub(super) struct Api;

/// The public shape of a user. Never the password hash.
#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserResponse {
    id: Uuid,
    email: String,
    username: String,
    full_name: Option<String>,
    is_active: bool,
    is_superuser: bool,
    #[schema(value_type = schemas::Money)]
    currency_balance: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<&User> for UserResponse {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.0,
            email: user.email.as_str().to_owned(),
            username: user.username.as_str().to_owned(),
            full_name: user.full_name.as_ref().map(|n| n.as_str().to_owned()),
            is_active: user.is_active,
            is_superuser: user.is_superuser,
            currency_balance: user.balance.to_string(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[utoipa::path(
    get,
    path = "/users/me",
    operation_id = "get_me",
    tag = "users",
    summary = "The caller's account",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserResponse),
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
async fn me(CurrentUser(user): CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::from(&user))
}

/// Only the fields present change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateMeRequest {
    /// Absent: unchanged; `null` or blank: cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<schemas::FullName>)]
    full_name: Option<Option<String>>,
    #[schema(value_type = Option<schemas::NewPassword>, nullable = false)]
    password: Option<String>,
    /// Required with `password`.
    #[schema(format = Password, nullable = false)]
    current_password: Option<String>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[utoipa::path(
    patch,
    path = "/users/me",
    operation_id = "update_me",
    tag = "users",
    summary = "Change the caller's name or password",
    security(("bearer_jwt" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The account as changed", body = UserResponse),
        problem::JsonBodyRefusals,
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 403, description = "`user_inactive`, or `invalid_current_password`", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
async fn update_me(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    Client(ctx): Client,
    body: web::Json<UpdateMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let update = ProfileUpdate::parse(
        body.full_name.as_ref().map(Option::as_deref),
        body.password,
        body.current_password,
    )?;
    let updated = state.auth.update_profile(user.id, update, &ctx).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(&updated)))
}
