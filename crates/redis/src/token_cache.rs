//! The token cache shared by every API instance: an invalidation written
//! here is seen by all of them at once.

mod wire;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{CacheLookup, CachedToken, TokenCache};
use zenzefi_domain::token::TokenHash;

use crate::pool::{RedisPool, px, redis_error};

/// Stored instead of an entry while refills are refused. JSON never starts
/// with `!`, so it cannot be mistaken for an entry.
const INVALIDATED: &str = "!invalidated";

/// Fills only a slot that does not hold the marker, checked and written in
/// one step on the server, so a fill that read the database before an
/// invalidation can never overwrite it.
/// KEYS[1]: the slot; ARGV: the marker, the entry, its TTL in ms.
const PUT_UNLESS_INVALIDATED: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// One key per token hash, `{prefix}token:{hash}`, holding the entry's
/// JSON or [`INVALIDATED`], expiring with the TTL or the window.
#[derive(Clone)]
pub struct RedisTokenCache {
    pool: RedisPool,
}

impl RedisTokenCache {
    pub fn new(pool: RedisPool) -> Self {
        Self { pool }
    }

    fn key(&self, hash: &TokenHash) -> String {
        self.pool.key(&format!("token:{}", hash.as_str()))
    }
}

#[async_trait]
impl TokenCache for RedisTokenCache {
    async fn get(&self, hash: &TokenHash) -> Result<CacheLookup, PortError> {
        let mut conn = self.pool.connection().await?;
        let stored: Option<String> = redis::cmd("GET")
            .arg(self.key(hash))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let lookup = match stored.as_deref() {
            None => CacheLookup::Miss,
            Some(INVALIDATED) => CacheLookup::Invalidated,
            // An entry written by another version is only a lost shortcut:
            // the caller reads the database and its fill replaces it.
            Some(json) => match wire::decode(json) {
                Ok(entry) => CacheLookup::Hit(entry),
                Err(error) => {
                    tracing::warn!(%error, "undecodable token cache entry; treating it as a miss");
                    CacheLookup::Miss
                }
            },
        };
        Ok(lookup)
    }

    async fn put(
        &self,
        hash: &TokenHash,
        entry: &CachedToken,
        ttl: Duration,
    ) -> Result<(), PortError> {
        let json = wire::encode(entry).map_err(PortError::unexpected)?;
        let mut conn = self.pool.connection().await?;
        redis::cmd("EVAL")
            .arg(PUT_UNLESS_INVALIDATED)
            .arg(1)
            .arg(self.key(hash))
            .arg(INVALIDATED)
            .arg(json)
            .arg(px(ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)
    }

    async fn invalidate(&self, hashes: &[TokenHash], window: Duration) -> Result<(), PortError> {
        if hashes.is_empty() {
            return Ok(());
        }
        let window_ms = px(window);
        let mut pipe = redis::pipe();
        // All or nothing: a revocation must not report success with some
        // of its hashes still refillable.
        pipe.atomic();
        for hash in hashes {
            pipe.cmd("SET")
                .arg(self.key(hash))
                .arg(INVALIDATED)
                .arg("PX")
                .arg(window_ms)
                .ignore();
        }
        let mut conn = self.pool.connection().await?;
        pipe.query_async::<()>(&mut conn).await.map_err(redis_error)
    }
}
