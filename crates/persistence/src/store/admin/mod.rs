//! Operators' read models and the worker's bulk clean-ups, on the pooled
//! handle only: the audit export clones the pool into its stream, and none
//! of this belongs inside a unit of work.

mod audit;
mod lists;
mod retention;

use async_trait::async_trait;
use futures::stream::BoxStream;
use sea_orm::sea_query::{
    ColumnRef, Expr, ExprTrait, Func, IntoColumnRef, IntoTableRef, Order, PostgresQueryBuilder,
    Query,
};
use sea_orm::{
    Condition, ConnectionTrait, DbBackend, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QueryResult, QuerySelect, QueryTrait, RelationDef, Select, Statement,
};
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::admin::{
    AuditFilter, AuditRecord, Owner, SessionFilter, SessionRecord, TokenFilter, TokenRecord,
    UserFilter,
};
use zenzefi_domain::page::{Cursor, Page, Paged};
use zenzefi_domain::ports::{AdminQueries, RetentionStore};
use zenzefi_domain::user::User;

use super::SeaDatabase;
use crate::entities::users;
use crate::errors::{corrupt_row, port_error};
use crate::timestamps;

/// Column aliases of the owner's fields in joined rows.
const OWNER_EMAIL: &str = "owner_email";
const OWNER_USERNAME: &str = "owner_username";

#[async_trait]
impl AdminQueries for SeaDatabase {
    async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Paged<User>, PortError> {
        lists::users(self, filter, page).await
    }

    async fn list_tokens(
        &self,
        filter: &TokenFilter,
        page: Page,
    ) -> Result<Paged<TokenRecord>, PortError> {
        lists::tokens(self, filter, page).await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditRecord>, PortError> {
        audit::list(self, filter, page).await
    }

    fn export_audit(
        &self,
        filter: AuditFilter,
    ) -> BoxStream<'static, Result<AuditRecord, PortError>> {
        audit::export(self.clone(), filter)
    }

    async fn list_sessions(
        &self,
        filter: &SessionFilter,
        page: Page,
    ) -> Result<Paged<SessionRecord>, PortError> {
        lists::sessions(self, filter, page).await
    }
}

#[async_trait]
impl RetentionStore for SeaDatabase {
    async fn delete_audit_before(
        &self,
        cutoff: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, PortError> {
        retention::delete_audit_before(self, cutoff, batch).await
    }

    async fn cancel_pending_before(
        &self,
        cutoff: OffsetDateTime,
        now: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, PortError> {
        retention::cancel_pending_before(self, cutoff, now, batch).await
    }
}

/// On PostgreSQL a list counts its matching rows up to this many; past it,
/// `total` is the planner's estimate (marked as such), so that no page
/// counts millions of rows.
const EXACT_UP_TO: u64 = 10_000;

/// The columns a list is ordered by, newest first: a time, ties by id.
#[derive(Clone)]
struct Keyset {
    at: ColumnRef,
    id: ColumnRef,
}

impl Keyset {
    fn new(at: impl IntoColumnRef, id: impl IntoColumnRef) -> Self {
        Self {
            at: at.into_column_ref(),
            id: id.into_column_ref(),
        }
    }

    fn time(&self, backend: DbBackend) -> Expr {
        timestamps::column(backend, self.at.clone())
    }

    /// Rows strictly after `cursor` in newest-first order. The redundant
    /// `at <= cursor.at` gives PostgreSQL an index range to start from.
    fn after(&self, backend: DbBackend, cursor: Cursor) -> Condition {
        let at = || timestamps::value(backend, cursor.at);
        Condition::all().add(self.time(backend).lte(at())).add(
            Condition::any()
                .add(self.time(backend).lt(at()))
                .add(Expr::col(self.id.clone()).lt(cursor.id)),
        )
    }

    /// `select` newest first.
    fn order<E: EntityTrait>(&self, backend: DbBackend, select: Select<E>) -> Select<E> {
        select
            .order_by(self.time(backend), Order::Desc)
            .order_by(Expr::col(self.id.clone()), Order::Desc)
    }
}

/// One `page` of `select` (ordered by `keyset`, continuing after the
/// page's cursor if any) and how many rows `condition` matches in all.
/// Two connections: the page and the count cost their maximum, not their
/// sum (SQLite's single connection runs them one after the other).
async fn page_with_total<E: EntityTrait>(
    db: &SeaDatabase,
    select: Select<E>,
    keyset: &Keyset,
    page: Page,
    condition: Condition,
) -> Result<(Vec<QueryResult>, u64, bool), PortError> {
    let backend = db.conn.get_database_backend();
    let select = match page.after {
        Some(cursor) => select.filter(keyset.after(backend, cursor)),
        None => select,
    };
    let query = keyset
        .order(backend, select)
        .limit(u64::from(page.limit))
        .offset(page.offset)
        .into_query();
    let (rows, (total, estimated)) = futures::try_join!(
        async { db.conn.query_all(&query).await.map_err(port_error) },
        // Each listed row belongs to one row of E (the owner join is to
        // a required foreign key), so the count needs no join.
        total(db, E::default(), condition),
    )?;
    Ok((rows, total, estimated))
}

/// The rows `condition` matches, and whether that is an estimate. SQLite
/// (the embedded, small profile) always counts.
async fn total<E: EntityTrait>(
    db: &SeaDatabase,
    table: E,
    condition: Condition,
) -> Result<(u64, bool), PortError> {
    if db.conn.get_database_backend() != DbBackend::Postgres {
        return Ok((count_where(db, table, condition).await?, false));
    }
    let matching = Query::select()
        .expr(Expr::val(1))
        .from(table)
        .cond_where(condition)
        .to_owned();
    let bounded = Query::select()
        .expr_as(Func::count(Expr::cust("*")), "n")
        .from_subquery(matching.clone().limit(EXACT_UP_TO + 1).to_owned(), "m")
        .to_owned();
    let counted = count_of(db.conn.query_one(&bounded).await.map_err(port_error)?)?;
    if counted <= EXACT_UP_TO {
        return Ok((counted, false));
    }
    // The planner's row estimate for the same query (statistics kept by
    // ANALYZE and autovacuum); at least what was counted.
    let explain = format!(
        "EXPLAIN (FORMAT JSON) {}",
        matching.to_string(PostgresQueryBuilder)
    );
    let plan = db
        .conn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, explain))
        .await
        .map_err(port_error)?
        .ok_or_else(|| PortError::unexpected("EXPLAIN returned no row"))?;
    let plan: serde_json::Value = plan.try_get("", "QUERY PLAN").map_err(port_error)?;
    let estimate = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or_default();
    // A float of rows, non-negative; `as` saturates.
    Ok((Ord::max(estimate as u64, counted), true))
}

