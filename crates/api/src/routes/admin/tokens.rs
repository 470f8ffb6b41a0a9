//! Every user's tokens, and revocation without refund.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use zenzefi_domain::admin::{TokenFilter, TokenRecord, parse_token_rate_limit};
use zenzefi_domain::token::TokenId;
use zenzefi_domain::user::UserId;

use super::{Listing, OwnerFields, page_of};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::{Client, Superuser, whole_number};
use crate::openapi::problem;
use crate::routes::pagination::{CursorQuery, PageQuery, PagedResponse};
use crate::routes::tokens::TokenResponse;
use crate::state::AppState;
use zenzefi_domain::validation::ValidationErrors;

/// A token as its owner sees it (prefix only), plus whose it is.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminAccessToken)]
struct AdminTokenResponse {
    #[serde(flatten)]
    token: TokenResponse,
    user_id: Uuid,
    /// The last proxied request's time, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    /// This token's own proxied requests per minute; `null` follows
    /// `rate_limit.proxy_per_minute`.
    #[schema(minimum = 1, maximum = 1_000_000)]
    rate_limit_per_minute: Option<u32>,
    #[serde(flatten)]
    owner: OwnerFields,
}

impl From<TokenRecord> for AdminTokenResponse {
    fn from(record: TokenRecord) -> Self {
        Self {
            token: TokenResponse::from(&record.token),
            user_id: record.token.user_id.0,
            last_used_at: record.last_used_at,
            rate_limit_per_minute: record.token.rate_limit_per_minute,
            owner: OwnerFields::from(Some(record.owner)),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TokenQuery {
    /// Only this user's tokens.
    #[param(value_type = Uuid, required = false)]
    user_id: Option<String>,
    /// Default `true`: neither revoked nor expired.
    #[param(value_type = bool, required = false, default = true)]
    active_only: Option<String>,
}

#[utoipa::path(
    get,
    path = "/tokens",
    operation_id = "admin_list_tokens",
    tag = "admin",
    summary = "Every user's tokens, newest first",
    description = "Prefixes only: the secret is never stored.",
    security(("bearer_jwt" = [])),
    params(PageQuery, CursorQuery, TokenQuery),
    responses(
        (status = 200, description = "One page of tokens", body = PagedResponse<AdminTokenResponse>),
        problem::AdminRefusals,
    )
)]
pub(super) async fn list(
    state: web::Data<AppState>,
    _: Superuser,
    query: web::Query<Listing<TokenQuery>>,
) -> Result<HttpResponse, ApiError> {
    let (page, (user_id, active_only)) = query.read(|query, checked| {
        let user_id = checked.uuid("user_id", query.user_id.as_deref());
        let active_only = checked.flag("active_only", query.active_only.as_deref());
        (user_id, active_only.unwrap_or(true))
    })?;
    let filter = TokenFilter {
        user_id: user_id.map(UserId),
        usable_at: active_only.then(|| state.clock.now()),
    };
    let tokens = state.admin.tokens(&filter, page).await?;
    Ok(page_of(tokens, page, AdminTokenResponse::from))
}

#[derive(Serialize, ToSchema)]
struct ForceRevoked {
    revoked: bool,
    token_id: Uuid,
    #[schema(value_type = String, example = "Token revoked by an administrator; no refund")]
    message: &'static str,
}

#[utoipa::path(
    delete,
    path = "/tokens/{token_id}",
    operation_id = "admin_revoke_token",
    tag = "admin",
    summary = "Revoke any token, without refund",
    description = "Closes the token's live session and evicts it from every instance's cache.",
    security(("bearer_jwt" = [])),
    params(("token_id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 200, description = "Revoked", body = ForceRevoked),
        (status = 404, description = "`token_not_found`", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "`already_revoked`", body = Problem, content_type = PROBLEM_JSON),
        problem::AdminRefusals,
    )
)]
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

/// The token's own limit; `null` (or leaving it out) restores the default.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AdminTokenPatch)]
pub(super) struct RateLimitPatch {
    /// Proxied requests per minute for this token alone (an integer as
    /// JSON counts them: `60` and `60.0` alike).
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    rate_limit_per_minute: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
struct RateLimitSet {
    token_id: Uuid,
    /// `null`: the token follows `rate_limit.proxy_per_minute`.
    rate_limit_per_minute: Option<u32>,
}

#[utoipa::path(
    patch,
    path = "/tokens/{token_id}",
    operation_id = "admin_update_token",
    tag = "admin",
    summary = "Set or clear a token's own proxy rate limit",
    description = "Audited as `admin_token_update`; every instance applies it from the token's next request.",
    security(("bearer_jwt" = [])),
    params(("token_id" = Uuid, Path, description = "The token's id")),
    request_body = RateLimitPatch,
    responses(
        (status = 200, description = "The limit now in force", body = RateLimitSet),
        (status = 400, response = problem::MalformedJson),
        (status = 404, description = "`token_not_found`", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 415, response = problem::UnsupportedMediaType),
        problem::AdminRefusals,
    )
)]
pub(super) async fn set_rate_limit(
    state: web::Data<AppState>,
    Superuser(admin): Superuser,
    Client(ctx): Client,
    token_id: web::Path<Uuid>,
    body: web::Json<RateLimitPatch>,
) -> Result<HttpResponse, ApiError> {
    let per_minute = match body.into_inner().rate_limit_per_minute {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(whole_number(&value).ok_or_else(|| {
            ValidationErrors::single("rate_limit_per_minute", "must be an integer or null")
        })?),
    };
    let per_minute = parse_token_rate_limit(per_minute)?;
    let token = state
        .admin
        .set_token_rate_limit(&admin, TokenId(token_id.into_inner()), per_minute, &ctx)
        .await?;
    Ok(HttpResponse::Ok().json(RateLimitSet {
        token_id: token.id.0,
        rate_limit_per_minute: token.rate_limit_per_minute,
    }))
}
