//! Privileged Identity Management use cases: schedule requests (admin and self actions),
//! cancel, approval reviews, role management policies and their rule changes, and the sweep
//! that records expiries and times out unanswered approvals. Decisions are `crate::pim`'s.
//! The request path after each plane's own validation ([`submit_checked`]), cancel and the
//! sweep serve both planes (directory roles here, Azure roles through `ops::arm_pim`).

use crate::error::DirectoryError;
use crate::model::Tenant;
use crate::ops::{modified, target, Env};
use crate::pim::{
    self, Action, ApprovalStep, AssignmentType, Expiration, Level, Outcome, Plane, Refusal,
    RolePolicy, RoleSchedule, RoleScheduleRequest, RuleFailure,
};
use crate::store::{Change, ChangeSet, Store, StoreError};
use crate::{ObjectId, TenantId, Timestamp};

/// Deployment settings.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The shortest schedule allowed: Entra's five minutes; lower only in development.
    pub min_duration_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            min_duration_secs: pim::MIN_DURATION_SECS,
        }
    }
}

/// What refused a PIM operation.
#[derive(Debug)]
pub enum PimError {
    /// A directory failure (bad ids, not found, forbidden, store).
    Directory(DirectoryError),
    /// A policy rule failed.
    Rule(RuleFailure),
    /// The caller must step up: a claims challenge for `acrs`.
    StepUp {
        /// The authentication context value to ask for.
        acrs: String,
        /// The rule that asked.
        rule: &'static str,
    },
    /// The schedule exists already.
    Exists(String),
    /// Nothing to act on.
    Missing(String),
    /// The tenant's licences do not cover PIM (the message names the SKU).
    Unlicensed(String),
}

impl From<DirectoryError> for PimError {
    fn from(e: DirectoryError) -> Self {
        Self::Directory(e)
    }
}

impl From<StoreError> for PimError {
    fn from(e: StoreError) -> Self {
        Self::Directory(e.into())
    }
}

fn bad(m: impl Into<String>) -> PimError {
    PimError::Directory(DirectoryError::BadRequest(m.into()))
}

/// A request as parsed from Graph.
#[derive(Clone, Debug)]
pub struct NewRequest {
    /// Eligibility or assignment.
    pub level: Level,
    /// `action`.
    pub action: Action,
    /// `principalId`.
    pub principal_id: String,
    /// `roleDefinitionId`.
    pub role_definition_id: String,
    /// `directoryScopeId`.
    pub directory_scope_id: String,
    /// `justification`.
    pub justification: Option<String>,
    /// `ticketInfo.ticketNumber`.
    pub ticket_number: Option<String>,
    /// `ticketInfo.ticketSystem`.
    pub ticket_system: Option<String>,
    /// `isValidationOnly`.
    pub is_validation_only: bool,
    /// `scheduleInfo.startDateTime`.
    pub start: Option<Timestamp>,
    /// `scheduleInfo.expiration`.
    pub expiration: Expiration,
}

/// Who asks, and how they signed in.
#[derive(Clone, Debug)]
pub struct Requestor {
    /// Object id.
    pub id: ObjectId,
    /// `amr` carries `mfa`.
    pub mfa: bool,
    /// `acrs` of the token.
    pub acrs: Vec<String>,
}

/// A plane's schedules.
pub async fn schedules_in(
    store: &dyn Store,
    tenant: TenantId,
    plane: Plane,
) -> Result<Vec<RoleSchedule>, StoreError> {
    match plane {
        Plane::Directory => store.role_schedules(tenant).await,
        Plane::Azure => store.arm_role_schedules(tenant).await,
        Plane::Group => store.group_role_schedules(tenant).await,
    }
}

/// A plane's schedule requests.
pub async fn requests_in(
    store: &dyn Store,
    tenant: TenantId,
    plane: Plane,
) -> Result<Vec<RoleScheduleRequest>, StoreError> {
    match plane {
        Plane::Directory => store.role_schedule_requests(tenant).await,
        Plane::Azure => store.arm_role_schedule_requests(tenant).await,
        Plane::Group => store.group_role_schedule_requests(tenant).await,
    }
}

