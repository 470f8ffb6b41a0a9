//! The background health checker and its last report (SPEC §10): the
//! endpoints read the report and never wait on a dependency.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use zenzefi_domain::health::{HealthChecker, HealthReport};
use zenzefi_domain::ports::Clock;

pub struct HealthMonitor {
    checker: HealthChecker,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    last: RwLock<Option<HealthReport>>,
}

impl HealthMonitor {
    pub fn new(checker: HealthChecker, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            checker,
            clock,
            ttl,
            last: RwLock::new(None),
        }
    }

    /// Runs the checks now and keeps the result.
    pub async fn refresh(&self) {
        let report = self.checker.check().await;
        if report.status != zenzefi_domain::health::HealthStatus::Healthy {
            tracing::warn!(
                status = report.status.as_str(),
                database = report.database.outcome.as_str(),
                redis = report.redis.outcome.as_str(),
                upstream = report.upstream.outcome.as_str(),
                "health check"
            );
        }
        *self.last.write().unwrap_or_else(|e| e.into_inner()) = Some(report);
    }

    /// Refreshes every `interval` until the process ends.
    pub fn spawn(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                self.refresh().await;
            }
        })
    }

    /// The last report, graded unhealthy when older than the TTL.
    pub fn current(&self) -> Option<HealthReport> {
        let last = self.last.read().unwrap_or_else(|e| e.into_inner());
        last.as_ref().map(|r| r.as_of(self.clock.now(), self.ttl))
    }
}
