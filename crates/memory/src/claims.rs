//! The live-session slots of a single process (the embedded default and
//! tests). Another instance would not see them, so they are not valid
//! behind a load balancer.

use foldhash::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{Claim, SessionClaims};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::SessionId;
use zenzefi_domain::token::TokenId;

#[derive(Debug, Default)]
pub struct InMemorySessionClaims {
    slots: Mutex<Slots>,
}

/// Each token's holder and the instant its lease ends; a slot past its
/// lease is free.
type Slots = HashMap<TokenId, (SessionId, DeviceId, Instant)>;

/// Past this many slots, expired ones are swept on the next claim.
const SWEEP_THRESHOLD: usize = 10_000;

impl InMemorySessionClaims {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl SessionClaims for InMemorySessionClaims {
    async fn claim(
        &self,
        token: TokenId,
        device: &DeviceId,
        candidate: SessionId,
        lease: Duration,
    ) -> Result<Claim, PortError> {
        let now = Instant::now();
        let mut slots = self.slots();
        if slots.len() > SWEEP_THRESHOLD {
            slots.retain(|_, (_, _, until)| *until > now);
        }
        let claim = match slots.get_mut(&token) {
            Some((session, holder, until)) if *until > now => {
                if holder == device {
                    *until = now + lease;
                    Claim::Held(*session)
                } else {
                    Claim::Taken {
                        device: holder.clone(),
                        session: *session,
                    }
                }
            }
            _ => {
                slots.insert(token, (candidate, device.clone(), now + lease));
                Claim::Won
            }
        };
        Ok(claim)
    }

    async fn release(&self, token: TokenId, session: SessionId) -> Result<(), PortError> {
        let mut slots = self.slots();
        if slots
            .get(&token)
            .is_some_and(|(held, _, _)| *held == session)
        {
            slots.remove(&token);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use zenzefi_testkit::contracts::session_claims::{self as contract, LONG, device};

    use super::*;

    const SHORT: Duration = Duration::from_millis(30);

    fn lease_end(claims: &InMemorySessionClaims, token: TokenId) -> Instant {
        claims.slots()[&token].2
    }

    #[tokio::test]
    async fn a_free_slot_is_won_then_held_by_the_same_device_with_its_lease_renewed() {
        let claims = InMemorySessionClaims::default();
        let (token, laptop) = (TokenId::generate(), device("laptop-01"));
        let first = SessionId::generate();

        assert_eq!(
            claims.claim(token, &laptop, first, LONG).await.unwrap(),
            Claim::Won
        );
        let before = lease_end(&claims, token);
        tokio::time::sleep(Duration::from_millis(5)).await;

        assert_eq!(
            claims
                .claim(token, &laptop, SessionId::generate(), LONG)
                .await
                .unwrap(),
            Claim::Held(first)
        );
        assert!(lease_end(&claims, token) > before);
    }

    #[tokio::test]
    async fn a_held_slot_is_taken_for_another_device_naming_the_holder() {
        contract::a_held_slot_is_taken_for_another_device_naming_the_holder(
            &InMemorySessionClaims::default(),
        )
        .await;
    }

    #[tokio::test]
    async fn the_slot_is_free_once_its_lease_ends() {
        contract::the_slot_is_free_once_its_lease_ends(
            &InMemorySessionClaims::default(),
            SHORT,
            Duration::from_millis(20),
        )
        .await;
    }

    #[tokio::test]
    async fn only_the_holding_session_can_release_the_slot() {
        contract::only_the_holding_session_can_release_the_slot(&InMemorySessionClaims::default())
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_twenty_devices_racing_for_a_fresh_token_exactly_one_wins() {
        let claims: Arc<dyn SessionClaims> = Arc::new(InMemorySessionClaims::default());
        contract::of_twenty_devices_racing_for_a_fresh_token_exactly_one_wins(&[claims]).await;
    }
}
