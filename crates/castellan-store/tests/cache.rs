//! The read model's bounds: on one node a commit invalidates at once (the conformance suite
//! runs every area through `CachedStore` as `cached::*`); across nodes only the TTL bounds
//! staleness — a node with a TTL sees another node's commit once its entry has aged, a node
//! without one (SQLite's single-node setting) keeps the old value, which is why PostgreSQL
//! nodes get 1 s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use castellan_core::store::prelude::*;
use castellan_core::store::{Change, ChangeSet};
use castellan_store::{CachedStore, SqlStore};

async fn sqlite() -> (SqlStore, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!(
        "castellan-cache-test-{}-{}.db",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let s = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    (s, path)
}

#[tokio::test]
async fn another_nodes_commit_is_seen_after_the_ttl_and_not_without_one() {
    let (sql, path) = sqlite().await;
    let sql = Arc::new(sql);
    let mut ids = castellan_core::conformance::Ids::new(7);
    let mut t = castellan_core::conformance::tenant(&mut ids, "before");
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(t.clone()));
    sql.commit(set).await.unwrap();

    // Three nodes over one database: a writer, one with a (zero) TTL, one without.
    let writer = CachedStore::new(sql.clone(), None);
    let with_ttl = CachedStore::new(sql.clone(), Some(Duration::ZERO));
    let without = CachedStore::new(sql.clone(), None);
    for node in [&with_ttl, &without] {
        assert_eq!(
            node.tenant(t.id).await.unwrap().unwrap().display_name,
            "before"
        );
    }
    // Same node: served from the read model the second time.
    assert_eq!(
        without.tenant(t.id).await.unwrap().unwrap().display_name,
        "before"
    );
    assert!(without.stats().hits >= 1, "{:?}", without.stats());

    t.display_name = "after".into();
    let mut set = ChangeSet::new();
    set.push(Change::UpdateTenant(t.clone()));
    writer.commit(set).await.unwrap();
    assert_eq!(
        writer.tenant(t.id).await.unwrap().unwrap().display_name,
        "after"
    );
    assert_eq!(
        with_ttl.tenant(t.id).await.unwrap().unwrap().display_name,
        "after"
    );
    // The control: a node that is never told keeps what it held (the cross-node bound is the
    // TTL until LISTEN/NOTIFY invalidation exists).
    assert_eq!(
        without.tenant(t.id).await.unwrap().unwrap().display_name,
        "before"
    );
    without.clear();
    assert_eq!(
        without.tenant(t.id).await.unwrap().unwrap().display_name,
        "after"
    );
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_commit_invalidates_only_what_it_changes() {
    let (sql, path) = sqlite().await;
    let store = CachedStore::new(Arc::new(sql), None);
    let mut ids = castellan_core::conformance::Ids::new(11);
    let t = castellan_core::conformance::tenant(&mut ids, "scoped");
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(t.clone()));
    store.commit(set).await.unwrap();
    store.tenant(t.id).await.unwrap();
    let before = store.stats();
    // A change the read model does not hold (a membership edge removal that fails) leaves the
    // held tenant in place: the next read is a hit.
    let mut set = ChangeSet::new();
    let (g, m) = (ids.object(), ids.object());
    set.push(Change::RemoveMember(t.id, g, m));
    assert!(store.commit(set).await.is_err());
    store.tenant(t.id).await.unwrap();
    let after = store.stats();
    assert_eq!(after.invalidations, before.invalidations);
    assert_eq!(after.hits, before.hits + 1);
    let _ = std::fs::remove_file(path);
}
