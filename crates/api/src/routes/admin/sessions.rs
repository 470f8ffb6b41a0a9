//! Every user's proxy sessions, and ending one.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use zenzefi_domain::admin::{SessionFilter, SessionRecord};
use zenzefi_domain::session::SessionId;
use zenzefi_domain::token::TokenId;
use zenzefi_domain::user::UserId;

use super::{Listing, OwnerFields, page_of};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::{Client, Superuser};
use crate::openapi::problem;
use crate::routes::pagination::{CursorQuery, PageQuery, PagedResponse};
use crate::routes::sessions::SessionResponse;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
#[schema(as = AdminProxySession)]
struct AdminSessionResponse {
    #[serde(flatten)]
    session: SessionResponse,
    #[serde(flatten)]
    owner: OwnerFields,
}

impl From<SessionRecord> for AdminSessionResponse {
    fn from(record: SessionRecord) -> Self {
        Self {
            session: SessionResponse::from(record.session),
            owner: OwnerFields::from(Some(record.owner)),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SessionQuery {
    /// Only sessions still open. Default `true`.
    #[param(value_type = bool, required = false, default = true)]
    active_only: Option<String>,
    /// Only this user's sessions.
    #[param(value_type = Uuid, required = false)]
    user_id: Option<String>,
    /// Only this token's sessions.
    #[param(value_type = Uuid, required = false)]
    token_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/sessions",
    operation_id = "admin_list_sessions",
    tag = "admin",
    summary = "Every user's proxy sessions, newest first",
    security(("bearer_jwt" = [])),
    params(PageQuery, CursorQuery, SessionQuery),
    responses(
        (status = 200, description = "One page of sessions", body = PagedResponse<AdminSessionResponse>),
        problem::AdminRefusals,
    )
)]
pub(super) async fn list(
    state: web::Data<AppState>,
    _: Superuser,
    query: web::Query<Listing<SessionQuery>>,
) -> Result<HttpResponse, ApiError> {
    let (page, filter) = query.read(|query, checked| SessionFilter {
        active_only: checked
            .flag("active_only", query.active_only.as_deref())
            .unwrap_or(true),
        user_id: checked
            .uuid("user_id", query.user_id.as_deref())
            .map(UserId),
        token_id: checked
            .uuid("token_id", query.token_id.as_deref())
            .map(TokenId),
    })?;
    let sessions = state.admin.sessions(&filter, page).await?;
    Ok(page_of(sessions, page, AdminSessionResponse::from))
}

#[derive(Serialize, ToSchema)]
#[schema(as = SessionTerminated)]
struct Terminated {
    terminated: bool,
    session_id: Uuid,
    /// Whether the session was live until now.
    was_active: bool,
}

#[utoipa::path(
    delete,
    path = "/sessions/{session_id}",
    operation_id = "admin_terminate_session",
    tag = "admin",
    summary = "End any session",
    security(("bearer_jwt" = [])),
    params(("session_id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 200, description = "Ended (or was already)", body = Terminated),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = PROBLEM_JSON),
        problem::AdminRefusals,
    )
)]
pub(super) async fn terminate(
    state: web::Data<AppState>,
    Superuser(admin): Superuser,
    Client(ctx): Client,
    session_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = session_id.into_inner();
    let was_active = state
        .admin
        .terminate_session(&admin, SessionId(id), &ctx)
        .await?;
    Ok(HttpResponse::Ok().json(Terminated {
        terminated: true,
        session_id: id,
        was_active,
    }))
}
