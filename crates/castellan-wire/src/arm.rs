//! Azure Resource Manager shapes: management groups, subscriptions, resource groups, generic
//! resources (with `identity`), role definitions, role assignments, permissions, check-access
//! answers, ARM errors, and the managed-identity token responses (App Service and IMDS forms).
//! Request bodies are parsed here into core's request types, with errors that name the field.

use castellan_core::arm_view;
use castellan_core::azure_rbac::{AzureRole, Decision};
use castellan_core::model::{ArmResource, AzureRoleAssignment, ScopeKind};
use castellan_core::ops::arm::{
    AccessAnswer, ArmError, PutAssignment, PutResource, PutRoleDefinition,
};
use serde_json::{json, Map, Value};

use crate::time::graph_datetime as iso;

/// `{"error": {"code", "message"}}`.
pub fn error_body(e: &ArmError) -> Value {
    json!({"error": {"code": e.code, "message": e.message}})
}

/// `{"value": [...]}`.
pub fn list(values: Vec<Value>) -> Value {
    json!({ "value": values })
}

/// A managed identity as ARM shows it: its service principal's object id and client id.
#[derive(Clone, Debug)]
pub struct IdentityView {
    /// The ARM id of the identity (the resource itself for system-assigned).
    pub resource_id: String,
    /// Service principal object id.
    pub principal_id: String,
    /// Client id (appId).
    pub client_id: String,
}

/// Renders a scope of the hierarchy in its ARM shape. `system` and `user_assigned` describe
/// its identities (looked up by the caller); `uami` is set for a user-assigned identity resource.
pub fn render_resource(
    r: &ArmResource,
    system: Option<&IdentityView>,
    user_assigned: &[IdentityView],
    uami: Option<&IdentityView>,
) -> Value {
    let tenant = r.tenant_id.to_string();
    // Azure's casing whatever the creating request's (`resourcegroups`, `microsoft.storage`).
    let id = arm_view::canonical_id(&r.id);
    let resource_type = arm_view::canonical_type(&r.resource_type);
    let parent = r.parent.as_deref().map(arm_view::canonical_id);
    if let Some(f) = &r.federated_credential {
        return json!({
            "id": id,
            "name": r.name,
            "type": resource_type,
            "properties": {"issuer": f.issuer, "subject": f.subject, "audiences": f.audiences},
        });
    }
    let tags: Map<String, Value> = r
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    match r.kind {
        ScopeKind::ManagementGroup => json!({
            "id": id,
            "type": "Microsoft.Management/managementGroups",
            "name": r.name,
            "properties": {
                "tenantId": tenant,
                "displayName": r.display_name,
                "details": {"parent": parent.as_ref().map(|p| json!({"id": p}))},
            },
        }),
        ScopeKind::Subscription => json!({
            "id": id,
            "subscriptionId": r.name.to_ascii_lowercase(),
            "tenantId": tenant,
            "displayName": r.display_name,
            "state": "Enabled",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "managementGroupId": parent,
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "Castellan", "spendingLimit": "Off"},
            "tags": tags,
        }),
        ScopeKind::ResourceGroup => json!({
            "id": id,
            "name": r.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": r.location,
            "tags": tags,
            "properties": {"provisioningState": "Succeeded"},
        }),
        ScopeKind::Resource => {
            let mut props: Value =
                serde_json::from_str(&r.properties).unwrap_or_else(|_| json!({}));
            if !props.is_object() {
                props = json!({});
            }
            if let Some(o) = props.as_object_mut() {
                o.insert("provisioningState".into(), json!("Succeeded"));
                if let Some(u) = uami {
                    o.insert("tenantId".into(), json!(tenant));
                    o.insert("principalId".into(), json!(u.principal_id));
                    o.insert("clientId".into(), json!(u.client_id));
                }
            }
            let mut out = json!({
                "id": id,
                "name": r.name,
                "type": resource_type,
                "location": r.location,
                "tags": tags,
                "properties": props,
            });
            if system.is_some() || !user_assigned.is_empty() {
                let kind = match (system.is_some(), user_assigned.is_empty()) {
                    (true, true) => "SystemAssigned",
                    (true, false) => "SystemAssigned, UserAssigned",
                    _ => "UserAssigned",
                };
                let mut id = Map::new();
                id.insert("type".into(), json!(kind));
                if let Some(s) = system {
                    id.insert("principalId".into(), json!(s.principal_id));
                    id.insert("tenantId".into(), json!(tenant));
                }
                if !user_assigned.is_empty() {
                    let m: Map<String, Value> = user_assigned
                        .iter()
                        .map(|u| {
                            (
                                arm_view::canonical_id(&u.resource_id),
                                json!({"principalId": u.principal_id, "clientId": u.client_id}),
                            )
                        })
                        .collect();
                    id.insert("userAssignedIdentities".into(), Value::Object(m));
                }
                if let Some(o) = out.as_object_mut() {
                    o.insert("identity".into(), Value::Object(id));
                }
            }
            out
        }
    }
}

