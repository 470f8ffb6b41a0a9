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
        Paged { items, total }
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

#[cfg(test)]
mod tests {
    use time::Duration;
    use zenzefi_domain::ports::{Database, TokenStore};
    use zenzefi_domain::token::AccessToken;
    use zenzefi_testkit::fixtures::{ended, session, token};

    use super::*;
    use crate::database::InMemoryDatabase;
    use crate::database::fixtures::{T0, user_with_balance};

    async fn stored_token(db: &InMemoryDatabase, seed: u8) -> AccessToken {
        let user = user_with_balance(db, 0).await;
        let stored = token(user, seed, T0);
        db.insert_token(&stored).await.unwrap();
        stored
    }

    fn activity(session: &ProxySession, requests: u64, at: OffsetDateTime) -> SessionActivity {
        SessionActivity {
            session_id: session.id,
            token_id: session.token_id,
            requests,
            bytes: requests * 100,
            last_activity: at,
            ip: "2001:db8::1".parse().unwrap(),
            user_agent: None,
        }
    }

    async fn last_used(db: &InMemoryDatabase, token: TokenId) -> Option<OffsetDateTime> {
        db.0.with(|s| s.tokens_last_used.get(&token).copied()).await
    }

    #[tokio::test]
    async fn a_token_has_one_live_session_until_it_ends() {
        let db = InMemoryDatabase::default();
        let token = stored_token(&db, 1).await;
        let first = session(&token, "device-0001", T0);
        let second = session(&token, "device-0002", T0);
        db.insert_session(&first).await.unwrap();
        assert_eq!(
            db.session_by_id(first.id).await.unwrap(),
            Some(first.clone())
        );

        let err = db.insert_session(&second).await.unwrap_err();
        assert!(
            matches!(err, InsertSessionError::LiveSessionExists),
            "{err:?}"
        );
        let at = T0 + Duration::minutes(1);
        assert!(
            db.end_session(first.id, EndReason::Terminated, at)
                .await
                .unwrap()
        );
        assert!(!db.end_session(first.id, EndReason::Idle, at).await.unwrap());
        assert_eq!(
            db.session_by_id(first.id).await.unwrap(),
            Some(ended(&first, EndReason::Terminated, at))
        );
        db.insert_session(&second).await.unwrap();
        let live = db.live_session_of_token(token.id).await.unwrap();
        assert_eq!(live, Some(second));
    }

    #[tokio::test]
    async fn a_session_id_is_stored_once() {
        let db = InMemoryDatabase::default();
        let token = stored_token(&db, 1).await;
        let first = ended(&session(&token, "device-0001", T0), EndReason::Idle, T0);
        db.insert_session(&first).await.unwrap();
        let err = db.insert_session(&first).await.unwrap_err();
        assert!(matches!(err, InsertSessionError::Port(_)), "{err:?}");
    }

    #[tokio::test]
    async fn ending_the_live_session_of_a_token_returns_its_id_once() {
        let db = InMemoryDatabase::default();
        let token = stored_token(&db, 1).await;
        let at = T0 + Duration::minutes(1);
        let end = || db.end_live_session_of_token(token.id, EndReason::Replaced, at);
        assert_eq!(end().await.unwrap(), None);
        let live = session(&token, "device-0001", T0);
        db.insert_session(&live).await.unwrap();
        assert_eq!(end().await.unwrap(), Some(live.id));
        assert_eq!(end().await.unwrap(), None);
        assert_eq!(
            db.session_by_id(live.id).await.unwrap(),
            Some(ended(&live, EndReason::Replaced, at))
        );
    }

