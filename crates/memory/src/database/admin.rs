//! Operators' lists, the audit export and the worker's clean-ups, with the
//! SQL stores' semantics: literal case-insensitive search, newest first
//! with ties broken by id, owners joined in, bounded batches.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::PortError;
use zenzefi_domain::admin::{
    AuditFilter, AuditRecord, Owner, SessionFilter, SessionRecord, TokenFilter, TokenRecord,
    UserFilter,
};
use zenzefi_domain::audit::AuditEntry;
use zenzefi_domain::ledger::{EntryKind, EntryStatus};
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::AdminStore;
use zenzefi_domain::user::{User, UserId};

use super::{Access, InMemoryDatabase, State, newest_first};

/// Rows per batch of an export, as in the SQL stores.
const EXPORT_BATCH: usize = 1_000;

/// Where an export continues: after this `(created_at, id)`.
type Key = (OffsetDateTime, Uuid);

fn paged<T>(items: Vec<T>, page: Page) -> Paged<T> {
    let total = items.len() as u64;
    let items = items
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(page.limit as usize)
        .collect();
    Paged { items, total }
}

/// A case-insensitive substring test: no character is a wildcard.
fn contains(haystack: &str, lower_needle: &str) -> bool {
    haystack.to_lowercase().contains(lower_needle)
}

fn audit_matches(filter: &AuditFilter, entry: &AuditEntry) -> bool {
    filter.user_id.is_none_or(|user| entry.actor == Some(user))
        && filter.action.is_none_or(|action| entry.action == action)
        && filter
            .resource_type
            .is_none_or(|kind| entry.resource_type == kind)
        && filter
            .resource_id
            .is_none_or(|id| entry.resource_id == Some(id))
        && filter.since.is_none_or(|since| entry.created_at >= since)
        && filter.until.is_none_or(|until| entry.created_at < until)
}

fn key(entry: &AuditEntry) -> Key {
    (entry.created_at, entry.id)
}

impl State {
    fn owner(&self, user: UserId) -> Option<Owner> {
        self.users.get(&user).map(|u| Owner {
            email: u.email.as_str().to_owned(),
            username: u.username.as_str().to_owned(),
        })
    }

    fn list_users(&self, filter: &UserFilter, page: Page) -> Paged<User> {
        let needle = filter.search.as_deref().map(str::to_lowercase);
        let mut users: Vec<User> = self
            .users
            .values()
            .filter(|u| filter.is_active.is_none_or(|active| u.is_active == active))
            .filter(|u| {
                needle.as_deref().is_none_or(|needle| {
                    contains(u.email.as_str(), needle) || contains(u.username.as_str(), needle)
                })
            })
            .cloned()
            .collect();
        newest_first(&mut users, |u| (u.created_at, u.id.0));
        paged(users, page)
    }

    /// Tokens whose owner is gone are left out, as by the SQL inner join.
    fn list_tokens(&self, filter: &TokenFilter, page: Page) -> Paged<TokenRecord> {
        let mut records: Vec<TokenRecord> = self
            .tokens
            .values()
            .filter(|t| filter.user_id.is_none_or(|user| t.user_id == user))
            .filter(|t| filter.usable_at.is_none_or(|at| t.is_usable(at)))
            .filter_map(|t| {
                Some(TokenRecord {
                    token: t.clone(),
                    last_used_at: self.tokens_last_used.get(&t.id).copied(),
                    owner: self.owner(t.user_id)?,
                })
            })
            .collect();
        newest_first(&mut records, |r| (r.token.created_at, r.token.id.0));
        paged(records, page)
    }

    /// Matching entries newest first, only those after `after` if given.
    fn audit_newest_first(&self, filter: &AuditFilter, after: Option<Key>) -> Vec<&AuditEntry> {
        let mut entries: Vec<&AuditEntry> = self
            .audit
            .iter()
            .filter(|e| audit_matches(filter, e))
            .filter(|e| after.is_none_or(|after| key(e) < after))
            .collect();
        newest_first(&mut entries, |e| key(e));
        entries
    }

    fn audit_record(&self, entry: &AuditEntry) -> AuditRecord {
        AuditRecord {
            entry: entry.clone(),
            actor: entry.actor.and_then(|actor| self.owner(actor)),
        }
    }

