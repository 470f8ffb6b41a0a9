//! Domain values the suites build on, made through the domain's own
//! constructors.

use time::OffsetDateTime;
use zenzefi_domain::Money;
use zenzefi_domain::token::{AccessToken, Scope, TokenSecret};
use zenzefi_domain::user::{Email, PasswordHash, User, UserId, Username};

/// A new user `name` with the email `{name}@x.io`, created at `now`. The
/// password hash is a placeholder that no password matches.
pub fn user(name: &str, now: OffsetDateTime) -> User {
    User::new(
        Email::parse(&format!("{name}@x.io")).unwrap(),
        Username::parse(name).unwrap(),
        PasswordHash::new("$argon2id$v=19$stub".into()),
        None,
        now,
    )
}

/// A fresh 24 h full-scope token of `owner` bought at `now` for 18.00, its
/// secret made from `seed` (equal seeds give equal hashes).
pub fn token(owner: UserId, seed: u8, now: OffsetDateTime) -> AccessToken {
    AccessToken::issue(
        owner,
        &TokenSecret::from_random([seed; 32]),
        24,
        Scope::Full,
        Money::from_cents(1800),
        now,
    )
}
