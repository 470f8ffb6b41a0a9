//! In-flight proxied requests, counted in process (no I/O) per token and
//! per instance, and cut when their token stops being valid: a watcher
//! re-checks the tokens that have requests in flight a few times a second
//! through the token service, whose near cache hears revocations and
//! deactivations pushed from every instance, so a revoked token's downloads
//! end within a second without any per-request I/O.

use foldhash::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use zenzefi_domain::admission::{ProxyAdmission, Refusal};
use zenzefi_domain::token::{AccessToken, TokenHash, TokenId};

/// How often the tokens with requests in flight are re-checked.
const RECHECK_EVERY: Duration = Duration::from_millis(250);

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The token has `proxy.max_in_flight_per_token` requests in flight.
    Token,
    /// The instance has `proxy.max_in_flight` requests in flight.
    Instance,
}

pub struct InFlight {
    per_token: usize,
    per_instance: usize,
    total: AtomicUsize,
    next_id: AtomicU64,
    tokens: Mutex<HashMap<TokenId, TokenFlights>>,
}

struct TokenFlights {
    hash: TokenHash,
    flights: HashMap<u64, Arc<Flight>>,
}

/// One request's cut-off switch.
#[derive(Default)]
pub struct Flight {
    cut: AtomicBool,
    waker: AtomicWaker,
}

impl Flight {
    /// Ready once the request's token was found invalid.
    pub fn poll_cut(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.waker.register(cx.waker());
        if self.cut.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// A request's place among those in flight, given back when dropped (the
/// response body ended, failed or was abandoned).
pub struct FlightGuard {
    registry: Arc<InFlight>,
    token: TokenId,
    id: u64,
    flight: Arc<Flight>,
}

impl FlightGuard {
    pub fn flight(&self) -> &Flight {
        &self.flight
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.registry.leave(self.token, self.id);
    }
}

impl InFlight {
    pub fn new(per_token: usize, per_instance: usize) -> Arc<Self> {
        Arc::new(Self {
            per_token,
            per_instance,
            total: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            tokens: Mutex::default(),
        })
    }

    /// Lets a request of `token` in, unless a cap is reached.
    pub fn enter(self: &Arc<Self>, token: &AccessToken) -> Result<FlightGuard, Full> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.per_instance {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Full::Instance);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let flight = Arc::new(Flight::default());
        {
            let mut tokens = self.lock();
            let entry = tokens.entry(token.id).or_insert_with(|| TokenFlights {
                hash: token.token_hash.clone(),
                flights: HashMap::default(),
            });
            if entry.flights.len() >= self.per_token {
                drop(tokens);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(Full::Token);
            }
            entry.flights.insert(id, flight.clone());
        }
        Ok(FlightGuard {
            registry: self.clone(),
            token: token.id,
            id,
            flight,
        })
    }

    fn leave(&self, token: TokenId, id: u64) {
        let mut tokens = self.lock();
        if let Some(entry) = tokens.get_mut(&token) {
            entry.flights.remove(&id);
            if entry.flights.is_empty() {
                tokens.remove(&token);
            }
        }
        drop(tokens);
        self.total.fetch_sub(1, Ordering::AcqRel);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenId, TokenFlights>> {
        // The map stays consistent across a panic: every change is one call.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cuts every request in flight of the tokens the admission no longer
    /// accepts. A token whose state cannot be read keeps its requests.
    pub async fn recheck(&self, admission: &ProxyAdmission) {
        let held: Vec<(TokenId, TokenHash)> = self
            .lock()
            .iter()
            .map(|(id, entry)| (*id, entry.hash.clone()))
            .collect();
        for (id, hash) in held {
            match admission.recheck(&hash).await {
                Err(Refusal::Port(err)) => {
                    tracing::debug!(error = %err, "could not re-check a token in flight");
                }
                Err(_) => self.cut(id),
                Ok(()) => {}
            }
        }
    }

    fn cut(&self, token: TokenId) {
        if let Some(entry) = self.lock().get(&token) {
            for flight in entry.flights.values() {
                flight.cut();
            }
        }
    }

    /// Re-checks a few times a second until the task is aborted.
    pub fn spawn_watch(
        self: Arc<Self>,
        admission: Arc<ProxyAdmission>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RECHECK_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                self.recheck(&admission).await;
            }
        })
    }
}
