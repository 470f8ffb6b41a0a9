//! Test fixtures: a migrated database per test, on SQLite (a temporary file)
//! or on PostgreSQL (a new database on the server named by
//! `TEST_DATABASE_URL`, dropped afterwards). Enabled by the `testing` feature.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, Database as SeaOrm, DbBackend, EntityTrait, Statement};
use time::OffsetDateTime;
use zenzefi_domain::token::TokenId;

use zenzefi_testkit::service_url;

use crate::{ConnectOptions, SeaDatabase, connect};

/// A migrated database that is deleted when dropped.
pub struct TestDatabase {
    db: SeaDatabase,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub async fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("zenzefi-test-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::open(url, Cleanup::File(path)).await
    }

    /// `None` when `TEST_DATABASE_URL` is unset outside CI.
    pub async fn postgres() -> Option<Self> {
        let admin_url = service_url("TEST_DATABASE_URL")?;
        let name = format!("zz_test_{}", uuid::Uuid::new_v4().simple());
        let admin = SeaOrm::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(Self::open(url, Cleanup::Postgres { admin_url, name }).await)
    }

    async fn open(url: String, cleanup: Cleanup) -> Self {
        let db = connect(&ConnectOptions {
            url: url.clone(),
            max_connections: 20,
            acquire_timeout: std::time::Duration::from_secs(10),
        })
        .await
        .expect("connect to test database");
        db.migrate().await.expect("migrate test database");
        Self { db, url, cleanup }
    }

    pub fn db(&self) -> &SeaDatabase {
        &self.db
    }

    /// Another handle on this database that counts the statements it runs
    /// (in its transactions too) whose SQL names `table`.
    pub fn counting_statements_on(&self, table: &'static str) -> (SeaDatabase, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        let seen = count.clone();
        let mut conn = self.db.connection().clone();
        conn.set_metric_callback(move |info| {
            if info.statement.sql.contains(table) {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        });
        (SeaDatabase::new(conn), count)
    }

    /// The URL to hand to an app under test.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every audit row, oldest first, read straight from the table.
    pub async fn audit_rows(&self) -> Vec<AuditRow> {
        let conn = self.db.connection();
        let backend = conn.get_database_backend();
        let ip = match backend {
            DbBackend::Postgres => "host(ip_address)",
            _ => "ip_address",
        };
        let sql = format!(
            "SELECT action, user_id, resource_id, details, {ip} AS ip, user_agent, request_id \
             FROM audit_logs ORDER BY id"
        );
        let rows = conn
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .expect("read audit_logs");
        rows.iter()
            .map(|r| AuditRow {
                action: r.try_get("", "action").expect("action"),
                user_id: r.try_get("", "user_id").expect("user_id"),
                resource_id: r.try_get("", "resource_id").expect("resource_id"),
                details: r.try_get("", "details").expect("details"),
                ip: r.try_get("", "ip").expect("ip"),
                user_agent: r.try_get("", "user_agent").expect("user_agent"),
                request_id: r.try_get("", "request_id").expect("request_id"),
            })
            .collect()
    }
}

impl TestDatabase {
    /// A token's `last_used_at`, which the domain's token does not carry;
    /// `None` also when the token is missing.
    pub async fn token_last_used_at(&self, id: TokenId) -> Option<OffsetDateTime> {
        crate::entities::access_tokens::Entity::find_by_id(id.0)
            .one(self.db.connection())
            .await
            .expect("read access_tokens")
            .and_then(|row| row.last_used_at)
    }

    /// How many rows of any table contain `needle` anywhere, read as text;
    /// `None` on SQLite, which has no way to render a whole row.
    pub async fn rows_containing(&self, needle: &str) -> Option<u64> {
        let conn = self.db.connection();
        if conn.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let mut found = 0;
        for table in [
            "users",
            "access_tokens",
            "transactions",
            "proxy_sessions",
            "audit_logs",
        ] {
            let sql = format!(
                "SELECT count(*) AS n FROM {table} t WHERE strpos(row_to_json(t)::text, $1) > 0"
            );
            let row = conn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    [needle.into()],
                ))
                .await
                .expect("scan a table")
                .expect("a count");
            let n: i64 = row.try_get("", "n").expect("n");
            found += n as u64;
        }
        Some(found)
    }
}

impl TestDatabase {
    /// Rows inserted or updated in `proxy_sessions` so far, from
    /// PostgreSQL's statistics; `None` on SQLite.
    pub async fn session_writes(&self) -> Option<i64> {
        let conn = self.db.connection();
        if conn.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let sql = "SELECT (n_tup_ins + n_tup_upd)::bigint AS n FROM pg_stat_user_tables \
                   WHERE relname = 'proxy_sessions'";
        let row = conn
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("read pg_stat_user_tables")?;
        row.try_get("", "n").ok()
    }
}

/// One row of `audit_logs` as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub action: String,
    pub user_id: Option<uuid::Uuid>,
    pub resource_id: Option<uuid::Uuid>,
    pub details: serde_json::Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// `postgres://u@h:p/old?x` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; use a fresh one on a thread.
                let dropped = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(async {
                        let admin = SeaOrm::connect(&admin_url).await?;
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await?;
                        admin.close().await
                    })
                    .map_err(std::io::Error::other)
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("could not drop test database");
                }
            }
        }
    }
}

/// Runs each listed `async fn case(test_db: &TestDatabase)` on SQLite and,
/// when `TEST_DATABASE_URL` is set, on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                let test_db = $crate::testing::TestDatabase::sqlite().await;
                super::$case(&test_db).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                let Some(test_db) = $crate::testing::TestDatabase::postgres().await else {
                    return;
                };
                super::$case(&test_db).await;
            })*
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_of_a_url() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
