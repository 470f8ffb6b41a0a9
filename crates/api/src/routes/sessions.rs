//! A user's own proxy sessions (SPEC §7): list them, end one (e.g. to move
//! the token to another device).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::session::{ProxySession, SessionId};
use zenzefi_domain::sessions::TerminateError;

use super::pagination::{PageQuery, PagedResponse};
use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users/me/sessions").route(web::get().to(list)))
        .service(web::resource("/users/me/sessions/{session_id}").route(web::delete().to(end)));
}

#[derive(Serialize)]
pub struct SessionResponse {
    id: Uuid,
    user_id: Uuid,
    token_id: Uuid,
    device_id: String,
    ip_address: String,
    user_agent: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_activity: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    ended_at: Option<OffsetDateTime>,
    end_reason: Option<&'static str>,
    bytes_transferred: u64,
    request_count: u64,
    is_active: bool,
}

impl From<ProxySession> for SessionResponse {
    fn from(session: ProxySession) -> Self {
        Self {
            id: session.id.0,
            user_id: session.user_id.0,
            token_id: session.token_id.0,
            device_id: session.device_id.as_str().to_owned(),
            ip_address: session.ip.to_string(),
            user_agent: session.user_agent,
            started_at: session.started_at,
            last_activity: session.last_activity,
            ended_at: session.ended_at,
            end_reason: session.end_reason.map(|r| r.as_str()),
            bytes_transferred: session.bytes_transferred,
            request_count: session.request_count,
            is_active: session.is_active,
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(flatten)]
    page: PageQuery,
}

async fn list(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page.parse()?;
    let sessions = state.sessions.sessions_of(user.id, page).await?;
    Ok(HttpResponse::Ok().json(PagedResponse::new(sessions, page, SessionResponse::from)))
}

#[derive(Serialize)]
struct Ended {
    terminated: bool,
    session_id: Uuid,
}

async fn end(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    session_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = session_id.into_inner();
    state.sessions.terminate_own(user.id, SessionId(id)).await?;
    Ok(HttpResponse::Ok().json(Ended {
        terminated: true,
        session_id: id,
    }))
}

impl From<TerminateError> for ApiError {
    fn from(err: TerminateError) -> Self {
        match err {
            TerminateError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "You have no session with this id",
            ),
            TerminateError::Port(e) => e.into(),
        }
    }
}
