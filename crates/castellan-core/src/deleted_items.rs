//! Graph's recycle bin (`/directory/deletedItems`): what a soft-deleted user, group or
//! application keeps for its restore (the object, and every edge that named it), and the pure
//! decisions over it — which edges a snapshot takes, whether a restore clashes with a live
//! object, which edges a restore can bring back, which items are due for purge, and what the
//! authorisation decision knows about a deleted target. Loaded and committed by
//! `ops::deleted_items`; no I/O here.

use crate::authz::Target;
use crate::model::{
    AppRoleAssignment, Application, AzureRoleAssignment, DirectoryRoleAssignment, Group,
    Membership, OAuth2PermissionGrant, ObjectKind, RecoveryCode, ServicePrincipal,
    SoftwareOathMethod, User,
};
use crate::store::Change;
use crate::{ObjectId, TenantId, Timestamp};

/// How long Entra keeps a deleted object before it is purged: 30 days.
pub const RETENTION_SECS: i64 = 30 * 24 * 3600;

/// The deleted object itself.
// One value per recycle-bin item, read one at a time: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum DeletedObject {
    /// A user (its password hash and properties as they were).
    User(User),
    /// A group.
    Group(Group),
    /// An application registration (its credentials are part of it) and its service
    /// principal(s) in its home tenant.
    Application(Box<Application>, Vec<ServicePrincipal>),
}

impl DeletedObject {
    /// The deleted object's id (the application's object id for an application).
    pub fn id(&self) -> ObjectId {
        match self {
            Self::User(u) => u.id,
            Self::Group(g) => g.id,
            Self::Application(a, _) => a.id,
        }
    }
    /// Its kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::User(_) => ObjectKind::User,
            Self::Group(_) => ObjectKind::Group,
            Self::Application(..) => ObjectKind::Application,
        }
    }
    /// Its display name.
    pub fn display_name(&self) -> &str {
        match self {
            Self::User(u) => &u.display_name,
            Self::Group(g) => &g.display_name,
            Self::Application(a, _) => &a.display_name,
        }
    }
    /// Every object id the snapshot brings back (the application and its service principals).
    pub fn ids(&self) -> Vec<ObjectId> {
        match self {
            Self::Application(a, sps) => std::iter::once(a.id)
                .chain(sps.iter().map(|s| s.id))
                .collect(),
            other => vec![other.id()],
        }
    }
}

/// The edges that named the deleted object(s) when it was deleted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeletedEdges {
    /// Group memberships (the object as member, or a deleted group's members).
    pub memberships: Vec<Membership>,
    /// Owner edges `(object, owner)`: the object's owners and what the object owned.
    pub owners: Vec<(ObjectId, ObjectId)>,
    /// Administrative-unit memberships `(unit, member)`.
    pub unit_memberships: Vec<(ObjectId, ObjectId)>,
    /// Directory role assignments held.
    pub directory_roles: Vec<DirectoryRoleAssignment>,
    /// App-role assignments held, or granted on a deleted service principal.
    pub app_roles: Vec<AppRoleAssignment>,
    /// Delegated permission grants naming the object (as user, client or resource).
    pub permission_grants: Vec<OAuth2PermissionGrant>,
    /// Azure role assignments held.
    pub azure_roles: Vec<AzureRoleAssignment>,
    /// A user's confirmed software OATH (authenticator app) methods, with their replay guard.
    pub oath_methods: Vec<SoftwareOathMethod>,
    /// A user's unused recovery codes (hashes; used ones stay used by not coming back).
    pub recovery_codes: Vec<[u8; 32]>,
}

/// One item of the recycle bin.
#[derive(Clone, Debug, PartialEq)]
pub struct DeletedItem {
    /// Tenant.
    pub tenant_id: TenantId,
    /// When it was deleted (`deletedDateTime`).
    pub deleted: Timestamp,
    /// The object.
    pub object: DeletedObject,
    /// What restore brings back with it.
    pub edges: DeletedEdges,
}

