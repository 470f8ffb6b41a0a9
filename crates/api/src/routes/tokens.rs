//! Pricing, purchase, listing and revocation of access tokens (SPEC §6).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::token::{AccessToken, TokenId};
use zenzefi_domain::tokens::TokenOrder;
use zenzefi_domain::validation::ValidationErrors;

use crate::error::ApiError;
use crate::extract::{Client, CurrentUser};
use crate::metrics;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tokens/pricing").route(web::get().to(pricing)))
        .service(web::resource("/tokens/purchase").route(web::post().to(purchase)))
        .service(web::resource("/tokens/my-tokens").route(web::get().to(my_tokens)))
        .service(web::resource("/tokens/{token_id}").route(web::delete().to(revoke)));
}

#[derive(Serialize)]
struct PriceResponse {
    duration_hours: u32,
    price_znc: String,
}

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
#[derive(Serialize)]
pub struct TokenResponse {
    token_id: Uuid,
    token_prefix: String,
    duration_hours: u32,
    scope: &'static str,
    cost_znc: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    activated_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseRequest {
    duration_hours: Value,
    scope: Option<String>,
}

#[derive(Serialize)]
struct PurchaseResponse {
    #[serde(flatten)]
    details: TokenResponse,
    /// The secret: in this response and nowhere else, ever.
    token: String,
    balance_after: String,
}

async fn purchase(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    Client(ctx): Client,
    body: web::Json<PurchaseRequest>,
) -> Result<HttpResponse, ApiError> {
    let hours = body.duration_hours.as_i64().ok_or_else(|| {
        ValidationErrors::single("duration_hours", "must be an integer number of hours")
    })?;
    let order = TokenOrder::parse(state.tokens.pricing(), hours, body.scope.as_deref())?;
    let purchase = state.tokens.purchase(user.id, order, &ctx).await?;
    metrics::token_purchased(&purchase.token);
    Ok(HttpResponse::Created().json(PurchaseResponse {
        details: TokenResponse::from(&purchase.token),
        token: purchase.secret.expose().to_owned(),
        balance_after: purchase.balance_after.to_string(),
    }))
}

#[derive(Deserialize)]
struct MyTokensQuery {
    #[serde(default)]
    active_only: bool,
}

#[derive(Serialize)]
struct TokenList {
    items: Vec<TokenResponse>,
    total: usize,
}

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

#[derive(Serialize)]
struct RevokeResponse {
    revoked: bool,
    refund_amount: String,
    new_balance: String,
    message: String,
}

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
