//! The background health checker and its last report: the
//! endpoints read the report and never wait on a dependency. The report is
//! shared through the health cache (Redis when configured), so that of
//! several instances usually only one probes per interval and the others
//! adopt its result.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use time::OffsetDateTime;
use zenzefi_domain::health::{HealthChecker, HealthReport, HealthStatus};
use zenzefi_domain::ports::{Clock, HealthCache};

pub struct HealthMonitor {
    checker: HealthChecker,
    cache: Arc<dyn HealthCache>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    ttl: Duration,
    last: RwLock<Option<HealthReport>>,
    /// When this instance's own last check ran: finding that report in the
    /// cache at the next tick means nobody checked since, so check again.
    probed_at: Mutex<Option<OffsetDateTime>>,
}

impl HealthMonitor {
    /// Checks every `interval` (see [`HealthMonitor::spawn`]); a report
    /// older than `ttl` is graded unhealthy and dropped from the cache.
    pub fn new(
        checker: HealthChecker,
        cache: Arc<dyn HealthCache>,
        clock: Arc<dyn Clock>,
        interval: Duration,
        ttl: Duration,
    ) -> Self {
        Self {
            checker,
            cache,
            clock,
            interval,
            ttl,
            last: RwLock::new(None),
            probed_at: Mutex::new(None),
        }
    }

    /// Adopts the shared report when another instance checked within the
    /// last interval; otherwise runs the checks now and shares the result.
    pub async fn refresh(&self) {
        let report = match self.recent_shared_report().await {
            Some(report) => report,
            None => self.check_and_share().await,
        };
        *self.last.write().unwrap_or_else(|e| e.into_inner()) = Some(report);
    }

    /// Another instance's cached report if it is recent enough to stand in
    /// for a check of our own: taken within the last interval, and still
    /// within the TTL when our next tick comes, so that adopting never
    /// serves a report that goes stale before we look again. Our own report
    /// never qualifies (it was stored less than an interval ago, since the
    /// probes took some of it), or a lone instance would check only every
    /// other tick. A cache that cannot be read counts as empty: the probes
    /// then run and show what is down.
    async fn recent_shared_report(&self) -> Option<HealthReport> {
        let report = match self.cache.load().await {
            Ok(report) => report?,
            Err(err) => {
                tracing::warn!(error = %err, "shared health report unreadable; checking instead");
                return None;
            }
        };
        if *self.probed_at() == Some(report.checked_at) {
            return None;
        }
        let age = self.clock.now() - report.checked_at;
        (age < self.interval && age + self.interval <= self.ttl).then_some(report)
    }

    fn probed_at(&self) -> MutexGuard<'_, Option<OffsetDateTime>> {
        self.probed_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn check_and_share(&self) -> HealthReport {
        let report = self.checker.check().await;
        *self.probed_at() = Some(report.checked_at);
        if report.status != HealthStatus::Healthy {
            tracing::warn!(
                status = report.status.as_str(),
                database = report.database.outcome.as_str(),
                redis = report.redis.outcome.as_str(),
                upstream = report.upstream.outcome.as_str(),
                "health check"
            );
        }
        if let Err(err) = self.cache.store(&report, self.ttl).await {
            // The other instances will check for themselves.
            tracing::warn!(error = %err, "health report not shared");
        }
        report
    }

    /// Refreshes every interval until the process ends.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.interval);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use time::macros::datetime;
    use zenzefi_domain::PortError;
    use zenzefi_domain::health::{Check, CheckOutcome};
    use zenzefi_domain::ports::Probe;
    use zenzefi_memory::{InMemoryHealthCache, ManualClock};

    use super::*;

    const INTERVAL: Duration = Duration::from_secs(50);
    const TTL: Duration = Duration::from_secs(120);

    /// Answers as told and counts how often it was asked.
    struct FakeProbe {
        up: bool,
        calls: AtomicUsize,
    }

