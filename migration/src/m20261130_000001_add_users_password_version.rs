use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::m20261124_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PasswordVersion {
    PasswordVersion,
}

/// Counts a user's password changes. A JWT carries the count it was issued
/// under, so one issued before the latest change is refused (SPEC §16.5).
/// Existing accounts start at 0, the value older JWTs are read with.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(big_integer(PasswordVersion::PasswordVersion).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(PasswordVersion::PasswordVersion)
                    .to_owned(),
            )
            .await
    }
}
