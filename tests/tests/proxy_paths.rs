//! Proxy path safety over raw TCP: a corpus of hostile and harmless proxy paths
//! against a fake upstream that records what reached it. Whatever the
//! gateway answers, the upstream must never receive a path that a servlet
//! container could read as leaving the token's scope or as climbing up.

use zenzefi_tests::upstream::FakeUpstream;
use zenzefi_tests::{Backend, TestApp};

/// What the gateway must do with a path for a `certificates_only` token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Forwarded: 200 from the upstream.
    Forwarded,
    /// 400 `invalid_path`, whatever the token.
    InvalidPath,
    /// 403 `scope_denied`; a `full` token is forwarded.
    ScopeDenied,
    /// Refused by the HTTP parser before the gateway sees it: any 4xx.
    Unparsable,
}

use Expect::{Forwarded, InvalidPath, ScopeDenied, Unparsable};

/// Paths after `/api/v1/proxy/`. `ABS` ones are sent in absolute form
/// naming the gateway, `FOREIGN` ones in absolute form naming another host;
/// `RAW` ones are whole request targets.
const CORPUS: &[(&str, Expect)] = &[
    // Within the certificate scope.
    ("certificates/filter", Forwarded),
    ("certificates/details/42", Forwarded),
    ("certificates/details/a%2eb", Forwarded),
    ("certificates/%64etails/42", Forwarded),
    ("certificates/details/trailing.", Forwarded),
    ("certificates/details/...", Forwarded),
    ("certificates/details/x%20y", Forwarded),
    ("certificates/importFile", Forwarded),
    ("configurations/certificatesColumn", Forwarded),
    ("certificates/details/caf%C3%A9", Forwarded),
    // `..;` and friends: servlet containers read them as `..`.
    ("certificates/details/..;/..;/admin/secret", InvalidPath),
    ("certificates/import/..;/..;/admin", InvalidPath),
    ("certificates/importX/..;/admin", InvalidPath),
    ("certificates/details/..;x=1/admin", InvalidPath),
    ("certificates/details/.;/admin", InvalidPath),
    ("certificates/details/%2e%2e;/admin", InvalidPath),
    ("certificates/details/%2e%2e;x/admin", InvalidPath),
    ("certificates/details/%2E%2e/admin", InvalidPath),
    ("certificates/details/.%2E/admin", InvalidPath),
    ("certificates/details/..%3b/admin", InvalidPath),
    ("certificates/details/%2e", InvalidPath),
    ("certificates/details/../../admin", InvalidPath),
    ("certificates/./filter", InvalidPath),
    // Trailing dot segments.
    ("certificates/details/42/..", InvalidPath),
    ("certificates/details/42/.", InvalidPath),
    ("certificates/details/42/..;", InvalidPath),
    // Encoded twice, overlong, NUL and other controls.
    ("certificates/details/%252e%252e/admin", InvalidPath),
    ("certificates/details/%252e%252e;/admin", InvalidPath),
    ("certificates/details/%25", InvalidPath),
    ("certificates/details/%c0%ae%c0%ae/admin", InvalidPath),
    ("certificates/details/%C0%AE/admin", InvalidPath),
    ("certificates/details/%00", InvalidPath),
    ("certificates/details/a%00b/admin", InvalidPath),
    ("certificates/details/%0d%0aX-Injected:1", InvalidPath),
    ("certificates/details/%zz", InvalidPath),
    // Unicode look-alikes of dots and separators.
    ("certificates/details/%EF%BC%8E%EF%BC%8E/admin", InvalidPath),
    ("certificates/details/%E2%80%A5/admin", InvalidPath),
    (
        "certificates/details/x%EF%BC%8F..%EF%BC%8Fadmin",
        InvalidPath,
    ),
    // Backslashes and encoded separators.
    ("certificates/details/..%5cadmin", InvalidPath),
    ("certificates/details/..%5C..%5Cadmin", InvalidPath),
    ("certificates/filter%2F..%2F..%2Fadmin", InvalidPath),
    ("certificates\\details\\..\\..\\admin", InvalidPath),
    // Empty segments.
    ("certificates//filter", InvalidPath),
    ("certificates/details//..;/admin", InvalidPath),
    ("certificates/filter/", InvalidPath),
    ("certificates/details/;/admin", InvalidPath),
    // Raw non-ASCII in the request line.
    ("certificates/details/\u{FF0E}\u{FF0E}/admin", Unparsable),
    // Parameters, case and neighbours of the scope.
    ("certificates/filter;x", ScopeDenied),
    ("certificates;x/filter", ScopeDenied),
    ("certificates/details/42;jsessionid=abc", ScopeDenied),
    ("certificates/importX;a/admin", ScopeDenied),
    ("certificates/filter%3Bx", ScopeDenied),
    ("Certificates/filter", ScopeDenied),
    ("CERTIFICATES/DETAILS/1", ScopeDenied),
    ("certificates/details", ScopeDenied),
    ("certificatesX/details/1", ScopeDenied),
    ("admin/secret", ScopeDenied),
    // Absolute-form request targets, with this host and another.
    ("ABS certificates/filter", Forwarded),
    ("ABS certificates/details/..;/..;/admin", InvalidPath),
    ("ABS certificates/details/%2e%2e;/admin", InvalidPath),
    ("ABS certificates/filter;x", ScopeDenied),
    ("FOREIGN certificates/details/7", Forwarded),
    ("FOREIGN certificates/details/..;/admin", InvalidPath),
    ("FOREIGN certificates/details/%252e%252e/admin", InvalidPath),
    // Whole targets that play with the proxy prefix itself.
    ("RAW /api/v1/proxy//admin", InvalidPath),
    ("RAW /api/v1/%70roxy/certificates/filter", InvalidPath),
    ("RAW /api/v1/proxy/./certificates/filter", InvalidPath),
];

