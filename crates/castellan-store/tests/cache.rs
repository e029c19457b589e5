//! The read model's bounds: on one node a commit invalidates at once (the conformance suite
//! runs every area through `CachedStore` as `cached::*`); across nodes only the TTL bounds
//! staleness — a node with a TTL sees another node's commit once its entry has aged, a node
//! without one (SQLite's single-node setting) keeps the old value, which is why PostgreSQL
//! nodes get 1 s; and on PostgreSQL a commit is pushed to the nodes that follow (LISTEN/NOTIFY).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use castellan_core::model::{Membership, ObjectKind};
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
    // A change of something else the read model holds (a membership edge removal, which
    // fails) drops the tenant's edges, not the held tenant: the next tenant read is a hit.
    let mut set = ChangeSet::new();
    let (g, m) = (ids.object(), ids.object());
    set.push(Change::RemoveMember(t.id, g, m));
    assert!(store.commit(set).await.is_err());
    store.tenant(t.id).await.unwrap();
    let after = store.stats();
    assert_eq!(after.invalidations, before.invalidations + 1);
    assert_eq!(after.hits, before.hits + 1);
    // A change the read model does not hold invalidates nothing.
    let mut set = ChangeSet::new();
    set.push(Change::RevokeGrants(
        castellan_core::model::RevokeScope::User(t.id, m),
    ));
    store.commit(set).await.unwrap();
    assert_eq!(store.stats().invalidations, after.invalidations);
    let _ = std::fs::remove_file(path);
}

/// Membership edges, PIM schedules and users are held per tenant (every token reads them) and
/// dropped by the commits that change them: a read after an added edge, a disabled account or a
/// deleted user sees it.
#[tokio::test]
async fn memberships_and_pim_schedules_are_held_until_a_commit_changes_them() {
    let (sql, path) = sqlite().await;
    let store = CachedStore::new(Arc::new(sql), None);
    let mut ids = castellan_core::conformance::Ids::new(13);
    let t = castellan_core::conformance::tenant(&mut ids, "edges");
    let u = castellan_core::conformance::user(&mut ids, &t, "ed", false);
    let g = castellan_core::conformance::group(&mut ids, &t, "eds");
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(t.clone()));
    set.push(Change::InsertUser(u.clone()));
    set.push(Change::InsertGroup(g.clone()));
    store.commit(set).await.unwrap();
    assert!(store.memberships(t.id).await.unwrap().is_empty());
    assert!(store.group_role_schedules(t.id).await.unwrap().is_empty());
    let s0 = store.stats();
    assert!(store.memberships(t.id).await.unwrap().is_empty());
    assert!(store.group_role_schedules(t.id).await.unwrap().is_empty());
    assert_eq!(
        store.stats().hits,
        s0.hits + 2,
        "held: the second reads are hits"
    );
    let edge = Membership {
        group_id: g.id,
        member_id: u.id,
        member_kind: ObjectKind::User,
    };
    let mut set = ChangeSet::new();
    set.push(Change::AddMember(t.id, edge));
    store.commit(set).await.unwrap();
    assert_eq!(store.memberships(t.id).await.unwrap(), vec![edge]);
    // Users by id and UPN (any case) are held; an update is seen by the next read.
    let upn = u.user_principal_name.to_uppercase();
    let mut u = u;
    u.account_enabled = true;
    let mut set = ChangeSet::new();
    set.push(Change::UpdateUser(u.clone()));
    store.commit(set).await.unwrap();
    assert!(
        store
            .user(t.id, u.id)
            .await
            .unwrap()
            .unwrap()
            .account_enabled
    );
    assert!(store.user_by_upn(t.id, &upn).await.unwrap().is_some());
    let s1 = store.stats();
    assert!(store.user(t.id, u.id).await.unwrap().is_some());
    assert!(store.user_by_upn(t.id, &upn).await.unwrap().is_some());
    assert_eq!(store.stats().hits, s1.hits + 2);
    let mut disabled = u.clone();
    disabled.account_enabled = false;
    let mut set = ChangeSet::new();
    set.push(Change::UpdateUser(disabled));
    store.commit(set).await.unwrap();
    assert!(
        !store
            .user(t.id, u.id)
            .await
            .unwrap()
            .unwrap()
            .account_enabled
    );
    assert!(
        !store
            .user_by_upn(t.id, &upn)
            .await
            .unwrap()
            .unwrap()
            .account_enabled
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteUser(t.id, u.id));
    store.commit(set).await.unwrap();
    assert!(
        store.memberships(t.id).await.unwrap().is_empty(),
        "a deleted member's edges go with it"
    );
    assert!(store.user(t.id, u.id).await.unwrap().is_none());
    assert!(store.user_by_upn(t.id, &upn).await.unwrap().is_none());
    let _ = std::fs::remove_file(path);
}