/// The policy governing an Azure role at an ARM scope: the tenant's changed one, or Azure's
/// defaults.
pub async fn azure_policy_for(
    store: &dyn Store,
    tenant: TenantId,
    role: uuid::Uuid,
    scope: &str,
) -> Result<RolePolicy, StoreError> {
    Ok(store
        .arm_role_policies(tenant)
        .await?
        .into_iter()
        .find(|p| p.role_definition_id == role && pim::same_scope(&p.scope_id, scope))
        .unwrap_or_else(|| RolePolicy::azure_default_for(tenant, role, scope)))
}

/// A role's display name in its plane (built-in roles; `None` for unknown or custom ones).
pub fn display_name(plane: Plane, id: uuid::Uuid) -> Option<String> {
    match plane {
        Plane::Directory => role_name(id),
        Plane::Azure => crate::azure_rbac::built_in_by_id(id).map(|r| r.name.clone()),
        Plane::Group => pim::access_id(id).map(str::to_string),
    }
}

/// The policy governing a role: the tenant's changed one, or Entra's defaults.
pub async fn policy_for(
    store: &dyn Store,
    tenant: TenantId,
    role: uuid::Uuid,
) -> Result<RolePolicy, StoreError> {
    Ok(store
        .role_policies(tenant)
        .await?
        .into_iter()
        .find(|p| p.role_definition_id == role)
        .unwrap_or_else(|| RolePolicy::default_for(tenant, role)))
}

/// Every role's policy (built-in roles and the tenant's custom roles).
pub async fn policies(store: &dyn Store, tenant: TenantId) -> Result<Vec<RolePolicy>, StoreError> {
    let changed = store.role_policies(tenant).await?;
    let mut roles: Vec<uuid::Uuid> = crate::directory_roles::built_in_roles()
        .iter()
        .map(|r| r.template_id)
        .collect();
    roles.extend(
        store
            .custom_roles(tenant)
            .await?
            .into_iter()
            .map(|r| r.id.uuid()),
    );
    Ok(roles
        .into_iter()
        .map(|r| {
            changed
                .iter()
                .find(|p| p.role_definition_id == r)
                .cloned()
                .unwrap_or_else(|| RolePolicy::default_for(tenant, r))
        })
        .collect())
}

