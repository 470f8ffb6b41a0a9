//! The API's Prometheus metrics: names, label sets, and the
//! functions that record them through the `metrics` facade. The recorder is
//! process-wide; [`recorder`] installs it once and every `Application` of the
//! process renders the same one.
//!
//! No label carries a value a client chooses: methods come from a fixed
//! list, routes are templates, statuses are numbers, the rest are enums or
//! configured durations.

mod endpoint;
mod gauges;
mod http;

use foldhash::HashMap;
use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::Method;
use metrics::{
    Counter, Histogram, counter, describe_counter, describe_gauge, describe_histogram, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use zenzefi_domain::auth::LoginError;
use zenzefi_domain::token::{AccessToken, Scope};

pub use self::endpoint::{MetricsEndpoint, configure};
pub use self::gauges::spawn_refresher;
pub use self::http::{count_response, route_label};

pub const HTTP_REQUESTS_TOTAL: &str = "zenzefi_http_requests_total";
pub const PROXY_REQUESTS_TOTAL: &str = "zenzefi_proxy_requests_total";
pub const PROXY_DENIED_TOTAL: &str = "zenzefi_proxy_denied_total";
pub const PROXY_LATENCY_SECONDS: &str = "zenzefi_proxy_latency_seconds";
pub const AUTH_ATTEMPTS_TOTAL: &str = "zenzefi_auth_attempts_total";
pub const TOKEN_PURCHASES_TOTAL: &str = "zenzefi_token_purchases_total";
pub const DB_QUERY_DURATION_SECONDS: &str = "zenzefi_db_query_duration_seconds";
pub const ACTIVE_TOKENS: &str = "zenzefi_active_tokens";
pub const ACTIVE_SESSIONS: &str = "zenzefi_active_sessions";
pub const USER_COUNT: &str = "zenzefi_user_count";
pub const UPSTREAM_UP: &str = "zenzefi_upstream_up";
/// Recorded by the Redis adapters' near cache; described here with the rest.
pub const CACHE_LOOKUPS_TOTAL: &str = "zenzefi_cache_lookups_total";
pub const DEPENDENCY_UP: &str = "zenzefi_dependency_up";
pub const INVALIDATION_LAG_SECONDS: &str = "zenzefi_invalidation_lag_seconds";
pub const SESSION_COUNTERS_LOST_TOTAL: &str = "zenzefi_session_counters_lost_total";
pub const RATE_LIMITED_TOTAL: &str = "zenzefi_rate_limited_total";
/// The `limit` label values of [`RATE_LIMITED_TOTAL`].
const LIMITS: [&str; 5] = ["proxy", "api", "login", "register", "password_change"];

const PROXY_LATENCY_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0];
const DB_QUERY_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1];
/// Around the 100 ms an invalidation may take to reach every instance.
const INVALIDATION_LAG_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Every `code` a refused proxied request can carry, so that each
/// series exists, at zero, from the start.
const DENIAL_REASONS: [&str; 11] = [
    "device_id_required",
    "invalid_device_id",
    "invalid_token",
    "user_inactive",
    "invalid_path",
    "scope_denied",
    "device_conflict",
    "rate_limited",
    "upstream_unavailable",
    "upstream_timeout",
    "method_not_allowed",
];

/// The exporter configuration: real buckets for every histogram (the
/// exporter would render summaries otherwise).
fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(PROXY_LATENCY_SECONDS.to_owned()),
            PROXY_LATENCY_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(DB_QUERY_DURATION_SECONDS.to_owned()),
                DB_QUERY_BUCKETS,
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(INVALIDATION_LAG_SECONDS.to_owned()),
                INVALIDATION_LAG_BUCKETS,
            )
        })
        .expect("the bucket lists are not empty")
}

/// The process-wide recorder, installed by the first call. Should another
/// recorder already be installed, metrics go there and this one renders
/// nothing; that is logged, not fatal.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| match builder().install_recorder() {
            Ok(handle) => {
                describe();
                handle
            }
            Err(err) => {
                tracing::warn!(error = %err, "metrics recorder not installed; /metrics stays empty");
                builder().build_recorder().handle()
            }
        })
        .clone()
}

/// HELP lines, and the counters of closed label sets at zero, so that a
/// dashboard sees each series before its first event.
fn describe() {
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "Responses by method, route template and status."
    );
    describe_counter!(
        PROXY_REQUESTS_TOTAL,
        "Proxied requests forwarded to the upstream, by method, answered status and token scope."
    );
    describe_counter!(
        PROXY_DENIED_TOTAL,
        "Proxied requests refused or failed, by problem code."
    );
    describe_histogram!(
        PROXY_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Time from a proxied request's arrival to the upstream's response head (or the error)."
    );
    describe_counter!(
        AUTH_ATTEMPTS_TOTAL,
        "Login attempts by outcome: success or failure."
    );
    describe_counter!(
        TOKEN_PURCHASES_TOTAL,
        "Access tokens bought, by duration and scope."
    );
    describe_histogram!(
        DB_QUERY_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time each database statement took."
    );
    describe_gauge!(
        ACTIVE_TOKENS,
        "Tokens usable now (not revoked, not expired, owner active), as of the last refresh."
    );
    describe_gauge!(
        ACTIVE_SESSIONS,
        "Open proxy sessions, as of the last refresh."
    );
    describe_gauge!(USER_COUNT, "Accounts, as of the last refresh.");
    describe_gauge!(
        UPSTREAM_UP,
        "1 when the last health check reached the upstream, else 0."
    );
    describe_counter!(
        CACHE_LOOKUPS_TOTAL,
        "Near-cache lookups of token entries and session claims (with Redis): hit, miss, or bypass while the cache is not trusted."
    );
    describe_gauge!(
        DEPENDENCY_UP,
        "1 while this instance reaches the dependency, else 0."
    );
    describe_histogram!(
        INVALIDATION_LAG_SECONDS,
        metrics::Unit::Seconds,
        "Time from an invalidation's publication to this instance dropping its entries."
    );
    describe_counter!(
        SESSION_COUNTERS_LOST_TOTAL,
        "Proxied requests whose session counters a graceful stop could not write."
    );
    counter!(SESSION_COUNTERS_LOST_TOTAL).increment(0);
    describe_counter!(
        RATE_LIMITED_TOTAL,
        "Requests refused with 429 rate_limited, by limit."
    );
    for limit in LIMITS {
        counter!(RATE_LIMITED_TOTAL, "limit" => limit).increment(0);
    }
    for outcome in ["success", "failure"] {
        counter!(AUTH_ATTEMPTS_TOTAL, "status" => outcome).increment(0);
    }
    for reason in DENIAL_REASONS {
        counter!(PROXY_DENIED_TOTAL, "reason" => reason).increment(0);
    }
}

