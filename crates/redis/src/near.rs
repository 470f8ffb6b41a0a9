//! The near cache: what this instance knows of token validation
//! entries and of the session claims it holds, kept in process so that a
//! proxied request needs no Redis round trip. Changes that can refuse a
//! token or move a claim are published on `{prefix}events`; every instance
//! drops the matching entries when the event arrives. The instance hears its
//! own heartbeat on the channel twice a second: without it for 2 s, it stops
//! trusting what it holds and asks Redis (or, through the caller, the
//! database) at most once per second per entry until it has resubscribed.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use metrics::{Counter, Histogram};
use zenzefi_domain::PortError;
use zenzefi_domain::ports::CachedToken;
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::SessionId;
use zenzefi_domain::token::{TokenHash, TokenId};

use crate::link::RedisLink;
use crate::pool::RedisSettings;

/// How often the instance publishes its heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// Without its own heartbeat for this long, the instance assumes it missed
/// events and stops trusting its entries.
const LOST_AFTER: Duration = Duration::from_secs(2);
/// While not trusted, an entry still answers for this long after it was
/// read: at most one read per second per token.
pub(crate) const UNTRUSTED_LIFETIME: Duration = Duration::from_secs(1);
/// Pause between two attempts to resubscribe.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(250);
/// How long an event's arrival is remembered, to refuse entries whose read
/// began before it: far longer than a read with the link's timeout.
const EVENT_MEMORY: Duration = Duration::from_secs(30);

/// Longest a hash no token has is remembered.
const UNKNOWN_MEMORY: Duration = Duration::from_secs(60);

/// Event kinds on the channel: `{kind} {sent_at_unix_ms} {body}`.
const TOKENS: &str = "T";
const CLAIMS: &str = "C";
const HEARTBEAT: &str = "H";

/// The lifetimes of the near cache.
#[derive(Debug, Clone, Copy)]
pub struct NearCacheSettings {
    /// Most token entries, and most claims, kept.
    pub capacity: u64,
    /// Longest a token entry is trusted.
    pub token_ttl: Duration,
    /// Longest a held claim is trusted before it is renewed in Redis.
    pub claim_renew: Duration,
}

/// A token entry as this instance holds it.
#[derive(Clone)]
pub(crate) struct LocalToken {
    pub entry: Arc<CachedToken>,
    stored: Instant,
    lifetime: Duration,
}

/// A claim this instance holds for a device.
#[derive(Clone)]
pub(crate) struct LocalClaim {
    pub session: SessionId,
    pub device: DeviceId,
    stored: Instant,
    /// Confirmed by Redis; `false` when the database granted it during an
    /// outage and Redis has not been told yet.
    pub confirmed: bool,
}

/// Whether an entry may answer without Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Yes.
    Fresh,
    /// It is too old, or the instance does not trust its entries now.
    Stale,
}

#[derive(Clone)]
pub struct NearCache {
    shared: Arc<Shared>,
}

struct Shared {
    link: RedisLink,
    prefix: String,
    channel: String,
    instance: String,
    settings: NearCacheSettings,
    tokens: Cache<TokenHash, LocalToken>,
    /// Hashes no token has, until the instant given: kept here only.
    unknown: Cache<TokenHash, Instant>,
    claims: Cache<TokenId, LocalClaim>,
    /// When an event last named the key: an entry whose read began
    /// before that must not be kept.
    token_events: Cache<TokenHash, Instant>,
    claim_events: Cache<TokenId, Instant>,
    /// When the instance last (re)subscribed: entries read before it may
    /// have missed events and are dropped.
    subscribed: std::sync::RwLock<Instant>,
    origin: Instant,
    /// Milliseconds after `origin` when the own heartbeat was last heard;
    /// 0 while not subscribed.
    heard_at_ms: AtomicU64,
}

