//! Devices: register (create), update (compliance, management, enablement, names), delete, and
//! registered owners. The Graph API and `castellan device` both come through here, so both
//! are validated, authorised and audited the same way.

use crate::error::DirectoryError;
use crate::ids::ObjectId;
use crate::model::{p256_point, Device, DeviceOs, ObjectKind, Tenant};
use crate::ops::{modified, not_found, required, target, Env, Field};
use crate::policy::DeviceTrustType;
use crate::store::{Change, ChangeSet, StoreError};
use crate::time::Timestamp;

/// Most registered owners a device may have (Entra allows one; Castellan is as strict).
pub const MAX_OWNERS: usize = 1;

/// The settable properties of a device.
#[derive(Clone, Debug, Default)]
pub struct DeviceInput {
    /// `deviceId` (creation only).
    pub device_id: Field<String>,
    /// `displayName`.
    pub display_name: Field<String>,
    /// `operatingSystem`.
    pub operating_system: Field<String>,
    /// `operatingSystemVersion`.
    pub operating_system_version: Field<String>,
    /// `trustType`.
    pub trust_type: Field<String>,
    /// `isCompliant`.
    pub is_compliant: Field<bool>,
    /// `isManaged`.
    pub is_managed: Field<bool>,
    /// `accountEnabled`.
    pub account_enabled: Field<bool>,
    /// The device key (`alternativeSecurityIds`; creation only): DER SubjectPublicKeyInfo.
    pub public_key: Field<Vec<u8>>,
}

fn bad(m: String) -> DirectoryError {
    DirectoryError::BadRequest(m)
}

fn display_name(v: &Field<String>) -> Result<String, DirectoryError> {
    let n = required(v, "displayName")?;
    if n.trim().is_empty() || n.chars().count() > 256 {
        return Err(bad(
            "Property 'displayName' must be 1 to 256 characters.".into()
        ));
    }
    Ok(n)
}

/// Parses a `deviceId`.
pub fn parse_device_id(s: &str) -> Result<uuid::Uuid, DirectoryError> {
    uuid::Uuid::parse_str(s).map_err(|_| {
        bad(format!(
            "Property 'deviceId' must be a GUID (for example 6f9b1d1e-0c1a-4a59-9d0e-1d2b3c4d5e6f); '{s}' is not one."
        ))
    })
}

/// Registers a device.
pub async fn create(
    env: &mut Env<'_>,
    tenant: &Tenant,
    input: DeviceInput,
) -> Result<Device, DirectoryError> {
    let device_id = parse_device_id(&required(&input.device_id, "deviceId")?)?;
    let display_name = display_name(&input.display_name)?;
    let operating_system =
        DeviceOs::parse(&required(&input.operating_system, "operatingSystem")?).map_err(bad)?;
    let trust_type = match input.trust_type.value() {
        Some(t) => DeviceTrustType::parse(t).map_err(bad)?,
        None => DeviceTrustType::Workplace,
    };
    let public_key = match input.public_key.value() {
        Some(k) => {
            p256_point(k).map_err(bad)?;
            Some(k.clone())
        }
        None => None,
    };
    let d = Device {
        id: env.new_id(),
        tenant_id: tenant.id,
        device_id,
        display_name,
        operating_system,
        operating_system_version: input
            .operating_system_version
            .value()
            .cloned()
            .unwrap_or_default(),
        trust_type,
        is_compliant: input.is_compliant.value().copied().unwrap_or(false),
        is_managed: input.is_managed.value().copied().unwrap_or(false),
        account_enabled: input.account_enabled.value().copied().unwrap_or(true),
        public_key,
        created: env.now,
        last_sign_in: None,
    };
    let audit = env.audit(
        tenant,
        "Device",
        "Add device",
        "Add",
        vec![target(
            d.id,
            "Device",
            Some(&d.display_name),
            None,
            vec![
                modified("DeviceId", None, Some(d.device_id.to_string())),
                modified(
                    "DeviceOSType",
                    None,
                    Some(d.operating_system.as_str().into()),
                ),
                modified("DeviceTrustType", None, Some(d.trust_type.as_str().into())),
                modified("IsCompliant", None, Some(d.is_compliant.to_string())),
            ],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertDevice(d.clone())).audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::Conflict(_) => DirectoryError::Conflict(format!(
            "A device with deviceId '{device_id}' is already registered in this tenant; use a new deviceId or update the existing device."
        )),
        other => other.into(),
    })?;
    Ok(d)
}

