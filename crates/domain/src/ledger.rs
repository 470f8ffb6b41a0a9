//! The ZNC ledger: every balance change is a row here, and a
//! user's balance always equals the sum of their succeeded rows.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::enums::string_enum;
use crate::money::Money;
use crate::user::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryId(pub Uuid);

impl EntryId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

string_enum!(
    /// Why the balance moved.
    EntryKind {
        Deposit = "deposit",
        Purchase = "purchase",
        Refund = "refund",
        Adjustment = "adjustment",
    }
);

string_enum!(
    /// Only `Succeeded` rows count towards the balance.
    EntryStatus {
        Pending = "pending",
        Succeeded = "succeeded",
        Canceled = "canceled",
    }
);

/// One ledger row. `amount` is signed: + credit, − debit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: EntryId,
    pub user_id: UserId,
    pub amount: Money,
    pub kind: EntryKind,
    pub status: EntryStatus,
    pub description: String,
    /// The payment provider's id of a deposit.
    pub payment_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl LedgerEntry {
    /// A row that takes effect at once (purchase, refund, adjustment).
    pub fn settled(
        user_id: UserId,
        amount: Money,
        kind: EntryKind,
        description: String,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: EntryId::generate(),
            user_id,
            amount,
            kind,
            status: EntryStatus::Succeeded,
            description,
            payment_id: None,
            created_at: now,
            updated_at: now,
        }
    }
}
