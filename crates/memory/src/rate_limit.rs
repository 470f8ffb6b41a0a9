use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{RateDecision, RateLimiter};

/// Fixed windows counted in this process only.
#[derive(Debug, Default)]
pub struct InMemoryRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug)]
struct Window {
    ends_at: Instant,
    hits: u32,
}

/// Past this many tracked keys, expired windows are swept on the next hit.
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
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > SWEEP_THRESHOLD {
            windows.retain(|_, w| w.ends_at > now);
        }
        let entry = windows.entry(key.to_owned()).or_insert(Window {
            ends_at: now + window,
            hits: 0,
        });
        if entry.ends_at <= now {
            *entry = Window {
                ends_at: now + window,
                hits: 0,
            };
        }
        entry.hits = entry.hits.saturating_add(1);
        if entry.hits <= limit {
            Ok(RateDecision::Allowed)
        } else {
            let left = entry.ends_at - now;
            Ok(RateDecision::Limited {
                retry_after: left.max(Duration::from_secs(1)),
            })
        }
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
    async fn a_new_window_starts_when_the_old_one_ends() {
        let limiter = InMemoryRateLimiter::default();
        let short = Duration::from_millis(30);
        assert_eq!(
            limiter.hit("a", 1, short).await.unwrap(),
            RateDecision::Allowed
        );
        assert!(matches!(
            limiter.hit("a", 1, short).await.unwrap(),
            RateDecision::Limited { .. }
        ));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(
            limiter.hit("a", 1, short).await.unwrap(),
            RateDecision::Allowed
        );
    }
}
