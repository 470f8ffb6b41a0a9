//! The gateway's own HTTP/1.1 client against an upstream that does on the
//! wire what real servers sometimes do: close keep-alive connections
//! without notice, answer before the upload is through, frame bodies every
//! way RFC 9112 allows, or send what it does not allow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zenzefi_tests::{TestApp, problem};

/// What the scripted upstream does with the `n`th request (from 0) of a
/// connection whose head it has read: bytes to write and whether to close
/// after them, or `None` to close without a word.
type Script = fn(path: &str, n: usize) -> Option<(Vec<u8>, bool)>;

struct RawUpstream {
    url: String,
    /// Connections that carried a proxied request (not only health probes).
    connections: Arc<AtomicUsize>,
    /// The request line of every request that reached it.
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl RawUpstream {
    async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (count, record) = (connections.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(socket, script, record.clone(), count.clone()));
            }
        });
        Self {
            url,
            connections,
            seen,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    mut socket: TcpStream,
    script: Script,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    let mut proxied = 0;
    loop {
        let Some(head_end) = read_head(&mut socket, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let line = head.lines().next().unwrap_or_default().to_owned();
        // The health probe asks for `/`: answered, not recorded.
        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
        let answer = if path == "/" {
            Some((
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec(),
                false,
            ))
        } else {
            if proxied == 0 {
                connections.fetch_add(1, Ordering::SeqCst);
            }
            proxied += 1;
            seen.lock().unwrap().push(line);
            script(&path, proxied - 1)
        };
        let Some((bytes, close)) = answer else {
            return;
        };
        // Request bodies (declared by length) are read and dropped first,
        // unless the script answers early, which it does for /early.
        if !path.starts_with("/early") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < length {
                let mut more = [0u8; 8192];
                match socket.read(&mut more).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&more[..k]),
                }
            }
            buf.drain(..length);
        }
        if socket.write_all(&bytes).await.is_err() {
            return;
        }
        if close {
            // A lingering close, as nginx does: the answer is not lost to a
            // reset over unread request bytes.
            let _ = socket.shutdown().await;
            let mut sink = [0u8; 8192];
            while matches!(socket.read(&mut sink).await, Ok(k) if k > 0) {}
            return;
        }
    }
}

