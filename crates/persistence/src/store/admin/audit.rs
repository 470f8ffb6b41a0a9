//! The audit trail as operators read it: pages with a total, and an export
//! of any size that walks the rows in keyset order, one bounded query per
//! batch on the pool.

use std::collections::VecDeque;
use std::sync::LazyLock;

use futures::StreamExt;
use futures::stream::BoxStream;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Iterable,
    JoinType, QueryFilter, QueryResult, QuerySelect, QueryTrait, Select,
};
use zenzefi_domain::admin::{AuditFilter, AuditRecord};
use zenzefi_domain::audit::{AuditAction, AuditEntry, ResourceType};
use zenzefi_domain::page::{Cursor, Keyed, Page, Paged};
use zenzefi_domain::user::UserId;
use zenzefi_domain::{PortError, RequestContext};

use super::{Keyset, owner_of, page_with_total, with_owner};
use crate::entities::audit_logs::{self, Column, Entity};
use crate::errors::{corrupt_row, port_error};
use crate::ip::ip_text;
use crate::store::SeaDatabase;
use crate::timestamps;

/// Rows per query of an export: what the stream holds at most.
const EXPORT_BATCH: u64 = 1_000;

pub(super) async fn list(
    db: &SeaDatabase,
    filter: &AuditFilter,
    page: Page,
) -> Result<Paged<AuditRecord>, PortError> {
    let backend = db.conn.get_database_backend();
    let condition = matching(backend, filter);
    let rows = with_actor(backend, condition.clone());
    let (rows, total, estimated) = page_with_total(db, rows, &KEYSET, page, condition).await?;
    let items = rows.iter().map(to_record).collect::<Result<_, _>>()?;
    Ok(Paged {
        items,
        total,
        estimated,
    })
}

pub(super) fn export(
    db: SeaDatabase,
    filter: AuditFilter,
) -> BoxStream<'static, Result<AuditRecord, PortError>> {
    let export = Export {
        db,
        filter,
        after: None,
        buffer: VecDeque::new(),
        exhausted: false,
    };
    // try_unfold ends the stream after the first error it yields.
    futures::stream::try_unfold(export, |mut export| async move {
        if export.buffer.is_empty() && !export.exhausted {
            export.fetch_batch().await?;
        }
        Ok(export.buffer.pop_front().map(|record| (record, export)))
    })
    .boxed()
}

/// Where an export stands: the last row handed out is the key the next
/// batch starts after, so rows deleted or added meanwhile shift nothing.
struct Export {
    db: SeaDatabase,
    filter: AuditFilter,
    after: Option<Cursor>,
    buffer: VecDeque<AuditRecord>,
    exhausted: bool,
}

impl Export {
    async fn fetch_batch(&mut self) -> Result<(), PortError> {
        let backend = self.db.conn.get_database_backend();
        let mut condition = matching(backend, &self.filter);
        if let Some(cursor) = self.after {
            condition = condition.add(KEYSET.after(backend, cursor));
        }
        let query = KEYSET
            .order(backend, with_actor(backend, condition))
            .limit(EXPORT_BATCH)
            .into_query();
        let rows = self.db.conn.query_all(&query).await.map_err(port_error)?;
        self.exhausted = (rows.len() as u64) < EXPORT_BATCH;
        for row in &rows {
            self.buffer.push_back(to_record(row)?);
        }
        if let Some(last) = self.buffer.back() {
            self.after = Some(last.cursor());
        }
        Ok(())
    }
}

fn matching(backend: DbBackend, filter: &AuditFilter) -> Condition {
    let created = || timestamps::column(backend, (Entity, Column::CreatedAt));
    Condition::all()
        .add_option(filter.user_id.map(|user| Column::UserId.eq(user.0)))
        .add_option(
            filter
                .action
                .map(|action| Column::Action.eq(action.as_str())),
        )
        .add_option(
            filter
                .resource_type
                .map(|kind| Column::ResourceType.eq(kind.as_str())),
        )
        .add_option(filter.resource_id.map(|id| Column::ResourceId.eq(id)))
        .add_option(
            filter
                .since
                .map(|since| created().gte(timestamps::value(backend, since))),
        )
        .add_option(
            filter
                .until
                .map(|until| created().lt(timestamps::value(backend, until))),
        )
}

/// Newest first; ties of `created_at` are broken by id, so that the order
/// is total and a keyset continues exactly where the previous batch or
/// page stopped.
static KEYSET: LazyLock<Keyset> =
    LazyLock::new(|| Keyset::new((Entity, Column::CreatedAt), (Entity, Column::Id)));

/// Matching rows with the IP as text and the actor's email and username
/// (a LEFT JOIN: anonymous rows have no actor).
fn with_actor(backend: DbBackend, condition: Condition) -> Select<Entity> {
    let rows = Entity::find()
        .select_only()
        .columns(Column::iter().filter(|c| !matches!(c, Column::IpAddress)))
        .expr_as(ip_text(backend, (Entity, Column::IpAddress)), "ip_address");
    with_owner(rows, Column::UserId, JoinType::LeftJoin).filter(condition)
}

/// An entry rebuilt from the columns `append_audit` wrote.
fn to_record(row: &QueryResult) -> Result<AuditRecord, PortError> {
    let stored = audit_logs::Model::from_query_result(row, "").map_err(port_error)?;
    let corrupt =
        |column: &str, value: &str| corrupt_row("audit_logs", format!("{column} {value:?}"));
    let ip = match stored.ip_address {
        Some(ip) => Some(ip.parse().map_err(|_| corrupt("ip_address", &ip))?),
        None => None,
    };
    let entry = AuditEntry {
        id: stored.id,
        actor: stored.user_id.map(UserId),
        action: AuditAction::parse(&stored.action)
            .ok_or_else(|| corrupt("action", &stored.action))?,
        resource_type: ResourceType::parse(&stored.resource_type)
            .ok_or_else(|| corrupt("resource_type", &stored.resource_type))?,
        resource_id: stored.resource_id,
        details: stored.details,
        context: RequestContext {
            ip,
            user_agent: stored.user_agent,
            request_id: stored.request_id,
        },
        created_at: stored.created_at,
    };
    Ok(AuditRecord {
        entry,
        actor: owner_of(row)?,
    })
}
