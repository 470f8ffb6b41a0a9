//! The I/O boundaries of the domain. Every adapter implements one of these;
//! use-cases hold them as `Arc<dyn Port>` so that the composition root (and
//! tests) choose the implementation at run time.
//!
//! A use-case depends only on the store ports it calls. When it needs one,
//! it holds that trait (`Arc<dyn RetentionStore>`). When it needs several,
//! it holds `Arc<dyn …Db>`: a bound declared beside the use-case that
//! combines [`Transactions`] (if it opens units of work) with the store
//! traits it calls outside one, blanket-implemented so that any database
//! satisfies it. The composition root passes the same database handle to
//! each. A [`UnitOfWork`] offers every transactional store, whatever the
//! use-case: it is one transaction. [`Database`] bundles all the store
//! ports for the adapters and their shared contract tests, not for
//! use-cases.

mod clock;
mod entropy;
mod health_cache;
mod job_runs;
mod password;
mod probe;
mod quota_sync;
mod rate_limit;
mod session_claims;
mod session_tracker;
mod stats;
mod store;
mod token_cache;
mod usage_store;

pub use clock::Clock;
pub use entropy::Entropy;
pub use health_cache::HealthCache;
pub use job_runs::JobRuns;
pub use password::PasswordHasher;
pub use probe::Probe;
pub use quota_sync::{ClusterCount, ClusterView, QuotaDelta, QuotaSync};
pub use rate_limit::{RateDecision, RateLimiter};
pub use session_claims::{Claim, SessionClaims};
pub use session_tracker::{AdmitError, ProxyExchange, SessionTracker};
pub use stats::{Counts, StatsStore};
pub use store::{
    AdminQueries, AuditStore, Database, InsertSessionError, InsertUserError, LedgerStore,
    RetentionStore, SessionStore, TokenStore, Transactions, UnitOfWork, UserStore,
};
pub use token_cache::{CacheLookup, CachedToken, Invalidation, TokenCache};
pub use usage_store::UsageStore;
