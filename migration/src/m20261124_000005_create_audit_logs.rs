use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::backend::{create_table_with_indexes, drop_table, ip_address, references_user};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLogs {
    Table,
    Id,
    UserId,
    Action,
    ResourceType,
    ResourceId,
    Details,
    IpAddress,
    UserAgent,
    RequestId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_with_indexes(
            manager,
            Table::create()
                .table(AuditLogs::Table)
                .col(uuid(AuditLogs::Id).primary_key())
                .col(uuid_null(AuditLogs::UserId))
                .col(string_len(AuditLogs::Action, 64))
                .col(string_len(AuditLogs::ResourceType, 32))
                .col(uuid_null(AuditLogs::ResourceId))
                .col(json_binary(AuditLogs::Details))
                .col(ip_address(manager, AuditLogs::IpAddress).null())
                .col(text_null(AuditLogs::UserAgent))
                .col(string_len_null(AuditLogs::RequestId, 128))
                .col(timestamp_with_time_zone(AuditLogs::CreatedAt))
                // The trail outlives the account it mentions.
                .foreign_key(&mut references_user(
                    "fk_audit_logs_user",
                    AuditLogs::Table,
                    AuditLogs::UserId,
                    ForeignKeyAction::SetNull,
                )),
            &[
                "CREATE INDEX ix_audit_logs_created ON audit_logs (created_at DESC)",
                "CREATE INDEX ix_audit_logs_user_created ON audit_logs (user_id, created_at DESC)",
                "CREATE INDEX ix_audit_logs_action_created ON audit_logs (action, created_at DESC)",
                "CREATE INDEX ix_audit_logs_resource ON audit_logs (resource_type, resource_id, created_at DESC)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, AuditLogs::Table).await
    }
}
