//! Claims of scheduled job occurrences: `(job, occurrence)` → when it
//! succeeded, if it did.

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;

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
        Ok(self
            .0
            .with(|s| match s.job_runs.entry(key) {
                Entry::Occupied(_) => false,
                Entry::Vacant(slot) => {
                    slot.insert(None);
                    true
                }
            })
            .await)
    }

    async fn record_success(
        &self,
        job: &str,
        occurrence: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<(), PortError> {
        let key = (job.to_owned(), occurrence.to_offset(UtcOffset::UTC));
        self.0
            .with(|s| {
                if let Some(succeeded) = s.job_runs.get_mut(&key) {
                    *succeeded = Some(at);
                }
            })
            .await;
        Ok(())
    }

    async fn last_successes(&self) -> Result<Vec<(String, OffsetDateTime)>, PortError> {
        let latest = self
            .0
            .with(|s| {
                let mut latest: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
                for ((job, _), succeeded) in &s.job_runs {
                    if let Some(at) = *succeeded {
                        let best = latest.entry(job.clone()).or_insert(at);
                        *best = Ord::max(*best, at);
                    }
                }
                latest.into_iter().collect()
            })
            .await;
        Ok(latest)
    }
}
