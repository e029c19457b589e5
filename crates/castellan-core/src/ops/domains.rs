//! Custom domains (Graph `/domains`): add, read, update (`isDefault`, `supportedServices`),
//! verify through DNS, delete. The rules are `core::domains`'; DNS comes in through the
//! [`DnsLookup`] port (the server's adapter asks a real resolver; tests pass a fake).
//!
//! Every write is a compare-and-set of the tenant (`Change::ReplaceTenant`) with its audit
//! record in the same change set; the store's unique rule on verified names makes "verified
//! in one tenant only" hold under races (`UniqueRule::DomainTaken`).

use async_trait::async_trait;

use crate::domains::{self as rules, Found};
use crate::error::{Code, DirectoryError};
use crate::model::{Domain, Tenant};
use crate::ops::{modified, not_found, required, target, Env, Field};
use crate::store::{Change, ChangeSet, StoreError, UniqueRule};

/// Why a DNS question got no answer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsFailure {
    /// The resolver could not be reached or did not answer in time.
    Unreachable(String),
    /// The resolver answered with an error (REFUSED, SERVFAIL…), in words.
    Answered(String),
}

/// The DNS port: what verification asks of a resolver.
#[async_trait]
pub trait DnsLookup: Send + Sync {
    /// The TXT records at `name` (each record's strings joined); empty for NXDOMAIN or no data.
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure>;
    /// The MX records at `name`: `(preference, exchange)`; empty for NXDOMAIN or no data.
    async fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, DnsFailure>;
    /// Which resolver is asked, for messages ("127.0.0.1:5353", "the system resolver").
    fn describe(&self) -> String;
}

/// The settable properties of a domain.
#[derive(Clone, Debug, Default)]
pub struct DomainInput {
    /// `id`: the name (creation only).
    pub id: Field<String>,
    /// `isDefault`.
    pub is_default: Field<bool>,
    /// `supportedServices`.
    pub supported_services: Field<Vec<String>>,
}

/// Why verification failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// A directory rule refused (not found, not verifiable, verified elsewhere, records absent).
    Directory(DirectoryError),
    /// The resolver could not be asked: Graph's 503 `Code::DomainDnsUnavailable`.
    Dns {
        /// The domain.
        name: String,
        /// The resolver, in words.
        resolver: String,
        /// What went wrong.
        why: String,
    },
}

impl From<DirectoryError> for VerifyError {
    fn from(e: DirectoryError) -> Self {
        Self::Directory(e)
    }
}

fn bad(m: String) -> DirectoryError {
    DirectoryError::BadRequest(m)
}

/// The tenant as stored now (the caller's copy may be a request old).
async fn fresh(env: &Env<'_>, tenant: &Tenant) -> Result<Tenant, DirectoryError> {
    env.store
        .tenant(tenant.id)
        .await?
        .ok_or_else(|| not_found(tenant.id))
}

/// One domain of the tenant by name (any case).
pub fn get(tenant: &Tenant, name: &str) -> Result<Domain, DirectoryError> {
    tenant.domain(name).cloned().ok_or_else(|| not_found(name))
}

/// Every domain of the tenant, initial first, then by name.
pub fn list(tenant: &Tenant) -> Vec<Domain> {
    let mut v = tenant.domains.clone();
    v.sort_by(|a, b| b.is_initial.cmp(&a.is_initial).then(a.name.cmp(&b.name)));
    v
}

/// Whether another tenant has verified `name`.
async fn verified_elsewhere(
    env: &Env<'_>,
    tenant: &Tenant,
    name: &str,
) -> Result<bool, DirectoryError> {
    Ok(env
        .store
        .tenant_by_domain(name)
        .await?
        .is_some_and(|t| t.id != tenant.id))
}

fn elsewhere(name: &str) -> DirectoryError {
    bad(Code::DomainVerifiedElsewhere.message(&[("name", &name)]))
}

