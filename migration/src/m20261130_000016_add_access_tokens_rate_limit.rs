use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::m20261124_000002_create_access_tokens::AccessTokens;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RateLimitPerMinute {
    RateLimitPerMinute,
}

/// A token's own proxy limit, set by an admin (SPEC §13); NULL follows
/// `rate_limit.proxy_per_minute`.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AccessTokens::Table)
                    .add_column(integer_null(RateLimitPerMinute::RateLimitPerMinute))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AccessTokens::Table)
                    .drop_column(RateLimitPerMinute::RateLimitPerMinute)
                    .to_owned(),
            )
            .await
    }
}
