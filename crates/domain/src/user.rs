//! The user account and the value objects that make one valid.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub Uuid);

impl UserId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub username: Username,
    pub password_hash: PasswordHash,
    /// How many times the password was changed. A JWT carries the value it
    /// was issued under, so one issued before the latest change is refused.
    pub password_version: i64,
    pub full_name: Option<FullName>,
    pub is_active: bool,
    pub is_superuser: bool,
    /// Changes only together with a ledger row; never written through a
    /// plain user update.
    pub balance: Money,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl User {
    /// A new account: active, not a superuser, with a zero balance.
    pub fn new(
        email: Email,
        username: Username,
        password_hash: PasswordHash,
        full_name: Option<FullName>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: UserId::generate(),
            email,
            username,
            password_hash,
            password_version: 0,
            full_name,
            is_active: true,
            is_superuser: false,
            balance: Money::ZERO,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The longest email address, in characters.
pub const EMAIL_MAX_CHARS: usize = 254;

/// An email address, stored lower-cased so that uniqueness is
/// case-insensitive on every backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.chars().count() > EMAIL_MAX_CHARS {
            return Err(format!("must be at most {EMAIL_MAX_CHARS} characters"));
        }
        let email = trimmed.to_lowercase();
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an email address".into());
        };
        let well_formed = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if well_formed {
            Ok(Self(email))
        } else {
            Err("must be an email address".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 3–50 characters of `[A-Za-z0-9_.-]`, unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid_chars = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !(3..=50).contains(&raw.len()) {
            Err("must be 3 to 50 characters".into())
        } else if !valid_chars {
            Err("may contain only letters, digits, '_', '.' and '-'".into())
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest name, in characters, once trimmed.
pub const FULL_NAME_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    /// Trimmed; blank means "no name".
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let name = raw.trim();
        if name.chars().count() > FULL_NAME_MAX_CHARS {
            Err(format!("must be at most {FULL_NAME_MAX_CHARS} characters"))
        } else if name.chars().any(char::is_control) {
            Err("must not contain control characters".into())
        } else if name.is_empty() {
            Ok(None)
        } else {
            Ok(Some(Self(name.to_owned())))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plaintext password on its way to the hasher. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// The shortest new password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Passwords longer than this (in characters) are refused before hashing,
/// so that nobody can make the server hash megabytes.
pub const PASSWORD_MAX_CHARS: usize = 128;

impl Password {
    /// A new password: 8–128 characters with an ASCII letter and an ASCII
    /// digit. ASCII, so that the API's schema can say exactly the same in
    /// every regular-expression dialect.
    pub fn parse(raw: String) -> Result<Self, String> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            Err(format!("must be at least {PASSWORD_MIN_CHARS} characters"))
        } else if chars > PASSWORD_MAX_CHARS {
            Err(format!("must be at most {PASSWORD_MAX_CHARS} characters"))
        } else if !raw.bytes().any(|b| b.is_ascii_alphabetic())
            || !raw.bytes().any(|b| b.is_ascii_digit())
        {
            Err("must contain a letter (A-Z, a-z) and a digit (0-9)".into())
        } else {
            Ok(Self(raw))
        }
    }

    /// A password offered to log in: no rules apply, it is only compared.
    /// `None` when it is too long to be any user's password.
    pub fn offered(raw: String) -> Option<Self> {
        (raw.chars().count() <= PASSWORD_MAX_CHARS).then_some(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A PHC-format password hash (argon2id).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_lowercased_and_trimmed() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "@x.io",
            "ann@",
            "ann@io",
            "a b@x.io",
            "ann@x.io.",
            "a@b@c.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn username_follows_the_spec_alphabet() {
        assert!(Username::parse("ann_1.x-y").is_ok());
        for bad in ["ab", "ann smith", "änn", &"a".repeat(51)] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn password_needs_length_a_letter_and_a_digit() {
        assert!(Password::parse("abcdefg1".into()).is_ok());
        assert!(Password::parse(format!("{}a1", "я".repeat(126))).is_ok());
        for bad in ["abc1", "abcdefgh", "12345678", "пароль12", &"a1".repeat(65)] {
            assert!(
                Password::parse(bad.to_string()).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn password_never_prints() {
        let p = Password::parse("secret123".into()).unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }
}
