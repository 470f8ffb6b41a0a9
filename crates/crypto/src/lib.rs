//! Cryptographic adapters: argon2id password hashing (bounded), OS randomness for
//! token secrets, and webhook signatures.

mod bounded;
mod entropy;
mod password;
mod webhook;

pub use bounded::BoundedHasher;
pub use entropy::OsEntropy;
pub use password::Argon2Hasher;
pub use webhook::{sign_webhook, verify_webhook_signature};
