//! The connection pool and its health probe.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::{Config, Connection, Pool, PoolConfig, Runtime, Timeouts, redis};
use zenzefi_domain::PortError;
use zenzefi_domain::ports::Probe;

#[derive(Clone)]
pub struct RedisSettings {
    pub url: String,
    /// Prepended to every key, so that deployments can share a server.
    pub key_prefix: String,
    pub max_connections: usize,
    /// How long a command may wait for a connection (and to connect).
    pub timeout: Duration,
}

/// The URL may hold the server's password: never printed.
impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &"<redacted>")
            .field("key_prefix", &self.key_prefix)
            .field("max_connections", &self.max_connections)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A pool plus the deployment's key prefix. Cheap to clone.
#[derive(Clone)]
pub struct RedisPool {
    pool: Pool,
    prefix: String,
}

impl RedisPool {
    /// Builds the pool; connections open lazily, so an unreachable server
    /// shows up on first use (and in health checks), not here.
    pub fn new(settings: &RedisSettings) -> Result<Self, PortError> {
        let mut config = Config::from_url(settings.url.clone());
        config.pool = Some(PoolConfig {
            max_size: settings.max_connections,
            timeouts: Timeouts {
                wait: Some(settings.timeout),
                create: Some(settings.timeout),
                recycle: Some(settings.timeout),
            },
            ..PoolConfig::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(PortError::unexpected)?;
        Ok(Self {
            pool,
            prefix: settings.key_prefix.clone(),
        })
    }

    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub(crate) async fn connection(&self) -> Result<Connection, PortError> {
        self.pool.get().await.map_err(PortError::unavailable)
    }
}

#[async_trait]
impl Probe for RedisPool {
    async fn probe(&self) -> Result<(), PortError> {
        let mut conn = self.connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(redis_error)
    }
}

/// A duration as a `PX` argument: whole milliseconds, at least one, since
/// Redis refuses an expiry of zero.
pub(crate) fn px(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

pub(crate) fn redis_error(err: redis::RedisError) -> PortError {
    if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
        PortError::unavailable(err)
    } else {
        PortError::unexpected(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redis_url_never_prints() {
        let settings = RedisSettings {
            url: "redis://:s3cret@cache:6379/0".into(),
            key_prefix: "zz:".into(),
            max_connections: 4,
            timeout: Duration::from_secs(1),
        };
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("zz:"),
            "{shown}"
        );
    }
}
