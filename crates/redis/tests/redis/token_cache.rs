//! The shared token cache: round trips, expiry, and invalidations that no
//! fill (from this instance or another) can undo.

use std::time::Duration;

use time::macros::datetime;
use zenzefi_domain::ports::{CacheLookup, CachedToken, TokenCache};
use zenzefi_domain::token::{AccessToken, Scope, TokenHash};
use zenzefi_domain::user::UserId;
use zenzefi_redis::RedisTokenCache;
use zenzefi_testkit::fixtures;

use crate::{pool, pool_with_prefix, unique_prefix};

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(150);

/// Every field set, sub-second times and a non-UTC offset included, so a
/// lossy encoding would show.
fn entry(seed: u8) -> CachedToken {
    let bought = datetime!(2026-03-01 10:00:00.123456789 UTC);
    CachedToken {
        token: AccessToken {
            scope: Scope::CertificatesOnly,
            activated_at: Some(datetime!(2026-03-01 13:30:00.5 +03:00)),
            ..fixtures::token(UserId::generate(), seed, bought)
        },
        user_active: true,
    }
}

fn cache() -> Option<RedisTokenCache> {
    pool().map(RedisTokenCache::new)
}

async fn after(hold: Duration) {
    tokio::time::sleep(hold + Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_put_entry_comes_back_with_every_field_equal() {
    let Some(cache) = cache() else { return };
    let entry = entry(1);
    let hash = &entry.token.token_hash;
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Miss);
    cache.put(hash, &entry, LONG).await.unwrap();
    assert_eq!(
        cache.get(hash).await.unwrap(),
        CacheLookup::Hit(entry.clone())
    );
}

#[tokio::test]
async fn an_entry_is_a_miss_once_its_ttl_ends() {
    let Some(cache) = cache() else { return };
    let entry = entry(2);
    let hash = &entry.token.token_hash;
    cache.put(hash, &entry, SHORT).await.unwrap();
    assert!(matches!(
        cache.get(hash).await.unwrap(),
        CacheLookup::Hit(_)
    ));
    after(SHORT).await;
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Miss);
}

#[tokio::test]
async fn a_put_after_an_invalidation_is_refused_until_the_window_ends() {
    let Some(cache) = cache() else { return };
    let entry = entry(3);
    let hash = &entry.token.token_hash;
    cache.put(hash, &entry, LONG).await.unwrap();
    cache
        .invalidate(std::slice::from_ref(hash), SHORT)
        .await
        .unwrap();
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Invalidated);

    cache.put(hash, &entry, LONG).await.unwrap();
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Invalidated);

    after(SHORT).await;
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Miss);
    cache.put(hash, &entry, LONG).await.unwrap();
    assert_eq!(
        cache.get(hash).await.unwrap(),
        CacheLookup::Hit(entry.clone())
    );
}

#[tokio::test]
async fn an_invalidation_covers_every_hash_given() {
    let Some(cache) = cache() else { return };
    let hashes = [TokenHash::of("zzf_a"), TokenHash::of("zzf_b")];
    cache.invalidate(&hashes, LONG).await.unwrap();
    for hash in &hashes {
        assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Invalidated);
    }
    cache.invalidate(&[], LONG).await.unwrap();
}

#[tokio::test]
async fn two_instances_see_each_others_fills_and_invalidations() {
    let prefix = unique_prefix();
    let (Some(first), Some(second)) = (pool_with_prefix(&prefix), pool_with_prefix(&prefix)) else {
        return;
    };
    let (first, second) = (RedisTokenCache::new(first), RedisTokenCache::new(second));
    let entry = entry(4);
    let hash = &entry.token.token_hash;

    first.put(hash, &entry, LONG).await.unwrap();
    assert_eq!(
        second.get(hash).await.unwrap(),
        CacheLookup::Hit(entry.clone())
    );

    second
        .invalidate(std::slice::from_ref(hash), LONG)
        .await
        .unwrap();
    assert_eq!(first.get(hash).await.unwrap(), CacheLookup::Invalidated);
    first.put(hash, &entry, LONG).await.unwrap();
    assert_eq!(second.get(hash).await.unwrap(), CacheLookup::Invalidated);
}
