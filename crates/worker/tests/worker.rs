//! The real `zenzefi-worker` binary against a real database: `run-once`,
//! the CLI's refusals, and two `run` replicas sharing one database.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use zenzefi_domain::audit::{AuditAction, AuditEntry, ResourceType};
use zenzefi_domain::ledger::{EntryKind, EntryStatus, LedgerEntry};
use zenzefi_domain::ports::{
    AuditStore, JobRuns, LedgerStore, SessionStore, TokenStore, UserStore,
};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::{EndReason, ProxySession, SessionId};
use zenzefi_domain::token::AccessToken;
use zenzefi_domain::{Money, RequestContext};
use zenzefi_persistence::testing::TestDatabase;
use zenzefi_testkit::fixtures;

/// The binary with a clean environment: only the settings a test gives.
fn worker(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zenzefi-worker"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ZENZEFI") {
            command.env_remove(key);
        }
    }
    command
        .env_remove("RUST_LOG")
        // Away from any config/ directory of the checkout.
        .current_dir(std::env::temp_dir())
        .env("ZENZEFI__DATABASE__URL", database_url)
        .env("ZENZEFI__LOG__FORMAT", "json")
        .env(
            "ZENZEFI__LOG__LEVEL",
            "info,zenzefi_worker=debug,sqlx=warn,sea_orm=warn",
        );
    command
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

/// A live session of a fresh user's activated token, last active at `last_activity`.
async fn live_session(
    db: &TestDatabase,
    name: &str,
    seed: u8,
    last_activity: OffsetDateTime,
) -> ProxySession {
    let store = db.db();
    let bought = now() - time::Duration::hours(3);
    let user = fixtures::user(name, bought);
    store.insert_user(&user).await.unwrap();
    let token = AccessToken {
        activated_at: Some(bought),
        ..fixtures::token(user.id, seed, bought)
    };
    store.insert_token(&token).await.unwrap();
    let session = ProxySession {
        id: SessionId::generate(),
        user_id: user.id,
        token_id: token.id,
        device_id: DeviceId::parse(&format!("device-{name}")).unwrap(),
        ip: "203.0.113.7".parse().unwrap(),
        user_agent: Some("ZenzefiClient/1.0".into()),
        started_at: bought,
        last_activity,
        ended_at: None,
        end_reason: None,
        bytes_transferred: 0,
        request_count: 1,
        is_active: true,
    };
    store.insert_session(&session).await.unwrap();
    session
}

