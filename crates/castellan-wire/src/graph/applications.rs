//! `microsoft.graph.application` and its credentials.

use castellan_core::model::{
    AppRole, Application, PasswordCredential, PermissionKind, PermissionScope,
    RequiredResourceAccess, ResourceAccess, SignInAudience,
};
use castellan_core::ops::applications::ApplicationInput;
use castellan_core::ops::Field;
use castellan_core::{AppId, Timestamp};
use serde_json::{json, Map, Value};

use super::{bool_field, check_object, guid, opt, str_field, strings_field};
use crate::errors::GraphError;
use crate::time::{graph_datetime, parse_graph_datetime};

/// Properties clients may set.
pub const WRITABLE: &[&str] = &[
    "displayName",
    "signInAudience",
    "identifierUris",
    "web",
    "spa",
    "publicClient",
    "isFallbackPublicClient",
    "requiredResourceAccess",
    "api",
    "appRoles",
    "description",
    "notes",
    "tags",
    "keyCredentials",
    "groupMembershipClaims",
    "optionalClaims",
];
/// Read-only properties.
pub const READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "createdDateTime",
    "deletedDateTime",
    "publisherDomain",
    "passwordCredentials",
];
/// Every rendered property.
pub const PROPERTIES: &[&str] = &[
    "id",
    "appId",
    "displayName",
    "signInAudience",
    "identifierUris",
    "web",
    "spa",
    "publicClient",
    "isFallbackPublicClient",
    "requiredResourceAccess",
    "api",
    "appRoles",
    "passwordCredentials",
    "keyCredentials",
    "createdDateTime",
    "publisherDomain",
    "groupMembershipClaims",
    "optionalClaims",
];

/// Renders a password credential (never the secret).
pub fn render_password(c: &PasswordCredential, secret_text: Option<&str>) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": opt(&c.display_name),
        "endDateTime": graph_datetime(c.end),
        "hint": c.hint,
        "keyId": c.key_id.to_string(),
        "secretText": secret_text,
        "startDateTime": graph_datetime(c.start),
    })
}

fn render_scope(s: &PermissionScope) -> Value {
    json!({
        "id": s.id.to_string(), "value": s.value, "type": s.consent_type, "isEnabled": s.is_enabled,
        "adminConsentDisplayName": opt(&s.admin_consent_display_name), "adminConsentDescription": opt(&s.admin_consent_description),
        "userConsentDisplayName": opt(&s.user_consent_display_name), "userConsentDescription": opt(&s.user_consent_description),
    })
}

/// Renders an app role.
pub fn render_role(r: &AppRole) -> Value {
    json!({
        "id": r.id.to_string(), "value": r.value, "displayName": r.display_name, "description": r.description,
        "allowedMemberTypes": r.allowed_member_types, "isEnabled": r.is_enabled, "origin": "Application",
    })
}

/// Renders delegated scopes.
pub fn render_scopes(s: &[PermissionScope]) -> Vec<Value> {
    s.iter().map(render_scope).collect()
}

