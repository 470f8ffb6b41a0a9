//! sea-orm adapters: the store ports on PostgreSQL (production) and SQLite
//! (the embedded default), plus connecting and migrating.

mod connect;
mod entities;
mod errors;
mod ip;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod timestamps;

pub use connect::{ConnectOptions, connect};
pub use store::{SeaDatabase, SeaStore};