/// The most strings a list in an ARM body may hold (a custom role's `actions`, `notActions`,
/// `dataActions`, `notDataActions`, `assignableScopes`).
pub const MAX_LIST_ITEMS: usize = 1000;
/// The longest string in such a list, in bytes (an operation name or a scope).
pub const MAX_LIST_ITEM_LEN: usize = 2048;
/// The longest `roleName` of a custom role, in characters (Azure: 512).
pub const MAX_ROLE_NAME_LEN: usize = 512;
/// The longest `description` of a role definition or assignment, in characters (Azure: 2 KB).
pub const MAX_DESCRIPTION_LEN: usize = 2048;
/// The most actions one check-access request may ask about.
pub const MAX_CHECK_ACCESS_ACTIONS: usize = 200;

/// A tenant of `GET /tenants` (`Microsoft.Resources`' `TenantIdDescription`).
pub fn render_tenant(t: &castellan_core::model::Tenant) -> Value {
    json!({
        "id": format!("/tenants/{}", t.id),
        "tenantId": t.id.to_string(),
        "tenantCategory": "Home",
        "displayName": t.display_name,
        "defaultDomain": t.initial_domain(),
        "domains": t.domains.iter().filter(|d| d.is_verified).map(|d| d.name.clone()).collect::<Vec<_>>(),
        "tenantType": "AAD",
    })
}

/// A location of `GET /subscriptions/{id}/locations` (`Microsoft.Resources`' `Location`).
pub fn render_location(sub: &str, l: &arm_view::Location) -> Value {
    json!({
        "id": format!("/subscriptions/{sub}/locations/{}", l.name),
        "name": l.name,
        "type": "Region",
        "displayName": l.display_name,
        "regionalDisplayName": format!("({}) {}", l.geography_group, l.display_name),
        "metadata": {
            "regionType": "Physical",
            "regionCategory": "Recommended",
            "geographyGroup": l.geography_group,
            "latitude": l.lat_long.0,
            "longitude": l.lat_long.1,
            "physicalLocation": l.display_name,
            "pairedRegion": [],
        },
    })
}

/// The api-versions a provider's resource types announce (clients such as `az resource` pick
/// the newest non-preview one; Castellan accepts any).
const PROVIDER_API_VERSIONS: &[&str] = &["2023-01-01", "2022-09-01", "2021-04-01", "2019-06-01"];

/// A resource provider (`GET …/providers[/{ns}]`, `POST …/providers/{ns}/register`); `sub` is
/// `None` at tenant level (`/providers/{ns}`).
pub fn render_provider(sub: Option<&str>, p: &arm_view::Provider) -> Value {
    let locations: Vec<&str> = arm_view::LOCATIONS.iter().map(|l| l.display_name).collect();
    let id = match sub {
        Some(s) => format!("/subscriptions/{s}/providers/{}", p.namespace),
        None => format!("/providers/{}", p.namespace),
    };
    json!({
        "id": id,
        "namespace": p.namespace,
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": p.resource_types.iter().map(|t| json!({
            "resourceType": t,
            "locations": locations,
            "apiVersions": PROVIDER_API_VERSIONS,
            "defaultApiVersion": PROVIDER_API_VERSIONS.first(),
            "capabilities": "None",
        })).collect::<Vec<_>>(),
    })
}

