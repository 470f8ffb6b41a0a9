//! `AuditStore` and the operators' audit reads: entries come back whole
//! with their actor, newest first (ties broken by id), filtered, paged with
//! a total, and exported in full across batches.

use std::net::IpAddr;

use futures::TryStreamExt;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zenzefi_domain::RequestContext;
use zenzefi_domain::admin::{AuditFilter, AuditRecord};
use zenzefi_domain::audit::{AuditAction, AuditEntry, ResourceType};
use zenzefi_domain::page::{Keyed, Page};
use zenzefi_domain::ports::Database;
use zenzefi_domain::user::{User, UserId};

use super::{owner, stored_user};

/// An entry about (and by) `actor`, or an anonymous one about a user.
pub fn audit_entry(
    actor: Option<&User>,
    action: AuditAction,
    at: OffsetDateTime,
    ctx: &RequestContext,
) -> AuditEntry {
    AuditEntry::new(
        action,
        ResourceType::User,
        actor.map(|u| u.id.0),
        actor.map(|u| u.id),
        json!({ "success": true, "n": [1, 2] }),
        ctx,
        at,
    )
}

fn ids(records: &[AuditRecord]) -> Vec<Uuid> {
    records.iter().map(|r| r.entry.id).collect()
}

/// `since` is inclusive, `until` exclusive; filters combine.
pub async fn audit_is_newest_first_filtered_with_the_actor_and_a_total(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let bob = stored_user(db, "bob", t).await;
    let ctx = RequestContext {
        ip: Some("2001:db8::7".parse::<IpAddr>().unwrap()),
        user_agent: Some("suite".into()),
        request_id: Some("req-1".into()),
    };
    let bare = RequestContext::default();
    let at = |millis: i64| t + Duration::milliseconds(millis);
    // `tie` shares its instant with `login` and has the later id.
    let login = audit_entry(Some(&ann), AuditAction::AuthLogin, at(500), &ctx);
    let tie = audit_entry(Some(&bob), AuditAction::AuthLogin, at(500), &bare);
    let purchase = audit_entry(Some(&ann), AuditAction::TokenPurchase, at(1000), &ctx);
    let anonymous = audit_entry(None, AuditAction::AuthLogin, at(1500), &bare);
    let first = audit_entry(Some(&bob), AuditAction::AuthRegister, at(0), &bare);
    let uow = db.begin().await.unwrap();
    for e in [&purchase, &anonymous, &tie, &first, &login] {
        uow.append_audit(e).await.unwrap();
    }
    uow.commit().await.unwrap();
    let list = |filter: AuditFilter| async move {
        let page = db.list_audit(&filter, Page::default()).await.unwrap();
        assert_eq!(page.total, page.items.len() as u64, "{filter:?}");
        ids(&page.items)
    };

    let all = db
        .list_audit(&AuditFilter::default(), Page::default())
        .await;
    let all = all.unwrap();
    assert_eq!(
        ids(&all.items),
        [anonymous.id, purchase.id, tie.id, login.id, first.id]
    );
    assert_eq!(
        all.items[1],
        AuditRecord {
            entry: purchase.clone(),
            actor: Some(owner(&ann)),
        }
    );
    assert_eq!(
        all.items[0],
        AuditRecord {
            entry: anonymous.clone(),
            actor: None,
        }
    );

    let of_ann = list(AuditFilter {
        user_id: Some(ann.id),
        ..AuditFilter::default()
    });
    assert_eq!(of_ann.await, [purchase.id, login.id]);
    let logins = list(AuditFilter {
        action: Some(AuditAction::AuthLogin),
        ..AuditFilter::default()
    });
    assert_eq!(logins.await, [anonymous.id, tie.id, login.id]);
    let about_bob = list(AuditFilter {
        resource_type: Some(ResourceType::User),
        resource_id: Some(bob.id.0),
        ..AuditFilter::default()
    });
    assert_eq!(about_bob.await, [tie.id, first.id]);
    let about_tokens = list(AuditFilter {
        resource_type: Some(ResourceType::AccessToken),
        ..AuditFilter::default()
    });
    assert!(about_tokens.await.is_empty());
    let window = list(AuditFilter {
        since: Some(at(500)),
        until: Some(at(1500)),
        ..AuditFilter::default()
    });
    assert_eq!(window.await, [purchase.id, tie.id, login.id]);
    let combined = list(AuditFilter {
        user_id: Some(bob.id),
        action: Some(AuditAction::AuthLogin),
        since: Some(at(0)),
        until: Some(at(501)),
        ..AuditFilter::default()
    });
    assert_eq!(combined.await, [tie.id]);

    let page = Page {
        limit: 2,
        offset: 2,
        ..Page::default()
    };
    let second_page = db.list_audit(&AuditFilter::default(), page).await.unwrap();
    assert_eq!(second_page.total, 5);
    assert_eq!(ids(&second_page.items), [tie.id, login.id]);

    // The same page by cursor: after the first page's last row, ties of
    // its instant included; the total still counts every page.
    let first = Page {
        limit: 2,
        ..Page::default()
    };
    let first_page = db.list_audit(&AuditFilter::default(), first).await.unwrap();
    let after = first_page.items.last().map(Keyed::cursor);
    let by_cursor = Page { after, ..first };
    let by_cursor = db
        .list_audit(&AuditFilter::default(), by_cursor)
        .await
        .unwrap();
    assert_eq!(ids(&by_cursor.items), ids(&second_page.items));
    assert_eq!((by_cursor.total, by_cursor.estimated), (5, false));
    let last = by_cursor.items.last().map(Keyed::cursor);
    let rest = Page {
        after: last,
        ..first
    };
    let rest = db.list_audit(&AuditFilter::default(), rest).await.unwrap();
    assert_eq!(rest.items.len(), 1, "the fifth row only");
}

