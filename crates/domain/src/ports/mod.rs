//! The I/O boundaries of the domain. Every adapter implements one of these;
//! use-cases hold them as `Arc<dyn Port>` so that the composition root (and
//! tests) choose the implementation at run time.

mod clock;
mod entropy;
mod health_cache;
mod job_runs;
mod password;
mod probe;
mod rate_limit;
mod session_claims;
mod session_tracker;
mod stats;
mod store;
mod token_cache;

pub use clock::Clock;
pub use entropy::Entropy;
pub use health_cache::HealthCache;
pub use job_runs::JobRuns;
pub use password::PasswordHasher;
pub use probe::Probe;
pub use rate_limit::{RateDecision, RateLimiter};
pub use session_claims::{Claim, SessionClaims};
pub use session_tracker::{AdmitError, ProxyExchange, SessionTracker};
pub use stats::{Counts, StatsStore};
pub use store::{
    AdminStore, AuditStore, Database, InsertSessionError, InsertUserError, LedgerStore,
    SessionStore, TokenStore, UnitOfWork, UserStore,
};
pub use token_cache::{CacheLookup, CachedToken, TokenCache};
