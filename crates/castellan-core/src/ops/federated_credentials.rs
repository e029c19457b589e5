//! `/applications/{id}/federatedIdentityCredentials`: list, add, read, update, delete the
//! federated identity credentials of an application. The rules are
//! `flow::federated_assertion`'s; this module loads, decides, and commits the application with
//! its audit record through a compare-and-set (`Change::ReplaceApplication`), so the limit of
//! 20 and the uniqueness rules hold under concurrent requests too.

use crate::error::DirectoryError;
use crate::flow::federated_assertion::{self as fa, FederatedIdentityCredential, FicPatch};
use crate::model::{Application, Tenant};
use crate::ops::applications::find;
use crate::ops::{modified, target, Env};
use crate::store::{Change, ChangeSet, StoreError, UniqueRule};

/// How often a compare-and-set that lost to a concurrent write is retried on fresh state. Each
/// loss means another request committed; adds stop at the limit of 20, so this bounds even a
/// burst of concurrent adds to one application.
const CAS_ATTEMPTS: usize = 32;

fn describe(f: &FederatedIdentityCredential) -> String {
    format!(
        "[Name={}, Issuer={}, Subject={}, Audiences={}]",
        f.name,
        f.issuer,
        f.subject,
        f.audiences.join(",")
    )
}

fn not_found(app: &Application, key: &str) -> DirectoryError {
    DirectoryError::NotFound(format!(
        "No federatedIdentityCredential with id or name '{key}' on application '{}'.",
        app.app_id
    ))
}

/// The application and its FICs.
pub async fn list(
    env: &Env<'_>,
    tenant: &Tenant,
    app: &str,
) -> Result<Vec<FederatedIdentityCredential>, DirectoryError> {
    Ok(find(env, tenant, app).await?.federated_identity_credentials)
}

/// One FIC by id (or name, Graph's alternate key).
pub async fn get(
    env: &Env<'_>,
    tenant: &Tenant,
    app: &str,
    key: &str,
) -> Result<FederatedIdentityCredential, DirectoryError> {
    let a = find(env, tenant, app).await?;
    fa::find(&a.federated_identity_credentials, key)
        .cloned()
        .ok_or_else(|| not_found(&a, key))
}

/// What a change decided: the new list, the FIC to return, and the audited property values.
struct Decision {
    fics: Vec<FederatedIdentityCredential>,
    result: Option<FederatedIdentityCredential>,
    old: Option<String>,
    new: Option<String>,
}

/// Load → decide → compare-and-set, retried on a lost race; nothing is written when `decide`
/// refuses.
async fn change(
    env: &mut Env<'_>,
    tenant: &Tenant,
    app: &str,
    decide: impl Fn(&Application) -> Result<Decision, DirectoryError>,
) -> Result<Option<FederatedIdentityCredential>, DirectoryError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let old = find(env, tenant, app).await?;
        let d = decide(&old)?;
        let mut next = old.clone();
        next.federated_identity_credentials = d.fics;
        let audit = env.audit(
            tenant,
            "ApplicationManagement",
            "Update application",
            "Update",
            vec![target(
                old.id,
                "Application",
                Some(&old.display_name),
                None,
                vec![modified("FederatedIdentityCredentials", d.old, d.new)],
            )],
        );
        let mut set = ChangeSet::new();
        set.push(Change::ReplaceApplication(Box::new(old), Box::new(next)))
            .audit(audit);
        match env.store.commit(set).await {
            Ok(()) => return Ok(d.result),
            Err(StoreError::Conflict(c))
                if c.rule == UniqueRule::ApplicationChanged && attempt < CAS_ATTEMPTS =>
            {
                continue
            }
            Err(StoreError::Conflict(m)) if m.rule == UniqueRule::ApplicationChanged => {
                return Err(DirectoryError::Unavailable(format!(
                    "the application kept changing under concurrent requests ({m})"
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Adds a FIC (`POST`). `input` holds the body's properties; the id is generated here.
pub async fn add(
    env: &mut Env<'_>,
    tenant: &Tenant,
    app: &str,
    input: FicPatch,
) -> Result<FederatedIdentityCredential, DirectoryError> {
    let id = uuid::Builder::from_random_bytes(env.entropy.bytes16()).into_uuid();
    let fic = fa::new_credential(id, input)?;
    let r = change(env, tenant, app, |a| {
        fa::check_add(&a.federated_identity_credentials, &fic)?;
        let mut fics = a.federated_identity_credentials.clone();
        fics.push(fic.clone());
        Ok(Decision {
            fics,
            result: Some(fic.clone()),
            old: None,
            new: Some(describe(&fic)),
        })
    })
    .await?;
    r.ok_or_else(|| DirectoryError::Unavailable("no credential was produced".into()))
}

/// Updates a FIC (`PATCH`); `name` is immutable.
pub async fn update(
    env: &mut Env<'_>,
    tenant: &Tenant,
    app: &str,
    key: &str,
    patch: FicPatch,
) -> Result<FederatedIdentityCredential, DirectoryError> {
    let r = change(env, tenant, app, |a| {
        let old =
            fa::find(&a.federated_identity_credentials, key).ok_or_else(|| not_found(a, key))?;
        let new = fa::apply_patch(old, patch.clone())?;
        fa::check_replace(&a.federated_identity_credentials, &new)?;
        let fics = a
            .federated_identity_credentials
            .iter()
            .map(|f| {
                if f.id == new.id {
                    new.clone()
                } else {
                    f.clone()
                }
            })
            .collect();
        Ok(Decision {
            fics,
            old: Some(describe(old)),
            new: Some(describe(&new)),
            result: Some(new),
        })
    })
    .await?;
    r.ok_or_else(|| DirectoryError::Unavailable("no credential was produced".into()))
}

/// Deletes a FIC.
pub async fn delete(
    env: &mut Env<'_>,
    tenant: &Tenant,
    app: &str,
    key: &str,
) -> Result<(), DirectoryError> {
    change(env, tenant, app, |a| {
        let old =
            fa::find(&a.federated_identity_credentials, key).ok_or_else(|| not_found(a, key))?;
        Ok(Decision {
            fics: a
                .federated_identity_credentials
                .iter()
                .filter(|f| f.id != old.id)
                .cloned()
                .collect(),
            result: None,
            old: Some(describe(old)),
            new: None,
        })
    })
    .await?;
    Ok(())
}
