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
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use zenzefi_testkit::fixtures::token;

    use super::*;
    use crate::database::InMemoryDatabase;
    use crate::database::fixtures::{T0, user_with_balance};

    #[tokio::test]
    async fn a_token_is_found_by_id_and_by_hash_and_its_hash_is_unique() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 0).await;
        let stored = token(user, 1, T0);
        db.insert_token(&stored).await.unwrap();
        let by_id = db.token_by_id(stored.id).await.unwrap();
        assert_eq!(by_id.as_ref(), Some(&stored));
        let by_hash = db.token_by_hash(&stored.token_hash).await.unwrap();
        assert_eq!(by_hash.as_ref(), Some(&stored));

        let same_hash = AccessToken {
            id: TokenId::generate(),
            ..stored
        };
        assert!(db.insert_token(&same_hash).await.is_err());
    }

    #[tokio::test]
    async fn activation_sets_activated_at_once_and_returns_the_stored_token() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 0).await;
        let stored = token(user, 1, T0);
        db.insert_token(&stored).await.unwrap();

        let first = db.activate_token(stored.id, T0).await.unwrap().unwrap();
        assert_eq!(first.activated_at, Some(T0));
        assert_eq!(first.expires_at(), Some(T0 + Duration::hours(24)));
        let later = T0 + Duration::minutes(1);
        let second = db.activate_token(stored.id, later).await.unwrap().unwrap();
        assert_eq!(second, first);
        let missing = db.activate_token(TokenId::generate(), later).await;
        assert_eq!(missing.unwrap(), None);
    }

    #[tokio::test]
    async fn a_token_is_revoked_only_once() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 0).await;
        let stored = token(user, 1, T0);
        db.insert_token(&stored).await.unwrap();

        assert!(db.revoke_token(stored.id, T0).await.unwrap());
        let revoked = db.token_by_id(stored.id).await.unwrap().unwrap();
        assert!(revoked.is_revoked());
        assert_eq!(revoked.revoked_at, Some(T0));
        assert!(!db.revoke_token(stored.id, T0).await.unwrap());
        assert!(!db.revoke_token(TokenId::generate(), T0).await.unwrap());
    }

    #[tokio::test]
    async fn a_users_tokens_are_newest_first_and_optionally_only_usable_ones() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 0).await;
        let other = user_with_balance(&db, 0).await;
        let at = |hours| T0 + Duration::hours(hours);
        let fresh = token(user, 1, at(0));
        let revoked = token(user, 2, at(1));
        let expired = token(user, 3, at(2));
        let someone_elses = token(other, 4, at(3));
        for t in [&fresh, &revoked, &expired, &someone_elses] {
            db.insert_token(t).await.unwrap();
        }
        db.revoke_token(revoked.id, at(2)).await.unwrap();
        db.activate_token(expired.id, at(2)).await.unwrap();

        let ids = |tokens: Vec<AccessToken>| tokens.iter().map(|t| t.id).collect::<Vec<_>>();
        let all = db.tokens_of_user(user, None).await.unwrap();
        assert_eq!(ids(all), [expired.id, revoked.id, fresh.id]);
        let before_expiry = db.tokens_of_user(user, Some(at(25))).await.unwrap();
        assert_eq!(ids(before_expiry), [expired.id, fresh.id]);
        let at_expiry = db.tokens_of_user(user, Some(at(26))).await.unwrap();
        assert_eq!(ids(at_expiry), [fresh.id]);
    }
}
