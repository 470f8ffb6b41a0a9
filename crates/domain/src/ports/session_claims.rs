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
/// renewed by every request of its device. With several API instances it
/// MUST be shared (Redis) and each call atomic, so that of devices racing
/// for a fresh token exactly one wins.
#[async_trait]
pub trait SessionClaims: Send + Sync {
    /// Claims the token's slot for `device` (as session `candidate`), or
    /// renews the lease when `device` already holds it.
    async fn claim(
        &self,
        token: TokenId,
        device: &DeviceId,
        candidate: SessionId,
        lease: Duration,
    ) -> Result<Claim, PortError>;

    /// Frees the slot if `session` still holds it.
    async fn release(&self, token: TokenId, session: SessionId) -> Result<(), PortError>;
}
