//! `SessionStore`: at most one live session per token, sessions ended once
//! (by id, by token, or as stale with the most telling reason), flushed
//! counters added up, and a user's sessions newest first.

use time::{Duration, OffsetDateTime};
use zenzefi_domain::admin::TokenFilter;
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::ports::{Database, InsertSessionError};
use zenzefi_domain::proxy::DeviceId;
use zenzefi_domain::session::{EndReason, ProxySession, SessionActivity, SessionId};
use zenzefi_domain::token::{AccessToken, TokenId};
use zenzefi_domain::user::UserId;

use super::{stored_token, stored_user};
use crate::fixtures::{ended, session, token};

fn device(name: &str) -> DeviceId {
    DeviceId::parse(name).unwrap()
}

fn activity(
    session: &ProxySession,
    requests: u64,
    bytes: u64,
    at: OffsetDateTime,
    ip: &str,
    user_agent: Option<&str>,
) -> SessionActivity {
    SessionActivity {
        session_id: session.id,
        token_id: session.token_id,
        requests,
        bytes,
        last_activity: at,
        ip: ip.parse().unwrap(),
        user_agent: user_agent.map(str::to_owned),
    }
}

/// A token's `last_used_at`, which only the operators' list shows.
async fn last_used(db: &dyn Database, owner: UserId, token: TokenId) -> Option<OffsetDateTime> {
    let filter = TokenFilter {
        user_id: Some(owner),
        usable_at: None,
    };
    let tokens = db.list_tokens(&filter, Page::default()).await.unwrap();
    let record = tokens.items.into_iter().find(|r| r.token.id == token);
    record.expect("the token is listed").last_used_at
}

pub async fn a_session_is_found_by_id_and_a_live_one_by_its_token(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let first = stored_token(db, &ann, 1, t).await;
    let second = stored_token(db, &ann, 2, t).await;
    let live = session(&first, "device-0001", t);
    // Every field away from its default, so a lost column would show.
    let finished = ProxySession {
        ip: "2001:db8::7".parse().unwrap(),
        user_agent: None,
        bytes_transferred: 1 << 40,
        request_count: 12,
        ..ended(
            &session(&second, "device-0002", t - Duration::hours(1)),
            EndReason::Terminated,
            t,
        )
    };
    for s in [&live, &finished] {
        db.insert_session(s).await.unwrap();
        assert_eq!(db.session_by_id(s.id).await.unwrap().as_ref(), Some(s));
    }
    let of_first = db.live_session_of_token(first.id).await.unwrap();
    assert_eq!(of_first, Some(live));
    assert_eq!(db.live_session_of_token(second.id).await.unwrap(), None);
    assert_eq!(db.session_by_id(SessionId::generate()).await.unwrap(), None);
}

pub async fn a_token_has_one_live_session_until_it_ends(db: &dyn Database, t: OffsetDateTime) {
    let ann = stored_user(db, "ann", t).await;
    let token = stored_token(db, &ann, 1, t).await;
    let first = session(&token, "device-0001", t);
    let second = session(&token, "device-0002", t);
    db.insert_session(&first).await.unwrap();

    let err = db.insert_session(&second).await.unwrap_err();
    assert!(
        matches!(err, InsertSessionError::LiveSessionExists),
        "{err:?}"
    );
    let at = t + Duration::minutes(1);
    assert!(
        db.end_session(first.id, EndReason::Terminated, at)
            .await
            .unwrap()
    );
    assert!(!db.end_session(first.id, EndReason::Idle, at).await.unwrap());
    let missing = db.end_session(SessionId::generate(), EndReason::Idle, at);
    assert!(!missing.await.unwrap());
    let stored = db.session_by_id(first.id).await.unwrap();
    assert_eq!(stored, Some(ended(&first, EndReason::Terminated, at)));

    db.insert_session(&second).await.unwrap();
    let live = db.live_session_of_token(token.id).await.unwrap();
    assert_eq!(live, Some(second));
}

