//! Proxy sessions (`proxy_sessions`): one live session per token (a partial
//! unique index is the backstop), ended by conditional writes, and the
//! counters of the write-behind flush added in a fixed number of statements.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityName, EntityTrait, Iterable,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, SqlErr, Statement,
    TransactionSession, TransactionTrait, Value,
};
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::PortError;
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::{InsertSessionError, SessionStore};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::{EndReason, ProxySession, SessionActivity, SessionId};
use zenzefi_domain::token::TokenId;
use zenzefi_domain::user::UserId;

use super::SeaStore;
use crate::entities::access_tokens;
use crate::entities::proxy_sessions::{self, Column, Entity};
use crate::errors::{corrupt_row, port_error};
use crate::ip::{ip_text, ip_value};
use crate::timestamps;

/// Rows per statement of a flush. Up to this many sessions, a flush is one
/// statement per table whatever the batch size; a larger batch is cut into
/// chunks only to stay under the bind-parameter limits (32 766 on SQLite,
/// 65 535 on PostgreSQL; a session row takes six).
const FLUSH_CHUNK: usize = 5_000;

pub(super) fn to_domain(row: proxy_sessions::Model) -> Result<ProxySession, PortError> {
    let corrupt = |column: &str, value: &dyn std::fmt::Debug| {
        corrupt_row("proxy_sessions", format!("{column} {value:?}"))
    };
    let count =
        |column: &str, value: i64| u64::try_from(value).map_err(|_| corrupt(column, &value));
    Ok(ProxySession {
        id: SessionId(row.id),
        user_id: UserId(row.user_id),
        token_id: TokenId(row.token_id),
        device_id: DeviceId::parse(&row.device_id)
            .ok_or_else(|| corrupt("device_id", &row.device_id))?,
        ip: row
            .ip_address
            .parse()
            .map_err(|_| corrupt("ip_address", &row.ip_address))?,
        user_agent: row.user_agent,
        started_at: row.started_at,
        last_activity: row.last_activity,
        ended_at: row.ended_at,
        end_reason: match row.end_reason {
            Some(reason) => {
                Some(EndReason::parse(&reason).ok_or_else(|| corrupt("end_reason", &reason))?)
            }
            None => None,
        },
        bytes_transferred: count("bytes_transferred", row.bytes_transferred)?,
        request_count: count("request_count", row.request_count)?,
        is_active: row.is_active,
    })
}

/// A counter as the `BIGINT` it is stored in.
fn stored_count(value: u64) -> Result<i64, PortError> {
    i64::try_from(value).map_err(|_| PortError::unexpected(format!("counter {value} overflows")))
}

/// Sessions with the IP read back as text (`INET` has no text decoding).
pub(super) fn select_sessions(backend: DbBackend) -> Select<Entity> {
    Entity::find()
        .select_only()
        .columns(Column::iter().filter(|c| !matches!(c, Column::IpAddress)))
        .expr_as(ip_text(backend, Column::IpAddress), "ip_address")
}

/// Whether a unique violation is the one-live-session-per-token index (and
/// not, say, a duplicate id). PostgreSQL names the index, SQLite the column.
fn is_live_token_clash(message: &str) -> bool {
    message.contains("ux_proxy_sessions_live_token") || message.contains("proxy_sessions.token_id")
}

impl<C: ConnectionTrait> SeaStore<C> {
    async fn one_session(&self, condition: Condition) -> Result<Option<ProxySession>, PortError> {
        let backend = self.conn.get_database_backend();
        let row = select_sessions(backend)
            .filter(condition)
            .one(&self.conn)
            .await
            .map_err(port_error)?;
        row.map(to_domain).transpose()
    }

