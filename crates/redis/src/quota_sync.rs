//! The cluster's count of the hot-path limits: one hash per key,
//! `{prefix}quota:{t|u}:{id}`, whose fields are seconds since the epoch and
//! whose values are the hits every instance counted in that second. One
//! script call per round adds an instance's deltas to all its keys and
//! returns their totals over the window.

use std::fmt::Write;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{ClusterCount, ClusterView, QuotaDelta, QuotaSync};
use zenzefi_domain::quotas::{QuotaKey, SLOTS};

use crate::near::NearCache;

/// KEYS[1]: the live-instance set (scores: last round, ms); KEYS[2..]: the
/// keys' hashes. ARGV: the current second, the instance, now in ms, how long
/// an instance stays live (ms), the slots of a window, then per key its
/// deltas as `second:hits,…`. Returns the live-instance count, then per key
/// its total and its oldest second holding hits (0 if none).
static EXCHANGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local second = tonumber(ARGV[1])
local now_ms = tonumber(ARGV[3])
local first = second - tonumber(ARGV[5]) + 1
redis.call('ZADD', KEYS[1], now_ms, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local out = {redis.call('ZCARD', KEYS[1])}
for i = 2, #KEYS do
    local key = KEYS[i]
    for s, n in string.gmatch(ARGV[i + 4], '(%d+):(%d+)') do
        if tonumber(s) >= first then
            redis.call('HINCRBY', key, s, n)
        end
    end
    local fields = redis.call('HGETALL', key)
    local total, oldest, stale = 0, 0, {}
    for j = 1, #fields, 2 do
        local s = tonumber(fields[j])
        if s < first then
            stale[#stale + 1] = fields[j]
        else
            total = total + tonumber(fields[j + 1])
            if oldest == 0 or s < oldest then oldest = s end
        end
    end
    if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
    if total > 0 then redis.call('PEXPIRE', key, (tonumber(ARGV[5]) + 1) * 1000) end
    out[#out + 1] = total
    out[#out + 1] = oldest
end
return out
",
    )
});

/// An instance takes part while it has run a round this recently.
const LIVE_FOR_MS: u64 = 2_000;

/// Rounds over the near cache's multiplexed connection: while Redis is down
/// they fail at once, and the instance counts on its own.
#[derive(Clone)]
pub struct RedisQuotaSync {
    near: NearCache,
}

impl RedisQuotaSync {
    pub fn new(near: NearCache) -> Self {
        Self { near }
    }

    fn key(&self, key: QuotaKey) -> String {
        match key {
            QuotaKey::Token(id) => self.near.key(&format!("quota:t:{}", id.0)),
            QuotaKey::User(id) => self.near.key(&format!("quota:u:{}", id.0)),
        }
    }
}

#[async_trait]
impl QuotaSync for RedisQuotaSync {
    async fn exchange(&self, second: u64, deltas: &[QuotaDelta]) -> Result<ClusterView, PortError> {
        let link = self.near.link();
        let mut conn = link.connection()?;
        let now_ms = second * 1000;
        let mut invocation = EXCHANGE.key(self.near.key("quota:instances"));
        invocation
            .arg(second)
            .arg(self.near.instance())
            .arg(now_ms)
            .arg(LIVE_FOR_MS)
            .arg(SLOTS);
        for delta in deltas {
            invocation.key(self.key(delta.key)).arg(encode(&delta.hits));
        }
        let out: Vec<u64> = link.checked(invocation.invoke_async(&mut conn).await)?;
        decode(&out, deltas.len())
    }
}

fn encode(hits: &[(u64, u32)]) -> String {
    let mut out = String::new();
    for (second, n) in hits {
        // Writing into a String cannot fail.
        let _ = write!(out, "{second}:{n},");
    }
    out
}

fn decode(out: &[u64], keys: usize) -> Result<ClusterView, PortError> {
    let malformed = || PortError::unexpected(format!("quota exchange answered {out:?}"));
    let (&instances, counts) = out.split_first().ok_or_else(malformed)?;
    if counts.len() != 2 * keys {
        return Err(malformed());
    }
    Ok(ClusterView {
        instances: u32::try_from(instances).unwrap_or(u32::MAX),
        counts: counts
            .chunks_exact(2)
            .map(|pair| ClusterCount {
                total: u32::try_from(pair[0]).unwrap_or(u32::MAX),
                oldest: (pair[1] > 0).then_some(pair[1]),
            })
            .collect(),
    })
}