/// A duplicate id is an adapter failure, not a clash of live sessions.
pub async fn a_session_id_is_stored_once(db: &dyn Database, t: OffsetDateTime) {
    let ann = stored_user(db, "ann", t).await;
    let token = stored_token(db, &ann, 1, t).await;
    let past = ended(&session(&token, "device-0001", t), EndReason::Idle, t);
    db.insert_session(&past).await.unwrap();

    let err = db.insert_session(&past).await.unwrap_err();
    assert!(matches!(err, InsertSessionError::Port(_)), "{err:?}");
}

pub async fn ending_the_live_session_of_a_token_returns_its_id_once(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let token = stored_token(db, &ann, 1, t).await;
    let at = t + Duration::minutes(1);
    let end = || db.end_live_session_of_token(token.id, EndReason::Replaced, at);
    assert_eq!(end().await.unwrap(), None);

    let past = ended(&session(&token, "device-0002", t), EndReason::Idle, t);
    let live = session(&token, "device-0001", t);
    db.insert_session(&past).await.unwrap();
    db.insert_session(&live).await.unwrap();
    assert_eq!(end().await.unwrap(), Some(live.id));
    assert_eq!(end().await.unwrap(), None);
    let stored = db.session_by_id(live.id).await.unwrap();
    assert_eq!(stored, Some(ended(&live, EndReason::Replaced, at)));
    assert_eq!(db.session_by_id(past.id).await.unwrap(), Some(past));
    assert_eq!(db.live_session_of_token(token.id).await.unwrap(), None);
}

/// A live session gives way to its own device at once, to another device
/// only once idle; the one-live-session rule holds throughout.
pub async fn a_live_session_is_replaced_only_by_its_device_or_once_idle(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let token = stored_token(db, &ann, 1, t).await;
    let (laptop, phone) = (device("device-0001"), device("device-0002"));
    let at = t + Duration::minutes(10);
    let live = session(&token, "device-0001", t + Duration::minutes(5));
    db.insert_session(&live).await.unwrap();

    // Active after the idle limit: another device must wait.
    let idle_since = t + Duration::minutes(4);
    let replace = |who, idle_since| db.end_replaceable_session(token.id, who, idle_since, at);
    assert_eq!(replace(&phone, idle_since).await.unwrap(), None);
    assert_eq!(db.session_by_id(live.id).await.unwrap(), Some(live.clone()));
    // Its own device takes it over at any time.
    assert_eq!(replace(&laptop, idle_since).await.unwrap(), Some(live.id));
    let stored = db.session_by_id(live.id).await.unwrap();
    assert_eq!(stored, Some(ended(&live, EndReason::Replaced, at)));

    // Idle since before the limit: any device may take over.
    let idle = session(&token, "device-0001", t);
    db.insert_session(&idle).await.unwrap();
    assert_eq!(replace(&phone, idle_since).await.unwrap(), Some(idle.id));
    assert_eq!(replace(&phone, idle_since).await.unwrap(), None);
    assert_eq!(db.live_session_of_token(token.id).await.unwrap(), None);
}

/// Every live session of the user's tokens ends at once, and no other.
pub async fn a_users_live_sessions_end_together(db: &dyn Database, t: OffsetDateTime) {
    let (ann, bob) = (
        stored_user(db, "ann", t).await,
        stored_user(db, "bob", t).await,
    );
    let first = stored_token(db, &ann, 1, t).await;
    let second = stored_token(db, &ann, 2, t).await;
    let others = stored_token(db, &bob, 3, t).await;
    let past = ended(&session(&first, "device-0009", t), EndReason::Idle, t);
    let live = [
        session(&first, "device-0001", t),
        session(&second, "device-0002", t),
    ];
    let bobs = session(&others, "device-0003", t);
    for s in live.iter().chain([&past, &bobs]) {
        db.insert_session(s).await.unwrap();
    }
    let at = t + Duration::minutes(1);
    let mut ended_now = db
        .end_live_sessions_of_user(ann.id, EndReason::Revoked, at)
        .await
        .unwrap();
    ended_now.sort_by_key(|(token, _)| token.0);
    let mut expected: Vec<_> = live.iter().map(|s| (s.token_id, s.id)).collect();
    expected.sort_by_key(|(token, _)| token.0);
    assert_eq!(ended_now, expected);
    for s in &live {
        let stored = db.session_by_id(s.id).await.unwrap();
        assert_eq!(stored, Some(ended(s, EndReason::Revoked, at)));
    }
    assert_eq!(db.session_by_id(past.id).await.unwrap(), Some(past));
    assert_eq!(db.session_by_id(bobs.id).await.unwrap(), Some(bobs));
    let again = db.end_live_sessions_of_user(ann.id, EndReason::Revoked, at);
    assert_eq!(again.await.unwrap(), Vec::new());
}

