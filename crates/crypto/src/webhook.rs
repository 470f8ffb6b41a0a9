//! Signatures of payment webhooks: lowercase hex HMAC-SHA256 of
//! the raw body, keyed with the shared webhook secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac
}

/// The signature a sender puts in `X-Webhook-Signature`.
pub fn sign_webhook(secret: &[u8], body: &[u8]) -> String {
    hex::encode(mac(secret, body).finalize().into_bytes())
}

/// Whether `signature_hex` signs `body`. Compared in constant time, so that
/// response timing does not reveal how much of a forged signature matched;
/// anything that is not 32 bytes of hex is simply wrong.
pub fn verify_webhook_signature(secret: &[u8], body: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex) else {
        return false;
    };
    mac(secret, body).verify_slice(&signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2.
    const KEY: &[u8] = b"Jefe";
    const DATA: &[u8] = b"what do ya want for nothing?";
    const MAC: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn signs_the_rfc_4231_vector_as_lowercase_hex() {
        assert_eq!(sign_webhook(KEY, DATA), MAC);
    }

    #[test]
    fn accepts_the_right_signature_only() {
        assert!(verify_webhook_signature(KEY, DATA, MAC));
        assert!(!verify_webhook_signature(b"other", DATA, MAC));
        assert!(!verify_webhook_signature(
            KEY,
            b"what do ya want for something?",
            MAC
        ));
    }

    #[test]
    fn rejects_malformed_signatures() {
        let truncated = &MAC[..62];
        let extended = format!("{MAC}00");
        let not_hex = format!("{}zz", &MAC[..62]);
        for bad in ["", truncated, &extended, &not_hex, &MAC[..63]] {
            assert!(
                !verify_webhook_signature(KEY, DATA, bad),
                "{bad:?} accepted"
            );
        }
    }
}
