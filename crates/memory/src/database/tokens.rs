//! Access tokens: unique hashes, activation and revocation that happen once.

use async_trait::async_trait;
use time::OffsetDateTime;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::TokenStore;
use zenzefi_domain::token::{AccessToken, TokenHash, TokenId};
use zenzefi_domain::user::UserId;

use super::{Access, MemStore, State, newest_first};

impl State {
    fn insert_token(&mut self, token: &AccessToken) -> Result<(), PortError> {
        let clash = self
            .tokens
            .values()
            .any(|other| other.id == token.id || other.token_hash == token.token_hash);
        if clash {
            return Err(PortError::unexpected("duplicate token id or token hash"));
        }
        self.tokens.insert(token.id, token.clone());
        Ok(())
    }

    fn token_by_hash(&self, hash: &TokenHash) -> Option<&AccessToken> {
        self.tokens.values().find(|t| &t.token_hash == hash)
    }

    fn tokens_of_user(&self, user: UserId, usable_at: Option<OffsetDateTime>) -> Vec<AccessToken> {
        let mut tokens: Vec<AccessToken> = self
            .tokens
            .values()
            .filter(|t| t.user_id == user && usable_at.is_none_or(|at| t.is_usable(at)))
            .cloned()
            .collect();
        newest_first(&mut tokens, |t| (t.created_at, t.id.0));
        tokens
    }

    /// The expiry is derived from `activated_at`, so setting it is enough.
    fn activate_token(&mut self, id: TokenId, now: OffsetDateTime) -> Option<AccessToken> {
        let token = self.tokens.get_mut(&id)?;
        token.activated_at.get_or_insert(now);
        Some(token.clone())
    }

    fn revoke_token(&mut self, id: TokenId, now: OffsetDateTime) -> bool {
        match self.tokens.get_mut(&id) {
            Some(token) if !token.is_revoked() => {
                token.is_active = false;
                token.revoked_at = Some(now);
                true
            }
            _ => false,
        }
    }
}

#[async_trait]
impl<A: Access> TokenStore for MemStore<A> {
    async fn insert_token(&self, token: &AccessToken) -> Result<(), PortError> {
        self.0.with(|s| s.insert_token(token)).await
    }

    async fn token_by_id(&self, id: TokenId) -> Result<Option<AccessToken>, PortError> {
        Ok(self.0.with(|s| s.tokens.get(&id).cloned()).await)
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<AccessToken>, PortError> {
        Ok(self.0.with(|s| s.token_by_hash(hash).cloned()).await)
    }

    async fn tokens_of_user(
        &self,
        user: UserId,
        usable_at: Option<OffsetDateTime>,
    ) -> Result<Vec<AccessToken>, PortError> {
        Ok(self.0.with(|s| s.tokens_of_user(user, usable_at)).await)
    }

    async fn activate_token(
        &self,
        id: TokenId,
        now: OffsetDateTime,
    ) -> Result<Option<AccessToken>, PortError> {
        Ok(self.0.with(|s| s.activate_token(id, now)).await)
    }

    async fn revoke_token(&self, id: TokenId, now: OffsetDateTime) -> Result<bool, PortError> {
        Ok(self.0.with(|s| s.revoke_token(id, now)).await)
    }

    async fn set_token_rate_limit(
        &self,
        id: TokenId,
        per_minute: Option<u32>,
    ) -> Result<bool, PortError> {
        Ok(self
            .0
            .with(|s| {
                s.tokens
                    .get_mut(&id)
                    .map(|token| token.rate_limit_per_minute = per_minute)
                    .is_some()
            })
            .await)
    }
}
