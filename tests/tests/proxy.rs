//! The proxy's checks and forwarding over HTTP, against a fake upstream on loopback.

use reqwest::Method;
use serde_json::Value;
use zenzefi_tests::upstream::{FakeUpstream, TEST_CA};
use zenzefi_tests::{Backend, TestApp, body, on_both_backends, problem};

async fn app_before(upstream: &FakeUpstream, backend: Backend) -> Option<TestApp> {
    app_with_timeout(upstream, backend, 1).await
}

async fn app_with_timeout(
    upstream: &FakeUpstream,
    backend: Backend,
    request_timeout_secs: u64,
) -> Option<TestApp> {
    let url = upstream.url.clone();
    TestApp::spawn_with(backend, move |s| {
        s.upstream.url = url;
        s.upstream.request_timeout_secs = request_timeout_secs;
    })
    .await
}

async fn forwards_with_end_to_end_headers_only(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    let response = app
        .proxied(Method::POST, "echo/a?x=1&y=%20", &token)
        .header("connection", "x-hop")
        .header("x-hop", "secret")
        .header("x-custom", "kept")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-request-id", "req-proxy-1")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-proxy-1");
    let seen = body(response).await;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/echo/a");
    assert_eq!(seen["query"], "x=1&y=%20");
    assert_eq!(seen["body_bytes"], 5);
    let headers = &seen["headers"];
    for gone in ["x-access-token", "x-device-id", "x-hop"] {
        assert_eq!(headers[gone], Value::Null, "{gone} reached the upstream");
    }
    assert_eq!(headers["x-custom"], "kept");
    // No trusted proxy configured: the client's own claim is not passed on.
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(
        headers["x-forwarded-host"], "127.0.0.1:8000",
        "public_url's"
    );
    assert_eq!(headers["x-request-id"], "req-proxy-1");
    assert_eq!(headers["host"], upstream.url.trim_start_matches("http://"));
}

