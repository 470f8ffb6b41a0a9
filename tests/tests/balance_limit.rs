//! The balance ceiling over HTTP: balances stay at or below `currency.max_balance`,
//! amounts are read exactly as sent, and no amount reaches a 500.

use reqwest::Response;
use serde_json::{Value, json};
use zenzefi_crypto::sign_webhook;
use zenzefi_domain::Money;
use zenzefi_domain::ports::LedgerStore;
use zenzefi_domain::user::UserId;
use zenzefi_tests::{Backend, TestApp, body, on_both_backends, problem};

/// An app whose accounts may hold at most 100.00 ZNC.
async fn app_with_limit(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |s| s.currency.max_balance = "100.00".into()).await
}

/// A user and a superuser: `(user jwt, user id, superuser jwt)`.
async fn user_and_operator(app: &TestApp) -> (String, String, String) {
    let ann = app.signed_up("ann@x.io", "ann").await;
    let ann_id = body(app.me(&ann).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let root = app.signed_up("root@x.io", "root").await;
    app.promote("root@x.io").await;
    (ann, ann_id, root)
}

async fn set_balance(app: &TestApp, root: &str, user_id: &str, balance: Value) -> Response {
    let request = app.patch(&format!("/api/v1/admin/users/{user_id}"));
    let request = request.bearer_auth(root);
    let request = request.json(&json!({ "currency_balance": balance }));
    request.send().await.expect("PATCH")
}

/// Delivers a signed `payment.succeeded` for `payment_id`.
async fn webhook_paid(app: &TestApp, payment_id: &Value) -> Response {
    let event = json!({ "event": "payment.succeeded", "object": { "id": payment_id } });
    let event = event.to_string();
    let key = app.settings.payments.webhook_secret.expose().as_bytes();
    let request = app.post("/api/v1/webhooks/payment");
    let request = request
        .header("content-type", "application/json")
        .header("x-webhook-signature", sign_webhook(key, event.as_bytes()));
    request.body(event).send().await.expect("webhook")
}

async fn assert_balance_limit(response: Response) {
    assert_eq!(response.status(), 409);
    let problem = problem(response).await;
    assert_eq!(problem["code"], "balance_limit");
    assert!(
        problem["detail"].as_str().unwrap().contains("100.00"),
        "{problem}"
    );
}

/// The status of the deposit with `payment_id`, from the user's ledger.
async fn deposit_status(app: &TestApp, jwt: &str, payment_id: &Value) -> Value {
    let path = "/api/v1/currency/transactions?type=deposit&limit=100";
    let ledger = body(app.get_as(jwt, path).await).await;
    let items = ledger["items"].as_array().unwrap();
    let entry = items.iter().find(|e| e["payment_id"] == *payment_id);
    entry.expect("the deposit")["status"].clone()
}

async fn an_operator_cannot_set_a_balance_above_the_limit(backend: Backend) {
    let Some(app) = app_with_limit(backend).await else {
        return;
    };
    let (ann, ann_id, root) = user_and_operator(&app).await;
    for refused in [
        json!("100.01"),
        json!(100.01),
        json!("92233720368547758.07"),
        json!("-0.01"),
    ] {
        let response = set_balance(&app, &root, &ann_id, refused.clone()).await;
        assert_eq!(response.status(), 422, "{refused}");
        assert_eq!(problem(response).await["code"], "validation_failed");
    }
    assert_eq!(app.balance(&ann).await, "0.00");
    let at_limit = set_balance(&app, &root, &ann_id, json!("100.00")).await;
    assert_eq!(at_limit.status(), 200);
    assert_eq!(app.balance(&ann).await, "100.00");
}

async fn amounts_with_surrounding_whitespace_are_422(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (ann, ann_id, root) = user_and_operator(&app).await;
    for padded in [" 10.00", "10.00 ", "\t10.00", "10.00\n", " 10"] {
        let deposit = app.start_deposit(&ann, json!(padded)).await;
        assert_eq!(deposit.status(), 422, "{padded:?}");
        let patched = set_balance(&app, &root, &ann_id, json!(padded)).await;
        assert_eq!(patched.status(), 422, "{padded:?}");
    }
    assert_eq!(app.balance(&ann).await, "0.00");
}

async fn a_deposit_past_the_limit_is_409_and_a_paid_one_waits_for_room(backend: Backend) {
    let Some(app) = app_with_limit(backend).await else {
        return;
    };
    let ann = app.signed_up("ann@x.io", "ann").await;
    app.fund(&ann, "60.00").await;
    // Refused before the user pays.
    assert_balance_limit(app.start_deposit(&ann, json!("40.01")).await).await;

    // Each fits alone; the second to be paid no longer does.
    let first = body(app.start_deposit(&ann, json!("25.00")).await).await;
    let second = body(app.start_deposit(&ann, json!("25.00")).await).await;
    assert_eq!(webhook_paid(&app, &first["payment_id"]).await.status(), 200);
    assert_eq!(app.balance(&ann).await, "85.00");
    assert_balance_limit(webhook_paid(&app, &second["payment_id"]).await).await;
    let mock = app.pay(second["payment_id"].as_str().unwrap(), "succeeded");
    assert_balance_limit(mock.await).await;
    assert_eq!(app.balance(&ann).await, "85.00", "nothing credited");
    assert_eq!(
        deposit_status(&app, &ann, &second["payment_id"]).await,
        "pending"
    );
    let credits = app.audit_rows().await;
    let credits = credits.iter().filter(|r| r.action == "currency_deposit");
    assert_eq!(credits.count(), 2, "the funding and the first deposit");

    // Once there is room, the provider's next delivery credits it.
    let bought = app.buy(&ann, json!({ "duration_hours": 24 })).await;
    assert_eq!(bought.status(), 201);
    let retried = webhook_paid(&app, &second["payment_id"]).await;
    assert_eq!(body(retried).await["processed"], true);
    assert_eq!(app.balance(&ann).await, "92.00");
}

async fn a_refund_past_the_limit_is_409_and_the_token_stays(backend: Backend) {
    let Some(app) = app_with_limit(backend).await else {
        return;
    };
    let (ann, ann_id, root) = user_and_operator(&app).await;
    app.fund(&ann, "50.00").await;
    let bought = body(app.buy(&ann, json!({ "duration_hours": 24 })).await).await;
    let full = set_balance(&app, &root, &ann_id, json!("100.00")).await;
    assert_eq!(full.status(), 200);

    let token_path = format!("/api/v1/tokens/{}", bought["token_id"].as_str().unwrap());
    assert_balance_limit(app.delete_as(&ann, &token_path).await).await;
    assert_eq!(app.balance(&ann).await, "100.00");
    let active = app
        .get_as(&ann, "/api/v1/tokens/my-tokens?active_only=true")
        .await;
    assert_eq!(body(active).await["total"], 1, "the token is not revoked");
}

/// A balance near the largest BIGINT, as an operator could set one before
/// the limit existed: crediting it used to overflow into a 500.
async fn credits_on_a_balance_from_before_the_limit_are_409_not_500(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (ann, ann_id, root) = user_and_operator(&app).await;
    let old_case = set_balance(&app, &root, &ann_id, json!("92233720368547758.07")).await;
    assert_eq!(old_case.status(), 422);

    app.fund(&ann, "20.00").await;
    let bought = body(app.buy(&ann, json!({ "duration_hours": 1 })).await).await;
    let deposit = body(app.start_deposit(&ann, json!("10.00")).await).await;
    let id = UserId(ann_id.parse().unwrap());
    let huge = Money::from_cents(9_223_372_036_854_775_807 - 1900);
    let legacy = app.database.db().adjust_balance(id, huge).await.unwrap();
    assert_eq!(legacy, Some(Money::from_cents(i64::MAX)));

    assert_eq!(
        webhook_paid(&app, &deposit["payment_id"]).await.status(),
        409
    );
    let token_path = format!("/api/v1/tokens/{}", bought["token_id"].as_str().unwrap());
    assert_eq!(app.delete_as(&ann, &token_path).await.status(), 409);
    assert_eq!(app.start_deposit(&ann, json!("1.00")).await.status(), 409);
    assert_eq!(app.balance(&ann).await, "92233720368547758.07");
}

on_both_backends!(
    an_operator_cannot_set_a_balance_above_the_limit,
    amounts_with_surrounding_whitespace_are_422,
    a_deposit_past_the_limit_is_409_and_a_paid_one_waits_for_room,
    a_refund_past_the_limit_is_409_and_the_token_stays,
    credits_on_a_balance_from_before_the_limit_are_409_not_500,
);
