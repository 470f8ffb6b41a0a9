//! The core of Zenzefi Gateway: entities, value objects, use-cases and the
//! ports they talk through. Nothing here knows HTTP, SQL or Redis; adapters
//! implement [`ports`] and the api/worker crates wire them together.

pub mod admin;
pub mod admission;
pub mod audit;
pub mod auth;
pub mod balance;
pub mod context;
pub mod currency;
mod enums;
pub mod error;
pub mod health;
pub mod ledger;
pub mod maintenance;
pub mod money;
pub mod page;
pub mod ports;
pub mod pricing;
pub mod proxy;
pub mod quotas;
pub mod session;
pub mod sessions;
pub mod token;
pub mod tokens;
pub mod usage;
pub mod user;
pub mod validation;

pub use context::RequestContext;
pub use error::PortError;
pub use money::Money;
