//! A user's own proxy sessions: list them, end one (e.g. to move
//! the token to another device).

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use zenzefi_domain::session::{ProxySession, SessionId};

use super::Endpoint;
use super::pagination::{PageQuery, PagedResponse};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::CurrentUser;
use crate::openapi::problem;
use crate::openapi::schemas;
use crate::state::AppState;

pub(super) const ROUTES: &[Endpoint] = &[
    (Method::GET, "/users/me/sessions", |r| r.to(list)),
    (Method::DELETE, "/users/me/sessions/{session_id}", |r| {
        r.to(end)
    }),
];

#[derive(OpenApi)]
#[openapi(paths(list, end))]
pub(super) struct Api;

/// One device's use of one token through the proxy.
#[derive(Serialize, ToSchema)]
#[schema(as = ProxySession)]
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
    #[schema(value_type = Option<schemas::EndReason>)]
    end_reason: Option<&'static str>,
    /// Request and response body bytes streamed; counters reach the
    /// database in batches, so they may trail by a flush interval.
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

#[utoipa::path(
    get,
    path = "/users/me/sessions",
    operation_id = "list_my_sessions",
    tag = "sessions",
    summary = "The caller's proxy sessions, newest first",
    security(("bearer_jwt" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of sessions", body = PagedResponse<SessionResponse>),
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, response = problem::ValidationFailed),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
async fn list(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page.parse()?;
    let sessions = state.sessions.sessions_of(user.id, page).await?;
    Ok(HttpResponse::Ok().json(PagedResponse::new(sessions, page, SessionResponse::from)))
}

#[derive(Serialize, ToSchema)]
#[schema(as = SessionEnded)]
struct Ended {
    terminated: bool,
    session_id: Uuid,
}

#[utoipa::path(
    delete,
    path = "/users/me/sessions/{session_id}",
    operation_id = "end_my_session",
    tag = "sessions",
    summary = "End one of the caller's sessions",
    description = "Frees the token for another device at once.",
    security(("bearer_jwt" = [])),
    params(("session_id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session is ended", body = Ended),
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "`session_not_found`: none of the caller's sessions has this id", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, response = problem::ValidationFailed),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
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
