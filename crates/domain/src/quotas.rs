//! The per-minute limits of the hot paths (SPEC §13): the proxy per token
//! and the API per user. Hits are counted in this process, in one-second
//! slots of a sliding 60 s window, so admission costs no network round trip.
//! When a [`QuotaSync`] is configured, a background round every ~100 ms
//! pushes the hits counted since the last round and reads back the cluster's
//! totals; between rounds an instance may admit at most a small share of the
//! limit's slack on its own, which is what keeps every instance together
//! within `limit + max(1, limit / 10)`. Without a working sync (embedded
//! default, Redis down) each instance enforces the limit on its own hits.

use foldhash::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::PortError;
use crate::ports::{ClusterCount, QuotaDelta, QuotaSync};
use crate::token::TokenId;
use crate::user::UserId;

/// The window every hot-path limit is counted over.
pub const WINDOW: Duration = Duration::from_secs(60);
const WINDOW_SECS: u64 = 60;
/// The slots a check sums: the 60 whole seconds before the current one and
/// the current one. Any 60 s interval lies within 61 such slots, so no
/// interval ever holds more than the limit (no fixed-window boundary).
pub const SLOTS: u64 = WINDOW_SECS + 1;
const RING: usize = SLOTS as usize;
/// Past this many keys, a new key first sweeps those idle for a window
/// (rounds sweep too, but without Redis there are none).
const SWEEP_AT: usize = 10_000;
/// Without a successful round for this long, the cluster's view is no
/// longer trusted and the instance counts on its own.
const LINK_LOST_AFTER_MS: u64 = 2_000;

/// What a limit is counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKey {
    /// The proxy limit of one token.
    Token(TokenId),
    /// The API limit of one user.
    User(UserId),
}

/// The answer to one request: admitted or not, and what the `RateLimit`
/// headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub admitted: bool,
    pub limit: u32,
    /// Requests left in the current window after this one.
    pub remaining: u32,
    /// Until the oldest counted request leaves the window, in whole
    /// seconds rounded up (so at most 61: the window and the slot in
    /// progress).
    pub reset: Duration,
    /// When refused: how long to wait (at least one second).
    pub retry_after: Duration,
}

/// One second of one key's hits, as this instance counted them.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    second: u64,
    hits: u32,
    /// Of `hits`, how many the cluster already has.
    pushed: u32,
}

/// The cluster's count of a key as of the last round.
#[derive(Debug, Clone, Copy)]
struct Cluster {
    total: u32,
    oldest: Option<u64>,
}

#[derive(Debug)]
struct Counter {
    ring: [Slot; RING],
    cluster: Option<Cluster>,
    last_hit: u64,
}

impl Counter {
    fn new() -> Self {
        Self {
            ring: [Slot::default(); RING],
            cluster: None,
            last_hit: 0,
        }
    }

    fn slot(&mut self, second: u64) -> &mut Slot {
        // The ring's index is the second modulo its length, so a slot
        // found holding another second holds one that has left the window.
        let slot = &mut self.ring[(second % SLOTS) as usize];
        if slot.second != second {
            *slot = Slot {
                second,
                hits: 0,
                pushed: 0,
            };
        }
        slot
    }

    /// The slots of the window that ends in `second` that hold hits.
    fn window(&self, second: u64) -> impl Iterator<Item = &Slot> {
        let first = second.saturating_sub(WINDOW_SECS);
        self.ring
            .iter()
            .filter(move |slot| slot.hits > 0 && (first..=second).contains(&slot.second))
    }