/// Across PostgreSQL nodes a commit reaches the other nodes' read models as a notification,
/// without waiting for any TTL: a following node without a TTL sees the change; a node that
/// does not follow (control) keeps the old value. Needs `CASTELLAN_TEST_DATABASE_URL` (fails
/// loudly without it).
/// A user's standing risk and whether they have a confirmed authenticator app are held for
/// the readers that decide with them, and dropped by the write that changes them: a risk
/// record written directly (`put_risky_user`), a method inserted, confirmed or deleted.
#[tokio::test]
async fn standing_risk_and_the_registered_method_flag_are_held_until_changed() {
    use castellan_core::model::SoftwareOathMethod;
    use castellan_core::policy::risky_user::{RiskyUser, RiskyUserRecord};
    let (sql, path) = sqlite().await;
    let store = CachedStore::new(Arc::new(sql), None);
    let mut ids = castellan_core::conformance::Ids::new(17);
    let t = castellan_core::conformance::tenant(&mut ids, "riskm");
    let u = castellan_core::conformance::user(&mut ids, &t, "rk", false);
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(t.clone()));
    set.push(Change::InsertUser(u.clone()));
    store.commit(set).await.unwrap();
    // Nothing yet; the second reads are hits.
    assert!(store
        .standing_risky_user(t.id, u.id)
        .await
        .unwrap()
        .is_none());
    assert!(!store.has_confirmed_oath_method(t.id, u.id).await.unwrap());
    let s0 = store.stats();
    assert!(store
        .standing_risky_user(t.id, u.id)
        .await
        .unwrap()
        .is_none());
    assert!(!store.has_confirmed_oath_method(t.id, u.id).await.unwrap());
    assert_eq!(store.stats().hits, s0.hits + 2);
    // A direct risk write is seen by the next standing read.
    let rec = RiskyUserRecord {
        tenant_id: t.id,
        user_id: u.id,
        version: 0,
        updated: castellan_core::Timestamp(1),
        user: RiskyUser {
            upn: "written".into(),
            ..RiskyUser::default()
        },
    };
    assert!(store.put_risky_user(&rec, None).await.unwrap());
    let got = store
        .standing_risky_user(t.id, u.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.user.upn, "written");
    // A method: pending is not registered; confirmed is; deleted is not.
    let m = SoftwareOathMethod {
        id: ids.object(),
        tenant_id: t.id,
        user_id: u.id,
        display_name: "Authenticator app".into(),
        secret_sealed: vec![1, 2, 3],
        created: castellan_core::Timestamp(1),
        confirmed: false,
        last_used_step: None,
    };
    let mut set = ChangeSet::new();
    set.push(Change::InsertSoftwareOathMethod(m.clone()));
    store.commit(set).await.unwrap();
    assert!(!store.has_confirmed_oath_method(t.id, u.id).await.unwrap());
    let mut set = ChangeSet::new();
    set.push(Change::ConfirmSoftwareOathMethod(t.id, m.id, 1));
    store.commit(set).await.unwrap();
    assert!(store.has_confirmed_oath_method(t.id, u.id).await.unwrap());
    let mut set = ChangeSet::new();
    set.push(Change::DeleteSoftwareOathMethod(t.id, m.id));
    store.commit(set).await.unwrap();
    assert!(!store.has_confirmed_oath_method(t.id, u.id).await.unwrap());
    let _ = std::fs::remove_dir_all(path);
}

#[tokio::test]
async fn a_postgresql_commit_is_pushed_to_the_nodes_that_follow() {
    let Ok(base) = std::env::var("CASTELLAN_TEST_DATABASE_URL") else {
        panic!(
            "CASTELLAN_TEST_DATABASE_URL is not set, so the cross-node notification test cannot run. \
             Run `scripts/test.sh`, or set CASTELLAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"
        );
    };
    let name = format!(
        "castellan_notify_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let url = castellan_store::create_postgres_database(&base, &name)
        .await
        .unwrap();
    // Three nodes, each with its own connection pool to the one database; no TTL anywhere, so
    // only a notification can make a node see another's commit.
    let node = |url: String| async move { Arc::new(SqlStore::connect(&url).await.unwrap()) };
    let writer = CachedStore::new(node(url.clone()).await, None);
    let follower = Arc::new(CachedStore::new(node(url.clone()).await, None));
    let control = CachedStore::new(node(url.clone()).await, None);
    follower.clone().follow(url.clone());
    // The first (re)connection is a catch-up: wait for it, so the listener is in place.
    for _ in 0..100 {
        if follower.stats().remote >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        follower.stats().remote >= 1,
        "the follower never connected its listener"
    );

    let mut ids = castellan_core::conformance::Ids::new(9);
    let mut t = castellan_core::conformance::tenant(&mut ids, "before");
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(t.clone()));
    writer.commit(set).await.unwrap();
    // The insert's own notification arrives too; let it land before caching the tenant.
    for _ in 0..100 {
        if follower.stats().remote >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(follower.stats().remote >= 2, "{:?}", follower.stats());
    for n in [&*follower, &control, &*follower] {
        assert_eq!(
            n.tenant(t.id).await.unwrap().unwrap().display_name,
            "before"
        );
    }
    // The follower now holds "before" (its second read was a hit).
    assert!(follower.stats().hits >= 1, "{:?}", follower.stats());
    let remote_before = follower.stats().remote;
    t.display_name = "after".into();
    let mut set = ChangeSet::new();
    set.push(Change::UpdateTenant(t.clone()));
    writer.commit(set).await.unwrap();
    let started = std::time::Instant::now();
    let mut seen = None;
    for _ in 0..200 {
        if follower.tenant(t.id).await.unwrap().unwrap().display_name == "after" {
            seen = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = seen.expect("the follower never saw the other node's commit");
    println!("another node's commit seen after {seen:?}");
    assert!(
        follower.stats().remote > remote_before,
        "{:?}",
        follower.stats()
    );
    // Control: the node that does not follow (and has no TTL) still serves the old value.
    assert_eq!(
        control.tenant(t.id).await.unwrap().unwrap().display_name,
        "before"
    );
    drop((writer, follower, control));
    castellan_store::drop_postgres_database(&base, &name)
        .await
        .unwrap();
}
