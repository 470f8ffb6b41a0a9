//! The operators' store (lists, audit export, clean-ups), run against SQLite
//! and against PostgreSQL.

use std::net::IpAddr;

use futures::TryStreamExt;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use zenzefi_domain::admin::{
    AuditFilter, AuditRecord, Owner, TokenFilter, TokenRecord, UserFilter,
};
use zenzefi_domain::audit::{AuditAction, AuditEntry, ResourceType};
use zenzefi_domain::ledger::{EntryId, EntryKind, EntryStatus, LedgerEntry};
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::{
    AdminStore, Database, LedgerStore, SessionStore, TokenStore, UserStore,
};
use zenzefi_domain::session::{ProxySession, SessionActivity};
use zenzefi_domain::token::AccessToken;
use zenzefi_domain::user::{Email, User, UserId};
use zenzefi_domain::{Money, RequestContext};
use zenzefi_persistence::testing::TestDatabase;
use zenzefi_testkit::{contracts, fixtures};

/// Now, in whole seconds: keeps round-trip comparisons exact on both
/// backends (PostgreSQL stores microseconds).
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

/// A stored user `name` with this email, created at `at`.
async fn stored_user(test_db: &TestDatabase, name: &str, email: &str, at: OffsetDateTime) -> User {
    let user = User {
        email: Email::parse(email).unwrap(),
        ..fixtures::user(name, at)
    };
    test_db.db().insert_user(&user).await.unwrap();
    user
}

async fn usernames(test_db: &TestDatabase, filter: UserFilter) -> Vec<String> {
    let found = test_db
        .db()
        .list_users(&filter, Page::default())
        .await
        .unwrap();
    assert_eq!(found.total, found.items.len() as u64, "{filter:?}");
    found
        .items
        .iter()
        .map(|u| u.username.as_str().to_owned())
        .collect()
}

fn searching(text: &str) -> UserFilter {
    UserFilter {
        search: Some(text.to_owned()),
        is_active: None,
    }
}

