//! Requests in flight through the proxy (SPEC §16.3): capped per token and
//! per instance, released when their body ends or is dropped, and cut
//! within a second when their token is revoked, on every instance.

use std::time::{Duration, Instant};

use reqwest::{Method, Response};
use zenzefi_tests::instances::{app_on, one_hour_token};
use zenzefi_tests::upstream::FakeUpstream;
use zenzefi_tests::{Backend, TestApp, body, problem};

/// The embedded app; a stalled body ends (failed) after `stall_secs`.
async fn app(
    upstream: &FakeUpstream,
    per_token: usize,
    per_instance: usize,
    stall_secs: u64,
) -> TestApp {
    let url = upstream.url.clone();
    TestApp::spawn_with(Backend::Embedded, move |s| {
        s.upstream.url = url;
        s.upstream.request_timeout_secs = stall_secs;
        s.proxy.max_in_flight_per_token = per_token;
        s.proxy.max_in_flight = per_instance;
    })
    .await
    .unwrap()
}

/// A download whose head arrived and whose body the upstream holds back.
async fn stalled(app: &TestApp, base: &str, token: &str) -> Response {
    let response = app
        .proxied_from(base, Method::GET, "stall", token, "device-0001")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

/// Reads the body to its end; when it ended and whether it was whole.
fn read_to_end(mut response: Response) -> tokio::task::JoinHandle<(Instant, bool)> {
    tokio::spawn(async move {
        loop {
            match response.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => return (Instant::now(), true),
                Err(_) => return (Instant::now(), false),
            }
        }
    })
}

/// A request holds its place until its response body ends, here when the
/// stalled upstream is cut off by `upstream.request_timeout_secs`.
#[tokio::test]
async fn a_token_past_its_in_flight_cap_gets_429_until_one_finishes() {
    let upstream = FakeUpstream::start().await;
    let app = app(&upstream, 2, 10_000, 2).await;
    let (_, token) = app.token_holder("ann", "full").await;
    let first = stalled(&app, &app.base_url, &token).await;
    let second = stalled(&app, &app.base_url, &token).await;
    let refused = app
        .proxied(Method::GET, "echo", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(problem(refused).await["code"], "too_many_in_flight");
    // Another token is not held back by this one's requests.
    let (_, other) = app.token_holder("bob", "full").await;
    let other = app
        .proxied_from(&app.base_url, Method::GET, "echo", &other, "device-0002")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);

    let (first, second) = (read_to_end(first), read_to_end(second));
    let since = Instant::now();
    loop {
        let status = app
            .proxied(Method::GET, "echo", &token)
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "an ended download never gave its place back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!first.await.unwrap().1 && !second.await.unwrap().1);
}

#[tokio::test]
async fn an_instance_past_its_in_flight_cap_answers_503() {
    let upstream = FakeUpstream::start().await;
    let app = app(&upstream, 64, 1, 60).await;
    let (_, ann) = app.token_holder("ann", "full").await;
    let (_, bob) = app.token_holder("bob", "full").await;
    let held = stalled(&app, &app.base_url, &ann).await;
    let refused = app
        .proxied_from(&app.base_url, Method::GET, "echo", &bob, "device-0002")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(problem(refused).await["code"], "service_unavailable");
    drop(held);
}

/// Revokes through `revoker` a token whose download runs on `base`; the
/// download must end, incomplete, within a second of the revoking answer.
async fn revoke_cuts_the_download(app: &TestApp, revoker: &str, base: &str) {
    let jwt = app.signed_up("ann@x.io", "ann").await;
    app.fund(&jwt, "100.00").await;
    let (token_id, token) = one_hour_token(app, &jwt).await;
    let download = read_to_end(stalled(app, base, &token).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let revoked = app
        .http
        .delete(format!("{revoker}/api/v1/tokens/{token_id}"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    ends_within_a_second(download).await;
}

/// The download ends, incomplete, within a second from now.
async fn ends_within_a_second(download: tokio::task::JoinHandle<(Instant, bool)>) {
    let answered = Instant::now();
    let (ended, whole) = tokio::time::timeout(Duration::from_secs(10), download)
        .await
        .expect("the download still runs 10 s after the revocation")
        .unwrap();
    let took = ended.saturating_duration_since(answered);
    eprintln!("download cut {took:?} after the answer");
    assert!(!whole, "a cut download must not look complete");
    assert!(took < Duration::from_secs(1), "cut after {took:?}");
}

#[tokio::test]
async fn revoking_a_token_cuts_its_download_within_a_second() {
    let upstream = FakeUpstream::start().await;
    let app = app(&upstream, 64, 10_000, 60).await;
    revoke_cuts_the_download(&app, &app.base_url, &app.base_url).await;
}

#[tokio::test]
async fn revoking_through_one_instance_cuts_the_download_on_another() {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_on(&upstream, None).await else {
        return;
    };
    let (sibling, _running) = app.sibling().await;
    revoke_cuts_the_download(&app, &app.base_url, &sibling).await;
}

#[tokio::test]
async fn deactivating_the_owner_cuts_the_download_within_a_second() {
    let upstream = FakeUpstream::start().await;
    let app = app(&upstream, 64, 10_000, 60).await;
    let root = app.signed_up("root@x.io", "root").await;
    app.promote("root@x.io").await;
    let (jwt, token) = app.token_holder("ann", "full").await;
    let ann = body(app.me(&jwt).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let download = read_to_end(stalled(&app, &app.base_url, &token).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deactivated = app
        .patch(&format!("/api/v1/admin/users/{ann}"))
        .bearer_auth(&root)
        .json(&serde_json::json!({ "is_active": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);
    ends_within_a_second(download).await;
}
