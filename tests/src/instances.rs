//! Several instances of the app on one PostgreSQL and Redis, and the
//! probes the multi-instance tests share.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use zenzefi_bootstrap::Secret;
use zenzefi_testkit::redis_server::RedisServer;

use crate::upstream::FakeUpstream;
use crate::{Backend, TestApp, body};

/// The app on PostgreSQL and Redis (the shared test server, or `redis`),
/// forwarding to `upstream`.
pub async fn app_on(upstream: &FakeUpstream, redis: Option<&RedisServer>) -> Option<TestApp> {
    let url = upstream.url.clone();
    let redis = redis.map(RedisServer::url);
    TestApp::spawn_with(Backend::Shared, move |s| {
        s.upstream.url = url;
        s.sessions.flush_interval_ms = 200;
        // Trials sign in dozens of users from one address, and send more
        // than a minute's default of proxied requests with one token.
        s.rate_limit.login_per_minute = 1_000;
        s.rate_limit.proxy_per_minute = 100_000;
        if let Some(redis) = redis {
            s.redis.url = Secret::new(redis);
        }
    })
    .await
}

/// The 99th percentile of the samples (of 50, the largest).
pub fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let rank = (samples.len() * 99).div_ceil(100);
    samples[rank.max(1) - 1]
}

/// The status of one proxied `GET echo` to `base` from `device`.
pub async fn status_of(app: &TestApp, base: &str, token: &str, device: &str) -> u16 {
    app.proxied_from(base, Method::GET, "echo", token, device)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends proxied requests to `base` until one answers `refused`; returns
/// how long after `since` that was. Any answer but 200 or `refused` fails.
pub async fn refused_after(
    app: &TestApp,
    base: &str,
    token: &str,
    device: &str,
    refused: u16,
    since: Instant,
) -> Duration {
    loop {
        let status = status_of(app, base, token, device).await;
        if status == refused {
            return since.elapsed();
        }
        assert_eq!(status, 200, "neither admitted nor refused");
        assert!(since.elapsed() < Duration::from_secs(5), "never refused");
    }
}

/// A bought one-hour token: `(token_id, secret)`.
pub async fn one_hour_token(app: &TestApp, jwt: &str) -> (String, String) {
    let bought = body(app.buy(jwt, json!({ "duration_hours": 1 })).await).await;
    (
        bought["token_id"].as_str().unwrap().to_owned(),
        bought["token"].as_str().unwrap().to_owned(),
    )
}