/// Revoked (or deactivated) beats expired beats idle; fresh sessions,
/// sessions active right at the limit and ended ones stay as they are.
pub async fn stale_sessions_end_as_revoked_expired_or_idle(db: &dyn Database, t: OffsetDateTime) {
    let ann = stored_user(db, "ann", t).await;
    let idle_since = t - Duration::minutes(5);
    let fresh = stored_token(db, &ann, 1, t).await;
    let recent = stored_token(db, &ann, 2, t).await;
    let idle = stored_token(db, &ann, 3, t).await;
    let at_limit = stored_token(db, &ann, 4, t).await;
    let old = stored_token(db, &ann, 5, t).await;
    let expired = AccessToken {
        // Expires exactly now, which counts as expired.
        activated_at: Some(t - Duration::hours(24)),
        ..token(ann.id, 6, t - Duration::hours(25))
    };
    let revoked = AccessToken {
        is_active: false,
        revoked_at: Some(t - Duration::minutes(1)),
        ..token(ann.id, 7, t - Duration::hours(1))
    };
    let deactivated = AccessToken {
        is_active: false,
        ..token(ann.id, 8, t - Duration::hours(1))
    };
    let revoked_and_expired = AccessToken {
        activated_at: Some(t - Duration::hours(30)),
        is_active: false,
        revoked_at: Some(t - Duration::hours(1)),
        ..token(ann.id, 9, t - Duration::hours(31))
    };
    for stored in [&expired, &revoked, &deactivated, &revoked_and_expired] {
        db.insert_token(stored).await.unwrap();
    }
    // Half a second either side of the idle limit: SQLite must compare
    // these as time, not as text.
    let at = |tok: &AccessToken, last_activity: OffsetDateTime| ProxySession {
        last_activity,
        ..session(tok, "device-0001", t - Duration::hours(1))
    };
    let s_fresh = at(&fresh, t);
    let s_recent = at(&recent, idle_since + Duration::milliseconds(500));
    let s_idle = at(&idle, idle_since - Duration::milliseconds(500));
    let s_at_limit = at(&at_limit, idle_since);
    let s_expired = at(&expired, t);
    // Idle too, but revocation is the more telling reason.
    let s_revoked = at(&revoked, t - Duration::hours(1));
    let s_deactivated = at(&deactivated, t);
    let s_both = at(&revoked_and_expired, t);
    let s_old = ended(&at(&old, t - Duration::hours(1)), EndReason::Terminated, t);
    let sessions = [
        &s_fresh,
        &s_recent,
        &s_idle,
        &s_at_limit,
        &s_expired,
        &s_revoked,
        &s_deactivated,
        &s_both,
        &s_old,
    ];
    for s in sessions {
        db.insert_session(s).await.unwrap();
    }

    assert_eq!(db.end_stale_sessions(idle_since, t).await.unwrap(), 5);
    for (s, expected) in [
        (&s_fresh, s_fresh.clone()),
        (&s_recent, s_recent.clone()),
        (&s_idle, ended(&s_idle, EndReason::Idle, t)),
        (&s_at_limit, s_at_limit.clone()),
        (&s_expired, ended(&s_expired, EndReason::Expired, t)),
        (&s_revoked, ended(&s_revoked, EndReason::Revoked, t)),
        (&s_deactivated, ended(&s_deactivated, EndReason::Revoked, t)),
        (&s_both, ended(&s_both, EndReason::Revoked, t)),
        (&s_old, s_old.clone()),
    ] {
        assert_eq!(db.session_by_id(s.id).await.unwrap(), Some(expected));
    }
    assert_eq!(db.end_stale_sessions(idle_since, t).await.unwrap(), 0);
}

