//! Accounts and sign-in: register, log in, resolve the caller, edit one's
//! own profile.

mod errors;
mod inputs;
mod service;

pub use errors::{AuthenticateError, LoginError, RegisterError, UpdateProfileError};
pub use inputs::{ProfileUpdate, Registration};
pub use service::{AuthDb, AuthLimits, AuthService};
