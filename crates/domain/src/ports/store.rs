use async_trait::async_trait;

use crate::audit::AuditEntry;
use crate::error::PortError;
use crate::user::{Email, User, UserId};

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Users. Implemented by the database handle (each call on its own) and by a
/// [`UnitOfWork`] (each call inside its transaction).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// MUST fail with `EmailTaken` / `UsernameTaken` when another user has the
    /// email or (case-insensitively) the username, also when a concurrent
    /// insert won the race.
    async fn insert_user(&self, user: &User) -> Result<(), InsertUserError>;

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, PortError>;

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, PortError>;

    /// Writes the profile and flags of `user` (full name, password hash,
    /// is_active, is_superuser, updated_at). The balance is NOT written here:
    /// it changes only with a ledger row. Updating a missing user is a no-op.
    async fn update_user(&self, user: &User) -> Result<(), PortError>;
}

/// The append-only audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), PortError>;
}

/// A database transaction seen through the store ports. Everything written
/// through it becomes visible atomically at [`UnitOfWork::commit`]; dropping
/// it without commit rolls everything back. While a unit of work is open, do
/// every read and write of the use-case through it (not through the
/// [`Database`]), or an embedded single-connection store would wait on itself.
#[async_trait]
pub trait UnitOfWork: UserStore + AuditStore + Send + Sync {
    async fn commit(self: Box<Self>) -> Result<(), PortError>;
}

/// The database: the same store ports without a transaction, plus the way to
/// open one.
#[async_trait]
pub trait Database: UserStore + AuditStore + Send + Sync {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, PortError>;
}
