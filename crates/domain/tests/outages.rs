//! The use-cases when the database fails: a flush loses no counter, and a
//! purchase or an operator's change that cannot commit leaves nothing
//! behind. `FailingDatabase::down()` fails every call;
//! `FailingDatabase::failing_commits` wraps the in-memory database and
//! fails only the commits, so a write made outside the unit of work would
//! show.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use zenzefi_crypto::OsEntropy;
use zenzefi_domain::admin::{AdminError, AdminService, UserPatch};
use zenzefi_domain::audit::AuditEntry;
use zenzefi_domain::balance::BalanceLimit;
use zenzefi_domain::context::RequestContext;
use zenzefi_domain::ledger::{EntryKind, LedgerEntry};
use zenzefi_domain::page::Page;
use zenzefi_domain::ports::{
    Clock, LedgerStore, ProxyExchange, SessionStore, SessionTracker, TokenStore, Transactions,
    UserStore,
};
use zenzefi_domain::pricing::Pricing;
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::ProxySession;
use zenzefi_domain::sessions::{SessionPolicy, SessionService};
use zenzefi_domain::token::AccessToken;
use zenzefi_domain::tokens::{PurchaseError, TokenOrder, TokenService};
use zenzefi_domain::user::User;
use zenzefi_domain::{Money, PortError};
use zenzefi_memory::{InMemoryDatabase, InMemorySessionClaims, InMemoryTokenCache, SystemClock};
use zenzefi_testkit::failing::FailingDatabase;
use zenzefi_testkit::fixtures;

fn ctx() -> RequestContext {
    RequestContext::default()
}

fn is_unavailable(err: &PortError) -> bool {
    matches!(err, PortError::Unavailable(_))
}

/// Ann, credited 50.00 through the ledger, with one token in a live
/// session: something for every use-case to change.
struct World {
    db: InMemoryDatabase,
    ann: User,
    token: AccessToken,
    session: ProxySession,
}

impl World {
    async fn new() -> Self {
        let db = InMemoryDatabase::default();
        let now = SystemClock.now();
        let ann = fixtures::user("ann", now);
        let credit = Money::from_cents(5000);
        let token = fixtures::token(ann.id, 1, now);
        let session = fixtures::session(&token, "laptop-0001", now);
        let uow = db.begin().await.unwrap();
        uow.insert_user(&ann).await.unwrap();
        uow.adjust_balance(ann.id, credit).await.unwrap().unwrap();
        uow.insert_entry(&LedgerEntry::settled(
            ann.id,
            credit,
            EntryKind::Deposit,
            "deposit".into(),
            now,
        ))
        .await
        .unwrap();
        uow.insert_token(&token).await.unwrap();
        uow.insert_session(&session).await.unwrap();
        uow.commit().await.unwrap();
        let ann = db.user_by_id(ann.id).await.unwrap().unwrap();
        Self {
            db,
            ann,
            token,
            session,
        }
    }

    /// The database behind a connection that drops at every commit.
    fn failing_commits(&self) -> Arc<FailingDatabase> {
        Arc::new(FailingDatabase::failing_commits(Arc::new(self.db.clone())))
    }

    /// Everything the use-cases below could write.
    async fn snapshot(&self) -> Snapshot {
        let id = self.ann.id;
        Snapshot {
            user: self.db.user_by_id(id).await.unwrap(),
            tokens: self.db.tokens_of_user(id, None).await.unwrap(),
            ledger: (self.db.entries_of_user(id, None, Page::default()).await)
                .unwrap()
                .items,
            sessions: (self.db.sessions_of_user(id, Page::default()).await)
                .unwrap()
                .items,
            audit: self.db.audit_entries().await,
        }
    }
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    user: Option<User>,
    tokens: Vec<AccessToken>,
    ledger: Vec<LedgerEntry>,
    sessions: Vec<ProxySession>,
    audit: Vec<AuditEntry>,
}

fn token_service(db: Arc<FailingDatabase>) -> TokenService {
    let prices = BTreeMap::from([(24, Money::from_cents(1800))]);
    TokenService::new(
        db,
        Arc::new(InMemoryTokenCache::default()),
        Arc::new(InMemorySessionClaims::default()),
        Arc::new(SystemClock),
        Arc::new(OsEntropy),
        Pricing::new(prices),
        BalanceLimit::new(Money::from_cents(1_000_000_000)).unwrap(),
    )
}

