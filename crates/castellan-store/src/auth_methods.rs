//! Authentication methods: software OATH (replay guard), recovery codes, second-factor attempt
//! counters.

use super::*;

pub(crate) fn step_i64(step: u64) -> Result<i64, StoreError> {
    i64::try_from(step).map_err(|_| StoreError::Backend("TOTP step out of range".into()))
}

pub(crate) fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn from_hex(h: &str) -> Result<Vec<u8>, StoreError> {
    if !h.len().is_multiple_of(2) {
        return Err(StoreError::Backend("odd-length hex".into()));
    }
    (0..h.len())
        .step_by(2)
        .map(|i| {
            h.get(i..i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| StoreError::Backend("bad hex".into()))
        })
        .collect()
}

#[derive(Serialize, Deserialize)]
pub(crate) struct OathDoc {
    id: String,
    tenant_id: String,
    user_id: String,
    display_name: String,
    secret_sealed: String,
    created: i64,
}

impl From<&SoftwareOathMethod> for OathDoc {
    fn from(m: &SoftwareOathMethod) -> Self {
        Self {
            id: m.id.to_string(),
            tenant_id: m.tenant_id.to_string(),
            user_id: m.user_id.to_string(),
            display_name: m.display_name.clone(),
            secret_sealed: to_hex(&m.secret_sealed),
            created: m.created.millis(),
        }
    }
}

pub(crate) fn oath_from_row(r: &AnyRow) -> Result<SoftwareOathMethod, StoreError> {
    let data: String = r.try_get(0).map_err(backend)?;
    let confirmed: i64 = r.try_get(1).map_err(backend)?;
    let step: Option<i64> = r.try_get(2).map_err(backend)?;
    let d: OathDoc = serde_json::from_str(&data).map_err(backend)?;
    oath_from_doc(
        d,
        confirmed != 0,
        step.map(u64::try_from)
            .transpose()
            .map_err(|_| StoreError::Backend("negative TOTP step".into()))?,
    )
}

