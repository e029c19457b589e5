//! Cross-tenant access settings: the writes behind `/policies/crossTenantAccessPolicy`
//! (the policy itself, the default, partners) with their audit records, and the stored
//! documents the readers parse. The documents are Graph's canonical JSON (rendered and parsed
//! by `castellan-wire`), kept as policy documents of the `CrossTenant*` kinds; a partner's is
//! named by its tenant id, so two for one tenant clash in the store's unique index. Decisions
//! (validation, fallback, who may cross) are `crate::cross_tenant`'s.

use crate::cross_tenant::{self as ct, Configuration, Partner, PolicyLevel};
use crate::error::{Code, DirectoryError};
use crate::model::{PolicyDocument, PolicyDocumentKind, Tenant};
use crate::ops::{modified, target, Env};
use crate::store::{Change, ChangeSet, Store, StoreError};
use crate::TenantId;

/// The audit category of every change here (Entra's).
pub const CATEGORY: &str = "CrossTenantAccessSettings";
const LEVEL_NAME: &str = "crossTenantAccessPolicy";
const DEFAULT_NAME: &str = "default";

/// A tenant's stored cross-tenant documents.
#[derive(Clone, Debug, Default)]
pub struct Stored {
    /// The policy-level properties, once set.
    pub policy: Option<PolicyDocument>,
    /// The default, once changed from the service default.
    pub default: Option<PolicyDocument>,
    /// Partner configurations.
    pub partners: Vec<PolicyDocument>,
}

impl Stored {
    /// The partner document for `tenant`.
    pub fn partner(&self, tenant: TenantId) -> Option<&PolicyDocument> {
        let name = tenant.to_string();
        self.partners
            .iter()
            .find(|d| d.display_name.eq_ignore_ascii_case(&name))
    }
}

/// Loads the stored documents (through the read model, which holds policy documents).
pub async fn stored(store: &dyn Store, tenant: TenantId) -> Result<Stored, StoreError> {
    let one = |v: std::sync::Arc<Vec<PolicyDocument>>| v.first().cloned();
    Ok(Stored {
        policy: one(store
            .policy_documents_shared(tenant, PolicyDocumentKind::CrossTenantPolicy)
            .await?),
        default: one(store
            .policy_documents_shared(tenant, PolicyDocumentKind::CrossTenantDefault)
            .await?),
        partners: (*store
            .policy_documents_shared(tenant, PolicyDocumentKind::CrossTenantPartner)
            .await?)
            .clone(),
    })
}

