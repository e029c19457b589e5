//! Sign-in state (`grants`): codes, refresh tokens, device codes, sessions, jtis, lockout counters.

use super::*;

pub(crate) async fn revoke_in(tx: &mut Tx, scope: &RevokeScope) -> Result<u64, StoreError> {
    // Keep `data` in step with the state column: rows are read back from `data`.
    let rows: Vec<String> = match scope {
        RevokeScope::Family(f) => {
            let mut q = sqlx::query("SELECT data FROM grants WHERE family = $1 AND state IN ('active', 'pending', 'approved')");
            q = q.bind(f.clone());
            q.fetch_all(&mut **tx)
                .await
                .map_err(backend)?
                .iter()
                .map(|r| get(r, 0))
                .collect::<Result<_, _>>()?
        }
        RevokeScope::User(t, u) => {
            let q = sqlx::query("SELECT data FROM grants WHERE tenant_id = $1 AND user_id = $2 AND kind IN ('refresh', 'sso', 'code') AND state IN ('active', 'pending', 'approved')")
                .bind(t.to_string())
                .bind(u.to_string());
            q.fetch_all(&mut **tx)
                .await
                .map_err(backend)?
                .iter()
                .map(|r| get(r, 0))
                .collect::<Result<_, _>>()?
        }
    };
    let mut n = 0;
    for d in rows {
        let doc: GrantDoc = serde_json::from_str(&d).map_err(backend)?;
        let mut g: Grant = doc.try_into()?;
        g.state = GrantState::Revoked;
        exec(
            tx,
            "UPDATE grants SET state = 'revoked', data = $2 WHERE handle = $1",
            &[Arg::S(g.handle.clone()), Arg::S(json(&GrantDoc::from(&g))?)],
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

pub(crate) fn grant_args(g: &Grant) -> Result<Vec<Arg>, StoreError> {
    let opt = |v: Option<String>| v.map_or(Arg::N, Arg::S);
    Ok(vec![
        Arg::S(g.handle.clone()),
        Arg::S(g.kind.as_str().into()),
        s(g.tenant_id),
        opt(g.family.clone()),
        opt(g.user_id.map(|u| u.to_string())),
        opt(g.lookup.clone()),
        Arg::S(g.state.as_str().into()),
        Arg::I(g.created.millis()),
        Arg::I(g.expires.millis()),
        Arg::S(json(&GrantDoc::from(g))?),
    ])
}

#[derive(Serialize, Deserialize)]
pub(crate) struct GrantDoc {
    handle: String,
    kind: String,
    tenant_id: String,
    family: Option<String>,
    user_id: Option<String>,
    lookup: Option<String>,
    state: String,
    created: i64,
    expires: i64,
    attrs: Vec<(String, String)>,
}

impl From<&Grant> for GrantDoc {
    fn from(g: &Grant) -> Self {
        Self {
            handle: g.handle.clone(),
            kind: g.kind.as_str().into(),
            tenant_id: g.tenant_id.to_string(),
            family: g.family.clone(),
            user_id: g.user_id.map(|u| u.to_string()),
            lookup: g.lookup.clone(),
            state: g.state.as_str().into(),
            created: g.created.millis(),
            expires: g.expires.millis(),
            attrs: g.attrs.clone(),
        }
    }
}

impl TryFrom<GrantDoc> for Grant {
    type Error = StoreError;
    fn try_from(d: GrantDoc) -> Result<Self, StoreError> {
        Ok(Grant {
            handle: d.handle,
            kind: GrantKind::parse(&d.kind).ok_or_else(|| backend("bad grant kind"))?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            family: d.family,
            user_id: d.user_id.as_deref().map(oid).transpose()?,
            lookup: d.lookup,
            state: GrantState::parse(&d.state).ok_or_else(|| backend("bad grant state"))?,
            created: Timestamp(d.created),
            expires: Timestamp(d.expires),
            attrs: d.attrs,
        })
    }
}

const INSERT_GRANT: &str = "INSERT INTO grants (handle, kind, tenant_id, family, user_id, lookup, state, created, expires, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::RevokeGrants(scope) => {
            revoke_in(tx, scope).await?;
        }
        Change::UpdateGrant(expected, next) => {
            let mut args = grant_args(next)?;
            args.push(Arg::S(expected.as_str().into()));
            let n = exec(tx, CAS_GRANT, &args).await?;
            if n != 1 {
                return Err(StoreError::conflict(UniqueRule::GrantChanged));
            }
        }
        Change::InsertGrant(g) => {
            exec(tx, INSERT_GRANT, &grant_args(g)?).await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

const CAS_GRANT: &str = "UPDATE grants SET kind = $2, tenant_id = $3, family = $4, user_id = $5, lookup = $6, state = $7, created = $8, expires = $9, data = $10 WHERE handle = $1 AND state = $11";

/// A rotation in one script: the compare-and-set, which returns a row if it won, and the
/// successor inserted only if it changed a row (SQLite's `changes()`, which the update has
/// just set), in one transaction. (The script's summed row count is no answer: SQLite reports
/// a `BEGIN`'s count as whatever the connection's previous statement changed.)
static ROTATE_SQLITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "BEGIN IMMEDIATE; {CAS_GRANT} RETURNING 1; \
         INSERT INTO grants (handle, kind, tenant_id, family, user_id, lookup, state, created, expires, data) \
         SELECT $12, $13, $14, $15, $16, $17, $18, $19, $20, $21 WHERE changes() = 1; COMMIT"
    )
});