fn admin_service(db: Arc<FailingDatabase>) -> AdminService {
    AdminService::new(
        db.clone(),
        Arc::new(InMemoryTokenCache::default()),
        Arc::new(InMemorySessionClaims::default()),
        Arc::new(token_service(db)),
        Arc::new(SystemClock),
    )
}

#[tokio::test]
async fn a_failed_flush_keeps_its_counters_and_the_next_flush_writes_them_once() {
    let world = World::new().await;
    let sessions = SessionService::new(
        Arc::new(world.db.clone()),
        Arc::new(InMemorySessionClaims::default()),
        Arc::new(SystemClock),
        SessionPolicy {
            idle_timeout: Duration::from_secs(60),
            claim_renew: Duration::from_secs(30),
        },
    );
    let other = fixtures::token(world.ann.id, 2, SystemClock.now());
    world.db.insert_token(&other).await.unwrap();
    let laptop = ProxyExchange {
        user_id: world.ann.id,
        token_id: other.id,
        device_id: DeviceId::parse("laptop-0002").unwrap(),
        ip: Some("192.0.2.1".parse().unwrap()),
        user_agent: None,
    };
    let session = sessions.admit(&laptop).await.unwrap();
    let down = FailingDatabase::down();

    for bytes in [10, 20] {
        sessions.finished(&laptop, session, bytes);
    }
    let failed = sessions.flush_into(&down).await.unwrap_err();
    assert!(is_unavailable(&failed), "{failed:?}");
    // Requests go on during the outage, and a second flush fails too.
    sessions.finished(&laptop, session, 30);
    assert!(sessions.flush_into(&down).await.is_err());
    let stored = world.db.session_by_id(session).await.unwrap().unwrap();
    assert_eq!((stored.request_count, stored.bytes_transferred), (0, 0));

    assert_eq!(sessions.flush().await.unwrap(), 1, "one session's row");
    assert_eq!(sessions.flush().await.unwrap(), 0, "nothing left over");
    let stored = world.db.session_by_id(session).await.unwrap().unwrap();
    assert_eq!((stored.request_count, stored.bytes_transferred), (3, 60));
}

#[tokio::test]
async fn a_purchase_that_cannot_commit_leaves_balance_tokens_ledger_and_audit_unchanged() {
    let world = World::new().await;
    let before = world.snapshot().await;
    let tokens = token_service(world.failing_commits());
    let order = TokenOrder::parse(tokens.pricing(), 24, None).unwrap();

    let err = tokens.purchase(world.ann.id, order, &ctx()).await;
    assert!(
        matches!(&err, Err(PurchaseError::Port(e)) if is_unavailable(e)),
        "{err:?}"
    );
    assert_eq!(world.snapshot().await, before);

    let down = token_service(Arc::new(FailingDatabase::down()));
    let err = down.purchase(world.ann.id, order, &ctx()).await;
    assert!(
        matches!(&err, Err(PurchaseError::Port(e)) if is_unavailable(e)),
        "{err:?}"
    );
}

#[tokio::test]
async fn admin_changes_that_cannot_commit_are_unavailable_and_write_nothing() {
    let world = World::new().await;
    let root = User {
        is_superuser: true,
        ..fixtures::user("root", SystemClock.now())
    };
    world.db.insert_user(&root).await.unwrap();
    let before = world.snapshot().await;
    let admin = admin_service(world.failing_commits());
    let unavailable = |result: Result<_, AdminError>| matches!(result, Err(AdminError::Port(ref e)) if is_unavailable(e));

    let revoked = admin.force_revoke(&root, world.token.id, &ctx()).await;
    assert!(unavailable(revoked.map(drop)));
    let deactivate_and_zero = UserPatch {
        is_active: Some(false),
        is_superuser: None,
        balance: Some(Money::ZERO),
    };
    let updated = admin
        .update_user(&root, world.ann.id, deactivate_and_zero, &ctx())
        .await;
    assert!(unavailable(updated.map(drop)));
    let terminated = admin
        .terminate_session(&root, world.session.id, &ctx())
        .await;
    assert!(unavailable(terminated.map(drop)));
    assert_eq!(world.snapshot().await, before);

    let down = admin_service(Arc::new(FailingDatabase::down()));
    let revoked = down.force_revoke(&root, world.token.id, &ctx()).await;
    assert!(unavailable(revoked.map(drop)));
}