/// Renders an application. `publisher_domain` is the home tenant's initial domain.
pub fn render(a: &Application, publisher_domain: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.application",
        "id": a.id.to_string(),
        "appId": a.app_id.to_string(),
        "displayName": a.display_name,
        "signInAudience": a.sign_in_audience.as_str(),
        "identifierUris": a.identifier_uris,
        "web": {"redirectUris": a.web_redirect_uris, "implicitGrantSettings": {"enableIdTokenIssuance": false, "enableAccessTokenIssuance": false}},
        "spa": {"redirectUris": a.spa_redirect_uris},
        "publicClient": {"redirectUris": a.public_client_redirect_uris},
        "isFallbackPublicClient": a.is_fallback_public_client,
        "requiredResourceAccess": a.required_resource_access.iter().map(|r| json!({
            "resourceAppId": r.resource_app_id.to_string(),
            "resourceAccess": r.resource_access.iter().map(|x| json!({"id": x.id.to_string(), "type": x.kind.as_str()})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "api": {"oauth2PermissionScopes": render_scopes(&a.oauth2_permission_scopes), "requestedAccessTokenVersion": a.requested_access_token_version, "preAuthorizedApplications": [], "knownClientApplications": []},
        "appRoles": a.app_roles.iter().map(render_role).collect::<Vec<_>>(),
        "passwordCredentials": a.password_credentials.iter().map(|c| render_password(c, None)).collect::<Vec<_>>(),
        "keyCredentials": a.key_credentials.iter().map(render_key).collect::<Vec<_>>(),
        "groupMembershipClaims": a.group_membership_claims,
        "optionalClaims": {
            "idToken": a.optional_claims.iter().filter(|(k, _)| k == "idToken").map(|(_, n)| json!({"name": n, "source": null, "essential": false, "additionalProperties": []})).collect::<Vec<_>>(),
            "accessToken": a.optional_claims.iter().filter(|(k, _)| k == "accessToken").map(|(_, n)| json!({"name": n, "source": null, "essential": false, "additionalProperties": []})).collect::<Vec<_>>(),
            "saml2Token": [],
        },
        "createdDateTime": graph_datetime(a.created),
        "publisherDomain": publisher_domain,
    })
}

fn redirect_uris(o: &Map<String, Value>, platform: &str) -> Result<Field<Vec<String>>, GraphError> {
    match o.get(platform) {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Value(vec![])),
        Some(Value::Object(p)) => {
            let allowed: &[&str] = match platform {
                "web" => &[
                    "redirectUris",
                    "implicitGrantSettings",
                    "homePageUrl",
                    "logoutUrl",
                    "redirectUriSettings",
                ],
                _ => &["redirectUris"],
            };
            check_object(&Value::Object(p.clone()), platform, allowed, &[])?;
            strings_field(p, "redirectUris")
        }
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value for property '{platform}': expected an object with redirectUris."
        ))),
    }
}

fn objects<'a>(
    v: Option<&'a Value>,
    name: &str,
) -> Result<Option<Vec<&'a Map<String, Value>>>, GraphError> {
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(vec![])),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_object().ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "Invalid value for property '{name}': expected an array of objects."
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value for property '{name}': expected an array."
        ))),
    }
}

fn req_guid(o: &Map<String, Value>, name: &str, ctx: &str) -> Result<uuid::Uuid, GraphError> {
    guid(o, name)?.ok_or_else(|| {
        GraphError::bad_request(format!("{ctx}: property '{name}' (a GUID) is required."))
    })
}

fn req_str(o: &Map<String, Value>, name: &str, ctx: &str) -> Result<String, GraphError> {
    o.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            GraphError::bad_request(format!("{ctx}: property '{name}' (a string) is required."))
        })
}

fn parse_roles(v: Option<&Value>) -> Result<Field<Vec<AppRole>>, GraphError> {
    let Some(items) = objects(v, "appRoles")? else {
        return Ok(Field::Absent);
    };
    items
        .into_iter()
        .map(|r| {
            Ok(AppRole {
                id: req_guid(r, "id", "appRoles")?,
                value: req_str(r, "value", "appRoles")?,
                display_name: r
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                description: r
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                allowed_member_types: match strings_field(r, "allowedMemberTypes")? {
                    Field::Value(v) => v,
                    _ => vec![],
                },
                is_enabled: r.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
            })
        })
        .collect::<Result<Vec<_>, GraphError>>()
        .map(Field::Value)
}

fn parse_token_version(v: Option<&Value>) -> Result<Field<Option<u8>>, GraphError> {
    let Some(Value::Object(api)) = v else {
        return Ok(Field::Absent);
    };
    match api.get("requestedAccessTokenVersion") {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Value(None)),
        Some(n) => match n.as_u64() {
            Some(1) => Ok(Field::Value(Some(1))),
            Some(2) => Ok(Field::Value(Some(2))),
            _ => Err(GraphError::bad_request(format!(
                "Invalid value {n} for property 'api.requestedAccessTokenVersion': use null, 1 or 2."
            ))),
        },
    }
}

