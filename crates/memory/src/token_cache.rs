//! The token cache of a single process (the embedded default and tests).
//! An invalidation is seen only by this process, so it is not valid behind
//! a load balancer.

use foldhash::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{CacheLookup, CachedToken, Invalidation, TokenCache};
use zenzefi_domain::token::TokenHash;

#[derive(Debug, Default)]
pub struct InMemoryTokenCache {
    slots: Mutex<Slots>,
    /// Names the invalidations.
    invalidations: std::sync::atomic::AtomicU64,
}

/// Each hash's slot and the instant it stops counting.
type Slots = HashMap<TokenHash, (Slot, Instant)>;

/// What a hash holds until its deadline.
#[derive(Debug)]
enum Slot {
    Entry(CachedToken),
    /// Refuses fills, so that a validation that read the database before an
    /// invalidation cannot put the old state back; once `settled`, it takes
    /// the fills of validations that saw it settled (read after the commit).
    Invalidated {
        id: u64,
        settled: bool,
    },
    /// No token has this hash.
    Unknown,
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
                Slot::Invalidated { settled: false, .. } => CacheLookup::Invalidated,
                Slot::Invalidated { id, settled: true } => {
                    CacheLookup::Settled(Invalidation(id.to_string()))
                }
                Slot::Unknown => CacheLookup::Unknown,
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
        let blocked =
            matches!(slots.get(hash), Some((Slot::Invalidated { .. }, until)) if *until > now);
        if !blocked {
            slots.insert(hash.clone(), (Slot::Entry(entry.clone()), now + ttl));
        }
        Ok(())
    }

    async fn put_settled(
        &self,
        hash: &TokenHash,
        entry: &CachedToken,
        ttl: Duration,
        settled: &Invalidation,
    ) -> Result<(), PortError> {
        let now = Instant::now();
        let mut slots = self.slots_for_write(now);
        let fits = match slots.get(hash) {
            Some((Slot::Invalidated { id, settled: true }, until)) if *until > now => {
                id.to_string() == settled.0
            }
            Some((_, until)) if *until > now => false,
            _ => true,
        };
        if fits {
            slots.insert(hash.clone(), (Slot::Entry(entry.clone()), now + ttl));
        }
        Ok(())
    }

    async fn remember_unknown(&self, hash: &TokenHash, ttl: Duration) -> Result<(), PortError> {
        let now = Instant::now();
        self.slots_for_write(now)
            .insert(hash.clone(), (Slot::Unknown, now + ttl));
        Ok(())
    }

    async fn invalidate(
        &self,
        hashes: &[TokenHash],
        window: Duration,
    ) -> Result<Invalidation, PortError> {
        let id = self
            .invalidations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = Instant::now();
        let mut slots = self.slots_for_write(now);
        for hash in hashes {
            let slot = Slot::Invalidated { id, settled: false };
            slots.insert(hash.clone(), (slot, now + window));
        }
        Ok(Invalidation(id.to_string()))
    }

    async fn settle(
        &self,
        hashes: &[TokenHash],
        invalidation: &Invalidation,
    ) -> Result<(), PortError> {
        let mut slots = self.slots();
        for hash in hashes {
            if let Some((Slot::Invalidated { id, settled }, _)) = slots.get_mut(hash)
                && id.to_string() == invalidation.0
            {
                *settled = true;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use zenzefi_testkit::contracts::token_cache as contract;

    use super::*;

    const SHORT: Duration = Duration::from_millis(30);
    const SLACK: Duration = Duration::from_millis(20);

    #[tokio::test]
    async fn a_put_entry_comes_back_whole_until_its_ttl_ends() {
        contract::a_put_entry_comes_back_whole_until_its_ttl_ends(
            &InMemoryTokenCache::default(),
            SHORT,
            SLACK,
        )
        .await;
    }

    #[tokio::test]
    async fn a_put_after_an_invalidation_is_refused_until_the_window_ends() {
        contract::a_put_after_an_invalidation_is_refused_until_the_window_ends(
            &InMemoryTokenCache::default(),
            SHORT,
            SLACK,
        )
        .await;
    }

    #[tokio::test]
    async fn an_unknown_hash_is_remembered_until_its_ttl_ends() {
        contract::an_unknown_hash_is_remembered_until_its_ttl_ends(
            &InMemoryTokenCache::default(),
            SHORT,
            SLACK,
        )
        .await;
    }

    #[tokio::test]
    async fn an_invalidation_covers_every_hash_given_and_no_other() {
        contract::an_invalidation_covers_every_hash_given_and_no_other(
            &InMemoryTokenCache::default(),
        )
        .await;
    }

    #[tokio::test]
    async fn a_settled_invalidation_takes_only_the_fills_that_saw_it_settled() {
        contract::a_settled_invalidation_takes_only_the_fills_that_saw_it_settled(
            &InMemoryTokenCache::default(),
        )
        .await;
    }
}
