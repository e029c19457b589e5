//! The DNS adapter of core's `ops::domains::DnsLookup` port: a hickory stub resolver asking
//! either the resolver named by `--dns-resolver <ip:port>` (UDP, then TCP) or the system's
//! (`/etc/resolv.conf`). Lookups time out after 2 s with one retry and nothing is cached, so a
//! record just added is seen by the next verification. NXDOMAIN and "no data" are empty
//! answers; other response codes (REFUSED, SERVFAIL) are answers naming the code; a resolver
//! that cannot be reached is `DnsFailure::Unreachable`.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use castellan_core::ops::domains::{DnsFailure, DnsLookup};
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

/// How long one DNS question may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// A resolver for domain verification.
pub struct Dns {
    resolver: TokioResolver,
    describe: String,
}

fn options() -> ResolverOpts {
    let mut o = ResolverOpts::default();
    o.timeout = TIMEOUT;
    o.attempts = 1;
    o.cache_size = 0;
    o.use_hosts_file = ResolveHosts::Never;
    o.ndots = 0;
    o
}

impl Dns {
    /// Asks `server` (`--dns-resolver`), or the system's resolvers when `None`.
    pub fn new(server: Option<SocketAddr>) -> Result<Self, String> {
        let (resolver, describe) = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                let config = ResolverConfig::from_parts(None, vec![], vec![ns]);
                let r = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
                    .with_options(options())
                    .build()
                    .map_err(|e| format!("the DNS resolver {addr} cannot be used: {e}"))?;
                (r, format!("the DNS resolver {addr}"))
            }
            None => {
                let r = TokioResolver::builder_tokio()
                    .map_err(|e| {
                        format!("the system's DNS configuration (/etc/resolv.conf) cannot be read: {e}; name a resolver with --dns-resolver <ip:port>")
                    })?
                    .with_options(options())
                    .build()
                    .map_err(|e| format!("the system's DNS resolver cannot be used: {e}"))?;
                (r, "the system's DNS resolver".to_string())
            }
        };
        Ok(Self { resolver, describe })
    }
}

/// Sorts a failed lookup: nothing there, an error answer, or no answer at all.
fn sort(e: &NetError, what: &str) -> Result<(), DnsFailure> {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(_)) => Ok(()),
        NetError::Dns(DnsError::ResponseCode(code)) => Err(DnsFailure::Answered(format!(
            "the resolver answered {code} for the {what} question"
        ))),
        NetError::Timeout => Err(DnsFailure::Unreachable(format!(
            "the {what} question timed out after {} s",
            TIMEOUT.as_secs()
        ))),
        other => Err(DnsFailure::Unreachable(format!(
            "the {what} question failed: {other}"
        ))),
    }
}

/// The fully qualified form of `name`, so no search domain is appended.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

#[async_trait]
impl DnsLookup for Dns {
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        match self.resolver.txt_lookup(fqdn(name)).await {
            Ok(l) => Ok(l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(
                        t.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) => sort(&e, "TXT").map(|()| Vec::new()),
        }
    }

    async fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, DnsFailure> {
        match self.resolver.mx_lookup(fqdn(name)).await {
            Ok(l) => Ok(l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(m) => Some((m.preference, m.exchange.to_utf8())),
                    _ => None,
                })
                .collect()),
            Err(e) => sort(&e, "MX").map(|()| Vec::new()),
        }
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
