//! The in-memory reference store: the [`Store`] port's semantics with nothing but maps — the
//! same uniqueness rules (reported as the same [`UniqueRule`]s), the same cascades, the same
//! orderings and compare-and-sets as `castellan-store`'s SQL engines, checked by the same
//! conformance suite (`crate::conformance`). A commit applies its changes to a copy of the
//! data and swaps the copy in only when every change succeeded, so a change set is all or
//! nothing; one lock serialises writers, so every compare-and-set has exactly one winner.
//!
//! For tests: use cases run against it with a fixed clock and seeded randomness (no runtime
//! needed: its futures never wait, [`block_on`] drives them). Nothing is persisted.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::audit::AuditRecord;
use crate::azure_rbac::normalise_scope;
use crate::flow::mfa_attempts::MfaAttempts;
use crate::ids::{AppId, ObjectId, TenantId};
use crate::model::{
    identifier_uri_key, AdministrativeUnit, AppRoleAssignment, Application, ArmResource,
    AzureRoleAssignment, CustomAzureRole, CustomRoleDefinition, Device, DirectoryRoleAssignment,
    FailedSignInRecord, Grant, GrantKind, GrantState, Group, Membership, OAuth2PermissionGrant,
    ObjectKind, PolicyDocument, PolicyDocumentKind, RecoveryCode, RevokeScope, ServicePrincipal,
    SignIn, SignInQuery, SigningKey, SoftwareOathMethod, StoredDenyAssignment, Tenant, User,
};
use crate::policy::risky_user::RiskyUserRecord;
use crate::store::{
    ApplicationStore, ArmStore, AssignmentStore, AuditQuery, AuditStore, AuthMethodStore, Change,
    ChangeSet, DeviceStore, DirectoryRoleStore, GrantStore, GroupStore, KeyStore, PimStore,
    PolicyStore, RiskStore, SignInStore, Store, StoreError, TenantStore, UniqueRule, UserStore,
};
use crate::time::Timestamp;

/// Everything the store holds. Keys mirror the SQL engines' primary keys (object ids are
/// global keys there too), so the same writes clash in both.
#[derive(Clone, Default)]
struct Data {
    tenants: BTreeMap<TenantId, Tenant>,
    /// ASCII-lower-cased domain name → owning tenant.
    domains: BTreeMap<String, TenantId>,
    users: BTreeMap<ObjectId, User>,
    /// Per tenant: bumped by every user insert, update and delete.
    user_versions: BTreeMap<TenantId, u64>,
    /// Per tenant: bumped by every group insert, update and delete.
    group_versions: BTreeMap<TenantId, u64>,
    groups: BTreeMap<ObjectId, Group>,
    /// (group, member) → (tenant, member kind).
    memberships: BTreeMap<(ObjectId, ObjectId), (TenantId, ObjectKind)>,
    /// (object, owner) → tenant.
    owners: BTreeMap<(ObjectId, ObjectId), TenantId>,
    applications: BTreeMap<ObjectId, Application>,
    /// `identifier_uri_key` → (tenant, application).
    identifier_uris: BTreeMap<String, (TenantId, ObjectId)>,
    service_principals: BTreeMap<ObjectId, ServicePrincipal>,
    app_role_assignments: BTreeMap<ObjectId, AppRoleAssignment>,
    permission_grants: BTreeMap<ObjectId, OAuth2PermissionGrant>,
    directory_role_assignments: BTreeMap<ObjectId, DirectoryRoleAssignment>,
    audit: BTreeMap<ObjectId, AuditRecord>,
    signing_keys: BTreeMap<String, SigningKey>,
    grants: BTreeMap<String, Grant>,
    sign_ins: BTreeMap<uuid::Uuid, SignIn>,
    administrative_units: BTreeMap<ObjectId, AdministrativeUnit>,
    /// (unit, member) → tenant.
    au_members: BTreeMap<(ObjectId, ObjectId), TenantId>,
    custom_roles: BTreeMap<ObjectId, CustomRoleDefinition>,
    /// Lower-case ARM id → scope.
    arm_resources: BTreeMap<String, ArmResource>,
    azure_role_assignments: BTreeMap<uuid::Uuid, AzureRoleAssignment>,
    azure_roles: BTreeMap<uuid::Uuid, CustomAzureRole>,
    deny_assignments: BTreeMap<String, StoredDenyAssignment>,
    policy_documents: BTreeMap<ObjectId, PolicyDocument>,
    oath_methods: BTreeMap<ObjectId, SoftwareOathMethod>,
    /// (tenant, user, hash) → used.
    recovery_codes: BTreeMap<(TenantId, ObjectId, [u8; 32]), bool>,
    devices: BTreeMap<ObjectId, Device>,
    risky_users: BTreeMap<(TenantId, ObjectId), RiskyUserRecord>,
    failed_sign_ins: Vec<FailedSignInRecord>,
    mfa_attempts: BTreeMap<(TenantId, ObjectId), (MfaAttempts, i64)>,
    /// (plane, id) → schedule.
    role_schedules: BTreeMap<(crate::pim::Plane, ObjectId), crate::pim::RoleSchedule>,
    /// (plane, id) → request.
    role_schedule_requests:
        BTreeMap<(crate::pim::Plane, ObjectId), crate::pim::RoleScheduleRequest>,
    /// (tenant, plane, lower-cased scope, role) → policy.
    role_policies:
        BTreeMap<(TenantId, crate::pim::Plane, String, uuid::Uuid), crate::pim::RolePolicy>,
    /// (tenant, deleted object id) → the recycle bin's item.
    deleted_items: BTreeMap<(TenantId, ObjectId), crate::deleted_items::DeletedItem>,
    /// (tenant, sku) → subscription.
    subscriptions: BTreeMap<(TenantId, String), crate::licenses::Subscription>,
    /// (tenant, principal, sku) → assignment.
    license_assignments: BTreeMap<(TenantId, ObjectId, String), crate::licenses::LicenseAssignment>,
}

/// The in-memory store. Cheap to create; one per test.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read<T>(&self, f: impl FnOnce(&Data) -> T) -> Result<T, StoreError> {
        let d = self.data.lock().map_err(|_| poisoned())?;
        Ok(f(&d))
    }

    /// Runs `f` on a copy of the data and keeps the copy only if `f` succeeded.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Data) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut d = self.data.lock().map_err(|_| poisoned())?;
        let mut next = d.clone();
        let out = f(&mut next)?;
        *d = next;
        Ok(out)
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("the memory store's lock was poisoned by a panicking test".into())
}

fn conflict(rule: UniqueRule) -> StoreError {
    StoreError::conflict(rule)
}

fn not_found(what: &str) -> StoreError {
    StoreError::NotFound(what.into())
}

/// Fails with NotFound unless `found`.
fn must(found: bool, what: &str) -> Result<(), StoreError> {
    if found {
        Ok(())
    } else {
        Err(not_found(what))
    }
}

/// Inserts under a fresh key, or reports `rule`.
fn insert_new<K: Ord, V>(
    map: &mut BTreeMap<K, V>,
    k: K,
    v: V,
    rule: UniqueRule,
) -> Result<(), StoreError> {
    if map.contains_key(&k) {
        return Err(conflict(rule));
    }
    map.insert(k, v);
    Ok(())
}

