//! The payment provider's side: its signed webhook, and the mock
//! payment page that stands in for it in development.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use zenzefi_crypto::verify_webhook_signature;
use zenzefi_domain::currency::PaymentOutcome;

use super::Endpoint;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::{Client, read_body};
use crate::openapi::problem;
use crate::openapi::schemas;
use crate::state::AppState;

pub const SIGNATURE_HEADER: &str = "X-Webhook-Signature";

pub(super) const ROUTES: &[Endpoint] = &[
    (Method::POST, "/webhooks/payment", |r| r.to(webhook)),
    (Method::POST, "/payments/mock/{payment_id}", |r| {
        r.to(mock_payment)
    }),
];

#[derive(OpenApi)]
#[openapi(paths(webhook, mock_payment))]
pub(super) struct Api;

#[derive(Deserialize, ToSchema)]
struct WebhookEvent {
    #[schema(value_type = schemas::PaymentEvent)]
    event: String,
    object: WebhookObject,
}

#[derive(Deserialize, ToSchema)]
struct WebhookObject {
    /// The `payment_id` of the deposit.
    id: String,
}

#[derive(Serialize, ToSchema)]
struct WebhookAck {
    received: bool,
    /// `false` when the payment was settled already: nothing changed.
    processed: bool,
}

/// The signature covers the exact bytes received, so the body is read raw
/// and checked before it is parsed.
#[utoipa::path(
    post,
    path = "/webhooks/payment",
    operation_id = "payment_webhook",
    tag = "payments",
    summary = "The payment provider's notification",
    description = "Idempotent: a repeated or concurrent notification credits once.",
    params(
        ("X-Webhook-Signature" = String, Header,
            description = "Lowercase hex HMAC-SHA256 of the raw body with `payments.webhook_secret`",
            pattern = "^[0-9a-f]{64}$"),
    ),
    request_body = WebhookEvent,
    responses(
        (status = 200, description = "Received; `processed` tells whether it changed anything", body = WebhookAck),
        (status = 400, description = "`bad_request`: the body could not be read", body = Problem, content_type = PROBLEM_JSON),
        (status = 403, description = "`invalid_signature`: the signature is missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "`payment_not_found`", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, response = problem::BalanceLimit),
        (status = 413, response = problem::PayloadTooLarge),
        (status = 422, response = problem::ValidationFailed),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
async fn webhook(
    state: web::Data<AppState>,
    request: HttpRequest,
    Client(ctx): Client,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload).await?;
    let signature = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify_webhook_signature(state.webhook_secret.expose().as_bytes(), &body, signature) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "The webhook signature is missing or wrong",
        ));
    }
    let event: WebhookEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::field("body", format!("not a payment event: {e}")))?;
    let outcome = match event.event.as_str() {
        "payment.succeeded" => PaymentOutcome::Succeeded,
        "payment.canceled" => PaymentOutcome::Canceled,
        _ => {
            return Err(ApiError::field(
                "event",
                "must be payment.succeeded or payment.canceled",
            ));
        }
    };
    let processed = state
        .currency
        .settle_payment(&event.object.id, outcome, &ctx)
        .await?;
    Ok(HttpResponse::Ok().json(WebhookAck {
        received: true,
        processed,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MockPayment {
    #[schema(value_type = schemas::PaymentOutcome)]
    status: String,
}

#[utoipa::path(
    post,
    path = "/payments/mock/{payment_id}",
    operation_id = "mock_payment",
    tag = "payments",
    summary = "Settle a deposit on the mock payment page",
    description = "Development only (`payments.mock_gateway`): the same effect as a signed webhook.",
    params(("payment_id" = String, Path, description = "The deposit's `payment_id`")),
    request_body = MockPayment,
    responses(
        (status = 200, description = "Settled; `processed` tells whether it changed anything", body = WebhookAck),
        problem::JsonBodyRefusals,
        (status = 404, description = "`payment_not_found`, or `not_found` when the mock gateway is off", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, response = problem::BalanceLimit),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
async fn mock_payment(
    state: web::Data<AppState>,
    Client(ctx): Client,
    payment_id: web::Path<String>,
    body: web::Json<MockPayment>,
) -> Result<HttpResponse, ApiError> {
    if !state.mock_gateway {
        return Err(ApiError::not_found("No such endpoint"));
    }
    let outcome = match body.status.as_str() {
        "succeeded" => PaymentOutcome::Succeeded,
        "canceled" => PaymentOutcome::Canceled,
        _ => return Err(ApiError::field("status", "must be succeeded or canceled")),
    };
    let processed = state
        .currency
        .settle_payment(&payment_id, outcome, &ctx)
        .await?;
    Ok(HttpResponse::Ok().json(WebhookAck {
        received: true,
        processed,
    }))
}
