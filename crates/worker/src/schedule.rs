//! Runs the jobs on their cron schedules with apalis. Every replica sees
//! every tick; the tick's scheduled time is the occurrence, and only the
//! replica that claims it (through the shared database) runs the job.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{Data, Monitor, MonitorError, WorkerBuilder};
use apalis_cron::{CronScheduler, Tick};
use time::OffsetDateTime;
use tokio::sync::Notify;
use zenzefi_domain::ports::JobRuns;

use crate::jobs::{Job, Jobs};
use crate::metrics::{self, Outcome};

/// How long a stop signal waits for a running job before giving up on it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// A job and when it runs.
pub struct Scheduled {
    pub job: Job,
    pub schedule: cron::Schedule,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{setting}: {expression:?} is not a cron expression with six fields \
     (sec min hour day-of-month month day-of-week, UTC): {reason}"
)]
pub struct InvalidSchedule {
    setting: &'static str,
    expression: String,
    reason: cron::error::Error,
}

impl Scheduled {
    /// `expression` is the value of the setting named `setting`, quoted
    /// back in the error.
    pub fn parse(
        job: Job,
        setting: &'static str,
        expression: &str,
    ) -> Result<Self, InvalidSchedule> {
        let schedule = cron::Schedule::from_str(expression).map_err(|reason| InvalidSchedule {
            setting,
            expression: expression.to_owned(),
            reason,
        })?;
        Ok(Self { job, schedule })
    }
}

/// What a tick needs: the job, the use-cases, and the claims that keep an
/// occurrence to one replica.
#[derive(Clone)]
struct Occurrences {
    job: Job,
    jobs: Arc<Jobs>,
    claims: Arc<dyn JobRuns>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error("a job run was still going {0:?} after the stop signal; abandoned it")]
    GraceExpired(Duration),
}

