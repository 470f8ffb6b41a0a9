//! Redis failing under a running deployment: an outage costs the sessions
//! already admitted nothing and keeps one device per token, and a lost
//! subscription makes an instance distrust its near cache until it has
//! resubscribed.

use std::time::{Duration, Instant};

use serde_json::Value;
use zenzefi_testkit::redis_server::RedisServer;
use zenzefi_tests::body;
use zenzefi_tests::instances::{app_on, one_hour_token, refused_after, status_of};
use zenzefi_tests::upstream::FakeUpstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_costs_admitted_sessions_nothing_and_keeps_one_device_per_token() {
    let upstream = FakeUpstream::start().await;
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let Some(app) = app_on(&upstream, Some(&redis)).await else {
        return;
    };
    let (jwt, admitted) = app.token_holder("ann", "full").await;
    let (fresh_id, fresh) = one_hour_token(&app, &jwt).await;
    assert_eq!(
        status_of(&app, &app.base_url, &admitted, "laptop-0001").await,
        200
    );

    redis.kill();
    let outage = Instant::now();
    let mut statuses = Vec::new();
    let (mut newcomer, mut second_device, mut revoke) = (None, None, None);
    while outage.elapsed() < Duration::from_secs(10) {
        statuses.push(status_of(&app, &app.base_url, &admitted, "laptop-0001").await);
        if outage.elapsed() > Duration::from_secs(2) && newcomer.is_none() {
            // A new device for another token: the database decides.
            newcomer = Some(status_of(&app, &app.base_url, &fresh, "phone-00001").await);
            second_device = Some(status_of(&app, &app.base_url, &fresh, "tablet-0001").await);
            // A change every instance must hear of fails closed.
            revoke = Some(
                app.delete_as(&jwt, &format!("/api/v1/tokens/{fresh_id}"))
                    .await
                    .status()
                    .as_u16(),
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let failed: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
    eprintln!(
        "{} requests of the admitted session during a 10 s Redis outage, {} not 200",
        statuses.len(),
        failed.len()
    );
    assert_eq!(failed, Vec::<&u16>::new());
    assert_eq!(newcomer, Some(200));
    assert_eq!(second_device, Some(409));
    assert_eq!(revoke, Some(503));

    redis.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        status_of(&app, &app.base_url, &admitted, "laptop-0001").await,
        200
    );
    assert_eq!(
        status_of(&app, &app.base_url, &fresh, "phone-00001").await,
        200
    );
    assert_eq!(
        status_of(&app, &app.base_url, &fresh, "tablet-0001").await,
        409
    );
    let sessions: Value = body(app.get_as(&jwt, "/api/v1/users/me/sessions").await).await;
    let live: Vec<&Value> = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["is_active"] == true)
        .collect();
    let mut tokens: Vec<&str> = live
        .iter()
        .map(|s| s["token_id"].as_str().unwrap())
        .collect();
    tokens.sort();
    tokens.dedup();
    assert_eq!((live.len(), tokens.len()), (2, 2), "{sessions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_made_while_a_subscription_is_down_is_honoured_within_2_s() {
    let upstream = FakeUpstream::start().await;
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let Some(app) = app_on(&upstream, Some(&redis)).await else {
        return;
    };
    let (sibling, _server) = app.sibling().await;
    let (jwt, token) = app.token_holder("ann", "full").await;
    for _ in 0..2 {
        assert_eq!(status_of(&app, &sibling, &token, "device-0001").await, 200);
    }
    let tokens = body(app.get_as(&jwt, "/api/v1/tokens/my-tokens").await).await;
    let id = tokens["items"][0]["token_id"].as_str().unwrap().to_owned();

    let killed = redis.command("CLIENT KILL TYPE pubsub").await;
    assert!(killed.starts_with(':'), "{killed}");
    let revoked = app.delete_as(&jwt, &format!("/api/v1/tokens/{id}")).await;
    assert_eq!(revoked.status(), 200);
    let since = Instant::now();
    let reach = refused_after(&app, &sibling, &token, "device-0001", 401, since).await;
    eprintln!("revocation during a lost subscription honoured after {reach:?}");
    assert!(reach < Duration::from_secs(2), "{reach:?}");
}
