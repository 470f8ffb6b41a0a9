//! The worker's `usage_rollup`: minute buckets past their retention go
//! (the hour buckets hold their counts already), hour buckets past theirs
//! fold into day buckets, day buckets past theirs go. Totals over the
//! kept periods never change.

use std::sync::Arc;

use time::Duration;

use super::Granularity;
use crate::error::PortError;
use crate::ports::{Clock, UsageStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRetention {
    pub minute_hours: u32,
    pub hour_days: u32,
    pub day_days: u32,
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupReport {
    pub minutes_deleted: u64,
    pub hours_folded: u64,
    pub days_deleted: u64,
}

pub struct Rollup {
    db: Arc<dyn UsageStore>,
    clock: Arc<dyn Clock>,
    retention: UsageRetention,
}

impl Rollup {
    pub fn new(db: Arc<dyn UsageStore>, clock: Arc<dyn Clock>, retention: UsageRetention) -> Self {
        Self {
            db,
            clock,
            retention,
        }
    }

    /// Each step is atomic on its own, so a run cut short is simply
    /// finished by the next one.
    pub async fn run(&self) -> Result<RollupReport, PortError> {
        let now = self.clock.now();
        let minutes_deleted = self
            .db
            .delete_minutes_before(now - Duration::hours(i64::from(self.retention.minute_hours)))
            .await?;
        let hours_folded = self
            .db
            // Whole days only, so that a day is never split between an
            // hour and a day bucket.
            .fold_hours_before(
                Granularity::Day.floor(now - Duration::days(i64::from(self.retention.hour_days))),
            )
            .await?;
        let days_deleted = self
            .db
            .delete_days_before(now - Duration::days(i64::from(self.retention.day_days)))
            .await?;
        Ok(RollupReport {
            minutes_deleted,
            hours_folded,
            days_deleted,
        })
    }
}
