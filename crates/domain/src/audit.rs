//! Audit trail entries. They are written through the same unit of work as the
//! change they record, never updated, and deleted only by retention.

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::context::RequestContext;
use crate::enums::string_enum;
use crate::user::UserId;

string_enum!(
    /// What happened. The string forms are stored and filtered on.
    AuditAction {
        AuthRegister = "auth_register",
        AuthLogin = "auth_login",
        UserUpdate = "user_update",
        TokenPurchase = "token_purchase",
        TokenRevoke = "token_revoke",
        AdminForceRevoke = "admin_force_revoke",
        AdminUserUpdate = "admin_user_update",
        AdminTokenUpdate = "admin_token_update",
        CurrencyDeposit = "currency_deposit",
        AdminSessionTerminate = "admin_session_terminate",
        SessionDeviceConflict = "session_device_conflict",
    }
);

string_enum!(
    /// The kind of thing an entry is about.
    ResourceType {
        User = "user",
        AccessToken = "access_token",
        Transaction = "transaction",
        ProxySession = "proxy_session",
    }
);

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: Uuid,
    /// Who acted; `None` for anonymous attempts such as a failed login.
    pub actor: Option<UserId>,
    pub action: AuditAction,
    pub resource_type: ResourceType,
    pub resource_id: Option<Uuid>,
    /// Free-form facts about the action. Never a password or a token secret.
    pub details: Value,
    pub context: RequestContext,
    pub created_at: OffsetDateTime,
}

impl AuditEntry {
    pub fn new(
        action: AuditAction,
        resource_type: ResourceType,
        resource_id: Option<Uuid>,
        actor: Option<UserId>,
        details: Value,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            actor,
            action,
            resource_type,
            resource_id,
            details,
            context: context.clone(),
            created_at: now,
        }
    }
}
