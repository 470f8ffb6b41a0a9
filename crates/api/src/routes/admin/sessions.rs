//! Every user's proxy sessions, and ending one.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zenzefi_domain::admin::{SessionFilter, SessionRecord};
use zenzefi_domain::session::SessionId;
use zenzefi_domain::token::TokenId;
use zenzefi_domain::user::UserId;

use super::{Checked, OwnerFields};
use crate::error::ApiError;
use crate::extract::{Client, Superuser};
use crate::routes::pagination::{PageQuery, PagedResponse};
use crate::routes::sessions::SessionResponse;
use crate::state::AppState;

#[derive(Serialize)]
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

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(flatten)]
    page: PageQuery,
    /// Default `true`.
    active_only: Option<String>,
    user_id: Option<String>,
    token_id: Option<String>,
}

pub(super) async fn list(
    state: web::Data<AppState>,
    _: Superuser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut checked = Checked::default();
    let page = checked.page(&query.page);
    let filter = SessionFilter {
        active_only: checked
            .flag("active_only", query.active_only.as_deref())
            .unwrap_or(true),
        user_id: checked
            .uuid("user_id", query.user_id.as_deref())
            .map(UserId),
        token_id: checked
            .uuid("token_id", query.token_id.as_deref())
            .map(TokenId),
    };
    checked.done()?;
    let sessions = state.admin.sessions(&filter, page).await?;
    Ok(HttpResponse::Ok().json(PagedResponse::new(
        sessions,
        page,
        AdminSessionResponse::from,
    )))
}

#[derive(Serialize)]
struct Terminated {
    terminated: bool,
    session_id: Uuid,
    /// Whether the session was live until now.
    was_active: bool,
}

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
