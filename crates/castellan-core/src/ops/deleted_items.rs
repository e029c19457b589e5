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
async fn live_edges(
    env: &Env<'_>,
    tenant: &Tenant,
    ids: &[ObjectId],
) -> Result<LiveEdges, StoreError> {
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
        live.app_roles
            .extend(s.app_role_assignments_of(t, *id).await?);
        live.app_roles
            .extend(s.app_role_assignments_to(t, *id).await?);
        live.azure_roles
            .extend(s.azure_role_assignments_of(t, *id).await?);
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
    let mut live = live_edges(env, tenant, &object.ids()).await?;
    if let DeletedObject::User(u) = &object {
        live.oath_methods = env.store.software_oath_methods(tenant.id, u.id).await?;
        live.recovery_codes = env.store.recovery_codes(tenant.id, u.id).await?;
    }
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

/// What the authorisation decision knows about a deleted object: its snapshot
/// ([`bin::target`]), and for a user the role-assignable groups a restore would put them back
/// in (live groups they were a member or owner of) with those groups' directory roles — so a
/// user who was privileged through a group stays protected while deleted.
pub async fn authz_target(
    env: &Env<'_>,
    tenant: &Tenant,
    item: &DeletedItem,
    caller: ObjectId,
) -> Result<crate::authz::Target, DirectoryError> {
    let mut target = bin::target(item, caller);
    let DeletedObject::User(u) = &item.object else {
        return Ok(target);
    };
    let assignable: Vec<ObjectId> = env
        .store
        .groups(tenant.id)
        .await?
        .into_iter()
        .filter(|g| g.is_assignable_to_role)
        .map(|g| g.id)
        .collect();
    let member_of: Vec<ObjectId> = item
        .edges
        .memberships
        .iter()
        .filter(|m| m.member_id == u.id && assignable.contains(&m.group_id))
        .map(|m| m.group_id)
        .collect();
    let owner_of = item
        .edges
        .owners
        .iter()
        .any(|(o, w)| *w == u.id && assignable.contains(o));
    target.in_role_assignable_group = owner_of || !member_of.is_empty();
    if !member_of.is_empty() {
        target.user_roles.extend(
            env.store
                .directory_role_assignments(tenant.id)
                .await?
                .into_iter()
                .filter(|a| member_of.contains(&a.principal_id))
                .map(|a| a.role_template_id),
        );
    }
    Ok(target)
}

/// Looks up the live holders of the names the item needs back.
async fn live_names(env: &Env<'_>, item: &DeletedItem) -> Result<LiveNames, StoreError> {
    let (s, t) = (env.store, item.tenant_id);
    let mut names = LiveNames::default();
    match &item.object {
        DeletedObject::User(u) => {
            names.upn_holder = s
                .user_by_upn(t, &u.user_principal_name)
                .await?
                .map(|u| u.id);
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
            names.sp_holder = s
                .service_principal_by_app_id(t, a.app_id)
                .await?
                .map(|sp| sp.id);
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
    others.extend(
        e.app_roles
            .iter()
            .flat_map(|a| [a.principal_id, a.resource_id]),
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{application, group, service_principal, user, Ids};
    use crate::model::{DirectoryRoleAssignment, Membership};
    use crate::ops::testing::{env, store_with_tenant, Seeded, NOW};
    use crate::ops::{applications, groups, users};
    use crate::store::memory::{block_on, MemoryStore};
    use crate::store::prelude::*;
    use crate::store::AuditQuery;

    fn put(s: &MemoryStore, changes: Vec<Change>) {
        block_on(s.commit(ChangeSet {
            changes,
            audit: vec![],
        }))
        .unwrap();
    }

    fn activities(s: &MemoryStore, t: &Tenant) -> Vec<String> {
        block_on(s.audit_records(t.id, &AuditQuery::default()))
            .unwrap()
            .into_iter()
            .map(|a| a.activity)
            .collect()
    }

    /// Delete → invisible and in the bin with its edges → restore → the same user, its group,
    /// its role back; audit records for delete and restore; the bin is empty again.
    #[test]
    fn a_deleted_user_is_restored_with_memberships_and_roles() {
        let (s, t) = store_with_tenant(11);
        let mut ids = Ids::new(11);
        let alice = user(&mut ids, &t, "alice", true);
        let g = group(&mut ids, &t, "team");
        let role = DirectoryRoleAssignment {
            id: ids.object(),
            tenant_id: t.id,
            principal_id: alice.id,
            role_template_id: uuid::Uuid::from_u128(9),
            directory_scope_id: "/".into(),
        };
        let edge = Membership {
            group_id: g.id,
            member_id: alice.id,
            member_kind: ObjectKind::User,
        };
        put(
            &s,
            vec![
                Change::InsertUser(alice.clone()),
                Change::InsertGroup(g.clone()),
                Change::AddMember(t.id, edge),
                Change::AddOwner(t.id, g.id, alice.id),
                Change::InsertDirectoryRoleAssignment(role.clone()),
            ],
        );
        let phone = crate::model::SoftwareOathMethod {
            id: ids.object(),
            tenant_id: t.id,
            user_id: alice.id,
            display_name: "phone".into(),
            secret_sealed: vec![1, 2, 3],
            created: NOW,
            confirmed: true,
            last_used_step: Some(7),
        };
        put(
            &s,
            vec![
                Change::InsertSoftwareOathMethod(phone.clone()),
                Change::ReplaceRecoveryCodes(t.id, alice.id, vec![[5; 32]]),
            ],
        );
        let mut ent = Seeded(1);
        let mut e = env(&s, &mut ent);
        block_on(users::delete(&mut e, &t, &alice.id.to_string())).unwrap();
        assert!(block_on(s.software_oath_methods(t.id, alice.id))
            .unwrap()
            .is_empty());
        assert!(block_on(s.user(t.id, alice.id)).unwrap().is_none());
        assert!(block_on(s.memberships(t.id)).unwrap().is_empty());
        assert!(block_on(s.directory_role_assignments(t.id))
            .unwrap()
            .is_empty());
        let listed = block_on(list(&e, &t, ObjectKind::User)).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].deleted, NOW);
        assert!(block_on(list(&e, &t, ObjectKind::Group))
            .unwrap()
            .is_empty());

        let back = block_on(restore(&mut e, &t, &alice.id.to_string())).unwrap();
        assert_eq!(back.id(), alice.id);
        assert_eq!(
            block_on(s.user(t.id, alice.id)).unwrap(),
            Some(alice.clone())
        );
        assert_eq!(block_on(s.memberships(t.id)).unwrap(), vec![edge]);
        assert_eq!(block_on(s.owners(t.id, g.id)).unwrap(), vec![alice.id]);
        assert_eq!(
            block_on(s.directory_role_assignments(t.id)).unwrap(),
            vec![role]
        );
        assert!(block_on(s.deleted_items(t.id)).unwrap().is_empty());
        assert_eq!(
            block_on(s.software_oath_methods(t.id, alice.id)).unwrap(),
            vec![phone],
            "the authenticator app comes back with its replay guard"
        );
        assert_eq!(
            block_on(s.recovery_codes(t.id, alice.id)).unwrap(),
            vec![crate::model::RecoveryCode {
                hash: [5; 32],
                used: false
            }]
        );
        let acts = activities(&s, &t);
        assert!(acts.contains(&"Delete user".to_string()), "{acts:?}");
        assert!(acts.contains(&"Restore user".to_string()), "{acts:?}");
        // Restoring again: the bin no longer has it.
        assert!(matches!(
            block_on(restore(&mut e, &t, &alice.id.to_string())),
            Err(DirectoryError::NotFound(_))
        ));
    }

    /// A user privileged through a role-assignable group stays protected while deleted: the
    /// target carries the group's role and the role-assignable membership; a plain user's not.
    #[test]
    fn a_deleted_user_keeps_the_roles_of_role_assignable_groups_in_the_target() {
        let (s, t) = store_with_tenant(16);
        let mut ids = Ids::new(16);
        let (admin, plain) = (
            user(&mut ids, &t, "adm", true),
            user(&mut ids, &t, "pl", true),
        );
        let mut g = group(&mut ids, &t, "admins");
        g.is_assignable_to_role = true;
        let global = uuid::Uuid::from_u128(62);
        put(
            &s,
            vec![
                Change::InsertUser(admin.clone()),
                Change::InsertUser(plain.clone()),
                Change::InsertGroup(g.clone()),
                Change::AddMember(
                    t.id,
                    Membership {
                        group_id: g.id,
                        member_id: admin.id,
                        member_kind: ObjectKind::User,
                    },
                ),
                Change::InsertDirectoryRoleAssignment(DirectoryRoleAssignment {
                    id: ids.object(),
                    tenant_id: t.id,
                    principal_id: g.id,
                    role_template_id: global,
                    directory_scope_id: "/".into(),
                }),
            ],
        );
        let mut ent = Seeded(6);
        let mut e = env(&s, &mut ent);
        block_on(users::delete(&mut e, &t, &admin.id.to_string())).unwrap();
        block_on(users::delete(&mut e, &t, &plain.id.to_string())).unwrap();
        let caller = ids.object();
        let item = block_on(get(&e, &t, &admin.id.to_string())).unwrap();
        let tg = block_on(authz_target(&e, &t, &item, caller)).unwrap();
        assert!(tg.in_role_assignable_group);
        assert_eq!(tg.user_roles, vec![global]);
        let item = block_on(get(&e, &t, &plain.id.to_string())).unwrap();
        let tg = block_on(authz_target(&e, &t, &item, caller)).unwrap();
        assert!(!tg.in_role_assignable_group && tg.user_roles.is_empty());
    }

    /// A UPN reused meanwhile: restore fails naming the property and the holder, and nothing
    /// changes (the item stays in the bin, no audit record).
    #[test]
    fn a_reused_upn_makes_restore_fail_and_change_nothing() {
        let (s, t) = store_with_tenant(12);
        let mut ids = Ids::new(12);
        let alice = user(&mut ids, &t, "alice", true);
        put(&s, vec![Change::InsertUser(alice.clone())]);
        let mut ent = Seeded(2);
        let mut e = env(&s, &mut ent);
        block_on(users::delete(&mut e, &t, &alice.id.to_string())).unwrap();
        let mut newcomer = user(&mut ids, &t, "alice", true);
        newcomer.display_name = "New Alice".into();
        put(&s, vec![Change::InsertUser(newcomer.clone())]);
        let before = activities(&s, &t).len();
        let err = block_on(restore(&mut e, &t, &alice.id.to_string())).unwrap_err();
        let DirectoryError::BadRequest(m) = err else {
            panic!("{err:?}")
        };
        assert!(m.contains("userPrincipalName"), "{m}");
        assert!(m.contains(&alice.user_principal_name), "{m}");
        assert!(m.contains(&newcomer.id.to_string()), "{m}");
        assert_eq!(block_on(s.deleted_items(t.id)).unwrap().len(), 1);
        assert_eq!(activities(&s, &t).len(), before);
        assert_eq!(block_on(s.users(t.id)).unwrap(), vec![newcomer]);
    }

    /// A group whose member was deleted since comes back without that member.
    #[test]
    fn a_restored_group_skips_members_that_no_longer_exist() {
        let (s, t) = store_with_tenant(13);
        let mut ids = Ids::new(13);
        let (alice, bob) = (
            user(&mut ids, &t, "alice", true),
            user(&mut ids, &t, "bob", true),
        );
        let g = group(&mut ids, &t, "team");
        let m = |u: &crate::model::User| Membership {
            group_id: g.id,
            member_id: u.id,
            member_kind: ObjectKind::User,
        };
        put(
            &s,
            vec![
                Change::InsertUser(alice.clone()),
                Change::InsertUser(bob.clone()),
                Change::InsertGroup(g.clone()),
                Change::AddMember(t.id, m(&alice)),
                Change::AddMember(t.id, m(&bob)),
            ],
        );
        let mut ent = Seeded(3);
        let mut e = env(&s, &mut ent);
        block_on(groups::delete(&mut e, &t, &g.id.to_string())).unwrap();
        block_on(users::delete(&mut e, &t, &bob.id.to_string())).unwrap();
        block_on(restore(&mut e, &t, &g.id.to_string())).unwrap();
        assert_eq!(block_on(s.group(t.id, g.id)).unwrap(), Some(g.clone()));
        assert_eq!(block_on(s.memberships(t.id)).unwrap(), vec![m(&alice)]);
        // Bob comes back later: his snapshot, taken after the group was gone, has no edge.
        block_on(restore(&mut e, &t, &bob.id.to_string())).unwrap();
        assert_eq!(block_on(s.memberships(t.id)).unwrap(), vec![m(&alice)]);
    }

    /// An application goes to the bin with its service principal (and its credentials, part of
    /// it); restore brings both back; a reused identifier URI blocks the restore.
    #[test]
    fn an_application_is_restored_with_its_service_principal() {
        let (s, t) = store_with_tenant(14);
        let mut ids = Ids::new(14);
        let app = application(&mut ids, &t);
        let sp = service_principal(&mut ids, &t, &app);
        put(
            &s,
            vec![
                Change::InsertApplication(app.clone()),
                Change::InsertServicePrincipal(sp.clone()),
            ],
        );
        let mut ent = Seeded(4);
        let mut e = env(&s, &mut ent);
        block_on(applications::delete(&mut e, &t, &app.id.to_string())).unwrap();
        assert!(block_on(s.application_by_app_id(app.app_id))
            .unwrap()
            .is_none());
        assert!(block_on(s.service_principal(t.id, sp.id))
            .unwrap()
            .is_none());
        // Another app takes the identifier URI meanwhile.
        let mut other = application(&mut ids, &t);
        other.identifier_uris = app.identifier_uris.clone();
        put(&s, vec![Change::InsertApplication(other.clone())]);
        let err = block_on(restore(&mut e, &t, &app.id.to_string())).unwrap_err();
        assert!(
            matches!(&err, DirectoryError::BadRequest(m) if m.contains("identifierUris") && m.contains(&other.id.to_string())),
            "{err:?}"
        );
        put(&s, vec![Change::DeleteApplication(t.id, other.id)]);
        block_on(restore(&mut e, &t, &app.id.to_string())).unwrap();
        assert_eq!(block_on(s.application(t.id, app.id)).unwrap(), Some(app));
        assert_eq!(
            block_on(s.service_principal(t.id, sp.id)).unwrap(),
            Some(sp)
        );
    }

    /// Permanent deletion empties the slot and is audited; the sweep purges only what is 30
    /// days old (fixed clock), as the operator.
    #[test]
    fn permanent_deletion_and_the_thirty_day_sweep() {
        let (s, t) = store_with_tenant(15);
        let mut ids = Ids::new(15);
        let (a, b, c) = (
            user(&mut ids, &t, "a", true),
            user(&mut ids, &t, "b", true),
            user(&mut ids, &t, "c", true),
        );
        put(
            &s,
            vec![
                Change::InsertUser(a.clone()),
                Change::InsertUser(b.clone()),
                Change::InsertUser(c.clone()),
            ],
        );
        let mut ent = Seeded(5);
        let mut e = env(&s, &mut ent);
        block_on(users::delete(&mut e, &t, &a.id.to_string())).unwrap();
        block_on(users::delete(&mut e, &t, &b.id.to_string())).unwrap();
        block_on(purge(&mut e, &t, &a.id.to_string())).unwrap();
        assert!(matches!(
            block_on(get(&e, &t, &a.id.to_string())),
            Err(DirectoryError::NotFound(_))
        ));
        assert!(activities(&s, &t).contains(&"Hard delete user".to_string()));
        e.now = NOW.plus_secs(24 * 3600);
        block_on(users::delete(&mut e, &t, &c.id.to_string())).unwrap();
        e.now = NOW.plus_secs(bin::RETENTION_SECS - 1);
        assert_eq!(block_on(sweep(&mut e, &t)).unwrap(), 0);
        e.now = NOW.plus_secs(bin::RETENTION_SECS);
        assert_eq!(
            block_on(sweep(&mut e, &t)).unwrap(),
            1,
            "only b is 30 days old"
        );
        let left: Vec<ObjectId> = block_on(s.deleted_items(t.id))
            .unwrap()
            .iter()
            .map(DeletedItem::id)
            .collect();
        assert_eq!(left, vec![c.id]);
        assert!(matches!(
            block_on(purge(&mut e, &t, "not-a-guid")),
            Err(DirectoryError::NotFound(_))
        ));
    }
}
