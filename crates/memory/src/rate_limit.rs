use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{RateDecision, RateLimiter};

/// Sliding windows counted in this process only: the times of the hits in
/// the window, per key.
#[derive(Debug, Default)]
pub struct InMemoryRateLimiter {
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Past this many tracked keys, keys with no hit in their last window are
/// swept on the next hit.
const SWEEP_THRESHOLD: usize = 10_000;

#[async_trait]
impl RateLimiter for InMemoryRateLimiter {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, PortError> {
        let now = Instant::now();
        let mut keys = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() > SWEEP_THRESHOLD {
            keys.retain(|_, hits| hits.back().is_some_and(|t| now - *t < window));
        }
        let hits = keys.entry(key.to_owned()).or_default();
        while hits.front().is_some_and(|t| now - *t >= window) {
            hits.pop_front();
        }
        if hits.len() < usize::try_from(limit).unwrap_or(usize::MAX) {
            hits.push_back(now);
            return Ok(RateDecision::Allowed);
        }
        let oldest = hits.front().copied().unwrap_or(now);
        Ok(RateDecision::Limited {
            retry_after: (oldest + window - now).max(Duration::from_secs(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_hits_within_a_window_per_key() {
        let limiter = InMemoryRateLimiter::default();
        let minute = Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(
                limiter.hit("a", 3, minute).await.unwrap(),
                RateDecision::Allowed
            );
        }
        assert!(matches!(
            limiter.hit("a", 3, minute).await.unwrap(),
            RateDecision::Limited { retry_after } if retry_after.as_secs() >= 59
        ));
        assert_eq!(
            limiter.hit("b", 3, minute).await.unwrap(),
            RateDecision::Allowed
        );
    }

    #[tokio::test]
    async fn a_hit_leaves_the_window_once_it_is_a_window_old() {
        let limiter = InMemoryRateLimiter::default();
        let short = Duration::from_millis(300);
        assert_eq!(
            limiter.hit("a", 2, short).await.unwrap(),
            RateDecision::Allowed
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            limiter.hit("a", 2, short).await.unwrap(),
            RateDecision::Allowed
        );
        assert!(matches!(
            limiter.hit("a", 2, short).await.unwrap(),
            RateDecision::Limited { .. }
        ));
        // The first hit has left; the second (150 ms later) has not: one
        // more, not two, as a fixed window restarting now would allow.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            limiter.hit("a", 2, short).await.unwrap(),
            RateDecision::Allowed
        );
        assert!(matches!(
            limiter.hit("a", 2, short).await.unwrap(),
            RateDecision::Limited { .. }
        ));
    }
}
