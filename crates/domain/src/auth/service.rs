use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::errors::{AuthenticateError, LoginError, RegisterError, UpdateProfileError};
use super::inputs::{ProfileUpdate, Registration};
use crate::audit::{AuditAction, AuditEntry, ResourceType};
use crate::context::RequestContext;
use crate::ports::{
    AuditStore, Clock, PasswordHasher, RateDecision, RateLimiter, Transactions, UserStore,
};
use crate::user::{Email, Password, User, UserId};

/// How many login attempts one client address may make per minute.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    pub attempts_per_minute: u32,
}

/// What the auth use-cases need of the database: units of work, and the
/// stores they call outside one.
pub trait AuthDb: Transactions + UserStore + AuditStore {}

impl<T: Transactions + UserStore + AuditStore> AuthDb for T {}

/// The auth use-cases.
pub struct AuthService {
    db: Arc<dyn AuthDb>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    limiter: Arc<dyn RateLimiter>,
    policy: LoginPolicy,
}

impl AuthService {
    pub fn new(
        db: Arc<dyn AuthDb>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        limiter: Arc<dyn RateLimiter>,
        policy: LoginPolicy,
    ) -> Self {
        Self {
            db,
            hasher,
            clock,
            limiter,
            policy,
        }
    }

    /// Creates an active, non-privileged user with a zero balance, and its
    /// `auth_register` audit row, atomically.
    pub async fn register(
        &self,
        registration: Registration,
        ctx: &RequestContext,
    ) -> Result<User, RegisterError> {
        self.insert_new_user(registration, false, ctx).await
    }

    async fn insert_new_user(
        &self,
        registration: Registration,
        is_superuser: bool,
        ctx: &RequestContext,
    ) -> Result<User, RegisterError> {
        // Taken names are refused before the costly hash (the unique
        // indexes still decide a race, below); the hash runs before the
        // transaction: argon2 is slow and must not hold a connection.
        if self.db.user_by_email(&registration.email).await?.is_some() {
            return Err(RegisterError::EmailTaken);
        }
        if self.db.username_taken(&registration.username).await? {
            return Err(RegisterError::UsernameTaken);
        }
        let password_hash = self.hasher.hash(&registration.password).await?;
        let now = self.clock.now();
        let user = User {
            is_superuser,
            ..User::new(
                registration.email,
                registration.username,
                password_hash,
                registration.full_name,
                now,
            )
        };
        let audit = AuditEntry::new(
            AuditAction::AuthRegister,
            ResourceType::User,
            Some(user.id.0),
            Some(user.id),
            json!({
                "email": user.email.as_str(),
                "username": user.username.as_str(),
                "is_superuser": is_superuser,
            }),
            ctx,
            now,
        );
        let uow = self.db.begin().await?;
        uow.insert_user(&user).await?;
        uow.append_audit(&audit).await?;
        uow.commit().await?;
        Ok(user)
    }

    /// Makes the owner of `registration.email` a superuser, creating the
    /// account when there is none (then with the given username and
    /// password). Idempotent; an existing user's password is left alone.
    /// Returns the user and whether it was created.
    pub async fn create_superuser(
        &self,
        registration: Registration,
        ctx: &RequestContext,
    ) -> Result<(User, bool), RegisterError> {
        if let Some(mut user) = self.db.user_by_email(&registration.email).await? {
            if user.is_superuser {
                return Ok((user, false));
            }
            let uow = self.db.begin().await?;
            user.is_superuser = true;
            user.updated_at = self.clock.now();
            uow.update_user(&user).await?;
            uow.append_audit(&AuditEntry::new(
                AuditAction::AdminUserUpdate,
                ResourceType::User,
                Some(user.id.0),
                None,
                json!({ "changed_fields": { "is_superuser": { "old": false, "new": true } }, "via": "cli" }),
                ctx,
                user.updated_at,
            ))
            .await?;
            uow.commit().await?;
            return Ok((user, false));
        }
        let user = self.insert_new_user(registration, true, ctx).await?;
        Ok((user, true))
    }