/// Replaces a role's policy (a rule PATCHed by an administrator), audited.
pub async fn put_policy(
    env: &mut Env<'_>,
    tenant: &Tenant,
    mut policy: RolePolicy,
    changed_rule: &str,
    by: ObjectId,
) -> Result<RolePolicy, PimError> {
    if policy.activation_max_secs < pim::MIN_DURATION_SECS || policy.activation_max_secs > 24 * 3600
    {
        return Err(bad("Expiration_EndUser_Assignment.maximumDuration must be between PT5M and PT24H (Entra's bounds for activations)."));
    }
    if policy.approval_required && policy.approvers.is_empty() {
        return Err(bad("Approval_EndUser_Assignment requires approvers: add at least one singleUser or groupMembers to approvalStages[0].primaryApprovers."));
    }
    policy.modified = Some(env.now);
    policy.modified_by = Some(by);
    let audit = env.audit(
        tenant,
        "RoleManagement",
        "Update role setting in PIM",
        "Update",
        vec![target(
            policy.role_definition_id,
            "Role",
            display_name(policy.plane, policy.role_definition_id).as_deref(),
            None,
            vec![
                modified("RuleId", None, Some(changed_rule.into())),
                modified("Scope", None, Some(policy.scope_id.clone())),
            ],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::PutRolePolicy(policy.clone())).audit(audit);
    env.store.commit(set).await?;
    Ok(policy)
}

fn role_name(id: uuid::Uuid) -> Option<String> {
    crate::directory_roles::role(id).map(|r| r.display_name.clone())
}

fn when(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.secs().to_string())
}

fn props(
    role: &str,
    justification: Option<&str>,
    start: Timestamp,
    end: Option<Timestamp>,
) -> Vec<crate::audit::ModifiedProperty> {
    vec![
        modified("Role.DisplayName", None, Some(role.into())),
        modified("Justification", None, justification.map(str::to_string)),
        modified("StartDateTime", None, when(Some(start))),
        modified(
            "EndDateTime",
            None,
            Some(when(end).unwrap_or_else(|| "permanent".into())),
        ),
    ]
}

/// An Azure role's audit record also names the ARM scope; a group's, the group.
fn scoped(
    plane: Plane,
    scope: &str,
    mut v: Vec<crate::audit::ModifiedProperty>,
) -> Vec<crate::audit::ModifiedProperty> {
    match plane {
        Plane::Azure => v.push(modified("Scope", None, Some(scope.to_string()))),
        Plane::Group => v.push(modified("Group.ObjectID", None, Some(scope.to_string()))),
        Plane::Directory => {}
    }
    v
}

/// The audit activity of a carried-out request.
fn activity(level: Level, action: Action, end: Option<Timestamp>) -> String {
    let span = if end.is_some() {
        "timebound"
    } else {
        "permanent"
    };
    match (level, action) {
        (Level::Eligibility, Action::AdminAssign) => {
            format!("Add eligible member to role in PIM completed ({span})")
        }
        (Level::Assignment, Action::AdminAssign) => {
            format!("Add member to role in PIM completed ({span})")
        }
        (Level::Eligibility, Action::AdminRemove) => {
            "Remove eligible member from role in PIM completed".into()
        }
        (Level::Assignment, Action::AdminRemove) => {
            "Remove member from role in PIM completed".into()
        }
        (_, Action::SelfActivate) => "Add member to role completed (PIM activation)".into(),
        (_, Action::SelfDeactivate) => "Remove member from role completed (PIM deactivate)".into(),
        (_, Action::SelfExtend | Action::SelfRenew) => {
            "Update member in role completed (PIM activation extended)".into()
        }
        (Level::Eligibility, _) => "Update eligible member in role in PIM completed".into(),
        (Level::Assignment, _) => "Update member in role in PIM completed".into(),
    }
}

/// Submits a schedule request. Administrator actions need the directory authorisation the
/// caller checked (`Op::PimAdmin`); self actions must name the caller as principal.
pub async fn submit(
    env: &mut Env<'_>,
    tenant: &Tenant,
    who: &Requestor,
    req: NewRequest,
    settings: Settings,
) -> Result<RoleScheduleRequest, PimError> {
    let (principal, role, role_display) = crate::ops::directory_roles::check_grant(
        env,
        tenant,
        &req.principal_id,
        &req.role_definition_id,
        &req.directory_scope_id,
    )
    .await?;
    if !req.action.is_admin() && principal != who.id {
        return Err(PimError::Directory(DirectoryError::Forbidden(format!(
            "action '{}' acts on the signed-in user only: principalId must be the caller's id ({}).",
            req.action.as_str(),
            who.id
        ))));
    }
    sizes(&req)?;
    let policy = policy_for(env.store, tenant.id, role).await?;
    let id = env.new_id();
    submit_checked(
        env,
        tenant,
        who,
        Checked {
            plane: Plane::Directory,
            id,
            principal,
            role,
            role_display,
            policy,
        },
        req,
        settings,
    )
    .await
}

/// The licence gate every PIM request passes, whichever plane and entry point (Graph
/// directory roles, PIM for groups, ARM): P2 or Entra ID Governance; the refusal names the SKU.
pub fn gate(tenant: &Tenant) -> Result<&'static str, PimError> {
    crate::licenses::gate(crate::licenses::Feature::Pim, tenant.license)
        .map_err(PimError::Unlicensed)
}

