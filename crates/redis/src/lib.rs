//! Redis adapters: state shared by every API instance and worker of one
//! deployment, with a near cache per instance in front of what the proxy
//! reads on every request. Keys are namespaced by a configurable prefix.

mod health_cache;
mod link;
mod near;
mod pool;
mod quota_sync;
mod rate_limit;
mod session_claims;
mod token_cache;

pub use health_cache::RedisHealthCache;
pub use near::{NearCache, NearCacheSettings};
pub use pool::{RedisPool, RedisSettings};
pub use quota_sync::RedisQuotaSync;
pub use rate_limit::RedisRateLimiter;
pub use session_claims::RedisSessionClaims;
pub use token_cache::RedisTokenCache;