async fn refusals_come_in_spec_order_and_never_reach_the_upstream(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (_, full) = app.token_holder("ann", "full").await;
    let (_, certificates) = app.token_holder("bob", "certificates_only").await;
    let refused = |status: u16, code: &'static str| (status, code);
    let cases = [
        (
            None,
            Some(full.as_str()),
            "x",
            refused(400, "device_id_required"),
        ),
        (
            Some("short"),
            Some(&full),
            "x",
            refused(400, "invalid_device_id"),
        ),
        (
            Some("device-0001"),
            None,
            "x",
            refused(401, "invalid_token"),
        ),
        (
            Some("device-0001"),
            Some("zzf_forged"),
            "x",
            refused(401, "invalid_token"),
        ),
        // An invalid token is refused before the path is looked at.
        (
            Some("device-0001"),
            Some("zzf_forged"),
            "a/../b",
            refused(401, "invalid_token"),
        ),
        (
            Some("device-0001"),
            Some(&certificates),
            "admin/users",
            refused(403, "scope_denied"),
        ),
    ];
    for (device, token, path, (status, code)) in cases {
        let mut request = app.get(&format!("/api/v1/proxy/{path}"));
        if let Some(device) = device {
            request = request.header("x-device-id", device);
        }
        if let Some(token) = token {
            request = request.header("x-access-token", token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{code}");
        assert_eq!(problem(response).await["code"], code);
    }
    let traversals = [
        "certificates/filter/../../x",
        "certificates/filter/%2e%2e/x",
        "certificates/filter%2Fx",
        "certificates//filter",
        "certificates/filter/%5C..%5Cx",
        "certificates/./filter",
    ];
    let credentials = [
        ("x-access-token", full.as_str()),
        ("x-device-id", "device-0001"),
    ];
    for path in traversals {
        let (status, _) = app
            .raw_get(&format!("/api/v1/proxy/{path}"), &credentials)
            .await;
        assert_eq!(status, 400, "{path}");
    }
    // Two copies of a header the proxy decides by: which one counts would
    // be left to chance, so neither does.
    for twice in [
        [
            ("x-access-token", certificates.as_str()),
            ("x-access-token", full.as_str()),
        ],
        [
            ("x-device-id", "device-0001"),
            ("x-device-id", "device-0002"),
        ],
    ] {
        let mut headers = credentials.to_vec();
        headers.retain(|(name, _)| *name != twice[0].0);
        headers.extend(twice);
        let (status, response) = app.raw_get("/api/v1/proxy/admin/users", &headers).await;
        assert_eq!(status, 400, "{twice:?}");
        assert!(response.contains("\"code\":\"bad_request\""), "{response}");
    }
    let trace = app
        .proxied(Method::TRACE, "certificates/filter", &full)
        .send()
        .await
        .unwrap();
    assert_eq!(trace.status(), 405);
    assert_eq!(
        trace.headers()["allow"],
        "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
    );
    assert_eq!(upstream.hits(), 0, "nothing refused was forwarded");

    let allowed = app
        .proxied(Method::GET, "certificates/filter", &certificates)
        .send()
        .await;
    assert_eq!(allowed.unwrap().status(), 200);
    assert_eq!(upstream.hits(), 1);
}

async fn upstream_errors_pass_through_unchanged(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    for code in [404u16, 418, 500, 503] {
        let response = app
            .proxied(Method::GET, &format!("status/{code}"), &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
        assert_eq!(
            response.headers()["x-upstream-said"],
            code.to_string().as_str()
        );
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(
            response.text().await.unwrap(),
            format!("upstream says {code}")
        );
    }
    let head = app
        .proxied(Method::HEAD, "status/204", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 204);
    // A HEAD answer keeps the length the upstream announced for the body.
    let direct = reqwest::Client::new()
        .head(format!("{}/status/200", upstream.url))
        .send()
        .await
        .unwrap();
    let announced = &direct.headers()["content-length"];
    assert_ne!(announced, "0");
    let head = app
        .proxied(Method::HEAD, "status/200", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(&head.headers()["content-length"], announced);
}

async fn slow_or_missing_upstreams_are_504_and_502(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    let late = app
        .proxied(Method::GET, "slow/3", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 504);
    assert_eq!(problem(late).await["code"], "upstream_timeout");
    drop(upstream);
    // Give the fake upstream a moment to close its listener.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let gone = app
        .proxied(Method::GET, "echo", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 502);
    let gone = problem(gone).await;
    assert_eq!(gone["code"], "upstream_unavailable");
    assert!(
        !gone["detail"].as_str().unwrap().contains("127.0.0.1"),
        "{gone}"
    );

    // Neither failure started the token's clock.
    let status = body(
        app.get("/api/v1/proxy/status")
            .header("x-access-token", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status["is_activated"], false);
}

async fn the_first_answered_request_activates_and_status_never_does(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    let status = || async {
        let response = app
            .get("/api/v1/proxy/status")
            .header("x-access-token", &token)
            .send();
        body(response.await.unwrap()).await
    };
    let before = status().await;
    assert_eq!(before["status"], "ready");
    assert_eq!(before["is_activated"], false);
    assert_eq!(before["time_remaining_seconds"], 24 * 3600);
    assert_eq!(
        status().await["is_activated"],
        false,
        "status never activates"
    );

    let proxied = app
        .proxied(Method::GET, "echo", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
    let after = status().await;
    assert_eq!(after["status"], "active");
    assert_eq!(after["scope"], "full");
    assert!(after["expires_at"].is_string());
    assert!(after["time_remaining_seconds"].as_i64().unwrap() <= 24 * 3600);
    let unauthenticated = app.get("/api/v1/proxy/status").send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

/// A slow answer holds its own upstream connection, not the others; an
/// upstream that stops sending a body midway is cut off after the request
/// timeout instead of holding the client forever.
async fn slow_and_stalled_upstreams_hold_up_only_their_own_request(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_with_timeout(&upstream, backend, 2).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    // Warm a pooled connection, then occupy it with a slow request.
    let warm = app
        .proxied(Method::GET, "echo", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
    let slow = app.proxied(Method::GET, "slow/1", &token).send();
    let quick = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        let response = app
            .proxied(Method::GET, "echo", &token)
            .send()
            .await
            .unwrap();
        (response.status(), started.elapsed())
    };
    let (slow, (quick_status, quick_took)) = tokio::join!(slow, quick);
    assert_eq!(slow.unwrap().status(), 200);
    assert_eq!(quick_status, 200);
    assert!(
        quick_took < std::time::Duration::from_millis(700),
        "a request waited {quick_took:?} behind a slow one"
    );

    let started = std::time::Instant::now();
    let stalled = app
        .proxied(Method::GET, "stall", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(stalled.status(), 200, "the head came in time");
    assert!(stalled.bytes().await.is_err(), "the body cannot complete");
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "the stalled body was cut off after {took:?}, not after the 2 s timeout"
    );
}

/// The embedded app with a pool of 2 upstream connections and `wait_ms`
/// of `upstream.pool_wait_ms`, and a GET through it.
async fn pool_of_two(upstream: &FakeUpstream, wait_ms: u64) -> (TestApp, String) {
    let app = TestApp::forwarding_to(&upstream.url, |s| {
        s.upstream.request_timeout_secs = 10;
        s.upstream.pool_size = 2;
        s.upstream.pool_wait_ms = wait_ms;
    })
    .await;
    let (_, token) = app.token_holder("ann", "full").await;
    (app, token)
}

async fn get_text(app: &TestApp, token: &str, path: &str) -> String {
    let response = app.proxied(Method::GET, path, token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// `upstream.pool_size`: a burst of quick requests waits for the pool's
/// connections instead of opening one each.
#[tokio::test]
async fn a_burst_reuses_the_pool_instead_of_opening_a_connection_per_request() {
    const BURST: u64 = 16;
    let upstream = FakeUpstream::start().await;
    // Patience no slow machine exhausts: every request waits its turn.
    let (app, token) = pool_of_two(&upstream, 5_000).await;
    let before = upstream.connections();
    for _ in 0..3 {
        futures::future::join_all((0..BURST).map(|_| get_text(&app, &token, "echo/burst"))).await;
    }
    // The readiness probe has a client of its own and may open one more.
    let opened = upstream.connections() - before;
    assert!(
        opened <= 3,
        "3 bursts of {BURST} under a pool of 2 opened {opened} connections"
    );
}

/// Requests past a pool held by slow exchanges are not queued behind them,
/// and once one has waited in vain the next ones do not wait at all.
#[tokio::test]
async fn requests_past_a_pool_held_by_slow_exchanges_neither_queue_nor_each_wait() {
    let upstream = FakeUpstream::start().await;
    let (app, token) = pool_of_two(&upstream, 300).await;
    let slow = async {
        let started = std::time::Instant::now();
        let answers =
            futures::future::join_all((0..6).map(|_| get_text(&app, &token, "slow/1"))).await;
        (answers, started.elapsed())
    };
    let quick = async {
        // By now four slow ones have waited 300 ms in vain.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let quick_started = std::time::Instant::now();
        for _ in 0..10 {
            get_text(&app, &token, "echo/quick").await;
        }
        quick_started.elapsed()
    };
    let ((answers, took), quick_took) = futures::future::join(slow, quick).await;
    assert!(answers.iter().all(|a| a == "late"), "{answers:?}");
    // Six one-second answers side by side (1.3 s with the wait), not two
    // at a time (3 s).
    assert!(
        took < std::time::Duration::from_millis(2500),
        "took {took:?}: queued behind the pool"
    );
    // Waiting 300 ms each, ten would take 3 s.
    assert!(
        quick_took < std::time::Duration::from_millis(1500),
        "10 quick requests beside a full pool took {quick_took:?}: each waited"
    );
}

/// `https://` upstreams: trusted through `upstream.ca_cert`, refused (502)
/// without it, accepted unverified with `upstream.insecure_skip_verify`.
#[tokio::test]
async fn tls_upstreams_are_verified_against_the_configured_ca() {
    let upstream = FakeUpstream::start_tls().await;
    let answer = |adjust: fn(&mut zenzefi_bootstrap::Settings)| {
        let url = upstream.url.clone();
        async move {
            let app = TestApp::spawn_with(Backend::Embedded, move |s| {
                s.upstream.url = url;
                adjust(s);
            })
            .await
            .expect("the embedded backend always runs");
            let (_, token) = app.token_holder("ann", "full").await;
            let response = app
                .proxied(Method::GET, "echo/tls?q=1", &token)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let (status, seen) = answer(|s| s.upstream.ca_cert = TEST_CA.to_owned()).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["path"], "/echo/tls");
    assert_eq!(seen["query"], "q=1");

    let (status, refused) = answer(|_| {}).await;
    assert_eq!(status, 502, "an unknown CA is refused: {refused}");
    assert_eq!(refused["code"], "upstream_unavailable");

    let (status, seen) = answer(|s| s.upstream.insecure_skip_verify = true).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["path"], "/echo/tls");
    assert_eq!(
        upstream.hits(),
        2,
        "the refused handshake forwarded nothing"
    );
}

/// What a client claims about itself, all of it forged unless a trusted
/// proxy sent it.
const CLAIMS: [(&str, &str); 5] = [
    ("x-forwarded-for", "198.51.100.66, 203.0.113.7"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "shop.example"),
    ("forwarded", "for=192.0.2.99;host=evil.example;proto=https"),
    ("x-real-ip", "192.0.2.98"),
];

/// The echoed request headers of `GET /api/v1/proxy/echo/fwd` sent with
/// [`CLAIMS`], through the request-target `target` (origin or absolute form).
async fn echoed_claims(app: &TestApp, token: &str, target: &str) -> Value {
    let mut headers = vec![("x-access-token", token), ("x-device-id", "device-0001")];
    headers.extend(CLAIMS);
    let (status, response) = app.raw_get(target, &headers).await;
    assert_eq!(status, 200, "{response}");
    let json = &response[response.find('{').unwrap()..=response.rfind('}').unwrap()];
    serde_json::from_str::<Value>(json).unwrap()["headers"].clone()
}

/// The client address the audit log recorded for a login sent with [`CLAIMS`].
async fn audited_login_ip(app: &TestApp) -> String {
    let mut login = app.post("/api/v1/auth/login").json(&serde_json::json!({
        "email": "ann@x.io",
        "password": "wrong-password-1",
    }));
    for (name, value) in CLAIMS {
        login = login.header(name, value);
    }
    assert_eq!(login.send().await.unwrap().status(), 401);
    let rows = app.audit_rows().await;
    rows.last().unwrap().ip.clone().unwrap()
}

async fn forwarding_headers_count_only_from_trusted_proxies(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let url = upstream.url.clone();
    // The test client connects from 127.0.0.1, which is not trusted here.
    let Some(direct) = TestApp::spawn_with(backend, |s| {
        s.upstream.url = url.clone();
        s.server.public_url = "https://gateway.example/".into();
        s.server.trusted_proxies = vec!["10.0.0.0/8".into()];
    })
    .await
    else {
        return;
    };
    let (_, token) = direct.token_holder("ann", "full").await;
    let absolute = "http://evil.example/api/v1/proxy/echo/fwd";
    for target in ["/api/v1/proxy/echo/fwd", absolute] {
        let seen = echoed_claims(&direct, &token, target).await;
        assert_eq!(seen["x-forwarded-for"], "127.0.0.1", "{target}");
        assert_eq!(seen["x-forwarded-proto"], "https", "{target}");
        assert_eq!(seen["x-forwarded-host"], "gateway.example", "{target}");
        assert_eq!(seen["forwarded"], Value::Null, "{target}");
        assert_eq!(seen["x-real-ip"], Value::Null, "{target}");
    }
    assert_eq!(audited_login_ip(&direct).await, "127.0.0.1");

    // The same requests from a trusted proxy (loopback): its chain counts up
    // to the first address that is not a proxy.
    let url = upstream.url.clone();
    let Some(behind) = TestApp::spawn_with(backend, |s| {
        s.upstream.url = url;
        s.server.public_url = "https://gateway.example".into();
        s.server.trusted_proxies = vec!["127.0.0.0/8".into(), "10.0.0.0/8".into()];
    })
    .await
    else {
        return;
    };
    let (_, token) = behind.token_holder("ann", "full").await;
    let seen = echoed_claims(&behind, &token, "/api/v1/proxy/echo/fwd").await;
    assert_eq!(seen["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "https");
    assert_eq!(seen["x-forwarded-host"], "shop.example");
    assert_eq!(seen["forwarded"], Value::Null);
    assert_eq!(seen["x-real-ip"], Value::Null);
    assert_eq!(audited_login_ip(&behind).await, "203.0.113.7");
}

/// Upstream connections are kept and lent again: sequential requests share
/// one, waves of concurrent ones need no more than a wave's width, and a
/// download the client abandons closes its own connection without spoiling
/// the next request on the pool.
async fn upstream_connections_are_reused(backend: Backend) {
    const WAVE: u64 = 8;
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_with_timeout(&upstream, backend, 5).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    let before = upstream.connections();
    for _ in 0..20 {
        let response = app
            .proxied(Method::GET, "echo/seq", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        body(response).await;
    }
    // The readiness probe may open one of its own meanwhile.
    let sequential = upstream.connections() - before;
    assert!(
        sequential <= 2,
        "20 sequential requests opened {sequential} connections"
    );

    let before = upstream.connections();
    for _ in 0..5 {
        let wave = (0..WAVE).map(|_| async {
            let response = app
                .proxied(Method::GET, "echo/wave", &token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            body(response).await
        });
        futures::future::join_all(wave).await;
    }
    let waves = upstream.connections() - before;
    assert!(
        waves <= WAVE + 2,
        "5 waves of {WAVE} opened {waves} connections"
    );

    // Abandoned after the head: 32 MiB can never have been read in full.
    let response = app
        .proxied(Method::GET, &format!("bytes/{}", 32 * 1024 * 1024), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    for _ in 0..WAVE {
        let response = app
            .proxied(Method::GET, "echo/after", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(body(response).await["path"], "/echo/after");
    }
}

on_both_backends!(
    forwards_with_end_to_end_headers_only,
    forwarding_headers_count_only_from_trusted_proxies,
    refusals_come_in_spec_order_and_never_reach_the_upstream,
    upstream_errors_pass_through_unchanged,
    slow_or_missing_upstreams_are_504_and_502,
    the_first_answered_request_activates_and_status_never_does,
    slow_and_stalled_upstreams_hold_up_only_their_own_request,
    upstream_connections_are_reused,
);
