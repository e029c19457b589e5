//! Secrets as a type: no `==`, no `Debug` that prints them, constant-time checks.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret presented by a client. It cannot be compared with `==` or printed.
pub struct SecretText(String);

impl SecretText {
    /// Wraps the text.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The text, for the one place that must show it (the `addPassword` response).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// SHA-256 of the text (client secrets have ≥ 256 bits of entropy, so a fast hash is safe).
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
    /// Constant-time comparison with a stored SHA-256.
    pub fn matches_sha256(&self, stored: &[u8; 32]) -> bool {
        bool::from(self.sha256().ct_eq(stored))
    }
    /// The first three characters (Graph's `hint`).
    pub fn hint(&self) -> String {
        self.0.chars().take(3).collect()
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

/// SHA-256 of arbitrary bytes (used for thumbprints of stored values).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
