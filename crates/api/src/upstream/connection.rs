//! One keep-alive connection to the upstream and one exchange on it, driven
//! by the task of the request that uses it: no connection task, no channel
//! between the two, nothing handed across threads.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::web::{Bytes, BytesMut};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::outgoing::OutgoingBody;
use super::wire::{self, LAST_CHUNK, Malformed, ResponseHead, Upload};

/// Reads ask for at least this much room.
const READ_SIZE: usize = 16 * 1024;

/// How a new connection is opened.
pub enum Dialer {
    Plain,
    Tls {
        connector: TlsConnector,
        name: ServerName<'static>,
    },
}

/// Where and how to connect.
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub dialer: Dialer,
    pub connect_timeout: Duration,
}

impl Endpoint {
    pub async fn connect(&self) -> io::Result<Connection> {
        let connecting = async {
            let mut last = None;
            for addr in tokio::net::lookup_host((self.host.as_str(), self.port)).await? {
                match TcpStream::connect(addr).await {
                    Ok(tcp) => return Ok(tcp),
                    Err(err) => last = Some(err),
                }
            }
            Err(last.unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "the upstream's name resolves to no address",
                )
            }))
        };
        let tcp = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting timed out"))??;
        tcp.set_nodelay(true)?;
        let io = match &self.dialer {
            Dialer::Plain => Io::Plain(tcp),
            Dialer::Tls { connector, name } => {
                let tls = tokio::time::timeout(
                    self.connect_timeout,
                    connector.connect(name.clone(), tcp),
                )
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake timed out")
                })??;
                Io::Tls(Box::new(tls))
            }
        };
        Ok(Connection {
            io,
            buf: BytesMut::new(),
        })
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

pub struct Connection {
    io: Io,
    /// Read and not yet consumed.
    pub buf: BytesMut,
}

/// Why an exchange gave no response head.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The connection ended before any byte of an answer.
    #[error("the upstream closed the connection")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Malformed(#[from] Malformed),
    /// The request body failed (the client's upload).
    #[error("the request body failed: {0}")]
    Upload(io::Error),
}

impl ExchangeError {
    /// The connection was found closed before an answer: an idle one the
    /// upstream had closed meanwhile.
    pub fn closed(&self) -> bool {
        match self {
            Self::Closed => true,
            Self::Io(err) => matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}

impl Connection {
    /// Whether an idle connection is still open and quiet: the upstream
    /// has neither closed it nor sent anything unasked. No system call
    /// unless an event arrived for it since its last read.
    pub fn is_quiet(&mut self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        self.poll_fill(&mut cx).is_pending()
    }

    /// Reads whatever arrives into `buf`; `Ok(0)` at the end of the stream.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    /// Sends the head and the body, reading at the same time: an upstream
    /// may answer before the body is through (a refusal), and then gets no
    /// more of it. Returns the response head and whether the request went
    /// out whole (the connection can carry another only then).
    pub async fn exchange(
        &mut self,
        head: Bytes,
        upload: Upload,
        body: &mut OutgoingBody,
        head_request: bool,
    ) -> Result<(ResponseHead, bool), ExchangeError> {
        let mut out = Outgoing {
            pending: head,
            upload,
            body_done: upload == Upload::None,
            flushed: false,
        };
        // A write that failed may have met an answer already on its way:
        // the answer wins, the failure is reported only if none comes.
        let mut send_failed = None;
        std::future::poll_fn(|cx| {
            let sent = match send_failed {
                Some(_) => false,
                None => match out.poll_send(&mut self.io, body, cx) {
                    Ok(sent) => sent.is_ready(),
                    Err(err @ ExchangeError::Upload(_)) => return Poll::Ready(Err(err)),
                    Err(err) => {
                        send_failed = Some(err);
                        false
                    }
                },
            };
            loop {
                if let Some(head) = wire::parse_response(&mut self.buf, head_request)? {
                    return Poll::Ready(Ok((head, sent)));
                }
                let ended = match ready!(self.poll_fill(cx)) {
                    Ok(0) if self.buf.is_empty() => ExchangeError::Closed,
                    Ok(0) => Malformed("the connection ended inside the response head").into(),
                    Ok(_) => continue,
                    Err(err) => err.into(),
                };
                return Poll::Ready(Err(send_failed.take().unwrap_or(ended)));
            }
        })
        .await
    }
}

/// The request's bytes on their way out.
struct Outgoing {
    /// Framed bytes not yet written.
    pending: Bytes,
    upload: Upload,
    body_done: bool,
    flushed: bool,
}

impl Outgoing {
    /// Writes what it can; `Ready` once the whole request is out.
    fn poll_send(
        &mut self,
        io: &mut Io,
        body: &mut OutgoingBody,
        cx: &mut Context<'_>,
    ) -> Result<Poll<()>, ExchangeError> {
        loop {
            while !self.pending.is_empty() {
                match Pin::new(&mut *io).poll_write(cx, &self.pending) {
                    Poll::Ready(Ok(0)) => {
                        return Err(io::Error::from(io::ErrorKind::WriteZero).into());
                    }
                    Poll::Ready(Ok(n)) => drop(self.pending.split_to(n)),
                    Poll::Ready(Err(err)) => return Err(err.into()),
                    Poll::Pending => return Ok(Poll::Pending),
                }
                self.flushed = false;
            }
            if self.body_done {
                if !self.flushed {
                    match Pin::new(&mut *io).poll_flush(cx) {
                        Poll::Ready(result) => result?,
                        Poll::Pending => return Ok(Poll::Pending),
                    }
                    self.flushed = true;
                }
                return Ok(Poll::Ready(()));
            }
            match body.poll_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    self.pending = match self.upload {
                        Upload::Chunked => {
                            let mut framed = Vec::with_capacity(chunk.len() + 20);
                            wire::push_chunk(&mut framed, &chunk);
                            framed.into()
                        }
                        _ => chunk,
                    };
                }
                Poll::Ready(Some(Err(err))) => return Err(ExchangeError::Upload(err)),
                Poll::Ready(None) => {
                    self.body_done = true;
                    if self.upload == Upload::Chunked {
                        self.pending = Bytes::from_static(LAST_CHUNK);
                    }
                }
                Poll::Pending => return Ok(Poll::Pending),
            }
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS client for an `https://` upstream, speaking HTTP/1.1.
pub fn tls_connector(mut config: rustls::ClientConfig) -> TlsConnector {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}
