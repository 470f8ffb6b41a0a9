//! Proxy sessions over HTTP: one live session per
//! token, write-behind counters, device races across instances, drains.

use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use serde_json::Value;
use zenzefi_tests::upstream::FakeUpstream;
use zenzefi_tests::{Backend, TestApp, body, on_both_backends, problem};

async fn app_before(upstream: &FakeUpstream, backend: Backend) -> Option<TestApp> {
    let url = upstream.url.clone();
    TestApp::spawn_with(backend, move |s| {
        s.upstream.url = url;
        s.sessions.flush_interval_ms = 200;
    })
    .await
}

/// Lets the next flush interval pass.
async fn after_a_flush() {
    tokio::time::sleep(Duration::from_millis(600)).await;
}

async fn my_sessions(app: &TestApp, jwt: &str) -> Value {
    body(app.get_as(jwt, "/api/v1/users/me/sessions").await).await
}

async fn one_device_keeps_one_session_with_exact_counters(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (jwt, token) = app.token_holder("ann", "full").await;
    let upload = "x".repeat(100);
    let mut expected_bytes = 0u64;
    for round in 0..20 {
        // 50 at once: within proxy.max_in_flight_per_token (64).
        let requests = (0..50).map(|_| {
            app.proxied(Method::POST, "upload", &token)
                .header("user-agent", format!("client/{round}"))
                .body(upload.clone())
                .send()
        });
        for response in join_all(requests).await {
            let text = response.unwrap().text().await.unwrap();
            expected_bytes += upload.len() as u64 + text.len() as u64;
        }
    }
    after_a_flush().await;
    let sessions = my_sessions(&app, &jwt).await;
    assert_eq!(sessions["total"], 1, "{sessions}");
    let session = &sessions["items"][0];
    assert_eq!(session["request_count"], 1000);
    assert_eq!(session["bytes_transferred"], expected_bytes);
    assert_eq!(session["device_id"], "device-0001");
    assert_eq!(session["user_agent"], "client/19");
    assert_eq!(session["ip_address"], "127.0.0.1");
    assert_eq!(session["is_active"], true);
}

async fn a_second_device_is_refused_and_audited(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (jwt, token) = app.token_holder("ann", "full").await;
    let base = app.base_url.clone();
    let first = app.proxied_from(&base, Method::GET, "echo", &token, "laptop-0001");
    assert_eq!(
        first
            .header("user-agent", "laptop")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let second = app.proxied_from(&base, Method::GET, "echo", &token, "phone-00001");
    let refused = second.header("user-agent", "phone").send().await.unwrap();
    assert_eq!(refused.status(), 409);
    assert_eq!(problem(refused).await["code"], "device_conflict");

    let conflicts: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "session_device_conflict")
        .collect();
    assert_eq!(conflicts.len(), 1);
    let details = &conflicts[0].details;
    assert_eq!(details["holder"]["device_id"], "laptop-0001");
    assert_eq!(details["holder"]["user_agent"], "laptop");
    assert_eq!(details["challenger"]["device_id"], "phone-00001");
    assert_eq!(details["challenger"]["user_agent"], "phone");
    assert_eq!(details["challenger"]["ip"], "127.0.0.1");

    // The holder ends its session to hand the token over.
    let sessions = my_sessions(&app, &jwt).await;
    let id = sessions["items"][0]["id"].as_str().unwrap().to_owned();
    let ended = app
        .delete_as(&jwt, &format!("/api/v1/users/me/sessions/{id}"))
        .await;
    assert_eq!(ended.status(), 200);
    let taken_over = app.proxied_from(&base, Method::GET, "echo", &token, "phone-00001");
    assert_eq!(taken_over.send().await.unwrap().status(), 200);
    let sessions = my_sessions(&app, &jwt).await;
    assert_eq!(sessions["total"], 2);
    let ended = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(ended["end_reason"], "terminated");
    assert_eq!(ended["is_active"], false);
    let unknown = format!("/api/v1/users/me/sessions/{}", uuid::Uuid::now_v7());
    assert_eq!(app.delete_as(&jwt, &unknown).await.status(), 404);
}

