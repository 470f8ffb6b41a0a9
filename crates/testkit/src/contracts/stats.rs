//! `StatsStore::counts`: what the gauges show.

use time::{Duration, OffsetDateTime};
use zenzefi_domain::ports::{Counts, Database};
use zenzefi_domain::session::EndReason;
use zenzefi_domain::user::User;

use crate::fixtures::{ended, session, token, user};

/// Active tokens are usable tokens of active owners; sessions count while
/// open; users count whatever their state. `t0` must be whole seconds.
pub async fn counts_cover_usable_tokens_of_active_owners_open_sessions_and_every_user(
    db: &dyn Database,
    t0: OffsetDateTime,
) {
    let ann = user("ann", t0);
    let bob = User {
        is_active: false,
        ..user("bob", t0)
    };
    db.insert_user(&ann).await.unwrap();
    db.insert_user(&bob).await.unwrap();

    let fresh = token(ann.id, 1, t0);
    let running = token(ann.id, 2, t0);
    let expired = token(ann.id, 3, t0 - Duration::hours(48));
    let revoked = token(ann.id, 4, t0);
    let of_inactive_owner = token(bob.id, 5, t0);
    for t in [&fresh, &running, &expired, &revoked, &of_inactive_owner] {
        db.insert_token(t).await.unwrap();
    }
    db.activate_token(running.id, t0).await.unwrap();
    db.activate_token(expired.id, t0 - Duration::hours(30))
        .await
        .unwrap();
    db.revoke_token(revoked.id, t0).await.unwrap();
    db.insert_session(&session(&running, "device-0001", t0))
        .await
        .unwrap();
    let closed = session(&fresh, "device-0002", t0);
    db.insert_session(&ended(&closed, EndReason::Terminated, t0))
        .await
        .unwrap();

    let counts = db.counts(t0 + Duration::hours(1)).await.unwrap();
    assert_eq!(
        counts,
        Counts {
            active_tokens: 2,
            active_sessions: 1,
            users: 2,
        }
    );
    // `running` (24 h from t0) has expired by then; `fresh` never started.
    let later = db.counts(t0 + Duration::hours(25)).await.unwrap();
    assert_eq!(later.active_tokens, 1);
}
