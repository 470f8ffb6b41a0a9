//! The proxy's session hook with nothing behind it: every request is
//! admitted and nothing is recorded. Wired in until the session tracker of
//! SPEC §7 replaces it.

use async_trait::async_trait;
use zenzefi_domain::ports::{AdmitError, ProxyExchange, SessionTracker};

#[derive(Debug, Default, Clone, Copy)]
pub struct UntrackedSessions;

#[async_trait]
impl SessionTracker for UntrackedSessions {
    async fn admit(&self, _: &ProxyExchange) -> Result<(), AdmitError> {
        Ok(())
    }

    fn finished(&self, _: &ProxyExchange, _: u64) {}
}
