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
