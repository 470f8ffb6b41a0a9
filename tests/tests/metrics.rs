//! `GET /metrics` over HTTP: each metric moves when its event
//! happens, labels stay bounded, the bearer token guards the endpoint, and a
//! scrape stays fast however many rows the gauges count.
//!
//! The recorder is process-wide, so every app of this binary writes to the
//! same series. The tests take [`SERIAL`] for their whole run: a delta seen
//! between two scrapes is then this test's own.

use std::time::{Duration, Instant};

use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::{Mutex, MutexGuard};
use zenzefi_domain::ports::StatsStore;
use zenzefi_tests::upstream::FakeUpstream;
use zenzefi_tests::{Backend, TestApp, body, problem};

static SERIAL: Mutex<()> = Mutex::const_new(());

async fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// The app in front of `upstream`, refreshing its gauges every `refresh`.
async fn app_before(
    upstream: &FakeUpstream,
    backend: Backend,
    refresh: Duration,
) -> Option<TestApp> {
    let url = upstream.url.clone();
    TestApp::spawn_with(backend, move |s| {
        s.upstream.url = url;
        s.upstream.request_timeout_secs = 2;
        s.metrics.gauge_refresh_ms = refresh.as_millis() as u64;
    })
    .await
}

/// A scrape, as Prometheus text.
async fn scrape(app: &TestApp) -> Scrape {
    let response = app.get("/metrics").send().await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    Scrape(response.text().await.expect("a text body"))
}

struct Scrape(String);

impl Scrape {
    /// The sample of `name` with exactly `labels` (in any order); 0 when
    /// the series does not exist yet.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted.sort();
        self.samples()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or(0.0, |(_, _, v)| v)
    }

    /// Every sample line as (name, sorted labels, value).
    fn samples(&self) -> impl Iterator<Item = (String, Vec<(String, String)>, f64)> + '_ {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("a sample line");
                let value: f64 = value.parse().expect("a number");
                let (name, labels) = match series.split_once('{') {
                    None => (series.to_owned(), Vec::new()),
                    Some((name, rest)) => (
                        name.to_owned(),
                        parse_labels(rest.strip_suffix('}').expect("closing brace")),
                    ),
                };
                (name, labels, value)
            })
    }
}

/// `k="v",k2="v2"` (values as we write them: no escaped quotes).
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let (value, after) = after.split_once('"').expect("a closing quote");
        labels.push((key.trim_start_matches(',').to_owned(), value.to_owned()));
        rest = after;
    }
    labels.sort();
    labels
}

