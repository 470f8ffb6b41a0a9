//! Access-token use-cases: pricing, purchase, listing, revocation
//! with refund, and the two-tier validation the proxy relies on.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{AuditAction, AuditEntry, ResourceType};
use crate::balance::{BalanceLimit, CreditError};
use crate::context::RequestContext;
use crate::error::PortError;
use crate::ledger::{EntryKind, LedgerEntry};
use crate::money::Money;
use crate::ports::{
    CacheLookup, CachedToken, Clock, Entropy, Invalidation, SessionClaims, TokenCache, TokenStore,
    Transactions, UserStore,
};
use crate::pricing::Pricing;
use crate::session::EndReason;
use crate::sessions::release_after_commit;
use crate::token::{AccessToken, Scope, TokenHash, TokenId, TokenSecret};
use crate::user::UserId;
use crate::validation::ValidationErrors;

/// Longest a validation result is trusted without the database.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// How long a hash no token has is refused without a database read.
pub const UNKNOWN_TTL: Duration = Duration::from_secs(30);
/// How long an invalidated hash refuses refills: far longer than any
/// validation takes between its database read and its cache fill.
pub const INVALIDATION_WINDOW: Duration = Duration::from_secs(60);

/// Tells the cache that the change behind `invalidation` is committed, so
/// that the hashes' next validation caches what the database says again
/// instead of reading it on every request for the rest of the window.
/// Best effort, like any fill.
pub async fn settle_after_commit(
    cache: &dyn TokenCache,
    hashes: &[TokenHash],
    invalidation: &Invalidation,
) {
    if let Err(err) = cache.settle(hashes, invalidation).await {
        tracing::warn!(error = %err, "could not settle an invalidation; its tokens read the database until the window ends");
    }
}

/// Whether a validation may cache what it read from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fill {
    /// No: an invalidation may not be committed yet.
    No,
    Plain,
    /// After a committed invalidation, unless another came since.
    Settled(Invalidation),
}

/// A purchase request, checked against the price list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOrder {
    pub duration_hours: u32,
    pub scope: Scope,
    pub price: Money,
}

impl TokenOrder {
    pub fn parse(
        pricing: &Pricing,
        duration_hours: i64,
        scope: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let priced = u32::try_from(duration_hours)
            .ok()
            .and_then(|h| pricing.price(h).map(|p| (h, p)));
        let priced = errors.check(
            "duration_hours",
            priced.ok_or_else(|| format!("must be one of {:?}", pricing.durations())),
        );
        let scope = errors.check(
            "scope",
            match scope {
                None => Ok(Scope::Full),
                Some(s) => Scope::parse(s)
                    .ok_or_else(|| "must be \"full\" or \"certificates_only\"".to_owned()),
            },
        );
        match (priced, scope) {
            (Some((duration_hours, price)), Some(scope)) => Ok(Self {
                duration_hours,
                scope,
                price,
            }),
            _ => Err(errors),
        }
    }
}

/// A bought token; the only place its secret is ever returned.
#[derive(Debug)]
pub struct Purchase {
    pub token: AccessToken,
    pub secret: TokenSecret,
    pub balance_after: Money,
}

