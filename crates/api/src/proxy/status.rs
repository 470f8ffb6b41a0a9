//! `GET /api/v1/proxy/status`: what a token holder's client shows. Never
//! activates the token.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Proxy, credential, names};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize)]
struct ProxyStatus {
    connected: bool,
    user_id: Uuid,
    token_id: Uuid,
    scope: &'static str,
    is_activated: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    duration_hours: u32,
    time_remaining_seconds: i64,
    status: &'static str,
}

pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    proxy: web::Data<Proxy>,
) -> Result<HttpResponse, ApiError> {
    let token = proxy
        .admission
        .presented(credential(&req, names::client::ACCESS_TOKEN)?)
        .await?;
    let remaining = match token.expires_at() {
        Some(end) => (end - state.clock.now()).whole_seconds().max(0),
        None => token.duration().whole_seconds(),
    };
    Ok(HttpResponse::Ok().json(ProxyStatus {
        connected: true,
        user_id: token.user_id.0,
        token_id: token.id.0,
        scope: token.scope.as_str(),
        is_activated: token.activated_at.is_some(),
        expires_at: token.expires_at(),
        duration_hours: token.duration_hours,
        time_remaining_seconds: remaining,
        status: if token.activated_at.is_some() {
            "active"
        } else {
            "ready"
        },
    }))
}
