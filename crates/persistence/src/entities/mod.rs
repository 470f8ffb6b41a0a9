//! sea-orm entities: the tables as the adapter reads and writes them. They
//! never leave this crate; the domain sees its own types.

pub mod access_tokens;
pub mod audit_logs;
pub mod job_runs;
pub mod proxy_sessions;
pub mod transactions;
pub mod users;
