//! Usage buckets (`usage_buckets`, SPEC §14) in plain SQL that both
//! backends run: a flush is one multi-row upsert per chunk; reads sum fixed
//! columns over one index range; times are Unix seconds, so steps are
//! integer division.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DbBackend, QueryResult, Statement, TransactionSession, TransactionTrait, Value,
};
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::UsageStore;
use zenzefi_domain::token::TokenId;
use zenzefi_domain::usage::{
    Granularity, TopBy, TopGroup, TopQuery, TopRow, UsageBucket, UsageCounts, UsagePoint,
    UsageQuery,
};
use zenzefi_domain::user::UserId;

use super::SeaStore;
use crate::errors::{corrupt_row, port_error};

/// Rows per upsert: 18 parameters each stays under SQLite's 32 766.
const FLUSH_CHUNK: usize = 1_000;

/// The counter columns, in the order of [`UsageCounts`]' fields.
const COUNTERS: [&str; 14] = [
    "requests",
    "bytes_in",
    "bytes_out",
    "responses_2xx",
    "responses_3xx",
    "responses_4xx",
    "responses_5xx",
    "refused_scope_denied",
    "refused_invalid_path",
    "refused_device_conflict",
    "refused_rate_limited",
    "refused_user_inactive",
    "refused_upstream_unavailable",
    "refused_upstream_timeout",
];

/// `ON CONFLICT` clause adding the new counters to the stored ones.
fn add_on_conflict() -> String {
    let sets = COUNTERS
        .iter()
        .map(|c| format!("{c} = usage_buckets.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("ON CONFLICT (token_id, step_secs, bucket_start) DO UPDATE SET {sets}")
}

/// `CAST(SUM(c) AS BIGINT) AS c` for every counter: PostgreSQL sums
/// bigints into numerics.
fn summed_counters() -> String {
    COUNTERS
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bind-parameter placeholders, numbered on PostgreSQL.
struct Params {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Params {
    fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            values: Vec::new(),
        }
    }

    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}

fn stored(n: u64) -> Result<i64, PortError> {
    i64::try_from(n).map_err(|_| PortError::unexpected("usage counter out of range"))
}

fn counter_values(counts: &UsageCounts) -> impl Iterator<Item = u64> {
    [counts.requests, counts.bytes_in, counts.bytes_out]
        .into_iter()
        .chain(counts.responses)
        .chain(counts.refused)
}

fn read_counts(row: &QueryResult) -> Result<UsageCounts, PortError> {
    let mut values = [0u64; 14];
    for (value, column) in values.iter_mut().zip(COUNTERS) {
        let n: Option<i64> = row.try_get("", column).map_err(port_error)?;
        *value = u64::try_from(n.unwrap_or(0))
            .map_err(|_| corrupt_row("usage_buckets", format!("{column} negative")))?;
    }
    let mut counts = UsageCounts {
        requests: values[0],
        bytes_in: values[1],
        bytes_out: values[2],
        ..UsageCounts::default()
    };
    counts.responses.copy_from_slice(&values[3..7]);
    counts.refused.copy_from_slice(&values[7..14]);
    Ok(counts)
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn instant(secs: i64) -> Result<OffsetDateTime, PortError> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| corrupt_row("usage_buckets", format!("bucket_start {secs}")))
}

/// The stored widths a step reads: minutes alone, or hours and the days
/// they folded into.
fn widths(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Minute => "step_secs = 60",
        Granularity::Hour | Granularity::Day => "step_secs IN (3600, 86400)",
    }
}

type Key = (Uuid, i64, i64);

/// The batch as rows: each minute bucket, and its share of its hour
/// bucket, merged so that no statement touches a row twice (PostgreSQL
/// refuses that in one upsert), sorted so that concurrent flushes lock rows
/// in the same order.
fn rows(batch: &[UsageBucket]) -> BTreeMap<Key, (Uuid, UsageCounts)> {
    let mut rows: BTreeMap<Key, (Uuid, UsageCounts)> = BTreeMap::new();
    for bucket in batch {
        for width in [bucket.granularity, Granularity::Hour] {
            let key = (
                bucket.token_id.0,
                width.seconds(),
                unix(width.floor(bucket.start)),
            );
            rows.entry(key)
                .or_insert_with(|| (bucket.user_id.0, UsageCounts::default()))
                .1
                .add(&bucket.counts);
        }
    }
    rows
}

