use std::time::Duration;

use async_trait::async_trait;

use crate::error::PortError;
use crate::token::{AccessToken, TokenHash};

/// What validation needs to know about a token, cached by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    pub token: AccessToken,
    pub user_active: bool,
}

/// Names one invalidation, for [`TokenCache::settle`] and the fills that
/// follow it. Opaque outside the adapter that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLookup {
    Hit(CachedToken),
    Miss,
    /// Invalidated a moment ago by a change that may not be committed yet:
    /// read the database and do not fill.
    Invalidated,
    /// Invalidated by a change since committed: what the database says
    /// from now on may be filled, with [`TokenCache::put_settled`].
    Settled(Invalidation),
    /// No token has this hash, as the database said a moment ago: refuse
    /// without asking it again.
    Unknown,
}

/// The first tier of token validation. With several API instances it MUST
/// be shared (Redis), so that an invalidation on one is seen by all.
#[async_trait]
pub trait TokenCache: Send + Sync {
    async fn get(&self, hash: &TokenHash) -> Result<CacheLookup, PortError>;

    /// Caches `entry` for `ttl`, unless the hash was invalidated within
    /// [`TokenCache::invalidate`]'s window (settled or not): a fill racing
    /// an invalidation must never resurrect the old state.
    async fn put(
        &self,
        hash: &TokenHash,
        entry: &CachedToken,
        ttl: Duration,
    ) -> Result<(), PortError>;

    /// Caches `entry`, read from the database after a lookup answered
    /// [`CacheLookup::Settled`] with `settled`, unless another invalidation
    /// of the hash has come since or the slot holds an entry already.
    async fn put_settled(
        &self,
        hash: &TokenHash,
        entry: &CachedToken,
        ttl: Duration,
        settled: &Invalidation,
    ) -> Result<(), PortError>;

    /// Remembers for `ttl` that no token has this hash, so that a client
    /// repeating an invalid token costs no database read. Secrets are random,
    /// so a hash nobody could present before never turns into a token.
    /// An adapter MAY keep this per instance only.
    async fn remember_unknown(&self, hash: &TokenHash, ttl: Duration) -> Result<(), PortError>;

    /// Drops these hashes and blocks their refill for `window`, which must
    /// outlast any validation in flight.
    async fn invalidate(
        &self,
        hashes: &[TokenHash],
        window: Duration,
    ) -> Result<Invalidation, PortError>;

    /// The change behind `invalidation` is committed: lookups of these
    /// hashes answer [`CacheLookup::Settled`] for the rest of the window, so
    /// that what the database says from now on may be cached again (a fill
    /// that read it before still may not). Best effort: without it the
    /// refusal lasts the whole window.
    async fn settle(
        &self,
        hashes: &[TokenHash],
        invalidation: &Invalidation,
    ) -> Result<(), PortError>;
}
