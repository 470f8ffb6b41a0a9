//! Is the Zenzefi server reachable? A plain GET of its root through the
//! shared client: any answer below 500 means it is up.

use std::time::Duration;

use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::Probe;

use super::{OutgoingBody, Upstream};

pub struct UpstreamProbe {
    upstream: Upstream,
    timeout: Duration,
}

impl UpstreamProbe {
    pub fn new(upstream: Upstream, timeout: Duration) -> Self {
        Self { upstream, timeout }
    }
}

#[async_trait]
impl Probe for UpstreamProbe {
    async fn probe(&self) -> Result<(), PortError> {
        let head = self
            .upstream
            .request("GET", "", None)
            .ok_or_else(|| PortError::unavailable("upstream.url has an unusable path"))?;
        let response = self
            .upstream
            .send(head, OutgoingBody::Empty, self.timeout)
            .await
            .map_err(PortError::unavailable)?;
        if response.status >= 500 {
            return Err(PortError::unavailable(format!(
                "upstream answered {}",
                response.status
            )));
        }
        Ok(())
    }
}
