//! Directory role assignments (`/roleManagement/directory/roleAssignments`).

use crate::directory_roles;
use crate::error::DirectoryError;
use crate::model::{DirectoryRoleAssignment, ObjectKind, Tenant};
use crate::ops::{target, Env};
use crate::store::{Change, ChangeSet};
use crate::ObjectId;

/// The role, scope and principal of a role grant, checked: a built-in role or an enabled
/// custom role, `/` or an administrative unit of the tenant, and a user, service principal or
/// role-assignable group of the tenant. Returns the principal, the role id and its name.
pub async fn check_grant(
    env: &Env<'_>,
    tenant: &Tenant,
    principal_id: &str,
    role_definition_id: &str,
    directory_scope_id: &str,
) -> Result<(ObjectId, uuid::Uuid, String), DirectoryError> {
    let wanted = uuid::Uuid::parse_str(role_definition_id).ok();
    let custom = env.store.custom_roles(tenant.id).await?;
    let role: (uuid::Uuid, String) = match wanted {
        Some(id) => match directory_roles::role(id) {
            Some(r) => (r.template_id, r.display_name.clone()),
            None => match custom.iter().find(|c| c.id.uuid() == id && c.is_enabled) {
                Some(c) => (id, c.display_name.clone()),
                None => {
                    return Err(DirectoryError::BadRequest(format!("roleDefinitionId '{role_definition_id}' is neither a built-in directory role nor an enabled custom role of this tenant (GET /roleManagement/directory/roleDefinitions lists them).")))
                }
            },
        },
        None => return Err(DirectoryError::BadRequest(format!("roleDefinitionId '{role_definition_id}' is not a GUID."))),
    };
    if directory_scope_id != "/" {
        let Some(au) = directory_scope_id.strip_prefix("/administrativeUnits/") else {
            return Err(DirectoryError::BadRequest(format!("directoryScopeId '{directory_scope_id}' is not supported: use '/' (tenant-wide) or '/administrativeUnits/{{id}}'.")));
        };
        if crate::ops::admin_units::find(env, tenant, au)
            .await
            .is_err()
        {
            return Err(DirectoryError::BadRequest(format!("directoryScopeId '{directory_scope_id}' names no administrative unit in this tenant.")));
        }
    }
    let principal = ObjectId::parse(principal_id).ok_or_else(|| {
        DirectoryError::BadRequest(format!("principalId '{principal_id}' is not a GUID."))
    })?;
    match env.store.object_kind(tenant.id, principal).await? {
        Some(ObjectKind::User | ObjectKind::ServicePrincipal) => {}
        Some(ObjectKind::Group) => {
            let assignable = env
                .store
                .group(tenant.id, principal)
                .await?
                .is_some_and(|g| g.is_assignable_to_role);
            if !assignable {
                return Err(DirectoryError::BadRequest("Only role-assignable groups (created with isAssignableToRole true) can hold directory roles.".into()));
            }
        }
        _ => {
            return Err(DirectoryError::BadRequest(format!(
                "principalId '{principal_id}' is not a user or service principal in this tenant."
            )))
        }
    }
    Ok((principal, role.0, role.1))
}

