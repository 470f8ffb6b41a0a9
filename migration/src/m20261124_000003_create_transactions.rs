use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::backend::{create_table_with_indexes, drop_table, references_user};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Transactions {
    Table,
    Id,
    UserId,
    AmountCents,
    TransactionType,
    Status,
    Description,
    PaymentId,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_with_indexes(
            manager,
            Table::create()
                .table(Transactions::Table)
                .col(uuid(Transactions::Id).primary_key())
                .col(uuid(Transactions::UserId))
                // Signed cents: + credit, − debit.
                .col(big_integer(Transactions::AmountCents))
                .col(string_len(Transactions::TransactionType, 16))
                .col(string_len(Transactions::Status, 16))
                .col(text(Transactions::Description))
                .col(string_len_null(Transactions::PaymentId, 64))
                .col(timestamp_with_time_zone(Transactions::CreatedAt))
                .col(timestamp_with_time_zone(Transactions::UpdatedAt))
                .foreign_key(&mut references_user(
                    "fk_transactions_user",
                    Transactions::Table,
                    Transactions::UserId,
                    ForeignKeyAction::Cascade,
                )),
            &[
                "CREATE UNIQUE INDEX ux_transactions_payment_id ON transactions (payment_id)",
                "CREATE INDEX ix_transactions_user_created ON transactions (user_id, created_at DESC)",
                "CREATE INDEX ix_transactions_pending_created ON transactions (created_at) WHERE status = 'pending'",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, Transactions::Table).await
    }
}
