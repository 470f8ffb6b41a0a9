//! What every adapter of a port must do, written once: each adapter's own
//! tests run these scenarios against it, next to the checks only it has.

pub mod admin_sessions;
pub mod session_claims;
pub mod stats;
pub mod token_cache;
