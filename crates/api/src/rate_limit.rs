//! The IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers) of the
//! limited endpoints: `RateLimit-Policy: "proxy";q=1000;w=60` and
//! `RateLimit: "proxy";r=<remaining>;t=<seconds to reset>`.

use std::fmt::Write;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, web};
use zenzefi_domain::quotas::{Quota, QuotaKey, WINDOW};
use zenzefi_domain::user::User;

use crate::error::ApiError;
use crate::metrics;
use crate::state::AppState;

pub const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Which limit a quota belongs to: the policy's name in the headers and
/// the `limit` label of `zenzefi_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Proxy,
    Api,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::Api => "api",
        }
    }
}

/// Sets both headers for `quota` under `policy`.
pub fn insert_headers(headers: &mut HeaderMap, policy: Policy, quota: &Quota) {
    let name = policy.as_str();
    let mut text = String::with_capacity(48);
    // Writing into a String cannot fail.
    let _ = write!(text, "\"{name}\";q={};w={}", quota.limit, WINDOW.as_secs());
    let split = text.len();
    let _ = write!(
        text,
        "\"{name}\";r={};t={}",
        quota.remaining,
        quota.reset.as_secs()
    );
    // Digits and a fixed name: always a valid header value.
    if let (Ok(policy), Ok(state)) = (
        HeaderValue::from_str(&text[..split]),
        HeaderValue::from_str(&text[split..]),
    ) {
        headers.insert(RATE_LIMIT_POLICY, policy);
        headers.insert(RATE_LIMIT, state);
    }
}

/// What a JWT request spent of its user's API limit, for [`api_headers`].
#[derive(Debug, Clone, Copy)]
struct ApiQuota(Quota);

/// Counts one request of `user` against `rate_limit.api_per_minute`: 429
/// `rate_limited` over it; otherwise the response will carry the headers.
pub fn spend_api_quota(req: &HttpRequest, user: &User) -> Option<ApiError> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let quota = state
        .quotas
        .take(QuotaKey::User(user.id), state.api_per_minute);
    if !quota.admitted {
        metrics::rate_limited(Policy::Api.as_str());
        return Some(ApiError::rate_limited(
            Policy::Api,
            quota,
            "Too many requests for this account; retry later",
        ));
    }
    req.extensions_mut().insert(ApiQuota(quota));
    None
}

/// Puts the API limit's headers on the response of a request that spent
/// it, whatever the handler answered.
pub async fn api_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let spent = res.request().extensions().get::<ApiQuota>().copied();
    if let Some(ApiQuota(quota)) = spent {
        insert_headers(res.headers_mut(), Policy::Api, &quota);
    }
    Ok(res)
}
