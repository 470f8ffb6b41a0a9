//! `server.client_body_timeout_secs`: a request body that does not arrive
//! in time fails with a timed-out payload error, which the handlers answer
//! with 408 `request_timeout`. JSON bodies (at most 64 KiB) must arrive
//! whole within the limit; a proxied body, of any size, may not pause
//! longer than it between two chunks (nginx's `client_body_timeout`).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use futures::Stream;
use tokio::time::Sleep;

use crate::proxy;

/// Wraps the body of `req`, if it has one, in its deadline.
pub fn apply(req: &mut ServiceRequest, limit: Duration) {
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if !has_body {
        return;
    }
    let per_chunk = req.path().starts_with(proxy::PREFIX);
    let inner = req.take_payload();
    req.set_payload(Payload::from(Box::pin(Deadline {
        inner,
        limit,
        per_chunk,
        timer: Box::pin(tokio::time::sleep(limit)),
        waiting: true,
        done: false,
    })
        as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>));
}

/// Whether a payload error is this module's timeout.
pub fn is_timeout(err: &PayloadError) -> bool {
    matches!(err, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

struct Deadline {
    inner: Payload,
    limit: Duration,
    /// Time each wait for the next chunk (proxied bodies) rather than the
    /// whole body.
    per_chunk: bool,
    timer: Pin<Box<Sleep>>,
    /// Per chunk: the timer runs for the current wait. A wait starts when
    /// the reader asks and the chunk is not there, not when the last chunk
    /// was handed over: a reader held back by a slow upstream is no fault
    /// of the client's.
    waiting: bool,
    done: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                this.waiting = !this.per_chunk;
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(other) => {
                this.done = true;
                Poll::Ready(other)
            }
            Poll::Pending if !this.waiting => {
                this.waiting = true;
                let until = tokio::time::Instant::now() + this.limit;
                this.timer.as_mut().reset(until);
                // Registers the timer with this task.
                let _ = this.timer.as_mut().poll(cx);
                Poll::Pending
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.done = true;
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body did not arrive in time",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
