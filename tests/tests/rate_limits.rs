//! The per-token proxy limit and the per-user API limit (SPEC §13): sliding
//! 60 s windows, the IETF `RateLimit` headers, one limit across instances
//! sharing Redis, and each instance on its own while Redis is down.
//!
//! Two tests take a real minute (the window production uses); they live in
//! this binary so that they run side by side with each other and the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::Response;
use serde_json::json;
use zenzefi_bootstrap::Secret;
use zenzefi_testkit::redis_server::RedisServer;
use zenzefi_tests::upstream::FakeUpstream;
use zenzefi_tests::{Backend, TestApp, body, problem};

/// The app on `backend` forwarding to `upstream`, with these limits.
async fn limited_app(
    backend: Backend,
    upstream: &FakeUpstream,
    redis: Option<&RedisServer>,
    proxy_per_minute: u32,
    api_per_minute: u32,
) -> Option<TestApp> {
    let url = upstream.url.clone();
    let redis = redis.map(RedisServer::url);
    TestApp::spawn_with(backend, move |s| {
        s.upstream.url = url;
        s.rate_limit.proxy_per_minute = proxy_per_minute;
        s.rate_limit.api_per_minute = api_per_minute;
        if let Some(redis) = redis {
            s.redis.url = Secret::new(redis);
        }
    })
    .await
}

/// `RateLimit-Policy` and `RateLimit` parsed as structured-field lists of
/// one item: `(name, q, w)` and `(name, r, t)`.
fn limit_headers(response: &Response) -> ((String, u64, u64), (String, u64, u64)) {
    let item = |name: &str, keys: [&str; 2]| {
        let value = response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{name} is missing"))
            .to_str()
            .unwrap()
            .to_owned();
        let mut parts = value.split(';');
        let label = parts.next().unwrap();
        let label = label
            .strip_prefix('"')
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{value}: the name is not a string"));
        let mut params = [None, None];
        for param in parts {
            let (key, number) = param.split_once('=').unwrap();
            let slot = keys.iter().position(|k| *k == key).unwrap();
            params[slot] = Some(number.parse::<u64>().unwrap());
        }
        (
            label.to_owned(),
            params[0].unwrap_or_else(|| panic!("{value}: no {}", keys[0])),
            params[1].unwrap_or_else(|| panic!("{value}: no {}", keys[1])),
        )
    };
    (
        item("ratelimit-policy", ["q", "w"]),
        item("ratelimit", ["r", "t"]),
    )
}

const RATE_LIMITED: &str = "zenzefi_rate_limited_total{limit=\"proxy\"} ";
const DENIED: &str = "zenzefi_proxy_denied_total{reason=\"rate_limited\"} ";

/// The value of one series on the app's `/metrics`.
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .unwrap_or_else(|| panic!("no {series} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn proxied(app: &TestApp, base: &str, token: &str) -> Response {
    app.proxied_from(base, Method::GET, "echo", token, "device-0001")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_headers_count_down_then_429_then_reset_after_the_window() {
    let upstream = FakeUpstream::start().await;
    let Some(app) = limited_app(Backend::Shared, &upstream, None, 5, 120).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    let mut last_t = u64::MAX;
    for expected in (0..5).rev() {
        let response = proxied(&app, &app.base_url, &token).await;
        assert_eq!(response.status(), 200);
        let (policy, state) = limit_headers(&response);
        assert_eq!(policy, ("proxy".to_owned(), 5, 60));
        assert_eq!((state.0.as_str(), state.1), ("proxy", expected));
        // Hits leave a sliding window 60 to 61 s after their second began.
        assert!(
            state.2 <= last_t && state.2 <= 61 && state.2 > 0,
            "{state:?}"
        );
        last_t = state.2;
    }
    let refused = proxied(&app, &app.base_url, &token).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry_after), "{retry_after}");
    let (_, state) = limit_headers(&refused);
    assert_eq!(state.1, 0);
    assert_eq!(problem(refused).await["code"], "rate_limited");

    // Once the window has passed the first requests, the quota is back (a
    // second more, should the five have straddled two seconds).
    tokio::time::sleep(Duration::from_secs(retry_after + 1)).await;
    let again = proxied(&app, &app.base_url, &token).await;
    assert_eq!(again.status(), 200);
    let (_, state) = limit_headers(&again);
    assert_eq!(state.1, 4, "the reset returned the whole quota");
    assert!(
        state.2 > last_t.saturating_sub(5),
        "t starts a new count down"
    );
}