    /// One pass over the window: every hit, the unpushed ones, the oldest.
    fn tally(&self, second: u64) -> Tally {
        self.window(second).fold(Tally::default(), |t, slot| Tally {
            own: t.own.saturating_add(slot.hits),
            unsynced: t.unsynced.saturating_add(slot.hits - slot.pushed),
            oldest: Some(t.oldest.map_or(slot.second, |o| o.min(slot.second))),
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    own: u32,
    unsynced: u32,
    oldest: Option<u64>,
}

/// The cluster as the last successful round saw it.
#[derive(Debug, Clone, Copy)]
struct Link {
    instances: u32,
}

/// The counters of this process. Cheap per request: a read lock on the map
/// and an uncontended lock of one key's counter, no allocation once the
/// key is known.
#[derive(Debug, Default)]
pub struct Quotas {
    counters: RwLock<HashMap<QuotaKey, Mutex<Counter>>>,
    /// Whether the last round succeeded, and when (ms since the epoch).
    linked: AtomicBool,
    linked_at_ms: AtomicU64,
    /// Live instances the last round reported (this one included).
    instances: AtomicU32,
}

impl Quotas {
    /// Counts one request on `key` against `limit` per minute, now.
    pub fn take(&self, key: QuotaKey, limit: u32) -> Quota {
        self.take_at(key, limit, unix_ms())
    }

    /// Like [`Quotas::take`] at `now_ms` (milliseconds since the epoch).
    pub fn take_at(&self, key: QuotaKey, limit: u32, now_ms: u64) -> Quota {
        let link = self.link(now_ms);
        {
            let counters = self.counters.read().unwrap_or_else(|e| e.into_inner());
            if let Some(counter) = counters.get(&key) {
                let mut counter = counter.lock().unwrap_or_else(|e| e.into_inner());
                return decide(&mut counter, limit, now_ms, link);
            }
        }
        let mut counters = self.counters.write().unwrap_or_else(|e| e.into_inner());
        if counters.len() >= SWEEP_AT {
            sweep(&mut counters, now_ms / 1000);
        }
        let counter = counters
            .entry(key)
            .or_insert_with(|| Mutex::new(Counter::new()));
        let counter = counter.get_mut().unwrap_or_else(|e| e.into_inner());
        decide(counter, limit, now_ms, link)
    }

    /// The cluster's view is trusted while rounds succeed.
    fn link(&self, now_ms: u64) -> Option<Link> {
        let fresh = self.linked.load(Ordering::Acquire)
            && now_ms.saturating_sub(self.linked_at_ms.load(Ordering::Acquire))
                < LINK_LOST_AFTER_MS;
        fresh.then(|| Link {
            instances: self.instances.load(Ordering::Acquire).max(1),
        })
    }

    /// One synchronisation round: pushes the hits not yet pushed of every
    /// key used in the last window and takes the cluster's totals back.
    /// Keys idle for a whole window are forgotten. On failure the hits stay
    /// unpushed for the next round and the instance counts on its own.
    pub async fn sync(&self, sync: &dyn QuotaSync) -> Result<(), PortError> {
        self.sync_at(sync, unix_ms()).await
    }

    /// Like [`Quotas::sync`] at `now_ms`.
    pub async fn sync_at(&self, sync: &dyn QuotaSync, now_ms: u64) -> Result<(), PortError> {
        let second = now_ms / 1000;
        let deltas = self.deltas(second);
        match sync.exchange(second, &deltas).await {
            Ok(view) => {
                self.apply(second, &deltas, &view.counts);
                self.instances.store(view.instances, Ordering::Release);
                self.linked_at_ms.store(now_ms, Ordering::Release);
                self.linked.store(true, Ordering::Release);
                Ok(())
            }
            Err(err) => {
                self.linked.store(false, Ordering::Release);
                Err(err)
            }
        }
    }

    /// The unpushed hits of every key used within the window; they are
    /// marked pushed only once the round succeeded.
    fn deltas(&self, second: u64) -> Vec<QuotaDelta> {
        let mut counters = self.counters.write().unwrap_or_else(|e| e.into_inner());
        sweep(&mut counters, second);
        counters
            .iter_mut()
            .map(|(key, counter)| {
                let counter = counter.get_mut().unwrap_or_else(|e| e.into_inner());
                let hits = counter
                    .window(second)
                    .filter(|slot| slot.hits > slot.pushed)
                    .map(|slot| (slot.second, slot.hits - slot.pushed))
                    .collect();
                QuotaDelta { key: *key, hits }
            })
            .collect()
    }

    /// Marks what the round pushed and keeps the cluster's totals, which
    /// include it.
    fn apply(&self, second: u64, deltas: &[QuotaDelta], counts: &[ClusterCount]) {
        let counters = self.counters.read().unwrap_or_else(|e| e.into_inner());
        for (delta, count) in deltas.iter().zip(counts) {
            let Some(counter) = counters.get(&delta.key) else {
                continue;
            };
            let mut counter = counter.lock().unwrap_or_else(|e| e.into_inner());
            for &(slot_second, pushed) in &delta.hits {
                let slot = counter.slot(slot_second);
                slot.pushed = slot.pushed.saturating_add(pushed).min(slot.hits);
            }
            counter.cluster = Some(Cluster {
                total: count.total,
                oldest: count.oldest.filter(|s| s + WINDOW_SECS >= second),
            });
        }
    }
}

/// Forgets the keys with no hit in the window that ends in `second`.
fn sweep(counters: &mut HashMap<QuotaKey, Mutex<Counter>>, second: u64) {
    counters.retain(|_, counter| {
        let counter = counter.get_mut().unwrap_or_else(|e| e.into_inner());
        counter.last_hit + SLOTS > second
    });
}

/// Admits or refuses one request on one key's counter.
fn decide(counter: &mut Counter, limit: u32, now_ms: u64, link: Option<Link>) -> Quota {
    let second = now_ms / 1000;
    let Tally {
        own,
        unsynced,
        oldest: own_oldest,
    } = counter.tally(second);
    // `ceiling`: what may be used of the limit, less what is held back.
    let (used, oldest, ceiling, admitted) = match (link, counter.cluster) {
        (Some(link), cluster) => {
            let (total, oldest) = cluster.map_or((0, None), |c| (c.total, c.oldest));
            let used = total.saturating_add(unsynced);
            let share = RunAhead::of(limit, link.instances);
            let ceiling = limit.saturating_sub(share.reserve);
            (
                used,
                oldest,
                ceiling,
                used < ceiling && unsynced < share.per_round,
            )
        }
        (None, _) => (own, None, limit, own < limit),
    };
    let oldest = match (oldest, own_oldest) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if admitted {
        counter.slot(second).hits += 1;
        counter.last_hit = second;
    }
    let used = used.saturating_add(u32::from(admitted));
    let reset = oldest
        .or(admitted.then_some(second))
        .map_or(Duration::ZERO, |oldest| until_gone(oldest, now_ms));
    let retry_after = if admitted {
        Duration::ZERO
    } else if used < ceiling {
        // Only the share between rounds is spent: the next round frees it.
        Duration::from_secs(1)
    } else {
        match link {
            Some(_) => reset,
            None => own_retry(counter, limit, now_ms),
        }
        .max(Duration::from_secs(1))
    };
    Quota {
        admitted,
        limit,
        remaining: if admitted {
            ceiling.saturating_sub(used)
        } else {
            0
        },
        reset,
        retry_after,
    }
}

/// How far an instance may run ahead of the cluster between two rounds.
///
/// What no instance sees at a given moment is at most, per instance, the
/// hits it admitted since its last push (capped at `per_round`) plus one
/// push it made since the others last read (also at most `per_round`): with
/// N instances, under `2 × N × per_round`. That must fit in the slack the
/// bound allows, `max(1, limit / 10)`; when even one hit per round does not
/// fit (small limits), the difference is held back from the limit instead,
/// so the bound holds at the price of admitting a little less. One instance
/// alone sees everything and runs ahead freely.
#[derive(Debug, Clone, Copy)]
struct RunAhead {
    per_round: u32,
    reserve: u32,
}

impl RunAhead {
    fn of(limit: u32, instances: u32) -> Self {
        if instances <= 1 {
            return Self {
                per_round: u32::MAX,
                reserve: 0,
            };
        }
        let slack = (limit / 10).max(1);
        let unseen = 2 * instances;
        let per_round = (slack / unseen).max(1);
        Self {
            per_round,
            reserve: (per_round * unseen).saturating_sub(slack),
        }
    }
}

/// When enough of this instance's own hits leave the window for one more.
fn own_retry(counter: &Counter, limit: u32, now_ms: u64) -> Duration {
    let second = now_ms / 1000;
    let mut left = counter.tally(second).own;
    let mut slots: Vec<&Slot> = counter.window(second).collect();
    slots.sort_unstable_by_key(|slot| slot.second);
    for slot in slots {
        left = left.saturating_sub(slot.hits);
        if left < limit {
            return until_gone(slot.second, now_ms);
        }
    }
    Duration::from_secs(1)
}

/// Whole seconds, rounded up, until hits counted in `second` leave the
/// window: the first window without them ends in `second + 61`.
fn until_gone(second: u64, now_ms: u64) -> Duration {
    let gone_ms = (second + SLOTS) * 1000;
    Duration::from_secs(gone_ms.saturating_sub(now_ms).div_ceil(1000))
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::ports::ClusterView;

    fn key() -> QuotaKey {
        QuotaKey::Token(TokenId(Uuid::nil()))
    }

    /// 1 000 000 s after the epoch, on a whole second.
    const T0: u64 = 1_000_000_000;

    #[test]
    fn admits_up_to_the_limit_then_refuses_with_retry_after() {
        let quotas = Quotas::default();
        for left in (0..3).rev() {
            let quota = quotas.take_at(key(), 3, T0 + 500);
            assert!(quota.admitted);
            assert_eq!(quota.remaining, left);
        }
        let refused = quotas.take_at(key(), 3, T0 + 600);
        assert!(!refused.admitted);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after, Duration::from_secs(61));
        let other = quotas.take_at(QuotaKey::User(UserId(Uuid::nil())), 3, T0 + 600);
        assert!(other.admitted);
    }

    #[test]
    fn a_burst_at_a_window_boundary_is_not_admitted_twice() {
        let quotas = Quotas::default();
        let limit = 100;
        // The whole limit in the last tenth of a second of the first minute…
        let end_of_minute = T0 + 59_900;
        let admitted = (0..limit)
            .filter(|_| quotas.take_at(key(), limit, end_of_minute).admitted)
            .count();
        assert_eq!(admitted, 100);
        // …and another full burst a fifth of a second later: a fixed window
        // would have started afresh at T0 + 60 s.
        let next_minute = T0 + 60_100;
        let again = (0..limit)
            .filter(|_| quotas.take_at(key(), limit, next_minute).admitted)
            .count();
        assert_eq!(again, 0);
        // Once those hits are a full window old, the quota is back.
        let later = T0 + 59_900 + 61_000;
        assert!(quotas.take_at(key(), limit, later).admitted);
    }

    #[test]
    fn the_reset_counts_down_and_remaining_comes_back() {
        let quotas = Quotas::default();
        let first = quotas.take_at(key(), 10, T0);
        assert_eq!(first.reset, Duration::from_secs(61));
        let later = quotas.take_at(key(), 10, T0 + 30_000);
        assert_eq!((later.remaining, later.reset), (8, Duration::from_secs(31)));
        let after = quotas.take_at(key(), 10, T0 + 61_500);
        assert_eq!(after.remaining, 8, "the first hit left, the second not");
    }

    /// A cluster that always reports `total` hits on every key, from
    /// `instances` instances.
    struct Fixed(ClusterView);

    impl Fixed {
        fn new(instances: u32, total: u32) -> Self {
            Self(ClusterView {
                instances,
                counts: vec![ClusterCount {
                    total,
                    oldest: Some(T0 / 1000),
                }],
            })
        }
    }

    #[async_trait::async_trait]
    impl QuotaSync for Fixed {
        async fn exchange(
            &self,
            _second: u64,
            deltas: &[QuotaDelta],
        ) -> Result<ClusterView, PortError> {
            Ok(ClusterView {
                instances: self.0.instances,
                counts: deltas.iter().map(|_| self.0.counts[0]).collect(),
            })
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        // The fake answers at once: one poll completes it.
        let mut future = std::pin::pin!(future);
        let waker = std::task::Waker::noop();
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
        {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => panic!("the fake sync never waits"),
        }
    }

    #[test]
    fn between_rounds_an_instance_admits_only_its_share_of_the_slack() {
        let quotas = Quotas::default();
        quotas.take_at(key(), 600, T0);
        let cluster = Fixed::new(3, 100);
        block_on(quotas.sync_at(&cluster, T0 + 100)).unwrap();
        // 600 / 10 = 60 of slack, shared by 2 × 3: 10 per round.
        let admitted = (0..100)
            .filter(|_| quotas.take_at(key(), 600, T0 + 150).admitted)
            .count();
        assert_eq!(admitted, 10);
        let refused = quotas.take_at(key(), 600, T0 + 150);
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        block_on(quotas.sync_at(&cluster, T0 + 200)).unwrap();
        assert!(quotas.take_at(key(), 600, T0 + 250).admitted);
    }

    #[test]
    fn a_small_limit_shared_by_instances_holds_back_what_the_slack_cannot_cover() {
        let quotas = Quotas::default();
        quotas.take_at(key(), 10, T0);
        block_on(quotas.sync_at(&Fixed::new(3, 1), T0 + 100)).unwrap();
        // Slack 1; one hit per round each from 3 instances may go unseen
        // twice over (6), so 5 are held back: admitted while 1 + n + 5 < 10.
        let admitted = (0..10)
            .filter(|_| quotas.take_at(key(), 10, T0 + 150).admitted)
            .count();
        assert_eq!(admitted, 1);
        block_on(quotas.sync_at(&Fixed::new(3, 4), T0 + 200)).unwrap();
        assert!(quotas.take_at(key(), 10, T0 + 250).admitted);
        block_on(quotas.sync_at(&Fixed::new(3, 5), T0 + 300)).unwrap();
        assert!(!quotas.take_at(key(), 10, T0 + 350).admitted);
    }

    #[test]
    fn the_cluster_total_refuses_what_this_instance_never_saw() {
        let quotas = Quotas::default();
        quotas.take_at(key(), 50, T0);
        let full = Fixed::new(2, 50);
        block_on(quotas.sync_at(&full, T0 + 100)).unwrap();
        let refused = quotas.take_at(key(), 50, T0 + 1_000);
        assert!(!refused.admitted);
        assert_eq!(refused.retry_after, Duration::from_secs(60));
        // With the link lost, the instance counts its own hits only.
        assert!(quotas.take_at(key(), 50, T0 + 5_000).admitted);
    }
}
