//! Cryptographic adapters: argon2id password hashing, OS randomness for
//! token secrets, and webhook signatures.

mod entropy;
mod password;
mod webhook;

pub use entropy::OsEntropy;
pub use password::Argon2Hasher;
pub use webhook::{sign_webhook, verify_webhook_signature};
