//! The Zenzefi server behind the gateway: one pooled HTTP client for the
//! whole process, shared by the proxy and the health probe.

mod probe;

use std::time::Duration;

use zenzefi_bootstrap::UpstreamSettings;

pub use probe::UpstreamProbe;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamConfigError {
    #[error("upstream.url {0:?} is not an http(s) URL")]
    Url(String),
    #[error("upstream.ca_cert {path:?}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("could not build the upstream client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Where and how requests reach the upstream.
#[derive(Clone)]
pub struct Upstream {
    pub client: reqwest::Client,
    /// `upstream.url` without a trailing slash.
    pub base_url: String,
    /// The same, parsed once: each request only sets its path and query.
    pub base: reqwest::Url,
    /// Longest wait for the upstream's response head (and between two reads
    /// of a body); the transfer as a whole may take as long as it needs.
    pub request_timeout: Duration,
}

impl Upstream {
    /// `base` + `/path` + `?query`, without parsing the host again.
    pub fn url_for(&self, path: &str, query: Option<&str>) -> reqwest::Url {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}/{path}"));
        url.set_query(query);
        url
    }

    pub fn new(settings: &UpstreamSettings) -> Result<Self, UpstreamConfigError> {
        let base_url = settings.url.trim_end_matches('/').to_owned();
        let base = reqwest::Url::parse(&base_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| UpstreamConfigError::Url(settings.url.clone()))?;
        let request_timeout = Duration::from_secs(settings.request_timeout_secs);
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .http1_only()
            .pool_max_idle_per_host(1024)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .read_timeout(request_timeout)
            // The client follows redirects itself; the proxy passes them on.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if !settings.ca_cert.is_empty() {
            let ca_error = |reason: String| UpstreamConfigError::CaCert {
                path: settings.ca_cert.clone(),
                reason,
            };
            let pem = std::fs::read(&settings.ca_cert).map_err(|e| ca_error(e.to_string()))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| ca_error(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        if settings.insecure_skip_verify {
            tracing::warn!(
                "upstream.insecure_skip_verify is on: the upstream's certificate is not verified"
            );
            builder = builder.danger_accept_invalid_certs(true);
        }
        Ok(Self {
            client: builder.build()?,
            base_url,
            base,
            request_timeout,
        })
    }
}
