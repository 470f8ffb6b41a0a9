//! The Redis adapters against a real server (`TEST_REDIS_URL`), in one test
//! binary with a module per adapter.

mod health_cache;
mod near_cache;
mod quota_sync;
mod rate_limit;
mod session_claims;
mod token_cache;

use std::time::Duration;

use zenzefi_domain::ports::{Probe, RateLimiter};
use zenzefi_redis::{NearCache, NearCacheSettings, RedisPool, RedisRateLimiter, RedisSettings};

/// A key prefix of its own per test, so tests never see each other's keys.
fn unique_prefix() -> String {
    format!("zenzefi-test:{}:", uuid::Uuid::new_v4())
}

/// A pool on the test server under `prefix`; several pools with one prefix
/// stand for several instances of one deployment.
fn pool_with_prefix(prefix: &str) -> Option<RedisPool> {
    let url = zenzefi_testkit::service_url("TEST_REDIS_URL")?;
    Some(RedisPool::new(&settings(url, prefix)).unwrap())
}

fn pool() -> Option<RedisPool> {
    pool_with_prefix(&unique_prefix())
}

/// The near-cache lifetimes of the defaults.
const NEAR: NearCacheSettings = NearCacheSettings {
    capacity: 10_000,
    token_ttl: Duration::from_secs(10),
    claim_renew: Duration::from_secs(30),
};

fn settings(url: String, prefix: &str) -> RedisSettings {
    RedisSettings {
        url,
        key_prefix: prefix.to_owned(),
        max_connections: 16,
        timeout: Duration::from_secs(2),
    }
}

/// One instance's near cache on the test server under `prefix`.
async fn near_with(prefix: &str, near: NearCacheSettings) -> Option<NearCache> {
    let url = zenzefi_testkit::service_url("TEST_REDIS_URL")?;
    Some(
        NearCache::start(&settings(url, prefix), near)
            .await
            .unwrap(),
    )
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
