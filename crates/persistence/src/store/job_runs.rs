//! Claims of scheduled job occurrences (`job_runs`): the primary key lets
//! exactly one worker replica insert each `(job, occurrence)`.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityName, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use time::{OffsetDateTime, UtcOffset};
use zenzefi_domain::PortError;
use zenzefi_domain::ports::JobRuns;

use super::SeaDatabase;
use crate::entities::job_runs::{Column, Entity};
use crate::errors::port_error;

#[async_trait]
impl JobRuns for SeaDatabase {
    async fn claim_occurrence(
        &self,
        job: &str,
        occurrence: OffsetDateTime,
    ) -> Result<bool, PortError> {
        // SQLite keys on the stored text, so one instant must always be
        // written the same way: in UTC.
        let occurrence = occurrence.to_offset(UtcOffset::UTC);
        // When the claim was made is bookkeeping for whoever prunes the
        // table, not domain time, so the wall clock is good enough.
        let claimed_at = OffsetDateTime::now_utc();
        let mut insert = Query::insert();
        insert
            .into_table(Entity.table_ref())
            .columns([Column::Job, Column::Occurrence, Column::ClaimedAt])
            .values([Expr::val(job), Expr::val(occurrence), Expr::val(claimed_at)])
            .map_err(PortError::unexpected)?
            .on_conflict(
                OnConflict::columns([Column::Job, Column::Occurrence])
                    .do_nothing()
                    .to_owned(),
            );
        let result = self.conn.execute(&insert).await.map_err(port_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn record_success(
        &self,
        job: &str,
        occurrence: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<(), PortError> {
        let mut update = Query::update();
        update
            .table(Entity.table_ref())
            .value(Column::SucceededAt, at.to_offset(UtcOffset::UTC))
            .and_where(Expr::col(Column::Job).eq(job))
            .and_where(Expr::col(Column::Occurrence).eq(occurrence.to_offset(UtcOffset::UTC)));
        self.conn.execute(&update).await.map_err(port_error)?;
        Ok(())
    }

    async fn last_successes(&self) -> Result<Vec<(String, OffsetDateTime)>, PortError> {
        Entity::find()
            .select_only()
            .column(Column::Job)
            .column_as(Column::SucceededAt.max(), "last")
            .filter(Column::SucceededAt.is_not_null())
            .group_by(Column::Job)
            .order_by_asc(Column::Job)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(port_error)
    }
}
