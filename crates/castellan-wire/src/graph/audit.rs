//! `microsoft.graph.directoryAudit`.

use castellan_core::audit::{Actor, AuditRecord};
use serde_json::{json, Value};

use crate::time::graph_datetime;

/// Every rendered property.
pub const PROPERTIES: &[&str] = &[
    "id",
    "category",
    "correlationId",
    "result",
    "resultReason",
    "activityDisplayName",
    "activityDateTime",
    "loggedByService",
    "operationType",
    "initiatedBy",
    "targetResources",
    "additionalDetails",
];

/// Renders an audit record.
pub fn render(a: &AuditRecord) -> Value {
    let initiated_by = match &a.actor {
        Actor::User { id, upn } => {
            json!({"user": {"id": id.to_string(), "userPrincipalName": upn, "displayName": null, "ipAddress": null}, "app": null})
        }
        Actor::App {
            service_principal_id,
            app_id,
            display_name,
        } => {
            json!({"user": null, "app": {"appId": app_id, "displayName": display_name, "servicePrincipalId": service_principal_id.to_string(), "servicePrincipalName": display_name}})
        }
        Actor::Operator => {
            json!({"user": null, "app": {"appId": null, "displayName": "Castellan operator", "servicePrincipalId": null, "servicePrincipalName": "Castellan operator"}})
        }
    };
    json!({
        "id": a.id.to_string(),
        "category": a.category,
        "correlationId": a.correlation_id,
        "result": a.result,
        "resultReason": a.result_reason,
        "activityDisplayName": a.activity,
        "activityDateTime": graph_datetime(a.time),
        "loggedByService": "Core Directory",
        "operationType": a.operation_type,
        "initiatedBy": initiated_by,
        "targetResources": a.targets.iter().map(|t| json!({
            "id": t.id, "displayName": t.display_name, "type": t.kind, "userPrincipalName": t.user_principal_name,
            "modifiedProperties": t.modified_properties.iter().map(|p| json!({"displayName": p.name, "oldValue": p.old_value, "newValue": p.new_value})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "additionalDetails": [],
    })
}
