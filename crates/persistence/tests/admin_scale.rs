//! The audit trail at scale, on PostgreSQL: a million rows, listed, exported
//! and cut back by retention. A test binary of its own, so that the
//! process's memory is this test's alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use futures::TryStreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use time::{Duration, OffsetDateTime};
use zenzefi_domain::admin::{AuditFilter, UserFilter};
use zenzefi_domain::audit::AuditAction;
use zenzefi_domain::page::Page;
use zenzefi_domain::ports::{AdminQueries, RetentionStore};
use zenzefi_persistence::SeaDatabase;
use zenzefi_persistence::testing::TestDatabase;

const ROWS: i64 = 1_000_000;
const USERS: i64 = 1_000;
/// 60 days over a million rows.
const SPACING_MICROS: i64 = 60 * 86_400 * 1_000_000 / ROWS;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

/// 1 000 users, then a million audit rows in one statement: row `g` is
/// `ROWS + 1 - g` spacings before `base` (so the table is written oldest
/// first, as in life), by user `g / 10 % 1000` (every 97th anonymous),
/// with action `g % 10`; ids grow with time, as UUIDv7 do.
///
/// The secondary indexes and the foreign key are dropped for the load and
/// recreated from their stored definitions afterwards, which is several
/// times faster than maintaining them row by row. Then VACUUM ANALYZE:
/// autovacuum keeps an append-only table all-visible, which a fresh bulk
/// load is not until its first vacuum (counts would visit the heap).
async fn seed(conn: &DatabaseConnection, base: OffsetDateTime) {
    let users = format!(
        "INSERT INTO users (id, email, username, password_hash, is_active, is_superuser, \
         balance_cents, created_at, updated_at) \
         SELECT gen_random_uuid(), 'user' || g || '@x.io', 'user' || g, 'x', true, false, 0, $1, $1 \
         FROM generate_series(1, {USERS}) AS g"
    );
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        users,
        [base.into()],
    ))
    .await
    .unwrap();

    let indexes = definitions(
        conn,
        "SELECT indexname AS name, indexdef AS def FROM pg_indexes \
         WHERE tablename = 'audit_logs' AND indexname <> 'audit_logs_pkey'",
    )
    .await;
    let foreign_keys = definitions(
        conn,
        "SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint \
         WHERE conrelid = 'audit_logs'::regclass AND contype = 'f'",
    )
    .await;
    assert_eq!((indexes.len(), foreign_keys.len()), (4, 1));
    for (name, _) in &indexes {
        conn.execute_unprepared(&format!("DROP INDEX {name}"))
            .await
            .unwrap();
    }
    for (name, _) in &foreign_keys {
        conn.execute_unprepared(&format!("ALTER TABLE audit_logs DROP CONSTRAINT {name}"))
            .await
            .unwrap();
    }

    let actions = AuditAction::ALL
        .iter()
        .map(|a| format!("'{}'", a.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let n = AuditAction::ALL.len();
    let audit = format!(
        "INSERT INTO audit_logs (id, user_id, action, resource_type, resource_id, details, \
         ip_address, user_agent, request_id, created_at) \
         SELECT lpad(to_hex(g), 32, '0')::uuid, \
                CASE WHEN g % 97 = 0 THEN NULL ELSE u.ids[1 + (g / 10) % {USERS}] END, \
                (ARRAY[{actions}])[1 + g % {n}], \
                'user', NULL, jsonb_build_object('n', g), '203.0.113.9'::inet, 'scale', NULL, \
                $1::timestamptz - ({ROWS} + 1 - g) * interval '{SPACING_MICROS} microseconds' \
         FROM generate_series(1, {ROWS}) AS g, \
              (SELECT array_agg(id ORDER BY id) AS ids FROM users) AS u"
    );
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        audit,
        [base.into()],
    ))
    .await
    .unwrap();

    for (_, def) in &indexes {
        conn.execute_unprepared(def).await.unwrap();
    }
    for (name, def) in &foreign_keys {
        conn.execute_unprepared(&format!(
            "ALTER TABLE audit_logs ADD CONSTRAINT {name} {def}"
        ))
        .await
        .unwrap();
    }
    conn.execute_unprepared("VACUUM ANALYZE users")
        .await
        .unwrap();
    conn.execute_unprepared("VACUUM ANALYZE audit_logs")
        .await
        .unwrap();
}

/// `(name, def)` rows of a catalog query.
async fn definitions(conn: &DatabaseConnection, sql: &str) -> Vec<(String, String)> {
    conn.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                row.try_get("", "name").unwrap(),
                row.try_get("", "def").unwrap(),
            )
        })
        .collect()
}

/// The resident set of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// The first page of `filter`, three times: every latency, and the total
/// with whether it is an estimate.
async fn first_page_thrice(
    db: &SeaDatabase,
    filter: &AuditFilter,
) -> (Vec<StdDuration>, (u64, bool)) {
    let mut times = Vec::new();
    let mut total = (0, false);
    for _ in 0..3 {
        let started = Instant::now();
        let page = db.list_audit(filter, Page::default()).await.unwrap();
        times.push(started.elapsed());
        assert_eq!(page.items.len(), 50);
        total = (page.total, page.estimated);
    }
    (times, total)
}

