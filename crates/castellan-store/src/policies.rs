//! Policy documents (Conditional Access policies, named locations), unique by name per kind.

use super::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct PolicyDoc {
    id: String,
    tenant_id: String,
    kind: String,
    display_name: String,
    document: String,
    created: i64,
    modified: i64,
}

impl From<&PolicyDocument> for PolicyDoc {
    fn from(d: &PolicyDocument) -> Self {
        Self {
            id: d.id.to_string(),
            tenant_id: d.tenant_id.to_string(),
            kind: d.kind.as_str().into(),
            display_name: d.display_name.clone(),
            document: d.document.clone(),
            created: d.created.millis(),
            modified: d.modified.millis(),
        }
    }
}

impl TryFrom<PolicyDoc> for PolicyDocument {
    type Error = StoreError;
    fn try_from(d: PolicyDoc) -> Result<Self, StoreError> {
        Ok(PolicyDocument {
            id: oid(&d.id)?,
            tenant_id: tid(&d.tenant_id)?,
            kind: PolicyDocumentKind::parse(&d.kind).ok_or_else(|| backend("bad policy kind"))?,
            display_name: d.display_name,
            document: d.document,
            created: Timestamp(d.created),
            modified: Timestamp(d.modified),
        })
    }
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::PutPolicyDocument(d) => {
            exec(
                tx,
                "DELETE FROM policy_documents WHERE tenant_id = $1 AND id = $2",
                &[s(d.tenant_id), s(d.id)],
            )
            .await?;
            exec(
                tx,
                "INSERT INTO policy_documents (id, tenant_id, kind, name_lower, created, data) VALUES ($1, $2, $3, $4, $5, $6)",
                &[s(d.id), s(d.tenant_id), Arg::S(d.kind.as_str().into()), Arg::S(d.display_name.to_lowercase()), Arg::I(d.created.millis()), Arg::S(json(&PolicyDoc::from(d))?)],
            )
            .await?;
        }
        Change::DeletePolicyDocument(t, id) => {
            must_touch(
                tx,
                "DELETE FROM policy_documents WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "policy",
            )
            .await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl PolicyStore for SqlStore {
    async fn policy_documents(
        &self,
        t: TenantId,
        kind: PolicyDocumentKind,
    ) -> Result<Vec<PolicyDocument>, StoreError> {
        all(self
            .docs::<PolicyDoc>(
                "SELECT data FROM policy_documents WHERE tenant_id = $1 AND kind = $2 ORDER BY created, id",
                &[&t.to_string(), kind.as_str()],
            )
            .await?)
    }
}
