//! Balance, ledger and deposits (SPEC §5).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::Money;
use zenzefi_domain::currency::DepositAmount;
use zenzefi_domain::ledger::{EntryKind, LedgerEntry};
use zenzefi_domain::page::Page;
use zenzefi_domain::validation::ValidationErrors;

use super::pagination::{PageQuery, PagedResponse};
use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::money::parse_amount;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/currency/balance").route(web::get().to(balance)))
        .service(web::resource("/currency/transactions").route(web::get().to(transactions)))
        .service(web::resource("/currency/purchase").route(web::post().to(purchase)));
}

#[derive(Serialize)]
struct BalanceResponse {
    balance: String,
    currency: &'static str,
    user_id: Uuid,
}

async fn balance(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let balance = state.currency.balance(user.id).await?;
    Ok(HttpResponse::Ok().json(BalanceResponse {
        balance: balance.to_string(),
        currency: "ZNC",
        user_id: user.id.0,
    }))
}

#[derive(Serialize)]
struct EntryResponse {
    id: Uuid,
    amount: String,
    transaction_type: &'static str,
    status: &'static str,
    description: String,
    payment_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<LedgerEntry> for EntryResponse {
    fn from(entry: LedgerEntry) -> Self {
        Self {
            id: entry.id.0,
            amount: entry.amount.to_string(),
            transaction_type: entry.kind.as_str(),
            status: entry.status.as_str(),
            description: entry.description,
            payment_id: entry.payment_id,
            created_at: entry.created_at,
        }
    }
}

#[derive(Deserialize)]
struct TransactionsQuery {
    #[serde(flatten)]
    page: PageQuery,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn transactions(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    query: web::Query<TransactionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page: Page = query.page.parse()?;
    let kind = match query.kind.as_deref() {
        None => None,
        Some(kind) => Some(EntryKind::parse(kind).ok_or_else(|| {
            ValidationErrors::single("type", "must be deposit, purchase, refund or adjustment")
        })?),
    };
    let entries = state.currency.transactions(user.id, kind, page).await?;
    Ok(HttpResponse::Ok().json(PagedResponse::new(entries, page, EntryResponse::from)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseRequest {
    amount_znc: Value,
}

#[derive(Serialize)]
struct PurchaseResponse {
    payment_id: String,
    payment_url: String,
    amount_znc: String,
    amount_rub: String,
    status: &'static str,
}

async fn purchase(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    body: web::Json<PurchaseRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount: Money = parse_amount("amount_znc", &body.amount_znc)?;
    let amount = DepositAmount::parse(amount)?;
    let entry = state.currency.start_deposit(user.id, amount).await?;
    let payment_id = entry.payment_id.unwrap_or_default();
    Ok(HttpResponse::Created().json(PurchaseResponse {
        payment_url: state.payment_url(&payment_id),
        payment_id,
        amount_znc: entry.amount.to_string(),
        amount_rub: state.currency.in_rub(entry.amount).to_string(),
        status: entry.status.as_str(),
    }))
}
