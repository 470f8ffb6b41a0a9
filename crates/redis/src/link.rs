//! The hot path's connection to Redis: one multiplexed connection shared by
//! every request of the instance (no pool checkout, no PING on recycle),
//! and this instance's view of whether Redis is up. While it is down,
//! commands fail at once instead of each waiting for a timeout; the event
//! subscriber reconnects and brings it back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};
use zenzefi_domain::PortError;

use crate::pool::redis_error;

#[derive(Clone)]
pub(crate) struct RedisLink {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    timeout: Duration,
    connection: RwLock<Option<MultiplexedConnection>>,
    up: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
#[error("Redis is unreachable from this instance")]
struct Down;

impl RedisLink {
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Self, PortError> {
        let client = Client::open(url).map_err(PortError::unexpected)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                timeout,
                connection: RwLock::new(None),
                up: AtomicBool::new(false),
            }),
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.inner.client
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The shared connection, or `Unavailable` at once while Redis is down.
    pub(crate) fn connection(&self) -> Result<MultiplexedConnection, PortError> {
        let held = self
            .inner
            .connection
            .read()
            .unwrap_or_else(|e| e.into_inner());
        match &*held {
            Some(connection) if self.is_up() => Ok(connection.clone()),
            _ => Err(PortError::unavailable(Down)),
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
    }

    /// Opens a fresh connection and marks Redis up; what the subscriber
    /// calls after it has (re)subscribed.
    pub(crate) async fn reconnect(&self) -> Result<(), PortError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.inner.timeout))
            .set_response_timeout(Some(self.inner.timeout));
        let connection = self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(redis_error)?;
        *self
            .inner
            .connection
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(connection);
        if !self.inner.up.swap(true, Ordering::AcqRel) {
            tracing::info!("Redis is reachable");
        }
        metrics::gauge!("zenzefi_dependency_up", "dependency" => "redis").set(1.0);
        Ok(())
    }

    /// Reports the outcome of a command: a connection failure marks Redis
    /// down (logged once per outage, not per request).
    pub(crate) fn checked<T>(&self, result: redis::RedisResult<T>) -> Result<T, PortError> {
        result.map_err(|err| {
            let err = redis_error(err);
            if matches!(err, PortError::Unavailable(_)) {
                self.down(&err);
            }
            err
        })
    }

    pub(crate) fn down(&self, cause: &dyn std::fmt::Display) {
        if self.inner.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(error = %cause, "Redis is unreachable; serving from the near cache and the database until it is back");
        }
        metrics::gauge!("zenzefi_dependency_up", "dependency" => "redis").set(0.0);
    }
}
