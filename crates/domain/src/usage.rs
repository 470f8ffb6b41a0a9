//! Usage analytics (SPEC §14): per token and minute, requests, bytes,
//! responses by class and refusals by reason. The proxy counts in memory
//! ([`UsageRecorder`]); the session flusher writes the counts in one batch
//! per interval; the worker folds old buckets into coarser ones; the
//! queries read them back as series and top lists.

mod query;
mod recorder;
mod rollup;

pub use query::{
    MAX_POINTS, TopBy, TopGroup, TopQuery, TopRow, UsageError, UsagePoint, UsageQuery, UsageSeries,
    UsageService,
};
pub use recorder::UsageRecorder;
pub use rollup::{Rollup, RollupReport, UsageRetention};

use time::OffsetDateTime;

use crate::token::TokenId;
use crate::user::UserId;

/// The class of an answered proxied request: the upstream's status, or
/// ours when the gateway answered for it (502/504).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseClass {
    Success2xx,
    Redirect3xx,
    Client4xx,
    Server5xx,
}

impl ResponseClass {
    pub const ALL: [ResponseClass; 4] = [
        Self::Success2xx,
        Self::Redirect3xx,
        Self::Client4xx,
        Self::Server5xx,
    ];

    /// `None` for 1xx (never a final answer).
    pub fn of_status(status: u16) -> Option<Self> {
        match status {
            200..=299 => Some(Self::Success2xx),
            300..=399 => Some(Self::Redirect3xx),
            400..=499 => Some(Self::Client4xx),
            500..=599 => Some(Self::Server5xx),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success2xx => "2xx",
            Self::Redirect3xx => "3xx",
            Self::Client4xx => "4xx",
            Self::Server5xx => "5xx",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Why a request that named a known token was refused or failed (§14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    ScopeDenied,
    InvalidPath,
    DeviceConflict,
    RateLimited,
    UserInactive,
    UpstreamUnavailable,
    UpstreamTimeout,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 7] = [
        Self::ScopeDenied,
        Self::InvalidPath,
        Self::DeviceConflict,
        Self::RateLimited,
        Self::UserInactive,
        Self::UpstreamUnavailable,
        Self::UpstreamTimeout,
    ];

    /// The problem code the client saw, and the key in `refused`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ScopeDenied => "scope_denied",
            Self::InvalidPath => "invalid_path",
            Self::DeviceConflict => "device_conflict",
            Self::RateLimited => "rate_limited",
            Self::UserInactive => "user_inactive",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// The counters of one bucket (or of a sum of buckets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// Requests admitted and forwarded (what the session counts).
    pub requests: u64,
    /// Request body bytes streamed to the upstream.
    pub bytes_in: u64,
    /// Response body bytes streamed to the client.
    pub bytes_out: u64,
    /// By [`ResponseClass`], in the order of [`ResponseClass::ALL`].
    pub responses: [u64; 4],
    /// By [`RefusalReason`], in the order of [`RefusalReason::ALL`].
    pub refused: [u64; 7],
}

impl UsageCounts {
    pub fn add(&mut self, other: &UsageCounts) {
        self.requests += other.requests;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        for (sum, n) in self.responses.iter_mut().zip(other.responses) {
            *sum += n;
        }
        for (sum, n) in self.refused.iter_mut().zip(other.refused) {
            *sum += n;
        }
    }

    pub fn response(&self, class: ResponseClass) -> u64 {
        self.responses[class.index()]
    }

    pub fn refusal(&self, reason: RefusalReason) -> u64 {
        self.refused[reason.index()]
    }

    pub fn count_response(&mut self, class: ResponseClass) {
        self.responses[class.index()] += 1;
    }

    pub fn count_refusal(&mut self, reason: RefusalReason) {
        self.refused[reason.index()] += 1;
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// How wide a bucket is. Stored buckets are minutes, hours or days; a
/// query asks for one of them as its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub const ALL: [Granularity; 3] = [Self::Minute, Self::Hour, Self::Day];

    pub const fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw)
    }

    /// The start of the bucket of this width that holds `t` (UTC; days
    /// start at midnight UTC).
    pub fn floor(self, t: OffsetDateTime) -> OffsetDateTime {
        let secs = t.unix_timestamp();
        let start = secs - secs.rem_euclid(self.seconds());
        OffsetDateTime::from_unix_timestamp(start).unwrap_or(t)
    }
}

/// One stored bucket: a token's counts over one minute, hour or day from
/// `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageBucket {
    pub token_id: TokenId,
    pub user_id: UserId,
    pub granularity: Granularity,
    pub start: OffsetDateTime,
    pub counts: UsageCounts,
}