/// `n` entries by `actor`, two per instant (so that batch edges fall
/// inside ties), every fifth a `token_revoke`; written in one unit of work
/// and returned newest first.
async fn many_audit_entries(
    db: &dyn Database,
    actor: &User,
    n: usize,
    t: OffsetDateTime,
) -> Vec<AuditEntry> {
    let ctx = RequestContext::default();
    let mut written = Vec::with_capacity(n);
    let uow = db.begin().await.unwrap();
    for i in 0..n {
        let action = if i % 5 == 0 {
            AuditAction::TokenRevoke
        } else {
            AuditAction::AuthLogin
        };
        let at = t + Duration::milliseconds(250 * (i / 2) as i64);
        let e = audit_entry(Some(actor), action, at, &ctx);
        uow.append_audit(&e).await.unwrap();
        written.push(e);
    }
    uow.commit().await.unwrap();
    written.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id)));
    written
}

/// More rows than one batch of any adapter's export.
pub async fn an_export_yields_every_matching_entry_newest_first_across_batches(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let written = many_audit_entries(db, &ann, 2_500, t).await;
    let export = |filter: AuditFilter| db.export_audit(filter).try_collect::<Vec<_>>();

    let exported = export(AuditFilter::default()).await.unwrap();
    assert_eq!(
        ids(&exported),
        written.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert_eq!(exported[7].entry, written[7]);
    assert!(exported.iter().all(|r| r.actor == Some(owner(&ann))));

    let revokes = AuditFilter {
        action: Some(AuditAction::TokenRevoke),
        ..AuditFilter::default()
    };
    let expected: Vec<_> = written
        .iter()
        .filter(|e| e.action == AuditAction::TokenRevoke)
        .map(|e| e.id)
        .collect();
    assert_eq!(expected.len(), 500);
    assert_eq!(ids(&export(revokes).await.unwrap()), expected);

    let nobodys = AuditFilter {
        user_id: Some(UserId::generate()),
        ..AuditFilter::default()
    };
    assert!(export(nobodys).await.unwrap().is_empty());
}