fn conflict(e: StoreError, partner: Option<TenantId>) -> DirectoryError {
    match (e, partner) {
        (StoreError::Conflict(_), Some(p)) => {
            DirectoryError::Conflict(Code::CrossTenantPartnerExists.message(&[("tenant", &p)]))
        }
        (StoreError::Conflict(c), None) => DirectoryError::Conflict(format!(
            "{c}. Another request changed the cross-tenant access settings at the same time; read them again and retry. Nothing was changed."
        )),
        (other, _) => other.into(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn write(
    env: &mut Env<'_>,
    tenant: &Tenant,
    kind: PolicyDocumentKind,
    old: Option<&PolicyDocument>,
    name: &str,
    document: String,
    activity: &str,
    operation: &str,
    partner: Option<TenantId>,
) -> Result<PolicyDocument, DirectoryError> {
    let doc = PolicyDocument {
        id: match old {
            Some(o) => o.id,
            None => env.new_id(),
        },
        tenant_id: tenant.id,
        kind,
        display_name: name.to_string(),
        document,
        created: old.map_or(env.now, |o| o.created),
        modified: env.now,
    };
    let a = env.audit(
        tenant,
        CATEGORY,
        activity,
        operation,
        vec![target(
            doc.id,
            "Policy",
            Some(name),
            None,
            vec![modified(
                "Policy",
                old.map(|o| o.document.clone()),
                Some(doc.document.clone()),
            )],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::PutPolicyDocument(doc.clone())).audit(a);
    env.store
        .commit(set)
        .await
        .map_err(|e| conflict(e, partner))?;
    Ok(doc)
}

/// Sets the policy-level properties (`PATCH /policies/crossTenantAccessPolicy`). `document`
/// is wire's rendering of `level`.
pub async fn put_level(
    env: &mut Env<'_>,
    tenant: &Tenant,
    level: &PolicyLevel,
    document: String,
) -> Result<(), DirectoryError> {
    ct::validate_level(level).map_err(DirectoryError::BadRequest)?;
    let s = stored(env.store, tenant.id).await?;
    write(
        env,
        tenant,
        PolicyDocumentKind::CrossTenantPolicy,
        s.policy.as_ref(),
        LEVEL_NAME,
        document,
        "Update cross-tenant access policy",
        "Update",
        None,
    )
    .await?;
    Ok(())
}

/// Sets the default configuration (`PATCH …/default`, already merged over the stored one).
pub async fn put_default(
    env: &mut Env<'_>,
    tenant: &Tenant,
    config: &Configuration,
    document: String,
) -> Result<(), DirectoryError> {
    ct::validate(config, true).map_err(DirectoryError::BadRequest)?;
    let s = stored(env.store, tenant.id).await?;
    write(
        env,
        tenant,
        PolicyDocumentKind::CrossTenantDefault,
        s.default.as_ref(),
        DEFAULT_NAME,
        document,
        "Update the company default cross-tenant access setting",
        "Update",
        None,
    )
    .await?;
    Ok(())
}

/// `POST …/default/resetToSystemDefault`: the stored default goes; the service default is in
/// force again (`isServiceDefault: true`). Audited even when it was the service default.
pub async fn reset_default(env: &mut Env<'_>, tenant: &Tenant) -> Result<(), DirectoryError> {
    let s = stored(env.store, tenant.id).await?;
    let id = s.default.as_ref().map(|d| d.id);
    let a = env.audit(
        tenant,
        CATEGORY,
        "Reset the company default cross-tenant access setting",
        "Update",
        vec![target(
            id.map_or_else(|| tenant.id.to_string(), |i| i.to_string()),
            "Policy",
            Some(DEFAULT_NAME),
            None,
            vec![modified(
                "isServiceDefault",
                Some((s.default.is_none()).to_string()),
                Some("true".into()),
            )],
        )],
    );
    let mut set = ChangeSet::new();
    if let Some(id) = id {
        set.push(Change::DeletePolicyDocument(tenant.id, id));
    }
    set.audit(a);
    env.store.commit(set).await?;
    Ok(())
}

/// `POST …/partners`: a new partner configuration.
pub async fn create_partner(
    env: &mut Env<'_>,
    tenant: &Tenant,
    partner: &Partner,
    document: String,
) -> Result<PolicyDocument, DirectoryError> {
    ct::validate_partner(tenant.id, partner).map_err(DirectoryError::BadRequest)?;
    let s = stored(env.store, tenant.id).await?;
    if s.partner(partner.tenant_id).is_some() {
        return Err(DirectoryError::Conflict(
            Code::CrossTenantPartnerExists.message(&[("tenant", &partner.tenant_id)]),
        ));
    }
    write(
        env,
        tenant,
        PolicyDocumentKind::CrossTenantPartner,
        None,
        &partner.tenant_id.to_string(),
        document,
        "Add a partner to cross-tenant access setting",
        "Add",
        Some(partner.tenant_id),
    )
    .await
}

/// `PATCH …/partners/{tenantId}` (already merged over the stored one).
pub async fn update_partner(
    env: &mut Env<'_>,
    tenant: &Tenant,
    partner: &Partner,
    document: String,
) -> Result<PolicyDocument, DirectoryError> {
    ct::validate_partner(tenant.id, partner).map_err(DirectoryError::BadRequest)?;
    let s = stored(env.store, tenant.id).await?;
    let Some(old) = s.partner(partner.tenant_id) else {
        return Err(crate::ops::not_found(partner.tenant_id));
    };
    write(
        env,
        tenant,
        PolicyDocumentKind::CrossTenantPartner,
        Some(old),
        &partner.tenant_id.to_string(),
        document,
        "Update a partner cross-tenant access setting",
        "Update",
        Some(partner.tenant_id),
    )
    .await
}

/// `DELETE …/partners/{tenantId}`.
pub async fn delete_partner(
    env: &mut Env<'_>,
    tenant: &Tenant,
    partner: TenantId,
) -> Result<(), DirectoryError> {
    let s = stored(env.store, tenant.id).await?;
    let Some(old) = s.partner(partner) else {
        return Err(crate::ops::not_found(partner));
    };
    let a = env.audit(
        tenant,
        CATEGORY,
        "Delete partner specific cross-tenant access setting",
        "Delete",
        vec![target(
            old.id,
            "Policy",
            Some(&old.display_name),
            None,
            vec![modified("Policy", Some(old.document.clone()), None)],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeletePolicyDocument(tenant.id, old.id))
        .audit(a);
    env.store.commit(set).await?;
    Ok(())
}