/// Paths a `certificates_only` token may reach, as the product lists them;
/// written out here so that the production list is not its own oracle.
fn in_certificate_scope(path: &str) -> bool {
    let exact = [
        "certificates/filter",
        "certificates/remove",
        "certificates/restore",
    ];
    let prefixes = [
        "certificates/details/",
        "certificates/export/",
        "certificates/import",
        "certificates/activeForTesting",
        "certificates/update",
        "certificates/checkSystemIntegrity",
        "configurations/certificatesColumn",
    ];
    exact.contains(&path) || prefixes.iter().any(|p| path.starts_with(p))
}

/// Lenient percent-decoding, as a forgiving server does it: malformed
/// escapes stay as they are, invalid UTF-8 becomes U+FFFD.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 3).and_then(|hex| {
            let hex = std::str::from_utf8(hex).ok()?;
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit())
                .then(|| u8::from_str_radix(hex, 16).ok())?
        });
        match (bytes[i], escape) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn without_parameters(segment: &str) -> &str {
    segment.split(';').next().unwrap_or_default()
}

/// The segments a servlet-style server may see in `path` (which starts
/// with `/`): `;…` parameters dropped before or after decoding once, or
/// after decoding twice; `\` taken as a separator.
fn servlet_readings(path: &str) -> Vec<Vec<String>> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let split = |text: &str| -> Vec<String> {
        text.split(['/', '\\'])
            .map(|s| without_parameters(s).to_owned())
            .collect()
    };
    let parameters_first: Vec<String> = path
        .split('/')
        .flat_map(|s| {
            decode(without_parameters(s))
                .split(['/', '\\'])
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    vec![
        parameters_first,
        split(&decode(path)),
        split(&decode(&decode(path))),
    ]
}

/// Where a reading lands once its dot segments are resolved, as the
/// upstream's router would.
fn resolved(reading: &[String]) -> String {
    let mut path: Vec<&str> = Vec::new();
    for segment in reading {
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                path.pop();
            }
            name => path.push(name),
        }
    }
    path.join("/")
}

/// The request target of a corpus entry, and the raw path it carries.
fn target<'a>(app: &TestApp, entry: &'a str) -> (String, &'a str) {
    if let Some(path) = entry.strip_prefix("ABS ") {
        (format!("{}/api/v1/proxy/{path}", app.base_url), path)
    } else if let Some(path) = entry.strip_prefix("FOREIGN ") {
        (format!("http://evil.example/api/v1/proxy/{path}"), path)
    } else if let Some(target) = entry.strip_prefix("RAW ") {
        let path = target.strip_prefix("/api/v1/proxy/").unwrap_or(target);
        (target.to_owned(), path)
    } else {
        (format!("/api/v1/proxy/{entry}"), entry)
    }
}

