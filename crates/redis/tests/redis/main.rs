//! The Redis adapters against a real server (`TEST_REDIS_URL`), in one test
//! binary with a module per adapter.

mod health_cache;
mod rate_limit;
mod session_claims;
mod token_cache;

use std::time::Duration;

use zenzefi_domain::ports::{Probe, RateLimiter};
use zenzefi_redis::{RedisPool, RedisRateLimiter, RedisSettings};

/// A key prefix of its own per test, so tests never see each other's keys.
fn unique_prefix() -> String {
    format!("zenzefi-test:{}:", uuid::Uuid::new_v4())
}

/// A pool on the test server under `prefix`; several pools with one prefix
/// stand for several instances of one deployment.
fn pool_with_prefix(prefix: &str) -> Option<RedisPool> {
    let url = zenzefi_testkit::service_url("TEST_REDIS_URL")?;
    let settings = RedisSettings {
        url,
        key_prefix: prefix.to_owned(),
        max_connections: 16,
        timeout: Duration::from_secs(2),
    };
    Some(RedisPool::new(&settings).unwrap())
}

fn pool() -> Option<RedisPool> {
    pool_with_prefix(&unique_prefix())
}

#[tokio::test]
async fn probe_answers() {
    let Some(pool) = pool() else { return };
    pool.probe().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_reported_unavailable() {
    let settings = RedisSettings {
        url: "redis://127.0.0.1:1".into(),
        key_prefix: "x:".into(),
        max_connections: 1,
        timeout: Duration::from_millis(500),
    };
    let limiter = RedisRateLimiter::new(RedisPool::new(&settings).unwrap());
    let err = limiter
        .hit("k", 1, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, zenzefi_domain::PortError::Unavailable(_)),
        "{err:?}"
    );
}
