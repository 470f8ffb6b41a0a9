//! What operators filter on, and the rows they get back with their owners.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{AuditAction, AuditEntry, ResourceType};
use crate::page::{Cursor, Keyed};
use crate::session::ProxySession;
use crate::token::{AccessToken, TokenId};
use crate::user::{User, UserId};

/// `search`: a case-insensitive substring of email or username, matched
/// literally (`%`, `_` and `\` are not wildcards).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub search: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    pub user_id: Option<UserId>,
    /// Only tokens neither revoked nor expired at this time.
    pub usable_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub user_id: Option<UserId>,
    pub action: Option<AuditAction>,
    pub resource_type: Option<ResourceType>,
    pub resource_id: Option<Uuid>,
    /// Inclusive.
    pub since: Option<OffsetDateTime>,
    /// Exclusive.
    pub until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub active_only: bool,
    pub user_id: Option<UserId>,
    pub token_id: Option<TokenId>,
}

/// The email and username of the user a row belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub email: String,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token: AccessToken,
    pub last_used_at: Option<OffsetDateTime>,
    pub owner: Owner,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub entry: AuditEntry,
    /// `None` for anonymous rows and for users deleted since.
    pub actor: Option<Owner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub session: ProxySession,
    pub owner: Owner,
}

/// The operators' lists are newest first by these keys, ties by id.
impl Keyed for User {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id.0,
        }
    }
}

impl Keyed for TokenRecord {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.token.created_at,
            id: self.token.id.0,
        }
    }
}

impl Keyed for AuditRecord {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.entry.created_at,
            id: self.entry.id,
        }
    }
}

impl Keyed for SessionRecord {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.session.started_at,
            id: self.session.id.0,
        }
    }
}
