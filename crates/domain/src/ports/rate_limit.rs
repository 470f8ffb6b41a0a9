use std::time::Duration;

use async_trait::async_trait;

use crate::error::PortError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after: Duration },
}

/// Fixed-window hit counting shared by every API instance that uses the same
/// backing store.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit on `key` in its current window of length `window` and
    /// says whether the hit is within `limit`. When it is not, `retry_after`
    /// MUST be the time left until the window resets (at least one second).
    async fn hit(&self, key: &str, limit: u32, window: Duration)
    -> Result<RateDecision, PortError>;
}
