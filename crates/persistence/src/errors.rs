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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn statement_failed(cause: sqlx::Error) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(cause)))
    }

    #[test]
    fn a_statement_cut_off_by_a_lost_connection_is_an_outage() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(matches!(
            port_error(statement_failed(sqlx::Error::Io(reset))),
            PortError::Unavailable(_)
        ));
        assert!(matches!(
            port_error(statement_failed(sqlx::Error::PoolTimedOut)),
            PortError::Unavailable(_)
        ));
    }

    #[test]
    fn a_statement_the_database_refused_is_not_an_outage() {
        assert!(matches!(
            port_error(statement_failed(sqlx::Error::RowNotFound)),
            PortError::Unexpected(_)
        ));
    }
}
