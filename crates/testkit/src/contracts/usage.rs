//! `UsageStore`: flushed minute buckets add up at every step, folding
//! changes no total, and the top lists rank with the owner.

use time::{Duration, OffsetDateTime};
use zenzefi_domain::ports::Database;
use zenzefi_domain::token::AccessToken;
use zenzefi_domain::usage::{
    Granularity, RefusalReason, ResponseClass, TopBy, TopGroup, TopQuery, UsageBucket, UsageCounts,
    UsageQuery,
};
use zenzefi_domain::user::UserId;

use super::{stored_token, stored_user};

/// A minute bucket of `token` at `start` with `n` of everything: `n`
/// requests, `n` bytes each way, `n` of each class and reason.
fn minute(token: &AccessToken, start: OffsetDateTime, n: u64) -> UsageBucket {
    UsageBucket {
        token_id: token.id,
        user_id: token.user_id,
        granularity: Granularity::Minute,
        start,
        counts: UsageCounts {
            requests: n,
            bytes_in: n,
            bytes_out: 2 * n,
            responses: [n; 4],
            refused: [n; 7],
        },
    }
}

/// The sum over `[from, to)` at `step`, of `user` (everyone when `None`).
async fn total(
    db: &dyn Database,
    step: Granularity,
    from: OffsetDateTime,
    to: OffsetDateTime,
    user: Option<UserId>,
) -> UsageCounts {
    let query = UsageQuery {
        from,
        to,
        granularity: step,
        user_id: user,
        token_id: None,
    };
    let mut sum = UsageCounts::default();
    for point in db.usage_series(&query).await.unwrap() {
        assert_eq!(
            step.floor(point.t),
            point.t,
            "a step starts on its boundary"
        );
        sum.add(&point.counts);
    }
    sum
}

fn times(n: u64) -> UsageCounts {
    UsageCounts {
        requests: n,
        bytes_in: n,
        bytes_out: 2 * n,
        responses: [n; 4],
        refused: [n; 7],
    }
}

/// Two flushes touching the same minute add up; every step sees the same
/// totals, split by owner and token as asked.
pub async fn flushed_usage_adds_up_at_every_step(db: &dyn Database, t0: OffsetDateTime) {
    let ann = stored_user(db, "ann", t0).await;
    let bob = stored_user(db, "bob", t0).await;
    let a = stored_token(db, &ann, 1, t0).await;
    let b = stored_token(db, &bob, 2, t0).await;
    db.record_usage(&[minute(&a, t0, 1), minute(&b, t0, 5)])
        .await
        .unwrap();
    db.record_usage(&[
        minute(&a, t0, 2),
        minute(&a, t0 + Duration::minutes(1), 3),
        minute(&a, t0 + Duration::hours(2), 4),
    ])
    .await
    .unwrap();
    let (from, to) = (t0 - Duration::days(1), t0 + Duration::days(1));
    for step in Granularity::ALL {
        assert_eq!(
            total(db, step, from, to, Some(ann.id)).await,
            times(10),
            "{step:?}"
        );
        assert_eq!(total(db, step, from, to, None).await, times(15), "{step:?}");
    }
    let by_minute = UsageQuery {
        from: t0,
        to: t0 + Duration::minutes(2),
        granularity: Granularity::Minute,
        user_id: None,
        token_id: Some(a.id),
    };
    let points = db.usage_series(&by_minute).await.unwrap();
    let seen: Vec<_> = points.iter().map(|p| (p.t, p.counts.requests)).collect();
    assert_eq!(seen, [(t0, 3), (t0 + Duration::minutes(1), 3)]);
    let first = &points[0].counts;
    assert_eq!(first.response(ResponseClass::Server5xx), 3);
    assert_eq!(first.refusal(RefusalReason::RateLimited), 3);
}

