//! The caller's own account (SPEC §4).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::auth::ProfileUpdate;
use zenzefi_domain::user::User;

use crate::error::ApiError;
use crate::extract::{Client, CurrentUser};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users/me")
            .route(web::get().to(me))
            .route(web::patch().to(update_me)),
    );
}

/// The public shape of a user (SPEC §4). Never the password hash.
#[derive(Serialize)]
pub struct UserResponse {
    id: Uuid,
    email: String,
    username: String,
    full_name: Option<String>,
    is_active: bool,
    is_superuser: bool,
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

async fn me(CurrentUser(user): CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::from(&user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMeRequest {
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    full_name: Option<Option<String>>,
    password: Option<String>,
    current_password: Option<String>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

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