/// `GET /subscriptions/{id}/tagNames`.
pub fn render_tag_names(sub: &str, tags: &[arm_view::TagCount]) -> Value {
    list(
        tags.iter()
            .map(|t| {
                json!({
                    "id": format!("/subscriptions/{sub}/tagNames/{}", t.name),
                    "tagName": t.name,
                    "count": {"type": "Total", "value": t.count},
                    "values": t.values.iter().map(|(v, n)| json!({
                        "id": format!("/subscriptions/{sub}/tagNames/{}/tagValues/{v}", t.name),
                        "tagValue": v,
                        "count": {"type": "Total", "value": n},
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

fn bad(field: &str, why: &str) -> ArmError {
    castellan_core::error::Code::ArmInvalidRequestContent2.arm(&[("field", &field), ("why", &why)])
}

/// [`opt_str`] refusing a value longer than `max` characters.
fn bounded_str(v: &Value, field: &str, max: usize) -> Result<Option<String>, ArmError> {
    let s = opt_str(v, field)?;
    if let Some(n) = s.as_deref().map(|s| s.chars().count()).filter(|n| *n > max) {
        return Err(bad(
            field,
            &format!("is {n} characters long; at most {max} are accepted"),
        ));
    }
    Ok(s)
}

fn opt_str(v: &Value, field: &str) -> Result<Option<String>, ArmError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

/// Parses a PUT body for any scope (every field optional).
pub fn parse_put_resource(body: &Value) -> Result<PutResource, ArmError> {
    if !body.is_object() {
        return Err(bad("body", "must be a JSON object"));
    }
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    if !(props.is_null() || props.is_object()) {
        return Err(bad("properties", "must be an object"));
    }
    let mut req = PutResource {
        location: opt_str(body, "location")?,
        ..Default::default()
    };
    match body.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(&format!("tags.{k}"), "must be a string"))?;
                req.tags.push((k.clone(), v.to_string()));
            }
        }
        Some(_) => return Err(bad("tags", "must be an object of strings")),
    }
    // Management groups: properties.displayName, properties.details.parent.id;
    // subscriptions (Castellan): displayName / properties.displayName, managementGroupId.
    req.display_name = opt_str(&props, "displayName")?.or(opt_str(body, "displayName")?);
    req.parent = props
        .get("details")
        .and_then(|d| d.get("parent"))
        .and_then(|p| p.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(opt_str(body, "managementGroupId")?)
        .or(opt_str(&props, "managementGroupId")?);
    if props.is_object() {
        let mut p = props.clone();
        if let Some(o) = p.as_object_mut() {
            o.remove("provisioningState");
            o.remove("principalId");
            o.remove("clientId");
            o.remove("tenantId");
        }
        req.properties = Some(p.to_string());
    }
    match body.get("identity") {
        None | Some(Value::Null) => {}
        Some(id) => {
            req.identity_given = true;
            let kind = id
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("identity.type", "is required (SystemAssigned, UserAssigned, 'SystemAssigned, UserAssigned' or None)"))?;
            let parts: Vec<String> = kind
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect();
            for p in &parts {
                if !matches!(p.as_str(), "systemassigned" | "userassigned" | "none") {
                    return Err(bad(
                        "identity.type",
                        &format!("has an unknown value '{kind}'"),
                    ));
                }
            }
            req.system_assigned = parts.iter().any(|p| p == "systemassigned");
            let wants_user = parts.iter().any(|p| p == "userassigned");
            if let Some(m) = id.get("userAssignedIdentities") {
                let m = m.as_object().ok_or_else(|| {
                    bad(
                        "identity.userAssignedIdentities",
                        "must be an object keyed by identity resource id",
                    )
                })?;
                if !wants_user && !m.is_empty() {
                    return Err(bad(
                        "identity.userAssignedIdentities",
                        "needs identity.type to include UserAssigned",
                    ));
                }
                req.user_assigned = m.keys().cloned().collect();
            }
            if wants_user && req.user_assigned.is_empty() {
                return Err(bad(
                    "identity.userAssignedIdentities",
                    "must list at least one identity when type includes UserAssigned",
                ));
            }
        }
    }
    Ok(req)
}

/// The prefix Azure puts before `/providers/Microsoft.Authorization/roleDefinitions/{id}` for a
/// scope: the scope's subscription (`/subscriptions/{sub}`) at a subscription or below — in
/// role definitions listed or read there and in role assignments' `roleDefinitionId`, so the
/// two compare equal as strings (`az role assignment list --role Reader`) — and nothing at
/// management-group or root scope.
pub fn role_definition_prefix(scope: &str) -> String {
    let c = arm_view::canonical_id(scope);
    let mut parts = c.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some("subscriptions"), Some(sub)) if !sub.is_empty() => format!("/subscriptions/{sub}"),
        _ => String::new(),
    }
}

/// Renders a role definition (`Microsoft.Authorization/roleDefinitions`) as seen at `scope`.
pub fn render_role_definition(r: &AzureRole, built_in: bool, scope: &str) -> Value {
    let prefix = match role_definition_prefix(scope) {
        p if !p.is_empty() => p,
        // A custom role read at a management group keeps that scope, as Azure shows it.
        _ if !built_in && scope != "/" => arm_view::canonical_id(scope),
        _ => String::new(),
    };
    json!({
        "id": format!("{prefix}/providers/Microsoft.Authorization/roleDefinitions/{}", r.id),
        "name": r.id.to_string(),
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": r.name,
            "type": if built_in { "BuiltInRole" } else { "CustomRole" },
            "description": r.description,
            "assignableScopes": if built_in { vec!["/".to_string()] } else { r.assignable_scopes.clone() },
            "permissions": [{
                "actions": r.actions,
                "notActions": r.not_actions,
                "dataActions": r.data_actions,
                "notDataActions": r.not_data_actions,
            }],
        },
    })
}

fn str_list(v: &Value, field: &str) -> Result<Vec<String>, ArmError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) if a.len() > MAX_LIST_ITEMS => Err(bad(
            field,
            &format!(
                "holds {} items; at most {MAX_LIST_ITEMS} are accepted",
                a.len()
            ),
        )),
        Some(Value::Array(a))
            if a.iter()
                .any(|x| x.as_str().is_some_and(|s| s.len() > MAX_LIST_ITEM_LEN)) =>
        {
            Err(bad(
                field,
                &format!("holds a string longer than {MAX_LIST_ITEM_LEN} bytes"),
            ))
        }
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(field, "must be an array of strings"))
            })
            .collect(),
        Some(_) => Err(bad(field, "must be an array of strings")),
    }
}

