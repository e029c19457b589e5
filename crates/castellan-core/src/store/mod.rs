//! The storage port, defined by its consumer (core). Engines live in `castellan-store`.
//!
//! Reads are plain queries scoped by tenant. Writes are a [`ChangeSet`]: the intended writes an
//! op decided on, plus the audit records that describe them, applied by [`Store::commit`] in
//! one transaction — all or nothing. Uniqueness (UPN per tenant, membership edges, app ids) is
//! enforced by the engine and reported as [`StoreError::Conflict`].

use async_trait::async_trait;

#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod stale;

/// Every area trait, for code that calls reads on a concrete engine (`SqlStore`,
/// `MemoryStore`) rather than on `&dyn Store`: `use castellan_core::store::prelude::*;`.
pub mod prelude {
    pub use super::{
        ApplicationStore, ArmStore, AssignmentStore, AuditStore, AuthMethodStore, DeletedItemStore,
        DeviceStore, DirectoryRoleStore, GrantStore, GroupStore, KeyStore, LicenseStore, PimStore,
        PolicyStore, RiskStore, SignInStore, Store, TenantStore, UserStore,
    };
}

use crate::audit::AuditRecord;
use crate::ids::{AppId, ObjectId, TenantId};
use crate::model::{
    AppRoleAssignment, Application, DirectoryRoleAssignment, Grant, GrantKind, GrantState, Group,
    Membership, OAuth2PermissionGrant, ObjectKind, RevokeScope, ServicePrincipal, SignIn,
    SignInQuery, SigningKey, Tenant, User,
};
use crate::time::Timestamp;

/// The two sentinel errors and the backend's own failures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The thing to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule would be broken (or a compare-and-set lost): which one, typed.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The database failed (connection lost, disk full, ...).
    #[error("store unavailable: {0}")]
    Backend(String),
    /// The engine reported a transient conflict between concurrent transactions (SQLite busy,
    /// PostgreSQL serialization failure or deadlock). Engines retry these themselves; this
    /// reaches callers only when the retries ran out, and means "retry later" like `Backend`.
    #[error("store unavailable: {0}")]
    Busy(String),
}

impl StoreError {
    /// A conflict on `rule` with nothing more to say about the value.
    pub fn conflict(rule: UniqueRule) -> Self {
        Self::Conflict(Conflict {
            rule,
            subject: None,
        })
    }
    /// The uniqueness rule, when this is a conflict.
    pub fn unique_rule(&self) -> Option<UniqueRule> {
        match self {
            Self::Conflict(c) => Some(c.rule),
            _ => None,
        }
    }
}

/// Which uniqueness rule a write broke. Engines report this, never prose; callers match on it
/// (Graph and ARM answers are chosen from it, retries test it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UniqueRule {
    /// A tenant with this id exists.
    TenantExists,
    /// A verified domain name (any case) belongs to another tenant (unverified names may be
    /// added by several tenants; one only may verify it).
    DomainTaken,
    /// The userPrincipalName (any case) is taken in the tenant (or the user id exists).
    UpnTaken,
    /// A group with this id exists.
    GroupExists,
    /// The member is already in the group.
    MembershipExists,
    /// The owner is already an owner of the object.
    OwnerExists,
    /// An application with this appId (or object id) exists.
    AppIdTaken,
    /// Another application, in any tenant, holds the identifier URI.
    IdentifierUriTaken,
    /// The tenant already has a service principal for the appId (or the id exists).
    ServicePrincipalExists,
    /// The principal already holds this app role on this resource.
    AppRoleAssignmentExists,
    /// A delegated permission grant with this id exists.
    PermissionGrantExists,
    /// The principal already holds this directory role at this scope.
    DirectoryRoleAssignmentExists,
    /// A custom directory role with this id or display name (any case) exists.
    CustomRoleExists,
    /// An administrative unit with this id exists.
    AdministrativeUnitExists,
    /// The object is already a member of the administrative unit.
    AuMembershipExists,
    /// A signing key with this kid exists.
    SigningKeyExists,
    /// A scope with this id (any case) exists.
    ArmResourceExists,
    /// The same principal, role and scope are already assigned (ARM `RoleAssignmentExists`).
    RoleAssignmentExists,
    /// Another custom Azure role has the name (ARM `RoleDefinitionWithSameNameExists`).
    RoleDefinitionNameTaken,
    /// A deny assignment with this id exists.
    DenyAssignmentExists,
    /// Another policy or named location of the kind has the display name (any case).
    PolicyNameTaken,
    /// A software OATH method with this id exists.
    SoftwareOathMethodExists,
    /// A recovery code with this hash exists for the user.
    RecoveryCodeExists,
    /// The tenant already has a device with this deviceId (or the id exists).
    DeviceIdTaken,
    /// A grant with this handle or lookup key exists (a replayed one-time value).
    GrantExists,
    /// A risky-user record exists (a lost compare-and-set on creation).
    RiskyUserExists,
    /// `Change::PutRiskyUser` lost its compare-and-set: another writer changed (or created)
    /// the user's risk record in between.
    RiskyUserChanged,
    /// `Change::UpdateGrant` lost its compare-and-set: the grant is gone or no longer in the
    /// expected state.
    GrantChanged,
    /// Second-factor counters exist (a lost compare-and-set on creation).
    MfaAttemptsExist,
    /// An audit record with this id exists.
    AuditRecordExists,
    /// A sign-in record with this id exists.
    SignInExists,
    /// A PIM schedule or schedule request id belongs to another tenant.
    PimObjectExists,
    /// A unique key of a table no other rule names (an engine bug if it ever shows).
    Unclassified,
    /// `Change::ReplaceApplication` lost its compare-and-set: another request changed the
    /// application between the read and the write.
    ApplicationChanged,
    /// `Change::ReplaceTenant` lost its compare-and-set: another request changed the tenant
    /// between the read and the write.
    TenantChanged,
    /// The recycle bin already holds an item with this id.
    DeletedItemExists,
}

