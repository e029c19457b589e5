//! Core's store conformance suite, one test per area on each engine: the in-memory reference
//! store, SQLite and PostgreSQL (`CASTELLAN_TEST_DATABASE_URL`; unset or unreachable fails the
//! `postgres::` tests loudly with the command that fixes it — they never pass without running).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use castellan_core::store::prelude::*;
use castellan_store::SqlStore;

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        & 0xffff_ffff_ffff
}

/// Unique per call within this process (tests run in parallel).
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn temp_db() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "castellan-store-test-{}-{}-{}.db",
        std::process::id(),
        seed(),
        unique()
    ))
}

/// One test per conformance area and engine, so a failure names both (`sqlite::devices`,
/// `postgres::grants_and_sign_ins`, `memory::cascades`).
macro_rules! per_engine {
    ($($area:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $area() {
                    let s = castellan_core::store::memory::MemoryStore::new();
                    castellan_core::conformance::$area(&s, super::seed()).await;
                }
            )*
        }
        mod sqlite {
            use castellan_core::store::Store;
            $(
                #[tokio::test]
                async fn $area() {
                    let path = super::temp_db();
                    let s = castellan_store::SqlStore::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                    castellan_core::conformance::$area(&s, super::seed()).await;
                    s.ping().await.unwrap();
                    drop(s);
                    let _ = std::fs::remove_file(&path);
                }
            )*
        }
        // The read model over SQLite: every area's reads-after-writes through the cache, so
        // a missing invalidation fails here (no TTL: only invalidation can refresh it).
        mod cached {
            use castellan_core::store::Store;
            $(
                #[tokio::test]
                async fn $area() {
                    let path = super::temp_db();
                    let sql = castellan_store::SqlStore::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                    let s = castellan_store::CachedStore::new(std::sync::Arc::new(sql), None);
                    castellan_core::conformance::$area(&s, super::seed()).await;
                    s.ping().await.unwrap();
                    drop(s);
                    let _ = std::fs::remove_file(&path);
                }
            )*
        }
        mod postgres {
            use castellan_core::store::Store;
            $(
                #[tokio::test]
                async fn $area() {
                    super::with_postgres(|url| async move {
                        let s = castellan_store::SqlStore::connect(&url).await.unwrap();
                        castellan_core::conformance::$area(&s, super::seed()).await;
                        s.ping().await.unwrap();
                    })
                    .await;
                }
            )*
        }
    };
}

castellan_core::conformance_areas!(per_engine);

#[tokio::test]
async fn sqlite_is_wal_and_migrations_are_idempotent_and_future_schema_refused() {
    let path = temp_db();
    let url = format!("sqlite://{}", path.display());
    let s = SqlStore::connect(&url).await.unwrap();
    drop(s);
    // Re-open: migrations already applied, nothing breaks, data stays.
    let s = SqlStore::connect(&url).await.unwrap();
    assert!(s.tenants().await.unwrap().is_empty());
    assert_eq!(s.journal_mode().await.unwrap().to_lowercase(), "wal");
    s.raw_execute("INSERT INTO castellan_schema (version, applied_at) VALUES (999, 0)")
        .await
        .unwrap();
    drop(s);
    let e = SqlStore::connect(&url)
        .await
        .err()
        .expect("a newer schema must be refused");
    assert!(e.to_string().contains("999"), "{e}");
}

