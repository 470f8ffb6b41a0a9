//! Usage against the in-memory adapters with a manual clock: the rollup
//! moves buckets as time passes and changes no total; a failed flush
//! keeps its counts for the next one.

use std::sync::Arc;

use time::Duration;
use time::macros::datetime;
use uuid::Uuid;
use zenzefi_domain::ports::Clock;
use zenzefi_domain::token::TokenId;
use zenzefi_domain::usage::{
    Granularity, RefusalReason, Rollup, RollupReport, UsageCounts, UsageQuery, UsageRecorder,
    UsageRetention, UsageService,
};
use zenzefi_domain::user::UserId;
use zenzefi_memory::{InMemoryDatabase, ManualClock};
use zenzefi_testkit::failing::FailingDatabase;

/// More than every bucket ever kept.
const YEARS: Duration = Duration::days(1_400);

const RETENTION: UsageRetention = UsageRetention {
    minute_hours: 48,
    hour_days: 90,
    day_days: 730,
};

/// Everything recorded until `clock`'s now, as a series of `step`s over
/// the `span` before it.
async fn totals(
    db: &InMemoryDatabase,
    step: Granularity,
    span: Duration,
    clock: &ManualClock,
) -> UsageCounts {
    let now = clock.now();
    let query = UsageQuery::new(now - span, now + Duration::minutes(1), step, None, None).unwrap();
    UsageService::new(Arc::new(db.clone()))
        .series(query)
        .await
        .unwrap()
        .totals
}

#[tokio::test]
async fn the_rollup_over_months_changes_no_total() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
    let db = InMemoryDatabase::default();
    let recorder = UsageRecorder::new(clock.clone());
    let rollup = Rollup::new(Arc::new(db.clone()), clock.clone(), RETENTION);
    let (token, user) = (TokenId(Uuid::now_v7()), UserId(Uuid::now_v7()));
    let mut recorded = 0;
    let mut rolled = RollupReport::default();
    // Ten requests every 7 hours for 120 days, the rollup every hour.
    for step in 0..(120 * 24) {
        if step % 7 == 0 {
            for _ in 0..10 {
                recorder.record(token, user, |c| {
                    c.requests += 1;
                    c.count_refusal(RefusalReason::ScopeDenied);
                });
            }
            recorded += 10;
            recorder.flush_into(&db).await.unwrap();
        }
        let report = rollup.run().await.unwrap();
        rolled.minutes_deleted += report.minutes_deleted;
        rolled.hours_folded += report.hours_folded;
        assert_eq!(
            totals(&db, Granularity::Day, YEARS, &clock).await.requests,
            recorded
        );
        clock.advance(Duration::hours(1));
    }
    assert!(
        rolled.minutes_deleted > 0 && rolled.hours_folded > 0,
        "{rolled:?}"
    );
    let left = totals(&db, Granularity::Day, YEARS, &clock).await;
    assert_eq!(left.requests, recorded);
    assert_eq!(left.refusal(RefusalReason::ScopeDenied), recorded);
    // Past the day retention, everything goes.
    clock.advance(Duration::days(731));
    rollup.run().await.unwrap();
    assert_eq!(
        totals(&db, Granularity::Day, YEARS, &clock).await,
        UsageCounts::default()
    );
}

#[tokio::test]
async fn a_failed_flush_keeps_its_counts_for_the_next() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
    let db = InMemoryDatabase::default();
    let recorder = UsageRecorder::new(clock.clone());
    let (token, user) = (TokenId(Uuid::now_v7()), UserId(Uuid::now_v7()));
    recorder.record(token, user, |c| c.requests += 3);
    assert!(recorder.flush_into(&FailingDatabase::down()).await.is_err());
    assert_eq!(recorder.unwritten().requests, 3);
    recorder.record(token, user, |c| c.requests += 2);
    assert_eq!(recorder.flush_into(&db).await.unwrap(), 1);
    assert_eq!(recorder.unwritten(), UsageCounts::default());
    clock.advance(Duration::minutes(5));
    assert_eq!(
        totals(&db, Granularity::Minute, Duration::hours(1), &clock)
            .await
            .requests,
        5
    );
}