impl DeletedItem {
    /// The item's id (the deleted object's id).
    pub fn id(&self) -> ObjectId {
        self.object.id()
    }
    /// When it is purged for good.
    pub fn purge_at(&self) -> Timestamp {
        self.deleted.plus_secs(RETENTION_SECS)
    }
}

/// Everything the live directory holds that a snapshot picks its edges from (loaded by the op).
#[derive(Clone, Debug, Default)]
pub struct LiveEdges {
    /// Every membership edge of the tenant.
    pub memberships: Vec<Membership>,
    /// Owner edges `(object, owner)` touching the objects.
    pub owners: Vec<(ObjectId, ObjectId)>,
    /// Unit memberships `(unit, member)` of the objects.
    pub unit_memberships: Vec<(ObjectId, ObjectId)>,
    /// Every directory role assignment of the tenant.
    pub directory_roles: Vec<DirectoryRoleAssignment>,
    /// App-role assignments held by or granted on the objects.
    pub app_roles: Vec<AppRoleAssignment>,
    /// Every delegated grant of the tenant.
    pub permission_grants: Vec<OAuth2PermissionGrant>,
    /// Azure role assignments held by the objects.
    pub azure_roles: Vec<AzureRoleAssignment>,
    /// A deleted user's software OATH methods (pending ones too).
    pub oath_methods: Vec<SoftwareOathMethod>,
    /// A deleted user's recovery codes.
    pub recovery_codes: Vec<RecoveryCode>,
}

/// The snapshot of `object` deleted at `now`: the edges of `live` that name one of its ids
/// (deduplicated, so an assignment from the app's service principal to itself appears once).
pub fn snapshot(
    tenant: TenantId,
    object: DeletedObject,
    live: LiveEdges,
    now: Timestamp,
) -> DeletedItem {
    let ids = object.ids();
    let on = |id: &ObjectId| ids.contains(id);
    let mut app_roles: Vec<AppRoleAssignment> = Vec::new();
    for a in live.app_roles {
        if (on(&a.principal_id) || on(&a.resource_id)) && !app_roles.iter().any(|x| x.id == a.id) {
            app_roles.push(a);
        }
    }
    let mut owners: Vec<(ObjectId, ObjectId)> = Vec::new();
    for e in live.owners {
        if (on(&e.0) || on(&e.1)) && !owners.contains(&e) {
            owners.push(e);
        }
    }
    let edges = DeletedEdges {
        memberships: live
            .memberships
            .into_iter()
            .filter(|m| on(&m.group_id) || on(&m.member_id))
            .collect(),
        owners,
        unit_memberships: live
            .unit_memberships
            .into_iter()
            .filter(|(_, m)| on(m))
            .collect(),
        directory_roles: live
            .directory_roles
            .into_iter()
            .filter(|a| on(&a.principal_id))
            .collect(),
        app_roles,
        permission_grants: live
            .permission_grants
            .into_iter()
            .filter(|g| {
                on(&g.client_id) || on(&g.resource_id) || g.principal_id.is_some_and(|p| on(&p))
            })
            .collect(),
        azure_roles: live
            .azure_roles
            .into_iter()
            .filter(|a| on(&a.principal_id))
            .collect(),
        oath_methods: live
            .oath_methods
            .into_iter()
            .filter(|m| m.confirmed && on(&m.user_id))
            .collect(),
        recovery_codes: live
            .recovery_codes
            .into_iter()
            .filter(|c| !c.used)
            .map(|c| c.hash)
            .collect(),
    };
    DeletedItem {
        tenant_id: tenant,
        deleted: now,
        object,
        edges,
    }
}

/// A live object now holding a name the deleted one needs back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreConflict {
    /// The Graph property (`userPrincipalName`, `appId`, `identifierUris`, `mailNickname`).
    pub property: &'static str,
    /// The clashing value.
    pub value: String,
    /// The live object holding it.
    pub holder: ObjectId,
}

