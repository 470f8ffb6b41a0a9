//! The ceiling on every account's balance
//! (`currency.max_balance`): no deposit, refund or operator may take a
//! balance above it, which also keeps every sum of amounts far from
//! overflowing.

use crate::error::PortError;
use crate::money::Money;
use crate::ports::UnitOfWork;
use crate::user::UserId;

/// The highest balance an account may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceLimit(Money);

/// A credit refused because it would take the balance above the limit.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("the balance would exceed {0} ZNC")]
    OverLimit(Money),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl BalanceLimit {
    /// `None` unless `max` is positive.
    pub fn new(max: Money) -> Option<Self> {
        (max > Money::ZERO).then_some(Self(max))
    }

    pub fn max(self) -> Money {
        self.0
    }

    /// Whether an account may hold `balance`.
    pub fn admits(self, balance: Money) -> bool {
        (Money::ZERO..=self.0).contains(&balance)
    }

    /// Whether `amount` may be added to `balance`.
    pub fn admits_credit(self, balance: Money, amount: Money) -> bool {
        balance.checked_add(amount).is_some_and(|b| self.admits(b))
    }

    /// Adds `amount` to the balance in `uow` and returns the new balance,
    /// unless it would pass the limit. The check and the write are one
    /// conditional write, so concurrent credits cannot pass it together.
    pub async fn credit(
        self,
        uow: &dyn UnitOfWork,
        user: UserId,
        amount: Money,
    ) -> Result<Money, CreditError> {
        if let Some(balance) = uow.credit_balance(user, amount, self.0).await? {
            return Ok(balance);
        }
        match uow.user_by_id(user).await? {
            Some(_) => Err(CreditError::OverLimit(self.0)),
            None => Err(PortError::unexpected("credit for a missing user").into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_positive_limit_exists() {
        assert!(BalanceLimit::new(Money::ZERO).is_none());
        assert!(BalanceLimit::new(Money::from_cents(-1)).is_none());
        assert!(BalanceLimit::new(Money::from_cents(1)).is_some());
    }

    #[test]
    fn credits_are_admitted_up_to_the_limit_and_never_overflow() {
        let limit = BalanceLimit::new(Money::from_cents(1000)).unwrap();
        assert!(limit.admits(Money::from_cents(1000)));
        assert!(!limit.admits(Money::from_cents(1001)));
        assert!(!limit.admits(Money::from_cents(-1)));
        assert!(limit.admits_credit(Money::from_cents(400), Money::from_cents(600)));
        assert!(!limit.admits_credit(Money::from_cents(401), Money::from_cents(600)));
        assert!(!limit.admits_credit(Money::from_cents(i64::MAX), Money::from_cents(1)));
    }
}
