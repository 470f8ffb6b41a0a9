//! Pricing, purchase, listing and revocation of access tokens.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;
use zenzefi_domain::token::{AccessToken, TokenId};
use zenzefi_domain::tokens::TokenOrder;
use zenzefi_domain::validation::ValidationErrors;

use super::{Endpoint, no_store};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::{Client, CurrentUser, whole_number};
use crate::metrics;
use crate::openapi::problem;
use crate::openapi::schemas;
use crate::state::AppState;

pub(super) const ROUTES: &[Endpoint] = &[
    (Method::GET, "/tokens/pricing", |r| r.to(pricing)),
    (Method::POST, "/tokens/purchase", |r| r.to(purchase)),
    (Method::GET, "/tokens/my-tokens", |r| r.to(my_tokens)),
    (Method::DELETE, "/tokens/{token_id}", |r| r.to(revoke)),
];

#[derive(OpenApi)]
#[openapi(paths(pricing, purchase, my_tokens, revoke))]
pub(super) struct Api;

#[derive(Serialize, ToSchema)]
#[schema(as = Price)]
struct PriceResponse {
    #[schema(example = 24)]
    duration_hours: u32,
    #[schema(value_type = schemas::Money)]
    price_znc: String,
}

#[utoipa::path(
    get,
    path = "/tokens/pricing",
    operation_id = "get_pricing",
    tag = "tokens",
    summary = "The durations on sale and their prices",
    responses(
        (status = 200, description = "Every priced duration", body = Vec<PriceResponse>),
    )
)]
async fn pricing(state: web::Data<AppState>) -> HttpResponse {
    let prices: Vec<_> = state
        .tokens
        .pricing()
        .list()
        .map(|(duration_hours, price)| PriceResponse {
            duration_hours,
            price_znc: price.to_string(),
        })
        .collect();
    HttpResponse::Ok().json(prices)
}

/// A token as its owner sees it; never the secret.
#[derive(Serialize, ToSchema)]
#[schema(as = AccessToken)]
pub struct TokenResponse {
    token_id: Uuid,
    /// The secret's first characters, for telling tokens apart.
    #[schema(example = "zzf_AbCd")]
    token_prefix: String,
    duration_hours: u32,
    #[schema(value_type = schemas::Scope)]
    scope: &'static str,
    #[schema(value_type = schemas::Money)]
    cost_znc: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// Set by the first proxied request; `null` until then.
    #[serde(with = "time::serde::rfc3339::option")]
    activated_at: Option<OffsetDateTime>,
    /// `activated_at` + `duration_hours`; `null` until activation.
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    /// `false` once revoked.
    is_active: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
}

impl From<&AccessToken> for TokenResponse {
    fn from(token: &AccessToken) -> Self {
        Self {
            token_id: token.id.0,
            token_prefix: token.token_prefix.clone(),
            duration_hours: token.duration_hours,
            scope: token.scope.as_str(),
            cost_znc: token.cost.to_string(),
            created_at: token.created_at,
            activated_at: token.activated_at,
            expires_at: token.expires_at(),
            is_active: !token.is_revoked(),
            revoked_at: token.revoked_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TokenPurchaseRequest)]
struct PurchaseRequest {
    /// One of the durations `GET /api/v1/tokens/pricing` lists (the
    /// document names them: they are configured).
    #[schema(value_type = u32, example = 24)]
    duration_hours: Value,
    #[schema(value_type = Option<schemas::Scope>, default = "full")]
    scope: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = TokenPurchase)]
struct PurchaseResponse {
    #[serde(flatten)]
    details: TokenResponse,
    /// The secret: in this response and nowhere else, ever.
    #[schema(example = "zzf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd")]
    token: String,
    #[schema(value_type = schemas::Money)]
    balance_after: String,
}

#[utoipa::path(
    post,
    path = "/tokens/purchase",
    operation_id = "purchase_token",
    tag = "tokens",
    summary = "Buy an access token",
    description = "Debits the price at once; the token's clock starts with its first proxied request.",
    security(("bearer_jwt" = [])),
    request_body = PurchaseRequest,
    responses(
        (status = 201, description = "The token, with its secret (shown only here)", body = PurchaseResponse),
        problem::JsonBodyRefusals,
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 402, description = "`insufficient_balance`", body = Problem, content_type = PROBLEM_JSON),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
async fn purchase(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    Client(ctx): Client,
    body: web::Json<PurchaseRequest>,
) -> Result<HttpResponse, ApiError> {
    let hours = whole_number(&body.duration_hours).ok_or_else(|| {
        ValidationErrors::single("duration_hours", "must be an integer number of hours")
    })?;
    let order = TokenOrder::parse(state.tokens.pricing(), hours, body.scope.as_deref())?;
    let purchase = state.tokens.purchase(user.id, order, &ctx).await?;
    metrics::token_purchased(&purchase.token);
    Ok(HttpResponse::Created()
        .insert_header(no_store())
        .json(PurchaseResponse {
            details: TokenResponse::from(&purchase.token),
            token: purchase.secret.expose().to_owned(),
            balance_after: purchase.balance_after.to_string(),
        }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MyTokensQuery {
    /// Only tokens that are neither revoked nor expired.
    #[serde(default)]
    active_only: bool,
}

#[derive(Serialize, ToSchema)]
struct TokenList {
    items: Vec<TokenResponse>,
    total: usize,
}

#[utoipa::path(
    get,
    path = "/tokens/my-tokens",
    operation_id = "list_my_tokens",
    tag = "tokens",
    summary = "The caller's tokens, without their secrets",
    security(("bearer_jwt" = [])),
    params(MyTokensQuery),
    responses(
        (status = 200, description = "The caller's tokens", body = TokenList),
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, response = problem::ValidationFailed),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
async fn my_tokens(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    query: web::Query<MyTokensQuery>,
) -> Result<HttpResponse, ApiError> {
    let tokens = state.tokens.tokens_of(user.id, query.active_only).await?;
    Ok(HttpResponse::Ok().json(TokenList {
        total: tokens.len(),
        items: tokens.iter().map(TokenResponse::from).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = TokenRevoked)]
struct RevokeResponse {
    revoked: bool,
    /// Cost × unused time ÷ duration, rounded down to the cent.
    #[schema(value_type = schemas::Money)]
    refund_amount: String,
    #[schema(value_type = schemas::Money)]
    new_balance: String,
    message: String,
}

#[utoipa::path(
    delete,
    path = "/tokens/{token_id}",
    operation_id = "revoke_token",
    tag = "tokens",
    summary = "Revoke one of the caller's tokens, with a pro-rata refund",
    security(("bearer_jwt" = [])),
    params(("token_id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 200, description = "Revoked and refunded", body = RevokeResponse),
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "`token_not_found`: the caller has no token with this id", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "`already_revoked`; `balance_limit`: the refund would take the balance \
            above `currency.max_balance` (the token stays valid)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, response = problem::ValidationFailed),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
async fn revoke(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    Client(ctx): Client,
    token_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let revocation = state
        .tokens
        .revoke(user.id, TokenId(token_id.into_inner()), &ctx)
        .await?;
    Ok(HttpResponse::Ok().json(RevokeResponse {
        revoked: true,
        refund_amount: revocation.refund.to_string(),
        new_balance: revocation.balance_after.to_string(),
        message: format!("Token revoked; {} ZNC refunded", revocation.refund),
    }))
}
