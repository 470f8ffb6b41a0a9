//! `RetentionStore`'s clean-ups for the worker: old audit entries deleted
//! oldest first and stale pending deposits canceled, each in bounded
//! batches, and nothing else touched.

use futures::TryStreamExt;
use time::{Duration, OffsetDateTime};
use zenzefi_domain::admin::AuditFilter;
use zenzefi_domain::audit::AuditAction;
use zenzefi_domain::ledger::{EntryId, EntryKind, EntryStatus, LedgerEntry};
use zenzefi_domain::ports::Database;
use zenzefi_domain::{Money, RequestContext};

use super::audit::audit_entry;
use super::stored_user;

pub async fn old_audit_entries_are_deleted_oldest_first_in_batches(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ctx = RequestContext::default();
    let at = |i: i64| t + Duration::milliseconds(300 * i);
    let uow = db.begin().await.unwrap();
    for i in (0..10).rev() {
        uow.append_audit(&audit_entry(None, AuditAction::AuthLogin, at(i), &ctx))
            .await
            .unwrap();
    }
    uow.commit().await.unwrap();
    let cutoff = at(7);
    let left = || async {
        let mut times: Vec<OffsetDateTime> = db
            .export_audit(AuditFilter::default())
            .map_ok(|r| r.entry.created_at)
            .try_collect()
            .await
            .unwrap();
        times.reverse();
        times
    };

    assert_eq!(db.delete_audit_before(cutoff, 3).await.unwrap(), 3);
    assert_eq!(left().await.first(), Some(&at(3)));
    assert_eq!(db.delete_audit_before(cutoff, 3).await.unwrap(), 3);
    assert_eq!(db.delete_audit_before(cutoff, 3).await.unwrap(), 1);
    assert_eq!(db.delete_audit_before(cutoff, 3).await.unwrap(), 0);
    assert_eq!(left().await, [at(7), at(8), at(9)]);
}

pub async fn stale_pending_deposits_are_canceled_in_batches_and_nothing_else(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let mut n = 0;
    let mut entry = |millis: i64, kind: EntryKind, status: EntryStatus| {
        n += 1;
        LedgerEntry {
            id: EntryId::generate(),
            user_id: ann.id,
            amount: Money::from_cents(500),
            kind,
            status,
            description: format!("{kind} {n}"),
            payment_id: Some(format!("pay-{n}")),
            created_at: t + Duration::milliseconds(millis),
            updated_at: t + Duration::milliseconds(millis),
        }
    };
    let stale: Vec<LedgerEntry> = (0..5)
        .map(|i| entry(i * 100, EntryKind::Deposit, EntryStatus::Pending))
        .collect();
    let fresh = entry(2_000, EntryKind::Deposit, EntryStatus::Pending);
    let settled = entry(0, EntryKind::Deposit, EntryStatus::Succeeded);
    let adjustment = entry(0, EntryKind::Adjustment, EntryStatus::Pending);
    for e in stale.iter().chain([&fresh, &settled, &adjustment]) {
        db.insert_entry(e).await.unwrap();
    }
    let cutoff = t + Duration::seconds(1);
    let later = t + Duration::minutes(5);
    let stored = |e: &LedgerEntry| {
        let payment_id = e.payment_id.clone().unwrap();
        async move { db.entry_by_payment_id(&payment_id).await.unwrap() }
    };

    // 5 rows in batches of 2: 2 + 2 + 1.
    assert_eq!(db.cancel_pending_before(cutoff, later, 2).await.unwrap(), 5);
    for e in &stale {
        let canceled = LedgerEntry {
            status: EntryStatus::Canceled,
            updated_at: later,
            ..e.clone()
        };
        assert_eq!(stored(e).await, Some(canceled));
    }
    for untouched in [&fresh, &settled, &adjustment] {
        assert_eq!(stored(untouched).await.as_ref(), Some(untouched));
    }
    assert_eq!(db.cancel_pending_before(cutoff, later, 2).await.unwrap(), 0);
    assert_eq!(
        db.cancel_pending_before(later, later, 1).await.unwrap(),
        1,
        "the fresh deposit, once it is old enough"
    );
}