/// Reads until `buf` holds a whole head; its length, or `None` at the end.
async fn read_head(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at + 4);
        }
        let mut more = [0u8; 8192];
        match socket.read(&mut more).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&more[..k]),
        }
    }
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn app(upstream: &RawUpstream) -> TestApp {
    TestApp::forwarding_to(&upstream.url, |s| s.upstream.request_timeout_secs = 5).await
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_not_used_and_one_closed_mid_request_is_retried_only_when_safe()
 {
    // Every connection answers its first request and drops its second
    // unanswered: what a keep-alive timeout firing just as a request
    // arrives looks like.
    let upstream = RawUpstream::start(|path, n| (n == 0).then(|| (ok(path), false))).await;
    let app = app(&upstream).await;
    let (_, token) = app.token_holder("ann", "full").await;
    let send = |method: Method, path: &'static str| {
        let request = app.proxied(method, path, &token);
        async move { request.send().await.unwrap() }
    };

    let first = send(Method::GET, "a").await;
    assert_eq!(
        (first.status().as_u16(), first.text().await.unwrap()),
        (200, "/a".to_owned())
    );
    // Dropped unanswered on the first connection, then sent again on a new one.
    let retried = send(Method::GET, "b").await;
    assert_eq!(
        (retried.status().as_u16(), retried.text().await.unwrap()),
        (200, "/b".to_owned())
    );
    // The same fate for a POST: it may have been acted upon, so it is not
    // sent twice; the client hears that the upstream failed.
    let post = send(Method::POST, "c").await;
    assert_eq!(post.status(), 502);
    assert_eq!(problem(post).await["code"], "upstream_unavailable");
    let after = send(Method::GET, "d").await;
    assert_eq!(after.status(), 200);

    let lines: Vec<String> = upstream
        .seen()
        .iter()
        .map(|l| l.replace(" HTTP/1.1", ""))
        .collect();
    assert_eq!(lines, ["GET /a", "GET /b", "GET /b", "POST /c", "GET /d"]);
    assert_eq!(upstream.connections(), 3);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_while_idle_is_skipped_even_for_a_post() {
    // Answers, then closes: the next request must not meet a dead socket.
    let upstream = RawUpstream::start(|path, _| Some((ok(path), true))).await;
    let app = app(&upstream).await;
    let (_, token) = app.token_holder("ann", "full").await;
    for path in ["one", "two", "three"] {
        let first = app.proxied(Method::GET, path, &token).send().await.unwrap();
        assert_eq!(first.status(), 200);
        first.text().await.unwrap();
        // Time for the close to arrive before the next request.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let post = app
            .proxied(Method::POST, path, &token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            post.status(),
            200,
            "a POST after {path} met a closed connection"
        );
        post.text().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn bodies_framed_by_chunks_or_by_closing_arrive_whole() {
    let upstream = RawUpstream::start(|path, _| {
        Some(match path {
            "/chunked" => (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-trailer: t\r\n\r\n".to_vec(),
                false,
            ),
            "/close" => (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end".to_vec(), true),
            "/interim" => (
                b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\ndone".to_vec(),
                false,
            ),
            _ => (ok("other"), false),
        })
    })
    .await;
    let app = app(&upstream).await;
    let (_, token) = app.token_holder("ann", "full").await;
    for (path, status, text) in [
        ("chunked", 200, "hello world"),
        ("close", 200, "until the end"),
        ("interim", 201, "done"),
        ("chunked", 200, "hello world"),
    ] {
        let response = app.proxied(Method::GET, path, &token).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert!(response.headers().get("x-trailer").is_none());
        assert_eq!(response.text().await.unwrap(), text, "{path}");
    }
}

#[tokio::test]
async fn an_answer_before_the_upload_is_through_is_relayed() {
    // Refuses the upload on sight of its head, without reading it.
    let upstream = RawUpstream::start(|_, _| {
        Some((b"HTTP/1.1 413 Content Too Large\r\ncontent-length: 8\r\nconnection: close\r\n\r\ntoo much".to_vec(), true))
    })
    .await;
    let app = app(&upstream).await;
    let (_, token) = app.token_holder("ann", "full").await;
    let response = app
        .proxied(Method::POST, "early/upload", &token)
        .body(vec![b'u'; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.text().await.unwrap(), "too much");
    // The connection was not kept: the next request gets a new one.
    let next = app
        .proxied(Method::GET, "early/next", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 413);
}

#[tokio::test]
async fn what_http_does_not_allow_is_a_502_or_a_cut_body_never_a_hang() {
    let upstream = RawUpstream::start(|path, _| {
        Some(match path {
            "/bad-length" => (
                b"HTTP/1.1 200 OK\r\ncontent-length: twelve\r\n\r\n".to_vec(),
                true,
            ),
            "/two-lengths" => (
                b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd".to_vec(),
                true,
            ),
            "/garbage" => (b"SMTP ready\r\n\r\n".to_vec(), true),
            "/bad-chunk" => (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n".to_vec(),
                true,
            ),
            "/short" => (
                b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..".to_vec(),
                true,
            ),
            _ => (ok("fine"), false),
        })
    })
    .await;
    let app = app(&upstream).await;
    let (_, token) = app.token_holder("ann", "full").await;
    for path in ["bad-length", "two-lengths", "garbage"] {
        let response = app.proxied(Method::GET, path, &token).send().await.unwrap();
        assert_eq!(response.status(), 502, "{path}");
        assert_eq!(
            problem(response).await["code"],
            "upstream_unavailable",
            "{path}"
        );
    }
    for path in ["bad-chunk", "short"] {
        // The head was fine, the body is not: the client's connection is
        // cut, before or after the head, and it must notice.
        let whole = match app.proxied(Method::GET, path, &token).send().await {
            Err(_) => false,
            Ok(response) => response.bytes().await.is_ok(),
        };
        assert!(!whole, "{path} arrived as if whole");
    }
    let fine = app
        .proxied(Method::GET, "fine", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(fine.text().await.unwrap(), "fine");
}
