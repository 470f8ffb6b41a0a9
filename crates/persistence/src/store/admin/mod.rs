//! Operators' read models and the worker's bulk clean-ups, on the pooled
//! handle only: the audit export clones the pool into its stream, and none
//! of this belongs inside a unit of work.

mod audit;
mod lists;
mod retention;

use async_trait::async_trait;
use futures::stream::BoxStream;
use sea_orm::sea_query::{Expr, Func, IntoTableRef, Query};
use sea_orm::{
    Condition, ConnectionTrait, EntityTrait, JoinType, QueryResult, QuerySelect, QueryTrait,
    RelationDef, Select,
};
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::admin::{
    AuditFilter, AuditRecord, Owner, SessionFilter, SessionRecord, TokenFilter, TokenRecord,
    UserFilter,
};
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::{AdminQueries, RetentionStore};
use zenzefi_domain::user::User;

use super::SeaDatabase;
use crate::entities::users;
use crate::errors::{corrupt_row, port_error};

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

/// One `page` of `select` and how many rows `condition` matches in all.
/// Two connections: the page and the count cost their maximum, not their
/// sum (SQLite's single connection runs them one after the other).
async fn page_with_total<E: EntityTrait>(
    db: &SeaDatabase,
    select: Select<E>,
    page: Page,
    condition: Condition,
) -> Result<(Vec<QueryResult>, u64), PortError> {
    let query = select
        .limit(u64::from(page.limit))
        .offset(page.offset)
        .into_query();
    futures::try_join!(
        async { db.conn.query_all(&query).await.map_err(port_error) },
        // Each listed row belongs to one row of E (the owner join is to
        // a required foreign key), so the count needs no join.
        count_where(db, E::default(), condition),
    )
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
    let row = db
        .conn
        .query_one(&query)
        .await
        .map_err(port_error)?
        .ok_or_else(|| PortError::unexpected("COUNT returned no row"))?;
    let n: i64 = row.try_get("", "n").map_err(port_error)?;
    u64::try_from(n).map_err(PortError::unexpected)
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
