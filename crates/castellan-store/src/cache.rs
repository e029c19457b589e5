//! The directory read model: a caching decorator over any `Store` (SQLite, PostgreSQL, memory).
//!
//! It holds what sign-in and token issuance read — tenants (by id and domain), applications
//! (by appId and identifier URI, shared behind `Arc`), service principals, app-role
//! assignments by principal, delegated permission grants, directory-role assignments, policy
//! documents (Conditional Access policies, named locations; shared behind `Arc` so the server
//! keys its compiled `PolicySet` on the pointer), users by id and by UPN, each tenant's
//! membership edges and PIM schedules, each user's standing risk and whether they have a
//! confirmed authenticator app (for the readers that only decide with them:
//! `standing_risky_user`, `has_confirmed_oath_method`; writers and code checks read the store),
//! and signing keys — loaded on first use.
//!
//! Invalidation is precise and derived from the committed `Change` variants by
//! `castellan_core::store::stale::stale` (an exhaustive match): after `commit` returns, no
//! read on this node sees a value the commit changed. A value loaded while any invalidation
//! ran is not kept (an epoch check), so a read racing a commit cannot re-insert what the
//! commit made stale. Every other read and every write outside `commit` passes through.
//!
//! Other nodes: on PostgreSQL every commit that makes something stale also sends a
//! notification on [`NOTIFY_CHANNEL`] in its transaction (what it made stale, encoded by
//! `stale::encode`); [`CachedStore::follow`] listens and invalidates the same entries here,
//! typically milliseconds after the other node's commit. A lost listening connection empties
//! the model when it is back (a missed notification cannot leave an entry stale). As a
//! backstop, with a `ttl` (PostgreSQL: 1 s, the cross-node bound) an entry is reloaded
//! once older than that even if no notification came. SQLite is one node by construction and
//! keeps entries until invalidated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use castellan_core::audit::AuditRecord;
use castellan_core::model::*;
use castellan_core::pim::{Plane, RoleSchedule};
use castellan_core::store::stale::{stale_set, Areas, Stale};
use castellan_core::store::{
    ApplicationStore, ArmStore, AssignmentStore, AuditQuery, AuditStore, AuthMethodStore,
    ChangeSet, DeviceStore, DirectoryRoleStore, GrantStore, GroupStore, KeyStore, PolicyStore,
    RiskStore, SignInStore, Store, StoreError, TenantStore, UserStore,
};
use castellan_core::{AppId, ObjectId, TenantId, Timestamp};

/// Most entries one keyed relation holds before it is emptied (bounds memory with many users
/// or spoofed appIds; the next reads reload).
const MAX_KEYED: usize = 20_000;

/// The PostgreSQL notification channel of read-model invalidations.
pub const NOTIFY_CHANNEL: &str = "castellan_read_model";

/// Hit, miss and invalidation counts (for `/metrics` and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from the read model.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
    /// Commits that invalidated something.
    pub invalidations: u64,
    /// Invalidations learnt from other nodes (PostgreSQL notifications, catch-ups included).
    pub remote: u64,
}

struct Entry<V> {
    value: V,
    at: Instant,
}

#[derive(Default)]
struct TenantModel {
    sp_by_app: HashMap<AppId, Entry<Option<Arc<ServicePrincipal>>>>,
    sps: Option<Entry<Vec<ServicePrincipal>>>,
    assignments_of: HashMap<ObjectId, Entry<Vec<AppRoleAssignment>>>,
    permission_grants: Option<Entry<Vec<OAuth2PermissionGrant>>>,
    directory_roles: Option<Entry<Vec<DirectoryRoleAssignment>>>,
    policies: Vec<(PolicyDocumentKind, Entry<Arc<Vec<PolicyDocument>>>)>,
    memberships: Option<Entry<Arc<Vec<Membership>>>>,
    schedules: Vec<(Plane, Entry<Arc<Vec<RoleSchedule>>>)>,
    users: HashMap<ObjectId, Entry<Option<User>>>,
    users_by_upn: HashMap<String, Entry<Option<User>>>,
    oath_registered: HashMap<ObjectId, Entry<bool>>,
    risk: HashMap<ObjectId, Entry<Option<castellan_core::policy::risky_user::RiskyUserRecord>>>,
}

