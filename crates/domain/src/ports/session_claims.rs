use std::time::Duration;

use async_trait::async_trait;

use crate::error::PortError;
use crate::proxy::DeviceId;
use crate::session::SessionId;
use crate::token::TokenId;

/// Who holds a token's live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The slot was free: the caller now holds it for `candidate`.
    Won,
    /// The same device holds it already, for this session; its lease was
    /// renewed.
    Held(SessionId),
    /// Another device holds it.
    Taken {
        device: DeviceId,
        session: SessionId,
    },
}

/// The live-session slot of each token, leased for the idle timeout and
/// renewed by the requests of its device. With several API instances it
/// MUST be shared (Redis) and each call atomic, so that of devices racing
/// for a fresh token exactly one wins. An adapter may answer a holder's
/// renewals from a local view for a while (a near cache), but
/// MUST still refuse a second device on every instance.
#[async_trait]
pub trait SessionClaims: Send + Sync {
    /// Claims the token's slot for `device` (as session `candidate`), or
    /// renews the lease when `device` already holds it. MUST fail with
    /// `PortError::Unavailable` when the store cannot be reached, so that
    /// the caller can let the database decide.
    async fn claim(
        &self,
        token: TokenId,
        device: &DeviceId,
        candidate: SessionId,
        lease: Duration,
    ) -> Result<Claim, PortError>;

    /// Frees the slot if `session` still holds it, on every instance.
    async fn release(&self, token: TokenId, session: SessionId) -> Result<(), PortError>;

    /// The database gave `device` the slot as `session` while [`Self::claim`]
    /// was unavailable. An adapter with a local view keeps this so that the
    /// device's next requests need neither store, and claims the slot for
    /// it when the store is back. Never fails; the default forgets it.
    fn remember(&self, _token: TokenId, _device: &DeviceId, _session: SessionId) {}
}
