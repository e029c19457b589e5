//! Directory roles, administrative units, delegated grants and consent requests in Graph's
//! shapes (`unifiedRoleDefinition`, `unifiedRoleAssignment`, `administrativeUnit`,
//! `oAuth2PermissionGrant`, `appConsentRequest`).

use castellan_core::directory_roles::RoleDefinition;
use castellan_core::model::{
    AdministrativeUnit, CustomRoleDefinition, DirectoryRoleAssignment, Grant, OAuth2PermissionGrant,
};
use serde_json::{json, Value};

/// Renders `microsoft.graph.administrativeUnit`.
pub fn render_au(a: &AdministrativeUnit) -> Value {
    json!({
        "id": a.id.to_string(),
        "displayName": a.display_name,
        "description": a.description,
        "visibility": null,
        "membershipType": "Assigned",
        "isMemberManagementRestricted": false,
    })
}

/// Renders a built-in role as `microsoft.graph.unifiedRoleDefinition`.
pub fn render_definition(r: &RoleDefinition) -> Value {
    json!({
        "id": r.template_id.to_string(),
        "templateId": r.template_id.to_string(),
        "displayName": r.display_name,
        "description": r.description,
        "isBuiltIn": true,
        "isEnabled": true,
        "isPrivileged": r.is_privileged,
        "version": "1",
        "resourceScopes": ["/"],
        "rolePermissions": [{"allowedResourceActions": r.allowed_resource_actions, "condition": null}],
    })
}

/// Renders `microsoft.graph.unifiedRoleAssignment`.
pub fn render_assignment(a: &DirectoryRoleAssignment) -> Value {
    json!({
        "id": a.id.to_string(),
        "principalId": a.principal_id.to_string(),
        "roleDefinitionId": a.role_template_id.to_string(),
        "directoryScopeId": a.directory_scope_id,
        "appScopeId": null,
    })
}

/// Renders a custom role as `microsoft.graph.unifiedRoleDefinition`.
pub fn render_custom(r: &CustomRoleDefinition) -> Value {
    json!({
        "id": r.id.to_string(),
        "templateId": r.id.to_string(),
        "displayName": r.display_name,
        "description": r.description,
        "isBuiltIn": false,
        "isEnabled": r.is_enabled,
        "isPrivileged": false,
        "version": "1",
        "resourceScopes": ["/"],
        "rolePermissions": [{"allowedResourceActions": r.allowed_resource_actions, "condition": null}],
    })
}

/// Renders `microsoft.graph.oAuth2PermissionGrant`.
pub fn render_grant(g: &OAuth2PermissionGrant) -> Value {
    serde_json::json!({
        "id": g.id.to_string(),
        "clientId": g.client_id.to_string(),
        "consentType": g.consent_type,
        "principalId": g.principal_id.map(|p| p.to_string()),
        "resourceId": g.resource_id.to_string(),
        "scope": g.scope,
    })
}

/// Renders an admin consent request as `microsoft.graph.appConsentRequest` (one
/// `userConsentRequest` and one approval step, all sharing the request id).
pub fn render_consent_request(g: &Grant) -> Value {
    let id = g.handle.clone();
    json!({
        "id": id,
        "appId": g.attr("app_id"),
        "appDisplayName": g.attr("app_name"),
        "consentType": "Dynamic",
        "pendingScopes": g.attr("scope").unwrap_or("").split_whitespace().map(|s| json!({"displayName": s})).collect::<Vec<_>>(),
        "userConsentRequests": [{
            "id": id,
            "status": g.attr("status"),
            "reason": g.attr("reason"),
            "createdDateTime": crate::time::graph_datetime(g.created),
            "createdBy": {"user": {"id": g.user_id.map(|u| u.to_string()), "userPrincipalName": g.attr("upn")}},
            "approval": {"id": id, "steps": [{"id": id, "status": if g.attr("status") == Some("InProgress") { "InProgress" } else { "Completed" }, "reviewResult": match g.attr("status") { Some("Approved") => "Approve", Some("Denied") => "Deny", _ => "NotReviewed" }}]},
        }],
    })
}
