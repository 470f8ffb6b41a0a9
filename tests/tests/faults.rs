//! Operating under injected faults: the app reaches PostgreSQL, Redis and
//! the upstream through fault proxies that a test cuts and restores. Every
//! scenario asserts exact figures and prints them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use zenzefi_bootstrap::{Secret, Settings};
use zenzefi_testkit::fault_proxy::FaultProxy;
use zenzefi_testkit::service_url;
use zenzefi_tests::upstream::FakeUpstream;
use zenzefi_tests::{Backend, TestApp};

/// The app on PostgreSQL and Redis, each behind a fault proxy, in front of
/// the fake upstream behind a third one.
struct Rig {
    app: TestApp,
    postgres: FaultProxy,
    redis: FaultProxy,
    upstream: FaultProxy,
    _fake: FakeUpstream,
}

/// `None` when PostgreSQL or Redis is not configured outside CI.
async fn rig() -> Option<Rig> {
    rig_with(|_| {}).await
}

/// Like [`rig`], with the settings adjusted last.
async fn rig_with(adjust: impl FnOnce(&mut Settings)) -> Option<Rig> {
    let postgres = FaultProxy::in_front_of(&service_url("TEST_DATABASE_URL")?).await;
    let redis = FaultProxy::in_front_of(&service_url("TEST_REDIS_URL")?).await;
    let fake = FakeUpstream::start().await;
    let upstream = FaultProxy::in_front_of(&fake.url).await;
    let app = TestApp::spawn_with(Backend::Shared, |s| {
        s.database.url = Secret::new(postgres.route(s.database.url.expose()));
        s.redis.url = Secret::new(redis.route(s.redis.url.expose()));
        s.upstream.url = upstream.route(&fake.url);
        // Outages show in a second, not in the default five.
        s.database.acquire_timeout_secs = 1;
        s.redis.timeout_secs = 1;
        s.sessions.flush_interval_ms = 200;
        // The traffic sends thousands of proxied requests a minute with one
        // token; the limit is not what these tests are about.
        s.rate_limit.proxy_per_minute = 1_000_000;
        adjust(s);
    })
    .await?;
    Some(Rig {
        app,
        postgres,
        redis,
        upstream,
        _fake: fake,
    })
}

/// What the clients of [`Traffic`] saw.
#[derive(Debug, Default)]
struct Tally {
    answered: AtomicU64,
    /// Body bytes the clients received.
    bytes: AtomicU64,
    server_errors: AtomicU64,
}

