//! The store conformance suite: every engine must pass it, one test per area
//! ([`conformance_areas!`](crate::conformance_areas)): the in-memory reference store in core's
//! own tests, SQLite and PostgreSQL in `castellan-store`'s (PostgreSQL from
//! `CASTELLAN_TEST_DATABASE_URL`; unset or unreachable fails those tests, naming the fix).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::audit::{Actor, AuditRecord, AuditTarget, ModifiedProperty};
use crate::model::*;
use crate::policy::risky_user::{RiskyUser, RiskyUserRecord};
use crate::store::{AuditQuery, Change, ChangeSet, Store, StoreError, UniqueRule};
use crate::{AppId, ObjectId, TenantId, Timestamp};

/// A deterministic id source for the suite (each run uses a fresh seed so runs do not collide).
pub struct Ids(u128);

impl Ids {
    pub fn new(seed: u64) -> Self {
        Self(u128::from(seed) << 64)
    }
    fn next(&mut self) -> [u8; 16] {
        self.0 += 1;
        self.0.to_be_bytes()
    }
    pub fn object(&mut self) -> ObjectId {
        ObjectId::from_random(self.next())
    }
    pub fn tenant(&mut self) -> TenantId {
        TenantId::from_random(self.next())
    }
    pub fn app(&mut self) -> AppId {
        AppId::from_random(self.next())
    }
}

pub fn tenant(ids: &mut Ids, name: &str) -> Tenant {
    Tenant {
        id: ids.tenant(),
        display_name: name.into(),
        domains: vec![
            Domain {
                name: format!("{name}.onmicrosoft.test"),
                is_initial: true,
                is_default: true,
                is_verified: true,
                ..Default::default()
            },
            Domain {
                name: format!("{name}.example"),
                is_initial: false,
                is_default: false,
                is_verified: false,
                ..Default::default()
            },
        ],
        license: LicenseTier::P1,
        settings: TenantSettings {
            password_policy: PasswordPolicy {
                min_length: 10,
                max_length: 100,
                required_classes: 2,
            },
            hide_account_existence: true,
            lockout_threshold: 7,
            access_token_lifetime_secs: 1234,
            user_consent: crate::flow::consent::UserConsentPolicy::LowRiskVerifiedOrOwn,
            admin_consent_workflow: true,
            users_can_create_apps: false,
            security_defaults: true,
            allow_invites_from: crate::model::InvitesFrom::AdminsAndGuestInviters,
            guest_user_role: crate::model::GuestRole::Restricted,
        },
        created: Timestamp(1_700_000_000_123),
    }
}

pub fn user(ids: &mut Ids, t: &Tenant, alias: &str, full: bool) -> User {
    let some = |s: &str| full.then(|| s.to_string());
    User {
        id: ids.object(),
        tenant_id: t.id,
        display_name: alias.to_uppercase(),
        user_principal_name: format!("{alias}@{}", t.initial_domain()),
        mail_nickname: some(alias),
        mail: some("m@x.test"),
        given_name: some("Given"),
        surname: some("Sur"),
        job_title: some("Job"),
        department: some("Dept"),
        office_location: some("Office"),
        company_name: some("Co"),
        employee_id: some("E1"),
        account_enabled: full,
        user_type: if full {
            UserType::Member
        } else {
            UserType::Guest
        },
        created: Timestamp(1_700_000_000_456),
        password_hash: some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        force_change_password_next_sign_in: full,
        manager_id: None,
        other_mails: Vec::new(),
        usage_location: None,
        external: None,
    }
}

pub fn group(ids: &mut Ids, t: &Tenant, name: &str) -> Group {
    Group {
        id: ids.object(),
        tenant_id: t.id,
        display_name: name.into(),
        description: Some("d".into()),
        group_types: vec!["Unified".into()],
        mail_enabled: true,
        security_enabled: false,
        is_assignable_to_role: false,
        mail_nickname: name.into(),
        created: Timestamp(5),
        membership_rule: None,
        membership_rule_processing_state: None,
    }
}

pub fn application(ids: &mut Ids, t: &Tenant) -> Application {
    let id = ids.object();
    let app_id = ids.app();
    Application {
        id,
        app_id,
        tenant_id: t.id,
        display_name: "App".into(),
        sign_in_audience: SignInAudience::AzureAdMultipleOrgs,
        // Identifier URIs are unique across all tenants: each fixture app holds its own.
        identifier_uris: vec![format!("api://{app_id}")],
        web_redirect_uris: vec!["https://a/cb".into()],
        spa_redirect_uris: vec!["http://localhost:3000".into()],
        public_client_redirect_uris: vec!["http://localhost".into()],
        is_fallback_public_client: true,
        required_resource_access: vec![RequiredResourceAccess {
            resource_app_id: crate::ids::GRAPH_APP_ID,
            resource_access: vec![
                ResourceAccess {
                    id: uuid::Uuid::from_u128(7),
                    kind: PermissionKind::Role,
                },
                ResourceAccess {
                    id: uuid::Uuid::from_u128(8),
                    kind: PermissionKind::Scope,
                },
            ],
        }],
        oauth2_permission_scopes: vec![PermissionScope {
            id: uuid::Uuid::from_u128(9),
            value: "access".into(),
            consent_type: "Admin".into(),
            is_enabled: true,
            admin_consent_display_name: Some("A".into()),
            admin_consent_description: None,
            user_consent_display_name: None,
            user_consent_description: Some("u".into()),
        }],
        app_roles: vec![AppRole {
            id: uuid::Uuid::from_u128(10),
            value: "Read".into(),
            display_name: "R".into(),
            description: "r".into(),
            allowed_member_types: vec!["Application".into(), "User".into()],
            is_enabled: false,
        }],
        password_credentials: vec![PasswordCredential {
            key_id: uuid::Uuid::from_u128(11),
            display_name: Some("s".into()),
            hint: "abc".into(),
            secret_sha256: [7; 32],
            start: Timestamp(1),
            end: Timestamp(2),
        }],
        key_credentials: vec![KeyCredential::new(
            uuid::Uuid::from_u128(7),
            Some("cert".into()),
            vec![1, 2, 3, 4],
            Some(Timestamp(1)),
            None,
        )],
        requested_access_token_version: Some(2),
        group_membership_claims: Some("SecurityGroup".into()),
        optional_claims: vec![("idToken".into(), "email".into())],
        federated_identity_credentials: vec![crate::model::FederatedIdentityCredential {
            id: uuid::Uuid::from_u128(12),
            name: "github-main".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:org/repo:ref:refs/heads/main".into(),
            audiences: vec!["api://AzureADTokenExchange".into()],
            description: Some("d".into()),
        }],
        created: Timestamp(3),
    }
}

pub fn service_principal(ids: &mut Ids, t: &Tenant, app: &Application) -> ServicePrincipal {
    ServicePrincipal {
        id: ids.object(),
        tenant_id: t.id,
        app_id: app.app_id,
        app_owner_tenant_id: Some(app.tenant_id),
        display_name: "SP".into(),
        service_principal_type: ServicePrincipalType::Application,
        service_principal_names: vec![app.app_id.to_string(), "api://x".into()],
        alternative_names: vec![],
        app_role_assignment_required: true,
        account_enabled: false,
        created: Timestamp(4),
        saml: crate::model::SamlSettings {
            preferred_single_sign_on_mode: Some("saml".into()),
            relay_state: Some("https://app.example/home".into()),
            preferred_token_signing_key_thumbprint: Some("AB12".into()),
            signing_certificates: vec![crate::model::SamlSigningCertificate {
                key_id: uuid::Uuid::from_bytes([5; 16]),
                display_name: "CN=x".into(),
                thumbprint: "AB12".into(),
                cert_der: vec![1, 2, 3],
                private_key_sealed: vec![4, 5, 6],
                start: Timestamp(10),
                end: Timestamp(20),
            }],
            name_id_format: Some(crate::flow::saml::PERSISTENT.into()),
            require_signed_requests: true,
            verification_certificates: vec![vec![7, 8]],
            logout_url: Some("https://app.example/slo".into()),
            claims: vec![("role".into(), "jobTitle".into())],
            signing_option: Some("SignResponse".into()),
        },
    }
}

pub fn audit(ids: &mut Ids, t: &Tenant, category: &str, at: i64) -> AuditRecord {
    AuditRecord {
        id: ids.object(),
        tenant_id: t.id,
        time: Timestamp(at),
        category: category.into(),
        activity: "Add user".into(),
        operation_type: "Add".into(),
        actor: Actor::App {
            service_principal_id: ids.object(),
            app_id: "app".into(),
            display_name: "Daemon".into(),
        },
        targets: vec![AuditTarget {
            id: "x".into(),
            kind: "User".into(),
            display_name: Some("X".into()),
            user_principal_name: None,
            modified_properties: vec![ModifiedProperty {
                name: "p".into(),
                old_value: None,
                new_value: Some("n".into()),
            }],
        }],
        result: "success".into(),
        result_reason: String::new(),
        correlation_id: "c".into(),
    }
}

async fn commit(s: &dyn Store, changes: Vec<Change>) -> Result<(), StoreError> {
    s.commit(ChangeSet {
        changes,
        audit: vec![],
    })
    .await
}

/// Calls `$m!(area, area, …)` with every area of the suite, so each engine's tests can make one
/// test per area (a failure then names the area and the engine):
/// `castellan_core::conformance_areas!(my_macro);`.
#[macro_export]
macro_rules! conformance_areas {
    ($m:ident) => {
        $m!(
            round_trips,
            tenant_isolation,
            atomicity_and_uniqueness,
            cascades,
            memberships_and_owners,
            audit_queries,
            signing_keys,
            sparse_round_trips_and_updates,
            isolation_of_every_read,
            rollback_of_every_failure,
            cascades_of_groups_and_service_principals,
            not_found_rules,
            grants_and_sign_ins,
            administrative_units,
            resource_plane,
            application_compare_and_set,
            authentication_methods,
            devices,
            identity_protection,
            identifier_uris_unique_across_tenants,
            mfa_attempts,
            pim,
            deleted_items,
            domains,
            licenses,
        );
    };
}

/// Runs every check. Panics with a message naming the failed property.
pub async fn run_all(s: &dyn Store, seed: u64) {
    round_trips(s, seed).await;
    tenant_isolation(s, seed + 1).await;
    atomicity_and_uniqueness(s, seed + 2).await;
    cascades(s, seed + 3).await;
    memberships_and_owners(s, seed + 4).await;
    audit_queries(s, seed + 5).await;
    signing_keys(s, seed + 6).await;
    sparse_round_trips_and_updates(s, seed + 7).await;
    isolation_of_every_read(s, seed + 8).await;
    rollback_of_every_failure(s, seed + 9).await;
    cascades_of_groups_and_service_principals(s, seed + 10).await;
    not_found_rules(s, seed + 11).await;
    grants_and_sign_ins(s, seed + 12).await;
    administrative_units(s, seed + 13).await;
    resource_plane(s, seed + 14).await;
    application_compare_and_set(s, seed + 15).await;
    authentication_methods(s, seed + 16).await;
    devices(s, seed + 17).await;
    identity_protection(s, seed + 18).await;
    identifier_uris_unique_across_tenants(s, seed + 19).await;
    mfa_attempts(s, seed + 20).await;
    pim(s, seed + 21).await;
    deleted_items(s, seed + 22).await;
    domains(s, seed + 23).await;
    licenses(s, seed + 24).await;
    user_versions(s, seed + 25).await;
}

/// The user-list version: 0 before any user, changed by every insert, update and delete of a
/// user of that tenant (and only that tenant), unchanged by a commit that rolls back.
pub async fn user_versions(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let (t, other) = (
        tenant(&mut ids, &format!("uver{seed}")),
        tenant(&mut ids, &format!("uvo{seed}")),
    );
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
        ],
    )
    .await
    .unwrap();
    let v = |tid| async move { s.users_version(tid).await.unwrap() };
    assert_eq!(v(t.id).await, 0);
    let mut u = user(&mut ids, &t, "ver", true);
    commit(s, vec![Change::InsertUser(u.clone())])
        .await
        .unwrap();
    let after_insert = v(t.id).await;
    assert_ne!(after_insert, 0);
    assert_eq!(v(other.id).await, 0, "another tenant's version moved");
    u.display_name = "Renamed".into();
    commit(s, vec![Change::UpdateUser(u.clone())])
        .await
        .unwrap();
    let after_update = v(t.id).await;
    assert_ne!(after_update, after_insert);
    // A commit that fails (UPN taken) changes nothing, the version included.
    let mut clash = user(&mut ids, &t, "clash", true);
    clash.user_principal_name = u.user_principal_name.to_uppercase();
    assert!(commit(s, vec![Change::InsertUser(clash)]).await.is_err());
    assert_eq!(v(t.id).await, after_update);
    commit(s, vec![Change::DeleteUser(t.id, u.id)])
        .await
        .unwrap();
    assert_ne!(v(t.id).await, after_update);
    assert_eq!(v(other.id).await, 0);
    // Groups have their own version, which user writes do not move (and the reverse).
    let gv = |tid| async move { s.groups_version(tid).await.unwrap() };
    let users_now = v(t.id).await;
    assert_eq!(gv(t.id).await, 0);
    let mut g = group(&mut ids, &t, "versioned");
    commit(s, vec![Change::InsertGroup(g.clone())])
        .await
        .unwrap();
    let g1 = gv(t.id).await;
    assert_ne!(g1, 0);
    g.display_name = "Renamed group".into();
    commit(s, vec![Change::UpdateGroup(g.clone())])
        .await
        .unwrap();
    let g2 = gv(t.id).await;
    assert_ne!(g2, g1);
    commit(s, vec![Change::DeleteGroup(t.id, g.id)])
        .await
        .unwrap();
    assert_ne!(gv(t.id).await, g2);
    assert_eq!(
        v(t.id).await,
        users_now,
        "a group write moved the users' version"
    );
    assert_eq!(gv(other.id).await, 0);
}

/// Licences: subscriptions and assignments round-trip and are replaced in place (one per SKU,
/// one per principal and SKU); usageLocation round-trips on the user; removing an absent
/// assignment is NotFound and rolls the whole set back; another tenant sees nothing.
pub async fn licenses(s: &dyn Store, seed: u64) {
    use crate::licenses::{LicenseAssignment, Subscription, P1, P2};
    let mut ids = Ids::new(seed);
    let (t, other) = (tenant(&mut ids, "lic"), tenant(&mut ids, "licother"));
    let mut ann = user(&mut ids, &t, "ann", true);
    ann.usage_location = Some("GB".into());
    let g = group(&mut ids, &t, "licensed");
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(ann.clone()),
            Change::InsertGroup(g.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        s.user(t.id, ann.id)
            .await
            .unwrap()
            .unwrap()
            .usage_location
            .as_deref(),
        Some("GB"),
        "usageLocation round-trips"
    );
    let sub = |sku: &str, n: u32| Subscription {
        tenant_id: t.id,
        sku_id: sku.into(),
        enabled: n,
        suspended: 1,
        warning: 2,
    };
    let a = LicenseAssignment {
        tenant_id: t.id,
        principal_id: ann.id,
        sku_id: P2.id.into(),
        disabled_plans: vec!["8a256a2b-b617-496d-b51b-e76466e88db0".into()],
        assigned: Timestamp(1_000),
    };
    let ga = LicenseAssignment {
        principal_id: g.id,
        disabled_plans: vec![],
        ..a.clone()
    };
    commit(
        s,
        vec![
            Change::PutSubscription(sub(P1.id, 5)),
            Change::PutSubscription(sub(P2.id, 3)),
            Change::PutSubscription(sub(P2.id, 7)),
            Change::PutLicenseAssignment(a.clone()),
            Change::PutLicenseAssignment(ga.clone()),
        ],
    )
    .await
    .unwrap();
    let mut subs = s.subscriptions(t.id).await.unwrap();
    subs.sort_by(|x, y| x.sku_id.cmp(&y.sku_id));
    let mut want = vec![sub(P1.id, 5), sub(P2.id, 7)];
    want.sort_by(|x, y| x.sku_id.cmp(&y.sku_id));
    assert_eq!(subs, want, "a subscription is replaced in place");
    let mut got = s.license_assignments(t.id).await.unwrap();
    got.sort_by_key(|x| x.principal_id);
    let mut want = vec![a.clone(), ga.clone()];
    want.sort_by_key(|x| x.principal_id);
    assert_eq!(got, want, "assignments round-trip");
    assert!(s.subscriptions(other.id).await.unwrap().is_empty());
    assert!(s.license_assignments(other.id).await.unwrap().is_empty());
    // A failing removal rolls back the set's other writes.
    let r = commit(
        s,
        vec![
            Change::DeleteLicenseAssignment(t.id, ann.id, P2.id.into()),
            Change::DeleteLicenseAssignment(t.id, ann.id, P1.id.into()),
        ],
    )
    .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    assert_eq!(s.license_assignments(t.id).await.unwrap().len(), 2);
    commit(
        s,
        vec![Change::DeleteLicenseAssignment(t.id, ann.id, P2.id.into())],
    )
    .await
    .unwrap();
    assert_eq!(s.license_assignments(t.id).await.unwrap(), vec![ga]);
}

