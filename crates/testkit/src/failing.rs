//! A database that fails, for the error paths of the use-cases: either
//! every call fails with `PortError::Unavailable` (the database is down),
//! or every call reaches a working database and only the commits fail (the
//! connection dropped at the last moment), which shows whether a use-case
//! wrote anything outside its unit of work.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::admin::{
    AuditFilter, AuditRecord, SessionFilter, SessionRecord, TokenFilter, TokenRecord, UserFilter,
};
use zenzefi_domain::audit::AuditEntry;
use zenzefi_domain::ledger::{EntryKind, EntryStatus, LedgerEntry};
use zenzefi_domain::money::Money;
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::{
    AdminQueries, AuditStore, Counts, Database, InsertSessionError, InsertUserError, JobRuns,
    LedgerStore, RetentionStore, SessionStore, StatsStore, TokenStore, Transactions, UnitOfWork,
    UsageStore, UserStore,
};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::{EndReason, ProxySession, SessionActivity, SessionId};
use zenzefi_domain::token::{AccessToken, TokenHash, TokenId};
use zenzefi_domain::usage::{TopQuery, TopRow, UsageBucket, UsagePoint, UsageQuery};
use zenzefi_domain::user::{Email, User, UserId, Username};

fn down() -> PortError {
    PortError::unavailable("the database is down (FailingDatabase)")
}

/// See the module doc.
pub struct FailingDatabase {
    /// Where calls go when only commits fail; `None` when everything fails.
    inner: Option<Arc<dyn Database>>,
}

impl FailingDatabase {
    /// Every call fails with `unavailable`.
    pub fn down() -> Self {
        Self { inner: None }
    }

    /// Every call goes to `inner`, except that committing a unit of work
    /// fails with `unavailable` (and rolls it back).
    pub fn failing_commits(inner: Arc<dyn Database>) -> Self {
        Self { inner: Some(inner) }
    }

    fn reach(&self) -> Result<&dyn Database, PortError> {
        self.inner.as_deref().ok_or_else(down)
    }
}

/// A working unit of work whose commit fails.
struct FailingCommit(Box<dyn UnitOfWork>);

impl FailingCommit {
    fn reach(&self) -> Result<&dyn UnitOfWork, PortError> {
        Ok(self.0.as_ref())
    }
}

