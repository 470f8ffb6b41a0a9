use async_trait::async_trait;

use crate::error::PortError;
use crate::user::{Password, PasswordHash};

/// Slow, salted password hashing (argon2id in production).
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password. Must not block the async executor.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, PortError>;

    /// Whether `password` matches `hash`. With `hash = None` (unknown user) it
    /// MUST spend about as long as a real check and return `false`, so that
    /// timing does not reveal which emails exist. A malformed stored hash is
    /// `Ok(false)`, never a panic.
    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, PortError>;
}
