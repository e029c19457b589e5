//! Named locations (Graph `ipNamedLocation` and `countryNamedLocation`), resolving a sign-in's
//! IP address and already-looked-up country to the location facts the evaluator matches
//! (`LocationFacts`), and `client_ip_from`, which finds the client's address behind trusted
//! reverse proxies.
//!
//! Country lookup (GeoIP) is I/O and happens in the server; core receives the result as an
//! `Option<&str>` (ISO 3166-1 alpha-2, `None` when unknown).

use core::net::IpAddr;

use ipnet::IpNet;

use crate::ids::ObjectId;

/// What a named location matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamedLocationKind {
    /// `#microsoft.graph.ipNamedLocation`: IPv4 and IPv6 CIDR ranges.
    Ip {
        /// `ipRanges[].cidrAddress`, parsed.
        ranges: Vec<IpNet>,
        /// `isTrusted`: counts for `AllTrusted` (and lowers risk in Identity Protection).
        is_trusted: bool,
    },
    /// `#microsoft.graph.countryNamedLocation`.
    Country {
        /// `countriesAndRegions`: ISO 3166-1 alpha-2 codes (compared ignoring case).
        countries: Vec<String>,
        /// `includeUnknownCountriesAndRegions`: also match when the country is unknown.
        include_unknown: bool,
    },
}

/// A named location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedLocation {
    /// `id`.
    pub id: ObjectId,
    /// `displayName`.
    pub display_name: String,
    /// Its ranges or countries.
    pub kind: NamedLocationKind,
}

impl NamedLocation {
    /// Whether a sign-in from `ip` in `country` is in this location.
    pub fn matches(&self, ip: Option<IpAddr>, country: Option<&str>) -> bool {
        match &self.kind {
            NamedLocationKind::Ip { ranges, .. } => {
                ip.is_some_and(|ip| ranges.iter().any(|r| r.contains(&canonical(ip))))
            }
            NamedLocationKind::Country {
                countries,
                include_unknown,
            } => match country {
                Some(c) => countries.iter().any(|x| x.eq_ignore_ascii_case(c.trim())),
                None => *include_unknown,
            },
        }
    }

    /// Whether this is a trusted IP location.
    pub const fn is_trusted(&self) -> bool {
        matches!(
            self.kind,
            NamedLocationKind::Ip {
                is_trusted: true,
                ..
            }
        )
    }
}

/// Parses `cidrAddress` (`"203.0.113.0/24"`, `"2001:db8::/48"`, or a bare address meaning a
/// single host). Host bits are cleared, as Graph stores the network.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    t.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("'{s}' is not a CIDR range such as 203.0.113.0/24 or 2001:db8::/48"))
}

/// An IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, as dual-stack sockets report IPv4 peers)
/// is the IPv4 address for every comparison here.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// A sign-in's resolved location: which named locations it is in, whether any of them is
/// trusted, and its country. Computed once per sign-in (`resolve_location`) and handed to the
/// evaluator inside `SignInContext`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocationFacts {
    /// Ids of the named locations that matched, sorted.
    pub named_locations: Vec<ObjectId>,
    /// Whether a trusted IP named location matched.
    pub trusted: bool,
    /// The country (ISO 3166-1 alpha-2, upper case) if known.
    pub country: Option<String>,
}

/// Matches a sign-in against every named location.
pub fn resolve_location(
    locations: &[NamedLocation],
    ip: Option<IpAddr>,
    country: Option<&str>,
) -> LocationFacts {
    let country = country
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_ascii_uppercase);
    let mut facts = LocationFacts {
        country,
        ..LocationFacts::default()
    };
    for l in locations {
        if l.matches(ip, facts.country.as_deref()) {
            facts.named_locations.push(l.id);
            facts.trusted |= l.is_trusted();
        }
    }
    facts.named_locations.sort_unstable();
    facts.named_locations.dedup();
    facts
}

