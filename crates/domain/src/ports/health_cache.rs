use std::time::Duration;

use async_trait::async_trait;

use crate::error::PortError;
use crate::health::HealthReport;

/// The last health report, kept where every API instance can read it, so
/// that one instance's check spares the others their probes (Redis when
/// configured; in-process otherwise).
#[async_trait]
pub trait HealthCache: Send + Sync {
    /// The report stored last, or `None` when none was stored or it has
    /// expired. MUST return `PortError::Unavailable` when the cache cannot be
    /// reached; the caller then probes for itself. A stored value this
    /// adapter cannot read (another version's) is `None`, not an error.
    async fn load(&self) -> Result<Option<HealthReport>, PortError>;

    /// Replaces the stored report with `report`, forgotten after `ttl`.
    /// Every field MUST come back equal from [`HealthCache::load`].
    async fn store(&self, report: &HealthReport, ttl: Duration) -> Result<(), PortError>;
}