async fn user_search_is_a_literal_case_insensitive_substring(test_db: &TestDatabase) {
    let t = now();
    stored_user(test_db, "a_b", "first@x.io", t).await;
    stored_user(test_db, "axb", "second@x.io", t + Duration::seconds(1)).await;
    stored_user(test_db, "promo", "100%off@x.io", t + Duration::seconds(2)).await;
    stored_user(test_db, "plain", "100xoff@x.io", t + Duration::seconds(3)).await;
    stored_user(
        test_db,
        "slash",
        r"back\slash@x.io",
        t + Duration::seconds(4),
    )
    .await;
    stored_user(test_db, "Ann", "ann@x.io", t + Duration::seconds(5)).await;

    assert_eq!(usernames(test_db, searching("a_b")).await, ["a_b"]);
    assert_eq!(usernames(test_db, searching("A_B")).await, ["a_b"]);
    assert_eq!(usernames(test_db, searching("100%")).await, ["promo"]);
    assert_eq!(usernames(test_db, searching("%")).await, ["promo"]);
    assert_eq!(usernames(test_db, searching(r"k\s")).await, ["slash"]);
    assert_eq!(usernames(test_db, searching(r"\")).await, ["slash"]);
    assert_eq!(usernames(test_db, searching("aNN")).await, ["Ann"]);
    assert_eq!(
        usernames(test_db, searching("OFF@X")).await,
        ["plain", "promo"]
    );
    assert!(usernames(test_db, searching("_x_")).await.is_empty());
    assert_eq!(usernames(test_db, searching("")).await.len(), 6);
}

async fn users_are_newest_first_filtered_by_activity_and_paged_with_a_total(
    test_db: &TestDatabase,
) {
    let t = now();
    // Made out of time order, with fractions of a second (SQLite's text
    // sorts those wrongly unless compared as time).
    let mid = stored_user(test_db, "mid", "mid@x.io", t + Duration::milliseconds(500)).await;
    let old = stored_user(test_db, "old", "old@x.io", t).await;
    stored_user(test_db, "new", "new@x.io", t + Duration::seconds(1)).await;
    test_db
        .db()
        .update_user(&User {
            is_active: false,
            ..old
        })
        .await
        .unwrap();

    assert_eq!(
        usernames(test_db, UserFilter::default()).await,
        ["new", "mid", "old"]
    );
    let inactive = UserFilter {
        is_active: Some(false),
        search: None,
    };
    assert_eq!(usernames(test_db, inactive).await, ["old"]);
    let active_w = UserFilter {
        is_active: Some(true),
        search: Some("W".into()),
    };
    assert_eq!(usernames(test_db, active_w).await, ["new"]);
    let second = test_db
        .db()
        .list_users(
            &UserFilter::default(),
            Page {
                limit: 1,
                offset: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(second.total, 3);
    assert_eq!(
        second.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        [mid.id]
    );
}

fn owner(user: &User) -> Owner {
    Owner {
        email: user.email.as_str().to_owned(),
        username: user.username.as_str().to_owned(),
    }
}

async fn stored_token(
    test_db: &TestDatabase,
    owner: &User,
    seed: u8,
    at: OffsetDateTime,
) -> AccessToken {
    let token = fixtures::token(owner.id, seed, at);
    test_db.db().insert_token(&token).await.unwrap();
    token
}

/// A session of `token` opened at `at`, open or (without an end) closed.
fn session(token: &AccessToken, at: OffsetDateTime, live: bool) -> ProxySession {
    ProxySession {
        is_active: live,
        ..fixtures::session(token, "device-0001", at)
    }
}

async fn tokens_carry_owner_and_last_use_and_filter_by_user_and_usability(test_db: &TestDatabase) {
    let db = test_db.db();
    let t = now();
    let ann = stored_user(test_db, "ann", "ann@x.io", t).await;
    let bob = stored_user(test_db, "bob", "bob@x.io", t).await;
    let fresh = stored_token(test_db, &ann, 1, t + Duration::milliseconds(100)).await;
    let revoked = stored_token(test_db, &ann, 2, t + Duration::milliseconds(600)).await;
    let expired = stored_token(test_db, &ann, 3, t + Duration::seconds(1)).await;
    let bobs = stored_token(test_db, &bob, 4, t + Duration::seconds(2)).await;
    db.revoke_token(revoked.id, t).await.unwrap();
    let expired = db
        .activate_token(expired.id, t - Duration::hours(30))
        .await
        .unwrap()
        .unwrap();
    let used = t + Duration::seconds(3);
    let live = session(&fresh, t, true);
    db.insert_session(&live).await.unwrap();
    db.record_activity(&[SessionActivity {
        session_id: live.id,
        token_id: fresh.id,
        requests: 1,
        bytes: 1,
        last_activity: used,
        ip: live.ip,
        user_agent: None,
    }])
    .await
    .unwrap();
    let ids = |page: &Paged<TokenRecord>| page.items.iter().map(|r| r.token.id).collect::<Vec<_>>();

    let all = db
        .list_tokens(&TokenFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(ids(&all), [bobs.id, expired.id, revoked.id, fresh.id]);
    assert_eq!(
        all.items[3],
        TokenRecord {
            token: fresh.clone(),
            last_used_at: Some(used),
            owner: owner(&ann),
        }
    );
    assert_eq!(all.items[0].owner, owner(&bob));
    assert_eq!(all.items[0].last_used_at, None);
    assert_eq!(all.items[1].token, expired);

    let usable_of_ann = TokenFilter {
        user_id: Some(ann.id),
        usable_at: Some(t),
    };
    let found = db
        .list_tokens(&usable_of_ann, Page::default())
        .await
        .unwrap();
    assert_eq!((ids(&found), found.total), (vec![fresh.id], 1));
    let of_bob = TokenFilter {
        user_id: Some(bob.id),
        usable_at: None,
    };
    let page = Page {
        limit: 1,
        offset: 0,
    };
    let found = db.list_tokens(&of_bob, page).await.unwrap();
    assert_eq!((ids(&found), found.total), (vec![bobs.id], 1));
}

fn audit_entry(
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

fn audit_ids(records: &[AuditRecord]) -> Vec<uuid::Uuid> {
    records.iter().map(|r| r.entry.id).collect()
}

async fn audit_is_newest_first_filtered_with_the_actor_and_a_total(test_db: &TestDatabase) {
    let db = test_db.db();
    let t = now();
    let ann = stored_user(test_db, "ann", "ann@x.io", t).await;
    let bob = stored_user(test_db, "bob", "bob@x.io", t).await;
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
        page
    };

    let all = list(AuditFilter::default()).await;
    assert_eq!(
        audit_ids(&all.items),
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
    })
    .await;
    assert_eq!(audit_ids(&of_ann.items), [purchase.id, login.id]);
    let logins = list(AuditFilter {
        action: Some(AuditAction::AuthLogin),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(audit_ids(&logins.items), [anonymous.id, tie.id, login.id]);
    let about_bob = list(AuditFilter {
        resource_type: Some(ResourceType::User),
        resource_id: Some(bob.id.0),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(audit_ids(&about_bob.items), [tie.id, first.id]);
    let about_tokens = list(AuditFilter {
        resource_type: Some(ResourceType::AccessToken),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(about_tokens.total, 0);
    // since inclusive, until exclusive.
    let window = list(AuditFilter {
        since: Some(at(500)),
        until: Some(at(1500)),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(audit_ids(&window.items), [purchase.id, tie.id, login.id]);
    let combined = list(AuditFilter {
        user_id: Some(bob.id),
        action: Some(AuditAction::AuthLogin),
        since: Some(at(0)),
        until: Some(at(501)),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(audit_ids(&combined.items), [tie.id]);

    let second_page = db
        .list_audit(
            &AuditFilter::default(),
            Page {
                limit: 2,
                offset: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(second_page.total, 5);
    assert_eq!(audit_ids(&second_page.items), [tie.id, login.id]);
}

/// `n` audit entries by `actor`, two per instant (so that batch edges fall
/// inside ties), every fifth a `token_revoke`; written in one transaction
/// and returned newest first.
async fn many_audit_entries(test_db: &TestDatabase, actor: &User, n: usize) -> Vec<AuditEntry> {
    let t = now();
    let ctx = RequestContext::default();
    let mut written = Vec::with_capacity(n);
    let uow = test_db.db().begin().await.unwrap();
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

async fn export_yields_every_row_newest_first_across_batches(test_db: &TestDatabase) {
    let ann = stored_user(test_db, "ann", "ann@x.io", now()).await;
    let written = many_audit_entries(test_db, &ann, 2_500).await;
    let ids = |entries: &[AuditEntry]| entries.iter().map(|e| e.id).collect::<Vec<_>>();

    let exported: Vec<AuditRecord> = test_db
        .db()
        .export_audit(AuditFilter::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(audit_ids(&exported), ids(&written));
    assert!(exported.iter().all(|r| r.actor == Some(owner(&ann))));

    let revokes = AuditFilter {
        action: Some(AuditAction::TokenRevoke),
        ..AuditFilter::default()
    };
    let exported: Vec<AuditRecord> = test_db
        .db()
        .export_audit(revokes)
        .try_collect()
        .await
        .unwrap();
    let expected: Vec<_> = written
        .iter()
        .filter(|e| e.action == AuditAction::TokenRevoke)
        .map(|e| e.id)
        .collect();
    assert_eq!(audit_ids(&exported), expected);

    let none = AuditFilter {
        user_id: Some(UserId::generate()),
        ..AuditFilter::default()
    };
    let exported: Vec<AuditRecord> = test_db.db().export_audit(none).try_collect().await.unwrap();
    assert!(exported.is_empty());
}

async fn sessions_filter_by_liveness_user_and_token_with_the_owner(test_db: &TestDatabase) {
    contracts::admin_sessions::sessions_filter_by_liveness_user_and_token_with_the_owner(
        test_db.db(),
        now(),
    )
    .await;
}

async fn old_audit_rows_are_deleted_oldest_first_in_batches(test_db: &TestDatabase) {
    let db = test_db.db();
    let t = now();
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

async fn stale_pending_deposits_are_canceled_in_batches_and_nothing_else(test_db: &TestDatabase) {
    let db = test_db.db();
    let t = now();
    let ann = stored_user(test_db, "ann", "ann@x.io", t).await;
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

    // 5 rows in statements of 2: 2 + 2 + 1.
    assert_eq!(db.cancel_pending_before(cutoff, later, 2).await.unwrap(), 5);
    for e in &stale {
        let stored = db
            .entry_by_payment_id(e.payment_id.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored,
            LedgerEntry {
                status: EntryStatus::Canceled,
                updated_at: later,
                ..e.clone()
            }
        );
    }
    for untouched in [&fresh, &settled, &adjustment] {
        let stored = db
            .entry_by_payment_id(untouched.payment_id.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(stored.as_ref(), Some(untouched));
    }
    assert_eq!(db.cancel_pending_before(cutoff, later, 2).await.unwrap(), 0);
    // As many rows as one statement takes: a second one finds none.
    assert_eq!(
        db.cancel_pending_before(later, later, 1).await.unwrap(),
        1,
        "the fresh deposit, once it is old enough"
    );
}

zenzefi_persistence::on_both_databases!(
    user_search_is_a_literal_case_insensitive_substring,
    users_are_newest_first_filtered_by_activity_and_paged_with_a_total,
    tokens_carry_owner_and_last_use_and_filter_by_user_and_usability,
    audit_is_newest_first_filtered_with_the_actor_and_a_total,
    export_yields_every_row_newest_first_across_batches,
    sessions_filter_by_liveness_user_and_token_with_the_owner,
    old_audit_rows_are_deleted_oldest_first_in_batches,
    stale_pending_deposits_are_canceled_in_batches_and_nothing_else,
);
