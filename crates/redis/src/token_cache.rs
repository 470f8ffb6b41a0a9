//! The token cache shared by every API instance: an invalidation written
//! here is seen by all of them at once.

mod wire;

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::{Script, ScriptInvocation};
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{CacheLookup, CachedToken, Invalidation, TokenCache};
use zenzefi_domain::token::TokenHash;

use crate::near::{Freshness, Lookups, NearCache, UNTRUSTED_LIFETIME};
use crate::pool::px;

/// Stored instead of an entry while refills are refused, followed by the
/// invalidation's id: `!invalidated:<id>` until its change is committed,
/// `!settled:<id>` after. JSON never starts with `!`, so a marker cannot be
/// mistaken for an entry.
const INVALIDATED: &str = "!invalidated:";
const SETTLED: &str = "!settled:";

/// Fills only a slot that does not hold a marker, checked and written in
/// one step on the server, so a fill that read the database before an
/// invalidation can never overwrite it; nor can a fill of a token not yet
/// activated overwrite one of the same token activated (activation is for
/// good, and proxied requests of an activated token must not go back to
/// the database to activate it). Returns 1 when it filled.
/// KEYS[1]: the slot; ARGV: the entry, its TTL in ms, "1" when the entry is
/// of an activated token.
static PUT_UNLESS_INVALIDATED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 1) == '!' then
    return 0
end
if held and ARGV[3] == '0' and string.find(held, '"activated_at":"', 1, true) then
    return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#,
    )
});

/// Fills a slot that holds the settled marker the filler saw before it
/// read the database, or nothing; not one holding an entry (filled since)
/// or another marker (a later invalidation). Returns 1 when it filled.
/// KEYS[1]: the slot; ARGV: the settled marker, the entry, its TTL in ms.
static PUT_SETTLED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
",
    )
});

/// Turns the slots still holding this invalidation's marker settled, for
/// the rest of their window. KEYS: the slots; ARGV: the marker, the
/// settled marker.
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for _, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[1] then
        redis.call('SET', key, ARGV[2], 'KEEPTTL')
    end
end
return 0
",
    )
});

/// Marks every slot invalidated and tells every instance, in one step: a
/// revocation never reports success with a hash still refillable or an
/// instance not told. KEYS: the slots; ARGV: the marker, the window in ms,
/// the channel, the event.
static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for _, key in ipairs(KEYS) do
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return #KEYS
",
    )
});

/// One key per token hash, `{prefix}token:{hash}`, holding the entry's
/// JSON or [`INVALIDATED`], expiring with the TTL or the window; in front
/// of it, this instance's near cache.
#[derive(Clone)]
pub struct RedisTokenCache {
    near: NearCache,
}

impl RedisTokenCache {
    pub fn new(near: NearCache) -> Self {
        Self { near }
    }

    fn key(&self, hash: &TokenHash) -> String {
        self.near.key(&format!("token:{}", hash.as_str()))
    }

