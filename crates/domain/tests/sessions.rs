//! The session tracker against the in-memory adapters.

use std::sync::Arc;
use std::time::Duration;

use zenzefi_domain::audit::AuditAction;
use zenzefi_domain::page::Page;
use zenzefi_domain::ports::{
    AdmitError, Clock, ProxyExchange, SessionStore, SessionTracker, TokenStore, UserStore,
};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::EndReason;
use zenzefi_domain::sessions::{SessionPolicy, SessionService, TerminateError};
use zenzefi_domain::user::UserId;
use zenzefi_memory::{InMemoryDatabase, InMemorySessionClaims, SystemClock};
use zenzefi_testkit::fixtures;

struct Harness {
    db: InMemoryDatabase,
    sessions: SessionService,
}

fn harness(idle_timeout: Duration) -> Harness {
    let db = InMemoryDatabase::default();
    let sessions = SessionService::new(
        Arc::new(db.clone()),
        Arc::new(InMemorySessionClaims::default()),
        Arc::new(SystemClock),
        SessionPolicy {
            idle_timeout,
            claim_renew: idle_timeout / 10,
        },
    );
    Harness { db, sessions }
}

impl Harness {
    /// A user with one fresh token; the exchange template for its requests.
    async fn holder(&self) -> ProxyExchange {
        let now = SystemClock.now();
        let user = fixtures::user("ann", now);
        self.db.insert_user(&user).await.unwrap();
        let token = fixtures::token(user.id, 1, now);
        self.db.insert_token(&token).await.unwrap();
        ProxyExchange {
            user_id: user.id,
            token_id: token.id,
            device_id: DeviceId::parse("laptop-0001").unwrap(),
            ip: Some("192.0.2.1".parse().unwrap()),
            user_agent: Some("laptop".into()),
        }
    }

    async fn sessions_of(&self, user: UserId) -> Vec<zenzefi_domain::session::ProxySession> {
        self.sessions
            .sessions_of(user, Page::default())
            .await
            .unwrap()
            .items
    }
}

fn from(exchange: &ProxyExchange, device: &str) -> ProxyExchange {
    ProxyExchange {
        device_id: DeviceId::parse(device).unwrap(),
        ip: Some("198.51.100.2".parse().unwrap()),
        user_agent: Some(device.into()),
        ..exchange.clone()
    }
}

#[tokio::test]
async fn requests_of_one_device_share_a_session_and_its_counters() {
    let h = harness(Duration::from_secs(60));
    let laptop = h.holder().await;
    let first = h.sessions.admit(&laptop).await.unwrap();
    for bytes in [10, 20, 30] {
        let session = h.sessions.admit(&laptop).await.unwrap();
        assert_eq!(session, first);
        h.sessions.finished(&laptop, session, bytes);
    }
    assert_eq!(
        h.sessions_of(laptop.user_id).await[0].request_count,
        0,
        "not flushed yet"
    );
    assert_eq!(h.sessions.flush().await.unwrap(), 1, "one batch row");
    let stored = &h.sessions_of(laptop.user_id).await[0];
    assert_eq!((stored.request_count, stored.bytes_transferred), (3, 60));
    assert_eq!(h.sessions.flush().await.unwrap(), 0, "nothing left");
}

#[tokio::test]
async fn another_device_is_refused_and_the_conflict_audited() {
    let h = harness(Duration::from_secs(60));
    let laptop = h.holder().await;
    h.sessions.admit(&laptop).await.unwrap();
    let phone = from(&laptop, "phone-00001");
    assert!(matches!(
        h.sessions.admit(&phone).await,
        Err(AdmitError::DeviceConflict)
    ));
    let audit = h.db.audit_entries().await;
    let conflict = audit
        .iter()
        .find(|e| e.action == AuditAction::SessionDeviceConflict)
        .unwrap();
    assert_eq!(conflict.details["holder"]["device_id"], "laptop-0001");
    assert_eq!(conflict.details["holder"]["ip"], "192.0.2.1");
    assert_eq!(conflict.details["challenger"]["device_id"], "phone-00001");
    assert_eq!(conflict.details["challenger"]["ip"], "198.51.100.2");
}

#[tokio::test]
async fn an_idle_session_is_replaced_and_stale_ones_are_closed() {
    let h = harness(Duration::from_millis(100));
    let laptop = h.holder().await;
    let old = h.sessions.admit(&laptop).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let phone = from(&laptop, "phone-00001");
    let new = h.sessions.admit(&phone).await.unwrap();
    assert_ne!(old, new);
    let old = h.db.session_by_id(old).await.unwrap().unwrap();
    assert_eq!(old.end_reason, Some(EndReason::Replaced));

    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(h.sessions.close_stale().await.unwrap(), 1);
    let new = h.db.session_by_id(new).await.unwrap().unwrap();
    assert_eq!(
        (new.is_active, new.end_reason),
        (false, Some(EndReason::Idle))
    );
}

#[tokio::test]
async fn terminating_frees_the_token_for_another_device() {
    let h = harness(Duration::from_secs(60));
    let laptop = h.holder().await;
    let session = h.sessions.admit(&laptop).await.unwrap();
    let stranger = UserId::generate();
    assert!(matches!(
        h.sessions.terminate_own(stranger, session).await,
        Err(TerminateError::NotFound)
    ));
    h.sessions
        .terminate_own(laptop.user_id, session)
        .await
        .unwrap();
    let ended = h.db.session_by_id(session).await.unwrap().unwrap();
    assert_eq!(ended.end_reason, Some(EndReason::Terminated));
    let phone = from(&laptop, "phone-00001");
    h.sessions.admit(&phone).await.unwrap();
}
