//! Custom domains: the pure rules behind Graph's `/domains` (Microsoft Graph "domain resource
//! type", "Add your custom domain name to Microsoft Entra ID").
//!
//! - a name is a lowercase DNS name (two or more LDH labels, at most 253 characters), never
//!   under the suffix reserved for initial domains (`<tenant>.onmicrosoft.*`);
//! - each added domain draws an eight-digit code once; its verification records are a TXT
//!   record `MS=ms<code>` and an MX record `ms<code>.msv1.invalid` with preference 32767, both
//!   with TTL 3600, and finding either one at the domain verifies it ([`proves`]);
//! - `supportedServices` takes Graph's values only ([`parse_services`]);
//! - a domain still named by a user's `userPrincipalName` or `mail`, an application's
//!   `identifierUris` (the domain or a subdomain), or a deleted user in the recycle bin cannot
//!   be deleted ([`references`] lists them).
//!
//! Which tenant may verify a name (one only) is the store's unique rule on verified names;
//! the use cases are `ops::domains`.

use crate::deleted_items::{DeletedItem, DeletedObject};
use crate::error::Code;
use crate::model::{Application, Domain, Tenant, User};

/// Graph's `supportedServices` values, in their canonical spelling.
pub const SUPPORTED_SERVICES: &[&str] = &[
    "Email",
    "Sharepoint",
    "EmailInternalRelayOnly",
    "OfficeCommunicationsOnline",
    "SharePointDefaultDomain",
    "FullRedelegation",
    "SharePointPublic",
    "OrgIdAuthentication",
    "Yammer",
    "Intune",
];

/// What the initial domain supports (as Entra shows it for `<tenant>.onmicrosoft.com`).
pub const INITIAL_SERVICES: &[&str] = &["Email", "OfficeCommunicationsOnline"];

/// The TTL of the verification records, in seconds.
pub const RECORD_TTL: u32 = 3600;

/// The preference of the verification MX record (the lowest priority, so mail never goes there).
pub const MX_PREFERENCE: u16 = 32767;

/// The reserved zone of the verification MX record's exchange.
pub const MX_ZONE: &str = "msv1.invalid";

/// Most domains a tenant may have (Entra: 5,000).
pub const MAX_DOMAINS: usize = 5000;

/// How many references a refused delete names.
pub const MAX_NAMED_REFERENCES: usize = 5;

/// Checks and normalises a domain name for `tenant`: trimmed, lowercase, no trailing dot.
pub fn normalize_name(raw: &str, tenant: &Tenant) -> Result<String, String> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = |why: &str| Code::DomainNameInvalid.message(&[("name", &raw), ("why", &why)]);
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > 253 {
        return Err(bad("it is longer than 253 characters"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("it needs at least two labels (such as contoso.com)"));
    }
    for l in &labels {
        if l.is_empty() || l.len() > 63 {
            return Err(bad("each label between dots must be 1 to 63 characters"));
        }
        if !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(bad(
                "labels may hold only the letters a-z, digits and hyphens",
            ));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(bad("a label cannot start or end with a hyphen"));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(bad("the last label cannot be all digits"));
    }
    if let Some((_, suffix)) = tenant.initial_domain().split_once('.') {
        if is_under(&name, suffix) {
            return Err(Code::DomainReserved.message(&[("name", &name), ("suffix", &suffix)]));
        }
    }
    Ok(name)
}

/// Whether `host` is `domain` or one of its subdomains (both compared case-insensitively).
pub fn is_under(host: &str, domain: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    !d.is_empty() && (h == d || h.ends_with(&format!(".{d}")))
}

/// The tenant's verified domain that `name` is a strict subdomain of, if any.
pub fn verified_parent<'a>(tenant: &'a Tenant, name: &str) -> Option<&'a Domain> {
    tenant
        .domains
        .iter()
        .find(|d| d.is_verified && !d.name.eq_ignore_ascii_case(name) && is_under(name, &d.name))
}

