use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{RateDecision, RateLimiter};

use crate::pool::{RedisPool, px, redis_error};

/// Fixed windows in Redis: one counter per key whose expiry is the window,
/// created and incremented in one MULTI so concurrent instances agree.
#[derive(Clone)]
pub struct RedisRateLimiter {
    pool: RedisPool,
}

impl RedisRateLimiter {
    pub fn new(pool: RedisPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, PortError> {
        let key = self.pool.key(&format!("ratelimit:{key}"));
        let window_ms = px(window);
        let mut conn = self.pool.connection().await?;
        let (hits, ttl_ms): (u64, i64) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(0)
            .arg("PX")
            .arg(window_ms)
            .arg("NX")
            .ignore()
            .cmd("INCR")
            .arg(&key)
            .cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if hits <= u64::from(limit) {
            return Ok(RateDecision::Allowed);
        }
        let left = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(window_ms));
        Ok(RateDecision::Limited {
            retry_after: left.max(Duration::from_secs(1)),
        })
    }
}
