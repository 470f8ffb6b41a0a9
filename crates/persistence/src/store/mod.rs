//! The store ports over any sea-orm connection: the pool (each call on its
//! own) or a transaction (a unit of work).

mod admin;
mod audit;
mod job_runs;
mod ledger;
mod sessions;
mod stats;
mod tokens;
mod usage;
mod users;

use async_trait::async_trait;
use sea_orm::sea_query::UpdateStatement;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, FromQueryResult, TransactionTrait,
};
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{Probe, Transactions, UnitOfWork};

use crate::errors::port_error;

/// Store ports over a connection `C`.
pub struct SeaStore<C> {
    conn: C,
}

/// The pooled database handle.
pub type SeaDatabase = SeaStore<DatabaseConnection>;

impl SeaDatabase {
    pub(crate) fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }

    /// The underlying connection, for migrations and test fixtures.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }
}

impl Clone for SeaDatabase {
    fn clone(&self) -> Self {
        Self::new(self.conn.clone())
    }
}

#[async_trait]
impl UnitOfWork for SeaStore<DatabaseTransaction> {
    async fn commit(self: Box<Self>) -> Result<(), PortError> {
        self.conn.commit().await.map_err(port_error)
    }
}

#[async_trait]
impl Transactions for SeaDatabase {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, PortError> {
        let tx = self.conn.begin().await.map_err(port_error)?;
        Ok(Box::new(SeaStore { conn: tx }))
    }
}

#[async_trait]
impl Probe for SeaDatabase {
    async fn probe(&self) -> Result<(), PortError> {
        self.conn
            .execute_unprepared("SELECT 1")
            .await
            .map(drop)
            .map_err(port_error)
    }
}

/// Runs a conditional UPDATE and returns the row it changed, if any, from the
/// same statement (`RETURNING`: PostgreSQL, and SQLite since 3.35). sea-orm's
/// own `exec_with_returning` refuses SQLite unless a crate feature is on.
async fn update_returning<M: FromQueryResult>(
    conn: &impl ConnectionTrait,
    mut update: UpdateStatement,
) -> Result<Option<M>, PortError> {
    update.returning_all();
    let row = conn.query_one(&update).await.map_err(port_error)?;
    row.map(|row| M::from_query_result(&row, ""))
        .transpose()
        .map_err(port_error)
}
