//! `AdminQueries`' lists: users, tokens and sessions newest first, each
//! filtered, paged with a total, and carrying what the operators see
//! besides (owners, a token's last use).

use time::{Duration, OffsetDateTime};
use zenzefi_domain::admin::{Owner, SessionFilter, TokenFilter, TokenRecord, UserFilter};
use zenzefi_domain::page::{Keyed, Page, Paged};
use zenzefi_domain::ports::Database;
use zenzefi_domain::session::{ProxySession, SessionActivity};
use zenzefi_domain::token::AccessToken;
use zenzefi_domain::user::{Email, User};

use super::{owner, stored_token, stored_user};
use crate::fixtures::{session, token, user};

/// A stored user `name` with this email, created at `at`.
async fn stored_user_with_email(
    db: &dyn Database,
    name: &str,
    email: &str,
    at: OffsetDateTime,
) -> User {
    let user = User {
        email: Email::parse(email).unwrap(),
        ..user(name, at)
    };
    db.insert_user(&user).await.unwrap();
    user
}

async fn usernames(db: &dyn Database, filter: UserFilter) -> Vec<String> {
    let found = db.list_users(&filter, Page::default()).await.unwrap();
    assert_eq!(found.total, found.items.len() as u64, "{filter:?}");
    found
        .items
        .iter()
        .map(|u| u.username.as_str().to_owned())
        .collect()
}

fn searching(text: &str) -> UserFilter {
    UserFilter {
        search: Some(text.to_owned()),
        is_active: None,
    }
}

/// No character of the search is a wildcard (`%`, `_`, `\`), and case
/// does not matter.
pub async fn user_search_is_a_literal_case_insensitive_substring_of_email_or_username(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let at = |seconds: i64| t + Duration::seconds(seconds);
    stored_user_with_email(db, "a_b", "first@x.io", at(0)).await;
    stored_user_with_email(db, "axb", "second@x.io", at(1)).await;
    stored_user_with_email(db, "promo", "100%off@x.io", at(2)).await;
    stored_user_with_email(db, "plain", "100xoff@x.io", at(3)).await;
    stored_user_with_email(db, "slash", r"back\slash@x.io", at(4)).await;
    stored_user_with_email(db, "Ann", "ann@x.io", at(5)).await;

    assert_eq!(usernames(db, searching("a_b")).await, ["a_b"]);
    assert_eq!(usernames(db, searching("A_B")).await, ["a_b"]);
    assert_eq!(usernames(db, searching("100%")).await, ["promo"]);
    assert_eq!(usernames(db, searching("%")).await, ["promo"]);
    assert_eq!(usernames(db, searching(r"k\s")).await, ["slash"]);
    assert_eq!(usernames(db, searching(r"\")).await, ["slash"]);
    assert_eq!(usernames(db, searching("aNN")).await, ["Ann"]);
    assert_eq!(usernames(db, searching("OFF@X")).await, ["plain", "promo"]);
    assert!(usernames(db, searching("_x_")).await.is_empty());
    assert!(usernames(db, searching("nobody")).await.is_empty());
    assert_eq!(usernames(db, searching("")).await.len(), 6);
}

pub async fn users_are_newest_first_filtered_by_activity_and_paged_with_a_total(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    // Made out of time order, with fractions of a second (SQLite's text
    // sorts those wrongly unless compared as time).
    let mid = stored_user_with_email(db, "mid", "mid@x.io", t + Duration::milliseconds(500)).await;
    let old = stored_user_with_email(db, "old", "old@x.io", t).await;
    stored_user_with_email(db, "new", "new@x.io", t + Duration::seconds(1)).await;
    db.update_user(&User {
        is_active: false,
        ..old
    })
    .await
    .unwrap();

    assert_eq!(
        usernames(db, UserFilter::default()).await,
        ["new", "mid", "old"]
    );
    let inactive = UserFilter {
        is_active: Some(false),
        search: None,
    };
    assert_eq!(usernames(db, inactive).await, ["old"]);
    let active_w = UserFilter {
        is_active: Some(true),
        search: Some("W".into()),
    };
    assert_eq!(usernames(db, active_w).await, ["new"]);
    let page = Page {
        limit: 1,
        offset: 1,
        ..Page::default()
    };
    let second = db.list_users(&UserFilter::default(), page).await.unwrap();
    assert_eq!(second.total, 3);
    let after_mid = Page {
        limit: 5,
        offset: 0,
        after: Some(mid.cursor()),
    };
    assert_eq!(second.items, [mid]);
    let rest = db
        .list_users(&UserFilter::default(), after_mid)
        .await
        .unwrap();
    assert_eq!((rest.total, rest.items.len()), (3, 1));
    assert_eq!(rest.items[0].username.as_str(), "old");
}

pub async fn tokens_carry_owner_and_last_use_and_filter_by_user_and_usability(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let bob = stored_user(db, "bob", t).await;
    let fresh = stored_token(db, &ann, 1, t + Duration::milliseconds(100)).await;
    let revoked = stored_token(db, &ann, 2, t + Duration::milliseconds(600)).await;
    let expired = stored_token(db, &ann, 3, t + Duration::seconds(1)).await;
    let bobs = stored_token(db, &bob, 4, t + Duration::seconds(2)).await;
    db.revoke_token(revoked.id, t).await.unwrap();
    let expired = db
        .activate_token(expired.id, t - Duration::hours(30))
        .await
        .unwrap()
        .unwrap();
    let used = t + Duration::seconds(3);
    let live = session(&fresh, "device-0001", t);
    db.insert_session(&live).await.unwrap();
    db.record_activity(&[SessionActivity {
        session_id: live.id,
        token_id: fresh.id,
        requests: 1,
        bytes: 1,
        last_activity: used,
        ip: live.ip,
        user_agent: None,
    }])
    .await
    .unwrap();
    let ids = |page: &Paged<TokenRecord>| page.items.iter().map(|r| r.token.id).collect::<Vec<_>>();

    let all = db
        .list_tokens(&TokenFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(ids(&all), [bobs.id, expired.id, revoked.id, fresh.id]);
    assert_eq!(
        all.items[3],
        TokenRecord {
            token: fresh.clone(),
            last_used_at: Some(used),
            owner: owner(&ann),
        }
    );
    assert_eq!(
        all.items[0],
        TokenRecord {
            token: bobs.clone(),
            last_used_at: None,
            owner: owner(&bob),
        }
    );
    assert_eq!(all.items[1].token, expired);

    let usable_of_ann = TokenFilter {
        user_id: Some(ann.id),
        usable_at: Some(t),
    };
    let found = db.list_tokens(&usable_of_ann, Page::default()).await;
    let found = found.unwrap();
    assert_eq!((ids(&found), found.total), (vec![fresh.id], 1));
    let of_ann = TokenFilter {
        user_id: Some(ann.id),
        usable_at: None,
    };
    let page = Page {
        limit: 1,
        offset: 1,
        ..Page::default()
    };
    let found = db.list_tokens(&of_ann, page).await.unwrap();
    assert_eq!((ids(&found), found.total), (vec![revoked.id], 3));
}

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
                ..Page::default()
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
