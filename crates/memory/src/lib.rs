//! In-process adapters: the embedded default's rate limiter, token cache,
//! health report cache and clock, and (with the `testing` feature) an
//! in-memory database for domain tests. None of them is shared between
//! processes, so none is valid behind a load balancer.

mod claims;
mod clock;
#[cfg(feature = "testing")]
mod database;
mod health_cache;
mod rate_limit;
mod token_cache;

pub use claims::InMemorySessionClaims;
pub use clock::{ManualClock, SystemClock};
#[cfg(feature = "testing")]
pub use database::InMemoryDatabase;
pub use health_cache::InMemoryHealthCache;
pub use rate_limit::InMemoryRateLimiter;
pub use token_cache::InMemoryTokenCache;