/// The same bound as the SQL engines' BIGINT column.
fn step_fits(step: u64) -> Result<(), StoreError> {
    i64::try_from(step)
        .map(|_| ())
        .map_err(|_| StoreError::Backend("TOTP step out of range".into()))
}

/// An application's identifier URIs as unique keys (duplicates within the app collapse).
fn uri_keys(a: &Application) -> Vec<String> {
    let mut keys: Vec<String> = a
        .identifier_uris
        .iter()
        .map(|u| identifier_uri_key(u))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Data {
    fn write_identifier_uris(&mut self, a: &Application) -> Result<(), StoreError> {
        self.identifier_uris.retain(|_, (_, app)| *app != a.id);
        for key in uri_keys(a) {
            insert_new(
                &mut self.identifier_uris,
                key,
                (a.tenant_id, a.id),
                UniqueRule::IdentifierUriTaken,
            )?;
        }
        Ok(())
    }

    /// The verified-name index: a verified name belongs to one tenant; unverified names are
    /// not indexed (several tenants may add one; only one may verify it).
    fn write_domains(&mut self, t: &Tenant) -> Result<(), StoreError> {
        self.domains.retain(|_, owner| *owner != t.id);
        for d in t.domains.iter().filter(|d| d.is_verified) {
            insert_new(
                &mut self.domains,
                d.name.to_ascii_lowercase(),
                t.id,
                UniqueRule::DomainTaken,
            )?;
        }
        Ok(())
    }

    fn upn_taken(&self, u: &User) -> bool {
        let upn = u.user_principal_name.to_lowercase();
        self.users.values().any(|o| {
            o.id != u.id
                && o.tenant_id == u.tenant_id
                && o.user_principal_name.to_lowercase() == upn
        })
    }

    /// Every edge, assignment and grant naming `id` in tenant `t` (what deleting an object
    /// takes with it).
    fn delete_object_refs(&mut self, t: TenantId, id: ObjectId) {
        self.memberships
            .retain(|(g, m), (tt, _)| !(*tt == t && (*g == id || *m == id)));
        self.owners
            .retain(|(o, w), tt| !(*tt == t && (*o == id || *w == id)));
        self.au_members.retain(|(_, m), tt| !(*tt == t && *m == id));
        self.app_role_assignments
            .retain(|_, a| !(a.tenant_id == t && (a.principal_id == id || a.resource_id == id)));
        self.permission_grants.retain(|_, g| {
            !(g.tenant_id == t
                && (g.client_id == id || g.resource_id == id || g.principal_id == Some(id)))
        });
        self.directory_role_assignments
            .retain(|_, r| !(r.tenant_id == t && r.principal_id == id));
        self.azure_role_assignments
            .retain(|_, r| !(r.tenant_id == t && r.principal_id == id));
    }

    fn revoke(&mut self, scope: &RevokeScope) -> u64 {
        let live = |g: &Grant| {
            matches!(
                g.state,
                GrantState::Active | GrantState::Pending | GrantState::Approved
            )
        };
        let mut n = 0;
        for g in self.grants.values_mut() {
            let hit = match scope {
                RevokeScope::Family(f) => g.family.as_deref() == Some(f.as_str()),
                RevokeScope::User(t, u) => {
                    g.tenant_id == *t
                        && g.user_id == Some(*u)
                        && matches!(
                            g.kind,
                            GrantKind::Refresh | GrantKind::Sso | GrantKind::Code
                        )
                }
            };
            if hit && live(g) {
                g.state = GrantState::Revoked;
                n += 1;
            }
        }
        n
    }

    /// Whether another grant (not `handle`) already has `g`'s lookup key.
    fn lookup_taken(&self, g: &Grant) -> bool {
        g.lookup.as_ref().is_some_and(|l| {
            self.grants
                .values()
                .any(|o| o.handle != g.handle && o.kind == g.kind && o.lookup.as_ref() == Some(l))
        })
    }

    fn put_grant(&mut self, g: &Grant) -> Result<(), StoreError> {
        if self.lookup_taken(g) {
            return Err(conflict(UniqueRule::GrantExists));
        }
        self.grants.insert(g.handle.clone(), g.clone());
        Ok(())
    }

    fn put_risky_user(
        &mut self,
        r: &RiskyUserRecord,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        let key = (r.tenant_id, r.user_id);
        let version = match (expected, self.risky_users.get(&key)) {
            (None, None) => 1,
            (Some(v), Some(cur)) if cur.version == v => v.saturating_add(1),
            _ => return Ok(false),
        };
        self.risky_users.insert(
            key,
            RiskyUserRecord {
                version,
                ..r.clone()
            },
        );
        Ok(true)
    }

    fn apply(&mut self, c: &Change) -> Result<(), StoreError> {
        match c {
            Change::InsertTenant(t) => {
                insert_new(&mut self.tenants, t.id, t.clone(), UniqueRule::TenantExists)?;
                self.write_domains(t)?;
            }
            Change::UpdateTenant(t) => {
                must(self.tenants.contains_key(&t.id), "tenant")?;
                self.tenants.insert(t.id, t.clone());
                self.write_domains(t)?;
            }
            Change::ReplaceTenant(expected, next) => {
                let current = self
                    .tenants
                    .get(&expected.id)
                    .cloned()
                    .ok_or_else(|| not_found("tenant"))?;
                if current != **expected || next.id != expected.id {
                    return Err(conflict(UniqueRule::TenantChanged));
                }
                self.tenants.insert(next.id, (**next).clone());
                self.write_domains(next)?;
            }
            Change::InsertUser(u) => {
                if self.upn_taken(u) {
                    return Err(conflict(UniqueRule::UpnTaken));
                }
                insert_new(&mut self.users, u.id, u.clone(), UniqueRule::UpnTaken)?;
                *self.user_versions.entry(u.tenant_id).or_default() += 1;
            }
            Change::UpdateUser(u) => {
                let found = self
                    .users
                    .get(&u.id)
                    .is_some_and(|o| o.tenant_id == u.tenant_id);
                must(found, "user")?;
                if self.upn_taken(u) {
                    return Err(conflict(UniqueRule::UpnTaken));
                }
                self.users.insert(u.id, u.clone());
                *self.user_versions.entry(u.tenant_id).or_default() += 1;
            }
            Change::DeleteUser(t, id) => {
                let found = self.users.get(id).is_some_and(|o| o.tenant_id == *t);
                must(found, "user")?;
                self.users.remove(id);
                *self.user_versions.entry(*t).or_default() += 1;
                self.delete_object_refs(*t, *id);
                self.oath_methods
                    .retain(|_, m| !(m.tenant_id == *t && m.user_id == *id));
                self.recovery_codes
                    .retain(|(tt, u, _), _| !(*tt == *t && *u == *id));
                self.risky_users.remove(&(*t, *id));
                self.mfa_attempts.remove(&(*t, *id));
                for u in self.users.values_mut() {
                    if u.tenant_id == *t && u.manager_id == Some(*id) {
                        u.manager_id = None;
                    }
                }
            }
            Change::InsertGroup(g) => {
                insert_new(&mut self.groups, g.id, g.clone(), UniqueRule::GroupExists)?;
                *self.group_versions.entry(g.tenant_id).or_default() += 1;
            }
            Change::UpdateGroup(g) => {
                let found = self
                    .groups
                    .get(&g.id)
                    .is_some_and(|o| o.tenant_id == g.tenant_id);
                must(found, "group")?;
                self.groups.insert(g.id, g.clone());
                *self.group_versions.entry(g.tenant_id).or_default() += 1;
            }
            Change::DeleteGroup(t, id) => {
                let found = self.groups.get(id).is_some_and(|o| o.tenant_id == *t);
                must(found, "group")?;
                self.groups.remove(id);
                *self.group_versions.entry(*t).or_default() += 1;
                self.delete_object_refs(*t, *id);
            }
            Change::AddMember(t, m) => {
                insert_new(
                    &mut self.memberships,
                    (m.group_id, m.member_id),
                    (*t, m.member_kind),
                    UniqueRule::MembershipExists,
                )?;
            }
            Change::RemoveMember(t, g, m) => {
                let found = self
                    .memberships
                    .get(&(*g, *m))
                    .is_some_and(|(tt, _)| tt == t);
                must(found, "membership")?;
                self.memberships.remove(&(*g, *m));
            }
            Change::AddOwner(t, o, owner) => {
                insert_new(&mut self.owners, (*o, *owner), *t, UniqueRule::OwnerExists)?;
            }
            Change::RemoveOwner(t, o, owner) => {
                let found = self.owners.get(&(*o, *owner)) == Some(t);
                must(found, "owner")?;
                self.owners.remove(&(*o, *owner));
            }
            Change::InsertApplication(a) => {
                if self.applications.values().any(|o| o.app_id == a.app_id) {
                    return Err(conflict(UniqueRule::AppIdTaken));
                }
                insert_new(
                    &mut self.applications,
                    a.id,
                    a.clone(),
                    UniqueRule::AppIdTaken,
                )?;
                self.write_identifier_uris(a)?;
            }
            Change::UpdateApplication(a) => {
                let found = self
                    .applications
                    .get(&a.id)
                    .is_some_and(|o| o.tenant_id == a.tenant_id);
                must(found, "application")?;
                self.applications.insert(a.id, a.clone());
                self.write_identifier_uris(a)?;
            }
            Change::ReplaceApplication(expected, next) => {
                let current = self
                    .applications
                    .get(&expected.id)
                    .filter(|o| o.tenant_id == expected.tenant_id)
                    .cloned()
                    .ok_or_else(|| not_found("application"))?;
                if current != **expected || next.id != expected.id {
                    return Err(conflict(UniqueRule::ApplicationChanged));
                }
                self.applications.insert(next.id, (**next).clone());
                if current.identifier_uris != next.identifier_uris {
                    self.write_identifier_uris(next)?;
                }
            }
            Change::DeleteApplication(t, id) => {
                let app_id = self
                    .applications
                    .get(id)
                    .filter(|o| o.tenant_id == *t)
                    .map(|a| a.app_id)
                    .ok_or_else(|| not_found("application"))?;
                let sps: Vec<(TenantId, ObjectId)> = self
                    .service_principals
                    .values()
                    .filter(|sp| sp.app_id == app_id)
                    .map(|sp| (sp.tenant_id, sp.id))
                    .collect();
                for (tt, sp) in sps {
                    self.delete_object_refs(tt, sp);
                    self.service_principals.remove(&sp);
                }
                self.identifier_uris.retain(|_, (_, app)| app != id);
                self.applications.remove(id);
                self.delete_object_refs(*t, *id);
            }
            Change::InsertServicePrincipal(sp) => {
                if self
                    .service_principals
                    .values()
                    .any(|o| o.tenant_id == sp.tenant_id && o.app_id == sp.app_id)
                {
                    return Err(conflict(UniqueRule::ServicePrincipalExists));
                }
                insert_new(
                    &mut self.service_principals,
                    sp.id,
                    sp.clone(),
                    UniqueRule::ServicePrincipalExists,
                )?;
            }
            Change::UpdateServicePrincipal(sp) => {
                let found = self
                    .service_principals
                    .get(&sp.id)
                    .is_some_and(|o| o.tenant_id == sp.tenant_id);
                must(found, "service principal")?;
                self.service_principals.insert(sp.id, sp.clone());
            }
            Change::DeleteServicePrincipal(t, id) => {
                let found = self
                    .service_principals
                    .get(id)
                    .is_some_and(|o| o.tenant_id == *t);
                must(found, "service principal")?;
                self.service_principals.remove(id);
                self.delete_object_refs(*t, *id);
            }
            Change::InsertAppRoleAssignment(a) => {
                if self.app_role_assignments.values().any(|o| {
                    o.tenant_id == a.tenant_id
                        && o.principal_id == a.principal_id
                        && o.resource_id == a.resource_id
                        && o.app_role_id == a.app_role_id
                }) {
                    return Err(conflict(UniqueRule::AppRoleAssignmentExists));
                }
                insert_new(
                    &mut self.app_role_assignments,
                    a.id,
                    a.clone(),
                    UniqueRule::AppRoleAssignmentExists,
                )?;
            }
            Change::DeleteAppRoleAssignment(t, id) => {
                let found = self
                    .app_role_assignments
                    .get(id)
                    .is_some_and(|o| o.tenant_id == *t);
                must(found, "app role assignment")?;
                self.app_role_assignments.remove(id);
            }
            Change::InsertPermissionGrant(g) => {
                insert_new(
                    &mut self.permission_grants,
                    g.id,
                    g.clone(),
                    UniqueRule::PermissionGrantExists,
                )?;
            }
            Change::DeletePermissionGrant(t, id) => {
                let found = self
                    .permission_grants
                    .get(id)
                    .is_some_and(|o| o.tenant_id == *t);
                must(found, "oauth2PermissionGrant")?;
                self.permission_grants.remove(id);
            }
            Change::InsertDirectoryRoleAssignment(r) => {
                if self.directory_role_assignments.values().any(|o| {
                    o.tenant_id == r.tenant_id
                        && o.principal_id == r.principal_id
                        && o.role_template_id == r.role_template_id
                        && o.directory_scope_id == r.directory_scope_id
                }) {
                    return Err(conflict(UniqueRule::DirectoryRoleAssignmentExists));
                }
                insert_new(
                    &mut self.directory_role_assignments,
                    r.id,
                    r.clone(),
                    UniqueRule::DirectoryRoleAssignmentExists,
                )?;
            }
            Change::DeleteDirectoryRoleAssignment(t, id) => {
                let found = self
                    .directory_role_assignments
                    .get(id)
                    .is_some_and(|o| o.tenant_id == *t);
                must(found, "unifiedRoleAssignment")?;
                self.directory_role_assignments.remove(id);
            }
            Change::InsertCustomRole(r) => {
                let name = r.display_name.to_lowercase();
                if self
                    .custom_roles
                    .values()
                    .any(|o| o.tenant_id == r.tenant_id && o.display_name.to_lowercase() == name)
                {
                    return Err(conflict(UniqueRule::CustomRoleExists));
                }
                insert_new(
                    &mut self.custom_roles,
                    r.id,
                    r.clone(),
                    UniqueRule::CustomRoleExists,
                )?;
            }
            Change::DeleteCustomRole(t, id) => {
                let found = self.custom_roles.get(id).is_some_and(|o| o.tenant_id == *t);
                must(found, "unifiedRoleDefinition")?;
                self.custom_roles.remove(id);
            }
            Change::InsertAdministrativeUnit(au) => {
                insert_new(
                    &mut self.administrative_units,
                    au.id,
                    au.clone(),
                    UniqueRule::AdministrativeUnitExists,
                )?;
            }
            Change::DeleteAdministrativeUnit(t, id) => {
                let found = self
                    .administrative_units
                    .get(id)
                    .is_some_and(|o| o.tenant_id == *t);
                must(found, "administrativeUnit")?;
                self.administrative_units.remove(id);
                self.au_members
                    .retain(|(au, _), tt| !(*tt == *t && au == id));
                let scope = format!("/administrativeUnits/{id}");
                self.directory_role_assignments
                    .retain(|_, r| !(r.tenant_id == *t && r.directory_scope_id == scope));
            }
            Change::AddAuMember(t, au, member) => {
                insert_new(
                    &mut self.au_members,
                    (*au, *member),
                    *t,
                    UniqueRule::AuMembershipExists,
                )?;
            }
            Change::RemoveAuMember(t, au, member) => {
                let found = self.au_members.get(&(*au, *member)) == Some(t);
                must(found, "administrative unit member")?;
                self.au_members.remove(&(*au, *member));
            }
            Change::InsertSigningKey(k) => {
                insert_new(
                    &mut self.signing_keys,
                    k.kid.clone(),
                    k.clone(),
                    UniqueRule::SigningKeyExists,
                )?;
            }
            Change::UpdateSigningKey(k) => {
                must(self.signing_keys.contains_key(&k.kid), "signing key")?;
                self.signing_keys.insert(k.kid.clone(), k.clone());
            }
            Change::RevokeGrants(scope) => {
                self.revoke(scope);
            }
            Change::InsertArmResource(r) => {
                insert_new(
                    &mut self.arm_resources,
                    r.key(),
                    r.clone(),
                    UniqueRule::ArmResourceExists,
                )?;
            }
            Change::UpdateArmResource(r) => {
                let key = r.key();
                let found = self
                    .arm_resources
                    .get(&key)
                    .is_some_and(|o| o.tenant_id == r.tenant_id);
                must(found, "resource")?;
                self.arm_resources.insert(key, r.clone());
            }
            Change::DeleteArmResource(t, key) => {
                let key = normalise_scope(key);
                let found = self
                    .arm_resources
                    .get(&key)
                    .is_some_and(|o| o.tenant_id == *t);
                must(found, "resource")?;
                self.arm_resources.remove(&key);
            }
            Change::InsertAzureRoleAssignment(a) => {
                let scope = normalise_scope(&a.scope);
                if self.azure_role_assignments.values().any(|o| {
                    o.tenant_id == a.tenant_id
                        && normalise_scope(&o.scope) == scope
                        && o.principal_id == a.principal_id
                        && o.role_definition_id == a.role_definition_id
                }) {
                    return Err(conflict(UniqueRule::RoleAssignmentExists));
                }
                insert_new(
                    &mut self.azure_role_assignments,
                    a.id,
                    a.clone(),
                    UniqueRule::RoleAssignmentExists,
                )?;
            }
            Change::DeleteAzureRoleAssignment(t, id) => {
                let found = self
                    .azure_role_assignments
                    .get(id)
                    .is_some_and(|o| o.tenant_id == *t);
                must(found, "roleAssignment")?;
                self.azure_role_assignments.remove(id);
            }
            Change::PutCustomAzureRole(r) => {
                if self
                    .azure_roles
                    .get(&r.role.id)
                    .is_some_and(|o| o.tenant_id == r.tenant_id)
                {
                    self.azure_roles.remove(&r.role.id);
                }
                let name = r.role.name.to_lowercase();
                if self
                    .azure_roles
                    .values()
                    .any(|o| o.tenant_id == r.tenant_id && o.role.name.to_lowercase() == name)
                {
                    return Err(conflict(UniqueRule::RoleDefinitionNameTaken));
                }
                insert_new(
                    &mut self.azure_roles,
                    r.role.id,
                    r.clone(),
                    UniqueRule::RoleDefinitionNameTaken,
                )?;
            }
            Change::DeleteCustomAzureRole(t, id) => {
                let found = self.azure_roles.get(id).is_some_and(|o| o.tenant_id == *t);
                must(found, "roleDefinition")?;
                self.azure_roles.remove(id);
            }
            Change::InsertDenyAssignment(d) => {
                insert_new(
                    &mut self.deny_assignments,
                    d.deny.id.clone(),
                    d.clone(),
                    UniqueRule::DenyAssignmentExists,
                )?;
            }
            Change::DeleteDenyAssignment(t, id) => {
                let found = self
                    .deny_assignments
                    .get(id)
                    .is_some_and(|o| o.tenant_id == *t);
                must(found, "denyAssignment")?;
                self.deny_assignments.remove(id);
            }
            Change::PutRoleSchedule(r) => {
                if self
                    .role_schedules
                    .get(&(r.plane, r.id))
                    .is_some_and(|o| o.tenant_id != r.tenant_id)
                {
                    return Err(conflict(UniqueRule::PimObjectExists));
                }
                self.role_schedules.insert((r.plane, r.id), r.clone());
            }
            Change::PutRoleScheduleRequest(r) => {
                if self
                    .role_schedule_requests
                    .get(&(r.plane, r.id))
                    .is_some_and(|o| o.tenant_id != r.tenant_id)
                {
                    return Err(conflict(UniqueRule::PimObjectExists));
                }
                self.role_schedule_requests
                    .insert((r.plane, r.id), r.clone());
            }
            Change::PutRolePolicy(p) => {
                let scope = if p.plane == crate::pim::Plane::Directory {
                    String::new()
                } else {
                    p.scope_id.trim_end_matches('/').to_ascii_lowercase()
                };
                self.role_policies.insert(
                    (p.tenant_id, p.plane, scope, p.role_definition_id),
                    p.clone(),
                );
            }
            Change::PutPolicyDocument(d) => {
                if self
                    .policy_documents
                    .get(&d.id)
                    .is_some_and(|o| o.tenant_id == d.tenant_id)
                {
                    self.policy_documents.remove(&d.id);
                }
                let name = d.display_name.to_lowercase();
                if self.policy_documents.values().any(|o| {
                    o.tenant_id == d.tenant_id
                        && o.kind == d.kind
                        && o.display_name.to_lowercase() == name
                }) {
                    return Err(conflict(UniqueRule::PolicyNameTaken));
                }
                insert_new(
                    &mut self.policy_documents,
                    d.id,
                    d.clone(),
                    UniqueRule::PolicyNameTaken,
                )?;
            }
            Change::DeletePolicyDocument(t, id) => {
                let found = self
                    .policy_documents
                    .get(id)
                    .is_some_and(|o| o.tenant_id == *t);
                must(found, "policy")?;
                self.policy_documents.remove(id);
            }
            Change::InsertSoftwareOathMethod(m) => {
                if let Some(step) = m.last_used_step {
                    step_fits(step)?;
                }
                insert_new(
                    &mut self.oath_methods,
                    m.id,
                    m.clone(),
                    UniqueRule::SoftwareOathMethodExists,
                )?;
            }
            Change::ConfirmSoftwareOathMethod(t, id, step) => {
                step_fits(*step)?;
                let m = self
                    .oath_methods
                    .get_mut(id)
                    .filter(|m| m.tenant_id == *t && !m.confirmed)
                    .ok_or_else(|| not_found("pending softwareOathAuthenticationMethod"))?;
                m.confirmed = true;
                m.last_used_step = Some(*step);
            }
            Change::DeleteSoftwareOathMethod(t, id) => {
                let found = self.oath_methods.get(id).is_some_and(|o| o.tenant_id == *t);
                must(found, "softwareOathAuthenticationMethod")?;
                self.oath_methods.remove(id);
            }
            Change::ReplaceRecoveryCodes(t, user, hashes) => {
                self.recovery_codes
                    .retain(|(tt, u, _), _| !(tt == t && u == user));
                for h in hashes {
                    insert_new(
                        &mut self.recovery_codes,
                        (*t, *user, *h),
                        false,
                        UniqueRule::RecoveryCodeExists,
                    )?;
                }
            }
            Change::ResetMfaAttempts(t, user) => {
                self.mfa_attempts.remove(&(*t, *user));
            }
            Change::InsertDevice(d) => {
                if self
                    .devices
                    .values()
                    .any(|o| o.tenant_id == d.tenant_id && o.device_id == d.device_id)
                {
                    return Err(conflict(UniqueRule::DeviceIdTaken));
                }
                insert_new(
                    &mut self.devices,
                    d.id,
                    d.clone(),
                    UniqueRule::DeviceIdTaken,
                )?;
            }
            Change::UpdateDevice(d) => {
                let last = self
                    .devices
                    .get(&d.id)
                    .filter(|o| o.tenant_id == d.tenant_id)
                    .map(|o| o.last_sign_in)
                    .ok_or_else(|| not_found("device"))?;
                // The sign-in time is the store's own column: an update never moves it.
                self.devices.insert(
                    d.id,
                    Device {
                        last_sign_in: last,
                        ..d.clone()
                    },
                );
            }
            Change::TouchDevice(t, id, at) => {
                let d = self
                    .devices
                    .get_mut(id)
                    .filter(|o| o.tenant_id == *t)
                    .ok_or_else(|| not_found("device"))?;
                d.last_sign_in = Some(*at);
            }
            Change::DeleteDevice(t, id) => {
                let found = self.devices.get(id).is_some_and(|o| o.tenant_id == *t);
                must(found, "device")?;
                self.devices.remove(id);
                self.owners.retain(|(o, _), tt| !(*tt == *t && o == id));
            }
            Change::UpdateGrant(expected, next) => {
                if self
                    .grants
                    .get(&next.handle)
                    .is_none_or(|g| g.state != *expected)
                {
                    return Err(conflict(UniqueRule::GrantChanged));
                }
                self.put_grant(next)?;
            }
            Change::InsertGrant(g) => {
                if self.grants.contains_key(&g.handle) {
                    return Err(conflict(UniqueRule::GrantExists));
                }
                self.put_grant(g)?;
            }
            Change::PutRiskyUser(r, expected) => {
                if !self.put_risky_user(r, *expected)? {
                    return Err(conflict(UniqueRule::RiskyUserChanged));
                }
            }
            Change::InsertDeletedItem(item) => insert_new(
                &mut self.deleted_items,
                (item.tenant_id, item.id()),
                (**item).clone(),
                UniqueRule::DeletedItemExists,
            )?,
            Change::DeleteDeletedItem(t, id) => {
                must(
                    self.deleted_items.remove(&(*t, *id)).is_some(),
                    "deleted item",
                )?;
            }
            Change::PutSubscription(sub) => {
                self.subscriptions
                    .insert((sub.tenant_id, sub.sku_id.clone()), sub.clone());
            }
            Change::PutLicenseAssignment(a) => {
                self.license_assignments
                    .insert((a.tenant_id, a.principal_id, a.sku_id.clone()), a.clone());
            }
            Change::DeleteLicenseAssignment(t, p, sku) => {
                must(
                    self.license_assignments
                        .remove(&(*t, *p, sku.clone()))
                        .is_some(),
                    "license assignment",
                )?;
            }
        }
        Ok(())
    }
}

/// Ids and times as the SQL engines order them (a GUID's bytes order like its text).
fn by<T, K: Ord>(mut v: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    v.sort_by_key(key);
    v
}

#[async_trait]
impl Store for MemoryStore {
    async fn commit(&self, set: ChangeSet) -> Result<(), StoreError> {
        self.write(|d| {
            for c in &set.changes {
                d.apply(c).map_err(|e| c.name_conflict(e))?;
            }
            for a in &set.audit {
                insert_new(&mut d.audit, a.id, a.clone(), UniqueRule::AuditRecordExists)?;
            }
            Ok(())
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|_| ())
    }
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        self.read(|d| d.tenants.get(&id).cloned())
    }

    async fn tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>, StoreError> {
        let key = domain.to_ascii_lowercase();
        self.read(|d| d.domains.get(&key).and_then(|t| d.tenants.get(t)).cloned())
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read(|d| d.tenants.values().cloned().collect())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn user(&self, t: TenantId, id: ObjectId) -> Result<Option<User>, StoreError> {
        self.read(|d| d.users.get(&id).filter(|u| u.tenant_id == t).cloned())
    }

    async fn user_by_upn(&self, t: TenantId, upn: &str) -> Result<Option<User>, StoreError> {
        let upn = upn.to_lowercase();
        self.read(|d| {
            d.users
                .values()
                .find(|u| u.tenant_id == t && u.user_principal_name.to_lowercase() == upn)
                .cloned()
        })
    }

    async fn users(&self, t: TenantId) -> Result<Vec<User>, StoreError> {
        self.read(|d| {
            d.users
                .values()
                .filter(|u| u.tenant_id == t)
                .cloned()
                .collect()
        })
    }

    async fn users_version(&self, t: TenantId) -> Result<u64, StoreError> {
        self.read(|d| d.user_versions.get(&t).copied().unwrap_or(0))
    }

    async fn object_kind(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ObjectKind>, StoreError> {
        self.read(|d| {
            if d.users.get(&id).is_some_and(|o| o.tenant_id == t) {
                Some(ObjectKind::User)
            } else if d.groups.get(&id).is_some_and(|o| o.tenant_id == t) {
                Some(ObjectKind::Group)
            } else if d
                .service_principals
                .get(&id)
                .is_some_and(|o| o.tenant_id == t)
            {
                Some(ObjectKind::ServicePrincipal)
            } else if d.applications.get(&id).is_some_and(|o| o.tenant_id == t) {
                Some(ObjectKind::Application)
            } else {
                None
            }
        })
    }
}

#[async_trait]
impl GroupStore for MemoryStore {
    async fn group(&self, t: TenantId, id: ObjectId) -> Result<Option<Group>, StoreError> {
        self.read(|d| d.groups.get(&id).filter(|g| g.tenant_id == t).cloned())
    }

    async fn groups_version(&self, t: TenantId) -> Result<u64, StoreError> {
        self.read(|d| d.group_versions.get(&t).copied().unwrap_or(0))
    }

    async fn groups(&self, t: TenantId) -> Result<Vec<Group>, StoreError> {
        self.read(|d| {
            d.groups
                .values()
                .filter(|g| g.tenant_id == t)
                .cloned()
                .collect()
        })
    }

    async fn memberships(&self, t: TenantId) -> Result<Vec<Membership>, StoreError> {
        self.read(|d| {
            d.memberships
                .iter()
                .filter(|(_, (tt, _))| *tt == t)
                .map(|((g, m), (_, kind))| Membership {
                    group_id: *g,
                    member_id: *m,
                    member_kind: *kind,
                })
                .collect()
        })
    }

    async fn direct_member_of(
        &self,
        t: TenantId,
        member: ObjectId,
    ) -> Result<Vec<ObjectId>, StoreError> {
        self.read(|d| {
            let mut v: Vec<ObjectId> = d
                .memberships
                .iter()
                .filter(|((_, m), (tt, _))| *tt == t && *m == member)
                .map(|((g, _), _)| *g)
                .collect();
            v.sort();
            v
        })
    }

    async fn owners(&self, t: TenantId, object: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.read(|d| {
            d.owners
                .iter()
                .filter(|((o, _), tt)| **tt == t && *o == object)
                .map(|((_, w), _)| *w)
                .collect()
        })
    }

    async fn owned_by(&self, t: TenantId, owner: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.read(|d| {
            let mut v: Vec<ObjectId> = d
                .owners
                .iter()
                .filter(|((_, w), tt)| **tt == t && *w == owner)
                .map(|((o, _), _)| *o)
                .collect();
            v.sort();
            v
        })
    }
}

#[async_trait]
impl crate::store::LicenseStore for MemoryStore {
    async fn subscriptions(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::licenses::Subscription>, StoreError> {
        self.read(|d| {
            d.subscriptions
                .iter()
                .filter(|((tt, _), _)| *tt == t)
                .map(|(_, s)| s.clone())
                .collect()
        })
    }

    async fn license_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::licenses::LicenseAssignment>, StoreError> {
        self.read(|d| {
            d.license_assignments
                .iter()
                .filter(|((tt, _, _), _)| *tt == t)
                .map(|(_, a)| a.clone())
                .collect()
        })
    }
}

#[async_trait]
impl crate::store::DeletedItemStore for MemoryStore {
    async fn deleted_items(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::deleted_items::DeletedItem>, StoreError> {
        self.read(|d| {
            let mut v: Vec<_> = d
                .deleted_items
                .iter()
                .filter(|((tt, _), _)| *tt == t)
                .map(|(_, i)| i.clone())
                .collect();
            v.sort_by_key(|i| (i.deleted, i.id()));
            v
        })
    }

    async fn deleted_item(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<crate::deleted_items::DeletedItem>, StoreError> {
        self.read(|d| d.deleted_items.get(&(t, id)).cloned())
    }
}

#[async_trait]
impl ApplicationStore for MemoryStore {
    async fn application(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<Application>, StoreError> {
        self.read(|d| {
            d.applications
                .get(&id)
                .filter(|a| a.tenant_id == t)
                .cloned()
        })
    }

    async fn application_by_app_id(
        &self,
        app_id: AppId,
    ) -> Result<Option<Application>, StoreError> {
        self.read(|d| {
            d.applications
                .values()
                .find(|a| a.app_id == app_id)
                .cloned()
        })
    }

    async fn applications(&self, t: TenantId) -> Result<Vec<Application>, StoreError> {
        self.read(|d| {
            d.applications
                .values()
                .filter(|a| a.tenant_id == t)
                .cloned()
                .collect()
        })
    }

    async fn application_by_identifier_uri(
        &self,
        uri: &str,
    ) -> Result<Option<Application>, StoreError> {
        let key = identifier_uri_key(uri);
        self.read(|d| {
            d.identifier_uris
                .get(&key)
                .and_then(|(_, app)| d.applications.get(app))
                .cloned()
        })
    }

    async fn service_principal(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ServicePrincipal>, StoreError> {
        self.read(|d| {
            d.service_principals
                .get(&id)
                .filter(|s| s.tenant_id == t)
                .cloned()
        })
    }

    async fn service_principal_by_app_id(
        &self,
        t: TenantId,
        app_id: AppId,
    ) -> Result<Option<ServicePrincipal>, StoreError> {
        self.read(|d| {
            d.service_principals
                .values()
                .find(|s| s.tenant_id == t && s.app_id == app_id)
                .cloned()
        })
    }

    async fn service_principals(&self, t: TenantId) -> Result<Vec<ServicePrincipal>, StoreError> {
        self.read(|d| {
            d.service_principals
                .values()
                .filter(|s| s.tenant_id == t)
                .cloned()
                .collect()
        })
    }
}

#[async_trait]
impl AssignmentStore for MemoryStore {
    async fn app_role_assignments_of(
        &self,
        t: TenantId,
        principal: ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, StoreError> {
        self.read(|d| {
            d.app_role_assignments
                .values()
                .filter(|a| a.tenant_id == t && a.principal_id == principal)
                .cloned()
                .collect()
        })
    }

    async fn app_role_assignments_to(
        &self,
        t: TenantId,
        resource: ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, StoreError> {
        self.read(|d| {
            d.app_role_assignments
                .values()
                .filter(|a| a.tenant_id == t && a.resource_id == resource)
                .cloned()
                .collect()
        })
    }

    async fn permission_grants(
        &self,
        t: TenantId,
    ) -> Result<Vec<OAuth2PermissionGrant>, StoreError> {
        self.read(|d| {
            d.permission_grants
                .values()
                .filter(|g| g.tenant_id == t)
                .cloned()
                .collect()
        })
    }
}

#[async_trait]
impl DirectoryRoleStore for MemoryStore {
    async fn directory_role_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<DirectoryRoleAssignment>, StoreError> {
        self.read(|d| {
            d.directory_role_assignments
                .values()
                .filter(|r| r.tenant_id == t)
                .cloned()
                .collect()
        })
    }

    async fn custom_roles(&self, t: TenantId) -> Result<Vec<CustomRoleDefinition>, StoreError> {
        self.read(|d| {
            d.custom_roles
                .values()
                .filter(|r| r.tenant_id == t)
                .cloned()
                .collect()
        })
    }

    async fn administrative_units(
        &self,
        t: TenantId,
    ) -> Result<Vec<AdministrativeUnit>, StoreError> {
        self.read(|d| {
            d.administrative_units
                .values()
                .filter(|a| a.tenant_id == t)
                .cloned()
                .collect()
        })
    }

    async fn au_members(&self, t: TenantId, au: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.read(|d| {
            d.au_members
                .iter()
                .filter(|((a, _), tt)| **tt == t && *a == au)
                .map(|((_, m), _)| *m)
                .collect()
        })
    }

    async fn aus_of(&self, t: TenantId, member: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.read(|d| {
            by(
                d.au_members
                    .iter()
                    .filter(|((_, m), tt)| **tt == t && *m == member)
                    .map(|((a, _), _)| *a)
                    .collect(),
                |a| *a,
            )
        })
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn audit_records(
        &self,
        t: TenantId,
        q: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let since = q.since.map_or(i64::MIN, |x| x.millis());
        let until = q.until.map_or(i64::MAX, |x| x.millis());
        self.read(|d| {
            let mut v: Vec<AuditRecord> = d
                .audit
                .values()
                .filter(|a| {
                    a.tenant_id == t
                        && a.time.millis() >= since
                        && a.time.millis() < until
                        && q.category.as_ref().is_none_or(|c| *c == a.category)
                })
                .cloned()
                .collect();
            v.sort_by_key(|a| std::cmp::Reverse((a.time, a.id)));
            v.truncate(q.limit.unwrap_or(usize::MAX));
            v
        })
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        self.read(|d| d.signing_keys.values().cloned().collect())
    }
}

#[async_trait]
impl GrantStore for MemoryStore {
    async fn insert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        self.write(|d| {
            if d.grants.contains_key(&g.handle) {
                return Err(conflict(UniqueRule::GrantExists));
            }
            d.put_grant(g)
        })
    }

    async fn grant(&self, handle: &str) -> Result<Option<Grant>, StoreError> {
        self.read(|d| d.grants.get(handle).cloned())
    }

    async fn grants_of_kind(&self, t: TenantId, kind: GrantKind) -> Result<Vec<Grant>, StoreError> {
        self.read(|d| {
            let mut v: Vec<Grant> = d
                .grants
                .values()
                .filter(|g| g.tenant_id == t && g.kind == kind)
                .cloned()
                .collect();
            v.sort_by(|a, b| {
                b.created
                    .cmp(&a.created)
                    .then_with(|| a.handle.cmp(&b.handle))
            });
            v
        })
    }

    async fn grant_by_lookup(
        &self,
        kind: GrantKind,
        lookup: &str,
    ) -> Result<Option<Grant>, StoreError> {
        self.read(|d| {
            d.grants
                .values()
                .find(|g| g.kind == kind && g.lookup.as_deref() == Some(lookup))
                .cloned()
        })
    }

    async fn update_grant(&self, expected: GrantState, next: &Grant) -> Result<bool, StoreError> {
        self.write(|d| {
            if d.grants
                .get(&next.handle)
                .is_none_or(|g| g.state != expected)
            {
                return Ok(false);
            }
            d.put_grant(next)?;
            Ok(true)
        })
    }

    async fn upsert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        self.write(|d| d.put_grant(g))
    }

    async fn revoke_grants(&self, scope: &RevokeScope) -> Result<u64, StoreError> {
        self.write(|d| Ok(d.revoke(scope)))
    }

    async fn purge_grants(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.write(|d| {
            let before = d.grants.len();
            d.grants.retain(|_, g| g.expires >= now);
            Ok((before - d.grants.len()) as u64)
        })
    }
}

#[async_trait]
impl ArmStore for MemoryStore {
    async fn arm_resource(&self, id: &str) -> Result<Option<ArmResource>, StoreError> {
        let key = normalise_scope(id);
        self.read(|d| d.arm_resources.get(&key).cloned())
    }

    async fn arm_resources(&self, t: TenantId) -> Result<Vec<ArmResource>, StoreError> {
        self.read(|d| {
            d.arm_resources
                .values()
                .filter(|r| r.tenant_id == t)
                .cloned()
                .collect()
        })
    }

    async fn arm_children(
        &self,
        t: TenantId,
        parent: &str,
    ) -> Result<Vec<ArmResource>, StoreError> {
        let parent = normalise_scope(parent);
        self.read(|d| {
            d.arm_resources
                .values()
                .filter(|r| {
                    r.tenant_id == t
                        && r.parent.as_deref().map(normalise_scope) == Some(parent.clone())
                })
                .cloned()
                .collect()
        })
    }

    async fn azure_role_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<AzureRoleAssignment>, StoreError> {
        self.read(|d| {
            by(
                d.azure_role_assignments
                    .values()
                    .filter(|a| a.tenant_id == t)
                    .cloned()
                    .collect(),
                |a| (normalise_scope(&a.scope), a.id),
            )
        })
    }

    async fn azure_role_assignments_of(
        &self,
        t: TenantId,
        principal: ObjectId,
    ) -> Result<Vec<AzureRoleAssignment>, StoreError> {
        self.read(|d| {
            by(
                d.azure_role_assignments
                    .values()
                    .filter(|a| a.tenant_id == t && a.principal_id == principal)
                    .cloned()
                    .collect(),
                |a| (normalise_scope(&a.scope), a.id),
            )
        })
    }

    async fn custom_azure_roles(&self, t: TenantId) -> Result<Vec<CustomAzureRole>, StoreError> {
        self.read(|d| {
            by(
                d.azure_roles
                    .values()
                    .filter(|r| r.tenant_id == t)
                    .cloned()
                    .collect(),
                |r| r.role.name.to_lowercase(),
            )
        })
    }

    async fn deny_assignments(&self, t: TenantId) -> Result<Vec<StoredDenyAssignment>, StoreError> {
        self.read(|d| {
            d.deny_assignments
                .values()
                .filter(|x| x.tenant_id == t)
                .cloned()
                .collect()
        })
    }
}

#[async_trait]
impl PimStore for MemoryStore {
    async fn role_schedules(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleSchedule>, StoreError> {
        self.schedules_in(t, crate::pim::Plane::Directory)
    }
    async fn role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleScheduleRequest>, StoreError> {
        self.requests_in(t, crate::pim::Plane::Directory)
    }
    async fn role_policies(&self, t: TenantId) -> Result<Vec<crate::pim::RolePolicy>, StoreError> {
        self.policies_in(t, crate::pim::Plane::Directory)
    }
    async fn arm_role_schedules(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleSchedule>, StoreError> {
        self.schedules_in(t, crate::pim::Plane::Azure)
    }
    async fn arm_role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleScheduleRequest>, StoreError> {
        self.requests_in(t, crate::pim::Plane::Azure)
    }
    async fn arm_role_policies(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RolePolicy>, StoreError> {
        self.policies_in(t, crate::pim::Plane::Azure)
    }
    async fn group_role_schedules(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleSchedule>, StoreError> {
        self.schedules_in(t, crate::pim::Plane::Group)
    }
    async fn group_role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleScheduleRequest>, StoreError> {
        self.requests_in(t, crate::pim::Plane::Group)
    }
    async fn group_role_policies(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RolePolicy>, StoreError> {
        self.policies_in(t, crate::pim::Plane::Group)
    }
}

impl MemoryStore {
    fn schedules_in(
        &self,
        t: TenantId,
        plane: crate::pim::Plane,
    ) -> Result<Vec<crate::pim::RoleSchedule>, StoreError> {
        self.read(|d| {
            by(
                d.role_schedules
                    .values()
                    .filter(|r| r.tenant_id == t && r.plane == plane)
                    .cloned()
                    .collect(),
                |r| (r.created, r.id),
            )
        })
    }
    fn requests_in(
        &self,
        t: TenantId,
        plane: crate::pim::Plane,
    ) -> Result<Vec<crate::pim::RoleScheduleRequest>, StoreError> {
        self.read(|d| {
            by(
                d.role_schedule_requests
                    .values()
                    .filter(|r| r.tenant_id == t && r.plane == plane)
                    .cloned()
                    .collect(),
                |r| (r.created, r.id),
            )
        })
    }
    fn policies_in(
        &self,
        t: TenantId,
        plane: crate::pim::Plane,
    ) -> Result<Vec<crate::pim::RolePolicy>, StoreError> {
        self.read(|d| {
            d.role_policies
                .values()
                .filter(|p| p.tenant_id == t && p.plane == plane)
                .cloned()
                .collect()
        })
    }
}

#[async_trait]
impl PolicyStore for MemoryStore {
    async fn policy_documents(
        &self,
        t: TenantId,
        kind: PolicyDocumentKind,
    ) -> Result<Vec<PolicyDocument>, StoreError> {
        self.read(|d| {
            by(
                d.policy_documents
                    .values()
                    .filter(|p| p.tenant_id == t && p.kind == kind)
                    .cloned()
                    .collect(),
                |p| (p.created, p.id),
            )
        })
    }
}

#[async_trait]
impl AuthMethodStore for MemoryStore {
    async fn software_oath_methods(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Vec<SoftwareOathMethod>, StoreError> {
        self.read(|d| {
            by(
                d.oath_methods
                    .values()
                    .filter(|m| m.tenant_id == t && m.user_id == user)
                    .cloned()
                    .collect(),
                |m| (m.created, m.id),
            )
        })
    }

    async fn software_oath_method(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<SoftwareOathMethod>, StoreError> {
        self.read(|d| {
            d.oath_methods
                .get(&id)
                .filter(|m| m.tenant_id == t)
                .cloned()
        })
    }

    async fn advance_totp_step(
        &self,
        t: TenantId,
        id: ObjectId,
        step: u64,
    ) -> Result<bool, StoreError> {
        step_fits(step)?;
        self.write(|d| {
            let Some(m) = d
                .oath_methods
                .get_mut(&id)
                .filter(|m| m.tenant_id == t && m.confirmed)
            else {
                return Ok(false);
            };
            if m.last_used_step.is_some_and(|s| s >= step) {
                return Ok(false);
            }
            m.last_used_step = Some(step);
            Ok(true)
        })
    }

    async fn recovery_codes(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Vec<RecoveryCode>, StoreError> {
        self.read(|d| {
            d.recovery_codes
                .iter()
                .filter(|((tt, u, _), _)| *tt == t && *u == user)
                .map(|((_, _, hash), used)| RecoveryCode {
                    hash: *hash,
                    used: *used,
                })
                .collect()
        })
    }

    async fn use_recovery_code(
        &self,
        t: TenantId,
        user: ObjectId,
        hash: &[u8; 32],
    ) -> Result<bool, StoreError> {
        self.write(|d| match d.recovery_codes.get_mut(&(t, user, *hash)) {
            Some(used) if !*used => {
                *used = true;
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    async fn mfa_attempts(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<(MfaAttempts, i64)>, StoreError> {
        self.read(|d| d.mfa_attempts.get(&(t, user)).copied())
    }

    async fn put_mfa_attempts(
        &self,
        t: TenantId,
        user: ObjectId,
        next: &MfaAttempts,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.write(|d| {
            let version = match (expected, d.mfa_attempts.get(&(t, user))) {
                (None, None) => 1,
                (Some(v), Some((_, cur))) if *cur == v => v.saturating_add(1),
                _ => return Ok(false),
            };
            d.mfa_attempts.insert((t, user), (*next, version));
            Ok(true)
        })
    }

    async fn reset_mfa_attempts(&self, t: TenantId, user: ObjectId) -> Result<bool, StoreError> {
        self.write(|d| Ok(d.mfa_attempts.remove(&(t, user)).is_some()))
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn device(&self, t: TenantId, id: ObjectId) -> Result<Option<Device>, StoreError> {
        self.read(|d| d.devices.get(&id).filter(|x| x.tenant_id == t).cloned())
    }

    async fn device_by_device_id(
        &self,
        t: TenantId,
        device_id: uuid::Uuid,
    ) -> Result<Option<Device>, StoreError> {
        self.read(|d| {
            d.devices
                .values()
                .find(|x| x.tenant_id == t && x.device_id == device_id)
                .cloned()
        })
    }

    async fn devices(&self, t: TenantId) -> Result<Vec<Device>, StoreError> {
        self.read(|d| {
            by(
                d.devices
                    .values()
                    .filter(|x| x.tenant_id == t)
                    .cloned()
                    .collect(),
                |x| (x.created, x.id),
            )
        })
    }

    async fn devices_owned_by(
        &self,
        t: TenantId,
        owner: ObjectId,
    ) -> Result<Vec<Device>, StoreError> {
        self.read(|d| {
            by(
                d.owners
                    .iter()
                    .filter(|((_, w), tt)| **tt == t && *w == owner)
                    .filter_map(|((o, _), _)| d.devices.get(o))
                    .filter(|x| x.tenant_id == t)
                    .cloned()
                    .collect(),
                |x| (x.created, x.id),
            )
        })
    }
}

#[async_trait]
impl RiskStore for MemoryStore {
    async fn risky_user(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<RiskyUserRecord>, StoreError> {
        self.read(|d| d.risky_users.get(&(t, user)).cloned())
    }

    async fn put_risky_user(
        &self,
        record: &RiskyUserRecord,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.write(|d| d.put_risky_user(record, expected))
    }

    async fn risky_users(&self, t: TenantId) -> Result<Vec<RiskyUserRecord>, StoreError> {
        self.read(|d| {
            let mut v: Vec<RiskyUserRecord> = d
                .risky_users
                .values()
                .filter(|r| r.tenant_id == t)
                .cloned()
                .collect();
            v.sort_by(|a, b| {
                b.updated
                    .cmp(&a.updated)
                    .then_with(|| a.user_id.cmp(&b.user_id))
            });
            v
        })
    }

    async fn add_failed_sign_in(
        &self,
        record: &FailedSignInRecord,
        prune_before: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(|d| {
            d.failed_sign_ins
                .retain(|f| !(f.tenant_id == record.tenant_id && f.at < prune_before));
            d.failed_sign_ins.push(record.clone());
            Ok(())
        })
    }

    async fn failed_sign_ins(
        &self,
        t: TenantId,
        source: &str,
        since: Timestamp,
    ) -> Result<Vec<FailedSignInRecord>, StoreError> {
        self.read(|d| {
            let mut v: Vec<FailedSignInRecord> = d
                .failed_sign_ins
                .iter()
                .filter(|f| f.tenant_id == t && f.source == source && f.at >= since)
                .cloned()
                .collect();
            v.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.username.cmp(&b.username)));
            v
        })
    }
}

#[async_trait]
impl SignInStore for MemoryStore {
    async fn insert_sign_ins(&self, records: &[SignIn]) -> Result<(), StoreError> {
        self.write(|d| {
            for r in records {
                insert_new(&mut d.sign_ins, r.id, r.clone(), UniqueRule::SignInExists)?;
            }
            Ok(())
        })
    }

    async fn sign_ins(&self, t: TenantId, q: &SignInQuery) -> Result<Vec<SignIn>, StoreError> {
        let since = q.since.map_or(i64::MIN, |x| x.millis());
        let until = q.until.map_or(i64::MAX, |x| x.millis());
        self.read(|d| {
            let mut v: Vec<SignIn> = d
                .sign_ins
                .values()
                .filter(|r| {
                    r.tenant_id == t && r.created.millis() >= since && r.created.millis() < until
                })
                .cloned()
                .collect();
            v.sort_by_key(|a| std::cmp::Reverse((a.created, a.id)));
            v.truncate(q.limit.unwrap_or(usize::MAX));
            v
        })
    }
}

/// Drives a future that never waits on I/O (the memory store's, and use cases over it) to
/// completion on the current thread, without a runtime. Futures that do wait are polled
/// again until they finish (a busy loop: for tests only).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    //! The conformance suite on the memory store, one test per area (so a failure names it).
    use super::{block_on, MemoryStore};
    use crate::conformance as c;

    macro_rules! areas {
        ($($area:ident),* $(,)?) => {
            $(
                #[test]
                fn $area() {
                    block_on(c::$area(&MemoryStore::new(), 0x5eed));
                }
            )*
        };
    }

    crate::conformance_areas!(areas);
}
