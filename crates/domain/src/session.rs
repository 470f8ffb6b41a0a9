//! Proxy sessions: one live session per token, held
//! by one device, with counters of what crossed the proxy.

use std::net::IpAddr;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::enums::string_enum;
use crate::proxy::DeviceId;
use crate::token::TokenId;
use crate::user::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub Uuid);

impl SessionId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

string_enum!(
    /// Why a session ended.
    EndReason {
        /// No request for `sessions.idle_timeout_secs`.
        Idle = "idle",
        /// Its token was revoked.
        Revoked = "revoked",
        /// Ended by its user or an admin.
        Terminated = "terminated",
        /// Its token expired.
        Expired = "expired",
        /// A new session of the same token took its place after it went idle.
        Replaced = "replaced",
    }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySession {
    pub id: SessionId,
    pub user_id: UserId,
    pub token_id: TokenId,
    pub device_id: DeviceId,
    pub ip: IpAddr,
    pub user_agent: Option<String>,
    pub started_at: OffsetDateTime,
    pub last_activity: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    pub end_reason: Option<EndReason>,
    /// Request and response body bytes actually streamed.
    pub bytes_transferred: u64,
    pub request_count: u64,
    pub is_active: bool,
}

/// Counters gathered in memory for one session between two flushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionActivity {
    pub session_id: SessionId,
    pub token_id: TokenId,
    pub requests: u64,
    pub bytes: u64,
    pub last_activity: OffsetDateTime,
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}
