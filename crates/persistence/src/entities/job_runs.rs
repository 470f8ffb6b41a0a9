use sea_orm::entity::prelude::*;

/// Claimed occurrences of scheduled jobs, one row per `(job, occurrence)`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub occurrence: TimeDateTimeWithTimeZone,
    pub claimed_at: TimeDateTimeWithTimeZone,
    pub succeeded_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
