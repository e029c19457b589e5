//! The resource plane's nouns: management groups, subscriptions, resource groups and resources
//! (recorded, not run), Azure role assignments, custom Azure role definitions and deny
//! assignments. Scope ids are ARM ids; the store keys them by their lower-case form.

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// What level of the hierarchy a scope is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    /// `/providers/Microsoft.Management/managementGroups/{id}`.
    ManagementGroup,
    /// `/subscriptions/{guid}`.
    Subscription,
    /// `/subscriptions/{s}/resourceGroups/{name}`.
    ResourceGroup,
    /// `…/providers/{Namespace}/{type}/{name}[/{child type}/{child name}…]`.
    Resource,
}

impl ScopeKind {
    /// Stable name (store).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ManagementGroup => "managementGroup",
            Self::Subscription => "subscription",
            Self::ResourceGroup => "resourceGroup",
            Self::Resource => "resource",
        }
    }
    /// Inverse of [`ScopeKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "managementGroup" => Self::ManagementGroup,
            "subscription" => Self::Subscription,
            "resourceGroup" => Self::ResourceGroup,
            "resource" => Self::Resource,
            _ => return None,
        })
    }
}

/// The managed identity settings of a resource (`identity` in ARM).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceIdentity {
    /// The system-assigned identity's service principal (created and deleted with the resource).
    pub system_assigned: Option<ObjectId>,
    /// Attached user-assigned identities: their ARM resource ids.
    pub user_assigned: Vec<String>,
    /// SHA-256 of the per-resource identity-endpoint secrets (`IDENTITY_HEADER`), newest last;
    /// the plaintext is shown once when issued and never stored.
    pub secrets_sha256: Vec<[u8; 32]>,
}

/// A scope in the resource hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmResource {
    /// The tenant the scope trusts.
    pub tenant_id: TenantId,
    /// The ARM id, as created (case preserved).
    pub id: String,
    /// Level.
    pub kind: ScopeKind,
    /// The last segment of the id.
    pub name: String,
    /// ARM type, e.g. `Microsoft.Storage/storageAccounts/blobServices/containers`.
    pub resource_type: String,
    /// The parent scope's ARM id (`None` only for the tenant root management group).
    pub parent: Option<String>,
    /// Display name (management groups, subscriptions).
    pub display_name: String,
    /// Location (resource groups, resources).
    pub location: Option<String>,
    /// Tags as name/value pairs.
    pub tags: Vec<(String, String)>,
    /// `properties`, kept opaque as JSON text (Castellan records resources, it does not run them).
    pub properties: String,
    /// For a user-assigned identity resource: its service principal.
    pub identity_principal: Option<ObjectId>,
    /// Managed identities of the resource.
    pub identity: ResourceIdentity,
    /// For a `…/userAssignedIdentities/federatedIdentityCredentials` child: the credential.
    pub federated_credential: Option<crate::model::FederatedIdentityCredential>,
    /// Created.
    pub created: Timestamp,
}

impl ArmResource {
    /// The store key: the lower-case id.
    pub fn key(&self) -> String {
        normalise_scope(&self.id)
    }
}

/// An Azure role assignment (`Microsoft.Authorization/roleAssignments`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureRoleAssignment {
    /// The assignment's name (a GUID).
    pub id: uuid::Uuid,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Scope, as given.
    pub scope: String,
    /// Role definition GUID.
    pub role_definition_id: uuid::Uuid,
    /// Principal object id.
    pub principal_id: ObjectId,
    /// `User`, `Group`, `ServicePrincipal` (managed identities are service principals).
    pub principal_type: String,
    /// ABAC condition (version 2.0), if any.
    pub condition: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Created.
    pub created: Timestamp,
    /// Who created it (object id; `None` for the platform).
    pub created_by: Option<ObjectId>,
}

/// A tenant's custom Azure role definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomAzureRole {
    /// Tenant.
    pub tenant_id: TenantId,
    /// The role (its `assignable_scopes` bound where it may be assigned).
    pub role: AzureRole,
    /// Created.
    pub created: Timestamp,
}

/// A stored deny assignment (created by the platform, never by users).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDenyAssignment {
    /// Tenant.
    pub tenant_id: TenantId,
    /// The assignment.
    pub deny: DenyAssignment,
    /// Description.
    pub description: String,
    /// Created.
    pub created: Timestamp,
}

/// An Azure role definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureRole {
    /// Role definition id (Azure's GUID for built-ins).
    pub id: uuid::Uuid,
    /// `roleName`.
    pub name: String,
    /// Description.
    pub description: String,
    /// Control-plane operations allowed (wildcards).
    pub actions: Vec<String>,
    /// Control-plane operations removed from `actions`.
    pub not_actions: Vec<String>,
    /// Data-plane operations allowed.
    pub data_actions: Vec<String>,
    /// Data-plane operations removed from `data_actions`.
    pub not_data_actions: Vec<String>,
    /// Where a custom role may be assigned (empty for built-ins: anywhere).
    pub assignable_scopes: Vec<String>,
}

/// A deny assignment: the listed operations are denied to the principals at and below the scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenyAssignment {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Principals it applies to (empty = everyone).
    pub principals: Vec<ObjectId>,
    /// Scope.
    pub scope: String,
    /// Denied control-plane operations.
    pub actions: Vec<String>,
    /// Denied data-plane operations.
    pub data_actions: Vec<String>,
}

/// Normalises a scope: lower-case, no trailing slash (except the root `/`).
pub fn normalise_scope(scope: &str) -> String {
    let s = scope.trim().to_ascii_lowercase();
    let t = s.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}