/// `total` is an estimate within 10 % of `exact` (the planner samples).
fn near(total: (u64, bool), exact: u64) {
    let (total, estimated) = total;
    assert!(estimated, "{total} is marked as an estimate");
    assert!(total.abs_diff(exact) <= exact / 10, "{total} vs {exact}");
}

fn ms(d: StdDuration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn all_ms(times: &[StdDuration]) -> String {
    times.iter().map(|t| ms(*t)).collect::<Vec<_>>().join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_audit_rows_on_postgres_page_fast_export_flat_and_delete_in_batches() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let db = test_db.db().clone();
    let base = now();
    let started = Instant::now();
    seed(db.connection(), base).await;
    eprintln!("seed: {ROWS} audit rows in {}", ms(started.elapsed()));

    // (a) First pages; a total above 10 000 rows is the planner's estimate.
    let some_user = db
        .list_users(
            &UserFilter::default(),
            Page {
                limit: 1,
                offset: 0,
                ..Page::default()
            },
        )
        .await
        .unwrap()
        .items[0]
        .id;
    let by_action = AuditFilter {
        action: Some(AuditAction::TokenPurchase),
        ..AuditFilter::default()
    };
    let by_user = AuditFilter {
        user_id: Some(some_user),
        ..AuditFilter::default()
    };
    let (action_times, action_total) = first_page_thrice(&db, &by_action).await;
    let (user_times, user_total) = first_page_thrice(&db, &by_user).await;
    let (all_times, all_total) = first_page_thrice(&db, &AuditFilter::default()).await;
    eprintln!(
        "list_audit first page, action filter ({action_total:?} rows): {}",
        all_ms(&action_times)
    );
    eprintln!(
        "list_audit first page, user filter ({user_total:?} rows): {}",
        all_ms(&user_times)
    );
    eprintln!(
        "list_audit first page, no filter ({all_total:?} rows, not asserted): {}",
        all_ms(&all_times)
    );
    near(all_total, ROWS as u64);
    near(action_total, ROWS as u64 / AuditAction::ALL.len() as u64);
    assert!(!user_total.1, "a thousand rows are counted");
    let best = |times: &[StdDuration]| times.iter().copied().min().unwrap();
    assert!(best(&action_times) < StdDuration::from_millis(50));
    assert!(best(&user_times) < StdDuration::from_millis(50));

    // (b) Export everything while a thread samples the resident set.
    let before = rss_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = std::thread::spawn({
        let (peak, sampling) = (peak.clone(), sampling.clone());
        move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(StdDuration::from_millis(5));
            }
        }
    });
    let started = Instant::now();
    let mut exported = 0_u64;
    let mut previous: Option<(OffsetDateTime, uuid::Uuid)> = None;
    let mut rows = db.export_audit(AuditFilter::default());
    while let Some(record) = rows.try_next().await.unwrap() {
        let key = (record.entry.created_at, record.entry.id);
        assert!(
            previous.is_none_or(|p| key < p),
            "out of order at {exported}"
        );
        previous = Some(key);
        exported += 1;
    }
    let took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let growth_kib = peak.load(Ordering::Relaxed).saturating_sub(before);
    eprintln!(
        "export_audit: {exported} rows in {}, RSS before {before} KiB, peak growth {growth_kib} KiB ({:.1} MiB)",
        ms(took),
        growth_kib as f64 / 1024.0
    );
    assert_eq!(exported, ROWS as u64);
    assert!(growth_kib < 64 * 1024);

    // (c) Retention of the 900 000 oldest rows in batches of 5 000, with
    // operators paging meanwhile.
    let reading = Arc::new(AtomicBool::new(true));
    let reader = tokio::spawn({
        let (db, reading) = (db.clone(), reading.clone());
        let filters = [by_action.clone(), by_user.clone()];
        async move {
            let mut latencies = Vec::new();
            for filter in filters.iter().cycle() {
                if !reading.load(Ordering::Relaxed) {
                    break;
                }
                let started = Instant::now();
                db.list_audit(filter, Page::default()).await.unwrap();
                latencies.push(started.elapsed());
            }
            latencies
        }
    });
    // Rows up to g = 900 000 are older than this; g = 900 001 is at it.
    let cutoff = base - Duration::microseconds(SPACING_MICROS * (ROWS / 10));
    let started = Instant::now();
    let (mut batches, mut deleted) = (0, 0);
    loop {
        let n = db.delete_audit_before(cutoff, 5_000).await.unwrap();
        if n == 0 {
            break;
        }
        batches += 1;
        deleted += n;
    }
    let took = started.elapsed();
    reading.store(false, Ordering::Relaxed);
    let latencies = reader.await.unwrap();
    let max = latencies.iter().copied().max().unwrap_or_default();
    let avg = latencies.iter().sum::<StdDuration>() / latencies.len().max(1) as u32;
    eprintln!(
        "delete_audit_before: {deleted} rows in {batches} batches in {}; concurrent list_audit: {} pages, max {}, avg {}",
        ms(took),
        latencies.len(),
        ms(max),
        ms(avg)
    );
    assert_eq!(deleted, 900_000);
    // The estimate follows the statistics, which autovacuum would renew.
    db.connection()
        .execute_unprepared("ANALYZE audit_logs")
        .await
        .unwrap();
    let left = db
        .list_audit(&AuditFilter::default(), Page::default())
        .await
        .unwrap();
    near((left.total, left.estimated), 100_000);
    assert!(max < StdDuration::from_secs(1));
}
