//! The store adapter suite, run against SQLite and against PostgreSQL.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::json;
use time::{Duration, OffsetDateTime};
use zenzefi_domain::Money;
use zenzefi_domain::RequestContext;
use zenzefi_domain::audit::{AuditAction, AuditEntry, ResourceType};
use zenzefi_domain::ledger::{EntryKind, EntryStatus, LedgerEntry};
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::{
    Database, InsertSessionError, InsertUserError, JobRuns, LedgerStore, SessionStore, TokenStore,
    UserStore,
};
use zenzefi_domain::session::{EndReason, ProxySession, SessionActivity, SessionId};
use zenzefi_domain::token::{AccessToken, Scope, TokenId, TokenSecret};
use zenzefi_domain::user::{Email, User, UserId, Username};
use zenzefi_persistence::testing::TestDatabase;
use zenzefi_testkit::fixtures::{self, ended, session};

/// Now, in whole seconds: keeps round-trip comparisons exact on both
/// backends (PostgreSQL stores microseconds).
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

/// A user created now, to the whole second.
fn user(name: &str) -> User {
    fixtures::user(name, now())
}

fn audit(actor: &User) -> AuditEntry {
    let ctx = RequestContext {
        ip: Some("203.0.113.9".parse::<IpAddr>().unwrap()),
        user_agent: Some("suite".into()),
        request_id: Some("req-42".into()),
    };
    AuditEntry::new(
        AuditAction::AuthRegister,
        ResourceType::User,
        Some(actor.id.0),
        Some(actor.id),
        json!({ "email": actor.email.as_str() }),
        &ctx,
        actor.created_at,
    )
}

async fn users_round_trip(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = user("Ann");
    db.insert_user(&ann).await.unwrap();
    assert_eq!(db.user_by_id(ann.id).await.unwrap(), Some(ann.clone()));
    let by_email = db
        .user_by_email(&Email::parse("ANN@x.io").unwrap())
        .await
        .unwrap();
    assert_eq!(by_email.map(|u| u.id), Some(ann.id));
    assert_eq!(db.user_by_id(UserId::generate()).await.unwrap(), None);
}

async fn duplicates_are_reported_by_field(test_db: &TestDatabase) {
    let db = test_db.db();
    db.insert_user(&user("ann")).await.unwrap();
    let same_email = User {
        username: Username::parse("other").unwrap(),
        ..user("ann")
    };
    let err = db.insert_user(&same_email).await.unwrap_err();
    assert!(matches!(err, InsertUserError::EmailTaken), "{err:?}");
    let same_username = User {
        email: Email::parse("bob@x.io").unwrap(),
        ..user("ANN")
    };
    let err = db.insert_user(&same_username).await.unwrap_err();
    assert!(matches!(err, InsertUserError::UsernameTaken), "{err:?}");
}

async fn update_writes_flags_but_never_the_balance(test_db: &TestDatabase) {
    let db = test_db.db();
    let mut ann = user("ann");
    db.insert_user(&ann).await.unwrap();
    ann.is_superuser = true;
    ann.is_active = false;
    ann.balance = Money::from_cents(999);
    db.update_user(&ann).await.unwrap();
    let stored = db.user_by_id(ann.id).await.unwrap().unwrap();
    assert!(stored.is_superuser && !stored.is_active);
    assert_eq!(stored.balance, Money::ZERO);
}

async fn dropped_unit_of_work_rolls_back(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = user("ann");
    {
        let uow = db.begin().await.unwrap();
        uow.insert_user(&ann).await.unwrap();
        uow.append_audit(&audit(&ann)).await.unwrap();
        assert!(
            uow.user_by_id(ann.id).await.unwrap().is_some(),
            "visible inside"
        );
    }
    assert_eq!(db.user_by_id(ann.id).await.unwrap(), None);
    assert!(test_db.audit_rows().await.is_empty());
}

async fn committed_unit_of_work_keeps_every_write(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = user("ann");
    let uow = db.begin().await.unwrap();
    uow.insert_user(&ann).await.unwrap();
    uow.append_audit(&audit(&ann)).await.unwrap();
    uow.commit().await.unwrap();
    assert!(db.user_by_id(ann.id).await.unwrap().is_some());
    assert_eq!(
        test_db
            .audit_rows()
            .await
            .iter()
            .map(|row| (
                row.action.as_str(),
                row.ip.as_deref(),
                row.request_id.as_deref()
            ))
            .collect::<Vec<_>>(),
        [("auth_register", Some("203.0.113.9"), Some("req-42"))]
    );
}

