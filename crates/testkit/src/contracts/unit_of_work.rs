//! `UnitOfWork`: everything written through it becomes visible together at
//! commit; dropping it, or a failed write inside it, leaves nothing behind.

use std::net::IpAddr;

use serde_json::json;
use time::OffsetDateTime;
use zenzefi_domain::admin::AuditFilter;
use zenzefi_domain::audit::{AuditAction, AuditEntry, ResourceType};
use zenzefi_domain::ledger::{EntryKind, LedgerEntry};
use zenzefi_domain::page::Page;
use zenzefi_domain::ports::{Database, UnitOfWork};
use zenzefi_domain::session::ProxySession;
use zenzefi_domain::token::AccessToken;
use zenzefi_domain::user::{User, Username};
use zenzefi_domain::{Money, RequestContext};

use crate::fixtures::{session, token, user};

/// One write of each kind a use-case makes, all about one new user.
struct Writes {
    user: User,
    token: AccessToken,
    entry: LedgerEntry,
    session: ProxySession,
    audit: AuditEntry,
}

impl Writes {
    fn new(t: OffsetDateTime) -> Self {
        let user = user("ann", t);
        let token = token(user.id, 1, t);
        let entry = LedgerEntry::settled(
            user.id,
            Money::from_cents(500),
            EntryKind::Adjustment,
            "opening credit".into(),
            t,
        );
        let session = session(&token, "device-0001", t);
        let ctx = RequestContext {
            ip: Some("203.0.113.9".parse::<IpAddr>().unwrap()),
            user_agent: Some("suite".into()),
            request_id: Some("req-42".into()),
        };
        let audit = AuditEntry::new(
            AuditAction::AuthRegister,
            ResourceType::User,
            Some(user.id.0),
            Some(user.id),
            json!({ "email": user.email.as_str() }),
            &ctx,
            t,
        );
        Self {
            user,
            token,
            entry,
            session,
            audit,
        }
    }

    /// Makes every write through `uow` and checks it can read them back.
    async fn apply(&self, uow: &dyn UnitOfWork) {
        uow.insert_user(&self.user).await.unwrap();
        let credited = uow.adjust_balance(self.user.id, self.entry.amount).await;
        assert_eq!(credited.unwrap(), Some(self.entry.amount));
        uow.insert_entry(&self.entry).await.unwrap();
        uow.insert_token(&self.token).await.unwrap();
        uow.insert_session(&self.session).await.unwrap();
        uow.append_audit(&self.audit).await.unwrap();
        let inside = uow.user_by_id(self.user.id).await.unwrap();
        assert_eq!(inside.map(|u| u.balance), Some(self.entry.amount));
        let token = uow.token_by_id(self.token.id).await.unwrap();
        assert_eq!(token.as_ref(), Some(&self.token), "visible inside");
    }

    /// What the database shows of these writes, read outside any unit of
    /// work: user, ledger, token, live session and audit.
    async fn visible(&self, db: &dyn Database) -> Visible {
        let ledger = db.entries_of_user(self.user.id, None, Page::default());
        let audit = db
            .list_audit(&AuditFilter::default(), Page::default())
            .await;
        Visible {
            user: db.user_by_id(self.user.id).await.unwrap(),
            ledger: ledger.await.unwrap().items,
            token: db.token_by_id(self.token.id).await.unwrap(),
            session: db.live_session_of_token(self.token.id).await.unwrap(),
            audit: audit.unwrap().items.into_iter().map(|r| r.entry).collect(),
        }
    }
}

#[derive(Debug, PartialEq)]
struct Visible {
    user: Option<User>,
    ledger: Vec<LedgerEntry>,
    token: Option<AccessToken>,
    session: Option<ProxySession>,
    audit: Vec<AuditEntry>,
}

impl Visible {
    const NOTHING: Self = Self {
        user: None,
        ledger: Vec::new(),
        token: None,
        session: None,
        audit: Vec::new(),
    };
}

pub async fn a_dropped_unit_of_work_leaves_nothing_behind(db: &dyn Database, t: OffsetDateTime) {
    let writes = Writes::new(t);
    let uow = db.begin().await.unwrap();
    writes.apply(uow.as_ref()).await;
    drop(uow);

    assert_eq!(writes.visible(db).await, Visible::NOTHING);
}

pub async fn a_committed_unit_of_work_shows_every_write(db: &dyn Database, t: OffsetDateTime) {
    let writes = Writes::new(t);
    let uow = db.begin().await.unwrap();
    writes.apply(uow.as_ref()).await;
    uow.commit().await.unwrap();

    assert_eq!(
        writes.visible(db).await,
        Visible {
            user: Some(User {
                balance: writes.entry.amount,
                ..writes.user.clone()
            }),
            ledger: vec![writes.entry.clone()],
            token: Some(writes.token.clone()),
            session: Some(writes.session.clone()),
            audit: vec![writes.audit.clone()],
        }
    );
}

/// A refused write does not poison what the caller then does: it drops
/// the unit of work, and the writes made before the refusal go too.
pub async fn a_failed_write_inside_a_unit_of_work_leaves_nothing_once_dropped(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let taken = user("bob", t);
    db.insert_user(&taken).await.unwrap();
    let writes = Writes::new(t);
    let uow = db.begin().await.unwrap();
    writes.apply(uow.as_ref()).await;
    let same_email = User {
        username: Username::parse("bob2").unwrap(),
        ..user("bob", t)
    };
    assert!(uow.insert_user(&same_email).await.is_err());
    drop(uow);

    assert_eq!(writes.visible(db).await, Visible::NOTHING);
    assert_eq!(db.user_by_id(taken.id).await.unwrap(), Some(taken));
}
