//! Timestamps in comparisons and ORDER BY. PostgreSQL compares `timestamptz`
//! natively. SQLite holds the RFC 3339 text sqlx writes, whose fraction has
//! no fixed width: as text `…:05Z` sorts after `…:05.5Z`, and `…:05.5Z` after
//! `…:05.55Z`. There both sides go through `julianday()`, which compares by
//! time to the millisecond.

use sea_orm::DbBackend;
use sea_orm::sea_query::{Expr, Func, IntoColumnRef};
use time::OffsetDateTime;

/// A timestamp column as something that orders by time.
pub fn column(backend: DbBackend, col: impl IntoColumnRef) -> Expr {
    by_time(backend, Expr::col(col))
}

/// A timestamp to compare with a [`column`].
pub fn value(backend: DbBackend, at: OffsetDateTime) -> Expr {
    by_time(backend, Expr::val(at))
}

fn by_time(backend: DbBackend, expr: Expr) -> Expr {
    match backend {
        DbBackend::Sqlite => Func::cust("julianday").arg(expr).into(),
        _ => expr,
    }
}