/// The store ports a unit of work shares with the database, each call
/// passed to whatever `reach` gives.
macro_rules! reach_stores {
    ($ty:ty) => {
        #[async_trait]
        impl UserStore for $ty {
            async fn insert_user(&self, user: &User) -> Result<(), InsertUserError> {
                self.reach()?.insert_user(user).await
            }

            async fn user_by_id(&self, id: UserId) -> Result<Option<User>, PortError> {
                self.reach()?.user_by_id(id).await
            }

            async fn user_by_email(&self, email: &Email) -> Result<Option<User>, PortError> {
                self.reach()?.user_by_email(email).await
            }

            async fn username_taken(&self, username: &Username) -> Result<bool, PortError> {
                self.reach()?.username_taken(username).await
            }

            async fn update_user(&self, user: &User) -> Result<(), PortError> {
                self.reach()?.update_user(user).await
            }
        }

        #[async_trait]
        impl AuditStore for $ty {
            async fn append_audit(&self, entry: &AuditEntry) -> Result<(), PortError> {
                self.reach()?.append_audit(entry).await
            }
        }

        #[async_trait]
        impl LedgerStore for $ty {
            async fn insert_entry(&self, entry: &LedgerEntry) -> Result<(), PortError> {
                self.reach()?.insert_entry(entry).await
            }

            async fn entry_by_payment_id(
                &self,
                payment_id: &str,
            ) -> Result<Option<LedgerEntry>, PortError> {
                self.reach()?.entry_by_payment_id(payment_id).await
            }

            async fn settle_pending(
                &self,
                payment_id: &str,
                status: EntryStatus,
                now: OffsetDateTime,
            ) -> Result<Option<LedgerEntry>, PortError> {
                self.reach()?.settle_pending(payment_id, status, now).await
            }

            async fn entries_of_user(
                &self,
                user: UserId,
                kind: Option<EntryKind>,
                page: Page,
            ) -> Result<Paged<LedgerEntry>, PortError> {
                self.reach()?.entries_of_user(user, kind, page).await
            }

            async fn adjust_balance(
                &self,
                user: UserId,
                delta: Money,
            ) -> Result<Option<Money>, PortError> {
                self.reach()?.adjust_balance(user, delta).await
            }

            async fn credit_balance(
                &self,
                user: UserId,
                amount: Money,
                ceiling: Money,
            ) -> Result<Option<Money>, PortError> {
                self.reach()?.credit_balance(user, amount, ceiling).await
            }
        }

        #[async_trait]
        impl TokenStore for $ty {
            async fn insert_token(&self, token: &AccessToken) -> Result<(), PortError> {
                self.reach()?.insert_token(token).await
            }

            async fn token_by_id(&self, id: TokenId) -> Result<Option<AccessToken>, PortError> {
                self.reach()?.token_by_id(id).await
            }

            async fn token_by_hash(
                &self,
                hash: &TokenHash,
            ) -> Result<Option<AccessToken>, PortError> {
                self.reach()?.token_by_hash(hash).await
            }

            async fn tokens_of_user(
                &self,
                user: UserId,
                usable_at: Option<OffsetDateTime>,
            ) -> Result<Vec<AccessToken>, PortError> {
                self.reach()?.tokens_of_user(user, usable_at).await
            }

            async fn activate_token(
                &self,
                id: TokenId,
                now: OffsetDateTime,
            ) -> Result<Option<AccessToken>, PortError> {
                self.reach()?.activate_token(id, now).await
            }

            async fn revoke_token(
                &self,
                id: TokenId,
                now: OffsetDateTime,
            ) -> Result<bool, PortError> {
                self.reach()?.revoke_token(id, now).await
            }

            async fn set_token_rate_limit(
                &self,
                id: TokenId,
                per_minute: Option<u32>,
            ) -> Result<bool, PortError> {
                self.reach()?.set_token_rate_limit(id, per_minute).await
            }
        }

        #[async_trait]
        impl SessionStore for $ty {
            async fn insert_session(
                &self,
                session: &ProxySession,
            ) -> Result<(), InsertSessionError> {
                self.reach()?.insert_session(session).await
            }

            async fn session_by_id(
                &self,
                id: SessionId,
            ) -> Result<Option<ProxySession>, PortError> {
                self.reach()?.session_by_id(id).await
            }

            async fn live_session_of_token(
                &self,
                token: TokenId,
            ) -> Result<Option<ProxySession>, PortError> {
                self.reach()?.live_session_of_token(token).await
            }

            async fn sessions_of_user(
                &self,
                user: UserId,
                page: Page,
            ) -> Result<Paged<ProxySession>, PortError> {
                self.reach()?.sessions_of_user(user, page).await
            }

            async fn end_session(
                &self,
                id: SessionId,
                reason: EndReason,
                now: OffsetDateTime,
            ) -> Result<bool, PortError> {
                self.reach()?.end_session(id, reason, now).await
            }

            async fn end_live_session_of_token(
                &self,
                token: TokenId,
                reason: EndReason,
                now: OffsetDateTime,
            ) -> Result<Option<SessionId>, PortError> {
                self.reach()?
                    .end_live_session_of_token(token, reason, now)
                    .await
            }

            async fn end_replaceable_session(
                &self,
                token: TokenId,
                device: &DeviceId,
                idle_since: OffsetDateTime,
                now: OffsetDateTime,
            ) -> Result<Option<SessionId>, PortError> {
                self.reach()?
                    .end_replaceable_session(token, device, idle_since, now)
                    .await
            }

            async fn end_live_sessions_of_user(
                &self,
                user: UserId,
                reason: EndReason,
                now: OffsetDateTime,
            ) -> Result<Vec<(TokenId, SessionId)>, PortError> {
                self.reach()?
                    .end_live_sessions_of_user(user, reason, now)
                    .await
            }

            async fn end_stale_sessions(
                &self,
                idle_since: OffsetDateTime,
                now: OffsetDateTime,
            ) -> Result<u64, PortError> {
                self.reach()?.end_stale_sessions(idle_since, now).await
            }

            async fn record_activity(&self, batch: &[SessionActivity]) -> Result<(), PortError> {
                self.reach()?.record_activity(batch).await
            }
        }
    };
}

