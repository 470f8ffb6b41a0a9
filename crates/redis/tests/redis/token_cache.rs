//! The shared token cache: round trips, expiry, and invalidations that no
//! fill (from this instance or another) can undo.

use std::time::Duration;

use zenzefi_domain::ports::{CacheLookup, TokenCache};
use zenzefi_redis::RedisTokenCache;
use zenzefi_testkit::contracts::token_cache::{self as contract, LONG, entry};

use crate::{NEAR, near_with, unique_prefix};

const SHORT: Duration = Duration::from_millis(150);
const SLACK: Duration = Duration::from_millis(100);

async fn cache() -> Option<RedisTokenCache> {
    near_with(&unique_prefix(), NEAR)
        .await
        .map(RedisTokenCache::new)
}

#[tokio::test]
async fn a_put_entry_comes_back_whole_until_its_ttl_ends() {
    let Some(cache) = cache().await else { return };
    contract::a_put_entry_comes_back_whole_until_its_ttl_ends(&cache, SHORT, SLACK).await;
}

#[tokio::test]
async fn a_put_after_an_invalidation_is_refused_until_the_window_ends() {
    let Some(cache) = cache().await else { return };
    contract::a_put_after_an_invalidation_is_refused_until_the_window_ends(&cache, SHORT, SLACK)
        .await;
}

#[tokio::test]
async fn an_unknown_hash_is_remembered_until_its_ttl_ends() {
    let Some(cache) = cache().await else { return };
    contract::an_unknown_hash_is_remembered_until_its_ttl_ends(&cache, SHORT, SLACK).await;
}

#[tokio::test]
async fn an_invalidation_covers_every_hash_given_and_no_other() {
    let Some(cache) = cache().await else { return };
    contract::an_invalidation_covers_every_hash_given_and_no_other(&cache).await;
}

#[tokio::test]
async fn a_settled_invalidation_takes_only_the_fills_that_saw_it_settled() {
    let Some(cache) = cache().await else { return };
    contract::a_settled_invalidation_takes_only_the_fills_that_saw_it_settled(&cache).await;
}

#[tokio::test]
async fn two_instances_see_each_others_fills_and_invalidations() {
    let prefix = unique_prefix();
    let (Some(first), Some(second)) = (
        near_with(&prefix, NEAR).await,
        near_with(&prefix, NEAR).await,
    ) else {
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
