//! Proxy admission: whether a proxied request may reach the
//! upstream, decided in a fixed order — device, token, path, scope,
//! session — and what follows once the upstream has answered (the token's
//! clock starts) and once both bodies have crossed (the session's counters).
//! The transport parses headers and streams bodies; every decision is here.

use std::net::IpAddr;
use std::sync::Arc;

use crate::error::PortError;
use crate::ports::{AdmitError, ProxyExchange, SessionTracker};
use crate::proxy::{DeviceId, ProxyPath, UnsafePath};
use crate::session::SessionId;
use crate::token::{AccessToken, TokenHash};
use crate::tokens::{TokenService, ValidateError};

/// What the transport read off a proxied request, unchecked.
#[derive(Debug, Clone, Copy)]
pub struct ProxyRequest<'a> {
    /// The path after the proxy prefix, exactly as received (not decoded).
    pub raw_path: &'a str,
    /// `X-Device-ID`, if sent.
    pub device_id: Option<&'a str>,
    /// `X-Access-Token`, if sent.
    pub access_token: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
}

/// Why a proxied request is not forwarded, in the order the checks run.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("X-Device-ID is required")]
    DeviceIdRequired,
    #[error("X-Device-ID must be 8–255 visible ASCII characters")]
    InvalidDeviceId,
    #[error("missing, unknown, expired or revoked token")]
    InvalidToken,
    #[error("the token's owner is deactivated")]
    UserInactive,
    #[error("{0}")]
    InvalidPath(UnsafePath),
    #[error("this token's scope does not cover the path")]
    ScopeDenied,
    #[error("Another device is using this token")]
    DeviceConflict,
    #[error(transparent)]
    Port(#[from] PortError),
}

impl From<ValidateError> for Refusal {
    fn from(err: ValidateError) -> Self {
        match err {
            ValidateError::Invalid => Self::InvalidToken,
            ValidateError::UserInactive => Self::UserInactive,
            ValidateError::Port(e) => Self::Port(e),
        }
    }
}

impl From<AdmitError> for Refusal {
    fn from(err: AdmitError) -> Self {
        match err {
            AdmitError::DeviceConflict => Self::DeviceConflict,
            AdmitError::Port(e) => Self::Port(e),
        }
    }
}

/// A request cleared for the upstream: the path to forward and the session
/// it counts towards.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub token: AccessToken,
    pub path: ProxyPath,
    pub exchange: ProxyExchange,
    pub session: SessionId,
}

pub struct ProxyAdmission {
    tokens: Arc<TokenService>,
    sessions: Arc<dyn SessionTracker>,
}

impl ProxyAdmission {
    pub fn new(tokens: Arc<TokenService>, sessions: Arc<dyn SessionTracker>) -> Self {
        Self { tokens, sessions }
    }

    /// Runs the checks in order and claims the token's session
    /// for the device. Never activates the token: a request the upstream
    /// never answers must not start its clock.
    pub async fn admit(&self, request: ProxyRequest<'_>) -> Result<Admitted, Refusal> {
        let device = match request.device_id {
            None => return Err(Refusal::DeviceIdRequired),
            Some(raw) => DeviceId::parse(raw).ok_or(Refusal::InvalidDeviceId)?,
        };
        let token = self.presented(request.access_token).await?;
        let path = ProxyPath::parse(request.raw_path).map_err(Refusal::InvalidPath)?;
        if !token.scope.allows(&path) {
            return Err(Refusal::ScopeDenied);
        }
        let exchange = ProxyExchange {
            user_id: token.user_id,
            token_id: token.id,
            device_id: device,
            ip: request.client_ip,
            user_agent: request.user_agent.map(str::to_owned),
        };
        let session = self.sessions.admit(&exchange).await?;
        Ok(Admitted {
            token,
            path,
            exchange,
            session,
        })
    }

    /// The token named by `X-Access-Token`, valid right now; never
    /// activates. What `GET /proxy/status` shows.
    pub async fn presented(&self, access_token: Option<&str>) -> Result<AccessToken, Refusal> {
        let presented = access_token.ok_or(Refusal::InvalidToken)?;
        Ok(self.tokens.validate(presented, false).await?)
    }

    /// Whether a token with requests in flight is still accepted (they are
    /// cut otherwise): [`Refusal::InvalidToken`] once revoked or expired,
    /// [`Refusal::UserInactive`] once its owner is deactivated.
    pub async fn recheck(&self, hash: &TokenHash) -> Result<(), Refusal> {
        self.tokens.revalidate(hash).await?;
        Ok(())
    }

    /// The upstream answered a request admitted with `token`: the first
    /// such answer starts the token's clock (once, however many first
    /// requests race).
    pub async fn answered(&self, token: &AccessToken) -> Result<(), Refusal> {
        if token.activated_at.is_none() {
            self.tokens.activate(token.clone()).await?;
        }
        Ok(())
    }

    /// Both bodies stopped streaming (finished, failed or abandoned) after
    /// `bytes` crossed. Cheap and non-blocking: counters are flushed later.
    pub fn finish(&self, exchange: &ProxyExchange, session: SessionId, bytes: u64) {
        self.sessions.finished(exchange, session, bytes);
    }
}
