//! The production hot path with several instances on one PostgreSQL and
//! Redis: each instance answers proxied requests from its near cache, and a
//! change made through one instance is honoured by the others within
//! 100 ms.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;
use zenzefi_testkit::redis_server::RedisServer;
use zenzefi_tests::instances::{app_on, one_hour_token, p99, refused_after, status_of};
use zenzefi_tests::upstream::FakeUpstream;
use zenzefi_tests::{TestApp, body};

const TRIALS: usize = 50;
/// How long a change may take to reach another instance (p99).
const REACH: Duration = Duration::from_millis(100);

/// A token revoked through one instance is refused by the other.
async fn revocations_reach(app: &TestApp, sibling: &str) -> Duration {
    let jwt = app.signed_up("ann@x.io", "ann").await;
    app.fund(&jwt, "100.00").await;
    let mut reach = Vec::new();
    for _ in 0..TRIALS {
        let (id, token) = one_hour_token(app, &jwt).await;
        // Admitted on the sibling, so its near cache holds the token.
        for _ in 0..2 {
            assert_eq!(status_of(app, sibling, &token, "device-0001").await, 200);
        }
        let revoked = app.delete_as(&jwt, &format!("/api/v1/tokens/{id}")).await;
        assert_eq!(revoked.status(), 200);
        let since = Instant::now();
        reach.push(refused_after(app, sibling, &token, "device-0001", 401, since).await);
    }
    p99(reach)
}

/// A deactivated user's token is refused by the other instance.
async fn deactivations_reach(app: &TestApp, sibling: &str) -> Duration {
    let admin = app.signed_up("root@x.io", "root").await;
    app.promote("root@x.io").await;
    let mut reach = Vec::new();
    for trial in 0..TRIALS {
        let name = format!("user{trial}");
        let jwt = app.signed_up(&format!("{name}@x.io"), &name).await;
        app.fund(&jwt, "10.00").await;
        let (_, token) = one_hour_token(app, &jwt).await;
        let me = body(app.me(&jwt).await).await;
        for _ in 0..2 {
            assert_eq!(status_of(app, sibling, &token, "device-0001").await, 200);
        }
        let deactivated = app
            .http
            .patch(format!(
                "{}/api/v1/admin/users/{}",
                app.base_url,
                me["id"].as_str().unwrap()
            ))
            .bearer_auth(&admin)
            .json(&json!({ "is_active": false }))
            .send()
            .await
            .unwrap();
        assert_eq!(deactivated.status(), 200);
        let since = Instant::now();
        reach.push(refused_after(app, sibling, &token, "device-0001", 403, since).await);
    }
    p99(reach)
}

/// After a session is ended through one instance, another device is
/// admitted at once on either instance, and the old one refused.
async fn terminations_reach(app: &TestApp, sibling: &str) -> Duration {
    let jwt = app.signed_up("bob@x.io", "bob").await;
    app.fund(&jwt, "100.00").await;
    let mut reach = Vec::new();
    for trial in 0..TRIALS {
        let (_, token) = one_hour_token(app, &jwt).await;
        for base in [app.base_url.as_str(), sibling] {
            assert_eq!(status_of(app, base, &token, "laptop-0001").await, 200);
        }
        let sessions = body(app.get_as(&jwt, "/api/v1/users/me/sessions?limit=1").await).await;
        let session = sessions["items"][0]["id"].as_str().unwrap().to_owned();
        let ended = app
            .delete_as(&jwt, &format!("/api/v1/users/me/sessions/{session}"))
            .await;
        assert_eq!(ended.status(), 200);
        // The next device is admitted at once, on whichever instance.
        let base = if trial % 2 == 0 {
            sibling
        } else {
            &app.base_url
        };
        assert_eq!(status_of(app, base, &token, "phone-00001").await, 200);
        // And the laptop, which both instances had admitted, is refused:
        // how long the other instance might still let it in.
        let since = Instant::now();
        reach.push(refused_after(app, sibling, &token, "laptop-0001", 409, since).await);
        assert_eq!(
            status_of(app, &app.base_url, &token, "laptop-0001").await,
            409
        );
    }
    p99(reach)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_through_one_instance_reach_another_within_100_ms() {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_on(&upstream, None).await else {
        return;
    };
    let (sibling, _server) = app.sibling().await;
    // One scenario after another: each measures latency, and the others
    // running alongside would only add noise.
    let revocation = revocations_reach(&app, &sibling).await;
    let deactivation = deactivations_reach(&app, &sibling).await;
    let termination = terminations_reach(&app, &sibling).await;
    eprintln!(
        "p99 over {TRIALS} trials: revocation {revocation:?}, deactivation {deactivation:?}, termination {termination:?}"
    );
    for reach in [revocation, deactivation, termination] {
        assert!(reach < REACH, "{reach:?}");
    }
}

/// `INFO commandstats` of the test's own server: calls per command.
async fn command_calls(redis: &RedisServer) -> Vec<(String, u64)> {
    let info = redis.command("INFO commandstats").await;
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxied_requests_in_steady_state_send_no_command_to_redis() {
    let upstream = FakeUpstream::start().await;
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let Some(app) = app_on(&upstream, Some(&redis)).await else {
        return;
    };
    let (_, token) = app.token_holder("ann", "full").await;
    assert_eq!(
        status_of(&app, &app.base_url, &token, "device-0001").await,
        200
    );

    let before = command_calls(&redis).await;
    let started = Instant::now();
    for _ in 0..20 {
        // 50 at once: within proxy.max_in_flight_per_token (64).
        let requests = (0..50).map(|_| app.proxied(Method::GET, "echo", &token).send());
        for response in join_all(requests).await {
            assert_eq!(response.unwrap().status(), 200);
        }
    }
    let after = command_calls(&redis).await;
    // The rate limits' rounds: one script call per sync interval, whose
    // commands Redis counts too (a few per key the instance counts).
    let rounds = u64::try_from(started.elapsed().as_millis()).unwrap()
        / app.settings.rate_limit.sync_interval_ms
        + 2;
    let round_commands = [
        "evalsha",
        "zadd",
        "zremrangebyscore",
        "zcard",
        "pexpire",
        "hincrby",
        "hgetall",
        "hdel",
    ];
    let sent: Vec<(String, u64)> = after
        .iter()
        .filter_map(|(name, calls)| {
            let earlier = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, c)| *c);
            // Besides these the instance sends only what runs on a clock,
            // not per request: its heartbeat (PUBLISH) and its readiness
            // probe (PING, and UNWATCH when the pool recycles).
            let timed = ["publish", "ping", "unwatch", "info"].contains(&name.as_str());
            let allowed = if round_commands.contains(&name.as_str()) {
                earlier + 4 * rounds
            } else {
                earlier
            };
            (!timed && *calls > allowed).then(|| (name.clone(), calls - earlier))
        })
        .collect();
    assert_eq!(sent, Vec::new(), "commands sent for 1 000 proxied requests");
}