    #[tokio::test]
    async fn stale_sessions_end_as_revoked_expired_or_idle_and_fresh_ones_stay() {
        let db = InMemoryDatabase::default();
        let now = T0 + Duration::hours(30);
        let idle_since = now - Duration::minutes(5);
        let fresh = stored_token(&db, 1).await;
        let idle = stored_token(&db, 2).await;
        let expired = stored_token(&db, 3).await;
        let revoked = stored_token(&db, 4).await;
        db.activate_token(expired.id, T0).await.unwrap();
        db.revoke_token(revoked.id, now).await.unwrap();
        let s_fresh = ProxySession {
            last_activity: idle_since,
            ..session(&fresh, "device-0001", T0)
        };
        let s_idle = ProxySession {
            last_activity: idle_since - Duration::milliseconds(1),
            ..session(&idle, "device-0001", T0)
        };
        let s_expired = ProxySession {
            last_activity: now,
            ..session(&expired, "device-0001", T0)
        };
        // Idle too, but revocation is the more telling reason.
        let s_revoked = session(&revoked, "device-0001", T0);
        for s in [&s_fresh, &s_idle, &s_expired, &s_revoked] {
            db.insert_session(s).await.unwrap();
        }

        assert_eq!(db.end_stale_sessions(idle_since, now).await.unwrap(), 3);
        for (s, expected) in [
            (&s_fresh, s_fresh.clone()),
            (&s_idle, ended(&s_idle, EndReason::Idle, now)),
            (&s_expired, ended(&s_expired, EndReason::Expired, now)),
            (&s_revoked, ended(&s_revoked, EndReason::Revoked, now)),
        ] {
            assert_eq!(db.session_by_id(s.id).await.unwrap(), Some(expected));
        }
        assert_eq!(db.end_stale_sessions(idle_since, now).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn activity_adds_up_moves_times_forward_only_and_counts_into_ended_sessions() {
        let db = InMemoryDatabase::default();
        let token = stored_token(&db, 1).await;
        let other = stored_token(&db, 2).await;
        let live = session(&token, "device-0001", T0);
        let gone = ended(&session(&other, "device-0002", T0), EndReason::Idle, T0);
        db.insert_session(&live).await.unwrap();
        db.insert_session(&gone).await.unwrap();
        let at = |seconds| T0 + Duration::seconds(seconds);

        db.record_activity(&[activity(&live, 2, at(10)), activity(&gone, 1, at(5))])
            .await
            .unwrap();
        db.record_activity(&[activity(&live, 3, at(7))])
            .await
            .unwrap();

        let stored = db.session_by_id(live.id).await.unwrap().unwrap();
        assert_eq!(
            stored,
            ProxySession {
                request_count: 5,
                bytes_transferred: 500,
                last_activity: at(10),
                ip: "2001:db8::1".parse().unwrap(),
                user_agent: None,
                ..live
            }
        );
        let stored = db.session_by_id(gone.id).await.unwrap().unwrap();
        assert_eq!((stored.request_count, stored.is_active), (1, false));
        assert_eq!(last_used(&db, token.id).await, Some(at(10)));
        assert_eq!(last_used(&db, other.id).await, Some(at(5)));
    }

    #[tokio::test]
    async fn a_users_sessions_are_newest_first_and_paged() {
        let db = InMemoryDatabase::default();
        let token = stored_token(&db, 1).await;
        let at = |minutes| T0 + Duration::minutes(minutes);
        let past = |minutes| {
            let s = session(&token, "device-0001", at(minutes));
            ended(&s, EndReason::Idle, at(minutes))
        };
        let rows = [
            past(2),
            past(0),
            session(&token, "device-0001", at(3)),
            past(1),
        ];
        for row in &rows {
            db.insert_session(row).await.unwrap();
        }
        let someone_else = stored_token(&db, 2).await;
        db.insert_session(&session(&someone_else, "device-0009", at(4)))
            .await
            .unwrap();

        let ids = |paged: Paged<ProxySession>| paged.items.iter().map(|s| s.id).collect::<Vec<_>>();
        let all = db
            .sessions_of_user(token.user_id, Page::default())
            .await
            .unwrap();
        assert_eq!(all.total, 4);
        assert_eq!(ids(all), [rows[2].id, rows[0].id, rows[3].id, rows[1].id]);
        let page = Page {
            limit: 2,
            offset: 1,
        };
        let window = db.sessions_of_user(token.user_id, page).await.unwrap();
        assert_eq!(
            (window.total, ids(window)),
            (4, vec![rows[0].id, rows[3].id])
        );
    }

    #[tokio::test]
    async fn a_session_opened_in_an_uncommitted_unit_of_work_is_rolled_back() {
        let db = InMemoryDatabase::default();
        let token = stored_token(&db, 1).await;
        let live = session(&token, "device-0001", T0);
        let uow = db.begin().await.unwrap();
        uow.insert_session(&live).await.unwrap();
        drop(uow);
        assert_eq!(db.live_session_of_token(token.id).await.unwrap(), None);
    }
}
