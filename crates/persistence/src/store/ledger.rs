//! The ledger (`transactions`) and the balance on `users` that moves with it.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Order};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};
use time::OffsetDateTime;
use zenzefi_domain::ledger::{EntryId, EntryKind, EntryStatus, LedgerEntry};
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::LedgerStore;
use zenzefi_domain::user::UserId;
use zenzefi_domain::{Money, PortError};

use super::{SeaStore, update_returning};
use crate::entities::transactions::{self, Column, Entity};
use crate::entities::users;
use crate::errors::{corrupt_row, port_error};
use crate::timestamps;

fn to_domain(row: transactions::Model) -> Result<LedgerEntry, PortError> {
    let corrupt =
        |column: &str, value: &str| corrupt_row("transactions", format!("{column} {value:?}"));
    Ok(LedgerEntry {
        id: EntryId(row.id),
        user_id: UserId(row.user_id),
        amount: Money::from_cents(row.amount_cents),
        kind: EntryKind::parse(&row.transaction_type)
            .ok_or_else(|| corrupt("transaction_type", &row.transaction_type))?,
        status: EntryStatus::parse(&row.status).ok_or_else(|| corrupt("status", &row.status))?,
        description: row.description,
        payment_id: row.payment_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> LedgerStore for SeaStore<C> {
    async fn insert_entry(&self, entry: &LedgerEntry) -> Result<(), PortError> {
        let row = transactions::ActiveModel {
            id: Set(entry.id.0),
            user_id: Set(entry.user_id.0),
            amount_cents: Set(entry.amount.cents()),
            transaction_type: Set(entry.kind.as_str().to_owned()),
            status: Set(entry.status.as_str().to_owned()),
            description: Set(entry.description.clone()),
            payment_id: Set(entry.payment_id.clone()),
            created_at: Set(entry.created_at),
            updated_at: Set(entry.updated_at),
        };
        Entity::insert(row)
            .exec_without_returning(&self.conn)
            .await
            .map(drop)
            .map_err(port_error)
    }

    async fn entry_by_payment_id(
        &self,
        payment_id: &str,
    ) -> Result<Option<LedgerEntry>, PortError> {
        let row = Entity::find()
            .filter(Column::PaymentId.eq(payment_id))
            .one(&self.conn)
            .await
            .map_err(port_error)?;
        row.map(to_domain).transpose()
    }

    async fn settle_pending(
        &self,
        payment_id: &str,
        status: EntryStatus,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerEntry>, PortError> {
        // The status test is in the WHERE, so of racing calls only the first
        // to write matches the row; PostgreSQL re-checks it after the lock.
        let update = Entity::update_many()
            .col_expr(Column::Status, Expr::value(status.as_str()))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::PaymentId.eq(payment_id))
            .filter(Column::Status.eq(EntryStatus::Pending.as_str()))
            .into_query();
        let row: Option<transactions::Model> = update_returning(&self.conn, update).await?;
        row.map(to_domain).transpose()
    }

    async fn entries_of_user(
        &self,
        user: UserId,
        kind: Option<EntryKind>,
        page: Page,
    ) -> Result<Paged<LedgerEntry>, PortError> {
        let backend = self.conn.get_database_backend();
        let select = Entity::find()
            .filter(Column::UserId.eq(user.0))
            .apply_if(kind, |q, kind| {
                q.filter(Column::TransactionType.eq(kind.as_str()))
            });
        let total = select.clone().count(&self.conn).await.map_err(port_error)?;
        let rows = select
            .order_by(timestamps::column(backend, Column::CreatedAt), Order::Desc)
            // Rows of the same instant: ids are UUIDv7, so later ones sort last.
            .order_by_desc(Column::Id)
            .limit(u64::from(page.limit))
            .offset(page.offset)
            .all(&self.conn)
            .await
            .map_err(port_error)?;
        let items = rows.into_iter().map(to_domain).collect::<Result<_, _>>()?;
        Ok(Paged::exact(items, total))
    }

    async fn adjust_balance(&self, user: UserId, delta: Money) -> Result<Option<Money>, PortError> {
        let balance = Expr::col(users::Column::BalanceCents);
        self.add_to_balance(user, delta, balance.add(delta.cents()).gte(0))
            .await
    }

    async fn credit_balance(
        &self,
        user: UserId,
        amount: Money,
        ceiling: Money,
    ) -> Result<Option<Money>, PortError> {
        // Compared before adding, so the database never computes a sum
        // past the ceiling (which could overflow a BIGINT).
        let Some(room) = ceiling.checked_sub(amount) else {
            return Ok(None);
        };
        let balance = Expr::col(users::Column::BalanceCents);
        self.add_to_balance(user, amount, balance.lte(room.cents()))
            .await
    }
}

impl<C: ConnectionTrait + Send + Sync> SeaStore<C> {
    /// Adds `delta` where `guard` holds, in one statement: concurrent writes
    /// queue on the row lock and each sees the balance the previous one left.
    async fn add_to_balance(
        &self,
        user: UserId,
        delta: Money,
        guard: Expr,
    ) -> Result<Option<Money>, PortError> {
        let new_balance = Expr::col(users::Column::BalanceCents).add(delta.cents());
        let mut update = users::Entity::update_many()
            .col_expr(users::Column::BalanceCents, new_balance)
            .filter(users::Column::Id.eq(user.0))
            .filter(guard)
            .into_query();
        update.returning_col(users::Column::BalanceCents);
        let row = self.conn.query_one(&update).await.map_err(port_error)?;
        row.map(|row| row.try_get::<i64>("", "balance_cents"))
            .transpose()
            .map(|cents| cents.map(Money::from_cents))
            .map_err(port_error)
    }
}