/// An eight-digit verification code from 16 random bytes.
pub fn verification_code(random: [u8; 16]) -> String {
    let mut n: u64 = 0;
    for b in random.iter().take(8) {
        n = (n << 8) | u64::from(*b);
    }
    format!("{:08}", n % 100_000_000)
}

/// The TXT record's text: `MS=ms<code>`.
pub fn txt_text(d: &Domain) -> String {
    format!("MS=ms{}", d.verification_code)
}

/// The MX record's exchange: `ms<code>.msv1.invalid`.
pub fn mx_exchange(d: &Domain) -> String {
    format!("ms{}.{MX_ZONE}", d.verification_code)
}

/// What a DNS lookup of the domain found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The TXT records' texts (each record's strings joined).
    pub txt: Vec<String>,
    /// The MX records: `(preference, exchange)`.
    pub mx: Vec<(u16, String)>,
    /// An answer that was neither records nor "none" (REFUSED, SERVFAIL), in words.
    pub errors: Vec<String>,
}

impl Found {
    /// The findings in words, for the refusal's message.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.txt.is_empty() {
            parts.push("no TXT record".to_string());
        } else {
            let t: Vec<String> = self.txt.iter().map(|t| format!("'{t}'")).collect();
            parts.push(format!("TXT {}", t.join(", ")));
        }
        if self.mx.is_empty() {
            parts.push("no MX record".to_string());
        } else {
            let m: Vec<String> = self.mx.iter().map(|(p, x)| format!("{p} {x}")).collect();
            parts.push(format!("MX {}", m.join(", ")));
        }
        parts.extend(self.errors.iter().cloned());
        parts.join("; ")
    }
}

/// Whether the findings carry one of `d`'s verification records: the TXT text exactly (any
/// case, surrounding space ignored) or an MX record to its exchange (any preference).
pub fn proves(d: &Domain, found: &Found) -> bool {
    if d.verification_code.is_empty() {
        return false;
    }
    let txt = txt_text(d);
    let mx = mx_exchange(d);
    found
        .txt
        .iter()
        .any(|t| t.trim().eq_ignore_ascii_case(&txt))
        || found
            .mx
            .iter()
            .any(|(_, x)| x.trim().trim_end_matches('.').eq_ignore_ascii_case(&mx))
}

/// Parses `supportedServices` into Graph's canonical spelling (duplicates collapse).
pub fn parse_services(values: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let Some(c) = SUPPORTED_SERVICES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(v.trim()))
        else {
            return Err(Code::DomainBadService
                .message(&[("value", v), ("allowed", &SUPPORTED_SERVICES.join(", "))]));
        };
        if !out.iter().any(|o| o == c) {
            out.push((*c).to_string());
        }
    }
    Ok(out)
}

/// The domain part of an address (`alias@domain`).
fn domain_of(address: &str) -> Option<&str> {
    address.rsplit_once('@').map(|(_, d)| d)
}

/// The host of an identifier URI (`api://host/…`, `https://host/…`), if it has one.
fn uri_host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://").map(|(_, r)| r)?;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    Some(host.split(':').next().unwrap_or(host))
}

