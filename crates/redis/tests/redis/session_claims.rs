//! The live-session slots: won, held and renewed by its device, taken for
//! any other, freed by the lease or a release by its own session, and won
//! by exactly one of many devices racing through two instances.

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::{Connection, Runtime, redis};
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{Claim, SessionClaims};
use zenzefi_domain::session::SessionId;
use zenzefi_domain::token::TokenId;
use zenzefi_redis::{NearCacheSettings, RedisSessionClaims};
use zenzefi_testkit::contracts::session_claims::{self as contract, LONG, device};

use crate::{NEAR, near_with, unique_prefix};

const SHORT: Duration = Duration::from_millis(150);

/// The adapter and the key prefix it writes under.
async fn claims() -> Option<(RedisSessionClaims, String)> {
    let prefix = unique_prefix();
    let near = near_with(&prefix, NEAR).await?;
    Some((RedisSessionClaims::new(near), prefix))
}

/// A plain connection, to look at and tamper with the stored slot.
async fn raw_connection() -> Connection {
    let url = zenzefi_testkit::service_url("TEST_REDIS_URL").unwrap();
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(Runtime::Tokio1))
        .unwrap()
        .get()
        .await
        .unwrap()
}

fn slot_key(prefix: &str, token: TokenId) -> String {
    format!("{prefix}session:{token}")
}

async fn pttl(prefix: &str, token: TokenId) -> i64 {
    redis::cmd("PTTL")
        .arg(slot_key(prefix, token))
        .query_async(&mut raw_connection().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_held_slot_is_renewed_in_redis_at_most_once_per_renewal_interval() {
    let prefix = unique_prefix();
    let renew = Duration::from_millis(300);
    let Some(near) = near_with(
        &prefix,
        NearCacheSettings {
            claim_renew: renew,
            ..NEAR
        },
    )
    .await
    else {
        return;
    };
    let claims = RedisSessionClaims::new(near);
    let (token, laptop) = (TokenId::generate(), device("laptop-01"));
    let first = SessionId::generate();

    assert_eq!(
        claims.claim(token, &laptop, first, LONG).await.unwrap(),
        Claim::Won
    );
    let stored: String = redis::cmd("GET")
        .arg(slot_key(&prefix, token))
        .query_async(&mut raw_connection().await)
        .await
        .unwrap();
    assert_eq!(stored, format!("{} laptop-01", first.0));

    // Within the interval the same device is answered here, and the lease
    // in Redis runs down untouched.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let aged = pttl(&prefix, token).await;
    let held = claims.claim(token, &laptop, SessionId::generate(), LONG);
    assert_eq!(held.await.unwrap(), Claim::Held(first));
    assert!(pttl(&prefix, token).await <= aged);

    // After it, the next request renews the lease for the same session.
    tokio::time::sleep(renew).await;
    let aged = pttl(&prefix, token).await;
    let held = claims.claim(token, &laptop, SessionId::generate(), LONG);
    assert_eq!(held.await.unwrap(), Claim::Held(first));
    let renewed = pttl(&prefix, token).await;
    assert!(renewed > aged, "{renewed} <= {aged}");
}

#[tokio::test]
async fn a_held_slot_is_taken_for_another_device_naming_the_holder() {
    let Some((claims, _)) = claims().await else {
        return;
    };
    contract::a_held_slot_is_taken_for_another_device_naming_the_holder(&claims).await;
}

#[tokio::test]
async fn the_slot_is_free_once_its_lease_ends() {
    let Some((claims, _)) = claims().await else {
        return;
    };
    contract::the_slot_is_free_once_its_lease_ends(&claims, SHORT, Duration::from_millis(100))
        .await;
}

#[tokio::test]
async fn only_the_holding_session_can_release_the_slot() {
    let Some((claims, _)) = claims().await else {
        return;
    };
    contract::only_the_holding_session_can_release_the_slot(&claims).await;
}

#[tokio::test]
async fn a_malformed_slot_is_unexpected() {
    let Some((claims, prefix)) = claims().await else {
        return;
    };
    let token = TokenId::generate();
    redis::cmd("SET")
        .arg(slot_key(&prefix, token))
        .arg("garbage")
        .query_async::<()>(&mut raw_connection().await)
        .await
        .unwrap();

    let err = claims
        .claim(token, &device("laptop-01"), SessionId::generate(), LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Unexpected(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_twenty_devices_racing_through_two_instances_exactly_one_wins() {
    let prefix = unique_prefix();
    let (Some(first), Some(second)) = (
        near_with(&prefix, NEAR).await,
        near_with(&prefix, NEAR).await,
    ) else {
        return;
    };
    let instances: [Arc<dyn SessionClaims>; 2] = [
        Arc::new(RedisSessionClaims::new(first)),
        Arc::new(RedisSessionClaims::new(second)),
    ];
    contract::of_twenty_devices_racing_for_a_fresh_token_exactly_one_wins(&instances).await;
}
