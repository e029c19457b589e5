//! Token-signing keys: generated here (RSA-2048 with aws-lc-rs), sealed with the master key
//! (AES-256-GCM) before they reach the store, kept parsed in memory for signing, published in
//! the JWKS by the lifecycle rules in `castellan_core::model::signing_key`.
//!
//! JWTs are assembled here (`b64(header).b64(payload).b64(sig)`) and signed with the parsed
//! aws-lc-rs key pair: re-parsing the PKCS#8 key per token (as a generic JOSE `encode` does)
//! would cost a large share of the RS256 budget. Validation uses the `jsonwebtoken` crate.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use castellan_core::model::{current_signing_key, next_key_due, published_keys, SigningKey};
use castellan_core::store::{Change, ChangeSet, Store};
use castellan_core::Timestamp;
use castellan_wire::discovery::PublishedKey;
use jsonwebtoken::DecodingKey;

/// Token lifetime used to keep superseded keys published.
pub const KEY_RETENTION_SECS: i64 = 2 * 3600;
/// How long before first use a new key is published by automatic rotation.
pub const PUBLISH_LEAD_SECS: i64 = 24 * 3600;

/// The 256-bit key that seals private keys at rest.
pub struct MasterKey(LessSafeKey);

impl MasterKey {
    /// From `CASTELLAN_MASTER_KEY` (base64 of 32 bytes) or `<data-dir>/master.key`, created 0600.
    pub fn load(data_dir: &Path) -> anyhow_lite::Result<Self> {
        let bytes = if let Ok(v) = std::env::var("CASTELLAN_MASTER_KEY") {
            STANDARD
                .decode(v.trim())
                .map_err(|e| anyhow_lite::err(format!("CASTELLAN_MASTER_KEY is not base64: {e}")))?
        } else {
            let path = data_dir.join("master.key");
            if !path.exists() {
                let mut k = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut k)
                    .map_err(|_| anyhow_lite::err("no OS randomness"))?;
                write_secret_file(&path, STANDARD.encode(k).as_bytes())?;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow_lite::err(format!("cannot read {}: {e}", path.display())))?;
            STANDARD
                .decode(text.trim())
                .map_err(|e| anyhow_lite::err(format!("{} is not base64: {e}", path.display())))?
        };
        if bytes.len() != 32 {
            return Err(anyhow_lite::err(format!(
                "the master key must be 32 bytes (base64-encoded); got {}",
                bytes.len()
            )));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| anyhow_lite::err("bad master key"))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    fn seal(&self, plain: &[u8]) -> anyhow_lite::Result<Vec<u8>> {
        self.seal_for(b"castellan-signing-key", plain)
    }

    fn open(&self, sealed: &[u8]) -> anyhow_lite::Result<Vec<u8>> {
        self.open_for(b"castellan-signing-key", sealed)
    }

    /// AES-256-GCM with a fresh 96-bit nonce (prepended); `purpose` is the associated data, so
    /// a value sealed for one purpose (a signing key) never opens as another (a TOTP secret).
    fn seal_for(&self, purpose: &'static [u8], plain: &[u8]) -> anyhow_lite::Result<Vec<u8>> {
        let mut nonce = [0u8; 12];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow_lite::err("no OS randomness"))?;
        let mut buf = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose),
                &mut buf,
            )
            .map_err(|_| anyhow_lite::err("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend(buf);
        Ok(out)
    }

    fn open_for(&self, purpose: &'static [u8], sealed: &[u8]) -> anyhow_lite::Result<Vec<u8>> {
        let (nonce, body) = sealed
            .split_at_checked(12)
            .ok_or_else(|| anyhow_lite::err("sealed key too short"))?;
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow_lite::err("bad nonce"))?;
        let mut buf = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(purpose), &mut buf)
            .map_err(|_| anyhow_lite::err("a sealed secret cannot be unsealed with this master key: was CASTELLAN_MASTER_KEY or <data-dir>/master.key changed?"))?;
        Ok(plain.to_vec())
    }
}

