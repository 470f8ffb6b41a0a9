//! The auth use-cases against in-memory adapters and real argon2.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use zenzefi_crypto::Argon2Hasher;
use zenzefi_memory::{InMemoryDatabase, InMemoryRateLimiter, SystemClock};

use zenzefi_domain::audit::AuditAction;
use zenzefi_domain::auth::*;
use zenzefi_domain::context::RequestContext;
use zenzefi_domain::ports::{Transactions, UserStore};
use zenzefi_domain::user::User;

struct Harness {
    db: InMemoryDatabase,
    auth: AuthService,
}

fn harness(attempts_per_minute: u32) -> Harness {
    let db = InMemoryDatabase::default();
    let auth = AuthService::new(
        Arc::new(db.clone()),
        Arc::new(Argon2Hasher::new().unwrap()),
        Arc::new(SystemClock),
        Arc::new(InMemoryRateLimiter::default()),
        AuthLimits {
            login_per_minute: attempts_per_minute,
            login_per_hour_per_email: 1_000,
            register_per_hour: 1_000,
            password_change_per_hour: 1_000,
        },
    );
    Harness { db, auth }
}

impl Harness {
    /// Ann, registered with `password1`.
    async fn ann(&self) -> User {
        self.auth
            .register(registration("ann@x.io", "ann"), &ctx())
            .await
            .unwrap()
    }
}

fn ctx() -> RequestContext {
    RequestContext {
        ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
        user_agent: Some("tests".into()),
        request_id: Some("req-1".into()),
    }
}

fn registration(email: &str, username: &str) -> Registration {
    Registration::parse(email, username, "password1".into(), Some("Ann")).unwrap()
}

#[tokio::test]
async fn registered_user_can_log_in_and_both_are_audited() {
    let h = harness(10);
    let user = h
        .auth
        .register(registration("Ann@X.io", "ann"), &ctx())
        .await
        .unwrap();
    assert_eq!(user.email.as_str(), "ann@x.io");
    assert!(user.is_active && !user.is_superuser);

    let logged_in = h
        .auth
        .login("ANN@x.io", "password1".into(), &ctx())
        .await
        .unwrap();
    assert_eq!(logged_in.id, user.id);

    let audit = h.db.audit_entries().await;
    let actions: Vec<_> = audit.iter().map(|e| e.action).collect();
    assert_eq!(actions, [AuditAction::AuthRegister, AuditAction::AuthLogin]);
    assert_eq!(audit[1].details["success"], true);
    assert_eq!(audit[1].context, ctx());
}

