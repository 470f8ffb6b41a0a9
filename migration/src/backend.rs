//! Column types and statements that differ between the two backends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// `INET` on PostgreSQL, `TEXT` on SQLite (whose type affinity would turn a
/// declared `inet` into INTEGER).
pub fn ip_address(manager: &SchemaManager, col: impl IntoIden) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    match manager.get_database_backend() {
        DbBackend::Postgres => def.custom(Alias::new("inet")),
        _ => def.text(),
    };
    def
}

/// Runs plain SQL statements (indexes) that both backends understand.
pub async fn execute_all(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}
