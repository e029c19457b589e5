//! Numbered schema migrations (`migrations/NNNN_*.sql`, embedded with `include_str!`) and the
//! runner that applies them at connect, recording each in `castellan_schema`.
//!
//! Why not sqlx's migrator: migration 10 needs a Rust back-fill (`backfill_identifier_uris`)
//! in the same transaction as its DDL, which a SQL-only migrator cannot express, and databases
//! made by earlier versions record their schema in `castellan_schema`, which this runner
//! keeps reading unchanged (no bridge, no checksum table to seed).

use super::*;

/// Migrations, numbered from 1 (`migrations/NNNN_name.sql`; the number is the position here).
/// Each runs in its own transaction. Never edit a released one: add the next number.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_grants_and_sign_ins.sql"),
    include_str!("../migrations/0003_administrative_units.sql"),
    include_str!("../migrations/0004_custom_roles.sql"),
    include_str!("../migrations/0005_resource_plane.sql"),
    include_str!("../migrations/0006_policy_documents.sql"),
    include_str!("../migrations/0007_authentication_methods.sql"),
    include_str!("../migrations/0008_devices.sql"),
    include_str!("../migrations/0009_identity_protection.sql"),
    include_str!("../migrations/0010_identifier_uris.sql"),
    include_str!("../migrations/0011_mfa_attempts.sql"),
    include_str!("../migrations/0012_pim.sql"),
    include_str!("../migrations/0013_deleted_items.sql"),
    include_str!("../migrations/0014_domains.sql"),
    include_str!("../migrations/0015_arm_pim.sql"),
    include_str!("../migrations/0016_licenses.sql"),
    include_str!("../migrations/0017_list_versions.sql"),
    include_str!("../migrations/0018_group_pim.sql"),
];

/// The migration (1-based) that created `identifier_uris`.
pub(crate) const IDENTIFIER_URIS_MIGRATION: i64 = 10;

/// Fills `identifier_uris` from the applications stored before it existed.
pub(crate) async fn backfill_identifier_uris(tx: &mut Tx) -> Result<(), StoreError> {
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

impl SqlStore {
    /// Applies the migrations this database has not seen yet, each in its own transaction;
    /// refuses a schema newer than this build knows.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
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
}
