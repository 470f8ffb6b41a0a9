//! Every user's tokens, and revocation without refund.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::admin::{TokenFilter, TokenRecord};
use zenzefi_domain::token::TokenId;
use zenzefi_domain::user::UserId;

use super::{Checked, OwnerFields};
use crate::error::ApiError;
use crate::extract::{Client, Superuser};
use crate::routes::pagination::{PageQuery, PagedResponse};
use crate::routes::tokens::TokenResponse;
use crate::state::AppState;

/// A token as its owner sees it (prefix only), plus whose it is.
#[derive(Serialize)]
struct AdminTokenResponse {
    #[serde(flatten)]
    token: TokenResponse,
    user_id: Uuid,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    #[serde(flatten)]
    owner: OwnerFields,
}

impl From<TokenRecord> for AdminTokenResponse {
    fn from(record: TokenRecord) -> Self {
        Self {
            token: TokenResponse::from(&record.token),
            user_id: record.token.user_id.0,
            last_used_at: record.last_used_at,
            owner: OwnerFields::from(Some(record.owner)),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(flatten)]
    page: PageQuery,
    user_id: Option<String>,
    /// Default `true`: neither revoked nor expired.
    active_only: Option<String>,
}

pub(super) async fn list(
    state: web::Data<AppState>,
    _: Superuser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut checked = Checked::default();
    let page = checked.page(&query.page);
    let user_id = checked.uuid("user_id", query.user_id.as_deref());
    let active_only = checked
        .flag("active_only", query.active_only.as_deref())
        .unwrap_or(true);
    checked.done()?;
    let filter = TokenFilter {
        user_id: user_id.map(UserId),
        usable_at: active_only.then(|| state.clock.now()),
    };
    let tokens = state.admin.tokens(&filter, page).await?;
    Ok(HttpResponse::Ok().json(PagedResponse::new(tokens, page, AdminTokenResponse::from)))
}

#[derive(Serialize)]
struct ForceRevoked {
    revoked: bool,
    token_id: Uuid,
    message: &'static str,
}

pub(super) async fn force_revoke(
    state: web::Data<AppState>,
    Superuser(admin): Superuser,
    Client(ctx): Client,
    token_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = token_id.into_inner();
    state.admin.force_revoke(&admin, TokenId(id), &ctx).await?;
    Ok(HttpResponse::Ok().json(ForceRevoked {
        revoked: true,
        token_id: id,
        message: "Token revoked by an administrator; no refund",
    }))
}
