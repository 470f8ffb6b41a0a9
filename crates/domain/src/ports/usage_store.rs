use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::PortError;
use crate::usage::{TopQuery, TopRow, UsageBucket, UsagePoint, UsageQuery};

/// Usage buckets (SPEC §14). Every request is counted twice: in its minute
/// bucket (kept `usage.minute_retention_hours`) and in its hour bucket, so
/// that hourly and daily reads never scan minutes. Hour buckets older than
/// the hour retention fold into day buckets.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds each minute bucket of `batch` to its stored minute bucket and to
    /// its hour bucket (creating them), in one transaction and a constant
    /// number of statements whatever the batch size: a failed call changed
    /// nothing and may be retried whole.
    async fn record_usage(&self, batch: &[UsageBucket]) -> Result<(), PortError>;

    /// Sums per step of `query.granularity` over the buckets starting in
    /// `[from, to)`: minute steps read minute buckets; hour and day steps
    /// read hour and day buckets. Steps without usage are left out;
    /// ascending by `t`.
    async fn usage_series(&self, query: &UsageQuery) -> Result<Vec<UsagePoint>, PortError>;

    /// The top consumers over the hour and day buckets starting in
    /// `[from, to)`, largest first (ties by id), with their owner.
    async fn usage_top(&self, query: &TopQuery) -> Result<Vec<TopRow>, PortError>;

    /// Deletes the minute buckets starting before `before` (their counts are
    /// in the hour buckets already) and returns how many went.
    async fn delete_minutes_before(&self, before: OffsetDateTime) -> Result<u64, PortError>;

    /// Moves the hour buckets starting before `before` into their day
    /// buckets (added to them) and deletes them, in one transaction: a
    /// crash midway folds all or nothing. Returns the hour buckets folded.
    async fn fold_hours_before(&self, before: OffsetDateTime) -> Result<u64, PortError>;

    /// Deletes the day buckets starting before `before`.
    async fn delete_days_before(&self, before: OffsetDateTime) -> Result<u64, PortError>;
}
