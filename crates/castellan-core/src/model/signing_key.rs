//! Token-signing keys and their lifecycle (publish before use, keep after retirement).

use crate::time::Timestamp;

/// A signing key as stored. The private key is encrypted by the server before it gets here.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// `kid` (= `x5t`, the base64url SHA-1 thumbprint of the certificate).
    pub kid: String,
    /// The self-signed certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key (PKCS#8), encrypted with the master key.
    pub private_key_sealed: Vec<u8>,
    /// Created and published.
    pub created: Timestamp,
    /// From when it signs (later than `created`, so validators see it first).
    pub active_from: Timestamp,
    /// When it stopped signing, if it has.
    pub retired_at: Option<Timestamp>,
    /// When it leaves the JWKS (after every token it signed has expired).
    pub unpublish_at: Option<Timestamp>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("active_from", &self.active_from).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Published in the JWKS at `now`.
    pub fn is_published(&self, now: Timestamp) -> bool {
        self.unpublish_at.is_none_or(|t| now < t)
    }
}

/// Which key signs at `now`: the newest active, unretired key.
pub fn current_signing_key(keys: &[SigningKey], now: Timestamp) -> Option<&SigningKey> {
    keys.iter()
        .filter(|k| k.active_from <= now && k.retired_at.is_none())
        .max_by_key(|k| k.active_from)
}
