//! Licences on the wire: `microsoft.graph.subscribedSku`, `licenseDetails`, a user's
//! `assignedLicenses` / `assignedPlans` / `licenseAssignmentStates`, and the `assignLicense`
//! body (`addLicenses: [{skuId, disabledPlans}]`, `removeLicenses: [skuId]`).

use castellan_core::licenses::{AssignmentState, LicenseView, Subscription};
use castellan_core::ops::licenses::AddLicense;
use castellan_core::{ObjectId, TenantId};
use serde_json::{json, Map, Value};

use super::check_object;
use crate::errors::GraphError;
use crate::time::graph_datetime;

/// `subscribedSku` properties (for `$select`).
pub const SKU_PROPERTIES: &[&str] = &[
    "id",
    "accountId",
    "accountName",
    "appliesTo",
    "capabilityStatus",
    "consumedUnits",
    "prepaidUnits",
    "servicePlans",
    "skuId",
    "skuPartNumber",
    "subscriptionIds",
];

/// `licenseDetails` properties.
pub const DETAIL_PROPERTIES: &[&str] = &["id", "servicePlans", "skuId", "skuPartNumber"];

/// The `subscribedSku` id: `{tenantId}_{skuId}`, as Graph spells it.
pub fn sku_entity_id(tenant: TenantId, sku_id: &str) -> String {
    format!("{tenant}_{sku_id}")
}

/// Renders a subscription with its consumed units.
pub fn render_subscribed_sku(s: &Subscription, tenant_name: &str, consumed: u32) -> Value {
    let sku = s.sku();
    json!({
        "id": sku_entity_id(s.tenant_id, &s.sku_id),
        "accountId": s.tenant_id.to_string(),
        "accountName": tenant_name,
        "appliesTo": "User",
        "capabilityStatus": s.capability_status(),
        "consumedUnits": consumed,
        "prepaidUnits": {
            "enabled": s.enabled,
            "suspended": s.suspended,
            "warning": s.warning,
            "lockedOut": 0,
        },
        "servicePlans": sku.map(|k| k.plans.iter().map(|p| json!({
            "servicePlanId": p.id,
            "servicePlanName": p.name,
            "provisioningStatus": "Success",
            "appliesTo": "User",
        })).collect::<Vec<_>>()).unwrap_or_default(),
        "skuId": s.sku_id,
        "skuPartNumber": sku.map_or("", |k| k.part_number),
        "subscriptionIds": [],
    })
}

/// A user's `licenseDetails`: one per SKU in force, plans `Success` or `Disabled`.
pub fn render_license_details(view: &LicenseView, user: ObjectId) -> Vec<Value> {
    view.assigned_licenses(user)
        .into_iter()
        .filter_map(|(sku_id, disabled)| {
            let sku = castellan_core::licenses::sku_by_id(&sku_id)?;
            Some(json!({
                "id": format!("{user}_{sku_id}"),
                "skuId": sku_id,
                "skuPartNumber": sku.part_number,
                "servicePlans": sku.plans.iter().map(|p| json!({
                    "servicePlanId": p.id,
                    "servicePlanName": p.name,
                    "provisioningStatus": if disabled.iter().any(|d| d.eq_ignore_ascii_case(p.id)) { "Disabled" } else { "Success" },
                    "appliesTo": "User",
                })).collect::<Vec<_>>(),
            }))
        })
        .collect()
}

/// `assignedLicenses` as Graph renders them.
pub fn render_assigned(list: &[(String, Vec<String>)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(sku, disabled)| json!({"skuId": sku, "disabledPlans": disabled}))
            .collect(),
    )
}

/// Sets a rendered user's licence properties from the view.
pub fn add_user_licenses(v: &mut Value, view: &LicenseView, user: ObjectId) {
    let Some(o) = v.as_object_mut() else {
        return;
    };
    o.insert(
        "assignedLicenses".into(),
        render_assigned(&view.assigned_licenses(user)),
    );
    o.insert(
        "assignedPlans".into(),
        Value::Array(
            view.assigned_plans(user)
                .iter()
                .map(|p| {
                    json!({
                        "assignedDateTime": graph_datetime(p.assigned),
                        "capabilityStatus": if p.enabled { "Enabled" } else { "Deleted" },
                        "service": p.plan.service,
                        "servicePlanId": p.plan.id,
                    })
                })
                .collect(),
        ),
    );
    o.insert(
        "licenseAssignmentStates".into(),
        Value::Array(
            view.states(user)
                .iter()
                .map(|s| {
                    json!({
                        "assignedByGroup": s.assigned_by_group.map(|g| g.to_string()),
                        "disabledPlans": s.disabled_plans,
                        "error": s.error.unwrap_or("None"),
                        "lastUpdatedDateTime": graph_datetime(s.last_updated),
                        "skuId": s.sku_id,
                        "state": match s.state { AssignmentState::Active => "Active", AssignmentState::Error => "Error" },
                    })
                })
                .collect(),
        ),
    );
}

