use std::time::Duration;

use async_trait::async_trait;

use crate::error::PortError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after: Duration },
}

/// Exact sliding-window hit counting for the auth limits (not hot paths),
/// shared by every API instance that uses the same backing store.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit on `key` if fewer than `limit` hits were counted in
    /// the `window` before now, and says whether it was. A refused hit is
    /// not counted. When refused, `retry_after` MUST be the time until the
    /// oldest counted hit leaves the window (at least one second). One
    /// atomic step: concurrent callers never admit more than `limit`.
    async fn hit(&self, key: &str, limit: u32, window: Duration)
    -> Result<RateDecision, PortError>;
}
