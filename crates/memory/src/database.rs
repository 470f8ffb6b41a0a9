//! A database held in memory with real transaction semantics: a unit of work
//! takes the whole store exclusively, writes to a copy, and swaps the copy in
//! on commit, so an uncommitted or failed use-case leaves nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use zenzefi_domain::PortError;
use zenzefi_domain::audit::AuditEntry;
use zenzefi_domain::ports::{AuditStore, Database, InsertUserError, UnitOfWork, UserStore};
use zenzefi_domain::user::{Email, User, UserId};

#[derive(Debug, Default, Clone)]
pub struct State {
    users: HashMap<UserId, User>,
    audit: Vec<AuditEntry>,
}

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

/// How a store reaches its state: shared (each call locks it briefly) or
/// inside a unit of work (the state is already held exclusively). Sealed in
/// a private module so that only this file can name it.
mod access {
    use super::*;

    pub trait Access: Send + Sync {
        fn with<R: Send>(
            &self,
            f: impl FnOnce(&mut State) -> R + Send,
        ) -> impl Future<Output = R> + Send;
    }

    #[derive(Clone, Default)]
    pub struct Shared(pub(super) Arc<AsyncMutex<State>>);

    pub struct Exclusive {
        pub(super) committed: OwnedMutexGuard<State>,
        pub(super) working: Mutex<State>,
    }

    impl Access for Shared {
        async fn with<R: Send>(&self, f: impl FnOnce(&mut State) -> R + Send) -> R {
            f(&mut *self.0.lock().await)
        }
    }

    impl Access for Exclusive {
        async fn with<R: Send>(&self, f: impl FnOnce(&mut State) -> R + Send) -> R {
            f(&mut self.working.lock().unwrap_or_else(|e| e.into_inner()))
        }
    }
}

use access::{Access, Exclusive, Shared};

/// The store ports over in-memory state, shared or transactional.
pub struct MemStore<A>(A);

/// The in-memory [`Database`]. Clones share the same data.
pub type InMemoryDatabase = MemStore<Shared>;

impl Default for InMemoryDatabase {
    fn default() -> Self {
        MemStore(Shared::default())
    }
}

impl Clone for InMemoryDatabase {
    fn clone(&self) -> Self {
        MemStore(self.0.clone())
    }
}

impl InMemoryDatabase {
    /// Every audit entry committed so far, oldest first.
    pub async fn audit_entries(&self) -> Vec<AuditEntry> {
        self.0.with(|s| s.audit.clone()).await
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

    async fn update_user(&self, user: &User) -> Result<(), PortError> {
        self.0.with(|s| s.update_user(user)).await;
        Ok(())
    }
}

#[async_trait]
impl<A: Access> AuditStore for MemStore<A> {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), PortError> {
        self.0.with(|s| s.audit.push(entry.clone())).await;
        Ok(())
    }
}

#[async_trait]
impl UnitOfWork for MemStore<Exclusive> {
    async fn commit(self: Box<Self>) -> Result<(), PortError> {
        let Exclusive {
            mut committed,
            working,
        } = self.0;
        *committed = working.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(())
    }
}

#[async_trait]
impl Database for InMemoryDatabase {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, PortError> {
        let committed = (self.0).0.clone().lock_owned().await;
        let working = Mutex::new(committed.clone());
        Ok(Box::new(MemStore(Exclusive { committed, working })))
    }
}
