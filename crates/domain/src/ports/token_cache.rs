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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLookup {
    Hit(CachedToken),
    Miss,
    /// Invalidated a moment ago: read the database and do not fill.
    Invalidated,
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
    /// [`TokenCache::invalidate`]'s window: a fill racing an invalidation
    /// must never resurrect the old state.
    async fn put(
        &self,
        hash: &TokenHash,
        entry: &CachedToken,
        ttl: Duration,
    ) -> Result<(), PortError>;

    /// Remembers for `ttl` that no token has this hash, so that a client
    /// repeating an invalid token costs no database read. Secrets are random,
    /// so a hash nobody could present before never turns into a token.
    /// An adapter MAY keep this per instance only.
    async fn remember_unknown(&self, hash: &TokenHash, ttl: Duration) -> Result<(), PortError>;

    /// Drops these hashes and blocks their refill for `window`, which must
    /// outlast any validation in flight.
    async fn invalidate(&self, hashes: &[TokenHash], window: Duration) -> Result<(), PortError>;
}
