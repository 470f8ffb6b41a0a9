//! `AdminStore::list_sessions`: newest first, filtered by liveness, user
//! and token, each row with its owner, paged with a total.

use time::{Duration, OffsetDateTime};
use zenzefi_domain::admin::{Owner, SessionFilter};
use zenzefi_domain::page::Page;
use zenzefi_domain::ports::Database;
use zenzefi_domain::session::ProxySession;
use zenzefi_domain::token::AccessToken;

use crate::fixtures::{session, token, user};

/// `t` must be whole seconds (SQLite keeps milliseconds).
pub async fn sessions_filter_by_liveness_user_and_token_with_the_owner(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = user("ann", t);
    let bob = user("bob", t);
    db.insert_user(&ann).await.unwrap();
    db.insert_user(&bob).await.unwrap();
    let anns = token(ann.id, 1, t);
    let anns_other = token(ann.id, 2, t);
    let bobs = token(bob.id, 3, t);
    for stored in [&anns, &anns_other, &bobs] {
        db.insert_token(stored).await.unwrap();
    }
    // Open or closed; how it closed does not matter to the list.
    let opened = |token: &AccessToken, at: OffsetDateTime, live: bool| ProxySession {
        is_active: live,
        ..session(token, "device-0001", at)
    };
    let ended = opened(&anns, t + Duration::milliseconds(500), false);
    let live = opened(&anns_other, t + Duration::seconds(1), true);
    let bobs_live = opened(&bobs, t + Duration::seconds(2), true);
    for s in [&live, &bobs_live, &ended] {
        db.insert_session(s).await.unwrap();
    }
    let ids = |filter: SessionFilter| async move {
        let page = db.list_sessions(&filter, Page::default()).await.unwrap();
        assert_eq!(page.total, page.items.len() as u64, "{filter:?}");
        page.items.iter().map(|r| r.session.id).collect::<Vec<_>>()
    };

    assert_eq!(
        ids(SessionFilter::default()).await,
        [bobs_live.id, live.id, ended.id]
    );
    let active = SessionFilter {
        active_only: true,
        ..SessionFilter::default()
    };
    assert_eq!(ids(active).await, [bobs_live.id, live.id]);
    let of_ann = SessionFilter {
        user_id: Some(ann.id),
        ..SessionFilter::default()
    };
    assert_eq!(ids(of_ann).await, [live.id, ended.id]);
    let live_of_ann = SessionFilter {
        active_only: true,
        user_id: Some(ann.id),
        token_id: None,
    };
    assert_eq!(ids(live_of_ann).await, [live.id]);
    let of_token = SessionFilter {
        token_id: Some(anns.id),
        ..SessionFilter::default()
    };
    assert_eq!(ids(of_token).await, [ended.id]);

    let page = db
        .list_sessions(
            &SessionFilter::default(),
            Page {
                limit: 1,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.items[0].session, bobs_live);
    assert_eq!(
        page.items[0].owner,
        Owner {
            email: "bob@x.io".into(),
            username: "bob".into(),
        }
    );
}