/// What still uses domain `name`, in words: users by `userPrincipalName` or `mail`,
/// applications by an identifier URI on the domain or a subdomain, deleted users in the
/// recycle bin. Sorted, each once.
pub fn references(
    name: &str,
    users: &[User],
    apps: &[Application],
    deleted: &[DeletedItem],
) -> Vec<String> {
    let on = |a: &str| domain_of(a).is_some_and(|d| d.eq_ignore_ascii_case(name));
    let mut out = Vec::new();
    for u in users {
        if on(&u.user_principal_name) {
            out.push(format!(
                "user '{}' (userPrincipalName)",
                u.user_principal_name
            ));
        } else if u.mail.as_deref().is_some_and(on) {
            out.push(format!("user '{}' (mail)", u.user_principal_name));
        }
    }
    for a in apps {
        if let Some(uri) = a
            .identifier_uris
            .iter()
            .find(|u| uri_host(u).is_some_and(|h| is_under(h, name)))
        {
            out.push(format!(
                "application '{}' ({}, identifierUris '{uri}')",
                a.display_name, a.app_id
            ));
        }
    }
    for item in deleted {
        if let DeletedObject::User(u) = &item.object {
            if on(&u.user_principal_name) || u.mail.as_deref().is_some_and(on) {
                out.push(format!(
                    "deleted user '{}' in the recycle bin ({})",
                    u.user_principal_name, u.id
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The references as one phrase: the first [`MAX_NAMED_REFERENCES`] and how many more.
pub fn name_references(refs: &[String]) -> String {
    let shown: Vec<&str> = refs
        .iter()
        .take(MAX_NAMED_REFERENCES)
        .map(String::as_str)
        .collect();
    let more = refs.len().saturating_sub(MAX_NAMED_REFERENCES);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The refusal for an address or URI on a domain the tenant has but has not verified; `None`
/// when the domain is not the tenant's at all (the caller's own message applies).
pub fn unverified_use(
    tenant: &Tenant,
    domain: &str,
    property: &str,
    value: &str,
) -> Option<String> {
    let d = tenant.domain(domain).filter(|d| !d.is_verified)?;
    let verified: Vec<&str> = tenant
        .domains
        .iter()
        .filter(|d| d.is_verified)
        .map(|d| d.name.as_str())
        .collect();
    Some(Code::DomainUnverifiedInUse.message(&[
        ("domain", &d.name),
        ("property", &property),
        ("value", &value),
        ("verified", &verified.join(", ")),
    ]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn tenant() -> Tenant {
        let mut ids = crate::conformance::Ids::new(3);
        crate::conformance::tenant(&mut ids, "contoso")
    }

    fn domain(code: &str) -> Domain {
        Domain {
            name: "contoso.com".into(),
            verification_code: code.into(),
            ..Domain::default()
        }
    }

    #[test]
    fn names_are_dns_names_outside_the_reserved_suffix() {
        let t = tenant();
        assert_eq!(normalize_name(" Contoso.COM. ", &t).unwrap(), "contoso.com");
        assert_eq!(
            normalize_name("mail.eu-west.contoso.co.uk", &t).unwrap(),
            "mail.eu-west.contoso.co.uk"
        );
        for (bad, why) in [
            ("", "empty"),
            ("contoso", "two labels"),
            ("contoso..com", "1 to 63"),
            ("-contoso.com", "hyphen"),
            ("contoso-.com", "hyphen"),
            ("con toso.com", "letters a-z"),
            ("contoso.com/x", "letters a-z"),
            ("contoso.123", "all digits"),
            ("xn--bcher-kva.ch\u{e9}", "letters a-z"),
        ] {
            let e = normalize_name(bad, &t).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(normalize_name(&format!("{}.com", "a".repeat(64)), &t).is_err());
        assert!(normalize_name(&format!("{}.com", "a.".repeat(130)), &t)
            .unwrap_err()
            .contains("253"));
        let e = normalize_name("fabrikam.onmicrosoft.test", &t).unwrap_err();
        assert!(e.contains("reserved"), "{e}");
        assert!(normalize_name("onmicrosoft.test", &t).is_err());
        assert!(normalize_name("notonmicrosoft.test", &t).is_ok());
    }

    #[test]
    fn codes_are_eight_digits_and_records_follow_them() {
        let c = verification_code([0; 16]);
        assert_eq!(c, "00000000");
        let c = verification_code([255; 16]);
        assert_eq!(c.len(), 8);
        assert!(c.chars().all(|x| x.is_ascii_digit()));
        let d = domain("12345678");
        assert_eq!(txt_text(&d), "MS=ms12345678");
        assert_eq!(mx_exchange(&d), "ms12345678.msv1.invalid");
    }

    #[test]
    fn either_record_proves_the_domain() {
        let d = domain("12345678");
        assert!(!proves(&d, &Found::default()));
        let txt = |t: &str| Found {
            txt: vec!["v=spf1 -all".into(), t.into()],
            ..Found::default()
        };
        assert!(proves(&d, &txt("MS=ms12345678")));
        assert!(proves(&d, &txt(" ms=MS12345678 ")));
        assert!(!proves(&d, &txt("MS=ms12345679")), "another code");
        assert!(!proves(&d, &txt("MS=ms123456789")));
        let mx = |x: &str| Found {
            mx: vec![(10, "mail.contoso.com".into()), (32767, x.into())],
            ..Found::default()
        };
        assert!(proves(&d, &mx("ms12345678.msv1.invalid.")));
        assert!(!proves(&d, &mx("ms12345678.msv1.invalid.contoso.com")));
        // A domain without a code (the initial one) is never proven by DNS.
        assert!(!proves(&domain(""), &txt("MS=ms")));
        let f = Found {
            txt: vec!["x".into()],
            mx: vec![],
            errors: vec!["the resolver answered REFUSED".into()],
        };
        assert_eq!(
            f.describe(),
            "TXT 'x'; no MX record; the resolver answered REFUSED"
        );
    }

    #[test]
    fn supported_services_take_graph_values_only() {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_services(&v(&["email", "Intune", "EMAIL"])).unwrap(),
            v(&["Email", "Intune"])
        );
        assert_eq!(parse_services(&[]).unwrap(), Vec::<String>::new());
        let e = parse_services(&v(&["Email", "Fax"])).unwrap_err();
        assert!(
            e.contains("'Fax'") && e.contains("OfficeCommunicationsOnline"),
            "{e}"
        );
    }

    #[test]
    fn references_name_users_apps_and_the_recycle_bin() {
        let mut ids = crate::conformance::Ids::new(5);
        let t = tenant();
        let mut u1 = crate::conformance::user(&mut ids, &t, "alice", false);
        u1.user_principal_name = "alice@Contoso.com".into();
        let mut u2 = crate::conformance::user(&mut ids, &t, "bob", false);
        u2.mail = Some("bob@contoso.com".into());
        let mut u3 = crate::conformance::user(&mut ids, &t, "carol", false);
        u3.user_principal_name = "carol@sub.contoso.com".into();
        let mut a = crate::conformance::application(&mut ids, &t);
        a.identifier_uris = vec!["api://x".into(), "https://api.contoso.com/orders".into()];
        let mut a2 = crate::conformance::application(&mut ids, &t);
        a2.identifier_uris = vec!["https://notcontoso.com".into()];
        let mut gone = crate::conformance::user(&mut ids, &t, "dave", false);
        gone.user_principal_name = "dave@contoso.com".into();
        let deleted = DeletedItem {
            tenant_id: t.id,
            deleted: crate::time::Timestamp(0),
            object: DeletedObject::User(gone.clone()),
            edges: Default::default(),
        };
        let refs = references(
            "contoso.com",
            &[u1, u2.clone(), u3],
            &[a.clone(), a2],
            &[deleted],
        );
        assert_eq!(refs.len(), 4, "{refs:?}");
        assert!(refs.iter().any(|r| r.contains("alice@Contoso.com")));
        assert!(refs
            .iter()
            .any(|r| r.contains(&u2.user_principal_name) && r.contains("(mail)")));
        assert!(refs
            .iter()
            .any(|r| r.contains("https://api.contoso.com/orders")));
        assert!(refs.iter().any(|r| r.contains("recycle bin")));
        assert!(references("fabrikam.com", &[], &[a], &[]).is_empty());
        let many: Vec<String> = (0..7).map(|i| format!("r{i}")).collect();
        assert_eq!(name_references(&many), "r0, r1, r2, r3, r4 and 2 more");
        assert_eq!(name_references(&many[..2]), "r0, r1");
    }

    #[test]
    fn unverified_use_names_the_fix() {
        let t = tenant();
        let pending = t.domains.iter().find(|d| !d.is_verified).unwrap();
        let m = unverified_use(&t, &pending.name, "userPrincipalName", "x@y").unwrap();
        assert!(
            m.contains("verify it first") && m.contains(t.initial_domain()),
            "{m}"
        );
        assert!(unverified_use(&t, t.initial_domain(), "userPrincipalName", "x").is_none());
        assert!(unverified_use(&t, "elsewhere.com", "userPrincipalName", "x").is_none());
    }
}
