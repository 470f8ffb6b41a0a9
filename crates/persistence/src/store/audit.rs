use async_trait::async_trait;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, EntityName};
use zenzefi_domain::PortError;
use zenzefi_domain::audit::AuditEntry;
use zenzefi_domain::ports::AuditStore;

use super::SeaStore;
use crate::entities::audit_logs::{Column, Entity};
use crate::errors::port_error;
use crate::ip::ip_value;

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> AuditStore for SeaStore<C> {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), PortError> {
        let backend = self.conn.get_database_backend();
        let ctx = &entry.context;
        let mut insert = Query::insert();
        insert
            .into_table(Entity.table_ref())
            .columns([
                Column::Id,
                Column::UserId,
                Column::Action,
                Column::ResourceType,
                Column::ResourceId,
                Column::Details,
                Column::IpAddress,
                Column::UserAgent,
                Column::RequestId,
                Column::CreatedAt,
            ])
            .values([
                Expr::val(entry.id),
                Expr::val(entry.actor.map(|id| id.0)),
                Expr::val(entry.action.as_str()),
                Expr::val(entry.resource_type.as_str()),
                Expr::val(entry.resource_id),
                Expr::val(entry.details.clone()),
                ip_value(backend, ctx.ip),
                Expr::val(ctx.user_agent.clone()),
                Expr::val(ctx.request_id.clone()),
                Expr::val(entry.created_at),
            ])
            .map_err(PortError::unexpected)?;
        self.conn
            .execute(&insert)
            .await
            .map(drop)
            .map_err(port_error)
    }
}
