use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis;
use redis::Script;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{RateDecision, RateLimiter};

use crate::pool::{RedisPool, px, redis_error};

/// A sliding log per key: a sorted set of the hits in the window, scored
/// by the server's clock (so instances' clocks do not matter). Trims, counts
/// and adds in one step. KEYS[1]: the log; ARGV: the window in ms, the
/// limit, a member unique to this hit. Returns 0 when admitted, else the ms
/// until the oldest hit leaves the window.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
",
    )
});

/// Sliding windows in Redis, exact across instances: one script call per
/// hit (the auth limits are not hot paths).
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
        let mut conn = self.pool.connection().await?;
        let wait_ms: u64 = HIT
            .key(key)
            .arg(px(window))
            .arg(limit)
            .arg(format!("{:032x}", rand::random::<u128>()))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if wait_ms == 0 {
            return Ok(RateDecision::Allowed);
        }
        Ok(RateDecision::Limited {
            retry_after: Duration::from_millis(wait_ms).max(Duration::from_secs(1)),
        })
    }
}
