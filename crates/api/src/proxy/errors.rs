//! The proxy's own refusals, with SPEC §7's codes.

use actix_web::http::StatusCode;
use zenzefi_domain::ports::AdmitError;
use zenzefi_domain::proxy::UnsafePath;
use zenzefi_domain::tokens::ValidateError;

use crate::error::ApiError;
use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("method not forwarded")]
    MethodNotForwarded,
    #[error("X-Device-ID is required")]
    DeviceIdRequired,
    #[error("X-Device-ID must be 8–255 visible ASCII characters")]
    InvalidDeviceId,
    #[error("missing, unknown, expired or revoked token")]
    InvalidToken,
    #[error("{0}")]
    InvalidPath(UnsafePath),
    #[error("the request target cannot be forwarded")]
    UnforwardableTarget,
    #[error("this token's scope does not cover the path")]
    ScopeDenied,
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    #[error("{0}")]
    UpstreamUnavailable(UpstreamError),
}

impl From<UpstreamError> for ProxyError {
    fn from(err: UpstreamError) -> Self {
        match err {
            UpstreamError::Timeout => Self::UpstreamTimeout,
            unavailable => Self::UpstreamUnavailable(unavailable),
        }
    }
}

impl From<ProxyError> for ApiError {
    fn from(err: ProxyError) -> Self {
        let (status, code) = match &err {
            ProxyError::MethodNotForwarded => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ProxyError::DeviceIdRequired => (StatusCode::BAD_REQUEST, "device_id_required"),
            ProxyError::InvalidDeviceId => (StatusCode::BAD_REQUEST, "invalid_device_id"),
            ProxyError::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            ProxyError::InvalidPath(_) | ProxyError::UnforwardableTarget => {
                (StatusCode::BAD_REQUEST, "invalid_path")
            }
            ProxyError::ScopeDenied => (StatusCode::FORBIDDEN, "scope_denied"),
            ProxyError::UpstreamTimeout => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            ProxyError::UpstreamUnavailable(cause) => {
                tracing::warn!(error = %cause, "upstream unavailable");
                (StatusCode::BAD_GATEWAY, "upstream_unavailable")
            }
        };
        // The client error's text may carry internal addresses: say less.
        let detail = match &err {
            ProxyError::UpstreamUnavailable(_) => "The upstream server is unreachable".to_owned(),
            other => other.to_string(),
        };
        ApiError::new(status, code, detail)
    }
}

impl From<ValidateError> for ApiError {
    fn from(err: ValidateError) -> Self {
        match err {
            ValidateError::Invalid => ProxyError::InvalidToken.into(),
            ValidateError::UserInactive => ApiError::new(
                StatusCode::FORBIDDEN,
                "user_inactive",
                "This account is deactivated",
            ),
            ValidateError::Port(e) => e.into(),
        }
    }
}

impl From<AdmitError> for ApiError {
    fn from(err: AdmitError) -> Self {
        match err {
            AdmitError::DeviceConflict => ApiError::new(
                StatusCode::CONFLICT,
                "device_conflict",
                "Another device is using this token",
            ),
            AdmitError::Port(e) => e.into(),
        }
    }
}