async fn run_once_session_cleanup_closes_idle_sessions(db: TestDatabase) {
    let idle = live_session(&db, "idler", 1, now() - time::Duration::hours(2)).await;
    let busy = live_session(&db, "busy", 2, now() - time::Duration::minutes(1)).await;

    let output = worker(db.url())
        .args(["run-once", "session_cleanup"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains(r#""effect":"sessions_closed","count":1"#),
        "{stdout}"
    );

    let idle = db.db().session_by_id(idle.id).await.unwrap().unwrap();
    assert!(!idle.is_active);
    assert_eq!(idle.end_reason, Some(EndReason::Idle));
    assert!(idle.ended_at.is_some());
    let busy = db.db().session_by_id(busy.id).await.unwrap().unwrap();
    assert!(busy.is_active);
    assert_eq!(busy.end_reason, None);
}

#[tokio::test]
async fn run_once_session_cleanup_closes_idle_sessions_on_sqlite() {
    run_once_session_cleanup_closes_idle_sessions(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn run_once_session_cleanup_closes_idle_sessions_on_postgres() {
    if let Some(db) = TestDatabase::postgres().await {
        run_once_session_cleanup_closes_idle_sessions(db).await;
    }
}

/// Runs `job` once against `db` and returns its JSON log.
fn run_once(db: &TestDatabase, job: &str) -> String {
    let output = worker(db.url()).args(["run-once", job]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}\n{stdout}", output.status);
    stdout
}

#[tokio::test]
async fn run_once_audit_retention_deletes_only_rows_past_retention() {
    let db = TestDatabase::sqlite().await;
    let store = db.db();
    let user = fixtures::user("ann", now());
    store.insert_user(&user).await.unwrap();
    for age_days in [45, 31, 29, 1] {
        let entry = AuditEntry::new(
            AuditAction::AuthLogin,
            ResourceType::User,
            Some(user.id.0),
            Some(user.id),
            serde_json::json!({ "success": true }),
            &RequestContext::default(),
            now() - time::Duration::days(age_days),
        );
        store.append_audit(&entry).await.unwrap();
    }
    let log = run_once(&db, "audit_retention");
    assert!(
        log.contains(r#""effect":"rows_deleted","count":2"#),
        "{log}"
    );
    assert_eq!(db.audit_rows().await.len(), 2, "30 days are kept");
}

async fn run_once_usage_rollup_folds_without_changing_totals(db: TestDatabase) {
    use zenzefi_domain::ports::UsageStore;
    use zenzefi_domain::usage::{Granularity, UsageBucket, UsageCounts, UsageQuery};

    let store = db.db();
    let user = fixtures::user("ann", now());
    let token = fixtures::token(user.id, 1, now());
    let batch: Vec<UsageBucket> = [1, 47, 49, 24 * 91]
        .into_iter()
        .map(|hours_ago| UsageBucket {
            token_id: token.id,
            user_id: user.id,
            granularity: Granularity::Minute,
            start: Granularity::Minute.floor(now() - time::Duration::hours(hours_ago)),
            counts: UsageCounts {
                requests: 10,
                ..UsageCounts::default()
            },
        })
        .collect();
    store.record_usage(&batch).await.unwrap();
    let total = || async {
        let query = UsageQuery {
            from: now() - time::Duration::days(200),
            to: now() + time::Duration::days(1),
            granularity: Granularity::Day,
            user_id: None,
            token_id: None,
        };
        let series = store.usage_series(&query).await.unwrap();
        series.iter().map(|p| p.counts.requests).sum::<u64>()
    };
    assert_eq!(total().await, 40);
    let log = run_once(&db, "usage_rollup");
    // Two minutes past 48 h, one hour past 90 days.
    assert!(
        log.contains(r#""effect":"usage_buckets_rolled","count":3"#),
        "{log}"
    );
    assert_eq!(total().await, 40);
}

#[tokio::test]
async fn run_once_usage_rollup_folds_without_changing_totals_on_sqlite() {
    run_once_usage_rollup_folds_without_changing_totals(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn run_once_usage_rollup_folds_without_changing_totals_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    run_once_usage_rollup_folds_without_changing_totals(db).await;
}

#[tokio::test]
async fn run_once_pending_payment_expiry_cancels_day_old_deposits() {
    let db = TestDatabase::sqlite().await;
    let store = db.db();
    let user = fixtures::user("ann", now());
    store.insert_user(&user).await.unwrap();
    let deposit = |age: time::Duration, payment_id: &str| LedgerEntry {
        status: EntryStatus::Pending,
        payment_id: Some(payment_id.to_owned()),
        ..LedgerEntry::settled(
            user.id,
            Money::from_cents(1000),
            EntryKind::Deposit,
            "Deposit".into(),
            now() - age,
        )
    };
    store
        .insert_entry(&deposit(time::Duration::hours(25), "old"))
        .await
        .unwrap();
    store
        .insert_entry(&deposit(time::Duration::hours(1), "new"))
        .await
        .unwrap();
    let log = run_once(&db, "pending_payment_expiry");
    assert!(
        log.contains(r#""effect":"deposits_canceled","count":1"#),
        "{log}"
    );
    let old = store.entry_by_payment_id("old").await.unwrap().unwrap();
    let new = store.entry_by_payment_id("new").await.unwrap().unwrap();
    assert_eq!(
        (old.status, new.status),
        (EntryStatus::Canceled, EntryStatus::Pending)
    );
}

#[test]
fn run_once_with_an_unknown_job_lists_the_known_jobs_and_exits_2() {
    let output = worker("sqlite::memory:")
        .args(["run-once", "vacuum"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("vacuum"), "{stderr}");
    assert!(stderr.contains("session_cleanup"), "{stderr}");
}

#[test]
fn run_once_fails_with_exit_code_1_when_the_schema_is_missing() {
    // The worker never migrates; an empty database makes the job fail.
    let output = worker("sqlite::memory:")
        .args(["run-once", "session_cleanup"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("job run failed"), "{stdout}");
}

#[test]
fn run_refuses_an_invalid_schedule_naming_the_setting() {
    let output = worker("sqlite::memory:")
        .env("ZENZEFI__WORKER__SESSION_CLEANUP_CRON", "*/15 * * * *")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("worker.session_cleanup_cron"), "{stderr}");
}

/// A `zenzefi-worker run` process, killed if the test fails before it stops.
struct Replica {
    child: Child,
    metrics: SocketAddr,
    log: PathBuf,
}

impl Replica {
    fn spawn(database_url: &str, cron: &str) -> Self {
        let metrics = free_local_addr();
        let log = std::env::temp_dir().join(format!(
            "zenzefi-worker-test-{}-{}.log",
            std::process::id(),
            metrics.port()
        ));
        let file = std::fs::File::create(&log).unwrap();
        let child = worker(database_url)
            .arg("run")
            .env("ZENZEFI__WORKER__SESSION_CLEANUP_CRON", cron)
            .env("ZENZEFI__WORKER__METRICS_BIND", metrics.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        Self {
            child,
            metrics,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_serving(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        while scrape(self.metrics).is_none() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the worker exited early ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no /metrics after {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn metrics(&self) -> String {
        scrape(self.metrics).unwrap_or_else(|| panic!("no /metrics:\n{}", self.log()))
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {within:?} after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn free_local_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The body of `GET /metrics`, or `None` while nothing answers.
fn scrape(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// `zenzefi_job_runs_total{job="session_cleanup",outcome=...}` in `text`.
fn runs(text: &str, outcome: &str) -> u64 {
    let series = format!(r#"zenzefi_job_runs_total{{job="session_cleanup",outcome="{outcome}"}} "#);
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}

/// Sleeps into the middle of the next second, away from every-second ticks.
fn sleep_to_mid_second() {
    let nanos = OffsetDateTime::now_utc().nanosecond();
    let target = 450_000_000;
    let wait = if nanos < target {
        target - nanos
    } else {
        1_000_000_000 - nanos + target
    };
    std::thread::sleep(Duration::from_nanos(u64::from(wait)));
}

async fn two_replicas_run_each_occurrence_once(db: TestDatabase) {
    let first_possible = now() - time::Duration::seconds(1);
    let mut replicas = [
        Replica::spawn(db.url(), "* * * * * *"),
        Replica::spawn(db.url(), "* * * * * *"),
    ];
    for replica in &mut replicas {
        replica.wait_until_serving(Duration::from_secs(60));
    }
    std::thread::sleep(Duration::from_secs(3));
    // Ticks fire on the second and take milliseconds: scrape both replicas
    // and stop them between two ticks, so the scrapes see every claim.
    sleep_to_mid_second();
    let scrapes = replicas.each_ref().map(Replica::metrics);
    for replica in &replicas {
        replica.terminate();
    }
    for replica in &mut replicas {
        let status = replica.wait(Duration::from_secs(30));
        assert!(status.success(), "{status}:\n{}", replica.log());
        assert!(
            replica.log().contains("zenzefi-worker stopped"),
            "{}",
            replica.log()
        );
    }
    let last_possible = now() + time::Duration::seconds(1);

    let [a, b] = scrapes.each_ref().map(|text| {
        (
            runs(text, "success"),
            runs(text, "skipped"),
            runs(text, "failure"),
        )
    });
    assert_eq!(
        (a.2, b.2),
        (0, 0),
        "failures:\n{}\n{}",
        scrapes[0],
        scrapes[1]
    );
    // Each replica saw the ticks of the last seconds, and each of those
    // occurrences ran on one replica and was skipped on the other.
    assert!(a.0 + a.1 >= 3 && b.0 + b.1 >= 3, "{a:?} {b:?}");
    assert!(a.1 + b.1 >= 2, "{a:?} {b:?}");

    // Every occurrence the replicas claimed is taken; claiming the seconds
    // of the run again counts them.
    let mut claimed = 0;
    let mut second = first_possible;
    while second <= last_possible {
        if !db
            .db()
            .claim_occurrence("session_cleanup", second)
            .await
            .unwrap()
        {
            claimed += 1;
        }
        second += time::Duration::seconds(1);
    }
    assert_eq!(a.0 + b.0, claimed, "{a:?} {b:?}");
    let timed = r#"zenzefi_job_duration_seconds_count{job="session_cleanup"}"#;
    assert!(
        scrapes.iter().any(|text| text.contains(timed)),
        "{scrapes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_run_each_occurrence_once_on_sqlite() {
    two_replicas_run_each_occurrence_once(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_run_each_occurrence_once_on_postgres() {
    if let Some(db) = TestDatabase::postgres().await {
        two_replicas_run_each_occurrence_once(db).await;
    }
}