/// Loads a device by object id.
pub async fn find(env: &Env<'_>, tenant: &Tenant, id: &str) -> Result<Device, DirectoryError> {
    let Some(oid) = ObjectId::parse(id) else {
        return Err(bad(format!("Invalid object identifier '{id}'.")));
    };
    env.store
        .device(tenant.id, oid)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Applies a PATCH.
pub async fn update(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    input: DeviceInput,
) -> Result<Device, DirectoryError> {
    let old = find(env, tenant, id).await?;
    if input.device_id.is_present() || input.public_key.is_present() {
        return Err(bad("deviceId and alternativeSecurityIds can only be set when the device is registered; delete the device and register it again to change them.".into()));
    }
    let mut d = old.clone();
    let mut props = Vec::new();
    if input.display_name.is_present() {
        d.display_name = display_name(&input.display_name)?;
        props.push(modified(
            "DisplayName",
            Some(old.display_name.clone()),
            Some(d.display_name.clone()),
        ));
    }
    if input.operating_system.is_present() {
        d.operating_system =
            DeviceOs::parse(&required(&input.operating_system, "operatingSystem")?).map_err(bad)?;
        props.push(modified(
            "DeviceOSType",
            Some(old.operating_system.as_str().into()),
            Some(d.operating_system.as_str().into()),
        ));
    }
    if input.operating_system_version.is_present() {
        d.operating_system_version = input
            .operating_system_version
            .value()
            .cloned()
            .unwrap_or_default();
        props.push(modified(
            "DeviceOSVersion",
            Some(old.operating_system_version.clone()),
            Some(d.operating_system_version.clone()),
        ));
    }
    if input.trust_type.is_present() {
        d.trust_type =
            DeviceTrustType::parse(&required(&input.trust_type, "trustType")?).map_err(bad)?;
        props.push(modified(
            "DeviceTrustType",
            Some(old.trust_type.as_str().into()),
            Some(d.trust_type.as_str().into()),
        ));
    }
    // Audit names as Entra's audit log spells them.
    flag(
        &input.is_compliant,
        "isCompliant",
        "IsCompliant",
        &mut d.is_compliant,
        &mut props,
    )?;
    flag(
        &input.is_managed,
        "isManaged",
        "IsManaged",
        &mut d.is_managed,
        &mut props,
    )?;
    flag(
        &input.account_enabled,
        "accountEnabled",
        "AccountEnabled",
        &mut d.account_enabled,
        &mut props,
    )?;
    if props.is_empty() {
        return Ok(old);
    }
    let audit = env.audit(
        tenant,
        "Device",
        "Update device",
        "Update",
        vec![target(d.id, "Device", Some(&d.display_name), None, props)],
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateDevice(d.clone())).audit(audit);
    env.store.commit(set).await?;
    Ok(d)
}

/// Applies one boolean property of a PATCH (null is refused: these are never unset).
fn flag(
    field: &Field<bool>,
    name: &str,
    audit_name: &str,
    slot: &mut bool,
    props: &mut Vec<crate::audit::ModifiedProperty>,
) -> Result<(), DirectoryError> {
    if field.is_present() {
        let v = required(field, name)?;
        let was = std::mem::replace(slot, v);
        props.push(modified(
            audit_name,
            Some(was.to_string()),
            Some(v.to_string()),
        ));
    }
    Ok(())
}

/// Deletes a device.
pub async fn delete(env: &mut Env<'_>, tenant: &Tenant, id: &str) -> Result<(), DirectoryError> {
    let d = find(env, tenant, id).await?;
    let audit = env.audit(
        tenant,
        "Device",
        "Delete device",
        "Delete",
        vec![target(d.id, "Device", Some(&d.display_name), None, vec![])],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteDevice(tenant.id, d.id)).audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// Adds a registered owner (a user).
pub async fn add_owner(
    env: &mut Env<'_>,
    tenant: &Tenant,
    device: &str,
    owner: ObjectId,
) -> Result<(), DirectoryError> {
    let d = find(env, tenant, device).await?;
    let upn = match env.store.object_kind(tenant.id, owner).await? {
        Some(ObjectKind::User) => env
            .store
            .user(tenant.id, owner)
            .await?
            .map(|u| u.user_principal_name),
        Some(_) => {
            return Err(bad(format!(
                "Object '{owner}' cannot be a registered owner of a device: registered owners are users."
            )))
        }
        None => return Err(not_found(owner)),
    };
    let owners = env.store.owners(tenant.id, d.id).await?;
    if owners.contains(&owner) {
        return Err(DirectoryError::Conflict("One or more added object references already exist for the following modified properties: 'registeredOwners'.".into()));
    }
    if owners.len() >= MAX_OWNERS {
        return Err(bad(format!(
            "A device can have at most {MAX_OWNERS} registered owner; remove the current one (DELETE /devices/{}/registeredOwners/{{id}}/$ref) first.",
            d.id
        )));
    }
    let audit = env.audit(
        tenant,
        "Device",
        "Add registered owner to device",
        "Assign",
        vec![
            target(d.id, "Device", Some(&d.display_name), None, vec![]),
            target(owner, "User", None, upn.as_deref(), vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::AddOwner(tenant.id, d.id, owner))
        .audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::Conflict(_) => DirectoryError::Conflict("One or more added object references already exist for the following modified properties: 'registeredOwners'.".into()),
        other => other.into(),
    })
}

/// Removes a registered owner.
pub async fn remove_owner(
    env: &mut Env<'_>,
    tenant: &Tenant,
    device: &str,
    owner: ObjectId,
) -> Result<(), DirectoryError> {
    let d = find(env, tenant, device).await?;
    let audit = env.audit(
        tenant,
        "Device",
        "Remove registered owner from device",
        "Unassign",
        vec![
            target(d.id, "Device", Some(&d.display_name), None, vec![]),
            target(owner, "User", None, None, vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::RemoveOwner(tenant.id, d.id, owner))
        .audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::NotFound(_) => not_found(owner),
        other => other.into(),
    })
}

/// Records that the device signed in (`approximateLastSignInDateTime`). Not a directory change:
/// no audit record (the sign-in log has the sign-in).
pub async fn record_sign_in(
    store: &dyn crate::store::Store,
    device: &Device,
    at: Timestamp,
) -> Result<(), StoreError> {
    let mut set = ChangeSet::new();
    set.push(Change::TouchDevice(device.tenant_id, device.id, at));
    store.commit(set).await
}