/// Commits `next` over `before` with `audit`; a lost race or a verified name another tenant
/// claimed in between is refused by name.
async fn commit(
    env: &mut Env<'_>,
    before: &Tenant,
    next: &Tenant,
    name: &str,
    audit: crate::audit::AuditRecord,
) -> Result<(), DirectoryError> {
    let mut set = ChangeSet::new();
    set.push(Change::ReplaceTenant(
        Box::new(before.clone()),
        Box::new(next.clone()),
    ))
    .audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::Conflict(c) if c.rule == UniqueRule::DomainTaken => elsewhere(name),
        StoreError::Conflict(c) if c.rule == UniqueRule::TenantChanged => {
            DirectoryError::Conflict(Code::DomainTenantChanged.message(&[]))
        }
        other => other.into(),
    })
}

fn services_text(d: &Domain) -> String {
    d.supported_services.join(", ")
}

/// Adds an unverified domain: a valid DNS name outside the reserved suffix, new in this
/// tenant, not verified by another; its verification code is drawn now, once.
pub async fn create(
    env: &mut Env<'_>,
    tenant: &Tenant,
    input: DomainInput,
) -> Result<Domain, DirectoryError> {
    if input.is_default.is_present() || input.supported_services.is_present() {
        return Err(bad(
            "Only 'id' can be set when a domain is added; verify it, then set isDefault or supportedServices with PATCH /domains/{id}."
                .into(),
        ));
    }
    let before = fresh(env, tenant).await?;
    let name = rules::normalize_name(&required(&input.id, "id")?, &before).map_err(bad)?;
    if before.domain(&name).is_some() {
        return Err(bad(Code::DomainExists.message(&[("name", &name)])));
    }
    if before.domains.len() >= rules::MAX_DOMAINS {
        return Err(bad(Code::DomainQuota.message(&[
            ("count", &before.domains.len()),
            ("max", &rules::MAX_DOMAINS),
        ])));
    }
    if verified_elsewhere(env, &before, &name).await? {
        return Err(elsewhere(&name));
    }
    // A subdomain of a domain this tenant has verified is verified with it, as in Entra: the
    // parent's DNS proof covers it.
    let under_verified = rules::verified_parent(&before, &name).is_some();
    let d = Domain {
        name: name.clone(),
        is_initial: false,
        is_default: false,
        is_verified: under_verified,
        supported_services: Vec::new(),
        verification_code: rules::verification_code(env.entropy.bytes16()),
    };
    let mut next = before.clone();
    next.domains.push(d.clone());
    let audit = env.audit(
        &before,
        "DirectoryManagement",
        if under_verified {
            "Add verified domain"
        } else {
            "Add unverified domain"
        },
        "Add",
        vec![target(
            &name,
            "Directory",
            Some(&name),
            None,
            vec![modified(
                "IsVerified",
                None,
                Some(under_verified.to_string()),
            )],
        )],
    );
    commit(env, &before, &next, &name, audit).await?;
    Ok(d)
}

