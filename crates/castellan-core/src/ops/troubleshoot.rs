//! The access troubleshooter's question "may this principal do this action here?", gathered
//! from the store for `crate::troubleshoot::diagnose_access`: the asked plane's decision (Azure
//! RBAC's engine with its explanation, or the directory roles in force and the one that grants
//! the action) and what the principal holds on the other plane — the evidence of a wrong-plane
//! mistake. Read-only.

use crate::directory_roles;
use crate::ids::{ObjectId, TenantId};
use crate::store::{Store, StoreError};
use crate::troubleshoot::{AccessFacts, Plane};
use crate::Timestamp;

/// The principal's directory roles in force at `now`, by name, with the actions each grants;
/// roles scoped to an administrative unit are named with their scope.
async fn directory_roles_of(
    store: &dyn Store,
    t: TenantId,
    principal: ObjectId,
    now: Timestamp,
) -> Result<Vec<(String, String, Vec<String>)>, StoreError> {
    let custom = store.custom_roles(t).await?;
    let held = crate::ops::directory_roles::effective_roles(store, t, principal, now).await?;
    Ok(held
        .into_iter()
        .filter_map(|(id, scope)| {
            let (name, actions) = match directory_roles::role(id) {
                Some(r) => (r.display_name.clone(), r.allowed_resource_actions.clone()),
                None => {
                    let c = custom.iter().find(|c| c.id.uuid() == id && c.is_enabled)?;
                    (c.display_name.clone(), c.allowed_resource_actions.clone())
                }
            };
            Some((name, scope, actions))
        })
        .collect())
}

/// The facts for `plane` about `principal` at `now`.
pub async fn access(
    store: &dyn Store,
    t: TenantId,
    principal: ObjectId,
    plane: &Plane,
    now: Timestamp,
) -> Result<AccessFacts, StoreError> {
    let principals = crate::ops::arm::principal_set(store, t, principal, now).await?;
    let catalog = crate::ops::arm::RoleCatalog::load(store, t).await?;
    let azure_roles: Vec<(String, String)> =
        crate::ops::arm::assignments_in_force(store, t, &principals, now)
            .await?
            .into_iter()
            .map(|a| {
                let name = catalog
                    .get(a.role_definition_id)
                    .map_or_else(|| a.role_definition_id.to_string(), |r| r.name.clone());
                (name, a.scope)
            })
            .collect();
    let dir = directory_roles_of(store, t, principal, now).await?;
    let label = |(name, scope, _): &(String, String, Vec<String>)| {
        if scope == "/" {
            name.clone()
        } else {
            format!("{name} (scoped to {scope})")
        }
    };
    let directory_names: Vec<String> = dir.iter().map(label).collect();
    let (allowed, explanation) = match plane {
        Plane::Azure { scope, action } => {
            match crate::ops::arm::decide(store, t, now, &principals, action, false, scope).await? {
                crate::azure_rbac::Decision::Allowed { role, scope: at, .. } => {
                    (true, format!("Azure RBAC allows '{action}' at '{scope}': role '{role}' assigned at '{at}'."))
                }
                crate::azure_rbac::Decision::Denied { reason } => (false, format!("Azure RBAC denies '{action}' at '{scope}': {reason}")),
            }
        }
        Plane::Directory { action } => {
            let grant = dir.iter().find(|(_, scope, actions)| {
                scope == "/" && actions.iter().any(|a| directory_roles::covers(a, action))
            });
            match grant {
                Some(g) => (
                    true,
                    format!(
                        "The directory role '{}' grants '{action}' tenant-wide.",
                        g.0
                    ),
                ),
                None => {
                    let scoped: Vec<String> = dir
                        .iter()
                        .filter(|(_, scope, actions)| {
                            scope != "/"
                                && actions.iter().any(|a| directory_roles::covers(a, action))
                        })
                        .map(label)
                        .collect();
                    let why = if scoped.is_empty() {
                        format!("No directory role the principal holds includes '{action}'.")
                    } else {
                        format!("Only {} include '{action}', for the members of that administrative unit only.", scoped.join(", "))
                    };
                    (false, why)
                }
            }
        }
    };
    Ok(AccessFacts {
        allowed,
        explanation,
        directory_roles: directory_names,
        azure_roles,
    })
}