async fn failed_write_inside_a_unit_of_work_leaves_nothing(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = user("ann");
    db.insert_user(&ann).await.unwrap();
    let uow = db.begin().await.unwrap();
    uow.append_audit(&audit(&ann)).await.unwrap();
    let same_email = User {
        username: Username::parse("ann2").unwrap(),
        ..user("ann")
    };
    assert!(uow.insert_user(&same_email).await.is_err());
    drop(uow);
    assert!(test_db.audit_rows().await.is_empty());
}

/// A user stored in the database, for the rows that reference one.
async fn stored_user(test_db: &TestDatabase, name: &str) -> User {
    let user = user(name);
    test_db.db().insert_user(&user).await.unwrap();
    user
}

fn entry(owner: &User, cents: i64, kind: EntryKind, at: OffsetDateTime) -> LedgerEntry {
    LedgerEntry::settled(
        owner.id,
        Money::from_cents(cents),
        kind,
        format!("{kind} of {cents}"),
        at,
    )
}

fn pending_deposit(owner: &User, cents: i64, payment_id: &str) -> LedgerEntry {
    LedgerEntry {
        status: EntryStatus::Pending,
        payment_id: Some(payment_id.to_owned()),
        ..entry(owner, cents, EntryKind::Deposit, now())
    }
}

async fn ledger_entries_round_trip(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let deposit = pending_deposit(&ann, 5000, "pay-1");
    let purchase = entry(
        &ann,
        -1800,
        EntryKind::Purchase,
        now() + Duration::seconds(1),
    );
    db.insert_entry(&deposit).await.unwrap();
    db.insert_entry(&purchase).await.unwrap();
    assert_eq!(
        db.entry_by_payment_id("pay-1").await.unwrap(),
        Some(deposit.clone())
    );
    assert_eq!(db.entry_by_payment_id("pay-2").await.unwrap(), None);
    let all = db
        .entries_of_user(ann.id, None, Page::default())
        .await
        .unwrap();
    assert_eq!(all.items, [purchase, deposit]);
}

