//! `/v1.0/servicePrincipals` and app-role assignments.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use castellan_core::authz::Op;
use castellan_core::graph_rules::{Access, Area};
use castellan_core::model::{AppRoleAssignment, ServicePrincipal};
use castellan_core::ops::authz as authz_ops;
use castellan_core::ops::service_principals::{self as ops, exposed};
use castellan_core::ObjectId;
use castellan_wire::errors::GraphError;
use castellan_wire::graph::service_principals as wire;
use castellan_wire::odata::EntitySpec;
use serde_json::Value;

use super::users::{select_one, with_context};
use super::{created, json_body, list, no_content, parse_id, store_err, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;
use castellan_wire::graph::roles::render_grant;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/servicePrincipals", get(list_sps).post(create))
        .route(
            "/v1.0/servicePrincipals/{id}",
            get(get_sp).patch(update).delete(remove),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/addTokenSigningCertificate",
            axum::routing::post(add_token_signing_certificate),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/appRoleAssignments",
            get(assignments_of).post(assign_from),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/appRoleAssignments/{aid}",
            delete(unassign),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/appRoleAssignedTo",
            get(assigned_to).post(assign_to),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/appRoleAssignedTo/{aid}",
            delete(unassign),
        )
        .route("/v1.0/users/{id}/appRoleAssignments", get(user_assignments))
        .route(
            "/v1.0/oauth2PermissionGrants",
            get(list_grants).post(create_grant),
        )
        .route("/v1.0/oauth2PermissionGrants/{id}", delete(delete_grant))
}

/// The OData description of service principals.
pub fn spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.servicePrincipal",
        wire::PROPERTIES,
        &["displayName"],
        "id",
    )
}

fn assignment_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.appRoleAssignment",
        &[
            "id",
            "appRoleId",
            "creationTimestamp",
            "createdDateTime",
            "principalDisplayName",
            "principalId",
            "principalType",
            "resourceDisplayName",
            "resourceId",
        ],
        &["resourceDisplayName", "principalDisplayName"],
        "id",
    )
}

async fn render(s: &AppState, c: &Caller, sp: &ServicePrincipal) -> Result<Value, ApiError> {
    let (roles, scopes) = exposed(s.store.as_ref(), sp).await.map_err(store_err(c))?;
    Ok(wire::render(sp, &roles, &scopes))
}

async fn list_sps(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let all = s
        .store
        .service_principals(c.tenant.id)
        .await
        .map_err(store_err(&c))?;
    let mut items = Vec::with_capacity(all.len());
    for sp in &all {
        items.push(render(&s, &c, sp).await?);
    }
    list(&c, &uri, &headers, &spec(), "servicePrincipals", items)
}