/// The policy governing PIM for groups for `access` (member or owner) of `group`: the
/// tenant's changed one, or Entra's defaults.
pub async fn group_policy_for(
    store: &dyn Store,
    tenant: TenantId,
    group: ObjectId,
    access: uuid::Uuid,
) -> Result<RolePolicy, StoreError> {
    let scope = group.to_string();
    Ok(store
        .group_role_policies(tenant)
        .await?
        .into_iter()
        .find(|p| p.role_definition_id == access && pim::same_scope(&p.scope_id, &scope))
        .unwrap_or_else(|| RolePolicy::group_default_for(tenant, group, access)))
}

/// The length bounds of a request's free text.
pub fn sizes(req: &NewRequest) -> Result<(), PimError> {
    for (name, v, max) in [
        ("justification", &req.justification, 500usize),
        ("ticketInfo.ticketNumber", &req.ticket_number, 100),
        ("ticketInfo.ticketSystem", &req.ticket_system, 100),
    ] {
        if v.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(bad(format!("{name} is longer than {max} characters.")));
        }
    }
    Ok(())
}

/// What a plane's own validation established about a request before the shared path runs.
pub struct Checked {
    /// The plane.
    pub plane: Plane,
    /// The request's id (Graph: new; ARM: the PUT's name).
    pub id: ObjectId,
    /// The principal (exists in the tenant).
    pub principal: ObjectId,
    /// The role (exists in the plane).
    pub role: uuid::Uuid,
    /// Its display name (audit).
    pub role_display: String,
    /// The policy governing the role at the request's scope.
    pub policy: RolePolicy,
}

/// The shared request path of both planes, after the plane checked ids, authorisation and
/// sizes: the policy check over the plane's schedules, then (unless validation only) the
/// approval or the schedule change, committed with its audit record.
pub async fn submit_checked(
    env: &mut Env<'_>,
    tenant: &Tenant,
    who: &Requestor,
    checked: Checked,
    req: NewRequest,
    settings: Settings,
) -> Result<RoleScheduleRequest, PimError> {
    let Checked {
        plane,
        id,
        principal,
        role,
        role_display,
        policy,
    } = checked;
    gate(tenant)?;
    let schedules = schedules_in(env.store, tenant.id, plane).await?;
    let outcome = pim::check(&pim::RequestFacts {
        level: req.level,
        action: req.action,
        principal,
        role,
        scope: &req.directory_scope_id,
        justification: req.justification.as_deref(),
        ticket_number: req.ticket_number.as_deref(),
        start: req.start,
        expiration: req.expiration,
        caller_mfa: who.mfa,
        caller_acrs: &who.acrs,
        policy: &policy,
        schedules: &schedules,
        min_duration_secs: settings.min_duration_secs,
        now: env.now,
    })
    .map_err(|r| match r {
        Refusal::Rule(f) => PimError::Rule(f),
        Refusal::StepUp { acrs, rule } => PimError::StepUp { acrs, rule },
        Refusal::Bad(m) => bad(m),
        Refusal::Exists(m) => PimError::Exists(m),
        Refusal::Missing(m) => PimError::Missing(m),
    })?;
    let mut request = RoleScheduleRequest {
        id,
        tenant_id: tenant.id,
        plane,
        level: req.level,
        action: req.action,
        principal_id: principal,
        role_definition_id: role,
        directory_scope_id: req.directory_scope_id.clone(),
        justification: req.justification.clone(),
        ticket_number: req.ticket_number.clone(),
        ticket_system: req.ticket_system.clone(),
        start: req.start,
        expiration: req.expiration,
        status: "Granted".into(),
        target_schedule_id: None,
        created_by: who.id,
        created: env.now,
        completed: None,
        approval: vec![],
    };
    if req.is_validation_only {
        return Ok(request);
    }
    let needs_approval = matches!(
        req.action,
        Action::SelfActivate | Action::SelfExtend | Action::SelfRenew
    ) && policy.approval_required;
    let mut set = ChangeSet::new();
    if needs_approval {
        request.status = "PendingApproval".into();
        let step = env.new_id();
        request.approval = vec![ApprovalStep {
            id: step,
            approvers: policy.approvers.iter().map(|a| a.id).collect(),
            review_result: "NotReviewed".into(),
            reviewed_by: None,
            reviewed: None,
            justification: None,
        }];
        let audit = env.audit(
            tenant,
            "RoleManagement",
            "Add member to role request approval requested (PIM activation)",
            "Add",
            vec![target(
                principal,
                "User",
                None,
                None,
                props(
                    &role_display,
                    req.justification.as_deref(),
                    req.start.unwrap_or(env.now),
                    None,
                ),
            )],
        );
        set.push(Change::PutRoleScheduleRequest(request.clone()))
            .audit(audit);
        env.store.commit(set).await?;
        return Ok(request);
    }
    carry_out(
        env,
        tenant,
        &mut request,
        outcome,
        &schedules,
        &role_display,
        &mut set,
    )?;
    set.push(Change::PutRoleScheduleRequest(request.clone()));
    env.store.commit(set).await?;
    Ok(request)
}

