//! The recycle bin's use cases: the snapshot a soft delete pushes with the object's delete,
//! listing and reading deleted items, restore (conflict check, edges whose other end still
//! exists, audit), permanent deletion and the 30-day purge sweep. Decisions are in
//! [`crate::deleted_items`].

use crate::deleted_items::{self as bin, DeletedItem, DeletedObject, LiveEdges, LiveNames};
use crate::error::{Code, DirectoryError};
use crate::ids::ObjectId;
use crate::model::{ObjectKind, Tenant};
use crate::ops::{not_found, target, Env};
use crate::store::{Change, ChangeSet, StoreError};

/// Loads the live edges naming `ids` (what a snapshot keeps).
async fn live_edges(env: &Env<'_>, tenant: &Tenant, ids: &[ObjectId]) -> Result<LiveEdges, StoreError> {
    let (s, t) = (env.store, tenant.id);
    let mut live = LiveEdges {
        memberships: s.memberships(t).await?,
        directory_roles: s.directory_role_assignments(t).await?,
        permission_grants: s.permission_grants(t).await?,
        ..LiveEdges::default()
    };
    for id in ids {
        for o in s.owners(t, *id).await? {
            live.owners.push((*id, o));
        }
        for o in s.owned_by(t, *id).await? {
            live.owners.push((o, *id));
        }
        for u in s.aus_of(t, *id).await? {
            live.unit_memberships.push((u, *id));
        }
        live.app_roles.extend(s.app_role_assignments_of(t, *id).await?);
        live.app_roles.extend(s.app_role_assignments_to(t, *id).await?);
        live.azure_roles.extend(s.azure_role_assignments_of(t, *id).await?);
    }
    Ok(live)
}

/// The recycle-bin item for `object`, deleted now, with its edges. The caller pushes
/// `Change::InsertDeletedItem` with the object's `Delete*` change in one set.
pub async fn snapshot(
    env: &Env<'_>,
    tenant: &Tenant,
    object: DeletedObject,
) -> Result<DeletedItem, DirectoryError> {
    let live = live_edges(env, tenant, &object.ids()).await?;
    Ok(bin::snapshot(tenant.id, object, live, env.now))
}

/// The recycle bin's items of one kind, oldest deletion first.
pub async fn list(
    env: &Env<'_>,
    tenant: &Tenant,
    kind: ObjectKind,
) -> Result<Vec<DeletedItem>, DirectoryError> {
    Ok(env
        .store
        .deleted_items(tenant.id)
        .await?
        .into_iter()
        .filter(|i| i.object.kind() == kind)
        .collect())
}