/// Sends the whole corpus with `token` and checks each answer against
/// `expected(case)`; returns the raw paths that should have been forwarded.
async fn send_corpus(
    app: &TestApp,
    token: &str,
    expected: impl Fn(Expect) -> Expect,
) -> Vec<String> {
    let credentials = [("x-access-token", token), ("x-device-id", "device-0001")];
    let mut forwarded = Vec::new();
    for &(entry, case) in CORPUS {
        let (target, path) = target(app, entry);
        let (status, response) = app.raw_get(&target, &credentials).await;
        match expected(case) {
            Forwarded => {
                assert_eq!(status, 200, "{path}: {response}");
                forwarded.push(format!("/{path}"));
            }
            InvalidPath => {
                assert_eq!(status, 400, "{path}: {response}");
                assert!(response.contains("\"invalid_path\""), "{path}: {response}");
            }
            ScopeDenied => {
                assert_eq!(status, 403, "{path}: {response}");
                assert!(response.contains("\"scope_denied\""), "{path}: {response}");
            }
            Unparsable => assert!((400..500).contains(&status), "{path}: {response}"),
        }
    }
    forwarded
}

/// No reading of any received path climbs up or has an empty segment.
fn assert_no_dot_segments(received: &[String]) {
    for path in received {
        for reading in servlet_readings(path) {
            assert!(
                reading
                    .iter()
                    .all(|s| !s.is_empty() && s != "." && s != ".."),
                "{path} reads as {reading:?}"
            );
        }
    }
}

/// The oracle itself: the bypasses of issue 15 read as climbing up.
#[test]
fn the_servlet_reading_sees_the_known_bypasses() {
    let climbs = |path: &str| {
        servlet_readings(path)
            .iter()
            .any(|r| r.iter().any(|s| s == ".." || s == "."))
    };
    for path in [
        "/certificates/details/..;/..;/admin/secret",
        "/certificates/importX/..;/admin",
        "/certificates/details/%2e%2e;x/admin",
        "/certificates/details/%252e%252e/admin",
        "/certificates/details/..%5cadmin",
        "/certificates/details/.%2e%2fadmin",
    ] {
        assert!(climbs(path), "{path}");
    }
    assert!(!climbs("/certificates/details/a%2eb/..."));
    let escapes = servlet_readings("/certificates/importX/..;/admin");
    assert!(escapes.iter().all(|r| !in_certificate_scope(&resolved(r))));
}

#[tokio::test]
async fn no_corpus_path_reaches_the_upstream_outside_the_scope_or_with_dot_segments() {
    assert!(CORPUS.len() >= 40);
    let upstream = FakeUpstream::start().await;
    let url = upstream.url.clone();
    let Some(app) = TestApp::spawn_with(Backend::Embedded, |s| s.upstream.url = url).await else {
        return;
    };
    let (_, certificates) = app.token_holder("bob", "certificates_only").await;
    let forwarded = send_corpus(&app, &certificates, |case| case).await;
    let received = upstream.received();
    // The raw path, unchanged, and nothing else.
    assert_eq!(received, forwarded);
    assert_no_dot_segments(&received);
    for path in &received {
        for reading in servlet_readings(path) {
            let lands = resolved(&reading);
            assert!(in_certificate_scope(&lands), "{path} lands on {lands}");
        }
    }
}

#[tokio::test]
async fn a_full_token_gets_the_same_path_checks_and_no_scope_check() {
    let upstream = FakeUpstream::start().await;
    let url = upstream.url.clone();
    let Some(app) = TestApp::spawn_with(Backend::Embedded, |s| s.upstream.url = url).await else {
        return;
    };
    let (_, full) = app.token_holder("ann", "full").await;
    let forwarded = send_corpus(&app, &full, |case| match case {
        ScopeDenied => Forwarded,
        other => other,
    })
    .await;
    let received = upstream.received();
    assert_eq!(received, forwarded);
    assert_no_dot_segments(&received);
}