/// Applies a passed request's outcome: the schedule change and its audit record, into `set`.
fn carry_out(
    env: &mut Env<'_>,
    tenant: &Tenant,
    request: &mut RoleScheduleRequest,
    outcome: Outcome,
    schedules: &[RoleSchedule],
    role_display: &str,
    set: &mut ChangeSet,
) -> Result<(), PimError> {
    let now = env.now;
    let (schedule, start, end) = match outcome {
        Outcome::Create { start, end } => {
            let eligibility_id = if request.action == Action::SelfActivate {
                schedules
                    .iter()
                    .find(|s| {
                        s.level == Level::Eligibility
                            && s.same_grant(
                                request.principal_id,
                                request.role_definition_id,
                                &request.directory_scope_id,
                            )
                            && s.active_at(start)
                    })
                    .map(|s| s.id)
            } else {
                None
            };
            let s = RoleSchedule {
                id: env.new_id(),
                tenant_id: tenant.id,
                plane: request.plane,
                level: request.level,
                principal_id: request.principal_id,
                role_definition_id: request.role_definition_id,
                directory_scope_id: request.directory_scope_id.clone(),
                start,
                end,
                assignment_type: if request.action == Action::SelfActivate {
                    AssignmentType::Activated
                } else {
                    AssignmentType::Assigned
                },
                created_using: request.id,
                eligibility_id,
                created: now,
                modified: now,
                end_recorded: false,
            };
            (s, start, end)
        }
        Outcome::Change {
            schedule,
            start,
            end,
        } => {
            let mut s = schedules
                .iter()
                .find(|s| s.id == schedule)
                .cloned()
                .ok_or_else(|| PimError::Missing("The schedule is gone.".into()))?;
            s.start = start;
            s.end = end;
            s.modified = now;
            (s, start, end)
        }
        Outcome::End { schedule } => {
            let mut s = schedules
                .iter()
                .find(|s| s.id == schedule)
                .cloned()
                .ok_or_else(|| PimError::Missing("The schedule is gone.".into()))?;
            // A schedule that had not started yet ends where it would have begun.
            s.end = Some(now.max(s.start));
            s.modified = now;
            s.end_recorded = true;
            let start = s.start;
            (s, start, Some(now))
        }
    };
    request.status = if start > now && !matches!(request.action, Action::AdminRemove) {
        "Granted".into()
    } else if matches!(request.action, Action::AdminRemove | Action::SelfDeactivate) {
        "Revoked".into()
    } else {
        "Provisioned".into()
    };
    request.target_schedule_id = Some(schedule.id);
    request.completed = Some(now);
    let audit = env.audit(
        tenant,
        "RoleManagement",
        &activity(request.level, request.action, end),
        match request.action {
            Action::AdminRemove | Action::SelfDeactivate => "Delete",
            Action::AdminAssign | Action::SelfActivate => "Add",
            _ => "Update",
        },
        vec![target(
            request.principal_id,
            "User",
            None,
            None,
            scoped(
                request.plane,
                &request.directory_scope_id,
                props(role_display, request.justification.as_deref(), start, end),
            ),
        )],
    );
    set.push(Change::PutRoleSchedule(schedule)).audit(audit);
    Ok(())
}

