//! Typed settings: `config/default.toml`, then the file named by
//! `ZENZEFI_CONFIG`, then `ZENZEFI__SECTION__KEY` environment variables.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use config::{Config, File, FileFormat};
use serde::Deserialize;
use zenzefi_domain::Money;
use zenzefi_domain::balance::BalanceLimit;
use zenzefi_domain::sessions::SessionPolicy;

use crate::secret::{Secret, redacted_url};
use crate::trusted_proxies::TrustedProxies;

/// Compiled in, so the binaries run from any directory; a
/// `config/default.toml` in the working directory takes its place.
const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

pub const DEV_JWT_SECRET: &str = "development-only-jwt-secret-change-me";
pub const DEV_WEBHOOK_SECRET: &str = "development-only-webhook-secret";

/// The shortest JWT or webhook secret production accepts (HS256's key size).
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub environment: Environment,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub cache: CacheSettings,
    pub auth: AuthSettings,
    pub upstream: UpstreamSettings,
    pub proxy: ProxySettings,
    pub pricing: PricingSettings,
    pub payments: PaymentSettings,
    pub currency: CurrencySettings,
    pub sessions: SessionSettings,
    pub audit: AuditSettings,
    pub usage: UsageSettings,
    pub metrics: MetricsSettings,
    pub rate_limit: RateLimitSettings,
    pub health: HealthSettings,
    pub log: LogSettings,
    pub worker: WorkerSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub public_url: String,
    pub workers: usize,
    /// CIDRs of the proxies in front; see [`Settings::trusted_proxies`].
    pub trusted_proxies: Vec<String>,
    pub shutdown_timeout_secs: u64,
    /// Longest a request body may take to arrive (a proxied one: longest
    /// pause between two chunks); past it, 408.
    pub client_body_timeout_secs: u64,
    /// The key `trusted_proxies` replaced. Read only to refuse it: ignored,
    /// it would leave every client behind the operator's proxy with the
    /// proxy's address, unnoticed.
    #[serde(default)]
    pub trust_forwarded_for: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub auto_migrate: bool,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: Secret,
    pub key_prefix: String,
    pub max_connections: usize,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    pub local_capacity: u64,
    pub local_ttl_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: Secret,
    pub jwt_ttl_secs: u64,
    /// Password hashes computed at once; 0 = one per core.
    pub hash_concurrency: usize,
    /// Password hashes that may wait for a slot; past it, 503.
    pub hash_queue: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamSettings {
    pub url: String,
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub ca_cert: String,
    pub insecure_skip_verify: bool,
    /// Connections per instance that requests wait up to `pool_wait_ms`
    /// for rather than open more; 0 for none.
    pub pool_size: usize,
    pub pool_wait_ms: u64,
}

