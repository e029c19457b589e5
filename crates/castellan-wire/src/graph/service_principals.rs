//! `microsoft.graph.servicePrincipal` and `appRoleAssignment`.

use castellan_core::model::{
    AppRole, AppRoleAssignment, ObjectKind, PermissionScope, ServicePrincipal,
};
use castellan_core::ops::service_principals::ServicePrincipalInput;
use serde_json::{json, Value};

use super::applications::{render_role, render_scopes};
use super::{bool_field, check_object, guid};
use crate::errors::GraphError;
use crate::time::graph_datetime;

/// Properties settable by PATCH.
pub const WRITABLE: &[&str] = &["accountEnabled", "appRoleAssignmentRequired", "appId"];
/// Read-only properties.
pub const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "deletedDateTime",
    "servicePrincipalNames",
    "appRoles",
    "oauth2PermissionScopes",
    "appOwnerOrganizationId",
];
/// Every rendered property.
pub const PROPERTIES: &[&str] = &[
    "id",
    "appId",
    "displayName",
    "servicePrincipalType",
    "servicePrincipalNames",
    "appRoleAssignmentRequired",
    "accountEnabled",
    "appRoles",
    "oauth2PermissionScopes",
    "appOwnerOrganizationId",
    "createdDateTime",
    "signInAudience",
];

/// Renders a service principal with the roles and scopes it exposes.
pub fn render(sp: &ServicePrincipal, roles: &[AppRole], scopes: &[PermissionScope]) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.servicePrincipal",
        "id": sp.id.to_string(),
        "appId": sp.app_id.to_string(),
        "displayName": sp.display_name,
        "servicePrincipalType": sp.service_principal_type.as_str(),
        "servicePrincipalNames": sp.service_principal_names,
        "appRoleAssignmentRequired": sp.app_role_assignment_required,
        "accountEnabled": sp.account_enabled,
        "appRoles": roles.iter().map(render_role).collect::<Vec<_>>(),
        "oauth2PermissionScopes": render_scopes(scopes),
        "appOwnerOrganizationId": sp.app_owner_tenant_id.map(|t| t.to_string()),
        "createdDateTime": graph_datetime(sp.created),
    })
}

/// Parses `POST /servicePrincipals`: `{"appId": "..."}`.
pub fn parse_create(body: &Value) -> Result<String, GraphError> {
    let o = check_object(
        body,
        "servicePrincipal",
        &[
            "appId",
            "accountEnabled",
            "appRoleAssignmentRequired",
            "tags",
        ],
        READ_ONLY,
    )?;
    o.get("appId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            GraphError::bad_request(
                "Property 'appId' is required: the appId of the application to instantiate.",
            )
        })
}

/// Parses a PATCH.
pub fn parse_update(body: &Value) -> Result<ServicePrincipalInput, GraphError> {
    let o = check_object(
        body,
        "servicePrincipal",
        &["accountEnabled", "appRoleAssignmentRequired"],
        &[
            "id",
            "appId",
            "createdDateTime",
            "servicePrincipalNames",
            "appRoles",
            "oauth2PermissionScopes",
        ],
    )?;
    Ok(ServicePrincipalInput {
        account_enabled: bool_field(o, "accountEnabled")?,
        app_role_assignment_required: bool_field(o, "appRoleAssignmentRequired")?,
    })
}

/// The principal type's Graph name.
pub fn principal_type(k: ObjectKind) -> &'static str {
    match k {
        ObjectKind::User => "User",
        ObjectKind::Group => "Group",
        _ => "ServicePrincipal",
    }
}

/// Renders an assignment.
pub fn render_assignment(
    a: &AppRoleAssignment,
    principal_name: &str,
    resource_name: &str,
) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.appRoleAssignment",
        "id": a.id.to_string(),
        "appRoleId": a.app_role_id.to_string(),
        "creationTimestamp": graph_datetime(a.created),
        "createdDateTime": graph_datetime(a.created),
        "principalDisplayName": principal_name,
        "principalId": a.principal_id.to_string(),
        "principalType": principal_type(a.principal_type),
        "resourceDisplayName": resource_name,
        "resourceId": a.resource_id.to_string(),
    })
}

/// Parses an assignment body: `{"principalId","resourceId","appRoleId"}`.
pub fn parse_assignment(body: &Value) -> Result<(uuid::Uuid, uuid::Uuid, uuid::Uuid), GraphError> {
    let o = check_object(
        body,
        "appRoleAssignment",
        &["principalId", "resourceId", "appRoleId", "principalType"],
        &[
            "id",
            "creationTimestamp",
            "principalDisplayName",
            "resourceDisplayName",
        ],
    )?;
    let g = |k: &str| {
        guid(o, k).and_then(|v| {
            v.ok_or_else(|| {
                GraphError::bad_request(format!("Property '{k}' (a GUID) is required."))
            })
        })
    };
    Ok((g("principalId")?, g("resourceId")?, g("appRoleId")?))
}
