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

pub async fn each_jobs_last_success_is_reported(jobs: &dyn JobRuns, t: OffsetDateTime) {
    assert!(jobs.last_successes().await.unwrap().is_empty());
    let later = t + Duration::minutes(15);
    for occurrence in [t, later] {
        assert!(
            jobs.claim_occurrence("session_cleanup", occurrence)
                .await
                .unwrap()
        );
    }
    assert!(jobs.claim_occurrence("audit_retention", t).await.unwrap());
    // Claimed but not (yet) succeeded: nothing to report.
    assert!(jobs.last_successes().await.unwrap().is_empty());
    let done = |minutes| t + Duration::minutes(minutes);
    jobs.record_success("session_cleanup", later, done(16))
        .await
        .unwrap();
    jobs.record_success("session_cleanup", t, done(1))
        .await
        .unwrap();
    jobs.record_success("audit_retention", t, done(2))
        .await
        .unwrap();
    // An occurrence nobody claimed records nothing.
    jobs.record_success("pending_payment_expiry", t, done(3))
        .await
        .unwrap();
    let reported = jobs.last_successes().await.unwrap();
    let reported: Vec<_> = reported
        .iter()
        .map(|(job, at)| (job.as_str(), *at))
        .collect();
    assert_eq!(
        reported,
        [("audit_retention", done(2)), ("session_cleanup", done(16))]
    );
}