#[tokio::test]
async fn duplicate_email_or_username_is_refused_and_nothing_is_written() {
    let h = harness(10);
    h.ann().await;
    let err = h
        .auth
        .register(registration("ANN@x.io", "bob"), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, RegisterError::EmailTaken), "{err:?}");
    let err = h
        .auth
        .register(registration("bob@x.io", "ANN"), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, RegisterError::UsernameTaken), "{err:?}");
    assert_eq!(
        h.db.audit_entries().await.len(),
        1,
        "failed registrations left audit rows"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_fail_alike_and_are_audited_without_password() {
    let h = harness(10);
    h.ann().await;
    let wrong = h
        .auth
        .login("ann@x.io", "password2".into(), &ctx())
        .await
        .unwrap_err();
    let unknown = h
        .auth
        .login("nobody@x.io", "password1".into(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(wrong, LoginError::InvalidCredentials));
    assert!(matches!(unknown, LoginError::InvalidCredentials));

    let audit = h.db.audit_entries().await;
    let failures: Vec<_> = audit
        .iter()
        .filter(|e| e.action == AuditAction::AuthLogin)
        .collect();
    assert_eq!(failures.len(), 2);
    for entry in failures {
        assert_eq!(entry.details["success"], false);
        assert_eq!(entry.actor, None);
        let text = entry.details.to_string();
        assert!(
            !text.contains("password1") && !text.contains("password2"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn inactive_user_with_the_right_password_is_told_so() {
    let h = harness(10);
    let mut user = h.ann().await;
    user.is_active = false;
    h.db.update_user(&user).await.unwrap();
    let err = h
        .auth
        .login("ann@x.io", "password1".into(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::UserInactive), "{err:?}");
    let err = h
        .auth
        .authenticate(user.id, user.password_version)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthenticateError::UserInactive), "{err:?}");
    // A wrong password still reveals nothing about the account's state.
    let err = h
        .auth
        .login("ann@x.io", "password9".into(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn attempts_over_the_limit_are_rejected_with_a_retry_delay() {
    let h = harness(2);
    for _ in 0..2 {
        let _ = h.auth.login("ann@x.io", "x".into(), &ctx()).await;
    }
    let err = h
        .auth
        .login("ann@x.io", "x".into(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::RateLimited { retry_after } if retry_after.as_secs() >= 1));
    assert_eq!(
        h.db.audit_entries().await.len(),
        2,
        "a limited attempt is not audited"
    );
}

#[tokio::test]
async fn password_change_needs_the_current_password() {
    let h = harness(10);
    let user = h.ann().await;
    let change = |current: Option<&str>| {
        ProfileUpdate::parse(
            None,
            Some("newpassword2".into()),
            current.map(str::to_owned),
        )
        .unwrap()
    };
    let err = h
        .auth
        .update_profile(user.id, change(None), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateProfileError::CurrentPasswordRequired));
    let err = h
        .auth
        .update_profile(user.id, change(Some("nope")), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateProfileError::WrongCurrentPassword));

    h.auth
        .update_profile(user.id, change(Some("password1")), &ctx())
        .await
        .unwrap();
    assert!(
        h.auth
            .login("ann@x.io", "newpassword2".into(), &ctx())
            .await
            .is_ok()
    );
    let last_update =
        h.db.audit_entries()
            .await
            .into_iter()
            .find(|e| e.action == AuditAction::UserUpdate);
    assert_eq!(
        last_update.unwrap().details["changed_fields"]["password"],
        "changed"
    );
}

#[tokio::test]
async fn a_credential_issued_before_a_password_change_no_longer_authenticates() {
    let h = harness(10);
    let user = h.ann().await;
    let change =
        ProfileUpdate::parse(None, Some("newpassword2".into()), Some("password1".into())).unwrap();
    let changed = h
        .auth
        .update_profile(user.id, change, &ctx())
        .await
        .unwrap();

    assert!(changed.password_version > user.password_version);
    let err = h
        .auth
        .authenticate(user.id, user.password_version)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthenticateError::Superseded), "{err:?}");
    assert!(
        h.auth
            .authenticate(user.id, changed.password_version)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn profile_update_changes_and_clears_the_full_name() {
    let h = harness(10);
    let user = h.ann().await;
    let renamed = h
        .auth
        .update_profile(
            user.id,
            ProfileUpdate::parse(Some(Some(" Ann Lee ")), None, None).unwrap(),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(renamed.full_name.unwrap().as_str(), "Ann Lee");
    let cleared = h
        .auth
        .update_profile(
            user.id,
            ProfileUpdate::parse(Some(None), None, None).unwrap(),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(cleared.full_name, None);
    assert_eq!(
        h.db.user_by_id(user.id).await.unwrap().unwrap().full_name,
        None
    );
}

#[tokio::test]
async fn an_uncommitted_unit_of_work_leaves_nothing_behind() {
    let h = harness(10);
    let user = h.ann().await;
    {
        let uow = h.db.begin().await.unwrap();
        let mut changed = uow.user_by_id(user.id).await.unwrap().unwrap();
        changed.is_superuser = true;
        uow.update_user(&changed).await.unwrap();
        // dropped without commit
    }
    assert!(
        !h.db
            .user_by_id(user.id)
            .await
            .unwrap()
            .unwrap()
            .is_superuser
    );
}

#[tokio::test]
async fn create_superuser_creates_once_then_promotes_idempotently() {
    let h = harness(10);
    let (root, created) = h
        .auth
        .create_superuser(registration("root@x.io", "root"), &ctx())
        .await
        .unwrap();
    assert!(created && root.is_superuser);
    let (again, created) = h
        .auth
        .create_superuser(registration("root@x.io", "root"), &ctx())
        .await
        .unwrap();
    assert!(!created && again.id == root.id);

    let ann = h.ann().await;
    let (promoted, created) = h
        .auth
        .create_superuser(registration("ann@x.io", "ignored"), &ctx())
        .await
        .unwrap();
    assert!(!created && promoted.is_superuser && promoted.id == ann.id);
    assert!(h.db.user_by_id(ann.id).await.unwrap().unwrap().is_superuser);
    let promotions =
        h.db.audit_entries()
            .await
            .into_iter()
            .filter(|e| e.action == AuditAction::AdminUserUpdate)
            .count();
    assert_eq!(promotions, 1);
}

/// Counts the hashes asked of argon2.
struct CountingHasher(Argon2Hasher, std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl zenzefi_domain::ports::PasswordHasher for CountingHasher {
    async fn hash(
        &self,
        password: &zenzefi_domain::user::Password,
    ) -> Result<zenzefi_domain::user::PasswordHash, zenzefi_domain::PortError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.hash(password).await
    }

    async fn verify(
        &self,
        password: &zenzefi_domain::user::Password,
        hash: Option<&zenzefi_domain::user::PasswordHash>,
    ) -> Result<bool, zenzefi_domain::PortError> {
        self.0.verify(password, hash).await
    }
}

#[tokio::test]
async fn a_taken_email_or_username_is_refused_before_any_hash() {
    let hasher = Arc::new(CountingHasher(Argon2Hasher::new().unwrap(), 0.into()));
    let auth = AuthService::new(
        Arc::new(InMemoryDatabase::default()),
        hasher.clone(),
        Arc::new(SystemClock),
        Arc::new(InMemoryRateLimiter::default()),
        AuthLimits {
            login_per_minute: 10,
            login_per_hour_per_email: 1_000,
            register_per_hour: 1_000,
            password_change_per_hour: 1_000,
        },
    );
    auth.register(registration("ann@x.io", "ann"), &ctx())
        .await
        .unwrap();
    for (email, username) in [("ANN@x.io", "bob"), ("bob@x.io", "Ann")] {
        auth.register(registration(email, username), &ctx())
            .await
            .unwrap_err();
    }
    assert_eq!(hasher.1.load(std::sync::atomic::Ordering::SeqCst), 1);
}