/// Cancels a request that has not taken effect: pending approval, or granted for a future
/// start (its schedule is withdrawn). The requestor or a PIM administrator may.
pub async fn cancel(
    env: &mut Env<'_>,
    tenant: &Tenant,
    level: Level,
    id: &str,
    caller: ObjectId,
    caller_is_admin: bool,
) -> Result<(), PimError> {
    cancel_in(
        env,
        tenant,
        Plane::Directory,
        level,
        id,
        caller,
        caller_is_admin,
    )
    .await
    .map(|_| ())
}

/// [`cancel`] in either plane; returns the canceled request.
pub async fn cancel_in(
    env: &mut Env<'_>,
    tenant: &Tenant,
    plane: Plane,
    level: Level,
    id: &str,
    caller: ObjectId,
    caller_is_admin: bool,
) -> Result<RoleScheduleRequest, PimError> {
    let missing = || {
        PimError::Directory(DirectoryError::NotFound(format!(
            "The schedule request '{id}' does not exist in this tenant."
        )))
    };
    let oid = ObjectId::parse(id).ok_or_else(missing)?;
    let mut r = requests_in(env.store, tenant.id, plane)
        .await?
        .into_iter()
        .find(|r| r.id == oid && r.level == level)
        .ok_or_else(missing)?;
    if r.created_by != caller && !caller_is_admin {
        return Err(PimError::Directory(DirectoryError::Forbidden(
            "Only the requestor or a Privileged Role Administrator may cancel this request.".into(),
        )));
    }
    let schedules = schedules_in(env.store, tenant.id, plane).await?;
    let future = r
        .target_schedule_id
        .and_then(|t| schedules.iter().find(|s| s.id == t))
        .filter(|s| s.start > env.now && r.status == "Granted")
        .cloned();
    if r.status != "PendingApproval" && future.is_none() {
        return Err(bad(format!(
            "Only requests pending approval or scheduled for a future start can be canceled; this one is '{}'.",
            r.status
        )));
    }
    r.status = "Canceled".into();
    r.completed = Some(env.now);
    let mut set = ChangeSet::new();
    if let Some(mut s) = future {
        s.end = Some(s.start);
        s.end_recorded = true;
        s.modified = env.now;
        set.push(Change::PutRoleSchedule(s));
    }
    let name = display_name(plane, r.role_definition_id).unwrap_or_default();
    let audit = env.audit(
        tenant,
        "RoleManagement",
        "Cancel request for role in PIM",
        "Update",
        vec![target(
            r.principal_id,
            "User",
            None,
            None,
            scoped(
                plane,
                &r.directory_scope_id,
                vec![
                    modified("Role.DisplayName", None, Some(name)),
                    modified("Justification", None, r.justification.clone()),
                ],
            ),
        )],
    );
    set.push(Change::PutRoleScheduleRequest(r.clone()))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(r)
}

/// Finds the request an approval id names (Castellan's approval id is the request's id).
pub async fn approval(
    store: &dyn Store,
    tenant: TenantId,
    id: &str,
) -> Result<Option<RoleScheduleRequest>, StoreError> {
    approval_in(store, tenant, Plane::Directory, id).await
}

/// [`approval`] in either plane.
pub async fn approval_in(
    store: &dyn Store,
    tenant: TenantId,
    plane: Plane,
    id: &str,
) -> Result<Option<RoleScheduleRequest>, StoreError> {
    let Some(oid) = ObjectId::parse(id) else {
        return Ok(None);
    };
    Ok(requests_in(store, tenant, plane)
        .await?
        .into_iter()
        .find(|r| r.id == oid && !r.approval.is_empty()))
}

