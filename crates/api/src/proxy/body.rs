//! Bodies stream through the proxy chunk by chunk, never collected, and
//! every byte that crosses is counted for the session tracker and usage.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::web::{Bytes, Payload};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Sleep;
use zenzefi_domain::admission::{ExchangeOutcome, ProxyAdmission};
use zenzefi_domain::ports::ProxyExchange;
use zenzefi_domain::session::SessionId;
use zenzefi_domain::usage::RefusalReason;

use super::in_flight::FlightGuard;
use crate::request_id::RequestId;
use crate::upstream::{OutgoingBody, ResponseBody};

/// Chunks in flight between the client's upload and the upstream: enough
/// to keep both sides busy, few enough that memory stays flat.
const UPLOAD_CHUNKS_IN_FLIGHT: usize = 8;

/// Reports an exchange to the admission exactly once, when dropped:
/// after the response body ended, the client went away, or the request
/// failed before that.
pub struct ExchangeReport {
    admission: Arc<ProxyAdmission>,
    exchange: ProxyExchange,
    session: SessionId,
    /// Request body bytes, counted by the upload task.
    bytes_in: Arc<AtomicU64>,
    bytes_out: u64,
    status: Option<u16>,
    failure: Option<RefusalReason>,
    /// The request's place among those in flight, given back with the report.
    flight: FlightGuard,
    /// For the exchange's own log lines.
    request_id: Option<RequestId>,
}

impl ExchangeReport {
    pub fn new(
        admission: Arc<ProxyAdmission>,
        exchange: ProxyExchange,
        session: SessionId,
        flight: FlightGuard,
        request_id: Option<RequestId>,
    ) -> Self {
        Self {
            admission,
            exchange,
            session,
            bytes_in: Arc::default(),
            bytes_out: 0,
            status: None,
            failure: None,
            flight,
            request_id,
        }
    }

    pub fn request_id(&self) -> &str {
        self.request_id.as_ref().map_or("", RequestId::as_str)
    }

    /// Ready once the token was revoked or its owner deactivated.
    pub fn poll_cut(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.flight.flight().poll_cut(cx)
    }

    fn counter(&self) -> Arc<AtomicU64> {
        self.bytes_in.clone()
    }

    /// The status the client gets, and the upstream failure the gateway
    /// answered for, if any.
    pub fn answered(&mut self, status: u16, failure: Option<RefusalReason>) {
        self.status = Some(status);
        self.failure = failure;
    }
}

impl Drop for ExchangeReport {
    fn drop(&mut self) {
        let outcome = ExchangeOutcome {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out,
            status: self.status,
            failure: self.failure,
        };
        self.admission.finish(&self.exchange, self.session, outcome);
    }
}

/// Why the client's upload failed (too slow, cut short, bad framing), set
/// before the upstream request is aborted: the failure is then the
/// client's, not the upstream's.
pub type UploadFault = Arc<OnceLock<PayloadError>>;

/// The client's upload as a body the HTTP client can send from any thread.
/// actix's payload lives on its worker thread, so a local task pumps it
/// through a bounded channel; a slow upstream slows the client down.
pub fn upload(mut payload: Payload, report: &ExchangeReport) -> (OutgoingBody, UploadFault) {
    let counter = report.counter();
    let fault = UploadFault::default();
    let noted = fault.clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(UPLOAD_CHUNKS_IN_FLIGHT);
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let chunk = match chunk {
                Ok(bytes) => {
                    counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    Ok(bytes)
                }
                Err(err) => {
                    let io = std::io::Error::other(err.to_string());
                    let _ = noted.set(err);
                    Err(io)
                }
            };
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    (OutgoingBody::Stream(rx), fault)
}

/// The upstream's response body as a stream of chunks: counted, carrying
/// the report so that it fires when the body is done, and cut off when the
/// upstream goes quiet for longer than the request timeout or the token
/// stops being valid.
pub struct Download {
    body: ResponseBody,
    report: ExchangeReport,
    idle_limit: Duration,
    /// Armed while the upstream owes the next chunk.
    idle: Option<Pin<Box<Sleep>>>,
}

impl Download {
    pub fn new(body: ResponseBody, report: ExchangeReport, idle_limit: Duration) -> Self {
        Self {
            body,
            report,
            idle_limit,
            idle: None,
        }
    }
}

impl Stream for Download {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.report.poll_cut(cx).is_ready() {
            // An error, not an end: the client must not take a cut-off
            // body for a whole one.
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the token was revoked",
            ))));
        }
        match this.body.poll_chunk(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                this.idle = None;
                this.report.bytes_out += bytes.len() as u64;
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(err))) => {
                tracing::warn!(
                    request_id = this.report.request_id(),
                    error = %err,
                    "the upstream's response body failed"
                );
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let limit = this.idle_limit;
                let idle = this
                    .idle
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match idle.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err({
                        tracing::warn!(
                            request_id = this.report.request_id(),
                            "the upstream stopped sending its response body"
                        );
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the upstream stopped sending its body",
                        )
                    }))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}