fn guid_string(v: &Value, what: &str) -> Result<String, GraphError> {
    v.as_str()
        .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok())
        .map(|u| u.to_string())
        .ok_or_else(|| GraphError::bad_request(format!("{what}: expected a GUID string, got {v}.")))
}

/// Parses an `assignLicense` body. Both arrays are required (either may be empty), as in
/// Graph; at most 100 entries each.
pub fn parse_assign(body: &Value) -> Result<(Vec<AddLicense>, Vec<String>), GraphError> {
    let o: &Map<String, Value> = check_object(
        body,
        "assignLicense request",
        &["addLicenses", "removeLicenses"],
        &[],
    )?;
    let arr = |name: &str| -> Result<&Vec<Value>, GraphError> {
        match o.get(name) {
            Some(Value::Array(a)) if a.len() <= 100 => Ok(a),
            Some(Value::Array(_)) => Err(GraphError::bad_request(format!(
                "{name} holds at most 100 entries."
            ))),
            Some(_) => Err(GraphError::bad_request(format!("{name} must be an array."))),
            None => Err(GraphError::bad_request(format!(
                "The request body must have '{name}' (an array, possibly empty)."
            ))),
        }
    };
    let mut add = Vec::new();
    for (i, a) in arr("addLicenses")?.iter().enumerate() {
        let Some(x) = a.as_object() else {
            return Err(GraphError::bad_request(format!(
                "addLicenses[{i}] must be an object {{skuId, disabledPlans}}."
            )));
        };
        if let Some(k) = x.keys().find(|k| {
            !["skuId", "disabledPlans"].contains(&k.as_str()) && !k.starts_with("@odata.")
        }) {
            return Err(GraphError::bad_request(format!(
                "Property '{k}' does not exist on type 'microsoft.graph.assignedLicense'."
            )));
        }
        let sku_id = guid_string(
            x.get("skuId").unwrap_or(&Value::Null),
            &format!("addLicenses[{i}].skuId"),
        )?;
        let disabled_plans = match x.get("disabledPlans") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ps)) if ps.len() <= 100 => ps
                .iter()
                .map(|p| guid_string(p, &format!("addLicenses[{i}].disabledPlans")))
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(GraphError::bad_request(format!(
                    "addLicenses[{i}].disabledPlans must be an array of service plan GUIDs."
                )))
            }
        };
        add.push(AddLicense {
            sku_id,
            disabled_plans,
        });
    }
    let remove = arr("removeLicenses")?
        .iter()
        .map(|r| guid_string(r, "removeLicenses"))
        .collect::<Result<_, _>>()?;
    Ok((add, remove))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assign_bodies_are_parsed_and_bad_ones_refused() {
        let (a, r) = parse_assign(&json!({
            "addLicenses": [{"skuId": "84A661C4-E949-4BD2-A560-ED7766FCAF2B", "disabledPlans": []}],
            "removeLicenses": ["078d2b04-f1bd-4111-bbd4-b4b1b354cef4"],
        }))
        .unwrap();
        assert_eq!(a[0].sku_id, "84a661c4-e949-4bd2-a560-ed7766fcaf2b");
        assert_eq!(r, vec!["078d2b04-f1bd-4111-bbd4-b4b1b354cef4".to_string()]);
        for bad in [
            json!({"addLicenses": []}),
            json!({"addLicenses": [{"skuId": "nope"}], "removeLicenses": []}),
            json!({"addLicenses": [{"skuId": "84a661c4-e949-4bd2-a560-ed7766fcaf2b", "x": 1}], "removeLicenses": []}),
            json!({"addLicenses": {}, "removeLicenses": []}),
            json!({"addLicenses": [], "removeLicenses": [], "other": 1}),
        ] {
            assert!(parse_assign(&bad).is_err(), "{bad}");
        }
    }
}