/// The client's address for a request that arrived from `remote_addr` (the TCP peer) carrying
/// `x_forwarded_for` (every `X-Forwarded-For` header value, joined with `,`).
///
/// The header is believed only as far as it was written by proxies we trust:
/// - if the peer is not in `trusted_proxies`, the header is ignored and the peer is the client
///   (anyone can send `X-Forwarded-For: 10.0.0.1`);
/// - otherwise the entries are walked right to left (each proxy appends the address it saw),
///   skipping trusted proxies; the first untrusted address is the client. Everything to its
///   left was written by the client or its own proxies and is never believed;
/// - an entry that is not an address (`unknown`, garbage, an obfuscated RFC 7239 token) stops
///   the walk: the last address we could still believe — the trusted proxy that wrote the
///   garbage — is returned;
/// - if every entry is a trusted proxy, the leftmost one is returned.
///
/// Entries may carry a port (`203.0.113.7:4711`, `[2001:db8::1]:443`).
pub fn client_ip_from(
    remote_addr: IpAddr,
    x_forwarded_for: Option<&str>,
    trusted_proxies: &[IpNet],
) -> IpAddr {
    let trusted = |ip: IpAddr| {
        let ip = canonical(ip);
        trusted_proxies.iter().any(|n| n.contains(&ip))
    };
    let remote = canonical(remote_addr);
    if !trusted(remote) {
        return remote;
    }
    let Some(header) = x_forwarded_for else {
        return remote;
    };
    let mut believed = remote;
    for entry in header.rsplit(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some(ip) = parse_forwarded_entry(entry) else {
            return believed;
        };
        let ip = canonical(ip);
        if !trusted(ip) {
            return ip;
        }
        believed = ip;
    }
    believed
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`[v6]:port` or
/// `v4:port`).
fn parse_forwarded_entry(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, _) = rest.split_once(']')?;
        return addr.parse().ok();
    }
    // v4:port — a bare v6 address has more than one ':' and was handled above.
    let (addr, port) = s.rsplit_once(':')?;
    if port.bytes().all(|b| b.is_ascii_digit()) && !addr.contains(':') {
        return addr.parse().ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        parse_cidr(s).unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn oid(n: u128) -> ObjectId {
        ObjectId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn locations() -> Vec<NamedLocation> {
        vec![
            NamedLocation {
                id: oid(1),
                display_name: "HQ".into(),
                kind: NamedLocationKind::Ip {
                    ranges: vec![net("203.0.113.0/24"), net("2001:db8:100::/48")],
                    is_trusted: true,
                },
            },
            NamedLocation {
                id: oid(2),
                display_name: "Branch (untrusted)".into(),
                kind: NamedLocationKind::Ip {
                    ranges: vec![net("198.51.100.7/32")],
                    is_trusted: false,
                },
            },
            NamedLocation {
                id: oid(3),
                display_name: "Blocked countries".into(),
                kind: NamedLocationKind::Country {
                    countries: vec!["KP".into(), "ir".into()],
                    include_unknown: true,
                },
            },
        ]
    }

    #[test]
    fn cidr_parsing_normalises_and_refuses_garbage() {
        assert_eq!(net("203.0.113.77/24").to_string(), "203.0.113.0/24");
        assert_eq!(net("2001:db8::1").to_string(), "2001:db8::1/128");
        assert_eq!(net(" 10.0.0.1 ").to_string(), "10.0.0.1/32");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("not-an-ip").unwrap_err().contains("CIDR"));
    }

    #[test]
    fn ipv4_ranges_match_inside_and_not_outside() {
        let l = locations();
        let f = resolve_location(&l, Some(ip("203.0.113.200")), Some("de"));
        assert_eq!(f.named_locations, vec![oid(1)]);
        assert!(f.trusted);
        assert_eq!(f.country.as_deref(), Some("DE"));
        let f = resolve_location(&l, Some(ip("203.0.114.1")), Some("DE"));
        assert!(f.named_locations.is_empty());
        assert!(!f.trusted);
        let f = resolve_location(&l, Some(ip("198.51.100.7")), Some("DE"));
        assert_eq!(f.named_locations, vec![oid(2)]);
        assert!(
            !f.trusted,
            "an untrusted IP location does not make the sign-in trusted"
        );
        let f = resolve_location(&l, Some(ip("198.51.100.8")), Some("DE"));
        assert!(f.named_locations.is_empty());
    }

    #[test]
    fn ipv6_ranges_match_and_mapped_ipv4_counts_as_ipv4() {
        let l = locations();
        let f = resolve_location(&l, Some(ip("2001:db8:100:ffff::1")), Some("DE"));
        assert_eq!(f.named_locations, vec![oid(1)]);
        let f = resolve_location(&l, Some(ip("2001:db8:101::1")), Some("DE"));
        assert!(f.named_locations.is_empty());
        // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
        let f = resolve_location(&l, Some(ip("::ffff:203.0.113.9")), Some("DE"));
        assert_eq!(f.named_locations, vec![oid(1)]);
        assert!(f.trusted);
    }

    #[test]
    fn countries_match_ignoring_case_and_unknown_only_when_asked() {
        let l = locations();
        let f = resolve_location(&l, Some(ip("192.0.2.1")), Some("ir"));
        assert_eq!(f.named_locations, vec![oid(3)]);
        assert!(!f.trusted, "country locations are never trusted");
        let f = resolve_location(&l, Some(ip("192.0.2.1")), None);
        assert_eq!(
            f.named_locations,
            vec![oid(3)],
            "includeUnknownCountriesAndRegions"
        );
        let mut l2 = l.clone();
        if let NamedLocationKind::Country {
            include_unknown, ..
        } = &mut l2[2].kind
        {
            *include_unknown = false;
        }
        let f = resolve_location(&l2, Some(ip("192.0.2.1")), None);
        assert!(f.named_locations.is_empty());
        let f = resolve_location(&l2, Some(ip("192.0.2.1")), Some("FR"));
        assert!(f.named_locations.is_empty());
    }

    #[test]
    fn no_ip_matches_no_ip_location() {
        let f = resolve_location(&locations(), None, Some("FR"));
        assert!(f.named_locations.is_empty());
    }

    fn proxies() -> Vec<IpNet> {
        vec![net("10.0.0.0/8"), net("fd00::/8")]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        // Spoofing: a direct client claims to come from the trusted HQ range.
        let got = client_ip_from(ip("192.0.2.50"), Some("203.0.113.5"), &proxies());
        assert_eq!(got, ip("192.0.2.50"));
        let got = client_ip_from(ip("192.0.2.50"), None, &proxies());
        assert_eq!(got, ip("192.0.2.50"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let got = client_ip_from(ip("10.1.1.1"), Some("192.0.2.50"), &proxies());
        assert_eq!(got, ip("192.0.2.50"));
        // Spoofing through the proxy: the client sent its own XFF claiming the HQ range; the
        // proxy appended the real peer. The forged left part is never believed.
        let got = client_ip_from(ip("10.1.1.1"), Some("203.0.113.5, 192.0.2.50"), &proxies());
        assert_eq!(got, ip("192.0.2.50"));
        // Two trusted hops.
        let got = client_ip_from(
            ip("10.1.1.1"),
            Some("203.0.113.5, 192.0.2.50, 10.2.2.2"),
            &proxies(),
        );
        assert_eq!(got, ip("192.0.2.50"));
        // A forged "trusted proxy" entry on the left does not let the forger go further left.
        let got = client_ip_from(
            ip("10.1.1.1"),
            Some("203.0.113.5, 10.9.9.9, 192.0.2.50"),
            &proxies(),
        );
        assert_eq!(got, ip("192.0.2.50"));
    }

    #[test]
    fn ports_v6_and_multiple_headers() {
        let got = client_ip_from(
            ip("fd00::1"),
            Some("[2001:db8::7]:4711,10.0.0.3:8080"),
            &proxies(),
        );
        assert_eq!(got, ip("2001:db8::7"));
        let got = client_ip_from(ip("10.0.0.1"), Some("192.0.2.9:55000"), &proxies());
        assert_eq!(got, ip("192.0.2.9"));
        let got = client_ip_from(ip("10.0.0.1"), Some("2001:db8::9"), &proxies());
        assert_eq!(got, ip("2001:db8::9"));
        // Mapped peer.
        let got = client_ip_from(ip("::ffff:10.0.0.1"), Some("192.0.2.9"), &proxies());
        assert_eq!(got, ip("192.0.2.9"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_believed_hop() {
        let got = client_ip_from(ip("10.0.0.1"), Some("192.0.2.9, unknown"), &proxies());
        assert_eq!(got, ip("10.0.0.1"));
        let got = client_ip_from(
            ip("10.0.0.1"),
            Some("192.0.2.9, garbage, 10.0.0.2"),
            &proxies(),
        );
        assert_eq!(got, ip("10.0.0.2"));
        // Empty entries are skipped, not treated as garbage.
        let got = client_ip_from(ip("10.0.0.1"), Some("192.0.2.9,, "), &proxies());
        assert_eq!(got, ip("192.0.2.9"));
    }

    #[test]
    fn all_trusted_chain_gives_the_leftmost_hop_and_no_header_gives_the_peer() {
        let got = client_ip_from(ip("10.0.0.1"), Some("10.0.0.3, 10.0.0.2"), &proxies());
        assert_eq!(got, ip("10.0.0.3"));
        let got = client_ip_from(ip("10.0.0.1"), None, &proxies());
        assert_eq!(got, ip("10.0.0.1"));
        let got = client_ip_from(ip("10.0.0.1"), Some("192.0.2.9"), &[]);
        assert_eq!(
            got,
            ip("10.0.0.1"),
            "no trusted proxies: the header is ignored"
        );
    }
}
