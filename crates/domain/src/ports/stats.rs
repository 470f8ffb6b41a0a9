use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::PortError;

/// How many of each thing the gateway holds at one moment: what the
/// operators' gauges show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Tokens a holder could use at that moment: neither revoked nor
    /// expired (a token not yet activated has not expired), owner active.
    pub active_tokens: u64,
    /// Proxy sessions still open (`is_active`), idle or not.
    pub active_sessions: u64,
    /// Every account, deactivated ones included.
    pub users: u64,
}

/// Whole-table counts.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// The [`Counts`] as of `now`. Each count scans its table, so call this
    /// from a background task, never on a request's path.
    async fn counts(&self, now: OffsetDateTime) -> Result<Counts, PortError>;
}