impl NearCache {
    /// Starts the subscriber on the current Tokio runtime (it runs until the
    /// last handle is dropped) and waits, up to the Redis timeout, for it to
    /// connect. Should Redis be down, the cache starts all the same and
    /// connects when Redis comes back; until then lookups fail over to the
    /// caller's database.
    pub async fn start(
        redis: &RedisSettings,
        settings: NearCacheSettings,
    ) -> Result<Self, PortError> {
        let link = RedisLink::new(&redis.url, redis.timeout)?;
        let prefix = redis.key_prefix.as_str();
        let shared = Arc::new(Shared {
            link,
            prefix: prefix.to_owned(),
            channel: format!("{prefix}events"),
            instance: format!("{:016x}", rand::random::<u64>()),
            settings,
            tokens: bounded(settings.capacity, settings.token_ttl),
            unknown: bounded(settings.capacity, UNKNOWN_MEMORY),
            claims: bounded(
                settings.capacity,
                settings.claim_renew.max(UNTRUSTED_LIFETIME),
            ),
            token_events: bounded(settings.capacity, EVENT_MEMORY),
            claim_events: bounded(settings.capacity, EVENT_MEMORY),
            subscribed: std::sync::RwLock::new(Instant::now()),
            origin: Instant::now(),
            heard_at_ms: AtomicU64::new(0),
        });
        tokio::spawn(subscribe(Arc::downgrade(&shared)));
        let deadline = Instant::now() + redis.timeout;
        while !shared.link.is_up() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Self { shared })
    }

    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.shared.prefix)
    }

    pub(crate) fn link(&self) -> &RedisLink {
        &self.shared.link
    }

    /// This instance's random id, unique among the live ones.
    pub(crate) fn instance(&self) -> &str {
        &self.shared.instance
    }

    pub(crate) fn channel(&self) -> &str {
        &self.shared.channel
    }

    /// Whether the instance heard its own heartbeat within `LOST_AFTER`.
    pub fn trusted(&self) -> bool {
        self.shared.trusted()
    }

    pub(crate) fn token(&self, hash: &TokenHash) -> Option<(LocalToken, Freshness)> {
        let local = self.shared.tokens.get(hash)?;
        let freshness = self.freshness(local.stored, local.lifetime, true);
        Some((local, freshness))
    }

    /// Keeps `entry`, read from Redis or the database starting at `read_at`,
    /// for at most `lifetime` — unless an event or a resubscription came
    /// after the read began, or the entry held is of the token already
    /// activated and this one is not (activation is for good).
    pub(crate) fn keep_token(
        &self,
        hash: &TokenHash,
        entry: CachedToken,
        lifetime: Duration,
        read_at: Instant,
    ) {
        let held = self.shared.tokens.get(hash);
        if entry.token.activated_at.is_none()
            && held.is_some_and(|h| h.entry.token.activated_at.is_some())
        {
            return;
        }
        let local = LocalToken {
            entry: Arc::new(entry),
            stored: read_at,
            lifetime: lifetime.min(self.shared.settings.token_ttl),
        };
        keep(
            &self.shared.tokens,
            &self.shared.token_events,
            &self.shared.subscribed,
            hash.clone(),
            local,
            read_at,
        );
    }

    /// Whether the database said a moment ago that no token has this hash.
    pub(crate) fn is_unknown(&self, hash: &TokenHash) -> bool {
        self.shared
            .unknown
            .get(hash)
            .is_some_and(|until| until > Instant::now())
    }

    pub(crate) fn remember_unknown(&self, hash: &TokenHash, ttl: Duration) {
        let until = Instant::now() + ttl.min(UNKNOWN_MEMORY);
        self.shared.unknown.insert(hash.clone(), until);
    }

    pub(crate) fn claim(&self, token: TokenId) -> Option<(LocalClaim, Freshness)> {
        let local = self.shared.claims.get(&token)?;
        let freshness = self.freshness(
            local.stored,
            self.shared.settings.claim_renew,
            local.confirmed,
        );
        Some((local, freshness))
    }

    pub(crate) fn keep_claim(
        &self,
        token: TokenId,
        session: SessionId,
        device: &DeviceId,
        confirmed: bool,
        read_at: Instant,
    ) {
        let local = LocalClaim {
            session,
            device: device.clone(),
            stored: read_at,
            confirmed,
        };
        keep(
            &self.shared.claims,
            &self.shared.claim_events,
            &self.shared.subscribed,
            token,
            local,
            read_at,
        );
    }

    pub(crate) fn forget_claim(&self, token: TokenId) {
        self.shared.claims.invalidate(&token);
    }

    /// The event that makes every instance drop these token entries.
    pub(crate) fn tokens_event(hashes: &[TokenHash]) -> String {
        let body: Vec<&str> = hashes.iter().map(TokenHash::as_str).collect();
        event(TOKENS, &body.join(","))
    }

    /// The event that makes every instance drop its claim on this token.
    pub(crate) fn claims_event(token: TokenId) -> String {
        event(CLAIMS, &token.to_string())
    }

    /// Applies an event here at once, before it comes back on the channel.
    pub(crate) fn apply_now(&self, payload: &str) {
        self.shared.apply(payload);
    }

    /// Within its lifetime an entry answers while the instance trusts its
    /// entries; otherwise only within a second of its read.
    fn freshness(&self, stored: Instant, lifetime: Duration, confirmed: bool) -> Freshness {
        let age = stored.elapsed();
        let trusted = confirmed && self.shared.trusted();
        if age < lifetime && (trusted || age < UNTRUSTED_LIFETIME) {
            Freshness::Fresh
        } else {
            Freshness::Stale
        }
    }
}

