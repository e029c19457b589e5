//! Randomness from the OS CSPRNG and argon2id password hashing on a bounded pool.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::ops::{Entropy, PasswordHasher};
use rand::RngCore;
use tokio::sync::Semaphore;

/// OS randomness.
#[derive(Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn bytes16(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        rand::rng().fill_bytes(&mut b);
        b
    }
    fn secret(&mut self) -> String {
        random_secret()
    }
}

/// A client secret in Entra's style: 40 characters, ~240+ bits from the CSPRNG
/// (`~` separates a 3-character prefix, like Entra's secrets).
pub fn random_secret() -> String {
    let mut b = [0u8; 33];
    rand::rng().fill_bytes(&mut b);
    let s = URL_SAFE_NO_PAD.encode(b);
    format!(
        "{}~{}",
        s.get(..3).unwrap_or("cst"),
        s.get(3..).unwrap_or("")
    )
}

/// Random bytes as base64url.
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// argon2id with OWASP's recommended parameters (m = 19 MiB, t = 2, p = 1), at most
/// `pool` hashes at once so sign-in storms cannot exhaust memory.
#[derive(Clone)]
pub struct Argon2Hasher {
    permits: Arc<Semaphore>,
}

fn argon() -> Argon2<'static> {
    #[allow(clippy::expect_used)]
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Argon2Hasher {
    /// A hasher allowing `pool` concurrent hashes.
    pub fn new(pool: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(pool.max(1))),
        }
    }

    /// Verifies a password against a PHC string, off the async threads.
    pub async fn verify_password(&self, password: &str, phc: &str) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let (pw, phc) = (password.to_string(), phc.to_string());
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .map(|h| argon().verify_password(pw.as_bytes(), &h).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, String> {
        if password.len() > 1024 {
            return Err("password longer than 1024 bytes".into());
        }
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        let pw = password.to_string();
        tokio::task::spawn_blocking(move || {
            let mut salt = [0u8; 16];
            rand::rng().fill_bytes(&mut salt);
            let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
            argon()
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    async fn verify(&self, password: &str, phc: &str) -> bool {
        self.verify_password(password, phc).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_round_trip() {
        let h = Argon2Hasher::new(1);
        let phc = h.hash("Correct-horse-1").await.unwrap_or_default();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify_password("Correct-horse-1", &phc).await);
        assert!(!h.verify_password("correct-horse-1", &phc).await);
    }

    #[test]
    fn secrets_are_long_and_distinct() {
        let (a, b) = (random_secret(), random_secret());
        assert_ne!(a, b);
        assert!(a.len() >= 40, "{a}");
    }
}
