//! Health of the gateway's dependencies: checked in the background, read
//! from the last report by the health endpoints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::ports::{Clock, Probe};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    Healthy,
    /// Only the upstream is down: the API works, proxying does not.
    Degraded,
    /// The database or the cache is down, or no fresh report exists.
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    Ok,
    Unavailable,
    /// The dependency is not part of this deployment (no Redis configured).
    NotConfigured,
}

impl CheckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unavailable => "unavailable",
            Self::NotConfigured => "not_configured",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub outcome: CheckOutcome,
    pub latency: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub status: HealthStatus,
    pub checked_at: OffsetDateTime,
    pub database: Check,
    pub redis: Check,
    pub upstream: Check,
}

impl HealthReport {
    /// This report as seen at `now`: one older than `ttl` means the checker
    /// has stopped, which is itself unhealthy.
    pub fn as_of(&self, now: OffsetDateTime, ttl: Duration) -> HealthReport {
        let age = now - self.checked_at;
        if age > ttl {
            HealthReport {
                status: HealthStatus::Unhealthy,
                ..self.clone()
            }
        } else {
            self.clone()
        }
    }
}

/// Runs every probe once and grades the result.
pub struct HealthChecker {
    database: Arc<dyn Probe>,
    redis: Option<Arc<dyn Probe>>,
    upstream: Arc<dyn Probe>,
    clock: Arc<dyn Clock>,
}

impl HealthChecker {
    pub fn new(
        database: Arc<dyn Probe>,
        redis: Option<Arc<dyn Probe>>,
        upstream: Arc<dyn Probe>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            database,
            redis,
            upstream,
            clock,
        }
    }

    pub async fn check(&self) -> HealthReport {
        let database = probe(Some(&self.database)).await;
        let redis = probe(self.redis.as_ref()).await;
        let upstream = probe(Some(&self.upstream)).await;
        let down = |c: &Check| c.outcome == CheckOutcome::Unavailable;
        let status = if down(&database) || down(&redis) {
            HealthStatus::Unhealthy
        } else if down(&upstream) {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        };
        HealthReport {
            status,
            checked_at: self.clock.now(),
            database,
            redis,
            upstream,
        }
    }
}

async fn probe(probe: Option<&Arc<dyn Probe>>) -> Check {
    let Some(probe) = probe else {
        return Check {
            outcome: CheckOutcome::NotConfigured,
            latency: None,
        };
    };
    let started = Instant::now();
    let outcome = match probe.probe().await {
        Ok(()) => CheckOutcome::Ok,
        Err(_) => CheckOutcome::Unavailable,
    };
    Check {
        outcome,
        latency: Some(started.elapsed()),
    }
}