/// Parses a custom role PUT body (`properties.roleName`, `permissions[0]`, `assignableScopes`).
pub fn parse_put_role_definition(body: &Value) -> Result<PutRoleDefinition, ArmError> {
    let p = body
        .get("properties")
        .filter(|p| p.is_object())
        .ok_or_else(|| bad("properties", "is required"))?;
    let perms = match p.get("permissions") {
        Some(Value::Array(a)) if a.len() == 1 => a.first().cloned().unwrap_or(Value::Null),
        Some(Value::Array(_)) => {
            return Err(bad(
                "properties.permissions",
                "must hold exactly one permission set",
            ))
        }
        _ => return Err(bad("properties.permissions", "is required")),
    };
    Ok(PutRoleDefinition {
        name: bounded_str(p, "roleName", MAX_ROLE_NAME_LEN)?.unwrap_or_default(),
        description: bounded_str(p, "description", MAX_DESCRIPTION_LEN)?.unwrap_or_default(),
        actions: str_list(&perms, "actions")?,
        not_actions: str_list(&perms, "notActions")?,
        data_actions: str_list(&perms, "dataActions")?,
        not_data_actions: str_list(&perms, "notDataActions")?,
        assignable_scopes: str_list(p, "assignableScopes")?,
    })
}

/// Renders a role assignment.
/// Renders a role assignment as read at `context` (the request's scope). Azure qualifies the
/// definition id with the subscription the request is about — so an assignment inherited from a
/// management group, listed at a subscription, carries the same id as the definitions listed
/// there — or else with the assignment's own subscription.
pub fn render_assignment(a: &AzureRoleAssignment, context: &str) -> Value {
    let canonical = arm_view::canonical_id(&a.scope);
    let scope = canonical.trim_end_matches('/');
    let role_prefix = match role_definition_prefix(context) {
        p if !p.is_empty() => p,
        _ => role_definition_prefix(scope),
    };
    json!({
        "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{}", a.id),
        "name": a.id.to_string(),
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": format!("{role_prefix}/providers/Microsoft.Authorization/roleDefinitions/{}", a.role_definition_id),
            "principalId": a.principal_id.to_string(),
            "principalType": a.principal_type,
            "scope": if scope.is_empty() { "/" } else { scope },
            "condition": a.condition,
            "conditionVersion": a.condition.as_ref().map(|_| "2.0"),
            "description": a.description,
            "createdOn": iso(a.created),
            "updatedOn": iso(a.created),
            "createdBy": a.created_by.map(|c| c.to_string()),
            "updatedBy": a.created_by.map(|c| c.to_string()),
            "delegatedManagedIdentityResourceId": null,
        },
    })
}