/// What the op looked up about the names a restore needs (each `Some` is a live holder).
#[derive(Clone, Debug, Default)]
pub struct LiveNames {
    /// A live user with the deleted user's UPN (any case).
    pub upn_holder: Option<ObjectId>,
    /// A live application with the deleted application's appId.
    pub app_id_holder: Option<ObjectId>,
    /// A live service principal in the tenant for the appId.
    pub sp_holder: Option<ObjectId>,
    /// Live holders of the application's identifier URIs: `(uri, application)`.
    pub identifier_uri_holders: Vec<(String, ObjectId)>,
    /// Live mail-enabled groups `(id, mailNickname)` of the tenant.
    pub mail_groups: Vec<(ObjectId, String)>,
}

/// The first clash between the item and the live directory, if any: a user's UPN; an
/// application's appId, its service principal's appId, an identifier URI; a mail-enabled
/// group's mailNickname (against live mail-enabled groups, any case). An object's own id is
/// never a clash (it is not live).
pub fn restore_conflict(item: &DeletedItem, live: &LiveNames) -> Option<RestoreConflict> {
    let me = item.object.ids();
    let foreign = |h: &Option<ObjectId>| h.filter(|h| !me.contains(h));
    match &item.object {
        DeletedObject::User(u) => foreign(&live.upn_holder).map(|holder| RestoreConflict {
            property: "userPrincipalName",
            value: u.user_principal_name.clone(),
            holder,
        }),
        DeletedObject::Application(a, _) => {
            if let Some(holder) = foreign(&live.app_id_holder).or(foreign(&live.sp_holder)) {
                return Some(RestoreConflict {
                    property: "appId",
                    value: a.app_id.to_string(),
                    holder,
                });
            }
            live.identifier_uri_holders
                .iter()
                .find(|(_, h)| !me.contains(h))
                .map(|(uri, holder)| RestoreConflict {
                    property: "identifierUris",
                    value: uri.clone(),
                    holder: *holder,
                })
        }
        DeletedObject::Group(g) if g.mail_enabled => live
            .mail_groups
            .iter()
            .find(|(id, nick)| *id != g.id && nick.eq_ignore_ascii_case(&g.mail_nickname))
            .map(|(holder, _)| RestoreConflict {
                property: "mailNickname",
                value: g.mail_nickname.clone(),
                holder: *holder,
            }),
        DeletedObject::Group(_) => None,
    }
}

/// The writes that bring the item back: the object(s) first, then each edge whose other end
/// still exists (`exists`; the restored ids count as existing) — a group's member deleted
/// since is skipped, as in Entra. A user's manager who no longer exists is cleared; a user's
/// authenticator-app methods and unused recovery codes come back with them.
/// Directory role assignments scoped to a unit that no longer exists are skipped too.
pub fn restore_changes(item: &DeletedItem, exists: &dyn Fn(ObjectId) -> bool) -> Vec<Change> {
    let t = item.tenant_id;
    let ids = item.object.ids();
    let ok = |id: ObjectId| ids.contains(&id) || exists(id);
    let mut out = Vec::new();
    match &item.object {
        DeletedObject::User(u) => {
            let mut u = u.clone();
            if u.manager_id.is_some_and(|m| !ok(m)) {
                u.manager_id = None;
            }
            out.push(Change::InsertUser(u));
        }
        DeletedObject::Group(g) => out.push(Change::InsertGroup(g.clone())),
        DeletedObject::Application(a, sps) => {
            out.push(Change::InsertApplication((**a).clone()));
            out.extend(sps.iter().cloned().map(Change::InsertServicePrincipal));
        }
    }
    let e = &item.edges;
    for m in &e.memberships {
        if ok(m.group_id) && ok(m.member_id) {
            out.push(Change::AddMember(t, *m));
        }
    }
    for (o, owner) in &e.owners {
        if ok(*o) && ok(*owner) {
            out.push(Change::AddOwner(t, *o, *owner));
        }
    }
    for (unit, m) in &e.unit_memberships {
        if ok(*unit) && ok(*m) {
            out.push(Change::AddAuMember(t, *unit, *m));
        }
    }
    for a in &e.directory_roles {
        let unit = a
            .directory_scope_id
            .strip_prefix("/administrativeUnits/")
            .and_then(ObjectId::parse);
        if ok(a.principal_id) && unit.is_none_or(ok) {
            out.push(Change::InsertDirectoryRoleAssignment(a.clone()));
        }
    }
    for a in &e.app_roles {
        if ok(a.principal_id) && ok(a.resource_id) {
            out.push(Change::InsertAppRoleAssignment(a.clone()));
        }
    }
    for g in &e.permission_grants {
        if ok(g.client_id) && ok(g.resource_id) && g.principal_id.is_none_or(ok) {
            out.push(Change::InsertPermissionGrant(g.clone()));
        }
    }
    for a in &e.azure_roles {
        if ok(a.principal_id) {
            out.push(Change::InsertAzureRoleAssignment(a.clone()));
        }
    }
    if let DeletedObject::User(u) = &item.object {
        out.extend(
            e.oath_methods
                .iter()
                .cloned()
                .map(Change::InsertSoftwareOathMethod),
        );
        if !e.recovery_codes.is_empty() {
            out.push(Change::ReplaceRecoveryCodes(
                t,
                u.id,
                e.recovery_codes.clone(),
            ));
        }
    }
    out
}