/// Proxied downloads from one device, a few at a time, until stopped.
struct Traffic {
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

/// Each download is this many bytes, plus the client's number.
const DOWNLOAD: u64 = 1_000;

impl Traffic {
    fn start(app: &TestApp, token: &str, clients: u64) -> Self {
        let tally = Arc::new(Tally::default());
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|client| {
                let request =
                    app.proxied(Method::GET, &format!("bytes/{}", DOWNLOAD + client), token);
                let (tally, stop) = (tally.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let response = request.try_clone().unwrap().send().await.unwrap();
                        let status = response.status();
                        let body = response.bytes().await.unwrap();
                        tally.answered.fetch_add(1, Ordering::SeqCst);
                        tally.bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
                        if status.is_server_error() {
                            tally.server_errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        Self {
            tally,
            stop,
            clients,
        }
    }

    async fn stop(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            client.await.unwrap();
        }
        let t = &self.tally;
        (
            t.answered.load(Ordering::SeqCst),
            t.bytes.load(Ordering::SeqCst),
            t.server_errors.load(Ordering::SeqCst),
        )
    }
}

/// `(request_count, bytes_transferred)` of the one session, read from the
/// database directly (not through the fault proxy).
async fn session_counters(app: &TestApp) -> (u64, u64) {
    let row = app
        .database
        .db()
        .connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT request_count, bytes_transferred FROM proxy_sessions",
        ))
        .await
        .expect("read proxy_sessions")
        .expect("one session");
    let count: i64 = row.try_get("", "request_count").unwrap();
    let bytes: i64 = row.try_get("", "bytes_transferred").unwrap();
    (count as u64, bytes as u64)
}

/// Polls the session's counters until they are `expected`; how long that
/// took, or the last counters seen after `limit`.
async fn counters_reach(
    app: &TestApp,
    expected: (u64, u64),
    limit: Duration,
) -> Result<Duration, (u64, u64)> {
    let started = Instant::now();
    loop {
        let seen = session_counters(app).await;
        if seen == expected {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(seen);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status_of(app: &TestApp, path: &str) -> StatusCode {
    app.get(path).send().await.expect(path).status()
}

/// Polls `/health/ready` until it answers `status`; how long that took.
async fn readiness_becomes(app: &TestApp, status: StatusCode, limit: Duration) -> Duration {
    let started = Instant::now();
    while status_of(app, "/health/ready").await != status {
        assert!(
            started.elapsed() < limit,
            "/health/ready not {status} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_under_proxy_traffic_costs_no_5xx_and_no_counter() {
    let Some(rig) = rig().await else {
        return;
    };
    let (_, token) = rig.app.token_holder("ann", "full").await;
    let traffic = Traffic::start(&rig.app, &token, 4);
    tokio::time::sleep(Duration::from_millis(500)).await;
    rig.postgres.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    rig.postgres.restore();
    let restored = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (answered, bytes, server_errors) = traffic.stop().await;

    let written = counters_reach(&rig.app, (answered, bytes), Duration::from_secs(5)).await;
    eprintln!(
        "postgres cut 2 s: {answered} answered, {bytes} bytes, {server_errors} 5xx; \
         counters written {written:?} after the stop, {:?} after recovery",
        restored.elapsed()
    );
    assert_eq!(server_errors, 0);
    assert!(answered > 0);
    assert!(
        written.is_ok(),
        "database counters {written:?}, client saw ({answered}, {bytes})"
    );
}

/// A graceful stop while the periodic flush waits on a row lock that the
/// test holds: the stop waits for that flush instead of abandoning it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_during_a_blocked_flush_writes_every_counter() {
    let Some(mut rig) = rig().await else {
        return;
    };
    let (_, token) = rig.app.token_holder("ann", "full").await;
    let before = Traffic::start(&rig.app, &token, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (first, first_bytes, _) = before.stop().await;
    counters_reach(&rig.app, (first, first_bytes), Duration::from_secs(3))
        .await
        .expect("the first requests flushed");

    let conn = rig.app.database.db().connection();
    let lock = conn.begin().await.unwrap();
    lock.execute_unprepared("SELECT 1 FROM proxy_sessions FOR UPDATE")
        .await
        .unwrap();
    let during = Traffic::start(&rig.app, &token, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (second, second_bytes, errors) = during.stop().await;
    assert_eq!(errors, 0);
    flusher_waits_on_a_lock(&rig.app).await;

    let hold = Duration::from_millis(1_500);
    let stop_started = Instant::now();
    let release = async {
        tokio::time::sleep(hold).await;
        lock.commit().await.unwrap();
    };
    tokio::join!(rig.app.stop_gracefully(), release);
    let stop_took = stop_started.elapsed();

    let expected = (first + second, first_bytes + second_bytes);
    let seen = session_counters(&rig.app).await;
    eprintln!(
        "stop during a flush blocked {hold:?}: client saw {expected:?}, database has {seen:?}, \
         stop took {stop_took:?}"
    );
    assert_eq!(seen, expected);
    assert!(
        stop_took >= hold,
        "the stop returned before the flush could write"
    );
}

/// The same, with the lock held past `server.shutdown_timeout_secs`: the
/// stop gives up on time, the database keeps none of the blocked batch, and
/// exactly its requests are reported lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_that_cannot_write_in_time_reports_what_it_lost() {
    let Some(mut rig) = rig_with(|s| s.server.shutdown_timeout_secs = 1).await else {
        return;
    };
    let app = &mut rig.app;
    let (_, token) = app.token_holder("ann", "full").await;
    let before = Traffic::start(app, &token, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (first, first_bytes, _) = before.stop().await;
    counters_reach(app, (first, first_bytes), Duration::from_secs(3))
        .await
        .expect("the first requests flushed");
    let lost_before = counters_lost(&app.base_url, app).await;

    let conn = app.database.db().connection();
    let lock = conn.begin().await.unwrap();
    lock.execute_unprepared("SELECT 1 FROM proxy_sessions FOR UPDATE")
        .await
        .unwrap();
    let during = Traffic::start(app, &token, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (second, _, _) = during.stop().await;
    flusher_waits_on_a_lock(app).await;

    let stop_started = Instant::now();
    app.stop_gracefully().await;
    let stop_took = stop_started.elapsed();
    lock.commit().await.unwrap();

    let (sibling, _server) = app.sibling().await;
    let lost = counters_lost(&sibling, app).await - lost_before;
    let seen = session_counters(app).await;
    eprintln!(
        "stop with a 1 s timeout during a flush blocked for longer: {stop_took:?}; \
         database has {seen:?} of ({}, …); {lost} requests reported lost of {second} unwritten",
        first + second
    );
    assert_eq!(seen, (first, first_bytes));
    assert_eq!(lost, second);
    assert!(
        stop_took < Duration::from_secs(3),
        "the stop kept to its timeout"
    );
}

/// `zenzefi_session_counters_lost_total`, process-wide like every metric.
async fn counters_lost(base_url: &str, app: &TestApp) -> u64 {
    let text = app
        .http
        .get(format!("{base_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("zenzefi_session_counters_lost_total "))
        .expect("the counter is exported")
        .trim()
        .parse()
        .unwrap()
}

/// Polls PostgreSQL until a backend of the app's database waits on a lock.
async fn flusher_waits_on_a_lock(app: &TestApp) {
    let started = Instant::now();
    loop {
        let row = app
            .database
            .db()
            .connection()
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS waiting FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "waiting").unwrap() > 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no flush waits on the row lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_follows_a_postgres_outage_within_a_second() {
    let Some(rig) = rig().await else {
        return;
    };
    let jwt = rig.app.signed_up("ann@x.io", "ann").await;
    assert_eq!(status_of(&rig.app, "/health/ready").await, StatusCode::OK);

    rig.postgres.cut();
    let down = readiness_becomes(
        &rig.app,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(1),
    )
    .await;
    let failed = rig.app.me(&jwt).await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status_of(&rig.app, "/health/live").await, StatusCode::OK);
    // The shared report of §10 is not this instance's business.
    assert_eq!(status_of(&rig.app, "/health").await, StatusCode::OK);

    rig.postgres.restore();
    let up = readiness_becomes(&rig.app, StatusCode::OK, Duration::from_secs(1)).await;
    assert_eq!(rig.app.me(&jwt).await.status(), StatusCode::OK);
    eprintln!("postgres: 503 {down:?} after the cut, 200 {up:?} after recovery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_follows_a_redis_outage_within_a_second() {
    let Some(rig) = rig().await else {
        return;
    };
    rig.app.register("ann@x.io", "ann").await;
    assert_eq!(status_of(&rig.app, "/health/ready").await, StatusCode::OK);

    rig.redis.cut();
    let down = readiness_becomes(
        &rig.app,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(1),
    )
    .await;
    // Login attempts are counted in Redis.
    let failed = rig.app.login("ann@x.io", zenzefi_tests::PASSWORD).await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status_of(&rig.app, "/health/live").await, StatusCode::OK);

    rig.redis.restore();
    let up = readiness_becomes(&rig.app, StatusCode::OK, Duration::from_secs(1)).await;
    let login = rig.app.login("ann@x.io", zenzefi_tests::PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    eprintln!("redis: 503 {down:?} after the cut, 200 {up:?} after recovery");
}

/// The upstream goes away for a second and comes back: proxied requests
/// fail meanwhile (502), and not one fails once it is back, although the
/// pooled connections to it all died.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_request_fails_once_a_restarted_upstream_is_back() {
    let Some(rig) = rig().await else {
        return;
    };
    let (_, token) = rig.app.token_holder("ann", "full").await;
    let warm = Traffic::start(&rig.app, &token, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (warm_answered, _, warm_errors) = warm.stop().await;
    assert_eq!(warm_errors, 0);

    rig.upstream.cut();
    let during = Traffic::start(&rig.app, &token, 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (down_answered, _, down_errors) = during.stop().await;
    assert_eq!(
        down_errors, down_answered,
        "every request failed while the upstream was away"
    );

    rig.upstream.restore();
    let after = Traffic::start(&rig.app, &token, 4);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after_answered, _, after_errors) = after.stop().await;
    eprintln!(
        "upstream away 1 s: {warm_answered} ok before, {down_errors}/{down_answered} failed while away, \
         {after_errors}/{after_answered} failed after"
    );
    assert!(after_answered > 0);
    assert_eq!(after_errors, 0);
}
