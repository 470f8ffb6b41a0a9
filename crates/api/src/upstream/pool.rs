//! Keep-alive HTTP/1.1 connections to the one upstream.
//!
//! There is a single origin, so the pool is a plain stack of idle
//! connections, not a map keyed by scheme and host (hyper-util's generic
//! pool hashes that key twice per request). A connection is lent to one
//! exchange and comes back when its response body has been read to the end;
//! so taking one costs a pop whatever the number of requests in flight
//! (scanning every connection for a free one cost more than the rest of the
//! proxy at 1 000 connections). A body dropped before its end closes its
//! connection: hyper cannot reuse one with unread bytes.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::TrySendError;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use super::OutgoingBody;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Idle connections kept beyond this many are closed instead.
const MAX_IDLE: usize = 1024;
/// A connection unused this long is closed rather than reused: upstreams
/// close idle keep-alive connections on their own schedule (nginx: 75 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How a new connection is opened: TCP, or TCP then TLS. A plain `http://`
/// upstream needs no TLS configuration at all (nor the system's CA store).
pub enum Dialer {
    Plain(HttpConnector),
    Tls(HttpsConnector<HttpConnector>),
}

pub struct Pool {
    dialer: Dialer,
    /// `scheme://authority` of the upstream: what the dialer dials.
    origin: Uri,
    /// Connections with no exchange, most recently used last.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    sender: SendRequest<OutgoingBody>,
    since: Instant,
}

impl Pool {
    pub fn new(dialer: Dialer, origin: Uri) -> Self {
        Self {
            dialer,
            origin,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends `request` (origin-form URI, `Host` set) on an idle connection,
    /// or on a new one. A request that an idle connection gave back unsent
    /// (it was closing) is retried once on a new one.
    pub async fn send(
        self: &Arc<Self>,
        request: Request<OutgoingBody>,
    ) -> Result<Response<ResponseBody>, BoxError> {
        let request = match self.take_idle() {
            Some(mut sender) => match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.lend(response, sender)),
                Err(failed) => Self::unsent(failed)?,
            },
            None => request,
        };
        let mut sender = self.connect().await?;
        let response = sender.send_request(request).await?;
        Ok(self.lend(response, sender))
    }

    /// The request a closing connection gave back, or the error.
    fn unsent(
        mut failed: TrySendError<Request<OutgoingBody>>,
    ) -> Result<Request<OutgoingBody>, BoxError> {
        failed
            .take_message()
            .ok_or_else(|| failed.into_error().into())
    }

    /// The response, its body carrying the connection home.
    fn lend(
        self: &Arc<Self>,
        response: Response<Incoming>,
        sender: SendRequest<OutgoingBody>,
    ) -> Response<ResponseBody> {
        response.map(|body| ResponseBody {
            body,
            lent: Some((self.clone(), sender)),
        })
    }

    /// The most recently used idle connection ready for a request; closed
    /// and stale ones are dropped on the way. One whose exchange has not
    /// quite settled (its upload still running) stays for later.
    fn take_idle(&self) -> Option<SendRequest<OutgoingBody>> {
        let now = Instant::now();
        let mut idle = self.idle();
        let mut settling = Vec::new();
        let mut found = None;
        while let Some(candidate) = idle.pop() {
            if candidate.sender.is_closed() || now - candidate.since > IDLE_TIMEOUT {
                continue;
            }
            if candidate.sender.is_ready() {
                found = Some(candidate.sender);
                break;
            }
            settling.push(candidate);
        }
        idle.extend(settling.into_iter().rev());
        found
    }

    fn give_back(&self, sender: SendRequest<OutgoingBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                sender,
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

    /// A new connection, driven by its own task.
    async fn connect(&self) -> Result<SendRequest<OutgoingBody>, BoxError> {
        match &self.dialer {
            Dialer::Plain(connector) => open(connector.clone(), self.origin.clone()).await,
            Dialer::Tls(connector) => open(connector.clone(), self.origin.clone()).await,
        }
    }
}

/// An upstream response body; the connection it came on goes back to the
/// pool once the body has been read to its end.
pub struct ResponseBody {
    body: Incoming,
    lent: Option<(Arc<Pool>, SendRequest<OutgoingBody>)>,
}

impl ResponseBody {
    fn return_connection(&mut self) {
        if let Some((pool, sender)) = self.lent.take() {
            pool.give_back(sender);
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.return_connection(),
            // A connection that failed mid-body is not reused.
            Poll::Ready(Some(Err(_))) => this.lent = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // A body with nothing left (a HEAD or 204 answer never polled)
        // leaves its connection reusable too.
        if self.body.is_end_stream() {
            self.return_connection();
        }
    }
}

async fn open<C>(mut connector: C, origin: Uri) -> Result<SendRequest<OutgoingBody>, BoxError>
where
    C: Service<Uri>,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    C::Error: Into<BoxError>,
{
    std::future::poll_fn(|cx| connector.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    let io = connector.call(origin).await.map_err(Into::into)?;
    let (sender, connection) = http1::handshake(io).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
