//! Usage reaches the database in O(flushes) statements, not O(requests):
//! 100 000 recorded requests over 300 tokens and 20 flush intervals cost
//! one upsert per flush, and every request is in the totals.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zenzefi_domain::ports::{Clock, UsageStore};
use zenzefi_domain::token::TokenId;
use zenzefi_domain::usage::{Granularity, ResponseClass, UsageQuery, UsageRecorder};
use zenzefi_domain::user::UserId;
use zenzefi_persistence::testing::TestDatabase;

const FLUSHES: u64 = 20;
const REQUESTS_PER_INTERVAL: u64 = 5_000;
const TOKENS: u64 = 300;

struct SteppedClock(Mutex<OffsetDateTime>);

impl Clock for SteppedClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

async fn statements_stay_per_flush_not_per_request(test_db: TestDatabase) {
    let start = datetime!(2026-01-01 12:00 UTC);
    let clock = Arc::new(SteppedClock(Mutex::new(start)));
    let recorder = UsageRecorder::new(clock.clone());
    let (db, statements) = test_db.counting_statements_on("usage_buckets");
    let tokens: Vec<(TokenId, UserId)> = (0..TOKENS)
        .map(|_| (TokenId(Uuid::now_v7()), UserId(Uuid::now_v7())))
        .collect();
    for interval in 0..FLUSHES {
        for i in 0..REQUESTS_PER_INTERVAL {
            let (token, user) = tokens[((i * 7 + interval) % TOKENS) as usize];
            recorder.record(token, user, |c| {
                c.requests += 1;
                c.bytes_out += 10;
                c.count_response(ResponseClass::Success2xx);
            });
        }
        let before = statements.load(Ordering::Relaxed);
        recorder.flush_into(&db).await.unwrap();
        // 300 minute and at most 300 hour rows: one statement.
        assert_eq!(statements.load(Ordering::Relaxed) - before, 1);
        // A flush interval of 20 s: the minute changes every third one.
        *clock.0.lock().unwrap() += Duration::seconds(20);
    }
    let total = statements.load(Ordering::Relaxed);
    eprintln!(
        "{} requests over {FLUSHES} flushes → {total} usage statements",
        FLUSHES * REQUESTS_PER_INTERVAL
    );
    assert_eq!(total, FLUSHES);
    let series = db
        .usage_series(&UsageQuery {
            from: start,
            to: start + Duration::hours(1),
            granularity: Granularity::Minute,
            user_id: None,
            token_id: None,
        })
        .await
        .unwrap();
    let requests: u64 = series.iter().map(|p| p.counts.requests).sum();
    assert_eq!(requests, FLUSHES * REQUESTS_PER_INTERVAL);
    assert_eq!(series.len(), 7, "minutes 0–6 of the run");
}

#[tokio::test]
async fn usage_statements_stay_per_flush_not_per_request_on_sqlite() {
    statements_stay_per_flush_not_per_request(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn usage_statements_stay_per_flush_not_per_request_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    statements_stay_per_flush_not_per_request(db).await;
}
