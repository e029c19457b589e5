//! `microsoft.graph.servicePrincipal` and `appRoleAssignment`.

use castellan_core::model::{
    AppRole, AppRoleAssignment, ObjectKind, PermissionScope, ServicePrincipal,
};
use castellan_core::ops::service_principals::ServicePrincipalInput;
use serde_json::{json, Value};

use super::applications::{render_role, render_scopes};
use super::{bool_field, check_object, guid, str_field};
use crate::errors::GraphError;
use crate::time::graph_datetime;

/// Properties settable by PATCH.
pub const WRITABLE: &[&str] = &[
    "accountEnabled",
    "appRoleAssignmentRequired",
    "appId",
    "preferredSingleSignOnMode",
    "samlSingleSignOnSettings",
    "preferredTokenSigningKeyThumbprint",
    "logoutUrl",
    "keyCredentials",
];
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
    "preferredSingleSignOnMode",
    "samlSingleSignOnSettings",
    "preferredTokenSigningKeyThumbprint",
    "logoutUrl",
    "keyCredentials",
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
        "preferredSingleSignOnMode": sp.saml.preferred_single_sign_on_mode,
        "samlSingleSignOnSettings": sp.saml.relay_state.as_ref().map(|r| json!({ "relayState": r })),
        "preferredTokenSigningKeyThumbprint": sp.saml.preferred_token_signing_key_thumbprint,
        "logoutUrl": sp.saml.logout_url,
        "keyCredentials": key_credentials(sp),
    })
}

/// The service principal's `keyCredentials`: each token signing certificate as a `Sign` and a
/// `Verify` credential (as `addTokenSigningCertificate` makes them), and the uploaded
/// verification certificates. The public certificate only; private keys never leave.
fn key_credentials(sp: &ServicePrincipal) -> Vec<Value> {
    let mut out = Vec::new();
    for c in &sp.saml.signing_certificates {
        for usage in ["Sign", "Verify"] {
            out.push(json!({
                "customKeyIdentifier": c.thumbprint,
                "displayName": c.display_name,
                "endDateTime": graph_datetime(c.end),
                "keyId": c.key_id.to_string(),
                "startDateTime": graph_datetime(c.start),
                "type": "AsymmetricX509Cert",
                "usage": usage,
                "key": null,
            }));
        }
    }
    for (i, der) in sp.saml.verification_certificates.iter().enumerate() {
        let thumb: String = castellan_core::secret::sha256(der)
            .iter()
            .take(8)
            .map(|b| format!("{b:02X}"))
            .collect();
        out.push(json!({
            "customKeyIdentifier": thumb,
            "displayName": format!("verification certificate {}", i + 1),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": null,
        }));
    }
    out
}

/// `microsoft.graph.selfSignedCertificate`, the answer of `addTokenSigningCertificate`.
pub fn render_self_signed(c: &castellan_core::model::SamlSigningCertificate) -> Value {
    use base64::Engine;
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.selfSignedCertificate",
        "customKeyIdentifier": c.thumbprint,
        "displayName": c.display_name,
        "endDateTime": graph_datetime(c.end),
        "key": base64::engine::general_purpose::STANDARD.encode(&c.cert_der),
        "keyId": c.key_id.to_string(),
        "startDateTime": graph_datetime(c.start),
        "thumbprint": c.thumbprint,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    })
}

/// Parses `addTokenSigningCertificate`'s body: `displayName` (`CN=…`, optional) and
/// `endDateTime` (optional; default three years).
pub fn parse_add_token_signing_certificate(
    body: &Value,
) -> Result<(Option<String>, Option<castellan_core::Timestamp>), GraphError> {
    let o = check_object(
        body,
        "addTokenSigningCertificate",
        &["displayName", "endDateTime"],
        &[],
    )?;
    let name = match o.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if n.starts_with("CN=") && n.len() > 3 && n.len() <= 256 => Some(n.clone()),
        Some(_) => {
            return Err(GraphError::bad_request(
                "displayName must be a distinguished name starting with 'CN=' (for example 'CN=contoso.com').",
            ))
        }
    };
    let end = match o.get("endDateTime") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(crate::time::parse_graph_datetime(t).ok_or_else(|| {
            GraphError::bad_request(
                "endDateTime must be an ISO 8601 date and time, for example 2030-01-01T00:00:00Z.",
            )
        })?),
        Some(_) => return Err(GraphError::bad_request("endDateTime must be a string.")),
    };
    Ok((name, end))
}

