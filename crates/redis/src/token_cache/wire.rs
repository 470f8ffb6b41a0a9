//! How a cached token is stored in Redis: JSON of DTOs that mirror the
//! domain types, which stay free of serde. Field names are the stored form;
//! renaming one turns every cached entry into a miss until it is refilled.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::Money;
use zenzefi_domain::ports::CachedToken;
use zenzefi_domain::token::{AccessToken, Scope, TokenHash, TokenId};
use zenzefi_domain::user::UserId;

#[derive(Serialize, Deserialize)]
struct CachedTokenDto {
    token: AccessTokenDto,
    user_active: bool,
}

#[derive(Serialize, Deserialize)]
struct AccessTokenDto {
    id: Uuid,
    user_id: Uuid,
    token_hash: String,
    token_prefix: String,
    duration_hours: u32,
    scope: String,
    cost_cents: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    activated_at: Option<OffsetDateTime>,
    is_active: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
    /// Absent in entries written before per-token limits existed.
    #[serde(default)]
    rate_limit_per_minute: Option<u32>,
}

pub(super) fn encode(entry: &CachedToken) -> Result<String, serde_json::Error> {
    let token = &entry.token;
    serde_json::to_string(&CachedTokenDto {
        token: AccessTokenDto {
            id: token.id.0,
            user_id: token.user_id.0,
            token_hash: token.token_hash.as_str().to_owned(),
            token_prefix: token.token_prefix.clone(),
            duration_hours: token.duration_hours,
            scope: token.scope.as_str().to_owned(),
            cost_cents: token.cost.cents(),
            created_at: token.created_at,
            activated_at: token.activated_at,
            is_active: token.is_active,
            revoked_at: token.revoked_at,
            rate_limit_per_minute: token.rate_limit_per_minute,
        },
        user_active: entry.user_active,
    })
}

pub(super) fn decode(json: &str) -> Result<CachedToken, String> {
    let CachedTokenDto { token, user_active } =
        serde_json::from_str(json).map_err(|e| e.to_string())?;
    let scope =
        Scope::parse(&token.scope).ok_or_else(|| format!("unknown scope {:?}", token.scope))?;
    Ok(CachedToken {
        token: AccessToken {
            id: TokenId(token.id),
            user_id: UserId(token.user_id),
            token_hash: TokenHash::from_stored(token.token_hash),
            token_prefix: token.token_prefix,
            duration_hours: token.duration_hours,
            scope,
            cost: Money::from_cents(token.cost_cents),
            created_at: token.created_at,
            activated_at: token.activated_at,
            is_active: token.is_active,
            revoked_at: token.revoked_at,
            rate_limit_per_minute: token.rate_limit_per_minute,
        },
        user_active,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn entry() -> CachedToken {
        CachedToken {
            token: AccessToken {
                id: TokenId(Uuid::now_v7()),
                user_id: UserId(Uuid::now_v7()),
                token_hash: TokenHash::of("zzf_x"),
                token_prefix: "zzf_x".into(),
                duration_hours: 720,
                scope: Scope::CertificatesOnly,
                cost: Money::from_cents(-5),
                created_at: datetime!(2026-02-03 04:05:06.123456789 UTC),
                activated_at: Some(datetime!(2026-02-03 05:00 +03:00)),
                is_active: false,
                revoked_at: Some(datetime!(2026-02-04 00:00:00.000000001 UTC)),
                rate_limit_per_minute: Some(42),
            },
            user_active: false,
        }
    }

    #[test]
    fn an_entry_survives_the_round_trip_to_the_nanosecond() {
        let entry = entry();
        assert_eq!(decode(&encode(&entry).unwrap()).unwrap(), entry);
    }

    #[test]
    fn an_unknown_scope_does_not_decode() {
        let json = encode(&entry())
            .unwrap()
            .replace("\"certificates_only\"", "\"admin\"");
        assert!(decode(&json).unwrap_err().contains("admin"));
    }
}
