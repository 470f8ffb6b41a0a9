//! Access tokens: what a holder presents to the proxy.

use std::fmt;

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::enums::string_enum;
use crate::money::Money;
use crate::user::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenId(pub Uuid);

impl TokenId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_enum!(
    /// What a token may reach through the proxy.
    Scope {
        Full = "full",
        CertificatesOnly = "certificates_only",
    }
);

const SECRET_PREFIX: &str = "zzf_";
/// Characters of the secret kept for display.
pub const DISPLAY_PREFIX_LEN: usize = 8;

/// The secret a holder presents. Shown once, at purchase; never stored,
/// logged or printed (Debug is redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// `zzf_` and the 256 random bits as lowercase hex (URL-safe).
    pub fn from_random(bytes: [u8; 32]) -> Self {
        let mut secret = String::with_capacity(SECRET_PREFIX.len() + 64);
        secret.push_str(SECRET_PREFIX);
        push_hex(&mut secret, &bytes);
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    pub fn display_prefix(&self) -> String {
        self.0.chars().take(DISPLAY_PREFIX_LEN).collect()
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// Lowercase hex SHA-256 of a secret: how tokens are stored and cached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of whatever a client presented, valid secret or not.
    pub fn of(presented: &str) -> Self {
        let digest = Sha256::digest(presented.as_bytes());
        let mut hex = String::with_capacity(64);
        push_hex(&mut hex, &digest);
        Self(hex)
    }

    /// A hash read back from storage.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lowercase hex, without a `format!` per byte: this runs on every
/// proxied request.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub token_hash: TokenHash,
    pub token_prefix: String,
    pub duration_hours: u32,
    pub scope: Scope,
    pub cost: Money,
    pub created_at: OffsetDateTime,
    /// Set by the first proxied request.
    pub activated_at: Option<OffsetDateTime>,
    pub is_active: bool,
    pub revoked_at: Option<OffsetDateTime>,
    /// Proxied requests per minute an admin set for this token; `None`
    /// follows `rate_limit.proxy_per_minute`.
    pub rate_limit_per_minute: Option<u32>,
}

impl AccessToken {
    /// A token just bought: not yet activated, active, not revoked. The
    /// secret itself is not kept, only its hash and display prefix.
    pub fn issue(
        user_id: UserId,
        secret: &TokenSecret,
        duration_hours: u32,
        scope: Scope,
        cost: Money,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: TokenId::generate(),
            user_id,
            token_hash: secret.hash(),
            token_prefix: secret.display_prefix(),
            duration_hours,
            scope,
            cost,
            created_at: now,
            activated_at: None,
            is_active: true,
            revoked_at: None,
            rate_limit_per_minute: None,
        }
    }

    pub fn duration(&self) -> Duration {
        Duration::hours(i64::from(self.duration_hours))
    }

    /// `activated_at + duration`; `None` until activation.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.activated_at.map(|at| at + self.duration())
    }

    pub fn is_revoked(&self) -> bool {
        !self.is_active || self.revoked_at.is_some()
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at().is_some_and(|end| now >= end)
    }

    /// Usable now, leaving the owner's status aside.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        !self.is_revoked() && !self.is_expired(now)
    }

    /// What revoking now gives back: the cost times the unused share of the
    /// duration, rounded down to the cent. Never activated → all of it;
    /// expired → nothing.
    pub fn refund_at(&self, now: OffsetDateTime) -> Money {
        let Some(expires_at) = self.expires_at() else {
            return self.cost;
        };
        let total = self.duration().whole_nanoseconds();
        let unused = (expires_at - now).whole_nanoseconds().clamp(0, total);
        if total <= 0 {
            return Money::ZERO;
        }
        let cents = i128::from(self.cost.cents()) * unused / total;
        Money::from_cents(cents as i64)
    }
}