    /// `script` with the slot of each hash as its keys.
    fn over_slots<'a>(&self, script: &'a Script, hashes: &[TokenHash]) -> ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        for hash in hashes {
            invocation.key(self.key(hash));
        }
        invocation
    }

    async fn remote_get(&self, hash: &TokenHash) -> Result<CacheLookup, PortError> {
        let link = self.near.link();
        let mut conn = link.connection()?;
        let stored: Option<String> = link.checked(
            redis::cmd("GET")
                .arg(self.key(hash))
                .query_async(&mut conn)
                .await,
        )?;
        let lookup = match stored.as_deref() {
            None => CacheLookup::Miss,
            Some(marker) if marker.starts_with(INVALIDATED) => CacheLookup::Invalidated,
            Some(marker) if let Some(id) = marker.strip_prefix(SETTLED) => {
                CacheLookup::Settled(Invalidation(id.to_owned()))
            }
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
}

/// How long an entry may stay near: never past its token's expiry.
fn near_lifetime(entry: &CachedToken, ttl: Duration) -> Duration {
    match entry.token.expires_at() {
        Some(end) => {
            ttl.min(Duration::try_from(end - OffsetDateTime::now_utc()).unwrap_or_default())
        }
        None => ttl,
    }
}

#[async_trait]
impl TokenCache for RedisTokenCache {
    async fn get(&self, hash: &TokenHash) -> Result<CacheLookup, PortError> {
        let lookups = Lookups::tokens();
        if self.near.is_unknown(hash) {
            lookups.hit.increment(1);
            return Ok(CacheLookup::Unknown);
        }
        match self.near.token(hash) {
            Some((local, Freshness::Fresh)) => {
                lookups.hit.increment(1);
                return Ok(CacheLookup::Hit((*local.entry).clone()));
            }
            Some(_) => lookups.bypass.increment(1),
            None => lookups.miss.increment(1),
        }
        let read_at = Instant::now();
        let lookup = self.remote_get(hash).await?;
        if let CacheLookup::Hit(entry) = &lookup {
            let lifetime = near_lifetime(entry, Duration::MAX);
            self.near.keep_token(hash, entry.clone(), lifetime, read_at);
        }
        Ok(lookup)
    }

    /// With Redis unreachable the entry is kept near for a second only:
    /// no invalidation can succeed meanwhile, and the database is asked
    /// again after that.
    async fn put(
        &self,
        hash: &TokenHash,
        entry: &CachedToken,
        ttl: Duration,
    ) -> Result<(), PortError> {
        let read_at = Instant::now();
        let json = wire::encode(entry).map_err(PortError::unexpected)?;
        let link = self.near.link();
        let filled = match link.connection() {
            Ok(mut conn) => link.checked(
                PUT_UNLESS_INVALIDATED
                    .key(self.key(hash))
                    .arg(json)
                    .arg(px(ttl))
                    .arg(if entry.token.activated_at.is_some() {
                        "1"
                    } else {
                        "0"
                    })
                    .invoke_async::<bool>(&mut conn)
                    .await,
            ),
            Err(err) => Err(err),
        };
        match filled {
            Ok(true) => {
                let lifetime = near_lifetime(entry, ttl);
                self.near.keep_token(hash, entry.clone(), lifetime, read_at);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(PortError::Unavailable(_)) => {
                let lifetime = near_lifetime(entry, UNTRUSTED_LIFETIME);
                self.near.keep_token(hash, entry.clone(), lifetime, read_at);
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Unlike [`TokenCache::put`], kept near only when Redis took it: a
    /// settled marker is news from Redis, and so must the entry be.
    async fn put_settled(
        &self,
        hash: &TokenHash,
        entry: &CachedToken,
        ttl: Duration,
        settled: &Invalidation,
    ) -> Result<(), PortError> {
        let read_at = Instant::now();
        let json = wire::encode(entry).map_err(PortError::unexpected)?;
        let link = self.near.link();
        let mut conn = link.connection()?;
        let filled = link.checked(
            PUT_SETTLED
                .key(self.key(hash))
                .arg(format!("{SETTLED}{}", settled.0))
                .arg(json)
                .arg(px(ttl))
                .invoke_async::<bool>(&mut conn)
                .await,
        )?;
        if filled {
            let lifetime = near_lifetime(entry, ttl);
            self.near.keep_token(hash, entry.clone(), lifetime, read_at);
        }
        Ok(())
    }

    /// Kept by this instance only: each instance asks the database once.
    async fn remember_unknown(&self, hash: &TokenHash, ttl: Duration) -> Result<(), PortError> {
        self.near.remember_unknown(hash, ttl);
        Ok(())
    }

    async fn invalidate(
        &self,
        hashes: &[TokenHash],
        window: Duration,
    ) -> Result<Invalidation, PortError> {
        let invalidation = Invalidation(uuid::Uuid::new_v4().simple().to_string());
        if hashes.is_empty() {
            return Ok(invalidation);
        }
        let event = NearCache::tokens_event(hashes);
        let link = self.near.link();
        let mut conn = link.connection()?;
        let mut invocation = self.over_slots(&INVALIDATE, hashes);
        invocation
            .arg(format!("{INVALIDATED}{}", invalidation.0))
            .arg(px(window))
            .arg(self.near.channel())
            .arg(&event);
        link.checked(invocation.invoke_async::<()>(&mut conn).await)?;
        self.near.apply_now(&event);
        Ok(invalidation)
    }

    async fn settle(
        &self,
        hashes: &[TokenHash],
        invalidation: &Invalidation,
    ) -> Result<(), PortError> {
        if hashes.is_empty() {
            return Ok(());
        }
        let link = self.near.link();
        let mut conn = link.connection()?;
        let mut invocation = self.over_slots(&SETTLE, hashes);
        invocation
            .arg(format!("{INVALIDATED}{}", invalidation.0))
            .arg(format!("{SETTLED}{}", invalidation.0));
        link.checked(invocation.invoke_async::<()>(&mut conn).await)
    }
}
