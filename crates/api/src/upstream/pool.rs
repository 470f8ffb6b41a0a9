//! Keep-alive HTTP/1.1 connections to the one upstream.
//!
//! There is a single origin, so the pool is a plain stack of idle
//! connections. A connection is lent to one exchange and comes back when
//! its response body has been read to the end, so taking one costs a pop
//! whatever the number of requests in flight. A body dropped before its end
//! closes its connection: the unread rest would garble the next answer.

use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::connection::{Connection, Endpoint, ExchangeError};
use super::outgoing::OutgoingBody;
use super::wire::{Chunked, Decoded, Framing, RequestHead, Upload};

/// Idle connections kept beyond this many are closed instead.
const MAX_IDLE: usize = 1024;
/// A connection unused this long is closed rather than reused: upstreams
/// close idle keep-alive connections on their own schedule (nginx: 75 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// After a wait in vain (slow exchanges or long downloads hold the whole
/// pool), requests stop waiting for this long: one pays the patience, not
/// every one.
const SATURATED_FOR: Duration = Duration::from_secs(1);

pub struct Pool {
    endpoint: Endpoint,
    /// Places for connections in use (`upstream.pool_size`): a request
    /// waits a moment for one before it takes or opens a connection, so a
    /// burst reuses the pool rather than growing it by one connection per
    /// request in flight.
    places: Option<Arc<Semaphore>>,
    /// How long a request waits for a place (`upstream.pool_wait_ms`).
    patience: Duration,
    /// Until when requests that find no place go past the pool's size at once.
    saturated_until: Mutex<Option<Instant>>,
    /// Connections with no exchange, most recently used last.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    connection: Connection,
    since: Instant,
}

/// The upstream's answer: its head, and its body still on the wire.
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: ResponseBody,
}

