//! Driver errors turned into the domain's.

use sea_orm::DbErr;
use zenzefi_domain::PortError;

pub fn port_error(err: DbErr) -> PortError {
    match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => PortError::unavailable(err),
        other => PortError::unexpected(other),
    }
}

/// A stored value the domain refuses: the row was written by something else.
pub fn corrupt_row(table: &str, detail: String) -> PortError {
    PortError::unexpected(format!("corrupt row in {table}: {detail}"))
}
