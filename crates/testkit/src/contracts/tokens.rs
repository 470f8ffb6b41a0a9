//! `TokenStore`: tokens found by id and by their unique hash, a user's
//! tokens newest first (optionally only the usable ones), activation and
//! revocation that each happen once.

use time::{Duration, OffsetDateTime};
use zenzefi_domain::ports::Database;
use zenzefi_domain::token::{AccessToken, Scope, TokenId, TokenSecret};
use zenzefi_domain::user::UserId;

use super::{stored_token, stored_user};
use crate::fixtures::token;

pub async fn a_token_is_found_by_id_and_by_hash(db: &dyn Database, t: OffsetDateTime) {
    let ann = stored_user(db, "ann", t).await;
    let fresh = token(ann.id, 1, t);
    // Every field away from its default, so a lost column would show.
    let used = AccessToken {
        scope: Scope::CertificatesOnly,
        activated_at: Some(t - Duration::hours(1)),
        is_active: false,
        revoked_at: Some(t),
        rate_limit_per_minute: Some(600),
        ..token(ann.id, 2, t - Duration::hours(2))
    };
    for stored in [&fresh, &used] {
        db.insert_token(stored).await.unwrap();
        let by_id = db.token_by_id(stored.id).await.unwrap();
        assert_eq!(by_id.as_ref(), Some(stored));
        let by_hash = db.token_by_hash(&stored.token_hash).await.unwrap();
        assert_eq!(by_hash.as_ref(), Some(stored));
    }
    assert_eq!(db.token_by_id(TokenId::generate()).await.unwrap(), None);
    let unknown = TokenSecret::from_random([3; 32]).hash();
    assert_eq!(db.token_by_hash(&unknown).await.unwrap(), None);
}

pub async fn a_second_token_with_a_stored_hash_is_refused(db: &dyn Database, t: OffsetDateTime) {
    let ann = stored_user(db, "ann", t).await;
    let first = stored_token(db, &ann, 1, t).await;
    let same_hash = AccessToken {
        id: TokenId::generate(),
        ..first.clone()
    };
    assert!(db.insert_token(&same_hash).await.is_err());
    assert_eq!(db.token_by_id(same_hash.id).await.unwrap(), None);
    let by_hash = db.token_by_hash(&first.token_hash).await.unwrap();
    assert_eq!(by_hash, Some(first));
}

pub async fn a_token_is_activated_once_and_its_expiry_follows(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let fresh = stored_token(db, &ann, 1, t).await;
    let first = t + Duration::minutes(1);

    let activated = db.activate_token(fresh.id, first).await.unwrap().unwrap();
    assert_eq!(
        activated,
        AccessToken {
            activated_at: Some(first),
            ..fresh.clone()
        }
    );
    assert_eq!(activated.expires_at(), Some(first + Duration::hours(24)));
    let again = db.activate_token(fresh.id, first + Duration::minutes(5));
    assert_eq!(again.await.unwrap(), Some(activated.clone()));
    let stored = db.token_by_id(fresh.id).await.unwrap();
    assert_eq!(stored, Some(activated));
    let missing = db.activate_token(TokenId::generate(), first).await;
    assert_eq!(missing.unwrap(), None);

    // The stored expiry is what "usable" filters on; checked half a second
    // either side.
    let expiry = first + Duration::hours(24);
    let usable = |at: OffsetDateTime| async move {
        db.tokens_of_user(ann.id, Some(at)).await.unwrap().len()
    };
    assert_eq!(usable(expiry - Duration::milliseconds(500)).await, 1);
    assert_eq!(usable(expiry).await, 0);
    assert_eq!(usable(expiry + Duration::milliseconds(500)).await, 0);
}

pub async fn a_token_is_revoked_once(db: &dyn Database, t: OffsetDateTime) {
    let ann = stored_user(db, "ann", t).await;
    let fresh = stored_token(db, &ann, 1, t).await;
    let at = t + Duration::minutes(1);

    assert!(db.revoke_token(fresh.id, at).await.unwrap());
    assert!(
        !db.revoke_token(fresh.id, at + Duration::minutes(1))
            .await
            .unwrap()
    );
    let stored = db.token_by_id(fresh.id).await.unwrap();
    assert_eq!(
        stored,
        Some(AccessToken {
            is_active: false,
            revoked_at: Some(at),
            ..fresh
        })
    );
    assert!(!db.revoke_token(TokenId::generate(), at).await.unwrap());
}

pub async fn a_tokens_own_rate_limit_is_set_and_cleared(db: &dyn Database, t: OffsetDateTime) {
    let ann = stored_user(db, "ann", t).await;
    let fresh = stored_token(db, &ann, 1, t).await;
    assert_eq!(fresh.rate_limit_per_minute, None);

    assert!(
        db.set_token_rate_limit(fresh.id, Some(u32::MAX >> 1))
            .await
            .unwrap()
    );
    let stored = db.token_by_id(fresh.id).await.unwrap().unwrap();
    assert_eq!(stored.rate_limit_per_minute, Some(u32::MAX >> 1));
    let by_hash = db.token_by_hash(&fresh.token_hash).await.unwrap().unwrap();
    assert_eq!(by_hash, stored);

    assert!(db.set_token_rate_limit(fresh.id, None).await.unwrap());
    let cleared = db.token_by_id(fresh.id).await.unwrap();
    assert_eq!(cleared, Some(fresh));
    assert!(
        !db.set_token_rate_limit(TokenId::generate(), Some(1))
            .await
            .unwrap()
    );
}

pub async fn a_users_tokens_are_newest_first_and_with_a_time_only_the_usable_ones(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let bob = stored_user(db, "bob", t).await;
    let fresh = token(ann.id, 1, t - Duration::hours(1));
    let running = AccessToken {
        activated_at: Some(t - Duration::hours(2)),
        ..token(ann.id, 2, t - Duration::hours(3))
    };
    let expired = AccessToken {
        activated_at: Some(t - Duration::hours(30)),
        ..token(ann.id, 3, t - Duration::hours(31))
    };
    let revoked = AccessToken {
        is_active: false,
        revoked_at: Some(t - Duration::hours(4)),
        ..token(ann.id, 4, t - Duration::hours(5))
    };
    let deactivated = AccessToken {
        is_active: false,
        ..token(ann.id, 5, t - Duration::hours(6))
    };
    let bobs = token(bob.id, 6, t);
    for stored in [&fresh, &running, &expired, &revoked, &deactivated, &bobs] {
        db.insert_token(stored).await.unwrap();
    }
    let ids = |tokens: Vec<AccessToken>| tokens.into_iter().map(|t| t.id).collect::<Vec<_>>();

    let all = db.tokens_of_user(ann.id, None).await.unwrap();
    assert_eq!(all[1], running);
    assert_eq!(
        ids(all),
        [fresh.id, running.id, revoked.id, deactivated.id, expired.id]
    );
    let usable = db.tokens_of_user(ann.id, Some(t)).await.unwrap();
    assert_eq!(ids(usable), [fresh.id, running.id]);
    let nobodys = db.tokens_of_user(UserId::generate(), None);
    assert!(nobodys.await.unwrap().is_empty());
}
