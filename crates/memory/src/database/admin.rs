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
use zenzefi_domain::page::{Keyed, Page, Paged};
use zenzefi_domain::ports::{AdminQueries, RetentionStore};
use zenzefi_domain::user::{User, UserId};

use super::{Access, InMemoryDatabase, State, newest_first};

/// Rows per batch of an export, as in the SQL stores.
const EXPORT_BATCH: usize = 1_000;

/// Where an export continues: after this `(created_at, id)`.
type Key = (OffsetDateTime, Uuid);

/// One page of `items` (newest first): past the page's cursor if any,
/// then past its offset. The total ignores the cursor, as in SQL.
fn paged<T: Keyed>(items: Vec<T>, page: Page) -> Paged<T> {
    let total = items.len() as u64;
    let items = items
        .into_iter()
        .filter(|item| page.after.is_none_or(|after| item.cursor() < after))
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(page.limit as usize)
        .collect();
    Paged::exact(items, total)
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
        let records = self
            .audit_newest_first(filter, None)
            .into_iter()
            .map(|e| self.audit_record(e))
            .collect();
        paged(records, page)
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
impl AdminQueries for InMemoryDatabase {
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
}

#[async_trait]
impl RetentionStore for InMemoryDatabase {
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
