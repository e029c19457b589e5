//! Service principals (an app's instance in one tenant) and app-role assignments.

use crate::ids::{AppId, ObjectId, TenantId};
use crate::model::ObjectKind;
use crate::time::Timestamp;

/// What the service principal stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServicePrincipalType {
    /// An application.
    Application,
    /// A managed identity.
    ManagedIdentity,
}

impl ServicePrincipalType {
    /// Graph's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Application => "Application",
            Self::ManagedIdentity => "ManagedIdentity",
        }
    }
}

/// A service principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePrincipal {
    /// Object id.
    pub id: ObjectId,
    /// Tenant it lives in.
    pub tenant_id: TenantId,
    /// The application it instantiates.
    pub app_id: AppId,
    /// Tenant that owns the application object (for built-ins: the platform's own tenant id).
    pub app_owner_tenant_id: Option<TenantId>,
    /// Display name.
    pub display_name: String,
    /// Kind.
    pub service_principal_type: ServicePrincipalType,
    /// Names the resource is known by (appId and identifier URIs).
    pub service_principal_names: Vec<String>,
    /// Graph's `alternativeNames`: for a managed identity, `isExplicit=…` and its ARM resource id.
    pub alternative_names: Vec<String>,
    /// Only assigned principals may get tokens.
    pub app_role_assignment_required: bool,
    /// Enabled.
    pub account_enabled: bool,
    /// Creation time.
    pub created: Timestamp,
}

/// An app-role assignment: `principal` holds `app_role_id` on the resource service principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRoleAssignment {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Who holds the role.
    pub principal_id: ObjectId,
    /// What the principal is.
    pub principal_type: ObjectKind,
    /// The resource's service principal.
    pub resource_id: ObjectId,
    /// The app role (`00000000-…` is default access).
    pub app_role_id: uuid::Uuid,
    /// When.
    pub created: Timestamp,
}

/// A delegated permission grant (`oAuth2PermissionGrant`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2PermissionGrant {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Client service principal.
    pub client_id: ObjectId,
    /// `AllPrincipals` or `Principal`.
    pub consent_type: String,
    /// The user for `Principal` grants.
    pub principal_id: Option<ObjectId>,
    /// Resource service principal.
    pub resource_id: ObjectId,
    /// Space-separated scope values.
    pub scope: String,
}

/// A directory role held by a principal (tenant-wide scope only, for now).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryRoleAssignment {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Principal.
    pub principal_id: ObjectId,
    /// Role template id (e.g. Global Administrator `62e90394-…`).
    pub role_template_id: uuid::Uuid,
    /// `/` (tenant-wide) or `/administrativeUnits/{id}`.
    pub directory_scope_id: String,
}

/// A custom directory role (P1/P2 tenants): a tenant's own set of resource actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRoleDefinition {
    /// Id (also what role assignments name as `roleDefinitionId`).
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Display name (unique in the tenant, and not a built-in role's name).
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Allowed resource actions.
    pub allowed_resource_actions: Vec<String>,
    /// Enabled.
    pub is_enabled: bool,
    /// Created.
    pub created: crate::time::Timestamp,
}

/// An administrative unit: a container of users (and groups) that scopes directory roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdministrativeUnit {
    /// Object id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Created.
    pub created: crate::time::Timestamp,
}

/// Global Administrator's role template id.
pub const GLOBAL_ADMINISTRATOR: uuid::Uuid =
    uuid::Uuid::from_u128(0x62e90394_69f5_4237_9190_012177145e10);
