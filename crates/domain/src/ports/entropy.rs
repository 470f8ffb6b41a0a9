/// Cryptographically secure randomness, for token secrets.
pub trait Entropy: Send + Sync {
    fn bytes32(&self) -> [u8; 32];
}
