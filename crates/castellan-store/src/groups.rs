//! Groups, membership edges and owners.

use super::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct GroupDoc {
    id: String,
    tenant_id: String,
    display_name: String,
    description: Option<String>,
    group_types: Vec<String>,
    mail_enabled: bool,
    security_enabled: bool,
    #[serde(default)]
    role_assignable: bool,
    mail_nickname: String,
    created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    membership_rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rule_state: Option<String>,
}

impl From<&Group> for GroupDoc {
    fn from(g: &Group) -> Self {
        Self {
            id: g.id.to_string(),
            tenant_id: g.tenant_id.to_string(),
            display_name: g.display_name.clone(),
            description: g.description.clone(),
            group_types: g.group_types.clone(),
            mail_enabled: g.mail_enabled,
            security_enabled: g.security_enabled,
            role_assignable: g.is_assignable_to_role,
            mail_nickname: g.mail_nickname.clone(),
            created: g.created.millis(),
            membership_rule: g.membership_rule.clone(),
            rule_state: g
                .membership_rule_processing_state
                .map(|s| s.as_str().to_string()),
        }
    }
}

impl TryFrom<GroupDoc> for Group {
    type Error = StoreError;
    fn try_from(d: GroupDoc) -> Result<Self, StoreError> {
        Ok(Group {
            id: oid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            display_name: d.display_name,
            description: d.description,
            group_types: d.group_types,
            mail_enabled: d.mail_enabled,
            security_enabled: d.security_enabled,
            is_assignable_to_role: d.role_assignable,
            mail_nickname: d.mail_nickname,
            created: Timestamp(d.created),
            membership_rule: d.membership_rule,
            membership_rule_processing_state: d
                .rule_state
                .as_deref()
                .map(|s| RuleProcessingState::parse(s).ok_or_else(|| backend("bad rule state")))
                .transpose()?,
        })
    }
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::InsertGroup(g) => {
            exec(
                tx,
                "INSERT INTO groups_ (id, tenant_id, data) VALUES ($1, $2, $3)",
                &[s(g.id), s(g.tenant_id), Arg::S(json(&GroupDoc::from(g))?)],
            )
            .await?;
            bump_list_version(tx, g.tenant_id, "groups").await?;
        }
        Change::UpdateGroup(g) => {
            must_touch(
                tx,
                "UPDATE groups_ SET data = $3 WHERE id = $1 AND tenant_id = $2",
                &[s(g.id), s(g.tenant_id), Arg::S(json(&GroupDoc::from(g))?)],
                "group",
            )
            .await?;
            bump_list_version(tx, g.tenant_id, "groups").await?;
        }
        Change::DeleteGroup(t, id) => {
            must_touch(
                tx,
                "DELETE FROM groups_ WHERE id = $1 AND tenant_id = $2",
                &[s(id), s(t)],
                "group",
            )
            .await?;
            bump_list_version(tx, *t, "groups").await?;
            delete_object_refs(tx, *t, *id).await?;
        }
        Change::AddMember(t, m) => {
            exec(tx, "INSERT INTO memberships (tenant_id, group_id, member_id, member_kind) VALUES ($1, $2, $3, $4)", &[s(t), s(m.group_id), s(m.member_id), Arg::S(m.member_kind.as_str().into())]).await?;
        }
        Change::RemoveMember(t, g, m) => {
            must_touch(
                tx,
                "DELETE FROM memberships WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3",
                &[s(t), s(g), s(m)],
                "membership",
            )
            .await?;
        }
        Change::AddOwner(t, o, owner) => {
            exec(
                tx,
                "INSERT INTO owners (tenant_id, object_id, owner_id) VALUES ($1, $2, $3)",
                &[s(t), s(o), s(owner)],
            )
            .await?;
        }
        Change::RemoveOwner(t, o, owner) => {
            must_touch(
                tx,
                "DELETE FROM owners WHERE tenant_id = $1 AND object_id = $2 AND owner_id = $3",
                &[s(t), s(o), s(owner)],
                "owner",
            )
            .await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn group(&self, t: TenantId, id: ObjectId) -> Result<Option<Group>, StoreError> {
        first(
            self.docs::<GroupDoc>(
                "SELECT data FROM groups_ WHERE tenant_id = $1 AND id = $2",
                &[&t.to_string(), &id.to_string()],
            )
            .await?,
        )
    }

    async fn groups_version(&self, t: TenantId) -> Result<u64, StoreError> {
        self.list_version(t, "groups").await
    }

    async fn groups(&self, t: TenantId) -> Result<Vec<Group>, StoreError> {
        all(self
            .docs::<GroupDoc>(
                "SELECT data FROM groups_ WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn memberships(&self, t: TenantId) -> Result<Vec<Membership>, StoreError> {
        let rows = sqlx::query("SELECT group_id, member_id, member_kind FROM memberships WHERE tenant_id = $1 ORDER BY group_id, member_id").bind(t.to_string()).fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(Membership {
                    group_id: oid(&get(r, 0)?)?,
                    member_id: oid(&get(r, 1)?)?,
                    member_kind: ObjectKind::parse(&get(r, 2)?)
                        .ok_or_else(|| backend("bad member kind"))?,
                })
            })
            .collect()
    }

    async fn direct_member_of(
        &self,
        t: TenantId,
        member: ObjectId,
    ) -> Result<Vec<ObjectId>, StoreError> {
        let rows = sqlx::query(
            "SELECT group_id FROM memberships WHERE member_id = $1 AND tenant_id = $2 ORDER BY group_id",
        )
        .bind(member.to_string())
        .bind(t.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| oid(&get(r, 0)?)).collect()
    }

    async fn owners(&self, t: TenantId, object: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        let rows = sqlx::query(
            "SELECT owner_id FROM owners WHERE tenant_id = $1 AND object_id = $2 ORDER BY owner_id",
        )
        .bind(t.to_string())
        .bind(object.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| oid(&get(r, 0)?)).collect()
    }

    async fn owned_by(&self, t: TenantId, owner: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        let rows = sqlx::query(
            "SELECT object_id FROM owners WHERE tenant_id = $1 AND owner_id = $2 ORDER BY object_id",
        )
        .bind(t.to_string())
        .bind(owner.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| oid(&get(r, 0)?)).collect()
    }
}
