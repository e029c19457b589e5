//! Where a sign-in comes from, and the administrator's lists Identity Protection checks it
//! against: the client address behind trusted reverse proxies (`--trusted-proxy`), GeoIP
//! (`--geoip-db`, a MaxMind DB file), anonymizer ranges (`--anonymous-ip-list`) and leaked
//! password hashes (`--leaked-passwords`). Everything is loaded and validated once at start-up;
//! a bad file stops the server with an error naming the file (and line).

use std::net::IpAddr;
use std::path::Path;

use castellan_core::model::SignInLocation;
use castellan_core::policy::location::{client_ip_from, parse_cidr};
use castellan_core::policy::risk::LeakedPasswords;
use ipnet::IpNet;

use crate::config::ServeArgs;

/// The start-up-loaded inputs.
#[derive(Default)]
pub struct Protection {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    geoip: Option<maxminddb::Reader<Vec<u8>>>,
    /// Anonymizer ranges (Tor exits, anonymising VPNs).
    pub anonymizers: Vec<IpNet>,
    /// Known-leaked password hashes.
    pub leaked: LeakedPasswords,
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protection")
            .field("trusted_proxies", &self.trusted_proxies)
            .field("geoip", &self.geoip.is_some())
            .field("anonymizers", &self.anonymizers.len())
            .field("leaked", &self.leaked.len())
            .finish()
    }
}

fn read(path: &Path, what: &str, flag: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} {} ({flag}): {e}", path.display()))
}

impl Protection {
    /// Loads and validates everything the flags name.
    pub fn from_config(args: &ServeArgs) -> Result<Self, String> {
        let mut trusted_proxies = Vec::with_capacity(args.trusted_proxies.len());
        for p in &args.trusted_proxies {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            trusted_proxies.push(parse_cidr(p).map_err(|e| {
                format!("--trusted-proxy / CASTELLAN_TRUSTED_PROXIES: '{p}': {e} (give an address or a CIDR range such as 10.0.0.0/8)")
            })?);
        }
        let geoip = match &args.geoip_db {
            None => None,
            Some(path) => Some(open_geoip(path)?),
        };
        let anonymizers = match &args.anonymous_ip_list {
            None => Vec::new(),
            Some(path) => parse_ip_list(
                &read(
                    path,
                    "anonymous IP list",
                    "--anonymous-ip-list / CASTELLAN_ANONYMOUS_IP_LIST",
                )?,
                path,
            )?,
        };
        let leaked = match &args.leaked_passwords {
            None => LeakedPasswords::new(),
            Some(path) => parse_leaked_list(
                &read(
                    path,
                    "leaked password list",
                    "--leaked-passwords / CASTELLAN_LEAKED_PASSWORDS",
                )?,
                path,
            )?,
        };
        Ok(Self {
            trusted_proxies,
            geoip,
            anonymizers,
            leaked,
        })
    }

    /// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
    /// right-most address of `X-Forwarded-For` that is not a trusted proxy (core's
    /// `client_ip_from`). Several `X-Forwarded-For` headers are one list, in order; a header
    /// that is not text stops the walk at the proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        if self.trusted_proxies.is_empty() {
            return castellan_core::policy::location::canonical(peer);
        }
        let mut parts = Vec::new();
        for v in headers.get_all("x-forwarded-for") {
            match v.to_str() {
                Ok(s) => parts.push(s),
                // Not text: nothing in it can be believed; stop at whoever sent it.
                Err(_) => parts.push("unknown"),
            }
        }
        let joined = parts.join(",");
        client_ip_from(
            peer,
            (!parts.is_empty()).then_some(joined.as_str()),
            &self.trusted_proxies,
        )
    }

    /// Whether a GeoIP database is loaded.
    pub fn has_geoip(&self) -> bool {
        self.geoip.is_some()
    }

    /// GeoIP's placing of an address (empty without a database, for an unparsable address or
    /// one the database does not know).
    pub fn locate(&self, ip: &str) -> SignInLocation {
        let (Some(db), Ok(ip)) = (&self.geoip, ip.parse::<IpAddr>()) else {
            return SignInLocation::default();
        };
        let ip = castellan_core::policy::location::canonical(ip);
        let city = match db
            .lookup(ip)
            .and_then(|r| r.decode::<maxminddb::geoip2::City>())
        {
            Ok(Some(c)) => c,
            Ok(None) => return SignInLocation::default(),
            Err(e) => {
                tracing::warn!(%ip, error = %e, "GeoIP lookup failed");
                return SignInLocation::default();
            }
        };
        SignInLocation {
            city: city.city.names.english.map(str::to_string),
            state: city
                .subdivisions
                .first()
                .and_then(|s| s.names.english)
                .map(str::to_string),
            country_or_region: city.country.iso_code.map(|c| c.to_ascii_uppercase()),
            latitude: city.location.latitude,
            longitude: city.location.longitude,
        }
    }
}

