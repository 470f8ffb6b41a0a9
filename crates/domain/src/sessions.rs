//! The session tracker. A request's device claims
//! its token's session slot through [`SessionClaims`] (one atomic call,
//! shared by every instance); only opening and closing a session touch the
//! database at once. Counters gather in memory and reach the database in
//! one batch per flush interval.

use foldhash::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::audit::{AuditAction, AuditEntry, ResourceType};
use crate::context::RequestContext;
use crate::error::PortError;
use crate::page::{Page, Paged};
use crate::ports::{
    AdmitError, AuditStore, Claim, Clock, InsertSessionError, ProxyExchange, SessionClaims,
    SessionStore, SessionTracker, Transactions,
};
use crate::session::{EndReason, ProxySession, SessionActivity, SessionId};
use crate::token::TokenId;
use crate::user::UserId;

#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session with no request for this long is no longer live.
    pub idle_timeout: Duration,
    /// How often a held claim is renewed in the shared claim store (an
    /// adapter with a local view renews at most this often).
    pub claim_renew: Duration,
}

impl SessionPolicy {
    /// A claim's lease: the idle timeout counted from the last request,
    /// which may come up to one renewal interval after the last renewal.
    fn lease(&self) -> Duration {
        self.idle_timeout + self.claim_renew
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TerminateError {
    #[error("no such session")]
    NotFound,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What the session use-cases need of the database: units of work, and the
/// stores they call outside one.
pub trait SessionsDb: Transactions + SessionStore + AuditStore {}

impl<T: Transactions + SessionStore + AuditStore> SessionsDb for T {}

pub struct SessionService {
    db: Arc<dyn SessionsDb>,
    claims: Arc<dyn SessionClaims>,
    clock: Arc<dyn Clock>,
    policy: SessionPolicy,
    pending: Mutex<HashMap<SessionId, SessionActivity>>,
}

/// What a session records when the transport knows no address.
const UNKNOWN_IP: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl SessionService {
    pub fn new(
        db: Arc<dyn SessionsDb>,
        claims: Arc<dyn SessionClaims>,
        clock: Arc<dyn Clock>,
        policy: SessionPolicy,
    ) -> Self {
        Self {
            db,
            claims,
            clock,
            policy,
            pending: Mutex::default(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, SessionActivity>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the session `id` for a device that just won the token's slot,
    /// closing a predecessor that went idle. The database's one-live-session
    /// constraint is the backstop should the claim store ever disagree.
    async fn open(&self, exchange: &ProxyExchange, id: SessionId) -> Result<SessionId, AdmitError> {
        let now = self.clock.now();
        let session = ProxySession {
            id,
            user_id: exchange.user_id,
            token_id: exchange.token_id,
            device_id: exchange.device_id.clone(),
            ip: exchange.ip.unwrap_or(UNKNOWN_IP),
            user_agent: exchange.user_agent.clone(),
            started_at: now,
            last_activity: now,
            ended_at: None,
            end_reason: None,
            bytes_transferred: 0,
            request_count: 0,
            is_active: true,
        };
        let uow = self.db.begin().await?;
        uow.end_replaceable_session(
            exchange.token_id,
            &exchange.device_id,
            self.idle_since(now)?,
            now,
        )
        .await?;
        match uow.insert_session(&session).await {
            Ok(()) => {}
            Err(InsertSessionError::LiveSessionExists) => return Err(AdmitError::DeviceConflict),
            Err(InsertSessionError::Port(e)) => return Err(e.into()),
        }
        uow.commit().await?;
        Ok(id)
    }

    /// Admission while the claim store is unreachable: the database alone
    /// decides, its one-live-session index settling any race.
    async fn admit_by_database(
        &self,
        exchange: &ProxyExchange,
        candidate: SessionId,
    ) -> Result<SessionId, AdmitError> {
        let now = self.clock.now();
        let live = self.db.live_session_of_token(exchange.token_id).await?;
        let session = match live {
            Some(live) if live.device_id == exchange.device_id => live.id,
            Some(live) if live.last_activity >= self.idle_since(now)? => {
                self.record_conflict(exchange, live.id).await?;
                return Err(AdmitError::DeviceConflict);
            }
            _ => self.open(exchange, candidate).await?,
        };
        self.claims
            .remember(exchange.token_id, &exchange.device_id, session);
        Ok(session)
    }

    fn idle_since(&self, now: time::OffsetDateTime) -> Result<time::OffsetDateTime, PortError> {
        let idle =
            time::Duration::try_from(self.policy.idle_timeout).map_err(PortError::unexpected)?;
        Ok(now - idle)
    }

    /// Records who collided with whom: both devices, addresses and agents.
    async fn record_conflict(
        &self,
        exchange: &ProxyExchange,
        holder: SessionId,
    ) -> Result<(), PortError> {
        let held = self.db.session_by_id(holder).await?;
        let ctx = RequestContext {
            ip: exchange.ip,
            user_agent: exchange.user_agent.clone(),
            request_id: None,
        };
        let entry = AuditEntry::new(
            AuditAction::SessionDeviceConflict,
            ResourceType::ProxySession,
            Some(holder.0),
            Some(exchange.user_id),
            json!({
                "token_id": exchange.token_id.0,
                "holder": held.map(|s| json!({
                    "device_id": s.device_id.as_str(),
                    "ip": s.ip.to_string(),
                    "user_agent": s.user_agent,
                })),
                "challenger": {
                    "device_id": exchange.device_id.as_str(),
                    "ip": exchange.ip.map(|ip| ip.to_string()),
                    "user_agent": exchange.user_agent,
                },
            }),
            &ctx,
            self.clock.now(),
        );
        self.db.append_audit(&entry).await
    }

    /// Writes the gathered counters in one batch. On failure they are kept
    /// for the next flush, so a database outage loses nothing.
    pub async fn flush(&self) -> Result<usize, PortError> {
        self.flush_into(self.db.as_ref()).await
    }

    /// [`SessionService::flush`] through another handle on the same
    /// database, e.g. the flusher's own pool.
    pub async fn flush_into(&self, db: &dyn SessionStore) -> Result<usize, PortError> {
        let mut batch = TakenBatch {
            service: self,
            batch: self.pending().drain().map(|(_, a)| a).collect(),
        };
        if batch.batch.is_empty() {
            return Ok(0);
        }
        db.record_activity(&batch.batch).await?;
        Ok(std::mem::take(&mut batch.batch).len())
    }

    /// What waits for the next flush, summed: reported as lost when a stop
    /// cannot write it.
    pub fn unwritten(&self) -> Unwritten {
        self.pending()
            .values()
            .fold(Unwritten::default(), |sum, a| Unwritten {
                sessions: sum.sessions + 1,
                requests: sum.requests + a.requests,
                bytes: sum.bytes + a.bytes,
            })
    }

    pub async fn sessions_of(
        &self,
        user: UserId,
        page: Page,
    ) -> Result<Paged<ProxySession>, PortError> {
        self.db.sessions_of_user(user, page).await
    }

    /// Ends one of the user's own sessions and frees its token's slot, so
    /// that another device can take over at once.
    pub async fn terminate_own(&self, user: UserId, id: SessionId) -> Result<(), TerminateError> {
        let uow = self.db.begin().await?;
        let session = match uow.session_by_id(id).await? {
            Some(session) if session.user_id == user => session,
            _ => return Err(TerminateError::NotFound),
        };
        uow.end_session(session.id, EndReason::Terminated, self.clock.now())
            .await?;
        // Freeing the slot is the point, so it happens before the commit:
        // if the claim store cannot be told, nothing changes.
        self.claims.release(session.token_id, session.id).await?;
        uow.commit().await?;
        Ok(())
    }

    /// Closes sessions idle for longer than the timeout and those whose
    /// token expired or was revoked. The worker's `session_cleanup`.
    pub async fn close_stale(&self) -> Result<u64, PortError> {
        let now = self.clock.now();
        self.db.end_stale_sessions(self.idle_since(now)?, now).await
    }
}

/// Frees a slot after the change that ended its session was committed.
/// That change stands either way, and an unreleased slot only expires with
/// its lease later, so a failure is logged rather than failing the caller.
pub(crate) async fn release_after_commit(
    claims: &dyn SessionClaims,
    token: TokenId,
    session: SessionId,
) {
    if let Err(err) = claims.release(token, session).await {
        tracing::warn!(error = %err, %token, "could not free a session claim; it expires with its lease");
    }
}

/// Totals of counters not yet in the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unwritten {
    pub sessions: u64,
    pub requests: u64,
    pub bytes: u64,
}

/// A batch taken out of `pending` for one write. Unless the write succeeded
/// it goes back, also when the flush is dropped mid-write (a failed or
/// cancelled flush loses nothing).
struct TakenBatch<'a> {
    service: &'a SessionService,
    batch: Vec<SessionActivity>,
}

impl Drop for TakenBatch<'_> {
    fn drop(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut pending = self.service.pending();
        for activity in self.batch.drain(..) {
            merge(&mut pending, activity);
        }
    }
}

fn merge(pending: &mut HashMap<SessionId, SessionActivity>, activity: SessionActivity) {
    match pending.get_mut(&activity.session_id) {
        Some(known) => {
            known.requests += activity.requests;
            known.bytes += activity.bytes;
            if activity.last_activity > known.last_activity {
                known.last_activity = activity.last_activity;
                known.ip = activity.ip;
                known.user_agent = activity.user_agent;
            }
        }
        None => {
            pending.insert(activity.session_id, activity);
        }
    }
}

#[async_trait]
impl SessionTracker for SessionService {
    async fn admit(&self, exchange: &ProxyExchange) -> Result<SessionId, AdmitError> {
        let candidate = SessionId::generate();
        let claim = self
            .claims
            .claim(
                exchange.token_id,
                &exchange.device_id,
                candidate,
                self.policy.lease(),
            )
            .await;
        match claim {
            Err(PortError::Unavailable(_)) => self.admit_by_database(exchange, candidate).await,
            Err(err) => Err(err.into()),
            Ok(Claim::Held(session)) => Ok(session),
            Ok(Claim::Won) => {
                let opened = self.open(exchange, candidate).await;
                if opened.is_err() {
                    // Leave the slot to whoever can open a session.
                    release_after_commit(self.claims.as_ref(), exchange.token_id, candidate).await;
                }
                opened
            }
            Ok(Claim::Taken { session, .. }) => {
                self.record_conflict(exchange, session).await?;
                Err(AdmitError::DeviceConflict)
            }
        }
    }

    fn finished(&self, exchange: &ProxyExchange, session: SessionId, bytes: u64) {
        let activity = SessionActivity {
            session_id: session,
            token_id: exchange.token_id,
            requests: 1,
            bytes,
            last_activity: self.clock.now(),
            ip: exchange.ip.unwrap_or(UNKNOWN_IP),
            user_agent: exchange.user_agent.clone(),
        };
        merge(&mut self.pending(), activity);
    }
}
