//! Loads what [`crate::authz::decide`] needs to know about a target object. Reads only.

use crate::authz::{Op, Target};
use crate::store::{Store, StoreError};
use crate::{ObjectId, TenantId};

/// A user as a target: their units, the directory roles they hold (any scope, direct or via a
/// role-assignable group) and whether they are a member or owner of a role-assignable group.
pub async fn user(
    store: &dyn Store,
    t: TenantId,
    user: ObjectId,
    now: crate::Timestamp,
) -> Result<Target, StoreError> {
    let user_roles = super::directory_roles::effective_roles(store, t, user, now)
        .await?
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let assignable: Vec<ObjectId> = store
        .groups(t)
        .await?
        .into_iter()
        .filter(|g| g.is_assignable_to_role)
        .map(|g| g.id)
        .collect();
    let mut in_role_assignable_group = false;
    if !assignable.is_empty() {
        in_role_assignable_group = super::groups::memberships_at(store, t, now)
            .await?
            .iter()
            .any(|m| m.member_id == user && assignable.contains(&m.group_id));
        for g in &assignable {
            if in_role_assignable_group {
                break;
            }
            in_role_assignable_group = super::groups::owners_at(store, t, *g, now)
                .await?
                .contains(&user);
        }
    }
    Ok(Target {
        units: store.aus_of(t, user).await?,
        user_roles,
        in_role_assignable_group,
        ..Target::default()
    })
}

/// An owned object (application, service principal, group) as a target of `caller` at `now`
/// (an active PIM-for-groups ownership counts).
pub async fn owned(
    store: &dyn Store,
    t: TenantId,
    object: ObjectId,
    caller: ObjectId,
    now: crate::Timestamp,
) -> Result<Target, StoreError> {
    let role_assignable_group = store
        .group(t, object)
        .await?
        .is_some_and(|g| g.is_assignable_to_role);
    Ok(Target {
        owned_by_caller: super::groups::owners_at(store, t, object, now)
            .await?
            .contains(&caller),
        units: store.aus_of(t, object).await?,
        role_assignable_group,
        ..Target::default()
    })
}

/// Whether a resource service principal is Microsoft Graph.
async fn is_graph(store: &dyn Store, t: TenantId, resource: ObjectId) -> Result<bool, StoreError> {
    Ok(store
        .service_principal(t, resource)
        .await?
        .is_some_and(|sp| sp.app_id == crate::ids::GRAPH_APP_ID))
}

/// An app-role assignment of `resource`'s role to `principal`: an application permission when
/// the principal is a service principal, otherwise the assignment of a user or group to the
/// app; owners of the resource service principal may assign users and groups.
pub async fn app_role_assignment(
    store: &dyn Store,
    t: TenantId,
    caller: ObjectId,
    principal: ObjectId,
    resource: ObjectId,
) -> Result<(Op, Target), StoreError> {
    let op = match store.object_kind(t, principal).await? {
        Some(crate::model::ObjectKind::ServicePrincipal) => Op::GrantApplicationPermission,
        _ => Op::AssignAppRoleToUserOrGroup,
    };
    Ok((
        op,
        Target {
            owned_by_caller: store.owners(t, resource).await?.contains(&caller),
            resource_is_graph: is_graph(store, t, resource).await?,
            ..Target::default()
        },
    ))
}

/// A delegated permission grant on `resource`, for every user or for one.
pub async fn consent_grant(
    store: &dyn Store,
    t: TenantId,
    resource: ObjectId,
    all_principals: bool,
) -> Result<(Op, Target), StoreError> {
    Ok((
        if all_principals {
            Op::ConsentForAll
        } else {
            Op::ConsentForOne
        },
        Target {
            resource_is_graph: is_graph(store, t, resource).await?,
            ..Target::default()
        },
    ))
}

/// Creating a service principal for `app_id`: its owners (in this tenant) may.
pub async fn service_principal_creation(
    store: &dyn Store,
    t: TenantId,
    app_id: &str,
    caller: ObjectId,
) -> Result<Target, StoreError> {
    let mut target = Target::default();
    if let Some(app) = match crate::AppId::parse(app_id) {
        Some(id) => store.application_by_app_id(id).await?,
        None => None,
    } {
        if app.tenant_id == t {
            target.owned_by_caller = store.owners(t, app.id).await?.contains(&caller);
        }
    }
    Ok(target)
}

/// Approving or denying an admin consent request: tenant-wide consent to what the app requires
/// (for Microsoft Graph only Privileged Role Administrator and Global Administrator). An
/// unknown request decides as consent to Graph (the strictest), so its 404 comes only to those
/// who could review it.
pub async fn consent_request(
    store: &dyn Store,
    t: TenantId,
    id: &str,
) -> Result<(Op, Target), StoreError> {
    let app_id = store
        .grant(id)
        .await?
        .filter(|g| g.kind == crate::model::GrantKind::ConsentRequest && g.tenant_id == t)
        .and_then(|g| g.attr("app_id").and_then(crate::AppId::parse));
    let app = match app_id {
        Some(a) => store.application_by_app_id(a).await?,
        None => None,
    };
    let resource_is_graph = app.is_none_or(|a| {
        a.required_resource_access
            .iter()
            .any(|r| r.resource_app_id == crate::ids::GRAPH_APP_ID)
    });
    Ok((
        Op::ConsentForAll,
        Target {
            resource_is_graph,
            ..Target::default()
        },
    ))
}

/// The decision for a user acting in Castellan's own pages (consent, admin consent): their own
/// roles, at any scope, and the tenant's custom roles. `Err` is the refusal, naming its cause.
pub async fn interactive(
    store: &dyn Store,
    t: TenantId,
    user: &crate::model::User,
    op: Op,
    target: &Target,
    now: crate::Timestamp,
) -> Result<Result<(), crate::authz::Denied>, StoreError> {
    let roles = super::directory_roles::effective_roles(store, t, user.id, now).await?;
    let custom: Vec<crate::directory_roles::CustomActions> = store
        .custom_roles(t)
        .await?
        .into_iter()
        .filter(|r| r.is_enabled)
        .map(|r| (r.id.uuid(), r.allowed_resource_actions))
        .collect();
    Ok(crate::authz::decide(
        &crate::authz::Principal {
            id: user.id,
            via: crate::authz::Via::Interactive,
            permissions: &[],
            assignments: &roles,
            custom: &custom,
            is_guest: user.user_type == crate::model::UserType::Guest,
            guest_role: crate::model::GuestRole::Restricted,
        },
        op,
        target,
    ))
}

/// What granting an app's `requiredResourceAccess` tenant-wide takes, per resource: tenant-wide
/// consent to its delegated permissions and the grant of its application permissions.
pub fn admin_consent_ops(
    has_scopes: bool,
    has_roles: bool,
    resource_is_graph: bool,
) -> Vec<(Op, Target)> {
    let target = Target {
        resource_is_graph,
        ..Target::default()
    };
    let mut out = Vec::new();
    if has_scopes {
        out.push((Op::ConsentForAll, target.clone()));
    }
    if has_roles {
        out.push((Op::GrantApplicationPermission, target));
    }
    out
}
