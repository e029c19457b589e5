//! Privileged Identity Management for Azure roles through ARM (`Microsoft.Authorization`
//! `roleEligibilityScheduleRequests`, `roleAssignmentScheduleRequests`, their schedules and
//! instances, `roleManagementPolicies` and `roleManagementPolicyAssignments`, api-version
//! 2020-10-01, at any scope). ARM's own checks live here — the scope exists, the role
//! definition and principal exist, who may ask (Admin request types need
//! `Microsoft.Authorization/roleAssignments/write` at the scope, as for a plain role
//! assignment; Self request types act on the caller only) — then the one PIM request path
//! (`ops::pim::submit_checked`, the rules of `crate::pim`) runs over the Azure plane. An
//! activation is honoured by the RBAC check (`ops::arm::assignments_in_force`) from its start
//! to its end, sweep or no sweep.

use crate::azure_rbac::{ancestors, normalise_scope};
use crate::error::{ArmError, Code, DirectoryError};
use crate::model::ObjectKind;
use crate::ops::arm::{management_chain, require, role_guid, scope_exists, ArmCaller, RoleCatalog};
use crate::ops::pim::{self as ops_pim, Checked, NewRequest, PimError, Requestor, Settings};
use crate::ops::Env;
use crate::pim::{Action, Expiration, Level, Plane, RolePolicy, RoleSchedule, RoleScheduleRequest};
use crate::store::Store;
use crate::ObjectId;

/// The ARM collection name of a level's requests, schedules or instances.
pub fn kind_name(level: Level, what: &str) -> String {
    match level {
        Level::Eligibility => format!("roleEligibility{what}"),
        Level::Assignment => format!("roleAssignment{what}"),
    }
}

/// A schedule request as parsed from ARM's body.
#[derive(Clone, Debug)]
pub struct ArmRequest {
    /// `properties.requestType`.
    pub action: Action,
    /// `properties.principalId`.
    pub principal_id: String,
    /// `properties.roleDefinitionId` (an ARM id or a bare GUID).
    pub role_definition_id: String,
    /// `properties.justification`.
    pub justification: Option<String>,
    /// `properties.ticketInfo.ticketNumber`.
    pub ticket_number: Option<String>,
    /// `properties.ticketInfo.ticketSystem`.
    pub ticket_system: Option<String>,
    /// `properties.scheduleInfo.startDateTime`.
    pub start: Option<crate::Timestamp>,
    /// `properties.scheduleInfo.expiration`.
    pub expiration: Expiration,
    /// `properties.linkedRoleEligibilityScheduleId` (assignment requests).
    pub linked_eligibility: Option<String>,
}

/// The GUID at the end of an ARM id (or a bare GUID).
fn last_guid(id: &str) -> Option<uuid::Uuid> {
    role_guid(id)
}

/// The stored form of a scope: as given, without a trailing `/` (root stays `/`).
fn stored_scope(scope: &str) -> String {
    if normalise_scope(scope) == "/" {
        "/".into()
    } else {
        scope.trim_end_matches('/').to_string()
    }
}

