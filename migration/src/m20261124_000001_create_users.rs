use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::backend::{create_table_with_indexes, drop_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Email,
    Username,
    PasswordHash,
    FullName,
    IsActive,
    IsSuperuser,
    BalanceCents,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_with_indexes(
            manager,
            Table::create()
                .table(Users::Table)
                .col(uuid(Users::Id).primary_key())
                // Stored lower-cased by the domain, so plain uniqueness is case-insensitive.
                .col(string_len(Users::Email, 254))
                .col(string_len(Users::Username, 50))
                .col(text(Users::PasswordHash))
                .col(string_len_null(Users::FullName, 200))
                .col(boolean(Users::IsActive).default(true))
                .col(boolean(Users::IsSuperuser).default(false))
                .col(
                    big_integer(Users::BalanceCents)
                        .default(0)
                        .check(Expr::col(Users::BalanceCents).gte(0)),
                )
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .col(timestamp_with_time_zone(Users::UpdatedAt)),
            &[
                "CREATE UNIQUE INDEX ux_users_email ON users (email)",
                "CREATE UNIQUE INDEX ux_users_username_lower ON users (lower(username))",
                "CREATE INDEX ix_users_created_at ON users (created_at DESC)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, Users::Table).await
    }
}
