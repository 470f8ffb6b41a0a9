//! Health over HTTP: the health report, shared by every instance of a
//! deployment through Redis, and graded unhealthy when Redis is down.

use serde_json::Value;
use zenzefi_bootstrap::Secret;
use zenzefi_tests::{Backend, TestApp, body, on_both_backends};

async fn detailed(base_url: &str, app: &TestApp) -> Value {
    let response = app
        .http
        .get(format!("{base_url}/health/detailed"))
        .send()
        .await
        .expect("GET /health/detailed");
    body(response).await
}

#[tokio::test]
async fn instances_started_within_the_interval_share_one_report() {
    // An interval longer than the test: the first report is the only one.
    let Some(app) = TestApp::spawn_with(Backend::Shared, |s| {
        s.health.interval_secs = 600;
        s.health.ttl_secs = 1_800;
    })
    .await
    else {
        return;
    };
    let first = detailed(&app.base_url, &app).await;
    assert_eq!(first["checks"]["redis"], "ok", "{first}");
    assert!(first["timestamp"].is_string(), "{first}");

    let (sibling, _server) = app.sibling().await;
    let second = detailed(&sibling, &app).await;
    // The sibling adopted the first instance's report instead of probing:
    // the same check time, outcomes and latencies to the nanosecond.
    assert_eq!(second, first);
}

#[tokio::test]
async fn instances_of_other_deployments_do_not_share_a_report() {
    let Some(app) = TestApp::spawn_with(Backend::Shared, |s| {
        s.health.interval_secs = 600;
        s.health.ttl_secs = 1_800;
    })
    .await
    else {
        return;
    };
    let Some(other) = TestApp::spawn_with(Backend::Shared, |s| {
        s.health.interval_secs = 600;
        s.health.ttl_secs = 1_800;
    })
    .await
    else {
        return;
    };
    let (mine, theirs) = (
        detailed(&app.base_url, &app).await,
        detailed(&other.base_url, &other).await,
    );
    // Each checked for itself: the later one's check ran after the other's.
    assert_ne!(mine["timestamp"], theirs["timestamp"], "{mine} {theirs}");
}

/// Redis is both the health cache and a checked dependency: when it is
/// unreachable the checks still run and report it, and `/health` is 503.
async fn an_unreachable_redis_is_unhealthy_and_503(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.redis.url = Secret::new("redis://127.0.0.1:1".to_owned());
        s.redis.timeout_secs = 1;
    })
    .await
    else {
        return;
    };
    let health = app.get("/health").send().await.unwrap();
    assert_eq!(health.status(), 503);
    let summary = body(health).await;
    assert_eq!(summary["status"], "unhealthy", "{summary}");
    assert!(summary["timestamp"].is_string(), "{summary}");

    let detailed = app.get("/health/detailed").send().await.unwrap();
    assert_eq!(detailed.status(), 503);
    let detailed = body(detailed).await;
    assert_eq!(detailed["checks"]["redis"], "unavailable", "{detailed}");
    assert_eq!(detailed["checks"]["database"], "ok", "{detailed}");
}

on_both_backends!(an_unreachable_redis_is_unhealthy_and_503);
