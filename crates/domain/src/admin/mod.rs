//! Operators' use-cases. Every change writes its
//! audit row in the same unit of work; the caller has already been checked
//! to be a superuser by the transport.

mod queries;

use std::sync::Arc;

use futures_core::stream::BoxStream;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

pub use queries::*;

use crate::audit::{AuditAction, AuditEntry, ResourceType};
use crate::balance::BalanceLimit;
use crate::context::RequestContext;
use crate::error::PortError;
use crate::ledger::{EntryKind, LedgerEntry};
use crate::money::Money;
use crate::page::{Page, Paged};
use crate::ports::{
    AdminQueries, Clock, JobRuns, LedgerStore, SessionClaims, TokenCache, Transactions, UnitOfWork,
    UserStore,
};
use crate::session::{EndReason, SessionId};
use crate::sessions::release_after_commit;
use crate::token::{AccessToken, TokenHash, TokenId};
use crate::tokens::{INVALIDATION_WINDOW, RevokeError, TokenService, settle_after_commit};
use crate::user::{User, UserId};
use crate::validation::ValidationErrors;

/// The fields an operator may change on a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    pub balance: Option<Money>,
}

impl UserPatch {
    pub fn parse(
        is_active: Option<bool>,
        is_superuser: Option<bool>,
        balance: Option<Money>,
        limit: BalanceLimit,
    ) -> Result<Self, ValidationErrors> {
        if is_active.is_none() && is_superuser.is_none() && balance.is_none() {
            return Err(ValidationErrors::single(
                "body",
                "name at least one of is_active, is_superuser, currency_balance",
            ));
        }
        if balance.is_some_and(|b| !limit.admits(b)) {
            return Err(ValidationErrors::single(
                "currency_balance",
                format!("must be between 0 and {}", limit.max()),
            ));
        }
        Ok(Self {
            is_active,
            is_superuser,
            balance,
        })
    }
}

/// The highest per-token limit an admin may set, per minute.
pub const MAX_TOKEN_RATE_LIMIT: u32 = 1_000_000;

/// A per-token proxy limit as an admin asked for it: `None` restores the
/// default; a value must be 1 to [`MAX_TOKEN_RATE_LIMIT`].
pub fn parse_token_rate_limit(per_minute: Option<i64>) -> Result<Option<u32>, ValidationErrors> {
    per_minute
        .map(|n| {
            u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_TOKEN_RATE_LIMIT).contains(n))
                .ok_or_else(|| {
                    ValidationErrors::single(
                        "rate_limit_per_minute",
                        format!("must be null or between 1 and {MAX_TOKEN_RATE_LIMIT}"),
                    )
                })
        })
        .transpose()
}

