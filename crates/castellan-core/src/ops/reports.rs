//! The hygiene reports' loading half (`core::report` decides): a tenant's applications for
//! expiring credentials; its service principals, delegated grants, application permissions and
//! the sign-in log since the window's start for unused grants.

use std::collections::HashMap;

use crate::model::{SignInQuery, Tenant};
use crate::report::{self, ExpiringCredential, UnusedGrant, Use};
use crate::store::{Store, StoreError};
use crate::{ObjectId, Timestamp};

/// Credentials of the tenant's applications expiring within `days` (expired included).
pub async fn expiring_credentials(
    store: &dyn Store,
    tenant: &Tenant,
    now: Timestamp,
    days: u32,
) -> Result<Vec<ExpiringCredential>, StoreError> {
    let apps = store.applications(tenant.id).await?;
    Ok(report::expiring_credentials(&apps, now, days))
}

/// The tenant's grants not used in a successful sign-in for `days`.
pub async fn unused_grants(
    store: &dyn Store,
    tenant: &Tenant,
    now: Timestamp,
    days: u32,
) -> Result<Vec<UnusedGrant>, StoreError> {
    let sps = store.service_principals(tenant.id).await?;
    let delegated = store.permission_grants(tenant.id).await?;
    let mut roles = Vec::new();
    for sp in &sps {
        roles.extend(store.app_role_assignments_of(tenant.id, sp.id).await?);
    }
    // App-role values of every resource an application permission points at.
    let mut values: HashMap<(ObjectId, uuid::Uuid), String> = HashMap::new();
    for sp in sps
        .iter()
        .filter(|sp| roles.iter().any(|r| r.resource_id == sp.id))
    {
        let (app_roles, _) = crate::ops::service_principals::exposed(store, sp).await?;
        for r in app_roles {
            values.insert((sp.id, r.id), r.value);
        }
    }
    let since = Timestamp(now.millis().saturating_sub(i64::from(days) * 86_400_000));
    let log = store
        .sign_ins(
            tenant.id,
            &SignInQuery {
                since: Some(since),
                until: None,
                limit: None,
            },
        )
        .await?;
    let uses: Vec<Use<'_>> = log.iter().filter_map(Use::of).collect();
    let name = |resource: ObjectId, role: uuid::Uuid| values.get(&(resource, role)).cloned();
    Ok(report::unused_grants(
        &delegated, &roles, &sps, &uses, &name, now, days,
    ))
}
