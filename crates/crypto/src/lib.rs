//! Cryptographic adapters: argon2id password hashing.

mod password;

pub use password::Argon2Hasher;
