//! `TokenCache`: entries come back whole until their TTL ends, and an
//! invalidation refuses every fill for its window, except, once settled,
//! the fills of readers that saw it settled.

use std::time::Duration;

use time::macros::datetime;
use zenzefi_domain::ports::{CacheLookup, CachedToken, TokenCache};
use zenzefi_domain::token::{AccessToken, Scope, TokenHash};
use zenzefi_domain::user::UserId;

use crate::fixtures;

pub const LONG: Duration = Duration::from_secs(60);

/// Every field set, sub-second times and a non-UTC offset included, so a
/// lossy encoding would show.
pub fn entry(seed: u8) -> CachedToken {
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

/// `short` is a TTL the adapter can let run out in a test; checks after it
/// wait `short` plus `slack`.
pub async fn a_put_entry_comes_back_whole_until_its_ttl_ends(
    cache: &dyn TokenCache,
    short: Duration,
    slack: Duration,
) {
    let entry = entry(1);
    let hash = &entry.token.token_hash;
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Miss);
    cache.put(hash, &entry, short).await.unwrap();
    assert_eq!(
        cache.get(hash).await.unwrap(),
        CacheLookup::Hit(entry.clone())
    );
    tokio::time::sleep(short + slack).await;
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Miss);
}

pub async fn a_put_after_an_invalidation_is_refused_until_the_window_ends(
    cache: &dyn TokenCache,
    short: Duration,
    slack: Duration,
) {
    let entry = entry(2);
    let hash = &entry.token.token_hash;
    cache.put(hash, &entry, LONG).await.unwrap();
    cache
        .invalidate(std::slice::from_ref(hash), short)
        .await
        .unwrap();
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Invalidated);
    cache.put(hash, &entry, LONG).await.unwrap();
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Invalidated);

    tokio::time::sleep(short + slack).await;
    assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Miss);
    cache.put(hash, &entry, LONG).await.unwrap();
    assert_eq!(
        cache.get(hash).await.unwrap(),
        CacheLookup::Hit(entry.clone())
    );
}

pub async fn an_invalidation_covers_every_hash_given_and_no_other(cache: &dyn TokenCache) {
    let kept = entry(3);
    let kept_hash = &kept.token.token_hash;
    cache.put(kept_hash, &kept, LONG).await.unwrap();
    let hashes = [TokenHash::of("zzf_a"), TokenHash::of("zzf_b")];
    cache.invalidate(&hashes, LONG).await.unwrap();
    for hash in &hashes {
        assert_eq!(cache.get(hash).await.unwrap(), CacheLookup::Invalidated);
    }
    assert_eq!(
        cache.get(kept_hash).await.unwrap(),
        CacheLookup::Hit(kept.clone())
    );
    // Nothing to invalidate is not an error.
    cache.invalidate(&[], LONG).await.unwrap();
}

/// Settling (the change is committed) lets in the fills of readers that
/// saw the settled marker, and only those: not a plain fill (its reader may
/// have read the database before the commit), not a fill of an earlier
/// settlement once another invalidation came, not one over an entry.
pub async fn a_settled_invalidation_takes_only_the_fills_that_saw_it_settled(
    cache: &dyn TokenCache,
) {
    let entry = entry(4);
    let hash = &entry.token.token_hash;
    let hashes = std::slice::from_ref(hash);
    let lookup = || async { cache.get(hash).await.unwrap() };
    cache.put(hash, &entry, LONG).await.unwrap();

    let first = cache.invalidate(hashes, LONG).await.unwrap();
    cache.put_settled(hash, &entry, LONG, &first).await.unwrap();
    assert_eq!(
        lookup().await,
        CacheLookup::Invalidated,
        "settled before the commit"
    );
    cache.settle(hashes, &first).await.unwrap();
    let CacheLookup::Settled(seen) = lookup().await else {
        panic!("not settled after settle");
    };
    cache.put(hash, &entry, LONG).await.unwrap();
    assert_eq!(
        lookup().await,
        CacheLookup::Settled(seen.clone()),
        "a plain fill went in"
    );

    let second = cache.invalidate(hashes, LONG).await.unwrap();
    cache.put_settled(hash, &entry, LONG, &seen).await.unwrap();
    assert_eq!(
        lookup().await,
        CacheLookup::Invalidated,
        "an earlier settlement's fill went in"
    );
    cache.settle(hashes, &first).await.unwrap();
    assert_eq!(
        lookup().await,
        CacheLookup::Invalidated,
        "the first settle settled the second"
    );

    cache.settle(hashes, &second).await.unwrap();
    let CacheLookup::Settled(seen) = lookup().await else {
        panic!("the second invalidation did not settle");
    };
    cache.put_settled(hash, &entry, LONG, &seen).await.unwrap();
    assert_eq!(lookup().await, CacheLookup::Hit(entry.clone()));
    let late = CachedToken {
        user_active: false,
        ..entry.clone()
    };
    cache.put_settled(hash, &late, LONG, &seen).await.unwrap();
    assert_eq!(
        lookup().await,
        CacheLookup::Hit(entry),
        "a late fill overwrote an entry"
    );
}

/// A hash remembered as unknown is refused until its time ends; no other
/// hash is affected.
pub async fn an_unknown_hash_is_remembered_until_its_ttl_ends(
    cache: &dyn TokenCache,
    short: Duration,
    slack: Duration,
) {
    let unknown = TokenHash::of("zzf_nobody-bought-this");
    let other = TokenHash::of("zzf_nor-this");
    cache.remember_unknown(&unknown, short).await.unwrap();
    assert_eq!(cache.get(&unknown).await.unwrap(), CacheLookup::Unknown);
    assert_eq!(cache.get(&other).await.unwrap(), CacheLookup::Miss);
    tokio::time::sleep(short + slack).await;
    assert_eq!(cache.get(&unknown).await.unwrap(), CacheLookup::Miss);
}
