//! `/v1.0/roleManagement/directory/roleDefinitions` and `/roleAssignments`.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::directory_roles;
use castellan_core::graph_rules::{Access, Area};
use castellan_core::ops::directory_roles as ops;
use castellan_wire::errors::GraphError;
use castellan_wire::odata::EntitySpec;
use serde_json::Value;

use super::users::with_context;
use super::{created, json_body, list, no_content, store_err, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;
use castellan_wire::graph::roles::{
    render_assignment, render_au, render_custom, render_definition,
};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1.0/roleManagement/directory/roleDefinitions",
            get(definitions).post(create_definition),
        )
        .route(
            "/v1.0/roleManagement/directory/roleDefinitions/{id}",
            get(definition).delete(delete_definition),
        )
        .route(
            "/v1.0/roleManagement/directory/roleAssignments",
            get(assignments).post(assign),
        )
        .route(
            "/v1.0/roleManagement/directory/roleAssignments/{id}",
            get(assignment).delete(unassign),
        )
        .route(
            "/v1.0/directory/administrativeUnits",
            get(list_aus).post(create_au),
        )
        .route(
            "/v1.0/directory/administrativeUnits/{id}",
            get(get_au).delete(delete_au),
        )
        .route(
            "/v1.0/directory/administrativeUnits/{id}/members",
            get(au_members),
        )
        .route(
            "/v1.0/directory/administrativeUnits/{id}/members/$ref",
            axum::routing::post(add_au_member),
        )
        .route(
            "/v1.0/directory/administrativeUnits/{id}/members/{member}/$ref",
            axum::routing::delete(remove_au_member),
        )
}

fn au_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.administrativeUnit",
        &[
            "id",
            "displayName",
            "description",
            "visibility",
            "membershipType",
            "isMemberManagementRestricted",
        ],
        &["displayName", "id"],
        "id",
    )
}

async fn list_aus(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Read)?;
    let all = s
        .store
        .administrative_units(c.tenant.id)
        .await
        .map_err(store_err(&c))?;
    list(
        &c,
        &uri,
        &headers,
        &au_spec(),
        "directory/administrativeUnits",
        all.iter().map(render_au).collect(),
    )
}

async fn get_au(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Read)?;
    let mut ent = OsEntropy;
    let au = castellan_core::ops::admin_units::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(Json(with_context(
        &c,
        "directory/administrativeUnits/$entity",
        render_au(&au),
    ))
    .into_response())
}

async fn create_au(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let v = json_body(&c, &body)?;
    if let Some(k) = v.as_object().and_then(|o| {
        o.keys()
            .find(|k| {
                !["displayName", "description", "@odata.type", "visibility"].contains(&k.as_str())
            })
            .cloned()
    }) {
        return Err(c.err(GraphError::bad_request(format!("Property '{k}' is not supported on administrativeUnit by this server (supported: displayName, description)."))));
    }
    let name = v
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let desc = v
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut ent = OsEntropy;
    let au =
        castellan_core::ops::admin_units::create(&mut c.env(&s, &mut ent), &c.tenant, &name, desc)
            .await
            .map_err(|e| c.err(e))?;
    Ok(created(
        format!("{}/directory/administrativeUnits/{}", c.base, au.id),
        with_context(&c, "directory/administrativeUnits/$entity", render_au(&au)),
    ))
}