impl TenantModel {
    fn drop_areas(&mut self, a: Areas) {
        if a.service_principals {
            self.sp_by_app.clear();
            self.sps = None;
        }
        if a.app_role_assignments {
            self.assignments_of.clear();
        }
        if a.permission_grants {
            self.permission_grants = None;
        }
        if a.directory_roles {
            self.directory_roles = None;
        }
        if a.policies {
            self.policies.clear();
        }
        if a.memberships {
            self.memberships = None;
        }
        if a.pim_schedules {
            self.schedules.clear();
        }
        if a.users {
            self.users.clear();
            self.users_by_upn.clear();
        }
        if a.auth_methods {
            self.oath_registered.clear();
        }
        if a.risk {
            self.risk.clear();
        }
    }
}

#[derive(Default)]
struct Model {
    tenants: HashMap<TenantId, Entry<Option<Tenant>>>,
    tenants_by_domain: HashMap<String, Entry<Option<Tenant>>>,
    apps: HashMap<AppId, Entry<Option<Arc<Application>>>>,
    apps_by_uri: HashMap<String, Entry<Option<Arc<Application>>>>,
    keys: Option<Entry<Vec<SigningKey>>>,
    per_tenant: HashMap<TenantId, TenantModel>,
}

impl Model {
    fn drop_global(&mut self, a: Areas) {
        if a.tenants {
            self.tenants.clear();
            self.tenants_by_domain.clear();
        }
        if a.applications {
            self.apps.clear();
            self.apps_by_uri.clear();
        }
        if a.signing_keys {
            self.keys = None;
        }
    }
}

/// The caching decorator (see the module documentation).
pub struct CachedStore {
    inner: Arc<dyn Store>,
    ttl: Option<Duration>,
    model: Mutex<Model>,
    /// Bumped by every invalidation; a load that saw another epoch at its start is not kept.
    epoch: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    remote: AtomicU64,
}

impl CachedStore {
    /// A read model over `inner`; entries older than `ttl` are reloaded (`None`: kept until
    /// invalidated — one node only).
    pub fn new(inner: Arc<dyn Store>, ttl: Option<Duration>) -> Self {
        Self {
            inner,
            ttl,
            model: Mutex::new(Model::default()),
            epoch: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            remote: AtomicU64::new(0),
        }
    }

