//! What only the SQL stores can show: uniqueness and conditional writes
//! holding under real concurrency on PostgreSQL, and a flush at scale. The
//! ports' contracts themselves run from `contracts.rs`.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use zenzefi_domain::Money;
use zenzefi_domain::ledger::{EntryKind, EntryStatus};
use zenzefi_domain::page::Page;
use zenzefi_domain::ports::{
    InsertSessionError, InsertUserError, JobRuns, LedgerStore, SessionStore, TokenStore,
    Transactions, UserStore,
};
use zenzefi_domain::session::SessionActivity;
use zenzefi_domain::token::{AccessToken, Scope, TokenSecret};
use zenzefi_domain::user::{Email, User};
use zenzefi_persistence::testing::TestDatabase;
use zenzefi_testkit::contracts::ledger::{entry, pending_deposit};
use zenzefi_testkit::fixtures::{self, session};

/// Now, in whole seconds: keeps round-trip comparisons exact on both
/// backends (PostgreSQL stores microseconds).
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

/// A user created now, to the whole second.
fn user(name: &str) -> User {
    fixtures::user(name, now())
}

/// A user stored in the database, for the rows that reference one.
async fn stored_user(test_db: &TestDatabase, name: &str) -> User {
    let user = user(name);
    test_db.db().insert_user(&user).await.unwrap();
    user
}

/// A fresh token of `owner`, stored.
async fn stored_token(test_db: &TestDatabase, owner: &User, seed: u8) -> AccessToken {
    let token = fixtures::token(owner.id, seed, now());
    test_db.db().insert_token(&token).await.unwrap();
    token
}

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
                ..Page::default()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_settlements_on_postgres_settle_once() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let ann = stored_user(&test_db, "ann").await;
    let db = Arc::new(test_db.db().clone());
    db.insert_entry(&pending_deposit(&ann, "pay-1", now()))
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
                SessionActivity {
                    session_id: s.id,
                    token_id: s.token_id,
                    requests: step,
                    bytes: i as u64,
                    last_activity: at,
                    ip: "203.0.113.1".parse().unwrap(),
                    user_agent: Some("bulk".into()),
                }
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
                ..Page::default()
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
