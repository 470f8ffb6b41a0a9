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
        Paged { items, total }
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

#[cfg(test)]
mod tests {
    use time::Duration;
    use zenzefi_domain::ledger::EntryId;
    use zenzefi_domain::ports::{Database, UserStore};

    use super::*;
    use crate::database::InMemoryDatabase;
    use crate::database::fixtures::{T0, user_with_balance};

    fn deposit(user: UserId, payment_id: &str, at: OffsetDateTime) -> LedgerEntry {
        LedgerEntry {
            id: EntryId::generate(),
            user_id: user,
            amount: Money::from_cents(500),
            kind: EntryKind::Deposit,
            status: EntryStatus::Pending,
            description: "deposit".into(),
            payment_id: Some(payment_id.into()),
            created_at: at,
            updated_at: at,
        }
    }

    async fn balance(db: &InMemoryDatabase, user: UserId) -> Money {
        db.user_by_id(user).await.unwrap().unwrap().balance
    }

    #[tokio::test]
    async fn adjust_balance_returns_the_new_balance_and_refuses_to_go_negative() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 1000).await;
        let adjusted = db.adjust_balance(user, Money::from_cents(-400)).await;
        assert_eq!(adjusted.unwrap(), Some(Money::from_cents(600)));
        let refused = db.adjust_balance(user, Money::from_cents(-601)).await;
        assert_eq!(refused.unwrap(), None);
        assert_eq!(balance(&db, user).await, Money::from_cents(600));
        let emptied = db.adjust_balance(user, Money::from_cents(-600)).await;
        assert_eq!(emptied.unwrap(), Some(Money::ZERO));
    }

    #[tokio::test]
    async fn adjust_balance_of_a_missing_user_is_refused() {
        let db = InMemoryDatabase::default();
        let adjusted = db
            .adjust_balance(UserId::generate(), Money::from_cents(1))
            .await;
        assert_eq!(adjusted.unwrap(), None);
    }

    #[tokio::test]
    async fn credit_balance_stops_at_the_ceiling_without_overflowing() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 1000).await;
        let ceiling = Money::from_cents(1500);
        let credited = db
            .credit_balance(user, Money::from_cents(500), ceiling)
            .await;
        assert_eq!(credited.unwrap(), Some(ceiling));
        let refused = db.credit_balance(user, Money::from_cents(1), ceiling).await;
        assert_eq!(refused.unwrap(), None);
        assert_eq!(balance(&db, user).await, ceiling);

        let rich = user_with_balance(&db, i64::MAX - 1).await;
        let refused = db.credit_balance(rich, Money::from_cents(2), ceiling).await;
        assert_eq!(refused.unwrap(), None);
        let missing = db.credit_balance(UserId::generate(), Money::from_cents(1), ceiling);
        assert_eq!(missing.await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_balance_change_in_an_uncommitted_unit_of_work_is_rolled_back() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 1000).await;
        let uow = db.begin().await.unwrap();
        let inside = uow.adjust_balance(user, Money::from_cents(-1000)).await;
        assert_eq!(inside.unwrap(), Some(Money::ZERO));
        drop(uow);
        assert_eq!(balance(&db, user).await, Money::from_cents(1000));
    }

    #[tokio::test]
    async fn settle_pending_moves_a_pending_entry_only_once() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 0).await;
        db.insert_entry(&deposit(user, "pay-1", T0)).await.unwrap();
        let later = T0 + Duration::minutes(5);

        let settled = db
            .settle_pending("pay-1", EntryStatus::Succeeded, later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(settled.status, EntryStatus::Succeeded);
        assert_eq!(settled.updated_at, later);
        assert_eq!(
            db.entry_by_payment_id("pay-1").await.unwrap(),
            Some(settled)
        );

        let again = db
            .settle_pending("pay-1", EntryStatus::Canceled, later)
            .await;
        assert_eq!(again.unwrap(), None);
        let unknown = db
            .settle_pending("pay-2", EntryStatus::Canceled, later)
            .await;
        assert_eq!(unknown.unwrap(), None);
    }

    #[tokio::test]
    async fn a_second_entry_with_the_same_payment_id_is_rejected() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 0).await;
        db.insert_entry(&deposit(user, "pay-1", T0)).await.unwrap();
        assert!(db.insert_entry(&deposit(user, "pay-1", T0)).await.is_err());
    }

    #[tokio::test]
    async fn entries_are_newest_first_filtered_by_kind_and_paged() {
        let db = InMemoryDatabase::default();
        let user = user_with_balance(&db, 0).await;
        let other = user_with_balance(&db, 0).await;
        let at = |minutes| T0 + Duration::minutes(minutes);
        let purchase = |minutes| {
            LedgerEntry::settled(
                user,
                Money::from_cents(-100),
                EntryKind::Purchase,
                "purchase".into(),
                at(minutes),
            )
        };
        let rows = [
            deposit(user, "pay-1", at(0)),
            purchase(1),
            deposit(user, "pay-2", at(2)),
            purchase(3),
            deposit(other, "pay-3", at(4)),
        ];
        for row in &rows {
            db.insert_entry(row).await.unwrap();
        }

        let all = db
            .entries_of_user(user, None, Page::default())
            .await
            .unwrap();
        assert_eq!(all.total, 4);
        let ids: Vec<_> = all.items.iter().map(|e| e.id).collect();
        assert_eq!(ids, [rows[3].id, rows[2].id, rows[1].id, rows[0].id]);

        let page = Page {
            limit: 1,
            offset: 1,
        };
        let deposits = db
            .entries_of_user(user, Some(EntryKind::Deposit), page)
            .await
            .unwrap();
        assert_eq!(deposits.total, 2);
        assert_eq!(deposits.items, [rows[0].clone()]);

        let past_the_end = Page {
            limit: 10,
            offset: 10,
        };
        let empty = db.entries_of_user(user, None, past_the_end).await.unwrap();
        assert_eq!((empty.items.len(), empty.total), (0, 4));
    }
}
