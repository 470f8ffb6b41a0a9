//! Accounts over HTTP: registration, login, the current user, errors.

use serde_json::{Value, json};
use zenzefi_domain::ports::UserStore;
use zenzefi_domain::user::Email;
use zenzefi_tests::{Backend, PASSWORD, TestApp, on_both_backends, problem};

async fn register_answers_201_with_the_public_profile(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let response = app.register("Ann@Example.COM", "ann").await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["email"], "ann@example.com");
    assert_eq!(body["username"], "ann");
    assert_eq!(body["currency_balance"], "0.00");
    assert_eq!(body["is_active"], true);
    assert_eq!(body["is_superuser"], false);
    assert!(body.get("password_hash").is_none() && body.get("password").is_none());
}

async fn duplicate_email_or_username_is_409(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    assert_eq!(app.register("ann@x.io", "ann").await.status(), 201);
    let email = app.register("ANN@x.io", "other").await;
    assert_eq!(email.status(), 409);
    assert_eq!(problem(email).await["code"], "email_taken");
    let username = app.register("bob@x.io", "ANN").await;
    assert_eq!(username.status(), 409);
    assert_eq!(problem(username).await["code"], "username_taken");
}

async fn invalid_fields_are_422_with_one_error_each(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let response = app
        .post("/api/v1/auth/register")
        .json(&json!({ "email": "not-an-email", "username": "a", "password": "short" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    assert_eq!(body["code"], "validation_failed");
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "password", "username"]);
    assert!(app.audit_rows().await.is_empty(), "nothing was written");
}

async fn bad_bodies_are_4xx_problems(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let send = |body: String, content_type: &'static str| {
        app.post("/api/v1/auth/register")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            "{\"email\":".to_owned(),
            "application/json",
            400,
            "malformed_json",
        ),
        ("{}".to_owned(), "text/plain", 415, "unsupported_media_type"),
        (
            format!("{{\"email\":\"{}\"}}", "a".repeat(70 * 1024)),
            "application/json",
            413,
            "payload_too_large",
        ),
        (
            "[1,2]".to_owned(),
            "application/json",
            422,
            "validation_failed",
        ),
        (
            json!({ "email": "a@x.io", "username": "ann", "password": PASSWORD, "admin": true })
                .to_string(),
            "application/json",
            422,
            "validation_failed",
        ),
        (
            json!({ "email": "a@x.io", "password": PASSWORD }).to_string(),
            "application/json",
            422,
            "validation_failed",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let response = send(body, content_type).await.unwrap();
        assert_eq!(response.status(), status, "{code}");
        assert_eq!(problem(response).await["code"], code);
    }
}

async fn wrong_password_and_unknown_email_look_the_same(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.register("ann@x.io", "ann").await;
    let wrong = app.login("ann@x.io", "Wrong-Password-1").await;
    let unknown = app.login("nobody@x.io", PASSWORD).await;
    assert_eq!(
        (wrong.status().as_u16(), unknown.status().as_u16()),
        (401, 401)
    );
    let (wrong, unknown) = (problem(wrong).await, problem(unknown).await);
    assert_eq!(wrong["code"], "invalid_credentials");
    assert_eq!(wrong, unknown);
}

async fn login_attempts_are_audited_without_the_password(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.register("ann@x.io", "ann").await;
    let ok = app.login("ann@x.io", PASSWORD).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    let request_id = ok.headers()["x-request-id"].to_str().unwrap().to_owned();
    let secret_attempt = "Guess-Secret-77";
    assert_eq!(app.login("ann@x.io", secret_attempt).await.status(), 401);
    assert_eq!(app.login("ghost@x.io", secret_attempt).await.status(), 401);
    // A password typed into the email field is not an email: not recorded.
    assert_eq!(
        app.login(secret_attempt, secret_attempt).await.status(),
        401
    );

    let rows = app.audit_rows().await;
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "auth_register",
            "auth_login",
            "auth_login",
            "auth_login",
            "auth_login"
        ]
    );
    let (success, wrong, unknown, misplaced) = (&rows[1], &rows[2], &rows[3], &rows[4]);
    assert_eq!(success.details["success"], true);
    assert_eq!(success.request_id.as_deref(), Some(request_id.as_str()));
    assert_eq!(success.ip.as_deref(), Some("127.0.0.1"));
    assert!(success.user_id.is_some());
    assert_eq!(success.resource_id, success.user_id);
    // Failures have no actor; a known account is named as the target.
    assert_eq!((wrong.user_id, wrong.resource_id), (None, success.user_id));
    assert_eq!((unknown.user_id, unknown.resource_id), (None, None));
    assert_eq!(wrong.details["success"], false);
    assert_eq!(wrong.details["email"], "ann@x.io");
    assert_eq!(unknown.details["email"], "ghost@x.io");
    assert_eq!(misplaced.details["email"], Value::Null);
    assert_eq!(misplaced.details["reason"], "invalid_credentials");
    for row in &rows {
        let stored = row.details.to_string();
        assert!(
            !stored.contains(PASSWORD) && !stored.contains(secret_attempt),
            "{stored}"
        );
    }
}