/// Writes a file readable only by its owner.
pub fn write_secret_file(path: &Path, content: &[u8]) -> anyhow_lite::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow_lite::err(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow_lite::err(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(content)
        .map_err(|e| anyhow_lite::err(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}

/// A key ready to sign and verify.
pub struct LoadedKey {
    /// The stored record.
    pub record: SigningKey,
    pair: KeyPair,
    n: Vec<u8>,
    e: Vec<u8>,
    decoding: DecodingKey,
}

impl LoadedKey {
    fn load(master: &MasterKey, record: SigningKey) -> anyhow_lite::Result<Self> {
        let pkcs8 = master.open(&record.private_key_sealed)?;
        let pair = KeyPair::from_pkcs8(&pkcs8).map_err(|e| {
            anyhow_lite::err(format!(
                "stored signing key {} is not valid PKCS#8: {e}",
                record.kid
            ))
        })?;
        let pc: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let decoding = DecodingKey::from_rsa_raw_components(&pc.n, &pc.e);
        Ok(Self {
            record,
            pair,
            n: pc.n,
            e: pc.e,
            decoding,
        })
    }
}

/// Makes a new key record (sealed) that becomes active at `active_from`.
pub fn generate(
    master: &MasterKey,
    now: Timestamp,
    active_from: Timestamp,
) -> anyhow_lite::Result<SigningKey> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| anyhow_lite::err("RSA key generation failed"))?;
    let pkcs8 = pair
        .as_der()
        .map_err(|_| anyhow_lite::err("PKCS#8 encoding failed"))?;
    let rc_key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &pkcs8.as_ref().to_vec().into(),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| anyhow_lite::err(format!("rcgen key: {e}")))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| anyhow_lite::err(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Castellan token signing");
    params.not_before = time_from(now.plus_secs(-300));
    params.not_after = time_from(now.plus_secs(5 * 365 * 24 * 3600));
    let cert = params
        .self_signed(&rc_key)
        .map_err(|e| anyhow_lite::err(format!("certificate: {e}")))?;
    let der = cert.der().to_vec();
    let thumb = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    Ok(SigningKey {
        kid: URL_SAFE_NO_PAD.encode(thumb.as_ref()),
        cert_der: der,
        private_key_sealed: master.seal(pkcs8.as_ref())?,
        created: now,
        active_from,
        retired_at: None,
        unpublish_at: None,
    })
}

/// Converts a timestamp for certificate validity fields.
pub fn time_from(t: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.secs()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// TOTP secrets are sealed with the master key like signing keys, under their own purpose.
impl castellan_core::ops::auth_methods::Sealer for KeyRing {
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, String> {
        self.master
            .seal_for(b"castellan-totp-secret", plain)
            .map_err(|e| e.0)
    }
    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        self.master
            .open_for(b"castellan-totp-secret", sealed)
            .map_err(|e| e.0)
    }
}

impl KeyRing {
    /// Seals the session facts a user token carries in its opaque `aio` claim (base64url).
    pub fn seal_aio(&self, authn: &castellan_core::flow::Authn) -> Result<String, String> {
        use base64::Engine;
        let sealed = self
            .master
            .seal_for(b"castellan-token-aio", authn.to_aio_plain().as_bytes())
            .map_err(|e| e.0)?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed))
    }

    /// Opens an `aio` claim this server sealed; `None` when it is not one.
    pub fn open_aio(&self, aio: &str) -> Option<castellan_core::flow::Authn> {
        use base64::Engine;
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(aio)
            .ok()?;
        let plain = self.master.open_for(b"castellan-token-aio", &sealed).ok()?;
        castellan_core::flow::Authn::from_aio_plain(std::str::from_utf8(&plain).ok()?)
    }
}

/// The in-memory key set: what signs now and what validators may see.
pub struct KeyRing {
    master: MasterKey,
    keys: RwLock<HashMap<String, Arc<LoadedKey>>>,
}

