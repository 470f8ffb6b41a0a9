//! The payment provider's side (SPEC §5): its signed webhook, and the mock
//! payment page that stands in for it in development.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use zenzefi_crypto::verify_webhook_signature;
use zenzefi_domain::currency::PaymentOutcome;

use crate::error::ApiError;
use crate::extract::{Client, read_body};
use crate::state::AppState;

pub const SIGNATURE_HEADER: &str = "X-Webhook-Signature";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/webhooks/payment").route(web::post().to(webhook)))
        .service(web::resource("/payments/mock/{payment_id}").route(web::post().to(mock_payment)));
}

#[derive(Deserialize)]
struct WebhookEvent {
    event: String,
    object: WebhookObject,
}

#[derive(Deserialize)]
struct WebhookObject {
    id: String,
}

#[derive(Serialize)]
struct WebhookAck {
    received: bool,
    processed: bool,
}

/// The signature covers the exact bytes received, so the body is read raw
/// and checked before it is parsed.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MockPayment {
    status: String,
}

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
