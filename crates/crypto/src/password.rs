//! argon2id with the library's default (OWASP-recommended) parameters, run
//! on the blocking pool so that a burst of logins cannot stall the executor.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::PasswordHasher;
use zenzefi_domain::user::{Password, PasswordHash};

pub struct Argon2Hasher {
    /// Verified against when the user is unknown, so both paths cost the same.
    dummy: Arc<str>,
}

impl Argon2Hasher {
    pub fn new() -> Result<Self, PortError> {
        let dummy = hash_blocking("zenzefi-timing-equaliser-0")?;
        Ok(Self {
            dummy: dummy.into(),
        })
    }
}

fn hash_blocking(password: &str) -> Result<String, PortError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PortError::unexpected(e.to_string()))
}

async fn off_executor<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PortError> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(PortError::unexpected)
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, PortError> {
        let password = password.clone();
        let phc = off_executor(move || hash_blocking(password.expose())).await??;
        Ok(PasswordHash::new(phc))
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, PortError> {
        let password = password.clone();
        let (phc, known): (Arc<str>, bool) = match hash {
            Some(hash) => (hash.as_str().into(), true),
            None => (self.dummy.clone(), false),
        };
        let matches = off_executor(move || {
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &*phc)
                .is_ok()
        })
        .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_its_own_hashes_only_for_the_right_password() {
        let hasher = Argon2Hasher::new().unwrap();
        let password = Password::parse("correct horse 1".into()).unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(hasher.verify(&password, Some(&hash)).await.unwrap());
        let wrong = Password::offered("correct horse 2".into()).unwrap();
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_and_garbage_hashes_never_match() {
        let hasher = Argon2Hasher::new().unwrap();
        let password = Password::offered("zenzefi-timing-equaliser-0".into()).unwrap();
        assert!(!hasher.verify(&password, None).await.unwrap());
        let garbage = PasswordHash::new("not a phc string".into());
        assert!(!hasher.verify(&password, Some(&garbage)).await.unwrap());
    }
}
