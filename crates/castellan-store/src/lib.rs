//! SQLite and PostgreSQL implementations of `castellan_core::store::Store`, as ONE
//! implementation over sqlx's `Any` driver: the schema is portable (GUIDs as TEXT, times as
//! BIGINT epoch millis, booleans as BIGINT 0/1, nested values as JSON TEXT) and every query uses
//! `$n` placeholders, which both engines accept. Engine differences live in `dialect`
//! (connection set-up only). Parameterised SQL only.
//!
//! Layout: one file per area (`tenants`, `users`, `groups`, `applications`, `assignments`,
//! `directory_roles`, `devices`, `policies`, `arm`, `keys`, `grants`, `auth_methods`, `risk`, `pim`,
//! `sign_ins`, `audit`, `deleted_items`), each holding that area's store-private documents (`*Doc`), its arms
//! of the change set (`apply`, routed by `apply_change_inner` here) and its `*Store` trait
//! implementation; `sql` has the shared plumbing, `migrate` the numbered migrations
//! (`migrations/*.sql`), `objects` what deleting a directory object takes with it.
//!
//! Concurrency: SQLite runs in WAL mode with a busy timeout; writes that still hit
//! SQLITE_BUSY, and PostgreSQL serialization failures or deadlocks, are retried with jitter
//! (they arrive as `StoreError::Busy`, told apart by the engine's error code).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use castellan_core::audit::{Actor, AuditRecord, AuditTarget, ModifiedProperty};
use castellan_core::azure_rbac::normalise_scope;
use castellan_core::model::*;
use castellan_core::store::{
    ApplicationStore, ArmStore, AssignmentStore, AuditQuery, AuditStore, AuthMethodStore, Change,
    ChangeSet, DeletedItemStore, DeviceStore, DirectoryRoleStore, GrantStore, GroupStore, KeyStore,
    LicenseStore, PimStore, PolicyStore, RiskStore, SignInStore, Store, StoreError, TenantStore,
    UniqueRule, UserStore,
};
use castellan_core::{AppId, ObjectId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

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

mod applications;
mod arm;
mod assignments;
mod audit;
mod auth_methods;
mod cache;
mod deleted_items;
mod devices;
mod dialect;
mod directory_roles;
mod grants;
mod groups;
mod keys;
mod licenses;
mod migrate;
mod objects;
mod pim;
mod policies;
mod risk;
mod sign_ins;
mod sql;
mod tenants;
mod users;

use applications::*;
use auth_methods::*;
pub use cache::{CacheStats, CachedStore};
use objects::*;
use sql::*;

/// The SQL store.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    engine: dialect::Engine,
    /// SQLite only: one writer at a time in this process (`sql::WriteTx`).
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// How long a request waits for a connection (or SQLite's write gate) before the database is
/// taken to be away.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

impl SqlStore {
    /// Opens `sqlite://<path>` or `postgres://...` and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let engine = dialect::engine(url).ok_or_else(|| {
            StoreError::Backend(format!(
                "unsupported database URL '{url}': use sqlite://<file> or postgres://user@host/db"
            ))
        })?;
        // A request waits at most 1.5 s for a connection: past that the database is taken to
        // be away and the request answers 503 (the server's admission monitor then refuses the
        // next ones at once until the database answers again).
        let opts = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        let pool = match engine {
            dialect::Engine::Sqlite => {
                // An embedded file has no connection to lose: testing one before each use
                // (sqlx's default) would cost a round trip to its worker thread per statement.
                opts.max_connections(8)
                    .test_before_acquire(false)
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
        let write_gate =
            (engine == dialect::Engine::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let s = Self {
            pool,
            engine,
            write_gate,
        };
        s.migrate().await?;
        Ok(s)
    }

    /// Which engine this is.
    pub fn is_sqlite(&self) -> bool {
        self.engine == dialect::Engine::Sqlite
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
        let mut tx = self.begin_write().await?;
        for c in &set.changes {
            apply_change(&mut tx, c).await?;
        }
        for a in &set.audit {
            audit::insert(&mut tx, a).await?;
        }
        // Other nodes' read models learn of the commit from PostgreSQL itself: a notification
        // is delivered only if, and when, this transaction commits (`CachedStore::follow`).
        if self.engine == dialect::Engine::Postgres {
            let stale = castellan_core::store::stale::stale_set(set);
            if !stale.is_empty() {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(cache::NOTIFY_CHANNEL)
                    .bind(castellan_core::store::stale::encode(&stale))
                    .execute(&mut **tx)
                    .await
                    .map_err(backend)?;
            }
        }
        tx.commit().await.map_err(backend)
    }
}

async fn apply_change(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    apply_change_inner(tx, c)
        .await
        .map_err(|e| c.name_conflict(e))
}

/// Routes a change to its area's `apply` (the match is exhaustive: a new `Change` needs a
/// home before it compiles).
async fn apply_change_inner(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::InsertApplication(..)
        | Change::UpdateApplication(..)
        | Change::ReplaceApplication(..)
        | Change::DeleteApplication(..)
        | Change::InsertServicePrincipal(..)
        | Change::UpdateServicePrincipal(..)
        | Change::DeleteServicePrincipal(..) => applications::apply(tx, c).await,
        Change::InsertArmResource(..)
        | Change::UpdateArmResource(..)
        | Change::DeleteArmResource(..)
        | Change::InsertAzureRoleAssignment(..)
        | Change::DeleteAzureRoleAssignment(..)
        | Change::PutCustomAzureRole(..)
        | Change::DeleteCustomAzureRole(..)
        | Change::InsertDenyAssignment(..)
        | Change::DeleteDenyAssignment(..) => arm::apply(tx, c).await,
        Change::DeletePermissionGrant(..)
        | Change::InsertAppRoleAssignment(..)
        | Change::DeleteAppRoleAssignment(..)
        | Change::InsertPermissionGrant(..) => assignments::apply(tx, c).await,
        Change::InsertSoftwareOathMethod(..)
        | Change::ConfirmSoftwareOathMethod(..)
        | Change::DeleteSoftwareOathMethod(..)
        | Change::ReplaceRecoveryCodes(..)
        | Change::ResetMfaAttempts(..) => auth_methods::apply(tx, c).await,
        Change::InsertDevice(..)
        | Change::UpdateDevice(..)
        | Change::TouchDevice(..)
        | Change::DeleteDevice(..) => devices::apply(tx, c).await,
        Change::DeleteDirectoryRoleAssignment(..)
        | Change::InsertCustomRole(..)
        | Change::DeleteCustomRole(..)
        | Change::InsertAdministrativeUnit(..)
        | Change::DeleteAdministrativeUnit(..)
        | Change::AddAuMember(..)
        | Change::RemoveAuMember(..)
        | Change::InsertDirectoryRoleAssignment(..) => directory_roles::apply(tx, c).await,
        Change::RevokeGrants(..) | Change::UpdateGrant(..) | Change::InsertGrant(..) => {
            grants::apply(tx, c).await
        }
        Change::InsertGroup(..)
        | Change::UpdateGroup(..)
        | Change::DeleteGroup(..)
        | Change::AddMember(..)
        | Change::RemoveMember(..)
        | Change::AddOwner(..)
        | Change::RemoveOwner(..) => groups::apply(tx, c).await,
        Change::InsertSigningKey(..) | Change::UpdateSigningKey(..) => keys::apply(tx, c).await,
        Change::PutPolicyDocument(..) | Change::DeletePolicyDocument(..) => {
            policies::apply(tx, c).await
        }
        Change::PutRiskyUser(..) => risk::apply(tx, c).await,
        Change::InsertDeletedItem(..) | Change::DeleteDeletedItem(..) => {
            deleted_items::apply(tx, c).await
        }
        Change::PutSubscription(..)
        | Change::PutLicenseAssignment(..)
        | Change::DeleteLicenseAssignment(..) => licenses::apply(tx, c).await,
        Change::PutRoleSchedule(..)
        | Change::PutRoleScheduleRequest(..)
        | Change::PutRolePolicy(..) => pim::apply(tx, c).await,
        Change::InsertTenant(..) | Change::UpdateTenant(..) | Change::ReplaceTenant(..) => {
            tenants::apply(tx, c).await
        }
        Change::InsertUser(..) | Change::UpdateUser(..) | Change::DeleteUser(..) => {
            users::apply(tx, c).await
        }
    }
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

    async fn rotate_grant(
        &self,
        expected: GrantState,
        spent: Grant,
        successor: Option<Grant>,
    ) -> Result<bool, StoreError> {
        if self.is_sqlite() {
            retrying!(
                self.rotate_sqlite(expected, &spent, successor.as_ref())
                    .await
            )
        } else {
            castellan_core::store::rotate_by_change_set(self, expected, spent, successor).await
        }
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

    /// An online, consistent copy of a SQLite database into the new file `to` (`VACUUM INTO`:
    /// the server keeps serving; the copy is one transaction's view, compacted). PostgreSQL is
    /// backed up with its own tools (`pg_dump`), so this refuses it.
    pub async fn backup_sqlite_into(&self, to: &std::path::Path) -> Result<u64, StoreError> {
        if !self.is_sqlite() {
            return Err(StoreError::Backend(
                "this is a PostgreSQL store: back it up with pg_dump --format=custom --file <file> <database URL> and restore with pg_restore --dbname <database URL> <file>".into(),
            ));
        }
        let target = to.to_str().ok_or_else(|| {
            StoreError::Backend(format!("the backup path {} is not UTF-8", to.display()))
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(target.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        std::fs::metadata(to).map(|m| m.len()).map_err(|e| {
            StoreError::Backend(format!("the backup {} was not written: {e}", to.display()))
        })
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

/// A change `apply_change_inner` sent to the wrong area (a bug in the routing table).
fn misrouted(c: &Change) -> StoreError {
    StoreError::Backend(format!(
        "internal error: change routed to the wrong area: {c:?}"
    ))
}