    /// Ends the live sessions that also meet `condition`, in one
    /// conditional UPDATE; how many it ended.
    async fn end_live_where(
        &self,
        condition: Condition,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<u64, PortError> {
        let result = Entity::update_many()
            .col_expr(Column::IsActive, Expr::value(false))
            .col_expr(Column::EndedAt, Expr::value(now))
            .col_expr(Column::EndReason, Expr::value(reason.as_str()))
            .filter(Column::IsActive.eq(true))
            .filter(condition)
            .exec(&self.conn)
            .await
            .map_err(port_error)?;
        Ok(result.rows_affected)
    }

    /// [`Self::end_live_where`], returning each ended session with its token.
    async fn end_live_returning(
        &self,
        condition: Condition,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<Vec<(TokenId, SessionId)>, PortError> {
        let mut update = Entity::update_many()
            .col_expr(Column::IsActive, Expr::value(false))
            .col_expr(Column::EndedAt, Expr::value(now))
            .col_expr(Column::EndReason, Expr::value(reason.as_str()))
            .filter(Column::IsActive.eq(true))
            .filter(condition)
            .into_query();
        update.returning(Query::returning().columns([Column::TokenId, Column::Id]));
        let rows = self.conn.query_all(&update).await.map_err(port_error)?;
        rows.iter()
            .map(|row| {
                Ok((
                    TokenId(row.try_get::<Uuid>("", "token_id")?),
                    SessionId(row.try_get::<Uuid>("", "id")?),
                ))
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(port_error)
    }
}

#[async_trait]
impl<C: ConnectionTrait + TransactionTrait + Send + Sync> SessionStore for SeaStore<C> {
    async fn insert_session(&self, session: &ProxySession) -> Result<(), InsertSessionError> {
        let backend = self.conn.get_database_backend();
        let mut insert = Query::insert();
        insert
            .into_table(Entity.table_ref())
            .columns([
                Column::Id,
                Column::UserId,
                Column::TokenId,
                Column::DeviceId,
                Column::IpAddress,
                Column::UserAgent,
                Column::StartedAt,
                Column::LastActivity,
                Column::EndedAt,
                Column::EndReason,
                Column::BytesTransferred,
                Column::RequestCount,
                Column::IsActive,
            ])
            .values([
                Expr::val(session.id.0),
                Expr::val(session.user_id.0),
                Expr::val(session.token_id.0),
                Expr::val(session.device_id.as_str()),
                ip_value(backend, Some(session.ip)),
                Expr::val(session.user_agent.clone()),
                Expr::val(session.started_at),
                Expr::val(session.last_activity),
                Expr::val(session.ended_at),
                Expr::val(session.end_reason.map(EndReason::as_str)),
                Expr::val(stored_count(session.bytes_transferred)?),
                Expr::val(stored_count(session.request_count)?),
                Expr::val(session.is_active),
            ])
            .map_err(PortError::unexpected)?;
        match self.conn.execute(&insert).await {
            Ok(_) => Ok(()),
            Err(err) => match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(msg)) if is_live_token_clash(&msg) => {
                    Err(InsertSessionError::LiveSessionExists)
                }
                _ => Err(port_error(err).into()),
            },
        }
    }

    async fn session_by_id(&self, id: SessionId) -> Result<Option<ProxySession>, PortError> {
        self.one_session(Condition::all().add(Column::Id.eq(id.0)))
            .await
    }

    async fn live_session_of_token(
        &self,
        token: TokenId,
    ) -> Result<Option<ProxySession>, PortError> {
        self.one_session(
            Condition::all()
                .add(Column::TokenId.eq(token.0))
                .add(Column::IsActive.eq(true)),
        )
        .await
    }

    async fn sessions_of_user(
        &self,
        user: UserId,
        page: Page,
    ) -> Result<Paged<ProxySession>, PortError> {
        let backend = self.conn.get_database_backend();
        let total = Entity::find()
            .filter(Column::UserId.eq(user.0))
            .count(&self.conn)
            .await
            .map_err(port_error)?;
        let rows = select_sessions(backend)
            .filter(Column::UserId.eq(user.0))
            .order_by(timestamps::column(backend, Column::StartedAt), Order::Desc)
            // Sessions of the same instant: ids are UUIDv7, later ones first.
            .order_by_desc(Column::Id)
            .limit(u64::from(page.limit))
            .offset(page.offset)
            .all(&self.conn)
            .await
            .map_err(port_error)?;
        let items = rows.into_iter().map(to_domain).collect::<Result<_, _>>()?;
        Ok(Paged::exact(items, total))
    }

    async fn end_session(
        &self,
        id: SessionId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<bool, PortError> {
        let ended = self
            .end_live_where(Condition::all().add(Column::Id.eq(id.0)), reason, now)
            .await?;
        Ok(ended == 1)
    }

    async fn end_live_session_of_token(
        &self,
        token: TokenId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<Option<SessionId>, PortError> {
        let ended = self
            .end_live_returning(
                Condition::all().add(Column::TokenId.eq(token.0)),
                reason,
                now,
            )
            .await?;
        Ok(ended.first().map(|(_, session)| *session))
    }

    async fn end_replaceable_session(
        &self,
        token: TokenId,
        device: &DeviceId,
        idle_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<SessionId>, PortError> {
        let backend = self.conn.get_database_backend();
        let replaceable = Condition::any()
            .add(Column::DeviceId.eq(device.as_str()))
            .add(
                timestamps::column(backend, (Entity, Column::LastActivity))
                    .lt(timestamps::value(backend, idle_since)),
            );
        let ended = self
            .end_live_returning(
                Condition::all()
                    .add(Column::TokenId.eq(token.0))
                    .add(replaceable),
                EndReason::Replaced,
                now,
            )
            .await?;
        Ok(ended.first().map(|(_, session)| *session))
    }

    async fn end_live_sessions_of_user(
        &self,
        user: UserId,
        reason: EndReason,
        now: OffsetDateTime,
    ) -> Result<Vec<(TokenId, SessionId)>, PortError> {
        self.end_live_returning(Condition::all().add(Column::UserId.eq(user.0)), reason, now)
            .await
    }

    async fn end_stale_sessions(
        &self,
        idle_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<u64, PortError> {
        let backend = self.conn.get_database_backend();
        let tokens_where = |condition: Condition| {
            Column::TokenId.in_subquery(
                Query::select()
                    .column((access_tokens::Entity, access_tokens::Column::Id))
                    .from(access_tokens::Entity)
                    .cond_where(condition)
                    .to_owned(),
            )
        };
        // Most telling reason first: a session of a revoked token that also
        // went idle ends as `revoked`. Each UPDATE re-checks `is_active`, so
        // a session ends once however many of these (or of concurrent
        // cleanups) match it.
        let revoked = tokens_where(
            Condition::any()
                .add(access_tokens::Column::IsActive.eq(false))
                .add(access_tokens::Column::RevokedAt.is_not_null()),
        );
        let expired = tokens_where(
            Condition::all().add(
                timestamps::column(
                    backend,
                    (access_tokens::Entity, access_tokens::Column::ExpiresAt),
                )
                .lte(timestamps::value(backend, now)),
            ),
        );
        let idle = timestamps::column(backend, (Entity, Column::LastActivity))
            .lt(timestamps::value(backend, idle_since));
        let mut ended = 0;
        for (condition, reason) in [
            (revoked, EndReason::Revoked),
            (expired, EndReason::Expired),
            (idle, EndReason::Idle),
        ] {
            ended += self
                .end_live_where(Condition::all().add(condition), reason, now)
                .await?;
        }
        Ok(ended)
    }

    async fn record_activity(&self, batch: &[SessionActivity]) -> Result<(), PortError> {
        if batch.is_empty() {
            return Ok(());
        }
        let backend = self.conn.get_database_backend();
        let Flush { sessions, tokens } = merge(batch)?;
        // One transaction: a failed flush is retried whole by the caller,
        // so a half-applied one would count twice. Tokens first, then
        // sessions: the order in which revocation locks them, so that a
        // flush and a revocation never wait on each other in a cycle.
        let tx = self.conn.begin().await.map_err(port_error)?;
        for chunk in tokens.chunks(FLUSH_CHUNK) {
            tx.execute_raw(mark_tokens_used(backend, chunk))
                .await
                .map_err(port_error)?;
        }
        for chunk in sessions.chunks(FLUSH_CHUNK) {
            tx.execute_raw(add_to_sessions(backend, chunk))
                .await
                .map_err(port_error)?;
        }
        tx.commit().await.map_err(port_error)
    }
}

/// One session's share of a flush, as bound to the statement.
struct SessionRow {
    id: Uuid,
    requests: i64,
    bytes: i64,
    last_activity: OffsetDateTime,
    ip: String,
    user_agent: Option<String>,
}

/// One token's share of a flush: its latest use.
struct TokenRow {
    id: Uuid,
    used_at: OffsetDateTime,
}

/// A batch as the flush writes it: one row per session and per token.
struct Flush {
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
}

/// Merges the batch into one row per session and per token, ordered by id.
/// In `UPDATE … FROM`, a target row joined to two source rows takes only one
/// of them, so duplicates are merged here; the order gives concurrent
/// flushes the same lock order.
fn merge(batch: &[SessionActivity]) -> Result<Flush, PortError> {
    let mut sessions: BTreeMap<Uuid, SessionRow> = BTreeMap::new();
    let mut tokens: BTreeMap<Uuid, OffsetDateTime> = BTreeMap::new();
    for activity in batch {
        let (requests, bytes) = (
            stored_count(activity.requests)?,
            stored_count(activity.bytes)?,
        );
        let row = sessions
            .entry(activity.session_id.0)
            .or_insert_with(|| SessionRow {
                id: activity.session_id.0,
                requests: 0,
                bytes: 0,
                last_activity: activity.last_activity,
                ip: activity.ip.to_string(),
                user_agent: activity.user_agent.clone(),
            });
        row.requests = row.requests.saturating_add(requests);
        row.bytes = row.bytes.saturating_add(bytes);
        if activity.last_activity > row.last_activity {
            row.last_activity = activity.last_activity;
            row.ip = activity.ip.to_string();
            row.user_agent.clone_from(&activity.user_agent);
        }
        let used = tokens
            .entry(activity.token_id.0)
            .or_insert(activity.last_activity);
        if activity.last_activity > *used {
            *used = activity.last_activity;
        }
    }
    Ok(Flush {
        sessions: sessions.into_values().collect(),
        tokens: tokens
            .into_iter()
            .map(|(id, used_at)| TokenRow { id, used_at })
            .collect(),
    })
}

/// A `VALUES` list of `rows` tuples with bind parameters of these types,
/// as a relation `v` with these column names. PostgreSQL names the columns
/// in the alias and needs the types (a bare parameter in `VALUES` is text);
/// SQLite calls them `column1`, `column2`, … and is renamed by a sub-select.
fn values_relation(backend: DbBackend, columns: &[(&str, &str)], rows: usize) -> String {
    let mut sql = String::new();
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for (i, (_, ty)) in columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match backend {
                DbBackend::Postgres => sql.push_str(&format!("${n}::{ty}")),
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    let names = columns.iter().map(|(name, _)| *name);
    match backend {
        DbBackend::Postgres => {
            let names = names.collect::<Vec<_>>().join(", ");
            format!("(VALUES {sql}) AS v({names})")
        }
        _ => {
            let renamed = names
                .enumerate()
                .map(|(i, name)| format!("column{} AS {name}", i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            format!("(SELECT {renamed} FROM (VALUES {sql})) AS v")
        }
    }
}

/// The later of a stored timestamp and a new one, as SQL. SQLite compares
/// the stored text through `julianday()` (see [`timestamps`]).
fn later_of(backend: DbBackend, stored: &str, new: &str) -> String {
    match backend {
        // GREATEST ignores NULL, so a first use takes the new value.
        DbBackend::Postgres => format!("GREATEST({stored}, {new})"),
        _ => format!(
            "CASE WHEN {stored} IS NULL OR julianday({new}) > julianday({stored}) \
             THEN {new} ELSE {stored} END"
        ),
    }
}

/// Adds a chunk of counters to their sessions, live or ended, in one
/// statement.
fn add_to_sessions(backend: DbBackend, rows: &[SessionRow]) -> Statement {
    let source = values_relation(
        backend,
        &[
            ("id", "uuid"),
            ("requests", "bigint"),
            ("bytes", "bigint"),
            ("last_activity", "timestamptz"),
            ("ip", "text"),
            ("ua", "text"),
        ],
        rows.len(),
    );
    let ip = match backend {
        DbBackend::Postgres => "v.ip::inet",
        _ => "v.ip",
    };
    let last_activity = later_of(backend, "s.last_activity", "v.last_activity");
    let sql = format!(
        "UPDATE proxy_sessions AS s SET \
         request_count = s.request_count + v.requests, \
         bytes_transferred = s.bytes_transferred + v.bytes, \
         last_activity = {last_activity}, \
         ip_address = {ip}, \
         user_agent = v.ua \
         FROM {source} WHERE s.id = v.id"
    );
    let values = rows.iter().flat_map(|row| {
        [
            Value::from(row.id),
            Value::from(row.requests),
            Value::from(row.bytes),
            Value::from(row.last_activity),
            Value::from(row.ip.clone()),
            Value::from(row.user_agent.clone()),
        ]
    });
    Statement::from_sql_and_values(backend, sql, values)
}

/// Moves `last_used_at` of a chunk of tokens forward, in one statement.
fn mark_tokens_used(backend: DbBackend, rows: &[TokenRow]) -> Statement {
    let source = values_relation(
        backend,
        &[("id", "uuid"), ("used_at", "timestamptz")],
        rows.len(),
    );
    let last_used = later_of(backend, "t.last_used_at", "v.used_at");
    let sql = format!(
        "UPDATE access_tokens AS t SET last_used_at = {last_used} FROM {source} WHERE t.id = v.id"
    );
    let values = rows
        .iter()
        .flat_map(|row| [Value::from(row.id), Value::from(row.used_at)]);
    Statement::from_sql_and_values(backend, sql, values)
}
