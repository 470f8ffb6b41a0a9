//! The store adapter suite, run against SQLite and against PostgreSQL.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use zenzefi_domain::Money;
use zenzefi_domain::RequestContext;
use zenzefi_domain::audit::{AuditAction, AuditEntry, ResourceType};
use zenzefi_domain::ports::{Database, InsertUserError, UserStore};
use zenzefi_domain::user::{Email, PasswordHash, User, UserId, Username};
use zenzefi_persistence::testing::TestDatabase;

fn user(email: &str, username: &str) -> User {
    // Whole seconds keep the round-trip comparison exact on both backends.
    let now =
        OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    User {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        username: Username::parse(username).unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
        full_name: None,
        is_active: true,
        is_superuser: false,
        balance: Money::ZERO,
        created_at: now,
        updated_at: now,
    }
}

fn audit(actor: &User) -> AuditEntry {
    let ctx = RequestContext {
        ip: Some("203.0.113.9".parse::<IpAddr>().unwrap()),
        user_agent: Some("suite".into()),
        request_id: Some("req-42".into()),
    };
    AuditEntry::new(
        AuditAction::AuthRegister,
        ResourceType::User,
        Some(actor.id.0),
        Some(actor.id),
        json!({ "email": actor.email.as_str() }),
        &ctx,
        actor.created_at,
    )
}

async fn users_round_trip(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = user("ann@x.io", "Ann");
    db.insert_user(&ann).await.unwrap();
    assert_eq!(db.user_by_id(ann.id).await.unwrap(), Some(ann.clone()));
    let by_email = db
        .user_by_email(&Email::parse("ANN@x.io").unwrap())
        .await
        .unwrap();
    assert_eq!(by_email.map(|u| u.id), Some(ann.id));
    assert_eq!(db.user_by_id(UserId::generate()).await.unwrap(), None);
}

async fn duplicates_are_reported_by_field(test_db: &TestDatabase) {
    let db = test_db.db();
    db.insert_user(&user("ann@x.io", "ann")).await.unwrap();
    let err = db
        .insert_user(&user("ann@x.io", "other"))
        .await
        .unwrap_err();
    assert!(matches!(err, InsertUserError::EmailTaken), "{err:?}");
    let err = db.insert_user(&user("bob@x.io", "ANN")).await.unwrap_err();
    assert!(matches!(err, InsertUserError::UsernameTaken), "{err:?}");
}

async fn update_writes_flags_but_never_the_balance(test_db: &TestDatabase) {
    let db = test_db.db();
    let mut ann = user("ann@x.io", "ann");
    db.insert_user(&ann).await.unwrap();
    ann.is_superuser = true;
    ann.is_active = false;
    ann.balance = Money::from_cents(999);
    db.update_user(&ann).await.unwrap();
    let stored = db.user_by_id(ann.id).await.unwrap().unwrap();
    assert!(stored.is_superuser && !stored.is_active);
    assert_eq!(stored.balance, Money::ZERO);
}

async fn dropped_unit_of_work_rolls_back(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = user("ann@x.io", "ann");
    {
        let uow = db.begin().await.unwrap();
        uow.insert_user(&ann).await.unwrap();
        uow.append_audit(&audit(&ann)).await.unwrap();
        assert!(
            uow.user_by_id(ann.id).await.unwrap().is_some(),
            "visible inside"
        );
    }
    assert_eq!(db.user_by_id(ann.id).await.unwrap(), None);
    assert!(test_db.audit_rows().await.is_empty());
}

async fn committed_unit_of_work_keeps_every_write(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = user("ann@x.io", "ann");
    let uow = db.begin().await.unwrap();
    uow.insert_user(&ann).await.unwrap();
    uow.append_audit(&audit(&ann)).await.unwrap();
    uow.commit().await.unwrap();
    assert!(db.user_by_id(ann.id).await.unwrap().is_some());
    assert_eq!(
        test_db
            .audit_rows()
            .await
            .iter()
            .map(|row| (
                row.action.as_str(),
                row.ip.as_deref(),
                row.request_id.as_deref()
            ))
            .collect::<Vec<_>>(),
        [("auth_register", Some("203.0.113.9"), Some("req-42"))]
    );
}

async fn failed_write_inside_a_unit_of_work_leaves_nothing(test_db: &TestDatabase) {
    let db = test_db.db();
    let ann = user("ann@x.io", "ann");
    db.insert_user(&ann).await.unwrap();
    let uow = db.begin().await.unwrap();
    uow.append_audit(&audit(&ann)).await.unwrap();
    assert!(uow.insert_user(&user("ann@x.io", "ann2")).await.is_err());
    drop(uow);
    assert!(test_db.audit_rows().await.is_empty());
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                let test_db = zenzefi_persistence::testing::TestDatabase::sqlite().await;
                super::$case(&test_db).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                let Some(test_db) = zenzefi_persistence::testing::TestDatabase::postgres().await else {
                    return;
                };
                super::$case(&test_db).await;
            })*
        }
    };
}

suite!(
    users_round_trip,
    duplicates_are_reported_by_field,
    update_writes_flags_but_never_the_balance,
    dropped_unit_of_work_rolls_back,
    committed_unit_of_work_keeps_every_write,
    failed_write_inside_a_unit_of_work_leaves_nothing,
);

/// Uniqueness holds under a race, not only when checked one by one.
#[tokio::test]
async fn concurrent_registrations_of_one_email_on_postgres_have_one_winner() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let db = Arc::new(test_db.db().clone());
    let attempts = (0..20).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let uow = db.begin().await.unwrap();
            let candidate = user("race@x.io", &format!("racer{i}"));
            uow.insert_user(&candidate).await?;
            uow.commit().await.map_err(InsertUserError::from)
        })
    });
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => won += 1,
            Err(InsertUserError::EmailTaken) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
}
