//! A burst of registrations is bounded work (SPEC §16.3): hashing runs under
//! a process-wide limit with a bounded queue, so 600 at once answer
//! 201/409/429/503, none times out, and memory stays flat. Alone in its
//! binary so that the process's peak RSS is this test's.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use zenzefi_tests::{Backend, PASSWORD, TestApp};

/// The allocator of the real binary (`zenzefi-api`'s main), so that the
/// peak measured here is the one production would see.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BURST: usize = 600;
const RSS_LIMIT_KIB: u64 = 256 * 1024;

/// The peak resident set of this process (server and clients alike), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_concurrent_registrations_stay_bounded_and_all_answer() {
    let app = TestApp::spawn(Backend::Embedded).await.unwrap();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("{}/api/v1/auth/register", app.base_url);
    // Pairs share a username: one of each pair may lose with 409.
    let answers = join_all((0..BURST).map(|i| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(&url)
                .json(&json!({
                    "email": format!("burst{i}@x.io"),
                    "username": format!("burst{}", i / 2),
                    "password": PASSWORD,
                }))
                .send()
                .await
                .map(|r| (r.status().as_u16(), r.headers().contains_key("retry-after")))
        }
    }))
    .await;
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    for answer in answers {
        let (status, retry_after) = answer.expect("every registration is answered in time");
        assert!(
            matches!(status, 201 | 409 | 429 | 503),
            "unexpected status {status}"
        );
        if status == 503 {
            assert!(retry_after, "a 503 says when to retry");
        }
        *counts.entry(status).or_default() += 1;
    }
    let peak = peak_rss_kib();
    eprintln!("answers {counts:?}, peak RSS {} MiB", peak / 1024);
    assert!(counts.get(&201).copied().unwrap_or(0) > 0, "{counts:?}");
    assert!(peak < RSS_LIMIT_KIB, "peak RSS {} MiB", peak / 1024);
}