impl UniqueRule {
    /// The ARM error code for the rules ARM names itself (`None`: ARM answers `Conflict`).
    pub fn arm_code(self) -> Option<&'static str> {
        match self {
            Self::RoleAssignmentExists => Some("RoleAssignmentExists"),
            Self::RoleDefinitionNameTaken => Some("RoleDefinitionWithSameNameExists"),
            _ => None,
        }
    }

    /// What broke, in words (the text of Graph's and ARM's answers).
    pub fn description(self) -> &'static str {
        match self {
            Self::TenantExists => "a row in tenants already exists",
            Self::DomainTaken => "the domain belongs to another tenant",
            Self::UpnTaken => "userPrincipalName already exists in this tenant",
            Self::GroupExists => "a row in groups_ already exists",
            Self::MembershipExists => "the member is already in the group",
            Self::OwnerExists => "the owner is already an owner",
            Self::AppIdTaken => "an application with this appId already exists",
            Self::IdentifierUriTaken => "Another object with the same value for property identifierUris already exists (identifier URIs are unique across all tenants).",
            Self::ServicePrincipalExists => "the tenant already has a service principal for this appId",
            Self::AppRoleAssignmentExists => "the app role is already assigned to this principal",
            Self::PermissionGrantExists => "a row in permission_grants already exists",
            Self::DirectoryRoleAssignmentExists => "a row in directory_role_assignments already exists",
            Self::CustomRoleExists => "a row in custom_roles already exists",
            Self::AdministrativeUnitExists => "a row in administrative_units already exists",
            Self::AuMembershipExists => "a row in au_members already exists",
            Self::SigningKeyExists => "a row in signing_keys already exists",
            Self::ArmResourceExists => "a resource with this id already exists",
            Self::RoleAssignmentExists => "the role assignment already exists",
            Self::RoleDefinitionNameTaken => "a role definition with this name already exists",
            Self::DenyAssignmentExists => "a row in deny_assignments already exists",
            Self::PolicyNameTaken => "a policy or named location with this displayName already exists in the tenant",
            Self::SoftwareOathMethodExists => "a row in software_oath_methods already exists",
            Self::RecoveryCodeExists => "a row in recovery_codes already exists",
            Self::DeviceIdTaken => "a device with this deviceId already exists in the tenant",
            Self::GrantExists => "a row in grants already exists",
            Self::RiskyUserExists => "a row in risky_users already exists",
            Self::RiskyUserChanged => "the user's risk record was changed by another request at the same time; retry",
            Self::GrantChanged => "the grant was changed by another request at the same time",
            Self::MfaAttemptsExist => "a row in mfa_attempts already exists",
            Self::AuditRecordExists => "a row in audit_records already exists",
            Self::SignInExists => "a row in sign_ins already exists",
            Self::PimObjectExists => "a PIM schedule or request with this id already exists",
            Self::Unclassified => "a row with the same key already exists",
            Self::ApplicationChanged => "the application was changed by another request at the same time; retry",
            Self::TenantChanged => "the tenant was changed by another request at the same time; retry",
            Self::DeletedItemExists => "the deleted items already hold an object with this id",
        }
    }
}

/// A broken uniqueness rule and, when the change names it, the clashing value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Which rule.
    pub rule: UniqueRule,
    /// The value it is about, quoted (`'alice@contoso.com'`, `appId '…'`), if known.
    pub subject: Option<String>,
}

impl Conflict {
    /// The message without ARM's code prefix, naming the value when known.
    pub fn message(&self) -> String {
        match &self.subject {
            Some(s) => format!("{}: {s}", self.rule.description()),
            None => self.rule.description().to_string(),
        }
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(code) = self.rule.arm_code() {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message())
    }
}

