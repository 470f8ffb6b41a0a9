//! `LedgerStore`: entries found by payment id, one entry per payment id,
//! pending entries settled once, a user's entries newest first, and a
//! balance that moves only by conditional writes and never below zero.

use time::{Duration, OffsetDateTime};
use zenzefi_domain::Money;
use zenzefi_domain::ledger::{EntryId, EntryKind, EntryStatus, LedgerEntry};
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::Database;
use zenzefi_domain::user::{User, UserId};

use super::stored_user;

/// A settled entry of `owner` for `cents`, made at `at`.
pub fn entry(owner: &User, cents: i64, kind: EntryKind, at: OffsetDateTime) -> LedgerEntry {
    LedgerEntry::settled(
        owner.id,
        Money::from_cents(cents),
        kind,
        format!("{kind} of {cents}"),
        at,
    )
}

/// A deposit of `owner` waiting for the payment `payment_id`.
pub fn pending_deposit(owner: &User, payment_id: &str, at: OffsetDateTime) -> LedgerEntry {
    LedgerEntry {
        status: EntryStatus::Pending,
        payment_id: Some(payment_id.to_owned()),
        ..entry(owner, 5000, EntryKind::Deposit, at)
    }
}

pub async fn an_entry_is_found_by_its_payment_id(db: &dyn Database, t: OffsetDateTime) {
    let ann = stored_user(db, "ann", t).await;
    let deposit = pending_deposit(&ann, "pay-1", t);
    db.insert_entry(&deposit).await.unwrap();
    db.insert_entry(&entry(&ann, -1800, EntryKind::Purchase, t))
        .await
        .unwrap();

    let found = db.entry_by_payment_id("pay-1").await.unwrap();
    assert_eq!(found, Some(deposit));
    assert_eq!(db.entry_by_payment_id("pay-2").await.unwrap(), None);
}

pub async fn a_second_entry_with_a_used_payment_id_is_refused(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let first = pending_deposit(&ann, "pay-1", t);
    db.insert_entry(&first).await.unwrap();
    let again = LedgerEntry {
        id: EntryId::generate(),
        ..pending_deposit(&ann, "pay-1", t)
    };
    assert!(db.insert_entry(&again).await.is_err());

    let all = db.entries_of_user(ann.id, None, Page::default()).await;
    assert_eq!(all.unwrap().items, [first]);
}

pub async fn a_pending_entry_is_settled_once(db: &dyn Database, t: OffsetDateTime) {
    let ann = stored_user(db, "ann", t).await;
    let deposit = pending_deposit(&ann, "pay-1", t);
    db.insert_entry(&deposit).await.unwrap();
    let settled_entry = LedgerEntry {
        payment_id: Some("pay-settled".into()),
        ..entry(&ann, 100, EntryKind::Deposit, t)
    };
    db.insert_entry(&settled_entry).await.unwrap();
    let later = t + Duration::minutes(3);

    let settled = db
        .settle_pending("pay-1", EntryStatus::Succeeded, later)
        .await
        .unwrap();
    let expected = LedgerEntry {
        status: EntryStatus::Succeeded,
        updated_at: later,
        ..deposit
    };
    assert_eq!(settled, Some(expected.clone()));
    let again = db.settle_pending("pay-1", EntryStatus::Canceled, later);
    assert_eq!(again.await.unwrap(), None);
    let stored = db.entry_by_payment_id("pay-1").await.unwrap();
    assert_eq!(stored, Some(expected));

    let never_pending = db.settle_pending("pay-settled", EntryStatus::Canceled, later);
    assert_eq!(never_pending.await.unwrap(), None);
    let stored = db.entry_by_payment_id("pay-settled").await.unwrap();
    assert_eq!(stored, Some(settled_entry));
    let unknown = db.settle_pending("pay-2", EntryStatus::Succeeded, later);
    assert_eq!(unknown.await.unwrap(), None);
}