/// One deleted item (404 in Graph's words when the bin has none with this id).
pub async fn get(env: &Env<'_>, tenant: &Tenant, id: &str) -> Result<DeletedItem, DirectoryError> {
    let oid = ObjectId::parse(id).ok_or_else(|| not_found(id))?;
    env.store
        .deleted_item(tenant.id, oid)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Looks up the live holders of the names the item needs back.
async fn live_names(env: &Env<'_>, item: &DeletedItem) -> Result<LiveNames, StoreError> {
    let (s, t) = (env.store, item.tenant_id);
    let mut names = LiveNames::default();
    match &item.object {
        DeletedObject::User(u) => {
            names.upn_holder = s.user_by_upn(t, &u.user_principal_name).await?.map(|u| u.id);
        }
        DeletedObject::Group(g) => {
            if g.mail_enabled {
                names.mail_groups = s
                    .groups(t)
                    .await?
                    .into_iter()
                    .filter(|g| g.mail_enabled)
                    .map(|g| (g.id, g.mail_nickname))
                    .collect();
            }
        }
        DeletedObject::Application(a, _) => {
            names.app_id_holder = s.application_by_app_id(a.app_id).await?.map(|a| a.id);
            names.sp_holder = s.service_principal_by_app_id(t, a.app_id).await?.map(|sp| sp.id);
            for uri in &a.identifier_uris {
                if let Some(h) = s.application_by_identifier_uri(uri).await? {
                    names.identifier_uri_holders.push((uri.clone(), h.id));
                }
            }
        }
    }
    Ok(names)
}

fn audit_kind(item: &DeletedItem) -> (&'static str, &'static str, &'static str) {
    match item.object.kind() {
        ObjectKind::User => ("UserManagement", "User", "user"),
        ObjectKind::Group => ("GroupManagement", "Group", "group"),
        _ => ("ApplicationManagement", "Application", "application"),
    }
}

fn upn(item: &DeletedItem) -> Option<&str> {
    match &item.object {
        DeletedObject::User(u) => Some(&u.user_principal_name),
        _ => None,
    }
}

/// Restores a deleted item with its id, properties, credentials and the edges whose other end
/// still exists, in one commit with its audit record. A name now held by a live object is a
/// 400 naming the property and the holder, and changes nothing.
pub async fn restore(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
) -> Result<DeletedItem, DirectoryError> {
    let item = get(env, tenant, id).await?;
    if let Some(c) = bin::restore_conflict(&item, &live_names(env, &item).await?) {
        return Err(DirectoryError::BadRequest(
            Code::DeletedItemRestoreConflict.message(&[
                ("kind", &audit_kind(&item).2),
                ("id", &item.id()),
                ("holder", &c.holder),
                ("property", &c.property),
                ("value", &c.value),
            ]),
        ));
    }
    let mut others: Vec<ObjectId> = Vec::new();
    let e = &item.edges;
    others.extend(e.memberships.iter().flat_map(|m| [m.group_id, m.member_id]));
    others.extend(e.owners.iter().flat_map(|(o, w)| [*o, *w]));
    others.extend(e.unit_memberships.iter().map(|(u, _)| *u));
    others.extend(e.app_roles.iter().flat_map(|a| [a.principal_id, a.resource_id]));
    others.extend(
        e.permission_grants
            .iter()
            .flat_map(|g| [Some(g.client_id), Some(g.resource_id), g.principal_id])
            .flatten(),
    );
    others.extend(e.directory_roles.iter().filter_map(|a| {
        a.directory_scope_id
            .strip_prefix("/administrativeUnits/")
            .and_then(ObjectId::parse)
    }));
    if let DeletedObject::User(u) = &item.object {
        others.extend(u.manager_id);
    }
    others.sort();
    others.dedup();
    let units: Vec<ObjectId> = env
        .store
        .administrative_units(tenant.id)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let mut live: Vec<ObjectId> = Vec::new();
    for o in others {
        if env.store.object_kind(tenant.id, o).await?.is_some()
            || env.store.device(tenant.id, o).await?.is_some()
            || units.contains(&o)
        {
            live.push(o);
        }
    }
    let changes = bin::restore_changes(&item, &|o| live.contains(&o));
    let (category, kind, word) = audit_kind(&item);
    let audit = env.audit(
        tenant,
        category,
        &format!("Restore {word}"),
        "Update",
        vec![target(
            item.id(),
            kind,
            Some(item.object.display_name()),
            upn(&item),
            vec![],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteDeletedItem(tenant.id, item.id()));
    for c in changes {
        set.push(c);
    }
    set.audit(audit);
    env.store.commit(set).await?;
    Ok(item)
}

/// Deletes an item for good (`DELETE /directory/deletedItems/{id}`), with its audit record.
pub async fn purge(env: &mut Env<'_>, tenant: &Tenant, id: &str) -> Result<(), DirectoryError> {
    let item = get(env, tenant, id).await?;
    let mut set = ChangeSet::new();
    push_purge(env, tenant, &item, &mut set);
    env.store.commit(set).await?;
    Ok(())
}

fn push_purge(env: &mut Env<'_>, tenant: &Tenant, item: &DeletedItem, set: &mut ChangeSet) {
    let (category, kind, word) = audit_kind(item);
    let audit = env.audit(
        tenant,
        category,
        &format!("Hard delete {word}"),
        "Delete",
        vec![target(
            item.id(),
            kind,
            Some(item.object.display_name()),
            upn(item),
            vec![],
        )],
    );
    set.push(Change::DeleteDeletedItem(tenant.id, item.id()))
        .audit(audit);
}

/// Purges the tenant's items deleted 30 days ago or more (the server's background sweep; the
/// actor is whoever `env` names, the system operator there). Returns how many.
pub async fn sweep(env: &mut Env<'_>, tenant: &Tenant) -> Result<usize, DirectoryError> {
    let items = env.store.deleted_items(tenant.id).await?;
    let due = bin::due_for_purge(&items, env.now);
    if due.is_empty() {
        return Ok(0);
    }
    let mut set = ChangeSet::new();
    for item in items.iter().filter(|i| due.contains(&i.id())) {
        push_purge(env, tenant, item, &mut set);
    }
    env.store.commit(set).await?;
    Ok(due.len())
}