fn upsert(
    backend: DbBackend,
    chunk: &[(&Key, &(Uuid, UsageCounts))],
) -> Result<Statement, PortError> {
    let mut params = Params::new(backend);
    let mut tuples = Vec::with_capacity(chunk.len());
    for ((token, step, start), (user, counts)) in chunk {
        let mut tuple = vec![
            params.bind(*token),
            params.bind(*user),
            params.bind(i32::try_from(*step).unwrap_or(i32::MAX)),
            params.bind(*start),
        ];
        for n in counter_values(counts) {
            tuple.push(params.bind(stored(n)?));
        }
        tuples.push(format!("({})", tuple.join(", ")));
    }
    let sql = format!(
        "INSERT INTO usage_buckets (token_id, user_id, step_secs, bucket_start, {}) VALUES {} {}",
        COUNTERS.join(", "),
        tuples.join(", "),
        add_on_conflict()
    );
    Ok(params.statement(sql))
}

#[async_trait]
impl<C: ConnectionTrait + TransactionTrait + Send + Sync> UsageStore for SeaStore<C> {
    async fn record_usage(&self, batch: &[UsageBucket]) -> Result<(), PortError> {
        if batch.is_empty() {
            return Ok(());
        }
        let backend = self.conn.get_database_backend();
        let rows = rows(batch);
        let rows: Vec<_> = rows.iter().collect();
        // One transaction: a failed flush is retried whole by the caller,
        // so a half-applied one would count twice.
        let tx = self.conn.begin().await.map_err(port_error)?;
        for chunk in rows.chunks(FLUSH_CHUNK) {
            tx.execute_raw(upsert(backend, chunk)?)
                .await
                .map_err(port_error)?;
        }
        tx.commit().await.map_err(port_error)
    }

    async fn usage_series(&self, query: &UsageQuery) -> Result<Vec<UsagePoint>, PortError> {
        let backend = self.conn.get_database_backend();
        let mut params = Params::new(backend);
        let step = query.granularity.seconds();
        let mut filter = format!(
            "{} AND bucket_start >= {} AND bucket_start < {}",
            widths(query.granularity),
            params.bind(unix(query.from)),
            params.bind(unix(query.to))
        );
        if let Some(user) = query.user_id {
            filter.push_str(&format!(" AND user_id = {}", params.bind(user.0)));
        }
        if let Some(token) = query.token_id {
            filter.push_str(&format!(" AND token_id = {}", params.bind(token.0)));
        }
        let sql = format!(
            "SELECT (bucket_start / {step}) * {step} AS t, {} FROM usage_buckets \
             WHERE {filter} GROUP BY (bucket_start / {step}) * {step} ORDER BY t",
            summed_counters()
        );
        let rows = self
            .conn
            .query_all_raw(params.statement(sql))
            .await
            .map_err(port_error)?;
        rows.iter()
            .map(|row| {
                let t: i64 = row.try_get("", "t").map_err(port_error)?;
                Ok(UsagePoint {
                    t: instant(t)?,
                    counts: read_counts(row)?,
                })
            })
            .collect()
    }

    async fn usage_top(&self, query: &TopQuery) -> Result<Vec<TopRow>, PortError> {
        let backend = self.conn.get_database_backend();
        let mut params = Params::new(backend);
        let (group, token_columns) = match query.group {
            TopGroup::Token => (
                "token_id, user_id",
                "top.token_id AS token_id, t.token_prefix AS token_prefix",
            ),
            TopGroup::User => (
                "user_id",
                "CAST(NULL AS TEXT) AS token_id, CAST(NULL AS TEXT) AS token_prefix",
            ),
        };
        let (order, outer_order) = match query.by {
            TopBy::Requests => ("SUM(requests) DESC", "top.requests DESC"),
            TopBy::Bytes => (
                "SUM(bytes_in) + SUM(bytes_out) DESC",
                "top.bytes_in + top.bytes_out DESC",
            ),
        };
        let join_token = match query.group {
            TopGroup::Token => "LEFT JOIN access_tokens t ON t.id = top.token_id",
            TopGroup::User => "",
        };
        let sql = format!(
            "SELECT top.user_id AS user_id, u.email AS email, u.username AS username, {token_columns}, \
             top.requests AS requests, top.bytes_in AS bytes_in, top.bytes_out AS bytes_out \
             FROM (SELECT {group}, CAST(SUM(requests) AS BIGINT) AS requests, \
             CAST(SUM(bytes_in) AS BIGINT) AS bytes_in, CAST(SUM(bytes_out) AS BIGINT) AS bytes_out \
             FROM usage_buckets WHERE {} AND bucket_start >= {} AND bucket_start < {} \
             GROUP BY {group} ORDER BY {order}, {group} LIMIT {}) AS top \
             JOIN users u ON u.id = top.user_id {join_token} \
             ORDER BY {outer_order}, top.user_id",
            widths(Granularity::Hour),
            params.bind(unix(query.from)),
            params.bind(unix(query.to)),
            params.bind(i64::from(query.limit)),
        );
        let rows = self
            .conn
            .query_all_raw(params.statement(sql))
            .await
            .map_err(port_error)?;
        rows.iter()
            .map(|row| {
                let count = |column: &str| -> Result<u64, PortError> {
                    let n: i64 = row.try_get("", column).map_err(port_error)?;
                    u64::try_from(n).map_err(|_| corrupt_row("usage_buckets", column.to_owned()))
                };
                let token_id: Option<Uuid> = match query.group {
                    TopGroup::Token => Some(row.try_get("", "token_id").map_err(port_error)?),
                    TopGroup::User => None,
                };
                Ok(TopRow {
                    user_id: UserId(row.try_get("", "user_id").map_err(port_error)?),
                    user_email: row.try_get("", "email").map_err(port_error)?,
                    user_username: row.try_get("", "username").map_err(port_error)?,
                    token_id: token_id.map(TokenId),
                    token_prefix: match query.group {
                        TopGroup::Token => row.try_get("", "token_prefix").map_err(port_error)?,
                        TopGroup::User => None,
                    },
                    requests: count("requests")?,
                    bytes_in: count("bytes_in")?,
                    bytes_out: count("bytes_out")?,
                })
            })
            .collect()
    }

