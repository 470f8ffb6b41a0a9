use async_trait::async_trait;

use crate::error::PortError;
use crate::quotas::QuotaKey;

/// Hits one instance counted on one key since it last pushed them, by the
/// second (since the epoch) they were counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaDelta {
    pub key: QuotaKey,
    pub hits: Vec<(u64, u32)>,
}

/// A key's count over every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterCount {
    /// Hits in the window, the pushed ones included.
    pub total: u32,
    /// The earliest second in the window that holds hits.
    pub oldest: Option<u64>,
}

/// What one round learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// Instances that took part in a round lately, the caller included.
    pub instances: u32,
    /// One per delta, in the same order.
    pub counts: Vec<ClusterCount>,
}

/// Where the instances of a deployment add up the hits of the hot-path
/// limits (one call per round, never per request).
#[async_trait]
pub trait QuotaSync: Send + Sync {
    /// Adds `deltas` atomically, registers the caller as a live instance and
    /// returns each key's count over the window ending in `second` (the
    /// 61 one-second slots `second - 60 ..= second`). A key with no hits
    /// pushed may be passed with no deltas to read its count. MUST fail with
    /// `PortError::Unavailable` when the store cannot be reached; nothing is
    /// added then.
    async fn exchange(&self, second: u64, deltas: &[QuotaDelta]) -> Result<ClusterView, PortError>;
}
