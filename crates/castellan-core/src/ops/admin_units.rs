//! Administrative units (`/directory/administrativeUnits`): create, delete, members.

use crate::error::DirectoryError;
use crate::model::{AdministrativeUnit, ObjectKind, Tenant};
use crate::ops::{modified, target, Env};
use crate::store::{Change, ChangeSet};
use crate::ObjectId;

fn parse(id: &str) -> Result<ObjectId, DirectoryError> {
    ObjectId::parse(id).ok_or_else(|| DirectoryError::NotFound(format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present.")))
}

/// Finds an administrative unit.
pub async fn find(
    env: &Env<'_>,
    tenant: &Tenant,
    id: &str,
) -> Result<AdministrativeUnit, DirectoryError> {
    let oid = parse(id)?;
    env.store
        .administrative_units(tenant.id)
        .await?
        .into_iter()
        .find(|a| a.id == oid)
        .ok_or_else(|| {
            DirectoryError::NotFound(format!(
                "administrativeUnit '{id}' does not exist in this tenant."
            ))
        })
}

/// Creates an administrative unit.
pub async fn create(
    env: &mut Env<'_>,
    tenant: &Tenant,
    display_name: &str,
    description: Option<String>,
) -> Result<AdministrativeUnit, DirectoryError> {
    if display_name.trim().is_empty() || display_name.len() > 256 {
        return Err(DirectoryError::BadRequest(
            "displayName is required (1-256 characters).".into(),
        ));
    }
    let au = AdministrativeUnit {
        id: env.new_id(),
        tenant_id: tenant.id,
        display_name: display_name.to_string(),
        description,
        created: env.now,
    };
    let audit = env.audit(
        tenant,
        "AdministrativeUnit",
        "Add administrative unit",
        "Add",
        vec![target(
            au.id,
            "AdministrativeUnit",
            Some(&au.display_name),
            None,
            vec![],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertAdministrativeUnit(au.clone()))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(au)
}

/// Deletes an administrative unit (its memberships and scoped role assignments go with it).
pub async fn delete(env: &mut Env<'_>, tenant: &Tenant, id: &str) -> Result<(), DirectoryError> {
    let au = find(env, tenant, id).await?;
    let audit = env.audit(
        tenant,
        "AdministrativeUnit",
        "Delete administrative unit",
        "Delete",
        vec![target(
            au.id,
            "AdministrativeUnit",
            Some(&au.display_name),
            None,
            vec![],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteAdministrativeUnit(tenant.id, au.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// Adds a user or group to an administrative unit.
pub async fn add_member(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    member: ObjectId,
) -> Result<(), DirectoryError> {
    let au = find(env, tenant, id).await?;
    match env.store.object_kind(tenant.id, member).await? {
        Some(ObjectKind::User | ObjectKind::Group) => {}
        _ => return Err(DirectoryError::BadRequest(format!("'{member}' is not a user or group in this tenant; administrative units hold users and groups."))),
    }
    let audit = env.audit(
        tenant,
        "AdministrativeUnit",
        "Add member to administrative unit",
        "Assign",
        vec![target(
            member,
            "User",
            None,
            None,
            vec![modified(
                "AdministrativeUnit.DisplayName",
                None,
                Some(au.display_name.clone()),
            )],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::AddAuMember(tenant.id, au.id, member))
        .audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => DirectoryError::Conflict("One or more added object references already exist for the following modified properties: 'members'.".into()),
        other => other.into(),
    })?;
    Ok(())
}

/// Removes a member.
pub async fn remove_member(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    member: &str,
) -> Result<(), DirectoryError> {
    let au = find(env, tenant, id).await?;
    let m = parse(member)?;
    let audit = env.audit(
        tenant,
        "AdministrativeUnit",
        "Remove member from administrative unit",
        "Unassign",
        vec![target(
            m,
            "User",
            None,
            None,
            vec![modified(
                "AdministrativeUnit.DisplayName",
                Some(au.display_name.clone()),
                None,
            )],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::RemoveAuMember(tenant.id, au.id, m))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}