/// Answers an approval step: `Approve` carries out the activation with its clock starting now,
/// `Deny` ends the request. Only a listed approver (or a direct member of a listed group), never
/// the requestor, and only while the request is pending.
pub async fn review(
    env: &mut Env<'_>,
    tenant: &Tenant,
    approval_id: &str,
    step_id: &str,
    reviewer: ObjectId,
    result: &str,
    justification: Option<String>,
) -> Result<RoleScheduleRequest, PimError> {
    review_in(
        env,
        tenant,
        Plane::Directory,
        approval_id,
        step_id,
        reviewer,
        result,
        justification,
    )
    .await
}

/// [`review`] in either plane.
#[allow(clippy::too_many_arguments)]
pub async fn review_in(
    env: &mut Env<'_>,
    tenant: &Tenant,
    plane: Plane,
    approval_id: &str,
    step_id: &str,
    reviewer: ObjectId,
    result: &str,
    justification: Option<String>,
) -> Result<RoleScheduleRequest, PimError> {
    let missing = || {
        PimError::Directory(DirectoryError::NotFound(format!(
            "The approval '{approval_id}' or its step '{step_id}' does not exist in this tenant."
        )))
    };
    let mut r = approval_in(env.store, tenant.id, plane, approval_id)
        .await?
        .ok_or_else(missing)?;
    let step_oid = ObjectId::parse(step_id).ok_or_else(missing)?;
    let idx = r
        .approval
        .iter()
        .position(|s| s.id == step_oid)
        .ok_or_else(missing)?;
    let groups: Vec<ObjectId> = env
        .store
        .memberships(tenant.id)
        .await?
        .into_iter()
        .filter(|m| m.member_id == reviewer)
        .map(|m| m.group_id)
        .collect();
    if reviewer == r.created_by || reviewer == r.principal_id {
        return Err(PimError::Directory(DirectoryError::Forbidden(
            "Requestors cannot approve their own requests; another approver must review it.".into(),
        )));
    }
    let allowed = r
        .approval
        .get(idx)
        .is_some_and(|st| pim::may_approve(st, r.created_by, reviewer, &groups));
    if !allowed {
        return Err(PimError::Directory(DirectoryError::Forbidden(
            "The caller is not an approver of this request (Approval_EndUser_Assignment's primaryApprovers, or a member of a listed group).".into(),
        )));
    }
    if pim::approval_timed_out(&r, env.now) {
        return Err(bad(
            "The approval has expired (unanswered for 24 hours); the requestor must ask again.",
        ));
    }
    if r.status != "PendingApproval" {
        return Err(bad(format!(
            "The request is no longer pending approval (status '{}').",
            r.status
        )));
    }
    let approve = match result {
        "Approve" => true,
        "Deny" => false,
        other => {
            return Err(bad(format!(
                "reviewResult '{other}' is not one of Approve, Deny."
            )))
        }
    };
    if justification.as_ref().is_none_or(|j| j.trim().is_empty()) {
        return Err(bad(
            "justification is required when reviewing an approval step.",
        ));
    }
    if let Some(step) = r.approval.get_mut(idx) {
        step.review_result = result.into();
        step.reviewed_by = Some(reviewer);
        step.reviewed = Some(env.now);
        step.justification = justification.clone();
    }
    let role_display = display_name(plane, r.role_definition_id).unwrap_or_default();
    let mut set = ChangeSet::new();
    if approve {
        // The activation's clock starts at approval.
        let schedules = schedules_in(env.store, tenant.id, plane).await?;
        let end = match r.expiration {
            Expiration::AfterDuration(d) => Some(env.now.plus_secs(d)),
            Expiration::AfterDateTime(t) => Some(t),
            Expiration::NoExpiration => None,
        };
        let outcome = match r.action {
            Action::SelfActivate => Outcome::Create {
                start: env.now,
                end,
            },
            _ => {
                let s = schedules
                    .iter()
                    .find(|s| {
                        s.level == Level::Assignment
                            && s.assignment_type == AssignmentType::Activated
                            && s.same_grant(
                                r.principal_id,
                                r.role_definition_id,
                                &r.directory_scope_id,
                            )
                            && s.current_at(env.now)
                    })
                    .ok_or_else(|| {
                        PimError::Missing("The activation to extend has ended.".into())
                    })?;
                Outcome::Change {
                    schedule: s.id,
                    start: s.start,
                    end,
                }
            }
        };
        let audit = env.audit(
            tenant,
            "RoleManagement",
            "Add member to role request approved (PIM activation)",
            "Update",
            vec![target(
                r.principal_id,
                "User",
                None,
                None,
                vec![
                    modified("Role.DisplayName", None, Some(role_display.clone())),
                    modified("Justification", None, justification.clone()),
                ],
            )],
        );
        set.audit(audit);
        carry_out(
            env,
            tenant,
            &mut r,
            outcome,
            &schedules,
            &role_display,
            &mut set,
        )?;
    } else {
        r.status = "Denied".into();
        r.completed = Some(env.now);
        let audit = env.audit(
            tenant,
            "RoleManagement",
            "Add member to role request denied (PIM activation)",
            "Update",
            vec![target(
                r.principal_id,
                "User",
                None,
                None,
                vec![
                    modified("Role.DisplayName", None, Some(role_display)),
                    modified("Justification", None, justification),
                ],
            )],
        );
        set.audit(audit);
    }
    set.push(Change::PutRoleScheduleRequest(r.clone()));
    env.store.commit(set).await?;
    Ok(r)
}

