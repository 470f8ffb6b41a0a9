//! Extractors: who is calling and from where, and how malformed input
//! becomes a problem response instead of actix's plain-text errors.

mod client;
mod current_user;
mod forwarded;
mod input;
mod superuser;

pub use client::{Client, client_ip, user_agent};
pub use current_user::CurrentUser;
pub use forwarded::Forwarding;
pub use input::{json_config, path_config, payload_error, query_config, read_body, whole_number};
pub use superuser::{Superuser, require_superuser};
