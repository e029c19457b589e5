//! SQLite and PostgreSQL implementations of `castellan_core::store::Store`, as ONE
//! implementation over sqlx's `Any` driver: the schema is portable (GUIDs as TEXT, times as
//! BIGINT epoch millis, booleans as BIGINT 0/1, nested values as JSON TEXT) and every query uses
//! `$n` placeholders, which both engines accept. Engine differences live in `dialect` below
//! (connection set-up only). Parameterised SQL only.
//!
//! Concurrency: SQLite runs in WAL mode with a busy timeout; writes that still hit
//! SQLITE_BUSY, and PostgreSQL serialization failures or deadlocks, are retried with jitter.

use std::time::Duration;

use async_trait::async_trait;
use castellan_core::audit::{Actor, AuditRecord, AuditTarget, ModifiedProperty};
use castellan_core::azure_rbac::normalise_scope;
use castellan_core::model::*;
use castellan_core::store::{AuditQuery, Change, ChangeSet, Store, StoreError, UniqueRule};
use castellan_core::{AppId, ObjectId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// Migrations, numbered from 1. Each runs in its own transaction.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE tenant_domains (name_lower TEXT PRIMARY KEY, tenant_id TEXT NOT NULL);
CREATE INDEX tenant_domains_tenant ON tenant_domains (tenant_id);
CREATE TABLE users (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, upn_lower TEXT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX users_upn ON users (tenant_id, upn_lower);
CREATE TABLE groups_ (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX groups_tenant ON groups_ (tenant_id);
CREATE TABLE memberships (tenant_id TEXT NOT NULL, group_id TEXT NOT NULL, member_id TEXT NOT NULL, member_kind TEXT NOT NULL, PRIMARY KEY (group_id, member_id));
CREATE INDEX memberships_tenant ON memberships (tenant_id);
CREATE INDEX memberships_member ON memberships (member_id);
CREATE TABLE owners (tenant_id TEXT NOT NULL, object_id TEXT NOT NULL, owner_id TEXT NOT NULL, PRIMARY KEY (object_id, owner_id));
CREATE INDEX owners_owner ON owners (owner_id);
CREATE TABLE applications (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, app_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX applications_app_id ON applications (app_id);
CREATE INDEX applications_tenant ON applications (tenant_id);
CREATE TABLE service_principals (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, app_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX service_principals_app ON service_principals (tenant_id, app_id);
CREATE INDEX service_principals_app_id ON service_principals (app_id);
CREATE TABLE app_role_assignments (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, principal_id TEXT NOT NULL, principal_type TEXT NOT NULL, resource_id TEXT NOT NULL, app_role_id TEXT NOT NULL, created BIGINT NOT NULL);
CREATE UNIQUE INDEX app_role_assignments_unique ON app_role_assignments (tenant_id, principal_id, resource_id, app_role_id);
CREATE INDEX app_role_assignments_resource ON app_role_assignments (tenant_id, resource_id);
CREATE TABLE permission_grants (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, client_id TEXT NOT NULL, resource_id TEXT NOT NULL, principal_id TEXT, consent_type TEXT NOT NULL, scope TEXT NOT NULL);
CREATE INDEX permission_grants_tenant ON permission_grants (tenant_id);
CREATE TABLE directory_role_assignments (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, principal_id TEXT NOT NULL, role_template_id TEXT NOT NULL);
CREATE UNIQUE INDEX directory_role_assignments_unique ON directory_role_assignments (tenant_id, principal_id, role_template_id);
CREATE TABLE audit_records (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, time BIGINT NOT NULL, category TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX audit_records_tenant_time ON audit_records (tenant_id, time);
CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, data TEXT NOT NULL);
"#,
    r#"
CREATE TABLE grants (handle TEXT PRIMARY KEY, kind TEXT NOT NULL, tenant_id TEXT NOT NULL, family TEXT, user_id TEXT, lookup TEXT, state TEXT NOT NULL, created BIGINT NOT NULL, expires BIGINT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX grants_lookup ON grants (kind, lookup);
CREATE INDEX grants_family ON grants (family);
CREATE INDEX grants_user ON grants (tenant_id, user_id);
CREATE INDEX grants_expires ON grants (expires);
CREATE TABLE sign_ins (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, time BIGINT NOT NULL, data TEXT NOT NULL);
CREATE INDEX sign_ins_tenant_time ON sign_ins (tenant_id, time);
"#,
    r#"
CREATE TABLE administrative_units (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX administrative_units_tenant ON administrative_units (tenant_id);
CREATE TABLE au_members (tenant_id TEXT NOT NULL, au_id TEXT NOT NULL, member_id TEXT NOT NULL, PRIMARY KEY (au_id, member_id));
CREATE INDEX au_members_member ON au_members (tenant_id, member_id);
ALTER TABLE directory_role_assignments ADD COLUMN directory_scope_id TEXT NOT NULL DEFAULT '/';
DROP INDEX directory_role_assignments_unique;
CREATE UNIQUE INDEX directory_role_assignments_scoped ON directory_role_assignments (tenant_id, principal_id, role_template_id, directory_scope_id);
"#,
    r#"
CREATE TABLE custom_roles (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name_lower TEXT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX custom_roles_name ON custom_roles (tenant_id, name_lower);
"#,
    r#"
CREATE TABLE arm_resources (id_lower TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, parent_lower TEXT, data TEXT NOT NULL);
CREATE INDEX arm_resources_tenant ON arm_resources (tenant_id);
CREATE INDEX arm_resources_parent ON arm_resources (tenant_id, parent_lower);
CREATE TABLE azure_role_assignments (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, scope_lower TEXT NOT NULL, principal_id TEXT NOT NULL, role_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX azure_role_assignments_unique ON azure_role_assignments (tenant_id, scope_lower, principal_id, role_id);
CREATE INDEX azure_role_assignments_principal ON azure_role_assignments (tenant_id, principal_id);
CREATE TABLE azure_role_definitions (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name_lower TEXT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX azure_role_definitions_name ON azure_role_definitions (tenant_id, name_lower);
CREATE TABLE deny_assignments (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX deny_assignments_tenant ON deny_assignments (tenant_id);
"#,
    r#"
CREATE TABLE policy_documents (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, kind TEXT NOT NULL, name_lower TEXT NOT NULL, created BIGINT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX policy_documents_name ON policy_documents (tenant_id, kind, name_lower);
"#,
    r#"
CREATE TABLE software_oath_methods (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, confirmed BIGINT NOT NULL, last_used_step BIGINT, created BIGINT NOT NULL, data TEXT NOT NULL);
CREATE INDEX software_oath_methods_user ON software_oath_methods (tenant_id, user_id);
CREATE TABLE recovery_codes (tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, hash TEXT NOT NULL, used BIGINT NOT NULL, PRIMARY KEY (tenant_id, user_id, hash));
"#,
    r#"
CREATE TABLE devices (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, device_id TEXT NOT NULL, created BIGINT NOT NULL, last_sign_in BIGINT, data TEXT NOT NULL);
CREATE UNIQUE INDEX devices_device_id ON devices (tenant_id, device_id);
"#,
    r#"
CREATE TABLE risky_users (tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, version BIGINT NOT NULL, updated BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant_id, user_id));
CREATE INDEX risky_users_updated ON risky_users (tenant_id, updated);
CREATE TABLE failed_sign_ins (tenant_id TEXT NOT NULL, source TEXT NOT NULL, ip TEXT NOT NULL, username TEXT NOT NULL, time BIGINT NOT NULL);
CREATE INDEX failed_sign_ins_source ON failed_sign_ins (tenant_id, source, time);
CREATE INDEX failed_sign_ins_time ON failed_sign_ins (tenant_id, time);
"#,
    // Identifier URIs are unique across all tenants (rows back-filled from the stored
    // applications by `backfill_identifier_uris`; of two old holders the first keeps it).
    r#"
CREATE TABLE identifier_uris (uri_key TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, app_object_id TEXT NOT NULL);
CREATE INDEX identifier_uris_app ON identifier_uris (app_object_id);
"#,
    r#"
CREATE TABLE mfa_attempts (tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, version BIGINT NOT NULL, failures BIGINT NOT NULL, window_start BIGINT NOT NULL, locked_until BIGINT NOT NULL, lockouts BIGINT NOT NULL, last_attempt BIGINT NOT NULL, PRIMARY KEY (tenant_id, user_id));
"#,
];

/// The migration (1-based) that created `identifier_uris`.
const IDENTIFIER_URIS_MIGRATION: i64 = 10;

/// The engine-specific part: only connection set-up differs.
mod dialect {
    /// Which engine a URL names.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Engine {
        /// SQLite file.
        Sqlite,
        /// PostgreSQL.
        Postgres,
    }

    /// Parses the engine from the URL scheme.
    pub fn engine(url: &str) -> Option<Engine> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }

    /// SQLite: create the file, WAL, busy timeout, foreign keys.
    pub fn sqlite_url(url: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    }

    /// Statements run on every new SQLite connection.
    pub const SQLITE_PRAGMAS: &[&str] = &[
        "PRAGMA journal_mode = WAL",
        "PRAGMA busy_timeout = 5000",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
    ];
}

/// The SQL store.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    engine: dialect::Engine,
}

/// Turns an engine or encoding failure into a `StoreError`: transient engine conflicts
/// (SQLite busy/locked, PostgreSQL serialization failure or deadlock, told apart by the
/// engine's error code) become `Busy`, which the retry loops test; the rest `Backend`.
fn backend(e: impl IntoStoreError) -> StoreError {
    e.into_store_error()
}

/// What [`backend`] accepts.
trait IntoStoreError {
    fn into_store_error(self) -> StoreError;
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
fn is_transient(e: &sqlx::Error) -> bool {
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

fn is_unique_violation(e: &sqlx::Error) -> bool {
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

/// Runs a store operation again when the engine reports a transient conflict (SQLite's
/// "database is locked" on a read-to-write upgrade, PostgreSQL serialization failures and
/// deadlocks), with a short growing backoff.
macro_rules! retrying {
    ($body:expr) => {{
        let mut attempt = 0u32;
        loop {
            match $body {
                Err(e) if is_retryable(&e) && attempt < 8 => {
                    attempt += 1;
                    let jitter = u64::from(std::process::id() % 7 + attempt * 11);
                    tokio_sleep(Duration::from_millis(15 * u64::from(attempt) + jitter)).await;
                }
                other => break other,
            }
        }
    }};
}

fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Busy(_))
}

impl SqlStore {
    /// Opens `sqlite://<path>` or `postgres://...` and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let engine = dialect::engine(url).ok_or_else(|| {
            StoreError::Backend(format!(
                "unsupported database URL '{url}': use sqlite://<file> or postgres://user@host/db"
            ))
        })?;
        let opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match engine {
            dialect::Engine::Sqlite => {
                opts.max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            for p in dialect::SQLITE_PRAGMAS {
                                sqlx::query(p).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&dialect::sqlite_url(url))
                    .await
            }
            dialect::Engine::Postgres => opts.max_connections(16).connect(url).await,
        }
        .map_err(backend)?;
        let s = Self { pool, engine };
        s.migrate().await?;
        Ok(s)
    }

    /// Which engine this is.
    pub fn is_sqlite(&self) -> bool {
        self.engine == dialect::Engine::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS castellan_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)").execute(&self.pool).await.map_err(backend)?;
        let current: i64 =
            sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM castellan_schema")
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?
                .try_get("v")
                .map_err(backend)?;
        let known = MIGRATIONS.len() as i64;
        if current > known {
            return Err(StoreError::Backend(format!(
                "the database schema is at version {current} but this castellan knows only up to {known}: run a newer castellan (refusing to touch a newer schema)"
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i64 + 1;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            for stmt in m.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sqlx::query(stmt)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::Backend(format!("migration {version} failed: {e}")))?;
            }
            if version == IDENTIFIER_URIS_MIGRATION {
                backfill_identifier_uris(&mut tx).await?;
            }
            sqlx::query("INSERT INTO castellan_schema (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(0i64)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
        }
        Ok(())
    }

    async fn fetch_data(&self, sql: &str, binds: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(b.to_string());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(backend))
            .collect()
    }

    async fn docs<T: for<'de> Deserialize<'de>>(
        &self,
        sql: &str,
        binds: &[&str],
    ) -> Result<Vec<T>, StoreError> {
        self.fetch_data(sql, binds)
            .await?
            .iter()
            .map(|d| serde_json::from_str(d).map_err(backend))
            .collect()
    }

    async fn apply(&self, set: &ChangeSet) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for c in &set.changes {
            apply_change(&mut tx, c).await?;
        }
        for a in &set.audit {
            let d = json(&AuditDoc::from(a))?;
            exec(&mut tx, "INSERT INTO audit_records (id, tenant_id, time, category, data) VALUES ($1, $2, $3, $4, $5)", &[s(a.id), s(a.tenant_id), Arg::I(a.time.millis()), Arg::S(a.category.clone()), Arg::S(d)]).await?;
        }
        tx.commit().await.map_err(backend)
    }
}

#[derive(Clone)]
enum Arg {
    S(String),
    I(i64),
    N,
}

fn s(v: impl ToString) -> Arg {
    Arg::S(v.to_string())
}

fn json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(backend)
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn exec(tx: &mut Tx, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match a {
            Arg::S(v) => q.bind(v.clone()),
            Arg::I(v) => q.bind(*v),
            Arg::N => q.bind(Option::<String>::None),
        };
    }
    match q.execute(&mut **tx).await {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::conflict(conflict_rule(sql))),
        Err(e) => Err(backend(e)),
    }
}

/// Fills `identifier_uris` from the applications stored before it existed.
async fn backfill_identifier_uris(tx: &mut Tx) -> Result<(), StoreError> {
    let rows = sqlx::query("SELECT data FROM applications ORDER BY id")
        .fetch_all(&mut **tx)
        .await
        .map_err(backend)?;
    for row in rows {
        let raw: String = row.try_get(0).map_err(backend)?;
        let app: Application = serde_json::from_str::<AppDoc>(&raw)
            .map_err(backend)?
            .try_into()?;
        for key in identifier_uri_keys(&app) {
            sqlx::query("INSERT INTO identifier_uris (uri_key, tenant_id, app_object_id) VALUES ($1, $2, $3) ON CONFLICT (uri_key) DO NOTHING")
                .bind(key)
                .bind(app.tenant_id.to_string())
                .bind(app.id.to_string())
                .execute(&mut **tx)
                .await
                .map_err(|e| StoreError::Backend(format!("migration {IDENTIFIER_URIS_MIGRATION} failed: {e}")))?;
        }
    }
    Ok(())
}

/// An application's identifier URIs as unique keys (duplicates within the app collapse).
fn identifier_uri_keys(a: &Application) -> Vec<String> {
    let mut keys: Vec<String> = a
        .identifier_uris
        .iter()
        .map(|u| castellan_core::model::identifier_uri_key(u))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Rewrites the rows of an application's identifier URIs (a URI held by another application
/// in any tenant is a unique violation → `Conflict`).
async fn write_identifier_uris(tx: &mut Tx, a: &Application) -> Result<(), StoreError> {
    exec(
        tx,
        "DELETE FROM identifier_uris WHERE app_object_id = $1",
        &[s(a.id)],
    )
    .await?;
    for key in identifier_uri_keys(a) {
        exec(
            tx,
            "INSERT INTO identifier_uris (uri_key, tenant_id, app_object_id) VALUES ($1, $2, $3)",
            &[Arg::S(key), s(a.tenant_id), s(a.id)],
        )
        .await?;
    }
    Ok(())
}

/// The uniqueness rule a unique violation on `sql`'s table broke (the statement names its
/// table third: `INSERT INTO <table>`, `UPDATE <table>`… `UPDATE` is word two, handled too).
fn conflict_rule(sql: &str) -> UniqueRule {
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
        _ => UniqueRule::SignInExists,
    }
}

async fn must_touch(tx: &mut Tx, sql: &str, args: &[Arg], what: &str) -> Result<(), StoreError> {
    if exec(tx, sql, args).await? == 0 {
        return Err(StoreError::NotFound(what.to_string()));
    }
    Ok(())
}

async fn delete_object_refs(tx: &mut Tx, t: TenantId, id: ObjectId) -> Result<(), StoreError> {
    let (t, id) = (s(t), s(id));
    let pair = || [clone(&t), clone(&id)];
    exec(
        tx,
        "DELETE FROM memberships WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)",
        &pair(),
    )
    .await?;
    exec(
        tx,
        "DELETE FROM owners WHERE tenant_id = $1 AND (object_id = $2 OR owner_id = $2)",
        &pair(),
    )
    .await?;
    exec(
        tx,
        "DELETE FROM au_members WHERE tenant_id = $1 AND member_id = $2",
        &pair(),
    )
    .await?;
    exec(tx, "DELETE FROM app_role_assignments WHERE tenant_id = $1 AND (principal_id = $2 OR resource_id = $2)", &pair()).await?;
    exec(tx, "DELETE FROM permission_grants WHERE tenant_id = $1 AND (client_id = $2 OR resource_id = $2 OR principal_id = $2)", &pair()).await?;
    exec(
        tx,
        "DELETE FROM directory_role_assignments WHERE tenant_id = $1 AND principal_id = $2",
        &pair(),
    )
    .await?;
    // Azure leaves such assignments behind as "Identity not found"; Castellan removes them
    // with the principal so a recreated object never inherits access.
    exec(
        tx,
        "DELETE FROM azure_role_assignments WHERE tenant_id = $1 AND principal_id = $2",
        &pair(),
    )
    .await?;
    Ok(())
}

fn clone(a: &Arg) -> Arg {
    match a {
        Arg::S(v) => Arg::S(v.clone()),
        Arg::I(v) => Arg::I(*v),
        Arg::N => Arg::N,
    }
}

async fn apply_change(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    apply_change_inner(tx, c)
        .await
        .map_err(|e| c.name_conflict(e))
}

async fn apply_change_inner(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::RevokeGrants(scope) => {
            revoke_in(tx, scope).await?;
        }
        Change::DeleteDirectoryRoleAssignment(t, id) => {
            must_touch(
                tx,
                "DELETE FROM directory_role_assignments WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "unifiedRoleAssignment",
            )
            .await?;
        }
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
        Change::InsertDevice(d) => {
            exec(
                tx,
                "INSERT INTO devices (id, tenant_id, device_id, created, data) VALUES ($1, $2, $3, $4, $5)",
                &[s(d.id), s(d.tenant_id), s(d.device_id), Arg::I(d.created.millis()), Arg::S(json(&DeviceDoc::from(d))?)],
            )
            .await?;
            // A NULL bind is typed TEXT under the Any driver, so the time is set separately.
            if let Some(at) = d.last_sign_in {
                exec(
                    tx,
                    "UPDATE devices SET last_sign_in = $3 WHERE tenant_id = $1 AND id = $2",
                    &[s(d.tenant_id), s(d.id), Arg::I(at.millis())],
                )
                .await?;
            }
        }
        Change::UpdateDevice(d) => {
            must_touch(
                tx,
                "UPDATE devices SET data = $3 WHERE tenant_id = $1 AND id = $2",
                &[s(d.tenant_id), s(d.id), Arg::S(json(&DeviceDoc::from(d))?)],
                "device",
            )
            .await?;
        }
        Change::TouchDevice(t, id, at) => {
            must_touch(
                tx,
                "UPDATE devices SET last_sign_in = $3 WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id), Arg::I(at.millis())],
                "device",
            )
            .await?;
        }
        Change::DeleteDevice(t, id) => {
            must_touch(
                tx,
                "DELETE FROM devices WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "device",
            )
            .await?;
            exec(
                tx,
                "DELETE FROM owners WHERE tenant_id = $1 AND object_id = $2",
                &[s(t), s(id)],
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
        Change::DeletePermissionGrant(t, id) => {
            must_touch(
                tx,
                "DELETE FROM permission_grants WHERE tenant_id = $1 AND id = $2",
                &[s(t), s(id)],
                "oauth2PermissionGrant",
            )
            .await?;
        }
        Change::InsertTenant(t) => {
            exec(
                tx,
                "INSERT INTO tenants (id, data) VALUES ($1, $2)",
                &[s(t.id), Arg::S(json(&TenantDoc::from(t))?)],
            )
            .await?;
            for d in &t.domains {
                exec(
                    tx,
                    "INSERT INTO tenant_domains (name_lower, tenant_id) VALUES ($1, $2)",
                    &[Arg::S(d.name.to_ascii_lowercase()), s(t.id)],
                )
                .await?;
            }
        }
        Change::UpdateTenant(t) => {
            must_touch(
                tx,
                "UPDATE tenants SET data = $2 WHERE id = $1",
                &[s(t.id), Arg::S(json(&TenantDoc::from(t))?)],
                "tenant",
            )
            .await?;
            exec(
                tx,
                "DELETE FROM tenant_domains WHERE tenant_id = $1",
                &[s(t.id)],
            )
            .await?;
            for d in &t.domains {
                exec(
                    tx,
                    "INSERT INTO tenant_domains (name_lower, tenant_id) VALUES ($1, $2)",
                    &[Arg::S(d.name.to_ascii_lowercase()), s(t.id)],
                )
                .await?;
            }
        }
        Change::InsertUser(u) => {
            exec(
                tx,
                "INSERT INTO users (id, tenant_id, upn_lower, data) VALUES ($1, $2, $3, $4)",
                &[
                    s(u.id),
                    s(u.tenant_id),
                    Arg::S(u.user_principal_name.to_lowercase()),
                    Arg::S(json(&UserDoc::from(u))?),
                ],
            )
            .await?;
        }
        Change::UpdateUser(u) => {
            must_touch(
                tx,
                "UPDATE users SET upn_lower = $3, data = $4 WHERE id = $1 AND tenant_id = $2",
                &[
                    s(u.id),
                    s(u.tenant_id),
                    Arg::S(u.user_principal_name.to_lowercase()),
                    Arg::S(json(&UserDoc::from(u))?),
                ],
                "user",
            )
            .await?;
        }
        Change::DeleteUser(t, id) => {
            must_touch(
                tx,
                "DELETE FROM users WHERE id = $1 AND tenant_id = $2",
                &[s(id), s(t)],
                "user",
            )
            .await?;
            delete_object_refs(tx, *t, *id).await?;
            exec(
                tx,
                "DELETE FROM software_oath_methods WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(id)],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(id)],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM risky_users WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(id)],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM mfa_attempts WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(id)],
            )
            .await?;
            // Clear manager references (kept inside the JSON document): rewrite affected rows.
            let rows = sqlx::query("SELECT id, data FROM users WHERE tenant_id = $1")
                .bind(t.to_string())
                .fetch_all(&mut **tx)
                .await
                .map_err(backend)?;
            for r in rows {
                let (uid, data): (String, String) = (
                    r.try_get(0).map_err(backend)?,
                    r.try_get(1).map_err(backend)?,
                );
                let mut doc: UserDoc = serde_json::from_str(&data).map_err(backend)?;
                if doc.manager_id.as_deref() == Some(&id.to_string()) {
                    doc.manager_id = None;
                    exec(
                        tx,
                        "UPDATE users SET data = $2 WHERE id = $1",
                        &[Arg::S(uid), Arg::S(json(&doc)?)],
                    )
                    .await?;
                }
            }
        }
        Change::InsertGroup(g) => {
            exec(
                tx,
                "INSERT INTO groups_ (id, tenant_id, data) VALUES ($1, $2, $3)",
                &[s(g.id), s(g.tenant_id), Arg::S(json(&GroupDoc::from(g))?)],
            )
            .await?;
        }
        Change::UpdateGroup(g) => {
            must_touch(
                tx,
                "UPDATE groups_ SET data = $3 WHERE id = $1 AND tenant_id = $2",
                &[s(g.id), s(g.tenant_id), Arg::S(json(&GroupDoc::from(g))?)],
                "group",
            )
            .await?;
        }
        Change::DeleteGroup(t, id) => {
            must_touch(
                tx,
                "DELETE FROM groups_ WHERE id = $1 AND tenant_id = $2",
                &[s(id), s(t)],
                "group",
            )
            .await?;
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
        Change::InsertApplication(a) => {
            exec(
                tx,
                "INSERT INTO applications (id, tenant_id, app_id, data) VALUES ($1, $2, $3, $4)",
                &[
                    s(a.id),
                    s(a.tenant_id),
                    s(a.app_id),
                    Arg::S(json(&AppDoc::from(a))?),
                ],
            )
            .await?;
            write_identifier_uris(tx, a).await?;
        }
        Change::UpdateApplication(a) => {
            must_touch(
                tx,
                "UPDATE applications SET data = $3 WHERE id = $1 AND tenant_id = $2",
                &[s(a.id), s(a.tenant_id), Arg::S(json(&AppDoc::from(a))?)],
                "application",
            )
            .await?;
            write_identifier_uris(tx, a).await?;
        }
        Change::ReplaceApplication(expected, next) => {
            let row = sqlx::query("SELECT data FROM applications WHERE id = $1 AND tenant_id = $2")
                .bind(expected.id.to_string())
                .bind(expected.tenant_id.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?;
            let Some(row) = row else {
                return Err(StoreError::NotFound("application".into()));
            };
            let raw: String = row.try_get(0).map_err(backend)?;
            let current: Application = serde_json::from_str::<AppDoc>(&raw)
                .map_err(backend)?
                .try_into()?;
            let changed = || StoreError::conflict(UniqueRule::ApplicationChanged);
            if current != **expected {
                return Err(changed());
            }
            // The data column is compared too, so a concurrent writer that committed after our
            // read (PostgreSQL READ COMMITTED re-checks the row after the lock) makes this a no-op.
            let n = exec(
                tx,
                "UPDATE applications SET data = $3 WHERE id = $1 AND tenant_id = $2 AND data = $4",
                &[
                    s(next.id),
                    s(next.tenant_id),
                    Arg::S(json(&AppDoc::from(&**next))?),
                    Arg::S(raw),
                ],
            )
            .await?;
            if n == 0 {
                return Err(changed());
            }
            if current.identifier_uris != next.identifier_uris {
                write_identifier_uris(tx, next).await?;
            }
        }
        Change::DeleteApplication(t, id) => {
            let row =
                sqlx::query("SELECT app_id FROM applications WHERE id = $1 AND tenant_id = $2")
                    .bind(id.to_string())
                    .bind(t.to_string())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(backend)?;
            let Some(row) = row else {
                return Err(StoreError::NotFound("application".into()));
            };
            let app_id: String = row.try_get(0).map_err(backend)?;
            let sps = sqlx::query("SELECT id, tenant_id FROM service_principals WHERE app_id = $1")
                .bind(app_id.clone())
                .fetch_all(&mut **tx)
                .await
                .map_err(backend)?;
            for sp in sps {
                let (spid, tid): (String, String) = (
                    sp.try_get(0).map_err(backend)?,
                    sp.try_get(1).map_err(backend)?,
                );
                if let (Some(spid), Some(tid)) = (ObjectId::parse(&spid), TenantId::parse(&tid)) {
                    delete_object_refs(tx, tid, spid).await?;
                }
            }
            exec(
                tx,
                "DELETE FROM service_principals WHERE app_id = $1",
                &[Arg::S(app_id)],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM identifier_uris WHERE app_object_id = $1",
                &[s(id)],
            )
            .await?;
            exec(tx, "DELETE FROM applications WHERE id = $1", &[s(id)]).await?;
            delete_object_refs(tx, *t, *id).await?;
        }
        Change::InsertServicePrincipal(sp) => {
            exec(tx, "INSERT INTO service_principals (id, tenant_id, app_id, data) VALUES ($1, $2, $3, $4)", &[s(sp.id), s(sp.tenant_id), s(sp.app_id), Arg::S(json(&SpDoc::from(sp))?)]).await?;
        }
        Change::UpdateServicePrincipal(sp) => {
            must_touch(
                tx,
                "UPDATE service_principals SET data = $3 WHERE id = $1 AND tenant_id = $2",
                &[s(sp.id), s(sp.tenant_id), Arg::S(json(&SpDoc::from(sp))?)],
                "service principal",
            )
            .await?;
        }
        Change::DeleteServicePrincipal(t, id) => {
            must_touch(
                tx,
                "DELETE FROM service_principals WHERE id = $1 AND tenant_id = $2",
                &[s(id), s(t)],
                "service principal",
            )
            .await?;
            delete_object_refs(tx, *t, *id).await?;
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
        Change::InsertDirectoryRoleAssignment(r) => {
            exec(tx, "INSERT INTO directory_role_assignments (id, tenant_id, principal_id, role_template_id, directory_scope_id) VALUES ($1, $2, $3, $4, $5)", &[s(r.id), s(r.tenant_id), s(r.principal_id), s(r.role_template_id), Arg::S(r.directory_scope_id.clone())]).await?;
        }
        Change::InsertSigningKey(k) => {
            exec(
                tx,
                "INSERT INTO signing_keys (kid, data) VALUES ($1, $2)",
                &[Arg::S(k.kid.clone()), Arg::S(json(&KeyDoc::from(k))?)],
            )
            .await?;
        }
        Change::UpdateSigningKey(k) => {
            must_touch(
                tx,
                "UPDATE signing_keys SET data = $2 WHERE kid = $1",
                &[Arg::S(k.kid.clone()), Arg::S(json(&KeyDoc::from(k))?)],
                "signing key",
            )
            .await?;
        }
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
    }
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    async fn commit(&self, set: ChangeSet) -> Result<(), StoreError> {
        let mut attempt = 0u32;
        loop {
            match self.apply(&set).await {
                Err(e) if is_retryable(&e) && attempt < 5 => {
                    attempt += 1;
                    let jitter = u64::from(std::process::id() % 7 + attempt * 13);
                    tokio_sleep(Duration::from_millis(20 * u64::from(attempt) + jitter)).await;
                }
                other => return other,
            }
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        first(
            self.docs::<TenantDoc>("SELECT data FROM tenants WHERE id = $1", &[&id.to_string()])
                .await?,
        )
    }

    async fn tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>, StoreError> {
        first(self.docs::<TenantDoc>("SELECT t.data FROM tenants t JOIN tenant_domains d ON d.tenant_id = t.id WHERE d.name_lower = $1", &[&domain.to_ascii_lowercase()]).await?)
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        all(self
            .docs::<TenantDoc>("SELECT data FROM tenants ORDER BY id", &[])
            .await?)
    }

    async fn user(&self, t: TenantId, id: ObjectId) -> Result<Option<User>, StoreError> {
        first(
            self.docs::<UserDoc>(
                "SELECT data FROM users WHERE tenant_id = $1 AND id = $2",
                &[&t.to_string(), &id.to_string()],
            )
            .await?,
        )
    }

    async fn user_by_upn(&self, t: TenantId, upn: &str) -> Result<Option<User>, StoreError> {
        first(
            self.docs::<UserDoc>(
                "SELECT data FROM users WHERE tenant_id = $1 AND upn_lower = $2",
                &[&t.to_string(), &upn.to_lowercase()],
            )
            .await?,
        )
    }

    async fn users(&self, t: TenantId) -> Result<Vec<User>, StoreError> {
        all(self
            .docs::<UserDoc>(
                "SELECT data FROM users WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn group(&self, t: TenantId, id: ObjectId) -> Result<Option<Group>, StoreError> {
        first(
            self.docs::<GroupDoc>(
                "SELECT data FROM groups_ WHERE tenant_id = $1 AND id = $2",
                &[&t.to_string(), &id.to_string()],
            )
            .await?,
        )
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

    async fn object_kind(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ObjectKind>, StoreError> {
        let (t, id) = (t.to_string(), id.to_string());
        for (table, kind) in [
            ("users", ObjectKind::User),
            ("groups_", ObjectKind::Group),
            ("service_principals", ObjectKind::ServicePrincipal),
            ("applications", ObjectKind::Application),
        ] {
            let sql = format!("SELECT id FROM {table} WHERE tenant_id = $1 AND id = $2");
            if sqlx::query(&sql)
                .bind(t.clone())
                .bind(id.clone())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .is_some()
            {
                return Ok(Some(kind));
            }
        }
        Ok(None)
    }

    async fn application(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<Application>, StoreError> {
        first(
            self.docs::<AppDoc>(
                "SELECT data FROM applications WHERE tenant_id = $1 AND id = $2",
                &[&t.to_string(), &id.to_string()],
            )
            .await?,
        )
    }

    async fn application_by_app_id(
        &self,
        app_id: AppId,
    ) -> Result<Option<Application>, StoreError> {
        first(
            self.docs::<AppDoc>(
                "SELECT data FROM applications WHERE app_id = $1",
                &[&app_id.to_string()],
            )
            .await?,
        )
    }

    async fn application_by_identifier_uri(
        &self,
        uri: &str,
    ) -> Result<Option<Application>, StoreError> {
        first(
            self.docs::<AppDoc>(
                "SELECT a.data FROM applications a JOIN identifier_uris u ON u.app_object_id = a.id WHERE u.uri_key = $1",
                &[&castellan_core::model::identifier_uri_key(uri)],
            )
            .await?,
        )
    }

    async fn applications(&self, t: TenantId) -> Result<Vec<Application>, StoreError> {
        all(self
            .docs::<AppDoc>(
                "SELECT data FROM applications WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn service_principal(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ServicePrincipal>, StoreError> {
        first(
            self.docs::<SpDoc>(
                "SELECT data FROM service_principals WHERE tenant_id = $1 AND id = $2",
                &[&t.to_string(), &id.to_string()],
            )
            .await?,
        )
    }

    async fn service_principal_by_app_id(
        &self,
        t: TenantId,
        app_id: AppId,
    ) -> Result<Option<ServicePrincipal>, StoreError> {
        first(
            self.docs::<SpDoc>(
                "SELECT data FROM service_principals WHERE tenant_id = $1 AND app_id = $2",
                &[&t.to_string(), &app_id.to_string()],
            )
            .await?,
        )
    }

    async fn service_principals(&self, t: TenantId) -> Result<Vec<ServicePrincipal>, StoreError> {
        all(self
            .docs::<SpDoc>(
                "SELECT data FROM service_principals WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }

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

    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        all(self
            .docs::<KeyDoc>("SELECT data FROM signing_keys ORDER BY kid", &[])
            .await?)
    }

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

    async fn insert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        retrying!(async {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        exec(&mut tx, "INSERT INTO grants (handle, kind, tenant_id, family, user_id, lookup, state, created, expires, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", &grant_args(g)?).await?;
        tx.commit().await.map_err(backend)
        }
        .await)
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
        retrying!(async {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let mut args = grant_args(next)?;
        args.push(Arg::S(expected.as_str().into()));
        let n = exec(&mut tx, "UPDATE grants SET kind = $2, tenant_id = $3, family = $4, user_id = $5, lookup = $6, state = $7, created = $8, expires = $9, data = $10 WHERE handle = $1 AND state = $11", &args).await?;
        tx.commit().await.map_err(backend)?;
        Ok(n == 1)
        }
        .await)
    }

    async fn upsert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        retrying!(async {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        exec(&mut tx, "INSERT INTO grants (handle, kind, tenant_id, family, user_id, lookup, state, created, expires, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (handle) DO UPDATE SET state = excluded.state, expires = excluded.expires, data = excluded.data", &grant_args(g)?).await?;
        tx.commit().await.map_err(backend)
        }
        .await)
    }

    async fn revoke_grants(&self, scope: &RevokeScope) -> Result<u64, StoreError> {
        retrying!(
            async {
                let mut tx = self.pool.begin().await.map_err(backend)?;
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
                let mut tx = self.pool.begin().await.map_err(backend)?;
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
            let mut tx = self.pool.begin().await.map_err(backend)?;
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
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let n = exec(&mut tx, "UPDATE recovery_codes SET used = 1 WHERE tenant_id = $1 AND user_id = $2 AND hash = $3 AND used = 0", &[s(t), s(user), Arg::S(h.clone())]).await?;
            tx.commit().await.map_err(backend)?;
            Ok(n == 1)
        }
        .await)
    }

    async fn device(&self, t: TenantId, id: ObjectId) -> Result<Option<Device>, StoreError> {
        let row =
            sqlx::query("SELECT data, last_sign_in FROM devices WHERE tenant_id = $1 AND id = $2")
                .bind(t.to_string())
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn device_by_device_id(
        &self,
        t: TenantId,
        device_id: uuid::Uuid,
    ) -> Result<Option<Device>, StoreError> {
        let row = sqlx::query(
            "SELECT data, last_sign_in FROM devices WHERE tenant_id = $1 AND device_id = $2",
        )
        .bind(t.to_string())
        .bind(device_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn devices(&self, t: TenantId) -> Result<Vec<Device>, StoreError> {
        let rows = sqlx::query(
            "SELECT data, last_sign_in FROM devices WHERE tenant_id = $1 ORDER BY created, id",
        )
        .bind(t.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(device_from_row).collect()
    }

    async fn devices_owned_by(
        &self,
        t: TenantId,
        owner: ObjectId,
    ) -> Result<Vec<Device>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.data, d.last_sign_in FROM devices d JOIN owners o ON o.tenant_id = d.tenant_id AND o.object_id = d.id WHERE d.tenant_id = $1 AND o.owner_id = $2 ORDER BY d.created, d.id",
        )
        .bind(t.to_string())
        .bind(owner.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(device_from_row).collect()
    }

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
            let mut tx = self.pool.begin().await.map_err(backend)?;
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
                let mut tx = self.pool.begin().await.map_err(backend)?;
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

    async fn insert_sign_ins(&self, records: &[SignIn]) -> Result<(), StoreError> {
        retrying!(
            async {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                for r in records {
                    exec(
                        &mut tx,
                        "INSERT INTO sign_ins (id, tenant_id, time, data) VALUES ($1, $2, $3, $4)",
                        &[
                            s(r.id),
                            s(r.tenant_id),
                            Arg::I(r.created.millis()),
                            Arg::S(json(&SignInDoc::from(r))?),
                        ],
                    )
                    .await?;
                }
                tx.commit().await.map_err(backend)
            }
            .await
        )
    }

    async fn sign_ins(&self, t: TenantId, q: &SignInQuery) -> Result<Vec<SignIn>, StoreError> {
        let rows = sqlx::query("SELECT data FROM sign_ins WHERE tenant_id = $1 AND time >= $2 AND time < $3 ORDER BY time DESC, id DESC LIMIT $4")
            .bind(t.to_string())
            .bind(q.since.map_or(i64::MIN, |x| x.millis()))
            .bind(q.until.map_or(i64::MAX, |x| x.millis()))
            // The limit is applied by the database (bounded reads, e.g. impact replay).
            .bind(q.limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX)))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows.iter().take(q.limit.unwrap_or(usize::MAX)) {
            let d: SignInDoc = serde_json::from_str(&get(r, 0)?).map_err(backend)?;
            out.push(d.try_into()?);
        }
        Ok(out)
    }
}

async fn revoke_in(tx: &mut Tx, scope: &RevokeScope) -> Result<u64, StoreError> {
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

fn grant_args(g: &Grant) -> Result<Vec<Arg>, StoreError> {
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

fn default_true() -> bool {
    true
}

fn default_at_lifetime() -> i64 {
    castellan_core::flow::ACCESS_TOKEN_LIFETIME_SECS
}

fn default_lockout() -> u32 {
    castellan_core::flow::lockout::DEFAULT_THRESHOLD
}

#[derive(Serialize, Deserialize)]
struct GrantDoc {
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

#[derive(Serialize, Deserialize)]
struct AppliedDoc {
    id: String,
    name: String,
    result: String,
    grant: Vec<String>,
    session: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct SignInDoc {
    id: String,
    tenant_id: String,
    created: i64,
    upn: Option<String>,
    user_id: Option<String>,
    user_display_name: Option<String>,
    app_id: String,
    app_display_name: Option<String>,
    resource_display_name: Option<String>,
    resource_id: Option<String>,
    ip: String,
    client_app_used: String,
    interactive: bool,
    error_code: u32,
    failure_reason: String,
    additional_details: String,
    correlation_id: String,
    authentication_requirement: String,
    conditional_access_status: String,
    #[serde(default)]
    applied: Vec<AppliedDoc>,
    service_principal: bool,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    location: LocationDoc,
    #[serde(default)]
    risk: Option<RiskInfoDoc>,
    #[serde(default)]
    device: Option<SignInDeviceDoc>,
}

#[derive(Serialize, Deserialize)]
struct SignInDeviceDoc {
    device_id: String,
    display_name: String,
    operating_system: String,
    is_compliant: bool,
    is_managed: bool,
    trust_type: String,
}

#[derive(Serialize, Deserialize, Default)]
struct LocationDoc {
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

#[derive(Serialize, Deserialize)]
struct RiskInfoDoc {
    during: String,
    aggregated: String,
    state: String,
    detail: String,
    events: Vec<String>,
}

impl From<&SignIn> for SignInDoc {
    fn from(r: &SignIn) -> Self {
        Self {
            id: r.id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            created: r.created.millis(),
            upn: r.user_principal_name.clone(),
            user_id: r.user_id.map(|u| u.to_string()),
            user_display_name: r.user_display_name.clone(),
            app_id: r.app_id.clone(),
            app_display_name: r.app_display_name.clone(),
            resource_display_name: r.resource_display_name.clone(),
            resource_id: r.resource_id.clone(),
            ip: r.ip_address.clone(),
            client_app_used: r.client_app_used.clone(),
            interactive: r.is_interactive,
            error_code: r.error_code,
            failure_reason: r.failure_reason.clone(),
            additional_details: r.additional_details.clone(),
            correlation_id: r.correlation_id.clone(),
            authentication_requirement: r.authentication_requirement.clone(),
            conditional_access_status: r.conditional_access_status.clone(),
            applied: r
                .applied_policies
                .iter()
                .map(|a| AppliedDoc {
                    id: a.id.clone(),
                    name: a.display_name.clone(),
                    result: a.result.clone(),
                    grant: a.enforced_grant_controls.clone(),
                    session: a.enforced_session_controls.clone(),
                })
                .collect(),
            service_principal: r.is_service_principal,
            user_agent: r.user_agent.clone(),
            location: LocationDoc {
                city: r.location.city.clone(),
                state: r.location.state.clone(),
                country: r.location.country_or_region.clone(),
                lat: r.location.latitude,
                lon: r.location.longitude,
            },
            risk: Some(RiskInfoDoc {
                during: r.risk.during_sign_in.clone(),
                aggregated: r.risk.aggregated.clone(),
                state: r.risk.state.clone(),
                detail: r.risk.detail.clone(),
                events: r.risk.event_types.clone(),
            }),
            device: r.device.as_ref().map(|d| SignInDeviceDoc {
                device_id: d.device_id.clone(),
                display_name: d.display_name.clone(),
                operating_system: d.operating_system.clone(),
                is_compliant: d.is_compliant,
                is_managed: d.is_managed,
                trust_type: d.trust_type.clone(),
            }),
        }
    }
}

impl TryFrom<SignInDoc> for SignIn {
    type Error = StoreError;
    fn try_from(d: SignInDoc) -> Result<Self, StoreError> {
        Ok(SignIn {
            id: guid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            created: Timestamp(d.created),
            user_principal_name: d.upn,
            user_id: d.user_id.as_deref().map(oid).transpose()?,
            user_display_name: d.user_display_name,
            app_id: d.app_id,
            app_display_name: d.app_display_name,
            resource_display_name: d.resource_display_name,
            resource_id: d.resource_id,
            ip_address: d.ip,
            client_app_used: d.client_app_used,
            is_interactive: d.interactive,
            error_code: d.error_code,
            failure_reason: d.failure_reason,
            additional_details: d.additional_details,
            correlation_id: d.correlation_id,
            authentication_requirement: d.authentication_requirement,
            conditional_access_status: d.conditional_access_status,
            applied_policies: d
                .applied
                .into_iter()
                .map(|a| AppliedPolicy {
                    id: a.id,
                    display_name: a.name,
                    result: a.result,
                    enforced_grant_controls: a.grant,
                    enforced_session_controls: a.session,
                })
                .collect(),
            is_service_principal: d.service_principal,
            device: d.device.map(|d| SignInDevice {
                device_id: d.device_id,
                display_name: d.display_name,
                operating_system: d.operating_system,
                is_compliant: d.is_compliant,
                is_managed: d.is_managed,
                trust_type: d.trust_type,
            }),
            user_agent: d.user_agent,
            location: castellan_core::model::SignInLocation {
                city: d.location.city,
                state: d.location.state,
                country_or_region: d.location.country,
                latitude: d.location.lat,
                longitude: d.location.lon,
            },
            risk: d
                .risk
                .map(|r| castellan_core::model::SignInRiskInfo {
                    during_sign_in: r.during,
                    aggregated: r.aggregated,
                    state: r.state,
                    detail: r.detail,
                    event_types: r.events,
                })
                .unwrap_or_default(),
        })
    }
}

impl SqlStore {
    async fn assignments(
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

async fn tokio_sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

fn risky_user_row(r: &AnyRow) -> Result<RiskyUserRecord, StoreError> {
    Ok(RiskyUserRecord {
        tenant_id: TenantId::parse(&get(r, 0)?).ok_or_else(|| backend("bad tenant id"))?,
        user_id: oid(&get(r, 1)?)?,
        version: r.try_get::<i64, _>(2).map_err(backend)?,
        updated: Timestamp(r.try_get::<i64, _>(3).map_err(backend)?),
        data: get(r, 4)?,
    })
}

fn get(r: &AnyRow, i: usize) -> Result<String, StoreError> {
    r.try_get::<String, _>(i).map_err(backend)
}
fn oid(s: &str) -> Result<ObjectId, StoreError> {
    ObjectId::parse(s).ok_or_else(|| backend(format!("bad object id '{s}' in the store")))
}
fn guid(s: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(s).map_err(backend)
}
fn first<D: TryInto<T, Error = StoreError>, T>(v: Vec<D>) -> Result<Option<T>, StoreError> {
    v.into_iter().next().map(TryInto::try_into).transpose()
}
fn all<D: TryInto<T, Error = StoreError>, T>(v: Vec<D>) -> Result<Vec<T>, StoreError> {
    v.into_iter().map(TryInto::try_into).collect()
}

// ---- Store-private documents (the row layout belongs to the store alone). ----

#[derive(Serialize, Deserialize)]
struct DomainDoc {
    name: String,
    initial: bool,
    default: bool,
    verified: bool,
}

#[derive(Serialize, Deserialize)]
struct TenantDoc {
    id: String,
    display_name: String,
    domains: Vec<DomainDoc>,
    license: String,
    pw_min: usize,
    pw_max: usize,
    pw_classes: usize,
    #[serde(default)]
    hide_account_existence: bool,
    #[serde(default = "default_lockout")]
    lockout_threshold: u32,
    #[serde(default = "default_at_lifetime")]
    at_lifetime: i64,
    #[serde(default)]
    user_consent: Vec<String>,
    #[serde(default)]
    user_consent_set: bool,
    #[serde(default)]
    admin_consent_workflow: bool,
    #[serde(default = "default_true")]
    users_can_create_apps: bool,
    /// Off for rows written before the setting existed.
    #[serde(default)]
    security_defaults: bool,
    created: i64,
}

impl From<&Tenant> for TenantDoc {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            display_name: t.display_name.clone(),
            domains: t
                .domains
                .iter()
                .map(|d| DomainDoc {
                    name: d.name.clone(),
                    initial: d.is_initial,
                    default: d.is_default,
                    verified: d.is_verified,
                })
                .collect(),
            license: t.license.as_str().into(),
            pw_min: t.settings.password_policy.min_length,
            pw_max: t.settings.password_policy.max_length,
            pw_classes: t.settings.password_policy.required_classes,
            hide_account_existence: t.settings.hide_account_existence,
            lockout_threshold: t.settings.lockout_threshold,
            at_lifetime: t.settings.access_token_lifetime_secs,
            user_consent: t
                .settings
                .user_consent
                .graph_ids()
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            user_consent_set: true,
            admin_consent_workflow: t.settings.admin_consent_workflow,
            users_can_create_apps: t.settings.users_can_create_apps,
            security_defaults: t.settings.security_defaults,
            created: t.created.millis(),
        }
    }
}

impl TryFrom<TenantDoc> for Tenant {
    type Error = StoreError;
    fn try_from(d: TenantDoc) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: TenantId::parse(&d.id).ok_or_else(|| backend("bad tenant id"))?,
            display_name: d.display_name,
            domains: d
                .domains
                .into_iter()
                .map(|x| Domain {
                    name: x.name,
                    is_initial: x.initial,
                    is_default: x.default,
                    is_verified: x.verified,
                })
                .collect(),
            license: LicenseTier::parse(&d.license).ok_or_else(|| backend("bad license"))?,
            settings: TenantSettings {
                password_policy: PasswordPolicy {
                    min_length: d.pw_min,
                    max_length: d.pw_max,
                    required_classes: d.pw_classes,
                },
                hide_account_existence: d.hide_account_existence,
                lockout_threshold: d.lockout_threshold,
                access_token_lifetime_secs: d.at_lifetime,
                user_consent: if d.user_consent_set {
                    castellan_core::flow::consent::UserConsentPolicy::from_graph_ids(
                        &d.user_consent,
                    )
                    .ok_or_else(|| backend("bad user consent policy"))?
                } else {
                    castellan_core::flow::consent::UserConsentPolicy::AllowAll
                },
                admin_consent_workflow: d.admin_consent_workflow,
                users_can_create_apps: d.users_can_create_apps,
                security_defaults: d.security_defaults,
            },
            created: Timestamp(d.created),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct UserDoc {
    id: String,
    tenant_id: String,
    display_name: String,
    upn: String,
    mail_nickname: Option<String>,
    mail: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    job_title: Option<String>,
    department: Option<String>,
    office_location: Option<String>,
    company_name: Option<String>,
    employee_id: Option<String>,
    account_enabled: bool,
    guest: bool,
    created: i64,
    password_hash: Option<String>,
    force_change: bool,
    manager_id: Option<String>,
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            tenant_id: u.tenant_id.to_string(),
            display_name: u.display_name.clone(),
            upn: u.user_principal_name.clone(),
            mail_nickname: u.mail_nickname.clone(),
            mail: u.mail.clone(),
            given_name: u.given_name.clone(),
            surname: u.surname.clone(),
            job_title: u.job_title.clone(),
            department: u.department.clone(),
            office_location: u.office_location.clone(),
            company_name: u.company_name.clone(),
            employee_id: u.employee_id.clone(),
            account_enabled: u.account_enabled,
            guest: u.user_type == UserType::Guest,
            created: u.created.millis(),
            password_hash: u.password_hash.clone(),
            force_change: u.force_change_password_next_sign_in,
            manager_id: u.manager_id.map(|m| m.to_string()),
        }
    }
}

impl TryFrom<UserDoc> for User {
    type Error = StoreError;
    fn try_from(d: UserDoc) -> Result<Self, StoreError> {
        Ok(User {
            id: oid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            display_name: d.display_name,
            user_principal_name: d.upn,
            mail_nickname: d.mail_nickname,
            mail: d.mail,
            given_name: d.given_name,
            surname: d.surname,
            job_title: d.job_title,
            department: d.department,
            office_location: d.office_location,
            company_name: d.company_name,
            employee_id: d.employee_id,
            account_enabled: d.account_enabled,
            user_type: if d.guest {
                UserType::Guest
            } else {
                UserType::Member
            },
            created: Timestamp(d.created),
            password_hash: d.password_hash,
            force_change_password_next_sign_in: d.force_change,
            manager_id: d.manager_id.as_deref().map(oid).transpose()?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct GroupDoc {
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
        })
    }
}

#[derive(Serialize, Deserialize)]
struct RoleDoc {
    id: String,
    value: String,
    display_name: String,
    description: String,
    allowed: Vec<String>,
    enabled: bool,
}

#[derive(Serialize, Deserialize)]
struct ScopeDoc {
    id: String,
    value: String,
    consent_type: String,
    enabled: bool,
    admin_name: Option<String>,
    admin_desc: Option<String>,
    user_name: Option<String>,
    user_desc: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct RraDoc {
    resource_app_id: String,
    access: Vec<(String, bool)>,
}

#[derive(Serialize, Deserialize)]
struct SecretDoc {
    key_id: String,
    display_name: Option<String>,
    hint: String,
    sha256_hex: String,
    start: i64,
    end: i64,
}

#[derive(Serialize, Deserialize)]
struct AppDoc {
    id: String,
    app_id: String,
    tenant_id: String,
    display_name: String,
    audience: String,
    identifier_uris: Vec<String>,
    web: Vec<String>,
    spa: Vec<String>,
    public: Vec<String>,
    fallback_public: bool,
    rra: Vec<RraDoc>,
    scopes: Vec<ScopeDoc>,
    roles: Vec<RoleDoc>,
    secrets: Vec<SecretDoc>,
    #[serde(default)]
    certs: Vec<CertDoc>,
    #[serde(default)]
    atv: Option<u8>,
    #[serde(default)]
    gmc: Option<String>,
    #[serde(default)]
    optional_claims: Vec<(String, String)>,
    #[serde(default)]
    fics: Vec<FicDoc>,
    created: i64,
}

#[derive(Serialize, Deserialize)]
struct FicDoc {
    id: String,
    name: String,
    issuer: String,
    subject: String,
    audiences: Vec<String>,
    description: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CertDoc {
    key_id: String,
    display_name: Option<String>,
    der_hex: String,
    start: Option<i64>,
    end: Option<i64>,
}

fn unhex(s: &str) -> Result<Vec<u8>, StoreError> {
    if !s.len().is_multiple_of(2) {
        return Err(backend("bad hex"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| backend("bad hex"))
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> Result<[u8; 32], StoreError> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err(backend("bad secret hash"));
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2).unwrap_or(""), 16).map_err(backend)?;
    }
    Ok(out)
}

impl From<&Application> for AppDoc {
    fn from(a: &Application) -> Self {
        Self {
            id: a.id.to_string(),
            app_id: a.app_id.to_string(),
            tenant_id: a.tenant_id.to_string(),
            display_name: a.display_name.clone(),
            audience: a.sign_in_audience.as_str().into(),
            identifier_uris: a.identifier_uris.clone(),
            web: a.web_redirect_uris.clone(),
            spa: a.spa_redirect_uris.clone(),
            public: a.public_client_redirect_uris.clone(),
            fallback_public: a.is_fallback_public_client,
            rra: a
                .required_resource_access
                .iter()
                .map(|r| RraDoc {
                    resource_app_id: r.resource_app_id.to_string(),
                    access: r
                        .resource_access
                        .iter()
                        .map(|x| (x.id.to_string(), x.kind == PermissionKind::Role))
                        .collect(),
                })
                .collect(),
            scopes: a
                .oauth2_permission_scopes
                .iter()
                .map(|s| ScopeDoc {
                    id: s.id.to_string(),
                    value: s.value.clone(),
                    consent_type: s.consent_type.clone(),
                    enabled: s.is_enabled,
                    admin_name: s.admin_consent_display_name.clone(),
                    admin_desc: s.admin_consent_description.clone(),
                    user_name: s.user_consent_display_name.clone(),
                    user_desc: s.user_consent_description.clone(),
                })
                .collect(),
            roles: a
                .app_roles
                .iter()
                .map(|r| RoleDoc {
                    id: r.id.to_string(),
                    value: r.value.clone(),
                    display_name: r.display_name.clone(),
                    description: r.description.clone(),
                    allowed: r.allowed_member_types.clone(),
                    enabled: r.is_enabled,
                })
                .collect(),
            secrets: a
                .password_credentials
                .iter()
                .map(|c| SecretDoc {
                    key_id: c.key_id.to_string(),
                    display_name: c.display_name.clone(),
                    hint: c.hint.clone(),
                    sha256_hex: hex(&c.secret_sha256),
                    start: c.start.millis(),
                    end: c.end.millis(),
                })
                .collect(),
            atv: a.requested_access_token_version,
            gmc: a.group_membership_claims.clone(),
            optional_claims: a.optional_claims.clone(),
            fics: a
                .federated_identity_credentials
                .iter()
                .map(|f| FicDoc {
                    id: f.id.to_string(),
                    name: f.name.clone(),
                    issuer: f.issuer.clone(),
                    subject: f.subject.clone(),
                    audiences: f.audiences.clone(),
                    description: f.description.clone(),
                })
                .collect(),
            certs: a
                .key_credentials
                .iter()
                .map(|k| CertDoc {
                    key_id: k.key_id.to_string(),
                    display_name: k.display_name.clone(),
                    der_hex: hex(&k.certificate_der),
                    start: k.start.map(Timestamp::millis),
                    end: k.end.map(Timestamp::millis),
                })
                .collect(),
            created: a.created.millis(),
        }
    }
}

impl TryFrom<AppDoc> for Application {
    type Error = StoreError;
    fn try_from(d: AppDoc) -> Result<Self, StoreError> {
        Ok(Application {
            id: oid(&d.id)?,
            app_id: AppId::parse(&d.app_id).ok_or_else(|| backend("bad app id"))?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            display_name: d.display_name,
            sign_in_audience: SignInAudience::parse(&d.audience)
                .ok_or_else(|| backend("bad audience"))?,
            identifier_uris: d.identifier_uris,
            web_redirect_uris: d.web,
            spa_redirect_uris: d.spa,
            public_client_redirect_uris: d.public,
            is_fallback_public_client: d.fallback_public,
            required_resource_access: d
                .rra
                .into_iter()
                .map(|r| {
                    Ok(RequiredResourceAccess {
                        resource_app_id: AppId::parse(&r.resource_app_id)
                            .ok_or_else(|| backend("bad resource app id"))?,
                        resource_access: r
                            .access
                            .into_iter()
                            .map(|(id, role)| {
                                Ok(ResourceAccess {
                                    id: guid(&id)?,
                                    kind: if role {
                                        PermissionKind::Role
                                    } else {
                                        PermissionKind::Scope
                                    },
                                })
                            })
                            .collect::<Result<_, StoreError>>()?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            oauth2_permission_scopes: d
                .scopes
                .into_iter()
                .map(|s| {
                    Ok(PermissionScope {
                        id: guid(&s.id)?,
                        value: s.value,
                        consent_type: s.consent_type,
                        is_enabled: s.enabled,
                        admin_consent_display_name: s.admin_name,
                        admin_consent_description: s.admin_desc,
                        user_consent_display_name: s.user_name,
                        user_consent_description: s.user_desc,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            app_roles: d
                .roles
                .into_iter()
                .map(|r| {
                    Ok(AppRole {
                        id: guid(&r.id)?,
                        value: r.value,
                        display_name: r.display_name,
                        description: r.description,
                        allowed_member_types: r.allowed,
                        is_enabled: r.enabled,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            password_credentials: d
                .secrets
                .into_iter()
                .map(|c| {
                    Ok(PasswordCredential {
                        key_id: guid(&c.key_id)?,
                        display_name: c.display_name,
                        hint: c.hint,
                        secret_sha256: unhex32(&c.sha256_hex)?,
                        start: Timestamp(c.start),
                        end: Timestamp(c.end),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            requested_access_token_version: d.atv,
            group_membership_claims: d.gmc,
            optional_claims: d.optional_claims,
            federated_identity_credentials: d
                .fics
                .into_iter()
                .map(|f| {
                    Ok(FederatedIdentityCredential {
                        id: guid(&f.id)?,
                        name: f.name,
                        issuer: f.issuer,
                        subject: f.subject,
                        audiences: f.audiences,
                        description: f.description,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            key_credentials: d
                .certs
                .into_iter()
                .map(|c| {
                    Ok(KeyCredential::new(
                        guid(&c.key_id)?,
                        c.display_name,
                        unhex(&c.der_hex)?,
                        c.start.map(Timestamp),
                        c.end.map(Timestamp),
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
            created: Timestamp(d.created),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct SpDoc {
    id: String,
    tenant_id: String,
    app_id: String,
    owner_tenant: Option<String>,
    display_name: String,
    managed_identity: bool,
    names: Vec<String>,
    #[serde(default)]
    alternative_names: Vec<String>,
    assignment_required: bool,
    enabled: bool,
    created: i64,
}

impl From<&ServicePrincipal> for SpDoc {
    fn from(s: &ServicePrincipal) -> Self {
        Self {
            id: s.id.to_string(),
            tenant_id: s.tenant_id.to_string(),
            app_id: s.app_id.to_string(),
            owner_tenant: s.app_owner_tenant_id.map(|t| t.to_string()),
            display_name: s.display_name.clone(),
            managed_identity: s.service_principal_type == ServicePrincipalType::ManagedIdentity,
            names: s.service_principal_names.clone(),
            alternative_names: s.alternative_names.clone(),
            assignment_required: s.app_role_assignment_required,
            enabled: s.account_enabled,
            created: s.created.millis(),
        }
    }
}

impl TryFrom<SpDoc> for ServicePrincipal {
    type Error = StoreError;
    fn try_from(d: SpDoc) -> Result<Self, StoreError> {
        Ok(ServicePrincipal {
            id: oid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            app_id: AppId::parse(&d.app_id).ok_or_else(|| backend("bad app id"))?,
            app_owner_tenant_id: d.owner_tenant.as_deref().and_then(TenantId::parse),
            display_name: d.display_name,
            service_principal_type: if d.managed_identity {
                ServicePrincipalType::ManagedIdentity
            } else {
                ServicePrincipalType::Application
            },
            service_principal_names: d.names,
            alternative_names: d.alternative_names,
            app_role_assignment_required: d.assignment_required,
            account_enabled: d.enabled,
            created: Timestamp(d.created),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct KeyDoc {
    kid: String,
    cert_hex: String,
    sealed_hex: String,
    created: i64,
    active_from: i64,
    retired_at: Option<i64>,
    unpublish_at: Option<i64>,
}

impl From<&SigningKey> for KeyDoc {
    fn from(k: &SigningKey) -> Self {
        Self {
            kid: k.kid.clone(),
            cert_hex: hex(&k.cert_der),
            sealed_hex: hex(&k.private_key_sealed),
            created: k.created.millis(),
            active_from: k.active_from.millis(),
            retired_at: k.retired_at.map(|t| t.millis()),
            unpublish_at: k.unpublish_at.map(|t| t.millis()),
        }
    }
}

impl TryFrom<KeyDoc> for SigningKey {
    type Error = StoreError;
    fn try_from(d: KeyDoc) -> Result<Self, StoreError> {
        Ok(SigningKey {
            kid: d.kid,
            cert_der: unhex(&d.cert_hex)?,
            private_key_sealed: unhex(&d.sealed_hex)?,
            created: Timestamp(d.created),
            active_from: Timestamp(d.active_from),
            retired_at: d.retired_at.map(Timestamp),
            unpublish_at: d.unpublish_at.map(Timestamp),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct PropDoc {
    name: String,
    old: Option<String>,
    new: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct TargetDoc {
    id: String,
    kind: String,
    display_name: Option<String>,
    upn: Option<String>,
    props: Vec<PropDoc>,
}

#[derive(Serialize, Deserialize)]
struct AuditDoc {
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

/// Test and operator helpers.
impl SqlStore {
    /// SQLite's journal mode (`wal`), for tests and diagnostics.
    pub async fn journal_mode(&self) -> Result<String, StoreError> {
        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        row.try_get::<String, _>(0).map_err(backend)
    }

    /// Runs a statement outside the port (tests only: e.g. simulating a newer schema).
    #[doc(hidden)]
    pub async fn raw_execute(&self, sql: &str) -> Result<(), StoreError> {
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

/// Creates a fresh PostgreSQL database next to `admin_url`'s and returns its URL (tests and
/// tooling; the name must be a plain identifier).
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String, StoreError> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Backend(format!(
            "'{name}' is not a plain database name"
        )));
    }
    sqlx::any::install_default_drivers();
    let admin = AnyPool::connect(admin_url).await.map_err(|e| {
        StoreError::Backend(format!("PostgreSQL at {admin_url} is unreachable: {e}"))
    })?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .map_err(backend)?;
    let (prefix, _) = admin_url
        .rsplit_once('/')
        .ok_or_else(|| backend("the URL has no database part"))?;
    Ok(format!("{prefix}/{name}"))
}

/// Drops a database made by [`create_postgres_database`] (its connections are closed first).
pub async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Backend(format!(
            "'{name}' is not a plain database name"
        )));
    }
    sqlx::any::install_default_drivers();
    let admin = AnyPool::connect(admin_url).await.map_err(backend)?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .map_err(backend)?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct AuDoc {
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
struct CustomRoleDoc {
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

#[derive(Serialize, Deserialize)]
struct PolicyDoc {
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

// ---- The resource plane ----------------------------------------------------------------------

fn tid(s: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(s).ok_or_else(|| backend("bad tenant id"))
}

#[derive(Serialize, Deserialize)]
struct ArmDoc {
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

fn hex_encode(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex32(s: &str) -> Result<[u8; 32], StoreError> {
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
struct RaDoc {
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
struct AzureRoleDoc {
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

fn step_i64(step: u64) -> Result<i64, StoreError> {
    i64::try_from(step).map_err(|_| StoreError::Backend("TOTP step out of range".into()))
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(h: &str) -> Result<Vec<u8>, StoreError> {
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
struct OathDoc {
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

#[derive(Serialize, Deserialize)]
struct DeviceDoc {
    id: String,
    tenant_id: String,
    device_id: String,
    display_name: String,
    operating_system: String,
    operating_system_version: String,
    trust_type: String,
    is_compliant: bool,
    is_managed: bool,
    account_enabled: bool,
    public_key: Option<String>,
    created: i64,
}

impl From<&Device> for DeviceDoc {
    fn from(d: &Device) -> Self {
        Self {
            id: d.id.to_string(),
            tenant_id: d.tenant_id.to_string(),
            device_id: d.device_id.to_string(),
            display_name: d.display_name.clone(),
            operating_system: d.operating_system.as_str().into(),
            operating_system_version: d.operating_system_version.clone(),
            trust_type: d.trust_type.as_str().into(),
            is_compliant: d.is_compliant,
            is_managed: d.is_managed,
            account_enabled: d.account_enabled,
            public_key: d.public_key.as_deref().map(to_hex),
            created: d.created.millis(),
        }
    }
}

fn device_from_row(r: &AnyRow) -> Result<Device, StoreError> {
    let data: String = r.try_get(0).map_err(backend)?;
    let last: Option<i64> = r.try_get(1).map_err(backend)?;
    let d: DeviceDoc = serde_json::from_str(&data).map_err(backend)?;
    Ok(Device {
        id: oid(&d.id)?,
        tenant_id: tid(&d.tenant_id)?,
        device_id: guid(&d.device_id)?,
        display_name: d.display_name,
        operating_system: DeviceOs::parse(&d.operating_system).map_err(backend)?,
        operating_system_version: d.operating_system_version,
        trust_type: castellan_core::policy::DeviceTrustType::parse(&d.trust_type)
            .map_err(backend)?,
        is_compliant: d.is_compliant,
        is_managed: d.is_managed,
        account_enabled: d.account_enabled,
        public_key: d.public_key.as_deref().map(from_hex).transpose()?,
        created: Timestamp(d.created),
        last_sign_in: last.map(Timestamp),
    })
}

fn oath_from_row(r: &AnyRow) -> Result<SoftwareOathMethod, StoreError> {
    let data: String = r.try_get(0).map_err(backend)?;
    let confirmed: i64 = r.try_get(1).map_err(backend)?;
    let step: Option<i64> = r.try_get(2).map_err(backend)?;
    let d: OathDoc = serde_json::from_str(&data).map_err(backend)?;
    Ok(SoftwareOathMethod {
        id: oid(&d.id)?,
        tenant_id: tid(&d.tenant_id)?,
        user_id: oid(&d.user_id)?,
        display_name: d.display_name,
        secret_sealed: from_hex(&d.secret_sealed)?,
        created: Timestamp(d.created),
        confirmed: confirmed != 0,
        last_used_step: step
            .map(u64::try_from)
            .transpose()
            .map_err(|_| StoreError::Backend("negative TOTP step".into()))?,
    })
}

#[derive(Serialize, Deserialize)]
struct DenyDoc {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Application documents written before federated identity credentials existed (no `fics`
    /// key) still load, with no credentials; new documents round-trip them.
    #[test]
    fn application_documents_without_fics_still_load() {
        let mut ids = castellan_core::conformance::Ids::new(7);
        let t = castellan_core::conformance::tenant(&mut ids, "old");
        let app = castellan_core::conformance::application(&mut ids, &t);
        assert!(!app.federated_identity_credentials.is_empty());
        let mut doc: serde_json::Value =
            serde_json::to_value(AppDoc::from(&app)).unwrap_or_default();
        let back: Application = serde_json::from_value::<AppDoc>(doc.clone())
            .map_err(backend)
            .and_then(Application::try_from)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, app);
        if let Some(o) = doc.as_object_mut() {
            o.remove("fics");
        }
        let old: Application = serde_json::from_value::<AppDoc>(doc)
            .map_err(backend)
            .and_then(Application::try_from)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(old.federated_identity_credentials.is_empty());
        assert_eq!(old.app_id, app.app_id);
    }

    /// Tenant documents written before security defaults existed load with them off; new
    /// documents round-trip the setting.
    #[test]
    fn tenant_documents_without_security_defaults_load_with_them_off() {
        let mut ids = castellan_core::conformance::Ids::new(8);
        let t = castellan_core::conformance::tenant(&mut ids, "old");
        assert!(t.settings.security_defaults);
        let mut doc: serde_json::Value =
            serde_json::to_value(TenantDoc::from(&t)).unwrap_or_default();
        let load = |d: serde_json::Value| -> Tenant {
            serde_json::from_value::<TenantDoc>(d)
                .map_err(backend)
                .and_then(Tenant::try_from)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(load(doc.clone()), t);
        if let Some(o) = doc.as_object_mut() {
            assert!(o.remove("security_defaults").is_some());
        }
        let old = load(doc);
        assert!(!old.settings.security_defaults);
        assert_eq!(old.id, t.id);
    }
}
