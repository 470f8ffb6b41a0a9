use async_trait::async_trait;

use futures_core::stream::BoxStream;
use time::OffsetDateTime;

use crate::admin::{
    AuditFilter, AuditRecord, SessionFilter, SessionRecord, TokenFilter, TokenRecord, UserFilter,
};
use crate::audit::AuditEntry;
use crate::error::PortError;
use crate::ledger::{EntryKind, EntryStatus, LedgerEntry};
use crate::money::Money;
use crate::page::{Page, Paged};
use crate::proxy::DeviceId;
use crate::session::{EndReason, ProxySession, SessionActivity, SessionId};
use crate::token::{AccessToken, TokenHash, TokenId};
use crate::user::{Email, User, UserId, Username};

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Users. Implemented by the database handle (each call on its own) and by a
/// [`UnitOfWork`] (each call inside its transaction).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// MUST fail with `EmailTaken` / `UsernameTaken` when another user has the
    /// email or (case-insensitively) the username, also when a concurrent
    /// insert won the race.
    async fn insert_user(&self, user: &User) -> Result<(), InsertUserError>;

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, PortError>;

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, PortError>;

    /// Whether a user has this username, compared case-insensitively.
    async fn username_taken(&self, username: &Username) -> Result<bool, PortError>;

    /// Writes the profile and flags of `user` (full name, password hash,
    /// is_active, is_superuser, updated_at). The balance is NOT written here:
    /// it changes only with a ledger row. Updating a missing user is a no-op.
    async fn update_user(&self, user: &User) -> Result<(), PortError>;
}

/// The append-only audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), PortError>;
}

/// A database transaction seen through the store ports. Everything written
/// through it becomes visible atomically at [`UnitOfWork::commit`]; dropping
/// it without commit rolls everything back. While a unit of work is open, do
/// every read and write of the use-case through it (not through the handle
/// that opened it), or an embedded single-connection store would wait on
/// itself.
#[async_trait]
pub trait UnitOfWork:
    UserStore + AuditStore + LedgerStore + TokenStore + SessionStore + Send + Sync
{
    async fn commit(self: Box<Self>) -> Result<(), PortError>;
}

/// How a use-case opens a [`UnitOfWork`].
#[async_trait]
pub trait Transactions: Send + Sync {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, PortError>;
}

/// The whole database as an adapter implements it: every store port
/// without a transaction, plus the way to open one. Use-cases hold narrower
/// bounds (see the module doc); the adapter contracts take all of it.
pub trait Database:
    Transactions
    + UserStore
    + AuditStore
    + LedgerStore
    + TokenStore
    + SessionStore
    + AdminQueries
    + RetentionStore
    + super::StatsStore
    + super::JobRuns
    + super::UsageStore
    + Send
    + Sync
{
}

impl<T> Database for T where
    T: Transactions
        + UserStore
        + AuditStore
        + LedgerStore
        + TokenStore
        + SessionStore
        + AdminQueries
        + RetentionStore
        + super::StatsStore
        + super::JobRuns
        + super::UsageStore
{
}

/// The ledger, and the balance that only moves with it.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    async fn insert_entry(&self, entry: &LedgerEntry) -> Result<(), PortError>;

    async fn entry_by_payment_id(&self, payment_id: &str)
    -> Result<Option<LedgerEntry>, PortError>;

    /// Moves the pending entry with this payment id to `status` and returns
    /// it, or `None` when there is none or it is no longer pending. MUST be a
    /// single conditional write, so that of concurrent calls exactly one
    /// sees the entry.
    async fn settle_pending(
        &self,
        payment_id: &str,
        status: EntryStatus,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerEntry>, PortError>;

    /// A user's entries, newest first, optionally of one kind.
    async fn entries_of_user(
        &self,
        user: UserId,
        kind: Option<EntryKind>,
        page: Page,
    ) -> Result<Paged<LedgerEntry>, PortError>;

    /// Adds `delta` to the balance unless that would make it negative, in
    /// one conditional write (no read-modify-write), and returns the new
    /// balance; `None` when refused or the user is missing. Call it only
    /// together with [`LedgerStore::insert_entry`] in one unit of work.
    async fn adjust_balance(&self, user: UserId, delta: Money) -> Result<Option<Money>, PortError>;

    /// Adds a positive `amount` to the balance unless the result would pass
    /// `ceiling`, in one conditional write that cannot overflow, and returns
    /// the new balance; `None` when refused or the user is missing. Same
    /// unit-of-work rule as [`LedgerStore::adjust_balance`].
    async fn credit_balance(
        &self,
        user: UserId,
        amount: Money,
        ceiling: Money,
    ) -> Result<Option<Money>, PortError>;
}