/// Runs `schedules` until `signal` resolves, then stops taking ticks and
/// lets a running job finish (for up to [`SHUTDOWN_GRACE`]).
pub async fn run_until(
    schedules: Vec<Scheduled>,
    jobs: Arc<Jobs>,
    claims: Arc<dyn JobRuns>,
    signal: impl Future<Output = std::io::Result<()>> + Send,
) -> Result<(), RunError> {
    let mut monitor = Monitor::new()
        // A cron backend fails when it is polled after its next tick has
        // already passed (a stalled process); a fresh one resumes from now.
        .should_restart(|worker, error| {
            if worker.is_shutting_down() {
                return false;
            }
            tracing::warn!(worker = worker.name(), %error, "scheduler failed; restarting it");
            true
        });
    for Scheduled { job, schedule } in schedules {
        tracing::info!(
            job = job.name(),
            schedule = schedule.source(),
            "job scheduled"
        );
        let occurrences = Occurrences {
            job,
            jobs: jobs.clone(),
            claims: claims.clone(),
        };
        monitor = monitor.register(move |_restarts| {
            WorkerBuilder::new(job.name())
                .backend(CronScheduler::new(schedule.clone()))
                .data(occurrences.clone())
                .build(on_tick)
        });
    }
    // The grace counts from the signal. (Monitor::shutdown_timeout would
    // also do it, but then swallows the workers' errors.)
    let stopping = Arc::new(Notify::new());
    let signal = {
        let stopping = stopping.clone();
        async move {
            let result = signal.await;
            stopping.notify_one();
            result
        }
    };
    tokio::select! {
        result = monitor.run_with_signal(signal) => Ok(result?),
        () = async {
            stopping.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Err(RunError::GraceExpired(SHUTDOWN_GRACE)),
    }
}

async fn on_tick(tick: Tick, occurrences: Data<Occurrences>) {
    let Occurrences { job, jobs, claims } = &*occurrences;
    match occurrence_of(&tick) {
        Some(occurrence) => {
            run_occurrence(*job, jobs, claims.as_ref(), occurrence).await;
        }
        None => tracing::error!(
            job = job.name(),
            timestamp = tick.get_timestamp(),
            "cron tick out of range; skipped"
        ),
    }
}

/// The tick's scheduled time (whole seconds, UTC), not when it fired: the
/// same instant on every replica, whatever their timer jitter.
fn occurrence_of(tick: &Tick) -> Option<OffsetDateTime> {
    let seconds = i64::try_from(tick.get_timestamp()).ok()?;
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

/// Runs `job` for `occurrence` if this replica claims it.
async fn run_occurrence(
    job: Job,
    jobs: &Jobs,
    claims: &dyn JobRuns,
    occurrence: OffsetDateTime,
) -> Outcome {
    match claims.claim_occurrence(job.name(), occurrence).await {
        Ok(true) => match jobs.run(job).await {
            Ok(_) => {
                // Shown to operators (admin console); the run itself is done,
                // so a failure to note it is only logged.
                let noted = claims
                    .record_success(job.name(), occurrence, OffsetDateTime::now_utc())
                    .await;
                if let Err(err) = noted {
                    tracing::warn!(job = job.name(), error = %err, "could not record the success");
                }
                Outcome::Success
            }
            Err(_) => Outcome::Failure,
        },
        Ok(false) => {
            tracing::debug!(
                job = job.name(),
                %occurrence,
                "occurrence claimed by another replica"
            );
            metrics::record_run(job, Outcome::Skipped, None);
            Outcome::Skipped
        }
        Err(err) => {
            tracing::error!(
                job = job.name(),
                %occurrence,
                outcome = Outcome::Failure.as_str(),
                error = %err,
                "could not claim the occurrence; not run"
            );
            metrics::record_run(job, Outcome::Failure, None);
            Outcome::Failure
        }
    }
}

#[cfg(test)]
mod tests {
    use cron::TimeUnitSpec;
    use zenzefi_bootstrap::{Secret, Settings};
    use zenzefi_persistence::testing::TestDatabase;

    use super::*;
    use crate::connect;

    #[test]
    fn the_default_schedule_runs_every_fifteen_minutes() {
        let settings = Settings::defaults();
        let scheduled = Scheduled::parse(
            Job::SessionCleanup,
            "worker.session_cleanup_cron",
            &settings.worker.session_cleanup_cron,
        )
        .unwrap();
        let minutes: Vec<u32> = scheduled.schedule.minutes().iter().collect();
        let seconds: Vec<u32> = scheduled.schedule.seconds().iter().collect();
        assert_eq!(minutes, [0, 15, 30, 45]);
        assert_eq!(seconds, [0]);
        assert_eq!(scheduled.schedule.hours().count(), 24);
    }

    #[test]
    fn a_five_field_expression_is_refused_naming_the_setting() {
        let err = Scheduled::parse(
            Job::SessionCleanup,
            "worker.session_cleanup_cron",
            "*/15 * * * *",
        )
        .err()
        .expect("refused")
        .to_string();
        assert!(err.contains("worker.session_cleanup_cron"), "{err}");
        assert!(err.contains("*/15 * * * *"), "{err}");
    }

    #[test]
    fn the_occurrence_is_the_ticks_scheduled_second() {
        let tick = Tick::new(1_767_262_500);
        assert_eq!(
            occurrence_of(&tick),
            Some(OffsetDateTime::from_unix_timestamp(1_767_262_500).unwrap())
        );
        assert_eq!(occurrence_of(&Tick::new(u64::MAX)), None);
    }

    async fn replicas_run_an_occurrence_once(db: TestDatabase) {
        let mut settings = Settings::defaults();
        settings.database.url = Secret::new(db.url());
        let a = connect(&settings).await.unwrap();
        let b = connect(&settings).await.unwrap();
        let occurrence = OffsetDateTime::from_unix_timestamp(1_767_262_500).unwrap();

        let (first, second) = tokio::join!(
            run_occurrence(Job::SessionCleanup, &a.jobs, a.claims.as_ref(), occurrence),
            run_occurrence(Job::SessionCleanup, &b.jobs, b.claims.as_ref(), occurrence),
        );
        let mut outcomes = [first, second];
        outcomes.sort_by_key(|o| o.as_str());
        assert_eq!(outcomes, [Outcome::Skipped, Outcome::Success]);
        let successes = a.claims.last_successes().await.unwrap();
        assert_eq!(successes.len(), 1, "{successes:?}");
        assert_eq!(successes[0].0, "session_cleanup");

        let next = occurrence + time::Duration::minutes(15);
        assert_eq!(
            run_occurrence(Job::SessionCleanup, &b.jobs, b.claims.as_ref(), next).await,
            Outcome::Success
        );
    }

    #[tokio::test]
    async fn two_replicas_run_an_occurrence_once_on_sqlite() {
        replicas_run_an_occurrence_once(TestDatabase::sqlite().await).await;
    }

    #[tokio::test]
    async fn two_replicas_run_an_occurrence_once_on_postgres() {
        if let Some(db) = TestDatabase::postgres().await {
            replicas_run_an_occurrence_once(db).await;
        }
    }
}
