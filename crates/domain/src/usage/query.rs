//! Reading usage back: a series of one user's (or token's, or everyone's)
//! counts per step, with totals, and the top consumers over a period.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{Granularity, UsageCounts};
use crate::error::PortError;
use crate::ports::UsageStore;
use crate::token::TokenId;
use crate::user::UserId;
use crate::validation::ValidationErrors;

/// The most steps one series may have (SPEC §14).
pub const MAX_POINTS: i64 = 1_500;

/// A checked series request: `from` is aligned to the step, `from < to`,
/// and the series has at most [`MAX_POINTS`] steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub granularity: Granularity,
    pub user_id: Option<UserId>,
    pub token_id: Option<TokenId>,
}

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("the series would have {points} points; at most {MAX_POINTS} are allowed")]
    TooManyPoints { points: i64 },
    #[error(transparent)]
    Port(#[from] PortError),
}

impl UsageQuery {
    /// `from` rounded down to the step; refuses an empty or reversed
    /// period and one of more than [`MAX_POINTS`] steps.
    pub fn new(
        from: OffsetDateTime,
        to: OffsetDateTime,
        granularity: Granularity,
        user_id: Option<UserId>,
        token_id: Option<TokenId>,
    ) -> Result<Self, UsageError> {
        let from = checked_period(from, to, granularity)?;
        let step = granularity.seconds();
        let span = to.unix_timestamp() - from.unix_timestamp();
        let points = (span + step - 1) / step;
        if points > MAX_POINTS {
            return Err(UsageError::TooManyPoints { points });
        }
        Ok(Self {
            from,
            to,
            granularity,
            user_id,
            token_id,
        })
    }
}

/// `from` aligned down to `granularity`, once `from < to` holds.
fn checked_period(
    from: OffsetDateTime,
    to: OffsetDateTime,
    granularity: Granularity,
) -> Result<OffsetDateTime, UsageError> {
    if from >= to {
        return Err(UsageError::Invalid(ValidationErrors::single(
            "from",
            "must be before `to`",
        )));
    }
    Ok(granularity.floor(from))
}

/// One step's counts, `t` its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePoint {
    pub t: OffsetDateTime,
    pub counts: UsageCounts,
}

/// Every step of the period, empty ones included, and their sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSeries {
    pub query: UsageQuery,
    pub points: Vec<UsagePoint>,
    pub totals: UsageCounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopBy {
    Requests,
    /// Request and response bytes together.
    Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopGroup {
    Token,
    User,
}

/// A checked top request: `from` aligned to the hour, `from < to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopQuery {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub by: TopBy,
    pub group: TopGroup,
    pub limit: u32,
}

impl TopQuery {
    pub fn new(
        from: OffsetDateTime,
        to: OffsetDateTime,
        by: TopBy,
        group: TopGroup,
        limit: u32,
    ) -> Result<Self, UsageError> {
        Ok(Self {
            from: checked_period(from, to, Granularity::Hour)?,
            to,
            by,
            group,
            limit,
        })
    }
}

/// One consumer: a token (with its prefix) or a user (token fields `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    pub user_id: UserId,
    pub user_email: String,
    pub user_username: String,
    pub token_id: Option<TokenId>,
    pub token_prefix: Option<String>,
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

pub struct UsageService {
    db: Arc<dyn UsageStore>,
}

impl UsageService {
    pub fn new(db: Arc<dyn UsageStore>) -> Self {
        Self { db }
    }

    pub async fn series(&self, query: UsageQuery) -> Result<UsageSeries, PortError> {
        let stored = self.db.usage_series(&query).await?;
        let step = query.granularity.seconds();
        let mut totals = UsageCounts::default();
        let mut stored = stored.into_iter().peekable();
        let mut points = Vec::new();
        let mut t = query.from;
        while t < query.to {
            let mut counts = UsageCounts::default();
            // Whatever the store returned for this step (one row, or none).
            while let Some(point) = stored.next_if(|p| p.t <= t) {
                counts.add(&point.counts);
            }
            totals.add(&counts);
            points.push(UsagePoint { t, counts });
            t += time::Duration::seconds(step);
        }
        Ok(UsageSeries {
            query,
            points,
            totals,
        })
    }

    pub async fn top(&self, query: &TopQuery) -> Result<Vec<TopRow>, PortError> {
        self.db.usage_top(query).await
    }
}
