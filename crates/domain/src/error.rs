//! The one error every port may fail with when its infrastructure does.

use std::error::Error as StdError;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An adapter could not do its job. Use-cases never inspect the cause; they
/// pass it up so that the transport can log it and answer opaquely.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The dependency could not be reached (connection refused, pool timeout).
    #[error("dependency unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The adapter is at capacity and refused to queue more work; asking
    /// again after `retry_after` may succeed.
    #[error("at capacity; retry after {retry_after:?}")]
    Busy { retry_after: std::time::Duration },
    /// Anything else the adapter did not expect.
    #[error("unexpected adapter failure: {0}")]
    Unexpected(#[source] BoxError),
}

impl PortError {
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }

    pub fn unexpected(err: impl Into<BoxError>) -> Self {
        Self::Unexpected(err.into())
    }
}