async fn settle_pending_changes_an_entry_once(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let deposit = pending_deposit(&ann, 5000, "pay-1");
    db.insert_entry(&deposit).await.unwrap();
    let later = deposit.created_at + Duration::minutes(3);

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
    assert_eq!(
        db.settle_pending("pay-1", EntryStatus::Canceled, later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.entry_by_payment_id("pay-1").await.unwrap(),
        Some(expected)
    );
    assert_eq!(
        db.settle_pending("pay-2", EntryStatus::Succeeded, later)
            .await
            .unwrap(),
        None
    );
}

async fn entries_of_user_are_paged_newest_first_with_a_total(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let bob = stored_user(test_db, "bob").await;
    let start = now();
    // Fractions of one second on purpose: SQLite stores them as text of no
    // fixed width, which sorts wrongly unless compared as time.
    let at = |millis: i64| start + Duration::milliseconds(millis);
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

    let all = db
        .entries_of_user(ann.id, None, Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 5);
    assert_eq!(
        ids(all),
        [third.id, refund.id, second.id, first.id, deposit.id]
    );

    let window = Page {
        limit: 2,
        offset: 1,
    };
    let page = db.entries_of_user(ann.id, None, window).await.unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(ids(page), [refund.id, second.id]);

    let purchases = db
        .entries_of_user(ann.id, Some(EntryKind::Purchase), window)
        .await
        .unwrap();
    assert_eq!(purchases.total, 3);
    assert_eq!(ids(purchases), [second.id, first.id]);

    let none = db
        .entries_of_user(ann.id, Some(EntryKind::Adjustment), Page::default())
        .await
        .unwrap();
    assert_eq!((none.items.len(), none.total), (0, 0));
}

async fn adjust_balance_returns_the_new_balance_and_never_goes_negative(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let cents = Money::from_cents;
    assert_eq!(
        db.adjust_balance(ann.id, cents(500)).await.unwrap(),
        Some(cents(500))
    );
    assert_eq!(
        db.adjust_balance(ann.id, cents(-200)).await.unwrap(),
        Some(cents(300))
    );
    assert_eq!(db.adjust_balance(ann.id, cents(-301)).await.unwrap(), None);
    let stored = db.user_by_id(ann.id).await.unwrap().unwrap();
    assert_eq!(stored.balance, cents(300));
    assert_eq!(
        db.adjust_balance(ann.id, cents(-300)).await.unwrap(),
        Some(Money::ZERO)
    );
    assert_eq!(
        db.adjust_balance(UserId::generate(), cents(100))
            .await
            .unwrap(),
        None
    );
}

async fn credit_balance_stops_at_the_ceiling_without_overflowing(test_db: &TestDatabase) {
    let db = test_db.db();
    let cents = Money::from_cents;
    let ceiling = cents(1500);
    let ann = stored_user(test_db, "ann").await;
    let credit = |user, amount| db.credit_balance(user, cents(amount), ceiling);
    assert_eq!(credit(ann.id, 1000).await.unwrap(), Some(cents(1000)));
    assert_eq!(credit(ann.id, 501).await.unwrap(), None);
    assert_eq!(credit(ann.id, 500).await.unwrap(), Some(ceiling));
    assert_eq!(credit(ann.id, 1).await.unwrap(), None);
    let stored = db.user_by_id(ann.id).await.unwrap().unwrap();
    assert_eq!(stored.balance, ceiling);
    // A balance from before the ceiling, next to the largest BIGINT: the
    // refusal must come before any sum that would overflow.
    let bob = stored_user(test_db, "bob").await;
    let huge = cents(i64::MAX - 1);
    assert_eq!(db.adjust_balance(bob.id, huge).await.unwrap(), Some(huge));
    assert_eq!(credit(bob.id, 2).await.unwrap(), None);
    assert_eq!(credit(UserId::generate(), 1).await.unwrap(), None);
}

async fn tokens_round_trip_by_id_and_by_hash(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let fresh = fixtures::token(ann.id, 1, now());
    let used = AccessToken {
        scope: Scope::CertificatesOnly,
        activated_at: Some(now() - Duration::hours(1)),
        is_active: false,
        revoked_at: Some(now()),
        ..fixtures::token(ann.id, 2, now() - Duration::hours(2))
    };
    for t in [&fresh, &used] {
        db.insert_token(t).await.unwrap();
        assert_eq!(db.token_by_id(t.id).await.unwrap().as_ref(), Some(t));
        assert_eq!(
            db.token_by_hash(&t.token_hash).await.unwrap().as_ref(),
            Some(t)
        );
    }
    assert_eq!(db.token_by_id(TokenId::generate()).await.unwrap(), None);
    let unknown = TokenSecret::from_random([3; 32]).hash();
    assert_eq!(db.token_by_hash(&unknown).await.unwrap(), None);
}

async fn activate_token_sets_the_activation_once(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let fresh = fixtures::token(ann.id, 1, now());
    db.insert_token(&fresh).await.unwrap();
    let first = now() + Duration::minutes(1);

    let activated = db.activate_token(fresh.id, first).await.unwrap().unwrap();
    assert_eq!(activated.activated_at, Some(first));
    assert_eq!(activated.expires_at(), Some(first + Duration::hours(24)));
    let again = db
        .activate_token(fresh.id, first + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(again, Some(activated));
    assert_eq!(
        db.activate_token(TokenId::generate(), first).await.unwrap(),
        None
    );

    // The stored expiry is what "usable" filters on; exact to the second
    // here, and checked half a second either side.
    let expiry = first + Duration::hours(24);
    let usable = |at: OffsetDateTime| async move {
        db.tokens_of_user(ann.id, Some(at)).await.unwrap().len()
    };
    assert_eq!(usable(expiry - Duration::milliseconds(500)).await, 1);
    assert_eq!(usable(expiry).await, 0);
    assert_eq!(usable(expiry + Duration::milliseconds(500)).await, 0);
}

async fn revoke_token_succeeds_once(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let fresh = fixtures::token(ann.id, 1, now());
    db.insert_token(&fresh).await.unwrap();
    let at = now() + Duration::minutes(1);

    assert!(db.revoke_token(fresh.id, at).await.unwrap());
    assert!(!db.revoke_token(fresh.id, at).await.unwrap());
    let stored = db.token_by_id(fresh.id).await.unwrap().unwrap();
    assert!(!stored.is_active);
    assert_eq!(stored.revoked_at, Some(at));
    assert!(!db.revoke_token(TokenId::generate(), at).await.unwrap());
}

async fn tokens_of_user_with_a_time_are_only_the_usable_ones(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let bob = stored_user(test_db, "bob").await;
    let t = now();
    let fresh = fixtures::token(ann.id, 1, t - Duration::hours(1));
    let running = AccessToken {
        activated_at: Some(t - Duration::hours(2)),
        ..fixtures::token(ann.id, 2, t - Duration::hours(3))
    };
    let expired = AccessToken {
        activated_at: Some(t - Duration::hours(30)),
        ..fixtures::token(ann.id, 3, t - Duration::hours(31))
    };
    let revoked = AccessToken {
        is_active: false,
        revoked_at: Some(t - Duration::hours(4)),
        ..fixtures::token(ann.id, 4, t - Duration::hours(5))
    };
    let deactivated = AccessToken {
        is_active: false,
        ..fixtures::token(ann.id, 5, t - Duration::hours(6))
    };
    for tok in [
        &fresh,
        &running,
        &expired,
        &revoked,
        &deactivated,
        &fixtures::token(bob.id, 6, t),
    ] {
        db.insert_token(tok).await.unwrap();
    }
    let ids = |tokens: Vec<AccessToken>| tokens.into_iter().map(|t| t.id).collect::<Vec<_>>();

    assert_eq!(
        ids(db.tokens_of_user(ann.id, None).await.unwrap()),
        [fresh.id, running.id, revoked.id, deactivated.id, expired.id]
    );
    assert_eq!(
        ids(db.tokens_of_user(ann.id, Some(t)).await.unwrap()),
        [fresh.id, running.id]
    );
}

/// A fresh token of `owner`, stored.
async fn stored_token(test_db: &TestDatabase, owner: &User, seed: u8) -> AccessToken {
    let token = fixtures::token(owner.id, seed, now());
    test_db.db().insert_token(&token).await.unwrap();
    token
}

fn activity(
    session: &ProxySession,
    requests: u64,
    bytes: u64,
    at: OffsetDateTime,
    ip: &str,
    user_agent: Option<&str>,
) -> SessionActivity {
    SessionActivity {
        session_id: session.id,
        token_id: session.token_id,
        requests,
        bytes,
        last_activity: at,
        ip: ip.parse().unwrap(),
        user_agent: user_agent.map(str::to_owned),
    }
}

async fn sessions_round_trip(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let first = stored_token(test_db, &ann, 1).await;
    let second = stored_token(test_db, &ann, 2).await;
    let live = session(&first, "device-0001", now());
    let finished = ProxySession {
        ip: "2001:db8::7".parse().unwrap(),
        user_agent: None,
        bytes_transferred: 1 << 40,
        request_count: 12,
        ..ended(
            &session(&second, "device-0002", now() - Duration::hours(1)),
            EndReason::Terminated,
            now(),
        )
    };
    for s in [&live, &finished] {
        db.insert_session(s).await.unwrap();
        assert_eq!(db.session_by_id(s.id).await.unwrap().as_ref(), Some(s));
    }
    assert_eq!(
        db.live_session_of_token(first.id).await.unwrap(),
        Some(live)
    );
    assert_eq!(db.live_session_of_token(second.id).await.unwrap(), None);
    assert_eq!(db.session_by_id(SessionId::generate()).await.unwrap(), None);
}

async fn a_token_has_one_live_session_until_it_ends(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let token = stored_token(test_db, &ann, 1).await;
    let first = session(&token, "device-0001", now());
    let second = session(&token, "device-0002", now());
    db.insert_session(&first).await.unwrap();

    let err = db.insert_session(&second).await.unwrap_err();
    assert!(
        matches!(err, InsertSessionError::LiveSessionExists),
        "{err:?}"
    );
    let at = now() + Duration::minutes(1);
    assert!(
        db.end_session(first.id, EndReason::Terminated, at)
            .await
            .unwrap()
    );
    assert!(!db.end_session(first.id, EndReason::Idle, at).await.unwrap());
    assert!(
        !db.end_session(SessionId::generate(), EndReason::Idle, at)
            .await
            .unwrap()
    );
    assert_eq!(
        db.session_by_id(first.id).await.unwrap(),
        Some(ended(&first, EndReason::Terminated, at))
    );

    db.insert_session(&second).await.unwrap();
    assert_eq!(
        db.live_session_of_token(token.id).await.unwrap(),
        Some(second)
    );
}

async fn end_live_session_of_token_returns_the_session_it_ended(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let token = stored_token(test_db, &ann, 1).await;
    let at = now() + Duration::minutes(1);
    let end = || db.end_live_session_of_token(token.id, EndReason::Replaced, at);
    assert_eq!(end().await.unwrap(), None);

    let live = session(&token, "device-0001", now());
    db.insert_session(&live).await.unwrap();
    assert_eq!(end().await.unwrap(), Some(live.id));
    assert_eq!(end().await.unwrap(), None);
    assert_eq!(
        db.session_by_id(live.id).await.unwrap(),
        Some(ended(&live, EndReason::Replaced, at))
    );
    assert_eq!(db.live_session_of_token(token.id).await.unwrap(), None);
}

async fn end_stale_sessions_closes_idle_expired_and_revoked_ones(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let t = now();
    let idle_since = t - Duration::minutes(5);
    let token = |seed: u8| {
        let ann = &ann;
        async move { stored_token(test_db, ann, seed).await }
    };
    let (fresh, recent, idle, expired, revoked, deactivated, old) = (
        token(1).await,
        token(2).await,
        token(3).await,
        AccessToken {
            // Expires exactly now, which counts as expired.
            activated_at: Some(t - Duration::hours(24)),
            ..fixtures::token(ann.id, 4, t - Duration::hours(25))
        },
        AccessToken {
            is_active: false,
            revoked_at: Some(t - Duration::minutes(1)),
            ..fixtures::token(ann.id, 5, t - Duration::hours(1))
        },
        AccessToken {
            is_active: false,
            ..fixtures::token(ann.id, 6, t - Duration::hours(1))
        },
        token(7).await,
    );
    for tok in [&expired, &revoked, &deactivated] {
        db.insert_token(tok).await.unwrap();
    }
    // Half a second either side of the idle limit: SQLite must compare
    // these as time, not as text.
    let at = |tok: &AccessToken, last_activity: OffsetDateTime| ProxySession {
        last_activity,
        ..session(tok, "device-0001", t - Duration::hours(1))
    };
    let s_fresh = at(&fresh, t);
    let s_recent = at(&recent, idle_since + Duration::milliseconds(500));
    let s_idle = at(&idle, idle_since - Duration::milliseconds(500));
    let s_expired = at(&expired, t);
    let s_revoked = at(&revoked, t - Duration::hours(1));
    let s_deactivated = at(&deactivated, t);
    let s_old = ended(&at(&old, t - Duration::hours(1)), EndReason::Terminated, t);
    for s in [
        &s_fresh,
        &s_recent,
        &s_idle,
        &s_expired,
        &s_revoked,
        &s_deactivated,
        &s_old,
    ] {
        db.insert_session(s).await.unwrap();
    }

    assert_eq!(db.end_stale_sessions(idle_since, t).await.unwrap(), 4);
    for (s, expected) in [
        (&s_fresh, s_fresh.clone()),
        (&s_recent, s_recent.clone()),
        (&s_idle, ended(&s_idle, EndReason::Idle, t)),
        (&s_expired, ended(&s_expired, EndReason::Expired, t)),
        (&s_revoked, ended(&s_revoked, EndReason::Revoked, t)),
        (&s_deactivated, ended(&s_deactivated, EndReason::Revoked, t)),
        (&s_old, s_old.clone()),
    ] {
        assert_eq!(db.session_by_id(s.id).await.unwrap(), Some(expected));
    }
    assert_eq!(db.end_stale_sessions(idle_since, t).await.unwrap(), 0);
}

async fn record_activity_adds_counters_and_moves_times_forward_only(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let token = stored_token(test_db, &ann, 1).await;
    let other = stored_token(test_db, &ann, 2).await;
    let t = now();
    let live = session(&token, "device-0001", t);
    let gone = ended(&session(&other, "device-0002", t), EndReason::Terminated, t);
    db.insert_session(&live).await.unwrap();
    db.insert_session(&gone).await.unwrap();
    let later = |millis: i64| t + Duration::milliseconds(millis);
    db.record_activity(&[]).await.unwrap();

    db.record_activity(&[
        activity(&live, 2, 100, later(10_000), "2001:db8::1", Some("A/1")),
        activity(&gone, 1, 7, later(5_000), "203.0.113.8", None),
    ])
    .await
    .unwrap();
    // Flushed out of order: an older last activity must not win, but the
    // counters, the address and the agent are the new ones.
    db.record_activity(&[activity(&live, 3, 50, later(9_750), "198.51.100.4", None)])
        .await
        .unwrap();

    assert_eq!(
        db.session_by_id(live.id).await.unwrap(),
        Some(ProxySession {
            request_count: 5,
            bytes_transferred: 150,
            last_activity: later(10_000),
            ip: "198.51.100.4".parse().unwrap(),
            user_agent: None,
            ..live.clone()
        })
    );
    assert_eq!(
        db.session_by_id(gone.id).await.unwrap(),
        Some(ProxySession {
            request_count: 1,
            bytes_transferred: 7,
            last_activity: later(5_000),
            ip: "203.0.113.8".parse().unwrap(),
            user_agent: None,
            ..gone.clone()
        })
    );
    assert_eq!(
        test_db.token_last_used_at(token.id).await,
        Some(later(10_000))
    );
    assert_eq!(
        test_db.token_last_used_at(other.id).await,
        Some(later(5_000))
    );

    // Half a second into the stored whole second: later in time, though
    // SQLite's text would sort `…:10Z` after `…:10.5Z`.
    db.record_activity(&[activity(
        &live,
        1,
        1,
        later(10_500),
        "2001:db8::2",
        Some("B"),
    )])
    .await
    .unwrap();
    let stored = db.session_by_id(live.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.request_count, stored.last_activity, stored.ip),
        (6, later(10_500), "2001:db8::2".parse().unwrap())
    );
    assert_eq!(stored.user_agent.as_deref(), Some("B"));
    assert_eq!(
        test_db.token_last_used_at(token.id).await,
        Some(later(10_500))
    );
}

async fn sessions_of_user_are_paged_newest_first_with_a_total(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = stored_user(test_db, "ann").await;
    let bob = stored_user(test_db, "bob").await;
    let token = stored_token(test_db, &ann, 1).await;
    let bobs = stored_token(test_db, &bob, 2).await;
    let start = now();
    let at = |millis: i64| start + Duration::milliseconds(millis);
    // Made out of time order, so their UUIDv7 ids are too: the order must
    // come from started_at. Ended, so that one token can have several.
    let past = |millis| {
        ended(
            &session(&token, "device-0001", at(millis)),
            EndReason::Idle,
            at(millis),
        )
    };
    let third = session(&token, "device-0001", at(1000));
    let first = past(500);
    let second = past(550);
    let zeroth = past(0);
    for s in [&third, &first, &second, &zeroth] {
        db.insert_session(s).await.unwrap();
    }
    db.insert_session(&session(&bobs, "device-0009", at(2000)))
        .await
        .unwrap();
    let ids = |paged: Paged<ProxySession>| paged.items.iter().map(|s| s.id).collect::<Vec<_>>();

    let all = db.sessions_of_user(ann.id, Page::default()).await.unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(ids(all), [third.id, second.id, first.id, zeroth.id]);
    let window = Page {
        limit: 2,
        offset: 1,
    };
    let page = db.sessions_of_user(ann.id, window).await.unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(ids(page), [second.id, first.id]);
    let none = db
        .sessions_of_user(UserId::generate(), Page::default())
        .await
        .unwrap();
    assert_eq!((none.items.len(), none.total), (0, 0));
}

async fn an_occurrence_is_claimed_once(test_db: &TestDatabase) {
    let db = test_db.db();
    let at = now();
    assert!(db.claim_occurrence("session_cleanup", at).await.unwrap());
    assert!(!db.claim_occurrence("session_cleanup", at).await.unwrap());
    // The same instant written with another offset is the same occurrence.
    let elsewhere = at.to_offset(time::macros::offset!(+3));
    assert!(
        !db.claim_occurrence("session_cleanup", elsewhere)
            .await
            .unwrap()
    );
    let next = at + Duration::minutes(1);
    assert!(db.claim_occurrence("session_cleanup", next).await.unwrap());
    assert!(db.claim_occurrence("audit_retention", at).await.unwrap());
}

zenzefi_persistence::on_both_databases!(
    users_round_trip,
    duplicates_are_reported_by_field,
    update_writes_flags_but_never_the_balance,
    dropped_unit_of_work_rolls_back,
    committed_unit_of_work_keeps_every_write,
    failed_write_inside_a_unit_of_work_leaves_nothing,
    ledger_entries_round_trip,
    settle_pending_changes_an_entry_once,
    entries_of_user_are_paged_newest_first_with_a_total,
    adjust_balance_returns_the_new_balance_and_never_goes_negative,
    credit_balance_stops_at_the_ceiling_without_overflowing,
    tokens_round_trip_by_id_and_by_hash,
    activate_token_sets_the_activation_once,
    revoke_token_succeeds_once,
    tokens_of_user_with_a_time_are_only_the_usable_ones,
    sessions_round_trip,
    a_token_has_one_live_session_until_it_ends,
    end_live_session_of_token_returns_the_session_it_ended,
    end_stale_sessions_closes_idle_expired_and_revoked_ones,
    record_activity_adds_counters_and_moves_times_forward_only,
    sessions_of_user_are_paged_newest_first_with_a_total,
    an_occurrence_is_claimed_once,
);

/// Uniqueness holds under a race, not only when checked one by one.
#[tokio::test]
async fn concurrent_registrations_of_one_email_on_postgres_have_one_winner() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let db = Arc::new(test_db.db().clone());
    let attempts = (0..20).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let uow = db.begin().await.unwrap();
            let candidate = User {
                email: Email::parse("race@x.io").unwrap(),
                ..user(&format!("racer{i}"))
            };
            uow.insert_user(&candidate).await?;
            uow.commit().await.map_err(InsertUserError::from)
        })
    });
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => won += 1,
            Err(InsertUserError::EmailTaken) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
}

