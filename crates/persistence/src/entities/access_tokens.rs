use sea_orm::entity::prelude::*;

/// Access tokens. `expires_at` is derived (activated_at + duration) and
/// stored only so that "not expired" can be filtered on; `last_used_at` is
/// not part of the domain's token and is left to whoever records usage.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    #[sea_orm(column_type = "Char(Some(64))")]
    pub token_hash: String,
    #[sea_orm(column_type = "String(StringLen::N(8))")]
    pub token_prefix: String,
    pub duration_hours: i32,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub scope: String,
    pub cost_cents: i64,
    pub created_at: TimeDateTimeWithTimeZone,
    pub activated_at: Option<TimeDateTimeWithTimeZone>,
    pub expires_at: Option<TimeDateTimeWithTimeZone>,
    pub is_active: bool,
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
    pub last_used_at: Option<TimeDateTimeWithTimeZone>,
    pub rate_limit_per_minute: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
