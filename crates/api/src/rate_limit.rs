//! The IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers) of the
//! limited endpoints: `RateLimit-Policy: "proxy";q=1000;w=60` and
//! `RateLimit: "proxy";r=<remaining>;t=<seconds to reset>`.

use std::fmt::Write;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use zenzefi_domain::quotas::{Quota, WINDOW};

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
    let _ = write!(
        text,
        "\"{name}\";q={};w={}",
        quota.limit,
        WINDOW.as_secs()
    );
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
