//! Requests to the auth use-cases, parsed from raw transport values.

use crate::user::{Email, FullName, Password, Username};
use crate::validation::ValidationErrors;

#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub username: Username,
    pub password: Password,
    pub full_name: Option<FullName>,
}

impl Registration {
    pub fn parse(
        email: &str,
        username: &str,
        password: String,
        full_name: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let email = errors.check("email", Email::parse(email));
        let username = errors.check("username", Username::parse(username));
        let password = errors.check("password", Password::parse(password));
        let full_name = errors.check("full_name", full_name.map_or(Ok(None), FullName::parse));
        match (email, username, password, full_name) {
            (Some(email), Some(username), Some(password), Some(full_name)) => Ok(Self {
                email,
                username,
                password,
                full_name,
            }),
            _ => Err(errors),
        }
    }
}

/// Changes a user asks for on their own account. `None` leaves a field as
/// it is; `full_name: Some(None)` clears the name.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub full_name: Option<Option<FullName>>,
    pub new_password: Option<Password>,
    /// Required with `new_password`; compared, never validated.
    pub current_password: Option<String>,
}

impl ProfileUpdate {
    pub fn parse(
        full_name: Option<Option<&str>>,
        new_password: Option<String>,
        current_password: Option<String>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let full_name = match full_name {
            Some(Some(raw)) => errors.check("full_name", FullName::parse(raw)).map(Some),
            Some(None) => Some(Some(None)),
            None => Some(None),
        };
        let new_password = match new_password {
            Some(raw) => errors.check("password", Password::parse(raw)).map(Some),
            None => Some(None),
        };
        match (full_name, new_password) {
            (Some(full_name), Some(new_password)) => Ok(Self {
                full_name,
                new_password,
                current_password,
            }),
            _ => Err(errors),
        }
    }
}
