//! Audit records: who changed what. Every directory write carries one, committed with it.

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// Who initiated a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A user (delegated call).
    User {
        /// Object id.
        id: ObjectId,
        /// UPN.
        upn: String,
    },
    /// An application (app-only call).
    App {
        /// Service principal object id.
        service_principal_id: ObjectId,
        /// App id.
        app_id: String,
        /// Display name.
        display_name: String,
    },
    /// The platform operator (tenant creation, demo seeding).
    Operator,
}

/// A property change on a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModifiedProperty {
    /// Property name.
    pub name: String,
    /// Old value (rendered text; secrets never appear).
    pub old_value: Option<String>,
    /// New value.
    pub new_value: Option<String>,
}

/// The object a change touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditTarget {
    /// Object id.
    pub id: String,
    /// `User`, `Group`, `Application`, `ServicePrincipal`, `Tenant`, `Other`.
    pub kind: String,
    /// Display name.
    pub display_name: Option<String>,
    /// UPN for users.
    pub user_principal_name: Option<String>,
    /// What changed.
    pub modified_properties: Vec<ModifiedProperty>,
}

/// One audit record (`directoryAudit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// When.
    pub time: Timestamp,
    /// `UserManagement`, `GroupManagement`, `ApplicationManagement`, `DirectoryManagement`, `RoleManagement`.
    pub category: String,
    /// `Add user`, `Update user`, ...
    pub activity: String,
    /// `Add`, `Update`, `Delete`, `Assign`, `Unassign`.
    pub operation_type: String,
    /// Who.
    pub actor: Actor,
    /// What.
    pub targets: Vec<AuditTarget>,
    /// `success` or `failure`.
    pub result: String,
    /// Why it failed, if it did.
    pub result_reason: String,
    /// The request's correlation id.
    pub correlation_id: String,
}