/// Applies a PATCH: `isDefault: true` makes a verified domain the one default (`false` on the
/// default is refused: set another instead); `supportedServices` takes Graph's values.
pub async fn update(
    env: &mut Env<'_>,
    tenant: &Tenant,
    name: &str,
    input: DomainInput,
) -> Result<Domain, DirectoryError> {
    if input.id.is_present() {
        return Err(bad(
            "Property 'id' is the domain's name and cannot be changed; add the new name as another domain instead."
                .into(),
        ));
    }
    let before = fresh(env, tenant).await?;
    let old = get(&before, name)?;
    let mut d = old.clone();
    let mut props = Vec::new();
    let mut next = before.clone();
    match input.is_default {
        Field::Value(true) if !old.is_default => {
            if !old.is_verified {
                return Err(bad(
                    Code::DomainNotVerifiedForDefault.message(&[("name", &old.name)])
                ));
            }
            for o in &mut next.domains {
                o.is_default = false;
            }
            d.is_default = true;
            props.push(modified(
                "IsDefault",
                Some("false".into()),
                Some("true".into()),
            ));
        }
        Field::Value(false) | Field::Null if old.is_default => {
            return Err(bad(
                Code::DomainDefaultRequired.message(&[("name", &old.name)])
            ));
        }
        _ => {}
    }
    match &input.supported_services {
        Field::Value(v) => d.supported_services = rules::parse_services(v).map_err(bad)?,
        Field::Null => d.supported_services = Vec::new(),
        Field::Absent => {}
    }
    if d.supported_services != old.supported_services {
        props.push(modified(
            "SupportedServices",
            Some(services_text(&old)),
            Some(services_text(&d)),
        ));
    }
    if props.is_empty() {
        return Ok(d);
    }
    for o in &mut next.domains {
        if o.name == d.name {
            *o = d.clone();
        }
    }
    let audit = env.audit(
        &before,
        "DirectoryManagement",
        "Update domain",
        "Update",
        vec![target(&d.name, "Directory", Some(&d.name), None, props)],
    );
    commit(env, &before, &next, &d.name, audit).await?;
    Ok(d)
}

/// Asks `dns` for the domain's TXT and MX records; an answer that is an error counts as
/// "found nothing" with the error named, an unreachable resolver stops verification.
async fn look_up(dns: &dyn DnsLookup, name: &str) -> Result<Found, VerifyError> {
    let unreachable = |why: String| VerifyError::Dns {
        name: name.to_string(),
        resolver: dns.describe(),
        why,
    };
    let mut found = Found::default();
    match dns.txt(name).await {
        Ok(t) => found.txt = t,
        Err(DnsFailure::Answered(why)) => found.errors.push(format!("TXT lookup: {why}")),
        Err(DnsFailure::Unreachable(why)) => return Err(unreachable(why)),
    }
    match dns.mx(name).await {
        Ok(m) => found.mx = m,
        Err(DnsFailure::Answered(why)) => found.errors.push(format!("MX lookup: {why}")),
        Err(DnsFailure::Unreachable(why)) => return Err(unreachable(why)),
    }
    Ok(found)
}

/// Verifies a domain: its TXT (or MX) verification record must be found in DNS, and no other
/// tenant may have verified the name. On success the domain is verified (authentication type
/// `Managed`); on failure nothing changes and the message names what was looked up and found.
/// An already verified domain answers as it is.
pub async fn verify(
    env: &mut Env<'_>,
    tenant: &Tenant,
    name: &str,
    dns: &dyn DnsLookup,
) -> Result<Domain, VerifyError> {
    let before = fresh(env, tenant).await?;
    let old = get(&before, name)?;
    if old.is_verified {
        return Ok(old);
    }
    if verified_elsewhere(env, &before, &old.name).await? {
        return Err(elsewhere(&old.name).into());
    }
    let found = look_up(dns, &old.name).await?;
    if !rules::proves(&old, &found) {
        return Err(bad(Code::DomainVerificationFailed.message(&[
            ("name", &old.name),
            ("resolver", &dns.describe()),
            ("found", &found.describe()),
            ("txt", &rules::txt_text(&old)),
            ("mx", &rules::mx_exchange(&old)),
        ]))
        .into());
    }
    let mut d = old.clone();
    d.is_verified = true;
    let mut next = before.clone();
    for o in &mut next.domains {
        if o.name == d.name {
            *o = d.clone();
        }
    }
    let audit = env.audit(
        &before,
        "DirectoryManagement",
        "Verify domain",
        "Update",
        vec![target(
            &d.name,
            "Directory",
            Some(&d.name),
            None,
            vec![modified(
                "IsVerified",
                Some("false".into()),
                Some("true".into()),
            )],
        )],
    );
    commit(env, &before, &next, &d.name, audit).await?;
    Ok(d)
}

