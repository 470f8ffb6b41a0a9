//! The near cache across instances: entries answer without Redis, and an
//! invalidation or a released claim on one instance reaches the others
//! through the events channel.

use std::time::{Duration, Instant};

use deadpool_redis::{Runtime, redis};
use time::OffsetDateTime;
use zenzefi_domain::ports::{CacheLookup, CachedToken, Claim, SessionClaims, TokenCache};
use zenzefi_domain::session::SessionId;
use zenzefi_domain::token::TokenId;
use zenzefi_domain::user::UserId;
use zenzefi_redis::{NearCache, RedisSessionClaims, RedisTokenCache};
use zenzefi_testkit::contracts::session_claims::device;
use zenzefi_testkit::fixtures;

use crate::{NEAR, near_with, unique_prefix};

const LONG: Duration = Duration::from_secs(60);

/// A valid token's entry (the shared contract's entries are long expired,
/// which a near cache never keeps).
fn live_entry(seed: u8) -> CachedToken {
    CachedToken {
        token: fixtures::token(UserId::generate(), seed, OffsetDateTime::now_utc()),
        user_active: true,
    }
}

/// Waits until the instance hears its own heartbeat on the channel.
async fn subscribed(near: &NearCache) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !near.trusted() {
        assert!(Instant::now() < deadline, "the near cache never subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn raw(cmd: &mut redis::Cmd) {
    let url = zenzefi_testkit::service_url("TEST_REDIS_URL").unwrap();
    let mut conn = deadpool_redis::Config::from_url(url)
        .create_pool(Some(Runtime::Tokio1))
        .unwrap()
        .get()
        .await
        .unwrap();
    cmd.query_async::<()>(&mut conn).await.unwrap();
}

/// Two instances of one deployment, both subscribed.
async fn instances() -> Option<(String, NearCache, NearCache)> {
    let prefix = unique_prefix();
    let (first, second) = (
        near_with(&prefix, NEAR).await?,
        near_with(&prefix, NEAR).await?,
    );
    subscribed(&first).await;
    subscribed(&second).await;
    Some((prefix, first, second))
}

#[tokio::test]
async fn a_kept_entry_answers_without_redis() {
    let Some((prefix, near, _)) = instances().await else {
        return;
    };
    let cache = RedisTokenCache::new(near);
    let entry = live_entry(1);
    let hash = &entry.token.token_hash;
    cache.put(hash, &entry, LONG).await.unwrap();

    raw(redis::cmd("DEL").arg(format!("{prefix}token:{}", hash.as_str()))).await;
    assert_eq!(
        cache.get(hash).await.unwrap(),
        CacheLookup::Hit(entry.clone())
    );
}

#[tokio::test]
async fn an_invalidation_reaches_every_instance_within_100_ms() {
    let Some((_, first, second)) = instances().await else {
        return;
    };
    let (first, second) = (RedisTokenCache::new(first), RedisTokenCache::new(second));
    let mut worst = Duration::ZERO;
    for seed in 0..20 {
        let entry = live_entry(seed);
        let hash = &entry.token.token_hash;
        first.put(hash, &entry, LONG).await.unwrap();
        // Now held near on the second instance too.
        assert!(matches!(
            second.get(hash).await.unwrap(),
            CacheLookup::Hit(_)
        ));

        let invalidated = Instant::now();
        first
            .invalidate(std::slice::from_ref(hash), LONG)
            .await
            .unwrap();
        while second.get(hash).await.unwrap() != CacheLookup::Invalidated {
            assert!(
                invalidated.elapsed() < Duration::from_secs(1),
                "never dropped"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        worst = worst.max(invalidated.elapsed());
    }
    assert!(worst < Duration::from_millis(100), "{worst:?}");
}

#[tokio::test]
async fn a_fill_that_read_before_an_invalidation_is_not_kept() {
    let Some((_, first, second)) = instances().await else {
        return;
    };
    let (first, second) = (RedisTokenCache::new(first), RedisTokenCache::new(second));
    let entry = live_entry(7);
    let hash = &entry.token.token_hash;
    // The second instance read the database; the first revokes before the
    // second fills.
    first
        .invalidate(std::slice::from_ref(hash), LONG)
        .await
        .unwrap();
    second.put(hash, &entry, LONG).await.unwrap();
    assert_eq!(second.get(hash).await.unwrap(), CacheLookup::Invalidated);
}

#[tokio::test]
async fn a_released_claim_is_dropped_by_every_instance() {
    let Some((_, first, second)) = instances().await else {
        return;
    };
    let (first, second) = (
        RedisSessionClaims::new(first),
        RedisSessionClaims::new(second),
    );
    let (token, laptop, desktop) = (
        TokenId::generate(),
        device("laptop-01"),
        device("desktop-02"),
    );
    let session = SessionId::generate();
    assert_eq!(
        second.claim(token, &laptop, session, LONG).await.unwrap(),
        Claim::Won
    );
    assert_eq!(
        second
            .claim(token, &laptop, SessionId::generate(), LONG)
            .await
            .unwrap(),
        Claim::Held(session)
    );

    first.release(token, session).await.unwrap();
    let newcomer = SessionId::generate();
    assert_eq!(
        first.claim(token, &desktop, newcomer, LONG).await.unwrap(),
        Claim::Won
    );
    // The second instance no longer answers for the laptop from memory.
    let deadline = Instant::now() + Duration::from_millis(100);
    loop {
        match second
            .claim(token, &laptop, SessionId::generate(), LONG)
            .await
            .unwrap()
        {
            Claim::Taken { device, session } => {
                assert_eq!((device, session), (desktop, newcomer));
                break;
            }
            held => assert!(Instant::now() < deadline, "still {held:?}"),
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn a_fill_never_takes_a_token_back_to_before_its_activation() {
    let Some((_, first, second)) = instances().await else {
        return;
    };
    let (first, second) = (RedisTokenCache::new(first), RedisTokenCache::new(second));
    let fresh = live_entry(9);
    let hash = &fresh.token.token_hash;
    let activated = CachedToken {
        token: zenzefi_domain::token::AccessToken {
            activated_at: Some(OffsetDateTime::now_utc()),
            ..fresh.token.clone()
        },
        ..fresh.clone()
    };
    // A request read the token before its activation and fills late, on
    // this instance and on another.
    first.put(hash, &activated, LONG).await.unwrap();
    first.put(hash, &fresh, LONG).await.unwrap();
    second.put(hash, &fresh, LONG).await.unwrap();
    for cache in [&first, &second] {
        assert_eq!(
            cache.get(hash).await.unwrap(),
            CacheLookup::Hit(activated.clone())
        );
    }
}