impl KeyRing {
    /// Loads every stored key; makes the first one if there is none.
    pub async fn open(
        master: MasterKey,
        store: &dyn Store,
        now: Timestamp,
    ) -> anyhow_lite::Result<Self> {
        let ring = Self {
            master,
            keys: RwLock::new(HashMap::new()),
        };
        ring.refresh(store).await?;
        ring.maintain(store, now, 30 * 24 * 3600).await?;
        Ok(ring)
    }

    /// Reloads keys from the store (another node may have rotated).
    pub async fn refresh(&self, store: &dyn Store) -> anyhow_lite::Result<()> {
        let records = store
            .signing_keys()
            .await
            .map_err(|e| anyhow_lite::err(e.to_string()))?;
        let mut loaded = HashMap::new();
        for r in records {
            let kid = r.kid.clone();
            let existing = self.keys.read().ok().and_then(|k| k.get(&kid).cloned());
            let k = match existing {
                Some(k) if k.record == r => k,
                _ => Arc::new(LoadedKey::load(&self.master, r)?),
            };
            loaded.insert(kid, k);
        }
        if let Ok(mut w) = self.keys.write() {
            *w = loaded;
        }
        Ok(())
    }

    /// Makes the next key when the schedule says so. Returns whether one was made.
    pub async fn maintain(
        &self,
        store: &dyn Store,
        now: Timestamp,
        interval_secs: i64,
    ) -> anyhow_lite::Result<bool> {
        let due = next_key_due(&self.records(), now, interval_secs, PUBLISH_LEAD_SECS);
        let Some(active_from) = due else {
            return Ok(false);
        };
        self.add(store, now, active_from).await?;
        Ok(true)
    }

    /// Adds a key that activates at `active_from` (an operator's manual rotation).
    pub async fn add(
        &self,
        store: &dyn Store,
        now: Timestamp,
        active_from: Timestamp,
    ) -> anyhow_lite::Result<String> {
        let rec = generate(&self.master, now, active_from)?;
        let kid = rec.kid.clone();
        let mut set = ChangeSet::new();
        set.push(Change::InsertSigningKey(rec));
        store
            .commit(set)
            .await
            .map_err(|e| anyhow_lite::err(e.to_string()))?;
        self.refresh(store).await?;
        Ok(kid)
    }

    fn records(&self) -> Vec<SigningKey> {
        self.keys
            .read()
            .map(|k| k.values().map(|l| l.record.clone()).collect())
            .unwrap_or_default()
    }

    fn current(&self, now: Timestamp) -> Option<Arc<LoadedKey>> {
        let records = self.records();
        let kid = current_signing_key(&records, now)?.kid.clone();
        self.keys.read().ok()?.get(&kid).cloned()
    }

    /// Signs a JWT (RS256) over `payload` with the current key.
    pub fn sign_jwt(&self, payload: &serde_json::Value, now: Timestamp) -> Result<String, String> {
        let key = self.current(now).ok_or("no signing key is active")?;
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": key.record.kid});
        let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(payload.to_string()));
        let mut sig = vec![0u8; key.pair.public_modulus_len()];
        key.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                out.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "signing failed")?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(out)
    }

    /// The verification key for a `kid`, if it is published at `now`.
    pub fn decoding_key(&self, kid: &str, now: Timestamp) -> Option<DecodingKey> {
        let records = self.records();
        if !published_keys(&records, now, KEY_RETENTION_SECS)
            .iter()
            .any(|k| k.kid == kid)
        {
            return None;
        }
        self.keys.read().ok()?.get(kid).map(|k| k.decoding.clone())
    }

    /// The JWKS entries at `now`.
    pub fn published(&self, now: Timestamp) -> Vec<PublishedKey> {
        let records = self.records();
        let mut published: Vec<&SigningKey> = published_keys(&records, now, KEY_RETENTION_SECS);
        published.sort_by_key(|k| std::cmp::Reverse(k.active_from));
        let Ok(map) = self.keys.read() else {
            return vec![];
        };
        published
            .into_iter()
            .filter_map(|r| map.get(&r.kid))
            .map(|k| PublishedKey {
                kid: k.record.kid.clone(),
                n: k.n.clone(),
                e: k.e.clone(),
                cert_der: k.record.cert_der.clone(),
            })
            .collect()
    }

    /// Whether a key can sign now (for `/readyz`).
    pub fn ready(&self, now: Timestamp) -> bool {
        self.current(now).is_some()
    }

    /// Raw RS256 signs of `msg` with the current key (the benchmark baseline).
    pub fn raw_sign(&self, msg: &[u8], now: Timestamp) -> Option<Vec<u8>> {
        let key = self.current(now)?;
        let mut sig = vec![0u8; key.pair.public_modulus_len()];
        key.pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
            .ok()?;
        Some(sig)
    }
}