async fn delete_au(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let mut ent = OsEntropy;
    castellan_core::ops::admin_units::delete(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn au_members(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Read)?;
    let mut ent = OsEntropy;
    let au = castellan_core::ops::admin_units::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let ids = s
        .store
        .au_members(c.tenant.id, au.id)
        .await
        .map_err(store_err(&c))?;
    let mut items = Vec::new();
    for m in ids {
        if let Some(kind) = s
            .store
            .object_kind(c.tenant.id, m)
            .await
            .map_err(store_err(&c))?
        {
            if let Some(v) = super::render_object(&s, &c.tenant, m, kind)
                .await
                .map_err(store_err(&c))?
            {
                items.push(v);
            }
        }
    }
    let spec = EntitySpec::new(
        "microsoft.graph.directoryObject",
        &[
            "id",
            "displayName",
            "userPrincipalName",
            "@odata.type",
            "mail",
            "mailNickname",
        ],
        &["id"],
        "id",
    );
    list(&c, &uri, &headers, &spec, "directoryObjects", items)
}

async fn add_au_member(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let member = castellan_wire::graph::parse_ref(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    castellan_core::ops::admin_units::add_member(&mut c.env(&s, &mut ent), &c.tenant, &id, member)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove_au_member(
    State(s): State<AppState>,
    c: Caller,
    Path((id, member)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let mut ent = OsEntropy;
    castellan_core::ops::admin_units::remove_member(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        &id,
        &member,
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn all_definitions(s: &AppState, c: &Caller) -> Result<Vec<Value>, ApiError> {
    let mut items: Vec<Value> = directory_roles::built_in_roles()
        .iter()
        .map(render_definition)
        .collect();
    let custom = s
        .store
        .custom_roles(c.tenant.id)
        .await
        .map_err(store_err(c))?;
    items.extend(custom.iter().map(render_custom));
    Ok(items)
}

async fn definitions(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Read)?;
    let spec = EntitySpec::new(
        "microsoft.graph.unifiedRoleDefinition",
        &[
            "id",
            "templateId",
            "displayName",
            "description",
            "isBuiltIn",
            "isEnabled",
            "isPrivileged",
            "version",
            "resourceScopes",
            "rolePermissions",
        ],
        &["displayName", "id"],
        "id",
    );
    let items = all_definitions(&s, &c).await?;
    list(
        &c,
        &uri,
        &headers,
        &spec,
        "roleManagement/directory/roleDefinitions",
        items,
    )
}

async fn definition(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Read)?;
    let items = all_definitions(&s, &c).await?;
    let r = items
        .into_iter()
        .find(|v| v["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&id)))
        .ok_or_else(|| c.err(GraphError::not_found(format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))))?;
    Ok(Json(with_context(
        &c,
        "roleManagement/directory/roleDefinitions/$entity",
        r,
    ))
    .into_response())
}

/// `POST /roleDefinitions` `{displayName, description, isEnabled, rolePermissions: [{allowedResourceActions}]}`.
async fn create_definition(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let v = json_body(&c, &body)?;
    let bad = |m: String| c.err(GraphError::bad_request(m));
    if let Some(k) = v.as_object().and_then(|o| {
        o.keys()
            .find(|k| {
                ![
                    "displayName",
                    "description",
                    "isEnabled",
                    "rolePermissions",
                    "templateId",
                    "version",
                    "@odata.type",
                ]
                .contains(&k.as_str())
            })
            .cloned()
    }) {
        return Err(bad(format!(
            "Property '{k}' is not supported on unifiedRoleDefinition by this server."
        )));
    }
    let perms = v
        .get("rolePermissions")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad("rolePermissions is required: [{\"allowedResourceActions\": [...]}].".into())
        })?;
    let mut actions = Vec::new();
    for p in perms {
        let list = p.get("allowedResourceActions").and_then(Value::as_array).ok_or_else(|| bad("Each rolePermissions entry needs allowedResourceActions (an array of strings).".into()))?;
        for a in list {
            actions.push(
                a.as_str()
                    .ok_or_else(|| bad("allowedResourceActions holds strings.".into()))?
                    .to_string(),
            );
        }
    }
    let mut ent = OsEntropy;
    let r = ops::create_custom(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        v.get("displayName").and_then(Value::as_str).unwrap_or(""),
        v.get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        actions,
        v.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(created(
        format!(
            "{}/roleManagement/directory/roleDefinitions/{}",
            c.base, r.id
        ),
        with_context(
            &c,
            "roleManagement/directory/roleDefinitions/$entity",
            render_custom(&r),
        ),
    ))
}

async fn delete_definition(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let mut ent = OsEntropy;
    ops::delete_custom(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

/// The role assignments in force now: the permanent ones and every PIM assignment schedule
/// active at this moment (activations, time-bound and started scheduled assignments).
async fn in_force(
    s: &AppState,
    c: &Caller,
) -> Result<Vec<castellan_core::model::DirectoryRoleAssignment>, ApiError> {
    let mut all = s
        .store
        .directory_role_assignments(c.tenant.id)
        .await
        .map_err(store_err(c))?;
    let schedules = s
        .store
        .role_schedules(c.tenant.id)
        .await
        .map_err(store_err(c))?;
    all.extend(
        castellan_core::pim::active_assignments(&schedules, crate::state::now())
            .into_iter()
            .map(|r| castellan_core::model::DirectoryRoleAssignment {
                id: r.id,
                tenant_id: r.tenant_id,
                principal_id: r.principal_id,
                role_template_id: r.role_definition_id,
                directory_scope_id: r.directory_scope_id.clone(),
            }),
    );
    Ok(all)
}

async fn assignments(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Read)?;
    let all = in_force(&s, &c).await?;
    let spec = EntitySpec::new(
        "microsoft.graph.unifiedRoleAssignment",
        &[
            "id",
            "principalId",
            "roleDefinitionId",
            "directoryScopeId",
            "appScopeId",
        ],
        &["id"],
        "id",
    );
    list(
        &c,
        &uri,
        &headers,
        &spec,
        "roleManagement/directory/roleAssignments",
        all.iter().map(render_assignment).collect(),
    )
}

async fn assignment(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Read)?;
    let all = in_force(&s, &c).await?;
    let a = all
        .iter()
        .find(|a| a.id.to_string() == id.to_ascii_lowercase())
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "unifiedRoleAssignment '{id}' does not exist in this tenant."
            )))
        })?;
    Ok(Json(with_context(
        &c,
        "roleManagement/directory/roleAssignments/$entity",
        render_assignment(a),
    ))
    .into_response())
}

/// `POST /roleAssignments` `{principalId, roleDefinitionId, directoryScopeId}`.
async fn assign(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let v = json_body(&c, &body)?;
    if let Some(k) = v.as_object().and_then(|o| {
        o.keys()
            .find(|k| {
                ![
                    "principalId",
                    "roleDefinitionId",
                    "directoryScopeId",
                    "@odata.type",
                ]
                .contains(&k.as_str())
            })
            .cloned()
    }) {
        return Err(c.err(GraphError::bad_request(format!(
            "Property '{k}' does not exist on type 'microsoft.graph.unifiedRoleAssignment'."
        ))));
    }
    let f = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let scope = v
        .get("directoryScopeId")
        .and_then(Value::as_str)
        .unwrap_or("/")
        .to_string();
    let mut ent = OsEntropy;
    let a = ops::assign(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        &f("principalId"),
        &f("roleDefinitionId"),
        &scope,
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(created(
        format!(
            "{}/roleManagement/directory/roleAssignments/{}",
            c.base, a.id
        ),
        with_context(
            &c,
            "roleManagement/directory/roleAssignments/$entity",
            render_assignment(&a),
        ),
    ))
}

async fn unassign(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let mut ent = OsEntropy;
    ops::remove(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}