/// The sweep for one tenant: records (once) the end of every schedule that expired and times
/// out unanswered approvals. Whether a role is in force never waits for this: evaluation
/// filters by time. Returns how many records it wrote.
pub async fn sweep(env: &mut Env<'_>, tenant: &Tenant) -> Result<usize, PimError> {
    let mut n = 0;
    for plane in [Plane::Directory, Plane::Azure, Plane::Group] {
        n += sweep_in(env, tenant, plane).await?;
    }
    Ok(n)
}

async fn sweep_in(env: &mut Env<'_>, tenant: &Tenant, plane: Plane) -> Result<usize, PimError> {
    let schedules = schedules_in(env.store, tenant.id, plane).await?;
    let requests = requests_in(env.store, tenant.id, plane).await?;
    let mut set = ChangeSet::new();
    let mut n = 0;
    for s in pim::unrecorded_ends(&schedules, env.now) {
        let mut s = s.clone();
        s.end_recorded = true;
        let justification = requests
            .iter()
            .find(|r| r.id == s.created_using)
            .and_then(|r| r.justification.clone());
        let activity = match (s.level, s.assignment_type) {
            (Level::Eligibility, _) => {
                "Remove eligible member from role in PIM completed (expired)"
            }
            (_, AssignmentType::Activated) => "Remove member from role (PIM activation expired)",
            _ => "Remove member from role in PIM completed (expired)",
        };
        let name = display_name(plane, s.role_definition_id).unwrap_or_default();
        let audit = env.audit(
            tenant,
            "RoleManagement",
            activity,
            "Delete",
            vec![target(
                s.principal_id,
                "User",
                None,
                None,
                scoped(
                    plane,
                    &s.directory_scope_id,
                    props(&name, justification.as_deref(), s.start, s.end),
                ),
            )],
        );
        set.push(Change::PutRoleSchedule(s)).audit(audit);
        n += 1;
    }
    let now = env.now;
    for r in requests.iter().filter(|r| pim::approval_timed_out(r, now)) {
        let mut r = r.clone();
        r.status = "TimedOut".into();
        r.completed = Some(env.now);
        let name = display_name(plane, r.role_definition_id).unwrap_or_default();
        let audit = env.audit(
            tenant,
            "RoleManagement",
            "Add member to role request expired (PIM activation)",
            "Update",
            vec![target(
                r.principal_id,
                "User",
                None,
                None,
                vec![
                    modified("Role.DisplayName", None, Some(name)),
                    modified("Justification", None, r.justification.clone()),
                ],
            )],
        );
        set.push(Change::PutRoleScheduleRequest(r)).audit(audit);
        n += 1;
    }
    if n > 0 {
        env.store.commit(set).await?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
