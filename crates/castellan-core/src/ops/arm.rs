//! The resource plane's use cases (Azure Resource Manager): the hierarchy of management groups,
//! subscriptions, resource groups and resources; role definitions, role assignments and their
//! authorization; effective permissions and check-access; elevate access; managed identities.
//!
//! Every call is authorised by the Azure RBAC engine ([`crate::azure_rbac`]) at the scope it
//! touches. Directory roles play no part, except that a Global Administrator may call
//! [`elevate_access`] — the one audited bridge between the planes.

use crate::abac::{self, Attributes};
use crate::arm_view::{self, ResourceFilter};
use crate::audit::AuditTarget;
use crate::azure_rbac::{
    self, ancestors, check_with, normalise_scope, Assignment, AssignmentIndex, AzureRole, Decision,
};
use crate::error::DirectoryError;
use crate::ids::{AppId, ObjectId, TenantId};
use crate::model::{
    ArmResource, AzureRoleAssignment, CustomAzureRole, MembershipGraph, ObjectKind,
    ResourceIdentity, ScopeKind, ServicePrincipal, ServicePrincipalType, Tenant,
    GLOBAL_ADMINISTRATOR,
};
use crate::ops::{modified, target, Env};
use crate::store::{Change, ChangeSet, Store, StoreError};
use crate::Timestamp;

/// Azure's limit of role assignments per subscription.
pub const ASSIGNMENTS_PER_SUBSCRIPTION: usize = 4000;
/// At most this many identity-endpoint secrets are valid per resource (oldest dropped).
pub const IDENTITY_SECRETS_KEPT: usize = 5;
/// The ARM type of a user-assigned managed identity.
pub const USER_ASSIGNED_IDENTITY_TYPE: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";

pub use crate::error::ArmError;

impl ArmError {
    /// 400 `InvalidScope`: the scope's spelling breaks `azure_rbac::check_scope_syntax`; the
    /// message names the segment and the rule.
    pub fn invalid_scope(scope: &str, e: &azure_rbac::ScopeSyntaxError) -> Self {
        crate::error::Code::ArmInvalidScope.arm(&[
            ("scope", &scope),
            ("segment", &e.segment),
            ("why", &e.why),
        ])
    }
}

impl From<StoreError> for ArmError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(c) => {
                let code = match c.rule {
                    crate::store::UniqueRule::RoleAssignmentExists => {
                        crate::error::Code::ArmStoreRoleAssignmentExists
                    }
                    crate::store::UniqueRule::RoleDefinitionNameTaken => {
                        crate::error::Code::ArmStoreRoleDefinitionNameTaken
                    }
                    _ => crate::error::Code::ArmConflict,
                };
                code.arm(&[("message", &c.message())])
            }
            StoreError::NotFound(m) => crate::error::Code::ArmNotFound.arm(&[("m", &m)]),
            StoreError::Backend(m) | StoreError::Busy(m) => {
                crate::error::Code::ArmServiceUnavailable.arm(&[("m", &m)])
            }
        }
    }
}

impl From<DirectoryError> for ArmError {
    fn from(e: DirectoryError) -> Self {
        crate::error::Code::ArmBadRequest.arm(&[("message", &e)])
    }
}

/// Who is calling ARM: the token's principal, with its transitive groups resolved.
#[derive(Clone, Debug)]
pub struct ArmCaller {
    /// The tenant (from the token's `tid`).
    pub tenant: Tenant,
    /// The token's `oid`.
    pub principal: ObjectId,
    /// The UPN (users) or appId (applications), for `AuthorizationFailed`.
    pub name: String,
    /// The principal and every group it is a transitive member of.
    pub principals: Vec<ObjectId>,
    /// Whether the caller is a user (delegated token).
    pub is_user: bool,
    /// The platform itself (demo seeding, operator bootstrap): authorised everywhere, audited
    /// as the operator. Never set from a token.
    pub platform: bool,
    /// The request's moment: which PIM activations are in force for its checks.
    pub now: Timestamp,
}

impl ArmCaller {
    /// The platform acting in a tenant (no principal).
    pub fn platform(tenant: Tenant) -> Self {
        Self {
            principal: ObjectId::from_uuid(uuid::Uuid::nil()),
            name: "castellan-platform".into(),
            principals: vec![],
            is_user: false,
            platform: true,
            now: Timestamp(0),
            tenant,
        }
    }
}

/// Resolves the caller's groups; `now` is the request's moment (PIM activations in force).
pub async fn caller(
    store: &dyn Store,
    tenant: Tenant,
    principal: ObjectId,
    name: String,
    is_user: bool,
    now: Timestamp,
) -> Result<ArmCaller, StoreError> {
    let principals = principal_set(store, tenant.id, principal, now).await?;
    Ok(ArmCaller {
        tenant,
        principal,
        name,
        principals,
        is_user,
        platform: false,
        now,
    })
}

pub(crate) async fn principal_set(
    store: &dyn Store,
    t: TenantId,
    principal: ObjectId,
    now: Timestamp,
) -> Result<Vec<ObjectId>, StoreError> {
    let graph = MembershipGraph::new(&crate::ops::groups::memberships_at(store, t, now).await?);
    let mut out = vec![principal];
    out.extend(graph.transitive_member_of(principal));
    Ok(out)
}

/// Built-in roles plus a tenant's custom roles.
pub struct RoleCatalog {
    customs: Vec<AzureRole>,
}

impl RoleCatalog {
    /// Loads the tenant's custom roles.
    pub async fn load(store: &dyn Store, t: TenantId) -> Result<Self, StoreError> {
        Ok(Self {
            customs: store
                .custom_azure_roles(t)
                .await?
                .into_iter()
                .map(|c| c.role)
                .collect(),
        })
    }
    /// A role by id.
    pub fn get(&self, id: uuid::Uuid) -> Option<&AzureRole> {
        azure_rbac::built_in_by_id(id).or_else(|| self.customs.iter().find(|r| r.id == id))
    }
    /// Every role.
    pub fn all(&self) -> impl Iterator<Item = (&AzureRole, bool)> {
        azure_rbac::built_in_roles()
            .iter()
            .map(|r| (r, true))
            .chain(self.customs.iter().map(|r| (r, false)))
    }
}

/// The management groups above a scope, nearest first (ids only).
pub async fn management_chain(store: &dyn Store, scope: &str) -> Result<Vec<String>, StoreError> {
    let s = normalise_scope(scope);
    let start = if let Some(rest) = s.strip_prefix("/subscriptions/") {
        let sub = rest.split('/').next().unwrap_or("");
        match store.arm_resource(&format!("/subscriptions/{sub}")).await? {
            Some(r) => r.parent,
            None => None,
        }
    } else if s.starts_with("/providers/microsoft.management/managementgroups/") {
        Some(s.clone())
    } else {
        None
    };
    let mut out = Vec::new();
    let mut next = start;
    while let Some(id) = next.take() {
        if out.len() > 10 {
            break; // Azure allows six levels below the root; a longer chain is corrupt.
        }
        let Some(mg) = store.arm_resource(&id).await? else {
            break;
        };
        out.push(mg.name.to_ascii_lowercase());
        next = mg.parent;
    }
    Ok(out)
}

/// A principal's role assignments in force at `now`: its permanent ones and its PIM schedules
/// (Azure plane, `Assignment` level) active at `now` — an activation counts from its start and
/// stops at its end whether or not the expiry sweep has run; an eligibility counts for nothing.
pub async fn assignments_in_force(
    store: &dyn Store,
    t: TenantId,
    principals: &[ObjectId],
    now: Timestamp,
) -> Result<Vec<AzureRoleAssignment>, StoreError> {
    let mut rows = Vec::new();
    for p in principals {
        rows.extend(store.azure_role_assignments_of(t, *p).await?);
    }
    let schedules = store.arm_role_schedules(t).await?;
    rows.extend(
        crate::pim::active_assignments(&schedules, now)
            .into_iter()
            .filter(|s| principals.contains(&s.principal_id))
            .map(|s| AzureRoleAssignment {
                id: s.id.uuid(),
                tenant_id: t,
                scope: s.directory_scope_id.clone(),
                role_definition_id: s.role_definition_id,
                principal_id: s.principal_id,
                principal_type: "User".into(),
                condition: None,
                description: None,
                created: s.created,
                created_by: None,
            }),
    );
    Ok(rows)
}