fn parse_api(v: Option<&Value>) -> Result<Field<Vec<PermissionScope>>, GraphError> {
    let api = match v {
        None => return Ok(Field::Absent),
        Some(Value::Null) => return Ok(Field::Value(vec![])),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(GraphError::bad_request(
                "Invalid value for property 'api': expected an object.",
            ))
        }
    };
    check_object(
        v.unwrap_or(&Value::Null),
        "apiApplication",
        &[
            "oauth2PermissionScopes",
            "requestedAccessTokenVersion",
            "preAuthorizedApplications",
            "knownClientApplications",
            "acceptMappedClaims",
        ],
        &[],
    )?;
    let Some(items) = objects(
        api.get("oauth2PermissionScopes"),
        "api.oauth2PermissionScopes",
    )?
    else {
        return Ok(Field::Absent);
    };
    let s = |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    items
        .into_iter()
        .map(|o| {
            Ok(PermissionScope {
                id: req_guid(o, "id", "oauth2PermissionScopes")?,
                value: req_str(o, "value", "oauth2PermissionScopes")?,
                consent_type: s(o, "type").unwrap_or_else(|| "User".into()),
                is_enabled: o.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
                admin_consent_display_name: s(o, "adminConsentDisplayName"),
                admin_consent_description: s(o, "adminConsentDescription"),
                user_consent_display_name: s(o, "userConsentDisplayName"),
                user_consent_description: s(o, "userConsentDescription"),
            })
        })
        .collect::<Result<Vec<_>, GraphError>>()
        .map(Field::Value)
}

fn parse_rra(v: Option<&Value>) -> Result<Field<Vec<RequiredResourceAccess>>, GraphError> {
    let Some(items) = objects(v, "requiredResourceAccess")? else {
        return Ok(Field::Absent);
    };
    items
        .into_iter()
        .map(|o| {
            let app = req_str(o, "resourceAppId", "requiredResourceAccess")?;
            let resource_app_id = AppId::parse(&app).ok_or_else(|| {
                GraphError::bad_request(format!(
                    "requiredResourceAccess: resourceAppId '{app}' is not a GUID."
                ))
            })?;
            let access = objects(o.get("resourceAccess"), "resourceAccess")?.unwrap_or_default();
            let resource_access = access
                .into_iter()
                .map(|x| {
                    let kind = match x.get("type").and_then(Value::as_str) {
                        Some(t) if t.eq_ignore_ascii_case("Scope") => PermissionKind::Scope,
                        Some(t) if t.eq_ignore_ascii_case("Role") => PermissionKind::Role,
                        other => {
                            return Err(GraphError::bad_request(format!(
                            "resourceAccess type {other:?} is not valid: use 'Scope' or 'Role'."
                        )))
                        }
                    };
                    Ok(ResourceAccess {
                        id: req_guid(x, "id", "resourceAccess")?,
                        kind,
                    })
                })
                .collect::<Result<Vec<_>, GraphError>>()?;
            Ok(RequiredResourceAccess {
                resource_app_id,
                resource_access,
            })
        })
        .collect::<Result<Vec<_>, GraphError>>()
        .map(Field::Value)
}

/// Renders a certificate credential (Graph returns `key` only on request; never here).
pub fn render_key(k: &castellan_core::model::KeyCredential) -> Value {
    use base64::Engine;
    json!({
        "keyId": k.key_id.to_string(),
        "displayName": k.display_name,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": null,
        "customKeyIdentifier": base64::engine::general_purpose::STANDARD.encode(k.sha1),
        "startDateTime": k.start.map(crate::time::graph_datetime),
        "endDateTime": k.end.map(crate::time::graph_datetime),
    })
}

