use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::backend::{create_table_with_indexes, drop_table, references_user};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum AccessTokens {
    Table,
    Id,
    UserId,
    TokenHash,
    TokenPrefix,
    DurationHours,
    Scope,
    CostCents,
    CreatedAt,
    ActivatedAt,
    ExpiresAt,
    IsActive,
    RevokedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_with_indexes(
            manager,
            Table::create()
                .table(AccessTokens::Table)
                .col(uuid(AccessTokens::Id).primary_key())
                .col(uuid(AccessTokens::UserId))
                // Hex SHA-256 of the secret; the secret itself is never stored.
                .col(char_len(AccessTokens::TokenHash, 64))
                .col(string_len(AccessTokens::TokenPrefix, 8))
                .col(
                    integer(AccessTokens::DurationHours)
                        .check(Expr::col(AccessTokens::DurationHours).gt(0)),
                )
                .col(string_len(AccessTokens::Scope, 32))
                .col(
                    big_integer(AccessTokens::CostCents)
                        .check(Expr::col(AccessTokens::CostCents).gte(0)),
                )
                .col(timestamp_with_time_zone(AccessTokens::CreatedAt))
                .col(timestamp_with_time_zone_null(AccessTokens::ActivatedAt))
                // activated_at + duration, written with activated_at so that
                // "active, not expired" is an index range.
                .col(timestamp_with_time_zone_null(AccessTokens::ExpiresAt))
                .col(boolean(AccessTokens::IsActive).default(true))
                .col(timestamp_with_time_zone_null(AccessTokens::RevokedAt))
                .col(timestamp_with_time_zone_null(AccessTokens::LastUsedAt))
                .foreign_key(&mut references_user(
                    "fk_access_tokens_user",
                    AccessTokens::Table,
                    AccessTokens::UserId,
                    ForeignKeyAction::Cascade,
                )),
            &[
                "CREATE UNIQUE INDEX ux_access_tokens_token_hash ON access_tokens (token_hash)",
                "CREATE INDEX ix_access_tokens_user_created ON access_tokens (user_id, created_at DESC)",
                "CREATE INDEX ix_access_tokens_created ON access_tokens (created_at DESC)",
                "CREATE INDEX ix_access_tokens_active_expiry ON access_tokens (expires_at) WHERE is_active",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, AccessTokens::Table).await
    }
}
