//! Chooses and connects the adapters that the settings ask for.

use std::sync::Arc;
use std::time::Duration;

use zenzefi_crypto::{Argon2Hasher, BoundedHasher, OsEntropy};
use zenzefi_domain::PortError;
use zenzefi_domain::admin::AdminService;
use zenzefi_domain::auth::{AuthLimits, AuthService};
use zenzefi_domain::currency::CurrencyService;
use zenzefi_domain::maintenance::MaintenanceService;
use zenzefi_domain::ports::{
    Clock, HealthCache, JobRuns, PasswordHasher, Probe, QuotaSync, RateLimiter, SessionClaims,
    TokenCache,
};
use zenzefi_domain::pricing::Pricing;
use zenzefi_domain::sessions::SessionService;
use zenzefi_domain::tokens::TokenService;
use zenzefi_domain::usage::{Rollup, UsageRetention};
use zenzefi_memory::{
    InMemoryHealthCache, InMemoryRateLimiter, InMemorySessionClaims, InMemoryTokenCache,
    SystemClock,
};
use zenzefi_persistence::{ConnectOptions, SeaDatabase};
use zenzefi_redis::{
    NearCache, NearCacheSettings, RedisHealthCache, RedisPool, RedisQuotaSync, RedisRateLimiter,
    RedisSessionClaims, RedisTokenCache,
};

use crate::settings::{Settings, SettingsError, per_core_unless_set};

/// rustls needs one process-wide crypto provider; both ring (sqlx) and the
/// HTTP client link rustls, so pick ring explicitly before any TLS is used.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A new pool on the configured database, opened on the calling runtime.
pub async fn connect_database(settings: &Settings) -> Result<SeaDatabase, PortError> {
    zenzefi_persistence::connect(&ConnectOptions {
        url: settings.database.url.expose().to_owned(),
        max_connections: settings.database.max_connections,
        acquire_timeout: Duration::from_secs(settings.database.acquire_timeout_secs),
    })
    .await
}

/// How long the session flusher waits for a connection before it gives up
/// and keeps its batch for the next try.
const FLUSHER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// The session flusher's own one-connection pool: its writes queue behind
/// no request, and when the database is unreachable a flush fails within a
/// second instead of waiting out `database.acquire_timeout_secs`.
pub async fn connect_flusher_database(settings: &Settings) -> Result<SeaDatabase, PortError> {
    zenzefi_persistence::connect(&ConnectOptions {
        url: settings.database.url.expose().to_owned(),
        max_connections: 1,
        acquire_timeout: FLUSHER_ACQUIRE_TIMEOUT,
    })
    .await
}

/// The adapters shared across instances through Redis, or kept in process.
type SharedAdapters = (
    Arc<dyn TokenCache>,
    Arc<dyn SessionClaims>,
    Arc<dyn HealthCache>,
    Option<Arc<dyn QuotaSync>>,
);

/// The connected adapters of one process.
#[derive(Clone)]
pub struct Infrastructure {
    pub database: SeaDatabase,
    /// `None` on the embedded default: coordination stays in this process.
    pub redis: Option<RedisPool>,
    pub clock: Arc<dyn Clock>,
    /// Built once, so that every use-case of the process shares them (on
    /// the embedded default they are in-process maps).
    token_cache: Arc<dyn TokenCache>,
    session_claims: Arc<dyn SessionClaims>,
    health_cache: Arc<dyn HealthCache>,
    quota_sync: Option<Arc<dyn QuotaSync>>,
}

impl Infrastructure {
    /// Connects the database and builds the Redis pool when `redis.url` is
    /// set. Migrating is the caller's choice (`database.auto_migrate`).
    pub async fn connect(settings: &Settings) -> Result<Self, PortError> {
        let database = connect_database(settings).await?;
        let redis_settings = zenzefi_redis::RedisSettings {
            url: settings.redis.url.expose().to_owned(),
            key_prefix: settings.redis.key_prefix.clone(),
            max_connections: settings.redis.max_connections,
            timeout: Duration::from_secs(settings.redis.timeout_secs),
        };
        let redis = if settings.redis_configured() {
            Some(RedisPool::new(&redis_settings)?)
        } else {
            tracing::warn!(
                "redis.url is empty: using in-process adapters, valid for a single API instance only"
            );
            None
        };
        let (token_cache, session_claims, health_cache, quota_sync): SharedAdapters = match &redis {
            Some(pool) => {
                let near = NearCache::start(
                    &redis_settings,
                    NearCacheSettings {
                        capacity: settings.cache.local_capacity,
                        token_ttl: Duration::from_millis(settings.cache.local_ttl_ms),
                        claim_renew: settings.session_policy().claim_renew,
                    },
                )
                .await?;
                (
                    Arc::new(RedisTokenCache::new(near.clone())),
                    Arc::new(RedisSessionClaims::new(near.clone())),
                    Arc::new(RedisHealthCache::new(pool.clone())),
                    Some(Arc::new(RedisQuotaSync::new(near))),
                )
            }
            None => (
                Arc::new(InMemoryTokenCache::default()),
                Arc::new(InMemorySessionClaims::default()),
                Arc::new(InMemoryHealthCache::default()),
                None,
            ),
        };
        Ok(Self {
            database,
            redis,
            clock: Arc::new(SystemClock),
            token_cache,
            session_claims,
            health_cache,
            quota_sync,
        })
    }

