//! Whole-table counts for the operators' gauges.

use async_trait::async_trait;
use sea_orm::sea_query::{ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{Counts, StatsStore};

use super::SeaStore;
use crate::entities::{access_tokens, proxy_sessions, users};
use crate::errors::port_error;
use crate::timestamps;

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> StatsStore for SeaStore<C> {
    async fn counts(&self, now: OffsetDateTime) -> Result<Counts, PortError> {
        use access_tokens::Column as Token;

        let backend = self.conn.get_database_backend();
        let active_owners = Query::select()
            .column((users::Entity, users::Column::Id))
            .from(users::Entity)
            .and_where(users::Column::IsActive.eq(true))
            .to_owned();
        let unexpired = Condition::any()
            .add(Token::ActivatedAt.is_null())
            .add(timestamps::column(backend, Token::ExpiresAt).gt(timestamps::value(backend, now)));
        let active_tokens = access_tokens::Entity::find()
            .filter(Token::IsActive.eq(true))
            .filter(Token::RevokedAt.is_null())
            .filter(unexpired)
            .filter(Token::UserId.in_subquery(active_owners))
            .count(&self.conn)
            .await
            .map_err(port_error)?;
        let active_sessions = proxy_sessions::Entity::find()
            .filter(proxy_sessions::Column::IsActive.eq(true))
            .count(&self.conn)
            .await
            .map_err(port_error)?;
        let users = users::Entity::find()
            .count(&self.conn)
            .await
            .map_err(port_error)?;
        Ok(Counts {
            active_tokens,
            active_sessions,
            users,
        })
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use zenzefi_domain::ports::{SessionStore, TokenStore, UserStore};
    use zenzefi_domain::proxy::DeviceId;
    use zenzefi_domain::session::{ProxySession, SessionId};
    use zenzefi_domain::token::AccessToken;
    use zenzefi_domain::user::User;
    use zenzefi_testkit::fixtures::{token, user};

    use super::*;
    use crate::testing::TestDatabase;

    /// Whole seconds: both backends store them exactly.
    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
    }

    fn session(token: &AccessToken, at: OffsetDateTime, is_active: bool) -> ProxySession {
        ProxySession {
            id: SessionId::generate(),
            user_id: token.user_id,
            token_id: token.id,
            device_id: DeviceId::parse("device-0001").unwrap(),
            ip: "203.0.113.7".parse().unwrap(),
            user_agent: None,
            started_at: at,
            last_activity: at,
            ended_at: (!is_active).then_some(at),
            end_reason: None,
            bytes_transferred: 0,
            request_count: 0,
            is_active,
        }
    }

    async fn counts_cover_usable_tokens_of_active_owners_open_sessions_and_every_user(
        test_db: &TestDatabase,
    ) {
        let db = test_db.db();
        let t0 = t0();
        let ann = user("ann", t0);
        let bob = User {
            is_active: false,
            ..user("bob", t0)
        };
        db.insert_user(&ann).await.unwrap();
        db.insert_user(&bob).await.unwrap();

        let fresh = token(ann.id, 1, t0);
        let running = token(ann.id, 2, t0);
        let expired = token(ann.id, 3, t0 - Duration::hours(48));
        let revoked = token(ann.id, 4, t0);
        let of_inactive_owner = token(bob.id, 5, t0);
        for t in [&fresh, &running, &expired, &revoked, &of_inactive_owner] {
            db.insert_token(t).await.unwrap();
        }
        db.activate_token(running.id, t0).await.unwrap();
        db.activate_token(expired.id, t0 - Duration::hours(30))
            .await
            .unwrap();
        db.revoke_token(revoked.id, t0).await.unwrap();
        db.insert_session(&session(&running, t0, true))
            .await
            .unwrap();
        db.insert_session(&session(&fresh, t0, false))
            .await
            .unwrap();

        let counts = db.counts(t0 + Duration::hours(1)).await.unwrap();
        assert_eq!(
            counts,
            Counts {
                active_tokens: 2,
                active_sessions: 1,
                users: 2,
            }
        );
        // `running` (24 h from t0) has expired by then; `fresh` never started.
        let later = db.counts(t0 + Duration::hours(25)).await.unwrap();
        assert_eq!(later.active_tokens, 1);
    }

    #[tokio::test]
    async fn counts_on_sqlite() {
        counts_cover_usable_tokens_of_active_owners_open_sessions_and_every_user(
            &TestDatabase::sqlite().await,
        )
        .await;
    }

    #[tokio::test]
    async fn counts_on_postgres() {
        let Some(test_db) = TestDatabase::postgres().await else {
            return;
        };
        counts_cover_usable_tokens_of_active_owners_open_sessions_and_every_user(&test_db).await;
    }
}
