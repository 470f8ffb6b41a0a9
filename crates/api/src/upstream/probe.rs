//! Is the Zenzefi server reachable? A plain GET of its root through the
//! shared client: any answer below 500 means it is up.

use std::time::Duration;

use async_trait::async_trait;
use http::Request;
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
        let uri = self
            .upstream
            .uri_for("", None)
            .map_err(PortError::unavailable)?;
        let request = Request::get(uri)
            .body(OutgoingBody::Empty)
            .map_err(PortError::unavailable)?;
        let response = self
            .upstream
            .send(request, self.timeout)
            .await
            .map_err(PortError::unavailable)?;
        if response.status().is_server_error() {
            return Err(PortError::unavailable(format!(
                "upstream answered {}",
                response.status()
            )));
        }
        Ok(())
    }
}