/// Keys are ids and hashes the gateway made, not chosen by clients:
/// foldhash, several times cheaper than SipHash, on every lookup.
type Cache<K, V> = moka::sync::Cache<K, V, foldhash::fast::RandomState>;

fn bounded<K, V>(capacity: u64, lifetime: Duration) -> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(capacity)
        .time_to_live(lifetime)
        .build_with_hasher(foldhash::fast::RandomState::default())
}

/// Inserts first and checks second, so that an event or resubscription
/// racing the insert either sees the entry (and drops it) or is seen here.
fn keep<K, V>(
    entries: &Cache<K, V>,
    events: &Cache<K, Instant>,
    subscribed: &std::sync::RwLock<Instant>,
    key: K,
    value: V,
    read_at: Instant,
) where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    entries.insert(key.clone(), value);
    let resubscribed = *subscribed.read().unwrap_or_else(|e| e.into_inner()) > read_at;
    let evented = events.get(&key).is_some_and(|at| at >= read_at);
    if resubscribed || evented {
        entries.invalidate(&key);
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn trusted(&self) -> bool {
        let heard = self.heard_at_ms.load(Ordering::Acquire);
        heard != 0 && self.now_ms().saturating_sub(heard) < LOST_AFTER.as_millis() as u64
    }

    fn apply(&self, payload: &str) {
        let mut parts = payload.splitn(3, ' ');
        let (Some(kind), Some(sent), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            tracing::debug!(payload, "ignoring a malformed event");
            return;
        };
        let now = Instant::now();
        match kind {
            HEARTBEAT => {
                if body == self.instance {
                    self.heard_at_ms.store(self.now_ms(), Ordering::Release);
                }
                return;
            }
            TOKENS => {
                for hash in body
                    .split(',')
                    .map(|h| TokenHash::from_stored(h.to_owned()))
                {
                    self.token_events.insert(hash.clone(), now);
                    self.tokens.invalidate(&hash);
                }
            }
            CLAIMS => {
                for token in body.split(',').filter_map(|t| t.parse().ok()) {
                    let token = TokenId(token);
                    self.claim_events.insert(token, now);
                    self.claims.invalidate(&token);
                }
            }
            _ => return,
        }
        if let Ok(sent) = sent.parse::<u64>() {
            let lag = unix_ms().saturating_sub(sent);
            lag_histogram().record(Duration::from_millis(lag).as_secs_f64());
        }
    }

    /// Forgets everything: events may have been missed.
    fn resubscribed(&self) {
        *self.subscribed.write().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.tokens.invalidate_all();
        self.claims.invalidate_all();
    }

    fn unsubscribed(&self) {
        self.heard_at_ms.store(0, Ordering::Release);
    }

    async fn publish_heartbeat(&self) {
        if !self.link.is_up() && self.link.reconnect().await.is_err() {
            return;
        }
        let Ok(mut conn) = self.link.connection() else {
            return;
        };
        let result = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(event(HEARTBEAT, &self.instance))
            .query_async::<()>(&mut conn)
            .await;
        let _ = self.link.checked(result);
    }
}