fn count_of(row: Option<QueryResult>) -> Result<u64, PortError> {
    let row = row.ok_or_else(|| PortError::unexpected("COUNT returned no row"))?;
    let n: i64 = row.try_get("", "n").map_err(port_error)?;
    u64::try_from(n).map_err(PortError::unexpected)
}

/// `SELECT COUNT(*) FROM table WHERE condition`, without the sub-select
/// sea-orm's paginator wraps around the full row.
async fn count_where(
    db: &SeaDatabase,
    table: impl IntoTableRef,
    condition: Condition,
) -> Result<u64, PortError> {
    let query = Query::select()
        .expr_as(Func::count(Expr::cust("*")), "n")
        .from(table)
        .cond_where(condition)
        .to_owned();
    count_of(db.conn.query_one(&query).await.map_err(port_error)?)
}

/// `select` joined to the owner of its rows through `user_id`, with the
/// owner's email and username under [`OWNER_EMAIL`] and [`OWNER_USERNAME`].
fn with_owner<E: EntityTrait>(select: Select<E>, user_id: E::Column, join: JoinType) -> Select<E> {
    let owner: RelationDef = E::belongs_to(users::Entity)
        .from(user_id)
        .to(users::Column::Id)
        .into();
    select
        .join(join, owner)
        .column_as(
            Expr::col((users::Entity, users::Column::Email)),
            OWNER_EMAIL,
        )
        .column_as(
            Expr::col((users::Entity, users::Column::Username)),
            OWNER_USERNAME,
        )
}

/// The owner columns of a joined row; `None` when the join found no user.
fn owner_of(row: &QueryResult) -> Result<Option<Owner>, PortError> {
    let email: Option<String> = row.try_get("", OWNER_EMAIL).map_err(port_error)?;
    let username: Option<String> = row.try_get("", OWNER_USERNAME).map_err(port_error)?;
    Ok(email
        .zip(username)
        .map(|(email, username)| Owner { email, username }))
}

/// The owner of a row that must have one (an inner join).
fn required_owner(row: &QueryResult, table: &str) -> Result<Owner, PortError> {
    owner_of(row)?.ok_or_else(|| corrupt_row(table, "row without an owner".into()))
}