reach_stores!(FailingDatabase);
reach_stores!(FailingCommit);

#[async_trait]
impl UnitOfWork for FailingCommit {
    async fn commit(self: Box<Self>) -> Result<(), PortError> {
        // Dropping the inner unit of work rolls it back.
        Err(down())
    }
}

#[async_trait]
impl Transactions for FailingDatabase {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, PortError> {
        let uow = self.reach()?.begin().await?;
        Ok(Box::new(FailingCommit(uow)))
    }
}

#[async_trait]
impl StatsStore for FailingDatabase {
    async fn counts(&self, now: OffsetDateTime) -> Result<Counts, PortError> {
        self.reach()?.counts(now).await
    }
}

#[async_trait]
impl AdminQueries for FailingDatabase {
    async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Paged<User>, PortError> {
        self.reach()?.list_users(filter, page).await
    }

    async fn list_tokens(
        &self,
        filter: &TokenFilter,
        page: Page,
    ) -> Result<Paged<TokenRecord>, PortError> {
        self.reach()?.list_tokens(filter, page).await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditRecord>, PortError> {
        self.reach()?.list_audit(filter, page).await
    }

    fn export_audit(
        &self,
        filter: AuditFilter,
    ) -> BoxStream<'static, Result<AuditRecord, PortError>> {
        match self.reach() {
            Ok(db) => db.export_audit(filter),
            Err(err) => stream::once(async { Err(err) }).boxed(),
        }
    }

    async fn list_sessions(
        &self,
        filter: &SessionFilter,
        page: Page,
    ) -> Result<Paged<SessionRecord>, PortError> {
        self.reach()?.list_sessions(filter, page).await
    }
}

#[async_trait]
impl JobRuns for FailingDatabase {
    async fn claim_occurrence(
        &self,
        job: &str,
        occurrence: OffsetDateTime,
    ) -> Result<bool, PortError> {
        self.reach()?.claim_occurrence(job, occurrence).await
    }

    async fn record_success(
        &self,
        job: &str,
        occurrence: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<(), PortError> {
        self.reach()?.record_success(job, occurrence, at).await
    }

    async fn last_successes(&self) -> Result<Vec<(String, OffsetDateTime)>, PortError> {
        self.reach()?.last_successes().await
    }
}

#[async_trait]
impl RetentionStore for FailingDatabase {
    async fn delete_audit_before(
        &self,
        cutoff: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, PortError> {
        self.reach()?.delete_audit_before(cutoff, batch).await
    }

    async fn cancel_pending_before(
        &self,
        cutoff: OffsetDateTime,
        now: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, PortError> {
        self.reach()?
            .cancel_pending_before(cutoff, now, batch)
            .await
    }
}

#[async_trait]
impl UsageStore for FailingDatabase {
    async fn record_usage(&self, batch: &[UsageBucket]) -> Result<(), PortError> {
        self.reach()?.record_usage(batch).await
    }

    async fn usage_series(&self, query: &UsageQuery) -> Result<Vec<UsagePoint>, PortError> {
        self.reach()?.usage_series(query).await
    }

    async fn usage_top(&self, query: &TopQuery) -> Result<Vec<TopRow>, PortError> {
        self.reach()?.usage_top(query).await
    }

    async fn delete_minutes_before(&self, before: OffsetDateTime) -> Result<u64, PortError> {
        self.reach()?.delete_minutes_before(before).await
    }

    async fn fold_hours_before(&self, before: OffsetDateTime) -> Result<u64, PortError> {
        self.reach()?.fold_hours_before(before).await
    }

    async fn delete_days_before(&self, before: OffsetDateTime) -> Result<u64, PortError> {
        self.reach()?.delete_days_before(before).await
    }
}