/// Subscribes, listens and resubscribes for as long as the cache exists.
/// Holds the cache only weakly while it waits, so that it can go away.
async fn subscribe(shared: Weak<Shared>) {
    loop {
        let ended = listen(&shared).await;
        let Some(live) = shared.upgrade() else { return };
        // Only the subscription is lost here; commands tell whether Redis
        // itself is down.
        live.unsubscribed();
        tracing::debug!(error = %ended, "the near cache's subscription ended; resubscribing");
        drop(live);
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}

/// One subscription, until it fails or its heartbeat goes missing.
async fn listen(shared: &Weak<Shared>) -> PortError {
    let stopped = || PortError::unavailable(Lost("the near cache was dropped"));
    let Some(live) = shared.upgrade() else {
        return stopped();
    };
    let (link, channel) = (live.link.clone(), live.channel.clone());
    drop(live);
    let timeout = link.timeout();
    let mut pubsub = match tokio::time::timeout(timeout, link.client().get_async_pubsub()).await {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(err)) => return PortError::unavailable(err),
        Err(elapsed) => return PortError::unavailable(elapsed),
    };
    match tokio::time::timeout(timeout, pubsub.subscribe(&channel)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return PortError::unavailable(err),
        Err(elapsed) => return PortError::unavailable(elapsed),
    }
    if let Err(err) = link.reconnect().await {
        return err;
    }
    match shared.upgrade() {
        Some(live) => live.resubscribed(),
        None => return stopped(),
    }
    let since = Instant::now();
    let mut messages = pubsub.into_on_message();
    let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return PortError::unavailable(Lost("the subscription was closed"));
                };
                let Some(live) = shared.upgrade() else { return stopped() };
                if let Ok(payload) = std::str::from_utf8(message.get_payload_bytes()) {
                    live.apply(payload);
                }
            }
            _ = beat.tick() => {
                let Some(live) = shared.upgrade() else { return stopped() };
                if !live.trusted() && since.elapsed() > LOST_AFTER {
                    return PortError::unavailable(Lost("no heartbeat on the subscription"));
                }
                live.publish_heartbeat().await;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Lost(&'static str);

fn event(kind: &str, body: &str) -> String {
    format!("{kind} {} {body}", unix_ms())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lag_histogram() -> &'static Histogram {
    static LAG: OnceLock<Histogram> = OnceLock::new();
    LAG.get_or_init(|| metrics::histogram!("zenzefi_invalidation_lag_seconds"))
}

/// `zenzefi_cache_lookups_total{cache, result}`, resolved once.
pub(crate) struct Lookups {
    pub hit: Counter,
    pub miss: Counter,
    pub bypass: Counter,
}

impl Lookups {
    fn new(cache: &'static str) -> Self {
        let counter = |result: &'static str| metrics::counter!("zenzefi_cache_lookups_total", "cache" => cache, "result" => result);
        Self {
            hit: counter("hit"),
            miss: counter("miss"),
            bypass: counter("bypass"),
        }
    }

    pub(crate) fn tokens() -> &'static Self {
        static TOKENS: OnceLock<Lookups> = OnceLock::new();
        TOKENS.get_or_init(|| Self::new("token"))
    }

    pub(crate) fn claims() -> &'static Self {
        static CLAIMS: OnceLock<Lookups> = OnceLock::new();
        CLAIMS.get_or_init(|| Self::new("claim"))
    }
}
