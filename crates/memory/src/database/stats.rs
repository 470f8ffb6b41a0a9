//! Whole-table counts for the operators' gauges.

use async_trait::async_trait;
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{Counts, StatsStore};
use zenzefi_domain::token::AccessToken;

use super::{Access, MemStore, State};

impl State {
    fn counts(&self, now: OffsetDateTime) -> Counts {
        let owner_active =
            |t: &AccessToken| self.users.get(&t.user_id).is_some_and(|u| u.is_active);
        Counts {
            active_tokens: count(
                self.tokens
                    .values()
                    .filter(|t| t.is_usable(now) && owner_active(t)),
            ),
            active_sessions: count(self.sessions.values().filter(|s| s.is_active)),
            users: count(self.users.values()),
        }
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u64 {
    u64::try_from(items.count()).unwrap_or(u64::MAX)
}

#[async_trait]
impl<A: Access> StatsStore for MemStore<A> {
    async fn counts(&self, now: OffsetDateTime) -> Result<Counts, PortError> {
        Ok(self.0.with(|s| s.counts(now)).await)
    }
}
