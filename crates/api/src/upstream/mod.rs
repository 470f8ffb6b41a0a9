//! The Zenzefi server behind the gateway: keep-alive HTTP/1.1 connections
//! (hyper; rustls for `https://` upstreams), used by the proxy and the
//! health probe.

mod outgoing;
mod pool;
mod probe;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use http::header::{HOST, HeaderValue};
use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use zenzefi_bootstrap::{UpstreamSettings, redacted_url};

use self::pool::{BoxError, Dialer, Pool};

pub use self::pool::ResponseBody;

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
    #[error("the upstream is unreachable: {}", error_chain(.0.as_ref()))]
    Unavailable(BoxError),
}

/// Where and how requests reach the upstream. Clones share the connections.
#[derive(Clone)]
pub struct Upstream {
    pool: Arc<Pool>,
    /// `Host` of every request: the authority of `upstream.url`.
    host: HeaderValue,
    /// The path of `upstream.url` without a trailing slash ("" for none).
    base_path: String,
    /// Longest wait for the upstream's response head, and between two
    /// chunks of its body; the transfer as a whole may take as long as it needs.
    pub request_timeout: Duration,
}

impl Upstream {
    pub fn new(settings: &UpstreamSettings) -> Result<Self, UpstreamConfigError> {
        let invalid = || UpstreamConfigError::Url(redacted_url(&settings.url));
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
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| invalid())?;
        let origin = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query("/")
            .build()
            .map_err(|_| invalid())?;

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(settings.connect_timeout_secs)));
        let dialer = if url.scheme() == Some(&Scheme::HTTPS) {
            Dialer::Tls(
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls::client_config(settings)?)
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http),
            )
        } else {
            if !settings.ca_cert.is_empty() || settings.insecure_skip_verify {
                tracing::warn!(
                    "upstream.ca_cert and upstream.insecure_skip_verify have no effect on an http:// upstream"
                );
            }
            Dialer::Plain(http)
        };
        Ok(Self {
            pool: Arc::new(Pool::new(dialer, origin)),
            host,
            base_path: url.path().trim_end_matches('/').to_owned(),
            request_timeout: Duration::from_secs(settings.request_timeout_secs),
        })
    }

    /// The upstream's origin-form URI for `/path?query` (both already
    /// checked by the caller), under the path of `upstream.url`.
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
        Ok(Uri::from(PathAndQuery::try_from(target)?))
    }

    /// Sends `request` with the upstream's `Host` and waits at most
    /// `timeout` for the response head (connecting included).
    pub async fn send(
        &self,
        mut request: Request<OutgoingBody>,
        timeout: Duration,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        request.headers_mut().insert(HOST, self.host.clone());
        match tokio::time::timeout(timeout, self.pool.send(request)).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(err)) if timed_out(err.as_ref()) => Err(UpstreamError::Timeout),
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

/// An error with its causes ("tcp connect error: Connection refused
/// (os error 111)"), for the log.
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

#[cfg(test)]
mod tests {
    use zenzefi_bootstrap::Settings;

    use super::*;

    #[test]
    fn an_upstream_url_with_credentials_is_refused_without_printing_them() {
        let mut settings = Settings::defaults().upstream;
        settings.url = "http://admin:s3cret@up.example:8080".into();
        let Err(err) = Upstream::new(&settings) else {
            panic!("credentials in upstream.url were accepted");
        };
        let shown = err.to_string();
        assert!(
            !shown.contains("s3cret") && shown.contains("up.example"),
            "{shown}"
        );
    }
}
