//! Licences: a tenant's subscriptions (one row per SKU) and the licences assigned to users and
//! groups (one row per principal and SKU), each a JSON document.

use super::*;
use castellan_core::licenses::{LicenseAssignment, Subscription};

#[derive(Serialize, Deserialize)]
struct SubscriptionDoc {
    tenant_id: String,
    sku_id: String,
    enabled: u32,
    suspended: u32,
    warning: u32,
}

impl From<&Subscription> for SubscriptionDoc {
    fn from(s: &Subscription) -> Self {
        Self {
            tenant_id: s.tenant_id.to_string(),
            sku_id: s.sku_id.clone(),
            enabled: s.enabled,
            suspended: s.suspended,
            warning: s.warning,
        }
    }
}

impl TryFrom<SubscriptionDoc> for Subscription {
    type Error = StoreError;
    fn try_from(d: SubscriptionDoc) -> Result<Self, StoreError> {
        Ok(Self {
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            sku_id: d.sku_id,
            enabled: d.enabled,
            suspended: d.suspended,
            warning: d.warning,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct AssignmentDoc {
    tenant_id: String,
    principal_id: String,
    sku_id: String,
    #[serde(default)]
    disabled_plans: Vec<String>,
    assigned: i64,
}

impl From<&LicenseAssignment> for AssignmentDoc {
    fn from(a: &LicenseAssignment) -> Self {
        Self {
            tenant_id: a.tenant_id.to_string(),
            principal_id: a.principal_id.to_string(),
            sku_id: a.sku_id.clone(),
            disabled_plans: a.disabled_plans.clone(),
            assigned: a.assigned.millis(),
        }
    }
}

impl TryFrom<AssignmentDoc> for LicenseAssignment {
    type Error = StoreError;
    fn try_from(d: AssignmentDoc) -> Result<Self, StoreError> {
        Ok(Self {
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            principal_id: oid(&d.principal_id)?,
            sku_id: d.sku_id,
            disabled_plans: d.disabled_plans,
            assigned: Timestamp(d.assigned),
        })
    }
}

pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::PutSubscription(sub) => {
            exec(
                tx,
                "INSERT INTO subscriptions (tenant_id, sku_id, data) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, sku_id) DO UPDATE SET data = excluded.data",
                &[
                    s(sub.tenant_id),
                    Arg::S(sub.sku_id.clone()),
                    Arg::S(json(&SubscriptionDoc::from(sub))?),
                ],
            )
            .await?;
        }
        Change::PutLicenseAssignment(a) => {
            exec(
                tx,
                "INSERT INTO license_assignments (tenant_id, principal_id, sku_id, data) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, principal_id, sku_id) DO UPDATE SET data = excluded.data",
                &[
                    s(a.tenant_id),
                    s(a.principal_id),
                    Arg::S(a.sku_id.clone()),
                    Arg::S(json(&AssignmentDoc::from(a))?),
                ],
            )
            .await?;
        }
        Change::DeleteLicenseAssignment(t, p, sku) => {
            must_touch(
                tx,
                "DELETE FROM license_assignments WHERE tenant_id = $1 AND principal_id = $2 AND sku_id = $3",
                &[s(t), s(p), Arg::S(sku.clone())],
                "license assignment",
            )
            .await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl LicenseStore for SqlStore {
    async fn subscriptions(&self, t: TenantId) -> Result<Vec<Subscription>, StoreError> {
        all(self
            .docs::<SubscriptionDoc>(
                "SELECT data FROM subscriptions WHERE tenant_id = $1 ORDER BY sku_id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn license_assignments(&self, t: TenantId) -> Result<Vec<LicenseAssignment>, StoreError> {
        all(self
            .docs::<AssignmentDoc>(
                "SELECT data FROM license_assignments WHERE tenant_id = $1 ORDER BY principal_id, sku_id",
                &[&t.to_string()],
            )
            .await?)
    }
}