/// The ids of the items due for purge at `now`: deleted at least [`RETENTION_SECS`] ago.
pub fn due_for_purge(items: &[DeletedItem], now: Timestamp) -> Vec<ObjectId> {
    items
        .iter()
        .filter(|i| i.purge_at() <= now)
        .map(DeletedItem::id)
        .collect()
}

/// What the authorisation decision knows about a deleted object, from its snapshot: the
/// caller owned it, its units, a user's directory roles (direct), a group's role-assignability.
pub fn target(item: &DeletedItem, caller: ObjectId) -> Target {
    let id = item.id();
    Target {
        owned_by_caller: item.edges.owners.contains(&(id, caller)),
        units: item
            .edges
            .unit_memberships
            .iter()
            .filter(|(_, m)| *m == id)
            .map(|(u, _)| *u)
            .collect(),
        user_roles: match item.object {
            DeletedObject::User(_) => item
                .edges
                .directory_roles
                .iter()
                .map(|a| a.role_template_id)
                .collect(),
            _ => Vec::new(),
        },
        role_assignable_group: matches!(&item.object, DeletedObject::Group(g) if g.is_assignable_to_role),
        ..Target::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{application, group, service_principal, tenant, user, Ids};
    use crate::model::Tenant;

    const NOW: Timestamp = Timestamp(1_750_000_000_000);

    fn member(g: ObjectId, m: ObjectId, k: ObjectKind) -> Membership {
        Membership {
            group_id: g,
            member_id: m,
            member_kind: k,
        }
    }

    fn dra(ids: &mut Ids, t: &Tenant, p: ObjectId, scope: &str) -> DirectoryRoleAssignment {
        DirectoryRoleAssignment {
            id: ids.object(),
            tenant_id: t.id,
            principal_id: p,
            role_template_id: uuid::Uuid::from_u128(7),
            directory_scope_id: scope.into(),
        }
    }

    fn ara(ids: &mut Ids, t: &Tenant, p: ObjectId, r: ObjectId) -> AppRoleAssignment {
        AppRoleAssignment {
            id: ids.object(),
            tenant_id: t.id,
            principal_id: p,
            principal_type: ObjectKind::User,
            resource_id: r,
            app_role_id: uuid::Uuid::nil(),
            created: Timestamp(1),
        }
    }

    /// The snapshot keeps exactly the edges naming the object (any direction), nothing else.
    #[test]
    fn a_snapshot_keeps_the_edges_naming_the_object_and_no_others() {
        let mut ids = Ids::new(1);
        let t = tenant(&mut ids, "bin");
        let (alice, bob) = (
            user(&mut ids, &t, "alice", true),
            user(&mut ids, &t, "bob", true),
        );
        let (g1, g2) = (group(&mut ids, &t, "g1"), group(&mut ids, &t, "g2"));
        let (res, unit) = (ids.object(), ids.object());
        let mine = dra(&mut ids, &t, alice.id, "/");
        let mine_ar = ara(&mut ids, &t, alice.id, res);
        let live = LiveEdges {
            memberships: vec![
                member(g1.id, alice.id, ObjectKind::User),
                member(g2.id, bob.id, ObjectKind::User),
            ],
            owners: vec![(g2.id, alice.id), (g2.id, alice.id)],
            unit_memberships: vec![(unit, alice.id)],
            directory_roles: vec![mine.clone(), dra(&mut ids, &t, bob.id, "/")],
            app_roles: vec![mine_ar.clone(), mine_ar.clone()],
            permission_grants: vec![],
            azure_roles: vec![],
            oath_methods: vec![
                oath(&mut ids, &t, alice.id, true),
                oath(&mut ids, &t, alice.id, false),
            ],
            recovery_codes: vec![
                RecoveryCode {
                    hash: [1; 32],
                    used: false,
                },
                RecoveryCode {
                    hash: [2; 32],
                    used: true,
                },
            ],
        };
        let item = snapshot(t.id, DeletedObject::User(alice.clone()), live, NOW);
        assert_eq!(item.id(), alice.id);
        assert_eq!(item.deleted, NOW);
        assert_eq!(
            item.edges.memberships,
            vec![member(g1.id, alice.id, ObjectKind::User)],
            "bob's membership is not alice's"
        );
        assert_eq!(item.edges.owners, vec![(g2.id, alice.id)], "deduplicated");
        assert_eq!(item.edges.unit_memberships, vec![(unit, alice.id)]);
        assert_eq!(item.edges.directory_roles, vec![mine]);
        assert_eq!(item.edges.app_roles, vec![mine_ar], "deduplicated by id");
        assert_eq!(item.edges.oath_methods.len(), 1, "only confirmed methods");
        assert!(item.edges.oath_methods[0].confirmed);
        assert_eq!(
            item.edges.recovery_codes,
            vec![[1; 32]],
            "only unused codes"
        );
        let changes = restore_changes(&item, &|_| true);
        assert!(changes
            .iter()
            .any(|c| matches!(c, Change::InsertSoftwareOathMethod(m) if m.confirmed)));
        assert!(changes.iter().any(
            |c| matches!(c, Change::ReplaceRecoveryCodes(_, u, h) if *u == alice.id && h == &vec![[1; 32]])
        ));
    }

    fn oath(ids: &mut Ids, t: &Tenant, user: ObjectId, confirmed: bool) -> SoftwareOathMethod {
        SoftwareOathMethod {
            id: ids.object(),
            tenant_id: t.id,
            user_id: user,
            display_name: "phone".into(),
            secret_sealed: vec![1, 2],
            created: Timestamp(3),
            confirmed,
            last_used_step: confirmed.then_some(99),
        }
    }

    /// A UPN now held by another live user is a conflict naming property, value and holder;
    /// none when free. A mail-enabled group's mailNickname clashes with a live mail-enabled
    /// group (any case); an application's appId, its tenant's service principal and each
    /// identifier URI are checked.
    #[test]
    fn restore_conflicts_name_the_property_and_the_holder() {
        let mut ids = Ids::new(2);
        let t = tenant(&mut ids, "bin");
        let alice = user(&mut ids, &t, "alice", true);
        let item = snapshot(
            t.id,
            DeletedObject::User(alice.clone()),
            LiveEdges::default(),
            NOW,
        );
        assert_eq!(restore_conflict(&item, &LiveNames::default()), None);
        let other = ids.object();
        let c = restore_conflict(
            &item,
            &LiveNames {
                upn_holder: Some(other),
                ..LiveNames::default()
            },
        )
        .expect("conflict");
        assert_eq!(c.property, "userPrincipalName");
        assert_eq!(c.value, alice.user_principal_name);
        assert_eq!(c.holder, other);

        let g = group(&mut ids, &t, "Sales");
        let gi = snapshot(
            t.id,
            DeletedObject::Group(g.clone()),
            LiveEdges::default(),
            NOW,
        );
        let clash = LiveNames {
            mail_groups: vec![(other, "SALES".into())],
            ..LiveNames::default()
        };
        assert_eq!(
            restore_conflict(&gi, &clash).map(|c| c.property),
            Some("mailNickname")
        );
        let mut security = g.clone();
        security.mail_enabled = false;
        let si = snapshot(
            t.id,
            DeletedObject::Group(security),
            LiveEdges::default(),
            NOW,
        );
        assert_eq!(
            restore_conflict(&si, &clash),
            None,
            "security groups may share a nickname"
        );

        let app = application(&mut ids, &t);
        let sp = service_principal(&mut ids, &t, &app);
        let ai = snapshot(
            t.id,
            DeletedObject::Application(Box::new(app.clone()), vec![sp]),
            LiveEdges::default(),
            NOW,
        );
        assert_eq!(restore_conflict(&ai, &LiveNames::default()), None);
        let by_app_id = LiveNames {
            app_id_holder: Some(other),
            ..LiveNames::default()
        };
        let c = restore_conflict(&ai, &by_app_id).expect("appId conflict");
        assert_eq!((c.property, c.value), ("appId", app.app_id.to_string()));
        let by_sp = LiveNames {
            sp_holder: Some(other),
            ..LiveNames::default()
        };
        assert_eq!(
            restore_conflict(&ai, &by_sp).map(|c| c.property),
            Some("appId")
        );
        let by_uri = LiveNames {
            identifier_uri_holders: vec![(app.identifier_uris[0].clone(), other)],
            ..LiveNames::default()
        };
        let c = restore_conflict(&ai, &by_uri).expect("identifier URI conflict");
        assert_eq!(c.property, "identifierUris");
        assert_eq!(c.value, app.identifier_uris[0]);
    }

    /// Restore brings the object back first, then only the edges whose other end exists: a
    /// group member deleted since is skipped, a gone manager is cleared, a role scoped to a
    /// gone unit is skipped.
    #[test]
    fn restore_skips_edges_to_objects_that_no_longer_exist() {
        let mut ids = Ids::new(3);
        let t = tenant(&mut ids, "bin");
        let g = group(&mut ids, &t, "team");
        let (kept, gone, owner, unit) = (ids.object(), ids.object(), ids.object(), ids.object());
        let live = LiveEdges {
            memberships: vec![
                member(g.id, kept, ObjectKind::User),
                member(g.id, gone, ObjectKind::User),
            ],
            owners: vec![(g.id, owner)],
            ..LiveEdges::default()
        };
        let item = snapshot(t.id, DeletedObject::Group(g.clone()), live, NOW);
        let exists = |o: ObjectId| o == kept || o == owner;
        let changes = restore_changes(&item, &exists);
        assert!(matches!(&changes[0], Change::InsertGroup(x) if x.id == g.id));
        let added: Vec<ObjectId> = changes
            .iter()
            .filter_map(|c| match c {
                Change::AddMember(_, m) => Some(m.member_id),
                _ => None,
            })
            .collect();
        assert_eq!(added, vec![kept], "the deleted member is skipped");
        assert!(changes
            .iter()
            .any(|c| matches!(c, Change::AddOwner(_, o, w) if *o == g.id && *w == owner)));

        let mut alice = user(&mut ids, &t, "alice", true);
        alice.manager_id = Some(gone);
        let roles = vec![
            dra(&mut ids, &t, alice.id, "/"),
            dra(
                &mut ids,
                &t,
                alice.id,
                &format!("/administrativeUnits/{unit}"),
            ),
        ];
        let item = snapshot(
            t.id,
            DeletedObject::User(alice.clone()),
            LiveEdges {
                directory_roles: roles.clone(),
                ..LiveEdges::default()
            },
            NOW,
        );
        let changes = restore_changes(&item, &|_| false);
        assert!(matches!(&changes[0], Change::InsertUser(u) if u.manager_id.is_none()));
        let restored: Vec<&DirectoryRoleAssignment> = changes
            .iter()
            .filter_map(|c| match c {
                Change::InsertDirectoryRoleAssignment(a) => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(
            restored,
            vec![&roles[0]],
            "the unit-scoped role's unit is gone"
        );
        // Positive control: with the unit present both come back.
        let changes = restore_changes(&item, &|o| o == unit);
        assert_eq!(
            changes
                .iter()
                .filter(|c| matches!(c, Change::InsertDirectoryRoleAssignment(_)))
                .count(),
            2
        );
    }

    /// An application's service principal is restored with it, and an assignment between
    /// the two restored objects counts as existing.
    #[test]
    fn restore_of_an_application_brings_its_service_principal_and_their_edges() {
        let mut ids = Ids::new(4);
        let t = tenant(&mut ids, "bin");
        let app = application(&mut ids, &t);
        let sp = service_principal(&mut ids, &t, &app);
        let self_assigned = ara(&mut ids, &t, sp.id, sp.id);
        let item = snapshot(
            t.id,
            DeletedObject::Application(Box::new(app.clone()), vec![sp.clone()]),
            LiveEdges {
                app_roles: vec![self_assigned.clone()],
                ..LiveEdges::default()
            },
            NOW,
        );
        let changes = restore_changes(&item, &|_| false);
        assert!(matches!(&changes[0], Change::InsertApplication(a) if a.id == app.id));
        assert!(matches!(&changes[1], Change::InsertServicePrincipal(s) if s.id == sp.id));
        assert!(changes
            .iter()
            .any(|c| matches!(c, Change::InsertAppRoleAssignment(a) if a.id == self_assigned.id)));
    }

    /// Items are due exactly 30 days after deletion (fixed clock), not a millisecond before.
    #[test]
    fn items_are_due_for_purge_thirty_days_after_deletion() {
        let mut ids = Ids::new(5);
        let t = tenant(&mut ids, "bin");
        let old = snapshot(
            t.id,
            DeletedObject::User(user(&mut ids, &t, "old", true)),
            LiveEdges::default(),
            NOW,
        );
        let young = snapshot(
            t.id,
            DeletedObject::User(user(&mut ids, &t, "young", true)),
            LiveEdges::default(),
            NOW.plus_secs(3600),
        );
        let items = vec![old.clone(), young.clone()];
        let day30 = NOW.plus_secs(RETENTION_SECS);
        assert_eq!(due_for_purge(&items, Timestamp(day30.0 - 1)), vec![]);
        assert_eq!(due_for_purge(&items, day30), vec![old.id()]);
        assert_eq!(
            due_for_purge(&items, day30.plus_secs(3600)),
            vec![old.id(), young.id()]
        );
    }

    /// The authorisation target comes from the snapshot: ownership, units, a user's roles, a
    /// group's role-assignability.
    #[test]
    fn the_target_of_a_deleted_object_comes_from_its_snapshot() {
        let mut ids = Ids::new(6);
        let t = tenant(&mut ids, "bin");
        let mut g = group(&mut ids, &t, "admins");
        g.is_assignable_to_role = true;
        let (caller, unit) = (ids.object(), ids.object());
        let item = snapshot(
            t.id,
            DeletedObject::Group(g.clone()),
            LiveEdges {
                owners: vec![(g.id, caller)],
                unit_memberships: vec![(unit, g.id)],
                ..LiveEdges::default()
            },
            NOW,
        );
        let tg = target(&item, caller);
        assert!(tg.owned_by_caller && tg.role_assignable_group);
        assert_eq!(tg.units, vec![unit]);
        assert!(!target(&item, ids.object()).owned_by_caller);
        let alice = user(&mut ids, &t, "alice", true);
        let role = dra(&mut ids, &t, alice.id, "/");
        let ui = snapshot(
            t.id,
            DeletedObject::User(alice),
            LiveEdges {
                directory_roles: vec![role.clone()],
                ..LiveEdges::default()
            },
            NOW,
        );
        assert_eq!(target(&ui, caller).user_roles, vec![role.role_template_id]);
    }
}
