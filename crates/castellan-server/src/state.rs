//! Shared state handed to every handler: the store, keys, hasher, config and the clock.

use std::sync::Arc;

use castellan_core::store::Store;
use castellan_core::Timestamp;

use crate::config::ServeArgs;
use crate::crypto::Argon2Hasher;
use crate::keys::KeyRing;

/// The origins this server answers as. Issuer and endpoint URLs are built from the request's
/// `Host` only when it is one of these (never from an unvalidated header); otherwise from the
/// canonical origin.
#[derive(Clone, Debug)]
pub struct Origins {
    /// `https://127.0.0.1:PORT` (or the first configured host name).
    pub canonical: String,
    /// Accepted `host:port` values.
    pub hosts: Vec<String>,
}

impl Origins {
    /// Builds the set for a port and extra host names.
    pub fn new(port: u16, extra: &[String]) -> Self {
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        hosts.extend(extra.iter().map(|h| format!("{h}:{port}")));
        Self {
            canonical: format!("https://127.0.0.1:{port}"),
            hosts,
        }
    }
    /// The origin for a request's Host header.
    pub fn for_host(&self, host: Option<&str>) -> String {
        match host {
            Some(h) if self.hosts.iter().any(|x| x.eq_ignore_ascii_case(h)) => {
                format!("https://{}", h.to_ascii_lowercase())
            }
            _ => self.canonical.clone(),
        }
    }
    /// Every origin this server answers as (`https://host:port`, lower case).
    pub fn all(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| format!("https://{}", h.to_ascii_lowercase()))
            .collect()
    }
    /// Every issuer this server has for a tenant.
    pub fn issuers(&self, tid: &str) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| format!("https://{}/{tid}/v2.0", h.to_ascii_lowercase()))
            .collect()
    }
}

/// Application state.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keys: Arc<KeyRing>,
    /// Password hashing pool.
    pub hasher: Argon2Hasher,
    /// Configuration.
    pub config: Arc<ServeArgs>,
    /// Public origins.
    pub origins: Arc<Origins>,
    /// SHA-256 of the operator credential.
    pub operator_key_sha256: [u8; 32],
    /// The sign-in log writer.
    pub signins: crate::signin_log::SignInLog,
    /// External issuers' signing keys (workload identity federation).
    pub federation: Arc<crate::federation::IssuerKeys>,
    /// Trusted proxies, GeoIP and Identity Protection's lists.
    pub protection: Arc<crate::protection::Protection>,
}

/// Now, from the system clock (the only clock read in the request path).
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}
