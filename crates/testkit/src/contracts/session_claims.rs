//! `SessionClaims`: a slot is taken for any device but its holder, freed by
//! its lease or a release by its own session, and won by exactly one of
//! many devices racing for a fresh token.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use zenzefi_domain::ports::{Claim, SessionClaims};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::SessionId;
use zenzefi_domain::token::TokenId;

pub const LONG: Duration = Duration::from_secs(60);

pub fn device(name: &str) -> DeviceId {
    DeviceId::parse(name).unwrap()
}

pub async fn a_held_slot_is_taken_for_another_device_naming_the_holder(claims: &dyn SessionClaims) {
    let (token, holder) = (TokenId::generate(), SessionId::generate());
    claims
        .claim(token, &device("laptop-01"), holder, LONG)
        .await
        .unwrap();

    assert_eq!(
        claims
            .claim(token, &device("desktop-02"), SessionId::generate(), LONG)
            .await
            .unwrap(),
        Claim::Taken {
            device: device("laptop-01"),
            session: holder,
        }
    );
    // The refused claim changed nothing.
    assert_eq!(
        claims
            .claim(token, &device("laptop-01"), SessionId::generate(), LONG)
            .await
            .unwrap(),
        Claim::Held(holder)
    );
}

/// `short` is a lease the adapter can let run out in a test; the check
/// waits `short` plus `slack`.
pub async fn the_slot_is_free_once_its_lease_ends(
    claims: &dyn SessionClaims,
    short: Duration,
    slack: Duration,
) {
    let token = TokenId::generate();
    claims
        .claim(token, &device("laptop-01"), SessionId::generate(), short)
        .await
        .unwrap();
    tokio::time::sleep(short + slack).await;

    let newcomer = SessionId::generate();
    assert_eq!(
        claims
            .claim(token, &device("desktop-02"), newcomer, LONG)
            .await
            .unwrap(),
        Claim::Won
    );
    assert_eq!(
        claims
            .claim(token, &device("laptop-01"), SessionId::generate(), LONG)
            .await
            .unwrap(),
        Claim::Taken {
            device: device("desktop-02"),
            session: newcomer,
        }
    );
}

pub async fn only_the_holding_session_can_release_the_slot(claims: &dyn SessionClaims) {
    let (token, holder) = (TokenId::generate(), SessionId::generate());
    let (laptop, desktop) = (device("laptop-01"), device("desktop-02"));
    claims.claim(token, &laptop, holder, LONG).await.unwrap();

    claims.release(token, SessionId::generate()).await.unwrap();
    assert!(matches!(
        claims
            .claim(token, &desktop, SessionId::generate(), LONG)
            .await
            .unwrap(),
        Claim::Taken { .. }
    ));

    claims.release(token, holder).await.unwrap();
    assert_eq!(
        claims
            .claim(token, &desktop, SessionId::generate(), LONG)
            .await
            .unwrap(),
        Claim::Won
    );
    // Releasing a free slot is not an error.
    claims.release(TokenId::generate(), holder).await.unwrap();
}

/// Twenty devices claim a fresh token at once, spread over `instances`
/// (several API instances sharing one store): one wins, and every other is
/// told the winner's device and session. Run it on a multi-thread runtime.
pub async fn of_twenty_devices_racing_for_a_fresh_token_exactly_one_wins(
    instances: &[Arc<dyn SessionClaims>],
) {
    let token = TokenId::generate();
    let racers = (0..20)
        .map(|i| {
            let claims = Arc::clone(&instances[i % instances.len()]);
            let (device, candidate) = (device(&format!("device-{i:02}")), SessionId::generate());
            tokio::spawn(async move {
                let claim = claims.claim(token, &device, candidate, LONG).await;
                (device, candidate, claim)
            })
        })
        .collect::<Vec<_>>();

    let mut winners = Vec::new();
    let mut named = HashSet::new();
    for racer in racers {
        let (device, candidate, claim) = racer.await.unwrap();
        match claim.unwrap() {
            Claim::Won => winners.push((device, candidate)),
            Claim::Taken { device, session } => {
                named.insert((device, session));
            }
            Claim::Held(session) => panic!("{device:?} held {session:?} of a fresh token"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(named, HashSet::from([winners.remove(0)]));
}