/// Maps the shared path's refusals to ARM's codes.
fn arm_err(e: PimError) -> ArmError {
    match e {
        PimError::Rule(f) => Code::ArmPimPolicyValidationFailed.arm(&[
            (
                "rules",
                &f.rules
                    .iter()
                    .map(|r| format!("\"{r}\""))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("detail", &f.detail),
        ]),
        PimError::StepUp { acrs, rule } => {
            Code::ArmPimAcrsValidationFailed.arm(&[("rule", &rule), ("acrs", &acrs)])
        }
        PimError::Exists(d) => Code::ArmPimScheduleExists.arm(&[("detail", &d)]),
        PimError::Missing(d) => Code::ArmPimScheduleMissing.arm(&[("detail", &d)]),
        PimError::Unlicensed(d) => Code::ArmPimUnlicensed.arm(&[("detail", &d)]),
        PimError::Directory(DirectoryError::Unavailable(m)) => {
            Code::ArmServiceUnavailable.arm(&[("m", &m)])
        }
        PimError::Directory(DirectoryError::NotFound(m)) => Code::ArmNotFound.arm(&[("m", &m)]),
        PimError::Directory(DirectoryError::Conflict(m)) => {
            Code::ArmConflict.arm(&[("message", &m)])
        }
        PimError::Directory(d) => d.into(),
    }
}

/// Submits a schedule request at `scope` under the PUT's `name`. Admin request types need
/// `Microsoft.Authorization/roleAssignments/write` at the scope; Self request types must name
/// the caller as principal. Every refusal changes nothing.
#[allow(clippy::too_many_arguments)]
pub async fn submit(
    env: &mut Env<'_>,
    c: &ArmCaller,
    who: &Requestor,
    level: Level,
    scope: &str,
    name: &str,
    req: ArmRequest,
    settings: Settings,
) -> Result<RoleScheduleRequest, ArmError> {
    submit_or_validate(env, c, who, level, scope, name, req, settings, false).await
}

/// `POST …/{name}/validate`: every check of [`submit`], nothing written.
#[allow(clippy::too_many_arguments)]
pub async fn validate(
    env: &mut Env<'_>,
    c: &ArmCaller,
    who: &Requestor,
    level: Level,
    scope: &str,
    name: &str,
    req: ArmRequest,
    settings: Settings,
) -> Result<RoleScheduleRequest, ArmError> {
    submit_or_validate(env, c, who, level, scope, name, req, settings, true).await
}

#[allow(clippy::too_many_arguments)]
async fn submit_or_validate(
    env: &mut Env<'_>,
    c: &ArmCaller,
    who: &Requestor,
    level: Level,
    scope: &str,
    name: &str,
    req: ArmRequest,
    settings: Settings,
    validate_only: bool,
) -> Result<RoleScheduleRequest, ArmError> {
    let tenant = c.tenant.clone();
    let id = uuid::Uuid::parse_str(name)
        .map(ObjectId::from_uuid)
        .map_err(|_| Code::ArmPimInvalidRequestName.arm(&[("name", &name)]))?;
    scope_exists(env.store, tenant.id, scope).await?;
    let role = role_guid(&req.role_definition_id).ok_or_else(|| {
        Code::ArmInvalidRoleDefinitionId.arm(&[("role_definition_id", &req.role_definition_id)])
    })?;
    let catalog = RoleCatalog::load(env.store, tenant.id).await?;
    let definition = catalog
        .get(role)
        .ok_or_else(|| Code::ArmRoleDefinitionDoesNotExist2.arm(&[("role_id", &role)]))?;
    let role_display = definition.name.clone();
    // A custom role is eligible or assigned only within its assignable scopes, as for a plain
    // role assignment.
    if !definition.assignable_scopes.is_empty() {
        let chain = ancestors(scope, &management_chain(env.store, scope).await?);
        if !definition
            .assignable_scopes
            .iter()
            .any(|a| chain.contains(&normalise_scope(a)))
        {
            return Err(Code::ArmInvalidRoleAssignmentScope.arm(&[
                ("name", &definition.name),
                ("scope", &scope),
                ("value", &definition.assignable_scopes.join(", ")),
            ]));
        }
    }
    let principal = ObjectId::parse(&req.principal_id)
        .ok_or_else(|| Code::ArmInvalidPrincipalId2.arm(&[("principal_id", &req.principal_id)]))?;
    match env.store.object_kind(tenant.id, principal).await? {
        Some(ObjectKind::User | ObjectKind::Group | ObjectKind::ServicePrincipal) => {}
        _ => {
            return Err(Code::ArmPrincipalNotFound
                .arm(&[("principal_id", &req.principal_id), ("id", &tenant.id)]))
        }
    }
    if req.action.is_admin() {
        require(
            env.store,
            c,
            "Microsoft.Authorization/roleAssignments/write",
            scope,
        )
        .await?;
    } else if principal != c.principal {
        return Err(Code::ArmPimSelfActionForOther.arm(&[
            ("name", &c.name),
            ("principal", &c.principal),
            ("action", &req.action.as_str()),
            ("target", &principal),
        ]));
    }
    if ops_pim::requests_in(env.store, tenant.id, Plane::Azure)
        .await?
        .iter()
        .any(|r| r.id == id)
    {
        return Err(Code::ArmPimRequestExists.arm(&[("name", &name)]));
    }
    for (field, v, max) in [
        ("justification", &req.justification, 500usize),
        ("ticketInfo.ticketNumber", &req.ticket_number, 100),
        ("ticketInfo.ticketSystem", &req.ticket_system, 100),
    ] {
        if v.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(Code::ArmBadRequest.arm(&[(
                "message",
                &format!("properties.{field} is longer than {max} characters."),
            )]));
        }
    }
    let scope = stored_scope(scope);
    if let Some(linked) = &req.linked_eligibility {
        let schedules = ops_pim::schedules_in(env.store, tenant.id, Plane::Azure).await?;
        let ok = last_guid(linked).is_some_and(|g| {
            schedules.iter().any(|s| {
                s.id.uuid() == g
                    && s.level == Level::Eligibility
                    && s.same_grant(principal, role, &scope)
                    && s.current_at(env.now)
            })
        });
        if !ok {
            return Err(Code::ArmPimLinkedEligibilityMismatch.arm(&[
                ("id", linked),
                ("principal", &principal),
                ("role", &role),
                ("scope", &scope),
            ]));
        }
    }
    let policy = ops_pim::azure_policy_for(env.store, tenant.id, role, &scope).await?;
    ops_pim::submit_checked(
        env,
        &tenant,
        who,
        Checked {
            plane: Plane::Azure,
            id,
            principal,
            role,
            role_display,
            policy,
        },
        NewRequest {
            level,
            action: req.action,
            principal_id: req.principal_id,
            role_definition_id: role.to_string(),
            directory_scope_id: scope,
            justification: req.justification,
            ticket_number: req.ticket_number,
            ticket_system: req.ticket_system,
            is_validation_only: validate_only,
            start: req.start,
            expiration: req.expiration,
        },
        settings,
    )
    .await
    .map_err(arm_err)
}