/// A method from its document and the two columns kept beside it (the recycle bin keeps them
/// in its own document).
pub(crate) fn oath_from_doc(
    d: OathDoc,
    confirmed: bool,
    last_used_step: Option<u64>,
) -> Result<SoftwareOathMethod, StoreError> {
    Ok(SoftwareOathMethod {
        id: oid(&d.id)?,
        tenant_id: tid(&d.tenant_id)?,
        user_id: oid(&d.user_id)?,
        display_name: d.display_name,
        secret_sealed: from_hex(&d.secret_sealed)?,
        created: Timestamp(d.created),
        confirmed,
        last_used_step,
    })
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::InsertSoftwareOathMethod(m) => {
            exec(
                tx,
                "INSERT INTO software_oath_methods (id, tenant_id, user_id, confirmed, created, data) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    s(m.id),
                    s(m.tenant_id),
                    s(m.user_id),
                    Arg::I(i64::from(m.confirmed)),
                    Arg::I(m.created.millis()),
                    Arg::S(json(&OathDoc::from(m))?),
                ],
            )
            .await?;
            // A NULL bind is typed TEXT under the Any driver, so the step is set separately.
            if let Some(step) = m.last_used_step {
                exec(
                    tx,
                    "UPDATE software_oath_methods SET last_used_step = $2 WHERE id = $1",
                    &[s(m.id), Arg::I(step_i64(step)?)],
                )
                .await?;
            }
        }
        Change::ConfirmSoftwareOathMethod(t, id, step) => {
            must_touch(
                tx,
                "UPDATE software_oath_methods SET confirmed = 1, last_used_step = $3 WHERE tenant_id = $1 AND id = $2 AND confirmed = 0",
                &[s(t), s(id), Arg::I(step_i64(*step)?)],
                "pending softwareOathAuthenticationMethod",
            )
            .await?;
        }
        Change::DeleteSoftwareOathMethod(t, id) => {
            must_touch(
                tx,
                "DELETE FROM software_oath_methods WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "softwareOathAuthenticationMethod",
            )
            .await?;
        }
        Change::ReplaceRecoveryCodes(t, user, hashes) => {
            exec(
                tx,
                "DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(user)],
            )
            .await?;
            for h in hashes {
                exec(
                    tx,
                    "INSERT INTO recovery_codes (tenant_id, user_id, hash, used) VALUES ($1, $2, $3, 0)",
                    &[s(t), s(user), Arg::S(to_hex(h))],
                )
                .await?;
            }
        }
        Change::ResetMfaAttempts(t, user) => {
            exec(
                tx,
                "DELETE FROM mfa_attempts WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(user)],
            )
            .await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl AuthMethodStore for SqlStore {
    async fn software_oath_methods(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Vec<SoftwareOathMethod>, StoreError> {
        let rows = sqlx::query("SELECT data, confirmed, last_used_step FROM software_oath_methods WHERE tenant_id = $1 AND user_id = $2 ORDER BY created, id")
            .bind(t.to_string())
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(oath_from_row).collect()
    }

    async fn software_oath_method(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<SoftwareOathMethod>, StoreError> {
        let row = sqlx::query("SELECT data, confirmed, last_used_step FROM software_oath_methods WHERE tenant_id = $1 AND id = $2")
            .bind(t.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(oath_from_row).transpose()
    }

    async fn advance_totp_step(
        &self,
        t: TenantId,
        id: ObjectId,
        step: u64,
    ) -> Result<bool, StoreError> {
        let step = step_i64(step)?;
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let n = exec(&mut tx, "UPDATE software_oath_methods SET last_used_step = $3 WHERE tenant_id = $1 AND id = $2 AND confirmed = 1 AND (last_used_step IS NULL OR last_used_step < $3)", &[s(t), s(id), Arg::I(step)]).await?;
            tx.commit().await.map_err(backend)?;
            Ok(n == 1)
        }
        .await)
    }

    async fn recovery_codes(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Vec<RecoveryCode>, StoreError> {
        let rows = sqlx::query("SELECT hash, used FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2 ORDER BY hash")
            .bind(t.to_string())
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let h: String = r.try_get(0).map_err(backend)?;
                let used: i64 = r.try_get(1).map_err(backend)?;
                let bytes = from_hex(&h)?;
                Ok(RecoveryCode {
                    hash: <[u8; 32]>::try_from(bytes.as_slice())
                        .map_err(|_| StoreError::Backend("bad recovery code hash".into()))?,
                    used: used != 0,
                })
            })
            .collect()
    }

    async fn use_recovery_code(
        &self,
        t: TenantId,
        user: ObjectId,
        hash: &[u8; 32],
    ) -> Result<bool, StoreError> {
        let h = to_hex(hash);
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let n = exec(&mut tx, "UPDATE recovery_codes SET used = 1 WHERE tenant_id = $1 AND user_id = $2 AND hash = $3 AND used = 0", &[s(t), s(user), Arg::S(h.clone())]).await?;
            tx.commit().await.map_err(backend)?;
            Ok(n == 1)
        }
        .await)
    }

    async fn mfa_attempts(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<(castellan_core::flow::mfa_attempts::MfaAttempts, i64)>, StoreError> {
        let rows = sqlx::query("SELECT version, failures, window_start, locked_until, lockouts, last_attempt FROM mfa_attempts WHERE tenant_id = $1 AND user_id = $2")
            .bind(t.to_string())
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let n = |i: usize| r.try_get::<i64, _>(i).map_err(backend);
        let count = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(Some((
            castellan_core::flow::mfa_attempts::MfaAttempts {
                failures: count(n(1)?),
                window_start: Timestamp(n(2)?),
                locked_until: Timestamp(n(3)?),
                lockouts: count(n(4)?),
                last_attempt: Timestamp(n(5)?),
            },
            n(0)?,
        )))
    }

    async fn put_mfa_attempts(
        &self,
        t: TenantId,
        user: ObjectId,
        a: &castellan_core::flow::mfa_attempts::MfaAttempts,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        let fields = [
            Arg::I(i64::from(a.failures)),
            Arg::I(a.window_start.millis()),
            Arg::I(a.locked_until.millis()),
            Arg::I(i64::from(a.lockouts)),
            Arg::I(a.last_attempt.millis()),
        ];
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let n = match expected {
                None => {
                    let mut args = vec![s(t), s(user)];
                    args.extend(fields.iter().map(Arg::clone));
                    match exec(&mut tx, "INSERT INTO mfa_attempts (tenant_id, user_id, version, failures, window_start, locked_until, lockouts, last_attempt) VALUES ($1, $2, 1, $3, $4, $5, $6, $7)", &args).await {
                        Ok(n) => n,
                        // Another attempt created the row first; the transaction rolls back.
                        Err(StoreError::Conflict(_)) => return Ok(false),
                        Err(e) => return Err(e),
                    }
                }
                Some(v) => {
                    let mut args: Vec<Arg> = fields.iter().map(Arg::clone).collect();
                    args.extend([Arg::I(v.saturating_add(1)), s(t), s(user), Arg::I(v)]);
                    exec(&mut tx, "UPDATE mfa_attempts SET failures = $1, window_start = $2, locked_until = $3, lockouts = $4, last_attempt = $5, version = $6 WHERE tenant_id = $7 AND user_id = $8 AND version = $9", &args).await?
                }
            };
            tx.commit().await.map_err(backend)?;
            Ok(n == 1)
        }
        .await)
    }

    async fn reset_mfa_attempts(&self, t: TenantId, user: ObjectId) -> Result<bool, StoreError> {
        retrying!(
            async {
                let mut tx = self.begin_write().await?;
                let n = exec(
                    &mut tx,
                    "DELETE FROM mfa_attempts WHERE tenant_id = $1 AND user_id = $2",
                    &[s(t), s(user)],
                )
                .await?;
                tx.commit().await.map_err(backend)?;
                Ok(n > 0)
            }
            .await
        )
    }
}