fn open_geoip(path: &Path) -> Result<maxminddb::Reader<Vec<u8>>, String> {
    let hint = "(--geoip-db / CASTELLAN_GEOIP_DB; expected a MaxMind DB file such as GeoLite2-Country.mmdb or GeoLite2-City.mmdb)";
    let db = maxminddb::Reader::open_readfile(path).map_err(|e| {
        format!(
            "cannot open the GeoIP database {}: {e} {hint}",
            path.display()
        )
    })?;
    let kind = db.metadata().database_type.clone();
    if !(kind.contains("Country") || kind.contains("City")) {
        return Err(format!(
            "the GeoIP database {} is a '{kind}' database, which has no countries {hint}",
            path.display()
        ));
    }
    Ok(db)
}

/// Lines of a list file without comments (`#` to end of line) and blanks, with 1-based line
/// numbers.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.split('#').next().unwrap_or("").trim();
        (!l.is_empty()).then_some((i + 1, l))
    })
}

/// An anonymous-IP list: one address or CIDR range per line; `#` comments and blank lines are
/// ignored.
pub fn parse_ip_list(text: &str, file: &Path) -> Result<Vec<IpNet>, String> {
    lines(text)
        .map(|(n, l)| {
            parse_cidr(l).map_err(|e| {
                format!(
                    "{}:{n}: '{l}': {e} (one address or CIDR range per line, e.g. 192.0.2.0/24)",
                    file.display()
                )
            })
        })
        .collect()
}

