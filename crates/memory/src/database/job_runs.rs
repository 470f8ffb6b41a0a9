//! Claims of scheduled job occurrences: a set of `(job, occurrence)`.

use async_trait::async_trait;
use time::{OffsetDateTime, UtcOffset};
use zenzefi_domain::PortError;
use zenzefi_domain::ports::JobRuns;

use super::{Access, InMemoryDatabase};

#[async_trait]
impl JobRuns for InMemoryDatabase {
    async fn claim_occurrence(
        &self,
        job: &str,
        occurrence: OffsetDateTime,
    ) -> Result<bool, PortError> {
        // One instant, whatever offset it is written with.
        let key = (job.to_owned(), occurrence.to_offset(UtcOffset::UTC));
        Ok(self.0.with(|s| s.job_runs.insert(key)).await)
    }
}
