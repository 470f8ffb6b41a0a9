//! Usage analytics (SPEC §14): one row per token and bucket (a minute, an
//! hour or a day), every counter a column of its own. Wide rows keep every
//! read a single index range scan summing fixed columns; a row per reason
//! or class would multiply the rows and add a second aggregation.
//! `bucket_start` is Unix seconds, so that both backends truncate it to an
//! hour or a day with integer arithmetic.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::backend::{create_table_with_indexes, drop_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageBuckets {
    Table,
    TokenId,
    UserId,
    /// 60, 3 600 or 86 400: the bucket's width in seconds.
    StepSecs,
    BucketStart,
    Requests,
    BytesIn,
    BytesOut,
    #[sea_orm(iden = "responses_2xx")]
    Responses2xx,
    #[sea_orm(iden = "responses_3xx")]
    Responses3xx,
    #[sea_orm(iden = "responses_4xx")]
    Responses4xx,
    #[sea_orm(iden = "responses_5xx")]
    Responses5xx,
    RefusedScopeDenied,
    RefusedInvalidPath,
    RefusedDeviceConflict,
    RefusedRateLimited,
    RefusedUserInactive,
    RefusedUpstreamUnavailable,
    RefusedUpstreamTimeout,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use UsageBuckets::*;
        let mut table = sea_orm_migration::prelude::Table::create();
        table
            .table(Table)
            .col(uuid(TokenId))
            .col(uuid(UserId))
            .col(integer(StepSecs))
            .col(big_integer(BucketStart));
        for counter in [
            Requests,
            BytesIn,
            BytesOut,
            Responses2xx,
            Responses3xx,
            Responses4xx,
            Responses5xx,
            RefusedScopeDenied,
            RefusedInvalidPath,
            RefusedDeviceConflict,
            RefusedRateLimited,
            RefusedUserInactive,
            RefusedUpstreamUnavailable,
            RefusedUpstreamTimeout,
        ] {
            table.col(big_integer(counter).default(0));
        }
        // No foreign keys: rows are written in bulk every flush interval,
        // and tokens and users are never deleted.
        table.primary_key(Index::create().col(TokenId).col(StepSecs).col(BucketStart));
        create_table_with_indexes(
            manager,
            &mut table,
            &[
                // A user's series (`/users/me/usage`, `?user_id=`).
                "CREATE INDEX ix_usage_buckets_user ON usage_buckets (user_id, step_secs, bucket_start)",
                // Everyone's series, the top lists and the rollup's cut-offs.
                "CREATE INDEX ix_usage_buckets_step_start ON usage_buckets (step_secs, bucket_start)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, UsageBuckets::Table).await
    }
}
