use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::PortError;

/// Scheduled job occurrences, claimed once across every worker replica.
#[async_trait]
pub trait JobRuns: Send + Sync {
    /// `true` for exactly one caller per `(job, occurrence)`, however many
    /// replicas ask at once; the others skip that occurrence.
    async fn claim_occurrence(
        &self,
        job: &str,
        occurrence: OffsetDateTime,
    ) -> Result<bool, PortError>;

    /// Marks a claimed occurrence as finished successfully at `at`.
    async fn record_success(
        &self,
        job: &str,
        occurrence: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<(), PortError>;

    /// Each job's latest success, by job name; jobs that never succeeded
    /// are absent.
    async fn last_successes(&self) -> Result<Vec<(String, OffsetDateTime)>, PortError>;
}
