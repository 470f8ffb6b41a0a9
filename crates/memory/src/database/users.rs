//! Users: case-insensitive uniqueness and a balance that plain updates
//! never touch.

use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{InsertUserError, UserStore};
use zenzefi_domain::user::{Email, User, UserId, Username};

use super::{Access, MemStore, State};

impl State {
    fn insert_user(&mut self, user: &User) -> Result<(), InsertUserError> {
        let lower = user.username.as_str().to_lowercase();
        for other in self.users.values() {
            if other.email == user.email {
                return Err(InsertUserError::EmailTaken);
            }
            if other.username.as_str().to_lowercase() == lower {
                return Err(InsertUserError::UsernameTaken);
            }
        }
        self.users.insert(user.id, user.clone());
        Ok(())
    }

    fn update_user(&mut self, user: &User) {
        if let Some(stored) = self.users.get_mut(&user.id) {
            let balance = stored.balance;
            *stored = User {
                balance,
                ..user.clone()
            };
        }
    }
}

#[async_trait]
impl<A: Access> UserStore for MemStore<A> {
    async fn insert_user(&self, user: &User) -> Result<(), InsertUserError> {
        self.0.with(|s| s.insert_user(user)).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, PortError> {
        Ok(self.0.with(|s| s.users.get(&id).cloned()).await)
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, PortError> {
        Ok(self
            .0
            .with(|s| s.users.values().find(|u| &u.email == email).cloned())
            .await)
    }

    async fn username_taken(&self, username: &Username) -> Result<bool, PortError> {
        let lower = username.as_str().to_lowercase();
        Ok(self
            .0
            .with(|s| {
                s.users
                    .values()
                    .any(|u| u.username.as_str().to_lowercase() == lower)
            })
            .await)
    }

    async fn update_user(&self, user: &User) -> Result<(), PortError> {
        self.0.with(|s| s.update_user(user)).await;
        Ok(())
    }
}