    /// Follows other nodes' commits on the PostgreSQL database at `url` (a background task for
    /// the life of the process): each notification invalidates what that commit made stale;
    /// an unreadable one, and every (re)connection, empties the model — whatever was committed
    /// while this node was not listening cannot stay cached. Reconnects every second while the
    /// database is away.
    pub fn follow(self: Arc<Self>, url: String) {
        tokio::spawn(async move {
            loop {
                if let Ok(mut l) = sqlx::postgres::PgListener::connect(&url).await {
                    if l.listen(NOTIFY_CHANNEL).await.is_ok() {
                        self.caught_up();
                        loop {
                            match l.try_recv().await {
                                Ok(Some(n)) => {
                                    match castellan_core::store::stale::decode(n.payload()) {
                                        Some(stale) => {
                                            self.invalidate(&stale);
                                            self.remote.fetch_add(1, Ordering::Relaxed);
                                        }
                                        None => self.caught_up(),
                                    }
                                }
                                // The connection dropped and sqlx reconnected: notifications
                                // sent meanwhile are lost, so nothing held is trusted.
                                Ok(None) => self.caught_up(),
                                Err(_) => break,
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    fn caught_up(&self) {
        self.clear();
        self.remote.fetch_add(1, Ordering::Relaxed);
    }

    /// The TTL for an engine: 1 s on PostgreSQL (other nodes may commit), none on SQLite.
    pub fn ttl_for(store: &crate::SqlStore) -> Option<Duration> {
        if store.is_sqlite() {
            None
        } else {
            Some(Duration::from_secs(1))
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            remote: self.remote.load(Ordering::Relaxed),
        }
    }

    /// Drops everything (tests, operators).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        *self.lock() = Model::default();
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        // A panic while holding the lock leaves only a cache behind: start it afresh.
        match self.model.lock() {
            Ok(g) => g,
            Err(p) => {
                let mut g = p.into_inner();
                *g = Model::default();
                g
            }
        }
    }

    fn fresh<V>(&self, e: &Entry<V>) -> bool {
        self.ttl.is_none_or(|ttl| e.at.elapsed() < ttl)
    }

    /// The held value, if present and fresh.
    fn get<V: Clone>(&self, pick: impl FnOnce(&Model) -> Option<&Entry<V>>) -> Option<V> {
        let m = self.lock();
        let found = pick(&m).filter(|e| self.fresh(e)).map(|e| e.value.clone());
        drop(m);
        match found {
            Some(v) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(v)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keeps a value loaded since `epoch`, unless an invalidation ran in between.
    fn put(&self, epoch: u64, put: impl FnOnce(&mut Model)) {
        let mut m = self.lock();
        if self.epoch.load(Ordering::SeqCst) == epoch {
            put(&mut m);
        }
    }

    fn start(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn entry<V>(value: V) -> Entry<V> {
        Entry {
            value,
            at: Instant::now(),
        }
    }

    fn invalidate(&self, stale: &[Stale]) {
        let mut m = self.lock();
        // Under the lock, so no `put` that started before can land after.
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for s in stale {
            match *s {
                Stale::Nothing => {}
                Stale::Tenant(t, a) => {
                    m.drop_global(a);
                    if let Some(tm) = m.per_tenant.get_mut(&t) {
                        tm.drop_areas(a);
                    }
                }
                Stale::Everywhere(a) => {
                    m.drop_global(a);
                    for tm in m.per_tenant.values_mut() {
                        tm.drop_areas(a);
                    }
                }
            }
        }
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }
}

fn bounded<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, k: K, v: V) {
    if map.len() >= MAX_KEYED {
        map.clear();
    }
    map.insert(k, v);
}

#[async_trait]
impl Store for CachedStore {
    async fn commit(&self, set: ChangeSet) -> Result<(), StoreError> {
        let stale = stale_set(&set);
        let r = self.inner.commit(set).await;
        // Also on failure: a lost connection may have committed.
        if !stale.is_empty() {
            self.invalidate(&stale);
        }
        r
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn rotate_grant(
        &self,
        expected: GrantState,
        spent: Grant,
        successor: Option<Grant>,
    ) -> Result<bool, StoreError> {
        self.inner.rotate_grant(expected, spent, successor).await
    }
}

#[async_trait]
impl TenantStore for CachedStore {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        if let Some(v) = self.get(|m| m.tenants.get(&id)) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.tenant(id).await?;
        self.put(e, |m| bounded(&mut m.tenants, id, Self::entry(v.clone())));
        Ok(v)
    }
    async fn tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>, StoreError> {
        let key = domain.to_ascii_lowercase();
        if let Some(v) = self.get(|m| m.tenants_by_domain.get(&key)) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.tenant_by_domain(domain).await?;
        self.put(e, |m| {
            bounded(&mut m.tenants_by_domain, key, Self::entry(v.clone()))
        });
        Ok(v)
    }
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.inner.tenants().await
    }
}

#[async_trait]
impl UserStore for CachedStore {
    async fn user(&self, t: TenantId, id: ObjectId) -> Result<Option<User>, StoreError> {
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.users.get(&id)) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.user(t, id).await?;
        self.put(e, |m| {
            bounded(
                &mut m.per_tenant.entry(t).or_default().users,
                id,
                Self::entry(v.clone()),
            )
        });
        Ok(v)
    }
    async fn user_by_upn(&self, t: TenantId, upn: &str) -> Result<Option<User>, StoreError> {
        let key = upn.to_lowercase();
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.users_by_upn.get(&key)) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.user_by_upn(t, upn).await?;
        self.put(e, |m| {
            bounded(
                &mut m.per_tenant.entry(t).or_default().users_by_upn,
                key,
                Self::entry(v.clone()),
            )
        });
        Ok(v)
    }
    async fn users(&self, t: TenantId) -> Result<Vec<User>, StoreError> {
        self.inner.users(t).await
    }
    async fn users_version(&self, t: TenantId) -> Result<u64, StoreError> {
        self.inner.users_version(t).await
    }
    async fn object_kind(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ObjectKind>, StoreError> {
        self.inner.object_kind(t, id).await
    }
}

#[async_trait]
impl GroupStore for CachedStore {
    async fn group(&self, t: TenantId, id: ObjectId) -> Result<Option<Group>, StoreError> {
        self.inner.group(t, id).await
    }
    async fn groups(&self, t: TenantId) -> Result<Vec<Group>, StoreError> {
        self.inner.groups(t).await
    }
    async fn groups_version(&self, t: TenantId) -> Result<u64, StoreError> {
        self.inner.groups_version(t).await
    }
    async fn memberships(&self, t: TenantId) -> Result<Vec<Membership>, StoreError> {
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.memberships.as_ref()) {
            return Ok(v.to_vec());
        }
        let e = self.start();
        let v = Arc::new(self.inner.memberships(t).await?);
        self.put(e, |m| {
            m.per_tenant.entry(t).or_default().memberships = Some(Self::entry(v.clone()));
        });
        Ok(v.to_vec())
    }
    async fn direct_member_of(
        &self,
        t: TenantId,
        member: ObjectId,
    ) -> Result<Vec<ObjectId>, StoreError> {
        self.inner.direct_member_of(t, member).await
    }
    async fn owners(&self, t: TenantId, object: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.inner.owners(t, object).await
    }
    async fn owned_by(&self, t: TenantId, owner: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.inner.owned_by(t, owner).await
    }
}

/// Licences are not held: every read passes through.
#[async_trait]
impl castellan_core::store::LicenseStore for CachedStore {
    async fn subscriptions(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::licenses::Subscription>, StoreError> {
        self.inner.subscriptions(t).await
    }
    async fn license_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::licenses::LicenseAssignment>, StoreError> {
        self.inner.license_assignments(t).await
    }
}

/// The recycle bin is not held: every read passes through.
#[async_trait]
impl castellan_core::store::DeletedItemStore for CachedStore {
    async fn deleted_items(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::deleted_items::DeletedItem>, StoreError> {
        self.inner.deleted_items(t).await
    }
    async fn deleted_item(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<castellan_core::deleted_items::DeletedItem>, StoreError> {
        self.inner.deleted_item(t, id).await
    }
}

#[async_trait]
impl ApplicationStore for CachedStore {
    async fn application(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<Application>, StoreError> {
        self.inner.application(t, id).await
    }
    async fn application_by_app_id(
        &self,
        app_id: AppId,
    ) -> Result<Option<Application>, StoreError> {
        Ok(self
            .application_by_app_id_shared(app_id)
            .await?
            .map(|a| (*a).clone()))
    }
    async fn application_by_app_id_shared(
        &self,
        app_id: AppId,
    ) -> Result<Option<Arc<Application>>, StoreError> {
        if let Some(v) = self.get(|m| m.apps.get(&app_id)) {
            return Ok(v);
        }
        let e = self.start();
        let v = self
            .inner
            .application_by_app_id(app_id)
            .await?
            .map(Arc::new);
        self.put(e, |m| bounded(&mut m.apps, app_id, Self::entry(v.clone())));
        Ok(v)
    }
    async fn applications(&self, t: TenantId) -> Result<Vec<Application>, StoreError> {
        self.inner.applications(t).await
    }
    async fn application_by_identifier_uri(
        &self,
        uri: &str,
    ) -> Result<Option<Application>, StoreError> {
        let key = castellan_core::model::identifier_uri_key(uri);
        if let Some(v) = self.get(|m| m.apps_by_uri.get(&key)) {
            return Ok(v.map(|a| (*a).clone()));
        }
        let e = self.start();
        let v = self.inner.application_by_identifier_uri(uri).await?;
        let shared = v.clone().map(Arc::new);
        self.put(e, |m| bounded(&mut m.apps_by_uri, key, Self::entry(shared)));
        Ok(v)
    }
    async fn service_principal(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ServicePrincipal>, StoreError> {
        self.inner.service_principal(t, id).await
    }
    async fn service_principal_by_app_id(
        &self,
        t: TenantId,
        app_id: AppId,
    ) -> Result<Option<ServicePrincipal>, StoreError> {
        Ok(self
            .service_principal_by_app_id_shared(t, app_id)
            .await?
            .map(|sp| (*sp).clone()))
    }
    async fn service_principal_by_app_id_shared(
        &self,
        t: TenantId,
        app_id: AppId,
    ) -> Result<Option<Arc<ServicePrincipal>>, StoreError> {
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.sp_by_app.get(&app_id)) {
            return Ok(v);
        }
        let e = self.start();
        let v = self
            .inner
            .service_principal_by_app_id(t, app_id)
            .await?
            .map(Arc::new);
        self.put(e, |m| {
            let tm = m.per_tenant.entry(t).or_default();
            bounded(&mut tm.sp_by_app, app_id, Self::entry(v.clone()));
        });
        Ok(v)
    }
    async fn service_principals(&self, t: TenantId) -> Result<Vec<ServicePrincipal>, StoreError> {
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.sps.as_ref()) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.service_principals(t).await?;
        self.put(e, |m| {
            m.per_tenant.entry(t).or_default().sps = Some(Self::entry(v.clone()));
        });
        Ok(v)
    }
}

#[async_trait]
impl AssignmentStore for CachedStore {
    async fn app_role_assignments_of(
        &self,
        t: TenantId,
        principal: ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, StoreError> {
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.assignments_of.get(&principal)) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.app_role_assignments_of(t, principal).await?;
        self.put(e, |m| {
            let tm = m.per_tenant.entry(t).or_default();
            bounded(&mut tm.assignments_of, principal, Self::entry(v.clone()));
        });
        Ok(v)
    }
    async fn app_role_assignments_to(
        &self,
        t: TenantId,
        resource: ObjectId,
    ) -> Result<Vec<AppRoleAssignment>, StoreError> {
        self.inner.app_role_assignments_to(t, resource).await
    }
    async fn permission_grants(
        &self,
        t: TenantId,
    ) -> Result<Vec<OAuth2PermissionGrant>, StoreError> {
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.permission_grants.as_ref()) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.permission_grants(t).await?;
        self.put(e, |m| {
            m.per_tenant.entry(t).or_default().permission_grants = Some(Self::entry(v.clone()));
        });
        Ok(v)
    }
}

#[async_trait]
impl DirectoryRoleStore for CachedStore {
    async fn directory_role_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<DirectoryRoleAssignment>, StoreError> {
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.directory_roles.as_ref()) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.directory_role_assignments(t).await?;
        self.put(e, |m| {
            m.per_tenant.entry(t).or_default().directory_roles = Some(Self::entry(v.clone()));
        });
        Ok(v)
    }
    async fn custom_roles(&self, t: TenantId) -> Result<Vec<CustomRoleDefinition>, StoreError> {
        self.inner.custom_roles(t).await
    }
    async fn administrative_units(
        &self,
        t: TenantId,
    ) -> Result<Vec<AdministrativeUnit>, StoreError> {
        self.inner.administrative_units(t).await
    }
    async fn au_members(&self, t: TenantId, au: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.inner.au_members(t, au).await
    }
    async fn aus_of(&self, t: TenantId, member: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.inner.aus_of(t, member).await
    }
}

impl CachedStore {
    /// A plane's PIM schedules, held per tenant (every token reads them).
    async fn schedules(&self, t: TenantId, plane: Plane) -> Result<Vec<RoleSchedule>, StoreError> {
        fn held(m: &Model, t: TenantId, plane: Plane) -> Option<&Entry<Arc<Vec<RoleSchedule>>>> {
            m.per_tenant
                .get(&t)?
                .schedules
                .iter()
                .find(|(p, _)| *p == plane)
                .map(|(_, e)| e)
        }
        if let Some(v) = self.get(|m| held(m, t, plane)) {
            return Ok(v.to_vec());
        }
        let e = self.start();
        let v = Arc::new(match plane {
            Plane::Directory => self.inner.role_schedules(t).await?,
            Plane::Azure => self.inner.arm_role_schedules(t).await?,
            Plane::Group => self.inner.group_role_schedules(t).await?,
        });
        self.put(e, |m| {
            let tm = m.per_tenant.entry(t).or_default();
            tm.schedules.retain(|(p, _)| *p != plane);
            tm.schedules.push((plane, Self::entry(v.clone())));
        });
        Ok(v.to_vec())
    }
}

/// PIM schedules are held (every token reads them; what is in force is decided at each read's
/// own clock, so an activation ends on time without an invalidation, and starts with the
/// commit that puts it); requests and policies pass through.
#[async_trait]
impl castellan_core::store::PimStore for CachedStore {
    async fn role_schedules(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::pim::RoleSchedule>, StoreError> {
        self.schedules(t, Plane::Directory).await
    }
    async fn role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::pim::RoleScheduleRequest>, StoreError> {
        self.inner.role_schedule_requests(t).await
    }
    async fn role_policies(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::pim::RolePolicy>, StoreError> {
        self.inner.role_policies(t).await
    }
    async fn arm_role_schedules(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::pim::RoleSchedule>, StoreError> {
        self.schedules(t, Plane::Azure).await
    }
    async fn arm_role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::pim::RoleScheduleRequest>, StoreError> {
        self.inner.arm_role_schedule_requests(t).await
    }
    async fn arm_role_policies(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::pim::RolePolicy>, StoreError> {
        self.inner.arm_role_policies(t).await
    }
    async fn group_role_schedules(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::pim::RoleSchedule>, StoreError> {
        self.schedules(t, Plane::Group).await
    }
    async fn group_role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::pim::RoleScheduleRequest>, StoreError> {
        self.inner.group_role_schedule_requests(t).await
    }
    async fn group_role_policies(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::pim::RolePolicy>, StoreError> {
        self.inner.group_role_policies(t).await
    }
}

#[async_trait]
impl AuditStore for CachedStore {
    async fn audit_records(
        &self,
        t: TenantId,
        q: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.audit_records(t, q).await
    }
}

#[async_trait]
impl KeyStore for CachedStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        if let Some(v) = self.get(|m| m.keys.as_ref()) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.signing_keys().await?;
        self.put(e, |m| m.keys = Some(Self::entry(v.clone())));
        Ok(v)
    }
}

#[async_trait]
impl GrantStore for CachedStore {
    async fn insert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        self.inner.insert_grant(g).await
    }
    async fn grant(&self, handle: &str) -> Result<Option<Grant>, StoreError> {
        self.inner.grant(handle).await
    }
    async fn grants_of_kind(&self, t: TenantId, kind: GrantKind) -> Result<Vec<Grant>, StoreError> {
        self.inner.grants_of_kind(t, kind).await
    }
    async fn grant_by_lookup(
        &self,
        kind: GrantKind,
        lookup: &str,
    ) -> Result<Option<Grant>, StoreError> {
        self.inner.grant_by_lookup(kind, lookup).await
    }
    async fn update_grant(&self, expected: GrantState, next: &Grant) -> Result<bool, StoreError> {
        self.inner.update_grant(expected, next).await
    }
    async fn upsert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        self.inner.upsert_grant(g).await
    }
    async fn revoke_grants(&self, scope: &RevokeScope) -> Result<u64, StoreError> {
        self.inner.revoke_grants(scope).await
    }
    async fn purge_grants(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.purge_grants(now).await
    }
}

#[async_trait]
impl ArmStore for CachedStore {
    async fn arm_resource(&self, id: &str) -> Result<Option<ArmResource>, StoreError> {
        self.inner.arm_resource(id).await
    }
    async fn arm_resources(&self, t: TenantId) -> Result<Vec<ArmResource>, StoreError> {
        self.inner.arm_resources(t).await
    }
    async fn arm_children(
        &self,
        t: TenantId,
        parent: &str,
    ) -> Result<Vec<ArmResource>, StoreError> {
        self.inner.arm_children(t, parent).await
    }
    async fn azure_role_assignments(
        &self,
        t: TenantId,
    ) -> Result<Vec<AzureRoleAssignment>, StoreError> {
        self.inner.azure_role_assignments(t).await
    }
    async fn azure_role_assignments_of(
        &self,
        t: TenantId,
        principal: ObjectId,
    ) -> Result<Vec<AzureRoleAssignment>, StoreError> {
        self.inner.azure_role_assignments_of(t, principal).await
    }
    async fn custom_azure_roles(&self, t: TenantId) -> Result<Vec<CustomAzureRole>, StoreError> {
        self.inner.custom_azure_roles(t).await
    }
    async fn deny_assignments(&self, t: TenantId) -> Result<Vec<StoredDenyAssignment>, StoreError> {
        self.inner.deny_assignments(t).await
    }
}

#[async_trait]
impl PolicyStore for CachedStore {
    async fn policy_documents(
        &self,
        t: TenantId,
        kind: PolicyDocumentKind,
    ) -> Result<Vec<PolicyDocument>, StoreError> {
        Ok((*self.policy_documents_shared(t, kind).await?).clone())
    }
    async fn policy_documents_shared(
        &self,
        t: TenantId,
        kind: PolicyDocumentKind,
    ) -> Result<Arc<Vec<PolicyDocument>>, StoreError> {
        let held = self.get(|m| {
            m.per_tenant
                .get(&t)?
                .policies
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, e)| e)
        });
        if let Some(v) = held {
            return Ok(v);
        }
        let e = self.start();
        let v = Arc::new(self.inner.policy_documents(t, kind).await?);
        self.put(e, |m| {
            let tm = m.per_tenant.entry(t).or_default();
            tm.policies.retain(|(k, _)| *k != kind);
            tm.policies.push((kind, Self::entry(v.clone())));
        });
        Ok(v)
    }
}

#[async_trait]
impl AuthMethodStore for CachedStore {
    async fn software_oath_methods(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Vec<SoftwareOathMethod>, StoreError> {
        self.inner.software_oath_methods(t, user).await
    }
    async fn has_confirmed_oath_method(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<bool, StoreError> {
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.oath_registered.get(&user)) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.has_confirmed_oath_method(t, user).await?;
        self.put(e, |m| {
            bounded(
                &mut m.per_tenant.entry(t).or_default().oath_registered,
                user,
                Self::entry(v),
            )
        });
        Ok(v)
    }
    async fn software_oath_method(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<SoftwareOathMethod>, StoreError> {
        self.inner.software_oath_method(t, id).await
    }
    async fn advance_totp_step(
        &self,
        t: TenantId,
        id: ObjectId,
        step: u64,
    ) -> Result<bool, StoreError> {
        self.inner.advance_totp_step(t, id, step).await
    }
    async fn recovery_codes(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Vec<RecoveryCode>, StoreError> {
        self.inner.recovery_codes(t, user).await
    }
    async fn use_recovery_code(
        &self,
        t: TenantId,
        user: ObjectId,
        hash: &[u8; 32],
    ) -> Result<bool, StoreError> {
        self.inner.use_recovery_code(t, user, hash).await
    }
    async fn mfa_attempts(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<(castellan_core::flow::mfa_attempts::MfaAttempts, i64)>, StoreError> {
        self.inner.mfa_attempts(t, user).await
    }
    async fn put_mfa_attempts(
        &self,
        t: TenantId,
        user: ObjectId,
        next: &castellan_core::flow::mfa_attempts::MfaAttempts,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.inner.put_mfa_attempts(t, user, next, expected).await
    }
    async fn reset_mfa_attempts(&self, t: TenantId, user: ObjectId) -> Result<bool, StoreError> {
        self.inner.reset_mfa_attempts(t, user).await
    }
}

#[async_trait]
impl DeviceStore for CachedStore {
    async fn device(&self, t: TenantId, id: ObjectId) -> Result<Option<Device>, StoreError> {
        self.inner.device(t, id).await
    }
    async fn device_by_device_id(
        &self,
        t: TenantId,
        device_id: uuid::Uuid,
    ) -> Result<Option<Device>, StoreError> {
        self.inner.device_by_device_id(t, device_id).await
    }
    async fn devices(&self, t: TenantId) -> Result<Vec<Device>, StoreError> {
        self.inner.devices(t).await
    }
    async fn devices_owned_by(
        &self,
        t: TenantId,
        owner: ObjectId,
    ) -> Result<Vec<Device>, StoreError> {
        self.inner.devices_owned_by(t, owner).await
    }
}

#[async_trait]
impl RiskStore for CachedStore {
    async fn risky_user(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<castellan_core::policy::risky_user::RiskyUserRecord>, StoreError> {
        self.inner.risky_user(t, user).await
    }
    async fn standing_risky_user(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<castellan_core::policy::risky_user::RiskyUserRecord>, StoreError> {
        if let Some(v) = self.get(|m| m.per_tenant.get(&t)?.risk.get(&user)) {
            return Ok(v);
        }
        let e = self.start();
        let v = self.inner.standing_risky_user(t, user).await?;
        self.put(e, |m| {
            bounded(
                &mut m.per_tenant.entry(t).or_default().risk,
                user,
                Self::entry(v.clone()),
            )
        });
        Ok(v)
    }
    async fn put_risky_user(
        &self,
        record: &castellan_core::policy::risky_user::RiskyUserRecord,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        let r = self.inner.put_risky_user(record, expected).await;
        // A direct write, not a commit: this node forgets the user's risk at once (also on
        // failure: a lost connection may have written); other nodes within the TTL.
        self.invalidate(&[Stale::Tenant(
            record.tenant_id,
            Areas {
                risk: true,
                ..Areas::NONE
            },
        )]);
        r
    }
    async fn risky_users(
        &self,
        t: TenantId,
    ) -> Result<Vec<castellan_core::policy::risky_user::RiskyUserRecord>, StoreError> {
        self.inner.risky_users(t).await
    }
    async fn add_failed_sign_in(
        &self,
        record: &FailedSignInRecord,
        prune_before: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.add_failed_sign_in(record, prune_before).await
    }
    async fn failed_sign_ins(
        &self,
        t: TenantId,
        source: &str,
        since: Timestamp,
    ) -> Result<Vec<FailedSignInRecord>, StoreError> {
        self.inner.failed_sign_ins(t, source, since).await
    }
}

#[async_trait]
impl SignInStore for CachedStore {
    async fn insert_sign_ins(&self, records: &[SignIn]) -> Result<(), StoreError> {
        self.inner.insert_sign_ins(records).await
    }
    async fn sign_ins(&self, t: TenantId, q: &SignInQuery) -> Result<Vec<SignIn>, StoreError> {
        self.inner.sign_ins(t, q).await
    }
}
