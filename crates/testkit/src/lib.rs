//! The test kit of the workspace: fixtures, the contract scenarios every
//! adapter of a port runs, and tools for fault tests.

pub mod contracts;
pub mod failing;
pub mod fault_proxy;
pub mod fixtures;
pub mod redis_server;

/// The URL of a real service a test needs (`TEST_DATABASE_URL`,
/// `TEST_REDIS_URL`), or `None`, with a note, when it is not configured.
/// Under `CI=true` a missing service fails the test instead: CI must never
/// pass by skipping what depends on PostgreSQL or Redis.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} is not set: CI must run the tests that need it")
        }
        _ => {
            eprintln!("skipping: {var} is not set");
            None
        }
    }
}