#[derive(Debug, thiserror::Error)]
pub enum PurchaseError {
    #[error("insufficient balance: required {required}, available {available}")]
    InsufficientBalance { required: Money, available: Money },
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Debug)]
pub struct Revocation {
    pub refund: Money,
    pub balance_after: Money,
}

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("no such token")]
    NotFound,
    #[error("token already revoked")]
    AlreadyRevoked,
    /// The refund would take the balance above this limit.
    #[error("the balance would exceed {0} ZNC")]
    BalanceLimit(Money),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl From<CreditError> for RevokeError {
    fn from(err: CreditError) -> Self {
        match err {
            CreditError::OverLimit(max) => Self::BalanceLimit(max),
            CreditError::Port(e) => Self::Port(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// Unknown, revoked or expired; the proxy does not say which.
    #[error("invalid token")]
    Invalid,
    /// A known token of a deactivated owner (usage counts the refusal).
    #[error("the token's owner is deactivated")]
    UserInactive { token: TokenId, user: UserId },
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Who revokes a token: its owner (refunded) or an operator (no refund).
#[derive(Debug, Clone, Copy)]
enum Revoker {
    Owner(UserId),
    Operator(UserId),
}

/// What the token use-cases need of the database: units of work, and the
/// stores they call outside one.
pub trait TokensDb: Transactions + TokenStore + UserStore {}

impl<T: Transactions + TokenStore + UserStore> TokensDb for T {}

pub struct TokenService {
    db: Arc<dyn TokensDb>,
    cache: Arc<dyn TokenCache>,
    claims: Arc<dyn SessionClaims>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    pricing: Pricing,
    limit: BalanceLimit,
    turns: Turns,
}

/// Striped async locks over token hashes: readers of one hash wait for
/// each other; readers of different hashes rarely do.
struct Turns([futures::lock::Mutex<()>; Turns::STRIPES]);

impl Turns {
    const STRIPES: usize = 64;

    fn of(&self, hash: &TokenHash) -> &futures::lock::Mutex<()> {
        // Hex digits of a SHA-256: any two spread evenly.
        let stripe = hash
            .as_str()
            .bytes()
            .take(2)
            .fold(0usize, |acc, b| acc * 16 + usize::from(b));
        &self.0[stripe % Self::STRIPES]
    }
}

impl Default for Turns {
    fn default() -> Self {
        Self(std::array::from_fn(|_| futures::lock::Mutex::new(())))
    }
}

impl TokenService {
    pub fn new(
        db: Arc<dyn TokensDb>,
        cache: Arc<dyn TokenCache>,
        claims: Arc<dyn SessionClaims>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        pricing: Pricing,
        limit: BalanceLimit,
    ) -> Self {
        Self {
            db,
            cache,
            claims,
            clock,
            entropy,
            pricing,
            limit,
            turns: Turns::default(),
        }
    }

    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    /// Debits the price, creates the token, its ledger row and its audit
    /// row in one unit of work. The debit is a conditional write, so
    /// concurrent purchases can never overdraw.
    pub async fn purchase(
        &self,
        user: UserId,
        order: TokenOrder,
        ctx: &RequestContext,
    ) -> Result<Purchase, PurchaseError> {
        let now = self.clock.now();
        let secret = TokenSecret::from_random(self.entropy.bytes32());
        let token = AccessToken::issue(
            user,
            &secret,
            order.duration_hours,
            order.scope,
            order.price,
            now,
        );
        let uow = self.db.begin().await?;
        let Some(balance_after) = uow.adjust_balance(user, -order.price).await? else {
            drop(uow);
            let available = self
                .db
                .user_by_id(user)
                .await?
                .map_or(Money::ZERO, |u| u.balance);
            return Err(PurchaseError::InsufficientBalance {
                required: order.price,
                available,
            });
        };
        uow.insert_token(&token).await?;
        uow.insert_entry(&LedgerEntry::settled(
            user,
            -order.price,
            EntryKind::Purchase,
            format!(
                "Access token {} ({} h, {})",
                token.token_prefix, token.duration_hours, token.scope
            ),
            now,
        ))
        .await?;
        uow.append_audit(&AuditEntry::new(
            AuditAction::TokenPurchase,
            ResourceType::AccessToken,
            Some(token.id.0),
            Some(user),
            json!({
                "duration_hours": token.duration_hours,
                "scope": token.scope.as_str(),
                "cost": token.cost.to_string(),
                "token_prefix": token.token_prefix,
                "balance_after": balance_after.to_string(),
            }),
            ctx,
            now,
        ))
        .await?;
        uow.commit().await?;
        Ok(Purchase {
            token,
            secret,
            balance_after,
        })
    }

    pub async fn tokens_of(
        &self,
        user: UserId,
        active_only: bool,
    ) -> Result<Vec<AccessToken>, PortError> {
        let usable_at = active_only.then(|| self.clock.now());
        self.db.tokens_of_user(user, usable_at).await
    }

    /// Revokes one of the user's own tokens and refunds the unused share.
    /// The cache forgets the token before this returns, on every instance.
    pub async fn revoke(
        &self,
        user: UserId,
        id: TokenId,
        ctx: &RequestContext,
    ) -> Result<Revocation, RevokeError> {
        self.revoke_as(Revoker::Owner(user), id, ctx).await
    }

    /// An operator revokes any user's token, without refund.
    pub async fn force_revoke(
        &self,
        actor: UserId,
        id: TokenId,
        ctx: &RequestContext,
    ) -> Result<(), RevokeError> {
        self.revoke_as(Revoker::Operator(actor), id, ctx)
            .await
            .map(drop)
    }

    /// Revocation, whoever asks: marks the token revoked, ends its live
    /// session, books the refund the revoker is due and the audit row, all
    /// in one unit of work; every instance forgets the token before the
    /// commit, and the session's slot is freed after it.
    async fn revoke_as(
        &self,
        revoker: Revoker,
        id: TokenId,
        ctx: &RequestContext,
    ) -> Result<Revocation, RevokeError> {
        let now = self.clock.now();
        let uow = self.db.begin().await?;
        let token = match (uow.token_by_id(id).await?, revoker) {
            (Some(token), Revoker::Owner(user)) if token.user_id == user => token,
            (Some(token), Revoker::Operator(_)) => token,
            _ => return Err(RevokeError::NotFound),
        };
        if !uow.revoke_token(id, now).await? {
            return Err(RevokeError::AlreadyRevoked);
        }
        let session = uow
            .end_live_session_of_token(id, EndReason::Revoked, now)
            .await?;
        let refund = match revoker {
            Revoker::Owner(_) => token.refund_at(now),
            Revoker::Operator(_) => Money::ZERO,
        };
        let balance_after = if refund > Money::ZERO {
            let balance = self
                .limit
                .credit(uow.as_ref(), token.user_id, refund)
                .await?;
            uow.insert_entry(&LedgerEntry::settled(
                token.user_id,
                refund,
                EntryKind::Refund,
                format!("Refund for access token {}", token.token_prefix),
                now,
            ))
            .await?;
            balance
        } else {
            uow.user_by_id(token.user_id)
                .await?
                .map_or(Money::ZERO, |u| u.balance)
        };
        let (action, actor, details) = match revoker {
            Revoker::Owner(user) => (
                AuditAction::TokenRevoke,
                user,
                json!({
                    "token_prefix": token.token_prefix,
                    "refund": refund.to_string(),
                    "balance_after": balance_after.to_string(),
                }),
            ),
            Revoker::Operator(actor) => (
                AuditAction::AdminForceRevoke,
                actor,
                json!({
                    "owner_id": token.user_id.0,
                    "token_prefix": token.token_prefix,
                    "refund": refund.to_string(),
                    "ended_session": session.map(|s| s.0),
                }),
            ),
        };
        uow.append_audit(&AuditEntry::new(
            action,
            ResourceType::AccessToken,
            Some(id.0),
            Some(actor),
            details,
            ctx,
            now,
        ))
        .await?;
        // Before the commit: if the cache cannot be told, nothing changes.
        let hashes = std::slice::from_ref(&token.token_hash);
        let invalidation = self.cache.invalidate(hashes, INVALIDATION_WINDOW).await?;
        uow.commit().await?;
        settle_after_commit(self.cache.as_ref(), hashes, &invalidation).await;
        if let Some(session) = session {
            release_after_commit(self.claims.as_ref(), id, session).await;
        }
        Ok(Revocation {
            refund,
            balance_after,
        })
    }

    /// Checks a presented secret: the cache first, then the database. With
    /// `activate`, a first use also activates the token (see
    /// [`TokenService::activate`]).
    pub async fn validate(
        &self,
        presented: &str,
        activate: bool,
    ) -> Result<AccessToken, ValidateError> {
        self.validate_hash(&TokenHash::of(presented), activate)
            .await
    }

    /// Whether the token with this hash is still valid, as a request
    /// presenting it would be told; never activates. Costs what a request
    /// costs: usually a near-cache hit.
    pub async fn revalidate(&self, hash: &TokenHash) -> Result<AccessToken, ValidateError> {
        self.validate_hash(hash, false).await
    }

    async fn validate_hash(
        &self,
        hash: &TokenHash,
        activate: bool,
    ) -> Result<AccessToken, ValidateError> {
        let now = self.clock.now();
        let (mut entry, fill) = match self.cache.get(hash).await {
            Ok(CacheLookup::Hit(entry)) => (Some(entry), Fill::No),
            Ok(CacheLookup::Miss) => (None, Fill::Plain),
            Ok(CacheLookup::Invalidated) => (None, Fill::No),
            Ok(CacheLookup::Settled(invalidation)) => (None, Fill::Settled(invalidation)),
            Ok(CacheLookup::Unknown) => return Err(ValidateError::Invalid),
            // No invalidation can succeed while the cache is unreachable
            // (they fail closed), so what the database says may be kept.
            // The adapter reports the outage once, not per request.
            Err(err) => {
                tracing::debug!(error = %err, "token cache unavailable; reading the database");
                (None, Fill::Plain)
            }
        };
        if entry.is_none() {
            entry = self.read_through(hash, fill, now).await?;
        }
        let Some(entry) = entry else {
            return Err(ValidateError::Invalid);
        };
        if !entry.token.is_usable(now) {
            return Err(ValidateError::Invalid);
        }
        if !entry.user_active {
            return Err(ValidateError::UserInactive {
                token: entry.token.id,
                user: entry.token.user_id,
            });
        }
        if activate {
            return self.activate(entry.token).await;
        }
        Ok(entry.token)
    }

    /// Starts the clock of a validated token on its first use: sets
    /// `activated_at` exactly once however many requests race for it, and
    /// returns the token as stored.
    pub async fn activate(&self, token: AccessToken) -> Result<AccessToken, ValidateError> {
        if token.activated_at.is_some() {
            return Ok(token);
        }
        let now = self.clock.now();
        let stored = self
            .db
            .activate_token(token.id, now)
            .await?
            .filter(|t| t.is_usable(now))
            .ok_or(ValidateError::Invalid)?;
        let entry = CachedToken {
            token: stored,
            user_active: true,
        };
        self.fill(&entry, now, &Fill::Plain).await;
        Ok(entry.token)
    }

    /// A hash the cache could not answer, read from the database and
    /// remembered. Readers of one hash take turns, and each turn asks the
    /// cache again first: a flood of one unknown token costs one query, not
    /// one per request in flight. A hash invalidated by a change that may
    /// not be committed yet is never filled, so its readers go without
    /// turns (a turn would only queue them).
    async fn read_through(
        &self,
        hash: &TokenHash,
        fill: Fill,
        now: OffsetDateTime,
    ) -> Result<Option<CachedToken>, PortError> {
        let _turn = if fill != Fill::No {
            let turn = self.turns.of(hash).lock().await;
            match self.cache.get(hash).await {
                Ok(CacheLookup::Hit(entry)) => return Ok(Some(entry)),
                Ok(CacheLookup::Unknown) => return Ok(None),
                _ => {}
            }
            Some(turn)
        } else {
            None
        };
        let entry = self.load(hash).await?;
        match &entry {
            Some(found) => self.fill(found, now, &fill).await,
            None => {
                if let Err(err) = self.cache.remember_unknown(hash, UNKNOWN_TTL).await {
                    tracing::debug!(error = %err, "could not remember an unknown token");
                }
            }
        }
        Ok(entry)
    }

    async fn load(&self, hash: &TokenHash) -> Result<Option<CachedToken>, PortError> {
        let Some(token) = self.db.token_by_hash(hash).await? else {
            return Ok(None);
        };
        let user_active = self
            .db
            .user_by_id(token.user_id)
            .await?
            .is_some_and(|u| u.is_active);
        Ok(Some(CachedToken { token, user_active }))
    }

    /// Best effort: a failed fill only costs the next request a database read.
    async fn fill(&self, entry: &CachedToken, now: OffsetDateTime, fill: &Fill) {
        let ttl = match entry.token.expires_at() {
            Some(end) => {
                let left = Duration::try_from(end - now).unwrap_or(Duration::ZERO);
                left.min(CACHE_TTL)
            }
            None => CACHE_TTL,
        };
        if ttl.is_zero() {
            return;
        }
        let hash = &entry.token.token_hash;
        let filled = match fill {
            Fill::No => return,
            Fill::Plain => self.cache.put(hash, entry, ttl).await,
            Fill::Settled(invalidation) => {
                self.cache.put_settled(hash, entry, ttl, invalidation).await
            }
        };
        if let Err(err) = filled {
            tracing::warn!(error = %err, "could not cache a token");
        }
    }
}
