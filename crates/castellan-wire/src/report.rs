//! The hygiene reports' JSON (`core::report`), camelCase as Graph names things.

use castellan_core::report::{ExpiringCredential, UnusedGrant};
use serde_json::{json, Value};

use crate::time::graph_datetime;

/// One expiring credential.
pub fn render_credential(c: &ExpiringCredential) -> Value {
    json!({
        "applicationId": c.application_id.to_string(),
        "appId": c.app_id,
        "displayName": c.display_name,
        "credentialType": c.kind.as_str(),
        "keyId": c.key_id.to_string(),
        "credentialDisplayName": c.credential_name,
        "endDateTime": graph_datetime(c.end),
        "daysLeft": c.days_left,
        "expired": c.days_left < 0,
    })
}

/// One unused grant.
pub fn render_unused(g: &UnusedGrant) -> Value {
    json!({
        "grantType": g.kind.as_str(),
        "grantId": g.grant_id.to_string(),
        "clientId": g.client_id.to_string(),
        "clientDisplayName": g.client_name,
        "clientAppId": g.client_app_id,
        "resourceId": g.resource_id.to_string(),
        "resourceDisplayName": g.resource_name,
        "permission": g.permission,
        "lastUsedDateTime": g.last_used.map(graph_datetime),
    })
}
