//! Devices (deviceId unique per tenant); the last sign-in is its own column.

use super::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct DeviceDoc {
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

pub(crate) fn device_from_row(r: &AnyRow) -> Result<Device, StoreError> {
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

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
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
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl DeviceStore for SqlStore {
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
}
