//! Core's store conformance suite on SQLite (always) and PostgreSQL (when
//! `CASTELLAN_TEST_DATABASE_URL` is set; an unreachable server fails the test, never skips it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use castellan_core::store::Store;
use castellan_store::SqlStore;

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        & 0xffff_ffff_ffff
}

fn temp_db() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "castellan-store-test-{}-{}.db",
        std::process::id(),
        seed()
    ))
}

#[tokio::test]
async fn sqlite_passes_the_conformance_suite() {
    let path = temp_db();
    let s = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    castellan_core::conformance::run_all(&s, seed()).await;
    s.ping().await.unwrap();
}

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
        eprintln!("CASTELLAN_TEST_DATABASE_URL is not set: the PostgreSQL half of the store suite did NOT run (scripts/test.sh and .ci/run set it)");
        return;
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base).await.unwrap_or_else(|e| {
        panic!("CASTELLAN_TEST_DATABASE_URL={base} is set but PostgreSQL is unreachable: {e}")
    });
    let name = format!("castellan_test_{}_{}", std::process::id(), seed());
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
async fn postgres_passes_the_conformance_suite() {
    with_postgres(|url| async move {
        let s = SqlStore::connect(&url).await.unwrap();
        castellan_core::conformance::run_all(&s, seed()).await;
        drop(s);
        let s = SqlStore::connect(&url).await.unwrap();
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
