use sea_orm::entity::prelude::*;

/// Proxy sessions (`ProxySession` in the domain). Written with explicit
/// statements (the IP column needs a cast on PostgreSQL); read through this
/// entity with the IP selected as text.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "proxy_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub device_id: String,
    pub ip_address: String,
    pub user_agent: Option<String>,
    pub started_at: TimeDateTimeWithTimeZone,
    pub last_activity: TimeDateTimeWithTimeZone,
    pub ended_at: Option<TimeDateTimeWithTimeZone>,
    #[sea_orm(column_type = "String(StringLen::N(16))", nullable)]
    pub end_reason: Option<String>,
    pub bytes_transferred: i64,
    pub request_count: i64,
    pub is_active: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