/// Which items a PIM list returns (`$filter`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PimFilter {
    /// `asTarget()`: the caller's own (or its groups').
    pub as_target: bool,
    /// `asRequestor()`: the ones the caller asked for (requests only).
    pub as_requestor: bool,
    /// `atScope()`: at and above the scope only (otherwise below it too).
    pub at_scope: bool,
    /// `principalId eq '…'`.
    pub principal: Option<ObjectId>,
}

/// Whether `item_scope` is at, above or (unless `at_scope`) below `scope`.
fn in_view(item_scope: &str, scope: &str, chain: &[String], at_scope: bool) -> bool {
    let x = normalise_scope(item_scope);
    let s = normalise_scope(scope);
    let below = if s == "/" {
        "/".to_string()
    } else {
        format!("{s}/")
    };
    chain.contains(&x) || (!at_scope && x.starts_with(&below) && x != s)
}

/// Reading someone else's items needs `Microsoft.Authorization/{kind}/read` at the scope;
/// `asTarget()` and `asRequestor()` (the caller's own) need nothing.
async fn may_list(
    store: &dyn Store,
    c: &ArmCaller,
    kind: &str,
    scope: &str,
    f: &PimFilter,
) -> Result<(), ArmError> {
    scope_exists(store, c.tenant.id, scope).await?;
    if f.as_target || f.as_requestor {
        return Ok(());
    }
    require(
        store,
        c,
        &format!("Microsoft.Authorization/{kind}/read"),
        scope,
    )
    .await
}

/// Lists a level's schedule requests at a scope.
pub async fn list_requests(
    store: &dyn Store,
    c: &ArmCaller,
    level: Level,
    scope: &str,
    f: &PimFilter,
) -> Result<Vec<RoleScheduleRequest>, ArmError> {
    may_list(store, c, &kind_name(level, "ScheduleRequests"), scope, f).await?;
    let chain = ancestors(scope, &management_chain(store, scope).await?);
    Ok(ops_pim::requests_in(store, c.tenant.id, Plane::Azure)
        .await?
        .into_iter()
        .filter(|r| r.level == level)
        .filter(|r| in_view(&r.directory_scope_id, scope, &chain, f.at_scope))
        .filter(|r| !f.as_target || c.principals.contains(&r.principal_id))
        .filter(|r| !f.as_requestor || r.created_by == c.principal)
        .filter(|r| f.principal.is_none_or(|p| r.principal_id == p))
        .collect())
}

/// One schedule request by scope and name: its principal and requestor may read it; anyone
/// else needs `{kind}/read` at the scope.
pub async fn get_request(
    store: &dyn Store,
    c: &ArmCaller,
    level: Level,
    scope: &str,
    name: &str,
) -> Result<RoleScheduleRequest, ArmError> {
    let kind = kind_name(level, "ScheduleRequest");
    let missing =
        || Code::ArmPimRequestNotFound.arm(&[("kind", &kind), ("name", &name), ("scope", &scope)]);
    let id = uuid::Uuid::parse_str(name).map_err(|_| missing())?;
    let r = ops_pim::requests_in(store, c.tenant.id, Plane::Azure)
        .await?
        .into_iter()
        .find(|r| {
            r.id.uuid() == id
                && r.level == level
                && crate::pim::same_scope(&r.directory_scope_id, scope)
        })
        .ok_or_else(missing)?;
    if r.principal_id != c.principal && r.created_by != c.principal {
        require(
            store,
            c,
            &format!("Microsoft.Authorization/{kind}s/read"),
            scope,
        )
        .await?;
    }
    Ok(r)
}

