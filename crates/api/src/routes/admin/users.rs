//! Listing users and changing their status, role or balance.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use zenzefi_domain::admin::{UserFilter, UserPatch};
use zenzefi_domain::user::UserId;

use super::{Listing, page_of};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::{Client, Superuser};
use crate::money::parse_amount;
use crate::openapi::problem;
use crate::routes::currency::{EntryResponse, TransactionsQuery};
use crate::routes::pagination::{CursorQuery, PageQuery, PagedResponse};
use crate::routes::users::UserResponse;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UserQuery {
    /// Case-insensitive substring of the email or the username; `%`, `_`
    /// and `\` match literally.
    search: Option<String>,
    /// Only active (`true`) or deactivated (`false`) accounts.
    #[param(value_type = bool, required = false)]
    is_active: Option<String>,
}

#[utoipa::path(
    get,
    path = "/users",
    operation_id = "admin_list_users",
    tag = "admin",
    summary = "Every account, newest first",
    security(("bearer_jwt" = [])),
    params(PageQuery, CursorQuery, UserQuery),
    responses(
        (status = 200, description = "One page of accounts", body = PagedResponse<UserResponse>),
        problem::AdminRefusals,
    )
)]
pub(super) async fn list(
    state: web::Data<AppState>,
    _: Superuser,
    query: web::Query<Listing<UserQuery>>,
) -> Result<HttpResponse, ApiError> {
    let (page, filter) = query.read(|query, checked| UserFilter {
        search: query.search.clone().filter(|s| !s.is_empty()),
        is_active: checked.flag("is_active", query.is_active.as_deref()),
    })?;
    let users = state.admin.users(&filter, page).await?;
    Ok(page_of(users, page, |u| UserResponse::from(&u)))
}

/// Only the fields present change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AdminUserPatch)]
pub(super) struct PatchRequest {
    /// `false` deactivates: the user's JWTs and tokens stop working at once.
    #[schema(nullable = false)]
    is_active: Option<bool>,
    #[schema(nullable = false)]
    is_superuser: Option<bool>,
    /// `"500.00"` or `500`, exact to the cent, from 0 to
    /// `currency.max_balance`. The difference is written to the ledger as an
    /// `adjustment`.
    #[schema(value_type = Value, nullable = false)]
    currency_balance: Option<Value>,
}

#[utoipa::path(
    patch,
    path = "/users/{user_id}",
    operation_id = "admin_update_user",
    tag = "admin",
    summary = "Change an account's status, role or balance",
    security(("bearer_jwt" = [])),
    params(("user_id" = Uuid, Path, description = "The account's id")),
    request_body = PatchRequest,
    responses(
        (status = 200, description = "The account as changed", body = UserResponse),
        (status = 400, response = problem::MalformedJson),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "`self_lockout`: administrators cannot deactivate or demote themselves; \
            `balance_changed`: the balance moved meanwhile, reload and retry", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 415, response = problem::UnsupportedMediaType),
        problem::AdminRefusals,
    )
)]
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
    let limit = state.currency.balance_limit();
    let patch = UserPatch::parse(body.is_active, body.is_superuser, balance, limit)?;
    let user = state
        .admin
        .update_user(&admin, UserId(user_id.into_inner()), patch, &ctx)
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(&user)))
}

#[utoipa::path(
    get,
    path = "/users/{user_id}",
    operation_id = "admin_get_user",
    tag = "admin",
    summary = "One account",
    security(("bearer_jwt" = [])),
    params(("user_id" = Uuid, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account", body = UserResponse),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = PROBLEM_JSON),
        problem::AdminRefusals,
    )
)]
pub(super) async fn get(
    state: web::Data<AppState>,
    _: Superuser,
    user_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state.admin.user(UserId(user_id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(&user)))
}

#[utoipa::path(
    get,
    path = "/users/{user_id}/transactions",
    operation_id = "admin_list_user_transactions",
    tag = "admin",
    summary = "An account's ledger, newest first",
    security(("bearer_jwt" = [])),
    params(("user_id" = Uuid, Path, description = "The account's id"), PageQuery, TransactionsQuery),
    responses(
        (status = 200, description = "One page of entries", body = PagedResponse<EntryResponse>),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = PROBLEM_JSON),
        problem::AdminRefusals,
    )
)]
pub(super) async fn ledger(
    state: web::Data<AppState>,
    _: Superuser,
    user_id: web::Path<Uuid>,
    query: web::Query<TransactionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, kind) = query.parse()?;
    let user = UserId(user_id.into_inner());
    let entries = state.admin.ledger(user, kind, page).await?;
    Ok(HttpResponse::Ok().json(PagedResponse::new(entries, page, EntryResponse::from)))
}
