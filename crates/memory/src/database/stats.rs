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

#[cfg(test)]
mod tests {
    use time::Duration;
    use zenzefi_domain::ports::{SessionStore, TokenStore, UserStore};
    use zenzefi_domain::proxy::DeviceId;
    use zenzefi_domain::session::{ProxySession, SessionId};
    use zenzefi_domain::user::User;
    use zenzefi_testkit::fixtures::{token, user};

    use super::*;
    use crate::database::InMemoryDatabase;
    use crate::database::fixtures::T0;

    fn session(token: &AccessToken, is_active: bool) -> ProxySession {
        ProxySession {
            id: SessionId::generate(),
            user_id: token.user_id,
            token_id: token.id,
            device_id: DeviceId::parse("device-0001").unwrap(),
            ip: "203.0.113.7".parse().unwrap(),
            user_agent: None,
            started_at: T0,
            last_activity: T0,
            ended_at: (!is_active).then_some(T0),
            end_reason: None,
            bytes_transferred: 0,
            request_count: 0,
            is_active,
        }
    }

    #[tokio::test]
    async fn counts_cover_usable_tokens_of_active_owners_open_sessions_and_every_user() {
        let db = InMemoryDatabase::default();
        let ann = user("ann", T0);
        let bob = User {
            is_active: false,
            ..user("bob", T0)
        };
        db.insert_user(&ann).await.unwrap();
        db.insert_user(&bob).await.unwrap();

        let fresh = token(ann.id, 1, T0);
        let running = token(ann.id, 2, T0);
        let expired = token(ann.id, 3, T0 - Duration::hours(48));
        let revoked = token(ann.id, 4, T0);
        let of_inactive_owner = token(bob.id, 5, T0);
        for t in [&fresh, &running, &expired, &revoked, &of_inactive_owner] {
            db.insert_token(t).await.unwrap();
        }
        db.activate_token(running.id, T0).await.unwrap();
        db.activate_token(expired.id, T0 - Duration::hours(30))
            .await
            .unwrap();
        db.revoke_token(revoked.id, T0).await.unwrap();
        db.insert_session(&session(&running, true)).await.unwrap();
        db.insert_session(&session(&fresh, false)).await.unwrap();

        let counts = db.counts(T0 + Duration::hours(1)).await.unwrap();
        assert_eq!(
            counts,
            Counts {
                active_tokens: 2,
                active_sessions: 1,
                users: 2,
            }
        );
        // `running` (24 h from T0) has expired by then; `fresh` never started.
        let later = db.counts(T0 + Duration::hours(25)).await.unwrap();
        assert_eq!(later.active_tokens, 1);
    }
}