impl Pool {
    /// `size`: connections in use that requests wait for (at most
    /// `patience`) rather than open more; `None` to open one whenever none
    /// is idle.
    pub fn new(endpoint: Endpoint, size: Option<usize>, patience: Duration) -> Self {
        Self {
            endpoint,
            places: size.map(|n| Arc::new(Semaphore::new(n.max(1)))),
            patience,
            saturated_until: Mutex::new(None),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends the request on an idle connection, or on a new one. A request
    /// that met a reused connection already closed by the upstream is sent
    /// again on a new one when that is safe: idempotent and without a body
    /// (nginx's rule for `proxy_next_upstream error`).
    pub async fn send(
        self: &Arc<Self>,
        head: RequestHead,
        mut body: OutgoingBody,
    ) -> Result<Response, ExchangeError> {
        let (upload, head_request) = (head.upload, head.head);
        let may_retry = head.idempotent && upload == Upload::None;
        let bytes = head.finish();
        let permit = self.place().await;
        if let Some(mut connection) = self.take_idle() {
            match connection
                .exchange(bytes.clone(), upload, &mut body, head_request)
                .await
            {
                Ok((head, sent)) => return Ok(self.lend(connection, head, sent, permit)),
                Err(err) if may_retry && err.closed() => {}
                Err(err) => return Err(err),
            }
        }
        let mut connection = self.endpoint.connect().await?;
        let (head, sent) = connection
            .exchange(bytes, upload, &mut body, head_request)
            .await?;
        Ok(self.lend(connection, head, sent, permit))
    }

    /// The response, its body carrying the connection home if the
    /// connection can carry another request.
    fn lend(
        self: &Arc<Self>,
        connection: Connection,
        head: super::wire::ResponseHead,
        sent: bool,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Response {
        let home = (head.keep_alive && sent).then(|| self.clone());
        Response {
            status: head.status,
            headers: head.headers,
            body: ResponseBody::new(connection, head.framing, home, permit),
        }
    }

    /// A place in the pool, waiting for one at most `patience`; `None`
    /// past it (the request goes beyond the pool's size), while the pool is
    /// saturated, or with no size.
    async fn place(&self) -> Option<OwnedSemaphorePermit> {
        let places = self.places.as_ref()?;
        if let Ok(permit) = places.clone().try_acquire_owned() {
            return Some(permit);
        }
        let saturated = || {
            self.saturated_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if saturated().is_some_and(|until| Instant::now() < until) {
            return None;
        }
        match tokio::time::timeout(self.patience, places.clone().acquire_owned()).await {
            // The semaphore is never closed: acquiring can only wait.
            Ok(permit) => permit.ok(),
            Err(_) => {
                *saturated() = Some(Instant::now() + SATURATED_FOR);
                None
            }
        }
    }

    /// The most recently used idle connection; stale ones, and ones the
    /// upstream closed meanwhile, are dropped on the way.
    fn take_idle(&self) -> Option<Connection> {
        let now = Instant::now();
        let mut idle = self.idle();
        while let Some(mut candidate) = idle.pop() {
            if now - candidate.since <= IDLE_TIMEOUT && candidate.connection.is_quiet() {
                return Some(candidate.connection);
            }
        }
        None
    }

    fn give_back(&self, connection: Connection) {
        // Bytes past the end of the answer: the connection is out of step.
        if !connection.buf.is_empty() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // The stack stays consistent whatever a panicking holder did.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where a response body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

/// An upstream response body; the connection it came on goes back to the
/// pool once the body has been read to its end.
pub struct ResponseBody {
    connection: Option<Connection>,
    state: State,
    /// The pool, when the connection may carry another request.
    home: Option<Arc<Pool>>,
    /// The connection's place in the pool, given up with the connection.
    permit: Option<OwnedSemaphorePermit>,
}

impl ResponseBody {
    fn new(
        connection: Connection,
        framing: Framing,
        home: Option<Arc<Pool>>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        let mut body = Self {
            connection: Some(connection),
            state: match framing {
                Framing::Empty => State::Length(0),
                Framing::Length(n) => State::Length(n),
                Framing::Chunked => State::Chunked(Chunked::Size),
                Framing::UntilClose => State::UntilClose,
            },
            home,
            permit,
        };
        if body.state == State::Length(0) {
            // Nothing to read: the connection is free at once.
            body.finish();
        }
        body
    }

    /// The body's length, when the upstream declared it (before reading).
    pub fn exact_len(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            State::Chunked(_) | State::UntilClose => None,
        }
    }

    /// The next piece of the body; `None` at its end.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            let Some(connection) = self.connection.as_mut() else {
                return Poll::Ready(None);
            };
            let buf = &mut connection.buf;
            match &mut self.state {
                State::Done => return Poll::Ready(None),
                State::Length(left) if !buf.is_empty() => {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                    *left -= n as u64;
                    let data = buf.split_to(n).freeze();
                    if *left == 0 {
                        self.finish();
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                State::UntilClose if !buf.is_empty() => {
                    return Poll::Ready(Some(Ok(buf.split().freeze())));
                }
                State::Chunked(decoder) => match decoder.decode(buf) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(data))),
                    Ok(Decoded::End) => {
                        self.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(malformed) => {
                        return self.fail(io::Error::new(io::ErrorKind::InvalidData, malformed));
                    }
                },
                State::Length(_) | State::UntilClose => {}
            }
            match ready!(connection.poll_fill(cx)) {
                Ok(0) if self.state == State::UntilClose => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return self.fail(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the upstream closed the connection inside the body",
                    ));
                }
                Ok(_) => {}
                Err(err) => return self.fail(err),
            }
        }
    }

    fn finish(&mut self) {
        self.state = State::Done;
        if let (Some(connection), Some(pool)) = (self.connection.take(), self.home.take()) {
            pool.give_back(connection);
        }
        self.connection = None;
        self.permit = None;
    }

    /// A connection that failed mid-body is not reused.
    fn fail(&mut self, err: io::Error) -> Poll<Option<io::Result<Bytes>>> {
        self.state = State::Done;
        self.connection = None;
        self.permit = None;
        Poll::Ready(Some(Err(err)))
    }
}
