//! The gauges, refreshed by a background task: counting rows scans tables,
//! so a scrape only reads the last values and never waits on the database.

use std::sync::Arc;
use std::time::Duration;

use metrics::gauge;
use metrics_exporter_prometheus::PrometheusHandle;
use zenzefi_domain::health::CheckOutcome;
use zenzefi_domain::ports::{Clock, StatsStore};

use super::{ACTIVE_SESSIONS, ACTIVE_TOKENS, UPSTREAM_UP, USER_COUNT};
use crate::health::HealthMonitor;

/// Sets the gauges now and then every `interval` until aborted. A failed
/// count keeps the previous values until the next interval.
pub fn spawn_refresher(
    stats: Arc<dyn StatsStore>,
    clock: Arc<dyn Clock>,
    health: Arc<HealthMonitor>,
    recorder: PrometheusHandle,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match stats.counts(clock.now()).await {
                Ok(counts) => {
                    gauge!(ACTIVE_TOKENS).set(counts.active_tokens as f64);
                    gauge!(ACTIVE_SESSIONS).set(counts.active_sessions as f64);
                    gauge!(USER_COUNT).set(counts.users as f64);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "gauges not refreshed; retrying next interval");
                }
            }
            if let Some(report) = health.current() {
                let up = report.upstream.outcome == CheckOutcome::Ok;
                gauge!(UPSTREAM_UP).set(if up { 1.0 } else { 0.0 });
            }
            // Folds histogram samples recorded since the last scrape, so
            // that they never pile up when nobody scrapes.
            recorder.run_upkeep();
        }
    })
}
