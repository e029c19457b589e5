//! Shared SQL plumbing: bound arguments, `exec` (unique violations become typed conflicts), the
//! error mapping (transient engine conflicts become `StoreError::Busy`) and row helpers.

use super::*;

/// Turns an engine or encoding failure into a `StoreError`: transient engine conflicts
/// (SQLite busy/locked, PostgreSQL serialization failure or deadlock, told apart by the
/// engine's error code) become `Busy`, which the retry loops test; the rest `Backend`.
pub(crate) fn backend(e: impl IntoStoreError) -> StoreError {
    e.into_store_error()
}

/// What [`backend`] accepts.
pub(crate) trait IntoStoreError {
    fn into_store_error(self) -> StoreError;
}

/// Encoding and parsing failures of stored values are never transient.
macro_rules! not_transient {
    ($($t:ty),*) => {
        $(impl IntoStoreError for $t {
            fn into_store_error(self) -> StoreError {
                StoreError::Backend(self.to_string())
            }
        })*
    };
}

not_transient!(
    serde_json::Error,
    uuid::Error,
    std::num::ParseIntError,
    &str,
    String
);

/// SQLite's SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes (primary code in
/// the low byte); PostgreSQL's serialization_failure (40001) and deadlock_detected (40P01).
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(d) = e else {
        return false;
    };
    let Some(code) = d.code() else {
        return false;
    };
    // PostgreSQL's SQLSTATEs are five characters; SQLite's result codes are shorter numbers.
    if code.len() == 5 {
        return code == "40001" || code == "40P01";
    }
    code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation()
                || d.code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
                || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

pub(crate) fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Busy(_))
}

#[derive(Clone)]
pub(crate) enum Arg {
    S(String),
    I(i64),
    N,
}

pub(crate) fn s(v: impl ToString) -> Arg {
    Arg::S(v.to_string())
}

pub(crate) fn json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(backend)
}

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A write transaction: on SQLite it also holds the store's write gate, so the process's
/// writers queue in order in memory instead of meeting SQLite's one writer lock, where a loser
/// sleeps in the busy handler (1, 2, 5, 10 ms ...) or, having read first, fails at once and
/// retries after 15 ms. Derefs to the transaction; `commit` releases the gate after the commit.
pub(crate) struct WriteTx {
    tx: Tx,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl SqlStore {
    /// Begins a write transaction (see [`WriteTx`]). Waiting for the gate is bounded like
    /// waiting for a connection: past it the database is taken to be away.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let gate = self.write_turn().await?;
        let tx = self.pool.begin().await.map_err(backend)?;
        Ok(WriteTx { tx, _gate: gate })
    }

    /// One write statement on its own (the engine's autocommit makes it a transaction): one
    /// round trip instead of three (begin, statement, commit). Unique violations become typed
    /// conflicts, as in [`exec`].
    pub(crate) async fn write_one(&self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await?;
        let mut q = sqlx::query(sql);
        for a in args {
            q = bind(q, a);
        }
        match q.execute(&self.pool).await {
            Ok(r) => Ok(r.rows_affected()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::conflict(conflict_rule(sql))),
            Err(e) => Err(backend(e)),
        }
    }

    /// This writer's turn at the write gate (SQLite; `None` on PostgreSQL).
    pub(crate) async fn write_turn(
        &self,
    ) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>, StoreError> {
        match &self.write_gate {
            Some(g) => tokio::time::timeout(ACQUIRE_TIMEOUT, g.clone().lock_owned())
                .await
                .map(Some)
                .map_err(|_| backend(sqlx::Error::PoolTimedOut)),
            None => Ok(None),
        }
    }
}

/// Binds one argument.
pub(crate) fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    a: &Arg,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    match a {
        Arg::S(v) => q.bind(v.clone()),
        Arg::I(v) => q.bind(*v),
        Arg::N => q.bind(Option::<String>::None),
    }
}

