//! Audit trail entries. They are written through the same unit of work as the
//! change they record, never updated, and deleted only by retention.

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::context::RequestContext;
use crate::user::UserId;

/// What happened. The string forms are stored and filtered on; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    AuthRegister,
    AuthLogin,
    UserUpdate,
    TokenPurchase,
    TokenRevoke,
    AdminForceRevoke,
    AdminUserUpdate,
    CurrencyDeposit,
    AdminSessionTerminate,
    SessionDeviceConflict,
}

impl AuditAction {
    pub const ALL: [AuditAction; 10] = [
        Self::AuthRegister,
        Self::AuthLogin,
        Self::UserUpdate,
        Self::TokenPurchase,
        Self::TokenRevoke,
        Self::AdminForceRevoke,
        Self::AdminUserUpdate,
        Self::CurrencyDeposit,
        Self::AdminSessionTerminate,
        Self::SessionDeviceConflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthRegister => "auth_register",
            Self::AuthLogin => "auth_login",
            Self::UserUpdate => "user_update",
            Self::TokenPurchase => "token_purchase",
            Self::TokenRevoke => "token_revoke",
            Self::AdminForceRevoke => "admin_force_revoke",
            Self::AdminUserUpdate => "admin_user_update",
            Self::CurrencyDeposit => "currency_deposit",
            Self::AdminSessionTerminate => "admin_session_terminate",
            Self::SessionDeviceConflict => "session_device_conflict",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The kind of thing an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    User,
    AccessToken,
    Transaction,
    ProxySession,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::AccessToken => "access_token",
            Self::Transaction => "transaction",
            Self::ProxySession => "proxy_session",
        }
    }
}

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
