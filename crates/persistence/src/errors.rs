//! Driver errors turned into the domain's.

use sea_orm::{DbErr, RuntimeErr, sqlx};
use zenzefi_domain::PortError;

pub fn port_error(err: DbErr) -> PortError {
    match &err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => PortError::unavailable(err),
        DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause))
            if connection_lost(cause) =>
        {
            PortError::unavailable(err)
        }
        _ => PortError::unexpected(err),
    }
}

/// A statement that failed because the server went away, not because of
/// the statement: the same outage as a refused connection.
fn connection_lost(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// A stored value the domain refuses: the row was written by something else.
pub fn corrupt_row(table: &str, detail: String) -> PortError {
    PortError::unexpected(format!("corrupt row in {table}: {detail}"))
}
