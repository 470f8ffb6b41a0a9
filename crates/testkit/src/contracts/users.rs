//! `UserStore`: users found by id and by email, usernames taken, unique emails and
//! case-insensitively unique usernames, updates that never touch the
//! balance.

use time::OffsetDateTime;
use zenzefi_domain::Money;
use zenzefi_domain::ports::{Database, InsertUserError};
use zenzefi_domain::user::{Email, FullName, PasswordHash, User, UserId, Username};

use crate::fixtures::user;

pub async fn a_user_is_found_by_id_and_by_email(db: &dyn Database, t: OffsetDateTime) {
    let ann = user("Ann", t);
    db.insert_user(&ann).await.unwrap();

    assert_eq!(db.user_by_id(ann.id).await.unwrap(), Some(ann.clone()));
    let by_email = db.user_by_email(&Email::parse("ANN@x.io").unwrap()).await;
    assert_eq!(by_email.unwrap(), Some(ann));
    assert_eq!(db.user_by_id(UserId::generate()).await.unwrap(), None);
    let unknown = Email::parse("nobody@x.io").unwrap();
    assert_eq!(db.user_by_email(&unknown).await.unwrap(), None);
    for (name, taken) in [("ann", true), ("ANN", true), ("anne", false)] {
        let username = Username::parse(name).unwrap();
        assert_eq!(db.username_taken(&username).await.unwrap(), taken, "{name}");
    }
}

pub async fn a_taken_email_or_username_is_refused_by_field(db: &dyn Database, t: OffsetDateTime) {
    db.insert_user(&user("ann", t)).await.unwrap();

    let same_email = User {
        username: Username::parse("other").unwrap(),
        ..user("ann", t)
    };
    let err = db.insert_user(&same_email).await.unwrap_err();
    assert!(matches!(err, InsertUserError::EmailTaken), "{err:?}");
    let same_username_in_capitals = User {
        email: Email::parse("bob@x.io").unwrap(),
        ..user("ANN", t)
    };
    let err = db
        .insert_user(&same_username_in_capitals)
        .await
        .unwrap_err();
    assert!(matches!(err, InsertUserError::UsernameTaken), "{err:?}");
    assert!(db.user_by_id(same_email.id).await.unwrap().is_none());
}

pub async fn an_update_writes_profile_and_flags_but_never_the_balance(
    db: &dyn Database,
    t: OffsetDateTime,
) {
    let ann = user("ann", t);
    db.insert_user(&ann).await.unwrap();
    let changed = User {
        full_name: FullName::parse("Ann Smith").unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$changed".into()),
        password_version: 1,
        is_superuser: true,
        is_active: false,
        balance: Money::from_cents(999),
        updated_at: t + time::Duration::minutes(1),
        ..ann.clone()
    };
    db.update_user(&changed).await.unwrap();

    let stored = db.user_by_id(ann.id).await.unwrap();
    assert_eq!(
        stored,
        Some(User {
            balance: Money::ZERO,
            ..changed
        })
    );
    // Updating a missing user is a no-op, not an error.
    let ghost = user("ghost", t);
    db.update_user(&ghost).await.unwrap();
    assert_eq!(db.user_by_id(ghost.id).await.unwrap(), None);
}
