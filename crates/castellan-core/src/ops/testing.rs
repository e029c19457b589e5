//! Test harness for use cases: the in-memory store, a fixed clock and seeded randomness, so an
//! op replays exactly (`cargo test -p castellan-core --lib ops::`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;

use crate::audit::Actor;
use crate::model::Tenant;
use crate::ops::{Entropy, Env, PasswordHasher};
use crate::store::memory::MemoryStore;
use crate::store::{Change, ChangeSet, Store};
use crate::time::Timestamp;

/// The fixed clock of every use-case test.
pub const NOW: Timestamp = Timestamp(1_750_000_000_000);

/// Deterministic randomness: a counter seeded per test.
pub struct Seeded(pub u64);

impl Entropy for Seeded {
    fn bytes16(&mut self) -> [u8; 16] {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.0.to_le_bytes());
        b[8..].copy_from_slice(&self.0.rotate_left(17).to_be_bytes());
        b
    }
    fn secret(&mut self) -> String {
        format!("secret-{:043}", self.0)
    }
}

/// A reversible stand-in for argon2id (tests only).
pub struct PlainHasher;

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &str) -> Result<String, String> {
        Ok(format!("plain:{password}"))
    }
    async fn verify(&self, password: &str, phc: &str) -> bool {
        phc.strip_prefix("plain:") == Some(password)
    }
}

/// A memory store holding one tenant (the conformance suite's fixture), and that tenant.
pub fn store_with_tenant(seed: u64) -> (MemoryStore, Tenant) {
    let store = MemoryStore::new();
    let mut ids = crate::conformance::Ids::new(seed);
    let t = crate::conformance::tenant(&mut ids, "usecase");
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(t.clone()));
    crate::store::memory::block_on(store.commit(set)).unwrap();
    (store, t)
}

/// Like [`store_with_tenant`], the tenant on licence tier `tier` (PIM needs P2).
pub fn store_with_tenant_on(seed: u64, tier: crate::model::LicenseTier) -> (MemoryStore, Tenant) {
    let store = MemoryStore::new();
    let mut ids = crate::conformance::Ids::new(seed);
    let mut t = crate::conformance::tenant(&mut ids, "usecase");
    t.license = tier;
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(t.clone()));
    crate::store::memory::block_on(store.commit(set)).unwrap();
    (store, t)
}

/// A P2 tenant (every PIM use case is licence-gated on P2).
pub fn store_with_p2_tenant(seed: u64) -> (MemoryStore, Tenant) {
    store_with_tenant_on(seed, crate::model::LicenseTier::P2)
}

/// An `Env` over `store` at [`NOW`], acting as the operator.
pub fn env<'a>(store: &'a MemoryStore, entropy: &'a mut Seeded) -> Env<'a> {
    Env {
        store,
        now: NOW,
        entropy,
        hasher: &PlainHasher,
        actor: Actor::Operator,
        correlation_id: "test".into(),
    }
}
