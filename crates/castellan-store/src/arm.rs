//! The resource plane: scopes, Azure role assignments and definitions, deny assignments.

use super::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct ArmDoc {
    tenant_id: String,
    id: String,
    kind: String,
    name: String,
    resource_type: String,
    parent: Option<String>,
    display_name: String,
    location: Option<String>,
    tags: Vec<(String, String)>,
    properties: String,
    identity_principal: Option<String>,
    system_assigned: Option<String>,
    user_assigned: Vec<String>,
    secrets_sha256: Vec<String>,
    #[serde(default)]
    fic: Option<FicDoc>,
    created: i64,
}

impl From<&ArmResource> for ArmDoc {
    fn from(r: &ArmResource) -> Self {
        Self {
            tenant_id: r.tenant_id.to_string(),
            id: r.id.clone(),
            kind: r.kind.as_str().into(),
            name: r.name.clone(),
            resource_type: r.resource_type.clone(),
            parent: r.parent.clone(),
            display_name: r.display_name.clone(),
            location: r.location.clone(),
            tags: r.tags.clone(),
            properties: r.properties.clone(),
            identity_principal: r.identity_principal.map(|p| p.to_string()),
            system_assigned: r.identity.system_assigned.map(|p| p.to_string()),
            user_assigned: r.identity.user_assigned.clone(),
            secrets_sha256: r.identity.secrets_sha256.iter().map(hex_encode).collect(),
            fic: r.federated_credential.as_ref().map(|f| FicDoc {
                id: f.id.to_string(),
                name: f.name.clone(),
                issuer: f.issuer.clone(),
                subject: f.subject.clone(),
                audiences: f.audiences.clone(),
                description: f.description.clone(),
            }),
            created: r.created.millis(),
        }
    }
}

pub(crate) fn hex_encode(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn hex32(s: &str) -> Result<[u8; 32], StoreError> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err(backend("bad secret hash"));
    }
    for (i, slot) in out.iter_mut().enumerate() {
        let pair = s
            .get(i * 2..i * 2 + 2)
            .ok_or_else(|| backend("bad secret hash"))?;
        *slot = u8::from_str_radix(pair, 16).map_err(backend)?;
    }
    Ok(out)
}