    async fn delete_minutes_before(&self, before: OffsetDateTime) -> Result<u64, PortError> {
        self.delete_width_before(Granularity::Minute, before).await
    }

    async fn fold_hours_before(&self, before: OffsetDateTime) -> Result<u64, PortError> {
        let backend = self.conn.get_database_backend();
        let columns = COUNTERS.join(", ");
        let sums = COUNTERS
            .iter()
            .map(|c| format!("SUM({c})"))
            .collect::<Vec<_>>()
            .join(", ");
        let day = Granularity::Day.seconds();
        let mut params = Params::new(backend);
        let cutoff = params.bind(unix(before));
        let fold_from = |source: &str| {
            format!(
                "INSERT INTO usage_buckets (token_id, user_id, step_secs, bucket_start, {columns}) \
                 SELECT token_id, user_id, {day}, (bucket_start / {day}) * {day}, {sums} \
                 FROM {source} GROUP BY token_id, user_id, (bucket_start / {day}) * {day} {}",
                add_on_conflict()
            )
        };
        match backend {
            // One statement: the rows it deletes are the rows it adds up,
            // and a concurrent fold waits on their locks and then finds
            // them gone, so nothing counts twice.
            DbBackend::Postgres => {
                let sql = format!(
                    "WITH moved AS (DELETE FROM usage_buckets WHERE step_secs = 3600 \
                     AND bucket_start < {cutoff} RETURNING *), \
                     folded AS ({}) SELECT COUNT(*) AS n FROM moved",
                    fold_from("moved")
                );
                let row = self
                    .conn
                    .query_one_raw(params.statement(sql))
                    .await
                    .map_err(port_error)?;
                let n: i64 = match row {
                    Some(row) => row.try_get("", "n").map_err(port_error)?,
                    None => 0,
                };
                Ok(u64::try_from(n).unwrap_or(0))
            }
            // SQLite has one writer: the transaction alone keeps the copy
            // and the delete together.
            _ => {
                let source = format!(
                    "(SELECT * FROM usage_buckets WHERE step_secs = 3600 AND bucket_start < {cutoff})"
                );
                let insert = params.statement(fold_from(&source));
                let mut delete = Params::new(backend);
                let sql = format!(
                    "DELETE FROM usage_buckets WHERE step_secs = 3600 AND bucket_start < {}",
                    delete.bind(unix(before))
                );
                let tx = self.conn.begin().await.map_err(port_error)?;
                tx.execute_raw(insert).await.map_err(port_error)?;
                let moved = tx
                    .execute_raw(delete.statement(sql))
                    .await
                    .map_err(port_error)?
                    .rows_affected();
                tx.commit().await.map_err(port_error)?;
                Ok(moved)
            }
        }
    }

    async fn delete_days_before(&self, before: OffsetDateTime) -> Result<u64, PortError> {
        self.delete_width_before(Granularity::Day, before).await
    }
}

impl<C: ConnectionTrait> SeaStore<C> {
    async fn delete_width_before(
        &self,
        width: Granularity,
        before: OffsetDateTime,
    ) -> Result<u64, PortError> {
        let mut params = Params::new(self.conn.get_database_backend());
        let sql = format!(
            "DELETE FROM usage_buckets WHERE step_secs = {} AND bucket_start < {}",
            width.seconds(),
            params.bind(unix(before))
        );
        let done = self
            .conn
            .execute_raw(params.statement(sql))
            .await
            .map_err(port_error)?;
        Ok(done.rows_affected())
    }
}
