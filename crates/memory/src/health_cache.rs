//! The health report cache of a single process: with no Redis there is no
//! other instance to share the report with.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::health::HealthReport;
use zenzefi_domain::ports::HealthCache;

#[derive(Debug, Default)]
pub struct InMemoryHealthCache {
    /// The report and the instant it is forgotten.
    slot: Mutex<Option<(HealthReport, Instant)>>,
}

impl InMemoryHealthCache {
    fn slot(&self) -> MutexGuard<'_, Option<(HealthReport, Instant)>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl HealthCache for InMemoryHealthCache {
    async fn load(&self) -> Result<Option<HealthReport>, PortError> {
        let report = match &*self.slot() {
            Some((report, until)) if *until > Instant::now() => Some(report.clone()),
            _ => None,
        };
        Ok(report)
    }

    async fn store(&self, report: &HealthReport, ttl: Duration) -> Result<(), PortError> {
        *self.slot() = Some((report.clone(), Instant::now() + ttl));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use zenzefi_domain::health::{Check, CheckOutcome, HealthStatus};

    use super::*;

    fn report(status: HealthStatus) -> HealthReport {
        let ok = Check {
            outcome: CheckOutcome::Ok,
            latency: Some(Duration::from_millis(3)),
        };
        HealthReport {
            status,
            checked_at: datetime!(2026-01-01 12:00 UTC),
            database: ok,
            redis: Check {
                outcome: CheckOutcome::NotConfigured,
                latency: None,
            },
            upstream: ok,
        }
    }

    #[tokio::test]
    async fn a_stored_report_is_loaded_until_its_ttl_ends() {
        let cache = InMemoryHealthCache::default();
        assert_eq!(cache.load().await.unwrap(), None);
        let short = Duration::from_millis(30);
        cache
            .store(&report(HealthStatus::Healthy), short)
            .await
            .unwrap();
        assert_eq!(
            cache.load().await.unwrap(),
            Some(report(HealthStatus::Healthy))
        );
        tokio::time::sleep(short + Duration::from_millis(20)).await;
        assert_eq!(cache.load().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_store_replaces_the_previous_report() {
        let cache = InMemoryHealthCache::default();
        let long = Duration::from_secs(60);
        cache
            .store(&report(HealthStatus::Healthy), long)
            .await
            .unwrap();
        cache
            .store(&report(HealthStatus::Degraded), long)
            .await
            .unwrap();
        assert_eq!(
            cache.load().await.unwrap(),
            Some(report(HealthStatus::Degraded))
        );
    }
}