impl TryFrom<ArmDoc> for ArmResource {
    type Error = StoreError;
    fn try_from(d: ArmDoc) -> Result<Self, StoreError> {
        Ok(ArmResource {
            tenant_id: tid(&d.tenant_id)?,
            id: d.id,
            kind: ScopeKind::parse(&d.kind).ok_or_else(|| backend("bad scope kind"))?,
            name: d.name,
            resource_type: d.resource_type,
            parent: d.parent,
            display_name: d.display_name,
            location: d.location,
            tags: d.tags,
            properties: d.properties,
            identity_principal: d.identity_principal.as_deref().map(oid).transpose()?,
            identity: ResourceIdentity {
                system_assigned: d.system_assigned.as_deref().map(oid).transpose()?,
                user_assigned: d.user_assigned,
                secrets_sha256: d
                    .secrets_sha256
                    .iter()
                    .map(|h| hex32(h))
                    .collect::<Result<_, _>>()?,
            },
            federated_credential: d
                .fic
                .map(|f| {
                    Ok::<_, StoreError>(FederatedIdentityCredential {
                        id: guid(&f.id)?,
                        name: f.name,
                        issuer: f.issuer,
                        subject: f.subject,
                        audiences: f.audiences,
                        description: f.description,
                    })
                })
                .transpose()?,
            created: Timestamp(d.created),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RaDoc {
    id: String,
    tenant_id: String,
    scope: String,
    role_definition_id: String,
    principal_id: String,
    principal_type: String,
    condition: Option<String>,
    description: Option<String>,
    created: i64,
    created_by: Option<String>,
}

impl From<&AzureRoleAssignment> for RaDoc {
    fn from(a: &AzureRoleAssignment) -> Self {
        Self {
            id: a.id.to_string(),
            tenant_id: a.tenant_id.to_string(),
            scope: a.scope.clone(),
            role_definition_id: a.role_definition_id.to_string(),
            principal_id: a.principal_id.to_string(),
            principal_type: a.principal_type.clone(),
            condition: a.condition.clone(),
            description: a.description.clone(),
            created: a.created.millis(),
            created_by: a.created_by.map(|c| c.to_string()),
        }
    }
}

impl TryFrom<RaDoc> for AzureRoleAssignment {
    type Error = StoreError;
    fn try_from(d: RaDoc) -> Result<Self, StoreError> {
        Ok(AzureRoleAssignment {
            id: guid(&d.id)?,
            tenant_id: tid(&d.tenant_id)?,
            scope: d.scope,
            role_definition_id: guid(&d.role_definition_id)?,
            principal_id: oid(&d.principal_id)?,
            principal_type: d.principal_type,
            condition: d.condition,
            description: d.description,
            created: Timestamp(d.created),
            created_by: d.created_by.as_deref().map(oid).transpose()?,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct AzureRoleDoc {
    id: String,
    tenant_id: String,
    name: String,
    description: String,
    actions: Vec<String>,
    not_actions: Vec<String>,
    data_actions: Vec<String>,
    not_data_actions: Vec<String>,
    assignable_scopes: Vec<String>,
    created: i64,
}

impl From<&CustomAzureRole> for AzureRoleDoc {
    fn from(r: &CustomAzureRole) -> Self {
        Self {
            id: r.role.id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            name: r.role.name.clone(),
            description: r.role.description.clone(),
            actions: r.role.actions.clone(),
            not_actions: r.role.not_actions.clone(),
            data_actions: r.role.data_actions.clone(),
            not_data_actions: r.role.not_data_actions.clone(),
            assignable_scopes: r.role.assignable_scopes.clone(),
            created: r.created.millis(),
        }
    }
}

impl TryFrom<AzureRoleDoc> for CustomAzureRole {
    type Error = StoreError;
    fn try_from(d: AzureRoleDoc) -> Result<Self, StoreError> {
        Ok(CustomAzureRole {
            tenant_id: tid(&d.tenant_id)?,
            role: castellan_core::azure_rbac::AzureRole {
                id: guid(&d.id)?,
                name: d.name,
                description: d.description,
                actions: d.actions,
                not_actions: d.not_actions,
                data_actions: d.data_actions,
                not_data_actions: d.not_data_actions,
                assignable_scopes: d.assignable_scopes,
            },
            created: Timestamp(d.created),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct DenyDoc {
    id: String,
    tenant_id: String,
    name: String,
    description: String,
    principals: Vec<String>,
    scope: String,
    actions: Vec<String>,
    data_actions: Vec<String>,
    created: i64,
}

impl From<&StoredDenyAssignment> for DenyDoc {
    fn from(d: &StoredDenyAssignment) -> Self {
        Self {
            id: d.deny.id.clone(),
            tenant_id: d.tenant_id.to_string(),
            name: d.deny.name.clone(),
            description: d.description.clone(),
            principals: d.deny.principals.iter().map(|p| p.to_string()).collect(),
            scope: d.deny.scope.clone(),
            actions: d.deny.actions.clone(),
            data_actions: d.deny.data_actions.clone(),
            created: d.created.millis(),
        }
    }
}

impl TryFrom<DenyDoc> for StoredDenyAssignment {
    type Error = StoreError;
    fn try_from(d: DenyDoc) -> Result<Self, StoreError> {
        Ok(StoredDenyAssignment {
            tenant_id: tid(&d.tenant_id)?,
            deny: castellan_core::azure_rbac::DenyAssignment {
                id: d.id,
                name: d.name,
                principals: d
                    .principals
                    .iter()
                    .map(|p| oid(p))
                    .collect::<Result<_, _>>()?,
                scope: d.scope,
                actions: d.actions,
                data_actions: d.data_actions,
            },
            description: d.description,
            created: Timestamp(d.created),
        })
    }
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::InsertArmResource(r) => {
            exec(
                tx,
                "INSERT INTO arm_resources (id_lower, tenant_id, parent_lower, data) VALUES ($1, $2, $3, $4)",
                &[Arg::S(r.key()), s(r.tenant_id), r.parent.as_deref().map_or(Arg::N, |p| Arg::S(normalise_scope(p))), Arg::S(json(&ArmDoc::from(r))?)],
            )
            .await?;
        }
        Change::UpdateArmResource(r) => {
            must_touch(
                tx,
                "UPDATE arm_resources SET data = $3 WHERE tenant_id = $1 AND id_lower = $2",
                &[
                    s(r.tenant_id),
                    Arg::S(r.key()),
                    Arg::S(json(&ArmDoc::from(r))?),
                ],
                "resource",
            )
            .await?;
        }
        Change::DeleteArmResource(t, key) => {
            must_touch(
                tx,
                "DELETE FROM arm_resources WHERE tenant_id = $1 AND id_lower = $2",
                &[s(t), Arg::S(normalise_scope(key))],
                "resource",
            )
            .await?;
        }
        Change::InsertAzureRoleAssignment(a) => {
            exec(
                tx,
                "INSERT INTO azure_role_assignments (id, tenant_id, scope_lower, principal_id, role_id, data) VALUES ($1, $2, $3, $4, $5, $6)",
                &[s(a.id), s(a.tenant_id), Arg::S(normalise_scope(&a.scope)), s(a.principal_id), s(a.role_definition_id), Arg::S(json(&RaDoc::from(a))?)],
            )
            .await?;
        }
        Change::DeleteAzureRoleAssignment(t, id) => {
            must_touch(
                tx,
                "DELETE FROM azure_role_assignments WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "roleAssignment",
            )
            .await?;
        }
        Change::PutCustomAzureRole(r) => {
            exec(
                tx,
                "DELETE FROM azure_role_definitions WHERE tenant_id = $1 AND id = $2",
                &[s(r.tenant_id), s(r.role.id)],
            )
            .await?;
            exec(
                tx,
                "INSERT INTO azure_role_definitions (id, tenant_id, name_lower, data) VALUES ($1, $2, $3, $4)",
                &[s(r.role.id), s(r.tenant_id), Arg::S(r.role.name.to_lowercase()), Arg::S(json(&AzureRoleDoc::from(r))?)],
            )
            .await?;
        }
        Change::DeleteCustomAzureRole(t, id) => {
            must_touch(
                tx,
                "DELETE FROM azure_role_definitions WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "roleDefinition",
            )
            .await?;
        }
        Change::InsertDenyAssignment(d) => {
            exec(
                tx,
                "INSERT INTO deny_assignments (id, tenant_id, data) VALUES ($1, $2, $3)",
                &[
                    Arg::S(d.deny.id.clone()),
                    s(d.tenant_id),
                    Arg::S(json(&DenyDoc::from(d))?),
                ],
            )
            .await?;
        }
        Change::DeleteDenyAssignment(t, id) => {
            must_touch(
                tx,
                "DELETE FROM deny_assignments WHERE tenant_id = $1 AND id = $2",
                &[s(t), Arg::S(id.clone())],
                "denyAssignment",
            )
            .await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl ArmStore for SqlStore {
    async fn arm_resource(&self, id: &str) -> Result<Option<ArmResource>, StoreError> {
        first(
            self.docs::<ArmDoc>(
                "SELECT data FROM arm_resources WHERE id_lower = $1",
                &[&normalise_scope(id)],
            )
            .await?,
        )
    }

    async fn arm_resources(&self, t: TenantId) -> Result<Vec<ArmResource>, StoreError> {
        all(self
            .docs::<ArmDoc>(
                "SELECT data FROM arm_resources WHERE tenant_id = $1 ORDER BY id_lower",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn arm_children(
        &self,
        t: TenantId,
        parent: &str,
    ) -> Result<Vec<ArmResource>, StoreError> {
        all(self
            .docs::<ArmDoc>(
                "SELECT data FROM arm_resources WHERE tenant_id = $1 AND parent_lower = $2 ORDER BY id_lower",
                &[&t.to_string(), &normalise_scope(parent)],
            )
            .await?)
    }

    async fn azure_role_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<AzureRoleAssignment>, StoreError> {
        all(self
            .docs::<RaDoc>(
                "SELECT data FROM azure_role_assignments WHERE tenant_id = $1 ORDER BY scope_lower, id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn azure_role_assignments_of(
        &self,
        t: TenantId,
        principal: ObjectId,
    ) -> Result<Vec<AzureRoleAssignment>, StoreError> {
        all(self
            .docs::<RaDoc>(
                "SELECT data FROM azure_role_assignments WHERE tenant_id = $1 AND principal_id = $2 ORDER BY scope_lower, id",
                &[&t.to_string(), &principal.to_string()],
            )
            .await?)
    }

    async fn custom_azure_roles(&self, t: TenantId) -> Result<Vec<CustomAzureRole>, StoreError> {
        all(self
            .docs::<AzureRoleDoc>(
                "SELECT data FROM azure_role_definitions WHERE tenant_id = $1 ORDER BY name_lower",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn deny_assignments(&self, t: TenantId) -> Result<Vec<StoredDenyAssignment>, StoreError> {
        all(self
            .docs::<DenyDoc>(
                "SELECT data FROM deny_assignments WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }
}
