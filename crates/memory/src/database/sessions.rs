//! Proxy sessions: at most one live session per token (the SQL stores'
//! partial unique index), ended once, and counters added by flushes.

use async_trait::async_trait;
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::{InsertSessionError, SessionStore};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::{EndReason, ProxySession, SessionActivity, SessionId};
use zenzefi_domain::token::TokenId;
use zenzefi_domain::user::UserId;

use super::{Access, MemStore, State, newest_first};

impl State {
    fn insert_session(&mut self, session: &ProxySession) -> Result<(), InsertSessionError> {
        if self.sessions.contains_key(&session.id) {
            return Err(PortError::unexpected("duplicate session id").into());
        }
        if session.is_active && self.live_session_of_token(session.token_id).is_some() {
            return Err(InsertSessionError::LiveSessionExists);
        }
        self.sessions.insert(session.id, session.clone());
        Ok(())
    }

    fn live_session_of_token(&self, token: TokenId) -> Option<&ProxySession> {
        self.sessions
            .values()
            .find(|s| s.token_id == token && s.is_active)
    }

    fn sessions_of_user(&self, user: UserId, page: Page) -> Paged<ProxySession> {
        let mut sessions: Vec<ProxySession> = self
            .sessions
            .values()
            .filter(|s| s.user_id == user)
            .cloned()
            .collect();
        newest_first(&mut sessions, |s| (s.started_at, s.id.0));
        let total = sessions.len() as u64;
        let items = sessions
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .collect();
        Paged::exact(items, total)
    }

    fn end_session(&mut self, id: SessionId, reason: EndReason, now: OffsetDateTime) -> bool {
        match self.sessions.get_mut(&id) {
            Some(session) if session.is_active => {
                end(session, reason, now);
                true
            }
            _ => false,
        }
    }

    fn end_live_session_of_token(
        &mut self,
        token: TokenId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Option<SessionId> {
        let session = self
            .sessions
            .values_mut()
            .find(|s| s.token_id == token && s.is_active)?;
        end(session, reason, now);
        Some(session.id)
    }

    fn end_replaceable_session(
        &mut self,
        token: TokenId,
        device: &DeviceId,
        idle_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Option<SessionId> {
        let session = self.sessions.values_mut().find(|s| {
            s.token_id == token
                && s.is_active
                && (s.device_id == *device || s.last_activity < idle_since)
        })?;
        end(session, EndReason::Replaced, now);
        Some(session.id)
    }

    fn end_live_sessions_of_user(
        &mut self,
        user: UserId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Vec<(TokenId, SessionId)> {
        self.sessions
            .values_mut()
            .filter(|s| s.user_id == user && s.is_active)
            .map(|session| {
                end(session, reason, now);
                (session.token_id, session.id)
            })
            .collect()
    }

    /// The SQL stores' three UPDATEs in one pass, with the same precedence:
    /// revoked, then expired, then idle. A session whose token is missing
    /// can only end as idle.
    fn end_stale_sessions(&mut self, idle_since: OffsetDateTime, now: OffsetDateTime) -> u64 {
        let mut ended = 0;
        for session in self.sessions.values_mut().filter(|s| s.is_active) {
            let token = self.tokens.get(&session.token_id);
            let reason = if token.is_some_and(|t| t.is_revoked()) {
                EndReason::Revoked
            } else if token.is_some_and(|t| t.is_expired(now)) {
                EndReason::Expired
            } else if session.last_activity < idle_since {
                EndReason::Idle
            } else {
                continue;
            };
            end(session, reason, now);
            ended += 1;
        }
        ended
    }

    fn record_activity(&mut self, batch: &[SessionActivity]) {
        for activity in batch {
            if let Some(session) = self.sessions.get_mut(&activity.session_id) {
                session.request_count = session.request_count.saturating_add(activity.requests);
                session.bytes_transferred =
                    session.bytes_transferred.saturating_add(activity.bytes);
                session.last_activity = session.last_activity.max(activity.last_activity);
                session.ip = activity.ip;
                session.user_agent.clone_from(&activity.user_agent);
            }
            if self.tokens.contains_key(&activity.token_id) {
                let used = self
                    .tokens_last_used
                    .entry(activity.token_id)
                    .or_insert(activity.last_activity);
                *used = (*used).max(activity.last_activity);
            }
        }
    }
}

fn end(session: &mut ProxySession, reason: EndReason, now: OffsetDateTime) {
    session.is_active = false;
    session.ended_at = Some(now);
    session.end_reason = Some(reason);
}

#[async_trait]
impl<A: Access> SessionStore for MemStore<A> {
    async fn insert_session(&self, session: &ProxySession) -> Result<(), InsertSessionError> {
        self.0.with(|s| s.insert_session(session)).await
    }

    async fn session_by_id(&self, id: SessionId) -> Result<Option<ProxySession>, PortError> {
        Ok(self.0.with(|s| s.sessions.get(&id).cloned()).await)
    }

    async fn live_session_of_token(
        &self,
        token: TokenId,
    ) -> Result<Option<ProxySession>, PortError> {
        Ok(self
            .0
            .with(|s| s.live_session_of_token(token).cloned())
            .await)
    }

    async fn sessions_of_user(
        &self,
        user: UserId,
        page: Page,
    ) -> Result<Paged<ProxySession>, PortError> {
        Ok(self.0.with(|s| s.sessions_of_user(user, page)).await)
    }

    async fn end_session(
        &self,
        id: SessionId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<bool, PortError> {
        Ok(self.0.with(|s| s.end_session(id, reason, now)).await)
    }

    async fn end_live_session_of_token(
        &self,
        token: TokenId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<Option<SessionId>, PortError> {
        Ok(self
            .0
            .with(|s| s.end_live_session_of_token(token, reason, now))
            .await)
    }

    async fn end_replaceable_session(
        &self,
        token: TokenId,
        device: &DeviceId,
        idle_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<SessionId>, PortError> {
        Ok(self
            .0
            .with(|s| s.end_replaceable_session(token, device, idle_since, now))
            .await)
    }

    async fn end_live_sessions_of_user(
        &self,
        user: UserId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<Vec<(TokenId, SessionId)>, PortError> {
        Ok(self
            .0
            .with(|s| s.end_live_sessions_of_user(user, reason, now))
            .await)
    }

    async fn end_stale_sessions(
        &self,
        idle_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<u64, PortError> {
        Ok(self.0.with(|s| s.end_stale_sessions(idle_since, now)).await)
    }

    async fn record_activity(&self, batch: &[SessionActivity]) -> Result<(), PortError> {
        self.0.with(|s| s.record_activity(batch)).await;
        Ok(())
    }
}
