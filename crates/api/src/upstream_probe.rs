//! Is the Zenzefi server reachable? A plain GET of its root: any answer
//! below 500 means it is up.

use std::time::Duration;

use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::Probe;

pub struct UpstreamProbe {
    client: reqwest::Client,
    url: String,
}

impl UpstreamProbe {
    pub fn new(url: &str, connect_timeout: Duration, timeout: Duration) -> Result<Self, PortError> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .build()
            .map_err(PortError::unexpected)?;
        Ok(Self {
            client,
            url: url.to_owned(),
        })
    }
}

#[async_trait]
impl Probe for UpstreamProbe {
    async fn probe(&self) -> Result<(), PortError> {
        let response = self
            .client
            .get(&self.url)
            .send()
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
