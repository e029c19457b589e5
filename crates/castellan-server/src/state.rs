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
    /// Microsoft Graph's own port, when it has one (`--graph-port`).
    pub graph_port: Option<u16>,
}

impl Origins {
    /// Builds the set for a port and extra host names. On port 443 the origin is announced
    /// without the port (`https://host`, RFC 3986 §6.2.3: the default port is omitted), and
    /// both `Host: host` and `Host: host:443` are accepted.
    pub fn new(port: u16, extra: &[String]) -> Self {
        Self::with_names(port, &[], extra)
    }
    /// The set for a listener: a specific listen address other than the loopback defaults
    /// (`--listen 127.0.0.2:443`, `--listen 10.0.0.5:8443`) is the canonical origin, since
    /// 127.0.0.1 does not reach it; an unspecified one (`0.0.0.0`, `[::]`) is not a name.
    pub fn for_listener(addr: std::net::SocketAddr, extra: &[String]) -> Self {
        let ip = addr.ip();
        let own: Vec<String> = if ip.is_unspecified() {
            vec![]
        } else if ip.is_ipv6() {
            vec![format!("[{ip}]")]
        } else {
            vec![ip.to_string()]
        };
        Self::with_names(addr.port(), &own, extra)
    }
    fn with_names(port: u16, first: &[String], extra: &[String]) -> Self {
        let mut names: Vec<String> = Vec::new();
        for h in first
            .iter()
            .cloned()
            .chain(["127.0.0.1", "localhost", "[::1]"].map(String::from))
            .chain(extra.iter().cloned())
        {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(&h)) {
                names.push(h);
            }
        }
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
            graph_port: None,
        }
    }
    /// The same origins announcing `public` (`https://host[:port]`, the load balancer's name
    /// that every node of one service is configured with) as the canonical origin: it is
    /// accepted as a `Host` whatever this node's own listen port, so all nodes behind it issue
    /// and accept the same issuer. Errors name what is wrong with the value.
    pub fn with_public_origin(mut self, public: &str) -> Result<Self, String> {
        let rest = public.trim().trim_end_matches('/');
        let rest = rest.strip_prefix("https://").ok_or_else(|| {
            format!(
                "--public-origin '{public}' must start with https:// (Castellan serves HTTPS only)"
            )
        })?;
        let (name, port) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains(']') => {
                let p = rest[i + 1..].parse::<u16>().map_err(|_| {
                    format!(
                        "--public-origin '{public}': the port '{}' is not a number from 1 to 65535",
                        &rest[i + 1..]
                    )
                })?;
                (&rest[..i], p)
            }
            _ => (rest, 443),
        };
        if name.is_empty()
            || rest.contains('/')
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        {
            return Err(format!(
                "--public-origin '{public}' must be https://host or https://host:port, with no path"
            ));
        }
        let name = name.to_ascii_lowercase();
        let mut front = vec![format!("{name}:{port}")];
        if port == 443 {
            front.insert(0, name.clone());
        }
        self.hosts
            .retain(|h| !front.iter().any(|f| f.eq_ignore_ascii_case(h)));
        front.extend(std::mem::take(&mut self.hosts));
        self.hosts = front;
        self.canonical = Self::origin_at(&name, port);
        Ok(self)
    }
    /// The public origin's host name, when one is configured (for the TLS certificate).
    pub fn public_host_name(public: &str) -> Option<String> {
        let rest = public
            .trim()
            .trim_end_matches('/')
            .strip_prefix("https://")?;
        Some(Self::host_name(rest).to_ascii_lowercase())
    }
    /// The same origins with Microsoft Graph also on a port of its own.
    pub fn with_graph_port(mut self, port: Option<u16>) -> Self {
        self.graph_port = port;
        self
    }
    /// `https://host[:port]` for a host name and port, the default port dropped.
    fn origin_at(host: &str, port: u16) -> String {
        Self::origin_of(&format!("{host}:{port}"))
    }
    /// The host name of `https://host[:port]` (an IPv6 literal keeps its brackets).
    fn host_name(origin: &str) -> &str {
        let h = origin.strip_prefix("https://").unwrap_or(origin);
        match h.rfind(':') {
            Some(i) if !h[i..].contains(']') => &h[..i],
            _ => h,
        }
    }
    /// `https://host[:port]`, the default port dropped.
    fn origin_of(host: &str) -> String {
        let h = host.to_ascii_lowercase();
        format!("https://{}", h.strip_suffix(":443").unwrap_or(&h))
    }
    /// The origin for a request's Host header.
    /// A request that reached Graph's own port names the main origin of the same host name.
    pub fn for_host(&self, host: Option<&str>) -> String {
        match host {
            Some(h) if self.hosts.iter().any(|x| x.eq_ignore_ascii_case(h)) => Self::origin_of(h),
            Some(h) if self.is_graph_host(h) => {
                let name = Self::host_name(h);
                self.hosts
                    .iter()
                    .find(|x| Self::host_name(x).eq_ignore_ascii_case(name))
                    .map_or_else(|| self.canonical.clone(), |x| Self::origin_of(x))
            }
            _ => self.canonical.clone(),
        }
    }
    /// Whether a `Host` header names Graph's own port on one of this server's host names.
    pub fn is_graph_host(&self, host: &str) -> bool {
        let Some(port) = self.graph_port else {
            return false;
        };
        let name = Self::host_name(host);
        let named_port = host
            .get(name.len()..)
            .and_then(|p| p.strip_prefix(':'))
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(443);
        named_port == port
            && self
                .hosts
                .iter()
                .any(|x| Self::host_name(x).eq_ignore_ascii_case(name))
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
    /// With a Graph port (`--graph-port`), Graph's base is that port on the origin's host name
    /// (`https://host:graph_port`), an origin of its own as graph.microsoft.com is.
    pub fn graph_base(&self, origin: &str) -> String {
        match self.graph_port {
            Some(p) => Self::origin_at(Self::host_name(origin), p),
            None => Self::graph_path_base(origin),
        }
    }
    /// `https://host:port/graph`: Graph under the main origin (always served).
    pub fn graph_path_base(origin: &str) -> String {
        format!("{origin}/graph")
    }
    /// Every Graph base URL, each accepted as Graph's identifier: `https://host:port/graph` for
    /// every origin and, with a Graph port, `https://host:graph_port` for every host name.
    pub fn graph_bases(&self) -> Vec<String> {
        let all = self.all();
        let mut v: Vec<String> = all.iter().map(|o| Self::graph_path_base(o)).collect();
        if self.graph_port.is_some() {
            for o in &all {
                let b = self.graph_base(o);
                if !v.contains(&b) {
                    v.push(b);
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod origin_tests {
    use super::Origins;

    #[test]
    fn port_443_is_not_announced() {
        // A public origin (the load balancer's) is canonical and accepted whatever the node's
        // own port; the node's own names stay accepted.
        let o = Origins::new(8443, &[])
            .with_public_origin("https://Login.Example.com")
            .unwrap();
        assert_eq!(o.canonical, "https://login.example.com");
        assert_eq!(
            o.for_host(Some("login.example.com")),
            "https://login.example.com"
        );
        assert_eq!(
            o.for_host(Some("login.example.com:443")),
            "https://login.example.com"
        );
        assert_eq!(o.for_host(Some("127.0.0.1:8443")), "https://127.0.0.1:8443");
        assert_eq!(
            o.for_host(Some("evil.example")),
            "https://login.example.com"
        );
        assert!(o
            .issuers("t")
            .contains(&"https://login.example.com/t/v2.0".to_string()));
        let o = Origins::new(8443, &[])
            .with_public_origin("https://id.example.com:9443/")
            .unwrap();
        assert_eq!(o.canonical, "https://id.example.com:9443");
        assert_eq!(
            o.for_host(Some("id.example.com:9443")),
            "https://id.example.com:9443"
        );
        assert_eq!(
            o.for_host(Some("id.example.com")),
            "https://id.example.com:9443"
        );
        for bad in [
            "http://x.example",
            "https://x.example/path",
            "https://x.example:99999",
            "https://",
        ] {
            let e = Origins::new(8443, &[]).with_public_origin(bad).unwrap_err();
            assert!(e.contains("--public-origin"), "{bad}: {e}");
        }
        assert_eq!(
            Origins::public_host_name("https://id.example.com:9443").as_deref(),
            Some("id.example.com")
        );
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

    #[test]
    fn graph_port_is_an_origin_of_its_own() {
        let o = Origins::new(8443, &["id.example.com".into()]).with_graph_port(Some(8444));
        assert_eq!(
            o.graph_base("https://localhost:8443"),
            "https://localhost:8444"
        );
        assert_eq!(o.graph_base("https://[::1]:8443"), "https://[::1]:8444");
        let bases = o.graph_bases();
        assert!(bases.contains(&"https://127.0.0.1:8443/graph".to_string()));
        assert!(bases.contains(&"https://id.example.com:8444".to_string()));
        // A request on Graph's port names the main origin of its host name.
        assert!(o.is_graph_host("localhost:8444"));
        assert!(!o.is_graph_host("localhost:8445"));
        assert!(!o.is_graph_host("evil.example:8444"));
        assert_eq!(o.for_host(Some("localhost:8444")), "https://localhost:8443");
        assert_eq!(o.for_host(Some("evil.example:8444")), o.canonical);
        // Graph on 443 is announced without the port.
        let o = Origins::new(8443, &[]).with_graph_port(Some(443));
        assert_eq!(o.graph_base("https://localhost:8443"), "https://localhost");
        assert!(o.is_graph_host("localhost"));
        // Off: Graph lives under /graph/.
        let o = Origins::new(8443, &[]);
        assert_eq!(
            o.graph_base("https://localhost:8443"),
            "https://localhost:8443/graph"
        );
        assert!(!o.is_graph_host("localhost:8444"));
    }

    #[test]
    fn a_specific_listen_address_is_the_canonical_origin() {
        let o = Origins::for_listener("127.0.0.2:443".parse().unwrap(), &["127.0.0.2".into()]);
        assert_eq!(o.canonical, "https://127.0.0.2");
        assert_eq!(
            o.all().iter().filter(|x| *x == "https://127.0.0.2").count(),
            1
        );
        let o = Origins::for_listener("0.0.0.0:8443".parse().unwrap(), &[]);
        assert_eq!(o.canonical, "https://127.0.0.1:8443");
        let o = Origins::for_listener("[::1]:8443".parse().unwrap(), &[]);
        assert_eq!(o.canonical, "https://[::1]:8443");
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
    /// Graph's budgets (this node's).
    pub graph_throttle: Arc<crate::throttle::GraphThrottle>,
    /// This node's counters (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// OpenTelemetry trace export (`--otlp-endpoint`); `None`: off.
    pub tracing: Option<Arc<crate::otel::Tracing>>,
    /// Load shedding and the store-outage gate (`admission.rs`, this node's).
    pub admission: Arc<crate::admission::Admission>,
    /// Each tenant's compiled Conditional Access set (`ca::Compiled`, this node's memory).
    pub policies: Arc<crate::ca::Compiled>,
    /// The DNS resolver custom-domain verification asks (`--dns-resolver`).
    pub dns: Arc<dyn castellan_core::ops::domains::DnsLookup>,
    /// Graph's indexed user and group lists (this node's memory, checked against the store's
    /// list versions).
    pub lists: Arc<crate::lists::Lists>,
    /// The SMTP relay for invitation messages and passcodes (`--smtp-relay`), if configured.
    pub smtp: Option<Arc<crate::smtp::Relay>>,
    /// B2B redemptions in progress (this node's memory).
    pub redemptions: Arc<crate::http::identity::redeem::Flights>,
    /// Sign-ins at external OpenID Connect providers in progress (this node's memory).
    pub external_idp: Arc<crate::http::identity::external_idp::Flights>,
    /// `/common` tenant picks in progress (this node's memory).
    pub tenant_picks: Arc<crate::http::identity::tenant_choice::Flights>,
}

/// Now, from the system clock (the only clock read in the request path).
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}