/// Custom domains: several tenants may hold one *unverified* name, one only may hold it
/// verified (`DomainTaken`, the other tenant unchanged); `tenant_by_domain` finds verified
/// names only; `ReplaceTenant` writes only over the state it expects (`TenantChanged`,
/// `NotFound` for a missing tenant); services and codes round-trip; removing the verified name
/// frees it for another tenant.
pub async fn domains(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let (a, b) = (
        tenant(&mut ids, &format!("doma{seed}")),
        tenant(&mut ids, &format!("domb{seed}")),
    );
    commit(
        s,
        vec![
            Change::InsertTenant(a.clone()),
            Change::InsertTenant(b.clone()),
        ],
    )
    .await
    .unwrap();
    let name = format!("shared{seed}.example");
    let with = |t: &Tenant, verified: bool| {
        let mut n = t.clone();
        n.domains.retain(|d| d.name != name);
        n.domains.push(Domain {
            name: name.clone(),
            is_verified: verified,
            supported_services: vec!["Email".into(), "Intune".into()],
            verification_code: format!("{:08}", seed % 100_000_000),
            ..Default::default()
        });
        n
    };
    let (a1, b1) = (with(&a, false), with(&b, false));
    commit(
        s,
        vec![
            Change::ReplaceTenant(Box::new(a.clone()), Box::new(a1.clone())),
            Change::ReplaceTenant(Box::new(b.clone()), Box::new(b1.clone())),
        ],
    )
    .await
    .expect("two tenants may hold one unverified name");
    assert_eq!(
        s.tenant(a.id).await.unwrap(),
        Some(a1.clone()),
        "round trip"
    );
    assert_eq!(
        s.tenant_by_domain(&name).await.unwrap(),
        None,
        "an unverified name resolves to no tenant"
    );
    let a2 = with(&a1, true);
    commit(
        s,
        vec![Change::ReplaceTenant(
            Box::new(a1.clone()),
            Box::new(a2.clone()),
        )],
    )
    .await
    .unwrap();
    assert_eq!(
        s.tenant_by_domain(&name.to_uppercase())
            .await
            .unwrap()
            .map(|t| t.id),
        Some(a.id),
        "the verified name resolves to its tenant, any case"
    );
    expect_conflict(
        s,
        changes(vec![Change::ReplaceTenant(
            Box::new(b1.clone()),
            Box::new(with(&b1, true)),
        )]),
        UniqueRule::DomainTaken,
        "a name verified in another tenant",
    )
    .await;
    assert_eq!(s.tenant(b.id).await.unwrap(), Some(b1.clone()), "unchanged");
    expect_conflict(
        s,
        changes(vec![Change::ReplaceTenant(
            Box::new(a1.clone()),
            Box::new(a.clone()),
        )]),
        UniqueRule::TenantChanged,
        "a stale expected tenant",
    )
    .await;
    assert_eq!(s.tenant(a.id).await.unwrap(), Some(a2.clone()), "unchanged");
    let ghost = tenant(&mut ids, &format!("domg{seed}"));
    let e = commit(
        s,
        vec![Change::ReplaceTenant(
            Box::new(ghost.clone()),
            Box::new(ghost.clone()),
        )],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    // Removing the name frees it: the other tenant verifies it now.
    let a3 = {
        let mut n = a2.clone();
        n.domains.retain(|d| d.name != name);
        n
    };
    commit(
        s,
        vec![Change::ReplaceTenant(Box::new(a2.clone()), Box::new(a3))],
    )
    .await
    .unwrap();
    commit(
        s,
        vec![Change::ReplaceTenant(
            Box::new(b1.clone()),
            Box::new(with(&b1, true)),
        )],
    )
    .await
    .unwrap();
    assert_eq!(
        s.tenant_by_domain(&name).await.unwrap().map(|t| t.id),
        Some(b.id)
    );

    // Two tenants verifying one fresh name at the same moment: exactly one commits.
    let raced = format!("race{seed}.example");
    let (c, d) = (
        tenant(&mut ids, &format!("domc{seed}")),
        tenant(&mut ids, &format!("domd{seed}")),
    );
    let with_raced = |t: &Tenant, verified: bool| {
        let mut n = t.clone();
        n.domains.retain(|x| x.name != raced);
        n.domains.push(Domain {
            name: raced.clone(),
            is_verified: verified,
            ..Default::default()
        });
        n
    };
    let (c1, d1) = (with_raced(&c, false), with_raced(&d, false));
    commit(
        s,
        vec![
            Change::InsertTenant(c1.clone()),
            Change::InsertTenant(d1.clone()),
        ],
    )
    .await
    .unwrap();
    let (rc, rd) = join(
        commit(
            s,
            vec![Change::ReplaceTenant(
                Box::new(c1.clone()),
                Box::new(with_raced(&c1, true)),
            )],
        ),
        commit(
            s,
            vec![Change::ReplaceTenant(
                Box::new(d1.clone()),
                Box::new(with_raced(&d1, true)),
            )],
        ),
    )
    .await;
    let winner = match (&rc, &rd) {
        (Ok(()), Err(e)) => {
            assert_eq!(e.unique_rule(), Some(UniqueRule::DomainTaken), "{e:?}");
            c.id
        }
        (Err(e), Ok(())) => {
            assert_eq!(e.unique_rule(), Some(UniqueRule::DomainTaken), "{e:?}");
            d.id
        }
        other => panic!("exactly one of two racing verifications must commit: {other:?}"),
    };
    assert_eq!(
        s.tenant_by_domain(&raced).await.unwrap().map(|t| t.id),
        Some(winner)
    );
}

/// Polls two futures together (a race between two commits), without an async runtime crate.
async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    use std::task::Poll;
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    match (ra, rb) {
        (Some(x), Some(y)) => (x, y),
        _ => unreachable!("both futures are ready"),
    }
}

/// Identifier URIs are one namespace across all tenants: a second application holding a URI
/// (same tenant or another, any ASCII case, with or without one trailing slash) is a
/// `Conflict` and changes nothing; `application_by_identifier_uri` finds the holder from any
/// tenant; replacing or deleting the holder frees the URI.
pub async fn identifier_uris_unique_across_tenants(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let (a, b) = (tenant(&mut ids, "urione"), tenant(&mut ids, "uritwo"));
    commit(
        s,
        vec![
            Change::InsertTenant(a.clone()),
            Change::InsertTenant(b.clone()),
        ],
    )
    .await
    .unwrap();
    let mut holder = application(&mut ids, &a);
    let uri = format!("api://{}/orders", a.id);
    holder.identifier_uris = vec![uri.clone()];
    commit(s, vec![Change::InsertApplication(holder.clone())])
        .await
        .unwrap();
    for probe in [uri.clone(), uri.to_uppercase(), format!("{uri}/")] {
        let found = s.application_by_identifier_uri(&probe).await.unwrap();
        assert_eq!(found.map(|x| x.id), Some(holder.id), "lookup by {probe}");
    }
    assert!(s
        .application_by_identifier_uri("api://nobody-holds-this")
        .await
        .unwrap()
        .is_none());
    for (t, spelled) in [(&b, uri.clone()), (&a, format!("{}/", uri.to_uppercase()))] {
        let mut squatter = application(&mut ids, t);
        squatter.identifier_uris = vec![spelled.clone()];
        let mut set = ChangeSet::new();
        set.push(Change::InsertApplication(squatter.clone()));
        expect_conflict(
            s,
            set,
            UniqueRule::IdentifierUriTaken,
            &format!("a second holder of {spelled}"),
        )
        .await;
        assert!(
            s.application(t.id, squatter.id).await.unwrap().is_none(),
            "the refused application was not stored"
        );
    }
    // An update that takes another holder's URI is refused too, and keeps the old document.
    let other = application(&mut ids, &b);
    commit(s, vec![Change::InsertApplication(other.clone())])
        .await
        .unwrap();
    let mut grab = other.clone();
    grab.identifier_uris.push(uri.clone());
    let mut set = ChangeSet::new();
    set.push(Change::ReplaceApplication(
        Box::new(other.clone()),
        Box::new(grab),
    ));
    expect_conflict(
        s,
        set,
        UniqueRule::IdentifierUriTaken,
        "a replace taking a held URI",
    )
    .await;
    assert_eq!(
        s.application(b.id, other.id).await.unwrap().as_ref(),
        Some(&other)
    );
    // Giving the URI up frees it; deleting the application frees its URIs.
    let mut released = holder.clone();
    released.identifier_uris = vec![format!("api://{}", holder.app_id)];
    commit(
        s,
        vec![Change::ReplaceApplication(
            Box::new(holder.clone()),
            Box::new(released.clone()),
        )],
    )
    .await
    .unwrap();
    assert!(s
        .application_by_identifier_uri(&uri)
        .await
        .unwrap()
        .is_none());
    let mut taker = other.clone();
    taker.identifier_uris.push(uri.clone());
    commit(s, vec![Change::UpdateApplication(taker.clone())])
        .await
        .unwrap();
    assert_eq!(
        s.application_by_identifier_uri(&uri)
            .await
            .unwrap()
            .map(|x| x.id),
        Some(other.id)
    );
    commit(s, vec![Change::DeleteApplication(b.id, other.id)])
        .await
        .unwrap();
    assert!(s
        .application_by_identifier_uri(&uri)
        .await
        .unwrap()
        .is_none());
}