impl Change {
    /// The value a conflict on this change is about, so the message names it.
    pub fn conflict_subject(&self) -> Option<String> {
        match self {
            Change::InsertUser(u) | Change::UpdateUser(u) => {
                Some(format!("'{}'", u.user_principal_name))
            }
            Change::InsertTenant(t) | Change::UpdateTenant(t) => Some(
                t.domains
                    .iter()
                    .map(|d| format!("'{}'", d.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Change::ReplaceTenant(_, t) => Some(
                t.domains
                    .iter()
                    .filter(|d| d.is_verified)
                    .map(|d| format!("'{}'", d.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Change::InsertApplication(a) => Some(format!("appId '{}'", a.app_id)),
            Change::InsertDevice(d) => Some(format!("deviceId '{}'", d.device_id)),
            Change::InsertServicePrincipal(sp) => Some(format!("appId '{}'", sp.app_id)),
            _ => None,
        }
    }

    /// Adds this change's subject to a conflict it caused.
    pub fn name_conflict(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Conflict(c) if c.subject.is_none() => StoreError::Conflict(Conflict {
                subject: self.conflict_subject(),
                ..c
            }),
            other => other,
        }
    }
}

/// One intended write.
#[derive(Clone, Debug)]
pub enum Change {
    /// Create a tenant.
    InsertTenant(Tenant),
    /// Replace a tenant's mutable fields (name, domains, license, settings).
    UpdateTenant(Tenant),
    /// Replace a tenant, only if it is still exactly the first value (compare-and-set: a lost
    /// race is `Conflict(UniqueRule::TenantChanged)`); its verified domain names are claimed
    /// across tenants (`Conflict(UniqueRule::DomainTaken)`). Used by `ops::domains`.
    ReplaceTenant(Box<Tenant>, Box<Tenant>),
    /// Create a user (Conflict if the UPN is taken in the tenant, ignoring case).
    InsertUser(User),
    /// Replace a user.
    UpdateUser(User),
    /// Delete a user and every edge, assignment and manager reference naming it.
    DeleteUser(TenantId, ObjectId),
    /// Create a group.
    InsertGroup(Group),
    /// Replace a group.
    UpdateGroup(Group),
    /// Delete a group and every edge and assignment naming it.
    DeleteGroup(TenantId, ObjectId),
    /// Add a membership edge (Conflict if present).
    AddMember(TenantId, Membership),
    /// Remove a membership edge (NotFound if absent).
    RemoveMember(TenantId, ObjectId, ObjectId),
    /// Add an owner to a group or application (Conflict if present).
    AddOwner(TenantId, ObjectId, ObjectId),
    /// Remove an owner (NotFound if absent).
    RemoveOwner(TenantId, ObjectId, ObjectId),
    /// Create an application (Conflict if the appId exists).
    InsertApplication(Application),
    /// Replace an application.
    UpdateApplication(Application),
    /// Replace an application only if it is still exactly `.0` (compare-and-set; Conflict when
    /// another write changed it in between, NotFound when it is gone). For read-modify-write
    /// of list-valued properties with limits (federated identity credentials), so two
    /// concurrent requests cannot both pass a check on the same old state.
    ReplaceApplication(Box<Application>, Box<Application>),
    /// Delete an application and, in every tenant, its service principals and what names them.
    DeleteApplication(TenantId, ObjectId),
    /// Create a service principal (Conflict if the tenant already has one for the appId).
    InsertServicePrincipal(ServicePrincipal),
    /// Replace a service principal.
    UpdateServicePrincipal(ServicePrincipal),
    /// Delete a service principal and every assignment and grant naming it.
    DeleteServicePrincipal(TenantId, ObjectId),
    /// Create an app-role assignment (Conflict if the same principal/resource/role exists).
    InsertAppRoleAssignment(AppRoleAssignment),
    /// Delete an app-role assignment (NotFound if absent).
    DeleteAppRoleAssignment(TenantId, ObjectId),
    /// Create a delegated permission grant.
    InsertPermissionGrant(OAuth2PermissionGrant),
    /// Delete a delegated permission grant (NotFound if absent).
    DeletePermissionGrant(TenantId, ObjectId),
    /// Assign a directory role.
    InsertDirectoryRoleAssignment(DirectoryRoleAssignment),
    /// Remove a directory role assignment (NotFound if absent).
    DeleteDirectoryRoleAssignment(TenantId, ObjectId),
    /// Create a custom directory role definition.
    InsertCustomRole(crate::model::CustomRoleDefinition),
    /// Delete a custom directory role definition (NotFound if absent).
    DeleteCustomRole(TenantId, ObjectId),
    /// Create an administrative unit.
    InsertAdministrativeUnit(crate::model::AdministrativeUnit),
    /// Delete an administrative unit, its memberships and the role assignments scoped to it.
    DeleteAdministrativeUnit(TenantId, ObjectId),
    /// Add a member to an administrative unit (Conflict if present).
    AddAuMember(TenantId, ObjectId, ObjectId),
    /// Remove a member from an administrative unit (NotFound if absent).
    RemoveAuMember(TenantId, ObjectId, ObjectId),
    /// Add a signing key.
    InsertSigningKey(SigningKey),
    /// Replace a signing key (retire, unpublish).
    UpdateSigningKey(SigningKey),
    /// Revoke grants in bulk (with a password change or `revokeSignInSessions`, atomically).
    RevokeGrants(RevokeScope),
    /// Record a scope of the resource hierarchy (Conflict if its id exists, ignoring case).
    InsertArmResource(crate::model::ArmResource),
    /// Replace a scope (tags, properties, identity).
    UpdateArmResource(crate::model::ArmResource),
    /// Delete one scope (by lower-case id; NotFound if absent). Ops delete descendants, the
    /// assignments below and system-assigned identities with it, as separate changes.
    DeleteArmResource(TenantId, String),
    /// Create an Azure role assignment (Conflict if the same principal, role and scope exist).
    InsertAzureRoleAssignment(crate::model::AzureRoleAssignment),
    /// Delete an Azure role assignment (NotFound if absent).
    DeleteAzureRoleAssignment(TenantId, uuid::Uuid),
    /// Create or replace a custom Azure role (Conflict if another role has the name).
    PutCustomAzureRole(crate::model::CustomAzureRole),
    /// Delete a custom Azure role (NotFound if absent).
    DeleteCustomAzureRole(TenantId, uuid::Uuid),
    /// Store a deny assignment (platform-created).
    InsertDenyAssignment(crate::model::StoredDenyAssignment),
    /// Delete a deny assignment (NotFound if absent).
    DeleteDenyAssignment(TenantId, String),
    /// Create or replace a PIM schedule (Conflict if its id belongs to another tenant).
    PutRoleSchedule(crate::pim::RoleSchedule),
    /// Create or replace a PIM schedule request (Conflict if its id belongs to another tenant).
    PutRoleScheduleRequest(crate::pim::RoleScheduleRequest),
    /// Create or replace a role's management policy (keyed by tenant and role).
    PutRolePolicy(crate::pim::RolePolicy),
    /// Create or replace a policy document (Conflict if another of its kind has the name).
    PutPolicyDocument(crate::model::PolicyDocument),
    /// Delete a policy document (NotFound if absent).
    DeletePolicyDocument(TenantId, ObjectId),
    /// Store a software OATH method (pending or confirmed; Conflict if the id exists).
    InsertSoftwareOathMethod(crate::model::SoftwareOathMethod),
    /// Confirm a pending method and record the step of the code that confirmed it (NotFound if
    /// absent or already confirmed).
    ConfirmSoftwareOathMethod(TenantId, ObjectId, u64),
    /// Delete a software OATH method (NotFound if absent).
    DeleteSoftwareOathMethod(TenantId, ObjectId),
    /// Replace a user's recovery codes with fresh, unused ones (hashes).
    ReplaceRecoveryCodes(TenantId, ObjectId, Vec<[u8; 32]>),
    /// Clear a user's second-factor attempt counters (an administrator's reset; audited with
    /// the change). Clearing counters that do not exist is not an error.
    ResetMfaAttempts(TenantId, ObjectId),
    /// Create a device (Conflict if the tenant already has its `deviceId`).
    InsertDevice(crate::model::Device),
    /// Replace a device's properties (not `last_sign_in`; NotFound if absent).
    UpdateDevice(crate::model::Device),
    /// Delete a device and its registered-owner edges (NotFound if absent).
    DeleteDevice(TenantId, ObjectId),
    /// Record a device sign-in (`approximateLastSignInDateTime`; NotFound if absent).
    TouchDevice(TenantId, ObjectId, Timestamp),
    /// Identity Protection: write a user's risk record if the stored one is still at `.1`
    /// (`None`: there is none yet), storing version `.1 + 1` (1 for a new one) — the
    /// compare-and-set of [`Store::put_risky_user`] inside a change set, so an administrator's
    /// action and its audit record commit together. A lost race is
    /// `Conflict(UniqueRule::RiskyUserChanged)` and the whole set changes nothing.
    PutRiskyUser(crate::policy::risky_user::RiskyUserRecord, Option<i64>),
    /// Replace a grant with `.1` only if its state is still `.0` — the compare-and-set of
    /// [`GrantStore::update_grant`] inside a change set, so a state change and its audit record
    /// commit together. A lost race is `Conflict(UniqueRule::GrantChanged)`.
    UpdateGrant(GrantState, Grant),
    /// Store a new grant (`Conflict(UniqueRule::GrantExists)` if its handle is taken) — a
    /// refresh rotation spends the old token (`UpdateGrant`) and stores its successor in one
    /// transaction.
    InsertGrant(Grant),
    /// Put a soft-deleted object's snapshot in the recycle bin (Conflict if its id is there).
    /// Ops push it with the object's `Delete*` change, in the same set.
    InsertDeletedItem(Box<crate::deleted_items::DeletedItem>),
    /// Remove an item from the recycle bin (restore, permanent deletion, purge; NotFound if
    /// absent, so of two concurrent restores one fails and changes nothing).
    DeleteDeletedItem(TenantId, ObjectId),
    /// Create or replace a tenant's subscription to a SKU (the operator's prepaid units).
    PutSubscription(crate::licenses::Subscription),
    /// Create or replace the licence of one SKU assigned to a user or group.
    PutLicenseAssignment(crate::licenses::LicenseAssignment),
    /// Remove the licence of SKU `.2` from user or group `.1` (NotFound if absent).
    DeleteLicenseAssignment(TenantId, ObjectId, String),
}

/// Writes and their audit records, committed together or not at all.
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    /// The writes, applied in order.
    pub changes: Vec<Change>,
    /// The audit records for them.
    pub audit: Vec<AuditRecord>,
}

impl ChangeSet {
    /// An empty change set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a write.
    pub fn push(&mut self, c: Change) -> &mut Self {
        self.changes.push(c);
        self
    }
    /// Adds an audit record.
    pub fn audit(&mut self, a: AuditRecord) -> &mut Self {
        self.audit.push(a);
        self
    }
}

/// Filter for reading audit records.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only at or after this time.
    pub since: Option<Timestamp>,
    /// Only before this time.
    pub until: Option<Timestamp>,
    /// Only this category.
    pub category: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// The storage port: the per-area traits below plus the all-or-nothing [`Store::commit`].
/// Callers hold `&dyn Store` and call any area's reads on it; an engine implements each area
/// trait (`castellan-store` does so in one file per area) and this one.
#[async_trait]
pub trait Store:
    TenantStore
    + UserStore
    + GroupStore
    + ApplicationStore
    + AssignmentStore
    + DirectoryRoleStore
    + AuditStore
    + KeyStore
    + GrantStore
    + ArmStore
    + PolicyStore
    + PimStore
    + AuthMethodStore
    + DeviceStore
    + RiskStore
    + SignInStore
    + DeletedItemStore
    + LicenseStore
    + Send
    + Sync
{
    /// Applies every change and appends every audit record in one transaction.
    async fn commit(&self, set: ChangeSet) -> Result<(), StoreError>;
    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// A redemption's write: `spent` replaces its grant only if that is still in state
    /// `expected`, and `successor` (a refresh token) is stored with it, in one transaction.
    /// `Ok(false)`: the compare-and-set was lost and nothing changed. A store may do it in
    /// fewer round trips than the change set this defaults to (SQLite: one script).
    async fn rotate_grant(
        &self,
        expected: GrantState,
        spent: Grant,
        successor: Option<Grant>,
    ) -> Result<bool, StoreError> {
        rotate_by_change_set(self, expected, spent, successor).await
    }
}

/// [`Store::rotate_grant`] as a change set.
pub async fn rotate_by_change_set<S: Store + ?Sized>(
    store: &S,
    expected: GrantState,
    spent: Grant,
    successor: Option<Grant>,
) -> Result<bool, StoreError> {
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGrant(expected, spent));
    if let Some(g) = successor {
        set.push(Change::InsertGrant(g));
    }
    match store.commit(set).await {
        Ok(()) => Ok(true),
        Err(e) if e.unique_rule() == Some(UniqueRule::GrantChanged) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The storage port's reads and single-purpose writes for one area: tenants and their domains.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// A tenant by id.
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;
    /// The tenant owning a domain (any case).
    async fn tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>, StoreError>;
    /// Every tenant.
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: users, and what kind of object
/// an id names.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// A user by id.
    async fn user(&self, t: TenantId, id: ObjectId) -> Result<Option<User>, StoreError>;
    /// A user by UPN, ignoring case.
    async fn user_by_upn(&self, t: TenantId, upn: &str) -> Result<Option<User>, StoreError>;
    /// Every user of a tenant.
    async fn users(&self, t: TenantId) -> Result<Vec<User>, StoreError>;
    /// A number that changes in the same commit as any insert, update or delete of one of the
    /// tenant's users (0 before the first): a reader that keeps a copy of [`Self::users`]
    /// (Graph's indexed user list) compares it to know whether its copy is current.
    async fn users_version(&self, t: TenantId) -> Result<u64, StoreError>;
    /// What kind of object an id names in this tenant, if any.
    async fn object_kind(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ObjectKind>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: groups, membership edges and
/// owners.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// A group by id.
    async fn group(&self, t: TenantId, id: ObjectId) -> Result<Option<Group>, StoreError>;
    /// Every group of a tenant.
    async fn groups(&self, t: TenantId) -> Result<Vec<Group>, StoreError>;
    /// Like [`UserStore::users_version`], for the tenant's groups (their own properties, not
    /// their memberships).
    async fn groups_version(&self, t: TenantId) -> Result<u64, StoreError>;
    /// Every membership edge of a tenant.
    async fn memberships(&self, t: TenantId) -> Result<Vec<Membership>, StoreError>;
    /// The groups `member` is a direct member of (indexed: dynamic membership reads it on every
    /// user or device change), sorted.
    async fn direct_member_of(
        &self,
        t: TenantId,
        member: ObjectId,
    ) -> Result<Vec<ObjectId>, StoreError>;
    /// Owners of a group or application.
    async fn owners(&self, t: TenantId, object: ObjectId) -> Result<Vec<ObjectId>, StoreError>;
    /// The objects `owner` is an owner of (groups, applications, service principals, devices),
    /// sorted.
    async fn owned_by(&self, t: TenantId, owner: ObjectId) -> Result<Vec<ObjectId>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: applications (any tenant by
/// appId or identifier URI) and service principals.
#[async_trait]
pub trait ApplicationStore: Send + Sync {
    /// An application by object id, in its home tenant.
    async fn application(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<Application>, StoreError>;
    /// An application by appId, from any tenant.
    async fn application_by_app_id(&self, app_id: AppId)
        -> Result<Option<Application>, StoreError>;
    /// Applications whose home tenant is `t`.
    async fn applications(&self, t: TenantId) -> Result<Vec<Application>, StoreError>;
    /// The application, from any tenant, that holds an identifier URI (compared by
    /// `model::identifier_uri_key`: ASCII case and one trailing slash ignored). Identifier URIs
    /// are unique across all tenants: a second holder is a `Conflict` at commit.
    async fn application_by_identifier_uri(
        &self,
        uri: &str,
    ) -> Result<Option<Application>, StoreError>;
    /// A service principal by id.
    async fn service_principal(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ServicePrincipal>, StoreError>;
    /// The tenant's service principal for an appId.
    async fn service_principal_by_app_id(
        &self,
        t: TenantId,
        app_id: AppId,
    ) -> Result<Option<ServicePrincipal>, StoreError>;
    /// Every service principal of a tenant.
    async fn service_principals(&self, t: TenantId) -> Result<Vec<ServicePrincipal>, StoreError>;
    /// [`Self::application_by_app_id`], shared: a read model (`castellan-store::cache`) hands
    /// out its held value without copying the application's app roles and scopes.
    async fn application_by_app_id_shared(
        &self,
        app_id: AppId,
    ) -> Result<Option<std::sync::Arc<Application>>, StoreError> {
        Ok(self
            .application_by_app_id(app_id)
            .await?
            .map(std::sync::Arc::new))
    }
    /// [`Self::service_principal_by_app_id`], shared.
    async fn service_principal_by_app_id_shared(
        &self,
        t: TenantId,
        app_id: AppId,
    ) -> Result<Option<std::sync::Arc<ServicePrincipal>>, StoreError> {
        Ok(self
            .service_principal_by_app_id(t, app_id)
            .await?
            .map(std::sync::Arc::new))
    }
}

/// The storage port's reads and single-purpose writes for one area: app-role assignments and
/// delegated permission grants.
#[async_trait]
pub trait AssignmentStore: Send + Sync {
    /// App-role assignments held by a principal.
    async fn app_role_assignments_of(
        &self,
        t: TenantId,
        principal: ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, StoreError>;
    /// App-role assignments granted on a resource service principal.
    async fn app_role_assignments_to(
        &self,
        t: TenantId,
        resource: ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, StoreError>;
    /// Delegated permission grants of a tenant.
    async fn permission_grants(
        &self,
        t: TenantId,
    ) -> Result<Vec<OAuth2PermissionGrant>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: directory roles: assignments,
/// custom definitions, administrative units.
#[async_trait]
pub trait DirectoryRoleStore: Send + Sync {
    /// Directory role assignments of a tenant.
    async fn directory_role_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<DirectoryRoleAssignment>, StoreError>;
    /// Custom directory role definitions of a tenant.
    async fn custom_roles(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::model::CustomRoleDefinition>, StoreError>;
    /// Administrative units of a tenant.
    async fn administrative_units(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::model::AdministrativeUnit>, StoreError>;
    /// Members of an administrative unit.
    async fn au_members(&self, t: TenantId, au: ObjectId) -> Result<Vec<ObjectId>, StoreError>;
    /// The administrative units an object is a member of.
    async fn aus_of(&self, t: TenantId, member: ObjectId) -> Result<Vec<ObjectId>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: the directory audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Audit records of a tenant, newest first.
    async fn audit_records(
        &self,
        t: TenantId,
        q: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: token-signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every signing key.
    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: sign-in state: codes, refresh
/// tokens, device codes, sessions, jtis, lockout counters.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new grant (Conflict if the handle or the lookup key exists: a replayed jti).
    async fn insert_grant(&self, g: &Grant) -> Result<(), StoreError>;
    /// A grant by handle.
    async fn grant(&self, handle: &str) -> Result<Option<Grant>, StoreError>;
    /// Every grant of one kind in a tenant, newest first (consent requests).
    async fn grants_of_kind(&self, t: TenantId, kind: GrantKind) -> Result<Vec<Grant>, StoreError>;
    /// A grant by its second key (the device flow's user code).
    async fn grant_by_lookup(
        &self,
        kind: GrantKind,
        lookup: &str,
    ) -> Result<Option<Grant>, StoreError>;
    /// Compare-and-set: replaces the grant with `next` only if its state is still `expected`.
    /// Returns whether it did — of two concurrent redemptions exactly one sees `true`.
    async fn update_grant(&self, expected: GrantState, next: &Grant) -> Result<bool, StoreError>;
    /// Puts a grant whatever its current state (lockout counters); inserts if absent.
    async fn upsert_grant(&self, g: &Grant) -> Result<(), StoreError>;
    /// Revokes every active/pending grant in scope; returns how many.
    async fn revoke_grants(&self, scope: &RevokeScope) -> Result<u64, StoreError>;
    /// Deletes grants that expired before `now`; returns how many.
    async fn purge_grants(&self, now: Timestamp) -> Result<u64, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: the resource plane: scopes,
/// Azure role assignments and definitions, deny assignments.
#[async_trait]
pub trait ArmStore: Send + Sync {
    /// A scope of the resource hierarchy by id (any case, any tenant: ARM ids are global).
    async fn arm_resource(&self, id: &str)
        -> Result<Option<crate::model::ArmResource>, StoreError>;
    /// Every recorded scope of a tenant, ordered by id.
    async fn arm_resources(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::model::ArmResource>, StoreError>;
    /// Direct children of a scope (any case).
    async fn arm_children(
        &self,
        t: TenantId,
        parent: &str,
    ) -> Result<Vec<crate::model::ArmResource>, StoreError>;
    /// Every Azure role assignment of a tenant.
    async fn azure_role_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::model::AzureRoleAssignment>, StoreError>;
    /// The Azure role assignments held by one principal (directly, not through groups).
    async fn azure_role_assignments_of(
        &self,
        t: TenantId,
        principal: ObjectId,
    ) -> Result<Vec<crate::model::AzureRoleAssignment>, StoreError>;
    /// Custom Azure roles of a tenant.
    async fn custom_azure_roles(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::model::CustomAzureRole>, StoreError>;
    /// Deny assignments of a tenant.
    async fn deny_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::model::StoredDenyAssignment>, StoreError>;
}

/// The storage port's reads for one area: Privileged Identity Management (schedules, requests
/// and changed role management policies).
#[async_trait]
pub trait PimStore: Send + Sync {
    /// Every eligibility and assignment schedule of a tenant (ended ones too), oldest first.
    async fn role_schedules(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleSchedule>, StoreError>;
    /// Every schedule request of a tenant, oldest first.
    async fn role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleScheduleRequest>, StoreError>;
    /// The role management policies a tenant changed (the others are Entra's defaults).
    async fn role_policies(&self, t: TenantId) -> Result<Vec<crate::pim::RolePolicy>, StoreError>;
    /// Every Azure-role (ARM) eligibility and assignment schedule of a tenant (ended ones too),
    /// oldest first.
    async fn arm_role_schedules(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleSchedule>, StoreError>;
    /// Every Azure-role (ARM) schedule request of a tenant, oldest first.
    async fn arm_role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleScheduleRequest>, StoreError>;
    /// The Azure-role policies a tenant changed, per scope and role (the others are Azure's
    /// defaults).
    async fn arm_role_policies(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RolePolicy>, StoreError>;
    /// Every PIM-for-groups eligibility and assignment schedule of a tenant (ended ones too),
    /// oldest first.
    async fn group_role_schedules(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleSchedule>, StoreError>;
    /// Every PIM-for-groups schedule request of a tenant, oldest first.
    async fn group_role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RoleScheduleRequest>, StoreError>;
    /// The PIM-for-groups policies a tenant changed, per group and accessId (the others are
    /// Entra's defaults).
    async fn group_role_policies(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::pim::RolePolicy>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: conditional Access policies and
/// named locations (policy documents).
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Policy documents of one kind in a tenant, ordered by creation.
    async fn policy_documents(
        &self,
        t: TenantId,
        kind: crate::model::PolicyDocumentKind,
    ) -> Result<Vec<crate::model::PolicyDocument>, StoreError>;
    /// [`Self::policy_documents`], shared: the same `Arc` while the documents are unchanged
    /// in a read model, so a caller may key what it compiles from them on the pointer.
    async fn policy_documents_shared(
        &self,
        t: TenantId,
        kind: crate::model::PolicyDocumentKind,
    ) -> Result<std::sync::Arc<Vec<crate::model::PolicyDocument>>, StoreError> {
        Ok(std::sync::Arc::new(self.policy_documents(t, kind).await?))
    }
}

/// The storage port's reads and single-purpose writes for one area: authentication methods:
/// software OATH, recovery codes, second-factor attempt counters.
#[async_trait]
pub trait AuthMethodStore: Send + Sync {
    /// A user's software OATH methods (pending ones too), oldest first.
    async fn software_oath_methods(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Vec<crate::model::SoftwareOathMethod>, StoreError>;
    /// Whether the user has a confirmed software OATH method — for a reader that only decides
    /// with it (Conditional Access: challenge or register first); the read model may answer it
    /// within its invalidation bound. Code checks read the methods themselves.
    async fn has_confirmed_oath_method(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<bool, StoreError> {
        Ok(self
            .software_oath_methods(t, user)
            .await?
            .iter()
            .any(|m| m.confirmed))
    }
    /// One software OATH method by id.
    async fn software_oath_method(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<crate::model::SoftwareOathMethod>, StoreError>;
    /// Compare-and-set on the replay guard: records `step` as the method's last used step only
    /// if the method is confirmed and its stored step is absent or smaller. Returns whether it
    /// did — of two concurrent uses of one code exactly one sees `true`.
    async fn advance_totp_step(
        &self,
        t: TenantId,
        id: ObjectId,
        step: u64,
    ) -> Result<bool, StoreError>;
    /// A user's recovery codes.
    async fn recovery_codes(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Vec<crate::model::RecoveryCode>, StoreError>;
    /// Marks an unused recovery code used; returns whether it did (false: unknown or used).
    async fn use_recovery_code(
        &self,
        t: TenantId,
        user: ObjectId,
        hash: &[u8; 32],
    ) -> Result<bool, StoreError>;
    /// A user's second-factor attempt counters and their version (`None`: no row yet).
    async fn mfa_attempts(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<(crate::flow::mfa_attempts::MfaAttempts, i64)>, StoreError>;
    /// Compare-and-set of the counters: writes `next` only if the stored version is still
    /// `expected` (`None`: there is no row yet), storing version `expected + 1` (1 for a new
    /// row). Returns false, changing nothing, when another attempt got there first — so of N
    /// concurrent attempts read at one version exactly one is counted.
    async fn put_mfa_attempts(
        &self,
        t: TenantId,
        user: ObjectId,
        next: &crate::flow::mfa_attempts::MfaAttempts,
        expected: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Clears a user's counters (after a success, or an administrator's reset); returns
    /// whether there were any.
    async fn reset_mfa_attempts(&self, t: TenantId, user: ObjectId) -> Result<bool, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: devices.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// A device by object id.
    async fn device(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<crate::model::Device>, StoreError>;
    /// A device by its `deviceId`.
    async fn device_by_device_id(
        &self,
        t: TenantId,
        device_id: uuid::Uuid,
    ) -> Result<Option<crate::model::Device>, StoreError>;
    /// Every device of a tenant, oldest registration first.
    async fn devices(&self, t: TenantId) -> Result<Vec<crate::model::Device>, StoreError>;
    /// The devices `owner` is a registered owner of (edges in the owners relation).
    async fn devices_owned_by(
        &self,
        t: TenantId,
        owner: ObjectId,
    ) -> Result<Vec<crate::model::Device>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: identity Protection: user risk
/// records and failed sign-ins (password spray).
#[async_trait]
pub trait RiskStore: Send + Sync {
    /// Identity Protection: a user's record, if any.
    async fn risky_user(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<crate::policy::risky_user::RiskyUserRecord>, StoreError>;
    /// [`Self::risky_user`] for a reader that only decides with it (a token's standing risk):
    /// the read model may answer it within its invalidation bound. Writers (compare-and-set
    /// on the version) read [`Self::risky_user`].
    async fn standing_risky_user(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<crate::policy::risky_user::RiskyUserRecord>, StoreError> {
        self.risky_user(t, user).await
    }
    /// Writes a user's record if the stored one is still at `expected` (`None`: there is none
    /// yet), storing it with version `expected + 1` (1 for a new one). Returns false, changing
    /// nothing, when another writer got there first.
    async fn put_risky_user(
        &self,
        record: &crate::policy::risky_user::RiskyUserRecord,
        expected: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Every user record of a tenant, most recently updated first.
    async fn risky_users(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::policy::risky_user::RiskyUserRecord>, StoreError>;
    /// Keeps a failed password sign-in (password-spray detection), dropping the tenant's
    /// failures older than `prune_before` (so the table holds about one window of failures).
    async fn add_failed_sign_in(
        &self,
        record: &crate::model::FailedSignInRecord,
        prune_before: Timestamp,
    ) -> Result<(), StoreError>;
    /// A source's failed sign-ins at or after `since`, oldest first.
    async fn failed_sign_ins(
        &self,
        t: TenantId,
        source: &str,
        since: Timestamp,
    ) -> Result<Vec<crate::model::FailedSignInRecord>, StoreError>;
}

/// The storage port's reads and single-purpose writes for one area: the sign-in log.
#[async_trait]
pub trait SignInStore: Send + Sync {
    /// Appends sign-in records (one transaction).
    async fn insert_sign_ins(&self, records: &[SignIn]) -> Result<(), StoreError>;
    /// Sign-ins of a tenant, newest first.
    async fn sign_ins(&self, t: TenantId, q: &SignInQuery) -> Result<Vec<SignIn>, StoreError>;
}

/// The storage port's reads for one area: the recycle bin (soft-deleted users, groups and
/// applications with what their restore needs).
#[async_trait]
pub trait DeletedItemStore: Send + Sync {
    /// Every deleted item of a tenant, oldest deletion first.
    async fn deleted_items(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::deleted_items::DeletedItem>, StoreError>;
    /// One deleted item by the deleted object's id.
    async fn deleted_item(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<crate::deleted_items::DeletedItem>, StoreError>;
}

/// The storage port's reads for one area: licences (subscriptions and assignments).
#[async_trait]
pub trait LicenseStore: Send + Sync {
    /// A tenant's stored subscriptions, by SKU id.
    async fn subscriptions(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::licenses::Subscription>, StoreError>;
    /// Every licence assigned in a tenant (to users and groups), by principal then SKU.
    async fn license_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<crate::licenses::LicenseAssignment>, StoreError>;
}
