//! The background rounds that add this instance's proxy and API hits to
//! the cluster's and read the totals back (SPEC §13): one call per
//! interval, never one per request.

use std::sync::Arc;
use std::time::Duration;

use zenzefi_domain::ports::QuotaSync;
use zenzefi_domain::quotas::Quotas;

/// Runs one round now, so that the instance counts with the cluster from
/// its first request, then one every `interval` until aborted. A failed
/// round leaves the instance counting on its own until one succeeds.
pub async fn spawn(
    quotas: Arc<Quotas>,
    sync: Arc<dyn QuotaSync>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    let first = quotas.sync(sync.as_ref()).await;
    let mut failing = first.is_err();
    if let Err(err) = first {
        tracing::warn!(error = %err, "rate limits counted by this instance alone until Redis answers");
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match quotas.sync(sync.as_ref()).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("rate limits counted across instances again");
                }
                Ok(()) => {}
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %err, "rate limits counted by this instance alone until Redis answers");
                }
                Err(_) => {}
            }
        }
    })
}