/// A fresh database on the configured PostgreSQL server, dropped afterwards.
async fn with_postgres<F, Fut>(f: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Ok(base) = std::env::var("CASTELLAN_TEST_DATABASE_URL") else {
        panic!(
            "CASTELLAN_TEST_DATABASE_URL is not set, so the PostgreSQL half of the store suite cannot run. \
             Run the tests the way the README says: `scripts/test.sh` (it sets the variable and starts \
             PostgreSQL), or set it yourself: \
             CASTELLAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test -p castellan-store \
             (to run only the other engines: cargo test -p castellan-store -- --skip postgres::)"
        );
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base).await.unwrap_or_else(|e| {
        panic!("CASTELLAN_TEST_DATABASE_URL={base} is set but PostgreSQL is unreachable: {e}")
    });
    let name = format!(
        "castellan_test_{}_{}_{}",
        std::process::id(),
        seed(),
        unique()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let url = format!("{prefix}/{name}");
    f(url).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_migrations_are_idempotent_and_future_schema_refused() {
    with_postgres(|url| async move {
        let s = SqlStore::connect(&url).await.unwrap();
        drop(s);
        let s = SqlStore::connect(&url).await.unwrap();
        assert!(s.tenants().await.unwrap().is_empty());
        s.raw_execute("INSERT INTO castellan_schema (version, applied_at) VALUES (999, 0)")
            .await
            .unwrap();
        drop(s);
        assert!(
            SqlStore::connect(&url).await.is_err(),
            "a newer schema must be refused"
        );
    })
    .await;
}

/// Migration 10 back-fills the identifier-URI index from applications stored before it, so
/// the cross-tenant uniqueness holds for old data too.
#[tokio::test]
async fn sqlite_backfills_identifier_uris_of_older_databases() {
    use castellan_core::conformance::{application, tenant, Ids};
    use castellan_core::store::{Change, ChangeSet, StoreError};
    let path = temp_db();
    let url = format!("sqlite://{}", path.display());
    let s = SqlStore::connect(&url).await.unwrap();
    let mut ids = Ids::new(seed());
    let (a, b) = (tenant(&mut ids, "olda"), tenant(&mut ids, "oldb"));
    let app = application(&mut ids, &a);
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(a.clone()))
        .push(Change::InsertTenant(b.clone()))
        .push(Change::InsertApplication(app.clone()));
    s.commit(set).await.unwrap();
    // Back to the schema before migration 10 (and the ones after it).
    s.raw_execute("DROP TABLE identifier_uris").await.unwrap();
    s.raw_execute("DROP TABLE mfa_attempts").await.unwrap();
    for t in [
        "role_schedules",
        "role_schedule_requests",
        "role_policies",
        "deleted_items",
        "arm_role_schedules",
        "arm_role_schedule_requests",
        "arm_role_policies",
        "subscriptions",
        "license_assignments",
        "list_versions",
        "group_role_schedules",
        "group_role_schedule_requests",
        "group_role_policies",
    ] {
        s.raw_execute(&format!("DROP TABLE {t}")).await.unwrap();
    }
    s.raw_execute("DELETE FROM castellan_schema WHERE version >= 10")
        .await
        .unwrap();
    drop(s);
    let s = SqlStore::connect(&url).await.unwrap();
    let uri = app.identifier_uris[0].clone();
    assert_eq!(
        s.application_by_identifier_uri(&uri)
            .await
            .unwrap()
            .map(|x| x.id),
        Some(app.id),
        "the old application's URI is indexed"
    );
    let mut squat = application(&mut ids, &b);
    squat.identifier_uris = vec![uri];
    let mut set = ChangeSet::new();
    set.push(Change::InsertApplication(squat.clone()));
    assert!(matches!(s.commit(set).await, Err(StoreError::Conflict(_))));
    assert!(s.application(b.id, squat.id).await.unwrap().is_none());
}

/// A database made by the pre-split store (schema and `castellan_schema` rows exactly as the
/// inline migration array left them, `tests/fixtures/schema_v11_pre_split.sql`) opens with
/// today's numbered migration files — nothing to re-run, nothing refused — and passes the
/// round-trip and uniqueness areas of the suite.
#[tokio::test]
async fn old_layout_database_opens() {
    let path = temp_db();
    let url = format!("sqlite://{}", path.display());
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    let fixture = include_str!("fixtures/schema_v11_pre_split.sql");
    for stmt in fixture.split(';').map(str::trim).filter(|s| {
        s.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
    }) {
        sqlx::query(stmt).execute(&raw).await.unwrap();
    }
    raw.close().await;
    let s = SqlStore::connect(&url).await.unwrap();
    castellan_core::conformance::round_trips(&s, seed()).await;
    castellan_core::conformance::identifier_uris_unique_across_tenants(&s, seed()).await;
    castellan_core::conformance::mfa_attempts(&s, seed()).await;
    drop(s);
    // Re-opening changes nothing either.
    let s = SqlStore::connect(&url).await.unwrap();
    assert!(!s.tenants().await.unwrap().is_empty());
    drop(s);
    let _ = std::fs::remove_file(&path);
}