/// Decides one operation for a set of principals at a scope at `now` (the engine, with the
/// store's data: permanent assignments and the PIM activations in force at `now`).
pub async fn decide(
    store: &dyn Store,
    t: TenantId,
    now: Timestamp,
    principals: &[ObjectId],
    op: &str,
    data: bool,
    scope: &str,
) -> Result<Decision, StoreError> {
    let rows = assignments_in_force(store, t, principals, now).await?;
    let assignments: Vec<Assignment> = rows.iter().map(engine_assignment).collect();
    let catalog = RoleCatalog::load(store, t).await?;
    let denies: Vec<_> = store
        .deny_assignments(t)
        .await?
        .into_iter()
        .map(|d| d.deny)
        .collect();
    let chain = scope_chain(store, scope).await?;
    let attrs = Attributes {
        action: op.to_string(),
        sub_operation: None,
        values: abac::storage_attributes(scope),
    };
    Ok(check_with(
        principals,
        op,
        data,
        &chain,
        &AssignmentIndex::new(&assignments),
        &|id| catalog.get(id),
        &denies,
        &attrs,
    ))
}

/// The ancestry of a scope; a blob path (`…/containers/{c}/blobs/{path}`, the path may hold
/// slashes) sits directly under its container.
pub async fn scope_chain(store: &dyn Store, scope: &str) -> Result<Vec<String>, StoreError> {
    let mgs = management_chain(store, scope).await?;
    let n = normalise_scope(scope);
    if let Some(i) = n
        .find("/blobs/")
        .filter(|i| n.get(..*i).is_some_and(|c| c.contains("/containers/")))
    {
        let mut chain = vec![n.clone()];
        chain.extend(ancestors(n.get(..i).unwrap_or(""), &mgs));
        return Ok(chain);
    }
    Ok(ancestors(scope, &mgs))
}

fn engine_assignment(a: &AzureRoleAssignment) -> Assignment {
    Assignment {
        id: a.id.to_string(),
        principal_id: a.principal_id,
        role_id: a.role_definition_id,
        scope: a.scope.clone(),
        // Stored conditions were parsed when created; one that no longer parses grants nothing.
        condition: a
            .condition
            .as_deref()
            .map(|c| abac::parse(c).unwrap_or(abac::Condition::ActionMatches(String::new()))),
    }
}

/// Refuses unless the caller may perform `op` at `scope`, with ARM's `AuthorizationFailed`
/// (403) whose message adds the engine's explanation.
pub async fn require(
    store: &dyn Store,
    c: &ArmCaller,
    op: &str,
    scope: &str,
) -> Result<(), ArmError> {
    if c.platform {
        return Ok(());
    }
    match decide(store, c.tenant.id, c.now, &c.principals, op, false, scope).await? {
        Decision::Allowed { .. } => Ok(()),
        Decision::Denied { reason } => Err(authorization_failed(c, op, scope, &reason)),
    }
}

/// ARM's `AuthorizationFailed`, with the engine's explanation appended.
pub fn authorization_failed(c: &ArmCaller, op: &str, scope: &str, reason: &str) -> ArmError {
    crate::error::Code::ArmAuthorizationFailed.arm(&[
        ("name", &c.name),
        ("principal", &c.principal),
        ("op", &op),
        ("scope", &scope),
        ("reason", &reason),
    ])
}

// ---- Resource ids ------------------------------------------------------------------------------

/// A parsed ARM scope id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedId {
    /// Level.
    pub kind: ScopeKind,
    /// Last segment.
    pub name: String,
    /// ARM type.
    pub resource_type: String,
    /// Parent id (`None` for management groups and subscriptions: the body or the root decides).
    pub parent: Option<String>,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 260
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
}

/// Refuses a scope whose spelling could be read two ways (`.`/`..`/empty segments, backslashes,
/// encoded separators): 400 `InvalidScope` naming the segment.
pub fn check_scope(scope: &str) -> Result<(), ArmError> {
    azure_rbac::check_scope_syntax(scope).map_err(|e| ArmError::invalid_scope(scope, &e))
}

/// Refuses a scope or resource id taken from a request beyond the engine's bounds
/// (`azure_rbac::MAX_SCOPE_LEN`, `MAX_SCOPE_SEGMENTS`): 400 `InvalidResourceId` naming the limit
/// and the value (the id itself is not echoed: it is the oversized part).
pub fn check_scope_size(scope: &str) -> Result<(), ArmError> {
    crate::azure_rbac::check_scope_bounds(scope)
        .map_err(|why| crate::error::Code::ArmInvalidResourceId.arm(&[("why", &why)]))
}

/// Parses an ARM id into its level, name, type and parent; errors name the bad segment.
pub fn parse_id(id: &str) -> Result<ParsedId, ArmError> {
    check_scope_size(id)?;
    check_scope(id)?;
    let invalid =
        |why: &str| crate::error::Code::ArmInvalidResourceId2.arm(&[("id", &id), ("why", &why)]);
    let trimmed = id.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l = |i: usize| lower.get(i).map(String::as_str).unwrap_or("");
    let g = |i: usize| segs.get(i).copied().unwrap_or("");
    if l(0) == "providers" && l(1) == "microsoft.management" && l(2) == "managementgroups" {
        if segs.len() != 4 || !valid_name(g(3)) {
            return Err(invalid("expected /providers/Microsoft.Management/managementGroups/{name} (letters, digits, - _ . ( ))"));
        }
        return Ok(ParsedId {
            kind: ScopeKind::ManagementGroup,
            name: g(3).into(),
            resource_type: "Microsoft.Management/managementGroups".into(),
            parent: None,
        });
    }
    if l(0) != "subscriptions" || segs.len() < 2 {
        return Err(invalid("expected /subscriptions/{id}/… or /providers/Microsoft.Management/managementGroups/{name}"));
    }
    if uuid::Uuid::parse_str(g(1)).is_err() {
        return Err(invalid("the subscription id must be a GUID"));
    }
    let sub = format!("/subscriptions/{}", g(1));
    if segs.len() == 2 {
        return Ok(ParsedId {
            kind: ScopeKind::Subscription,
            name: g(1).into(),
            resource_type: "Microsoft.Resources/subscriptions".into(),
            parent: None,
        });
    }
    if l(2) != "resourcegroups" || segs.len() < 4 || !valid_name(g(3)) || g(3).len() > 90 {
        return Err(invalid(
            "expected /subscriptions/{id}/resourceGroups/{name} (1-90 letters, digits, - _ . ( ))",
        ));
    }
    let rg = format!("{sub}/resourceGroups/{}", g(3));
    if segs.len() == 4 {
        return Ok(ParsedId {
            kind: ScopeKind::ResourceGroup,
            name: g(3).into(),
            resource_type: "Microsoft.Resources/resourceGroups".into(),
            parent: Some(sub),
        });
    }
    // …/providers/{Namespace}/{type}/{name}[/{type}/{name}]*
    if l(4) != "providers" || segs.len() < 8 || !segs.len().is_multiple_of(2) {
        return Err(invalid("expected …/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{childType}/{childName}…]"));
    }
    let ns = g(5);
    if !ns.contains('.') || !valid_name(ns) {
        return Err(invalid(
            "the provider namespace must look like Microsoft.Storage",
        ));
    }
    let mut types = vec![ns.to_string()];
    let mut i = 6;
    while i + 1 < segs.len() {
        if !valid_name(g(i)) || !valid_name(g(i + 1)) {
            return Err(invalid(&format!(
                "segment '{}/{}' has characters outside letters, digits, - _ . ( )",
                g(i),
                g(i + 1)
            )));
        }
        types.push(g(i).to_string());
        i += 2;
    }
    let parent = if segs.len() == 8 {
        rg
    } else {
        format!("/{}", segs.get(..segs.len() - 2).unwrap_or(&[]).join("/"))
    };
    Ok(ParsedId {
        kind: ScopeKind::Resource,
        name: g(segs.len() - 1).into(),
        resource_type: types.join("/"),
        parent: Some(parent),
    })
}

/// The control-plane operation for an action on a resource type (`…/read|write|delete`).
pub fn type_op(resource_type: &str, verb: &str) -> String {
    match resource_type {
        "Microsoft.Resources/resourceGroups" => {
            format!("Microsoft.Resources/subscriptions/resourceGroups/{verb}")
        }
        t => format!("{t}/{verb}"),
    }
}

// ---- The hierarchy -----------------------------------------------------------------------------

/// The root management group's id for a tenant (Azure: the tenant id).
pub fn root_management_group(t: TenantId) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{t}")
}

/// What a PUT on a scope asks for.
#[derive(Clone, Debug, Default)]
pub struct PutResource {
    /// Display name (management groups, subscriptions).
    pub display_name: Option<String>,
    /// Parent management group id (management groups and subscriptions).
    pub parent: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Opaque `properties` JSON text.
    pub properties: Option<String>,
    /// `identity.type` includes SystemAssigned.
    pub system_assigned: bool,
    /// `identity.userAssignedIdentities` keys.
    pub user_assigned: Vec<String>,
    /// Whether the body had an `identity` at all (absent keeps the current identity).
    pub identity_given: bool,
}