/// PIM: schedules, requests (with approval steps and every expiration form) and policies
/// round-trip, replace in place, stay in their tenant, and another tenant's id clashes.
pub async fn pim(s: &dyn Store, seed: u64) {
    use crate::pim::*;
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("pima{seed}"));
    let other = tenant(&mut ids, &format!("pimb{seed}"));
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
        ],
    )
    .await
    .unwrap();
    let role = uuid::Uuid::from_u128(0x62e90394_69f5_4237_9190_012177145e10);
    let mut sched = RoleSchedule {
        id: ids.object(),
        tenant_id: t.id,
        plane: crate::pim::Plane::Directory,
        level: Level::Eligibility,
        principal_id: ids.object(),
        role_definition_id: role,
        directory_scope_id: "/".into(),
        start: Timestamp(1_000),
        end: None,
        assignment_type: AssignmentType::Assigned,
        created_using: ids.object(),
        eligibility_id: None,
        created: Timestamp(1_000),
        modified: Timestamp(1_000),
        end_recorded: false,
    };
    let mut act = RoleSchedule {
        id: ids.object(),
        level: Level::Assignment,
        end: Some(Timestamp(9_000)),
        assignment_type: AssignmentType::Activated,
        eligibility_id: Some(sched.id),
        created: Timestamp(2_000),
        directory_scope_id: format!("/administrativeUnits/{}", ids.object()),
        ..sched.clone()
    };
    let step = ApprovalStep {
        id: ids.object(),
        approvers: vec![ids.object(), ids.object()],
        review_result: "NotReviewed".into(),
        reviewed_by: None,
        reviewed: None,
        justification: None,
    };
    let mut request = RoleScheduleRequest {
        id: ids.object(),
        tenant_id: t.id,
        plane: crate::pim::Plane::Directory,
        level: Level::Assignment,
        action: Action::SelfActivate,
        principal_id: sched.principal_id,
        role_definition_id: role,
        directory_scope_id: "/".into(),
        justification: Some("incident ✓".into()),
        ticket_number: Some("CHG-1".into()),
        ticket_system: None,
        start: Some(Timestamp(3_000)),
        expiration: Expiration::AfterDuration(3_600),
        status: "PendingApproval".into(),
        target_schedule_id: None,
        created_by: sched.principal_id,
        created: Timestamp(3_000),
        completed: None,
        approval: vec![step.clone()],
    };
    let second = RoleScheduleRequest {
        id: ids.object(),
        expiration: Expiration::AfterDateTime(Timestamp(99_000)),
        action: Action::AdminAssign,
        approval: vec![],
        created: Timestamp(4_000),
        ..request.clone()
    };
    let third = RoleScheduleRequest {
        id: ids.object(),
        expiration: Expiration::NoExpiration,
        created: Timestamp(5_000),
        ..second.clone()
    };
    let mut policy = RolePolicy::default_for(t.id, role);
    policy.approval_required = true;
    policy.approvers = vec![Approver {
        is_group: true,
        id: ids.object(),
        description: Some("Approvers".into()),
    }];
    policy.auth_context = Some("c2".into());
    policy.modified = Some(Timestamp(6_000));
    policy.modified_by = Some(ids.object());
    commit(
        s,
        vec![
            Change::PutRoleSchedule(sched.clone()),
            Change::PutRoleSchedule(act.clone()),
            Change::PutRoleScheduleRequest(request.clone()),
            Change::PutRoleScheduleRequest(second.clone()),
            Change::PutRoleScheduleRequest(third.clone()),
            Change::PutRolePolicy(policy.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        s.role_schedules(t.id).await.unwrap(),
        vec![sched.clone(), act.clone()],
        "schedules round-trip, oldest first"
    );
    assert_eq!(
        s.role_schedule_requests(t.id).await.unwrap(),
        vec![request.clone(), second.clone(), third.clone()],
        "requests round-trip with their steps and expirations"
    );
    assert_eq!(s.role_policies(t.id).await.unwrap(), vec![policy.clone()]);
    for (what, empty) in [
        (
            "schedules",
            s.role_schedules(other.id).await.unwrap().is_empty(),
        ),
        (
            "requests",
            s.role_schedule_requests(other.id).await.unwrap().is_empty(),
        ),
        (
            "policies",
            s.role_policies(other.id).await.unwrap().is_empty(),
        ),
    ] {
        assert!(empty, "another tenant sees none of the {what}");
    }
    // Replace in place.
    act.end = Some(Timestamp(5_000));
    act.end_recorded = true;
    sched.end = Some(Timestamp(8_000));
    request.status = "Provisioned".into();
    request.approval[0].review_result = "Approve".into();
    request.approval[0].reviewed_by = Some(ids.object());
    request.approval[0].reviewed = Some(Timestamp(3_500));
    request.target_schedule_id = Some(act.id);
    request.completed = Some(Timestamp(3_500));
    policy.activation_max_secs = 3_600;
    policy.notifications[0].notification_recipients = vec!["a@contoso.test".into()];
    commit(
        s,
        vec![
            Change::PutRoleSchedule(act.clone()),
            Change::PutRoleSchedule(sched.clone()),
            Change::PutRoleScheduleRequest(request.clone()),
            Change::PutRolePolicy(policy.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        s.role_schedules(t.id).await.unwrap(),
        vec![sched.clone(), act.clone()]
    );
    assert_eq!(s.role_schedule_requests(t.id).await.unwrap()[0], request);
    assert_eq!(s.role_policies(t.id).await.unwrap(), vec![policy]);
    // Another tenant's write with the same id clashes, and rolls back its whole set.
    let stolen = RoleSchedule {
        tenant_id: other.id,
        ..act.clone()
    };
    let fresh = RoleSchedule {
        id: ids.object(),
        tenant_id: other.id,
        ..act.clone()
    };
    let e = commit(
        s,
        vec![
            Change::PutRoleSchedule(fresh),
            Change::PutRoleSchedule(stolen),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e, StoreError::conflict(UniqueRule::PimObjectExists));
    assert!(s.role_schedules(other.id).await.unwrap().is_empty());
    assert_eq!(
        s.role_schedules(t.id).await.unwrap(),
        vec![sched.clone(), act]
    );
    // Azure roles (ARM scopes) live apart: each plane's reads see only their own plane.
    let scope = "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/RG1";
    let contributor = uuid::Uuid::from_u128(0xb24988ac_6180_42a0_ab88_20f7382dd24c);
    let arm_sched = RoleSchedule {
        id: ids.object(),
        plane: crate::pim::Plane::Azure,
        role_definition_id: contributor,
        directory_scope_id: scope.into(),
        created: Timestamp(7_000),
        ..sched.clone()
    };
    let arm_request = RoleScheduleRequest {
        id: ids.object(),
        plane: crate::pim::Plane::Azure,
        role_definition_id: contributor,
        directory_scope_id: scope.into(),
        approval: vec![],
        ..request.clone()
    };
    let mut arm_policy = RolePolicy::azure_default_for(t.id, contributor, scope);
    arm_policy.activation_max_secs = 1_800;
    let mut other_scope = RolePolicy::azure_default_for(t.id, contributor, "/subscriptions/x");
    other_scope.activation_max_secs = 900;
    commit(
        s,
        vec![
            Change::PutRoleSchedule(arm_sched.clone()),
            Change::PutRoleScheduleRequest(arm_request.clone()),
            Change::PutRolePolicy(arm_policy.clone()),
            Change::PutRolePolicy(other_scope.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(s.arm_role_schedules(t.id).await.unwrap(), vec![arm_sched]);
    assert_eq!(
        s.arm_role_schedule_requests(t.id).await.unwrap(),
        vec![arm_request]
    );
    let mut got = s.arm_role_policies(t.id).await.unwrap();
    got.sort_by(|a, b| a.scope_id.cmp(&b.scope_id));
    assert_eq!(
        got,
        vec![arm_policy.clone(), other_scope],
        "one policy per scope and role"
    );
    assert_eq!(
        s.role_schedules(t.id).await.unwrap().len(),
        2,
        "directory unchanged"
    );
    assert_eq!(s.role_schedule_requests(t.id).await.unwrap().len(), 3);
    assert_eq!(s.role_policies(t.id).await.unwrap().len(), 1);
    assert!(s.arm_role_schedules(other.id).await.unwrap().is_empty());
    assert!(s.arm_role_policies(other.id).await.unwrap().is_empty());
    // Replacing a policy at the same scope (spelled in another case) keeps one.
    arm_policy.activation_max_secs = 600;
    arm_policy.scope_id = scope.to_ascii_uppercase();
    commit(s, vec![Change::PutRolePolicy(arm_policy.clone())])
        .await
        .unwrap();
    assert_eq!(s.arm_role_policies(t.id).await.unwrap().len(), 2);
    // PIM for groups lives apart too: schedules, requests and per-group policies.
    let group = ids.object();
    let g_sched = RoleSchedule {
        id: ids.object(),
        plane: crate::pim::Plane::Group,
        role_definition_id: crate::pim::GROUP_MEMBER,
        directory_scope_id: group.to_string(),
        created: Timestamp(8_000),
        ..sched.clone()
    };
    let g_request = RoleScheduleRequest {
        id: ids.object(),
        plane: crate::pim::Plane::Group,
        role_definition_id: crate::pim::GROUP_MEMBER,
        directory_scope_id: group.to_string(),
        approval: vec![],
        ..request.clone()
    };
    let mut member_policy = RolePolicy::group_default_for(t.id, group, crate::pim::GROUP_MEMBER);
    member_policy.activation_max_secs = 1_200;
    let owner_policy = RolePolicy::group_default_for(t.id, group, crate::pim::GROUP_OWNER);
    commit(
        s,
        vec![
            Change::PutRoleSchedule(g_sched.clone()),
            Change::PutRoleScheduleRequest(g_request.clone()),
            Change::PutRolePolicy(member_policy.clone()),
            Change::PutRolePolicy(owner_policy.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(s.group_role_schedules(t.id).await.unwrap(), vec![g_sched]);
    assert_eq!(
        s.group_role_schedule_requests(t.id).await.unwrap(),
        vec![g_request]
    );
    let mut got = s.group_role_policies(t.id).await.unwrap();
    got.sort_by_key(|p| p.role_definition_id);
    let mut want = vec![member_policy.clone(), owner_policy];
    want.sort_by_key(|p| p.role_definition_id);
    assert_eq!(got, want, "one policy per group and accessId");
    assert_eq!(
        s.arm_role_schedules(t.id).await.unwrap().len(),
        1,
        "ARM unchanged"
    );
    assert_eq!(
        s.role_schedules(t.id).await.unwrap().len(),
        2,
        "directory unchanged"
    );
    assert!(s.group_role_schedules(other.id).await.unwrap().is_empty());
    assert!(s
        .group_role_schedule_requests(other.id)
        .await
        .unwrap()
        .is_empty());
    assert!(s.group_role_policies(other.id).await.unwrap().is_empty());
    member_policy.activation_max_secs = 600;
    commit(s, vec![Change::PutRolePolicy(member_policy)])
        .await
        .unwrap();
    assert_eq!(s.group_role_policies(t.id).await.unwrap().len(), 2);
}

/// Second-factor attempt counters: absent until written, compare-and-set on the version (a
/// second creator or a stale writer changes nothing, also when two race), per tenant and user,
/// cleared by a reset and deleted with the user.
pub async fn mfa_attempts(s: &dyn Store, seed: u64) {
    use crate::flow::mfa_attempts::MfaAttempts;
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("mfaa{seed}"));
    let other = tenant(&mut ids, &format!("mfab{seed}"));
    let u = user(&mut ids, &t, "mfaa", false);
    let v = user(&mut ids, &t, "mfab", false);
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(u.clone()),
            Change::InsertUser(v.clone()),
        ],
    )
    .await
    .unwrap();
    let a = |failures: u32, at: i64| MfaAttempts {
        failures,
        window_start: Timestamp(at),
        locked_until: Timestamp(at + 60_000),
        lockouts: failures / 5,
        last_attempt: Timestamp(at + 1),
    };
    assert_eq!(s.mfa_attempts(t.id, u.id).await.unwrap(), None);
    assert!(s
        .put_mfa_attempts(t.id, u.id, &a(1, 1_000), None)
        .await
        .unwrap());
    assert!(
        !s.put_mfa_attempts(t.id, u.id, &a(9, 1_000), None)
            .await
            .unwrap(),
        "a second creator loses"
    );
    assert_eq!(
        s.mfa_attempts(t.id, u.id).await.unwrap(),
        Some((a(1, 1_000), 1))
    );
    assert!(s
        .put_mfa_attempts(t.id, u.id, &a(2, 2_000), Some(1))
        .await
        .unwrap());
    assert!(
        !s.put_mfa_attempts(t.id, u.id, &a(7, 2_000), Some(1))
            .await
            .unwrap(),
        "a stale writer loses"
    );
    assert_eq!(
        s.mfa_attempts(t.id, u.id).await.unwrap(),
        Some((a(2, 2_000), 2))
    );
    // Two writers racing on one version: exactly one wins.
    let (x, y) = futures_join(
        s.put_mfa_attempts(t.id, u.id, &a(3, 3_000), Some(2)),
        s.put_mfa_attempts(t.id, u.id, &a(4, 3_000), Some(2)),
    )
    .await;
    assert_eq!(
        [x.unwrap(), y.unwrap()].iter().filter(|w| **w).count(),
        1,
        "exactly one of two racing writers wins"
    );
    let (got, version) = s.mfa_attempts(t.id, u.id).await.unwrap().unwrap();
    assert_eq!(version, 3);
    assert!(got == a(3, 3_000) || got == a(4, 3_000));
    // Per tenant and per user.
    assert_eq!(s.mfa_attempts(other.id, u.id).await.unwrap(), None);
    assert_eq!(s.mfa_attempts(t.id, v.id).await.unwrap(), None);
    assert!(s
        .put_mfa_attempts(t.id, v.id, &a(5, 5_000), None)
        .await
        .unwrap());
    // A reset clears one user's counters; a second reset finds nothing.
    assert!(s.reset_mfa_attempts(t.id, u.id).await.unwrap());
    assert!(!s.reset_mfa_attempts(t.id, u.id).await.unwrap());
    assert_eq!(s.mfa_attempts(t.id, u.id).await.unwrap(), None);
    assert!(s
        .put_mfa_attempts(t.id, u.id, &a(1, 6_000), None)
        .await
        .unwrap());
    assert_eq!(
        s.mfa_attempts(t.id, v.id).await.unwrap(),
        Some((a(5, 5_000), 1))
    );
    // Deleting the user deletes the counters.
    commit(s, vec![Change::DeleteUser(t.id, v.id)])
        .await
        .unwrap();
    assert_eq!(s.mfa_attempts(t.id, v.id).await.unwrap(), None);
    assert!(s.mfa_attempts(t.id, u.id).await.unwrap().is_some());
    // The admin reset is a change committed with its audit record.
    commit(s, vec![Change::ResetMfaAttempts(t.id, u.id)])
        .await
        .unwrap();
    assert_eq!(s.mfa_attempts(t.id, u.id).await.unwrap(), None);
    commit(s, vec![Change::ResetMfaAttempts(t.id, u.id)])
        .await
        .expect("resetting absent counters is not an error");

    // The op over this engine: 32 attempts at once are counted one by one, so exactly the
    // threshold of them may be evaluated and the rest are refused by the lock.
    let w = user(&mut ids, &t, "mfac", false);
    commit(s, vec![Change::InsertUser(w.clone())])
        .await
        .unwrap();
    let now = Timestamp(1_700_000_000_000);
    let attempts: Vec<_> = (0..32)
        .map(|_| crate::ops::auth_methods::begin_mfa_attempt(s, &t, w.id, now))
        .collect();
    let results = join_all(attempts).await;
    let counted = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    let locked = results.iter().filter(|r| matches!(r, Ok(Err(_)))).count();
    assert_eq!(
        (counted, locked),
        (
            crate::flow::mfa_attempts::DEFAULT_RULE.threshold as usize,
            27
        ),
        "{results:?}"
    );
}

/// Polls many futures to completion concurrently (no runtime dependency in core).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, o) in pending.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn device(ids: &mut Ids, t: &Tenant, name: &str, at: i64) -> Device {
    Device {
        id: ids.object(),
        tenant_id: t.id,
        device_id: ids.object().uuid(),
        display_name: name.into(),
        operating_system: DeviceOs::Windows,
        operating_system_version: "10.0.22631".into(),
        trust_type: crate::policy::DeviceTrustType::AzureAd,
        is_compliant: false,
        is_managed: true,
        account_enabled: true,
        public_key: Some(p256_spki(&[4; 65])),
        created: Timestamp(at),
        last_sign_in: None,
    }
}

/// Devices: round trip (by object id and by deviceId), update without touching the sign-in
/// time, the sign-in time without touching the properties, deviceId unique per tenant,
/// registered owners through the owners relation, tenant isolation, delete with its edges.
pub async fn devices(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("dva{seed}"));
    let other = tenant(&mut ids, &format!("dvb{seed}"));
    let u = user(&mut ids, &t, "dvu", false);
    let d = device(&mut ids, &t, "LAPTOP-1", 1_000);
    let mut d2 = device(&mut ids, &t, "PHONE-1", 2_000);
    d2.operating_system = DeviceOs::Ios;
    d2.trust_type = crate::policy::DeviceTrustType::Workplace;
    d2.public_key = None;
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(u.clone()),
            Change::InsertDevice(d.clone()),
            Change::InsertDevice(d2.clone()),
            Change::AddOwner(t.id, d.id, u.id),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        s.device(t.id, d.id).await.unwrap(),
        Some(d.clone()),
        "device round trip"
    );
    assert_eq!(
        s.device(t.id, d2.id).await.unwrap(),
        Some(d2.clone()),
        "keyless device round trip"
    );
    assert_eq!(
        s.device_by_device_id(t.id, d.device_id).await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(s.devices(t.id).await.unwrap(), vec![d.clone(), d2.clone()]);
    assert_eq!(
        s.devices_owned_by(t.id, u.id).await.unwrap(),
        vec![d.clone()]
    );
    assert_eq!(s.owners(t.id, d.id).await.unwrap(), vec![u.id]);
    // Tenant isolation.
    assert_eq!(s.device(other.id, d.id).await.unwrap(), None);
    assert_eq!(
        s.device_by_device_id(other.id, d.device_id).await.unwrap(),
        None
    );
    assert!(s.devices(other.id).await.unwrap().is_empty());
    assert!(s.devices_owned_by(other.id, u.id).await.unwrap().is_empty());
    expect_not_found(
        s,
        vec![Change::DeleteDevice(other.id, d.id)],
        "deleting a device through another tenant",
    )
    .await;
    expect_not_found(
        s,
        vec![Change::TouchDevice(other.id, d.id, Timestamp(5))],
        "touching a device through another tenant",
    )
    .await;
    let mut foreign = d.clone();
    foreign.tenant_id = other.id;
    expect_not_found(
        s,
        vec![Change::UpdateDevice(foreign)],
        "updating a device through another tenant",
    )
    .await;
    // deviceId is unique within a tenant; the failed set changes nothing.
    let mut dup = device(&mut ids, &t, "DUP", 3_000);
    dup.device_id = d.device_id;
    let msg = expect_conflict(
        s,
        changes(vec![Change::InsertDevice(dup.clone())]),
        UniqueRule::DeviceIdTaken,
        "a second device with the same deviceId",
    )
    .await;
    assert!(
        msg.contains("deviceId"),
        "the conflict names deviceId: {msg}"
    );
    assert_eq!(s.device(t.id, dup.id).await.unwrap(), None);
    // ... but another tenant may hold the same deviceId.
    let mut elsewhere = dup.clone();
    elsewhere.tenant_id = other.id;
    commit(s, vec![Change::InsertDevice(elsewhere.clone())])
        .await
        .unwrap();
    assert_eq!(
        s.device_by_device_id(other.id, d.device_id).await.unwrap(),
        Some(elsewhere)
    );
    assert_eq!(
        s.device_by_device_id(t.id, d.device_id).await.unwrap(),
        Some(d.clone())
    );
    // The sign-in time and the properties are written independently.
    commit(s, vec![Change::TouchDevice(t.id, d.id, Timestamp(9_000))])
        .await
        .unwrap();
    let mut changed = d.clone();
    changed.is_compliant = true;
    changed.account_enabled = false;
    changed.last_sign_in = None;
    commit(s, vec![Change::UpdateDevice(changed.clone())])
        .await
        .unwrap();
    let now = s.device(t.id, d.id).await.unwrap().unwrap();
    assert!(now.is_compliant && !now.account_enabled, "update applied");
    assert_eq!(
        now.last_sign_in,
        Some(Timestamp(9_000)),
        "an update keeps the sign-in time"
    );
    // Delete removes the device and its owner edges, not the owner.
    commit(s, vec![Change::DeleteDevice(t.id, d.id)])
        .await
        .unwrap();
    assert_eq!(s.device(t.id, d.id).await.unwrap(), None);
    assert!(s.owners(t.id, d.id).await.unwrap().is_empty());
    assert!(s.devices_owned_by(t.id, u.id).await.unwrap().is_empty());
    assert!(s.user(t.id, u.id).await.unwrap().is_some());
    expect_not_found(
        s,
        vec![Change::DeleteDevice(t.id, d.id)],
        "deleting a deleted device",
    )
    .await;
    // Deleting the owner removes the edge.
    commit(
        s,
        vec![
            Change::AddOwner(t.id, d2.id, u.id),
            Change::DeleteUser(t.id, u.id),
        ],
    )
    .await
    .unwrap();
    assert!(s.owners(t.id, d2.id).await.unwrap().is_empty());
}

/// Identity Protection: risky-user records round-trip, are compare-and-set (a stale or
/// duplicate writer changes nothing), are per tenant, listed newest first and deleted with
/// the user; failed sign-ins are kept per source, read from a time on, and pruned.
pub async fn identity_protection(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("ipa{seed}"));
    let other = tenant(&mut ids, &format!("ipb{seed}"));
    let u = user(&mut ids, &t, "ipa", false);
    let v = user(&mut ids, &t, "ipb", false);
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(u.clone()),
            Change::InsertUser(v.clone()),
        ],
    )
    .await
    .unwrap();
    // The record's `upn` is the marker these checks follow; `rich_risky_user` round-trips
    // every field.
    let rec = |user: ObjectId, at: i64, data: &str| RiskyUserRecord {
        tenant_id: t.id,
        user_id: user,
        version: 0,
        updated: Timestamp(at),
        user: RiskyUser {
            upn: data.into(),
            ..RiskyUser::default()
        },
    };
    assert!(s.risky_user(t.id, u.id).await.unwrap().is_none());
    assert!(s
        .put_risky_user(&rec(u.id, 1_000, "{\"a\":1}"), None)
        .await
        .unwrap());
    // A second creator loses and changes nothing.
    assert!(!s
        .put_risky_user(&rec(u.id, 1_500, "{\"a\":2}"), None)
        .await
        .unwrap());
    let got = s.risky_user(t.id, u.id).await.unwrap().unwrap();
    assert_eq!(
        (got.version, got.updated, got.user.upn.as_str()),
        (1, Timestamp(1_000), "{\"a\":1}")
    );
    // Update at the right version bumps it; a stale version changes nothing.
    assert!(s
        .put_risky_user(&rec(u.id, 2_000, "{\"a\":3}"), Some(1))
        .await
        .unwrap());
    assert!(!s
        .put_risky_user(&rec(u.id, 2_500, "{\"a\":4}"), Some(1))
        .await
        .unwrap());
    let got = s.risky_user(t.id, u.id).await.unwrap().unwrap();
    assert_eq!((got.version, got.user.upn.as_str()), (2, "{\"a\":3}"));
    assert!(s
        .put_risky_user(&rec(v.id, 3_000, "{}"), None)
        .await
        .unwrap());
    let all = s.risky_users(t.id).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.user_id).collect::<Vec<_>>(),
        vec![v.id, u.id]
    );
    assert!(s.risky_users(other.id).await.unwrap().is_empty());
    assert!(s.risky_user(other.id, u.id).await.unwrap().is_none());
    commit(s, vec![Change::DeleteUser(t.id, v.id)])
        .await
        .unwrap();
    assert!(s.risky_user(t.id, v.id).await.unwrap().is_none());
    assert_eq!(s.risky_users(t.id).await.unwrap().len(), 1);

    // In a change set (an administrator's action): the record and its audit record commit
    // together. A stale version loses the compare-and-set and writes neither...
    let mut set = ChangeSet::new();
    set.push(Change::PutRiskyUser(rec(u.id, 4_000, "{\"a\":5}"), Some(1)))
        .audit(audit(&mut ids, &t, "IdentityProtection", 4_000));
    expect_conflict(
        s,
        set,
        UniqueRule::RiskyUserChanged,
        "an admin action over a stale risk record",
    )
    .await;
    let got = s.risky_user(t.id, u.id).await.unwrap().unwrap();
    assert_eq!((got.version, got.user.upn.as_str()), (2, "{\"a\":3}"));
    assert!(
        no_audit(s, t.id).await,
        "a lost risk compare-and-set leaves no audit record"
    );
    // ...and so does a create racing an existing record...
    let mut set = ChangeSet::new();
    set.push(Change::PutRiskyUser(rec(u.id, 4_000, "{}"), None))
        .audit(audit(&mut ids, &t, "IdentityProtection", 4_000));
    expect_conflict(
        s,
        set,
        UniqueRule::RiskyUserChanged,
        "an admin action creating a record that exists",
    )
    .await;
    assert!(no_audit(s, t.id).await);
    // ...while the current version writes both, bumping the version.
    let mut set = ChangeSet::new();
    set.push(Change::PutRiskyUser(rec(u.id, 5_000, "{\"a\":6}"), Some(2)))
        .audit(audit(&mut ids, &t, "IdentityProtection", 5_000));
    s.commit(set).await.unwrap();
    let got = s.risky_user(t.id, u.id).await.unwrap().unwrap();
    assert_eq!(
        (got.version, got.updated, got.user.upn.as_str()),
        (3, Timestamp(5_000), "{\"a\":6}")
    );
    assert!(
        !no_audit(s, t.id).await,
        "the audit record committed with it"
    );
    // Every field of a record survives the store, whatever its layout.
    let rich = rich_risky_user(u.id);
    assert!(s
        .put_risky_user(
            &RiskyUserRecord {
                user: rich.clone(),
                ..rec(u.id, 6_000, "")
            },
            Some(3)
        )
        .await
        .unwrap());
    let got = s.risky_user(t.id, u.id).await.unwrap().unwrap();
    assert_eq!(got.user, rich, "the whole record round-trips");

    let fail = |tid: TenantId, source: &str, name: &str, at: i64| FailedSignInRecord {
        tenant_id: tid,
        source: source.into(),
        ip: source.into(),
        username: name.into(),
        at: Timestamp(at),
    };
    for (i, name) in ["a@x", "b@x", "c@x"].iter().enumerate() {
        s.add_failed_sign_in(
            &fail(t.id, "192.0.2.1", name, 1_000 + i as i64),
            Timestamp(0),
        )
        .await
        .unwrap();
    }
    s.add_failed_sign_in(&fail(t.id, "192.0.2.2", "d@x", 1_500), Timestamp(0))
        .await
        .unwrap();
    s.add_failed_sign_in(&fail(other.id, "192.0.2.1", "e@x", 1_500), Timestamp(0))
        .await
        .unwrap();
    s.add_failed_sign_in(&fail(t.id, "192.0.2.3", "old@x", 500), Timestamp(0))
        .await
        .unwrap();
    let got = s
        .failed_sign_ins(t.id, "192.0.2.1", Timestamp(1_001))
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|f| f.username.as_str()).collect::<Vec<_>>(),
        vec!["b@x", "c@x"]
    );
    assert_eq!(got[0], fail(t.id, "192.0.2.1", "b@x", 1_001));
    // Adding one prunes the tenant's older failures (any source; not other tenants').
    s.add_failed_sign_in(&fail(t.id, "192.0.2.1", "f@x", 5_000), Timestamp(1_002))
        .await
        .unwrap();
    let got = s
        .failed_sign_ins(t.id, "192.0.2.1", Timestamp(0))
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|f| f.username.as_str()).collect::<Vec<_>>(),
        vec!["c@x", "f@x"]
    );
    assert!(s
        .failed_sign_ins(t.id, "192.0.2.3", Timestamp(0))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.failed_sign_ins(t.id, "192.0.2.2", Timestamp(0))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.failed_sign_ins(other.id, "192.0.2.1", Timestamp(0))
            .await
            .unwrap()
            .len(),
        1
    );
}

