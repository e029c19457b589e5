//! The recycle bin: one row per soft-deleted user, group or application, its snapshot (the
//! object in its own area's document, and every edge restore needs) as one JSON document.

use super::*;
use crate::arm::RaDoc;
use crate::groups::GroupDoc;
use crate::users::UserDoc;
use castellan_core::deleted_items::{DeletedEdges, DeletedItem, DeletedObject};

#[derive(Serialize, Deserialize)]
struct EdgeDoc {
    group: String,
    member: String,
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct DraDoc {
    id: String,
    principal: String,
    role: String,
    scope: String,
}

#[derive(Serialize, Deserialize)]
struct AraDoc {
    id: String,
    principal: String,
    principal_kind: String,
    resource: String,
    role: String,
    created: i64,
}

#[derive(Serialize, Deserialize)]
struct PgDoc {
    id: String,
    client: String,
    consent_type: String,
    principal: Option<String>,
    resource: String,
    scope: String,
}

#[derive(Serialize, Deserialize)]
struct OathSnapDoc {
    method: OathDoc,
    confirmed: bool,
    last_used_step: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ObjectDoc {
    User(Box<UserDoc>),
    Group(GroupDoc),
    Application(Box<AppDoc>, Vec<SpDoc>),
}

#[derive(Serialize, Deserialize)]
struct DeletedDoc {
    tenant_id: String,
    deleted: i64,
    object: ObjectDoc,
    memberships: Vec<EdgeDoc>,
    owners: Vec<(String, String)>,
    units: Vec<(String, String)>,
    directory_roles: Vec<DraDoc>,
    app_roles: Vec<AraDoc>,
    permission_grants: Vec<PgDoc>,
    azure_roles: Vec<RaDoc>,
    #[serde(default)]
    oath_methods: Vec<OathSnapDoc>,
    /// Hex hashes of unused recovery codes.
    #[serde(default)]
    recovery_codes: Vec<String>,
}

fn pairs(v: &[(ObjectId, ObjectId)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn unpairs(v: Vec<(String, String)>) -> Result<Vec<(ObjectId, ObjectId)>, StoreError> {
    v.iter().map(|(a, b)| Ok((oid(a)?, oid(b)?))).collect()
}

fn kind(s: &str) -> Result<ObjectKind, StoreError> {
    ObjectKind::parse(s).ok_or_else(|| backend(format!("bad object kind '{s}' in the store")))
}

impl From<&DeletedItem> for DeletedDoc {
    fn from(i: &DeletedItem) -> Self {
        let e = &i.edges;
        Self {
            tenant_id: i.tenant_id.to_string(),
            deleted: i.deleted.millis(),
            object: match &i.object {
                DeletedObject::User(u) => ObjectDoc::User(Box::new(u.into())),
                DeletedObject::Group(g) => ObjectDoc::Group(g.into()),
                DeletedObject::Application(a, sps) => ObjectDoc::Application(
                    Box::new((&**a).into()),
                    sps.iter().map(Into::into).collect(),
                ),
            },
            memberships: e
                .memberships
                .iter()
                .map(|m| EdgeDoc {
                    group: m.group_id.to_string(),
                    member: m.member_id.to_string(),
                    kind: m.member_kind.as_str().into(),
                })
                .collect(),
            owners: pairs(&e.owners),
            units: pairs(&e.unit_memberships),
            directory_roles: e
                .directory_roles
                .iter()
                .map(|a| DraDoc {
                    id: a.id.to_string(),
                    principal: a.principal_id.to_string(),
                    role: a.role_template_id.to_string(),
                    scope: a.directory_scope_id.clone(),
                })
                .collect(),
            app_roles: e
                .app_roles
                .iter()
                .map(|a| AraDoc {
                    id: a.id.to_string(),
                    principal: a.principal_id.to_string(),
                    principal_kind: a.principal_type.as_str().into(),
                    resource: a.resource_id.to_string(),
                    role: a.app_role_id.to_string(),
                    created: a.created.millis(),
                })
                .collect(),
            permission_grants: e
                .permission_grants
                .iter()
                .map(|g| PgDoc {
                    id: g.id.to_string(),
                    client: g.client_id.to_string(),
                    consent_type: g.consent_type.clone(),
                    principal: g.principal_id.map(|p| p.to_string()),
                    resource: g.resource_id.to_string(),
                    scope: g.scope.clone(),
                })
                .collect(),
            azure_roles: e.azure_roles.iter().map(Into::into).collect(),
            oath_methods: e
                .oath_methods
                .iter()
                .map(|m| OathSnapDoc {
                    method: m.into(),
                    confirmed: m.confirmed,
                    last_used_step: m.last_used_step,
                })
                .collect(),
            recovery_codes: e.recovery_codes.iter().map(|h| to_hex(h)).collect(),
        }
    }
}

impl TryFrom<DeletedDoc> for DeletedItem {
    type Error = StoreError;
    fn try_from(d: DeletedDoc) -> Result<Self, StoreError> {
        let t = tid(&d.tenant_id)?;
        let object = match d.object {
            ObjectDoc::User(u) => DeletedObject::User((*u).try_into()?),
            ObjectDoc::Group(g) => DeletedObject::Group(g.try_into()?),
            ObjectDoc::Application(a, sps) => DeletedObject::Application(
                Box::new((*a).try_into()?),
                sps.into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<_, _>>()?,
            ),
        };
        let edges = DeletedEdges {
            memberships: d
                .memberships
                .into_iter()
                .map(|m| {
                    Ok(Membership {
                        group_id: oid(&m.group)?,
                        member_id: oid(&m.member)?,
                        member_kind: kind(&m.kind)?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            owners: unpairs(d.owners)?,
            unit_memberships: unpairs(d.units)?,
            directory_roles: d
                .directory_roles
                .into_iter()
                .map(|a| {
                    Ok(DirectoryRoleAssignment {
                        id: oid(&a.id)?,
                        tenant_id: t,
                        principal_id: oid(&a.principal)?,
                        role_template_id: guid(&a.role)?,
                        directory_scope_id: a.scope,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            app_roles: d
                .app_roles
                .into_iter()
                .map(|a| {
                    Ok(AppRoleAssignment {
                        id: oid(&a.id)?,
                        tenant_id: t,
                        principal_id: oid(&a.principal)?,
                        principal_type: kind(&a.principal_kind)?,
                        resource_id: oid(&a.resource)?,
                        app_role_id: guid(&a.role)?,
                        created: Timestamp(a.created),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            permission_grants: d
                .permission_grants
                .into_iter()
                .map(|g| {
                    Ok(OAuth2PermissionGrant {
                        id: oid(&g.id)?,
                        tenant_id: t,
                        client_id: oid(&g.client)?,
                        consent_type: g.consent_type,
                        principal_id: g.principal.as_deref().map(oid).transpose()?,
                        resource_id: oid(&g.resource)?,
                        scope: g.scope,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            azure_roles: all(d.azure_roles)?,
            oath_methods: d
                .oath_methods
                .into_iter()
                .map(|m| oath_from_doc(m.method, m.confirmed, m.last_used_step))
                .collect::<Result<_, _>>()?,
            recovery_codes: d
                .recovery_codes
                .iter()
                .map(|h| {
                    from_hex(h)?
                        .try_into()
                        .map_err(|_| backend("a recovery-code hash is not 32 bytes"))
                })
                .collect::<Result<_, StoreError>>()?,
        };
        Ok(DeletedItem {
            tenant_id: t,
            deleted: Timestamp(d.deleted),
            object,
            edges,
        })
    }
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::InsertDeletedItem(item) => {
            exec(
                tx,
                "INSERT INTO deleted_items (tenant_id, id, kind, deleted_at, data) VALUES ($1, $2, $3, $4, $5)",
                &[
                    s(item.tenant_id),
                    s(item.id()),
                    Arg::S(item.object.kind().as_str().into()),
                    Arg::I(item.deleted.millis()),
                    Arg::S(json(&DeletedDoc::from(&**item))?),
                ],
            )
            .await?;
        }
        Change::DeleteDeletedItem(t, id) => {
            must_touch(
                tx,
                "DELETE FROM deleted_items WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "deleted item",
            )
            .await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl DeletedItemStore for SqlStore {
    async fn deleted_items(&self, t: TenantId) -> Result<Vec<DeletedItem>, StoreError> {
        all(self
            .docs::<DeletedDoc>(
                "SELECT data FROM deleted_items WHERE tenant_id = $1 ORDER BY deleted_at, id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn deleted_item(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<DeletedItem>, StoreError> {
        first(
            self.docs::<DeletedDoc>(
                "SELECT data FROM deleted_items WHERE tenant_id = $1 AND id = $2",
                &[&t.to_string(), &id.to_string()],
            )
            .await?,
        )
    }
}