/// A tiny error type for setup code (the server's start-up path reports strings).
pub mod anyhow_lite {
    /// A setup error with a message naming the cause and the fix.
    #[derive(Debug)]
    pub struct Error(pub String);
    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Error {}
    /// Result alias.
    pub type Result<T> = std::result::Result<T, Error>;
    /// Builds an error.
    pub fn err(m: impl Into<String>) -> Error {
        Error(m.into())
    }
}

/// SAML token signing certificates: one RSA-2048 key and self-signed certificate per
/// `addTokenSigningCertificate`, the key sealed under its own purpose.
impl KeyRing {
    /// Makes a SAML signing certificate `CN=…` valid from now until `end`.
    pub fn new_saml_certificate(
        &self,
        display_name: &str,
        now: Timestamp,
        end: Timestamp,
    ) -> Result<castellan_core::model::SamlSigningCertificate, String> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| "RSA key generation failed")?;
        let pkcs8 = pair.as_der().map_err(|_| "PKCS#8 encoding failed")?;
        let rc_key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &pkcs8.as_ref().to_vec().into(),
            &rcgen::PKCS_RSA_SHA256,
        )
        .map_err(|e| format!("rcgen key: {e}"))?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        let cn = display_name.strip_prefix("CN=").unwrap_or(display_name);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.not_before = time_from(now.plus_secs(-300));
        params.not_after = time_from(end);
        let cert = params
            .self_signed(&rc_key)
            .map_err(|e| format!("certificate: {e}"))?;
        let der = cert.der().to_vec();
        let thumb = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        Ok(castellan_core::model::SamlSigningCertificate {
            key_id: uuid::Uuid::new_v4(),
            display_name: display_name.to_string(),
            thumbprint: hex::encode_upper(thumb.as_ref()),
            cert_der: der,
            private_key_sealed: self
                .master
                .seal_for(b"castellan-saml-signing-key", pkcs8.as_ref())
                .map_err(|e| e.to_string())?,
            start: now.plus_secs(-300),
            end,
        })
    }

    /// Signs with a SAML signing certificate's key (RSA PKCS#1 v1.5 SHA-256).
    pub fn saml_sign(
        &self,
        cert: &castellan_core::model::SamlSigningCertificate,
        msg: &[u8],
    ) -> Result<Vec<u8>, String> {
        let pkcs8 = self
            .master
            .open_for(b"castellan-saml-signing-key", &cert.private_key_sealed)
            .map_err(|e| e.to_string())?;
        let pair = KeyPair::from_pkcs8(&pkcs8).map_err(|e| format!("SAML signing key: {e}"))?;
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
            .map_err(|_| "RSA signing failed".to_string())?;
        Ok(sig)
    }
}

impl KeyRing {
    /// Seals a short-lived value (a SAML sign-in's context) under its own purpose.
    pub fn seal_purpose(&self, purpose: &'static [u8], plain: &[u8]) -> Result<Vec<u8>, String> {
        self.master
            .seal_for(purpose, plain)
            .map_err(|e| e.to_string())
    }

    /// Opens what [`Self::seal_purpose`] sealed for the same purpose.
    pub fn open_purpose(&self, purpose: &'static [u8], sealed: &[u8]) -> Result<Vec<u8>, String> {
        self.master
            .open_for(purpose, sealed)
            .map_err(|e| e.to_string())
    }
}
