//! The directory audit log: records appended in the same transaction as their change.

use super::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct PropDoc {
    name: String,
    old: Option<String>,
    new: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct TargetDoc {
    id: String,
    kind: String,
    display_name: Option<String>,
    upn: Option<String>,
    props: Vec<PropDoc>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct AuditDoc {
    id: String,
    tenant_id: String,
    time: i64,
    category: String,
    activity: String,
    operation: String,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: Option<String>,
    actor_app_id: Option<String>,
    targets: Vec<TargetDoc>,
    result: String,
    result_reason: String,
    correlation_id: String,
}

impl From<&AuditRecord> for AuditDoc {
    fn from(a: &AuditRecord) -> Self {
        let (actor_kind, actor_id, actor_name, actor_app_id) = match &a.actor {
            Actor::User { id, upn } => ("user", Some(id.to_string()), Some(upn.clone()), None),
            Actor::App {
                service_principal_id,
                app_id,
                display_name,
            } => (
                "app",
                Some(service_principal_id.to_string()),
                Some(display_name.clone()),
                Some(app_id.clone()),
            ),
            Actor::Operator => ("operator", None, None, None),
        };
        Self {
            id: a.id.to_string(),
            tenant_id: a.tenant_id.to_string(),
            time: a.time.millis(),
            category: a.category.clone(),
            activity: a.activity.clone(),
            operation: a.operation_type.clone(),
            actor_kind: actor_kind.into(),
            actor_id,
            actor_name,
            actor_app_id,
            targets: a
                .targets
                .iter()
                .map(|t| TargetDoc {
                    id: t.id.clone(),
                    kind: t.kind.clone(),
                    display_name: t.display_name.clone(),
                    upn: t.user_principal_name.clone(),
                    props: t
                        .modified_properties
                        .iter()
                        .map(|p| PropDoc {
                            name: p.name.clone(),
                            old: p.old_value.clone(),
                            new: p.new_value.clone(),
                        })
                        .collect(),
                })
                .collect(),
            result: a.result.clone(),
            result_reason: a.result_reason.clone(),
            correlation_id: a.correlation_id.clone(),
        }
    }
}

impl TryFrom<AuditDoc> for AuditRecord {
    type Error = StoreError;
    fn try_from(d: AuditDoc) -> Result<Self, StoreError> {
        let actor = match d.actor_kind.as_str() {
            "user" => Actor::User {
                id: oid(d.actor_id.as_deref().unwrap_or(""))?,
                upn: d.actor_name.unwrap_or_default(),
            },
            "app" => Actor::App {
                service_principal_id: oid(d.actor_id.as_deref().unwrap_or(""))?,
                app_id: d.actor_app_id.unwrap_or_default(),
                display_name: d.actor_name.unwrap_or_default(),
            },
            _ => Actor::Operator,
        };
        Ok(AuditRecord {
            id: oid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            time: Timestamp(d.time),
            category: d.category,
            activity: d.activity,
            operation_type: d.operation,
            actor,
            targets: d
                .targets
                .into_iter()
                .map(|t| AuditTarget {
                    id: t.id,
                    kind: t.kind,
                    display_name: t.display_name,
                    user_principal_name: t.upn,
                    modified_properties: t
                        .props
                        .into_iter()
                        .map(|p| ModifiedProperty {
                            name: p.name,
                            old_value: p.old,
                            new_value: p.new,
                        })
                        .collect(),
                })
                .collect(),
            result: d.result,
            result_reason: d.result_reason,
            correlation_id: d.correlation_id,
        })
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn audit_records(
        &self,
        t: TenantId,
        q: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT data FROM audit_records WHERE tenant_id = $1 AND time >= $2 AND time < $3",
        );
        if q.category.is_some() {
            sql.push_str(" AND category = $4");
        }
        sql.push_str(" ORDER BY time DESC, id DESC");
        let mut query = sqlx::query(&sql)
            .bind(t.to_string())
            .bind(q.since.map_or(i64::MIN, |x| x.millis()))
            .bind(q.until.map_or(i64::MAX, |x| x.millis()));
        if let Some(c) = &q.category {
            query = query.bind(c.clone());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows.iter().take(q.limit.unwrap_or(usize::MAX)) {
            let d: AuditDoc = serde_json::from_str(&get(r, 0)?).map_err(backend)?;
            out.push(d.try_into()?);
        }
        Ok(out)
    }
}

/// Appends one audit record (inside the change set's transaction).
pub(crate) async fn insert(tx: &mut Tx, a: &AuditRecord) -> Result<(), StoreError> {
    let d = json(&AuditDoc::from(a))?;
    exec(tx, "INSERT INTO audit_records (id, tenant_id, time, category, data) VALUES ($1, $2, $3, $4, $5)", &[s(a.id), s(a.tenant_id), Arg::I(a.time.millis()), Arg::S(a.category.clone()), Arg::S(d)]).await?;
    Ok(())
}
