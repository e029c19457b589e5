//! `microsoft.graph.device`. The device key travels in `alternativeSecurityIds` as Entra keeps
//! it: `[{"type": 2, "identityProvider": null, "key": "<base64>"}]`; in Castellan the key is
//! the base64 of the device key's DER SubjectPublicKeyInfo (EC P-256).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_core::model::Device;
use castellan_core::ops::devices::DeviceInput;
use castellan_core::ops::Field;
use serde_json::{json, Value};

use super::{bool_field, check_object, str_field};
use crate::errors::GraphError;
use crate::time::graph_datetime;

/// Properties clients may set.
pub const WRITABLE: &[&str] = &[
    "deviceId",
    "displayName",
    "operatingSystem",
    "operatingSystemVersion",
    "trustType",
    "isCompliant",
    "isManaged",
    "accountEnabled",
    "alternativeSecurityIds",
];
/// Read-only properties.
pub const READ_ONLY: &[&str] = &[
    "id",
    "registrationDateTime",
    "approximateLastSignInDateTime",
    "deletedDateTime",
];
/// Every rendered property.
pub const PROPERTIES: &[&str] = &[
    "id",
    "deviceId",
    "displayName",
    "operatingSystem",
    "operatingSystemVersion",
    "trustType",
    "isCompliant",
    "isManaged",
    "accountEnabled",
    "alternativeSecurityIds",
    "registrationDateTime",
    "approximateLastSignInDateTime",
];

/// `alternativeSecurityIds[].type` for a device key.
const KEY_TYPE: i64 = 2;

/// Renders a device.
pub fn render(d: &Device) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.device",
        "id": d.id.to_string(),
        "deviceId": d.device_id.to_string(),
        "displayName": d.display_name,
        "operatingSystem": d.operating_system.as_str(),
        "operatingSystemVersion": d.operating_system_version,
        "trustType": d.trust_type.as_str(),
        "isCompliant": d.is_compliant,
        "isManaged": d.is_managed,
        "accountEnabled": d.account_enabled,
        "alternativeSecurityIds": d.public_key.as_ref().map_or_else(Vec::new, |k| vec![json!({
            "type": KEY_TYPE,
            "identityProvider": null,
            "key": STANDARD.encode(k),
        })]),
        "registrationDateTime": graph_datetime(d.created),
        "approximateLastSignInDateTime": d.last_sign_in.map(graph_datetime),
    })
}

fn key_field(o: &serde_json::Map<String, Value>) -> Result<Field<Vec<u8>>, GraphError> {
    let bad = || {
        GraphError::bad_request("Invalid value for property 'alternativeSecurityIds': expected [{\"type\": 2, \"identityProvider\": null, \"key\": \"<base64 DER SubjectPublicKeyInfo of the device's EC P-256 key>\"}].")
    };
    match o.get("alternativeSecurityIds") {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Null),
        Some(Value::Array(a)) if a.is_empty() => Ok(Field::Null),
        Some(Value::Array(a)) => {
            let [one] = a.as_slice() else {
                return Err(GraphError::bad_request(
                    "A device has exactly one key: alternativeSecurityIds must hold one entry.",
                ));
            };
            if one.get("type").and_then(Value::as_i64) != Some(KEY_TYPE) {
                return Err(bad());
            }
            let key = one.get("key").and_then(Value::as_str).ok_or_else(bad)?;
            STANDARD.decode(key).map(Field::Value).map_err(|_| bad())
        }
        Some(_) => Err(bad()),
    }
}

/// Parses a create or PATCH body.
pub fn parse(body: &Value) -> Result<DeviceInput, GraphError> {
    let o = check_object(body, "device", WRITABLE, READ_ONLY)?;
    Ok(DeviceInput {
        device_id: str_field(o, "deviceId")?,
        display_name: str_field(o, "displayName")?,
        operating_system: str_field(o, "operatingSystem")?,
        operating_system_version: str_field(o, "operatingSystemVersion")?,
        trust_type: str_field(o, "trustType")?,
        is_compliant: bool_field(o, "isCompliant")?,
        is_managed: bool_field(o, "isManaged")?,
        account_enabled: bool_field(o, "accountEnabled")?,
        public_key: key_field(o)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_core::model::{p256_spki, DeviceOs};
    use castellan_core::policy::DeviceTrustType;
    use castellan_core::{ObjectId, TenantId, Timestamp};

    fn device() -> Device {
        Device {
            id: ObjectId::from_random([1; 16]),
            tenant_id: TenantId::from_random([2; 16]),
            device_id: uuid::Uuid::from_bytes([3; 16]),
            display_name: "LAPTOP-1".into(),
            operating_system: DeviceOs::Windows,
            operating_system_version: "10.0".into(),
            trust_type: DeviceTrustType::AzureAd,
            is_compliant: false,
            is_managed: true,
            account_enabled: true,
            public_key: Some(p256_spki(&[4; 65])),
            created: Timestamp::from_secs(1_700_000_000),
            last_sign_in: None,
        }
    }

    #[test]
    fn render_then_parse_keeps_the_key() {
        let d = device();
        let v = render(&d);
        assert_eq!(v["trustType"], "AzureAd");
        assert_eq!(v["operatingSystem"], "Windows");
        assert_eq!(v["approximateLastSignInDateTime"], Value::Null);
        let input = parse(&json!({
            "deviceId": v["deviceId"], "displayName": "x", "operatingSystem": "Windows",
            "alternativeSecurityIds": v["alternativeSecurityIds"],
        }));
        assert_eq!(
            input.ok().and_then(|i| i.public_key.value().cloned()),
            d.public_key
        );
    }

    #[test]
    fn bad_bodies_name_the_property() {
        let msg = |b: Value| parse(&b).err().map(|e| e.message).unwrap_or_default();
        assert!(msg(json!({"id": "x"})).contains("read-only"));
        assert!(msg(json!({"color": "red"})).contains("does not exist"));
        assert!(msg(json!({"isCompliant": "yes"})).contains("isCompliant"));
        assert!(
            msg(json!({"alternativeSecurityIds": [{"type": 1, "key": "AA=="}]}))
                .contains("alternativeSecurityIds")
        );
        assert!(
            msg(json!({"alternativeSecurityIds": [{"type": 2, "key": "!!"}]}))
                .contains("alternativeSecurityIds")
        );
        assert!(msg(json!({"alternativeSecurityIds": [
            {"type": 2, "key": "AA=="}, {"type": 2, "key": "AA=="}]}))
        .contains("exactly one key"));
    }
}
