//! The SPEC §14 query targets on the 10 M buckets of `just seed-usage`:
//! one token's 30 days by hour, and a top-50 over 24 h, each < 50 ms (p50
//! of 20) through the real store. Ignored unless run by `just bench-usage`,
//! which names the seeded database in `USAGE_BENCH_DATABASE_URL`.

use std::future::Future;
use std::time::{Duration as StdDuration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zenzefi_domain::ports::UsageStore;
use zenzefi_domain::token::TokenId;
use zenzefi_domain::usage::{Granularity, TopBy, TopGroup, TopQuery, UsageQuery};
use zenzefi_persistence::{ConnectOptions, connect};

const RUNS: usize = 20;
const TARGET: StdDuration = StdDuration::from_millis(50);

async fn p50<F: Future<Output = usize>>(name: &str, run: impl Fn() -> F) -> StdDuration {
    let mut times = Vec::with_capacity(RUNS);
    let mut rows = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        rows = run().await;
        times.push(started.elapsed());
    }
    times.sort();
    let p50 = times[RUNS / 2];
    eprintln!(
        "{name}: p50 {p50:?}, min {:?}, max {:?} ({rows} rows)",
        times[0],
        times[RUNS - 1]
    );
    p50
}

#[tokio::test]
#[ignore = "needs the database of `just seed-usage`"]
async fn one_tokens_month_by_hour_and_a_daily_top_50_answer_within_50_ms() {
    let url = std::env::var("USAGE_BENCH_DATABASE_URL").expect("USAGE_BENCH_DATABASE_URL");
    let db = connect(&ConnectOptions {
        url,
        max_connections: 2,
        acquire_timeout: StdDuration::from_secs(5),
    })
    .await
    .unwrap();
    let rows = db
        .connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM usage_buckets",
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = rows.try_get("", "n").unwrap();
    eprintln!("usage_buckets: {n} rows");
    assert!(n >= 10_000_000, "seed first: just seed-usage");

    let now = OffsetDateTime::now_utc();
    let token = seeded_token(&db, 42).await;
    let month = UsageQuery {
        from: Granularity::Hour.floor(now - Duration::days(30)),
        to: now,
        granularity: Granularity::Hour,
        user_id: None,
        token_id: Some(token),
    };
    let series = p50("one token, 30 days by hour", || async {
        db.usage_series(&month).await.unwrap().len()
    })
    .await;
    let top = TopQuery {
        from: Granularity::Hour.floor(now - Duration::hours(24)),
        to: now,
        by: TopBy::Requests,
        group: TopGroup::Token,
        limit: 50,
    };
    let top50 = p50("top 50 tokens over 24 h", || async {
        db.usage_top(&top).await.unwrap().len()
    })
    .await;
    let top_users = TopQuery {
        group: TopGroup::User,
        by: TopBy::Bytes,
        ..top.clone()
    };
    p50("top 50 users by bytes over 24 h", || async {
        db.usage_top(&top_users).await.unwrap().len()
    })
    .await;
    assert!(series < TARGET, "{series:?}");
    assert!(top50 < TARGET, "{top50:?}");
}

/// The seed's token `n`: its id is `md5('token<n>')` as a UUID.
async fn seeded_token(db: &zenzefi_persistence::SeaDatabase, n: u32) -> TokenId {
    let row = db
        .connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT md5('token{n}')::uuid AS id"),
        ))
        .await
        .unwrap()
        .unwrap();
    TokenId(row.try_get::<Uuid>("", "id").unwrap())
}