/// The tenant root management group (id = tenant id) and its audit record, not yet stored.
/// `tenants::create` inserts it with the tenant, so the id is reserved from the first moment
/// (the `arm_resources` key is global: a tenant whose root id is taken cannot be created).
pub fn root_group(env: &mut Env<'_>, tenant: &Tenant) -> (ArmResource, crate::audit::AuditRecord) {
    let id = root_management_group(tenant.id);
    let r = ArmResource {
        tenant_id: tenant.id,
        id: id.clone(),
        kind: ScopeKind::ManagementGroup,
        name: tenant.id.to_string(),
        resource_type: "Microsoft.Management/managementGroups".into(),
        parent: None,
        display_name: "Tenant Root Group".into(),
        location: None,
        tags: vec![],
        properties: "{}".into(),
        identity_principal: None,
        identity: ResourceIdentity::default(),
        federated_credential: None,
        created: env.now,
    };
    let a = env.audit(
        tenant,
        "ResourceManagement",
        "Create tenant root management group",
        "Add",
        vec![target(
            &id,
            "ManagementGroup",
            Some("Tenant Root Group"),
            None,
            vec![],
        )],
    );
    (r, a)
}

/// Management-group names are one namespace across all tenants (as in Azure), and a GUID-form
/// name is reserved for tenant root groups (id = tenant id): a tenant may use its own id (its
/// root) but no other GUID, so it can neither take an existing tenant's root nor squat the id a
/// future tenant would be given.
pub fn check_management_group_name(name: &str, own: TenantId) -> Result<(), ArmError> {
    match uuid::Uuid::parse_str(name) {
        Ok(g) if g != own.uuid() => Err(crate::error::Code::ArmInvalidManagementGroupName
            .arm(&[("name", &name), ("name2", &&name.get(..8).unwrap_or(name))])),
        _ => Ok(()),
    }
}

