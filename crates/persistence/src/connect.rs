//! Opening the database and bringing its schema up to date.

use std::fmt;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::Database as SeaOrm;
use zenzefi_domain::PortError;

use crate::errors::port_error;
use crate::store::SeaDatabase;

#[derive(Clone)]
pub struct ConnectOptions {
    pub url: String,
    /// PostgreSQL pool size. SQLite always uses one connection: it has one
    /// writer anyway, and a single connection never meets "database is locked".
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// The URL may hold the database password: never printed.
impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("url", &"<redacted>")
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

pub async fn connect(options: &ConnectOptions) -> Result<SeaDatabase, PortError> {
    let is_sqlite = options.url.starts_with("sqlite:");
    let mut opts = sea_orm::ConnectOptions::new(options.url.clone());
    opts.max_connections(if is_sqlite {
        1
    } else {
        options.max_connections
    })
    .min_connections(if is_sqlite { 1 } else { 0 })
    .acquire_timeout(options.acquire_timeout)
    .connect_timeout(options.acquire_timeout);
    let conn = SeaOrm::connect(opts).await.map_err(port_error)?;
    Ok(SeaDatabase::new(conn))
}

impl SeaDatabase {
    /// Hands `observer` the duration of every statement run through this
    /// handle from now on, in transactions begun from it too, so that the
    /// caller can record them wherever it likes. Handles cloned before this
    /// call keep not observing: call it before handing the database out.
    pub fn observe_queries(&mut self, observer: impl Fn(Duration) + Send + Sync + 'static) {
        let mut conn = self.connection().clone();
        conn.set_metric_callback(move |info| observer(info.elapsed));
        *self = SeaDatabase::new(conn);
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), PortError> {
        Migrator::up(self.connection(), None)
            .await
            .map_err(port_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_never_prints() {
        let options = ConnectOptions {
            url: "postgres://app:s3cret@db:5432/zenzefi".into(),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(1),
        };
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("max_connections: 4"),
            "{shown}"
        );
    }
}