/// Access tokens.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_token(&self, token: &AccessToken) -> Result<(), PortError>;

    async fn token_by_id(&self, id: TokenId) -> Result<Option<AccessToken>, PortError>;

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<AccessToken>, PortError>;

    /// A user's tokens, newest first; with `usable_at`, only those neither
    /// revoked nor expired at that time.
    async fn tokens_of_user(
        &self,
        user: UserId,
        usable_at: Option<OffsetDateTime>,
    ) -> Result<Vec<AccessToken>, PortError>;

    /// Sets `activated_at` (and the stored expiry) if still unset, in one
    /// conditional write, and returns the token as stored afterwards: of
    /// concurrent calls, one activates and all see the same `activated_at`.
    async fn activate_token(
        &self,
        id: TokenId,
        now: OffsetDateTime,
    ) -> Result<Option<AccessToken>, PortError>;

    /// Marks the token revoked if it is not yet; `false` when it already was
    /// (or is missing). One conditional write.
    async fn revoke_token(&self, id: TokenId, now: OffsetDateTime) -> Result<bool, PortError>;

    /// Sets (or with `None` clears) the token's own proxy rate limit;
    /// `false` when there is no such token.
    async fn set_token_rate_limit(
        &self,
        id: TokenId,
        per_minute: Option<u32>,
    ) -> Result<bool, PortError>;
}

#[derive(Debug, thiserror::Error)]
pub enum InsertSessionError {
    /// The token already has a live session (the database backstop).
    #[error("the token already has a live session")]
    LiveSessionExists,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Proxy sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// MUST fail with `LiveSessionExists` when the token has another live
    /// session, also when a concurrent insert won the race.
    async fn insert_session(&self, session: &ProxySession) -> Result<(), InsertSessionError>;

    async fn session_by_id(&self, id: SessionId) -> Result<Option<ProxySession>, PortError>;

    async fn live_session_of_token(
        &self,
        token: TokenId,
    ) -> Result<Option<ProxySession>, PortError>;

    /// A user's sessions, newest first.
    async fn sessions_of_user(
        &self,
        user: UserId,
        page: Page,
    ) -> Result<Paged<ProxySession>, PortError>;

    /// Ends the session if it is still live; `false` when it was not. One
    /// conditional write.
    async fn end_session(
        &self,
        id: SessionId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<bool, PortError>;

    /// Ends the token's live session, if any, and returns its id.
    async fn end_live_session_of_token(
        &self,
        token: TokenId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<Option<SessionId>, PortError>;

    /// Ends the token's live session (reason `replaced`) when it may give
    /// way to `device`: it belongs to that device, or its last activity is
    /// before `idle_since`. Returns it if it ended. A live session of another
    /// device that is not idle stays, so a following insert fails with
    /// `LiveSessionExists`. One conditional write.
    async fn end_replaceable_session(
        &self,
        token: TokenId,
        device: &DeviceId,
        idle_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<SessionId>, PortError>;

    /// Ends every live session of the user's tokens and returns each as
    /// (token, session). One statement, however many tokens the user has.
    async fn end_live_sessions_of_user(
        &self,
        user: UserId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<Vec<(TokenId, SessionId)>, PortError>;

    /// Ends every live session whose last activity is before `idle_since`
    /// (reason `idle`), and every live session whose token expired or was
    /// revoked by `now` (reasons `expired` / `revoked`). Returns how many
    /// sessions ended. Bounded conditional writes, safe to run concurrently.
    async fn end_stale_sessions(
        &self,
        idle_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<u64, PortError>;

    /// Adds the counters of each entry to its session (request_count,
    /// bytes_transferred), moves last_activity forward (never back), sets
    /// ip and user agent, and sets `last_used_at` of the sessions' tokens —
    /// in a constant number of statements, whatever the batch size.
    /// Counters of sessions that ended meanwhile still count.
    async fn record_activity(&self, batch: &[SessionActivity]) -> Result<(), PortError>;
}

/// Operators' read models: lists with owners and the audit export.
#[async_trait]
pub trait AdminQueries: Send + Sync {
    /// Newest first.
    async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Paged<User>, PortError>;

    /// Newest first.
    async fn list_tokens(
        &self,
        filter: &TokenFilter,
        page: Page,
    ) -> Result<Paged<TokenRecord>, PortError>;

    /// Newest first (created_at, then id).
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditRecord>, PortError>;

    /// Every matching row, newest first, read in bounded batches (keyset
    /// pagination): memory stays flat however many rows match, and no
    /// transaction stays open while the consumer is slow.
    fn export_audit(
        &self,
        filter: AuditFilter,
    ) -> BoxStream<'static, Result<AuditRecord, PortError>>;

    /// Newest first (started_at).
    async fn list_sessions(
        &self,
        filter: &SessionFilter,
        page: Page,
    ) -> Result<Paged<SessionRecord>, PortError>;
}

/// The worker's batched clean-ups: audit retention and the expiry of
/// unpaid deposits.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `batch` audit rows created before `cutoff` in one
    /// statement and returns how many went; call until it returns 0.
    async fn delete_audit_before(
        &self,
        cutoff: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, PortError>;

    /// Cancels pending deposits created before `cutoff`, in at most `batch`
    /// rows per statement; returns how many were canceled.
    async fn cancel_pending_before(
        &self,
        cutoff: OffsetDateTime,
        now: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, PortError>;
}