/// Cancels a request that has not taken effect (pending approval, or granted for a future
/// start): its requestor, or whoever holds `roleAssignments/write` at the scope.
pub async fn cancel(
    env: &mut Env<'_>,
    c: &ArmCaller,
    level: Level,
    scope: &str,
    name: &str,
) -> Result<RoleScheduleRequest, ArmError> {
    let r = get_request(env.store, c, level, scope, name).await?;
    let admin = require(
        env.store,
        c,
        "Microsoft.Authorization/roleAssignments/write",
        scope,
    )
    .await
    .is_ok();
    if r.created_by != c.principal && !admin {
        return Err(crate::ops::arm::authorization_failed(
            c,
            "Microsoft.Authorization/roleAssignmentScheduleRequests/cancel/action",
            scope,
            "only the requestor or someone holding Microsoft.Authorization/roleAssignments/write at the scope may cancel a request",
        ));
    }
    let tenant = c.tenant.clone();
    ops_pim::cancel_in(
        env,
        &tenant,
        Plane::Azure,
        level,
        &r.id.to_string(),
        c.principal,
        admin,
    )
    .await
    .map_err(arm_err)
}

/// Lists a level's schedules (`instances`: only those in force now, as instances) at a scope.
pub async fn list_schedules(
    store: &dyn Store,
    c: &ArmCaller,
    level: Level,
    instances: bool,
    scope: &str,
    f: &PimFilter,
) -> Result<Vec<RoleSchedule>, ArmError> {
    let kind = kind_name(
        level,
        if instances {
            "ScheduleInstances"
        } else {
            "Schedules"
        },
    );
    may_list(store, c, &kind, scope, f).await?;
    let chain = ancestors(scope, &management_chain(store, scope).await?);
    let now = c.now;
    Ok(ops_pim::schedules_in(store, c.tenant.id, Plane::Azure)
        .await?
        .into_iter()
        .filter(|s| s.level == level)
        .filter(|s| {
            if instances {
                s.active_at(now)
            } else {
                s.current_at(now)
            }
        })
        .filter(|s| in_view(&s.directory_scope_id, scope, &chain, f.at_scope))
        .filter(|s| !f.as_target || c.principals.contains(&s.principal_id))
        .filter(|s| f.principal.is_none_or(|p| s.principal_id == p))
        .collect())
}

/// One schedule (or instance) by scope and name.
pub async fn get_schedule(
    store: &dyn Store,
    c: &ArmCaller,
    level: Level,
    instances: bool,
    scope: &str,
    name: &str,
) -> Result<RoleSchedule, ArmError> {
    let kind = kind_name(
        level,
        if instances {
            "ScheduleInstance"
        } else {
            "Schedule"
        },
    );
    let missing =
        || Code::ArmPimScheduleNotFound.arm(&[("kind", &kind), ("name", &name), ("scope", &scope)]);
    let id = uuid::Uuid::parse_str(name).map_err(|_| missing())?;
    let now = c.now;
    let s = ops_pim::schedules_in(store, c.tenant.id, Plane::Azure)
        .await?
        .into_iter()
        .find(|s| {
            s.id.uuid() == id
                && s.level == level
                && crate::pim::same_scope(&s.directory_scope_id, scope)
                && if instances {
                    s.active_at(now)
                } else {
                    s.current_at(now)
                }
        })
        .ok_or_else(missing)?;
    if !c.principals.contains(&s.principal_id) {
        require(
            store,
            c,
            &format!("Microsoft.Authorization/{kind}s/read"),
            scope,
        )
        .await?;
    }
    Ok(s)
}

