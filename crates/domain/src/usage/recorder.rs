//! The proxy's side of usage: counts gathered in memory per token and
//! minute, drained into one batch per flush. Recording is a short lock on
//! one of several shards (picked by token), never I/O.

use foldhash::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;

use super::{Granularity, UsageBucket, UsageCounts};
use crate::error::PortError;
use crate::ports::{Clock, UsageStore};
use crate::token::TokenId;
use crate::user::UserId;

/// Independent locks, so that requests of different tokens rarely meet.
const SHARDS: usize = 16;

type Key = (TokenId, i64);
type Shard = HashMap<Key, (UserId, UsageCounts)>;

pub struct UsageRecorder {
    clock: Arc<dyn Clock>,
    shards: [Mutex<Shard>; SHARDS],
}

impl UsageRecorder {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            shards: Default::default(),
        }
    }

    fn shard(&self, token: TokenId) -> MutexGuard<'_, Shard> {
        // The low bits of a UUIDv7 are random.
        let index = (token.0.as_u128() % SHARDS as u128) as usize;
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds what `count` writes to the token's bucket of the current minute.
    pub fn record(&self, token: TokenId, user: UserId, count: impl FnOnce(&mut UsageCounts)) {
        let minute = Granularity::Minute.floor(self.clock.now()).unix_timestamp();
        let mut shard = self.shard(token);
        let (_, counts) = shard
            .entry((token, minute))
            .or_insert_with(|| (user, UsageCounts::default()));
        count(counts);
    }

    /// Writes everything gathered in one call of the store. On failure (or
    /// if the write is dropped midway) the batch goes back, to be written
    /// with the next flush: nothing is lost or counted twice. Returns the
    /// number of buckets written.
    pub async fn flush_into(&self, db: &dyn UsageStore) -> Result<usize, PortError> {
        let mut taken = Taken {
            recorder: self,
            batch: self.drain(),
        };
        if taken.batch.is_empty() {
            return Ok(0);
        }
        db.record_usage(&taken.batch).await?;
        Ok(std::mem::take(&mut taken.batch).len())
    }

    /// What waits for the next flush, summed over every bucket.
    pub fn unwritten(&self) -> UsageCounts {
        let mut sum = UsageCounts::default();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (_, counts) in shard.values() {
                sum.add(counts);
            }
        }
        sum
    }

    fn drain(&self) -> Vec<UsageBucket> {
        let mut batch = Vec::new();
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            batch.extend(shard.drain().map(|((token, minute), (user, counts))| {
                UsageBucket {
                    token_id: token,
                    user_id: user,
                    granularity: Granularity::Minute,
                    start: OffsetDateTime::from_unix_timestamp(minute)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    counts,
                }
            }));
        }
        batch
    }

    fn put_back(&self, batch: Vec<UsageBucket>) {
        for bucket in batch {
            let key = (bucket.token_id, bucket.start.unix_timestamp());
            let mut shard = self.shard(bucket.token_id);
            let (_, counts) = shard
                .entry(key)
                .or_insert_with(|| (bucket.user_id, UsageCounts::default()));
            counts.add(&bucket.counts);
        }
    }
}

/// A drained batch: back into the recorder unless it was written.
struct Taken<'a> {
    recorder: &'a UsageRecorder,
    batch: Vec<UsageBucket>,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            self.recorder.put_back(std::mem::take(&mut self.batch));
        }
    }
}
