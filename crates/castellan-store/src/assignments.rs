//! App-role assignments and delegated permission grants.

use super::*;

impl SqlStore {
    pub(crate) async fn assignments(
        &self,
        column: &str,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, StoreError> {
        let sql = format!("SELECT id, principal_id, principal_type, resource_id, app_role_id, created FROM app_role_assignments WHERE tenant_id = $1 AND {column} = $2 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(t.to_string())
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(AppRoleAssignment {
                    id: oid(&get(r, 0)?)?,
                    tenant_id: t,
                    principal_id: oid(&get(r, 1)?)?,
                    principal_type: ObjectKind::parse(&get(r, 2)?)
                        .ok_or_else(|| backend("bad principal type"))?,
                    resource_id: oid(&get(r, 3)?)?,
                    app_role_id: guid(&get(r, 4)?)?,
                    created: Timestamp(r.try_get::<i64, _>(5).map_err(backend)?),
                })
            })
            .collect()
    }
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::DeletePermissionGrant(t, id) => {
            must_touch(
                tx,
                "DELETE FROM permission_grants WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "oauth2PermissionGrant",
            )
            .await?;
        }
        Change::InsertAppRoleAssignment(a) => {
            exec(
                tx,
                "INSERT INTO app_role_assignments (id, tenant_id, principal_id, principal_type, resource_id, app_role_id, created) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[s(a.id), s(a.tenant_id), s(a.principal_id), Arg::S(a.principal_type.as_str().into()), s(a.resource_id), s(a.app_role_id), Arg::I(a.created.millis())],
            )
            .await?;
        }
        Change::DeleteAppRoleAssignment(t, id) => {
            must_touch(
                tx,
                "DELETE FROM app_role_assignments WHERE id = $1 AND tenant_id = $2",
                &[s(id), s(t)],
                "app role assignment",
            )
            .await?;
        }
        Change::InsertPermissionGrant(g) => {
            exec(
                tx,
                "INSERT INTO permission_grants (id, tenant_id, client_id, resource_id, principal_id, consent_type, scope) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[s(g.id), s(g.tenant_id), s(g.client_id), s(g.resource_id), g.principal_id.map_or(Arg::N, s), Arg::S(g.consent_type.clone()), Arg::S(g.scope.clone())],
            )
            .await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl AssignmentStore for SqlStore {
    async fn app_role_assignments_of(
        &self,
        t: TenantId,
        principal: ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, StoreError> {
        self.assignments("principal_id", t, principal).await
    }

    async fn app_role_assignments_to(
        &self,
        t: TenantId,
        resource: ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, StoreError> {
        self.assignments("resource_id", t, resource).await
    }

    async fn permission_grants(
        &self,
        t: TenantId,
    ) -> Result<Vec<OAuth2PermissionGrant>, StoreError> {
        let rows = sqlx::query("SELECT id, client_id, resource_id, principal_id, consent_type, scope FROM permission_grants WHERE tenant_id = $1 ORDER BY id").bind(t.to_string()).fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter()
            .map(|r| {
                let principal: Option<String> = r.try_get(3).map_err(backend)?;
                Ok(OAuth2PermissionGrant {
                    id: oid(&get(r, 0)?)?,
                    tenant_id: t,
                    client_id: oid(&get(r, 1)?)?,
                    resource_id: oid(&get(r, 2)?)?,
                    principal_id: principal.as_deref().map(oid).transpose()?,
                    consent_type: get(r, 4)?,
                    scope: get(r, 5)?,
                })
            })
            .collect()
    }
}
