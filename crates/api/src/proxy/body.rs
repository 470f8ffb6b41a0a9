//! Bodies stream through the proxy chunk by chunk, never collected, and
//! every byte that crosses is counted for the session tracker.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use actix_web::web::{Bytes, Payload};
use futures::{Stream, StreamExt};
use zenzefi_domain::ports::{ProxyExchange, SessionTracker};
use zenzefi_domain::session::SessionId;

/// Chunks in flight between the client's upload and the upstream: enough
/// to keep both sides busy, few enough that memory stays flat.
const UPLOAD_CHUNKS_IN_FLIGHT: usize = 8;

/// Reports an exchange to the session tracker exactly once, when dropped:
/// after the response body ended, the client went away, or the request
/// failed before that.
pub struct ExchangeReport {
    tracker: Arc<dyn SessionTracker>,
    exchange: ProxyExchange,
    session: SessionId,
    bytes: Arc<AtomicU64>,
}

impl ExchangeReport {
    pub fn new(
        tracker: Arc<dyn SessionTracker>,
        exchange: ProxyExchange,
        session: SessionId,
    ) -> Self {
        Self {
            tracker,
            exchange,
            session,
            bytes: Arc::default(),
        }
    }

    fn counter(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }
}

impl Drop for ExchangeReport {
    fn drop(&mut self) {
        let bytes = self.bytes.load(Ordering::Relaxed);
        self.tracker.finished(&self.exchange, self.session, bytes);
    }
}

/// The client's upload as a body the HTTP client can send from any thread.
/// actix's payload lives on its worker thread, so a local task pumps it
/// through a bounded channel; a slow upstream slows the client down.
pub fn upload(mut payload: Payload, report: &ExchangeReport) -> reqwest::Body {
    let counter = report.counter();
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(UPLOAD_CHUNKS_IN_FLIGHT);
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
            if let Ok(bytes) = &chunk {
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let chunks = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    reqwest::Body::wrap_stream(chunks)
}

/// The upstream's response body, counted, carrying the report so that it
/// fires when the body is done.
pub struct Download<S> {
    inner: S,
    report: ExchangeReport,
}

impl<S> Download<S> {
    pub fn new(inner: S, report: ExchangeReport) -> Self {
        Self { inner, report }
    }
}

impl<S> Stream for Download<S>
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Unpin,
{
    type Item = Result<Bytes, reqwest::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &polled {
            self.report
                .bytes
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        polled
    }
}
