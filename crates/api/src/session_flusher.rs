//! Writes the proxy sessions' gathered counters and the usage buckets
//! (SPEC §14) every flush interval, through a pool of its own, and once more at a graceful stop
//! without abandoning a write in progress.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{SessionStore, UsageStore};
use zenzefi_domain::sessions::SessionService;
use zenzefi_domain::usage::UsageRecorder;

use crate::metrics;
use crate::readiness::Readiness;

/// Pause between two attempts of the final flush while the database fails.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Where a flush writes: the sessions' counters and the usage buckets.
pub trait FlushStore: SessionStore + UsageStore {}

impl<T: SessionStore + UsageStore> FlushStore for T {}

pub struct SessionFlusher {
    sessions: Arc<SessionService>,
    usage: Arc<UsageRecorder>,
    /// Opened on the runtime that flushes, so that it outlives the HTTP
    /// workers' runtimes at a stop.
    db: Arc<dyn FlushStore>,
    readiness: Arc<Readiness>,
}

/// The periodic flush, running.
pub struct RunningFlusher {
    flusher: Arc<SessionFlusher>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SessionFlusher {
    pub fn new(
        sessions: Arc<SessionService>,
        usage: Arc<UsageRecorder>,
        db: Arc<dyn FlushStore>,
        readiness: Arc<Readiness>,
    ) -> Self {
        Self {
            sessions,
            usage,
            db,
            readiness,
        }
    }

    /// One batch of each. Whatever fails stays for the next one; the
    /// other is written regardless.
    async fn flush(&self) -> Result<(), PortError> {
        let sessions = self.sessions.flush_into(self.db.as_ref()).await;
        let usage = self.usage.flush_into(self.db.as_ref()).await;
        let flushed = sessions.and(usage).map(drop);
        if let Err(err) = &flushed {
            self.readiness.observe(err);
        }
        flushed
    }

    /// Flushes every `interval` until [`RunningFlusher::stop`].
    pub fn spawn(self, interval: Duration) -> RunningFlusher {
        let flusher = Arc::new(self);
        let (stop, mut stopped) = watch::channel(false);
        let running = flusher.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // Only the wait is raced against the stop, never the write.
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stopped.changed() => return,
                }
                if let Err(err) = running.flush().await {
                    tracing::warn!(error = %err, "session counters not written; retrying next interval");
                }
            }
        });
        RunningFlusher {
            flusher,
            stop,
            task,
        }
    }
}

impl RunningFlusher {
    /// Lets a flush in progress finish, then writes what is left, retrying
    /// while the database fails, all within `timeout`. Counters that still
    /// could not be written are logged at ERROR and counted.
    pub async fn stop(self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            // Still writing at the deadline: cancelling puts its batch back,
            // to be reported below.
            task.abort();
            let _ = task.await;
        }
        let flusher = &self.flusher;
        while Instant::now() < deadline {
            match tokio::time::timeout_at(deadline, flusher.flush()).await {
                Ok(Ok(_)) | Err(_) => break,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "last session counters not written; retrying");
                    tokio::time::sleep_until((Instant::now() + RETRY_PAUSE).min(deadline)).await;
                }
            }
        }
        let usage = flusher.usage.unwritten();
        if !usage.is_zero() {
            tracing::error!(
                requests = usage.requests,
                bytes_in = usage.bytes_in,
                bytes_out = usage.bytes_out,
                refused = usage.refused.iter().sum::<u64>(),
                "usage counts lost: the database did not take them before the shutdown timeout"
            );
        }
        let lost = flusher.sessions.unwritten();
        if lost.requests > 0 {
            tracing::error!(
                sessions = lost.sessions,
                requests = lost.requests,
                bytes = lost.bytes,
                timeout_secs = timeout.as_secs(),
                "session counters lost: the database did not take them before the shutdown timeout"
            );
            metrics::session_counters_lost(lost.requests);
        }
    }
}
