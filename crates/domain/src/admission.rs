//! Proxy admission: whether a proxied request may reach the
//! upstream, decided in a fixed order — device, token, path, scope, the
//! token's rate limit, session — and what follows once the upstream has
//! answered (the token's clock starts) and once both bodies have crossed
//! (the session's and the usage counters). A refusal of a request that
//! named a known token counts in the token's usage (SPEC §14).
//! The transport parses headers and streams bodies; every decision is here.

use std::net::IpAddr;
use std::sync::Arc;

use crate::error::PortError;
use crate::ports::{AdmitError, ProxyExchange, SessionTracker};
use crate::proxy::{DeviceId, ProxyPath, UnsafePath};
use crate::quotas::{Quota, QuotaKey, Quotas};
use crate::session::SessionId;
use crate::token::{AccessToken, TokenHash, TokenId};
use crate::tokens::{TokenService, ValidateError};
use crate::usage::{RefusalReason, ResponseClass, UsageRecorder};
use crate::user::UserId;

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
    #[error("This token's request rate limit is exhausted; retry later")]
    RateLimited(Quota),
    #[error("Another device is using this token")]
    DeviceConflict,
    #[error(transparent)]
    Port(#[from] PortError),
}

impl From<ValidateError> for Refusal {
    fn from(err: ValidateError) -> Self {
        match err {
            ValidateError::Invalid => Self::InvalidToken,
            ValidateError::UserInactive { .. } => Self::UserInactive,
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

/// A request cleared for the upstream: the path to forward, the session
/// it counts towards and what is left of the token's rate limit.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub token: AccessToken,
    pub path: ProxyPath,
    pub exchange: ProxyExchange,
    pub session: SessionId,
    /// What the request spent of the token's rate limit, if it has one.
    pub quota: Option<Quota>,
}

impl Refusal {
    /// The reason usage counts a refusal under, once the token is known.
    fn usage_reason(&self) -> Option<RefusalReason> {
        match self {
            Self::InvalidPath(_) => Some(RefusalReason::InvalidPath),
            Self::ScopeDenied => Some(RefusalReason::ScopeDenied),
            Self::DeviceConflict => Some(RefusalReason::DeviceConflict),
            Self::UserInactive => Some(RefusalReason::UserInactive),
            Self::RateLimited(_) => Some(RefusalReason::RateLimited),
            _ => None,
        }
    }
}

/// How a forwarded exchange ended, as the transport saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeOutcome {
    /// Request body bytes streamed to the upstream.
    pub bytes_in: u64,
    /// Response body bytes streamed to the client.
    pub bytes_out: u64,
    /// The status the client got, the upstream's or ours; `None` when the
    /// exchange ended before any.
    pub status: Option<u16>,
    /// Set when the gateway answered for an upstream that failed.
    pub failure: Option<RefusalReason>,
}

pub struct ProxyAdmission {
    tokens: Arc<TokenService>,
    sessions: Arc<dyn SessionTracker>,
    usage: Arc<UsageRecorder>,
    quotas: Arc<Quotas>,
    /// Requests per minute per token, unless the token has its own; 0 for
    /// no limit.
    per_minute: u32,
}

impl ProxyAdmission {
    pub fn new(
        tokens: Arc<TokenService>,
        sessions: Arc<dyn SessionTracker>,
        usage: Arc<UsageRecorder>,
        quotas: Arc<Quotas>,
        per_minute: u32,
    ) -> Self {
        Self {
            tokens,
            sessions,
            usage,
            quotas,
            per_minute,
        }
    }

    /// Runs the checks in order and claims the token's session
    /// for the device. Never activates the token: a request the upstream
    /// never answers must not start its clock.
    pub async fn admit(&self, request: ProxyRequest<'_>) -> Result<Admitted, Refusal> {
        let device = match request.device_id {
            None => return Err(Refusal::DeviceIdRequired),
            Some(raw) => DeviceId::parse(raw).ok_or(Refusal::InvalidDeviceId)?,
        };
        let presented = request.access_token.ok_or(Refusal::InvalidToken)?;
        let token = match self.tokens.validate(presented, false).await {
            Ok(token) => token,
            Err(ValidateError::UserInactive { token, user }) => {
                self.count_refusal(token, user, RefusalReason::UserInactive);
                return Err(Refusal::UserInactive);
            }
            Err(err) => return Err(err.into()),
        };
        let (token_id, user_id) = (token.id, token.user_id);
        self.admit_token(request, device, token)
            .await
            .inspect_err(|refusal| {
                if let Some(reason) = refusal.usage_reason() {
                    self.count_refusal(token_id, user_id, reason);
                }
            })
    }

    /// The checks that follow once the token is known.
    async fn admit_token(
        &self,
        request: ProxyRequest<'_>,
        device: DeviceId,
        token: AccessToken,
    ) -> Result<Admitted, Refusal> {
        let path = ProxyPath::parse(request.raw_path).map_err(Refusal::InvalidPath)?;
        if !token.scope.allows(&path) {
            return Err(Refusal::ScopeDenied);
        }
        // Only requests that would be forwarded spend the limit. A default
        // of 0 limits only the tokens given a limit of their own.
        let per_minute = token
            .rate_limit_per_minute
            .or((self.per_minute > 0).then_some(self.per_minute));
        let quota = match per_minute {
            Some(limit) => {
                let quota = self.quotas.take(QuotaKey::Token(token.id), limit);
                if !quota.admitted {
                    return Err(Refusal::RateLimited(quota));
                }
                Some(quota)
            }
            None => None,
        };
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
            quota,
        })
    }

    /// Counts a refusal of a request that named this known token.
    fn count_refusal(&self, token: TokenId, user: UserId, reason: RefusalReason) {
        self.usage
            .record(token, user, |counts| counts.count_refusal(reason));
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

    /// Both bodies stopped streaming (finished, failed or abandoned).
    /// Cheap and non-blocking: counters are flushed later.
    pub fn finish(&self, exchange: &ProxyExchange, session: SessionId, outcome: ExchangeOutcome) {
        self.sessions
            .finished(exchange, session, outcome.bytes_in + outcome.bytes_out);
        self.usage
            .record(exchange.token_id, exchange.user_id, |counts| {
                counts.requests += 1;
                counts.bytes_in += outcome.bytes_in;
                counts.bytes_out += outcome.bytes_out;
                if let Some(class) = outcome.status.and_then(ResponseClass::of_status) {
                    counts.count_response(class);
                }
                if let Some(reason) = outcome.failure {
                    counts.count_refusal(reason);
                }
            });
    }
}