/// A leaked-password list, one SHA-1 per line in any of Have I Been Pwned's forms: the full
/// 40-hex hash (`HASH`), the downloaded list's `HASH:COUNT`, or a range line with the
/// 5-character prefix and the 35-character suffix (`PREFIX:SUFFIX`, optionally
/// `PREFIX:SUFFIX:COUNT`). Case does not matter; `#` comments and blank lines are ignored.
pub fn parse_leaked_list(text: &str, file: &Path) -> Result<LeakedPasswords, String> {
    let mut set = LeakedPasswords::new();
    for (n, l) in lines(text) {
        let fields: Vec<&str> = l.split(':').map(str::trim).collect();
        let count_ok = |c: &&str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit());
        let r = match fields.as_slice() {
            [h] => set.add_full_hash(h),
            [h, c] if h.len() == 40 && count_ok(c) => set.add_full_hash(h),
            [p, s] if p.len() == 5 => set.add_range(p, s).map(|_| ()),
            [p, s, c] if p.len() == 5 && count_ok(c) => set.add_range(p, s).map(|_| ()),
            _ => Err("not a recognised line".to_string()),
        };
        r.map_err(|e| {
            format!(
                "{}:{n}: {e} (expected a SHA-1 as 40 hex characters, HASH:COUNT, or PREFIX:SUFFIX with a 5-character prefix and 35-character suffix)",
                file.display()
            )
        })?;
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("list.txt")
    }

    #[test]
    fn ip_lists_parse_and_name_the_bad_line() {
        let l = parse_ip_list(
            "# Tor exits\n192.0.2.0/24\n\n2001:db8:dead::/48 # vpn\n198.51.100.7\n",
            p(),
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[2].to_string(), "198.51.100.7/32");
        let e = parse_ip_list("192.0.2.0/24\nnot-an-ip\n", p()).unwrap_err();
        assert!(e.starts_with("list.txt:2: 'not-an-ip'"), "{e}");
        let e = parse_ip_list("10.0.0.0/33\n", p()).unwrap_err();
        assert!(e.starts_with("list.txt:1:"), "{e}");
    }

    #[test]
    fn leaked_lists_take_every_hibp_form() {
        use castellan_core::policy::risk::password_sha1_hex;
        let a = password_sha1_hex("P@ssw0rd");
        let b = password_sha1_hex("Summer2024!");
        let c = password_sha1_hex("hunter2");
        let d = password_sha1_hex("letmein");
        let text = format!(
            "# corpus\n{}\n{}:42\n{}:{}\n{}:{}:7\n",
            a.to_ascii_lowercase(),
            b,
            &c[..5],
            &c[5..],
            &d[..5],
            &d[5..]
        );
        let set = parse_leaked_list(&text, p()).unwrap();
        for pw in ["P@ssw0rd", "Summer2024!", "hunter2", "letmein"] {
            assert!(set.contains_password(pw), "{pw}");
        }
        assert!(!set.contains_password("correct horse battery staple"));
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn leaked_lists_name_the_bad_line() {
        for (text, line) in [
            ("0123\n", 1),
            ("# ok\n\nZZ23456789012345678901234567890123456789\n", 3),
            ("ABCDE:1234\n", 1),
            ("0000000000000000000000000000000000000000:x\n", 1),
            ("a:b:c:d\n", 1),
        ] {
            let e = parse_leaked_list(text, p()).unwrap_err();
            assert!(e.starts_with(&format!("list.txt:{line}:")), "{text:?}: {e}");
            assert!(e.contains("40 hex characters"), "{e}");
        }
    }

    fn with_proxies(p: &[&str]) -> Protection {
        Protection {
            trusted_proxies: p.iter().map(|x| parse_cidr(x).unwrap()).collect(),
            ..Protection::default()
        }
    }

    fn xff(values: &[&[u8]]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for v in values {
            h.append(
                "x-forwarded-for",
                axum::http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn client_ip_believes_only_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // No proxies configured: the peer, whatever the header says.
        let none = with_proxies(&[]);
        assert_eq!(
            none.client_ip(ip("127.0.0.1"), &xff(&[b"10.1.0.1"])),
            ip("127.0.0.1")
        );
        let p = with_proxies(&["127.0.0.1/32"]);
        // A spoofed header from an untrusted peer is ignored.
        assert_eq!(
            p.client_ip(ip("192.0.2.9"), &xff(&[b"10.1.0.1"])),
            ip("192.0.2.9")
        );
        // From the trusted proxy: the right-most untrusted entry.
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), &xff(&[b"203.0.113.1, 10.1.0.1"])),
            ip("10.1.0.1")
        );
        // Two headers are one list, in order.
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), &xff(&[b"10.2.0.1", b"10.1.0.1"])),
            ip("10.1.0.1")
        );
        // Garbage (or a non-text header) stops the walk at the proxy.
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), &xff(&[b"garbage"])),
            ip("127.0.0.1")
        );
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), &xff(&[b"\xff\xfe"])),
            ip("127.0.0.1")
        );
        // No header: the proxy itself.
        assert_eq!(p.client_ip(ip("127.0.0.1"), &xff(&[])), ip("127.0.0.1"));
        // IPv4-mapped IPv6 peers are the IPv4 address.
        assert_eq!(
            p.client_ip(ip("::ffff:127.0.0.1"), &xff(&[b"10.3.0.1"])),
            ip("10.3.0.1")
        );
    }

    fn test_db() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/geoip-test.mmdb")
    }

    #[test]
    fn geoip_places_ipv4_and_ipv6_and_knows_what_it_does_not_know() {
        let p = Protection {
            geoip: Some(open_geoip(&test_db()).unwrap()),
            ..Protection::default()
        };
        let nz = p.locate("10.1.2.3");
        assert_eq!(nz.country_or_region.as_deref(), Some("NZ"));
        assert_eq!(nz.city.as_deref(), Some("Wellington"));
        assert!((nz.latitude.unwrap() + 41.2866).abs() < 1e-6);
        assert!((nz.longitude.unwrap() - 174.7756).abs() < 1e-6);
        assert_eq!(
            p.locate("2001:db8:2::7").country_or_region.as_deref(),
            Some("DE")
        );
        assert_eq!(
            p.locate("::ffff:10.3.0.1").country_or_region.as_deref(),
            Some("US")
        );
        // Country-only record: no city, no coordinates.
        let fr = p.locate("10.4.0.1");
        assert_eq!(fr.country_or_region.as_deref(), Some("FR"));
        assert_eq!((fr.city, fr.latitude), (None, None));
        assert_eq!(p.locate("10.9.0.1"), SignInLocation::default());
        assert_eq!(p.locate("not an ip"), SignInLocation::default());
        assert_eq!(
            Protection::default().locate("10.1.2.3"),
            SignInLocation::default()
        );
    }

    #[test]
    fn geoip_missing_or_corrupt_files_are_named() {
        let e = open_geoip(Path::new("/nonexistent/GeoLite2-Country.mmdb")).unwrap_err();
        assert!(
            e.contains("/nonexistent/GeoLite2-Country.mmdb") && e.contains("--geoip-db"),
            "{e}"
        );
        let bad = std::env::temp_dir().join(format!("castellan-bad-{}.mmdb", uuid::Uuid::new_v4()));
        std::fs::write(&bad, b"this is not a MaxMind DB").unwrap();
        let e = open_geoip(&bad).unwrap_err();
        let _ = std::fs::remove_file(&bad);
        assert!(
            e.contains(&bad.display().to_string()) && e.contains("--geoip-db"),
            "{e}"
        );
    }
}
