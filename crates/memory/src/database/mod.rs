//! A database held in memory with real transaction semantics: a unit of work
//! takes the whole store exclusively, writes to a copy, and swaps the copy in
//! on commit, so an uncommitted or failed use-case leaves nothing behind.
//!
//! Each store port lives in its own module as operations on [`State`] plus
//! the port's implementation for [`MemStore`].

mod admin;
mod job_runs;
mod ledger;
mod sessions;
mod stats;
mod tokens;
mod usage;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use uuid::Uuid;
use zenzefi_domain::PortError;
use zenzefi_domain::audit::AuditEntry;
use zenzefi_domain::ledger::LedgerEntry;
use zenzefi_domain::ports::{AuditStore, Transactions, UnitOfWork};
use zenzefi_domain::session::{ProxySession, SessionId};
use zenzefi_domain::token::{AccessToken, TokenId};
use zenzefi_domain::user::{User, UserId};

#[derive(Debug, Default, Clone)]
pub struct State {
    users: HashMap<UserId, User>,
    audit: Vec<AuditEntry>,
    ledger: Vec<LedgerEntry>,
    tokens: HashMap<TokenId, AccessToken>,
    sessions: HashMap<SessionId, ProxySession>,
    /// `last_used_at` of the SQL stores, which the domain's token lacks.
    tokens_last_used: HashMap<TokenId, OffsetDateTime>,
    /// Claimed `(job, occurrence)` pairs, the occurrence in UTC.
    job_runs: HashMap<(String, OffsetDateTime), Option<OffsetDateTime>>,
    usage: usage::UsageBuckets,
}

/// Sorts newest first the way the SQL stores do: by creation time, then by
/// id (UUIDv7, so later ids win ties within one timestamp).
fn newest_first<T>(items: &mut [T], key: impl Fn(&T) -> (OffsetDateTime, Uuid)) {
    items.sort_by_key(|item| std::cmp::Reverse(key(item)));
}

/// How a store reaches its state: shared (each call locks it briefly) or
/// inside a unit of work (the state is already held exclusively). Sealed in
/// a private module so that only this module tree can name it.
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

/// The in-memory [`Database`](zenzefi_domain::ports::Database). Clones share the same data.
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
impl Transactions for InMemoryDatabase {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, PortError> {
        let committed = (self.0).0.clone().lock_owned().await;
        let working = Mutex::new(committed.clone());
        Ok(Box::new(MemStore(Exclusive { committed, working })))
    }
}