fn oath(ids: &mut Ids, t: &Tenant, user: ObjectId, at: i64) -> SoftwareOathMethod {
    SoftwareOathMethod {
        id: ids.object(),
        tenant_id: t.id,
        user_id: user,
        display_name: "Authenticator app".into(),
        secret_sealed: vec![0, 1, 2, 250, 255, 7],
        created: Timestamp(at),
        confirmed: false,
        last_used_step: None,
    }
}

/// Software OATH methods and recovery codes: round trip, tenant isolation, confirm once,
/// compare-and-set on the replay guard, delete, and cascade with the user.
pub async fn authentication_methods(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("mfa{seed}"));
    let other = tenant(&mut ids, &format!("mfb{seed}"));
    let u = user(&mut ids, &t, "mfa", false);
    let v = user(&mut ids, &t, "mfb", false);
    let m = oath(&mut ids, &t, u.id, 1_000);
    let m2 = oath(&mut ids, &t, u.id, 2_000);
    let mv = oath(&mut ids, &t, v.id, 1_000);
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(u.clone()),
            Change::InsertUser(v.clone()),
            Change::InsertSoftwareOathMethod(m.clone()),
            Change::InsertSoftwareOathMethod(m2.clone()),
            Change::InsertSoftwareOathMethod(mv.clone()),
            Change::ReplaceRecoveryCodes(t.id, u.id, vec![[1; 32], [2; 32]]),
        ],
    )
    .await
    .unwrap();
    // Round trip, oldest first; only the user's own methods.
    assert_eq!(
        s.software_oath_methods(t.id, u.id).await.unwrap(),
        vec![m.clone(), m2.clone()],
        "software OATH methods round trip"
    );
    assert_eq!(
        s.software_oath_method(t.id, m.id).await.unwrap(),
        Some(m.clone())
    );
    // Tenant isolation.
    assert_eq!(s.software_oath_method(other.id, m.id).await.unwrap(), None);
    assert!(s
        .software_oath_methods(other.id, u.id)
        .await
        .unwrap()
        .is_empty());
    assert!(s.recovery_codes(other.id, u.id).await.unwrap().is_empty());
    expect_not_found(
        s,
        vec![Change::DeleteSoftwareOathMethod(other.id, m.id)],
        "deleting a method through another tenant",
    )
    .await;
    // Duplicate id.
    expect_conflict(
        s,
        ChangeSet {
            changes: vec![Change::InsertSoftwareOathMethod(m.clone())],
            audit: vec![],
        },
        UniqueRule::SoftwareOathMethodExists,
        "a second method with the same id",
    )
    .await;
    // A pending method cannot be used; confirming records the step, once.
    assert!(!s.advance_totp_step(t.id, m.id, 5).await.unwrap());
    commit(s, vec![Change::ConfirmSoftwareOathMethod(t.id, m.id, 10)])
        .await
        .unwrap();
    expect_not_found(
        s,
        vec![Change::ConfirmSoftwareOathMethod(t.id, m.id, 11)],
        "confirming twice",
    )
    .await;
    let got = s.software_oath_method(t.id, m.id).await.unwrap().unwrap();
    assert!(got.confirmed);
    assert_eq!(got.last_used_step, Some(10));
    // Compare-and-set on the replay guard: the same or an older step is refused.
    assert!(!s.advance_totp_step(t.id, m.id, 10).await.unwrap());
    assert!(!s.advance_totp_step(t.id, m.id, 9).await.unwrap());
    assert!(!s.advance_totp_step(other.id, m.id, 12).await.unwrap());
    let (a, b) = futures_join(
        s.advance_totp_step(t.id, m.id, 12),
        s.advance_totp_step(t.id, m.id, 12),
    )
    .await;
    assert!(
        a.unwrap() ^ b.unwrap(),
        "of two concurrent uses of one step exactly one succeeds"
    );
    assert_eq!(
        s.software_oath_method(t.id, m.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_step,
        Some(12)
    );
    // Recovery codes: round trip, used once.
    assert_eq!(
        s.recovery_codes(t.id, u.id).await.unwrap(),
        vec![
            RecoveryCode {
                hash: [1; 32],
                used: false
            },
            RecoveryCode {
                hash: [2; 32],
                used: false
            }
        ]
    );
    assert!(s.use_recovery_code(t.id, u.id, &[2; 32]).await.unwrap());
    assert!(!s.use_recovery_code(t.id, u.id, &[2; 32]).await.unwrap());
    assert!(!s.use_recovery_code(t.id, u.id, &[3; 32]).await.unwrap());
    assert!(!s.use_recovery_code(other.id, u.id, &[1; 32]).await.unwrap());
    assert!(s.recovery_codes(t.id, u.id).await.unwrap()[1].used);
    // Delete one method.
    commit(s, vec![Change::DeleteSoftwareOathMethod(t.id, m2.id)])
        .await
        .unwrap();
    assert_eq!(s.software_oath_methods(t.id, u.id).await.unwrap().len(), 1);
    // Deleting the user removes their methods and codes, and no one else's.
    commit(s, vec![Change::DeleteUser(t.id, u.id)])
        .await
        .unwrap();
    assert!(s
        .software_oath_methods(t.id, u.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.software_oath_method(t.id, m.id).await.unwrap(), None);
    assert!(s.recovery_codes(t.id, u.id).await.unwrap().is_empty());
    assert_eq!(s.software_oath_methods(t.id, v.id).await.unwrap(), vec![mv]);
}

/// Polls two futures to completion concurrently (no runtime dependency in core).
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let mut a = Box::pin(a);
    let mut b = Box::pin(b);
    let mut ra = None;
    let mut rb = None;
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

/// `ReplaceApplication` writes only over the state it expects.
pub async fn application_compare_and_set(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("cas{seed}"));
    let a = application(&mut ids, &t);
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertApplication(a.clone()),
        ],
    )
    .await
    .unwrap();
    let mut b = a.clone();
    b.federated_identity_credentials.clear();
    commit(
        s,
        vec![Change::ReplaceApplication(
            Box::new(a.clone()),
            Box::new(b.clone()),
        )],
    )
    .await
    .unwrap();
    assert_eq!(s.application(t.id, a.id).await.unwrap(), Some(b.clone()));
    // A second writer that read `a` before the first write loses, and changes nothing.
    let mut c = a.clone();
    c.display_name = "stale".into();
    let mut set = ChangeSet::new();
    set.push(Change::ReplaceApplication(Box::new(a.clone()), Box::new(c)))
        .audit(audit(&mut ids, &t, "ApplicationManagement", 5));
    expect_conflict(
        s,
        set,
        UniqueRule::ApplicationChanged,
        "ReplaceApplication over a changed application",
    )
    .await;
    assert_eq!(s.application(t.id, a.id).await.unwrap(), Some(b.clone()));
    assert!(
        no_audit(s, t.id).await,
        "a lost compare-and-set must leave no audit record"
    );
    let mut gone = a.clone();
    gone.id = ids.object();
    expect_not_found(
        s,
        vec![Change::ReplaceApplication(
            Box::new(gone.clone()),
            Box::new(gone),
        )],
        "ReplaceApplication of a missing application",
    )
    .await;
}

