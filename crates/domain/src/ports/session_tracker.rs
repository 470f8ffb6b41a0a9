use std::net::IpAddr;

use async_trait::async_trait;

use crate::error::PortError;
use crate::proxy::DeviceId;
use crate::session::SessionId;
use crate::token::TokenId;
use crate::user::UserId;

/// One proxied request, as the session tracker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyExchange {
    pub user_id: UserId,
    pub token_id: TokenId,
    pub device_id: DeviceId,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// Another device holds the token's live session.
    #[error("another device is using this token")]
    DeviceConflict,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Where proxy sessions plug into the proxy. `admit` runs before
/// forwarding, may refuse, and names the session the request belongs to;
/// `finished` runs once both bodies have stopped streaming, with the bytes
/// that actually crossed, and must not block.
#[async_trait]
pub trait SessionTracker: Send + Sync {
    async fn admit(&self, exchange: &ProxyExchange) -> Result<SessionId, AdmitError>;

    fn finished(&self, exchange: &ProxyExchange, session: SessionId, bytes: u64);
}
