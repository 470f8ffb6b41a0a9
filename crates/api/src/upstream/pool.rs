//! Keep-alive HTTP/1.1 connections to the one upstream.
//!
//! There is a single origin, so the pool is a plain list, not a map keyed by
//! scheme and host (hyper-util's generic pool hashes that key twice per
//! request, which cost more than everything else it does). A connection is
//! free again when hyper says it wants its next request, i.e. once the
//! previous response body has been read to the end; until then it is
//! skipped, so a long download never holds up another request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::TrySendError;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use super::OutgoingBody;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A pooled connection's answer, or the request back if it went unsent.
type Sent = Result<Response<Incoming>, TrySendError<Request<OutgoingBody>>>;

/// Connections kept open beyond this many are closed after their request.
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
    connections: Mutex<Vec<Pooled>>,
}

struct Pooled {
    sender: SendRequest<OutgoingBody>,
    last_sent: Instant,
}

impl Pool {
    pub fn new(dialer: Dialer, origin: Uri) -> Self {
        Self {
            dialer,
            origin,
            connections: Mutex::new(Vec::new()),
        }
    }

    /// Sends `request` (origin-form URI, `Host` set) on a free pooled
    /// connection, or on a new one. A request that a pooled connection
    /// gave back unsent (it was closing) is retried once on a new one.
    pub async fn send(
        &self,
        request: Request<OutgoingBody>,
    ) -> Result<Response<Incoming>, BoxError> {
        let request = match self.send_pooled(request) {
            Ok(sent) => match sent.await {
                Ok(response) => return Ok(response),
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) => unsent,
                    None => return Err(failed.into_error().into()),
                },
            },
            Err(unsent) => unsent,
        };
        let mut sender = self.connect().await?;
        let sent = sender.send_request(request);
        self.keep(sender);
        Ok(sent.await?)
    }

    /// Hands `request` to the first free pooled connection, dropping closed
    /// and stale ones on the way; gives it back when none is free.
    #[allow(clippy::result_large_err)] // the request itself, given back
    fn send_pooled(
        &self,
        request: Request<OutgoingBody>,
    ) -> Result<impl Future<Output = Sent> + use<>, Request<OutgoingBody>> {
        let now = Instant::now();
        let mut connections = self.connections();
        let mut i = connections.len();
        while i > 0 {
            i -= 1;
            let pooled = &mut connections[i];
            if pooled.sender.is_closed()
                || (pooled.sender.is_ready() && now - pooled.last_sent > IDLE_TIMEOUT)
            {
                connections.swap_remove(i);
            } else if pooled.sender.is_ready() {
                pooled.last_sent = now;
                return Ok(pooled.sender.try_send_request(request));
            }
        }
        Err(request)
    }

    fn keep(&self, sender: SendRequest<OutgoingBody>) {
        let mut connections = self.connections();
        if connections.len() < MAX_IDLE {
            connections.push(Pooled {
                sender,
                last_sent: Instant::now(),
            });
        }
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, Vec<Pooled>> {
        // The list stays consistent whatever a panicking holder did.
        self.connections
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