pub async fn round_trips(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("rt{seed}"));
    let full = user(&mut ids, &t, "full", true);
    let sparse = user(&mut ids, &t, "sparse", false);
    let g = group(&mut ids, &t, "g");
    let a = application(&mut ids, &t);
    let sp = service_principal(&mut ids, &t, &a);
    let mut full2 = full.clone();
    full2.manager_id = Some(sparse.id);
    // A redeemed B2B guest: every invitation field set.
    let mut guest = user(&mut ids, &t, "guest", false);
    guest.user_type = UserType::Guest;
    guest.external = Some(crate::model::ExternalUser {
        invited_email: "guest@partner.test".into(),
        state: crate::model::ExternalUserState::Accepted,
        state_changed: Timestamp(1_700_000_000_999),
        identities: vec![crate::model::ObjectIdentity {
            sign_in_type: "federated".into(),
            issuer: "ExternalAzureAD".into(),
            issuer_assigned_id: Some("x".into()),
        }],
        home_tenant: Some(ids.tenant()),
        home_object_id: Some(ids.object()),
    });
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertUser(full.clone()),
            Change::InsertUser(sparse.clone()),
            Change::InsertUser(guest.clone()),
            Change::InsertGroup(g.clone()),
            Change::InsertApplication(a.clone()),
            Change::InsertServicePrincipal(sp.clone()),
        ],
    )
    .await
    .unwrap();
    commit(s, vec![Change::UpdateUser(full2.clone())])
        .await
        .unwrap();
    assert_eq!(
        s.tenant(t.id).await.unwrap(),
        Some(t.clone()),
        "tenant round trip"
    );
    assert_eq!(
        s.tenant_by_domain(&t.initial_domain().to_uppercase())
            .await
            .unwrap()
            .map(|x| x.id),
        Some(t.id),
        "domain lookup ignores case"
    );
    assert_eq!(
        s.user(t.id, full.id).await.unwrap(),
        Some(full2.clone()),
        "user with every field"
    );
    assert_eq!(
        s.user(t.id, sparse.id).await.unwrap(),
        Some(sparse.clone()),
        "user with no optional fields"
    );
    assert_eq!(
        s.user(t.id, guest.id).await.unwrap(),
        Some(guest.clone()),
        "a guest with its invitation state, identities and home"
    );
    assert_eq!(
        s.user_by_upn(t.id, &full.user_principal_name.to_uppercase())
            .await
            .unwrap()
            .map(|u| u.id),
        Some(full.id),
        "UPN lookup ignores case"
    );
    assert_eq!(s.users(t.id).await.unwrap().len(), 3);
    assert_eq!(s.group(t.id, g.id).await.unwrap(), Some(g.clone()));
    assert_eq!(
        s.application(t.id, a.id).await.unwrap(),
        Some(a.clone()),
        "application with nested data"
    );
    assert_eq!(
        s.application_by_app_id(a.app_id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        s.service_principal(t.id, sp.id).await.unwrap(),
        Some(sp.clone())
    );
    assert_eq!(
        s.service_principal_by_app_id(t.id, a.app_id).await.unwrap(),
        Some(sp.clone())
    );
    assert_eq!(
        s.object_kind(t.id, full.id).await.unwrap(),
        Some(ObjectKind::User)
    );
    assert_eq!(
        s.object_kind(t.id, g.id).await.unwrap(),
        Some(ObjectKind::Group)
    );
    assert_eq!(
        s.object_kind(t.id, a.id).await.unwrap(),
        Some(ObjectKind::Application)
    );
    assert_eq!(
        s.object_kind(t.id, sp.id).await.unwrap(),
        Some(ObjectKind::ServicePrincipal)
    );
    assert_eq!(s.object_kind(t.id, ids.object()).await.unwrap(), None);
    let grant = OAuth2PermissionGrant {
        id: ids.object(),
        tenant_id: t.id,
        client_id: sp.id,
        consent_type: "Principal".into(),
        principal_id: Some(full.id),
        resource_id: sp.id,
        scope: "a b".into(),
    };
    let role = DirectoryRoleAssignment {
        id: ids.object(),
        tenant_id: t.id,
        principal_id: full.id,
        role_template_id: GLOBAL_ADMINISTRATOR,
        directory_scope_id: "/".into(),
    };
    let ara = AppRoleAssignment {
        id: ids.object(),
        tenant_id: t.id,
        principal_id: full.id,
        principal_type: ObjectKind::User,
        resource_id: sp.id,
        app_role_id: uuid::Uuid::from_u128(10),
        created: Timestamp(9),
    };
    commit(
        s,
        vec![
            Change::InsertPermissionGrant(grant.clone()),
            Change::InsertDirectoryRoleAssignment(role.clone()),
            Change::InsertAppRoleAssignment(ara.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(s.permission_grants(t.id).await.unwrap(), vec![grant]);
    assert_eq!(
        s.directory_role_assignments(t.id).await.unwrap(),
        vec![role]
    );
    assert_eq!(
        s.app_role_assignments_of(t.id, full.id).await.unwrap(),
        vec![ara.clone()]
    );
    assert_eq!(
        s.app_role_assignments_to(t.id, sp.id).await.unwrap(),
        vec![ara]
    );
    let mut t2 = t.clone();
    t2.license = LicenseTier::P2;
    t2.domains.push(Domain {
        name: format!("new{seed}.example"),
        is_initial: false,
        is_default: false,
        is_verified: true,
        ..Default::default()
    });
    commit(s, vec![Change::UpdateTenant(t2.clone())])
        .await
        .unwrap();
    assert_eq!(
        s.tenant_by_domain(&format!("NEW{seed}.example"))
            .await
            .unwrap(),
        Some(t2)
    );
}

pub async fn tenant_isolation(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let a = tenant(&mut ids, &format!("isoa{seed}"));
    let b = tenant(&mut ids, &format!("isob{seed}"));
    let ua = user(&mut ids, &a, "same", true);
    let ub = user(&mut ids, &b, "same", true);
    let ga = group(&mut ids, &a, "g");
    let app = application(&mut ids, &a);
    let spa = service_principal(&mut ids, &a, &app);
    commit(
        s,
        vec![
            Change::InsertTenant(a.clone()),
            Change::InsertTenant(b.clone()),
            Change::InsertUser(ua.clone()),
            Change::InsertUser(ub.clone()),
            Change::InsertGroup(ga.clone()),
            Change::InsertApplication(app.clone()),
            Change::InsertServicePrincipal(spa.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        s.user(b.id, ua.id).await.unwrap(),
        None,
        "a user id from A never resolves in B"
    );
    assert_eq!(
        s.user_by_upn(b.id, &ua.user_principal_name).await.unwrap(),
        None,
        "A's UPN never resolves in B"
    );
    assert_eq!(
        s.users(b.id).await.unwrap(),
        vec![ub],
        "B sees only B's users"
    );
    assert_eq!(s.group(b.id, ga.id).await.unwrap(), None);
    assert!(s.groups(b.id).await.unwrap().is_empty());
    assert_eq!(s.application(b.id, app.id).await.unwrap(), None);
    assert!(s.applications(b.id).await.unwrap().is_empty());
    assert_eq!(s.service_principal(b.id, spa.id).await.unwrap(), None);
    assert_eq!(
        s.service_principal_by_app_id(b.id, app.app_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.object_kind(b.id, ua.id).await.unwrap(), None);
    assert_eq!(s.object_kind(b.id, spa.id).await.unwrap(), None);
    // Updating or deleting A's objects with B's tenant id finds nothing.
    let mut forged = ua.clone();
    forged.tenant_id = b.id;
    assert!(matches!(
        commit(s, vec![Change::UpdateUser(forged)]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        commit(s, vec![Change::DeleteUser(b.id, ua.id)]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.user(a.id, ua.id).await.unwrap().is_some());
    // A domain belongs to one tenant.
    let mut clash = tenant(&mut ids, &format!("isoc{seed}"));
    clash.domains[0].name = a.initial_domain().to_uppercase();
    assert!(matches!(
        commit(s, vec![Change::InsertTenant(clash.clone())]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.tenant(clash.id).await.unwrap(), None);
}

pub async fn atomicity_and_uniqueness(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("atom{seed}"));
    let u = user(&mut ids, &t, "taken", true);
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertUser(u.clone()),
        ],
    )
    .await
    .unwrap();
    let fresh = user(&mut ids, &t, "fresh", true);
    let mut clash = user(&mut ids, &t, "x", true);
    clash.user_principal_name = u.user_principal_name.to_uppercase();
    let rec = audit(&mut ids, &t, "UserManagement", 10);
    let r = s
        .commit(ChangeSet {
            changes: vec![Change::InsertUser(fresh.clone()), Change::InsertUser(clash)],
            audit: vec![rec.clone()],
        })
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "case-insensitive UPN clash is a Conflict: {r:?}"
    );
    assert_eq!(
        s.user(t.id, fresh.id).await.unwrap(),
        None,
        "the earlier change of a failed set is rolled back"
    );
    assert!(
        s.audit_records(t.id, &AuditQuery::default())
            .await
            .unwrap()
            .is_empty(),
        "no audit record for a failed set"
    );
    // Duplicate appId and duplicate service principal per tenant.
    let app = application(&mut ids, &t);
    commit(s, vec![Change::InsertApplication(app.clone())])
        .await
        .unwrap();
    let mut dup = application(&mut ids, &t);
    dup.app_id = app.app_id;
    assert!(matches!(
        commit(s, vec![Change::InsertApplication(dup)]).await,
        Err(StoreError::Conflict(_))
    ));
    let sp = service_principal(&mut ids, &t, &app);
    commit(s, vec![Change::InsertServicePrincipal(sp)])
        .await
        .unwrap();
    let sp2 = service_principal(&mut ids, &t, &app);
    assert!(matches!(
        commit(s, vec![Change::InsertServicePrincipal(sp2)]).await,
        Err(StoreError::Conflict(_))
    ));
    // Updates of missing rows are NotFound.
    let ghost = user(&mut ids, &t, "ghost", true);
    assert!(matches!(
        commit(s, vec![Change::UpdateUser(ghost)]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        commit(s, vec![Change::DeleteAppRoleAssignment(t.id, ids.object())]).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn cascades(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("casc{seed}"));
    let other = tenant(&mut ids, &format!("casd{seed}"));
    let boss = user(&mut ids, &t, "boss", true);
    let mut emp = user(&mut ids, &t, "emp", true);
    emp.manager_id = Some(boss.id);
    let g = group(&mut ids, &t, "g");
    let app = application(&mut ids, &t);
    let sp = service_principal(&mut ids, &t, &app);
    let sp_other = service_principal(&mut ids, &other, &app);
    let ara = AppRoleAssignment {
        id: ids.object(),
        tenant_id: t.id,
        principal_id: boss.id,
        principal_type: ObjectKind::User,
        resource_id: sp.id,
        app_role_id: uuid::Uuid::nil(),
        created: Timestamp(0),
    };
    let grant = OAuth2PermissionGrant {
        id: ids.object(),
        tenant_id: other.id,
        client_id: sp_other.id,
        consent_type: "AllPrincipals".into(),
        principal_id: None,
        resource_id: sp_other.id,
        scope: "x".into(),
    };
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(boss.clone()),
            Change::InsertUser(emp.clone()),
            Change::InsertGroup(g.clone()),
            Change::AddMember(
                t.id,
                Membership {
                    group_id: g.id,
                    member_id: boss.id,
                    member_kind: ObjectKind::User,
                },
            ),
            Change::AddOwner(t.id, g.id, boss.id),
            Change::InsertApplication(app.clone()),
            Change::InsertServicePrincipal(sp.clone()),
            Change::InsertServicePrincipal(sp_other.clone()),
            Change::InsertAppRoleAssignment(ara),
            Change::InsertPermissionGrant(grant),
        ],
    )
    .await
    .unwrap();
    commit(s, vec![Change::DeleteUser(t.id, boss.id)])
        .await
        .unwrap();
    assert!(
        s.memberships(t.id).await.unwrap().is_empty(),
        "user delete removes its memberships"
    );
    assert!(
        s.owners(t.id, g.id).await.unwrap().is_empty(),
        "and its ownerships"
    );
    assert!(
        s.app_role_assignments_to(t.id, sp.id)
            .await
            .unwrap()
            .is_empty(),
        "and its assignments"
    );
    assert_eq!(
        s.user(t.id, emp.id)
            .await
            .unwrap()
            .and_then(|u| u.manager_id),
        None,
        "and manager references to it"
    );
    commit(s, vec![Change::DeleteApplication(t.id, app.id)])
        .await
        .unwrap();
    assert_eq!(
        s.service_principal(t.id, sp.id).await.unwrap(),
        None,
        "app delete removes its SP in the home tenant"
    );
    assert_eq!(
        s.service_principal(other.id, sp_other.id).await.unwrap(),
        None,
        "and in every other tenant"
    );
    assert!(
        s.permission_grants(other.id).await.unwrap().is_empty(),
        "and the grants naming them"
    );
    assert_eq!(s.application_by_app_id(app.app_id).await.unwrap(), None);
    commit(s, vec![Change::DeleteGroup(t.id, g.id)])
        .await
        .unwrap();
    assert_eq!(s.group(t.id, g.id).await.unwrap(), None);
}

pub async fn memberships_and_owners(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("mem{seed}"));
    let g = group(&mut ids, &t, "g");
    let h = group(&mut ids, &t, "h");
    let u = user(&mut ids, &t, "u", true);
    let e1 = Membership {
        group_id: g.id,
        member_id: h.id,
        member_kind: ObjectKind::Group,
    };
    let e2 = Membership {
        group_id: h.id,
        member_id: u.id,
        member_kind: ObjectKind::User,
    };
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertGroup(g.clone()),
            Change::InsertGroup(h.clone()),
            Change::InsertUser(u.clone()),
            Change::AddMember(t.id, e1),
            Change::AddMember(t.id, e2),
        ],
    )
    .await
    .unwrap();
    let mut edges = s.memberships(t.id).await.unwrap();
    edges.sort_by_key(|e| (e.group_id, e.member_id));
    let mut want = vec![e1, e2];
    want.sort_by_key(|e| (e.group_id, e.member_id));
    assert_eq!(edges, want);
    assert_eq!(s.direct_member_of(t.id, u.id).await.unwrap(), vec![h.id]);
    assert_eq!(s.direct_member_of(t.id, h.id).await.unwrap(), vec![g.id]);
    assert!(s.direct_member_of(t.id, g.id).await.unwrap().is_empty());
    assert!(
        matches!(
            commit(s, vec![Change::AddMember(t.id, e1)]).await,
            Err(StoreError::Conflict(_))
        ),
        "duplicate edge"
    );
    assert!(
        matches!(
            commit(s, vec![Change::RemoveMember(t.id, g.id, u.id)]).await,
            Err(StoreError::NotFound(_))
        ),
        "absent edge"
    );
    commit(s, vec![Change::RemoveMember(t.id, h.id, u.id)])
        .await
        .unwrap();
    assert_eq!(s.memberships(t.id).await.unwrap(), vec![e1]);
    commit(s, vec![Change::AddOwner(t.id, g.id, u.id)])
        .await
        .unwrap();
    assert_eq!(s.owners(t.id, g.id).await.unwrap(), vec![u.id]);
    assert!(matches!(
        commit(s, vec![Change::AddOwner(t.id, g.id, u.id)]).await,
        Err(StoreError::Conflict(_))
    ));
    commit(s, vec![Change::RemoveOwner(t.id, g.id, u.id)])
        .await
        .unwrap();
    assert!(matches!(
        commit(s, vec![Change::RemoveOwner(t.id, g.id, u.id)]).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn audit_queries(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("aud{seed}"));
    let other = tenant(&mut ids, &format!("aue{seed}"));
    let r1 = audit(&mut ids, &t, "UserManagement", 1000);
    let mut r2 = audit(&mut ids, &t, "GroupManagement", 2000);
    r2.actor = Actor::User {
        id: ids.object(),
        upn: "admin@x.test".into(),
    };
    r2.targets[0].user_principal_name = Some("target@x.test".into());
    r2.targets[0].modified_properties.push(ModifiedProperty {
        name: "q".into(),
        old_value: Some("old".into()),
        new_value: None,
    });
    let mut r3 = audit(&mut ids, &t, "UserManagement", 3000);
    r3.actor = Actor::Operator;
    r3.targets.clear();
    r3.result = "failure".into();
    r3.result_reason = "why".into();
    let r4 = audit(&mut ids, &other, "UserManagement", 2500);
    s.commit(ChangeSet {
        changes: vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
        ],
        audit: vec![r1.clone(), r2.clone(), r3.clone(), r4],
    })
    .await
    .unwrap();
    let all = s.audit_records(t.id, &AuditQuery::default()).await.unwrap();
    assert_eq!(
        all,
        vec![r3.clone(), r2.clone(), r1.clone()],
        "newest first, this tenant only, every field"
    );
    let users = s
        .audit_records(
            t.id,
            &AuditQuery {
                category: Some("UserManagement".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        users.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![r3.id, r1.id]
    );
    let window = s
        .audit_records(
            t.id,
            &AuditQuery {
                since: Some(Timestamp(1500)),
                until: Some(Timestamp(3000)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(window.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r2.id]);
    let limited = s
        .audit_records(
            t.id,
            &AuditQuery {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        limited.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![r3.id]
    );
}

pub async fn signing_keys(s: &dyn Store, seed: u64) {
    let k = SigningKey {
        kid: format!("kid-{seed}"),
        cert_der: vec![0, 1, 2, 255],
        private_key_sealed: vec![9; 40],
        created: Timestamp(1),
        active_from: Timestamp(2),
        retired_at: None,
        unpublish_at: None,
    };
    commit(s, vec![Change::InsertSigningKey(k.clone())])
        .await
        .unwrap();
    assert!(s.signing_keys().await.unwrap().contains(&k));
    let mut k2 = k.clone();
    k2.retired_at = Some(Timestamp(5));
    k2.unpublish_at = Some(Timestamp(6));
    commit(s, vec![Change::UpdateSigningKey(k2.clone())])
        .await
        .unwrap();
    let keys = s.signing_keys().await.unwrap();
    assert!(keys.contains(&k2) && !keys.contains(&k));
    assert!(matches!(
        commit(s, vec![Change::InsertSigningKey(k2)]).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn expect_not_found(s: &dyn Store, changes: Vec<Change>, what: &str) {
    let r = commit(s, changes).await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "{what}: expected NotFound, got {r:?}"
    );
}

/// Commits `set`, expecting a `Conflict` on `rule`; returns the conflict's message.
async fn expect_conflict(s: &dyn Store, set: ChangeSet, rule: UniqueRule, what: &str) -> String {
    match s.commit(set).await {
        Err(StoreError::Conflict(c)) => {
            assert_eq!(c.rule, rule, "{what}: the conflict names the rule it broke");
            c.to_string()
        }
        other => panic!("{what}: expected Conflict({rule:?}), got {other:?}"),
    }
}

async fn no_audit(s: &dyn Store, t: TenantId) -> bool {
    s.audit_records(t, &AuditQuery::default())
        .await
        .unwrap()
        .is_empty()
}

fn changes(changes: Vec<Change>) -> ChangeSet {
    ChangeSet {
        changes,
        audit: vec![],
    }
}

fn sorted_edges(mut v: Vec<Membership>) -> Vec<Membership> {
    v.sort_by_key(|e| (e.group_id, e.member_id));
    v
}

/// Optional fields as None, empty nested lists, the other enum variants; then updates that
/// replace every field.
pub async fn sparse_round_trips_and_updates(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let mut t = tenant(&mut ids, &format!("sparse{seed}"));
    t.license = LicenseTier::Free;
    t.settings = TenantSettings::default();
    t.domains[0].is_default = false;
    t.domains[1].is_default = true;
    let mut g = group(&mut ids, &t, "sec");
    g.description = None;
    g.group_types = vec![];
    g.mail_enabled = false;
    g.security_enabled = true;
    let mut app = application(&mut ids, &t);
    app.sign_in_audience = SignInAudience::AzureAdMyOrg;
    app.identifier_uris.clear();
    app.web_redirect_uris.clear();
    app.spa_redirect_uris.clear();
    app.public_client_redirect_uris.clear();
    app.is_fallback_public_client = false;
    app.required_resource_access.clear();
    app.oauth2_permission_scopes.clear();
    app.app_roles.clear();
    app.password_credentials.clear();
    let mut sp = service_principal(&mut ids, &t, &app);
    sp.app_owner_tenant_id = None;
    sp.service_principal_type = ServicePrincipalType::ManagedIdentity;
    sp.service_principal_names.clear();
    sp.app_role_assignment_required = false;
    sp.account_enabled = true;
    sp.saml = crate::model::SamlSettings::default();
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertGroup(g.clone()),
            Change::InsertApplication(app.clone()),
            Change::InsertServicePrincipal(sp.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        s.tenant(t.id).await.unwrap(),
        Some(t.clone()),
        "tenant with default settings"
    );
    assert_eq!(
        s.group(t.id, g.id).await.unwrap(),
        Some(g.clone()),
        "group without description or types"
    );
    assert_eq!(
        s.application(t.id, app.id).await.unwrap(),
        Some(app.clone()),
        "application with empty lists"
    );
    assert_eq!(
        s.service_principal(t.id, sp.id).await.unwrap(),
        Some(sp.clone()),
        "managed-identity service principal without owner tenant"
    );

    // Updates replace every field.
    let mut t2 = t.clone();
    t2.display_name = "Renamed".into();
    t2.license = LicenseTier::P2;
    t2.settings.password_policy = PasswordPolicy {
        min_length: 12,
        max_length: 64,
        required_classes: 4,
    };
    let dropped = t2.domains.remove(1);
    let mut g2 = g.clone();
    g2.display_name = "renamed".into();
    g2.description = Some("now described".into());
    g2.group_types = vec!["Unified".into(), "DynamicMembership".into()];
    g2.mail_enabled = true;
    g2.security_enabled = false;
    g2.mail_nickname = "renamed".into();
    g2.membership_rule = Some("user.department -eq \"Sales\"".into());
    g2.membership_rule_processing_state = Some(RuleProcessingState::Paused);
    let mut app2 = application(&mut ids, &t);
    app2.id = app.id;
    app2.app_id = app.app_id;
    app2.sign_in_audience = SignInAudience::AzureAdAndPersonalMicrosoftAccount;
    app2.password_credentials.push(PasswordCredential {
        key_id: uuid::Uuid::from_u128(12),
        display_name: None,
        hint: "xyz".into(),
        secret_sha256: [0xab; 32],
        start: Timestamp(-5),
        end: Timestamp(i64::MAX / 2),
    });
    let mut sp2 = sp.clone();
    sp2.display_name = "renamed SP".into();
    sp2.app_owner_tenant_id = Some(t.id);
    sp2.service_principal_type = ServicePrincipalType::Application;
    sp2.service_principal_names = vec!["a".into(), "b".into()];
    sp2.app_role_assignment_required = true;
    sp2.account_enabled = false;
    commit(
        s,
        vec![
            Change::UpdateTenant(t2.clone()),
            Change::UpdateGroup(g2.clone()),
            Change::UpdateApplication(app2.clone()),
            Change::UpdateServicePrincipal(sp2.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        s.tenant(t.id).await.unwrap(),
        Some(t2.clone()),
        "tenant update"
    );
    assert_eq!(
        s.tenant_by_domain(&dropped.name).await.unwrap(),
        None,
        "a domain removed by UpdateTenant no longer resolves"
    );
    assert!(
        s.tenants().await.unwrap().contains(&t2),
        "tenants() lists it"
    );
    assert_eq!(s.groups(t.id).await.unwrap(), vec![g2], "group update");
    assert_eq!(
        s.applications(t.id).await.unwrap(),
        vec![app2.clone()],
        "application update"
    );
    assert_eq!(
        s.application_by_app_id(app.app_id).await.unwrap(),
        Some(app2),
        "by appId after update"
    );
    assert_eq!(
        s.service_principals(t.id).await.unwrap(),
        vec![sp2],
        "service principal update"
    );

    // A user update clears optional fields and renames; the old UPN is free again.
    let u = user(&mut ids, &t, "before", true);
    commit(s, vec![Change::InsertUser(u.clone())])
        .await
        .unwrap();
    let mut u2 = user(&mut ids, &t, "after", false);
    u2.id = u.id;
    u2.manager_id = Some(ids.object());
    commit(s, vec![Change::UpdateUser(u2.clone())])
        .await
        .unwrap();
    assert_eq!(
        s.user(t.id, u.id).await.unwrap(),
        Some(u2.clone()),
        "user update clears optional fields"
    );
    assert_eq!(
        s.user_by_upn(t.id, &u.user_principal_name).await.unwrap(),
        None,
        "the old UPN no longer resolves"
    );
    assert_eq!(
        s.user_by_upn(t.id, &u2.user_principal_name).await.unwrap(),
        Some(u2),
        "the new UPN resolves"
    );
    let reuse = user(&mut ids, &t, "before", true);
    commit(s, vec![Change::InsertUser(reuse)]).await.unwrap();
}

/// Every read method is scoped: nothing of tenant A is visible through tenant B.
pub async fn isolation_of_every_read(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let a = tenant(&mut ids, &format!("reada{seed}"));
    let b = tenant(&mut ids, &format!("readb{seed}"));
    let u = user(&mut ids, &a, "u", true);
    let g = group(&mut ids, &a, "g");
    let app = application(&mut ids, &a);
    let sp = service_principal(&mut ids, &a, &app);
    let edge = Membership {
        group_id: g.id,
        member_id: u.id,
        member_kind: ObjectKind::User,
    };
    let ara = AppRoleAssignment {
        id: ids.object(),
        tenant_id: a.id,
        principal_id: u.id,
        principal_type: ObjectKind::User,
        resource_id: sp.id,
        app_role_id: uuid::Uuid::from_u128(10),
        created: Timestamp(1),
    };
    let grant = OAuth2PermissionGrant {
        id: ids.object(),
        tenant_id: a.id,
        client_id: sp.id,
        consent_type: "AllPrincipals".into(),
        principal_id: None,
        resource_id: sp.id,
        scope: "User.Read".into(),
    };
    let role = DirectoryRoleAssignment {
        id: ids.object(),
        tenant_id: a.id,
        principal_id: u.id,
        role_template_id: GLOBAL_ADMINISTRATOR,
        directory_scope_id: "/".into(),
    };
    let rec = audit(&mut ids, &a, "UserManagement", 50);
    s.commit(ChangeSet {
        changes: vec![
            Change::InsertTenant(a.clone()),
            Change::InsertTenant(b.clone()),
            Change::InsertUser(u.clone()),
            Change::InsertGroup(g.clone()),
            Change::AddMember(a.id, edge),
            Change::AddOwner(a.id, g.id, u.id),
            Change::InsertApplication(app.clone()),
            Change::InsertServicePrincipal(sp.clone()),
            Change::InsertAppRoleAssignment(ara.clone()),
            Change::InsertPermissionGrant(grant.clone()),
            Change::InsertDirectoryRoleAssignment(role.clone()),
        ],
        audit: vec![rec.clone()],
    })
    .await
    .unwrap();
    // Each read finds the data in A, so the checks on B below fail only if isolation breaks.
    let q = AuditQuery::default();
    assert_eq!(s.memberships(a.id).await.unwrap(), vec![edge]);
    assert_eq!(
        s.direct_member_of(a.id, edge.member_id).await.unwrap(),
        vec![edge.group_id]
    );
    assert_eq!(s.owners(a.id, g.id).await.unwrap(), vec![u.id]);
    assert_eq!(
        s.app_role_assignments_of(a.id, u.id).await.unwrap(),
        vec![ara.clone()]
    );
    assert_eq!(
        s.app_role_assignments_to(a.id, sp.id).await.unwrap(),
        vec![ara.clone()]
    );
    assert_eq!(s.permission_grants(a.id).await.unwrap(), vec![grant]);
    assert_eq!(
        s.directory_role_assignments(a.id).await.unwrap(),
        vec![role]
    );
    assert_eq!(s.audit_records(a.id, &q).await.unwrap(), vec![rec]);

    let by_domain = |d: String| async move { s.tenant_by_domain(&d).await.unwrap().map(|t| t.id) };
    assert_eq!(
        by_domain(a.initial_domain().into()).await,
        Some(a.id),
        "A's domain names A"
    );
    assert_eq!(
        by_domain(b.initial_domain().into()).await,
        Some(b.id),
        "B's domain names B"
    );
    assert_eq!(
        by_domain(format!("nowhere{seed}.test")).await,
        None,
        "unknown domain"
    );
    assert_eq!(s.user(b.id, u.id).await.unwrap(), None, "user");
    assert_eq!(
        s.user_by_upn(b.id, &u.user_principal_name).await.unwrap(),
        None,
        "user_by_upn"
    );
    assert!(s.users(b.id).await.unwrap().is_empty(), "users");
    assert_eq!(s.group(b.id, g.id).await.unwrap(), None, "group");
    assert!(s.groups(b.id).await.unwrap().is_empty(), "groups");
    assert!(s.memberships(b.id).await.unwrap().is_empty(), "memberships");
    assert!(
        s.direct_member_of(b.id, edge.member_id)
            .await
            .unwrap()
            .is_empty(),
        "direct_member_of"
    );
    assert!(s.owners(b.id, g.id).await.unwrap().is_empty(), "owners");
    for id in [u.id, g.id, app.id, sp.id] {
        assert_eq!(s.object_kind(b.id, id).await.unwrap(), None, "object_kind");
    }
    assert_eq!(
        s.application(b.id, app.id).await.unwrap(),
        None,
        "application"
    );
    assert!(
        s.applications(b.id).await.unwrap().is_empty(),
        "applications"
    );
    assert_eq!(
        s.service_principal(b.id, sp.id).await.unwrap(),
        None,
        "service_principal"
    );
    assert_eq!(
        s.service_principal_by_app_id(b.id, app.app_id)
            .await
            .unwrap(),
        None,
        "service_principal_by_app_id"
    );
    assert!(
        s.service_principals(b.id).await.unwrap().is_empty(),
        "service_principals"
    );
    assert!(
        s.app_role_assignments_of(b.id, u.id)
            .await
            .unwrap()
            .is_empty(),
        "app_role_assignments_of"
    );
    assert!(
        s.app_role_assignments_to(b.id, sp.id)
            .await
            .unwrap()
            .is_empty(),
        "app_role_assignments_to"
    );
    assert!(
        s.permission_grants(b.id).await.unwrap().is_empty(),
        "permission_grants"
    );
    assert!(
        s.directory_role_assignments(b.id).await.unwrap().is_empty(),
        "directory_role_assignments"
    );
    assert!(
        s.audit_records(b.id, &q).await.unwrap().is_empty(),
        "audit_records"
    );
    // Applications are global blueprints: found by appId from anywhere.
    assert_eq!(
        s.application_by_app_id(app.app_id).await.unwrap(),
        Some(app.clone())
    );

    // Writes naming A's objects under B's tenant id find nothing and change nothing.
    let mut g_b = g.clone();
    g_b.tenant_id = b.id;
    let mut app_b = app.clone();
    app_b.tenant_id = b.id;
    let mut sp_b = sp.clone();
    sp_b.tenant_id = b.id;
    for (what, c) in [
        ("RemoveMember", Change::RemoveMember(b.id, g.id, u.id)),
        ("RemoveOwner", Change::RemoveOwner(b.id, g.id, u.id)),
        ("DeleteGroup", Change::DeleteGroup(b.id, g.id)),
        ("UpdateGroup", Change::UpdateGroup(g_b)),
        ("DeleteApplication", Change::DeleteApplication(b.id, app.id)),
        ("UpdateApplication", Change::UpdateApplication(app_b)),
        (
            "DeleteServicePrincipal",
            Change::DeleteServicePrincipal(b.id, sp.id),
        ),
        (
            "UpdateServicePrincipal",
            Change::UpdateServicePrincipal(sp_b),
        ),
        (
            "DeleteAppRoleAssignment",
            Change::DeleteAppRoleAssignment(b.id, ara.id),
        ),
    ] {
        expect_not_found(s, vec![c], &format!("{what} across tenants")).await;
    }
    assert_eq!(
        s.memberships(a.id).await.unwrap(),
        vec![edge],
        "A's edge survives"
    );
    assert_eq!(
        s.owners(a.id, g.id).await.unwrap(),
        vec![u.id],
        "A's owner survives"
    );
    assert_eq!(
        s.group(a.id, g.id).await.unwrap(),
        Some(g),
        "A's group unchanged"
    );
    assert_eq!(
        s.application(a.id, app.id).await.unwrap(),
        Some(app),
        "A's app unchanged"
    );
    assert_eq!(
        s.service_principal(a.id, sp.id).await.unwrap(),
        Some(sp),
        "A's SP unchanged"
    );
    assert_eq!(
        s.app_role_assignments_of(a.id, u.id).await.unwrap(),
        vec![ara],
        "A's assignment survives"
    );
}

/// Any failing change rolls back the whole set, audit records included.
pub async fn rollback_of_every_failure(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("roll{seed}"));
    let u = user(&mut ids, &t, "taken", true);
    let v = user(&mut ids, &t, "v", true);
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertUser(u.clone()),
            Change::InsertUser(v.clone()),
        ],
    )
    .await
    .unwrap();

    // The Conflict names what clashed.
    let mut clash = user(&mut ids, &t, "other", true);
    clash.user_principal_name = u.user_principal_name.to_uppercase();
    let m = expect_conflict(
        s,
        changes(vec![Change::InsertUser(clash)]),
        UniqueRule::UpnTaken,
        "UPN clash",
    )
    .await;
    assert!(
        m.to_lowercase()
            .contains(&u.user_principal_name.to_lowercase()),
        "the Conflict message names the UPN: {m}"
    );
    // Renaming onto a taken UPN (any case) is a Conflict too, and changes nothing.
    let mut v2 = v.clone();
    v2.user_principal_name = u.user_principal_name.to_uppercase();
    v2.display_name = "changed".into();
    expect_conflict(
        s,
        changes(vec![Change::UpdateUser(v2)]),
        UniqueRule::UpnTaken,
        "rename onto a taken UPN",
    )
    .await;
    assert_eq!(
        s.user(t.id, v.id).await.unwrap(),
        Some(v.clone()),
        "failed update leaves the user"
    );

    // NotFound as the last change: every earlier change and the audit record are rolled back.
    let g = group(&mut ids, &t, "g");
    let fresh = user(&mut ids, &t, "fresh", true);
    let mut v3 = v.clone();
    v3.display_name = "changed".into();
    let r = s
        .commit(ChangeSet {
            changes: vec![
                Change::InsertGroup(g.clone()),
                Change::InsertUser(fresh.clone()),
                Change::UpdateUser(v3),
                Change::AddOwner(t.id, g.id, fresh.id),
                Change::RemoveMember(t.id, g.id, fresh.id),
            ],
            audit: vec![audit(&mut ids, &t, "GroupManagement", 1)],
        })
        .await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "absent edge: {r:?}"
    );
    assert_eq!(
        s.group(t.id, g.id).await.unwrap(),
        None,
        "inserted group rolled back"
    );
    assert_eq!(
        s.user(t.id, fresh.id).await.unwrap(),
        None,
        "inserted user rolled back"
    );
    assert_eq!(
        s.user(t.id, v.id).await.unwrap(),
        Some(v.clone()),
        "update rolled back"
    );
    assert!(
        s.owners(t.id, g.id).await.unwrap().is_empty(),
        "owner rolled back"
    );
    assert!(no_audit(s, t.id).await, "no audit record for a failed set");

    // Duplicate edge after valid changes.
    let edge = Membership {
        group_id: g.id,
        member_id: u.id,
        member_kind: ObjectKind::User,
    };
    expect_conflict(
        s,
        ChangeSet {
            changes: vec![
                Change::InsertGroup(g.clone()),
                Change::AddMember(t.id, edge),
                Change::AddMember(t.id, edge),
            ],
            audit: vec![audit(&mut ids, &t, "GroupManagement", 2)],
        },
        UniqueRule::MembershipExists,
        "duplicate edge in one set",
    )
    .await;
    assert_eq!(
        s.group(t.id, g.id).await.unwrap(),
        None,
        "group rolled back"
    );
    assert!(
        s.memberships(t.id).await.unwrap().is_empty(),
        "edge rolled back"
    );
    assert!(no_audit(s, t.id).await, "no audit record for a failed set");

    // A domain another tenant owns: UpdateTenant fails and leaves the tenant as it was.
    let other = tenant(&mut ids, &format!("rolo{seed}"));
    commit(s, vec![Change::InsertTenant(other.clone())])
        .await
        .unwrap();
    let mut t2 = t.clone();
    t2.display_name = "changed".into();
    t2.domains.push(Domain {
        name: other.initial_domain().to_uppercase(),
        is_initial: false,
        is_default: false,
        is_verified: true,
        ..Default::default()
    });
    expect_conflict(
        s,
        changes(vec![Change::UpdateTenant(t2)]),
        UniqueRule::DomainTaken,
        "domain of another tenant",
    )
    .await;
    assert_eq!(
        s.tenant(t.id).await.unwrap(),
        Some(t.clone()),
        "tenant unchanged"
    );
    assert_eq!(
        s.tenant_by_domain(other.initial_domain())
            .await
            .unwrap()
            .map(|x| x.id),
        Some(other.id),
        "the domain still names its owner"
    );
    assert_eq!(
        s.tenant_by_domain(t.initial_domain())
            .await
            .unwrap()
            .map(|x| x.id),
        Some(t.id),
        "the tenant keeps its own domains"
    );

    // Same principal, resource and role twice.
    let app = application(&mut ids, &t);
    let sp = service_principal(&mut ids, &t, &app);
    let ara = AppRoleAssignment {
        id: ids.object(),
        tenant_id: t.id,
        principal_id: u.id,
        principal_type: ObjectKind::User,
        resource_id: sp.id,
        app_role_id: uuid::Uuid::from_u128(10),
        created: Timestamp(3),
    };
    commit(
        s,
        vec![
            Change::InsertApplication(app),
            Change::InsertServicePrincipal(sp.clone()),
            Change::InsertAppRoleAssignment(ara.clone()),
        ],
    )
    .await
    .unwrap();
    let mut again = ara.clone();
    again.id = ids.object();
    expect_conflict(
        s,
        changes(vec![Change::InsertAppRoleAssignment(again)]),
        UniqueRule::AppRoleAssignmentExists,
        "duplicate app role assignment",
    )
    .await;
    assert_eq!(
        s.app_role_assignments_to(t.id, sp.id).await.unwrap(),
        vec![ara]
    );
}

/// Group and service-principal deletes remove everything naming them, and nothing else.
pub async fn cascades_of_groups_and_service_principals(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("casg{seed}"));
    let u = user(&mut ids, &t, "u", true);
    let g = group(&mut ids, &t, "parent");
    let h = group(&mut ids, &t, "child");
    let app = application(&mut ids, &t);
    let sp = service_principal(&mut ids, &t, &app);
    let client_app = application(&mut ids, &t);
    let client = service_principal(&mut ids, &t, &client_app);
    let edge = |g: ObjectId, m: ObjectId, k| Membership {
        group_id: g,
        member_id: m,
        member_kind: k,
    };
    let (g_h, h_u, g_client) = (
        edge(g.id, h.id, ObjectKind::Group),
        edge(h.id, u.id, ObjectKind::User),
        edge(g.id, client.id, ObjectKind::ServicePrincipal),
    );
    let mut ara = |principal: ObjectId, kind, resource: ObjectId| AppRoleAssignment {
        id: ids.object(),
        tenant_id: t.id,
        principal_id: principal,
        principal_type: kind,
        resource_id: resource,
        app_role_id: uuid::Uuid::nil(),
        created: Timestamp(0),
    };
    let held_by_h = ara(h.id, ObjectKind::Group, sp.id);
    let held_by_client = ara(client.id, ObjectKind::ServicePrincipal, sp.id);
    let on_client = ara(u.id, ObjectKind::User, client.id);
    let grant = OAuth2PermissionGrant {
        id: ids.object(),
        tenant_id: t.id,
        client_id: client.id,
        consent_type: "Principal".into(),
        principal_id: Some(u.id),
        resource_id: sp.id,
        scope: "access".into(),
    };
    let role_u = DirectoryRoleAssignment {
        id: ids.object(),
        tenant_id: t.id,
        principal_id: u.id,
        role_template_id: GLOBAL_ADMINISTRATOR,
        directory_scope_id: "/".into(),
    };
    let role_client = DirectoryRoleAssignment {
        id: ids.object(),
        tenant_id: t.id,
        principal_id: client.id,
        role_template_id: GLOBAL_ADMINISTRATOR,
        directory_scope_id: "/".into(),
    };
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertUser(u.clone()),
            Change::InsertGroup(g.clone()),
            Change::InsertGroup(h.clone()),
            Change::InsertApplication(app.clone()),
            Change::InsertServicePrincipal(sp.clone()),
            Change::InsertApplication(client_app.clone()),
            Change::InsertServicePrincipal(client.clone()),
            Change::AddMember(t.id, g_h),
            Change::AddMember(t.id, h_u),
            Change::AddMember(t.id, g_client),
            Change::AddOwner(t.id, h.id, u.id),
            Change::AddOwner(t.id, app.id, u.id),
            Change::InsertAppRoleAssignment(held_by_h.clone()),
            Change::InsertAppRoleAssignment(held_by_client.clone()),
            Change::InsertAppRoleAssignment(on_client.clone()),
            Change::InsertPermissionGrant(grant),
            Change::InsertDirectoryRoleAssignment(role_u.clone()),
            Change::InsertDirectoryRoleAssignment(role_client),
        ],
    )
    .await
    .unwrap();

    commit(s, vec![Change::DeleteGroup(t.id, h.id)])
        .await
        .unwrap();
    assert_eq!(s.group(t.id, h.id).await.unwrap(), None, "group deleted");
    assert_eq!(
        sorted_edges(s.memberships(t.id).await.unwrap()),
        vec![g_client],
        "group delete removes its edges as group and as member, and no others"
    );
    assert!(
        s.owners(t.id, h.id).await.unwrap().is_empty(),
        "and its owners"
    );
    assert!(
        s.app_role_assignments_of(t.id, h.id)
            .await
            .unwrap()
            .is_empty(),
        "and its assignments"
    );
    assert_eq!(
        s.app_role_assignments_to(t.id, sp.id).await.unwrap(),
        vec![held_by_client.clone()],
        "others' assignments stay"
    );
    assert_eq!(
        s.owners(t.id, app.id).await.unwrap(),
        vec![u.id],
        "other ownerships stay"
    );
    assert!(
        s.user(t.id, u.id).await.unwrap().is_some(),
        "members are not deleted"
    );

    commit(s, vec![Change::DeleteServicePrincipal(t.id, client.id)])
        .await
        .unwrap();
    assert_eq!(
        s.service_principal(t.id, client.id).await.unwrap(),
        None,
        "SP deleted"
    );
    assert!(
        s.memberships(t.id).await.unwrap().is_empty(),
        "SP delete removes its memberships"
    );
    assert!(
        s.app_role_assignments_to(t.id, sp.id)
            .await
            .unwrap()
            .is_empty(),
        "and assignments it holds"
    );
    assert!(
        s.app_role_assignments_to(t.id, client.id)
            .await
            .unwrap()
            .is_empty(),
        "and assignments on it"
    );
    assert!(
        s.app_role_assignments_of(t.id, u.id)
            .await
            .unwrap()
            .is_empty(),
        "(seen from the holder too)"
    );
    assert!(
        s.permission_grants(t.id).await.unwrap().is_empty(),
        "and grants naming it"
    );
    assert_eq!(
        s.directory_role_assignments(t.id).await.unwrap(),
        vec![role_u],
        "and its directory roles"
    );
    assert_eq!(
        s.application_by_app_id(client_app.app_id).await.unwrap(),
        Some(client_app),
        "deleting a service principal keeps its application"
    );

    commit(s, vec![Change::DeleteUser(t.id, u.id)])
        .await
        .unwrap();
    assert!(
        s.directory_role_assignments(t.id).await.unwrap().is_empty(),
        "user delete removes its directory roles"
    );
    assert!(
        s.owners(t.id, app.id).await.unwrap().is_empty(),
        "and its ownership of an application"
    );

    commit(s, vec![Change::AddOwner(t.id, app.id, g.id)])
        .await
        .unwrap();
    commit(s, vec![Change::DeleteApplication(t.id, app.id)])
        .await
        .unwrap();
    assert!(
        s.owners(t.id, app.id).await.unwrap().is_empty(),
        "application delete removes its owners"
    );
    assert_eq!(s.object_kind(t.id, app.id).await.unwrap(), None);
    assert_eq!(s.object_kind(t.id, sp.id).await.unwrap(), None);
    assert_eq!(
        s.object_kind(t.id, g.id).await.unwrap(),
        Some(ObjectKind::Group),
        "unrelated objects stay"
    );
}

/// Updating or deleting something absent is NotFound, for every such change.
pub async fn not_found_rules(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("nf{seed}"));
    commit(s, vec![Change::InsertTenant(t.clone())])
        .await
        .unwrap();
    let ghost_tenant = tenant(&mut ids, &format!("nfghost{seed}"));
    let ghost_app = application(&mut ids, &t);
    let ghost_key = SigningKey {
        kid: format!("ghost-{seed}"),
        cert_der: vec![1],
        private_key_sealed: vec![2],
        created: Timestamp(1),
        active_from: Timestamp(1),
        retired_at: None,
        unpublish_at: None,
    };
    let cases = vec![
        ("UpdateTenant", Change::UpdateTenant(ghost_tenant.clone())),
        (
            "UpdateUser",
            Change::UpdateUser(user(&mut ids, &t, "ghost", true)),
        ),
        ("DeleteUser", Change::DeleteUser(t.id, ids.object())),
        (
            "UpdateGroup",
            Change::UpdateGroup(group(&mut ids, &t, "ghost")),
        ),
        ("DeleteGroup", Change::DeleteGroup(t.id, ids.object())),
        (
            "RemoveMember",
            Change::RemoveMember(t.id, ids.object(), ids.object()),
        ),
        (
            "RemoveOwner",
            Change::RemoveOwner(t.id, ids.object(), ids.object()),
        ),
        (
            "UpdateApplication",
            Change::UpdateApplication(ghost_app.clone()),
        ),
        (
            "DeleteApplication",
            Change::DeleteApplication(t.id, ghost_app.id),
        ),
        (
            "UpdateServicePrincipal",
            Change::UpdateServicePrincipal(service_principal(&mut ids, &t, &ghost_app)),
        ),
        (
            "DeleteServicePrincipal",
            Change::DeleteServicePrincipal(t.id, ids.object()),
        ),
        (
            "DeleteAppRoleAssignment",
            Change::DeleteAppRoleAssignment(t.id, ids.object()),
        ),
        (
            "UpdateSigningKey",
            Change::UpdateSigningKey(ghost_key.clone()),
        ),
    ];
    for (what, c) in cases {
        expect_not_found(s, vec![c], &format!("{what} of something absent")).await;
    }
    assert_eq!(
        s.tenant(ghost_tenant.id).await.unwrap(),
        None,
        "no upsert of a tenant"
    );
    assert_eq!(
        s.tenant_by_domain(ghost_tenant.initial_domain())
            .await
            .unwrap(),
        None,
        "nor of its domains"
    );
    assert_eq!(
        s.application_by_app_id(ghost_app.app_id).await.unwrap(),
        None,
        "no upsert of an application"
    );
    assert!(
        !s.signing_keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.kid == ghost_key.kid),
        "no upsert of a key"
    );
}

fn grant(ids: &mut Ids, t: &Tenant, kind: GrantKind, handle: &str, family: Option<&str>) -> Grant {
    Grant {
        handle: format!("{handle}-{}", ids.object()),
        kind,
        tenant_id: t.id,
        family: family.map(str::to_string),
        user_id: None,
        lookup: None,
        state: GrantState::Active,
        created: Timestamp(1_000),
        expires: Timestamp(100_000),
        attrs: vec![
            ("client_id".into(), "c".into()),
            ("scope".into(), "a b".into()),
        ],
    }
}

/// Grants: round trip, unique handles and lookups, compare-and-set transitions (exactly one of
/// two redemptions wins), bulk revocation by family and by user, purge; sign-ins round trip,
/// newest first, per tenant.
pub async fn grants_and_sign_ins(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("gr{seed}"));
    let other = tenant(&mut ids, &format!("gs{seed}"));
    let u = user(&mut ids, &t, "g", true);
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(u.clone()),
        ],
    )
    .await
    .unwrap();

    let mut code = grant(&mut ids, &t, GrantKind::Code, "code", Some("fam1"));
    code.user_id = Some(u.id);
    s.insert_grant(&code).await.unwrap();
    assert_eq!(s.grant(&code.handle).await.unwrap().as_ref(), Some(&code));
    assert!(s.grant("absent").await.unwrap().is_none());
    assert!(
        matches!(s.insert_grant(&code).await, Err(StoreError::Conflict(_))),
        "a second insert of the same handle (a replayed jti) is a Conflict"
    );

    // Compare-and-set: the first redemption wins, the second sees false and changes nothing.
    let mut used = code.clone();
    used.state = GrantState::Used;
    used.set("redeemed", "1");
    assert!(s.update_grant(GrantState::Active, &used).await.unwrap());
    let mut again = code.clone();
    again.state = GrantState::Used;
    again.set("redeemed", "2");
    assert!(!s.update_grant(GrantState::Active, &again).await.unwrap());
    assert_eq!(
        s.grant(&code.handle)
            .await
            .unwrap()
            .unwrap()
            .attr("redeemed"),
        Some("1")
    );

    // The same compare-and-set inside a change set (a reviewed consent request): the state
    // change and its audit record commit together; a lost race writes neither.
    let mut req = grant(&mut ids, &t, GrantKind::ConsentRequest, "req", None);
    req.user_id = Some(u.id);
    s.insert_grant(&req).await.unwrap();
    let mut reviewed = req.clone();
    reviewed.state = GrantState::Used;
    reviewed.set("status", "Approved");
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGrant(GrantState::Pending, reviewed.clone()))
        .audit(audit(&mut ids, &t, "ApplicationManagement", 10));
    expect_conflict(
        s,
        set,
        UniqueRule::GrantChanged,
        "a change-set CAS from the wrong state",
    )
    .await;
    assert_eq!(s.grant(&req.handle).await.unwrap().as_ref(), Some(&req));
    assert!(
        no_audit(s, t.id).await,
        "a lost grant CAS leaves no audit record"
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGrant(GrantState::Active, reviewed.clone()))
        .audit(audit(&mut ids, &t, "ApplicationManagement", 11));
    s.commit(set).await.unwrap();
    assert_eq!(
        s.grant(&req.handle).await.unwrap().as_ref(),
        Some(&reviewed)
    );
    assert!(
        !no_audit(s, t.id).await,
        "the audit record committed with it"
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGrant(GrantState::Active, reviewed.clone()));
    expect_conflict(
        s,
        set,
        UniqueRule::GrantChanged,
        "a second review of the same request",
    )
    .await;

    // A refresh rotation: spending the presented token and storing its successor is one
    // change set. A lost compare-and-set stores no successor; a taken successor handle spends
    // nothing.
    let rt = grant(&mut ids, &t, GrantKind::Refresh, "rt1", Some("famR"));
    s.insert_grant(&rt).await.unwrap();
    let mut spent = rt.clone();
    spent.state = GrantState::Used;
    let next = grant(&mut ids, &t, GrantKind::Refresh, "rt2", Some("famR"));
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGrant(GrantState::Used, spent.clone()))
        .push(Change::InsertGrant(next.clone()));
    expect_conflict(s, set, UniqueRule::GrantChanged, "a rotation that lost").await;
    assert!(
        s.grant(&next.handle).await.unwrap().is_none(),
        "a lost rotation stores no successor"
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGrant(GrantState::Active, spent.clone()))
        .push(Change::InsertGrant(code.clone()));
    expect_conflict(
        s,
        set,
        UniqueRule::GrantExists,
        "a successor whose handle is taken",
    )
    .await;
    assert_eq!(s.grant(&rt.handle).await.unwrap().as_ref(), Some(&rt));
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGrant(GrantState::Active, spent.clone()))
        .push(Change::InsertGrant(next.clone()));
    s.commit(set).await.unwrap();
    assert_eq!(s.grant(&rt.handle).await.unwrap().as_ref(), Some(&spent));
    assert_eq!(s.grant(&next.handle).await.unwrap().as_ref(), Some(&next));

    // The same through `rotate_grant` (which a store may do in fewer round trips).
    let mut next_spent = next.clone();
    next_spent.state = GrantState::Used;
    let third = grant(&mut ids, &t, GrantKind::Refresh, "rt3", Some("famR"));
    assert!(
        !s.rotate_grant(GrantState::Pending, next_spent.clone(), Some(third.clone()))
            .await
            .unwrap(),
        "a rotation from the wrong state loses"
    );
    assert!(s.grant(&third.handle).await.unwrap().is_none());
    assert_eq!(s.grant(&next.handle).await.unwrap().as_ref(), Some(&next));
    assert!(
        matches!(
            s.rotate_grant(GrantState::Active, next_spent.clone(), Some(rt.clone()))
                .await,
            Err(StoreError::Conflict(c)) if c.rule == UniqueRule::GrantExists
        ),
        "a successor whose handle is taken"
    );
    assert_eq!(
        s.grant(&next.handle).await.unwrap().as_ref(),
        Some(&next),
        "a rotation whose insert failed spends nothing"
    );
    assert!(s
        .rotate_grant(GrantState::Active, next_spent.clone(), Some(third.clone()))
        .await
        .unwrap());
    assert_eq!(
        s.grant(&next.handle).await.unwrap().as_ref(),
        Some(&next_spent)
    );
    assert_eq!(s.grant(&third.handle).await.unwrap().as_ref(), Some(&third));
    assert!(
        !s.rotate_grant(GrantState::Active, next_spent.clone(), None)
            .await
            .unwrap(),
        "a second spend loses"
    );
    let mut third_spent = third.clone();
    third_spent.state = GrantState::Used;
    assert!(s
        .rotate_grant(GrantState::Active, third_spent.clone(), None)
        .await
        .unwrap());
    assert_eq!(
        s.grant(&third.handle).await.unwrap().as_ref(),
        Some(&third_spent)
    );
    // The store still takes writes after the failed script (its transaction was closed).
    let fourth = grant(&mut ids, &t, GrantKind::Refresh, "rt4", Some("famR"));
    s.insert_grant(&fourth).await.unwrap();

    // Device codes are found by their user code; user codes are unique per kind.
    let mut dev = grant(&mut ids, &t, GrantKind::Device, "dev", None);
    dev.lookup = Some(format!("UC{seed}"));
    dev.state = GrantState::Pending;
    s.insert_grant(&dev).await.unwrap();
    assert_eq!(
        s.grant_by_lookup(GrantKind::Device, &format!("UC{seed}"))
            .await
            .unwrap()
            .map(|g| g.handle),
        Some(dev.handle.clone())
    );
    assert!(s
        .grant_by_lookup(GrantKind::Code, &format!("UC{seed}"))
        .await
        .unwrap()
        .is_none());
    let mut dev2 = grant(&mut ids, &t, GrantKind::Device, "dev2", None);
    dev2.lookup = dev.lookup.clone();
    assert!(matches!(
        s.insert_grant(&dev2).await,
        Err(StoreError::Conflict(_))
    ));

    // Revocation by family touches only that family's live grants.
    let mut r1 = grant(&mut ids, &t, GrantKind::Refresh, "rt1", Some("fam1"));
    r1.user_id = Some(u.id);
    let mut r2 = grant(&mut ids, &t, GrantKind::Refresh, "rt2", Some("fam2"));
    r2.user_id = Some(u.id);
    let mut sso = grant(&mut ids, &t, GrantKind::Sso, "sso", None);
    sso.user_id = Some(u.id);
    for g in [&r1, &r2, &sso] {
        s.insert_grant(g).await.unwrap();
    }
    assert_eq!(
        s.revoke_grants(&RevokeScope::Family("fam1".into()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.grant(&r1.handle).await.unwrap().unwrap().state,
        GrantState::Revoked
    );
    assert_eq!(
        s.grant(&code.handle).await.unwrap().unwrap().state,
        GrantState::Used,
        "used stays used"
    );
    assert_eq!(
        s.grant(&r2.handle).await.unwrap().unwrap().state,
        GrantState::Active
    );
    // Revocation by user (inside a change set, with a password change) takes every session.
    let mut u2 = u.clone();
    u2.password_hash = Some("new".into());
    commit(
        s,
        vec![
            Change::UpdateUser(u2),
            Change::RevokeGrants(RevokeScope::User(t.id, u.id)),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        s.grant(&r2.handle).await.unwrap().unwrap().state,
        GrantState::Revoked
    );
    assert_eq!(
        s.grant(&sso.handle).await.unwrap().unwrap().state,
        GrantState::Revoked
    );
    assert_eq!(
        s.grant(&dev.handle).await.unwrap().unwrap().state,
        GrantState::Pending,
        "other users' and device grants untouched"
    );
    // A failing change set revokes nothing.
    let mut r3 = grant(&mut ids, &t, GrantKind::Refresh, "rt3", Some("fam3"));
    r3.user_id = Some(u.id);
    s.insert_grant(&r3).await.unwrap();
    let mut clash = user(&mut ids, &t, "x", true);
    clash.user_principal_name = u.user_principal_name.clone();
    assert!(commit(
        s,
        vec![
            Change::RevokeGrants(RevokeScope::User(t.id, u.id)),
            Change::InsertUser(clash),
        ],
    )
    .await
    .is_err());
    assert_eq!(
        s.grant(&r3.handle).await.unwrap().unwrap().state,
        GrantState::Active
    );

    // Upsert replaces state and attributes.
    let mut lock = grant(&mut ids, &t, GrantKind::Lockout, "lock", None);
    s.upsert_grant(&lock).await.unwrap();
    lock.set("failures", "3");
    s.upsert_grant(&lock).await.unwrap();
    assert_eq!(
        s.grant(&lock.handle)
            .await
            .unwrap()
            .unwrap()
            .attr_i64("failures"),
        Some(3)
    );

    // Purge removes only expired rows.
    let mut old = grant(&mut ids, &t, GrantKind::AssertionId, "old", None);
    old.expires = Timestamp(5);
    s.insert_grant(&old).await.unwrap();
    assert!(s.purge_grants(Timestamp(6)).await.unwrap() >= 1);
    assert!(s.grant(&old.handle).await.unwrap().is_none());
    assert!(s.grant(&r3.handle).await.unwrap().is_some());

    // Sign-ins.
    let rec = |tid: TenantId, at: i64, code: u32| SignIn {
        id: uuid::Uuid::from_bytes(ids_bytes(seed, at, code)),
        tenant_id: tid,
        created: Timestamp(at),
        user_principal_name: Some("who@x.test".into()),
        user_id: Some(u.id),
        user_display_name: Some("Who".into()),
        app_id: "app".into(),
        app_display_name: None,
        resource_display_name: Some("Microsoft Graph".into()),
        resource_id: None,
        ip_address: "127.0.0.1".into(),
        client_app_used: "Browser".into(),
        is_interactive: code == 0,
        error_code: code,
        failure_reason: if code == 0 {
            String::new()
        } else {
            "bad".into()
        },
        additional_details: "authorization_code".into(),
        correlation_id: "cid".into(),
        authentication_requirement: "singleFactorAuthentication".into(),
        conditional_access_status: "notApplied".into(),
        applied_policies: vec![AppliedPolicy {
            id: "p1".into(),
            display_name: "MFA".into(),
            result: "reportOnlyFailure".into(),
            enforced_grant_controls: vec!["mfa".into()],
            enforced_session_controls: vec![],
        }],
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into(),
        // Location and risk round-trip (coordinates as f64, event types as a list).
        location: crate::model::SignInLocation {
            city: Some("Wellington".into()),
            state: None,
            country_or_region: Some("NZ".into()),
            latitude: Some(-41.2866),
            longitude: Some(174.7756),
        },
        risk: crate::model::SignInRiskInfo {
            during_sign_in: "high".into(),
            aggregated: "medium".into(),
            state: "atRisk".into(),
            detail: "none".into(),
            event_types: vec!["impossibleTravel".into(), "unfamiliarFeatures".into()],
        },
        is_service_principal: false,
        device: (code == 53000).then(|| SignInDevice {
            device_id: "0b7c6a52-9a39-4a38-9f43-0f3a4d8f1a11".into(),
            display_name: "LAPTOP-1".into(),
            operating_system: "Windows".into(),
            is_compliant: false,
            is_managed: true,
            trust_type: "AzureAd".into(),
        }),
    };
    let a = rec(t.id, 1_000, 0);
    let b = rec(t.id, 3_000, 53000);
    let c = rec(other.id, 2_000, 0);
    s.insert_sign_ins(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(
        s.sign_ins(t.id, &SignInQuery::default()).await.unwrap(),
        vec![b.clone(), a.clone()]
    );
    assert_eq!(
        s.sign_ins(
            t.id,
            &SignInQuery {
                since: Some(Timestamp(2_000)),
                ..Default::default()
            }
        )
        .await
        .unwrap(),
        vec![b]
    );
    assert_eq!(
        s.sign_ins(other.id, &SignInQuery::default()).await.unwrap(),
        vec![c]
    );
    // A batch larger than one statement carries (the SQL store writes 128 rows per INSERT).
    let many: Vec<SignIn> = (0..300).map(|i| rec(other.id, 10_000 + i, 0)).collect();
    s.insert_sign_ins(&many).await.unwrap();
    assert_eq!(
        s.sign_ins(other.id, &SignInQuery::default())
            .await
            .unwrap()
            .len(),
        301
    );
}

fn ids_bytes(seed: u64, at: i64, code: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&seed.to_be_bytes());
    b[8..12].copy_from_slice(&(at as u32).to_be_bytes());
    b[12..].copy_from_slice(&code.to_be_bytes());
    b
}

/// Administrative units: members, reverse lookup, scoped role assignments, cascades, isolation.
pub async fn administrative_units(s: &dyn Store, seed: u64) {
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("au{seed}"));
    let other = tenant(&mut ids, &format!("av{seed}"));
    let u = user(&mut ids, &t, "auu", true);
    let au = AdministrativeUnit {
        id: ids.object(),
        tenant_id: t.id,
        display_name: "Paris".into(),
        description: Some("d".into()),
        created: Timestamp(5),
    };
    let scoped = DirectoryRoleAssignment {
        id: ids.object(),
        tenant_id: t.id,
        principal_id: u.id,
        role_template_id: GLOBAL_ADMINISTRATOR,
        directory_scope_id: format!("/administrativeUnits/{}", au.id),
    };
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(u.clone()),
            Change::InsertAdministrativeUnit(au.clone()),
            Change::AddAuMember(t.id, au.id, u.id),
            Change::InsertDirectoryRoleAssignment(scoped.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        s.administrative_units(t.id).await.unwrap(),
        vec![au.clone()]
    );
    assert!(s.administrative_units(other.id).await.unwrap().is_empty());
    assert_eq!(s.au_members(t.id, au.id).await.unwrap(), vec![u.id]);
    assert!(s.au_members(other.id, au.id).await.unwrap().is_empty());
    assert_eq!(s.aus_of(t.id, u.id).await.unwrap(), vec![au.id]);
    assert_eq!(
        s.directory_role_assignments(t.id).await.unwrap(),
        vec![scoped.clone()]
    );
    assert!(matches!(
        commit(s, vec![Change::AddAuMember(t.id, au.id, u.id)]).await,
        Err(StoreError::Conflict(_))
    ));
    // The same role tenant-wide is a distinct assignment.
    let wide = DirectoryRoleAssignment {
        id: ids.object(),
        directory_scope_id: "/".into(),
        ..scoped.clone()
    };
    commit(s, vec![Change::InsertDirectoryRoleAssignment(wide.clone())])
        .await
        .unwrap();
    // Deleting the AU removes its members and the assignments scoped to it, not the others.
    commit(s, vec![Change::DeleteAdministrativeUnit(t.id, au.id)])
        .await
        .unwrap();
    assert!(s.aus_of(t.id, u.id).await.unwrap().is_empty());
    assert_eq!(
        s.directory_role_assignments(t.id).await.unwrap(),
        vec![wide]
    );
    assert!(matches!(
        commit(s, vec![Change::DeleteAdministrativeUnit(t.id, au.id)]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        commit(s, vec![Change::RemoveAuMember(t.id, au.id, u.id)]).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn resource_plane(s: &dyn Store, seed: u64) {
    use crate::azure_rbac::{AzureRole, DenyAssignment};
    let mut ids = Ids::new(seed);
    let t = tenant(&mut ids, &format!("rp{seed}"));
    let other = tenant(&mut ids, &format!("rq{seed}"));
    let u = user(&mut ids, &t, "rpu", true);
    let sub_guid = uuid::Uuid::from_bytes(ids.object().uuid().into_bytes());
    let sub_id = format!("/subscriptions/{sub_guid}");
    let res = |id: &str, kind: ScopeKind, parent: Option<&str>| ArmResource {
        tenant_id: t.id,
        id: id.into(),
        kind,
        name: id.rsplit('/').next().unwrap().into(),
        resource_type: "T/x".into(),
        parent: parent.map(str::to_string),
        display_name: "d".into(),
        location: Some("westeurope".into()),
        tags: vec![("env".into(), "prod".into())],
        properties: "{\"a\":1}".into(),
        identity_principal: None,
        identity: ResourceIdentity {
            system_assigned: Some(u.id),
            user_assigned: vec!["/x/y".into()],
            secrets_sha256: vec![[7u8; 32]],
        },
        federated_credential: None,
        created: Timestamp(9),
    };
    let sub = res(&sub_id, ScopeKind::Subscription, None);
    let rg_id = format!("{sub_id}/resourceGroups/RG1");
    let rg = res(&rg_id, ScopeKind::ResourceGroup, Some(&sub_id));
    let ra = AzureRoleAssignment {
        id: uuid::Uuid::from_bytes(ids.object().uuid().into_bytes()),
        tenant_id: t.id,
        scope: rg_id.clone(),
        role_definition_id: uuid::Uuid::from_bytes([1; 16]),
        principal_id: u.id,
        principal_type: "User".into(),
        condition: Some("ActionMatches{'*'}".into()),
        description: None,
        created: Timestamp(3),
        created_by: Some(u.id),
    };
    let role = CustomAzureRole {
        tenant_id: t.id,
        role: AzureRole {
            id: uuid::Uuid::from_bytes(ids.object().uuid().into_bytes()),
            name: "Blob Peeker".into(),
            description: "d".into(),
            actions: vec!["a/b/read".into()],
            not_actions: vec![],
            data_actions: vec!["a/b/c/read".into()],
            not_data_actions: vec!["a/b/c/write".into()],
            assignable_scopes: vec![sub_id.clone()],
        },
        created: Timestamp(4),
    };
    let deny = StoredDenyAssignment {
        tenant_id: t.id,
        deny: DenyAssignment {
            id: format!("deny-{seed}"),
            name: "System deny".into(),
            principals: vec![u.id],
            scope: rg_id.clone(),
            actions: vec!["*/delete".into()],
            data_actions: vec![],
        },
        description: "managed app lock".into(),
        created: Timestamp(5),
    };
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(u.clone()),
            Change::InsertArmResource(sub.clone()),
            Change::InsertArmResource(rg.clone()),
            Change::InsertAzureRoleAssignment(ra.clone()),
            Change::PutCustomAzureRole(role.clone()),
            Change::InsertDenyAssignment(deny.clone()),
        ],
    )
    .await
    .unwrap();
    // Round trips; ids are found in any case; reads are tenant-scoped.
    assert_eq!(
        s.arm_resource(&rg_id.to_uppercase()).await.unwrap(),
        Some(rg.clone())
    );
    assert_eq!(s.arm_resources(t.id).await.unwrap().len(), 2);
    assert!(s.arm_resources(other.id).await.unwrap().is_empty());
    assert_eq!(
        s.arm_children(t.id, &sub_id.to_uppercase()).await.unwrap(),
        vec![rg.clone()]
    );
    assert!(s.arm_children(other.id, &sub_id).await.unwrap().is_empty());
    assert_eq!(
        s.azure_role_assignments(t.id).await.unwrap(),
        vec![ra.clone()]
    );
    assert_eq!(
        s.azure_role_assignments_of(t.id, u.id).await.unwrap(),
        vec![ra.clone()]
    );
    assert!(s.azure_role_assignments(other.id).await.unwrap().is_empty());
    assert_eq!(
        s.custom_azure_roles(t.id).await.unwrap(),
        vec![role.clone()]
    );
    assert!(s.custom_azure_roles(other.id).await.unwrap().is_empty());
    assert_eq!(s.deny_assignments(t.id).await.unwrap(), vec![deny.clone()]);
    assert!(s.deny_assignments(other.id).await.unwrap().is_empty());
    // Uniqueness: the same id in another case, the same principal/role/scope, a role name.
    let mut dup = rg.clone();
    dup.id = rg_id.to_lowercase();
    assert!(matches!(
        commit(s, vec![Change::InsertArmResource(dup)]).await,
        Err(StoreError::Conflict(_))
    ));
    let mut twin = ra.clone();
    twin.id = uuid::Uuid::from_bytes(ids.object().uuid().into_bytes());
    twin.scope = rg_id.to_uppercase();
    let e = commit(s, vec![Change::InsertAzureRoleAssignment(twin)])
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref c)
            if c.rule == UniqueRule::RoleAssignmentExists
                && c.to_string().starts_with("RoleAssignmentExists")),
        "{e:?}"
    );
    let mut same_name = role.clone();
    same_name.role.id = uuid::Uuid::from_bytes(ids.object().uuid().into_bytes());
    same_name.role.name = "BLOB PEEKER".into();
    assert!(matches!(
        commit(s, vec![Change::PutCustomAzureRole(same_name)]).await,
        Err(StoreError::Conflict(_))
    ));
    // Put replaces a role in place.
    let mut renamed = role.clone();
    renamed.role.description = "changed".into();
    commit(s, vec![Change::PutCustomAzureRole(renamed.clone())])
        .await
        .unwrap();
    assert_eq!(s.custom_azure_roles(t.id).await.unwrap(), vec![renamed]);
    // Update, and a failed set changes nothing.
    let mut rg2 = rg.clone();
    rg2.tags = vec![];
    rg2.identity = ResourceIdentity::default();
    let failing = vec![
        Change::UpdateArmResource(rg2.clone()),
        Change::DeleteAzureRoleAssignment(t.id, uuid::Uuid::from_bytes([9; 16])),
    ];
    assert!(matches!(
        commit(s, failing).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.arm_resource(&rg_id).await.unwrap(), Some(rg.clone()));
    commit(s, vec![Change::UpdateArmResource(rg2.clone())])
        .await
        .unwrap();
    assert_eq!(s.arm_resource(&rg_id).await.unwrap(), Some(rg2));
    // Another tenant cannot delete or update this tenant's rows.
    assert!(matches!(
        commit(s, vec![Change::DeleteArmResource(other.id, rg_id.clone())]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        commit(s, vec![Change::DeleteAzureRoleAssignment(other.id, ra.id)]).await,
        Err(StoreError::NotFound(_))
    ));
    // Deleting the principal removes its Azure role assignments.
    commit(s, vec![Change::DeleteUser(t.id, u.id)])
        .await
        .unwrap();
    assert!(s.azure_role_assignments(t.id).await.unwrap().is_empty());
    commit(
        s,
        vec![
            Change::DeleteArmResource(t.id, rg_id.to_uppercase()),
            Change::DeleteCustomAzureRole(t.id, role.role.id),
            Change::DeleteDenyAssignment(t.id, deny.deny.id.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(s.arm_resources(t.id).await.unwrap(), vec![sub]);
    assert!(s.custom_azure_roles(t.id).await.unwrap().is_empty());
    assert!(s.deny_assignments(t.id).await.unwrap().is_empty());
}

/// A risky-user record with every field set (the store must keep each).
fn rich_risky_user(admin: ObjectId) -> RiskyUser {
    use crate::policy::model::RiskLevel;
    use crate::policy::risk::{RiskDetail, RiskEventType, RiskState};
    use crate::policy::risky_user::{HistoryItem, SeenSignIn, StoredDetection};
    RiskyUser {
        upn: "rich@contoso.example".into(),
        display_name: "Rich Record".into(),
        state: RiskState::ConfirmedCompromised,
        detail: RiskDetail::AdminConfirmedUserCompromised,
        updated: Timestamp(6_000),
        detections: vec![StoredDetection {
            id: "00000000-0000-4000-8000-000000000001".into(),
            kind: RiskEventType::AnonymizedIpAddress,
            level: RiskLevel::Medium,
            state: RiskState::ConfirmedCompromised,
            detail: RiskDetail::AdminConfirmedUserCompromised,
            reason: "Tor exit".into(),
            ip: "198.51.100.7".into(),
            location: SignInLocation {
                city: Some("Oslo".into()),
                state: Some("Oslo".into()),
                country_or_region: Some("NO".into()),
                latitude: Some(59.91),
                longitude: Some(10.75),
            },
            at: Timestamp(5_500),
            updated: Timestamp(6_000),
            correlation_id: "cid-1".into(),
        }],
        history: vec![HistoryItem {
            id: "00000000-0000-4000-8000-000000000002".into(),
            at: Timestamp(6_000),
            level: RiskLevel::High,
            state: RiskState::ConfirmedCompromised,
            detail: RiskDetail::AdminConfirmedUserCompromised,
            initiated_by: Some(admin),
            event_types: vec![RiskEventType::AnonymizedIpAddress],
        }],
        seen: vec![SeenSignIn {
            ip: "2001:db8::1".into(),
            country: None,
            latitude: None,
            longitude: Some(-3.5),
            user_agent: "Mozilla/5.0".into(),
            at: Timestamp(5_000),
        }],
    }
}

/// The recycle bin: a snapshot (user, group, application with its service principal, every
/// kind of edge) commits with the object's delete in one transaction and reads back equal;
/// items list oldest deletion first, per tenant; a second item with the same id is a
/// `Conflict(DeletedItemExists)`; removing an absent one is NotFound; a failing set leaves
/// neither the item nor the delete; `owned_by` lists what an owner owns.
pub async fn deleted_items(s: &dyn Store, seed: u64) {
    use crate::deleted_items::{DeletedEdges, DeletedItem, DeletedObject};
    let mut ids = Ids::new(seed);
    let (t, other) = (tenant(&mut ids, "bin"), tenant(&mut ids, "binother"));
    let alice = user(&mut ids, &t, "alice", true);
    let g = group(&mut ids, &t, "team");
    let app = application(&mut ids, &t);
    let sp = service_principal(&mut ids, &t, &app);
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertTenant(other.clone()),
            Change::InsertUser(alice.clone()),
            Change::InsertGroup(g.clone()),
            Change::InsertApplication(app.clone()),
            Change::InsertServicePrincipal(sp.clone()),
            Change::AddOwner(t.id, g.id, alice.id),
            Change::AddOwner(t.id, app.id, alice.id),
        ],
    )
    .await
    .unwrap();
    let mut owned = vec![g.id, app.id];
    owned.sort();
    assert_eq!(s.owned_by(t.id, alice.id).await.unwrap(), owned, "owned_by");
    assert!(s.owned_by(other.id, alice.id).await.unwrap().is_empty());

    let unit = ids.object();
    let edges = DeletedEdges {
        memberships: vec![Membership {
            group_id: g.id,
            member_id: alice.id,
            member_kind: ObjectKind::User,
        }],
        owners: vec![(g.id, alice.id), (app.id, alice.id)],
        unit_memberships: vec![(unit, alice.id)],
        directory_roles: vec![DirectoryRoleAssignment {
            id: ids.object(),
            tenant_id: t.id,
            principal_id: alice.id,
            role_template_id: uuid::Uuid::from_u128(42),
            directory_scope_id: format!("/administrativeUnits/{unit}"),
        }],
        app_roles: vec![AppRoleAssignment {
            id: ids.object(),
            tenant_id: t.id,
            principal_id: alice.id,
            principal_type: ObjectKind::User,
            resource_id: sp.id,
            app_role_id: uuid::Uuid::from_u128(3),
            created: Timestamp(77),
        }],
        permission_grants: vec![OAuth2PermissionGrant {
            id: ids.object(),
            tenant_id: t.id,
            client_id: sp.id,
            consent_type: "Principal".into(),
            principal_id: Some(alice.id),
            resource_id: sp.id,
            scope: "User.Read".into(),
        }],
        azure_roles: vec![AzureRoleAssignment {
            id: uuid::Uuid::from_u128(u128::from(seed) + 5),
            tenant_id: t.id,
            scope: "/subscriptions/x".into(),
            role_definition_id: uuid::Uuid::from_u128(6),
            principal_id: alice.id,
            principal_type: "User".into(),
            condition: Some("c".into()),
            description: None,
            created: Timestamp(8),
            created_by: Some(alice.id),
        }],
        oath_methods: vec![SoftwareOathMethod {
            id: ids.object(),
            tenant_id: t.id,
            user_id: alice.id,
            display_name: "phone".into(),
            secret_sealed: vec![9, 8, 7],
            created: Timestamp(11),
            confirmed: true,
            last_used_step: Some(56_000_000),
        }],
        recovery_codes: vec![[3; 32], [4; 32]],
    };
    let user_item = DeletedItem {
        tenant_id: t.id,
        deleted: Timestamp(2_000),
        object: DeletedObject::User(alice.clone()),
        edges: edges.clone(),
    };
    let group_item = DeletedItem {
        tenant_id: t.id,
        deleted: Timestamp(1_000),
        object: DeletedObject::Group(g.clone()),
        edges: DeletedEdges::default(),
    };
    let app_item = DeletedItem {
        tenant_id: t.id,
        deleted: Timestamp(3_000),
        object: DeletedObject::Application(Box::new(app.clone()), vec![sp.clone()]),
        edges: edges.clone(),
    };

    // A failing set (deleting a user that does not exist) keeps neither item nor delete.
    let ghost = ids.object();
    let r = commit(
        s,
        vec![
            Change::InsertDeletedItem(Box::new(user_item.clone())),
            Change::DeleteUser(t.id, ghost),
        ],
    )
    .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    assert!(
        s.deleted_items(t.id).await.unwrap().is_empty(),
        "rolled back"
    );

    // Soft deletes: the snapshot and the delete in one commit.
    commit(
        s,
        vec![
            Change::InsertDeletedItem(Box::new(user_item.clone())),
            Change::DeleteUser(t.id, alice.id),
            Change::InsertDeletedItem(Box::new(group_item.clone())),
            Change::DeleteGroup(t.id, g.id),
            Change::InsertDeletedItem(Box::new(app_item.clone())),
            Change::DeleteApplication(t.id, app.id),
        ],
    )
    .await
    .unwrap();
    assert!(s.user(t.id, alice.id).await.unwrap().is_none());
    assert!(s.application_by_app_id(app.app_id).await.unwrap().is_none());
    assert_eq!(
        s.deleted_items(t.id).await.unwrap(),
        vec![group_item.clone(), user_item.clone(), app_item.clone()],
        "every field round-trips; oldest deletion first"
    );
    assert_eq!(
        s.deleted_item(t.id, alice.id).await.unwrap(),
        Some(user_item.clone())
    );
    assert_eq!(
        s.deleted_item(t.id, app.id).await.unwrap(),
        Some(app_item.clone())
    );
    // Tenant isolation.
    assert!(s.deleted_items(other.id).await.unwrap().is_empty());
    assert!(s.deleted_item(other.id, alice.id).await.unwrap().is_none());
    // Uniqueness and not-found rules.
    expect_conflict(
        s,
        changes(vec![Change::InsertDeletedItem(Box::new(user_item.clone()))]),
        UniqueRule::DeletedItemExists,
        "a second item with the same id",
    )
    .await;
    expect_not_found(
        s,
        vec![Change::DeleteDeletedItem(other.id, alice.id)],
        "another tenant's item",
    )
    .await;
    // Restore: the item leaves the bin with the object's return, in one commit.
    commit(
        s,
        vec![
            Change::DeleteDeletedItem(t.id, alice.id),
            Change::InsertUser(alice.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(s.user(t.id, alice.id).await.unwrap(), Some(alice.clone()));
    assert!(s.deleted_item(t.id, alice.id).await.unwrap().is_none());
    expect_not_found(
        s,
        vec![Change::DeleteDeletedItem(t.id, alice.id)],
        "an item already restored",
    )
    .await;
    assert_eq!(
        s.deleted_items(t.id).await.unwrap(),
        vec![group_item, app_item]
    );
}
