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

/// Every rendered property of `microsoft.graph.signIn`.
pub const SIGN_IN_PROPERTIES: &[&str] = &[
    "id",
    "createdDateTime",
    "userDisplayName",
    "userPrincipalName",
    "userId",
    "appId",
    "appDisplayName",
    "ipAddress",
    "clientAppUsed",
    "correlationId",
    "conditionalAccessStatus",
    "isInteractive",
    "riskDetail",
    "riskLevelAggregated",
    "riskLevelDuringSignIn",
    "riskState",
    "riskEventTypes_v2",
    "resourceDisplayName",
    "resourceId",
    "status",
    "deviceDetail",
    "location",
    "appliedConditionalAccessPolicies",
    "authenticationRequirement",
    "servicePrincipalId",
    "signInEventTypes",
    "userType",
    "homeTenantId",
    "homeTenantName",
    "resourceTenantId",
    "crossTenantAccessType",
];

/// Graph's `signInLocation` (also `riskDetection.location`).
pub fn render_location(l: &castellan_core::model::SignInLocation) -> Value {
    json!({
        "city": l.city,
        "state": l.state,
        "countryOrRegion": l.country_or_region,
        "geoCoordinates": match (l.latitude, l.longitude) {
            (Some(lat), Some(lon)) => json!({"latitude": lat, "longitude": lon, "altitude": null}),
            _ => Value::Null,
        },
    })
}

/// Adds the B2B fields of Graph's (beta) `signIn` to a rendered record: `userType`,
/// `homeTenantId` (the guest's home tenant, else the tenant itself), `resourceTenantId` and
/// `crossTenantAccessType` (`b2bCollaboration` for a guest, `none` otherwise), and for a guest
/// of an external OpenID Connect provider `homeTenantName` = its issuer. `user` is the
/// signed-in user, if it still exists.
pub fn add_b2b_fields(
    v: &mut Value,
    r: &castellan_core::model::SignIn,
    user: Option<&castellan_core::model::User>,
) {
    let guest = user.is_some_and(|u| u.user_type == castellan_core::model::UserType::Guest);
    let home = user
        .and_then(|u| u.external.as_ref())
        .and_then(|e| e.home_tenant)
        .unwrap_or(r.tenant_id);
    v["userType"] = json!(if guest { "guest" } else { "member" });
    v["homeTenantId"] = json!(home.to_string());
    v["resourceTenantId"] = json!(r.tenant_id.to_string());
    v["crossTenantAccessType"] = json!(if guest { "b2bCollaboration" } else { "none" });
    // A guest of an external OpenID Connect provider has no home tenant here: the log names
    // its home issuer instead.
    if let Some(iss) = user.and_then(castellan_core::invitations::external_issuer) {
        v["homeTenantName"] = json!(iss);
    }
}

/// Renders a sign-in record as Graph's `signIn`.
pub fn render_sign_in(r: &castellan_core::model::SignIn) -> Value {
    json!({
        "id": r.id.to_string(),
        "createdDateTime": graph_datetime(r.created),
        "userDisplayName": r.user_display_name,
        "userPrincipalName": r.user_principal_name,
        "userId": r.user_id.map(|u| u.to_string()),
        "appId": r.app_id,
        "appDisplayName": r.app_display_name,
        "ipAddress": r.ip_address,
        "clientAppUsed": r.client_app_used,
        "correlationId": r.correlation_id,
        "conditionalAccessStatus": r.conditional_access_status,
        "isInteractive": r.is_interactive,
        "riskDetail": r.risk.detail,
        "riskLevelAggregated": r.risk.aggregated,
        "riskLevelDuringSignIn": r.risk.during_sign_in,
        "riskState": r.risk.state,
        "riskEventTypes_v2": r.risk.event_types,
        "resourceDisplayName": r.resource_display_name,
        "resourceId": r.resource_id,
        "status": {
            "errorCode": r.error_code,
            "failureReason": if r.error_code == 0 { None } else { Some(format!("AADSTS{}: {}", r.error_code, r.failure_reason)) },
            "additionalDetails": r.additional_details,
        },
        "deviceDetail": match &r.device {
            Some(d) => json!({"deviceId": d.device_id, "displayName": d.display_name, "operatingSystem": d.operating_system, "browser": null, "isCompliant": d.is_compliant, "isManaged": d.is_managed, "trustType": d.trust_type}),
            None => json!({"deviceId": "", "displayName": null, "operatingSystem": null, "browser": null, "isCompliant": false, "isManaged": false, "trustType": null}),
        },
        "location": render_location(&r.location),
        "appliedConditionalAccessPolicies": r.applied_policies.iter().map(|a| json!({
            "id": a.id,
            "displayName": a.display_name,
            "result": a.result,
            "enforcedGrantControls": a.enforced_grant_controls,
            "enforcedSessionControls": a.enforced_session_controls,
            "conditionsSatisfied": if a.result == "notApplied" || a.result == "reportOnlyNotApplied" { "none" } else { "application,users" },
            "conditionsNotSatisfied": if a.result == "notApplied" || a.result == "reportOnlyNotApplied" { "application,users" } else { "none" },
        })).collect::<Vec<_>>(),
        "authenticationRequirement": r.authentication_requirement,
        "servicePrincipalId": null,
        "signInEventTypes": [if r.is_service_principal { "servicePrincipal" } else if r.is_interactive { "interactiveUser" } else { "nonInteractiveUser" }],
    })
}