/// The method as a label: one of the standard methods, else `OTHER`.
pub fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("OTHER", |(_, label)| label)
}

thread_local! {
    /// Series handles by label values, per HTTP worker thread: building a
    /// key and finding it in the registry on every proxied request costs
    /// more than the increment itself. Label sets are bounded, and so are
    /// these maps.
    static PROXIED: RefCell<HashMap<(&'static str, u16, &'static str), Counter>> =
        RefCell::default();
    static PROXY_LATENCY: Histogram = histogram!(PROXY_LATENCY_SECONDS);
}

/// One request the proxy forwarded: `status` is what the client got,
/// `latency` runs to the upstream's response head or to the error.
pub fn proxied(method: &Method, status: u16, scope: Scope, latency: Duration) {
    let key = (method_label(method), status, scope.as_str());
    PROXIED.with_borrow_mut(|series| {
        series
            .entry(key)
            .or_insert_with(|| {
                counter!(
                    PROXY_REQUESTS_TOTAL,
                    "method" => key.0,
                    "status" => key.1.to_string(),
                    "scope" => key.2,
                )
            })
            .increment(1);
    });
    PROXY_LATENCY.with(|latencies| latencies.record(latency.as_secs_f64()));
}

/// One request refused by the rate limit named `limit`.
pub fn rate_limited(limit: &'static str) {
    counter!(RATE_LIMITED_TOTAL, "limit" => limit).increment(1);
}

/// One proxied request refused (or failed) with this problem `code`.
pub fn proxy_denied(code: &'static str) {
    counter!(PROXY_DENIED_TOTAL, "reason" => code).increment(1);
}

/// Counts a login attempt by its outcome and hands the outcome back. A
/// failure of the service itself is no attempt's fault and is not counted.
pub fn login_attempt<T>(outcome: Result<T, LoginError>) -> Result<T, LoginError> {
    let status = match &outcome {
        Ok(_) => Some("success"),
        Err(
            LoginError::InvalidCredentials
            | LoginError::UserInactive
            | LoginError::RateLimited { .. },
        ) => Some("failure"),
        Err(LoginError::Port(_)) => None,
    };
    if let Some(status) = status {
        counter!(AUTH_ATTEMPTS_TOTAL, "status" => status).increment(1);
    }
    outcome
}

/// One token bought (its duration is one of the configured prices).
pub fn token_purchased(token: &AccessToken) {
    counter!(
        TOKEN_PURCHASES_TOTAL,
        "duration_hours" => token.duration_hours.to_string(),
        "scope" => token.scope.as_str(),
    )
    .increment(1);
}

/// Proxied requests whose session counters were given up at a stop.
pub fn session_counters_lost(requests: u64) {
    counter!(SESSION_COUNTERS_LOST_TOTAL).increment(requests);
}

/// One database statement; handed to the persistence adapter as its query
/// observer.
pub fn db_query(elapsed: Duration) {
    histogram!(DB_QUERY_DURATION_SECONDS).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        let custom = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(method_label(&custom), "OTHER");
    }

    #[test]
    fn both_histograms_render_with_their_buckets() {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            proxied(&Method::GET, 200, Scope::Full, Duration::from_millis(30));
            db_query(Duration::from_millis(3));
        });
        let text = handle.render();
        for line in [
            r#"zenzefi_proxy_requests_total{method="GET",status="200",scope="full"} 1"#,
            r#"zenzefi_proxy_latency_seconds_bucket{le="0.01"} 0"#,
            r#"zenzefi_proxy_latency_seconds_bucket{le="0.05"} 1"#,
            r#"zenzefi_proxy_latency_seconds_bucket{le="5"} 1"#,
            r#"zenzefi_db_query_duration_seconds_bucket{le="0.001"} 0"#,
            r#"zenzefi_db_query_duration_seconds_bucket{le="0.005"} 1"#,
            r#"zenzefi_db_query_duration_seconds_bucket{le="0.1"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn login_outcomes_count_except_service_failures() {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let _ = login_attempt(Ok(()));
            let _ = login_attempt::<()>(Err(LoginError::InvalidCredentials));
            let _ = login_attempt::<()>(Err(LoginError::RateLimited {
                retry_after: Duration::from_secs(1),
            }));
            let _ = login_attempt::<()>(Err(LoginError::Port(
                zenzefi_domain::PortError::unexpected("down"),
            )));
        });
        let text = handle.render();
        assert!(
            text.contains(r#"zenzefi_auth_attempts_total{status="success"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"zenzefi_auth_attempts_total{status="failure"} 2"#),
            "{text}"
        );
    }
}