/// Of 200 concurrent purchases against a balance for 20, exactly 20 go
/// through, and the ledger still adds up to the balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_purchases_on_postgres_never_overdraw() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let price = Money::from_cents(1800);
    let ann = stored_user(&test_db, "ann").await;
    let db = Arc::new(test_db.db().clone());
    let uow = db.begin().await.unwrap();
    let credit = Money::from_cents(20 * price.cents());
    uow.adjust_balance(ann.id, credit).await.unwrap().unwrap();
    uow.insert_entry(&entry(&ann, credit.cents(), EntryKind::Deposit, now()))
        .await
        .unwrap();
    uow.commit().await.unwrap();

    let attempts = (0..200).map(|_| {
        let (db, ann) = (db.clone(), ann.clone());
        tokio::spawn(async move {
            let uow = db.begin().await.unwrap();
            if uow.adjust_balance(ann.id, -price).await.unwrap().is_none() {
                return false;
            }
            uow.insert_entry(&entry(&ann, -price.cents(), EntryKind::Purchase, now()))
                .await
                .unwrap();
            uow.commit().await.unwrap();
            true
        })
    });
    let mut bought = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        bought += usize::from(attempt.await.unwrap());
    }
    assert_eq!(bought, 20);

    let balance = db.user_by_id(ann.id).await.unwrap().unwrap().balance;
    assert_eq!(balance, Money::ZERO);
    let ledger = db
        .entries_of_user(
            ann.id,
            None,
            Page {
                limit: 100,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(ledger.total, 21);
    let sum: i64 = ledger
        .items
        .iter()
        .filter(|e| e.status == EntryStatus::Succeeded)
        .map(|e| e.amount.cents())
        .sum();
    assert_eq!(Money::from_cents(sum), balance);
}

/// Of 50 concurrent credits of 1.00 under a ceiling of 10.00, exactly 10
/// land: the ceiling is checked in the write, not before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_credits_on_postgres_never_pass_the_ceiling() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let (amount, ceiling) = (Money::from_cents(100), Money::from_cents(1000));
    let ann = stored_user(&test_db, "ann").await;
    let db = Arc::new(test_db.db().clone());
    let attempts = (0..50).map(|_| {
        let (db, ann) = (db.clone(), ann.clone());
        tokio::spawn(async move {
            let uow = db.begin().await.unwrap();
            let credited = uow.credit_balance(ann.id, amount, ceiling).await.unwrap();
            if credited.is_some() {
                uow.insert_entry(&entry(&ann, amount.cents(), EntryKind::Refund, now()))
                    .await
                    .unwrap();
                uow.commit().await.unwrap();
            }
            credited.is_some()
        })
    });
    let mut landed = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        landed += usize::from(attempt.await.unwrap());
    }
    assert_eq!(landed, 10);
    let balance = db.user_by_id(ann.id).await.unwrap().unwrap().balance;
    assert_eq!(balance, ceiling);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_settlements_on_postgres_settle_once() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let ann = stored_user(&test_db, "ann").await;
    let db = Arc::new(test_db.db().clone());
    db.insert_entry(&pending_deposit(&ann, 5000, "pay-1"))
        .await
        .unwrap();

    let attempts = (0..50).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            db.settle_pending("pay-1", EntryStatus::Succeeded, now())
                .await
                .unwrap()
        })
    });
    let mut settled = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        settled += usize::from(attempt.await.unwrap().is_some());
    }
    assert_eq!(settled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_activations_on_postgres_agree_on_activated_at() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let ann = stored_user(&test_db, "ann").await;
    let db = Arc::new(test_db.db().clone());
    let fresh = fixtures::token(ann.id, 1, now());
    db.insert_token(&fresh).await.unwrap();

    // Each call brings its own time, so two winners would show.
    let start = now();
    let attempts = (0..100).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let at = start + Duration::milliseconds(i);
            db.activate_token(fresh.id, at)
                .await
                .unwrap()
                .unwrap()
                .activated_at
        })
    });
    let mut seen = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        seen.push(attempt.await.unwrap());
    }
    let stored = db
        .token_by_id(fresh.id)
        .await
        .unwrap()
        .unwrap()
        .activated_at;
    assert!(stored.is_some());
    assert!(seen.iter().all(|at| *at == stored), "{seen:?}");
}

