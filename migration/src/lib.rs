//! The schema of Zenzefi Gateway, for PostgreSQL (production) and SQLite
//! (the embedded default). Indexes are plain SQL that both backends accept.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod backend;
mod m20261124_000001_create_users;
mod m20261124_000002_create_access_tokens;
mod m20261124_000003_create_transactions;
mod m20261124_000004_create_proxy_sessions;
mod m20261124_000005_create_audit_logs;
mod m20261124_000006_create_job_runs;
mod m20261130_000001_add_users_password_version;
mod m20261130_000002_add_job_runs_succeeded_at;
mod m20261130_000010_create_usage_buckets;
mod m20261130_000016_add_access_tokens_rate_limit;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_users::Migration),
            Box::new(m20261124_000002_create_access_tokens::Migration),
            Box::new(m20261124_000003_create_transactions::Migration),
            Box::new(m20261124_000004_create_proxy_sessions::Migration),
            Box::new(m20261124_000005_create_audit_logs::Migration),
            Box::new(m20261124_000006_create_job_runs::Migration),
            Box::new(m20261130_000001_add_users_password_version::Migration),
            Box::new(m20261130_000002_add_job_runs_succeeded_at::Migration),
            Box::new(m20261130_000010_create_usage_buckets::Migration),
            Box::new(m20261130_000016_add_access_tokens_rate_limit::Migration),
        ]
    }
}
