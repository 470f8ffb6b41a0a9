//! The Zenzefi server behind the gateway: keep-alive HTTP/1.1 connections
//! (rustls for `https://` upstreams) spoken to by a small client of our own
//! (`wire`, `connection`), used by the proxy and the health probe. Each
//! exchange runs inside the task of the request that makes it: hyper's
//! client spends a task, a channel and a header-map conversion per request
//! on what this does inline.

mod connection;
mod outgoing;
mod pool;
mod probe;
mod tls;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::Uri;
use actix_web::http::uri::Scheme;
use rustls::pki_types::ServerName;
use zenzefi_bootstrap::{UpstreamSettings, redacted_url};

use self::connection::{Dialer, Endpoint, ExchangeError};
use self::pool::Pool;

pub use self::pool::{Response, ResponseBody};
pub use self::wire::{RequestHead, header_safe};

pub use outgoing::OutgoingBody;
pub use probe::UpstreamProbe;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamConfigError {
    #[error("upstream.url {0:?} is not an http(s) URL")]
    Url(String),
    #[error("upstream.ca_cert {path:?}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("could not set up TLS for the upstream: {0}")]
    Tls(#[from] rustls::Error),
}

/// Why the upstream gave no response head.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream did not answer in time")]
    Timeout,
    #[error("the upstream is unreachable: {0}")]
    Unavailable(ExchangeError),
}

/// Where and how requests reach the upstream. Clones share the connections.
#[derive(Clone)]
pub struct Upstream {
    pool: Arc<Pool>,
    /// `Host` of every request: the authority of `upstream.url`.
    host: Arc<str>,
    /// The path of `upstream.url` without a trailing slash ("" for none).
    base_path: Arc<str>,
    /// Longest wait for the upstream's response head, and between two
    /// chunks of its body; the transfer as a whole may take as long as it needs.
    pub request_timeout: Duration,
}

impl Upstream {
    /// A client with its own connections; `pool_size` as [`Pool::new`].
    pub fn new(
        settings: &UpstreamSettings,
        pool_size: Option<usize>,
    ) -> Result<Self, UpstreamConfigError> {
        let invalid = || UpstreamConfigError::Url(redacted_url(&settings.url));
        let url: Uri = settings.url.parse().map_err(|_| invalid())?;
        let https = match url.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(invalid()),
        };
        let authority = url.authority().ok_or_else(invalid)?;
        if url.query().is_some()
            || authority.as_str().contains('@')
            || !wire::forwardable(authority.as_str())
        {
            return Err(invalid());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let dialer = if https {
            Dialer::Tls {
                connector: connection::tls_connector(tls::client_config(settings)?),
                name: ServerName::try_from(host.to_owned()).map_err(|_| invalid())?,
            }
        } else {
            if !settings.ca_cert.is_empty() || settings.insecure_skip_verify {
                tracing::warn!(
                    "upstream.ca_cert and upstream.insecure_skip_verify have no effect on an http:// upstream"
                );
            }
            Dialer::Plain
        };
        let endpoint = Endpoint {
            host: host.to_owned(),
            port,
            dialer,
            connect_timeout: Duration::from_secs(settings.connect_timeout_secs),
        };
        Ok(Self {
            pool: Arc::new(Pool::new(
                endpoint,
                pool_size,
                Duration::from_millis(settings.pool_wait_ms),
            )),
            host: authority.as_str().into(),
            base_path: url.path().trim_end_matches('/').into(),
            request_timeout: Duration::from_secs(settings.request_timeout_secs),
        })
    }

    /// The head of a request for `/path?query` under the path of
    /// `upstream.url`; `None` when either holds a space or a control character.
    pub fn request(&self, method: &str, path: &str, query: Option<&str>) -> Option<RequestHead> {
        let query = query.unwrap_or_default();
        if !wire::forwardable(path) || !wire::forwardable(query) {
            return None;
        }
        let mark = if query.is_empty() { "" } else { "?" };
        Some(RequestHead::new(
            method,
            &[&self.base_path, "/", path, mark, query],
            self.host.as_bytes(),
        ))
    }

    /// Sends the request and waits at most `timeout` for the response head
    /// (connecting included).
    pub async fn send(
        &self,
        head: RequestHead,
        body: OutgoingBody,
        timeout: Duration,
    ) -> Result<Response, UpstreamError> {
        match tokio::time::timeout(timeout, self.pool.send(head, body)).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(ExchangeError::Io(err))) if err.kind() == std::io::ErrorKind::TimedOut => {
                Err(UpstreamError::Timeout)
            }
            Ok(Err(err)) => Err(UpstreamError::Unavailable(err)),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

#[cfg(test)]
mod tests {
    use zenzefi_bootstrap::Settings;

    use super::*;

    #[test]
    fn an_upstream_url_with_credentials_is_refused_without_printing_them() {
        let mut settings = Settings::defaults().upstream;
        settings.url = "http://admin:s3cret@up.example:8080".into();
        let Err(err) = Upstream::new(&settings, None) else {
            panic!("credentials in upstream.url were accepted");
        };
        let shown = err.to_string();
        assert!(
            !shown.contains("s3cret") && shown.contains("up.example"),
            "{shown}"
        );
    }
}
