//! The ledger and the balances it moves, with the same refusals as the SQL
//! stores' constraints and conditions (unique payment ids, no negative
//! balance, no credit past the ceiling).

use async_trait::async_trait;
use time::OffsetDateTime;
use zenzefi_domain::ledger::{EntryKind, EntryStatus, LedgerEntry};
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::LedgerStore;
use zenzefi_domain::user::UserId;
use zenzefi_domain::{Money, PortError};

use super::{Access, MemStore, State, newest_first};

impl State {
    fn insert_entry(&mut self, entry: &LedgerEntry) -> Result<(), PortError> {
        let clash = self.ledger.iter().any(|other| {
            other.id == entry.id
                || (entry.payment_id.is_some() && other.payment_id == entry.payment_id)
        });
        if clash {
            return Err(PortError::unexpected(
                "duplicate ledger entry id or payment id",
            ));
        }
        self.ledger.push(entry.clone());
        Ok(())
    }

    fn entry_by_payment_id(&self, payment_id: &str) -> Option<&LedgerEntry> {
        self.ledger
            .iter()
            .find(|e| e.payment_id.as_deref() == Some(payment_id))
    }

    fn settle_pending(
        &mut self,
        payment_id: &str,
        status: EntryStatus,
        now: OffsetDateTime,
    ) -> Option<LedgerEntry> {
        let entry = self.ledger.iter_mut().find(|e| {
            e.payment_id.as_deref() == Some(payment_id) && e.status == EntryStatus::Pending
        })?;
        entry.status = status;
        entry.updated_at = now;
        Some(entry.clone())
    }

    fn entries_of_user(
        &self,
        user: UserId,
        kind: Option<EntryKind>,
        page: Page,
    ) -> Paged<LedgerEntry> {
        let mut entries: Vec<LedgerEntry> = self
            .ledger
            .iter()
            .filter(|e| e.user_id == user && kind.is_none_or(|k| e.kind == k))
            .cloned()
            .collect();
        newest_first(&mut entries, |e| (e.created_at, e.id.0));
        let total = entries.len() as u64;
        let items = entries
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .collect();
        Paged::exact(items, total)
    }

    /// Adds `delta` when `allowed` says so of the current balance.
    fn add_to_balance(
        &mut self,
        user: UserId,
        delta: Money,
        allowed: impl FnOnce(Money) -> bool,
    ) -> Result<Option<Money>, PortError> {
        let Some(user) = self.users.get_mut(&user) else {
            return Ok(None);
        };
        if !allowed(user.balance) {
            return Ok(None);
        }
        // An overflowing balance is a broken invariant, not a refusal.
        let balance = user
            .balance
            .checked_add(delta)
            .ok_or_else(|| PortError::unexpected("balance overflow"))?;
        user.balance = balance;
        Ok(Some(balance))
    }

    fn adjust_balance(&mut self, user: UserId, delta: Money) -> Result<Option<Money>, PortError> {
        self.add_to_balance(user, delta, |balance| {
            balance
                .checked_add(delta)
                .is_none_or(|after| after >= Money::ZERO)
        })
    }

    fn credit_balance(
        &mut self,
        user: UserId,
        amount: Money,
        ceiling: Money,
    ) -> Result<Option<Money>, PortError> {
        let Some(room) = ceiling.checked_sub(amount) else {
            return Ok(None);
        };
        self.add_to_balance(user, amount, |balance| balance <= room)
    }
}

#[async_trait]
impl<A: Access> LedgerStore for MemStore<A> {
    async fn insert_entry(&self, entry: &LedgerEntry) -> Result<(), PortError> {
        self.0.with(|s| s.insert_entry(entry)).await
    }

    async fn entry_by_payment_id(
        &self,
        payment_id: &str,
    ) -> Result<Option<LedgerEntry>, PortError> {
        Ok(self
            .0
            .with(|s| s.entry_by_payment_id(payment_id).cloned())
            .await)
    }

    async fn settle_pending(
        &self,
        payment_id: &str,
        status: EntryStatus,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerEntry>, PortError> {
        Ok(self
            .0
            .with(|s| s.settle_pending(payment_id, status, now))
            .await)
    }

    async fn entries_of_user(
        &self,
        user: UserId,
        kind: Option<EntryKind>,
        page: Page,
    ) -> Result<Paged<LedgerEntry>, PortError> {
        Ok(self.0.with(|s| s.entries_of_user(user, kind, page)).await)
    }

    async fn adjust_balance(&self, user: UserId, delta: Money) -> Result<Option<Money>, PortError> {
        self.0.with(|s| s.adjust_balance(user, delta)).await
    }

    async fn credit_balance(
        &self,
        user: UserId,
        amount: Money,
        ceiling: Money,
    ) -> Result<Option<Money>, PortError> {
        self.0
            .with(|s| s.credit_balance(user, amount, ceiling))
            .await
    }
}
