//! External identity providers of a tenant (`/identity/identityProviders`): load, create or
//! replace, delete, each with its audit record in one change set. They are stored as policy
//! documents of kind `IdentityProvider` (the document is the wire layer's; the caller passes the
//! parser so this module can validate against the tenant's other providers).

use crate::error::DirectoryError;
use crate::external_idp::{self as idp, OidcProvider};
use crate::model::{PolicyDocument, PolicyDocumentKind, Tenant};
use crate::ops::{modified, target, Env};
use crate::store::{Change, ChangeSet, Store, StoreError};
use crate::ObjectId;

/// Reads a stored document back into a provider (the wire layer's parser).
pub type Parse = fn(&PolicyDocument) -> Result<OidcProvider, String>;

/// The tenant's providers with their documents (unreadable documents are skipped, logged by
/// the caller through the returned count).
pub async fn load(
    store: &dyn Store,
    tenant: &Tenant,
    parse: Parse,
) -> Result<Vec<(PolicyDocument, OidcProvider)>, DirectoryError> {
    let docs = store
        .policy_documents(tenant.id, PolicyDocumentKind::IdentityProvider)
        .await?;
    Ok(docs
        .into_iter()
        .filter_map(|d| parse(&d).ok().map(|p| (d, p)))
        .collect())
}

/// Just the providers.
pub async fn providers(
    store: &dyn Store,
    tenant: &Tenant,
    parse: Parse,
) -> Result<Vec<OidcProvider>, DirectoryError> {
    Ok(load(store, tenant, parse)
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

/// Creates or replaces `p` (validated against the tenant and its other providers) as
/// `document`; a create without a client secret is refused.
pub async fn put(
    env: &mut Env<'_>,
    tenant: &Tenant,
    p: &OidcProvider,
    document: String,
    parse: Parse,
) -> Result<PolicyDocument, DirectoryError> {
    let all = load(env.store, tenant, parse).await?;
    let others: Vec<OidcProvider> = all
        .iter()
        .filter(|(d, _)| d.id != p.id)
        .map(|(_, o)| o.clone())
        .collect();
    idp::validate(p, tenant, &others).map_err(DirectoryError::BadRequest)?;
    if p.client_secret_sealed.is_empty() {
        return Err(DirectoryError::BadRequest("Property 'clientSecret' is required: the secret of this tenant's client registration at the identity provider (it is stored encrypted and never returned).".into()));
    }
    if let Some((d, _)) = all
        .iter()
        .find(|(d, _)| d.id != p.id && d.display_name.eq_ignore_ascii_case(p.display_name.trim()))
    {
        return Err(DirectoryError::Conflict(format!(
            "An identity provider named '{}' exists already ({}); pick another displayName.",
            d.display_name, d.id
        )));
    }
    let old = all.iter().find(|(d, _)| d.id == p.id);
    let doc = PolicyDocument {
        id: p.id,
        tenant_id: tenant.id,
        kind: PolicyDocumentKind::IdentityProvider,
        display_name: p.display_name.trim().to_string(),
        document,
        created: old.map_or(env.now, |(o, _)| o.created),
        modified: env.now,
    };
    let before = old.map(|(_, o)| o);
    let mut props = Vec::new();
    for (name, was, now) in [
        ("Issuer", before.map(|o| o.issuer.clone()), p.issuer.clone()),
        (
            "ClientId",
            before.map(|o| o.client_id.clone()),
            p.client_id.clone(),
        ),
        (
            "Domains",
            before.map(|o| o.domains.join(",")),
            p.domains.join(","),
        ),
    ] {
        if was.as_deref() != Some(now.as_str()) {
            props.push(modified(name, was, Some(now)));
        }
    }
    if before.is_some_and(|o| o.client_secret_sealed != p.client_secret_sealed) {
        props.push(modified("ClientSecret", None, Some("(changed)".into())));
    }
    let (activity, op) = if old.is_some() {
        ("Update identity provider", "Update")
    } else {
        ("Add identity provider", "Add")
    };
    let a = env.audit(
        tenant,
        "IdentityProvider",
        activity,
        op,
        vec![target(
            p.id,
            "IdentityProvider",
            Some(&doc.display_name),
            None,
            props,
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::PutPolicyDocument(doc.clone())).audit(a);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::Conflict(c) => DirectoryError::Conflict(format!(
            "{c}: an identity provider with this displayName exists already; pick another."
        )),
        other => other.into(),
    })?;
    Ok(doc)
}

/// Deletes provider `id`. Guests who redeemed there keep their identity but can no longer
/// sign in through it until a provider with the same issuer is configured again.
pub async fn delete(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: ObjectId,
) -> Result<(), DirectoryError> {
    let docs = env
        .store
        .policy_documents(tenant.id, PolicyDocumentKind::IdentityProvider)
        .await?;
    let Some(d) = docs.iter().find(|d| d.id == id) else {
        return Err(crate::ops::not_found(id));
    };
    let a = env.audit(
        tenant,
        "IdentityProvider",
        "Delete identity provider",
        "Delete",
        vec![target(
            id,
            "IdentityProvider",
            Some(&d.display_name),
            None,
            vec![],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeletePolicyDocument(tenant.id, id))
        .audit(a);
    env.store.commit(set).await?;
    Ok(())
}

#[cfg(test)]
mod tests;