fn saml_settings(
    o: &serde_json::Map<String, Value>,
) -> Result<castellan_core::ops::service_principals::SamlInput, GraphError> {
    use castellan_core::ops::Field;
    let mut input = castellan_core::ops::service_principals::SamlInput {
        mode: str_field(o, "preferredSingleSignOnMode")?,
        preferred_thumbprint: str_field(o, "preferredTokenSigningKeyThumbprint")?,
        logout_url: str_field(o, "logoutUrl")?,
        ..Default::default()
    };
    match o.get("samlSingleSignOnSettings") {
        None => {}
        Some(Value::Null) => input.relay_state = Field::Null,
        Some(v) => {
            let s = check_object(
                v,
                "samlSingleSignOnSettings",
                &[
                    "relayState",
                    "castellanNameIdFormat",
                    "castellanRequireSignedRequests",
                    "castellanClaims",
                    "castellanSigningOption",
                ],
                &[],
            )?;
            input.relay_state = str_field(s, "relayState")?;
            input.name_id_format = str_field(s, "castellanNameIdFormat")?;
            input.require_signed_requests = bool_field(s, "castellanRequireSignedRequests")?;
            input.signing_option = str_field(s, "castellanSigningOption")?;
            input.claims = match s.get("castellanClaims") {
                None => Field::Absent,
                Some(Value::Null) => Field::Null,
                Some(Value::Array(items)) => {
                    let mut out = Vec::new();
                    for it in items {
                        let c = check_object(it, "castellanClaim", &["name", "source"], &[])?;
                        let get = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
                        let name = get("name").ok_or_else(|| {
                            GraphError::bad_request(
                                "Each castellanClaims entry needs a 'name' (the claim URI).",
                            )
                        })?;
                        out.push((name, get("source").unwrap_or_default()));
                    }
                    Field::Value(out)
                }
                Some(_) => {
                    return Err(GraphError::bad_request(
                        "castellanClaims must be an array of {name, source}.",
                    ))
                }
            };
        }
    }
    input.verification_certificates = match o.get("keyCredentials") {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(Value::Array(items)) => {
            use base64::Engine;
            let mut out = Vec::new();
            for it in items {
                let c = check_object(
                    it,
                    "keyCredential",
                    &[
                        "type",
                        "usage",
                        "key",
                        "displayName",
                        "keyId",
                        "startDateTime",
                        "endDateTime",
                        "customKeyIdentifier",
                    ],
                    &[],
                )?;
                if c.get("usage").and_then(Value::as_str) != Some("Verify")
                    || c.get("type").and_then(Value::as_str) != Some("AsymmetricX509Cert")
                {
                    return Err(GraphError::bad_request(
                        "keyCredentials on a service principal take verification certificates only: type 'AsymmetricX509Cert', usage 'Verify' (token signing certificates are made with addTokenSigningCertificate).",
                    ));
                }
                let key = c.get("key").and_then(Value::as_str).unwrap_or("");
                let der = base64::engine::general_purpose::STANDARD
                    .decode(key.trim())
                    .map_err(|_| {
                        GraphError::bad_request(
                            "keyCredentials key must be the base64 of a DER X.509 certificate.",
                        )
                    })?;
                out.push(der);
            }
            Field::Value(out)
        }
        Some(_) => return Err(GraphError::bad_request("keyCredentials must be an array.")),
    };
    Ok(input)
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
        &[
            "accountEnabled",
            "appRoleAssignmentRequired",
            "preferredSingleSignOnMode",
            "samlSingleSignOnSettings",
            "preferredTokenSigningKeyThumbprint",
            "logoutUrl",
            "keyCredentials",
        ],
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
        saml: saml_settings(o)?,
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