async fn create(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    let app_id = wire::parse_create(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let target =
        authz_ops::service_principal_creation(s.store.as_ref(), c.tenant.id, &app_id, c.oid)
            .await
            .map_err(store_err(&c))?;
    c.authorize(Op::SpCreate, &target)?;
    let mut ent = OsEntropy;
    let sp = ops::create(&mut c.env(&s, &mut ent), &c.tenant, &app_id)
        .await
        .map_err(|e| c.err(e))?;

    let v = render(&s, &c, &sp).await?;
    Ok(created(
        format!("{}/servicePrincipals/{}", c.base, sp.id),
        with_context(&c, "servicePrincipals/$entity", v),
    ))
}

async fn get_sp(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let mut ent = OsEntropy;
    let sp = ops::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let v = select_one(&c, &uri, &spec(), render(&s, &c, &sp).await?)?;
    Ok(Json(with_context(&c, "servicePrincipals/$entity", v)).into_response())
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_sp(&s, &c, &id, Op::SpUpdate).await?;
    let input = wire::parse_update(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    if let Some(certs) = input.saml.verification_certificates.value() {
        for der in certs {
            crate::assertion::parse_certificate(der).map_err(|e| {
                c.err(GraphError::bad_request(format!(
                    "keyCredentials key is not a DER X.509 certificate ({e}): send the base64 of the certificate the application signs its SAML requests with."
                )))
            })?;
        }
    }
    let mut ent = OsEntropy;
    ops::update(&mut c.env(&s, &mut ent), &c.tenant, &id, input)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

/// `POST /servicePrincipals/{id}/addTokenSigningCertificate`: a new self-signed SAML token
/// signing certificate (RSA-2048, three years unless `endDateTime` says otherwise).
async fn add_token_signing_certificate(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_sp(&s, &c, &id, Op::SpUpdate).await?;
    let (name, end) =
        wire::parse_add_token_signing_certificate(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let at = crate::state::now();
    let end = end.unwrap_or(at.plus_secs(3 * 365 * 24 * 3600));
    if end <= at {
        return Err(c.err(GraphError::bad_request(
            "endDateTime must be in the future.",
        )));
    }
    let name = name.unwrap_or_else(|| "CN=Microsoft Azure Federated SSO Certificate".into());
    let cert = s
        .keys
        .new_saml_certificate(&name, at, end)
        .map_err(|e| c.err(GraphError::bad_request(e)))?;
    let rendered = wire::render_self_signed(&cert);
    let mut ent = OsEntropy;
    ops::add_token_signing_certificate(&mut c.env(&s, &mut ent), &c.tenant, &id, cert)
        .await
        .map_err(|e| c.err(e))?;
    Ok(Json(rendered).into_response())
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    may_write_sp(&s, &c, &id, Op::SpDelete).await?;
    let mut ent = OsEntropy;
    ops::delete(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn name_of(s: &AppState, c: &Caller, id: ObjectId) -> String {
    let t = c.tenant.id;
    if let Ok(Some(u)) = s.store.user(t, id).await {
        return u.display_name;
    }
    if let Ok(Some(g)) = s.store.group(t, id).await {
        return g.display_name;
    }
    if let Ok(Some(sp)) = s.store.service_principal(t, id).await {
        return sp.display_name;
    }
    String::new()
}

async fn render_assignments(s: &AppState, c: &Caller, list_: Vec<AppRoleAssignment>) -> Vec<Value> {
    let mut out = Vec::with_capacity(list_.len());
    for a in list_ {
        let (p, r) = (
            name_of(s, c, a.principal_id).await,
            name_of(s, c, a.resource_id).await,
        );
        out.push(wire::render_assignment(&a, &p, &r));
    }
    out
}

async fn assignments_of(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let sp = parse_id(&c, &id)?;
    ensure_sp(&s, &c, sp).await?;
    let all = s
        .store
        .app_role_assignments_of(c.tenant.id, sp)
        .await
        .map_err(store_err(&c))?;
    let items = render_assignments(&s, &c, all).await;
    list(
        &c,
        &uri,
        &headers,
        &assignment_spec(),
        "appRoleAssignments",
        items,
    )
}

async fn assigned_to(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let sp = parse_id(&c, &id)?;
    ensure_sp(&s, &c, sp).await?;
    let all = s
        .store
        .app_role_assignments_to(c.tenant.id, sp)
        .await
        .map_err(store_err(&c))?;
    let items = render_assignments(&s, &c, all).await;
    list(
        &c,
        &uri,
        &headers,
        &assignment_spec(),
        "appRoleAssignments",
        items,
    )
}

async fn user_assignments(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Users, Access::Read)?;
    let mut ent = OsEntropy;
    let u = castellan_core::ops::users::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let all = s
        .store
        .app_role_assignments_of(c.tenant.id, u.id)
        .await
        .map_err(store_err(&c))?;
    let items = render_assignments(&s, &c, all).await;
    list(
        &c,
        &uri,
        &headers,
        &assignment_spec(),
        "appRoleAssignments",
        items,
    )
}

async fn ensure_sp(s: &AppState, c: &Caller, id: ObjectId) -> Result<ServicePrincipal, ApiError> {
    s.store
        .service_principal(c.tenant.id, id)
        .await
        .map_err(store_err(c))?
        .ok_or_else(|| c.err(GraphError::not_found(format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))))
}

/// The caller may do `op` on this service principal (404 first when it does not exist).
async fn may_write_sp(s: &AppState, c: &Caller, id: &str, op: Op) -> Result<(), ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let mut ent = OsEntropy;
    let sp = ops::find(&c.env(s, &mut ent), &c.tenant, id)
        .await
        .map_err(|e| c.err(e))?;
    c.authorize_on_object(s, op, sp.id).await
}

/// Granting (or removing) an app role: an application permission when the principal is a
/// service principal (for Microsoft Graph: Privileged Role Administrator or Global
/// Administrator only), otherwise assigning a user or group to the resource (its owners may).
async fn may_assign(
    s: &AppState,
    c: &Caller,
    principal: ObjectId,
    resource: ObjectId,
) -> Result<(), ApiError> {
    let (op, target) =
        authz_ops::app_role_assignment(s.store.as_ref(), c.tenant.id, c.oid, principal, resource)
            .await
            .map_err(store_err(c))?;
    c.authorize(op, &target)
}

async fn assign(
    s: AppState,
    c: Caller,
    path_id: String,
    body: Bytes,
    path_is_principal: bool,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let sp = parse_id(&c, &path_id)?;
    ensure_sp(&s, &c, sp).await?;
    let (principal, resource, role) =
        wire::parse_assignment(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let (principal, resource) = (
        ObjectId::from_uuid(principal),
        ObjectId::from_uuid(resource),
    );
    if path_is_principal && principal != sp {
        return Err(c.err(GraphError::bad_request(format!(
            "principalId '{principal}' must be the service principal in the path ('{sp}').",
        ))));
    }
    if !path_is_principal && resource != sp {
        return Err(c.err(GraphError::bad_request(format!(
            "resourceId '{resource}' must be the service principal in the path ('{sp}')."
        ))));
    }
    may_assign(&s, &c, principal, resource).await?;
    let mut ent = OsEntropy;
    let a = ops::assign_app_role(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        principal,
        resource,
        role,
    )
    .await
    .map_err(|e| c.err(e))?;
    let (p, r) = (
        name_of(&s, &c, a.principal_id).await,
        name_of(&s, &c, a.resource_id).await,
    );
    let coll = if path_is_principal {
        "appRoleAssignments"
    } else {
        "appRoleAssignedTo"
    };
    Ok(created(
        format!("{}/servicePrincipals/{sp}/{coll}/{}", c.base, a.id),
        with_context(
            &c,
            "appRoleAssignments/$entity",
            wire::render_assignment(&a, &p, &r),
        ),
    ))
}

async fn assign_from(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    assign(s, c, id, body, true).await
}

async fn assign_to(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    assign(s, c, id, body, false).await
}

async fn unassign(
    State(s): State<AppState>,
    c: Caller,
    Path((id, aid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let sp = parse_id(&c, &id)?;
    let aid_ = parse_id(&c, &aid)?;
    let mut held = s
        .store
        .app_role_assignments_of(c.tenant.id, sp)
        .await
        .map_err(store_err(&c))?;
    held.extend(
        s.store
            .app_role_assignments_to(c.tenant.id, sp)
            .await
            .map_err(store_err(&c))?,
    );
    if let Some(a) = held.iter().find(|a| a.id == aid_) {
        may_assign(&s, &c, a.principal_id, a.resource_id).await?;
    }
    let mut ent = OsEntropy;
    ops::unassign_app_role(&mut c.env(&s, &mut ent), &c.tenant, sp, &aid)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

fn grant_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.oAuth2PermissionGrant",
        &[
            "id",
            "clientId",
            "consentType",
            "principalId",
            "resourceId",
            "scope",
        ],
        &["id"],
        "id",
    )
}

/// `GET /v1.0/oauth2PermissionGrants`.
async fn list_grants(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let all = s
        .store
        .permission_grants(c.tenant.id)
        .await
        .map_err(store_err(&c))?;
    list(
        &c,
        &uri,
        &headers,
        &grant_spec(),
        "oauth2PermissionGrants",
        all.iter().map(render_grant).collect(),
    )
}

/// `POST /v1.0/oauth2PermissionGrants` `{clientId, consentType, principalId, resourceId, scope}`.
async fn create_grant(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let v = json_body(&c, &body)?;
    let bad = |m: String| c.err(GraphError::bad_request(m));
    let field = |k: &str| v.get(k).and_then(Value::as_str);
    for k in v
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if ![
            "clientId",
            "consentType",
            "principalId",
            "resourceId",
            "scope",
            "startTime",
            "expiryTime",
        ]
        .contains(&k.as_str())
        {
            return Err(bad(format!(
                "Property '{k}' does not exist on type 'microsoft.graph.oAuth2PermissionGrant'."
            )));
        }
    }
    let sp = |k: &str| -> Result<ObjectId, ApiError> {
        field(k).and_then(ObjectId::parse).ok_or_else(|| {
            bad(format!(
                "{k} is required and must be a service principal id (GUID)."
            ))
        })
    };
    let (client_id, resource_id) = (sp("clientId")?, sp("resourceId")?);
    let principal = match (field("consentType"), field("principalId")) {
        (Some("AllPrincipals"), None) => None,
        (Some("Principal"), Some(p)) => Some(
            ObjectId::parse(p).ok_or_else(|| bad(format!("principalId '{p}' is not a GUID.")))?,
        ),
        (Some("AllPrincipals"), Some(_)) => {
            return Err(bad(
                "consentType AllPrincipals must not have a principalId.".into(),
            ))
        }
        (Some("Principal"), None) => {
            return Err(bad(
                "consentType Principal needs the user's principalId.".into()
            ))
        }
        (other, _) => {
            return Err(bad(format!(
                "consentType {other:?} is not valid: use AllPrincipals or Principal."
            )))
        }
    };
    let scope = field("scope").unwrap_or("").to_string();
    let load = |id: ObjectId| {
        let s = s.clone();
        let t = c.tenant.id;
        async move { s.store.service_principal(t, id).await }
    };
    let client = load(client_id)
        .await
        .map_err(store_err(&c))?
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "clientId '{client_id}' is not a service principal in this tenant."
            )))
        })?;
    let resource = load(resource_id)
        .await
        .map_err(store_err(&c))?
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "resourceId '{resource_id}' is not a service principal in this tenant."
            )))
        })?;
    let (op, target) = authz_ops::consent_grant(
        s.store.as_ref(),
        c.tenant.id,
        resource.id,
        principal.is_none(),
    )
    .await
    .map_err(store_err(&c))?;
    c.authorize(op, &target)?;
    let mut ent = OsEntropy;
    let g = ops::grant_delegated_to(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        &client,
        &resource,
        &scope,
        principal,
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(created(
        format!("{}/oauth2PermissionGrants/{}", c.base, g.id),
        with_context(&c, "oauth2PermissionGrants/$entity", render_grant(&g)),
    ))
}

/// `DELETE /v1.0/oauth2PermissionGrants/{id}`.
async fn delete_grant(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let grants = s
        .store
        .permission_grants(c.tenant.id)
        .await
        .map_err(store_err(&c))?;
    if let Some(g) = grants.iter().find(|g| g.id.to_string() == id) {
        let (op, target) = authz_ops::consent_grant(
            s.store.as_ref(),
            c.tenant.id,
            g.resource_id,
            g.principal_id.is_none(),
        )
        .await
        .map_err(store_err(&c))?;
        c.authorize(op, &target)?;
    } else {
        c.authorize(Op::ConsentForOne, &Default::default())?;
    }
    let mut ent = OsEntropy;
    ops::revoke_delegated(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}
