//! Currency and access tokens over HTTP and against the real adapters: deposits, webhooks,
//! purchases, refunds, and token validation across instances.

use std::sync::Arc;

use futures::future::join_all;
use serde_json::{Value, json};
use zenzefi_bootstrap::Infrastructure;
use zenzefi_crypto::sign_webhook;
use zenzefi_domain::Money;
use zenzefi_domain::tokens::ValidateError;
use zenzefi_tests::{Backend, TestApp, body, on_both_backends, problem};

async fn deposits_buy_tokens_that_refund_when_revoked(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.signed_up("ann@x.io", "ann").await;
    let deposit = app.start_deposit(&token, json!(50)).await;
    assert_eq!(deposit.status(), 201);
    let deposit = body(deposit).await;
    assert_eq!(deposit["amount_znc"], "50.00");
    assert_eq!(deposit["amount_rub"], "500.00");
    assert_eq!(deposit["status"], "pending");
    let payment_id = deposit["payment_id"].as_str().unwrap();
    let payment_url = deposit["payment_url"].as_str().unwrap();
    assert!(payment_url.ends_with(&format!("/api/v1/payments/mock/{payment_id}")));

    assert_eq!(
        app.balance(&token).await,
        "0.00",
        "pending deposits do not count"
    );
    let paid = body(app.pay(payment_id, "succeeded").await).await;
    assert_eq!(paid, json!({ "received": true, "processed": true }));
    assert_eq!(app.balance(&token).await, "50.00");

    let pricing = body(app.get("/api/v1/tokens/pricing").send().await.unwrap()).await;
    assert_eq!(
        pricing[2],
        json!({ "duration_hours": 24, "price_znc": "18.00" })
    );

    let bought = app.buy(&token, json!({ "duration_hours": 24 })).await;
    assert_eq!(bought.status(), 201);
    assert_eq!(bought.headers()["cache-control"], "no-store");
    let bought = body(bought).await;
    let secret = bought["token"].as_str().unwrap();
    assert!(secret.starts_with("zzf_"));
    assert_eq!(bought["token_prefix"], &secret[..8]);
    assert_eq!(bought["scope"], "full");
    assert_eq!(bought["cost_znc"], "18.00");
    assert_eq!(bought["balance_after"], "32.00");
    assert_eq!(bought["activated_at"], Value::Null);
    assert_eq!(bought["expires_at"], Value::Null);

    let listed = app
        .get_as(&token, "/api/v1/tokens/my-tokens?active_only=true")
        .await;
    let listed = listed.text().await.unwrap();
    assert!(!listed.contains(secret), "the secret is shown once");
    assert_eq!(serde_json::from_str::<Value>(&listed).unwrap()["total"], 1);

    let token_path = format!("/api/v1/tokens/{}", bought["token_id"].as_str().unwrap());
    let revoked = body(app.delete_as(&token, &token_path).await).await;
    assert_eq!(revoked["revoked"], true);
    assert_eq!(
        revoked["refund_amount"], "18.00",
        "never activated: all of it"
    );
    assert_eq!(revoked["new_balance"], "50.00");
    let again = app.delete_as(&token, &token_path).await;
    assert_eq!(again.status(), 409);
    assert_eq!(problem(again).await["code"], "already_revoked");

    let ledger = body(
        app.get_as(&token, "/api/v1/currency/transactions?limit=2")
            .await,
    )
    .await;
    assert_eq!(
        (ledger["total"].as_u64(), ledger["limit"].as_u64()),
        (Some(3), Some(2))
    );
    let kinds: Vec<_> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["transaction_type"].clone())
        .collect();
    assert_eq!(kinds, ["refund", "purchase"], "newest first");
    let deposits = app
        .get_as(&token, "/api/v1/currency/transactions?type=deposit")
        .await;
    assert_eq!(body(deposits).await["items"][0]["amount"], "50.00");

    if let Some(rows) = app.database.rows_containing(secret).await {
        assert_eq!(rows, 0, "the secret is never stored");
    }
    let actions: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .map(|r| r.action)
        .collect();
    for action in ["currency_deposit", "token_purchase", "token_revoke"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

async fn bad_orders_and_short_balances_are_4xx(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.signed_up("ann@x.io", "ann").await;
    app.fund(&token, "10.00").await;
    let short = app.buy(&token, json!({ "duration_hours": 24 })).await;
    assert_eq!(short.status(), 402);
    let short = problem(short).await;
    assert_eq!(short["code"], "insufficient_balance");
    assert_eq!(
        short["detail"],
        "Insufficient balance. Required: 18.00 ZNC, available: 10.00 ZNC"
    );
    for order in [
        json!({ "duration_hours": 5 }),
        json!({ "duration_hours": 1, "scope": "root" }),
        json!({ "duration_hours": "1" }),
    ] {
        assert_eq!(
            app.buy(&token, order.clone()).await.status(),
            422,
            "{order}"
        );
    }
    for amount in [
        json!("0.99"),
        json!("1.005"),
        json!(100_000.01),
        json!(true),
    ] {
        let refused = app.start_deposit(&token, amount.clone()).await;
        assert_eq!(refused.status(), 422, "{amount}");
    }
    for query in ["limit=0", "limit=101", "offset=-1", "limit=x", "type=gift"] {
        let path = format!("/api/v1/currency/transactions?{query}");
        assert_eq!(app.get_as(&token, &path).await.status(), 422, "{query}");
    }
    let unknown = format!("/api/v1/tokens/{}", uuid::Uuid::now_v7());
    assert_eq!(app.delete_as(&token, &unknown).await.status(), 404);
    let malformed = app.delete_as(&token, "/api/v1/tokens/not-a-uuid").await;
    assert_eq!(malformed.status(), 422);
    let anonymous = app.get("/api/v1/currency/balance").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

async fn signed_webhooks_credit_once_and_forged_ones_are_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.signed_up("ann@x.io", "ann").await;
    let deposit = body(app.start_deposit(&token, json!("25.00")).await).await;
    let event =
        |id: &Value| json!({ "event": "payment.succeeded", "object": { "id": id } }).to_string();
    let key = app
        .settings
        .payments
        .webhook_secret
        .expose()
        .as_bytes()
        .to_vec();
    let send = |body: String, signature: String| {
        app.post("/api/v1/webhooks/payment")
            .header("content-type", "application/json")
            .header("x-webhook-signature", signature)
            .body(body)
            .send()
    };
    let signed = |body: String| send(body.clone(), sign_webhook(&key, body.as_bytes()));

    let paid = event(&deposit["payment_id"]);
    let forged = send(
        paid.clone(),
        sign_webhook(b"not-the-secret", paid.as_bytes()),
    );
    let forged = forged.await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(problem(forged).await["code"], "invalid_signature");
    assert_eq!(
        send(paid.clone(), String::new()).await.unwrap().status(),
        403
    );

    let deliveries = join_all((0..50).map(|_| signed(paid.clone()))).await;
    let mut processed = 0;
    for delivery in deliveries {
        let delivery = delivery.unwrap();
        assert_eq!(delivery.status(), 200);
        processed += usize::from(body(delivery).await["processed"] == true);
    }
    assert_eq!(processed, 1, "credited once");
    assert_eq!(app.balance(&token).await, "25.00");
    let audited = app.audit_rows().await;
    let credits = audited.iter().filter(|r| r.action == "currency_deposit");
    assert_eq!(credits.count(), 1);

    assert_eq!(signed(event(&json!("nope"))).await.unwrap().status(), 404);
    assert_eq!(signed("not json".into()).await.unwrap().status(), 422);
}

on_both_backends!(
    deposits_buy_tokens_that_refund_when_revoked,
    bad_orders_and_short_balances_are_4xx,
    signed_webhooks_credit_once_and_forged_ones_are_refused,
);

/// 200 concurrent purchases against a balance that covers 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_purchases_never_overdraw_on_postgres() {
    let Some(app) = TestApp::spawn_with(Backend::Shared, |s| s.server.workers = 4).await else {
        return;
    };
    let token = app.signed_up("ann@x.io", "ann").await;
    app.fund(&token, "20.00").await;
    let orders = (0..200).map(|_| app.buy(&token, json!({ "duration_hours": 1 })));
    let mut statuses = [0usize; 2];
    for response in join_all(orders).await {
        match response.status().as_u16() {
            201 => statuses[0] += 1,
            402 => statuses[1] += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(statuses, [20, 180]);
    assert_eq!(app.balance(&token).await, "0.00");
    let ledger = body(
        app.get_as(&token, "/api/v1/currency/transactions?limit=100")
            .await,
    )
    .await;
    assert_eq!(ledger["total"], 21);
    let sum: i64 = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["amount"]
                .as_str()
                .unwrap()
                .parse::<Money>()
                .unwrap()
                .cents()
        })
        .sum();
    assert_eq!(sum, 0, "sum(ledger) == balance");
}

