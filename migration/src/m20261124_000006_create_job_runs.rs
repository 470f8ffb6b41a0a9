use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::backend::{create_table_with_indexes, drop_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    Job,
    Occurrence,
    ClaimedAt,
}

/// One row per scheduled occurrence a worker replica claimed: the primary
/// key makes the claim exclusive across replicas.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_with_indexes(
            manager,
            Table::create()
                .table(JobRuns::Table)
                .col(string_len(JobRuns::Job, 64))
                .col(timestamp_with_time_zone(JobRuns::Occurrence))
                .col(timestamp_with_time_zone(JobRuns::ClaimedAt))
                .primary_key(Index::create().col(JobRuns::Job).col(JobRuns::Occurrence)),
            &["CREATE INDEX ix_job_runs_claimed ON job_runs (claimed_at)"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, JobRuns::Table).await
    }
}
