//! Bodies of any size cross the proxy in constant memory.
//! Alone in its test binary, so that no other test moves the process's
//! memory while it measures. The process holds the gateway, the fake
//! upstream and the client: its growth bounds the gateway's from above.

#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use reqwest::Method;
use zenzefi_tests::upstream::{CHUNK, FakeUpstream};
use zenzefi_tests::{Backend, TestApp, body};

const MIB: u64 = 1024 * 1024;
const DOWNLOAD: u64 = 1024 * MIB;
const UPLOAD: u64 = 256 * MIB;
const ALLOWED_GROWTH: u64 = 32 * MIB;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// The highest RSS seen while it runs, sampled every 10 ms.
struct PeakRss {
    peak: Arc<AtomicU64>,
    running: Arc<AtomicBool>,
}

impl PeakRss {
    fn start() -> Self {
        let peak = Arc::new(AtomicU64::new(rss_bytes()));
        let running = Arc::new(AtomicBool::new(true));
        let (p, r) = (peak.clone(), running.clone());
        std::thread::spawn(move || {
            while r.load(Ordering::Relaxed) {
                p.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self { peak, running }
    }

    fn stop(self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

fn upload_body(total: u64) -> reqwest::Body {
    let chunk = Bytes::from(vec![b'u'; CHUNK]);
    let chunks = futures::stream::unfold(0u64, move |sent| {
        let chunk = chunk.clone();
        async move {
            (sent < total).then(|| {
                let len = (total - sent).min(CHUNK as u64) as usize;
                (
                    Ok::<_, std::io::Error>(chunk.slice(..len)),
                    sent + len as u64,
                )
            })
        }
    });
    reqwest::Body::wrap_stream(chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_down_and_256_mib_up_cross_in_flat_memory() {
    let upstream = FakeUpstream::start().await;
    let url = upstream.url.clone();
    let app = TestApp::spawn_with(Backend::Embedded, move |s| s.upstream.url = url)
        .await
        .expect("the embedded backend needs nothing");
    let (_, token) = app.token_holder("ann", "full").await;
    // Warm every path once so that pools and buffers exist before measuring.
    let warm = app
        .proxied(Method::GET, &format!("bytes/{}", 4 * MIB), &token)
        .send()
        .await;
    assert_eq!(warm.unwrap().bytes().await.unwrap().len() as u64, 4 * MIB);

    let baseline = rss_bytes();
    let sampler = PeakRss::start();
    let started = Instant::now();
    let mut download = app
        .proxied(Method::GET, &format!("bytes/{DOWNLOAD}"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        download.content_length(),
        Some(DOWNLOAD),
        "the length passes through"
    );
    let mut received = 0u64;
    while let Some(chunk) = download.chunk().await.unwrap() {
        received += chunk.len() as u64;
    }
    assert_eq!(received, DOWNLOAD);
    let download_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let uploaded = app
        .proxied(Method::POST, "upload", &token)
        .header("content-length", UPLOAD)
        .body(upload_body(UPLOAD))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    assert_eq!(body(uploaded).await["received"], UPLOAD);
    let upload_secs = started.elapsed().as_secs_f64();

    let growth = sampler.stop().saturating_sub(baseline);
    eprintln!(
        "streamed {} MiB down in {download_secs:.1} s and {} MiB up in {upload_secs:.1} s; \
         peak RSS growth {:.1} MiB (baseline {:.1} MiB)",
        DOWNLOAD / MIB,
        UPLOAD / MIB,
        growth as f64 / MIB as f64,
        baseline as f64 / MIB as f64,
    );
    assert!(growth < ALLOWED_GROWTH, "RSS grew by {growth} bytes");
}