/// Parses a role-assignment PUT body.
pub fn parse_put_assignment(body: &Value) -> Result<PutAssignment, ArmError> {
    let p = body
        .get("properties")
        .filter(|p| p.is_object())
        .ok_or_else(|| bad("properties", "is required"))?;
    let role = opt_str(p, "roleDefinitionId")?
        .ok_or_else(|| bad("properties.roleDefinitionId", "is required"))?;
    let principal =
        opt_str(p, "principalId")?.ok_or_else(|| bad("properties.principalId", "is required"))?;
    Ok(PutAssignment {
        role_definition_id: role,
        principal_id: principal,
        principal_type: opt_str(p, "principalType")?,
        condition: opt_str(p, "condition")?,
        condition_version: opt_str(p, "conditionVersion")?,
        description: bounded_str(p, "description", MAX_DESCRIPTION_LEN)?,
    })
}

/// Renders the caller's effective permissions.
pub fn render_permissions(roles: &[AzureRole]) -> Value {
    list(
        roles
            .iter()
            .map(|r| {
                json!({
                    "actions": r.actions,
                    "notActions": r.not_actions,
                    "dataActions": r.data_actions,
                    "notDataActions": r.not_data_actions,
                })
            })
            .collect(),
    )
}

/// A check-access request: the subject (none = the caller) and `(operation, is data action)`.
pub type CheckAccessRequest = (Option<String>, Vec<(String, bool)>);

/// Parses a check-access body: `{"subject": {"principalId"}, "actions": [{"id", "isDataAction"}]}`.
pub fn parse_check_access(body: &Value) -> Result<CheckAccessRequest, ArmError> {
    let subject = body
        .get("subject")
        .and_then(|s| s.get("principalId"))
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("subject.principalId", "must be a string"))
        })
        .transpose()?;
    let actions = match body.get("actions") {
        Some(Value::Array(a)) if a.len() > MAX_CHECK_ACCESS_ACTIONS => {
            return Err(bad(
                "actions",
                &format!(
                    "holds {} actions; at most {MAX_CHECK_ACCESS_ACTIONS} are accepted",
                    a.len()
                ),
            ))
        }
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                let id = x
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("actions[].id", "is required"))?;
                let data = x
                    .get("isDataAction")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                Ok((id.to_string(), data))
            })
            .collect::<Result<Vec<_>, ArmError>>()?,
        _ => {
            return Err(bad(
                "actions",
                "is required: [{\"id\": \"…\", \"isDataAction\": true}]",
            ))
        }
    };
    Ok((subject, actions))
}