pub(crate) async fn exec(tx: &mut Tx, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = bind(q, a);
    }
    match q.execute(&mut **tx).await {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::conflict(conflict_rule(sql))),
        Err(e) => Err(backend(e)),
    }
}

/// The uniqueness rule a unique violation on `sql`'s table broke (the statement names its
/// table third: `INSERT INTO <table>`, `UPDATE <table>`… `UPDATE` is word two, handled too).
pub(crate) fn conflict_rule(sql: &str) -> UniqueRule {
    let mut words = sql.split_whitespace();
    let table = match words.next() {
        Some(w) if w.eq_ignore_ascii_case("UPDATE") => words.next(),
        _ => words.nth(1),
    }
    .unwrap_or("?");
    match table {
        "tenants" => UniqueRule::TenantExists,
        "tenant_domains" => UniqueRule::DomainTaken,
        "users" => UniqueRule::UpnTaken,
        "groups_" => UniqueRule::GroupExists,
        "memberships" => UniqueRule::MembershipExists,
        "owners" => UniqueRule::OwnerExists,
        "applications" => UniqueRule::AppIdTaken,
        "identifier_uris" => UniqueRule::IdentifierUriTaken,
        "service_principals" => UniqueRule::ServicePrincipalExists,
        "app_role_assignments" => UniqueRule::AppRoleAssignmentExists,
        "permission_grants" => UniqueRule::PermissionGrantExists,
        "directory_role_assignments" => UniqueRule::DirectoryRoleAssignmentExists,
        "custom_roles" => UniqueRule::CustomRoleExists,
        "administrative_units" => UniqueRule::AdministrativeUnitExists,
        "au_members" => UniqueRule::AuMembershipExists,
        "signing_keys" => UniqueRule::SigningKeyExists,
        "arm_resources" => UniqueRule::ArmResourceExists,
        "azure_role_assignments" => UniqueRule::RoleAssignmentExists,
        "azure_role_definitions" => UniqueRule::RoleDefinitionNameTaken,
        "deny_assignments" => UniqueRule::DenyAssignmentExists,
        "policy_documents" => UniqueRule::PolicyNameTaken,
        "software_oath_methods" => UniqueRule::SoftwareOathMethodExists,
        "recovery_codes" => UniqueRule::RecoveryCodeExists,
        "devices" => UniqueRule::DeviceIdTaken,
        "grants" => UniqueRule::GrantExists,
        "risky_users" => UniqueRule::RiskyUserExists,
        "mfa_attempts" => UniqueRule::MfaAttemptsExist,
        "audit_records" => UniqueRule::AuditRecordExists,
        "sign_ins" => UniqueRule::SignInExists,
        "role_schedules"
        | "role_schedule_requests"
        | "arm_role_schedules"
        | "arm_role_schedule_requests"
        | "group_role_schedules"
        | "group_role_schedule_requests" => UniqueRule::PimObjectExists,
        "deleted_items" => UniqueRule::DeletedItemExists,
        _ => UniqueRule::Unclassified,
    }
}

pub(crate) async fn must_touch(
    tx: &mut Tx,
    sql: &str,
    args: &[Arg],
    what: &str,
) -> Result<(), StoreError> {
    if exec(tx, sql, args).await? == 0 {
        return Err(StoreError::NotFound(what.to_string()));
    }
    Ok(())
}

pub(crate) fn clone(a: &Arg) -> Arg {
    match a {
        Arg::S(v) => Arg::S(v.clone()),
        Arg::I(v) => Arg::I(*v),
        Arg::N => Arg::N,
    }
}

pub(crate) async fn tokio_sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

