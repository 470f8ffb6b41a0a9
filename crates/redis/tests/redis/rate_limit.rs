//! The sliding-window rate limiter of the auth limits.

use std::time::Duration;

use zenzefi_domain::ports::{RateDecision, RateLimiter};
use zenzefi_redis::RedisRateLimiter;

use crate::pool;

#[tokio::test]
async fn concurrent_hits_from_two_instances_share_one_window() {
    let Some(pool) = pool() else { return };
    // Two limiters on one server stand for two API instances.
    let instances = [
        RedisRateLimiter::new(pool.clone()),
        RedisRateLimiter::new(pool.clone()),
    ];
    let hits = (0..40).map(|i| {
        let limiter = instances[i % 2].clone();
        tokio::spawn(async move {
            limiter
                .hit("login:10.0.0.1", 10, Duration::from_secs(60))
                .await
        })
    });
    let mut allowed = 0;
    for hit in hits {
        match hit.await.unwrap().unwrap() {
            RateDecision::Allowed => allowed += 1,
            RateDecision::Limited { retry_after } => {
                assert!((1..=60).contains(&retry_after.as_secs()), "{retry_after:?}");
            }
        }
    }
    assert_eq!(allowed, 10);
}

#[tokio::test]
async fn the_window_expires_in_redis() {
    let Some(pool) = pool() else { return };
    let limiter = RedisRateLimiter::new(pool);
    let window = Duration::from_millis(200);
    assert_eq!(
        limiter.hit("k", 1, window).await.unwrap(),
        RateDecision::Allowed
    );
    assert!(matches!(
        limiter.hit("k", 1, window).await.unwrap(),
        RateDecision::Limited { .. }
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        limiter.hit("k", 1, window).await.unwrap(),
        RateDecision::Allowed
    );
}