#[tokio::test]
async fn the_api_limit_counts_per_user_with_headers_and_spares_superusers() {
    let upstream = FakeUpstream::start().await;
    let Some(app) = limited_app(Backend::Embedded, &upstream, None, 1000, 3).await else {
        return;
    };
    let jwt = app.signed_up("ann@x.io", "ann").await;
    for expected in (0..3).rev() {
        let response = app.me(&jwt).await;
        assert_eq!(response.status(), 200);
        let (policy, state) = limit_headers(&response);
        assert_eq!(policy, ("api".to_owned(), 3, 60));
        assert_eq!(state.1, expected);
    }
    let refused = app.me(&jwt).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(problem(refused).await["code"], "rate_limited");

    let other = app.signed_up("bob@x.io", "bob").await;
    assert_eq!(app.me(&other).await.status(), 200, "limits are per user");
    let admin = app.signed_up("root@x.io", "root").await;
    app.promote("root@x.io").await;
    for _ in 0..10 {
        let response = app.me(&admin).await;
        assert_eq!(response.status(), 200);
        assert!(!response.headers().contains_key("ratelimit"));
    }
}

/// Three instances on one Redis, one token limited to 600 per minute,
/// hammered through all three for a minute: 600 ± 10 % admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_admit_one_tokens_limit_once_per_minute() {
    const LIMIT: u64 = 600;
    let upstream = FakeUpstream::start().await;
    let Some(app) = limited_app(Backend::Shared, &upstream, None, 600, 120).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    let (second, _s2) = app.sibling().await;
    let (third, _s3) = app.sibling().await;
    let app = Arc::new(app);
    let admitted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let bases = [app.base_url.clone(), second, third];
    let hammers: Vec<_> = (0..6)
        .map(|i| {
            let (app, token, base) = (app.clone(), token.clone(), bases[i % 3].clone());
            let (admitted, refused) = (admitted.clone(), refused.clone());
            tokio::spawn(async move {
                while start.elapsed() < Duration::from_secs(60) {
                    let status = proxied(&app, &base, &token).await.status().as_u16();
                    match status {
                        200 => admitted.fetch_add(1, Ordering::Relaxed),
                        429 => refused.fetch_add(1, Ordering::Relaxed),
                        other => panic!("neither admitted nor rate limited: {other}"),
                    };
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    for hammer in hammers {
        hammer.await.unwrap();
    }
    let (admitted, refused) = (
        admitted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    eprintln!("60 s through 3 instances: {admitted} admitted, {refused} refused");
    assert!(
        refused > LIMIT,
        "the hammer must exceed the limit: {refused}"
    );
    assert!(
        (LIMIT * 9 / 10..=LIMIT * 11 / 10).contains(&admitted),
        "{admitted} admitted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_each_instance_enforces_the_limit_on_its_own() {
    let upstream = FakeUpstream::start().await;
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let Some(app) = limited_app(Backend::Shared, &upstream, Some(&redis), 5, 120).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    assert_eq!(proxied(&app, &app.base_url, &token).await.status(), 200);
    let limited_before = metric(&app, RATE_LIMITED).await;
    let denied_before = metric(&app, DENIED).await;
    redis.kill();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(proxied(&app, &app.base_url, &token).await.status().as_u16());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(admitted, 4, "{statuses:?}");
    // The recorder is the process's: other tests may add to it, never less.
    let refused = (statuses.len() - admitted) as f64;
    assert!(metric(&app, RATE_LIMITED).await - limited_before >= refused);
    assert!(metric(&app, DENIED).await - denied_before >= refused);
}

/// `rate_limit.proxy_per_minute = 0`: no default limit, so no counting and
/// no headers, except for a token an administrator gave a limit of its own.
#[tokio::test]
async fn a_default_of_zero_limits_only_tokens_with_their_own_limit() {
    let upstream = FakeUpstream::start().await;
    let Some(app) = limited_app(Backend::Embedded, &upstream, None, 0, 1000).await else {
        return;
    };
    let (_, free) = app.token_holder("ann", "full").await;
    for _ in 0..20 {
        let response = proxied(&app, &app.base_url, &free).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_none());
        assert!(response.headers().get("ratelimit-policy").is_none());
    }

    let (jwt, own) = app.token_holder("bob", "full").await;
    let admin = app.signed_up("root@x.io", "root").await;
    app.promote("root@x.io").await;
    let tokens = body(app.get_as(&jwt, "/api/v1/tokens/my-tokens").await).await;
    let id = tokens["items"][0]["token_id"].as_str().unwrap().to_owned();
    let set = app
        .patch(&format!("/api/v1/admin/tokens/{id}"))
        .bearer_auth(&admin)
        .json(&json!({ "rate_limit_per_minute": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let first = proxied(&app, &app.base_url, &own).await;
    assert_eq!(first.status(), 200);
    assert_eq!(limit_headers(&first).0, ("proxy".to_owned(), 1, 60));
    assert_eq!(proxied(&app, &app.base_url, &own).await.status(), 429);
}

#[tokio::test]
async fn an_admin_sets_and_clears_a_tokens_own_limit_audited_and_listed() {
    let upstream = FakeUpstream::start().await;
    let Some(app) = limited_app(Backend::Embedded, &upstream, None, 1000, 1000).await else {
        return;
    };
    let (jwt, token) = app.token_holder("ann", "full").await;
    let admin = app.signed_up("root@x.io", "root").await;
    app.promote("root@x.io").await;
    let tokens = body(app.get_as(&jwt, "/api/v1/tokens/my-tokens").await).await;
    let id = tokens["items"][0]["token_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/tokens/{id}");
    let set = |value: serde_json::Value| {
        app.patch(&path)
            .bearer_auth(&admin)
            .json(&json!({ "rate_limit_per_minute": value }))
            .send()
    };

    assert_eq!(set(json!(0)).await.unwrap().status(), 422);
    assert_eq!(set(json!(1_000_001)).await.unwrap().status(), 422);
    assert_eq!(set(json!(2.5)).await.unwrap().status(), 422);
    // An integer as JSON Schema counts them.
    let response = set(json!(2.0)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await["rate_limit_per_minute"], 2);
    let listed = body(app.get_as(&admin, "/api/v1/admin/tokens").await).await;
    assert_eq!(listed["items"][0]["rate_limit_per_minute"], 2, "{listed}");
    let others = app
        .patch("/api/v1/admin/tokens/00000000-0000-0000-0000-000000000000")
        .bearer_auth(&admin)
        .json(&json!({ "rate_limit_per_minute": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(others.status(), 404);

    let statuses = [
        proxied(&app, &app.base_url, &token).await,
        proxied(&app, &app.base_url, &token).await,
    ];
    for response in &statuses {
        assert_eq!(response.status(), 200);
        assert_eq!(limit_headers(response).0, ("proxy".to_owned(), 2, 60));
    }
    assert_eq!(proxied(&app, &app.base_url, &token).await.status(), 429);

    assert_eq!(set(serde_json::Value::Null).await.unwrap().status(), 200);
    let back = proxied(&app, &app.base_url, &token).await;
    assert_eq!(back.status(), 200, "the default of 1000 applies again");
    assert_eq!(limit_headers(&back).0.1, 1000);

    let audited: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|row| row.action == "admin_token_update")
        .collect();
    assert_eq!(audited.len(), 2);
    assert_eq!(
        audited[0].details["changed_fields"]["rate_limit_per_minute"],
        json!({ "old": null, "new": 2 })
    );
}

#[tokio::test]
async fn registrations_logins_per_email_and_password_changes_are_limited() {
    let upstream = FakeUpstream::start().await;
    let Some(app) = TestApp::spawn_with(Backend::Embedded, |s| {
        s.upstream.url = upstream.url.clone();
        s.rate_limit.register_per_hour = 2;
        // Signing up logs in once.
        s.rate_limit.login_per_hour_per_email = 4;
        s.rate_limit.password_change_per_hour = 1;
    })
    .await
    else {
        return;
    };
    let jwt = app.signed_up("ann@x.io", "ann").await;
    assert_eq!(app.register("bob@x.io", "bob").await.status(), 201);
    let refused = app.register("cat@x.io", "cat").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(problem(refused).await["code"], "rate_limited");

    for _ in 0..3 {
        assert_eq!(app.login("ANN@x.io", "wrong-pass1").await.status(), 401);
    }
    let locked = app.login("ann@x.io", "wrong-pass1").await;
    assert_eq!(locked.status(), 429, "the email is normalised");
    assert_eq!(app.login("bob@x.io", "wrong-pass1").await.status(), 401);

    let change = |current: &str, new: &str| {
        app.patch("/api/v1/users/me")
            .bearer_auth(&jwt)
            .json(&json!({ "password": new, "current_password": current }))
            .send()
    };
    assert_eq!(
        change("wrong-pass9", "Another-pass1")
            .await
            .unwrap()
            .status(),
        403
    );
    let second = change("wrong-pass9", "Another-pass1").await.unwrap();
    assert_eq!(second.status(), 429);
    assert_eq!(problem(second).await["code"], "rate_limited");
}
