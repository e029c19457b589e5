//! Identity Protection: user risk records (compare-and-set on a version) and failed sign-ins.

use super::*;

pub(crate) fn risky_user_row(r: &AnyRow) -> Result<RiskyUserRecord, StoreError> {
    Ok(RiskyUserRecord {
        tenant_id: TenantId::parse(&get(r, 0)?).ok_or_else(|| backend("bad tenant id"))?,
        user_id: oid(&get(r, 1)?)?,
        version: r.try_get::<i64, _>(2).map_err(backend)?,
        updated: Timestamp(r.try_get::<i64, _>(3).map_err(backend)?),
        data: get(r, 4)?,
    })
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::PutRiskyUser(r, expected) => {
            let lost = || StoreError::conflict(UniqueRule::RiskyUserChanged);
            let n = match expected {
                None => exec(tx, "INSERT INTO risky_users (tenant_id, user_id, version, updated, data) VALUES ($1, $2, 1, $3, $4)", &[s(r.tenant_id), s(r.user_id), Arg::I(r.updated.millis()), Arg::S(r.data.clone())])
                    .await
                    .map_err(|e| if e.unique_rule().is_some() { lost() } else { e })?,
                Some(v) => exec(tx, "UPDATE risky_users SET version = $1, updated = $2, data = $3 WHERE tenant_id = $4 AND user_id = $5 AND version = $6", &[Arg::I(v.saturating_add(1)), Arg::I(r.updated.millis()), Arg::S(r.data.clone()), s(r.tenant_id), s(r.user_id), Arg::I(*v)]).await?,
            };
            if n != 1 {
                return Err(lost());
            }
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl RiskStore for SqlStore {
    async fn risky_user(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<RiskyUserRecord>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, user_id, version, updated, data FROM risky_users WHERE tenant_id = $1 AND user_id = $2")
            .bind(t.to_string())
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.first().map(risky_user_row).transpose()
    }

    async fn put_risky_user(
        &self,
        r: &RiskyUserRecord,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        retrying!(async {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let n = match expected {
                None => match exec(&mut tx, "INSERT INTO risky_users (tenant_id, user_id, version, updated, data) VALUES ($1, $2, 1, $3, $4)", &[s(r.tenant_id), s(r.user_id), Arg::I(r.updated.millis()), Arg::S(r.data.clone())]).await {
                    Ok(n) => n,
                    // Someone else created it first; the transaction is dropped (rolled back).
                    Err(StoreError::Conflict(_)) => return Ok(false),
                    Err(e) => return Err(e),
                },
                Some(v) => exec(&mut tx, "UPDATE risky_users SET version = $1, updated = $2, data = $3 WHERE tenant_id = $4 AND user_id = $5 AND version = $6", &[Arg::I(v.saturating_add(1)), Arg::I(r.updated.millis()), Arg::S(r.data.clone()), s(r.tenant_id), s(r.user_id), Arg::I(v)]).await?,
            };
            tx.commit().await.map_err(backend)?;
            Ok(n == 1)
        }
        .await)
    }

    async fn risky_users(&self, t: TenantId) -> Result<Vec<RiskyUserRecord>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, user_id, version, updated, data FROM risky_users WHERE tenant_id = $1 ORDER BY updated DESC, user_id")
            .bind(t.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(risky_user_row).collect()
    }

    async fn add_failed_sign_in(
        &self,
        r: &FailedSignInRecord,
        prune_before: Timestamp,
    ) -> Result<(), StoreError> {
        retrying!(async {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            exec(&mut tx, "DELETE FROM failed_sign_ins WHERE tenant_id = $1 AND time < $2", &[s(r.tenant_id), Arg::I(prune_before.millis())]).await?;
            exec(&mut tx, "INSERT INTO failed_sign_ins (tenant_id, source, ip, username, time) VALUES ($1, $2, $3, $4, $5)", &[s(r.tenant_id), Arg::S(r.source.clone()), Arg::S(r.ip.clone()), Arg::S(r.username.clone()), Arg::I(r.at.millis())]).await?;
            tx.commit().await.map_err(backend)
        }
        .await)
    }

    async fn failed_sign_ins(
        &self,
        t: TenantId,
        source: &str,
        since: Timestamp,
    ) -> Result<Vec<FailedSignInRecord>, StoreError> {
        let rows = sqlx::query("SELECT ip, username, time FROM failed_sign_ins WHERE tenant_id = $1 AND source = $2 AND time >= $3 ORDER BY time, username")
            .bind(t.to_string())
            .bind(source.to_string())
            .bind(since.millis())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(FailedSignInRecord {
                    tenant_id: t,
                    source: source.to_string(),
                    ip: get(r, 0)?,
                    username: get(r, 1)?,
                    at: Timestamp(r.try_get::<i64, _>(2).map_err(backend)?),
                })
            })
            .collect()
    }
}
