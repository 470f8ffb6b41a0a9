//! The jobs the worker knows, each a thin call into a domain
//! use-case, and the one place that times, counts and logs a run.

use std::fmt;
use std::time::{Duration, Instant};

use zenzefi_domain::PortError;
use zenzefi_domain::maintenance::MaintenanceService;
use zenzefi_domain::sessions::SessionService;
use zenzefi_domain::usage::{Rollup, RollupReport};

use crate::metrics::{self, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// Close proxy sessions idle longer than `sessions.idle_timeout_secs`
    /// (and those whose token expired or was revoked).
    SessionCleanup,
    /// Delete audit rows older than `audit.retention_days`, in batches.
    AuditRetention,
    /// Cancel deposits still pending after 24 hours.
    PendingPaymentExpiry,
    /// Drop usage minute buckets past `usage.minute_retention_hours`, fold
    /// hour buckets past `usage.hour_retention_days` into days, drop days
    /// past `usage.day_retention_days`.
    UsageRollup,
}

impl Job {
    pub const ALL: &'static [Job] = &[
        Job::SessionCleanup,
        Job::AuditRetention,
        Job::PendingPaymentExpiry,
        Job::UsageRollup,
    ];

    /// The name operators type (`run-once <job>`) and metrics carry.
    pub const fn name(self) -> &'static str {
        match self {
            Job::SessionCleanup => "session_cleanup",
            Job::AuditRetention => "audit_retention",
            Job::PendingPaymentExpiry => "pending_payment_expiry",
            Job::UsageRollup => "usage_rollup",
        }
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a successful run did, for its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    SessionCleanup { sessions_closed: u64 },
    AuditRetention { rows_deleted: u64 },
    PendingPaymentExpiry { deposits_canceled: u64 },
    UsageRollup(RollupReport),
}

impl Report {
    /// What the run changed, as `(what, how many)` for logs and metrics.
    fn effect(self) -> (&'static str, u64) {
        match self {
            Report::SessionCleanup { sessions_closed } => ("sessions_closed", sessions_closed),
            Report::AuditRetention { rows_deleted } => ("rows_deleted", rows_deleted),
            Report::PendingPaymentExpiry { deposits_canceled } => {
                ("deposits_canceled", deposits_canceled)
            }
            // Rows removed from the finer widths: what the run shrank.
            Report::UsageRollup(r) => (
                "usage_buckets_rolled",
                r.minutes_deleted + r.hours_folded + r.days_deleted,
            ),
        }
    }
}

/// The use-cases behind the jobs, built once per process from the adapters
/// the settings chose.
pub struct Jobs {
    sessions: SessionService,
    maintenance: MaintenanceService,
    rollup: Rollup,
}

impl Jobs {
    pub fn new(sessions: SessionService, maintenance: MaintenanceService, rollup: Rollup) -> Self {
        Self {
            sessions,
            maintenance,
            rollup,
        }
    }

    async fn execute(&self, job: Job) -> Result<Report, PortError> {
        Ok(match job {
            Job::SessionCleanup => Report::SessionCleanup {
                sessions_closed: self.sessions.close_stale().await?,
            },
            Job::AuditRetention => Report::AuditRetention {
                rows_deleted: self.maintenance.purge_audit().await?,
            },
            Job::PendingPaymentExpiry => Report::PendingPaymentExpiry {
                deposits_canceled: self.maintenance.expire_pending_payments().await?,
            },
            Job::UsageRollup => Report::UsageRollup(self.rollup.run().await?),
        })
    }

    /// Runs `job` now, records its metrics and logs its outcome. Claiming
    /// an occurrence is the scheduler's business, not this one's.
    pub async fn run(&self, job: Job) -> Result<Report, PortError> {
        let started = Instant::now();
        let result = self.execute(job).await;
        let elapsed = started.elapsed();
        let duration_ms = millis(elapsed);
        match &result {
            Ok(report) => {
                metrics::record_run(job, Outcome::Success, Some(elapsed));
                let (effect, count) = report.effect();
                metrics::record_effect(job, count);
                tracing::info!(
                    job = job.name(),
                    outcome = Outcome::Success.as_str(),
                    duration_ms,
                    effect,
                    count,
                    "job run finished"
                );
            }
            Err(err) => {
                metrics::record_run(job, Outcome::Failure, Some(elapsed));
                tracing::error!(
                    job = job.name(),
                    outcome = Outcome::Failure.as_str(),
                    duration_ms,
                    error = %err,
                    "job run failed"
                );
            }
        }
        result
    }
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_has_a_distinct_snake_case_name() {
        let names: Vec<&str> = Job::ALL.iter().map(|job| job.name()).collect();
        assert_eq!(
            names,
            [
                "session_cleanup",
                "audit_retention",
                "pending_payment_expiry",
                "usage_rollup"
            ]
        );
        for name in names {
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        assert_eq!(Job::SessionCleanup.to_string(), "session_cleanup");
    }
}