    /// Checks the credentials and records the attempt, successful or not.
    /// Over the per-address limit nothing is checked or recorded.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        ctx: &RequestContext,
    ) -> Result<User, LoginError> {
        let key = match ctx.ip {
            Some(ip) => format!("login:{ip}"),
            None => "login:unknown".to_owned(),
        };
        let decision = self
            .limiter
            .hit(
                &key,
                self.policy.attempts_per_minute,
                Duration::from_secs(60),
            )
            .await?;
        if let RateDecision::Limited { retry_after } = decision {
            return Err(LoginError::RateLimited { retry_after });
        }

        let email = Email::parse(email).ok();
        let user = match &email {
            Some(email) => self.db.user_by_email(email).await?,
            None => None,
        };
        let matches = match Password::offered(password) {
            Some(password) => {
                let hash = user.as_ref().map(|u| &u.password_hash);
                self.hasher.verify(&password, hash).await?
            }
            None => false,
        };
        // A failed attempt has no actor, but names the account it targeted.
        let target = user.as_ref().map(|u| u.id.0);
        let outcome = match user {
            Some(user) if matches && user.is_active => Ok(user),
            Some(_) if matches => Err(LoginError::UserInactive),
            _ => Err(LoginError::InvalidCredentials),
        };

        let (actor, resource_id, details) = match &outcome {
            Ok(user) => (Some(user.id), Some(user.id.0), json!({ "success": true })),
            Err(err) => {
                let reason = match err {
                    LoginError::UserInactive => "user_inactive",
                    _ => "invalid_credentials",
                };
                // Only an address is worth keeping: anything else may be a
                // password typed into the wrong field.
                let attempted = email.as_ref().map(Email::as_str);
                (
                    None,
                    target,
                    json!({ "success": false, "email": attempted, "reason": reason }),
                )
            }
        };
        let entry = AuditEntry::new(
            AuditAction::AuthLogin,
            ResourceType::User,
            resource_id,
            actor,
            details,
            ctx,
            self.clock.now(),
        );
        self.db.append_audit(&entry).await?;
        outcome
    }

    /// The user behind a credential issued under `password_version`, if it
    /// may still act: a password change since then makes it worthless.
    pub async fn authenticate(
        &self,
        id: UserId,
        password_version: i64,
    ) -> Result<User, AuthenticateError> {
        let user = self.active_user(id).await?;
        if user.password_version != password_version {
            return Err(AuthenticateError::Superseded);
        }
        Ok(user)
    }

    async fn active_user(&self, id: UserId) -> Result<User, AuthenticateError> {
        match self.db.user_by_id(id).await? {
            Some(user) if user.is_active => Ok(user),
            Some(_) => Err(AuthenticateError::UserInactive),
            None => Err(AuthenticateError::UnknownUser),
        }
    }

    /// Applies a user's own profile changes, with a `user_update` audit row
    /// naming what changed (never the password itself).
    pub async fn update_profile(
        &self,
        id: UserId,
        update: ProfileUpdate,
        ctx: &RequestContext,
    ) -> Result<User, UpdateProfileError> {
        let current = self.active_user(id).await?;
        let new_hash = match (&update.new_password, update.current_password) {
            (None, _) => None,
            (Some(_), None) => return Err(UpdateProfileError::CurrentPasswordRequired),
            (Some(new_password), Some(current_password)) => {
                let offered = Password::offered(current_password);
                let matches = match &offered {
                    Some(p) => self.hasher.verify(p, Some(&current.password_hash)).await?,
                    None => false,
                };
                if !matches {
                    return Err(UpdateProfileError::WrongCurrentPassword);
                }
                Some(self.hasher.hash(new_password).await?)
            }
        };

        let uow = self.db.begin().await?;
        let mut user = uow
            .user_by_id(id)
            .await?
            .ok_or(AuthenticateError::UnknownUser)?;
        let mut changed = Map::new();
        if let Some(full_name) = update.full_name.filter(|name| *name != user.full_name) {
            let name = |n: &Option<_>| {
                n.as_ref()
                    .map(|n: &crate::user::FullName| n.as_str().to_owned())
            };
            changed.insert(
                "full_name".into(),
                json!({ "old": name(&user.full_name), "new": name(&full_name) }),
            );
            user.full_name = full_name;
        }
        if let Some(hash) = new_hash {
            changed.insert("password".into(), Value::from("changed"));
            user.password_hash = hash;
            user.password_version += 1;
        }
        if changed.is_empty() {
            return Ok(user);
        }
        user.updated_at = self.clock.now();
        uow.update_user(&user).await?;
        uow.append_audit(&AuditEntry::new(
            AuditAction::UserUpdate,
            ResourceType::User,
            Some(user.id.0),
            Some(user.id),
            json!({ "changed_fields": changed }),
            ctx,
            user.updated_at,
        ))
        .await?;
        uow.commit().await?;
        Ok(user)
    }
}