fn parse_keys(
    v: Option<&Value>,
) -> Result<Field<Vec<castellan_core::model::KeyCredential>>, GraphError> {
    use base64::Engine;
    let Some(items) = objects(v, "keyCredentials")? else {
        return Ok(Field::Absent);
    };
    items
        .into_iter()
        .map(|o| {
            check_object(
                &Value::Object(o.clone()),
                "keyCredential",
                &["keyId", "type", "usage", "key", "displayName", "startDateTime", "endDateTime", "customKeyIdentifier"],
                &[],
            )?;
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("AsymmetricX509Cert");
            if kind != "AsymmetricX509Cert" {
                return Err(GraphError::bad_request(format!("keyCredentials: type '{kind}' is not supported; use AsymmetricX509Cert (a certificate).")));
            }
            let usage = o.get("usage").and_then(Value::as_str).unwrap_or("Verify");
            if usage != "Verify" {
                return Err(GraphError::bad_request(format!("keyCredentials: usage '{usage}' is not supported; client credentials use 'Verify'.")));
            }
            let key = req_str(o, "key", "keyCredentials")?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(key.trim())
                .map_err(|_| GraphError::bad_request("keyCredentials: 'key' must be the certificate's DER, base64-encoded (not PEM)."))?;
            let key_id = match o.get("keyId").and_then(Value::as_str) {
                Some(k) => uuid::Uuid::parse_str(k).map_err(|_| GraphError::bad_request(format!("keyCredentials: keyId '{k}' is not a GUID.")))?,
                None => {
                    let d = castellan_core::secret::sha256(&der);
                    let mut b = [0u8; 16];
                    b.copy_from_slice(&d[..16]);
                    uuid::Builder::from_random_bytes(b).into_uuid()
                }
            };
            let time = |k: &str| -> Result<Option<Timestamp>, GraphError> {
                match o.get(k).and_then(Value::as_str) {
                    None => Ok(None),
                    Some(t) => crate::time::parse_graph_datetime(t).map(Some).ok_or_else(|| GraphError::bad_request(format!("keyCredentials: {k} '{t}' is not an ISO 8601 date-time."))),
                }
            };
            Ok(castellan_core::model::KeyCredential::new(
                key_id,
                o.get("displayName").and_then(Value::as_str).map(str::to_string),
                der,
                time("startDateTime")?,
                time("endDateTime")?,
            ))
        })
        .collect::<Result<Vec<_>, GraphError>>()
        .map(Field::Value)
}

fn parse_optional_claims(v: Option<&Value>) -> Result<Field<Vec<(String, String)>>, GraphError> {
    let o = match v {
        None => return Ok(Field::Absent),
        Some(Value::Null) => return Ok(Field::Value(vec![])),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(GraphError::bad_request("optionalClaims must be an object {idToken: [...], accessToken: [...], saml2Token: [...]}.")),
    };
    let mut out = Vec::new();
    for (kind, list) in o {
        if !["idToken", "accessToken", "saml2Token"].contains(&kind.as_str()) {
            return Err(GraphError::bad_request(format!("optionalClaims.{kind} is not a token type: use idToken, accessToken or saml2Token.")));
        }
        let items = list.as_array().ok_or_else(|| {
            GraphError::bad_request(format!("optionalClaims.{kind} must be an array."))
        })?;
        for it in items {
            let name = it.get("name").and_then(Value::as_str).ok_or_else(|| {
                GraphError::bad_request(format!("Each optionalClaims.{kind} entry needs a name."))
            })?;
            if !castellan_core::model::OPTIONAL_CLAIMS.contains(&name) {
                return Err(GraphError::bad_request(format!(
                    "Optional claim '{name}' is not supported by this server; supported: {}.",
                    castellan_core::model::OPTIONAL_CLAIMS.join(", ")
                )));
            }
            if kind != "saml2Token" {
                out.push((kind.clone(), name.to_string()));
            }
        }
    }
    Ok(Field::Value(out))
}

