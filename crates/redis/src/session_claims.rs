//! The live-session slot of each token, shared by every API instance so
//! that of devices racing for a fresh token exactly one wins.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Script;
use uuid::Uuid;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{Claim, SessionClaims};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::SessionId;
use zenzefi_domain::token::TokenId;

use crate::near::{Freshness, Lookups, NearCache};
use crate::pool::px;

/// Takes a free slot, renews the holder's own lease, or reports the holder,
/// in one step on the server, so two instances can never both win.
/// KEYS[1]: the slot; ARGV: the candidate's value, its device, the lease
/// in ms. Returns the outcome and the slot's value after the call.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
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
",
    )
});

/// Deletes the slot only while the given session holds it, so a release
/// arriving after the slot changed hands cannot free the new holder's, and
/// tells every instance to drop its view of the slot.
/// KEYS[1]: the slot; ARGV: the session id followed by a space, the
/// channel, the event.
static RELEASE_IF_HELD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, string.len(ARGV[1])) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    redis.call('PUBLISH', ARGV[2], ARGV[3])
    return 1
end
return 0
",
    )
});

/// One key per token, `{prefix}session:{token_id}`, holding
/// `{session_id} {device_id}` (device ids have no spaces) and expiring
/// with the lease; in front of it, the claims this instance holds, renewed
/// in Redis at most once per renewal interval.
#[derive(Clone)]
pub struct RedisSessionClaims {
    near: NearCache,
}

impl RedisSessionClaims {
    pub fn new(near: NearCache) -> Self {
        Self { near }
    }

    fn key(&self, token: TokenId) -> String {
        self.near.key(&format!("session:{token}"))
    }

    async fn remote_claim(
        &self,
        token: TokenId,
        device: &DeviceId,
        candidate: SessionId,
        lease: Duration,
    ) -> Result<Claim, PortError> {
        let link = self.near.link();
        let mut conn = link.connection()?;
        let (outcome, held): (String, String) = link.checked(
            CLAIM
                .key(self.key(token))
                .arg(encode(candidate, device))
                .arg(device.as_str())
                .arg(px(lease))
                .invoke_async(&mut conn)
                .await,
        )?;
        match outcome.as_str() {
            "won" => Ok(Claim::Won),
            "held" => decode(&held).map(|(session, _)| Claim::Held(session)),
            "taken" => decode(&held).map(|(session, device)| Claim::Taken { device, session }),
            other => Err(PortError::unexpected(format!(
                "unknown session claim outcome {other:?}"
            ))),
        }
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
        let lookups = Lookups::claims();
        let read_at = Instant::now();
        let held = self
            .near
            .claim(token)
            .filter(|(local, _)| local.device == *device);
        match &held {
            Some((local, Freshness::Fresh)) => {
                lookups.hit.increment(1);
                return Ok(Claim::Held(local.session));
            }
            Some(_) => lookups.bypass.increment(1),
            None => lookups.miss.increment(1),
        }
        // A device this instance saw holding the slot renews it under the
        // same session; should the slot have lapsed, it is simply retaken.
        let asked = held.as_ref().map_or(candidate, |(local, _)| local.session);
        match self.remote_claim(token, device, asked, lease).await {
            Ok(Claim::Won) => {
                self.near.keep_claim(token, asked, device, true, read_at);
                Ok(if held.is_some() {
                    Claim::Held(asked)
                } else {
                    Claim::Won
                })
            }
            Ok(Claim::Held(session)) => {
                self.near.keep_claim(token, session, device, true, read_at);
                Ok(Claim::Held(session))
            }
            Ok(taken) => {
                self.near.forget_claim(token);
                Ok(taken)
            }
            // Redis is down: a device already admitted here keeps going.
            Err(PortError::Unavailable(_)) if held.is_some() => Ok(Claim::Held(asked)),
            Err(err) => Err(err),
        }
    }

    async fn release(&self, token: TokenId, session: SessionId) -> Result<(), PortError> {
        // This instance stops answering for the slot first, whether or not
        // Redis can be told.
        self.near.forget_claim(token);
        let event = NearCache::claims_event(token);
        let link = self.near.link();
        let mut conn = link.connection()?;
        link.checked(
            RELEASE_IF_HELD
                .key(self.key(token))
                .arg(format!("{} ", session.0))
                .arg(self.near.channel())
                .arg(&event)
                .invoke_async::<()>(&mut conn)
                .await,
        )?;
        self.near.apply_now(&event);
        Ok(())
    }

    fn remember(&self, token: TokenId, device: &DeviceId, session: SessionId) {
        self.near
            .keep_claim(token, session, device, false, Instant::now());
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
