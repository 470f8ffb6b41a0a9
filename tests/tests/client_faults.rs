//! Client faults are the client's (SPEC §16.3, §16.6): a request body that
//! is too slow is 408 `request_timeout`, one cut short or with bad chunk
//! framing is 400 `bad_request`, on the JSON API and through the proxy;
//! never 502/504 and never counted as an upstream failure. Raw TCP clients,
//! since an HTTP library will not send a broken body.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zenzefi_tests::TestApp;
use zenzefi_tests::upstream::FakeUpstream;

/// The app with a 1 s body timeout, forwarding to `upstream`.
async fn app(upstream: &FakeUpstream) -> TestApp {
    TestApp::forwarding_to(&upstream.url, |s| s.server.client_body_timeout_secs = 1).await
}

/// Sends `head` and the parts of `body`, 300 ms apart (then half-closes
/// the connection when `close`),
/// and reads what comes back: the status (`None` without an answer), the
/// whole answer, and how long it took.
async fn exchange(
    app: &TestApp,
    head: &str,
    body: &[&[u8]],
    close: bool,
) -> (Option<u16>, String, Duration) {
    let address = app.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(format!("{head}Host: {address}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    for (i, part) in body.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        stream.write_all(part).await.unwrap();
    }
    if close {
        stream.shutdown().await.unwrap();
    }
    // Until the server closes, or has answered and then gone quiet: with
    // the request body unfinished, it may keep the connection open.
    let mut answer = Vec::new();
    let deadline = started + Duration::from_secs(20);
    loop {
        let wait = if answer.is_empty() {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(500)
        };
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) if answer.is_empty() => panic!("no answer within 20 s"),
            Err(_) => break,
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    (status, answer, started.elapsed())
}

fn proxied_post(token: &str, framing: &str) -> String {
    format!(
        "POST /api/v1/proxy/upload HTTP/1.1\r\nX-Access-Token: {token}\r\n\
         X-Device-ID: device-0001\r\nContent-Type: application/octet-stream\r\n{framing}"
    )
}

/// The problem `code` of a raw answer.
fn code_of(answer: &str) -> Option<String> {
    let body = answer.split("\r\n\r\n").nth(1)?;
    let start = body.find('{')?;
    let value: serde_json::Value = serde_json::from_str(body[start..].lines().next()?).ok()?;
    value["code"].as_str().map(str::to_owned)
}

/// The proxy's counters that moved, as exported.
async fn proxy_metrics(app: &TestApp) -> Vec<String> {
    app.metrics_text()
        .await
        .lines()
        .filter(|l| {
            l.starts_with("zenzefi_proxy_requests_total")
                || l.starts_with("zenzefi_proxy_denied_total")
        })
        // Counters the recorder registered but that never moved.
        .filter(|l| !l.ends_with(" 0"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_json_body_that_stalls_is_408_after_the_body_timeout() {
    let upstream = FakeUpstream::start().await;
    let app = app(&upstream).await;
    let (status, answer, took) = exchange(
        &app,
        "POST /api/v1/auth/login HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n",
        &[br#"{"email": "#],
        false,
    )
    .await;
    assert_eq!(status, Some(408), "{answer}");
    assert_eq!(code_of(&answer).as_deref(), Some("request_timeout"));
    assert!(answer.contains("application/problem+json"));
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn proxied_bodies_that_stall_are_cut_short_or_malformed_are_the_clients_fault() {
    let upstream = FakeUpstream::start().await;
    let app = app(&upstream).await;
    let (_, token) = app.token_holder("ann", "full").await;

    // Stalls after a first chunk: 408 after the 1 s timeout, not a 504.
    let (status, answer, took) = exchange(
        &app,
        &proxied_post(&token, "Transfer-Encoding: chunked\r\n"),
        &[b"5\r\nhello\r\n"],
        false,
    )
    .await;
    assert_eq!(status, Some(408), "{answer}");
    assert_eq!(code_of(&answer).as_deref(), Some("request_timeout"));
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // Cut short: the client closes after 5 of 100 bytes (the answer can
    // still go out: 400), or badly framed: a chunk size that is not
    // hexadecimal, at once or once under way. On a framing error actix's
    // dispatcher closes the connection itself, before the handler answers.
    let cases: [(&str, &[&[u8]], bool); 3] = [
        ("Content-Length: 100\r\n", &[b"hello"], true),
        (
            "Transfer-Encoding: chunked\r\n",
            &[b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n"],
            false,
        ),
        (
            "Transfer-Encoding: chunked\r\n",
            &[b"5\r\nhello\r\n", b"zz\r\nworld\r\n0\r\n\r\n"],
            false,
        ),
    ];
    for (framing, body, close) in cases {
        let (status, answer, _) = exchange(&app, &proxied_post(&token, framing), body, close).await;
        if close {
            assert_eq!(status, Some(400), "{answer}");
        }
        assert!(matches!(status, None | Some(400)), "{answer}");
        if status.is_some() {
            assert_eq!(code_of(&answer).as_deref(), Some("bad_request"), "{answer}");
        }
    }

    let metrics = proxy_metrics(&app).await;
    for line in &metrics {
        assert!(
            !line.contains("\"502\"") && !line.contains("\"504\"") && !line.contains("upstream_"),
            "a client fault counted as an upstream failure: {line}"
        );
    }
    assert!(
        metrics.iter().any(|l| l.contains("request_timeout")),
        "{metrics:?}"
    );
}