    fn list_audit(&self, filter: &AuditFilter, page: Page) -> Paged<AuditRecord> {
        let entries = self.audit_newest_first(filter, None);
        let Paged { items, total } = paged(entries, page);
        Paged {
            items: items.into_iter().map(|e| self.audit_record(e)).collect(),
            total,
        }
    }

    fn audit_batch(&self, filter: &AuditFilter, after: Option<Key>) -> Vec<AuditRecord> {
        self.audit_newest_first(filter, after)
            .into_iter()
            .take(EXPORT_BATCH)
            .map(|e| self.audit_record(e))
            .collect()
    }

    /// Sessions whose owner is gone are left out, as by the SQL inner join.
    fn list_sessions(&self, filter: &SessionFilter, page: Page) -> Paged<SessionRecord> {
        let mut records: Vec<SessionRecord> = self
            .sessions
            .values()
            .filter(|s| !filter.active_only || s.is_active)
            .filter(|s| filter.user_id.is_none_or(|user| s.user_id == user))
            .filter(|s| filter.token_id.is_none_or(|token| s.token_id == token))
            .filter_map(|s| {
                Some(SessionRecord {
                    session: s.clone(),
                    owner: self.owner(s.user_id)?,
                })
            })
            .collect();
        newest_first(&mut records, |r| (r.session.started_at, r.session.id.0));
        paged(records, page)
    }

    /// The `batch` oldest entries created before `cutoff`.
    fn delete_audit_before(&mut self, cutoff: OffsetDateTime, batch: u32) -> u64 {
        let mut old: Vec<Key> = self
            .audit
            .iter()
            .filter(|e| e.created_at < cutoff)
            .map(key)
            .collect();
        old.sort_unstable();
        old.truncate(batch as usize);
        let before = self.audit.len();
        self.audit.retain(|e| old.binary_search(&key(e)).is_err());
        (before - self.audit.len()) as u64
    }

    /// All at once: there are no statements to bound here.
    fn cancel_pending_before(&mut self, cutoff: OffsetDateTime, now: OffsetDateTime) -> u64 {
        let mut canceled = 0;
        for entry in &mut self.ledger {
            let stale = entry.kind == EntryKind::Deposit
                && entry.status == EntryStatus::Pending
                && entry.created_at < cutoff;
            if stale {
                entry.status = EntryStatus::Canceled;
                entry.updated_at = now;
                canceled += 1;
            }
        }
        canceled
    }
}

#[async_trait]
impl AdminStore for InMemoryDatabase {
    async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Paged<User>, PortError> {
        Ok(self.0.with(|s| s.list_users(filter, page)).await)
    }

    async fn list_tokens(
        &self,
        filter: &TokenFilter,
        page: Page,
    ) -> Result<Paged<TokenRecord>, PortError> {
        Ok(self.0.with(|s| s.list_tokens(filter, page)).await)
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditRecord>, PortError> {
        Ok(self.0.with(|s| s.list_audit(filter, page)).await)
    }

    /// Batches read one at a time under the lock, each after the last key
    /// handed out, as the SQL stores do.
    fn export_audit(
        &self,
        filter: AuditFilter,
    ) -> BoxStream<'static, Result<AuditRecord, PortError>> {
        let db = self.clone();
        // State: `None` once a short batch showed there is nothing more;
        // otherwise the key to continue after (`None` at the start).
        stream::unfold(Some(None), move |after: Option<Option<Key>>| {
            let (db, filter) = (db.clone(), filter.clone());
            async move {
                let after = after?;
                let batch = db.0.with(|s| s.audit_batch(&filter, after)).await;
                let next =
                    (batch.len() == EXPORT_BATCH).then(|| batch.last().map(|r| key(&r.entry)));
                Some((stream::iter(batch.into_iter().map(Ok)), next))
            }
        })
        .flatten()
        .boxed()
    }

    async fn list_sessions(
        &self,
        filter: &SessionFilter,
        page: Page,
    ) -> Result<Paged<SessionRecord>, PortError> {
        Ok(self.0.with(|s| s.list_sessions(filter, page)).await)
    }