impl SqlStore {
    /// [`Store::rotate_grant`] on SQLite: the whole transaction is one script, so it costs one
    /// hand-off to SQLite's worker thread instead of four (begin, update, insert, commit) —
    /// which matters because the write gate is held across them, and every hand-off back
    /// waits for a runtime thread that may be busy signing. The update's returned row says
    /// whether the compare-and-set won (the insert is conditional on it). A failure inside
    /// the script leaves its transaction open: it is rolled back before the connection
    /// returns to the pool.
    pub(crate) async fn rotate_sqlite(
        &self,
        expected: GrantState,
        spent: &Grant,
        successor: Option<&Grant>,
    ) -> Result<bool, StoreError> {
        let mut args = grant_args(spent)?;
        args.push(Arg::S(expected.as_str().into()));
        let Some(g) = successor else {
            return self.write_one(CAS_GRANT, &args).await.map(|n| n == 1);
        };
        args.extend(grant_args(g)?);
        let _turn = self.write_turn().await?;
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let mut q = sqlx::query(ROTATE_SQLITE.as_str());
        for a in &args {
            q = bind(q, a);
        }
        match q.fetch_all(&mut *conn).await {
            Ok(won) => Ok(!won.is_empty()),
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                if is_unique_violation(&e) {
                    Err(StoreError::conflict(UniqueRule::GrantExists))
                } else {
                    Err(backend(e))
                }
            }
        }
    }
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        let args = grant_args(g)?;
        retrying!(self.write_one(INSERT_GRANT, &args).await).map(|_| ())
    }

    async fn grant(&self, handle: &str) -> Result<Option<Grant>, StoreError> {
        first(
            self.docs::<GrantDoc>("SELECT data FROM grants WHERE handle = $1", &[handle])
                .await?,
        )
    }

    async fn grants_of_kind(&self, t: TenantId, kind: GrantKind) -> Result<Vec<Grant>, StoreError> {
        all(self
            .docs::<GrantDoc>(
                "SELECT data FROM grants WHERE tenant_id = $1 AND kind = $2 ORDER BY created DESC, handle",
                &[&t.to_string(), kind.as_str()],
            )
            .await?)
    }

    async fn grant_by_lookup(
        &self,
        kind: GrantKind,
        lookup: &str,
    ) -> Result<Option<Grant>, StoreError> {
        first(
            self.docs::<GrantDoc>(
                "SELECT data FROM grants WHERE kind = $1 AND lookup = $2",
                &[kind.as_str(), lookup],
            )
            .await?,
        )
    }

    async fn update_grant(&self, expected: GrantState, next: &Grant) -> Result<bool, StoreError> {
        let mut args = grant_args(next)?;
        args.push(Arg::S(expected.as_str().into()));
        retrying!(self.write_one(CAS_GRANT, &args).await).map(|n| n == 1)
    }

    async fn upsert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        let args = grant_args(g)?;
        retrying!(self.write_one("INSERT INTO grants (handle, kind, tenant_id, family, user_id, lookup, state, created, expires, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (handle) DO UPDATE SET state = excluded.state, expires = excluded.expires, data = excluded.data", &args).await).map(|_| ())
    }

    async fn revoke_grants(&self, scope: &RevokeScope) -> Result<u64, StoreError> {
        retrying!(
            async {
                let mut tx = self.begin_write().await?;
                let n = revoke_in(&mut tx, scope).await?;
                tx.commit().await.map_err(backend)?;
                Ok(n)
            }
            .await
        )
    }

    async fn purge_grants(&self, now: Timestamp) -> Result<u64, StoreError> {
        retrying!(
            async {
                let mut tx = self.begin_write().await?;
                let n = exec(
                    &mut tx,
                    "DELETE FROM grants WHERE expires < $1",
                    &[Arg::I(now.millis())],
                )
                .await?;
                tx.commit().await.map_err(backend)?;
                Ok(n)
            }
            .await
        )
    }
}