/// Parses a create or PATCH body.
pub fn parse(body: &Value) -> Result<ApplicationInput, GraphError> {
    let o = check_object(body, "application", WRITABLE, READ_ONLY)?;
    let sign_in_audience = match str_field(o, "signInAudience")? {
        Field::Value(s) => Field::Value(SignInAudience::parse(&s).ok_or_else(|| {
            GraphError::bad_request(format!("Invalid value '{s}' for property 'signInAudience': use AzureADMyOrg, AzureADMultipleOrgs or AzureADandPersonalMicrosoftAccount."))
        })?),
        _ => Field::Absent,
    };
    Ok(ApplicationInput {
        display_name: str_field(o, "displayName")?,
        sign_in_audience,
        identifier_uris: strings_field(o, "identifierUris")?,
        web_redirect_uris: redirect_uris(o, "web")?,
        spa_redirect_uris: redirect_uris(o, "spa")?,
        public_client_redirect_uris: redirect_uris(o, "publicClient")?,
        is_fallback_public_client: bool_field(o, "isFallbackPublicClient")?,
        required_resource_access: parse_rra(o.get("requiredResourceAccess"))?,
        oauth2_permission_scopes: parse_api(o.get("api"))?,
        app_roles: parse_roles(o.get("appRoles"))?,
        key_credentials: parse_keys(o.get("keyCredentials"))?,
        requested_access_token_version: parse_token_version(o.get("api"))?,
        optional_claims: parse_optional_claims(o.get("optionalClaims"))?,
        group_membership_claims: match o.get("groupMembershipClaims") {
            None => Field::Absent,
            Some(Value::Null) => Field::Value(None),
            Some(Value::String(v)) => {
                let known = [
                    "None",
                    "SecurityGroup",
                    "All",
                    "DirectoryRole",
                    "ApplicationGroup",
                ];
                match known.iter().find(|k| k.eq_ignore_ascii_case(v)) {
                    Some(k) => Field::Value((*k != "None").then(|| (*k).to_string())),
                    None => return Err(GraphError::bad_request(format!("Invalid value '{v}' for property 'groupMembershipClaims': use None, SecurityGroup, All, DirectoryRole or ApplicationGroup."))),
                }
            }
            Some(_) => {
                return Err(GraphError::bad_request(
                    "groupMembershipClaims must be a string.",
                ))
            }
        },
    })
}

/// Parses an `addPassword` body: `{"passwordCredential": {"displayName", "endDateTime"}}`.
pub fn parse_add_password(body: &Value) -> Result<(Option<String>, Option<Timestamp>), GraphError> {
    let o = check_object(body, "addPasswordRequest", &["passwordCredential"], &[])?;
    let Some(pc) = o.get("passwordCredential") else {
        return Ok((None, None));
    };
    let pc = check_object(
        pc,
        "passwordCredential",
        &["displayName", "endDateTime", "startDateTime"],
        &["secretText", "hint", "keyId"],
    )?;
    let name = pc
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let end = match pc.get("endDateTime") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_graph_datetime(s).ok_or_else(|| {
            GraphError::bad_request(format!(
                "endDateTime '{s}' is not an ISO 8601 date-time such as 2030-01-01T00:00:00Z."
            ))
        })?),
        Some(_) => return Err(GraphError::bad_request("endDateTime must be a string.")),
    };
    Ok((name, end))
}

/// Parses a `removePassword` body: `{"keyId": "..."}`.
pub fn parse_remove_password(body: &Value) -> Result<uuid::Uuid, GraphError> {
    let o = check_object(body, "removePasswordRequest", &["keyId"], &[])?;
    guid(o, "keyId")?
        .ok_or_else(|| GraphError::bad_request("Property 'keyId' (a GUID) is required."))
}
