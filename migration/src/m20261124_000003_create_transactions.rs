use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::backend::execute_all;
use crate::m20261124_000001_create_users::Users;

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
        manager
            .create_table(
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
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_transactions_user")
                            .from(Transactions::Table, Transactions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        execute_all(
            manager,
            &[
                "CREATE UNIQUE INDEX ux_transactions_payment_id ON transactions (payment_id)",
                "CREATE INDEX ix_transactions_user_created ON transactions (user_id, created_at DESC)",
                "CREATE INDEX ix_transactions_pending_created ON transactions (created_at) WHERE status = 'pending'",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Transactions::Table).to_owned())
            .await
    }
}