async fn revoking_the_token_ends_its_session(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (jwt, token) = app.token_holder("ann", "full").await;
    assert_eq!(
        app.proxied(Method::GET, "echo", &token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let tokens = body(app.get_as(&jwt, "/api/v1/tokens/my-tokens").await).await;
    let token_id = tokens["items"][0]["token_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.delete_as(&jwt, &format!("/api/v1/tokens/{token_id}"))
            .await
            .status(),
        200
    );
    let sessions = my_sessions(&app, &jwt).await;
    assert_eq!(sessions["items"][0]["end_reason"], "revoked");
    let refused = app
        .proxied(Method::GET, "echo", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

on_both_backends!(
    one_device_keeps_one_session_with_exact_counters,
    a_second_device_is_refused_and_audited,
    revoking_the_token_ends_its_session,
);

/// Twenty devices race for a fresh token through two instances sharing
/// PostgreSQL and Redis: one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn device_race_across_two_instances_has_one_winner() {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, Backend::Shared).await else {
        return;
    };
    let (sibling, _server) = app.sibling().await;
    let (jwt, token) = app.token_holder("ann", "full").await;
    let racers = (0..20).map(|i| {
        let base = if i % 2 == 0 { &app.base_url } else { &sibling };
        app.proxied_from(base, Method::GET, "echo", &token, &format!("device-{i:04}"))
            .send()
    });
    let statuses: Vec<u16> = join_all(racers)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let won = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((won, refused), (1, 19), "{statuses:?}");
    assert_eq!(my_sessions(&app, &jwt).await["total"], 1);
}

/// The database sees writes per flush, not per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_requests_cost_a_handful_of_session_writes_on_postgres() {
    let upstream = FakeUpstream::start().await;
    let Some(mut app) = app_before(&upstream, Backend::Shared).await else {
        return;
    };
    let (jwt, token) = app.token_holder("ann", "full").await;
    let writes_before = app.database.session_writes().await.expect("PostgreSQL");
    for _ in 0..20 {
        // 50 at once: within proxy.max_in_flight_per_token (64).
        let requests = (0..50).map(|_| app.proxied(Method::GET, "echo", &token).send());
        for response in join_all(requests).await {
            assert_eq!(response.unwrap().status(), 200);
        }
    }
    after_a_flush().await;
    let sessions = my_sessions(&app, &jwt).await;
    assert_eq!(sessions["items"][0]["request_count"], 1000);
    // A backend reports its statistics when it exits: close the app's pool.
    app.stop_gracefully().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = app.database.session_writes().await.expect("PostgreSQL") - writes_before;
    eprintln!("1000 proxied requests → {writes} row writes to proxy_sessions");
    assert!(writes <= 50, "{writes} writes for 1000 requests");
}

/// A graceful stop (what SIGTERM triggers) while requests are in flight:
/// they finish, and the last flush writes every byte they moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_stop_drains_and_flushes_every_counter() {
    let upstream = FakeUpstream::start().await;
    let url = upstream.url.clone();
    let Some(mut app) = TestApp::spawn_with(Backend::Shared, move |s| {
        s.upstream.url = url;
        // Longer than the test: only the final flush can write the counters.
        s.sessions.flush_interval_ms = 600_000;
    })
    .await
    else {
        return;
    };
    let (jwt, token) = app.token_holder("ann", "full").await;
    let in_flight: Vec<_> = (0..50)
        .map(|_| {
            let request = app.proxied(Method::GET, "slow/1", &token).send();
            tokio::spawn(async move { request.await.unwrap().bytes().await.unwrap().len() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.stop_gracefully().await;
    let mut received = 0usize;
    for request in in_flight {
        received += request.await.unwrap();
    }
    assert_eq!(
        received,
        50 * "late".len(),
        "every in-flight request completed"
    );

    let (base, _server) = app.sibling().await;
    let sessions = body(
        app.http
            .get(format!("{base}/api/v1/users/me/sessions"))
            .bearer_auth(&jwt)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let session = &sessions["items"][0];
    assert_eq!(session["request_count"], 50);
    assert_eq!(session["bytes_transferred"], received);
}
