//! Listing users and changing their status, role or balance.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;
use zenzefi_domain::admin::{UserFilter, UserPatch};
use zenzefi_domain::user::UserId;

use super::Checked;
use crate::error::ApiError;
use crate::extract::{Client, Superuser};
use crate::money::parse_amount;
use crate::routes::pagination::{PageQuery, PagedResponse};
use crate::routes::users::UserResponse;
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(flatten)]
    page: PageQuery,
    search: Option<String>,
    is_active: Option<String>,
}

pub(super) async fn list(
    state: web::Data<AppState>,
    _: Superuser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut checked = Checked::default();
    let page = checked.page(&query.page);
    let filter = UserFilter {
        search: query.search.clone().filter(|s| !s.is_empty()),
        is_active: checked.flag("is_active", query.is_active.as_deref()),
    };
    checked.done()?;
    let users = state.admin.users(&filter, page).await?;
    Ok(HttpResponse::Ok().json(PagedResponse::new(users, page, |u| UserResponse::from(&u))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PatchRequest {
    is_active: Option<bool>,
    is_superuser: Option<bool>,
    /// `"500.00"` or `500`, exact to the cent.
    currency_balance: Option<Value>,
}

pub(super) async fn update(
    state: web::Data<AppState>,
    Superuser(admin): Superuser,
    Client(ctx): Client,
    user_id: web::Path<Uuid>,
    body: web::Json<PatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let balance = body
        .currency_balance
        .as_ref()
        .map(|amount| parse_amount("currency_balance", amount))
        .transpose()?;
    let patch = UserPatch::parse(body.is_active, body.is_superuser, balance)?;
    let user = state
        .admin
        .update_user(&admin, UserId(user_id.into_inner()), patch, &ctx)
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(&user)))
}
