use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::backend::{create_table_with_indexes, drop_table, ip_address, references_user};
use crate::m20261124_000002_create_access_tokens::AccessTokens;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProxySessions {
    Table,
    Id,
    UserId,
    TokenId,
    DeviceId,
    IpAddress,
    UserAgent,
    StartedAt,
    LastActivity,
    EndedAt,
    EndReason,
    BytesTransferred,
    RequestCount,
    IsActive,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_with_indexes(
            manager,
            Table::create()
                .table(ProxySessions::Table)
                .col(uuid(ProxySessions::Id).primary_key())
                .col(uuid(ProxySessions::UserId))
                .col(uuid(ProxySessions::TokenId))
                .col(string_len(ProxySessions::DeviceId, 255))
                .col(ip_address(manager, ProxySessions::IpAddress).not_null())
                .col(text_null(ProxySessions::UserAgent))
                .col(timestamp_with_time_zone(ProxySessions::StartedAt))
                .col(timestamp_with_time_zone(ProxySessions::LastActivity))
                .col(timestamp_with_time_zone_null(ProxySessions::EndedAt))
                // idle | revoked | terminated | expired | replaced
                .col(string_len_null(ProxySessions::EndReason, 16))
                .col(big_integer(ProxySessions::BytesTransferred).default(0))
                .col(big_integer(ProxySessions::RequestCount).default(0))
                .col(boolean(ProxySessions::IsActive).default(true))
                .foreign_key(&mut references_user(
                    "fk_proxy_sessions_user",
                    ProxySessions::Table,
                    ProxySessions::UserId,
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_proxy_sessions_token")
                        .from(ProxySessions::Table, ProxySessions::TokenId)
                        .to(AccessTokens::Table, AccessTokens::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                ),
            &[
                // The backstop of "one live session per token", whatever the cache says.
                "CREATE UNIQUE INDEX ux_proxy_sessions_live_token ON proxy_sessions (token_id) WHERE is_active",
                "CREATE INDEX ix_proxy_sessions_active_activity ON proxy_sessions (last_activity) WHERE is_active",
                "CREATE INDEX ix_proxy_sessions_user_started ON proxy_sessions (user_id, started_at DESC)",
                "CREATE INDEX ix_proxy_sessions_token_started ON proxy_sessions (token_id, started_at DESC)",
                "CREATE INDEX ix_proxy_sessions_started ON proxy_sessions (started_at DESC)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, ProxySessions::Table).await
    }
}
