//! Column types and statements that differ between the two backends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261124_000001_create_users::Users;

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

/// Creates a table, then its indexes.
pub async fn create_table_with_indexes(
    manager: &SchemaManager<'_>,
    table: &mut TableCreateStatement,
    indexes: &[&str],
) -> Result<(), DbErr> {
    manager.create_table(table.to_owned()).await?;
    execute_all(manager, indexes).await
}

pub async fn drop_table(manager: &SchemaManager<'_>, table: impl IntoIden) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(table).to_owned())
        .await
}

/// A foreign key from `table.column` to `users.id`.
pub fn references_user(
    name: &str,
    table: impl IntoIden,
    column: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(on_delete)
        .to_owned()
}