    async fn delete_audit_before(
        &self,
        cutoff: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, PortError> {
        Ok(self.0.with(|s| s.delete_audit_before(cutoff, batch)).await)
    }

    async fn cancel_pending_before(
        &self,
        cutoff: OffsetDateTime,
        now: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, PortError> {
        if batch == 0 {
            return Ok(0);
        }
        Ok(self.0.with(|s| s.cancel_pending_before(cutoff, now)).await)
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;
    use time::Duration;
    use zenzefi_domain::RequestContext;
    use zenzefi_domain::audit::{AuditAction, ResourceType};
    use zenzefi_domain::ledger::EntryId;
    use zenzefi_domain::ledger::LedgerEntry;
    use zenzefi_domain::ports::{AuditStore, LedgerStore, TokenStore, UserStore};
    use zenzefi_domain::user::Email;
    use zenzefi_testkit::fixtures::{token, user};

    use super::*;
    use crate::database::fixtures::T0;

    fn at(minutes: i64) -> OffsetDateTime {
        T0 + Duration::minutes(minutes)
    }

    async fn stored_user(db: &InMemoryDatabase, name: &str, email: &str, minutes: i64) -> User {
        let user = User {
            email: Email::parse(email).unwrap(),
            ..user(name, at(minutes))
        };
        db.insert_user(&user).await.unwrap();
        user
    }

    async fn usernames(db: &InMemoryDatabase, filter: UserFilter) -> Vec<String> {
        let found = db.list_users(&filter, Page::default()).await.unwrap();
        assert_eq!(found.total, found.items.len() as u64);
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

    #[tokio::test]
    async fn user_search_is_a_literal_case_insensitive_substring_of_email_or_username() {
        let db = InMemoryDatabase::default();
        stored_user(&db, "a_b", "first@x.io", 0).await;
        stored_user(&db, "axb", "second@x.io", 1).await;
        stored_user(&db, "promo", "100%off@x.io", 2).await;
        stored_user(&db, "plain", "100xoff@x.io", 3).await;
        stored_user(&db, "slash", r"back\slash@x.io", 4).await;
        stored_user(&db, "Ann", "ann@x.io", 5).await;

        assert_eq!(usernames(&db, searching("a_b")).await, ["a_b"]);
        assert_eq!(usernames(&db, searching("100%")).await, ["promo"]);
        assert_eq!(usernames(&db, searching(r"k\s")).await, ["slash"]);
        assert_eq!(usernames(&db, searching("ANN")).await, ["Ann"]);
        assert_eq!(usernames(&db, searching("OFF@")).await, ["plain", "promo"]);
        assert_eq!(usernames(&db, searching("%")).await, ["promo"]);
        assert!(usernames(&db, searching("nobody")).await.is_empty());
    }

    #[tokio::test]
    async fn users_are_newest_first_filtered_by_activity_and_paged_with_a_total() {
        let db = InMemoryDatabase::default();
        let old = stored_user(&db, "old", "old@x.io", 0).await;
        stored_user(&db, "mid", "mid@x.io", 1).await;
        stored_user(&db, "new", "new@x.io", 2).await;
        db.update_user(&User {
            is_active: false,
            ..old
        })
        .await
        .unwrap();

        let all = usernames(&db, UserFilter::default()).await;
        assert_eq!(all, ["new", "mid", "old"]);
        let inactive = UserFilter {
            is_active: Some(false),
            ..UserFilter::default()
        };
        assert_eq!(usernames(&db, inactive).await, ["old"]);
        let page = Page {
            limit: 1,
            offset: 1,
        };
        let second = db.list_users(&UserFilter::default(), page).await.unwrap();
        assert_eq!(second.total, 3);
        assert_eq!(second.items[0].username.as_str(), "mid");
    }

    #[tokio::test]
    async fn tokens_carry_their_owner_and_last_use_and_filter_by_user_and_usability() {
        let db = InMemoryDatabase::default();
        let ann = stored_user(&db, "ann", "ann@x.io", 0).await;
        let bob = stored_user(&db, "bob", "bob@x.io", 0).await;
        let anns = token(ann.id, 1, at(1));
        let revoked = token(ann.id, 2, at(2));
        let bobs = token(bob.id, 3, at(3));
        for t in [&anns, &revoked, &bobs] {
            db.insert_token(t).await.unwrap();
        }
        db.revoke_token(revoked.id, at(4)).await.unwrap();
        db.0.with(|s| s.tokens_last_used.insert(anns.id, at(5)))
            .await;

        let ids =
            |page: Paged<TokenRecord>| page.items.iter().map(|r| r.token.id).collect::<Vec<_>>();
        let all = db
            .list_tokens(&TokenFilter::default(), Page::default())
            .await
            .unwrap();
        assert_eq!(all.total, 3);
        assert_eq!(ids(all.clone()), [bobs.id, revoked.id, anns.id]);
        let first = &all.items[2];
        assert_eq!(first.last_used_at, Some(at(5)));
        assert_eq!(first.owner.email, "ann@x.io");
        assert_eq!(first.owner.username, "ann");

        let usable_of_ann = TokenFilter {
            user_id: Some(ann.id),
            usable_at: Some(at(6)),
        };
        let found = db
            .list_tokens(&usable_of_ann, Page::default())
            .await
            .unwrap();
        assert_eq!((ids(found.clone()), found.total), (vec![anns.id], 1));
    }

    fn audit_entry(actor: Option<&User>, action: AuditAction, minutes: i64) -> AuditEntry {
        AuditEntry::new(
            action,
            ResourceType::User,
            actor.map(|u| u.id.0),
            actor.map(|u| u.id),
            Default::default(),
            &RequestContext::default(),
            at(minutes),
        )
    }

    #[tokio::test]
    async fn audit_is_newest_first_with_ties_by_id_filtered_and_with_the_actor() {
        let db = InMemoryDatabase::default();
        let ann = stored_user(&db, "ann", "ann@x.io", 0).await;
        let bob = stored_user(&db, "bob", "bob@x.io", 0).await;
        let login = audit_entry(Some(&ann), AuditAction::AuthLogin, 1);
        let tie = audit_entry(Some(&bob), AuditAction::AuthLogin, 1);
        let purchase = audit_entry(Some(&ann), AuditAction::TokenPurchase, 2);
        let anonymous = audit_entry(None, AuditAction::AuthLogin, 3);
        for e in [&login, &tie, &purchase, &anonymous] {
            db.append_audit(e).await.unwrap();
        }
        let ids =
            |page: &Paged<AuditRecord>| page.items.iter().map(|r| r.entry.id).collect::<Vec<_>>();
        let list = |filter: AuditFilter| {
            let db = db.clone();
            async move { db.list_audit(&filter, Page::default()).await.unwrap() }
        };

        let all = list(AuditFilter::default()).await;
        assert_eq!(ids(&all), [anonymous.id, purchase.id, tie.id, login.id]);
        assert_eq!(all.total, 4);
        assert_eq!(all.items[0].actor, None);
        assert_eq!(
            all.items[1].actor.as_ref().map(|o| o.username.as_str()),
            Some("ann")
        );

        let of_ann = list(AuditFilter {
            user_id: Some(ann.id),
            ..AuditFilter::default()
        })
        .await;
        assert_eq!(ids(&of_ann), [purchase.id, login.id]);
        let logins = list(AuditFilter {
            action: Some(AuditAction::AuthLogin),
            ..AuditFilter::default()
        })
        .await;
        assert_eq!(
            (ids(&logins), logins.total),
            (vec![anonymous.id, tie.id, login.id], 3)
        );
        let about_bob = list(AuditFilter {
            resource_type: Some(ResourceType::User),
            resource_id: Some(bob.id.0),
            ..AuditFilter::default()
        })
        .await;
        assert_eq!(ids(&about_bob), [tie.id]);
        let window = list(AuditFilter {
            since: Some(at(1)),
            until: Some(at(3)),
            ..AuditFilter::default()
        })
        .await;
        assert_eq!(ids(&window), [purchase.id, tie.id, login.id]);
        let tokens = list(AuditFilter {
            resource_type: Some(ResourceType::AccessToken),
            ..AuditFilter::default()
        })
        .await;
        assert_eq!(tokens.total, 0);
    }

    #[tokio::test]
    async fn export_yields_every_matching_entry_newest_first_across_batches() {
        let db = InMemoryDatabase::default();
        let ann = stored_user(&db, "ann", "ann@x.io", 0).await;
        let mut written = Vec::new();
        for i in 0..2_500 {
            // Pairs share a timestamp, so batch edges fall inside ties.
            let action = if i % 5 == 0 {
                AuditAction::TokenRevoke
            } else {
                AuditAction::AuthLogin
            };
            let e = audit_entry(Some(&ann), action, i / 2);
            db.append_audit(&e).await.unwrap();
            written.push(e);
        }
        newest_first(&mut written, key);

        let exported: Vec<AuditRecord> = db
            .export_audit(AuditFilter::default())
            .try_collect()
            .await
            .unwrap();
        let ids = |records: &[AuditRecord]| records.iter().map(|r| r.entry.id).collect::<Vec<_>>();
        assert_eq!(
            ids(&exported),
            written.iter().map(|e| e.id).collect::<Vec<_>>()
        );

        let revokes = AuditFilter {
            action: Some(AuditAction::TokenRevoke),
            ..AuditFilter::default()
        };
        let exported: Vec<AuditRecord> = db.export_audit(revokes).try_collect().await.unwrap();
        assert_eq!(exported.len(), 500);
    }

    #[tokio::test]
    async fn sessions_filter_by_liveness_user_and_token_and_carry_their_owner() {
        zenzefi_testkit::contracts::admin_sessions::sessions_filter_by_liveness_user_and_token_with_the_owner(
            &InMemoryDatabase::default(),
            T0,
        )
        .await;
    }

    #[tokio::test]
    async fn old_audit_entries_are_deleted_oldest_first_in_batches() {
        let db = InMemoryDatabase::default();
        for minutes in 0..10 {
            db.append_audit(&audit_entry(None, AuditAction::AuthLogin, minutes))
                .await
                .unwrap();
        }
        let cutoff = at(7);
        assert_eq!(db.delete_audit_before(cutoff, 3).await.unwrap(), 3);
        let left = db.audit_entries().await;
        assert_eq!(left.first().map(|e| e.created_at), Some(at(3)));
        assert_eq!(db.delete_audit_before(cutoff, 3).await.unwrap(), 3);
        assert_eq!(db.delete_audit_before(cutoff, 3).await.unwrap(), 1);
        assert_eq!(db.delete_audit_before(cutoff, 3).await.unwrap(), 0);
        let left = db.audit_entries().await;
        assert_eq!(
            left.iter().map(|e| e.created_at).collect::<Vec<_>>(),
            [at(7), at(8), at(9)]
        );
    }

    #[tokio::test]
    async fn stale_pending_deposits_are_canceled_and_nothing_else_changes() {
        let db = InMemoryDatabase::default();
        let ann = stored_user(&db, "ann", "ann@x.io", 0).await;
        let deposit = |minutes: i64, status: EntryStatus| LedgerEntry {
            id: EntryId::generate(),
            user_id: ann.id,
            amount: zenzefi_domain::Money::from_cents(500),
            kind: EntryKind::Deposit,
            status,
            description: "deposit".into(),
            payment_id: Some(format!("pay-{}", Uuid::now_v7())),
            created_at: at(minutes),
            updated_at: at(minutes),
        };
        let stale = [
            deposit(0, EntryStatus::Pending),
            deposit(1, EntryStatus::Pending),
        ];
        let fresh = deposit(10, EntryStatus::Pending);
        let settled = deposit(0, EntryStatus::Succeeded);
        for e in stale.iter().chain([&fresh, &settled]) {
            db.insert_entry(e).await.unwrap();
        }
        let now = at(20);
        assert_eq!(db.cancel_pending_before(at(5), now, 1).await.unwrap(), 2);
        let status = |e: &LedgerEntry| {
            let db = db.clone();
            let payment_id = e.payment_id.clone().unwrap();
            async move {
                let stored = db.entry_by_payment_id(&payment_id).await.unwrap().unwrap();
                (stored.status, stored.updated_at)
            }
        };
        for e in &stale {
            assert_eq!(status(e).await, (EntryStatus::Canceled, now));
        }
        assert_eq!(status(&fresh).await, (EntryStatus::Pending, at(10)));
        assert_eq!(status(&settled).await, (EntryStatus::Succeeded, at(0)));
        assert_eq!(db.cancel_pending_before(at(5), now, 1).await.unwrap(), 0);
    }
}
