//! The worker's clean-ups: old audit rows deleted and stale pending
//! deposits canceled, a bounded number of rows per statement so that no
//! statement holds many locks or runs long. Each statement picks its rows
//! oldest first in a sub-select and changes them by primary key.

use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbBackend, Value};
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::ledger::{EntryKind, EntryStatus};

use crate::entities::{audit_logs, transactions};
use crate::errors::port_error;
use crate::store::SeaDatabase;
use crate::timestamps;

/// One statement: the `batch` oldest rows created before `cutoff`.
pub(super) async fn delete_audit_before(
    db: &SeaDatabase,
    cutoff: OffsetDateTime,
    batch: u32,
) -> Result<u64, PortError> {
    use audit_logs::{Column, Entity};
    let backend = db.conn.get_database_backend();
    let created = || timestamps::column(backend, (Entity, Column::CreatedAt));
    let oldest = Query::select()
        .column((Entity, Column::Id))
        .from(Entity)
        .and_where(created().lt(timestamps::value(backend, cutoff)))
        .order_by_expr(created(), Order::Asc)
        .limit(u64::from(batch))
        .to_owned();
    let delete = Query::delete()
        .from_table(Entity)
        .and_where(id_among(backend, (Entity, Column::Id), oldest))
        .to_owned();
    let result = db.conn.execute(&delete).await.map_err(port_error)?;
    Ok(result.rows_affected())
}

/// Statements of at most `batch` rows, oldest first, until one changes
/// fewer than `batch`: the total of all of them. Each statement re-checks
/// `status = 'pending'` on the rows it locks, so a deposit settled by a
/// concurrent webhook stays settled (and is not counted).
pub(super) async fn cancel_pending_before(
    db: &SeaDatabase,
    cutoff: OffsetDateTime,
    now: OffsetDateTime,
    batch: u32,
) -> Result<u64, PortError> {
    use transactions::{Column, Entity};
    if batch == 0 {
        return Ok(0);
    }
    let backend = db.conn.get_database_backend();
    let mut canceled = 0;
    loop {
        let update = Query::update()
            .table(Entity)
            .value(Column::Status, EntryStatus::Canceled.as_str())
            .value(Column::UpdatedAt, now)
            .and_where(id_among(
                backend,
                (Entity, Column::Id),
                oldest_pending(backend, cutoff, batch),
            ))
            .and_where(Expr::col((Entity, Column::Status)).eq(pending()))
            .to_owned();
        let changed = db
            .conn
            .execute(&update)
            .await
            .map_err(port_error)?
            .rows_affected();
        canceled += changed;
        if changed < u64::from(batch) {
            return Ok(canceled);
        }
    }
}

/// `id IN (ids)`, written for PostgreSQL as `id = ANY(ARRAY(ids))`: the
/// batch becomes one array probed through the primary key. As a plain IN
/// (a semi-join) the planner hash-joins a sequential scan of the whole
/// table against the batch: on 1 000 000 audit rows, 175–300 ms per batch
/// of 5 000 instead of 30–60 ms.
fn id_among(backend: DbBackend, id: impl IntoColumnRef, ids: SelectStatement) -> Expr {
    match backend {
        DbBackend::Postgres => {
            Expr::cust_with_exprs("$1 = ANY(ARRAY $2)", [Expr::col(id), ids.into()])
        }
        _ => Expr::col(id).in_subquery(ids),
    }
}

/// The `batch` oldest pending deposits created before `cutoff`.
fn oldest_pending(backend: DbBackend, cutoff: OffsetDateTime, batch: u32) -> SelectStatement {
    use transactions::{Column, Entity};
    let created = || timestamps::column(backend, (Entity, Column::CreatedAt));
    Query::select()
        .column((Entity, Column::Id))
        .from(Entity)
        .and_where(Expr::col((Entity, Column::Status)).eq(pending()))
        .and_where(Expr::col((Entity, Column::TransactionType)).eq(EntryKind::Deposit.as_str()))
        .and_where(created().lt(timestamps::value(backend, cutoff)))
        .order_by_expr(created(), Order::Asc)
        .limit(u64::from(batch))
        .to_owned()
}

/// `'pending'` written into the SQL rather than bound: the partial index
/// `ix_transactions_pending_created` (`WHERE status = 'pending'`) matches
/// only a literal, also in a generic (prepared) plan.
fn pending() -> Expr {
    Expr::Constant(Value::from(EntryStatus::Pending.as_str()))
}
