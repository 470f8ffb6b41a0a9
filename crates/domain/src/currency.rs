//! Currency use-cases: balance, ledger, deposits and their
//! settlement by the payment provider.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditAction, AuditEntry, ResourceType};
use crate::balance::{BalanceLimit, CreditError};
use crate::context::RequestContext;
use crate::error::PortError;
use crate::ledger::{EntryId, EntryKind, EntryStatus, LedgerEntry};
use crate::money::Money;
use crate::page::{Page, Paged};
use crate::ports::{Clock, LedgerStore, Transactions, UserStore};
use crate::user::UserId;
use crate::validation::ValidationErrors;

pub const MIN_DEPOSIT: Money = Money::from_cents(100);
pub const MAX_DEPOSIT: Money = Money::from_cents(10_000_000);

/// A deposit amount within the allowed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepositAmount(Money);

impl DepositAmount {
    pub fn parse(amount: Money) -> Result<Self, ValidationErrors> {
        if (MIN_DEPOSIT..=MAX_DEPOSIT).contains(&amount) {
            Ok(Self(amount))
        } else {
            Err(ValidationErrors::single(
                "amount_znc",
                format!("must be between {MIN_DEPOSIT} and {MAX_DEPOSIT}"),
            ))
        }
    }

    pub fn money(self) -> Money {
        self.0
    }
}

/// How the payment provider says a payment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    Succeeded,
    Canceled,
}

#[derive(Debug, thiserror::Error)]
pub enum DepositError {
    /// The deposit would take the balance above this limit.
    #[error("the balance would exceed {0} ZNC")]
    BalanceLimit(Money),
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("unknown payment")]
    UnknownPayment,
    /// Crediting the payment would take the balance above this limit.
    #[error("the balance would exceed {0} ZNC")]
    BalanceLimit(Money),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl From<CreditError> for SettleError {
    fn from(err: CreditError) -> Self {
        match err {
            CreditError::OverLimit(max) => Self::BalanceLimit(max),
            CreditError::Port(e) => Self::Port(e),
        }
    }
}

/// What the currency use-cases need of the database: units of work, and the
/// stores they call outside one.
pub trait CurrencyDb: Transactions + UserStore + LedgerStore {}

impl<T: Transactions + UserStore + LedgerStore> CurrencyDb for T {}

pub struct CurrencyService {
    db: Arc<dyn CurrencyDb>,
    clock: Arc<dyn Clock>,
    rub_per_znc: Money,
    limit: BalanceLimit,
}

impl CurrencyService {
    pub fn new(
        db: Arc<dyn CurrencyDb>,
        clock: Arc<dyn Clock>,
        rub_per_znc: Money,
        limit: BalanceLimit,
    ) -> Self {
        Self {
            db,
            clock,
            rub_per_znc,
            limit,
        }
    }

    /// The highest balance an account may hold.
    pub fn balance_limit(&self) -> BalanceLimit {
        self.limit
    }

    /// What `amount` ZNC costs in roubles, rounded down to the kopeck.
    pub fn in_rub(&self, amount: Money) -> Money {
        let kopecks = i128::from(amount.cents()) * i128::from(self.rub_per_znc.cents()) / 100;
        Money::from_cents(i64::try_from(kopecks).unwrap_or(i64::MAX))
    }

    pub async fn balance(&self, user: UserId) -> Result<Money, PortError> {
        let user = self.db.user_by_id(user).await?;
        Ok(user.map_or(Money::ZERO, |u| u.balance))
    }

    pub async fn transactions(
        &self,
        user: UserId,
        kind: Option<EntryKind>,
        page: Page,
    ) -> Result<Paged<LedgerEntry>, PortError> {
        self.db.entries_of_user(user, kind, page).await
    }

    /// Records a pending deposit; the balance moves only when the provider
    /// confirms it ([`CurrencyService::settle_payment`]). A deposit that
    /// would take today's balance above the limit is refused before the
    /// user pays; settling checks again, atomically.
    pub async fn start_deposit(
        &self,
        user: UserId,
        amount: DepositAmount,
    ) -> Result<LedgerEntry, DepositError> {
        if !self
            .limit
            .admits_credit(self.balance(user).await?, amount.money())
        {
            return Err(DepositError::BalanceLimit(self.limit.max()));
        }
        let now = self.clock.now();
        let entry = LedgerEntry {
            id: EntryId::generate(),
            user_id: user,
            amount: amount.money(),
            kind: EntryKind::Deposit,
            status: EntryStatus::Pending,
            description: format!("Deposit of {} ZNC", amount.money()),
            payment_id: Some(Uuid::new_v4().simple().to_string()),
            created_at: now,
            updated_at: now,
        };
        self.db.insert_entry(&entry).await?;
        Ok(entry)
    }

    /// Applies the provider's verdict on a payment. Repeated and concurrent
    /// calls are safe: only the call that moves the entry out of `pending`
    /// credits the balance; the others return `Ok(false)`. A success that
    /// would take the balance above the limit changes nothing: the entry
    /// stays pending, so the provider's retry can credit it once there is
    /// room, and an operator sees it meanwhile.
    pub async fn settle_payment(
        &self,
        payment_id: &str,
        outcome: PaymentOutcome,
        ctx: &RequestContext,
    ) -> Result<bool, SettleError> {
        let now = self.clock.now();
        let status = match outcome {
            PaymentOutcome::Succeeded => EntryStatus::Succeeded,
            PaymentOutcome::Canceled => EntryStatus::Canceled,
        };
        let uow = self.db.begin().await?;
        let Some(entry) = uow.settle_pending(payment_id, status, now).await? else {
            return match uow.entry_by_payment_id(payment_id).await? {
                Some(_) => Ok(false),
                None => Err(SettleError::UnknownPayment),
            };
        };
        if status == EntryStatus::Succeeded {
            let balance = match self
                .limit
                .credit(uow.as_ref(), entry.user_id, entry.amount)
                .await
            {
                Err(CreditError::OverLimit(max)) => {
                    tracing::warn!(payment_id, amount = %entry.amount, %max,
                        "a paid deposit would pass the balance limit; left pending");
                    return Err(SettleError::BalanceLimit(max));
                }
                credited => credited?,
            };
            uow.append_audit(&AuditEntry::new(
                AuditAction::CurrencyDeposit,
                ResourceType::Transaction,
                Some(entry.id.0),
                Some(entry.user_id),
                json!({
                    "payment_id": payment_id,
                    "amount": entry.amount.to_string(),
                    "balance_after": balance.to_string(),
                }),
                ctx,
                now,
            ))
            .await?;
        }
        uow.commit().await?;
        Ok(true)
    }
}
