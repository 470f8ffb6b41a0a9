//! Redis adapters (deadpool-redis): state shared by every API instance and
//! worker of one deployment. Keys are namespaced by a configurable prefix.

mod health_cache;
mod pool;
mod rate_limit;
mod session_claims;
mod token_cache;

pub use health_cache::RedisHealthCache;
pub use pool::{RedisPool, RedisSettings};
pub use rate_limit::RedisRateLimiter;
pub use session_claims::RedisSessionClaims;
pub use token_cache::RedisTokenCache;