/// Ensures the tenant's root management group exists (created with the tenant; for tenants made
/// before that, by the platform on first use). A root id held by another tenant (data from
/// before GUID names were reserved) is refused, never adopted.
pub async fn ensure_root(env: &mut Env<'_>, tenant: &Tenant) -> Result<ArmResource, ArmError> {
    let id = root_management_group(tenant.id);
    let taken = || crate::error::Code::ArmTenantRootGroupConflict.arm(&[("id", &id)]);
    if let Some(r) = env.store.arm_resource(&id).await? {
        return if r.tenant_id == tenant.id {
            Ok(r)
        } else {
            Err(taken())
        };
    }
    let (r, a) = root_group(env, tenant);
    let mut set = ChangeSet::new();
    set.push(Change::InsertArmResource(r.clone())).audit(a);
    match env.store.commit(set).await {
        Ok(()) => Ok(r),
        Err(StoreError::Conflict(_)) => match env.store.arm_resource(&id).await? {
            Some(r) if r.tenant_id == tenant.id => Ok(r),
            _ => Err(taken()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Reads one scope the caller may read (404 when it does not exist or is another tenant's).
pub async fn get_resource(
    store: &dyn Store,
    c: &ArmCaller,
    id: &str,
) -> Result<ArmResource, ArmError> {
    let parsed = parse_id(id)?;
    if parsed.kind == ScopeKind::Subscription {
        return open_scope(store, c, id).await;
    }
    let r = load_in_tenant(store, c.tenant.id, id, &parsed).await?;
    require(store, c, &type_op(&r.resource_type, "read"), &r.id).await?;
    Ok(r)
}

async fn load_in_tenant(
    store: &dyn Store,
    t: TenantId,
    id: &str,
    parsed: &ParsedId,
) -> Result<ArmResource, ArmError> {
    match store.arm_resource(id).await? {
        Some(r) if r.tenant_id == t => Ok(r),
        _ => Err(missing(parsed, id)),
    }
}

fn missing(parsed: &ParsedId, id: &str) -> ArmError {
    match parsed.kind {
        ScopeKind::Subscription => {
            crate::error::Code::ArmSubscriptionNotFound2.arm(&[("name", &parsed.name)])
        }
        ScopeKind::ResourceGroup => {
            crate::error::Code::ArmResourceGroupNotFound.arm(&[("name", &parsed.name)])
        }
        ScopeKind::ManagementGroup => {
            crate::error::Code::ArmManagementGroupNotFound.arm(&[("name", &parsed.name)])
        }
        ScopeKind::Resource => crate::error::Code::ArmResourceNotFound3
            .arm(&[("resource_type", &parsed.resource_type), ("id", &id)]),
    }
}

/// The children of a scope the caller may read (subscriptions of `/`, resource groups of a
/// subscription, resources of a resource group — nested children included).
pub async fn list_children(
    store: &dyn Store,
    c: &ArmCaller,
    parent: Option<&str>,
    kind: ScopeKind,
) -> Result<Vec<ArmResource>, ArmError> {
    let all = store.arm_resources(c.tenant.id).await?;
    let prefix = parent.map(|p| format!("{}/", normalise_scope(p)));
    let mut out = Vec::new();
    for r in all.into_iter().filter(|r| r.kind == kind) {
        if let Some(p) = &prefix {
            if !r.key().starts_with(p.as_str()) {
                continue;
            }
        }
        let op = type_op(&r.resource_type, "read");
        if matches!(
            decide(store, c.tenant.id, c.now, &c.principals, &op, false, &r.id).await?,
            Decision::Allowed { .. }
        ) {
            out.push(r);
        }
    }
    Ok(out)
}

/// The scopes of the caller's own and its groups' role assignments.
async fn assignment_scopes(store: &dyn Store, c: &ArmCaller) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    out.extend(
        assignments_in_force(store, c.tenant.id, &c.principals, c.now)
            .await?
            .into_iter()
            .map(|a| a.scope),
    );
    Ok(out)
}

async fn may_read(store: &dyn Store, c: &ArmCaller, r: &ArmResource) -> Result<bool, ArmError> {
    if c.platform {
        return Ok(true);
    }
    let op = type_op(&r.resource_type, "read");
    Ok(matches!(
        decide(store, c.tenant.id, c.now, &c.principals, &op, false, &r.id).await?,
        Decision::Allowed { .. }
    ))
}

async fn sees(
    store: &dyn Store,
    c: &ArmCaller,
    r: &ArmResource,
    scopes: &[String],
) -> Result<bool, ArmError> {
    if may_read(store, c, r).await? {
        return Ok(true);
    }
    let chain = scope_chain(store, &r.id).await?;
    Ok(arm_view::visible(
        &r.id,
        &chain,
        scopes.iter().map(String::as_str),
    ))
}

/// Opens a scope the caller sees ([`arm_view::visible`]: RBAC lets it read there, or it holds
/// a role assignment at, above or below it) — a subscription for `GET /subscriptions/{id}`, or
/// the parent of a list. 404 when it does not exist in the tenant; otherwise a caller that does
/// not see it is refused by RBAC's read decision (403 `AuthorizationFailed`).
pub async fn open_scope(
    store: &dyn Store,
    c: &ArmCaller,
    id: &str,
) -> Result<ArmResource, ArmError> {
    let parsed = parse_id(id)?;
    let r = load_in_tenant(store, c.tenant.id, id, &parsed).await?;
    if sees(store, c, &r, &assignment_scopes(store, c).await?).await? {
        return Ok(r);
    }
    require(store, c, &type_op(&r.resource_type, "read"), &r.id).await?;
    Ok(r)
}

/// The subscriptions the caller sees: those where it may read, or holds any role assignment at,
/// above or below (a resource group or a resource inside) — as ARM lists them, so a principal
/// with a role on one resource group finds its subscription (`az login`).
pub async fn list_subscriptions(
    store: &dyn Store,
    c: &ArmCaller,
) -> Result<Vec<ArmResource>, ArmError> {
    let scopes = assignment_scopes(store, c).await?;
    let mut out = Vec::new();
    for r in store
        .arm_resources(c.tenant.id)
        .await?
        .into_iter()
        .filter(|r| r.kind == ScopeKind::Subscription)
    {
        if sees(store, c, &r, &scopes).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The top-level resources under a subscription or resource group that the caller may read and
/// that pass the `$filter` (child types such as `…/blobServices` are omitted, as ARM does).
pub async fn list_resources(
    store: &dyn Store,
    c: &ArmCaller,
    parent: &str,
    filter: &ResourceFilter,
) -> Result<Vec<ArmResource>, ArmError> {
    let prefix = format!("{}/", normalise_scope(parent));
    let mut out = Vec::new();
    for r in store
        .arm_resources(c.tenant.id)
        .await?
        .into_iter()
        .filter(|r| {
            r.kind == ScopeKind::Resource
                && r.key().starts_with(prefix.as_str())
                && arm_view::is_top_level(&r.resource_type)
                && filter.matches(r)
        })
    {
        if may_read(store, c, &r).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The resources of one type under a parent the caller may read (`GET {parent}/providers/{ns}/
/// {type}` at a subscription or resource group, `GET {resource}/{childType}` below a resource):
/// a subscription or resource group parent must be one the caller sees ([`open_scope`]), a
/// resource parent one it may read.
pub async fn list_collection(
    store: &dyn Store,
    c: &ArmCaller,
    parent: &str,
    resource_type: &str,
) -> Result<Vec<ArmResource>, ArmError> {
    let p = parse_id(parent)?;
    let p = if p.kind == ScopeKind::Resource {
        get_resource(store, c, parent).await?
    } else {
        open_scope(store, c, parent).await?
    };
    let key = p.key();
    let prefix = format!("{key}/");
    let direct = p.kind == ScopeKind::Resource;
    let mut out = Vec::new();
    for r in store
        .arm_resources(c.tenant.id)
        .await?
        .into_iter()
        .filter(|r| {
            r.kind == ScopeKind::Resource
                && r.resource_type.eq_ignore_ascii_case(resource_type)
                && r.key().starts_with(prefix.as_str())
                && (!direct
                    || r.parent.as_deref().map(normalise_scope).as_deref() == Some(key.as_str()))
        })
    {
        if may_read(store, c, &r).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The scopes of a subscription (itself, its resource groups and resources) the caller may
/// read, for `tagNames`; needs `Microsoft.Resources/subscriptions/tagNames/read` there.
pub async fn tagged_scopes(
    store: &dyn Store,
    c: &ArmCaller,
    sub: &str,
) -> Result<Vec<ArmResource>, ArmError> {
    let s = open_scope(store, c, sub).await?;
    require(
        store,
        c,
        "Microsoft.Resources/subscriptions/tagNames/read",
        &s.id,
    )
    .await?;
    let prefix = format!("{}/", s.key());
    let mut out = Vec::new();
    for r in store
        .arm_resources(c.tenant.id)
        .await?
        .into_iter()
        .filter(|r| r.key().starts_with(prefix.as_str()) && !r.tags.is_empty())
    {
        if may_read(store, c, &r).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Registers a resource provider in a subscription (`POST …/providers/{ns}/register`). Every
/// provider Castellan knows is registered already, so this changes nothing; like Azure it needs
/// `{ns}/register/action` at the subscription. Unknown namespaces: 404
/// `InvalidResourceNamespace`.
pub async fn register_provider(
    store: &dyn Store,
    c: &ArmCaller,
    sub: &str,
    namespace: &str,
) -> Result<&'static arm_view::Provider, ArmError> {
    let s = open_scope(store, c, sub).await?;
    let p = known_provider(namespace)?;
    require(store, c, &format!("{}/register/action", p.namespace), &s.id).await?;
    Ok(p)
}

/// A registered provider, or 404 `InvalidResourceNamespace`.
pub fn known_provider(namespace: &str) -> Result<&'static arm_view::Provider, ArmError> {
    arm_view::provider(namespace).ok_or_else(|| {
        crate::error::Code::ArmInvalidResourceNamespace.arm(&[
            ("namespace", &namespace),
            (
                "value",
                &arm_view::PROVIDERS
                    .iter()
                    .map(|p| p.namespace)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ])
    })
}

/// Resource locks at a scope (`GET …/providers/Microsoft.Authorization/locks`): Castellan keeps
/// none, so the list is empty; reading it needs `Microsoft.Authorization/locks/read` there.
pub async fn list_locks(store: &dyn Store, c: &ArmCaller, scope: &str) -> Result<(), ArmError> {
    scope_exists(store, c.tenant.id, scope).await?;
    require(store, c, "Microsoft.Authorization/locks/read", scope).await
}

/// Creates or replaces a scope. Returns the resource and whether it was created.
pub async fn put_resource(
    env: &mut Env<'_>,
    c: &ArmCaller,
    id: &str,
    req: PutResource,
) -> Result<(ArmResource, bool), ArmError> {
    let parsed = parse_id(id)?;
    let tenant = c.tenant.clone();
    if parsed.kind == ScopeKind::ManagementGroup {
        check_management_group_name(&parsed.name, tenant.id)?;
    }
    let root = ensure_root(env, &tenant).await?;
    let existing = match env.store.arm_resource(id).await? {
        Some(r) if r.tenant_id != tenant.id => {
            return Err(crate::error::Code::ArmResourceExistsInAnotherTenant.arm(&[("id", &id)]))
        }
        other => other,
    };
    // The parent: given (management groups, subscriptions), or from the id.
    let parent = match parsed.kind {
        ScopeKind::ManagementGroup | ScopeKind::Subscription => {
            if normalise_scope(id) == root.key() {
                None
            } else {
                let p = req
                    .parent
                    .clone()
                    .or_else(|| existing.as_ref().and_then(|e| e.parent.clone()))
                    .unwrap_or_else(|| root.id.clone());
                match env.store.arm_resource(&p).await? {
                    Some(m) if m.tenant_id == tenant.id && m.kind == ScopeKind::ManagementGroup => {
                        Some(m.id)
                    }
                    _ => {
                        return Err(
                            crate::error::Code::ArmParentManagementGroupNotFound.arm(&[("p", &p)])
                        )
                    }
                }
            }
        }
        _ => parsed.parent.clone(),
    };
    let op = type_op(&parsed.resource_type, "write");
    // New management groups and subscriptions are authorised at their parent, everything else
    // at its own id (which inherits from the parents).
    let auth_scope = match (parsed.kind, &existing, &parent) {
        (ScopeKind::ManagementGroup | ScopeKind::Subscription, None, Some(p)) => p.clone(),
        _ => id.to_string(),
    };
    require(env.store, c, &op, &auth_scope).await?;
    let mut set = ChangeSet::new();
    // Parents must exist; implicit intermediate child resources (blobServices/default) are
    // created with their child.
    if let Some(p) = &parent {
        if parsed.kind != ScopeKind::ManagementGroup && parsed.kind != ScopeKind::Subscription {
            ensure_parents(env, &tenant, p, &mut set).await?;
        }
    }
    let mut r = existing.clone().unwrap_or(ArmResource {
        tenant_id: tenant.id,
        id: arm_view::canonical_id(id),
        kind: parsed.kind,
        name: parsed.name.clone(),
        resource_type: arm_view::canonical_type(&parsed.resource_type),
        parent: parent.as_deref().map(arm_view::canonical_id),
        display_name: parsed.name.clone(),
        location: None,
        tags: vec![],
        properties: "{}".into(),
        identity_principal: None,
        identity: ResourceIdentity::default(),
        federated_credential: None,
        created: env.now,
    });
    r.parent = parent.as_deref().map(arm_view::canonical_id);
    if let Some(d) = req.display_name.clone().filter(|d| !d.trim().is_empty()) {
        r.display_name = d;
    }
    if req.location.is_some() {
        r.location = req.location.clone();
    }
    r.tags = req.tags.clone();
    if let Some(p) = &req.properties {
        r.properties = p.clone();
    }
    let mut targets = vec![target(
        &r.id,
        &r.resource_type,
        Some(&r.display_name),
        None,
        vec![],
    )];
    // A user-assigned identity resource is itself a service principal.
    if existing.is_none()
        && r.resource_type
            .eq_ignore_ascii_case(USER_ASSIGNED_IDENTITY_TYPE)
    {
        let sp = identity_principal(env, &tenant, &r.name, &r.id, true);
        r.identity_principal = Some(sp.id);
        targets.push(target(
            sp.id,
            "ServicePrincipal",
            Some(&sp.display_name),
            None,
            vec![],
        ));
        set.push(Change::InsertServicePrincipal(sp));
    }
    if req.identity_given {
        apply_identity(env, c, &tenant, &mut r, &req, &mut set, &mut targets).await?;
    }
    let created = existing.is_none();
    if created {
        set.push(Change::InsertArmResource(r.clone()));
    } else {
        set.push(Change::UpdateArmResource(r.clone()));
    }
    let a = env.audit(
        &tenant,
        "ResourceManagement",
        if created {
            "Create resource"
        } else {
            "Update resource"
        },
        if created { "Add" } else { "Update" },
        targets,
    );
    set.audit(a);
    env.store.commit(set).await?;
    Ok((r, created))
}

async fn ensure_parents(
    env: &mut Env<'_>,
    tenant: &Tenant,
    parent: &str,
    set: &mut ChangeSet,
) -> Result<(), ArmError> {
    let mut missing_chain = Vec::new();
    let mut cur = parent.to_string();
    loop {
        let parsed = parse_id(&cur)?;
        match env.store.arm_resource(&cur).await? {
            Some(r) if r.tenant_id == tenant.id => break,
            _ if parsed.kind == ScopeKind::Resource
                && parse_id(parsed.parent.as_deref().unwrap_or(""))
                    .is_ok_and(|p| p.kind == ScopeKind::Resource) =>
            {
                // A missing nested parent under an existing top-level resource is implicit.
                missing_chain.push((cur.clone(), parsed.clone()));
                cur = parsed.parent.clone().unwrap_or_default();
            }
            _ => return Err(missing(&parsed, &cur)),
        }
    }
    for (id, parsed) in missing_chain.into_iter().rev() {
        set.push(Change::InsertArmResource(ArmResource {
            tenant_id: tenant.id,
            id: arm_view::canonical_id(&id),
            kind: parsed.kind,
            name: parsed.name.clone(),
            resource_type: arm_view::canonical_type(&parsed.resource_type),
            parent: parsed.parent.as_deref().map(arm_view::canonical_id),
            display_name: parsed.name.clone(),
            location: None,
            tags: vec![],
            properties: "{}".into(),
            identity_principal: None,
            identity: ResourceIdentity::default(),
            federated_credential: None,
            created: env.now,
        }));
    }
    Ok(())
}

fn identity_principal(
    env: &mut Env<'_>,
    tenant: &Tenant,
    name: &str,
    resource_id: &str,
    explicit: bool,
) -> ServicePrincipal {
    let app_id = AppId::from_random(env.entropy.bytes16());
    ServicePrincipal {
        id: env.new_id(),
        tenant_id: tenant.id,
        app_id,
        app_owner_tenant_id: None,
        display_name: name.to_string(),
        service_principal_type: ServicePrincipalType::ManagedIdentity,
        service_principal_names: vec![app_id.to_string()],
        alternative_names: vec![
            format!("isExplicit={}", if explicit { "True" } else { "False" }),
            resource_id.to_string(),
        ],
        app_role_assignment_required: false,
        account_enabled: true,
        created: env.now,
        saml: Default::default(),
    }
}

async fn apply_identity(
    env: &mut Env<'_>,
    c: &ArmCaller,
    tenant: &Tenant,
    r: &mut ArmResource,
    req: &PutResource,
    set: &mut ChangeSet,
    targets: &mut Vec<AuditTarget>,
) -> Result<(), ArmError> {
    match (r.identity.system_assigned, req.system_assigned) {
        (None, true) => {
            let sp = identity_principal(env, tenant, &r.name, &r.id, false);
            r.identity.system_assigned = Some(sp.id);
            targets.push(target(
                sp.id,
                "ServicePrincipal",
                Some(&sp.display_name),
                None,
                vec![modified("identity", None, Some("SystemAssigned".into()))],
            ));
            set.push(Change::InsertServicePrincipal(sp));
        }
        (Some(old), false) => {
            r.identity.system_assigned = None;
            set.push(Change::DeleteServicePrincipal(tenant.id, old));
            targets.push(target(
                old,
                "ServicePrincipal",
                None,
                None,
                vec![modified("identity", Some("SystemAssigned".into()), None)],
            ));
        }
        _ => {}
    }
    let mut attached = Vec::new();
    for ua in &req.user_assigned {
        let Some(mi) = env.store.arm_resource(ua).await? else {
            return Err(crate::error::Code::ArmInvalidUserAssignedIdentity.arm(&[
                ("ua", &ua),
                ("USER_ASSIGNED_IDENTITY_TYPE", &USER_ASSIGNED_IDENTITY_TYPE),
            ]));
        };
        if mi.tenant_id != tenant.id
            || !mi
                .resource_type
                .eq_ignore_ascii_case(USER_ASSIGNED_IDENTITY_TYPE)
        {
            return Err(crate::error::Code::ArmInvalidUserAssignedIdentity2.arm(&[("ua", &ua)]));
        }
        let already = r
            .identity
            .user_assigned
            .iter()
            .any(|x| x.eq_ignore_ascii_case(&mi.id));
        if !already {
            // Attaching acts as the identity: Managed Identity Operator (or Owner/Contributor).
            require(
                env.store,
                c,
                "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
                &mi.id,
            )
            .await?;
        }
        attached.push(mi.id);
    }
    attached.sort();
    attached.dedup();
    if attached != r.identity.user_assigned {
        targets.push(target(
            &r.id,
            &r.resource_type,
            None,
            None,
            vec![modified(
                "identity.userAssignedIdentities",
                Some(r.identity.user_assigned.join(",")),
                Some(attached.join(",")),
            )],
        ));
        r.identity.user_assigned = attached;
    }
    Ok(())
}

/// Deletes a scope with everything below it: child scopes, the role assignments at and below
/// it, and the system-assigned identities (and user-assigned identity resources) it holds.
/// A management group with children is refused, as in Azure.
pub async fn delete_resource(env: &mut Env<'_>, c: &ArmCaller, id: &str) -> Result<(), ArmError> {
    let parsed = parse_id(id)?;
    let tenant = c.tenant.clone();
    let r = load_in_tenant(env.store, tenant.id, id, &parsed).await?;
    require(env.store, c, &type_op(&r.resource_type, "delete"), &r.id).await?;
    let all = env.store.arm_resources(tenant.id).await?;
    if r.kind == ScopeKind::ManagementGroup {
        if r.parent.is_none() {
            return Err(crate::error::Code::ArmCannotDeleteRootManagementGroup.arm(&[]));
        }
        let key = r.key();
        if all
            .iter()
            .any(|x| x.parent.as_deref().map(normalise_scope).as_deref() == Some(key.as_str()))
        {
            return Err(crate::error::Code::ArmManagementGroupHasChildren.arm(&[("name", &r.name)]));
        }
    }
    let key = r.key();
    let below = format!("{key}/");
    let mut doomed: Vec<&ArmResource> = all
        .iter()
        .filter(|x| x.key() == key || x.key().starts_with(&below))
        .collect();
    // Deepest first, so parents go after their children.
    doomed.sort_by_key(|x| std::cmp::Reverse(x.key().len()));
    let mut set = ChangeSet::new();
    let mut targets = Vec::new();
    let doomed_ids: Vec<String> = doomed.iter().map(|x| x.key()).collect();
    for a in env.store.azure_role_assignments(tenant.id).await? {
        let s = normalise_scope(&a.scope);
        if s == key || s.starts_with(&below) {
            set.push(Change::DeleteAzureRoleAssignment(tenant.id, a.id));
            targets.push(target(a.id, "RoleAssignment", None, None, vec![]));
        }
    }
    for x in &doomed {
        for sp in [x.identity.system_assigned, x.identity_principal]
            .into_iter()
            .flatten()
        {
            set.push(Change::DeleteServicePrincipal(tenant.id, sp));
            targets.push(target(sp, "ServicePrincipal", None, None, vec![]));
        }
        set.push(Change::DeleteArmResource(tenant.id, x.key()));
        targets.push(target(&x.id, &x.resource_type, Some(&x.name), None, vec![]));
    }
    // Other resources that had a deleted user-assigned identity attached lose it.
    for other in all.iter().filter(|x| !doomed_ids.contains(&x.key())) {
        if other
            .identity
            .user_assigned
            .iter()
            .any(|u| doomed_ids.contains(&normalise_scope(u)))
        {
            let mut o = other.clone();
            o.identity
                .user_assigned
                .retain(|u| !doomed_ids.contains(&normalise_scope(u)));
            set.push(Change::UpdateArmResource(o));
        }
    }
    let a = env.audit(
        &tenant,
        "ResourceManagement",
        "Delete resource",
        "Delete",
        targets,
    );
    set.audit(a);
    env.store.commit(set).await?;
    Ok(())
}

// ---- Role definitions ---------------------------------------------------------------------------

/// Role definitions visible at a scope: built-ins, and custom roles assignable at or below it.
pub async fn list_role_definitions(
    store: &dyn Store,
    c: &ArmCaller,
    scope: &str,
) -> Result<Vec<(AzureRole, bool)>, ArmError> {
    let catalog = RoleCatalog::load(store, c.tenant.id).await?;
    let chain = ancestors(scope, &management_chain(store, scope).await?);
    let s = normalise_scope(scope);
    Ok(catalog
        .all()
        .filter(|(r, built_in)| {
            *built_in
                || s == "/"
                || r.assignable_scopes.iter().any(|a| {
                    let a = normalise_scope(a);
                    chain.contains(&a) || a.starts_with(&format!("{s}/"))
                })
        })
        .map(|(r, b)| (r.clone(), b))
        .collect())
}

/// What a PUT on a custom role asks for.
#[derive(Clone, Debug, Default)]
pub struct PutRoleDefinition {
    /// `roleName`.
    pub name: String,
    /// Description.
    pub description: String,
    /// Permissions.
    pub actions: Vec<String>,
    /// NotActions.
    pub not_actions: Vec<String>,
    /// DataActions.
    pub data_actions: Vec<String>,
    /// NotDataActions.
    pub not_data_actions: Vec<String>,
    /// AssignableScopes.
    pub assignable_scopes: Vec<String>,
}

fn valid_operation(op: &str) -> bool {
    op == "*"
        || (op.contains('/')
            && !op.starts_with('/')
            && !op.ends_with('/')
            && op
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "./*-_".contains(c)))
}

/// Creates or replaces a custom role. The caller needs
/// `Microsoft.Authorization/roleDefinitions/write` at every assignable scope.
pub async fn put_role_definition(
    env: &mut Env<'_>,
    c: &ArmCaller,
    id: uuid::Uuid,
    req: PutRoleDefinition,
) -> Result<AzureRole, ArmError> {
    let tenant = c.tenant.clone();
    let name = req.name.trim().to_string();
    if name.is_empty() || name.len() > 512 {
        return Err(crate::error::Code::ArmInvalidRoleDefinition.arm(&[]));
    }
    if azure_rbac::built_in_roles().iter().any(|r| r.id == id) {
        return Err(crate::error::Code::ArmRoleDefinitionUpdateNotPermitted.arm(&[]));
    }
    if azure_rbac::built_in_by_name(&name).is_some() {
        return Err(crate::error::Code::ArmRoleDefinitionWithSameNameExists.arm(&[("name", &name)]));
    }
    if req.actions.is_empty() && req.data_actions.is_empty() {
        return Err(crate::error::Code::ArmInvalidRoleDefinition2.arm(&[]));
    }
    for op in req
        .actions
        .iter()
        .chain(&req.not_actions)
        .chain(&req.data_actions)
        .chain(&req.not_data_actions)
    {
        if !valid_operation(op) {
            return Err(crate::error::Code::ArmInvalidActionOrNotAction.arm(&[("op", &op)]));
        }
    }
    if req.assignable_scopes.is_empty() {
        return Err(crate::error::Code::ArmInvalidAssignableScopes.arm(&[]));
    }
    for s in &req.assignable_scopes {
        if normalise_scope(s) == "/" {
            return Err(crate::error::Code::ArmInvalidAssignableScopes2.arm(&[]));
        }
        let parsed = parse_id(s)?;
        load_in_tenant(env.store, tenant.id, s, &parsed)
            .await
            .map_err(|_| crate::error::Code::ArmInvalidAssignableScopes3.arm(&[("s", &s)]))?;
        require(
            env.store,
            c,
            "Microsoft.Authorization/roleDefinitions/write",
            s,
        )
        .await?;
    }
    let existing: Vec<CustomAzureRole> = env.store.custom_azure_roles(tenant.id).await?;
    if existing
        .iter()
        .any(|r| r.role.id != id && r.role.name.eq_ignore_ascii_case(&name))
    {
        return Err(
            crate::error::Code::ArmRoleDefinitionWithSameNameExists2.arm(&[("name", &name)])
        );
    }
    let role = AzureRole {
        id,
        name,
        description: req.description,
        actions: req.actions,
        not_actions: req.not_actions,
        data_actions: req.data_actions,
        not_data_actions: req.not_data_actions,
        assignable_scopes: req.assignable_scopes,
    };
    let old = existing.iter().find(|r| r.role.id == id);
    let a = env.audit(
        &tenant,
        "AzureRBAC",
        if old.is_some() {
            "Update custom role definition"
        } else {
            "Create custom role definition"
        },
        if old.is_some() { "Update" } else { "Add" },
        vec![target(id, "RoleDefinition", Some(&role.name), None, vec![])],
    );
    let mut set = ChangeSet::new();
    set.push(Change::PutCustomAzureRole(CustomAzureRole {
        tenant_id: tenant.id,
        role: role.clone(),
        created: old.map_or(env.now, |o| o.created),
    }))
    .audit(a);
    env.store.commit(set).await?;
    Ok(role)
}

/// Deletes a custom role (refused while it is assigned).
pub async fn delete_role_definition(
    env: &mut Env<'_>,
    c: &ArmCaller,
    id: uuid::Uuid,
) -> Result<AzureRole, ArmError> {
    let tenant = c.tenant.clone();
    let existing = env.store.custom_azure_roles(tenant.id).await?;
    let Some(r) = existing.into_iter().find(|r| r.role.id == id) else {
        return Err(crate::error::Code::ArmRoleDefinitionDoesNotExist.arm(&[("id", &id)]));
    };
    for s in &r.role.assignable_scopes {
        require(
            env.store,
            c,
            "Microsoft.Authorization/roleDefinitions/delete",
            s,
        )
        .await?;
    }
    if env
        .store
        .azure_role_assignments(tenant.id)
        .await?
        .iter()
        .any(|a| a.role_definition_id == id)
    {
        return Err(
            crate::error::Code::ArmRoleDefinitionHasAssignments.arm(&[("name", &r.role.name)])
        );
    }
    let a = env.audit(
        &tenant,
        "AzureRBAC",
        "Delete custom role definition",
        "Delete",
        vec![target(
            id,
            "RoleDefinition",
            Some(&r.role.name),
            None,
            vec![],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteCustomAzureRole(tenant.id, id))
        .audit(a);
    env.store.commit(set).await?;
    Ok(r.role)
}

/// The role GUID at the end of a `roleDefinitionId` (`/…/roleDefinitions/{guid}` or a bare GUID).
pub fn role_guid(role_definition_id: &str) -> Option<uuid::Uuid> {
    let last = role_definition_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    uuid::Uuid::parse_str(last).ok()
}

// ---- Role assignments ---------------------------------------------------------------------------

/// What a PUT on a role assignment asks for.
#[derive(Clone, Debug, Default)]
pub struct PutAssignment {
    /// `properties.roleDefinitionId`.
    pub role_definition_id: String,
    /// `properties.principalId`.
    pub principal_id: String,
    /// `properties.principalType`, if given.
    pub principal_type: Option<String>,
    /// `properties.condition`.
    pub condition: Option<String>,
    /// `properties.conditionVersion`.
    pub condition_version: Option<String>,
    /// `properties.description`.
    pub description: Option<String>,
}

/// Checks a scope exists in the caller's tenant (`/` always does).
pub async fn scope_exists(store: &dyn Store, t: TenantId, scope: &str) -> Result<(), ArmError> {
    check_scope(scope)?;
    let n = normalise_scope(scope);
    if n == "/" {
        return Ok(());
    }
    // A blob path exists as far as authorization goes when its container does.
    let scope = match n
        .find("/blobs/")
        .filter(|i| n.get(..*i).is_some_and(|c| c.contains("/containers/")))
    {
        Some(i) => scope.get(..i).unwrap_or(scope),
        None => scope,
    };
    let parsed = parse_id(scope)?;
    if parsed.kind == ScopeKind::ManagementGroup && parsed.name.eq_ignore_ascii_case(&t.to_string())
    {
        return Ok(());
    }
    load_in_tenant(store, t, scope, &parsed).await.map(|_| ())
}

fn subscription_of(scope: &str) -> Option<String> {
    let s = normalise_scope(scope);
    let rest = s.strip_prefix("/subscriptions/")?;
    Some(rest.split('/').next().unwrap_or("").to_string())
}

/// Creates a role assignment (idempotent for an identical PUT). Needs
/// `Microsoft.Authorization/roleAssignments/write` at the scope.
pub async fn put_assignment(
    env: &mut Env<'_>,
    c: &ArmCaller,
    scope: &str,
    name: uuid::Uuid,
    req: PutAssignment,
) -> Result<(AzureRoleAssignment, bool), ArmError> {
    let tenant = c.tenant.clone();
    scope_exists(env.store, tenant.id, scope).await?;
    require(
        env.store,
        c,
        "Microsoft.Authorization/roleAssignments/write",
        scope,
    )
    .await?;
    let role_id = role_guid(&req.role_definition_id).ok_or_else(|| {
        crate::error::Code::ArmInvalidRoleDefinitionId
            .arm(&[("role_definition_id", &req.role_definition_id)])
    })?;
    let catalog = RoleCatalog::load(env.store, tenant.id).await?;
    let Some(role) = catalog.get(role_id) else {
        return Err(
            crate::error::Code::ArmRoleDefinitionDoesNotExist2.arm(&[("role_id", &role_id)])
        );
    };
    if !role.assignable_scopes.is_empty() {
        let chain = ancestors(scope, &management_chain(env.store, scope).await?);
        if !role
            .assignable_scopes
            .iter()
            .any(|a| chain.contains(&normalise_scope(a)))
        {
            return Err(crate::error::Code::ArmInvalidRoleAssignmentScope.arm(&[
                ("name", &role.name),
                ("scope", &scope),
                ("value", &role.assignable_scopes.join(", ")),
            ]));
        }
    }
    let principal = ObjectId::parse(&req.principal_id).ok_or_else(|| {
        crate::error::Code::ArmInvalidPrincipalId2.arm(&[("principal_id", &req.principal_id)])
    })?;
    let kind = env.store.object_kind(tenant.id, principal).await?;
    let actual = match kind {
        Some(ObjectKind::User) => "User",
        Some(ObjectKind::Group) => "Group",
        Some(ObjectKind::ServicePrincipal) => "ServicePrincipal",
        _ => {
            return Err(crate::error::Code::ArmPrincipalNotFound
                .arm(&[("principal_id", &req.principal_id), ("id", &tenant.id)]))
        }
    };
    if let Some(pt) = &req.principal_type {
        if !pt.eq_ignore_ascii_case(actual) {
            return Err(crate::error::Code::ArmUnmatchedPrincipalType.arm(&[
                ("pt", &pt),
                ("principal", &principal),
                ("actual", &actual),
            ]));
        }
    }
    let condition = match req.condition.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => {
            if let Some(v) = &req.condition_version {
                if v != "2.0" {
                    return Err(crate::error::Code::ArmInvalidConditionVersion.arm(&[("v", &v)]));
                }
            }
            abac::parse(text)
                .map_err(|e| crate::error::Code::ArmInvalidCondition.arm(&[("e", &e)]))?;
            Some(text.to_string())
        }
        _ => None,
    };
    let existing = env.store.azure_role_assignments(tenant.id).await?;
    if let Some(same) = existing.iter().find(|a| a.id == name) {
        let identical = same.principal_id == principal
            && same.role_definition_id == role_id
            && normalise_scope(&same.scope) == normalise_scope(scope)
            && same.condition == condition;
        if identical {
            return Ok((same.clone(), false));
        }
        return Err(crate::error::Code::ArmRoleAssignmentUpdateNotPermitted.arm(&[]));
    }
    if let Some(same) = existing.iter().find(|a| {
        a.principal_id == principal
            && a.role_definition_id == role_id
            && normalise_scope(&a.scope) == normalise_scope(scope)
    }) {
        // Azure's message, which the Azure CLI parses for the existing assignment's name
        // (32 hex digits) to answer a repeated `az role assignment create` with it.
        return Err(
            crate::error::Code::ArmRoleAssignmentExists.arm(&[("simple", &same.id.simple())])
        );
    }
    if let Some(sub) = subscription_of(scope) {
        let n = existing
            .iter()
            .filter(|a| subscription_of(&a.scope).as_deref() == Some(sub.as_str()))
            .count();
        if n >= ASSIGNMENTS_PER_SUBSCRIPTION {
            return Err(crate::error::Code::ArmRoleAssignmentLimitExceeded.arm(&[
                ("sub", &sub),
                ("n", &n),
                (
                    "ASSIGNMENTS_PER_SUBSCRIPTION",
                    &ASSIGNMENTS_PER_SUBSCRIPTION,
                ),
            ]));
        }
    }
    let a = AzureRoleAssignment {
        id: name,
        tenant_id: tenant.id,
        scope: if normalise_scope(scope) == "/" {
            "/".into()
        } else {
            scope.trim_end_matches('/').to_string()
        },
        role_definition_id: role_id,
        principal_id: principal,
        principal_type: actual.into(),
        condition,
        description: req.description,
        created: env.now,
        created_by: (!c.platform).then_some(c.principal),
    };
    let rec = env.audit(
        &tenant,
        "AzureRBAC",
        "Create role assignment",
        "Add",
        vec![target(
            name,
            "RoleAssignment",
            Some(&role.name),
            None,
            vec![
                modified("RoleDefinitionId", None, Some(role_id.to_string())),
                modified("PrincipalId", None, Some(principal.to_string())),
                modified("Scope", None, Some(a.scope.clone())),
            ],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertAzureRoleAssignment(a.clone()))
        .audit(rec);
    env.store.commit(set).await?;
    Ok((a, true))
}

/// One role assignment by scope and name (needs `roleAssignments/read` at the scope).
pub async fn get_assignment(
    store: &dyn Store,
    c: &ArmCaller,
    scope: &str,
    name: uuid::Uuid,
) -> Result<AzureRoleAssignment, ArmError> {
    require(
        store,
        c,
        "Microsoft.Authorization/roleAssignments/read",
        scope,
    )
    .await?;
    store
        .azure_role_assignments(c.tenant.id)
        .await?
        .into_iter()
        .find(|a| a.id == name && normalise_scope(&a.scope) == normalise_scope(scope))
        .ok_or_else(|| {
            crate::error::Code::ArmRoleAssignmentNotFound.arm(&[("name", &name), ("scope", &scope)])
        })
}

/// `$filter` for listing role assignments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssignmentFilter {
    /// At, above and below the scope.
    All,
    /// `atScope()`: at and above the scope.
    AtScope,
    /// `principalId eq '…'`: that principal's own, at, above and below.
    Principal(ObjectId),
    /// `assignedTo('…')`: the principal's own and its groups', at, above and below.
    AssignedTo(ObjectId),
    /// `atScope() and assignedTo('…')` (`az role assignment list --scope … --include-groups`):
    /// the principal's own and its groups', at and above the scope.
    AtScopeAssignedTo(ObjectId),
}

/// Lists role assignments at a scope (needs `roleAssignments/read` there).
pub async fn list_assignments(
    store: &dyn Store,
    c: &ArmCaller,
    scope: &str,
    filter: &AssignmentFilter,
) -> Result<Vec<AzureRoleAssignment>, ArmError> {
    scope_exists(store, c.tenant.id, scope).await?;
    require(
        store,
        c,
        "Microsoft.Authorization/roleAssignments/read",
        scope,
    )
    .await?;
    let chain = ancestors(scope, &management_chain(store, scope).await?);
    let s = normalise_scope(scope);
    let below = if s == "/" {
        "/".to_string()
    } else {
        format!("{s}/")
    };
    let whose: Option<Vec<ObjectId>> = match filter {
        AssignmentFilter::Principal(p) => Some(vec![*p]),
        AssignmentFilter::AssignedTo(p) | AssignmentFilter::AtScopeAssignedTo(p) => {
            Some(principal_set(store, c.tenant.id, *p, c.now).await?)
        }
        _ => None,
    };
    Ok(store
        .azure_role_assignments(c.tenant.id)
        .await?
        .into_iter()
        .filter(|a| {
            let x = normalise_scope(&a.scope);
            let above = chain.contains(&x);
            let under = x.starts_with(&below) && x != s;
            match filter {
                AssignmentFilter::AtScope | AssignmentFilter::AtScopeAssignedTo(_) => above,
                _ => above || under,
            }
        })
        .filter(|a| whose.as_ref().is_none_or(|w| w.contains(&a.principal_id)))
        .collect())
}

/// Deletes a role assignment (needs `roleAssignments/delete` at its scope). `Ok(None)` when
/// there was nothing to delete (ARM answers 204).
pub async fn delete_assignment(
    env: &mut Env<'_>,
    c: &ArmCaller,
    scope: &str,
    name: uuid::Uuid,
) -> Result<Option<AzureRoleAssignment>, ArmError> {
    let tenant = c.tenant.clone();
    require(
        env.store,
        c,
        "Microsoft.Authorization/roleAssignments/delete",
        scope,
    )
    .await?;
    let Some(a) = env
        .store
        .azure_role_assignments(tenant.id)
        .await?
        .into_iter()
        .find(|a| a.id == name && normalise_scope(&a.scope) == normalise_scope(scope))
    else {
        return Ok(None);
    };
    let elevated = normalise_scope(&a.scope) == "/";
    let rec = env.audit(
        &tenant,
        "AzureRBAC",
        if elevated {
            "Remove elevated access (User Access Administrator at root scope)"
        } else {
            "Delete role assignment"
        },
        "Delete",
        vec![target(
            name,
            "RoleAssignment",
            None,
            None,
            vec![
                modified(
                    "RoleDefinitionId",
                    Some(a.role_definition_id.to_string()),
                    None,
                ),
                modified("PrincipalId", Some(a.principal_id.to_string()), None),
                modified("Scope", Some(a.scope.clone()), None),
            ],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteAzureRoleAssignment(tenant.id, name))
        .audit(rec);
    env.store.commit(set).await?;
    Ok(Some(a))
}

// ---- Effective permissions, check access, elevate ------------------------------------------------

/// The caller's effective permissions at a scope: one entry per role of an assignment that
/// applies (at the scope or above), as ARM's `permissions` list returns them.
pub async fn permissions(
    store: &dyn Store,
    c: &ArmCaller,
    scope: &str,
) -> Result<Vec<AzureRole>, ArmError> {
    scope_exists(store, c.tenant.id, scope).await?;
    let chain = ancestors(scope, &management_chain(store, scope).await?);
    let catalog = RoleCatalog::load(store, c.tenant.id).await?;
    let mut out: Vec<AzureRole> = Vec::new();
    for a in assignments_in_force(store, c.tenant.id, &c.principals, c.now).await? {
        if chain.contains(&normalise_scope(&a.scope)) {
            if let Some(r) = catalog.get(a.role_definition_id) {
                if !out.iter().any(|x| x.id == r.id) {
                    out.push(r.clone());
                }
            }
        }
    }
    Ok(out)
}

/// One check-access answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessAnswer {
    /// The operation.
    pub action: String,
    /// Data action?
    pub is_data_action: bool,
    /// The decision and its explanation.
    pub decision: Decision,
}

/// Decides operations for a principal at a scope (the API resource servers call). Checking
/// someone else needs `Microsoft.Authorization/roleAssignments/read` at the scope.
pub async fn check_access(
    store: &dyn Store,
    c: &ArmCaller,
    scope: &str,
    subject: Option<ObjectId>,
    actions: &[(String, bool)],
) -> Result<Vec<AccessAnswer>, ArmError> {
    check_scope(scope)?;
    if actions.is_empty() {
        return Err(crate::error::Code::ArmInvalidRequest.arm(&[]));
    }
    let principals = match subject {
        Some(p) if p != c.principal => {
            require(
                store,
                c,
                "Microsoft.Authorization/roleAssignments/read",
                scope,
            )
            .await?;
            if store.object_kind(c.tenant.id, p).await?.is_none() {
                return Err(crate::error::Code::ArmPrincipalNotFound2
                    .arm(&[("p", &p), ("id", &c.tenant.id)]));
            }
            principal_set(store, c.tenant.id, p, c.now).await?
        }
        _ => c.principals.clone(),
    };
    let mut out = Vec::new();
    for (op, data) in actions {
        let decision = decide(store, c.tenant.id, c.now, &principals, op, *data, scope).await?;
        out.push(AccessAnswer {
            action: op.clone(),
            is_data_action: *data,
            decision,
        });
    }
    Ok(out)
}

/// `POST /providers/Microsoft.Authorization/elevateAccess`: a Global Administrator gets User
/// Access Administrator at root scope `/`, audited loudly. Removing it is deleting that
/// assignment. Anyone else gets 403.
pub async fn elevate_access(
    env: &mut Env<'_>,
    c: &ArmCaller,
) -> Result<AzureRoleAssignment, ArmError> {
    let tenant = c.tenant.clone();
    let wide =
        crate::ops::directory_roles::tenant_wide_roles(env.store, tenant.id, c.principal, env.now)
            .await?;
    if !c.is_user || !wide.contains(&GLOBAL_ADMINISTRATOR) {
        return Err(crate::error::Code::ArmAuthorizationFailed2
            .arm(&[("name", &c.name), ("principal", &c.principal)]));
    }
    let uaa = azure_rbac::built_in_by_name("User Access Administrator")
        .map(|r| r.id)
        .ok_or_else(|| crate::error::Code::ArmInternalError.arm(&[]))?;
    if let Some(a) = env
        .store
        .azure_role_assignments_of(tenant.id, c.principal)
        .await?
        .into_iter()
        .find(|a| a.role_definition_id == uaa && normalise_scope(&a.scope) == "/")
    {
        return Ok(a);
    }
    let a = AzureRoleAssignment {
        id: uuid::Builder::from_random_bytes(env.entropy.bytes16()).into_uuid(),
        tenant_id: tenant.id,
        scope: "/".into(),
        role_definition_id: uaa,
        principal_id: c.principal,
        principal_type: "User".into(),
        condition: None,
        description: Some("Elevated access (Global Administrator)".into()),
        created: env.now,
        created_by: Some(c.principal),
    };
    let mut rec = env.audit(
        &tenant,
        "AzureRBAC",
        "ELEVATED ACCESS: Global Administrator granted User Access Administrator at root scope '/'",
        "Add",
        vec![target(
            a.id,
            "RoleAssignment",
            Some("User Access Administrator"),
            Some(&c.name),
            vec![
                modified("Scope", None, Some("/".into())),
                modified("PrincipalId", None, Some(c.principal.to_string())),
            ],
        )],
    );
    rec.result_reason = "The user can now manage access to every subscription and management group in the tenant. Remove the assignment at '/' when done.".into();
    let mut set = ChangeSet::new();
    set.push(Change::InsertAzureRoleAssignment(a.clone()))
        .audit(rec);
    env.store.commit(set).await?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_management_group_names_are_reserved_for_tenant_roots() {
        let own = TenantId::from_uuid(uuid::Uuid::from_u128(0x1234));
        let other = uuid::Uuid::from_u128(0x5678);
        assert!(check_management_group_name("prod", own).is_ok());
        assert!(check_management_group_name("mg-5678", own).is_ok());
        assert!(check_management_group_name(&own.to_string(), own).is_ok());
        for bad in [
            other.to_string(),
            other.to_string().to_uppercase(),
            other.simple().to_string(),
        ] {
            let e = check_management_group_name(&bad, own).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, "InvalidManagementGroupName"),
                "{bad}"
            );
            assert!(e.message.contains(&bad), "{}", e.message);
        }
    }

    #[test]
    fn scopes_spelled_two_ways_are_invalid_scope() {
        for bad in [
            "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/..",
            "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/a%2Fb",
            "/providers/Microsoft.Management/managementGroups/./prod",
        ] {
            let e = parse_id(bad).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "InvalidScope"), "{bad}");
        }
        assert!(check_scope("/").is_ok());
    }

    #[test]
    fn oversized_ids_are_invalid_resource_ids_naming_the_limit() {
        let rg = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a";
        let deep = format!("{rg}{}", "/x/y".repeat(200));
        assert!(deep.len() <= crate::azure_rbac::MAX_SCOPE_LEN);
        let e = parse_id(&deep).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "InvalidResourceId"));
        assert!(e.message.contains("at most 300"), "{}", e.message);
        let long = format!("{rg}/b/{}", "n".repeat(3000));
        let e = parse_id(&long).unwrap_err();
        assert!(e.message.contains("at most 2048"), "{}", e.message);
        assert!(
            !e.message.contains(&"n".repeat(100)),
            "the id is not echoed"
        );
        // The same shape within bounds parses.
        assert!(parse_id(&format!("{rg}{}", "/x/y".repeat(20))).is_ok());
    }

    #[test]
    fn ids_parse_into_levels_types_and_parents() {
        let sub = "/subscriptions/11111111-1111-1111-1111-111111111111";
        let p = parse_id(sub).unwrap();
        assert_eq!(p.kind, ScopeKind::Subscription);
        let rg = format!("{sub}/resourceGroups/rg1");
        let p = parse_id(&rg).unwrap();
        assert_eq!(p.kind, ScopeKind::ResourceGroup);
        assert_eq!(p.parent.as_deref(), Some(sub));
        let acct = format!("{rg}/providers/Microsoft.Storage/storageAccounts/acct");
        let p = parse_id(&acct).unwrap();
        assert_eq!(p.resource_type, "Microsoft.Storage/storageAccounts");
        assert_eq!(p.parent.as_deref(), Some(rg.as_str()));
        let c = format!("{acct}/blobServices/default/containers/docs");
        let p = parse_id(&c).unwrap();
        assert_eq!(
            p.resource_type,
            "Microsoft.Storage/storageAccounts/blobServices/containers"
        );
        assert_eq!(p.name, "docs");
        assert_eq!(
            p.parent.as_deref(),
            Some(format!("{acct}/blobServices/default").as_str())
        );
        let mg = parse_id("/providers/Microsoft.Management/managementGroups/prod").unwrap();
        assert_eq!(mg.kind, ScopeKind::ManagementGroup);
    }

    #[test]
    fn bad_ids_say_what_is_wrong() {
        for (id, needle) in [
            ("/subscriptions/not-a-guid", "GUID"),
            ("/tenants/x", "expected /subscriptions"),
            (
                "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts",
                "providers/{Namespace}",
            ),
            (
                "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/r g",
                "resourceGroups/{name}",
            ),
            (
                "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/storage/accounts/a",
                "namespace",
            ),
        ] {
            let e = parse_id(id).unwrap_err();
            assert_eq!(e.code, "InvalidResourceId");
            assert!(e.message.contains(needle), "{id}: {}", e.message);
        }
    }

    #[test]
    fn role_guids_come_from_the_end_of_the_id() {
        let g = "b24988ac-6180-42a0-ab88-20f7382dd24c";
        assert_eq!(
            role_guid(&format!(
                "/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/{g}"
            ))
            .unwrap()
            .to_string(),
            g
        );
        assert!(role_guid("Contributor").is_none());
    }

    #[test]
    fn operations_are_validated() {
        assert!(valid_operation("Microsoft.Storage/*/read"));
        assert!(valid_operation("*"));
        assert!(!valid_operation("read"));
        assert!(!valid_operation("Microsoft.Storage/ x"));
    }
}
