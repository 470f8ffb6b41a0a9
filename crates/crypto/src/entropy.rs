//! Token secrets drawn straight from the operating system's CSPRNG.

use rand::TryRngCore;
use rand::rngs::OsRng;
use zenzefi_domain::ports::Entropy;

/// Reads the kernel's random source on every call: secrets are rare
/// (one per purchase), so a user-space generator would only add state that
/// could be copied, e.g. across a fork.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn bytes32(&self) -> [u8; 32] {
        let mut bytes = [0; 32];
        // The port is infallible on purpose: without a working OS random
        // source no secret can be issued safely, so failing loudly is right.
        OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random source failed");
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successive_draws_differ() {
        let (a, b) = (OsEntropy.bytes32(), OsEntropy.bytes32());
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
    }
}
