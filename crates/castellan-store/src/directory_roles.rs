//! Directory role assignments, custom role definitions and administrative units.

use super::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct AuDoc {
    id: String,
    tenant_id: String,
    display_name: String,
    description: Option<String>,
    created: i64,
}

impl From<&AdministrativeUnit> for AuDoc {
    fn from(a: &AdministrativeUnit) -> Self {
        Self {
            id: a.id.to_string(),
            tenant_id: a.tenant_id.to_string(),
            display_name: a.display_name.clone(),
            description: a.description.clone(),
            created: a.created.millis(),
        }
    }
}

impl TryFrom<AuDoc> for AdministrativeUnit {
    type Error = StoreError;
    fn try_from(d: AuDoc) -> Result<Self, StoreError> {
        Ok(AdministrativeUnit {
            id: oid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            display_name: d.display_name,
            description: d.description,
            created: Timestamp(d.created),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CustomRoleDoc {
    id: String,
    tenant_id: String,
    display_name: String,
    description: Option<String>,
    actions: Vec<String>,
    enabled: bool,
    created: i64,
}

impl From<&CustomRoleDefinition> for CustomRoleDoc {
    fn from(r: &CustomRoleDefinition) -> Self {
        Self {
            id: r.id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            display_name: r.display_name.clone(),
            description: r.description.clone(),
            actions: r.allowed_resource_actions.clone(),
            enabled: r.is_enabled,
            created: r.created.millis(),
        }
    }
}

impl TryFrom<CustomRoleDoc> for CustomRoleDefinition {
    type Error = StoreError;
    fn try_from(d: CustomRoleDoc) -> Result<Self, StoreError> {
        Ok(CustomRoleDefinition {
            id: oid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            display_name: d.display_name,
            description: d.description,
            allowed_resource_actions: d.actions,
            is_enabled: d.enabled,
            created: Timestamp(d.created),
        })
    }
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::DeleteDirectoryRoleAssignment(t, id) => {
            must_touch(
                tx,
                "DELETE FROM directory_role_assignments WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "unifiedRoleAssignment",
            )
            .await?;
        }
        Change::InsertCustomRole(r) => {
            exec(
                tx,
                "INSERT INTO custom_roles (id, tenant_id, name_lower, data) VALUES ($1, $2, $3, $4)",
                &[s(r.id), s(r.tenant_id), Arg::S(r.display_name.to_lowercase()), Arg::S(json(&CustomRoleDoc::from(r))?)],
            )
            .await?;
        }
        Change::DeleteCustomRole(t, id) => {
            must_touch(
                tx,
                "DELETE FROM custom_roles WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "unifiedRoleDefinition",
            )
            .await?;
        }
        Change::InsertAdministrativeUnit(au) => {
            exec(
                tx,
                "INSERT INTO administrative_units (id, tenant_id, data) VALUES ($1, $2, $3)",
                &[s(au.id), s(au.tenant_id), Arg::S(json(&AuDoc::from(au))?)],
            )
            .await?;
        }
        Change::DeleteAdministrativeUnit(t, id) => {
            must_touch(
                tx,
                "DELETE FROM administrative_units WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "administrativeUnit",
            )
            .await?;
            exec(
                tx,
                "DELETE FROM au_members WHERE tenant_id = $1 AND au_id = $2",
                &[s(t), s(id)],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM directory_role_assignments WHERE tenant_id = $1 AND directory_scope_id = $2",
                &[s(t), Arg::S(format!("/administrativeUnits/{id}"))],
            )
            .await?;
        }
        Change::AddAuMember(t, au, member) => {
            exec(
                tx,
                "INSERT INTO au_members (tenant_id, au_id, member_id) VALUES ($1, $2, $3)",
                &[s(t), s(au), s(member)],
            )
            .await?;
        }
        Change::RemoveAuMember(t, au, member) => {
            must_touch(
                tx,
                "DELETE FROM au_members WHERE tenant_id = $1 AND au_id = $2 AND member_id = $3",
                &[s(t), s(au), s(member)],
                "administrative unit member",
            )
            .await?;
        }
        Change::InsertDirectoryRoleAssignment(r) => {
            exec(tx, "INSERT INTO directory_role_assignments (id, tenant_id, principal_id, role_template_id, directory_scope_id) VALUES ($1, $2, $3, $4, $5)", &[s(r.id), s(r.tenant_id), s(r.principal_id), s(r.role_template_id), Arg::S(r.directory_scope_id.clone())]).await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl DirectoryRoleStore for SqlStore {
    async fn directory_role_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<DirectoryRoleAssignment>, StoreError> {
        let rows = sqlx::query("SELECT id, principal_id, role_template_id, directory_scope_id FROM directory_role_assignments WHERE tenant_id = $1 ORDER BY id").bind(t.to_string()).fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(DirectoryRoleAssignment {
                    id: oid(&get(r, 0)?)?,
                    tenant_id: t,
                    principal_id: oid(&get(r, 1)?)?,
                    role_template_id: guid(&get(r, 2)?)?,
                    directory_scope_id: get(r, 3)?,
                })
            })
            .collect()
    }

    async fn custom_roles(&self, t: TenantId) -> Result<Vec<CustomRoleDefinition>, StoreError> {
        all(self
            .docs::<CustomRoleDoc>(
                "SELECT data FROM custom_roles WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn administrative_units(
        &self,
        t: TenantId,
    ) -> Result<Vec<AdministrativeUnit>, StoreError> {
        all(self
            .docs::<AuDoc>(
                "SELECT data FROM administrative_units WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn au_members(&self, t: TenantId, au: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.fetch_data(
            "SELECT member_id FROM au_members WHERE tenant_id = $1 AND au_id = $2 ORDER BY member_id",
            &[&t.to_string(), &au.to_string()],
        )
        .await?
        .iter()
        .map(|x| oid(x))
        .collect()
    }

    async fn aus_of(&self, t: TenantId, member: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.fetch_data(
            "SELECT au_id FROM au_members WHERE tenant_id = $1 AND member_id = $2 ORDER BY au_id",
            &[&t.to_string(), &member.to_string()],
        )
        .await?
        .iter()
        .map(|x| oid(x))
        .collect()
    }
}