/// Validation as the proxy will use it, on PostgreSQL + Redis, with two
/// instances sharing both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validation_activates_once_and_revocation_reaches_every_instance() {
    let Some(app) = TestApp::spawn(Backend::Shared).await else {
        return;
    };
    let token = app.signed_up("ann@x.io", "ann").await;
    app.fund(&token, "10.00").await;
    let bought = body(app.buy(&token, json!({ "duration_hours": 1 })).await).await;
    let secret = bought["token"].as_str().unwrap().to_owned();

    let instance = || async {
        let infra = Infrastructure::connect(&app.settings).await.unwrap();
        Arc::new(infra.token_service(&app.settings).unwrap())
    };
    let (first, second) = (instance().await, instance().await);

    let status = second.validate(&secret, false).await.unwrap();
    assert_eq!(status.activated_at, None);
    let racers = (0..100).map(|i| {
        let service = if i % 2 == 0 { &first } else { &second }.clone();
        let secret = secret.clone();
        tokio::spawn(async move { service.validate(&secret, true).await.unwrap().activated_at })
    });
    let activations: Vec<_> = join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(activations[0].is_some());
    assert!(
        activations.iter().all(|a| *a == activations[0]),
        "activated once"
    );
    second.validate(&secret, true).await.unwrap();

    let token_path = format!("/api/v1/tokens/{}", bought["token_id"].as_str().unwrap());
    assert_eq!(app.delete_as(&token, &token_path).await.status(), 200);
    for service in [&first, &second] {
        let next = service.validate(&secret, true).await;
        assert!(matches!(next, Err(ValidateError::Invalid)), "{next:?}");
    }
}
