use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::errors::{AuthenticateError, LoginError, RegisterError, UpdateProfileError};
use super::inputs::{ProfileUpdate, Registration};
use crate::audit::{AuditAction, AuditEntry, ResourceType};
use crate::context::RequestContext;
use crate::error::PortError;
use crate::ports::{
    AuditStore, Clock, PasswordHasher, RateDecision, RateLimiter, Transactions, UserStore,
};
use crate::user::{Email, Password, User, UserId};

/// The auth limits of SPEC §13, each counted exactly over a sliding
/// window shared by every instance. Client addresses count IPv6 by /64.
#[derive(Debug, Clone, Copy)]
pub struct AuthLimits {
    /// Login attempts per client address per minute.
    pub login_per_minute: u32,
    /// Login attempts per (normalised) email per hour.
    pub login_per_hour_per_email: u32,
    /// Registrations per client address per hour.
    pub register_per_hour: u32,
    /// Password changes per user per hour.
    pub password_change_per_hour: u32,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// A client address as a limit counts it: an IPv6 client may hold a whole
/// /64, so the /64 is one client.
fn client_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

/// An email as a limit key: hashed, so Redis holds no addresses.
fn email_key(email: &Email) -> String {
    let digest = Sha256::digest(email.as_str().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
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
    limits: AuthLimits,
}

impl AuthService {
    pub fn new(
        db: Arc<dyn AuthDb>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        limiter: Arc<dyn RateLimiter>,
        limits: AuthLimits,
    ) -> Self {
        Self {
            db,
            hasher,
            clock,
            limiter,
            limits,
        }
    }

    /// Counts one hit on `key`; how long to wait when it is over `limit`.
    async fn spend(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Option<Duration>, PortError> {
        Ok(match self.limiter.hit(key, limit, window).await? {
            RateDecision::Allowed => None,
            RateDecision::Limited { retry_after } => Some(retry_after),
        })
    }

    /// Creates an active, non-privileged user with a zero balance, and its
    /// `auth_register` audit row, atomically.
    pub async fn register(
        &self,
        registration: Registration,
        ctx: &RequestContext,
    ) -> Result<User, RegisterError> {
        let key = format!("register:{}", client_key(ctx.ip));
        if let Some(retry_after) = self
            .spend(&key, self.limits.register_per_hour, HOUR)
            .await?
        {
            return Err(RegisterError::RateLimited { retry_after });
        }
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
    /// Over the per-address or the per-email limit nothing is checked or
    /// recorded.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        ctx: &RequestContext,
    ) -> Result<User, LoginError> {
        let by_address = format!("login:{}", client_key(ctx.ip));
        if let Some(retry_after) = self
            .spend(&by_address, self.limits.login_per_minute, MINUTE)
            .await?
        {
            return Err(LoginError::RateLimited { retry_after });
        }
        let email = Email::parse(email).ok();
        if let Some(email) = &email {
            let by_email = format!("login-email:{}", email_key(email));
            if let Some(retry_after) = self
                .spend(&by_email, self.limits.login_per_hour_per_email, HOUR)
                .await?
            {
                return Err(LoginError::RateLimited { retry_after });
            }
        }

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
                let key = format!("password:{}", id.0);
                if let Some(retry_after) = self
                    .spend(&key, self.limits.password_change_per_hour, HOUR)
                    .await?
                {
                    return Err(UpdateProfileError::RateLimited { retry_after });
                }
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