/// The partial unique index holds when devices race for a fresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sessions_for_one_token_on_postgres_have_one_winner() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let ann = stored_user(&test_db, "ann").await;
    let token = stored_token(&test_db, &ann, 1).await;
    let db = Arc::new(test_db.db().clone());
    let attempts = (0..20).map(|i| {
        let (db, candidate) = (
            db.clone(),
            session(&token, &format!("device-{i:04}"), now()),
        );
        tokio::spawn(async move { db.insert_session(&candidate).await })
    });
    let mut won = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.unwrap() {
            Ok(()) => won += 1,
            Err(InsertSessionError::LiveSessionExists) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert!(db.live_session_of_token(token.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_an_occurrence_on_postgres_have_one_winner() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let db = Arc::new(test_db.db().clone());
    let at = now();
    let attempts = (0..20).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { db.claim_occurrence("session_cleanup", at).await.unwrap() })
    });
    let mut won = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        won += usize::from(attempt.await.unwrap());
    }
    assert_eq!(won, 1);
}

/// A flush of 500 sessions lands whole. That it takes a constant number of
/// statements (one per table, below the chunk size) holds by construction
/// of `record_activity`; PostgreSQL's statistics count rows, not
/// statements, and pg_stat_statements is not available to check it here.
#[tokio::test]
async fn record_activity_of_500_sessions_on_postgres_lands_whole() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let db = test_db.db();
    let ann = stored_user(&test_db, "ann").await;
    let t = now();
    let mut sessions = Vec::new();
    for i in 0..500u16 {
        let mut secret = [0; 32];
        secret[..2].copy_from_slice(&i.to_be_bytes());
        let token = AccessToken::issue(
            ann.id,
            &TokenSecret::from_random(secret),
            24,
            Scope::Full,
            Money::from_cents(1800),
            t,
        );
        db.insert_token(&token).await.unwrap();
        let s = session(&token, "device-0001", t);
        db.insert_session(&s).await.unwrap();
        sessions.push(s);
    }
    let batch = |step: u64| {
        sessions
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let at = t + Duration::seconds(i64::try_from(step).unwrap());
                activity(s, step, i as u64, at, "203.0.113.1", Some("bulk"))
            })
            .collect::<Vec<_>>()
    };
    db.record_activity(&batch(1)).await.unwrap();
    db.record_activity(&batch(2)).await.unwrap();

    let all = db
        .sessions_of_user(
            ann.id,
            Page {
                limit: 1000,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.total, 500);
    for (i, s) in sessions.iter().enumerate() {
        let stored = all.items.iter().find(|x| x.id == s.id).unwrap();
        assert_eq!(
            (stored.request_count, stored.bytes_transferred),
            (3, 2 * i as u64)
        );
        assert_eq!(stored.last_activity, t + Duration::seconds(2));
        assert_eq!(
            test_db.token_last_used_at(s.token_id).await,
            Some(t + Duration::seconds(2))
        );
    }
}