/// A count setting where 0 means one per core.
pub fn per_core_unless_set(count: usize) -> usize {
    match count {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProxySettings {
    /// Proxied requests one token may have in flight; past it, 429.
    pub max_in_flight_per_token: usize,
    /// Proxied requests this instance may have in flight; past it, 503.
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PricingSettings {
    /// Hours → ZNC, as written in the file; see [`Settings::prices`].
    pub prices: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    pub webhook_secret: Secret,
    pub znc_to_rub: String,
    pub mock_gateway: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CurrencySettings {
    /// ZNC, as written in the file; see [`Settings::balance_limit`].
    pub max_balance: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    pub idle_timeout_secs: u64,
    pub flush_interval_ms: u64,
    pub claim_renew_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditSettings {
    pub retention_days: u32,
}

/// How long usage buckets are kept at each width (SPEC §14).
#[derive(Debug, Clone, Deserialize)]
pub struct UsageSettings {
    pub minute_retention_hours: u32,
    pub hour_retention_days: u32,
    pub day_retention_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    pub bearer_token: Secret,
    /// How often the API recounts tokens, sessions and users for its gauges.
    pub gauge_refresh_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub login_per_minute: u32,
    pub login_per_hour_per_email: u32,
    pub register_per_hour: u32,
    pub password_change_per_hour: u32,
    /// Proxied requests per token per minute (a token may have its own);
    /// 0 limits only tokens that have their own.
    pub proxy_per_minute: u32,
    /// Requests per user per minute on the other JWT endpoints.
    pub api_per_minute: u32,
    /// How often an instance adds its proxy and API counts to the
    /// cluster's (with Redis).
    pub sync_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HealthSettings {
    pub interval_secs: u64,
    pub ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    pub metrics_bind: String,
    /// Six-field cron expressions (with seconds, UTC), checked by the worker.
    pub session_cleanup_cron: String,
    pub audit_retention_cron: String,
    pub pending_payment_expiry_cron: String,
    pub usage_rollup_cron: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("could not read the configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults, `ZENZEFI_CONFIG` and the environment, validated.
    pub fn load() -> Result<Self, SettingsError> {
        let local_default = std::path::Path::new("config/default.toml");
        let mut builder = Config::builder();
        builder = if local_default.exists() {
            builder.add_source(File::from(local_default))
        } else {
            builder.add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
        };
        if let Ok(path) = std::env::var("ZENZEFI_CONFIG") {
            builder = builder.add_source(File::with_name(&path).required(true));
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("ZENZEFI")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // ZENZEFI__SERVER__TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_proxies"),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The compiled-in defaults alone, for tests that then adjust fields.
    pub fn defaults() -> Self {
        Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .build()
            .and_then(Config::try_deserialize)
            .expect("config/default.toml is valid")
    }

    /// Refuses settings that would start a broken or unsafe service.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |msg: String| Err(SettingsError::Invalid(msg));
        if self.environment == Environment::Production {
            self.validate_production()?;
        }
        if self.auth.jwt_secret.is_empty() {
            return invalid("auth.jwt_secret must not be empty".into());
        }
        let Ok(bind) = self.bind_addr() else {
            return invalid(format!(
                "server.bind {:?} is not an address:port",
                self.server.bind
            ));
        };
        if !bind.ip().is_loopback() {
            self.validate_exposed()?;
        }
        if self.health.interval_secs == 0 || self.health.ttl_secs < self.health.interval_secs {
            return invalid("health.ttl_secs must be at least health.interval_secs (> 0)".into());
        }
        if self.cache.local_capacity == 0 || self.cache.local_ttl_ms == 0 {
            return invalid("cache.local_capacity and cache.local_ttl_ms must be positive".into());
        }
        if self.sessions.claim_renew_secs == 0
            || self.sessions.claim_renew_secs >= self.sessions.idle_timeout_secs
        {
            return invalid(
                "sessions.claim_renew_secs must be positive and below sessions.idle_timeout_secs"
                    .into(),
            );
        }
        for (key, value) in [
            ("login_per_minute", self.rate_limit.login_per_minute),
            (
                "login_per_hour_per_email",
                self.rate_limit.login_per_hour_per_email,
            ),
            ("register_per_hour", self.rate_limit.register_per_hour),
            (
                "password_change_per_hour",
                self.rate_limit.password_change_per_hour,
            ),
            ("api_per_minute", self.rate_limit.api_per_minute),
        ] {
            if value == 0 {
                return invalid(format!("rate_limit.{key} must be at least 1"));
            }
        }
        if self.rate_limit.sync_interval_ms == 0 {
            return invalid("rate_limit.sync_interval_ms must be at least 1".into());
        }
        if self.server.trust_forwarded_for.is_some() {
            return invalid(
                "server.trust_forwarded_for was replaced by server.trusted_proxies: remove it and \
                 list the CIDRs of the proxies in front there (SPEC §16.2)"
                    .into(),
            );
        }
        self.trusted_proxies()?;
        self.public_origin()?;
        self.prices()?;
        self.rub_per_znc()?;
        self.balance_limit()?;
        Ok(())
    }

    /// What production needs: no development secret, secrets of at least
    /// [`MIN_SECRET_BYTES`], no mock gateway, and a guarded `/metrics`.
    fn validate_production(&self) -> Result<(), SettingsError> {
        let invalid = |msg: &str| Err(SettingsError::Invalid(format!("{msg} in production")));
        if self.auth.jwt_secret.expose() == DEV_JWT_SECRET {
            return invalid(
                "auth.jwt_secret is the development value; set ZENZEFI__AUTH__JWT_SECRET \
                 to a random string of at least 32 bytes (openssl rand -hex 32)",
            );
        }
        if self.auth.jwt_secret.expose().len() < MIN_SECRET_BYTES {
            return invalid(
                "auth.jwt_secret (ZENZEFI__AUTH__JWT_SECRET) must be at least 32 bytes",
            );
        }
        if self.payments.webhook_secret.expose() == DEV_WEBHOOK_SECRET {
            return invalid(
                "payments.webhook_secret is the development value; set \
                 ZENZEFI__PAYMENTS__WEBHOOK_SECRET to a random string of at least 32 bytes",
            );
        }
        if self.payments.webhook_secret.expose().len() < MIN_SECRET_BYTES {
            return invalid(
                "payments.webhook_secret (ZENZEFI__PAYMENTS__WEBHOOK_SECRET) must be at least \
                 32 bytes",
            );
        }
        if self.payments.mock_gateway {
            return invalid(
                "payments.mock_gateway must be false (ZENZEFI__PAYMENTS__MOCK_GATEWAY=false)",
            );
        }
        if self.metrics.bearer_token.is_empty() {
            return invalid("metrics.bearer_token (ZENZEFI__METRICS__BEARER_TOKEN) is required");
        }
        Ok(())
    }

    /// A `server.bind` other hosts can reach must not run on anything that
    /// lets anyone mint JWTs or ZNC, whatever `environment` says.
    fn validate_exposed(&self) -> Result<(), SettingsError> {
        let fail_open = [
            (
                self.auth.jwt_secret.expose() == DEV_JWT_SECRET,
                "auth.jwt_secret is the public development value (set ZENZEFI__AUTH__JWT_SECRET)",
            ),
            (
                self.payments.webhook_secret.expose() == DEV_WEBHOOK_SECRET,
                "payments.webhook_secret is the public development value (set \
                 ZENZEFI__PAYMENTS__WEBHOOK_SECRET)",
            ),
            (
                self.payments.mock_gateway,
                "the mock payment gateway is on (set ZENZEFI__PAYMENTS__MOCK_GATEWAY=false)",
            ),
        ];
        let reasons: Vec<&str> = fail_open
            .iter()
            .filter(|(open, _)| *open)
            .map(|(_, reason)| *reason)
            .collect();
        if reasons.is_empty() {
            return Ok(());
        }
        Err(SettingsError::Invalid(format!(
            "server.bind {} is reachable from other hosts, but {}; or bind to 127.0.0.1",
            self.server.bind,
            reasons.join(", and ")
        )))
    }

    /// `server.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<TrustedProxies, SettingsError> {
        TrustedProxies::parse(&self.server.trusted_proxies)
            .map_err(|err| SettingsError::Invalid(format!("server.trusted_proxies: {err}")))
    }

    /// The scheme and host of `server.public_url`: what the upstream is told
    /// (`X-Forwarded-Proto`/`-Host`) unless a trusted proxy says otherwise.
    pub fn public_origin(&self) -> Result<(&str, &str), SettingsError> {
        let url = &self.server.public_url;
        let invalid = || {
            SettingsError::Invalid(format!(
                "server.public_url {:?} is not an http(s) URL with a host",
                redacted_url(url)
            ))
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if !matches!(scheme, "http" | "https") || host.is_empty() || host.contains('@') {
            return Err(invalid());
        }
        Ok((scheme, host))
    }

    /// `currency.max_balance`, positive.
    pub fn balance_limit(&self) -> Result<BalanceLimit, SettingsError> {
        let max = &self.currency.max_balance;
        max.parse().ok().and_then(BalanceLimit::new).ok_or_else(|| {
            SettingsError::Invalid(format!(
                "currency.max_balance: {max:?} is not a positive amount"
            ))
        })
    }

    /// `payments.znc_to_rub`, positive.
    pub fn rub_per_znc(&self) -> Result<Money, SettingsError> {
        self.payments
            .znc_to_rub
            .parse()
            .ok()
            .filter(|rate: &Money| rate.cents() > 0)
            .ok_or_else(|| {
                SettingsError::Invalid(format!(
                    "payments.znc_to_rub: {:?} is not a positive amount",
                    self.payments.znc_to_rub
                ))
            })
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.server.bind.parse()
    }

    /// `pricing.prices` as hours → price, each price positive.
    pub fn prices(&self) -> Result<BTreeMap<u32, Money>, SettingsError> {
        let invalid = |msg: String| SettingsError::Invalid(msg);
        let mut prices = BTreeMap::new();
        for (hours, price) in &self.pricing.prices {
            let hours: u32 = hours.parse().ok().filter(|h| *h > 0).ok_or_else(|| {
                invalid(format!(
                    "pricing.prices: {hours:?} is not a number of hours"
                ))
            })?;
            let price: Money = price
                .parse()
                .ok()
                .filter(|p: &Money| p.cents() > 0)
                .ok_or_else(|| {
                    invalid(format!(
                        "pricing.prices: {price:?} is not a positive amount"
                    ))
                })?;
            prices.insert(hours, price);
        }
        if prices.is_empty() {
            return Err(invalid(
                "pricing.prices must list at least one duration".into(),
            ));
        }
        Ok(prices)
    }

    pub fn jwt_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.jwt_ttl_secs)
    }

    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle_timeout: Duration::from_secs(self.sessions.idle_timeout_secs),
            claim_renew: Duration::from_secs(self.sessions.claim_renew_secs),
        }
    }

    pub fn redis_configured(&self) -> bool {
        !self.redis.url.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_for_development() {
        let settings = Settings::defaults();
        settings.validate().unwrap();
        assert_eq!(settings.prices().unwrap()[&24], Money::from_cents(1800));
        let limit = settings.balance_limit().unwrap();
        assert_eq!(limit.max(), Money::from_cents(1_000_000_000));
        assert!(!settings.redis_configured());
    }

    #[test]
    fn production_refuses_development_secrets_with_a_clear_message() {
        let mut settings = Settings::defaults();
        settings.environment = Environment::Production;
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("auth.jwt_secret"), "{err}");

        settings.auth.jwt_secret = Secret::new("x".repeat(40));
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("payments.webhook_secret"), "{err}");

        settings.payments.webhook_secret = Secret::new("y".repeat(32));
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("MOCK_GATEWAY=false"), "{err}");

        settings.payments.mock_gateway = false;
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("ZENZEFI__METRICS__BEARER_TOKEN"), "{err}");

        settings.metrics.bearer_token = Secret::new("scrape");
        settings.validate().unwrap();
    }

    #[test]
    fn production_secrets_are_at_least_32_bytes() {
        let mut settings = Settings::defaults();
        settings.environment = Environment::Production;
        settings.payments.mock_gateway = false;
        settings.metrics.bearer_token = Secret::new("scrape");
        settings.payments.webhook_secret = Secret::new("y".repeat(32));
        settings.auth.jwt_secret = Secret::new("x".repeat(31));
        let err = settings.validate().unwrap_err().to_string();
        assert!(
            err.contains("auth.jwt_secret") && err.contains("32 bytes"),
            "{err}"
        );

        settings.auth.jwt_secret = Secret::new("x".repeat(32));
        settings.payments.webhook_secret = Secret::new("real-webhook-secret");
        let err = settings.validate().unwrap_err().to_string();
        assert!(
            err.contains("payments.webhook_secret") && err.contains("32 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_reachable_bind_refuses_what_lets_anyone_mint_jwts_or_znc() {
        let mut settings = Settings::defaults();
        settings.server.bind = "0.0.0.0:8000".into();
        let err = settings.validate().unwrap_err().to_string();
        for named in [
            "ZENZEFI__AUTH__JWT_SECRET",
            "ZENZEFI__PAYMENTS__WEBHOOK_SECRET",
            "ZENZEFI__PAYMENTS__MOCK_GATEWAY=false",
            "127.0.0.1",
        ] {
            assert!(err.contains(named), "{named}: {err}");
        }

        settings.auth.jwt_secret = Secret::new("x".repeat(32));
        settings.payments.webhook_secret = Secret::new("y".repeat(32));
        let err = settings.validate().unwrap_err().to_string();
        assert!(
            err.contains("mock payment gateway") && !err.contains("jwt_secret"),
            "{err}"
        );

        settings.payments.mock_gateway = false;
        settings.validate().unwrap();
        // On loopback the development defaults stay usable.
        for bind in ["127.0.0.1:8000", "[::1]:8000"] {
            let mut local = Settings::defaults();
            local.server.bind = bind.into();
            local.validate().unwrap();
        }
    }

    #[test]
    fn secrets_never_print() {
        let settings = Settings::defaults();
        assert!(!format!("{settings:?}").contains(DEV_JWT_SECRET));
    }

    #[test]
    fn the_replaced_trust_forwarded_for_key_is_refused_not_ignored() {
        let settings: Settings = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .add_source(File::from_str(
                "[server]\ntrust_forwarded_for = true",
                FileFormat::Toml,
            ))
            .build()
            .and_then(Config::try_deserialize)
            .unwrap();
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("server.trusted_proxies"), "{err}");
        assert!(Settings::defaults().validate().is_ok());
    }

    #[test]
    fn trusted_proxies_and_the_public_url_must_parse() {
        let mut settings = Settings::defaults();
        assert_eq!(
            settings.public_origin().unwrap(),
            ("http", "127.0.0.1:8000")
        );
        settings.server.trusted_proxies = vec!["10.0.0.0/8".into(), "lb.internal".into()];
        let err = settings.validate().unwrap_err().to_string();
        assert!(
            err.contains("server.trusted_proxies") && err.contains("lb.internal"),
            "{err}"
        );

        settings.server.trusted_proxies = vec!["10.0.0.0/8".into()];
        for bad in [
            "gateway.example",
            "ftp://gateway.example",
            "https://",
            "https://u:p@gw",
        ] {
            settings.server.public_url = bad.into();
            let err = settings.validate().unwrap_err().to_string();
            assert!(err.contains("server.public_url"), "{bad:?}: {err}");
        }
        settings.server.public_url = "https://gw.example:8443/base/".into();
        assert_eq!(
            settings.public_origin().unwrap(),
            ("https", "gw.example:8443")
        );
    }

    #[test]
    fn the_balance_limit_must_be_a_positive_amount() {
        let mut settings = Settings::defaults();
        for bad in ["0", "-1.00", "lots", " 5.00"] {
            settings.currency.max_balance = bad.into();
            let err = settings.validate().unwrap_err().to_string();
            assert!(err.contains("currency.max_balance"), "{bad:?}: {err}");
        }
    }
}