pub(crate) fn get(r: &AnyRow, i: usize) -> Result<String, StoreError> {
    r.try_get::<String, _>(i).map_err(backend)
}
pub(crate) fn oid(s: &str) -> Result<ObjectId, StoreError> {
    ObjectId::parse(s).ok_or_else(|| backend(format!("bad object id '{s}' in the store")))
}
pub(crate) fn guid(s: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(s).map_err(backend)
}
pub(crate) fn first<D: TryInto<T, Error = StoreError>, T>(
    v: Vec<D>,
) -> Result<Option<T>, StoreError> {
    v.into_iter().next().map(TryInto::try_into).transpose()
}
pub(crate) fn all<D: TryInto<T, Error = StoreError>, T>(v: Vec<D>) -> Result<Vec<T>, StoreError> {
    v.into_iter().map(TryInto::try_into).collect()
}

pub(crate) fn tid(s: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(s).ok_or_else(|| backend("bad tenant id"))
}

impl IntoStoreError for sqlx::Error {
    fn into_store_error(self) -> StoreError {
        if is_transient(&self) {
            StoreError::Busy(self.to_string())
        } else {
            StoreError::Backend(self.to_string())
        }
    }
}

/// Bumps the tenant's version of a Graph list (`users`, `groups`) in this transaction
/// (`UserStore::users_version`, `GroupStore::groups_version`).
pub(crate) async fn bump_list_version(
    tx: &mut Tx,
    t: TenantId,
    list: &'static str,
) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT INTO list_versions (tenant_id, list, version) VALUES ($1, $2, 1) \
         ON CONFLICT (tenant_id, list) DO UPDATE SET version = list_versions.version + 1",
        &[s(t), Arg::S(list.into())],
    )
    .await?;
    Ok(())
}

impl SqlStore {
    /// The tenant's version of a Graph list (0 before its first write).
    pub(crate) async fn list_version(&self, t: TenantId, list: &str) -> Result<u64, StoreError> {
        let rows =
            sqlx::query("SELECT version FROM list_versions WHERE tenant_id = $1 AND list = $2")
                .bind(t.to_string())
                .bind(list.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        match rows.first() {
            Some(r) => Ok(u64::try_from(r.try_get::<i64, _>(0).map_err(backend)?).unwrap_or(0)),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine error with a given code, as sqlx hands it over.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "engine error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "engine error"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn mapped(code: &'static str) -> StoreError {
        backend(sqlx::Error::Database(Box::new(Coded(code))))
    }

    /// Retries test the kind, chosen by the engine's code — never the message text.
    #[test]
    fn transient_engine_conflicts_are_busy_and_only_they_are_retried() {
        // SQLite BUSY, BUSY_SNAPSHOT, LOCKED; PostgreSQL serialization failure and deadlock.
        for code in ["5", "517", "6", "40001", "40P01"] {
            let e = mapped(code);
            assert!(matches!(e, StoreError::Busy(_)), "{code}: {e:?}");
            assert!(is_retryable(&e), "{code} is retried");
        }
        // Positive control: unique violations, a missing table, a syntax error are not.
        for code in ["2067", "1555", "19", "23505", "42P01", "42601", "1"] {
            let e = mapped(code);
            assert!(matches!(e, StoreError::Backend(_)), "{code}: {e:?}");
            assert!(!is_retryable(&e), "{code} is not retried");
        }
        assert!(!is_retryable(&StoreError::Backend(
            "database is locked".into()
        )));
    }

    #[test]
    fn unique_violations_name_their_rule_by_table() {
        assert_eq!(
            conflict_rule("INSERT INTO users (id) VALUES ($1)"),
            UniqueRule::UpnTaken
        );
        assert_eq!(
            conflict_rule("UPDATE users SET upn_lower = $3 WHERE id = $1"),
            UniqueRule::UpnTaken
        );
        assert_eq!(
            conflict_rule("INSERT INTO azure_role_assignments (id) VALUES ($1)"),
            UniqueRule::RoleAssignmentExists
        );
        assert_eq!(
            conflict_rule("INSERT INTO identifier_uris (uri_key) VALUES ($1)"),
            UniqueRule::IdentifierUriTaken
        );
    }
}
