use async_trait::async_trait;

use crate::error::PortError;

/// A dependency that can be asked whether it is up.
#[async_trait]
pub trait Probe: Send + Sync {
    /// One cheap round trip. MUST give up within the adapter's own timeout
    /// rather than hang: health checks run unattended.
    async fn probe(&self) -> Result<(), PortError>;
}