    /// The pooled handle, one clone per use-case: each holds it as the
    /// narrow store ports it uses.
    pub fn db(&self) -> Arc<SeaDatabase> {
        Arc::new(self.database.clone())
    }

    pub fn database_probe(&self) -> Arc<dyn Probe> {
        Arc::new(self.database.clone())
    }

    pub fn redis_probe(&self) -> Option<Arc<dyn Probe>> {
        self.redis
            .clone()
            .map(|pool| Arc::new(pool) as Arc<dyn Probe>)
    }

    /// Shared through Redis when configured, so limits hold across instances.
    pub fn rate_limiter(&self) -> Arc<dyn RateLimiter> {
        match &self.redis {
            Some(pool) => Arc::new(RedisRateLimiter::new(pool.clone())),
            None => Arc::new(InMemoryRateLimiter::default()),
        }
    }

    /// Where the proxy and API limits are added up across instances; `None`
    /// on the embedded default, where this process alone counts.
    pub fn quota_sync(&self) -> Option<Arc<dyn QuotaSync>> {
        self.quota_sync.clone()
    }

    /// Shared through Redis when configured, so that a revocation on one
    /// instance is seen by all.
    pub fn token_cache(&self) -> Arc<dyn TokenCache> {
        self.token_cache.clone()
    }

    /// Shared through Redis when configured, so that one device holds a
    /// token's session across every instance.
    pub fn session_claims(&self) -> Arc<dyn SessionClaims> {
        self.session_claims.clone()
    }

    /// Shared through Redis when configured, so that one instance's health
    /// check spares the others theirs until the next interval.
    pub fn health_cache(&self) -> Arc<dyn HealthCache> {
        self.health_cache.clone()
    }

    /// The session tracker and its use-cases. Build one per process: it
    /// holds the counters that wait for the next flush.
    pub fn session_service(&self, settings: &Settings) -> SessionService {
        SessionService::new(
            self.db(),
            self.session_claims(),
            self.clock.clone(),
            settings.session_policy(),
        )
    }

    /// The operators' use-cases; token revocation is the token service's.
    pub fn admin_service(&self, tokens: Arc<TokenService>) -> AdminService {
        AdminService::new(
            self.db(),
            self.token_cache(),
            self.session_claims(),
            tokens,
            self.clock.clone(),
        )
    }

    /// The worker's retention and expiry clean-ups.
    pub fn maintenance_service(&self, settings: &Settings) -> MaintenanceService {
        MaintenanceService::new(self.db(), self.clock.clone(), settings.audit.retention_days)
    }

    /// The worker's usage rollup.
    pub fn usage_rollup(&self, settings: &Settings) -> Rollup {
        Rollup::new(
            self.db(),
            self.clock.clone(),
            UsageRetention {
                minute_hours: settings.usage.minute_retention_hours,
                hour_days: settings.usage.hour_retention_days,
                day_days: settings.usage.day_retention_days,
            },
        )
    }

    /// Claims of scheduled job occurrences, shared by worker replicas
    /// through the database they share.
    pub fn job_runs(&self) -> Arc<dyn JobRuns> {
        Arc::new(self.database.clone())
    }

    /// argon2id under `auth.hash_concurrency` with `auth.hash_queue` waiting.
    pub fn password_hasher(
        &self,
        settings: &Settings,
    ) -> Result<Arc<dyn PasswordHasher>, PortError> {
        Ok(Arc::new(BoundedHasher::new(
            Argon2Hasher::new()?,
            per_core_unless_set(settings.auth.hash_concurrency),
            settings.auth.hash_queue,
        )))
    }

    /// The auth use-cases on these adapters.
    pub fn auth_service(&self, settings: &Settings) -> Result<AuthService, PortError> {
        Ok(AuthService::new(
            self.db(),
            self.password_hasher(settings)?,
            self.clock.clone(),
            self.rate_limiter(),
            AuthLimits {
                login_per_minute: settings.rate_limit.login_per_minute,
                login_per_hour_per_email: settings.rate_limit.login_per_hour_per_email,
                register_per_hour: settings.rate_limit.register_per_hour,
                password_change_per_hour: settings.rate_limit.password_change_per_hour,
            },
        ))
    }

    pub fn currency_service(&self, settings: &Settings) -> Result<CurrencyService, SettingsError> {
        Ok(CurrencyService::new(
            self.db(),
            self.clock.clone(),
            settings.rub_per_znc()?,
            settings.balance_limit()?,
        ))
    }

    pub fn token_service(&self, settings: &Settings) -> Result<TokenService, SettingsError> {
        Ok(TokenService::new(
            self.db(),
            self.token_cache(),
            self.session_claims(),
            self.clock.clone(),
            Arc::new(OsEntropy),
            Pricing::new(settings.prices()?),
            settings.balance_limit()?,
        ))
    }
}
