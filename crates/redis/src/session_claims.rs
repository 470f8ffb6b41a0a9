//! The live-session slot of each token, shared by every API instance so
//! that of devices racing for a fresh token exactly one wins (SPEC §7).

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis;
use uuid::Uuid;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{Claim, SessionClaims};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::SessionId;
use zenzefi_domain::token::TokenId;

use crate::pool::{RedisPool, px, redis_error};

/// Takes a free slot, renews the holder's own lease, or reports the holder,
/// in one step on the server, so two instances can never both win.
/// KEYS[1]: the slot; ARGV: the candidate's value, its device, the lease
/// in ms. Returns the outcome and the slot's value after the call.
const CLAIM: &str = r"
local held = redis.call('GET', KEYS[1])
if not held then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
    return {'won', ARGV[1]}
end
local space = string.find(held, ' ', 1, true)
if space and string.sub(held, space + 1) == ARGV[2] then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {'held', held}
end
return {'taken', held}
";

/// Deletes the slot only while the given session holds it, so a release
/// arriving after the slot changed hands cannot free the new holder's.
/// KEYS[1]: the slot; ARGV[1]: the session id followed by a space.
const RELEASE_IF_HELD: &str = r"
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, string.len(ARGV[1])) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
";

/// One key per token, `{prefix}session:{token_id}`, holding
/// `{session_id} {device_id}` (device ids have no spaces) and expiring
/// with the lease.
#[derive(Clone)]
pub struct RedisSessionClaims {
    pool: RedisPool,
}

impl RedisSessionClaims {
    pub fn new(pool: RedisPool) -> Self {
        Self { pool }
    }

    fn key(&self, token: TokenId) -> String {
        self.pool.key(&format!("session:{token}"))
    }
}

#[async_trait]
impl SessionClaims for RedisSessionClaims {
    async fn claim(
        &self,
        token: TokenId,
        device: &DeviceId,
        candidate: SessionId,
        lease: Duration,
    ) -> Result<Claim, PortError> {
        let mut conn = self.pool.connection().await?;
        let (outcome, held): (String, String) = redis::cmd("EVAL")
            .arg(CLAIM)
            .arg(1)
            .arg(self.key(token))
            .arg(encode(candidate, device))
            .arg(device.as_str())
            .arg(px(lease))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        match outcome.as_str() {
            "won" => Ok(Claim::Won),
            "held" => decode(&held).map(|(session, _)| Claim::Held(session)),
            "taken" => decode(&held).map(|(session, device)| Claim::Taken { device, session }),
            other => Err(PortError::unexpected(format!(
                "unknown session claim outcome {other:?}"
            ))),
        }
    }

    async fn release(&self, token: TokenId, session: SessionId) -> Result<(), PortError> {
        let mut conn = self.pool.connection().await?;
        redis::cmd("EVAL")
            .arg(RELEASE_IF_HELD)
            .arg(1)
            .arg(self.key(token))
            .arg(format!("{} ", session.0))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)
    }
}

fn encode(session: SessionId, device: &DeviceId) -> String {
    format!("{} {}", session.0, device.as_str())
}

fn decode(value: &str) -> Result<(SessionId, DeviceId), PortError> {
    let malformed = || PortError::unexpected(format!("malformed session claim {value:?}"));
    let (session, device) = value.split_once(' ').ok_or_else(malformed)?;
    let session = Uuid::parse_str(session).map_err(|_| malformed())?;
    let device = DeviceId::parse(device).ok_or_else(malformed)?;
    Ok((SessionId(session), device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_decodes_to_what_was_encoded() {
        let session = SessionId(Uuid::from_u128(7));
        let device = DeviceId::parse("device-01").unwrap();
        assert_eq!(
            decode(&encode(session, &device)).unwrap(),
            (session, device)
        );
    }

    #[test]
    fn a_malformed_value_is_unexpected() {
        for value in [
            "",
            "no-space-at-all",
            "not-a-uuid device-01",
            "00000000-0000-0000-0000-000000000007 short",
            "00000000-0000-0000-0000-000000000007 device-01 extra",
        ] {
            assert!(
                matches!(decode(value), Err(PortError::Unexpected(_))),
                "{value:?}"
            );
        }
    }
}
