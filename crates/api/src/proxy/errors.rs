//! What goes wrong in the transport of a proxied request: a method or
//! target HTTP cannot forward, or an upstream that does not answer. The
//! admission's refusals are the domain's (mapped in `crate::error`).

use actix_web::http::StatusCode;
use zenzefi_domain::usage::RefusalReason;

use super::in_flight::Full;
use crate::error::ApiError;
use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("method not forwarded")]
    MethodNotForwarded,
    #[error("the request target cannot be forwarded")]
    UnforwardableTarget,
    #[error("{0} may be sent only once")]
    RepeatedHeader(actix_web::http::header::HeaderName),
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    #[error("{0}")]
    UpstreamUnavailable(UpstreamError),
    #[error("This token has too many requests in flight; wait for one to finish")]
    TooManyInFlight,
    #[error("The gateway has too many requests in flight; try again shortly")]
    InstanceFull,
}

impl From<Full> for ProxyError {
    fn from(full: Full) -> Self {
        match full {
            Full::Token => Self::TooManyInFlight,
            Full::Instance => Self::InstanceFull,
        }
    }
}

impl ProxyError {
    /// The reason usage counts an upstream failure under.
    pub fn usage_reason(&self) -> Option<RefusalReason> {
        match self {
            Self::UpstreamTimeout => Some(RefusalReason::UpstreamTimeout),
            Self::UpstreamUnavailable(_) => Some(RefusalReason::UpstreamUnavailable),
            _ => None,
        }
    }
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
                return ApiError::method_not_allowed(err.to_string(), &super::FORWARDED_METHODS);
            }
            ProxyError::UnforwardableTarget => (StatusCode::BAD_REQUEST, "invalid_path"),
            ProxyError::RepeatedHeader(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ProxyError::UpstreamTimeout => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            ProxyError::TooManyInFlight => (StatusCode::TOO_MANY_REQUESTS, "too_many_in_flight"),
            ProxyError::InstanceFull => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            // Logged where the request is known (with its id).
            ProxyError::UpstreamUnavailable(_) => (StatusCode::BAD_GATEWAY, "upstream_unavailable"),
        };
        // The client error's text may carry internal addresses: say less.
        let detail = match &err {
            ProxyError::UpstreamUnavailable(_) => "The upstream server is unreachable".to_owned(),
            other => other.to_string(),
        };
        ApiError::new(status, code, detail)
    }
}