pub async fn flushed_activity_adds_up_and_moves_times_forward_only(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let token = stored_token(db, &ann, 1, t).await;
    let other = stored_token(db, &ann, 2, t).await;
    let idle = stored_token(db, &ann, 3, t).await;
    let live = session(&token, "device-0001", t);
    let gone = ended(&session(&other, "device-0002", t), EndReason::Terminated, t);
    db.insert_session(&live).await.unwrap();
    db.insert_session(&gone).await.unwrap();
    let later = |millis: i64| t + Duration::milliseconds(millis);
    db.record_activity(&[]).await.unwrap();

    db.record_activity(&[
        activity(&live, 2, 100, later(10_000), "2001:db8::1", Some("A/1")),
        activity(&gone, 1, 7, later(5_000), "203.0.113.8", None),
    ])
    .await
    .unwrap();
    // Flushed out of order: an older last activity must not win, but the
    // counters, the address and the agent are the new ones.
    db.record_activity(&[activity(&live, 3, 50, later(9_750), "198.51.100.4", None)])
        .await
        .unwrap();

    let stored = db.session_by_id(live.id).await.unwrap();
    assert_eq!(
        stored,
        Some(ProxySession {
            request_count: 5,
            bytes_transferred: 150,
            last_activity: later(10_000),
            ip: "198.51.100.4".parse().unwrap(),
            user_agent: None,
            ..live.clone()
        })
    );
    // A session that ended meanwhile still counts, and stays ended.
    let stored = db.session_by_id(gone.id).await.unwrap();
    assert_eq!(
        stored,
        Some(ProxySession {
            request_count: 1,
            bytes_transferred: 7,
            last_activity: later(5_000),
            ip: "203.0.113.8".parse().unwrap(),
            user_agent: None,
            ..gone.clone()
        })
    );
    assert_eq!(last_used(db, ann.id, token.id).await, Some(later(10_000)));
    assert_eq!(last_used(db, ann.id, other.id).await, Some(later(5_000)));
    assert_eq!(last_used(db, ann.id, idle.id).await, None);

    // Half a second into the stored whole second: later in time, though
    // SQLite's text would sort `…:10Z` after `…:10.5Z`.
    db.record_activity(&[activity(
        &live,
        1,
        1,
        later(10_500),
        "2001:db8::2",
        Some("B"),
    )])
    .await
    .unwrap();
    let stored = db.session_by_id(live.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.request_count, stored.last_activity, stored.ip),
        (6, later(10_500), "2001:db8::2".parse().unwrap())
    );
    assert_eq!(stored.user_agent.as_deref(), Some("B"));
    assert_eq!(last_used(db, ann.id, token.id).await, Some(later(10_500)));
}

pub async fn a_users_sessions_are_newest_first_and_paged_with_a_total(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = stored_user(db, "ann", t).await;
    let bob = stored_user(db, "bob", t).await;
    let token = stored_token(db, &ann, 1, t).await;
    let bobs = stored_token(db, &bob, 2, t).await;
    let at = |millis: i64| t + Duration::milliseconds(millis);
    // Made out of time order, so their UUIDv7 ids are too: the order must
    // come from started_at. Ended, so that one token can have several.
    let past = |millis| {
        ended(
            &session(&token, "device-0001", at(millis)),
            EndReason::Idle,
            at(millis),
        )
    };
    let third = session(&token, "device-0001", at(1000));
    let first = past(500);
    let second = past(550);
    let zeroth = past(0);
    for s in [&third, &first, &second, &zeroth] {
        db.insert_session(s).await.unwrap();
    }
    db.insert_session(&session(&bobs, "device-0009", at(2000)))
        .await
        .unwrap();
    let ids = |paged: Paged<ProxySession>| paged.items.iter().map(|s| s.id).collect::<Vec<_>>();

    let all = db.sessions_of_user(ann.id, Page::default()).await.unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(all.items[0], third);
    assert_eq!(ids(all), [third.id, second.id, first.id, zeroth.id]);
    let window = Page {
        limit: 2,
        offset: 1,
        ..Page::default()
    };
    let page = db.sessions_of_user(ann.id, window).await.unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(ids(page), [second.id, first.id]);
    let none = db.sessions_of_user(UserId::generate(), Page::default());
    let none = none.await.unwrap();
    assert_eq!((none.items.len(), none.total), (0, 0));
}
