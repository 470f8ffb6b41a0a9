//! Lock order on PostgreSQL: the write-behind flush and the use-cases that
//! lock a token and its session take the rows in the same order, so they
//! wait for each other instead of deadlocking.

use std::time::Duration;

use time::OffsetDateTime;
use zenzefi_domain::ports::{SessionStore, TokenStore, Transactions, UserStore};
use zenzefi_domain::session::{EndReason, SessionActivity};
use zenzefi_persistence::testing::TestDatabase;
use zenzefi_testkit::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_waits_for_a_revocation_instead_of_deadlocking_with_it() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let db = test_db.db();
    let now = OffsetDateTime::now_utc();
    let user = fixtures::user("ann", now);
    db.insert_user(&user).await.unwrap();
    let token = fixtures::token(user.id, 1, now);
    db.insert_token(&token).await.unwrap();
    let session = fixtures::session(&token, "laptop-0001", now);
    db.insert_session(&session).await.unwrap();

    // A revocation holds the token's row...
    let revocation = db.begin().await.unwrap();
    assert!(revocation.revoke_token(token.id, now).await.unwrap());
    // ...while a flush of the session's counters starts...
    let flusher = db.clone();
    let activity = SessionActivity {
        session_id: session.id,
        token_id: token.id,
        requests: 3,
        bytes: 300,
        last_activity: now,
        ip: session.ip,
        user_agent: None,
    };
    let flush = tokio::spawn(async move { flusher.record_activity(&[activity]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...and then the revocation ends the session: both must go through.
    let ended = revocation
        .end_live_session_of_token(token.id, EndReason::Revoked, now)
        .await
        .unwrap();
    assert_eq!(ended, Some(session.id));
    revocation.commit().await.unwrap();
    flush.await.unwrap().unwrap();

    let stored = db.session_by_id(session.id).await.unwrap().unwrap();
    assert_eq!((stored.request_count, stored.bytes_transferred), (3, 300));
}
