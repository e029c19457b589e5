//! Graph's user and group lists at directory scale: each tenant's objects rendered once and
//! indexed (`castellan_wire::odata::index::Table`), kept in this node's memory and rebuilt only
//! when the tenant's list version (`UserStore::users_version`, `GroupStore::groups_version`,
//! bumped in the same commit as every write of such an object) has moved. Every list request
//! reads that version first — one point read — so a write on any node shows in the next list
//! on every node, and no list is answered from a copy older than the last commit before it.
//!
//! One build at a time per tenant and list: concurrent requests wait for the build in progress
//! instead of repeating it. A write makes the next list rebuild the whole table (see
//! `docs/benchmarks.md`, "Graph at scale", for what that costs at 100,000 users).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use castellan_core::store::{Store, StoreError};
use castellan_core::TenantId;
use castellan_wire::odata::index::Table;
use serde_json::Value;

/// The user properties `$filter` terms are answered from an index for (`eq` on text or
/// booleans, `startswith`).
pub const USER_INDEXED: &[&str] = &[
    "id",
    "userPrincipalName",
    "mail",
    "mailNickname",
    "displayName",
    "givenName",
    "surname",
    "department",
    "jobTitle",
    "employeeId",
    "accountEnabled",
    "userType",
];

/// The group properties answered from an index.
pub const GROUP_INDEXED: &[&str] = &[
    "id",
    "displayName",
    "mailNickname",
    "mail",
    "securityEnabled",
    "mailEnabled",
    "isAssignableToRole",
];

struct Built {
    version: u64,
    table: Arc<Table>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Built>>>;

#[derive(Default)]
struct Slots(Mutex<HashMap<TenantId, Slot>>);

impl Slots {
    /// The tenant's table at `version`, built by `load` (rendered rows) when it is not.
    async fn get<F, Fut>(
        &self,
        t: TenantId,
        version: u64,
        what: &'static str,
        load: F,
        sortable: &'static [&'static str],
        indexed: &'static [&'static str],
    ) -> Result<Arc<Table>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Value>, StoreError>>,
    {
        let slot = {
            let mut slots = self.0.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(t).or_default().clone()
        };
        let mut built = slot.lock().await;
        if let Some(b) = built.as_ref().filter(|b| b.version == version) {
            return Ok(b.table.clone());
        }
        // Loaded after the version was read: a write landing in between makes this copy newer
        // than its version says, and the next request rebuilds — never the other way round.
        let started = std::time::Instant::now();
        let rows = load().await?;
        let loaded = started.elapsed();
        let table =
            tokio::task::spawn_blocking(move || Table::build(rows, "id", sortable, indexed))
                .await
                .map_err(|e| {
                    StoreError::Backend(format!("building the {what} index failed: {e}"))
                })?;
        tracing::info!(
            tenant = %t,
            list = what,
            rows = table.len(),
            load_ms = loaded.as_millis() as u64,
            index_ms = (started.elapsed() - loaded).as_millis() as u64,
            "indexed a Graph list"
        );
        let table = Arc::new(table);
        *built = Some(Built {
            version,
            table: table.clone(),
        });
        Ok(table)
    }
}

/// This node's indexed lists, per tenant.
#[derive(Default)]
pub struct Lists {
    users: Slots,
    groups: Slots,
}

impl Lists {
    /// The tenant's users, indexed and current.
    pub async fn users(&self, store: &dyn Store, t: TenantId) -> Result<Arc<Table>, StoreError> {
        let version = store.users_version(t).await?;
        let load = || async move {
            let users = store.users(t).await?;
            Ok(users
                .iter()
                .map(castellan_wire::graph::users::render)
                .collect())
        };
        let sortable = crate::http::graph::users::SORTABLE;
        self.users
            .get(t, version, "users", load, sortable, USER_INDEXED)
            .await
    }

    /// The tenant's groups (rendered with its initial domain), indexed and current.
    pub async fn groups(
        &self,
        store: &dyn Store,
        t: TenantId,
        initial_domain: &str,
    ) -> Result<Arc<Table>, StoreError> {
        let version = store.groups_version(t).await?;
        let load = || async move {
            let groups = store.groups(t).await?;
            Ok(groups
                .iter()
                .map(|g| castellan_wire::graph::groups::render(g, initial_domain))
                .collect())
        };
        let sortable = crate::http::graph::groups::SORTABLE;
        self.groups
            .get(t, version, "groups", load, sortable, GROUP_INDEXED)
            .await
    }
}