async fn repeated_logins_are_throttled_with_retry_after(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.rate_limit.login_per_minute = 3).await
    else {
        return;
    };
    app.register("ann@x.io", "ann").await;
    for _ in 0..3 {
        assert_eq!(
            app.login("ann@x.io", "Wrong-Password-1").await.status(),
            401
        );
    }
    let throttled = app.login("ann@x.io", PASSWORD).await;
    assert_eq!(throttled.status(), 429);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(problem(throttled).await["code"], "rate_limited");
}

async fn me_needs_a_valid_bearer_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.signed_up("ann@x.io", "ann").await;
    let me = app.me(&token).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "ann");

    for header in [None, Some("Bearer not.a.jwt"), Some("Basic YW5uOnB3")] {
        let mut request = app.get("/api/v1/users/me");
        if let Some(value) = header {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{header:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(problem(response).await["code"], "not_authenticated");
    }
}

async fn a_deactivated_user_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.signed_up("ann@x.io", "ann").await;
    let db = app.database.db();
    let mut ann = db
        .user_by_email(&Email::parse("ann@x.io").unwrap())
        .await
        .unwrap()
        .unwrap();
    ann.is_active = false;
    db.update_user(&ann).await.unwrap();

    let me = app.me(&token).await;
    assert_eq!(me.status(), 403);
    assert_eq!(problem(me).await["code"], "user_inactive");
    let login = app.login("ann@x.io", PASSWORD).await;
    assert_eq!(login.status(), 403);
    assert_eq!(problem(login).await["code"], "user_inactive");
}

async fn users_update_their_profile_and_password(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.signed_up("ann@x.io", "ann").await;
    let patch = |body: Value| {
        app.patch("/api/v1/users/me")
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let named = patch(json!({ "full_name": "Ann Example" })).await.unwrap();
    assert_eq!(named.status(), 200);
    assert_eq!(
        named.json::<Value>().await.unwrap()["full_name"],
        "Ann Example"
    );

    let missing_current = patch(json!({ "password": "New-Password-22" }))
        .await
        .unwrap();
    assert_eq!(missing_current.status(), 422);
    let wrong_current = patch(json!({ "password": "New-Password-22", "current_password": "nope" }))
        .await
        .unwrap();
    assert_eq!(wrong_current.status(), 403);
    assert_eq!(
        problem(wrong_current).await["code"],
        "invalid_current_password"
    );

    let changed = patch(json!({ "password": "New-Password-22", "current_password": PASSWORD }))
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(app.login("ann@x.io", PASSWORD).await.status(), 401);
    let relogin = app.login("ann@x.io", "New-Password-22").await;
    assert_eq!(relogin.status(), 200);
    let token = relogin.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The JWT issued before the change is worthless now; the new one works.
    let stale = patch(json!({ "full_name": "Mallory" })).await.unwrap();
    assert_eq!(stale.status(), 401);
    assert_eq!(problem(stale).await["code"], "not_authenticated");
    let patch = |body: Value| {
        app.patch("/api/v1/users/me")
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let cleared = patch(json!({ "full_name": null })).await.unwrap();
    assert_eq!(
        cleared.json::<Value>().await.unwrap()["full_name"],
        Value::Null
    );
    let escalation = patch(json!({ "is_superuser": true })).await.unwrap();
    assert_eq!(escalation.status(), 422);
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let echoed = app
        .get("/health")
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-42");
    let wrong_method = app.delete("/api/v1/auth/login").send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(wrong_method.headers()["allow"], "POST");
    assert!(!wrong_method.headers()["x-request-id"].is_empty());
    assert_eq!(problem(wrong_method).await["code"], "method_not_allowed");
    let generated = app.get("/nowhere").send().await.unwrap();
    assert!(!generated.headers()["x-request-id"].is_empty());
    assert_eq!(generated.status(), 404);
    assert_eq!(problem(generated).await["code"], "not_found");
    let hostile = app
        .get("/health")
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_ne!(hostile.headers()["x-request-id"], "x".repeat(500).as_str());
}

async fn health_reports_each_dependency(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let health = app.get("/health").send().await.unwrap();
    let body: Value = health.json().await.unwrap();
    assert!(
        ["healthy", "degraded"].contains(&body["status"].as_str().unwrap()),
        "{body}"
    );

    let detailed: Value = app
        .get("/health/detailed")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detailed["checks"]["database"], "ok");
    let redis = match backend {
        Backend::Embedded => "not_configured",
        Backend::Shared => "ok",
    };
    assert_eq!(detailed["checks"]["redis"], redis);
    // No upstream listens in tests.
    assert_eq!(detailed["checks"]["zenzefi"], "unavailable");
    assert_eq!(detailed["status"], "degraded");
}

on_both_backends!(
    register_answers_201_with_the_public_profile,
    duplicate_email_or_username_is_409,
    invalid_fields_are_422_with_one_error_each,
    bad_bodies_are_4xx_problems,
    wrong_password_and_unknown_email_look_the_same,
    login_attempts_are_audited_without_the_password,
    repeated_logins_are_throttled_with_retry_after,
    me_needs_a_valid_bearer_token,
    a_deactivated_user_is_refused,
    users_update_their_profile_and_password,
    every_response_carries_a_request_id,
    health_reports_each_dependency,
);