    impl FakeProbe {
        fn new(up: bool) -> Arc<Self> {
            Arc::new(Self {
                up,
                calls: AtomicUsize::new(0),
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Probe for FakeProbe {
        async fn probe(&self) -> Result<(), PortError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.up {
                Ok(())
            } else {
                Err(PortError::unavailable("down"))
            }
        }
    }

    /// A cache whose server is down, as Redis would be.
    struct UnreachableCache;

    #[async_trait]
    impl HealthCache for UnreachableCache {
        async fn load(&self) -> Result<Option<HealthReport>, PortError> {
            Err(PortError::unavailable("connection refused"))
        }

        async fn store(&self, _: &HealthReport, _: Duration) -> Result<(), PortError> {
            Err(PortError::unavailable("connection refused"))
        }
    }

    struct Fixture {
        clock: Arc<ManualClock>,
        cache: Arc<InMemoryHealthCache>,
        database: Arc<FakeProbe>,
        redis: Arc<FakeProbe>,
        upstream: Arc<FakeProbe>,
    }

    impl Fixture {
        fn new(redis_up: bool) -> Self {
            Self {
                clock: Arc::new(ManualClock::new(datetime!(2026-01-01 12:00 UTC))),
                cache: Arc::new(InMemoryHealthCache::default()),
                database: FakeProbe::new(true),
                redis: FakeProbe::new(redis_up),
                upstream: FakeProbe::new(true),
            }
        }

        fn monitor(&self, ttl: Duration) -> HealthMonitor {
            self.monitor_on(self.cache.clone(), ttl)
        }

        fn monitor_on(&self, cache: Arc<dyn HealthCache>, ttl: Duration) -> HealthMonitor {
            let checker = HealthChecker::new(
                self.database.clone(),
                Some(self.redis.clone() as Arc<dyn Probe>),
                self.upstream.clone(),
                self.clock.clone(),
            );
            HealthMonitor::new(checker, cache, self.clock.clone(), INTERVAL, ttl)
        }

        fn advance(&self, by: Duration) {
            self.clock.advance(time::Duration::try_from(by).unwrap());
        }

        fn probes(&self) -> [usize; 3] {
            [
                self.database.calls(),
                self.redis.calls(),
                self.upstream.calls(),
            ]
        }

        /// A healthy report taken `age` ago by another instance.
        async fn shared_report(&self, age: Duration) -> HealthReport {
            let ok = Check {
                outcome: CheckOutcome::Ok,
                latency: Some(Duration::from_millis(1)),
            };
            let report = HealthReport {
                status: HealthStatus::Healthy,
                checked_at: self.clock.now() - age,
                database: ok,
                redis: ok,
                upstream: ok,
            };
            self.cache.store(&report, TTL).await.unwrap();
            report
        }
    }

    #[tokio::test]
    async fn with_no_shared_report_the_checks_run_and_are_shared() {
        let fixture = Fixture::new(true);
        let monitor = fixture.monitor(TTL);
        assert_eq!(monitor.current(), None);
        monitor.refresh().await;
        assert_eq!(fixture.probes(), [1, 1, 1]);
        let report = monitor.current().unwrap();
        assert_eq!(report.status, HealthStatus::Healthy);
        assert_eq!(report.checked_at, fixture.clock.now());
        assert_eq!(fixture.cache.load().await.unwrap(), Some(report));
    }

    #[tokio::test]
    async fn a_report_shared_within_the_interval_is_adopted_without_probing() {
        let fixture = Fixture::new(true);
        let shared = fixture
            .shared_report(INTERVAL - Duration::from_secs(1))
            .await;
        let monitor = fixture.monitor(TTL);
        monitor.refresh().await;
        assert_eq!(fixture.probes(), [0, 0, 0]);
        assert_eq!(monitor.current(), Some(shared));
    }

    #[tokio::test]
    async fn a_report_shared_an_interval_ago_or_more_is_checked_again() {
        let fixture = Fixture::new(true);
        fixture.shared_report(INTERVAL).await;
        let monitor = fixture.monitor(TTL);
        monitor.refresh().await;
        assert_eq!(fixture.probes(), [1, 1, 1]);
        let report = monitor.current().unwrap();
        assert_eq!(report.checked_at, fixture.clock.now());
        assert_eq!(fixture.cache.load().await.unwrap(), Some(report));
    }

    #[tokio::test]
    async fn an_instance_never_adopts_its_own_report() {
        let fixture = Fixture::new(true);
        let monitor = fixture.monitor(TTL);
        monitor.refresh().await;
        // The next tick, an interval after the last one began, finds the
        // report the probes stored a little later.
        fixture.advance(INTERVAL - Duration::from_secs(1));
        monitor.refresh().await;
        assert_eq!(fixture.probes(), [2, 2, 2]);
        assert_eq!(monitor.current().unwrap().checked_at, fixture.clock.now());
    }

    #[tokio::test]
    async fn of_two_instances_on_one_cache_one_probes_per_interval() {
        let fixture = Fixture::new(true);
        let (a, b) = (fixture.monitor(TTL), fixture.monitor(TTL));
        let offset = Duration::from_secs(10);
        for round in 1..=3 {
            a.refresh().await;
            fixture.advance(offset);
            b.refresh().await;
            assert_eq!(fixture.probes(), [round; 3]);
            assert_eq!(b.current(), a.current());
            fixture.advance(INTERVAL - offset);
        }
        // `a` stops: `b` finds the last report an interval old and checks.
        fixture.advance(offset);
        b.refresh().await;
        assert_eq!(fixture.probes(), [4; 3]);
        assert_eq!(b.current().unwrap().checked_at, fixture.clock.now());
    }

    #[tokio::test]
    async fn a_shared_report_that_would_expire_before_the_next_tick_is_not_adopted() {
        let fixture = Fixture::new(true);
        // Within the interval, but 20 s + 50 s is past a 60 s TTL.
        fixture.shared_report(Duration::from_secs(20)).await;
        let monitor = fixture.monitor(Duration::from_secs(60));
        monitor.refresh().await;
        assert_eq!(fixture.probes(), [1, 1, 1]);
        assert_eq!(monitor.current().unwrap().checked_at, fixture.clock.now());
    }

    #[tokio::test]
    async fn an_unreachable_cache_never_hides_a_check() {
        let fixture = Fixture::new(false);
        let monitor = fixture.monitor_on(Arc::new(UnreachableCache), TTL);
        monitor.refresh().await;
        assert_eq!(fixture.probes(), [1, 1, 1]);
        let report = monitor.current().unwrap();
        assert_eq!(report.redis.outcome, CheckOutcome::Unavailable);
        assert_eq!(report.status, HealthStatus::Unhealthy);
    }

    #[tokio::test]
    async fn a_report_older_than_the_ttl_reads_unhealthy() {
        let fixture = Fixture::new(true);
        let monitor = fixture.monitor(TTL);
        monitor.refresh().await;
        assert_eq!(monitor.current().unwrap().status, HealthStatus::Healthy);
        fixture.advance(TTL + Duration::from_secs(1));
        assert_eq!(monitor.current().unwrap().status, HealthStatus::Unhealthy);
    }
}
