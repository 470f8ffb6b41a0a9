//! Usage buckets in memory, with the SQL stores' semantics: every minute
//! also counts in its hour; hour and day steps read hour and day buckets.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::UsageStore;
use zenzefi_domain::token::TokenId;
use zenzefi_domain::usage::{
    Granularity, TopBy, TopGroup, TopQuery, TopRow, UsageBucket, UsageCounts, UsagePoint,
    UsageQuery,
};
use zenzefi_domain::user::UserId;

use super::{Access, MemStore, State};

/// (token, width, start) → (owner, counts).
pub type UsageBuckets = HashMap<(TokenId, Granularity, OffsetDateTime), (UserId, UsageCounts)>;

/// The stored widths a step reads.
fn reads(step: Granularity, width: Granularity) -> bool {
    match step {
        Granularity::Minute => width == Granularity::Minute,
        _ => width != Granularity::Minute,
    }
}

fn add(
    buckets: &mut UsageBuckets,
    key: (TokenId, Granularity, OffsetDateTime),
    user: UserId,
    counts: &UsageCounts,
) {
    buckets
        .entry(key)
        .or_insert_with(|| (user, UsageCounts::default()))
        .1
        .add(counts);
}

impl State {
    fn record_usage(&mut self, batch: &[UsageBucket]) {
        for b in batch {
            for width in [b.granularity, Granularity::Hour] {
                let key = (b.token_id, width, width.floor(b.start));
                add(&mut self.usage, key, b.user_id, &b.counts);
            }
        }
    }

    fn usage_series(&self, q: &UsageQuery) -> Vec<UsagePoint> {
        let mut steps: BTreeMap<OffsetDateTime, UsageCounts> = BTreeMap::new();
        for ((token, width, start), (user, counts)) in &self.usage {
            let wanted = reads(q.granularity, *width)
                && (q.from..q.to).contains(start)
                && q.user_id.is_none_or(|u| u == *user)
                && q.token_id.is_none_or(|t| t == *token);
            if wanted {
                steps
                    .entry(q.granularity.floor(*start))
                    .or_default()
                    .add(counts);
            }
        }
        steps
            .into_iter()
            .map(|(t, counts)| UsagePoint { t, counts })
            .collect()
    }

    fn usage_top(&self, q: &TopQuery) -> Vec<TopRow> {
        let mut sums: HashMap<(UserId, Option<TokenId>), UsageCounts> = HashMap::new();
        for ((token, width, start), (user, counts)) in &self.usage {
            if reads(Granularity::Hour, *width) && (q.from..q.to).contains(start) {
                let token = matches!(q.group, TopGroup::Token).then_some(*token);
                sums.entry((*user, token)).or_default().add(counts);
            }
        }
        let mut rows: Vec<TopRow> = sums
            .into_iter()
            .filter_map(|((user_id, token_id), c)| {
                let user = self.users.get(&user_id)?;
                Some(TopRow {
                    user_id,
                    user_email: user.email.as_str().to_owned(),
                    user_username: user.username.as_str().to_owned(),
                    token_id,
                    token_prefix: token_id
                        .and_then(|t| self.tokens.get(&t))
                        .map(|t| t.token_prefix.clone()),
                    requests: c.requests,
                    bytes_in: c.bytes_in,
                    bytes_out: c.bytes_out,
                })
            })
            .collect();
        let size = |r: &TopRow| match q.by {
            TopBy::Requests => r.requests,
            TopBy::Bytes => r.bytes_in + r.bytes_out,
        };
        rows.sort_by(|a, b| size(b).cmp(&size(a)).then(a.user_id.0.cmp(&b.user_id.0)));
        rows.truncate(q.limit as usize);
        rows
    }

    fn delete_usage_before(&mut self, width: Granularity, before: OffsetDateTime) -> u64 {
        let old: Vec<_> = self
            .usage
            .keys()
            .filter(|(_, w, start)| *w == width && *start < before)
            .copied()
            .collect();
        for key in &old {
            self.usage.remove(key);
        }
        old.len() as u64
    }

    fn fold_hours_before(&mut self, before: OffsetDateTime) -> u64 {
        let hours: Vec<_> = self
            .usage
            .iter()
            .filter(|((_, w, start), _)| *w == Granularity::Hour && *start < before)
            .map(|(key, value)| (*key, *value))
            .collect();
        for ((token, _, start), (user, counts)) in &hours {
            self.usage.remove(&(*token, Granularity::Hour, *start));
            let day = (*token, Granularity::Day, Granularity::Day.floor(*start));
            add(&mut self.usage, day, *user, counts);
        }
        hours.len() as u64
    }
}

#[async_trait]
impl<A: Access> UsageStore for MemStore<A> {
    async fn record_usage(&self, batch: &[UsageBucket]) -> Result<(), PortError> {
        self.0.with(|s| s.record_usage(batch)).await;
        Ok(())
    }

    async fn usage_series(&self, query: &UsageQuery) -> Result<Vec<UsagePoint>, PortError> {
        Ok(self.0.with(|s| s.usage_series(query)).await)
    }

    async fn usage_top(&self, query: &TopQuery) -> Result<Vec<TopRow>, PortError> {
        Ok(self.0.with(|s| s.usage_top(query)).await)
    }

    async fn delete_minutes_before(&self, before: OffsetDateTime) -> Result<u64, PortError> {
        Ok(self
            .0
            .with(|s| s.delete_usage_before(Granularity::Minute, before))
            .await)
    }

    async fn fold_hours_before(&self, before: OffsetDateTime) -> Result<u64, PortError> {
        Ok(self.0.with(|s| s.fold_hours_before(before)).await)
    }

    async fn delete_days_before(&self, before: OffsetDateTime) -> Result<u64, PortError> {
        Ok(self
            .0
            .with(|s| s.delete_usage_before(Granularity::Day, before))
            .await)
    }
}
