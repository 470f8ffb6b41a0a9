//! The Zenzefi server behind the gateway: a pooled HTTP/1.1 client (hyper,
//! rustls for `https://` upstreams), shared by the proxy and the health probe.

mod outgoing;
mod probe;
mod tls;

use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use zenzefi_bootstrap::UpstreamSettings;

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
    #[error("the upstream is unreachable: {}", error_chain(.0))]
    Unavailable(hyper_util::client::legacy::Error),
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Where and how requests reach the upstream.
#[derive(Clone)]
pub struct Upstream {
    client: Client<Connector, OutgoingBody>,
    scheme: Scheme,
    authority: Authority,
    /// The path of `upstream.url` without a trailing slash ("" for none).
    base_path: String,
    /// Longest wait for the upstream's response head, and between two
    /// chunks of its body; the transfer as a whole may take as long as it needs.
    pub request_timeout: Duration,
}

impl Upstream {
    pub fn new(settings: &UpstreamSettings) -> Result<Self, UpstreamConfigError> {
        let invalid = || UpstreamConfigError::Url(settings.url.clone());
        let url: Uri = settings.url.parse().map_err(|_| invalid())?;
        let scheme = url
            .scheme()
            .filter(|s| **s == Scheme::HTTP || **s == Scheme::HTTPS)
            .ok_or_else(invalid)?
            .clone();
        let authority = url.authority().ok_or_else(invalid)?.clone();
        if url.query().is_some() || authority.as_str().contains('@') {
            return Err(invalid());
        }

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(settings.connect_timeout_secs)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_config(settings)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Self {
            client,
            scheme,
            authority,
            base_path: url.path().trim_end_matches('/').to_owned(),
            request_timeout: Duration::from_secs(settings.request_timeout_secs),
        })
    }

    /// The upstream's URI for `/path?query` (both already checked by the
    /// caller), under the path of `upstream.url`.
    pub fn uri_for(&self, path: &str, query: Option<&str>) -> Result<Uri, http::Error> {
        let query_len = query.map_or(0, |q| q.len() + 1);
        let mut target = String::with_capacity(self.base_path.len() + 1 + path.len() + query_len);
        target.push_str(&self.base_path);
        target.push('/');
        target.push_str(path);
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(PathAndQuery::try_from(target)?)
            .build()
    }

    /// Sends `request` and waits at most `timeout` for the response head.
    pub async fn send(
        &self,
        request: Request<OutgoingBody>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(err)) if timed_out(&err) => Err(UpstreamError::Timeout),
            Ok(Err(err)) => Err(UpstreamError::Unavailable(err)),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// A connect that ran out of `upstream.connect_timeout_secs` is a timeout.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = err.source();
    }
    false
}

/// The client's error with its causes ("client error (Connect): tcp
/// connect error: Connection refused"), for the log.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        text.push_str(": ");
        text.push_str(&err.to_string());
        cause = err.source();
    }
    text
}
