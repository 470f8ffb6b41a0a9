//! Access tokens (`access_tokens`): stored by the hash of their secret.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Func, Order};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QueryTrait,
};
use time::OffsetDateTime;
use zenzefi_domain::ports::TokenStore;
use zenzefi_domain::token::{AccessToken, Scope, TokenHash, TokenId};
use zenzefi_domain::user::UserId;
use zenzefi_domain::{Money, PortError};

use super::SeaStore;
use crate::entities::access_tokens::{self, Column, Entity};
use crate::errors::{corrupt_row, port_error};
use crate::timestamps;

pub(super) fn to_domain(row: access_tokens::Model) -> Result<AccessToken, PortError> {
    let corrupt = |column: &str, value: &dyn std::fmt::Debug| {
        corrupt_row("access_tokens", format!("{column} {value:?}"))
    };
    Ok(AccessToken {
        id: TokenId(row.id),
        user_id: UserId(row.user_id),
        token_hash: TokenHash::from_stored(row.token_hash),
        token_prefix: row.token_prefix,
        duration_hours: u32::try_from(row.duration_hours)
            .map_err(|_| corrupt("duration_hours", &row.duration_hours))?,
        scope: Scope::parse(&row.scope).ok_or_else(|| corrupt("scope", &row.scope))?,
        cost: Money::from_cents(row.cost_cents),
        created_at: row.created_at,
        activated_at: row.activated_at,
        is_active: row.is_active,
        revoked_at: row.revoked_at,
        rate_limit_per_minute: row
            .rate_limit_per_minute
            .map(|n| u32::try_from(n).map_err(|_| corrupt("rate_limit_per_minute", &n)))
            .transpose()?,
    })
}

/// A per-token limit as its `INTEGER` column.
fn stored_rate_limit(per_minute: Option<u32>) -> Result<Option<i32>, PortError> {
    per_minute
        .map(|n| i32::try_from(n).map_err(PortError::unexpected))
        .transpose()
}

/// `token_hash` is `CHAR(64)`. Compared with a text parameter, PostgreSQL
/// casts the column to text and no longer uses the unique index, so the
/// parameter is cast instead (SQLite has no such type and needs no cast).
fn hash_value(backend: DbBackend, hash: &TokenHash) -> Expr {
    let text = Expr::val(hash.as_str());
    match backend {
        DbBackend::Postgres => Func::cast_as(text, "bpchar").into(),
        _ => text,
    }
}

/// Tokens neither revoked nor expired at `at`.
pub(super) fn usable_at(backend: DbBackend, at: OffsetDateTime) -> Condition {
    let unexpired = Condition::any().add(Column::ActivatedAt.is_null()).add(
        timestamps::column(backend, (Entity, Column::ExpiresAt)).gt(timestamps::value(backend, at)),
    );
    Condition::all()
        .add(Column::IsActive.eq(true))
        .add(Column::RevokedAt.is_null())
        .add(unexpired)
}

impl<C: ConnectionTrait> SeaStore<C> {
    async fn token_where(&self, condition: Condition) -> Result<Option<AccessToken>, PortError> {
        let row = Entity::find()
            .filter(condition)
            .one(&self.conn)
            .await
            .map_err(port_error)?;
        row.map(to_domain).transpose()
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> TokenStore for SeaStore<C> {
    async fn insert_token(&self, token: &AccessToken) -> Result<(), PortError> {
        let duration_hours = i32::try_from(token.duration_hours).map_err(PortError::unexpected)?;
        let row = access_tokens::ActiveModel {
            id: Set(token.id.0),
            user_id: Set(token.user_id.0),
            token_hash: Set(token.token_hash.as_str().to_owned()),
            token_prefix: Set(token.token_prefix.clone()),
            duration_hours: Set(duration_hours),
            scope: Set(token.scope.as_str().to_owned()),
            cost_cents: Set(token.cost.cents()),
            created_at: Set(token.created_at),
            activated_at: Set(token.activated_at),
            expires_at: Set(token.expires_at()),
            is_active: Set(token.is_active),
            revoked_at: Set(token.revoked_at),
            last_used_at: Set(None),
            rate_limit_per_minute: Set(stored_rate_limit(token.rate_limit_per_minute)?),
        };
        Entity::insert(row)
            .exec_without_returning(&self.conn)
            .await
            .map(drop)
            .map_err(port_error)
    }

    async fn token_by_id(&self, id: TokenId) -> Result<Option<AccessToken>, PortError> {
        self.token_where(Condition::all().add(Column::Id.eq(id.0)))
            .await
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<AccessToken>, PortError> {
        let backend = self.conn.get_database_backend();
        self.token_where(
            Condition::all().add(Expr::col(Column::TokenHash).eq(hash_value(backend, hash))),
        )
        .await
    }

    async fn tokens_of_user(
        &self,
        user: UserId,
        usable_at: Option<OffsetDateTime>,
    ) -> Result<Vec<AccessToken>, PortError> {
        let backend = self.conn.get_database_backend();
        let rows = Entity::find()
            .filter(Column::UserId.eq(user.0))
            .apply_if(usable_at, |q, at| q.filter(self::usable_at(backend, at)))
            .order_by(timestamps::column(backend, Column::CreatedAt), Order::Desc)
            .order_by_desc(Column::Id)
            .all(&self.conn)
            .await
            .map_err(port_error)?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn activate_token(
        &self,
        id: TokenId,
        now: OffsetDateTime,
    ) -> Result<Option<AccessToken>, PortError> {
        // The duration never changes, so reading it first is safe; whether
        // this call activates is decided by the UPDATE's condition alone.
        let Some(token) = self.token_by_id(id).await? else {
            return Ok(None);
        };
        let expires_at = now
            .checked_add(token.duration())
            .ok_or_else(|| PortError::unexpected(format!("expiry of token {id} out of range")))?;
        Entity::update_many()
            .col_expr(Column::ActivatedAt, Expr::value(now))
            .col_expr(Column::ExpiresAt, Expr::value(expires_at))
            .filter(Column::Id.eq(id.0))
            .filter(Column::ActivatedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(port_error)?;
        // Whichever call won, every caller returns the stored activation.
        self.token_by_id(id).await
    }

    async fn revoke_token(&self, id: TokenId, now: OffsetDateTime) -> Result<bool, PortError> {
        let result = Entity::update_many()
            .col_expr(Column::IsActive, Expr::value(false))
            .col_expr(Column::RevokedAt, Expr::value(now))
            .filter(Column::Id.eq(id.0))
            .filter(Column::IsActive.eq(true))
            .filter(Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(port_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn set_token_rate_limit(
        &self,
        id: TokenId,
        per_minute: Option<u32>,
    ) -> Result<bool, PortError> {
        let result = Entity::update_many()
            .col_expr(
                Column::RateLimitPerMinute,
                Expr::value(stored_rate_limit(per_minute)?),
            )
            .filter(Column::Id.eq(id.0))
            .exec(&self.conn)
            .await
            .map_err(port_error)?;
        Ok(result.rows_affected == 1)
    }
}
