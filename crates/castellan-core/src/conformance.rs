//! The store conformance suite: every engine must pass it. `castellan-store`'s tests run it on
//! SQLite always and on PostgreSQL when `CASTELLAN_TEST_DATABASE_URL` is set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::audit::{Actor, AuditRecord, AuditTarget, ModifiedProperty};
use crate::model::*;
use crate::store::{AuditQuery, Change, ChangeSet, Store, StoreError};
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
            },
            Domain {
                name: format!("{name}.example"),
                is_initial: false,
                is_default: false,
                is_verified: false,
            },
        ],
        license: LicenseTier::P1,
        settings: TenantSettings {
            password_policy: PasswordPolicy {
                min_length: 10,
                max_length: 100,
                required_classes: 2,
            },
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
        mail_nickname: name.into(),
        created: Timestamp(5),
    }
}

pub fn application(ids: &mut Ids, t: &Tenant) -> Application {
    Application {
        id: ids.object(),
        app_id: ids.app(),
        tenant_id: t.id,
        display_name: "App".into(),
        sign_in_audience: SignInAudience::AzureAdMultipleOrgs,
        identifier_uris: vec!["api://x".into()],
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
        app_role_assignment_required: true,
        account_enabled: false,
        created: Timestamp(4),
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

/// Runs every check. Panics with a message naming the failed property.
pub async fn run_all(s: &dyn Store, seed: u64) {
    round_trips(s, seed).await;
    tenant_isolation(s, seed + 1).await;
    atomicity_and_uniqueness(s, seed + 2).await;
    cascades(s, seed + 3).await;
    memberships_and_owners(s, seed + 4).await;
    audit_queries(s, seed + 5).await;
    signing_keys(s, seed + 6).await;
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
    commit(
        s,
        vec![
            Change::InsertTenant(t.clone()),
            Change::InsertUser(full.clone()),
            Change::InsertUser(sparse.clone()),
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
        s.user_by_upn(t.id, &full.user_principal_name.to_uppercase())
            .await
            .unwrap()
            .map(|u| u.id),
        Some(full.id),
        "UPN lookup ignores case"
    );
    assert_eq!(s.users(t.id).await.unwrap().len(), 2);
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
    let r2 = audit(&mut ids, &t, "GroupManagement", 2000);
    let r3 = audit(&mut ids, &t, "UserManagement", 3000);
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
