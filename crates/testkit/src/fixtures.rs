//! Domain values the suites build on, made through the domain's own
//! constructors.

use time::OffsetDateTime;
use zenzefi_domain::Money;
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::{EndReason, ProxySession, SessionId};
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

/// A live session of `token` from `device`, opened at `at`.
pub fn session(token: &AccessToken, device: &str, at: OffsetDateTime) -> ProxySession {
    ProxySession {
        id: SessionId::generate(),
        user_id: token.user_id,
        token_id: token.id,
        device_id: DeviceId::parse(device).unwrap(),
        ip: "203.0.113.7".parse().unwrap(),
        user_agent: Some("ZenzefiClient/1.0".into()),
        started_at: at,
        last_activity: at,
        ended_at: None,
        end_reason: None,
        bytes_transferred: 0,
        request_count: 0,
        is_active: true,
    }
}

/// `session` as it is once ended for `reason` at `at`.
pub fn ended(session: &ProxySession, reason: EndReason, at: OffsetDateTime) -> ProxySession {
    ProxySession {
        is_active: false,
        ended_at: Some(at),
        end_reason: Some(reason),
        ..session.clone()
    }
}