impl From<RevokeError> for AdminError {
    fn from(err: RevokeError) -> Self {
        match err {
            RevokeError::NotFound => Self::TokenNotFound,
            RevokeError::AlreadyRevoked => Self::AlreadyRevoked,
            // A force revoke refunds nothing, so it never meets the limit.
            RevokeError::BalanceLimit(max) => Self::Port(PortError::unexpected(format!(
                "a revocation without refund met the balance limit {max}"
            ))),
            RevokeError::Port(e) => Self::Port(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such user")]
    UserNotFound,
    #[error("no such token")]
    TokenNotFound,
    #[error("no such session")]
    SessionNotFound,
    #[error("token already revoked")]
    AlreadyRevoked,
    #[error("an admin cannot deactivate or demote themselves")]
    SelfLockout,
    #[error("the balance changed meanwhile; try again")]
    BalanceRace,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// The operators' read models, and units of work for their actions.
pub trait AdminDb: Transactions + AdminQueries + UserStore + LedgerStore + JobRuns {}

impl<T: Transactions + AdminQueries + UserStore + LedgerStore + JobRuns> AdminDb for T {}

pub struct AdminService {
    db: Arc<dyn AdminDb>,
    cache: Arc<dyn TokenCache>,
    claims: Arc<dyn SessionClaims>,
    tokens: Arc<TokenService>,
    clock: Arc<dyn Clock>,
}

impl AdminService {
    pub fn new(
        db: Arc<dyn AdminDb>,
        cache: Arc<dyn TokenCache>,
        claims: Arc<dyn SessionClaims>,
        tokens: Arc<TokenService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            cache,
            claims,
            tokens,
            clock,
        }
    }

    pub async fn users(&self, filter: &UserFilter, page: Page) -> Result<Paged<User>, PortError> {
        self.db.list_users(filter, page).await
    }

    pub async fn user(&self, id: UserId) -> Result<User, AdminError> {
        self.db
            .user_by_id(id)
            .await?
            .ok_or(AdminError::UserNotFound)
    }

    /// Any user's ledger, newest first; `UserNotFound` for an unknown user
    /// rather than an empty page.
    pub async fn ledger(
        &self,
        id: UserId,
        kind: Option<EntryKind>,
        page: Page,
    ) -> Result<Paged<LedgerEntry>, AdminError> {
        self.user(id).await?;
        Ok(self.db.entries_of_user(id, kind, page).await?)
    }

    /// Each scheduled job's latest successful run, by job name.
    pub async fn job_successes(&self) -> Result<Vec<(String, OffsetDateTime)>, PortError> {
        self.db.last_successes().await
    }

    pub async fn tokens(
        &self,
        filter: &TokenFilter,
        page: Page,
    ) -> Result<Paged<TokenRecord>, PortError> {
        self.db.list_tokens(filter, page).await
    }

    pub async fn audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditRecord>, PortError> {
        self.db.list_audit(filter, page).await
    }

    pub fn export_audit(
        &self,
        filter: AuditFilter,
    ) -> BoxStream<'static, Result<AuditRecord, PortError>> {
        self.db.export_audit(filter)
    }

    pub async fn sessions(
        &self,
        filter: &SessionFilter,
        page: Page,
    ) -> Result<Paged<SessionRecord>, PortError> {
        self.db.list_sessions(filter, page).await
    }

    /// Applies `patch` to a user. A balance change becomes an `adjustment`
    /// ledger row for the difference; deactivation ends the user's sessions
    /// and makes every instance forget their tokens before this returns.
    pub async fn update_user(
        &self,
        actor: &User,
        target: UserId,
        patch: UserPatch,
        ctx: &RequestContext,
    ) -> Result<User, AdminError> {
        let demoting_self = actor.id == target
            && (patch.is_active == Some(false) || patch.is_superuser == Some(false));
        if demoting_self {
            return Err(AdminError::SelfLockout);
        }
        let now = self.clock.now();
        let uow = self.db.begin().await?;
        let before = uow
            .user_by_id(target)
            .await?
            .ok_or(AdminError::UserNotFound)?;
        let mut after = User {
            is_active: patch.is_active.unwrap_or(before.is_active),
            is_superuser: patch.is_superuser.unwrap_or(before.is_superuser),
            updated_at: now,
            ..before.clone()
        };
        let mut changed = Map::new();
        let mut note = |field: &str, old: Value, new: Value| {
            if old != new {
                changed.insert(field.to_owned(), json!({ "old": old, "new": new }));
            }
        };
        note("is_active", before.is_active.into(), after.is_active.into());
        note(
            "is_superuser",
            before.is_superuser.into(),
            after.is_superuser.into(),
        );
        if let Some(balance) = patch.balance {
            note(
                "currency_balance",
                before.balance.to_string().into(),
                balance.to_string().into(),
            );
            after.balance = self
                .set_balance(uow.as_ref(), &before, balance, now)
                .await?;
        }
        uow.update_user(&after).await?;
        let deactivated = before.is_active && !after.is_active;
        let ended = if deactivated {
            uow.end_live_sessions_of_user(target, EndReason::Revoked, now)
                .await?
        } else {
            Vec::new()
        };
        uow.append_audit(&AuditEntry::new(
            AuditAction::AdminUserUpdate,
            ResourceType::User,
            Some(target.0),
            Some(actor.id),
            json!({ "changed_fields": changed }),
            ctx,
            now,
        ))
        .await?;
        let invalidated = if deactivated {
            // Before the commit: if the cache cannot be told, nothing changes.
            let hashes = user_token_hashes(uow.as_ref(), target).await?;
            let invalidation = self.cache.invalidate(&hashes, INVALIDATION_WINDOW).await?;
            Some((hashes, invalidation))
        } else {
            None
        };
        uow.commit().await?;
        if let Some((hashes, invalidation)) = invalidated {
            settle_after_commit(self.cache.as_ref(), &hashes, &invalidation).await;
        }
        // Free the devices' slots, so that a reactivated user starts afresh.
        for (token, session) in ended {
            release_after_commit(self.claims.as_ref(), token, session).await;
        }
        Ok(after)
    }

    /// Moves the balance to `target` through an adjustment row. The write
    /// is relative (as every balance write is), so a purchase racing with
    /// the operator would land the balance elsewhere: then nothing is kept.
    async fn set_balance(
        &self,
        uow: &dyn UnitOfWork,
        user: &User,
        target: Money,
        now: time::OffsetDateTime,
    ) -> Result<Money, AdminError> {
        let delta = Money::from_cents(target.cents() - user.balance.cents());
        if delta == Money::ZERO {
            return Ok(user.balance);
        }
        let landed = uow.adjust_balance(user.id, delta).await?;
        if landed != Some(target) {
            return Err(AdminError::BalanceRace);
        }
        uow.insert_entry(&LedgerEntry::settled(
            user.id,
            delta,
            EntryKind::Adjustment,
            format!(
                "Adjustment by an administrator: {} → {target}",
                user.balance
            ),
            now,
        ))
        .await?;
        Ok(target)
    }

    /// Revokes any user's token without refund, ends its live session and
    /// makes every instance forget it.
    pub async fn force_revoke(
        &self,
        actor: &User,
        id: TokenId,
        ctx: &RequestContext,
    ) -> Result<(), AdminError> {
        Ok(self.tokens.force_revoke(actor.id, id, ctx).await?)
    }

    /// Gives a token its own proxy rate limit, or with `None` returns it to
    /// the default, audited as `admin_token_update`. Every instance forgets
    /// the token before this returns, so each applies the new limit on the
    /// token's next request.
    pub async fn set_token_rate_limit(
        &self,
        actor: &User,
        id: TokenId,
        per_minute: Option<u32>,
        ctx: &RequestContext,
    ) -> Result<AccessToken, AdminError> {
        let now = self.clock.now();
        let uow = self.db.begin().await?;
        let before = uow
            .token_by_id(id)
            .await?
            .ok_or(AdminError::TokenNotFound)?;
        if !uow.set_token_rate_limit(id, per_minute).await? {
            return Err(AdminError::TokenNotFound);
        }
        uow.append_audit(&AuditEntry::new(
            AuditAction::AdminTokenUpdate,
            ResourceType::AccessToken,
            Some(id.0),
            Some(actor.id),
            json!({ "changed_fields": { "rate_limit_per_minute": {
                "old": before.rate_limit_per_minute,
                "new": per_minute,
            } } }),
            ctx,
            now,
        ))
        .await?;
        // Before the commit: if the cache cannot be told, nothing changes.
        let hashes = std::slice::from_ref(&before.token_hash);
        let invalidation = self.cache.invalidate(hashes, INVALIDATION_WINDOW).await?;
        uow.commit().await?;
        settle_after_commit(self.cache.as_ref(), hashes, &invalidation).await;
        Ok(AccessToken {
            rate_limit_per_minute: per_minute,
            ..before
        })
    }

    /// Ends any live session and frees its token for another device.
    pub async fn terminate_session(
        &self,
        actor: &User,
        id: SessionId,
        ctx: &RequestContext,
    ) -> Result<bool, AdminError> {
        let now = self.clock.now();
        let uow = self.db.begin().await?;
        let session = uow
            .session_by_id(id)
            .await?
            .ok_or(AdminError::SessionNotFound)?;
        let ended = uow.end_session(id, EndReason::Terminated, now).await?;
        uow.append_audit(&AuditEntry::new(
            AuditAction::AdminSessionTerminate,
            ResourceType::ProxySession,
            Some(id.0),
            Some(actor.id),
            json!({
                "owner_id": session.user_id.0,
                "token_id": session.token_id.0,
                "device_id": session.device_id.as_str(),
                "was_active": ended,
            }),
            ctx,
            now,
        ))
        .await?;
        // Freeing the slot is the point, so it happens before the commit:
        // if the claim store cannot be told, nothing changes.
        self.claims.release(session.token_id, id).await?;
        uow.commit().await?;
        Ok(ended)
    }
}

async fn user_token_hashes(
    uow: &dyn UnitOfWork,
    user: UserId,
) -> Result<Vec<TokenHash>, PortError> {
    Ok(uow
        .tokens_of_user(user, None)
        .await?
        .into_iter()
        .map(|t| t.token_hash)
        .collect())
}