/// Minutes dropped, hours folded into days, each once however often it
/// runs: the hour and day totals never move.
pub async fn folding_minutes_hours_and_days_changes_no_total(
    db: &dyn Database,
    t0: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t0).await;
    let a = stored_token(db, &ann, 1, t0).await;
    let b = stored_token(db, &ann, 2, t0).await;
    let mut batch = Vec::new();
    for hours_ago in [0, 1, 47, 49, 24 * 89, 24 * 91, 24 * 91 + 5, 24 * 200] {
        let at = t0 - Duration::hours(hours_ago) + Duration::minutes(7);
        batch.push(minute(&a, at, 1 + hours_ago as u64 % 7));
        batch.push(minute(&b, at, 2));
    }
    let expected = batch.iter().fold(UsageCounts::default(), |mut sum, b| {
        sum.add(&b.counts);
        sum
    });
    db.record_usage(&batch).await.unwrap();
    let (from, to) = (t0 - Duration::days(400), t0 + Duration::days(1));
    let check = || async {
        assert_eq!(total(db, Granularity::Hour, from, to, None).await, expected);
        assert_eq!(
            total(db, Granularity::Day, from, to, Some(ann.id)).await,
            expected
        );
    };
    check().await;
    for _ in 0..2 {
        db.delete_minutes_before(t0 - Duration::hours(48))
            .await
            .unwrap();
        check().await;
        db.fold_hours_before(Granularity::Day.floor(t0 - Duration::days(90)))
            .await
            .unwrap();
        check().await;
    }
    // Only the minutes of the last 48 hours are left.
    let minutes = total(db, Granularity::Minute, from, to, None).await;
    assert_eq!(minutes.requests, (1 + 2) + (2 + 2) + (6 + 2));
    // Day buckets past their retention go, and only they.
    let gone = db
        .delete_days_before(t0 - Duration::days(100))
        .await
        .unwrap();
    assert_eq!(gone, 2);
    let left = total(db, Granularity::Day, from, to, None).await;
    assert_eq!(left.requests, expected.requests - (1 + 24 * 200 % 7) - 2);
}

/// Tokens and users ranked by requests or bytes, with their owner, over
/// the hour buckets of the period only.
pub async fn the_top_ranks_tokens_or_users_with_their_owner(db: &dyn Database, t0: OffsetDateTime) {
    let ann = stored_user(db, "ann", t0).await;
    let bob = stored_user(db, "bob", t0).await;
    let a1 = stored_token(db, &ann, 1, t0).await;
    let a2 = stored_token(db, &ann, 2, t0).await;
    let b1 = stored_token(db, &bob, 3, t0).await;
    let mut heavy = minute(&b1, t0, 1);
    heavy.counts.bytes_out = 1_000;
    db.record_usage(&[
        minute(&a1, t0, 5),
        minute(&a2, t0 + Duration::hours(1), 4),
        heavy,
        // Outside the period.
        minute(&b1, t0 - Duration::hours(2), 100),
    ])
    .await
    .unwrap();
    let top = |by, group, limit| TopQuery {
        from: t0,
        to: t0 + Duration::hours(3),
        by,
        group,
        limit,
    };
    let tokens = db
        .usage_top(&top(TopBy::Requests, TopGroup::Token, 2))
        .await
        .unwrap();
    let ranked: Vec<_> = tokens.iter().map(|r| (r.token_id, r.requests)).collect();
    assert_eq!(ranked, [(Some(a1.id), 5), (Some(a2.id), 4)]);
    assert_eq!(
        tokens[0].token_prefix.as_deref(),
        Some(a1.token_prefix.as_str())
    );
    assert_eq!(tokens[0].user_username, "ann");
    let users = db
        .usage_top(&top(TopBy::Requests, TopGroup::User, 10))
        .await
        .unwrap();
    let ranked: Vec<_> = users
        .iter()
        .map(|r| (r.user_email.as_str(), r.token_id, r.requests))
        .collect();
    assert_eq!(ranked, [("ann@x.io", None, 9), ("bob@x.io", None, 1)]);
    let by_bytes = db
        .usage_top(&top(TopBy::Bytes, TopGroup::User, 1))
        .await
        .unwrap();
    assert_eq!(by_bytes[0].user_id, bob.id);
    assert_eq!((by_bytes[0].bytes_in, by_bytes[0].bytes_out), (1, 1_000));
}
