//! The IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers) of the
//! limited endpoints: `RateLimit-Policy: "proxy";q=1000;w=60` and
//! `RateLimit: "proxy";r=<remaining>;t=<seconds to reset>`.

use std::cell::RefCell;

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

thread_local! {
    /// The last `RateLimit-Policy` value built on this worker thread: a
    /// policy changes only with the limit, so most requests clone it (a
    /// reference count) instead of formatting and allocating it again.
    static LAST_POLICY: RefCell<Option<(Policy, u32, HeaderValue)>> = const { RefCell::new(None) };
}

/// Sets both headers for `quota` under `policy`.
pub fn insert_headers(headers: &mut HeaderMap, policy: Policy, quota: &Quota) {
    let name = policy.as_str();
    let policy_value = LAST_POLICY.with_borrow_mut(|last| match last {
        Some((p, limit, value)) if *p == policy && *limit == quota.limit => Some(value.clone()),
        _ => {
            let value = header_value(format_args!(
                "\"{name}\";q={};w={}",
                quota.limit,
                WINDOW.as_secs()
            ))?;
            *last = Some((policy, quota.limit, value.clone()));
            Some(value)
        }
    });
    let state = state_value(name, quota);
    if let (Some(policy_value), Some(state)) = (policy_value, state) {
        headers.insert(RATE_LIMIT_POLICY, policy_value);
        headers.insert(RATE_LIMIT, state);
    }
}

/// Formats a short value on the stack and copies it into a header value
/// once. Digits and a fixed name: always valid and always short.
fn header_value(args: std::fmt::Arguments<'_>) -> Option<HeaderValue> {
    let mut buffer = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    std::io::Write::write_fmt(&mut cursor, args).ok()?;
    let len = usize::try_from(cursor.position()).ok()?;
    HeaderValue::from_bytes(&buffer[..len]).ok()
}

/// `"<policy>";r=<remaining>;t=<seconds>`, set on every limited response:
/// built without `fmt`, whose machinery costs more than the rest of it.
fn state_value(name: &str, quota: &Quota) -> Option<HeaderValue> {
    let mut numbers = itoa::Buffer::new();
    let mut value = Vec::with_capacity(48);
    value.push(b'"');
    value.extend_from_slice(name.as_bytes());
    value.extend_from_slice(b"\";r=");
    value.extend_from_slice(numbers.format(quota.remaining).as_bytes());
    value.extend_from_slice(b";t=");
    value.extend_from_slice(numbers.format(quota.reset.as_secs()).as_bytes());
    HeaderValue::from_maybe_shared(actix_web::web::Bytes::from(value)).ok()
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn quota(limit: u32, remaining: u32, reset: u64) -> Quota {
        Quota {
            admitted: true,
            limit,
            remaining,
            reset: Duration::from_secs(reset),
            retry_after: Duration::ZERO,
        }
    }

    fn headers_for(policy: Policy, quota: &Quota) -> (String, String) {
        let mut headers = HeaderMap::new();
        insert_headers(&mut headers, policy, quota);
        let text = |name| headers.get(name).unwrap().to_str().unwrap().to_owned();
        (text(&RATE_LIMIT_POLICY), text(&RATE_LIMIT))
    }

    #[test]
    fn the_headers_are_structured_field_items_and_follow_a_changed_limit() {
        assert_eq!(
            headers_for(Policy::Proxy, &quota(1000, 999, 61)),
            (
                "\"proxy\";q=1000;w=60".to_owned(),
                "\"proxy\";r=999;t=61".to_owned()
            )
        );
        assert_eq!(
            headers_for(Policy::Proxy, &quota(5, 0, 3)).0,
            "\"proxy\";q=5;w=60"
        );
        assert_eq!(
            headers_for(Policy::Api, &quota(5, 4, 60)),
            ("\"api\";q=5;w=60".to_owned(), "\"api\";r=4;t=60".to_owned())
        );
    }
}