/// Renders check-access answers.
pub fn render_check_access(answers: &[AccessAnswer]) -> Value {
    list(
        answers
            .iter()
            .map(|a| match &a.decision {
                Decision::Allowed {
                    assignment,
                    role,
                    scope,
                } => json!({
                    "actionId": a.action,
                    "isDataAction": a.is_data_action,
                    "accessDecision": "Allowed",
                    "roleAssignment": {"id": assignment, "roleName": role, "scope": scope},
                    "reason": format!("Allowed by the role assignment '{assignment}' ({role} at '{scope}')."),
                }),
                Decision::Denied { reason } => json!({
                    "actionId": a.action,
                    "isDataAction": a.is_data_action,
                    "accessDecision": "NotAllowed",
                    "reason": reason,
                }),
            })
            .collect(),
    )
}

/// App Service form (`api-version=2019-08-01`): `expires_on` epoch seconds as a string.
pub fn app_service_token(
    access_token: &str,
    exp: i64,
    nbf: i64,
    resource: &str,
    client_id: &str,
) -> Value {
    json!({
        "access_token": access_token,
        "expires_on": exp.to_string(),
        "not_before": nbf.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": client_id,
    })
}

/// App Service form's error: `{"statusCode", "message", "correlationId"}`.
pub fn app_service_error(status: u16, message: &str, correlation_id: &str) -> Value {
    json!({"statusCode": status, "message": message, "correlationId": correlation_id})
}

/// IMDS form (`api-version=2018-02-01`): numbers as strings, empty `refresh_token`.
pub fn imds_token(
    access_token: &str,
    exp: i64,
    nbf: i64,
    now: i64,
    resource: &str,
    client_id: &str,
) -> Value {
    json!({
        "access_token": access_token,
        "refresh_token": "",
        "expires_in": (exp - now).max(0).to_string(),
        "expires_on": exp.to_string(),
        "ext_expires_in": (exp - now).max(0).to_string(),
        "not_before": nbf.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": client_id,
    })
}

/// IMDS form's error: `{"error", "error_description"}`.
pub fn imds_error(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

/// Headers that mark a request as having passed through a proxy. Azure's IMDS refuses any
/// request carrying one ("requests containing X-Forwarded-For are rejected"): the metadata
/// endpoint must be reached from the machine itself, never relayed — a server-side request
/// forgery through a proxy on the host is exactly how a workload's token is stolen.
pub const IMDS_PROXY_HEADERS: &[&str] = &["x-forwarded-for", "forwarded"];

/// The first proxy header among a request's header names (any case), if any: the IMDS agent
/// answers it with `imds_proxied_error`.
pub fn imds_proxy_header<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    names.into_iter().find_map(|n| {
        IMDS_PROXY_HEADERS
            .iter()
            .copied()
            .find(|h| n.trim().eq_ignore_ascii_case(h))
    })
}

/// IMDS's 400 for a proxied request, naming the header.
pub fn imds_proxied_error(header: &str) -> Value {
    imds_error(
        "invalid_request",
        &format!("Required metadata header not specified or not correct: the request carries the '{header}' header; the metadata endpoint refuses requests relayed through a proxy. Call it directly from the machine."),
    )
}

