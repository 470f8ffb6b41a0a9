//! The worker's clean-ups besides sessions: audit retention and
//! the expiry of deposits nobody paid. Both delete or update in bounded
//! batches, so that the API keeps answering while they run.

use std::sync::Arc;

use time::Duration;

use crate::error::PortError;
use crate::ports::{Clock, RetentionStore};

/// Rows per statement: small enough that a batch holds its locks briefly.
pub const BATCH: u32 = 5_000;
/// A deposit still pending after this long will not be paid any more.
pub const PENDING_PAYMENT_LIFETIME: Duration = Duration::hours(24);

pub struct MaintenanceService {
    db: Arc<dyn RetentionStore>,
    clock: Arc<dyn Clock>,
    audit_retention: Duration,
}

impl MaintenanceService {
    pub fn new(
        db: Arc<dyn RetentionStore>,
        clock: Arc<dyn Clock>,
        audit_retention_days: u32,
    ) -> Self {
        Self {
            db,
            clock,
            audit_retention: Duration::days(i64::from(audit_retention_days)),
        }
    }

    /// Deletes audit rows older than the retention, batch after batch, and
    /// returns how many went.
    pub async fn purge_audit(&self) -> Result<u64, PortError> {
        let cutoff = self.clock.now() - self.audit_retention;
        let mut deleted = 0;
        loop {
            let batch = self.db.delete_audit_before(cutoff, BATCH).await?;
            deleted += batch;
            if batch < u64::from(BATCH) {
                return Ok(deleted);
            }
        }
    }

    /// Cancels deposits pending for longer than a day.
    pub async fn expire_pending_payments(&self) -> Result<u64, PortError> {
        let now = self.clock.now();
        self.db
            .cancel_pending_before(now - PENDING_PAYMENT_LIFETIME, now, BATCH)
            .await
    }
}
