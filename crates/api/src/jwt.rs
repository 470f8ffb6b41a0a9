//! Bearer JWTs for the REST API: HS256 with `sub` (user id), `username`,
//! `pwv` (the user's password version when issued), `iat` and `exp`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use zenzefi_domain::user::{User, UserId};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    username: String,
    /// Absent from JWTs issued before it existed: those were issued under
    /// version 0, as every account then had.
    #[serde(default)]
    pwv: i64,
    iat: i64,
    exp: i64,
}

pub struct JwtCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

pub struct IssuedJwt {
    pub token: String,
    pub expires_in: u64,
}

impl JwtCodec {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    pub fn issue(
        &self,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<IssuedJwt, jsonwebtoken::errors::Error> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user.id.to_string(),
            username: user.username.as_str().to_owned(),
            pwv: user.password_version,
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp().saturating_add(ttl),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedJwt {
            token,
            expires_in: self.ttl.as_secs(),
        })
    }

    /// The user id and password version of a valid, unexpired token signed
    /// with our key.
    pub fn verify(&self, token: &str) -> Option<(UserId, i64)> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        let id = Uuid::parse_str(&data.claims.sub).ok().map(UserId)?;
        Some((id, data.claims.pwv))
    }
}
