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
    /// Builds the set for a port and extra host names. On port 443 the origin is announced
    /// without the port (`https://host`, RFC 3986 §6.2.3: the default port is omitted), and
    /// both `Host: host` and `Host: host:443` are accepted.
    pub fn new(port: u16, extra: &[String]) -> Self {
        let names: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|h| (*h).to_string())
            .chain(extra.iter().cloned())
            .collect();
        let mut hosts = Vec::new();
        for h in &names {
            if port == 443 {
                hosts.push(h.clone());
            }
            hosts.push(format!("{h}:{port}"));
        }
        Self {
            canonical: hosts
                .first()
                .map(|h| Self::origin_of(h))
                .unwrap_or_default(),
            hosts,
        }
    }
    /// `https://host[:port]`, the default port dropped.
    fn origin_of(host: &str) -> String {
        let h = host.to_ascii_lowercase();
        format!("https://{}", h.strip_suffix(":443").unwrap_or(&h))
    }
    /// The origin for a request's Host header.
    pub fn for_host(&self, host: Option<&str>) -> String {
        match host {
            Some(h) if self.hosts.iter().any(|x| x.eq_ignore_ascii_case(h)) => Self::origin_of(h),
            _ => self.canonical.clone(),
        }
    }
    /// Every origin this server answers as (`https://host:port`, lower case, no `:443`).
    pub fn all(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for h in &self.hosts {
            let o = Self::origin_of(h);
            if !v.contains(&o) {
                v.push(o);
            }
        }
        v
    }
    /// Every issuer this server has for a tenant.
    pub fn issuers(&self, tid: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .map(|o| format!("{o}/{tid}/v2.0"))
            .collect()
    }
    /// Microsoft Graph's base URL at an origin: Graph is served under `/graph/` as well as at
    /// the root, so that a client deriving the token resource from the Graph URL (the Azure
    /// CLI's `microsoftGraphResourceId`) can tell it from ARM, which owns the root.
    pub fn graph_base(origin: &str) -> String {
        format!("{origin}/graph")
    }
    /// Every Graph base URL (`https://host:port/graph`): accepted as Graph's identifier.
    pub fn graph_bases(&self) -> Vec<String> {
        self.all().iter().map(|o| Self::graph_base(o)).collect()
    }
}

#[cfg(test)]
mod origin_tests {
    use super::Origins;

    #[test]
    fn port_443_is_not_announced() {
        let o = Origins::new(443, &["id.example.com".into()]);
        assert_eq!(o.canonical, "https://127.0.0.1");
        assert_eq!(o.for_host(Some("id.example.com")), "https://id.example.com");
        assert_eq!(
            o.for_host(Some("id.example.com:443")),
            "https://id.example.com"
        );
        assert!(o.all().iter().all(|x| !x.contains(":443")));
        assert!(o
            .issuers("t")
            .contains(&"https://id.example.com/t/v2.0".to_string()));
        let o = Origins::new(8443, &[]);
        assert_eq!(o.canonical, "https://127.0.0.1:8443");
        assert_eq!(o.for_host(Some("127.0.0.1")), "https://127.0.0.1:8443");
        assert_eq!(o.graph_bases()[0], "https://127.0.0.1:8443/graph");
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
    /// The admin console's sessions (this node's memory).
    pub console: Arc<crate::console::session::Sessions>,
    /// Each tenant's compiled Conditional Access set (`ca::Compiled`, this node's memory).
    pub policies: Arc<crate::ca::Compiled>,
}

/// Now, from the system clock (the only clock read in the request path).
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}
