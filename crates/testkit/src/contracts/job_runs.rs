//! `JobRuns`: each `(job, occurrence)` is claimed once.

use time::{Duration, OffsetDateTime};
use zenzefi_domain::ports::JobRuns;

pub async fn an_occurrence_is_claimed_once(jobs: &dyn JobRuns, t: OffsetDateTime) {
    assert!(jobs.claim_occurrence("session_cleanup", t).await.unwrap());
    assert!(!jobs.claim_occurrence("session_cleanup", t).await.unwrap());
    // The same instant written with another offset is the same occurrence.
    let elsewhere = t.to_offset(time::macros::offset!(+3));
    let again = jobs.claim_occurrence("session_cleanup", elsewhere).await;
    assert!(!again.unwrap());
    let next = t + Duration::minutes(1);
    assert!(
        jobs.claim_occurrence("session_cleanup", next)
            .await
            .unwrap()
    );
    assert!(jobs.claim_occurrence("audit_retention", t).await.unwrap());
}
