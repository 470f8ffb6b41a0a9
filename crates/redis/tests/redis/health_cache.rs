//! The shared health report: round trips, expiry, and one report seen by
//! every instance of a deployment.

use std::time::Duration;

use time::macros::datetime;
use zenzefi_domain::health::{Check, CheckOutcome, HealthReport, HealthStatus};
use zenzefi_domain::ports::HealthCache;
use zenzefi_redis::RedisHealthCache;

use crate::{pool, pool_with_prefix, unique_prefix};

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(150);

/// Every outcome, a missing and a sub-millisecond latency, and a non-UTC
/// time with nanoseconds, so a lossy encoding would show.
fn report(status: HealthStatus) -> HealthReport {
    HealthReport {
        status,
        checked_at: datetime!(2026-03-01 13:30:00.123456789 +03:00),
        database: Check {
            outcome: CheckOutcome::Ok,
            latency: Some(Duration::from_nanos(987_654)),
        },
        redis: Check {
            outcome: CheckOutcome::NotConfigured,
            latency: None,
        },
        upstream: Check {
            outcome: CheckOutcome::Unavailable,
            latency: Some(Duration::from_millis(5_001)),
        },
    }
}

fn cache() -> Option<RedisHealthCache> {
    pool().map(RedisHealthCache::new)
}

#[tokio::test]
async fn a_stored_report_comes_back_with_every_field_equal() {
    let Some(cache) = cache() else { return };
    assert_eq!(cache.load().await.unwrap(), None);
    let report = report(HealthStatus::Degraded);
    cache.store(&report, LONG).await.unwrap();
    assert_eq!(cache.load().await.unwrap(), Some(report));
}

#[tokio::test]
async fn a_report_is_gone_once_its_ttl_ends() {
    let Some(cache) = cache() else { return };
    cache
        .store(&report(HealthStatus::Healthy), SHORT)
        .await
        .unwrap();
    assert!(cache.load().await.unwrap().is_some());
    tokio::time::sleep(SHORT + Duration::from_millis(100)).await;
    assert_eq!(cache.load().await.unwrap(), None);
}

#[tokio::test]
async fn instances_of_one_deployment_share_the_last_report_and_no_other() {
    let prefix = unique_prefix();
    let (Some(a), Some(b), Some(elsewhere)) =
        (pool_with_prefix(&prefix), pool_with_prefix(&prefix), pool())
    else {
        return;
    };
    let (a, b) = (RedisHealthCache::new(a), RedisHealthCache::new(b));
    a.store(&report(HealthStatus::Healthy), LONG).await.unwrap();
    b.store(&report(HealthStatus::Unhealthy), LONG)
        .await
        .unwrap();
    assert_eq!(
        a.load().await.unwrap(),
        Some(report(HealthStatus::Unhealthy))
    );
    assert_eq!(RedisHealthCache::new(elsewhere).load().await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_server_is_reported_unavailable() {
    let settings = zenzefi_redis::RedisSettings {
        url: "redis://127.0.0.1:1".into(),
        key_prefix: "x:".into(),
        max_connections: 1,
        timeout: Duration::from_millis(500),
    };
    let cache = RedisHealthCache::new(zenzefi_redis::RedisPool::new(&settings).unwrap());
    let err = cache.load().await.unwrap_err();
    assert!(
        matches!(err, zenzefi_domain::PortError::Unavailable(_)),
        "{err:?}"
    );
}