#[tokio::test]
async fn a_forwarded_request_counts_once_with_method_status_scope_and_latency() {
    let _serial = serial().await;
    let upstream = FakeUpstream::start().await;
    let app = app_before(&upstream, Backend::Embedded, Duration::from_secs(30))
        .await
        .expect("the embedded backend");
    let (_, token) = app.token_holder("ann", "full").await;
    let series = [("method", "GET"), ("scope", "full"), ("status", "200")];

    let before = scrape(&app).await;
    let response = app
        .proxied(Method::GET, "echo/a", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let after = scrape(&app).await;

    let requests = "zenzefi_proxy_requests_total";
    assert_eq!(
        after.value(requests, &series) - before.value(requests, &series),
        1.0
    );
    let latency = "zenzefi_proxy_latency_seconds_count";
    assert_eq!(after.value(latency, &[]) - before.value(latency, &[]), 1.0);
    let sum = "zenzefi_proxy_latency_seconds_sum";
    assert!(after.value(sum, &[]) > before.value(sum, &[]));
    let fast = "zenzefi_proxy_latency_seconds_bucket";
    let bucket = |s: &Scrape| s.value(fast, &[("le", "5")]);
    assert_eq!(bucket(&after) - bucket(&before), 1.0);
}

#[tokio::test]
async fn a_refused_proxied_request_counts_under_its_problem_code() {
    let _serial = serial().await;
    let upstream = FakeUpstream::start().await;
    let app = app_before(&upstream, Backend::Embedded, Duration::from_secs(30))
        .await
        .expect("the embedded backend");
    let denied = "zenzefi_proxy_denied_total";

    let before = scrape(&app).await;
    let refused = app
        .proxied(Method::GET, "echo/a", "zzf_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(refused).await["code"], "invalid_token");
    let no_device = app
        .http
        .get(format!("{}/api/v1/proxy/echo/a", app.base_url))
        .header("x-access-token", "zzf_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(no_device).await["code"], "device_id_required");
    let after = scrape(&app).await;

    for reason in ["invalid_token", "device_id_required"] {
        let delta = after.value(denied, &[("reason", reason)])
            - before.value(denied, &[("reason", reason)]);
        assert_eq!(delta, 1.0, "{reason}");
    }
    assert_eq!(
        after.value(denied, &[("reason", "scope_denied")]),
        before.value(denied, &[("reason", "scope_denied")])
    );
    // Refusals never reached the upstream: no forwarded request, no latency.
    let latency = "zenzefi_proxy_latency_seconds_count";
    assert_eq!(after.value(latency, &[]), before.value(latency, &[]));
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn logins_count_as_successes_and_failures_and_queries_are_timed() {
    let _serial = serial().await;
    let app = TestApp::spawn(Backend::Embedded)
        .await
        .expect("the embedded backend");
    assert_eq!(app.register("ann@x.io", "ann").await.status(), 201);
    let attempts = "zenzefi_auth_attempts_total";
    let queries = "zenzefi_db_query_duration_seconds_count";

    let before = scrape(&app).await;
    assert_eq!(
        app.login("ann@x.io", zenzefi_tests::PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(app.login("ann@x.io", "Wrong-Horse-9").await.status(), 401);
    assert_eq!(
        app.login("nobody@x.io", "Wrong-Horse-9").await.status(),
        401
    );
    let after = scrape(&app).await;

    let delta = |status| {
        after.value(attempts, &[("status", status)]) - before.value(attempts, &[("status", status)])
    };
    assert_eq!(delta("success"), 1.0);
    assert_eq!(delta("failure"), 2.0);
    assert!(
        after.value(queries, &[]) > before.value(queries, &[]),
        "logins read the database"
    );
    let fastest = "zenzefi_db_query_duration_seconds_bucket";
    assert!(after.value(fastest, &[("le", "0.1")]) > 0.0);
}

#[tokio::test]
async fn a_purchase_counts_by_duration_and_scope() {
    let _serial = serial().await;
    let app = TestApp::spawn(Backend::Embedded)
        .await
        .expect("the embedded backend");
    let jwt = app.signed_up("ann@x.io", "ann").await;
    app.fund(&jwt, "150.00").await;
    let purchases = "zenzefi_token_purchases_total";
    let series = [("duration_hours", "168"), ("scope", "certificates_only")];

    let before = scrape(&app).await;
    let bought = app
        .buy(
            &jwt,
            json!({ "duration_hours": 168, "scope": "certificates_only" }),
        )
        .await;
    assert_eq!(bought.status(), 201);
    // 50.00 left: a second one is refused and not counted.
    let refused = app
        .buy(
            &jwt,
            json!({ "duration_hours": 168, "scope": "certificates_only" }),
        )
        .await;
    assert_eq!(refused.status(), 402);
    let after = scrape(&app).await;

    assert_eq!(
        after.value(purchases, &series) - before.value(purchases, &series),
        1.0
    );
}

#[tokio::test]
async fn http_requests_are_labelled_by_route_template_never_by_raw_path() {
    let _serial = serial().await;
    let app = TestApp::spawn(Backend::Embedded)
        .await
        .expect("the embedded backend");
    let (jwt, _) = app.token_holder("ann", "full").await;
    let tokens = body(app.get_as(&jwt, "/api/v1/tokens/my-tokens").await).await;
    let token_id = tokens["items"][0]["token_id"].as_str().unwrap().to_owned();
    let unknown = format!("/no-such-page-{}", uuid::Uuid::new_v4().simple());
    let total = "zenzefi_http_requests_total";
    let revoke_series = [
        ("method", "DELETE"),
        ("route", "/api/v1/tokens/{token_id}"),
        ("status", "200"),
    ];
    let unmatched_series = [
        ("method", "GET"),
        ("route", "<unmatched>"),
        ("status", "404"),
    ];
    let other_series = [
        ("method", "OTHER"),
        ("route", "<unmatched>"),
        ("status", "404"),
    ];

    let before = scrape(&app).await;
    let revoked = app
        .delete_as(&jwt, &format!("/api/v1/tokens/{token_id}"))
        .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(app.get(&unknown).send().await.unwrap().status(), 404);
    let propfind = Method::from_bytes(b"PROPFIND").unwrap();
    let odd = app
        .http
        .request(propfind, format!("{}{unknown}", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), 404);
    let after = scrape(&app).await;

    for series in [&revoke_series[..], &unmatched_series, &other_series] {
        assert_eq!(
            after.value(total, series) - before.value(total, series),
            1.0,
            "{series:?}"
        );
    }
    assert!(!after.0.contains(&token_id), "a raw id became a label");
    assert!(!after.0.contains(&unknown), "a raw path became a label");
    assert!(!after.0.contains("PROPFIND"), "a raw method became a label");
    let routes: Vec<String> = after
        .samples()
        .filter(|(name, _, _)| name == total)
        .filter_map(|(_, labels, _)| labels.into_iter().find(|(k, _)| k == "route"))
        .map(|(_, route)| route)
        .collect();
    assert!(
        routes
            .iter()
            .all(|r| r == "<unmatched>" || r.starts_with('/')),
        "{routes:?}"
    );
}

#[tokio::test]
async fn the_bearer_token_setting_guards_the_endpoint() {
    let _serial = serial().await;
    let app = TestApp::spawn_with(Backend::Embedded, |s| {
        s.metrics.bearer_token = zenzefi_bootstrap::Secret::new("scrape-secret");
    })
    .await
    .expect("the embedded backend");

    let missing = app.get("/metrics").send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(problem(missing).await["code"], "not_authenticated");
    let wrong = app
        .get("/metrics")
        .bearer_auth("scrape-secreT")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    problem(wrong).await;

    let allowed = app
        .get("/metrics")
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = allowed.text().await.unwrap();
    assert!(
        text.contains("# TYPE zenzefi_auth_attempts_total counter"),
        "{text}"
    );
}

/// Polls until the gauges show `expected` (or fails after a few seconds):
/// every app of the process sets the same gauges, each from its own
/// database, so only a value seen after this app's refresh counts.
async fn gauges_reach(app: &TestApp, expected: &[(&str, f64)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = scrape(app).await;
        let seen: Vec<(&str, f64)> = expected
            .iter()
            .map(|(name, _)| (*name, now.value(name, &[])))
            .collect();
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gauges {seen:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn gauges_show_the_counts_after_a_refresh(backend: Backend) {
    let _serial = serial().await;
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend, Duration::from_millis(200)).await else {
        return;
    };
    let (ann, ann_token) = app.token_holder("ann", "full").await;
    app.token_holder("bob", "certificates_only").await;
    let (cat, _) = app.token_holder("cat", "full").await;
    app.signed_up("dan@x.io", "dan").await;
    // Cat's only token, revoked: no longer active.
    let tokens = body(app.get_as(&cat, "/api/v1/tokens/my-tokens").await).await;
    let cat_token = tokens["items"][0]["token_id"].as_str().unwrap();
    let revoked = app
        .delete_as(&cat, &format!("/api/v1/tokens/{cat_token}"))
        .await;
    assert_eq!(revoked.status(), 200);
    // A second token for Ann, and one session through the proxy.
    assert_eq!(
        app.buy(&ann, json!({ "duration_hours": 1 })).await.status(),
        201
    );
    let proxied = app
        .proxied(Method::GET, "status/204", &ann_token)
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 204);

    gauges_reach(
        &app,
        &[
            ("zenzefi_user_count", 4.0),
            ("zenzefi_active_tokens", 3.0),
            ("zenzefi_active_sessions", 1.0),
            ("zenzefi_upstream_up", 1.0),
        ],
    )
    .await;
}

#[tokio::test]
async fn promtool_accepts_a_live_scrape() {
    let _serial = serial().await;
    let Ok(promtool) = which("promtool") else {
        eprintln!("skipping: promtool is not installed");
        return;
    };
    let upstream = FakeUpstream::start().await;
    let app = app_before(&upstream, Backend::Embedded, Duration::from_millis(200))
        .await
        .expect("the embedded backend");
    // Something in every family: a proxied request, a refusal, a login.
    let (_, token) = app.token_holder("ann", "full").await;
    let proxied = app.proxied(Method::GET, "echo/x", &token).send().await;
    assert_eq!(proxied.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = scrape(&app).await.0;

    let mut check = tokio::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    let mut stdin = check.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, text.as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = check.wait_with_output().await.unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "promtool check metrics: exit {:?}\n{report}",
        output.status.code()
    );
    // Exit 1 is a parse error; 3 means lint findings only. The product fixes
    // the name `zenzefi_user_count`, which the naming lint reserves for
    // histograms and summaries: that finding, and only that, is expected.
    assert!(
        matches!(output.status.code(), Some(0 | 3)),
        "promtool could not parse the scrape: {report}\n{text}"
    );
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter(|line| !line.starts_with("zenzefi_user_count non-histogram"))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}\n{text}");
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or(())
}

zenzefi_tests::on_both_backends!(gauges_show_the_counts_after_a_refresh);

/// PostgreSQL only: a million token rows, the gauges recounted every
/// 500 ms meanwhile, and a scrape still answers at once.
#[tokio::test]
async fn scrapes_stay_fast_over_a_million_tokens_while_the_gauges_recount() {
    let _serial = serial().await;
    let Some(app) = TestApp::spawn_with(Backend::Shared, |s| {
        s.metrics.gauge_refresh_ms = 500;
    })
    .await
    else {
        return;
    };
    let jwt = app.signed_up("ann@x.io", "ann").await;
    let me = body(app.me(&jwt).await).await;
    let owner = me["id"].as_str().expect("a user id");
    let started = Instant::now();
    app.database
        .db()
        .connection()
        .execute_unprepared(&format!(
            "INSERT INTO access_tokens \
               (id, user_id, token_hash, token_prefix, duration_hours, scope, cost_cents, \
                created_at, is_active) \
             SELECT gen_random_uuid(), '{owner}', md5(i::text) || md5((-i)::text), \
                    'zzf_' || left(md5(i::text), 4), 24, 'full', 1800, now(), true \
             FROM generate_series(1, 1000000) AS i"
        ))
        .await
        .expect("insert a million tokens");
    let inserted_in = started.elapsed();

    let started = Instant::now();
    let counts = app
        .database
        .db()
        .counts(OffsetDateTime::now_utc())
        .await
        .expect("counts");
    let counted_in = started.elapsed();
    assert_eq!(counts.active_tokens, 1_000_000);
    gauges_reach(&app, &[("zenzefi_active_tokens", 1_000_000.0)]).await;

    // Spread over two seconds, so that some scrapes meet a recount.
    let mut took = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        scrape(&app).await;
        took.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    took.sort();
    // Nearest rank: with 20 samples the 99th percentile is the slowest.
    let (p50, p99) = (took[9], took[19]);
    eprintln!(
        "1M tokens inserted in {inserted_in:?}; one gauge refresh (3 COUNTs) took {counted_in:?}; \
         20 scrapes: min {:?}, p50 {p50:?}, p99 {p99:?}",
        took[0]
    );
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
}

/// A client repeating an invalid token: the first request asks the
/// database, the next ones are refused from the negative cache.
async fn a_flood_of_one_invalid_token_costs_almost_no_query(backend: Backend) {
    let _serial = serial().await;
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend, Duration::from_secs(3600)).await else {
        return;
    };
    let queries = "zenzefi_db_query_duration_seconds_count";
    let invalid = "zzf_not-a-token-anyone-bought";
    let before = scrape(&app).await.value(queries, &[]);
    for _ in 0..100 {
        let requests = (0..100).map(|_| {
            app.proxied(Method::GET, "certificates/filter", invalid)
                .send()
        });
        for response in futures::future::join_all(requests).await {
            assert_eq!(response.unwrap().status(), 401);
        }
    }
    let cost = scrape(&app).await.value(queries, &[]) - before;
    eprintln!("10 000 requests with one invalid token: {cost} SQL queries");
    assert!(cost < 100.0, "{cost} queries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_one_invalid_token_costs_almost_no_query_embedded() {
    a_flood_of_one_invalid_token_costs_almost_no_query(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_one_invalid_token_costs_almost_no_query_shared() {
    a_flood_of_one_invalid_token_costs_almost_no_query(Backend::Shared).await;
}