/// Assigns a built-in directory role to a user or service principal, tenant-wide (`/`).
pub async fn assign(
    env: &mut Env<'_>,
    tenant: &Tenant,
    principal_id: &str,
    role_definition_id: &str,
    directory_scope_id: &str,
) -> Result<DirectoryRoleAssignment, DirectoryError> {
    let (principal, template_id, display_name) = check_grant(
        env,
        tenant,
        principal_id,
        role_definition_id,
        directory_scope_id,
    )
    .await?;
    struct Role {
        template_id: uuid::Uuid,
        display_name: String,
    }
    let role = Role {
        template_id,
        display_name,
    };
    let existing = env.store.directory_role_assignments(tenant.id).await?;
    if existing.iter().any(|r| {
        r.principal_id == principal
            && r.role_template_id == role.template_id
            && r.directory_scope_id == directory_scope_id
    }) {
        return Err(DirectoryError::Conflict(format!(
            "The principal already holds '{}'.",
            role.display_name
        )));
    }
    let a = DirectoryRoleAssignment {
        id: env.new_id(),
        tenant_id: tenant.id,
        principal_id: principal,
        role_template_id: role.template_id,
        directory_scope_id: directory_scope_id.to_string(),
    };
    let audit = env.audit(
        tenant,
        "RoleManagement",
        "Add member to role",
        "Assign",
        vec![target(
            principal,
            "User",
            None,
            None,
            vec![crate::ops::modified(
                "Role.DisplayName",
                None,
                Some(role.display_name.clone()),
            )],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertDirectoryRoleAssignment(a.clone()))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(a)
}

/// Removes a role assignment by id.
pub async fn remove(env: &mut Env<'_>, tenant: &Tenant, id: &str) -> Result<(), DirectoryError> {
    let missing = || {
        DirectoryError::NotFound(format!(
            "unifiedRoleAssignment '{id}' does not exist in this tenant."
        ))
    };
    let oid = ObjectId::parse(id).ok_or_else(missing)?;
    let a = env
        .store
        .directory_role_assignments(tenant.id)
        .await?
        .into_iter()
        .find(|r| r.id == oid)
        .ok_or_else(missing)?;
    let name = directory_roles::role(a.role_template_id).map(|r| r.display_name.clone());
    let audit = env.audit(
        tenant,
        "RoleManagement",
        "Remove member from role",
        "Unassign",
        vec![target(
            a.principal_id,
            "User",
            None,
            None,
            vec![crate::ops::modified("Role.DisplayName", name, None)],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteDirectoryRoleAssignment(tenant.id, a.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// A principal's directory roles `(template, directoryScopeId)` in force at `now`: assigned to
/// it directly or to a role-assignable group it is a direct member of (role assignments do not
/// nest further), permanently or by a PIM assignment schedule active at `now` (an activation,
/// a time-bound or a scheduled assignment). Eligibility alone grants nothing. This is the one
/// source every role check reads.
pub async fn effective_roles(
    store: &dyn crate::store::Store,
    tenant: crate::TenantId,
    principal: ObjectId,
    now: crate::Timestamp,
) -> Result<Vec<(uuid::Uuid, String)>, crate::store::StoreError> {
    let permanent = store.directory_role_assignments(tenant).await?;
    let schedules = store.role_schedules(tenant).await?;
    let mut all: Vec<(ObjectId, uuid::Uuid, String)> = permanent
        .into_iter()
        .map(|a| (a.principal_id, a.role_template_id, a.directory_scope_id))
        .collect();
    all.extend(
        crate::pim::active_assignments(&schedules, now)
            .into_iter()
            .map(|s| {
                (
                    s.principal_id,
                    s.role_definition_id,
                    s.directory_scope_id.clone(),
                )
            }),
    );
    if all.is_empty() {
        return Ok(vec![]);
    }
    let holders = holders(store, tenant, principal, now, |g| {
        all.iter().any(|a| a.0 == g)
    })
    .await?;
    let mut out: Vec<(uuid::Uuid, String)> = all
        .into_iter()
        .filter(|a| holders.contains(&a.0))
        .map(|a| (a.1, a.2))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The principal and the role-assignable groups it is a direct member of that `holds`.
async fn holders(
    store: &dyn crate::store::Store,
    tenant: crate::TenantId,
    principal: ObjectId,
    now: crate::Timestamp,
    holds: impl Fn(ObjectId) -> bool,
) -> Result<Vec<ObjectId>, crate::store::StoreError> {
    let direct_groups: Vec<ObjectId> = crate::ops::groups::memberships_at(store, tenant, now)
        .await?
        .into_iter()
        .filter(|m| m.member_id == principal)
        .map(|m| m.group_id)
        .collect();
    let mut holders = vec![principal];
    for g in direct_groups {
        if holds(g)
            && store
                .group(tenant, g)
                .await?
                .is_some_and(|g| g.is_assignable_to_role)
        {
            holders.push(g);
        }
    }
    Ok(holders)
}

/// When the earliest time-bound PIM assignment the principal holds at `now` (directly or
/// through a role-assignable group) ends: a token minted now must not outlive it.
pub async fn roles_end(
    store: &dyn crate::store::Store,
    tenant: crate::TenantId,
    principal: ObjectId,
    now: crate::Timestamp,
) -> Result<Option<crate::Timestamp>, crate::store::StoreError> {
    // A PIM-for-groups membership or ownership caps the token too: its groups, and the roles
    // of a role-assignable group, end with it.
    let group_end = crate::pim::earliest_end(
        &store.group_role_schedules(tenant).await?,
        &[principal],
        now,
    );
    let schedules = store.role_schedules(tenant).await?;
    if crate::pim::active_assignments(&schedules, now).is_empty() {
        return Ok(group_end);
    }
    let holders = holders(store, tenant, principal, now, |g| {
        schedules.iter().any(|s| s.principal_id == g)
    })
    .await?;
    let role_end = crate::pim::earliest_end(&schedules, &holders, now);
    Ok(match (role_end, group_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Creates a custom directory role (P1/P2 tenants) from actions built-in roles use.
pub async fn create_custom(
    env: &mut Env<'_>,
    tenant: &Tenant,
    display_name: &str,
    description: Option<String>,
    actions: Vec<String>,
    is_enabled: bool,
) -> Result<crate::model::CustomRoleDefinition, DirectoryError> {
    let sku = crate::licenses::gate(crate::licenses::Feature::CustomRoles, tenant.license)
        .map_err(DirectoryError::Forbidden)?;
    let name = display_name.trim();
    if name.is_empty() || name.len() > 256 {
        return Err(DirectoryError::BadRequest(
            "displayName is required (1-256 characters).".into(),
        ));
    }
    if directory_roles::built_in_roles()
        .iter()
        .any(|r| r.display_name.eq_ignore_ascii_case(name))
    {
        return Err(DirectoryError::BadRequest(format!(
            "'{name}' is the name of a built-in role; choose another name."
        )));
    }
    if actions.is_empty() {
        return Err(DirectoryError::BadRequest(
            "rolePermissions[0].allowedResourceActions must list at least one action.".into(),
        ));
    }
    let known = directory_roles::known_actions();
    if let Some(bad) = actions
        .iter()
        .find(|a| !known.iter().any(|k| k.eq_ignore_ascii_case(a)))
    {
        return Err(DirectoryError::BadRequest(format!("'{bad}' is not a resource action any built-in role uses; custom roles are built from those (see GET /roleManagement/directory/roleDefinitions).")));
    }
    let r = crate::model::CustomRoleDefinition {
        id: env.new_id(),
        tenant_id: tenant.id,
        display_name: name.to_string(),
        description,
        allowed_resource_actions: actions,
        is_enabled,
        created: env.now,
    };
    let audit = env.audit(
        tenant,
        "RoleManagement",
        "Add role definition",
        "Add",
        vec![target(
            r.id,
            "Role",
            Some(&r.display_name),
            None,
            vec![crate::ops::modified("licensedBy", None, Some(sku.into()))],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertCustomRole(r.clone())).audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => DirectoryError::Conflict(format!(
            "A custom role named '{name}' already exists in this tenant."
        )),
        other => other.into(),
    })?;
    Ok(r)
}

/// Deletes a custom role that nobody holds.
pub async fn delete_custom(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
) -> Result<(), DirectoryError> {
    let missing = || {
        DirectoryError::NotFound(format!("unifiedRoleDefinition '{id}' is not a custom role of this tenant (built-in roles cannot be deleted)."))
    };
    let oid = ObjectId::parse(id).ok_or_else(missing)?;
    let r = env
        .store
        .custom_roles(tenant.id)
        .await?
        .into_iter()
        .find(|r| r.id == oid)
        .ok_or_else(missing)?;
    if env
        .store
        .directory_role_assignments(tenant.id)
        .await?
        .iter()
        .any(|a| a.role_template_id == r.id.uuid())
    {
        return Err(DirectoryError::BadRequest(format!(
            "The role '{}' is still assigned; remove its role assignments first.",
            r.display_name
        )));
    }
    let audit = env.audit(
        tenant,
        "RoleManagement",
        "Delete role definition",
        "Delete",
        vec![target(r.id, "Role", Some(&r.display_name), None, vec![])],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteCustomRole(tenant.id, r.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// A principal's tenant-wide roles (what `wids` and consent administration look at).
pub async fn tenant_wide_roles(
    store: &dyn crate::store::Store,
    tenant: crate::TenantId,
    principal: ObjectId,
    now: crate::Timestamp,
) -> Result<Vec<uuid::Uuid>, crate::store::StoreError> {
    Ok(directory_roles::tenant_wide(
        &effective_roles(store, tenant, principal, now).await?,
    ))
}