/// Every role's policy at a scope (the changed ones, Azure's defaults for the rest), optionally
/// only one role's. Reading needs `roleManagementPolicies/read` at the scope.
pub async fn list_policies(
    store: &dyn Store,
    c: &ArmCaller,
    scope: &str,
    role: Option<uuid::Uuid>,
) -> Result<Vec<RolePolicy>, ArmError> {
    scope_exists(store, c.tenant.id, scope).await?;
    require(
        store,
        c,
        "Microsoft.Authorization/roleManagementPolicies/read",
        scope,
    )
    .await?;
    let scope = stored_scope(scope);
    let changed = store.arm_role_policies(c.tenant.id).await?;
    let catalog = RoleCatalog::load(store, c.tenant.id).await?;
    Ok(catalog
        .all()
        .map(|(r, _)| r.id)
        .filter(|id| role.is_none_or(|x| x == *id))
        .map(|id| {
            changed
                .iter()
                .find(|p| p.role_definition_id == id && crate::pim::same_scope(&p.scope_id, &scope))
                .cloned()
                .unwrap_or_else(|| RolePolicy::azure_default_for(c.tenant.id, id, &scope))
        })
        .collect())
}

/// A policy at a scope by its ARM name (`roleManagementPolicies/{name}`) or its assignment's
/// name (`{policy}_{role}`).
pub async fn find_policy(
    store: &dyn Store,
    c: &ArmCaller,
    scope: &str,
    name: &str,
    assignment: bool,
) -> Result<RolePolicy, ArmError> {
    let kind = if assignment {
        "roleManagementPolicyAssignment"
    } else {
        "roleManagementPolicy"
    };
    let policy_name = if assignment {
        name.split('_').next().unwrap_or("")
    } else {
        name
    };
    let all = list_policies(store, c, scope, None).await?;
    all.into_iter()
        .find(|p| {
            p.azure_name().to_string().eq_ignore_ascii_case(policy_name)
                && (!assignment
                    || name
                        .split('_')
                        .nth(1)
                        .is_some_and(|r| r.eq_ignore_ascii_case(&p.role_definition_id.to_string())))
        })
        .ok_or_else(|| {
            Code::ArmPimPolicyNotFound.arm(&[("kind", &kind), ("name", &name), ("scope", &scope)])
        })
}

/// Stores a policy whose rules the caller changed (already applied to `policy` by wire),
/// audited. Needs `roleManagementPolicies/write` at the scope.
pub async fn put_policy(
    env: &mut Env<'_>,
    c: &ArmCaller,
    scope: &str,
    policy: RolePolicy,
    changed_rules: &str,
) -> Result<RolePolicy, ArmError> {
    require(
        env.store,
        c,
        "Microsoft.Authorization/roleManagementPolicies/write",
        scope,
    )
    .await?;
    let tenant = c.tenant.clone();
    ops_pim::put_policy(env, &tenant, policy, changed_rules, c.principal)
        .await
        .map_err(arm_err)
}

/// An approval by id: its requestor, its principal and its approvers may read it.
pub async fn get_approval(
    store: &dyn Store,
    c: &ArmCaller,
    id: &str,
) -> Result<RoleScheduleRequest, ArmError> {
    let r = ops_pim::approval_in(store, c.tenant.id, Plane::Azure, id)
        .await?
        .ok_or_else(|| Code::ArmPimApprovalNotFound.arm(&[("id", &id)]))?;
    let approver = r
        .approval
        .iter()
        .any(|st| st.approvers.iter().any(|a| c.principals.contains(a)));
    if r.created_by != c.principal && r.principal_id != c.principal && !approver {
        return Err(Code::ArmPimReviewForbidden.arm(&[
            ("name", &c.name),
            ("principal", &c.principal),
            ("id", &id),
            (
                "why",
                &"the caller is neither its requestor nor an approver.",
            ),
        ]));
    }
    Ok(r)
}

/// Answers an approval stage (`Approve` carries out the activation, its clock starting now;
/// `Deny` ends the request), audited with the approver's justification.
pub async fn review(
    env: &mut Env<'_>,
    c: &ArmCaller,
    id: &str,
    stage: &str,
    result: &str,
    justification: Option<String>,
) -> Result<RoleScheduleRequest, ArmError> {
    let tenant = c.tenant.clone();
    ops_pim::review_in(
        env,
        &tenant,
        Plane::Azure,
        id,
        stage,
        c.principal,
        result,
        justification,
    )
    .await
    .map_err(|e| match e {
        PimError::Directory(DirectoryError::NotFound(_)) => {
            Code::ArmPimApprovalNotFound.arm(&[("id", &id)])
        }
        PimError::Directory(DirectoryError::Forbidden(m)) => Code::ArmPimReviewForbidden.arm(&[
            ("name", &c.name),
            ("principal", &c.principal),
            ("id", &id),
            ("why", &m),
        ]),
        other => arm_err(other),
    })
}

#[cfg(test)]
mod tests;