/// Deletes a domain: never the initial or the default one, and never while a user, an
/// application or a deleted user in the recycle bin still uses it (the refusal names them).
pub async fn delete(env: &mut Env<'_>, tenant: &Tenant, name: &str) -> Result<(), DirectoryError> {
    let before = fresh(env, tenant).await?;
    let d = get(&before, name)?;
    if d.is_initial {
        return Err(bad(Code::DomainUndeletable.message(&[
            ("name", &d.name),
            ("what", &"initial"),
            ("fix", &"Every tenant keeps its initial domain."),
        ])));
    }
    if d.is_default {
        return Err(bad(Code::DomainUndeletable.message(&[
            ("name", &d.name),
            ("what", &"default"),
            ("fix", &"Make another verified domain the default first (PATCH /domains/{id} with isDefault: true), then delete this one."),
        ])));
    }
    let users = env.store.users(before.id).await?;
    let apps = env.store.applications(before.id).await?;
    let deleted = env.store.deleted_items(before.id).await?;
    let mut refs = rules::references(&d.name, &users, &apps, &deleted);
    // Its subdomains in the tenant go first (Entra deletes a root domain last).
    refs.extend(
        before
            .domains
            .iter()
            .filter(|o| o.name != d.name && rules::is_under(&o.name, &d.name))
            .map(|o| format!("subdomain '{}'", o.name)),
    );
    if !refs.is_empty() {
        return Err(bad(Code::DomainInUse.message(&[
            ("name", &d.name),
            ("refs", &rules::name_references(&refs)),
        ])));
    }
    let mut next = before.clone();
    next.domains.retain(|o| o.name != d.name);
    let activity = if d.is_verified {
        "Remove verified domain"
    } else {
        "Remove unverified domain"
    };
    let audit = env.audit(
        &before,
        "DirectoryManagement",
        activity,
        "Delete",
        vec![target(&d.name, "Directory", Some(&d.name), None, vec![])],
    );
    commit(env, &before, &next, &d.name, audit).await
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use crate::ops::testing::{env, store_with_tenant, Seeded};
    use crate::store::memory::{block_on, MemoryStore};
    use crate::store::prelude::*;
    use crate::store::AuditQuery;
    use std::sync::Mutex;

    /// A fake resolver: fixed answers per name, or unreachable.
    #[derive(Default)]
    struct FakeDns {
        txt: Mutex<Vec<(String, String)>>,
        mx: Mutex<Vec<(String, u16, String)>>,
        down: bool,
        refuse: bool,
    }

    #[async_trait]
    impl DnsLookup for FakeDns {
        async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
            if self.down {
                return Err(DnsFailure::Unreachable("timed out after 2 s".into()));
            }
            if self.refuse {
                return Err(DnsFailure::Answered("the resolver answered REFUSED".into()));
            }
            Ok(self
                .txt
                .lock()
                .unwrap()
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, t)| t.clone())
                .collect())
        }
        async fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, DnsFailure> {
            if self.down {
                return Err(DnsFailure::Unreachable("timed out after 2 s".into()));
            }
            Ok(self
                .mx
                .lock()
                .unwrap()
                .iter()
                .filter(|(n, ..)| n == name)
                .map(|(_, p, x)| (*p, x.clone()))
                .collect())
        }
        fn describe(&self) -> String {
            "fake:53".into()
        }
    }

    /// Fresh randomness per op (audit record ids must not repeat).
    fn seeded() -> Seeded {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1000);
        Seeded(NEXT.fetch_add(7919, std::sync::atomic::Ordering::Relaxed))
    }

    fn input(id: &str) -> DomainInput {
        DomainInput {
            id: Field::Value(id.into()),
            ..DomainInput::default()
        }
    }

    fn audits(s: &MemoryStore, t: &Tenant) -> usize {
        block_on(s.audit_records(t.id, &AuditQuery::default()))
            .unwrap()
            .len()
    }

    fn tenant_now(s: &MemoryStore, t: &Tenant) -> Tenant {
        block_on(s.tenant(t.id)).unwrap().unwrap()
    }

    fn add(s: &MemoryStore, t: &Tenant, name: &str) -> Domain {
        let mut e = seeded();
        block_on(create(&mut env(s, &mut e), t, input(name))).unwrap()
    }

    fn verified(s: &MemoryStore, t: &Tenant, name: &str) -> Domain {
        let d = add(s, t, name);
        let dns = FakeDns::default();
        dns.txt
            .lock()
            .unwrap()
            .push((d.name.clone(), rules::txt_text(&d)));
        let mut e = seeded();
        block_on(verify(&mut env(s, &mut e), t, name, &dns)).unwrap()
    }

    #[test]
    fn create_adds_an_unverified_domain_with_a_stable_code_and_an_audit() {
        let (s, t) = store_with_tenant(1);
        let before = audits(&s, &t);
        let d = add(&s, &t, "Contoso.com");
        assert_eq!(d.name, "contoso.com");
        assert!(!d.is_verified && !d.is_default && !d.is_initial);
        assert_eq!(d.verification_code.len(), 8);
        let now = tenant_now(&s, &t);
        assert_eq!(
            get(&now, "CONTOSO.com").unwrap(),
            d,
            "stored, found in any case"
        );
        assert_eq!(audits(&s, &t), before + 1);
        // Listing puts the initial domain first.
        assert!(list(&now)[0].is_initial);
        // The code does not change on later reads or updates.
        let mut e = seeded();
        let u = block_on(update(
            &mut env(&s, &mut e),
            &t,
            "contoso.com",
            DomainInput {
                supported_services: Field::Value(vec!["email".into()]),
                ..DomainInput::default()
            },
        ))
        .unwrap();
        assert_eq!(u.verification_code, d.verification_code);
        assert_eq!(u.supported_services, vec!["Email".to_string()]);
    }

    #[test]
    fn a_subdomain_of_a_verified_domain_is_verified_with_it() {
        let (s, t) = store_with_tenant(10);
        verified(&s, &t, "contoso.com");
        let sub = add(&s, &t, "eu.mail.contoso.com");
        assert!(sub.is_verified, "under a verified domain of the tenant");
        assert!(tenant_now(&s, &t).owns_domain("eu.mail.contoso.com"));
        // Under an unverified one (or a look-alike), it is not.
        add(&s, &t, "fabrikam.com");
        assert!(!add(&s, &t, "hr.fabrikam.com").is_verified);
        assert!(!add(&s, &t, "notcontoso.com").is_verified);
        // The parent cannot be deleted before its subdomain.
        let mut e = seeded();
        let err = block_on(delete(&mut env(&s, &mut e), &t, "contoso.com")).unwrap_err();
        assert!(
            err.to_string().contains("subdomain 'eu.mail.contoso.com'"),
            "{err}"
        );
        block_on(delete(&mut env(&s, &mut e), &t, "eu.mail.contoso.com")).unwrap();
        block_on(delete(&mut env(&s, &mut e), &t, "contoso.com")).unwrap();
    }

    #[test]
    fn bad_creations_are_refused_and_change_nothing() {
        let (s, t) = store_with_tenant(2);
        add(&s, &t, "contoso.com");
        let snapshot = tenant_now(&s, &t);
        let n = audits(&s, &t);
        let mut e = seeded();
        let cases: Vec<(DomainInput, &str)> = vec![
            (input("not a domain"), "not a valid domain name"),
            (input("CONTOSO.COM"), "already exists in this tenant"),
            (input(t.initial_domain()), "reserved"),
            (input("other.onmicrosoft.test"), "reserved"),
            (DomainInput::default(), "'id' is required"),
            (
                DomainInput {
                    is_default: Field::Value(true),
                    ..input("fabrikam.com")
                },
                "Only 'id'",
            ),
        ];
        for (i, want) in cases {
            let err = block_on(create(&mut env(&s, &mut e), &t, i)).unwrap_err();
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
        assert_eq!(tenant_now(&s, &t), snapshot);
        assert_eq!(audits(&s, &t), n);
    }

    #[test]
    fn verify_fails_without_the_record_and_succeeds_with_it() {
        let (s, t) = store_with_tenant(3);
        let d = add(&s, &t, "contoso.com");
        let dns = FakeDns::default();
        dns.txt
            .lock()
            .unwrap()
            .push(("contoso.com".into(), "v=spf1 -all".into()));
        let n = audits(&s, &t);
        let mut e = seeded();
        let err = block_on(verify(&mut env(&s, &mut e), &t, "contoso.com", &dns)).unwrap_err();
        let VerifyError::Directory(DirectoryError::BadRequest(m)) = err else {
            panic!("{err:?}")
        };
        assert!(m.contains("fake:53") && m.contains("'v=spf1 -all'"), "{m}");
        assert!(
            m.contains(&rules::txt_text(&d)) && m.contains("no MX record"),
            "{m}"
        );
        assert!(!get(&tenant_now(&s, &t), "contoso.com").unwrap().is_verified);
        assert_eq!(audits(&s, &t), n, "a failed verification writes nothing");

        // The MX record proves it as well as the TXT one.
        dns.mx.lock().unwrap().push((
            "contoso.com".into(),
            32767,
            format!("{}.", rules::mx_exchange(&d)),
        ));
        let v = block_on(verify(&mut env(&s, &mut e), &t, "contoso.com", &dns)).unwrap();
        assert!(v.is_verified);
        let now = tenant_now(&s, &t);
        assert!(now.owns_domain("contoso.com"));
        assert_eq!(audits(&s, &t), n + 1);
        assert_eq!(
            block_on(s.tenant_by_domain("contoso.com"))
                .unwrap()
                .unwrap()
                .id,
            t.id,
            "a verified domain resolves to its tenant"
        );
        // Verifying again answers the domain as it is and writes nothing.
        let again = block_on(verify(&mut env(&s, &mut e), &t, "contoso.com", &dns)).unwrap();
        assert_eq!(again, v);
        assert_eq!(audits(&s, &t), n + 1);
    }

    #[test]
    fn an_unreachable_or_refusing_resolver_is_named_and_changes_nothing() {
        let (s, t) = store_with_tenant(4);
        add(&s, &t, "contoso.com");
        let snapshot = tenant_now(&s, &t);
        let mut e = seeded();
        let down = FakeDns {
            down: true,
            ..FakeDns::default()
        };
        let err = block_on(verify(&mut env(&s, &mut e), &t, "contoso.com", &down)).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Dns {
                name: "contoso.com".into(),
                resolver: "fake:53".into(),
                why: "timed out after 2 s".into()
            }
        );
        let refusing = FakeDns {
            refuse: true,
            ..FakeDns::default()
        };
        let err = block_on(verify(&mut env(&s, &mut e), &t, "contoso.com", &refusing)).unwrap_err();
        assert!(format!("{err:?}").contains("REFUSED"), "{err:?}");
        assert_eq!(tenant_now(&s, &t), snapshot);
        let err = block_on(verify(&mut env(&s, &mut e), &t, "nope.com", &refusing)).unwrap_err();
        assert!(matches!(
            err,
            VerifyError::Directory(DirectoryError::NotFound(_))
        ));
    }

    #[test]
    fn a_name_verified_in_one_tenant_cannot_be_verified_in_another() {
        let (s, a) = store_with_tenant(5);
        let mut ids = crate::conformance::Ids::new(77);
        let b = crate::conformance::tenant(&mut ids, "second");
        let mut set = ChangeSet::new();
        set.push(Change::InsertTenant(b.clone()));
        block_on(s.commit(set)).unwrap();
        // Both may add it while nobody has verified it; each gets its own code.
        let da = add(&s, &a, "shared.com");
        let db = add(&s, &b, "shared.com");
        let dns = FakeDns::default();
        dns.txt.lock().unwrap().extend([
            ("shared.com".to_string(), rules::txt_text(&da)),
            ("shared.com".to_string(), rules::txt_text(&db)),
        ]);
        let mut e = seeded();
        block_on(verify(&mut env(&s, &mut e), &a, "shared.com", &dns)).unwrap();
        let snapshot = tenant_now(&s, &b);
        let err = block_on(verify(&mut env(&s, &mut e), &b, "shared.com", &dns)).unwrap_err();
        assert!(
            format!("{err:?}").contains("already verified in another tenant"),
            "{err:?}"
        );
        assert_eq!(tenant_now(&s, &b), snapshot);
        // A tenant that has not added it yet cannot add it any more.
        let mut ids2 = crate::conformance::Ids::new(78);
        let c = crate::conformance::tenant(&mut ids2, "third");
        let mut set = ChangeSet::new();
        set.push(Change::InsertTenant(c.clone()));
        block_on(s.commit(set)).unwrap();
        let err = block_on(create(&mut env(&s, &mut e), &c, input("shared.com"))).unwrap_err();
        assert!(err.to_string().contains("another tenant"), "{err}");
        // The store's rule holds even when the pre-check is skipped (a race): a verified
        // copy of the name in another tenant does not commit.
        let before = tenant_now(&s, &b);
        let mut raced = before.clone();
        for d in &mut raced.domains {
            if d.name == "shared.com" {
                d.is_verified = true;
            }
        }
        let mut set = ChangeSet::new();
        set.push(Change::ReplaceTenant(
            Box::new(before.clone()),
            Box::new(raced),
        ));
        let e = block_on(s.commit(set)).unwrap_err();
        assert_eq!(e.unique_rule(), Some(UniqueRule::DomainTaken));
        assert_eq!(tenant_now(&s, &b), before);
    }

    #[test]
    fn default_is_one_verified_domain() {
        let (s, t) = store_with_tenant(6);
        add(&s, &t, "pending.com");
        let mut e = seeded();
        let set_default = |name: &str, v: bool, e: &mut Seeded| {
            block_on(update(
                &mut env(&s, e),
                &t,
                name,
                DomainInput {
                    is_default: Field::Value(v),
                    ..DomainInput::default()
                },
            ))
        };
        let err = set_default("pending.com", true, &mut e).unwrap_err();
        assert!(err.to_string().contains("not verified"), "{err}");
        verified(&s, &t, "contoso.com");
        let d = set_default("contoso.com", true, &mut e).unwrap();
        assert!(d.is_default);
        let now = tenant_now(&s, &t);
        assert_eq!(now.domains.iter().filter(|d| d.is_default).count(), 1);
        assert_eq!(now.default_domain(), "contoso.com");
        let err = set_default("contoso.com", false, &mut e).unwrap_err();
        assert!(err.to_string().contains("another verified domain"), "{err}");
        let err = block_on(update(
            &mut env(&s, &mut e),
            &t,
            "contoso.com",
            DomainInput {
                supported_services: Field::Value(vec!["Fax".into()]),
                ..DomainInput::default()
            },
        ))
        .unwrap_err();
        assert!(err.to_string().contains("'Fax'"), "{err}");
        assert_eq!(tenant_now(&s, &t), now, "refused updates change nothing");
        // Back to the initial domain.
        set_default(t.initial_domain(), true, &mut e).unwrap();
        assert_eq!(tenant_now(&s, &t).default_domain(), t.initial_domain());
    }

    #[test]
    fn delete_refuses_initial_default_and_referenced_domains() {
        let (s, t) = store_with_tenant(7);
        verified(&s, &t, "contoso.com");
        let mut e = seeded();
        let err = block_on(delete(&mut env(&s, &mut e), &t, t.initial_domain())).unwrap_err();
        assert!(err.to_string().contains("initial"), "{err}");
        // A user on the domain blocks its deletion, named.
        let now = tenant_now(&s, &t);
        let mut ids = crate::conformance::Ids::new(99);
        let mut u = crate::conformance::user(&mut ids, &now, "alice", false);
        u.user_principal_name = "alice@contoso.com".into();
        let mut set = ChangeSet::new();
        set.push(Change::InsertUser(u.clone()));
        block_on(s.commit(set)).unwrap();
        let n = audits(&s, &t);
        let err = block_on(delete(&mut env(&s, &mut e), &t, "contoso.com")).unwrap_err();
        assert!(err.to_string().contains("alice@contoso.com"), "{err}");
        assert!(tenant_now(&s, &t).domain("contoso.com").is_some());
        assert_eq!(audits(&s, &t), n);
        // Gone from the directory for good: the domain goes, audited.
        let mut set = ChangeSet::new();
        set.push(Change::DeleteUser(t.id, u.id));
        block_on(s.commit(set)).unwrap();
        block_on(delete(&mut env(&s, &mut e), &t, "contoso.com")).unwrap();
        assert!(tenant_now(&s, &t).domain("contoso.com").is_none());
        assert_eq!(audits(&s, &t), n + 1);
        // The default domain cannot go either.
        verified(&s, &t, "fabrikam.com");
        block_on(update(
            &mut env(&s, &mut e),
            &t,
            "fabrikam.com",
            DomainInput {
                is_default: Field::Value(true),
                ..DomainInput::default()
            },
        ))
        .unwrap();
        let err = block_on(delete(&mut env(&s, &mut e), &t, "fabrikam.com")).unwrap_err();
        assert!(err.to_string().contains("default"), "{err}");
        let err = block_on(delete(&mut env(&s, &mut e), &t, "nope.com")).unwrap_err();
        assert!(matches!(err, DirectoryError::NotFound(_)));
    }

    /// A settings change made over a tenant copy read before a domain was verified is refused
    /// instead of writing the domain back unverified (the lost update `UpdateTenant` allowed).
    #[test]
    fn settings_over_a_stale_copy_do_not_undo_a_verification() {
        let (s, t) = store_with_tenant(9);
        let stale = tenant_now(&s, &t);
        verified(&s, &t, "contoso.com");
        let mut e = seeded();
        let settings = crate::ops::tenants::SignInSettings {
            lockout_threshold: Some(5),
            ..Default::default()
        };
        let err = block_on(crate::ops::tenants::update_sign_in_settings(
            &mut env(&s, &mut e),
            &stale,
            &settings,
        ))
        .unwrap_err();
        assert!(err.to_string().contains("retry"), "{err}");
        let err = block_on(crate::ops::conditional_access::set_security_defaults(
            &mut env(&s, &mut e),
            &stale,
            false,
            &[],
        ))
        .unwrap_err();
        assert!(err.to_string().contains("retry"), "{err}");
        let now = tenant_now(&s, &t);
        assert!(now.owns_domain("contoso.com"));
        // Over the current copy both succeed and keep the domain.
        block_on(crate::ops::tenants::update_sign_in_settings(
            &mut env(&s, &mut e),
            &now,
            &settings,
        ))
        .unwrap();
        assert!(tenant_now(&s, &t).owns_domain("contoso.com"));
        assert_eq!(tenant_now(&s, &t).settings.lockout_threshold, 5);
    }

    #[test]
    fn a_stale_tenant_copy_loses_the_compare_and_set() {
        let (s, t) = store_with_tenant(8);
        add(&s, &t, "contoso.com");
        let stale = tenant_now(&s, &t);
        add(&s, &t, "fabrikam.com");
        let mut next = stale.clone();
        next.domains.retain(|d| d.name != "contoso.com");
        let mut set = ChangeSet::new();
        set.push(Change::ReplaceTenant(Box::new(stale), Box::new(next)));
        let e = block_on(s.commit(set)).unwrap_err();
        assert_eq!(e.unique_rule(), Some(UniqueRule::TenantChanged));
        assert_eq!(tenant_now(&s, &t).domains.len(), 4);
    }
}