/// Parses a user-assigned identity's federated credential PUT body:
/// `{"properties": {"issuer", "subject", "audiences"}}`.
pub fn parse_fic_body(
    body: &Value,
) -> Result<castellan_core::flow::federated_assertion::FicPatch, ArmError> {
    let p = body
        .get("properties")
        .filter(|p| p.is_object())
        .ok_or_else(|| {
            bad(
                "properties",
                "is required: {\"issuer\", \"subject\", \"audiences\"}",
            )
        })?;
    let audiences = match p.get("audiences") {
        None | Some(Value::Null) => None,
        Some(_) => Some(str_list(p, "audiences")?),
    };
    Ok(castellan_core::flow::federated_assertion::FicPatch {
        name: None,
        issuer: opt_str(p, "issuer")?,
        subject: opt_str(p, "subject")?,
        audiences,
        description: None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn imds_refuses_proxied_requests_by_header_name() {
        assert_eq!(imds_proxy_header(["metadata", "host"]), None);
        assert_eq!(imds_proxy_header([]), None);
        assert_eq!(
            imds_proxy_header(["metadata", "X-Forwarded-For"]),
            Some("x-forwarded-for")
        );
        assert_eq!(imds_proxy_header(["FORWARDED"]), Some("forwarded"));
        assert_eq!(imds_proxy_header(["x-forwarded-host"]), None);
        let v = imds_proxied_error("x-forwarded-for");
        assert_eq!(v["error"], "invalid_request");
        assert!(v["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("'x-forwarded-for'"));
    }

    use super::*;

    #[test]
    fn identity_bodies_parse_and_refuse_nonsense() {
        let r = parse_put_resource(&json!({"location": "westeurope", "identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {"/x": {}}}})).unwrap();
        assert!(r.system_assigned && r.identity_given);
        assert_eq!(r.user_assigned, vec!["/x".to_string()]);
        let none = parse_put_resource(&json!({"identity": {"type": "None"}})).unwrap();
        assert!(none.identity_given && !none.system_assigned);
        for (b, needle) in [
            (json!({"identity": {"type": "Both"}}), "unknown value"),
            (json!({"identity": {}}), "identity.type"),
            (
                json!({"identity": {"type": "UserAssigned"}}),
                "at least one",
            ),
            (json!({"tags": {"a": 1}}), "tags.a"),
            (json!([]), "JSON object"),
            (json!({"location": 5}), "location"),
        ] {
            let e = parse_put_resource(&b).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(needle), "{b}: {}", e.message);
        }
    }

    #[test]
    fn assignment_and_role_bodies_name_missing_fields() {
        let e = parse_put_assignment(&json!({"properties": {"principalId": "x"}})).unwrap_err();
        assert!(e.message.contains("roleDefinitionId"));
        let e =
            parse_put_role_definition(&json!({"properties": {"roleName": "x", "permissions": []}}))
                .unwrap_err();
        assert!(e.message.contains("exactly one"));
        let ok = parse_put_role_definition(&json!({"properties": {"roleName": "x", "assignableScopes": ["/subscriptions/s"], "permissions": [{"actions": ["a/b/read"], "dataActions": []}]}})).unwrap();
        assert_eq!(ok.actions, vec!["a/b/read".to_string()]);
    }

    #[test]
    fn lists_in_bodies_are_bounded() {
        let many: Vec<String> = (0..=MAX_LIST_ITEMS).map(|i| format!("a/{i}")).collect();
        let body = json!({"properties": {"roleName": "r", "permissions": [{"actions": many}]}});
        let e = parse_put_role_definition(&body).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "InvalidRequestContent"));
        assert!(
            e.message.contains("1001 items; at most 1000"),
            "{}",
            e.message
        );
        let long = json!({"properties": {"roleName": "r", "permissions": [{"actions": ["x".repeat(MAX_LIST_ITEM_LEN + 1)]}]}});
        assert!(parse_put_role_definition(&long).is_err());
        let ok = json!({"properties": {"roleName": "r", "permissions": [{"actions": ["a/read"]}]}});
        assert!(parse_put_role_definition(&ok).is_ok());
        let acts: Vec<Value> = (0..=MAX_CHECK_ACCESS_ACTIONS)
            .map(|_| json!({"id": "a/read"}))
            .collect();
        let e = parse_check_access(&json!({"actions": acts})).unwrap_err();
        assert!(e.message.contains("at most 200"), "{}", e.message);
        let named = json!({"properties": {"roleName": "r".repeat(MAX_ROLE_NAME_LEN + 1), "permissions": [{"actions": ["a/read"]}]}});
        let e = parse_put_role_definition(&named).unwrap_err();
        assert!(
            e.message.contains("513 characters long; at most 512"),
            "{}",
            e.message
        );
        let described = json!({"properties": {"roleDefinitionId": "r", "principalId": "p", "description": "d".repeat(MAX_DESCRIPTION_LEN + 1)}});
        assert!(parse_put_assignment(&described).is_err());
    }

    #[test]
    fn role_definition_ids_sit_under_the_scopes_subscription() {
        let sub = "/subscriptions/AAAAAAAA-0000-0000-0000-000000000001";
        let want = "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001";
        assert_eq!(role_definition_prefix(sub), want);
        assert_eq!(
            role_definition_prefix(&format!(
                "{sub}/resourcegroups/rg/providers/Microsoft.Web/sites/a"
            )),
            want
        );
        assert_eq!(role_definition_prefix("/"), "");
        assert_eq!(
            role_definition_prefix("/providers/Microsoft.Management/managementGroups/mg"),
            ""
        );
        let reader = castellan_core::azure_rbac::built_in_by_name("Reader").unwrap();
        let v = render_role_definition(reader, true, &format!("{sub}/resourceGroups/rg"));
        assert_eq!(
            v["id"],
            format!(
                "{want}/providers/Microsoft.Authorization/roleDefinitions/{}",
                reader.id
            )
        );
        let v = render_role_definition(reader, true, "/");
        assert_eq!(
            v["id"],
            format!(
                "/providers/Microsoft.Authorization/roleDefinitions/{}",
                reader.id
            )
        );
    }

    #[test]
    fn provider_location_and_tag_shapes() {
        let p = arm_view::provider("microsoft.storage").unwrap();
        let v = render_provider(Some("s"), p);
        assert_eq!(v["id"], "/subscriptions/s/providers/Microsoft.Storage");
        assert_eq!(v["registrationState"], "Registered");
        assert_eq!(v["resourceTypes"][0]["resourceType"], "storageAccounts");
        assert!(v["resourceTypes"][0]["locations"]
            .as_array()
            .unwrap()
            .contains(&json!("West Europe")));
        assert_eq!(
            render_provider(None, p)["id"],
            "/providers/Microsoft.Storage"
        );
        let l = arm_view::LOCATIONS
            .iter()
            .find(|l| l.name == "westeurope")
            .unwrap();
        let v = render_location("s", l);
        assert_eq!(v["id"], "/subscriptions/s/locations/westeurope");
        assert_eq!(v["regionalDisplayName"], "(Europe) West Europe");
        let t = arm_view::tag_counts([vec![("env".to_string(), "prod".to_string())].as_slice()]);
        let v = render_tag_names("s", &t);
        assert_eq!(v["value"][0]["id"], "/subscriptions/s/tagNames/env");
        assert_eq!(v["value"][0]["count"], json!({"type": "Total", "value": 1}));
        assert_eq!(
            v["value"][0]["values"][0]["id"],
            "/subscriptions/s/tagNames/env/tagValues/prod"
        );
    }

    #[test]
    fn assignments_qualify_the_definition_with_the_requests_subscription() {
        let reader = castellan_core::azure_rbac::built_in_by_name("Reader")
            .unwrap()
            .id;
        let a = |scope: &str| AzureRoleAssignment {
            id: uuid::Uuid::nil(),
            tenant_id: castellan_core::TenantId::from_uuid(uuid::Uuid::nil()),
            scope: scope.into(),
            role_definition_id: reader,
            principal_id: castellan_core::ObjectId::from_uuid(uuid::Uuid::nil()),
            principal_type: "User".into(),
            condition: None,
            description: None,
            created: castellan_core::time::Timestamp::from_secs(0),
            created_by: None,
        };
        let sub = "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001";
        let def = format!("/providers/Microsoft.Authorization/roleDefinitions/{reader}");
        let mg = a("/providers/microsoft.management/managementgroups/mg");
        // Inherited from a management group, listed at the subscription: qualified.
        let v = render_assignment(&mg, sub);
        assert_eq!(v["properties"]["roleDefinitionId"], format!("{sub}{def}"));
        assert_eq!(
            v["properties"]["scope"],
            "/providers/Microsoft.Management/managementGroups/mg"
        );
        // Read at the management group itself: unqualified.
        let v = render_assignment(&mg, &mg.scope);
        assert_eq!(v["properties"]["roleDefinitionId"], def);
        // A resource-group assignment read through a lower-case path.
        let rg = a(&format!("{sub}/resourcegroups/rg"));
        let v = render_assignment(&rg, &rg.scope);
        assert_eq!(v["properties"]["roleDefinitionId"], format!("{sub}{def}"));
        assert_eq!(
            v["id"],
            format!(
                "{sub}/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/{}",
                uuid::Uuid::nil()
            )
        );
    }
}
