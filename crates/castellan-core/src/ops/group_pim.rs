//! PIM for groups (Graph `identityGovernance/privilegedAccess/group`): eligible and
//! time-bound membership or ownership of a group. This plane's own checks live here — the
//! group exists and is not dynamic, `accessId` is `member` or `owner`, the principal is a
//! user of the tenant, self actions name the caller — then the one PIM request path
//! (`ops::pim::submit_checked`: licence gate, `crate::pim::check` over the group plane's
//! schedules and its per-group policy, approval, audit) runs. Who may act as an administrator
//! is `authz::Op::PimGroupAdmin` (decided by the caller with [`target`]). An active schedule
//! counts as the relation while in force (`ops::groups::memberships_at` / `owners_at`, read
//! by every membership view), sweep or no sweep.

use crate::authz::Target;
use crate::error::DirectoryError;
use crate::model::Tenant;
use crate::ops::pim::{self as ops_pim, Checked, NewRequest, PimError, Requestor, Settings};
use crate::ops::Env;
use crate::pim::{self, Plane, RolePolicy, RoleScheduleRequest};
use crate::store::{Store, StoreError};
use crate::{ObjectId, TenantId};

fn bad(m: impl Into<String>) -> PimError {
    PimError::Directory(DirectoryError::BadRequest(m.into()))
}

/// The group a request names, loaded: its id parsed, it exists in the tenant and is not a
/// dynamic group (Entra: PIM for groups does not govern rule-based membership).
pub async fn group_of(
    store: &dyn Store,
    tenant: TenantId,
    group_id: &str,
) -> Result<crate::model::Group, PimError> {
    let gid = ObjectId::parse(group_id).ok_or_else(|| {
        bad(format!(
            "groupId '{group_id}' is not a valid object id (a GUID)."
        ))
    })?;
    let g = store.group(tenant, gid).await?.ok_or_else(|| {
        PimError::Directory(DirectoryError::NotFound(format!(
            "The group '{group_id}' does not exist in this tenant."
        )))
    })?;
    if g.membership_rule.is_some() {
        return Err(bad(format!(
            "The group '{}' has dynamic membership; PIM for groups governs only assigned groups. Use a group whose members are assigned.",
            g.display_name
        )));
    }
    Ok(g)
}

/// What the authorisation decision knows about the group a request acts on: owned by the
/// caller (stored or active PIM ownership), role-assignable.
pub async fn target(
    store: &dyn Store,
    tenant: TenantId,
    group: ObjectId,
    caller: ObjectId,
    now: crate::Timestamp,
) -> Result<Target, StoreError> {
    crate::ops::authz::owned(store, tenant, group, caller, now).await
}

/// Submits a PIM-for-groups schedule request (`req.role_definition_id` is the accessId's
/// role, `req.directory_scope_id` the group id, as `wire::graph::group_pim` parses them).
/// Administrator actions need the authorisation the caller checked (`Op::PimGroupAdmin` on
/// [`target`]); self actions must name the caller as principal.
pub async fn submit(
    env: &mut Env<'_>,
    tenant: &Tenant,
    who: &Requestor,
    mut req: NewRequest,
    settings: Settings,
) -> Result<RoleScheduleRequest, PimError> {
    let group = group_of(env.store, tenant.id, &req.directory_scope_id).await?;
    let access = uuid::Uuid::parse_str(&req.role_definition_id)
        .ok()
        .filter(|r| pim::access_id(*r).is_some())
        .ok_or_else(|| bad("accessId must be member or owner."))?;
    let principal = ObjectId::parse(&req.principal_id).ok_or_else(|| {
        bad(format!(
            "principalId '{}' is not a valid object id (a GUID).",
            req.principal_id
        ))
    })?;
    if env.store.user(tenant.id, principal).await?.is_none() {
        return Err(PimError::Directory(DirectoryError::NotFound(format!(
            "principalId '{}' is not a user of this tenant (PIM for groups makes users eligible members or owners).",
            req.principal_id
        ))));
    }
    if !req.action.is_admin() && principal != who.id {
        return Err(PimError::Directory(DirectoryError::Forbidden(format!(
            "action '{}' acts on the signed-in user only: principalId must be the caller's id ({}).",
            req.action.as_str(),
            who.id
        ))));
    }
    ops_pim::sizes(&req)?;
    // One stored spelling of the scope: the group's id.
    req.directory_scope_id = group.id.to_string();
    let policy = ops_pim::group_policy_for(env.store, tenant.id, group.id, access).await?;
    let id = env.new_id();
    ops_pim::submit_checked(
        env,
        tenant,
        who,
        Checked {
            plane: Plane::Group,
            id,
            principal,
            role: access,
            role_display: format!(
                "{} of {}",
                pim::access_id(access).unwrap_or("member"),
                group.display_name
            ),
            policy,
        },
        req,
        settings,
    )
    .await
}

/// The two policies of a group (member, owner): the tenant's changed ones or Entra's defaults.
pub async fn policies_of(
    store: &dyn Store,
    tenant: TenantId,
    group: ObjectId,
) -> Result<Vec<RolePolicy>, StoreError> {
    let mut out = Vec::new();
    for access in [pim::GROUP_MEMBER, pim::GROUP_OWNER] {
        out.push(ops_pim::group_policy_for(store, tenant, group, access).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
