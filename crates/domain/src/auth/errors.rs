use std::time::Duration;

use crate::error::PortError;
use crate::ports::InsertUserError;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
    #[error("too many registrations from this address")]
    RateLimited { retry_after: Duration },
    #[error(transparent)]
    Port(#[from] PortError),
}

impl From<InsertUserError> for RegisterError {
    fn from(err: InsertUserError) -> Self {
        match err {
            InsertUserError::EmailTaken => Self::EmailTaken,
            InsertUserError::UsernameTaken => Self::UsernameTaken,
            InsertUserError::Port(e) => Self::Port(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown email and wrong password alike, so neither is revealed.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("user is inactive")]
    UserInactive,
    #[error("too many login attempts")]
    RateLimited { retry_after: Duration },
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Resolving the user behind a credential (a JWT subject).
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// The user no longer exists: the credential is worthless.
    #[error("unknown user")]
    UnknownUser,
    /// Issued before the user's latest password change.
    #[error("credential superseded by a password change")]
    Superseded,
    #[error("user is inactive")]
    UserInactive,
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateProfileError {
    #[error("changing the password requires current_password")]
    CurrentPasswordRequired,
    #[error("current password is wrong")]
    WrongCurrentPassword,
    #[error("too many password changes")]
    RateLimited { retry_after: Duration },
    #[error(transparent)]
    Authenticate(#[from] AuthenticateError),
    #[error(transparent)]
    Port(#[from] PortError),
}
