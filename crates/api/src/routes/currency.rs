//! Balance, ledger and deposits.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;
use zenzefi_domain::Money;
use zenzefi_domain::currency::{DepositAmount, MAX_DEPOSIT, MIN_DEPOSIT};
use zenzefi_domain::ledger::{EntryKind, LedgerEntry};
use zenzefi_domain::page::Page;
use zenzefi_domain::validation::ValidationErrors;

use super::Endpoint;
use super::pagination::{PageQuery, PagedResponse};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::CurrentUser;
use crate::money::parse_amount;
use crate::openapi::problem;
use crate::openapi::schemas;
use crate::state::AppState;

pub(super) const ROUTES: &[Endpoint] = &[
    (Method::GET, "/currency/balance", |r| r.to(balance)),
    (Method::GET, "/currency/transactions", |r| {
        r.to(transactions)
    }),
    (Method::POST, "/currency/purchase", |r| r.to(purchase)),
];

#[derive(OpenApi)]
#[openapi(paths(balance, transactions, purchase))]
pub(super) struct Api;

#[derive(Serialize, ToSchema)]
#[schema(as = Balance)]
struct BalanceResponse {
    #[schema(value_type = schemas::Money)]
    balance: String,
    #[schema(value_type = String, example = "ZNC")]
    currency: &'static str,
    user_id: Uuid,
}

#[utoipa::path(
    get,
    path = "/currency/balance",
    operation_id = "get_balance",
    tag = "currency",
    summary = "The caller's ZNC balance",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The balance", body = BalanceResponse),
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
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

/// One ledger entry. Only `succeeded` entries count towards the balance.
#[derive(Serialize, ToSchema)]
#[schema(as = Transaction)]
pub(crate) struct EntryResponse {
    id: Uuid,
    user_id: Uuid,
    /// Signed: positive credits, negative debits.
    #[schema(value_type = schemas::Money)]
    amount: String,
    #[schema(value_type = schemas::TransactionType)]
    transaction_type: &'static str,
    #[schema(value_type = schemas::TransactionStatus)]
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
            user_id: entry.user_id.0,
            amount: entry.amount.to_string(),
            transaction_type: entry.kind.as_str(),
            status: entry.status.as_str(),
            description: entry.description,
            payment_id: entry.payment_id,
            created_at: entry.created_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TransactionsQuery {
    /// Documented as its own parameters: IntoParams cannot flatten.
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
    /// Only entries of this type.
    #[serde(rename = "type")]
    #[param(value_type = Option<schemas::TransactionType>, inline)]
    kind: Option<String>,
}

impl TransactionsQuery {
    pub(crate) fn parse(&self) -> Result<(Page, Option<EntryKind>), ValidationErrors> {
        let page: Page = self.page.parse()?;
        let kind = match self.kind.as_deref() {
            None => None,
            Some(kind) => Some(EntryKind::parse(kind).ok_or_else(|| {
                ValidationErrors::single("type", "must be deposit, purchase, refund or adjustment")
            })?),
        };
        Ok((page, kind))
    }
}

#[utoipa::path(
    get,
    path = "/currency/transactions",
    operation_id = "list_transactions",
    tag = "currency",
    summary = "The caller's ledger, newest first",
    security(("bearer_jwt" = [])),
    params(PageQuery, TransactionsQuery),
    responses(
        (status = 200, description = "One page of entries", body = PagedResponse<EntryResponse>),
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, response = problem::ValidationFailed),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
async fn transactions(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    query: web::Query<TransactionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, kind) = query.parse()?;
    let entries = state.currency.transactions(user.id, kind, page).await?;
    Ok(HttpResponse::Ok().json(PagedResponse::new(entries, page, EntryResponse::from)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DepositRequest)]
struct PurchaseRequest {
    #[schema(schema_with = deposit_amount)]
    amount_znc: Value,
}

fn deposit_amount() -> utoipa::openapi::schema::Schema {
    schemas::amount_input(MIN_DEPOSIT, MAX_DEPOSIT)
}

#[derive(Serialize, ToSchema)]
#[schema(as = Deposit)]
struct PurchaseResponse {
    payment_id: String,
    /// Where the user pays; the payment provider's webhook settles it.
    payment_url: String,
    #[schema(value_type = schemas::Money)]
    amount_znc: String,
    /// The price in RUB, a decimal string with two places.
    #[schema(value_type = schemas::Money)]
    amount_rub: String,
    #[schema(value_type = String, example = "pending")]
    status: &'static str,
}

#[utoipa::path(
    post,
    path = "/currency/purchase",
    operation_id = "start_deposit",
    tag = "currency",
    summary = "Start a ZNC deposit",
    description = "Creates a pending deposit; the balance grows when the payment succeeds.",
    security(("bearer_jwt" = [])),
    request_body = PurchaseRequest,
    responses(
        (status = 201, description = "The pending deposit and where to pay it", body = PurchaseResponse),
        problem::JsonBodyRefusals,
        (status = 401, response = problem::NotAuthenticated),
        (status = 429, response = problem::RateLimited),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, response = problem::BalanceLimit),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
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
