use time::OffsetDateTime;

/// The current time. Use-cases ask this rather than the system so that tests
/// can move time (expiry, idle sessions, retention).
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}