pub async fn a_users_entries_are_newest_first_filtered_by_kind_and_paged(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let bob = stored_user(db, "bob", t).await;
    // Fractions of one second on purpose: SQLite stores them as text of no
    // fixed width, which sorts wrongly unless compared as time.
    let at = |millis: i64| t + Duration::milliseconds(millis);
    // Made, and so given their UUIDv7 ids, out of time order: the order
    // must come from created_at.
    let third = entry(&ann, -1800, EntryKind::Purchase, at(1000));
    let refund = entry(&ann, 900, EntryKind::Refund, at(700));
    let deposit = entry(&ann, 5000, EntryKind::Deposit, at(0));
    let second = entry(&ann, -1800, EntryKind::Purchase, at(550));
    let first = entry(&ann, -1800, EntryKind::Purchase, at(500));
    for e in [&third, &refund, &deposit, &second, &first] {
        db.insert_entry(e).await.unwrap();
    }
    db.insert_entry(&entry(&bob, 100, EntryKind::Deposit, at(2000)))
        .await
        .unwrap();
    let ids = |paged: Paged<LedgerEntry>| paged.items.iter().map(|e| e.id).collect::<Vec<_>>();

    let all = db.entries_of_user(ann.id, None, Page::default()).await;
    let all = all.unwrap();
    assert_eq!(all.total, 5);
    assert_eq!(all.items[1], refund);
    assert_eq!(
        ids(all),
        [third.id, refund.id, second.id, first.id, deposit.id]
    );

    let window = Page {
        limit: 2,
        offset: 1,
        ..Page::default()
    };
    let page = db.entries_of_user(ann.id, None, window).await.unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(ids(page), [refund.id, second.id]);

    let purchases = db.entries_of_user(ann.id, Some(EntryKind::Purchase), window);
    let purchases = purchases.await.unwrap();
    assert_eq!(purchases.total, 3);
    assert_eq!(ids(purchases), [second.id, first.id]);

    let none = db.entries_of_user(ann.id, Some(EntryKind::Adjustment), Page::default());
    let none = none.await.unwrap();
    assert_eq!((none.items.len(), none.total), (0, 0));
    let past_the_end = Page {
        limit: 10,
        offset: 10,
        ..Page::default()
    };
    let empty = db
        .entries_of_user(ann.id, None, past_the_end)
        .await
        .unwrap();
    assert_eq!((empty.items.len(), empty.total), (0, 5));
}

pub async fn a_balance_moves_by_the_delta_and_never_below_zero(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let cents = Money::from_cents;
    let adjust = |delta: i64| db.adjust_balance(ann.id, cents(delta));

    assert_eq!(adjust(500).await.unwrap(), Some(cents(500)));
    assert_eq!(adjust(-200).await.unwrap(), Some(cents(300)));
    assert_eq!(adjust(-301).await.unwrap(), None, "an overdraft is refused");
    let stored = db.user_by_id(ann.id).await.unwrap().unwrap();
    assert_eq!(stored.balance, cents(300), "a refusal changes nothing");
    assert_eq!(adjust(-300).await.unwrap(), Some(Money::ZERO));
    assert_eq!(adjust(-1).await.unwrap(), None);

    let missing = db.adjust_balance(UserId::generate(), cents(100)).await;
    assert_eq!(missing.unwrap(), None);
}

/// A credit lands only while the balance stays within the ceiling, and the
/// refusal comes before any sum that could overflow.
pub async fn a_credit_stops_at_the_ceiling_without_overflowing(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let cents = Money::from_cents;
    let ceiling = cents(1500);
    let ann = stored_user(db, "ann", t).await;
    let credit = |user, amount| db.credit_balance(user, cents(amount), ceiling);
    assert_eq!(credit(ann.id, 1000).await.unwrap(), Some(cents(1000)));
    assert_eq!(credit(ann.id, 501).await.unwrap(), None);
    assert_eq!(credit(ann.id, 500).await.unwrap(), Some(ceiling));
    assert_eq!(credit(ann.id, 1).await.unwrap(), None);
    let stored = db.user_by_id(ann.id).await.unwrap().unwrap();
    assert_eq!(stored.balance, ceiling);
    // A balance from before the ceiling, next to the largest BIGINT.
    let bob = stored_user(db, "bob", t).await;
    let huge = cents(i64::MAX - 1);
    assert_eq!(db.adjust_balance(bob.id, huge).await.unwrap(), Some(huge));
    assert_eq!(credit(bob.id, 2).await.unwrap(), None);
    assert_eq!(credit(UserId::generate(), 1).await.unwrap(), None);
}
