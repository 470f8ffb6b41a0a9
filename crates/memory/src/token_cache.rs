//! The token cache of a single process (the embedded default and tests).
//! An invalidation is seen only by this process, so it is not valid behind
//! a load balancer.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{CacheLookup, CachedToken, TokenCache};
use zenzefi_domain::token::TokenHash;

#[derive(Debug, Default)]
pub struct InMemoryTokenCache {
    slots: Mutex<Slots>,
}

/// Each hash's slot and the instant it stops counting.
type Slots = HashMap<TokenHash, (Slot, Instant)>;

/// What a hash holds until its deadline.
#[derive(Debug)]
enum Slot {
    Entry(CachedToken),
    /// Refuses fills, so that a validation that read the database before an
    /// invalidation cannot put the old state back.
    Invalidated,
}

/// Past this many slots, expired ones are swept on the next write.
const SWEEP_THRESHOLD: usize = 10_000;

impl InMemoryTokenCache {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slots for a write, swept of expired ones once there are many.
    fn slots_for_write(&self, now: Instant) -> MutexGuard<'_, Slots> {
        let mut slots = self.slots();
        if slots.len() > SWEEP_THRESHOLD {
            slots.retain(|_, (_, until)| *until > now);
        }
        slots
    }
}

#[async_trait]
impl TokenCache for InMemoryTokenCache {
    async fn get(&self, hash: &TokenHash) -> Result<CacheLookup, PortError> {
        let lookup = match self.slots().get(hash) {
            Some((slot, until)) if *until > Instant::now() => match slot {
                Slot::Entry(entry) => CacheLookup::Hit(entry.clone()),
                Slot::Invalidated => CacheLookup::Invalidated,
            },
            _ => CacheLookup::Miss,
        };
        Ok(lookup)
    }

    async fn put(
        &self,
        hash: &TokenHash,
        entry: &CachedToken,
        ttl: Duration,
    ) -> Result<(), PortError> {
        let now = Instant::now();
        let mut slots = self.slots_for_write(now);
        let blocked = matches!(slots.get(hash), Some((Slot::Invalidated, until)) if *until > now);
        if !blocked {
            slots.insert(hash.clone(), (Slot::Entry(entry.clone()), now + ttl));
        }
        Ok(())
    }

    async fn invalidate(&self, hashes: &[TokenHash], window: Duration) -> Result<(), PortError> {
        let now = Instant::now();
        let mut slots = self.slots_for_write(now);
        for hash in hashes {
            slots.insert(hash.clone(), (Slot::Invalidated, now + window));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use uuid::Uuid;
    use zenzefi_domain::token::{AccessToken, TokenId};
    use zenzefi_domain::user::UserId;
    use zenzefi_testkit::fixtures;

    use super::*;

    const LONG: Duration = Duration::from_secs(60);
    const SHORT: Duration = Duration::from_millis(30);

    /// The same entry on every call, so that hits compare equal.
    fn entry() -> CachedToken {
        CachedToken {
            token: AccessToken {
                id: TokenId(Uuid::from_u128(1)),
                ..fixtures::token(
                    UserId(Uuid::from_u128(2)),
                    1,
                    datetime!(2026-01-01 12:00 UTC),
                )
            },
            user_active: true,
        }
    }

    fn hash() -> TokenHash {
        entry().token.token_hash
    }

    async fn wait_past(hold: Duration) {
        tokio::time::sleep(hold + Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn a_put_entry_is_a_hit_until_its_ttl_ends() {
        let cache = InMemoryTokenCache::default();
        assert_eq!(cache.get(&hash()).await.unwrap(), CacheLookup::Miss);
        cache.put(&hash(), &entry(), SHORT).await.unwrap();
        assert_eq!(cache.get(&hash()).await.unwrap(), CacheLookup::Hit(entry()));
        wait_past(SHORT).await;
        assert_eq!(cache.get(&hash()).await.unwrap(), CacheLookup::Miss);
    }

    #[tokio::test]
    async fn an_invalidated_hash_refuses_fills_until_its_window_ends() {
        let cache = InMemoryTokenCache::default();
        cache.put(&hash(), &entry(), LONG).await.unwrap();
        cache.invalidate(&[hash()], SHORT).await.unwrap();
        assert_eq!(cache.get(&hash()).await.unwrap(), CacheLookup::Invalidated);
        cache.put(&hash(), &entry(), LONG).await.unwrap();
        assert_eq!(cache.get(&hash()).await.unwrap(), CacheLookup::Invalidated);

        wait_past(SHORT).await;
        assert_eq!(cache.get(&hash()).await.unwrap(), CacheLookup::Miss);
        cache.put(&hash(), &entry(), LONG).await.unwrap();
        assert_eq!(cache.get(&hash()).await.unwrap(), CacheLookup::Hit(entry()));
    }

    #[tokio::test]
    async fn invalidation_covers_every_hash_given_and_no_other() {
        let cache = InMemoryTokenCache::default();
        let (a, b, c) = (TokenHash::of("a"), TokenHash::of("b"), TokenHash::of("c"));
        cache.put(&c, &entry(), LONG).await.unwrap();
        cache
            .invalidate(&[a.clone(), b.clone()], LONG)
            .await
            .unwrap();
        for invalidated in [&a, &b] {
            assert_eq!(
                cache.get(invalidated).await.unwrap(),
                CacheLookup::Invalidated
            );
        }
        assert_eq!(cache.get(&c).await.unwrap(), CacheLookup::Hit(entry()));
    }
}
