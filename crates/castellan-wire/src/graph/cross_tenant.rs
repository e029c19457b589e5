//! Cross-tenant access settings in Graph v1.0's shapes: `crossTenantAccessPolicy`,
//! `crossTenantAccessPolicyConfigurationDefault`, `crossTenantAccessPolicyConfigurationPartner`
//! and their parts (`crossTenantAccessPolicyB2BSetting`,
//! `crossTenantAccessPolicyTargetConfiguration`, `crossTenantAccessPolicyTarget`,
//! `crossTenantAccessPolicyInboundTrust`, `inboundOutboundPolicyConfiguration`). Bodies are
//! checked property by property (unknown and read-only ones refused by name, bad enum words
//! naming the accepted ones); the rendering without `@odata.context` is also the stored
//! document, which the same parsers read back.

use castellan_core::cross_tenant::{
    AccessType, AutomaticConsent, B2bSetting, Configuration, InboundTrust, Partner, PolicyLevel,
    Target, TargetConfiguration, TargetType,
};
use castellan_core::TenantId;
use serde_json::{json, Map, Value};

use super::check_object;
use crate::errors::GraphError;

const SETTINGS: &[&str] = &[
    "b2bCollaborationInbound",
    "b2bCollaborationOutbound",
    "b2bDirectConnectInbound",
    "b2bDirectConnectOutbound",
    "inboundTrust",
];

/// What a PATCH of the default may set.
pub const DEFAULT_WRITABLE: &[&str] = SETTINGS;
/// The default's read-only properties.
pub const DEFAULT_READ_ONLY: &[&str] = &["isServiceDefault", "automaticUserConsentSettings", "id"];
/// What a partner body may set (`tenantId` on creation only).
pub const PARTNER_WRITABLE: &[&str] = &[
    "tenantId",
    "isServiceProvider",
    "automaticUserConsentSettings",
    "b2bCollaborationInbound",
    "b2bCollaborationOutbound",
    "b2bDirectConnectInbound",
    "b2bDirectConnectOutbound",
    "inboundTrust",
];
/// A partner's read-only properties.
pub const PARTNER_READ_ONLY: &[&str] = &["isInMultiTenantOrganization"];
/// What a PATCH of the policy may set.
pub const LEVEL_WRITABLE: &[&str] = &["displayName", "allowedCloudEndpoints"];
/// The policy's read-only properties.
pub const LEVEL_READ_ONLY: &[&str] = &["id", "definition"];

fn bad(m: impl Into<String>) -> GraphError {
    GraphError::bad_request(m)
}

fn enum_word<T: Copy>(
    v: Option<&Value>,
    path: &str,
    parse: impl Fn(&str) -> Option<T>,
    values: &str,
) -> Result<T, GraphError> {
    let s = v.and_then(Value::as_str).ok_or_else(|| {
        bad(format!(
            "Property '{path}' is required: use one of {values}. Nothing was changed."
        ))
    })?;
    parse(s).ok_or_else(|| {
        bad(format!(
            "Invalid value '{s}' for property '{path}': use one of {values}. Nothing was changed."
        ))
    })
}

fn object<'a>(
    v: &'a Value,
    path: &str,
    type_name: &str,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, GraphError> {
    check_object(v, type_name, allowed, &[]).map_err(|e| {
        bad(format!(
            "{} (in '{path}') Nothing was changed.",
            e.message.trim_end_matches(" Nothing was changed.")
        ))
    })
}

fn parse_target_config(v: &Value, path: &str) -> Result<Option<TargetConfiguration>, GraphError> {
    if v.is_null() {
        return Ok(None);
    }
    let o = object(
        v,
        path,
        "crossTenantAccessPolicyTargetConfiguration",
        &["accessType", "targets"],
    )?;
    let access_type = enum_word(
        o.get("accessType"),
        &format!("{path}.accessType"),
        AccessType::parse,
        "allowed, blocked",
    )?;
    let targets = match o.get("targets") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let p = format!("{path}.targets[{i}]");
                let to = object(t, &p, "crossTenantAccessPolicyTarget", &["target", "targetType"])?;
                let target = to
                    .get("target")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(format!("Property '{p}.target' is required (a keyword such as AllUsers or AllApplications, or an id). Nothing was changed.")))?;
                let target_type = enum_word(
                    to.get("targetType"),
                    &format!("{p}.targetType"),
                    TargetType::parse,
                    "user, group, application",
                )?;
                Ok(Target::new(target, target_type))
            })
            .collect::<Result<Vec<_>, GraphError>>()?,
        Some(_) => {
            return Err(bad(format!(
                "Property '{path}.targets' must be an array of crossTenantAccessPolicyTarget. Nothing was changed."
            )))
        }
    };
    Ok(Some(TargetConfiguration {
        access_type,
        targets,
    }))
}

fn parse_setting(v: Option<&Value>, path: &str) -> Result<Option<B2bSetting>, GraphError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let o = object(
        v,
        path,
        "crossTenantAccessPolicyB2BSetting",
        &["usersAndGroups", "applications"],
    )?;
    Ok(Some(B2bSetting {
        users_and_groups: parse_target_config(
            o.get("usersAndGroups").unwrap_or(&Value::Null),
            &format!("{path}.usersAndGroups"),
        )?,
        applications: parse_target_config(
            o.get("applications").unwrap_or(&Value::Null),
            &format!("{path}.applications"),
        )?,
    }))
}

fn flag(o: &Map<String, Value>, path: &str, name: &str) -> Result<bool, GraphError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(format!(
            "Property '{path}.{name}' must be true or false. Nothing was changed."
        ))),
    }
}

fn parse_trust(v: Option<&Value>) -> Result<Option<InboundTrust>, GraphError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let p = "inboundTrust";
    let o = object(
        v,
        p,
        "crossTenantAccessPolicyInboundTrust",
        &[
            "isMfaAccepted",
            "isCompliantDeviceAccepted",
            "isHybridAzureADJoinedDeviceAccepted",
        ],
    )?;
    Ok(Some(InboundTrust {
        is_mfa_accepted: flag(o, p, "isMfaAccepted")?,
        is_compliant_device_accepted: flag(o, p, "isCompliantDeviceAccepted")?,
        is_hybrid_joined_device_accepted: flag(o, p, "isHybridAzureADJoinedDeviceAccepted")?,
    }))
}

fn parse_consent(v: Option<&Value>) -> Result<Option<AutomaticConsent>, GraphError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let p = "automaticUserConsentSettings";
    let o = object(
        v,
        p,
        "inboundOutboundPolicyConfiguration",
        &["inboundAllowed", "outboundAllowed"],
    )?;
    Ok(Some(AutomaticConsent {
        inbound_allowed: flag(o, p, "inboundAllowed")?,
        outbound_allowed: flag(o, p, "outboundAllowed")?,
    }))
}

fn parse_config(o: &Map<String, Value>, consent: bool) -> Result<Configuration, GraphError> {
    Ok(Configuration {
        b2b_collaboration_inbound: parse_setting(
            o.get("b2bCollaborationInbound"),
            "b2bCollaborationInbound",
        )?,
        b2b_collaboration_outbound: parse_setting(
            o.get("b2bCollaborationOutbound"),
            "b2bCollaborationOutbound",
        )?,
        b2b_direct_connect_inbound: parse_setting(
            o.get("b2bDirectConnectInbound"),
            "b2bDirectConnectInbound",
        )?,
        b2b_direct_connect_outbound: parse_setting(
            o.get("b2bDirectConnectOutbound"),
            "b2bDirectConnectOutbound",
        )?,
        inbound_trust: parse_trust(o.get("inboundTrust"))?,
        // Off both ways is the same as unset (the default's is always off).
        automatic_user_consent: if consent {
            parse_consent(o.get("automaticUserConsentSettings"))?
                .filter(|c| *c != AutomaticConsent::default())
        } else {
            None
        },
    })
}

/// Checks a PATCH body of the default (before it is merged over the stored document).
pub fn check_default_patch(body: &Value) -> Result<(), GraphError> {
    check_object(
        body,
        "crossTenantAccessPolicyConfigurationDefault",
        DEFAULT_WRITABLE,
        DEFAULT_READ_ONLY,
    )
    .map(|_| ())
}

/// Parses the default (a merged PATCH, or the stored document). Parts left out stay `None`
/// (the service default's, see `core::cross_tenant::over`).
pub fn parse_default(body: &Value) -> Result<Configuration, GraphError> {
    let mut allowed: Vec<&str> = DEFAULT_WRITABLE.to_vec();
    allowed.extend(DEFAULT_READ_ONLY);
    let o = check_object(
        body,
        "crossTenantAccessPolicyConfigurationDefault",
        &allowed,
        &[],
    )?;
    parse_config(o, false)
}

/// Checks a partner body: on creation (`existing` `None`) `tenantId` is required and taken
/// from it; a PATCH of the partner `existing` may repeat its `tenantId` but not change it.
pub fn check_partner_body(
    body: &Value,
    existing: Option<TenantId>,
) -> Result<Option<TenantId>, GraphError> {
    let o = check_object(
        body,
        "crossTenantAccessPolicyConfigurationPartner",
        PARTNER_WRITABLE,
        PARTNER_READ_ONLY,
    )?;
    let given = match o.get("tenantId") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().and_then(TenantId::parse).ok_or_else(|| {
            bad(format!(
                "Invalid value {v} for property 'tenantId': expected the partner's tenant id (a GUID). Nothing was changed."
            ))
        })?),
    };
    match (given, existing) {
        (None, None) => Err(bad(
            "Property 'tenantId' is required: the partner organization's tenant id (a GUID). Nothing was changed.",
        )),
        (Some(t), None) => Ok(Some(t)),
        (Some(t), Some(e)) if t != e => Err(bad(
            "Property 'tenantId' cannot be changed: delete this partner configuration and create one for the other tenant. Nothing was changed.",
        )),
        (_, Some(e)) => Ok(Some(e)),
    }
}

/// Parses a partner (a creation body, a merged PATCH, or the stored document).
pub fn parse_partner(body: &Value) -> Result<Partner, GraphError> {
    let mut allowed: Vec<&str> = PARTNER_WRITABLE.to_vec();
    allowed.extend(PARTNER_READ_ONLY);
    allowed.push("tenantRestrictions");
    let o = check_object(
        body,
        "crossTenantAccessPolicyConfigurationPartner",
        &allowed,
        &[],
    )?;
    let tenant_id = o
        .get("tenantId")
        .and_then(Value::as_str)
        .and_then(TenantId::parse)
        .ok_or_else(|| bad("Property 'tenantId' must be the partner's tenant id (a GUID). Nothing was changed."))?;
    let is_service_provider = match o.get("isServiceProvider") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(bad(
                "Property 'isServiceProvider' must be true or false. Nothing was changed.",
            ))
        }
    };
    if o.get("tenantRestrictions").is_some_and(|v| !v.is_null()) {
        return Err(bad("Property 'tenantRestrictions' is not supported: tenant restrictions (v2) need Microsoft's network-side enforcement, which this server does not have. Leave it out. Nothing was changed."));
    }
    Ok(Partner {
        tenant_id,
        is_service_provider,
        is_in_multi_tenant_organization: false,
        config: parse_config(o, true)?,
    })
}

/// Checks a PATCH body of the policy.
pub fn check_level_patch(body: &Value) -> Result<(), GraphError> {
    check_object(
        body,
        "crossTenantAccessPolicy",
        LEVEL_WRITABLE,
        LEVEL_READ_ONLY,
    )
    .map(|_| ())
}

/// Parses the policy-level properties (a merged PATCH, or the stored document).
pub fn parse_level(body: &Value) -> Result<PolicyLevel, GraphError> {
    let mut allowed: Vec<&str> = LEVEL_WRITABLE.to_vec();
    allowed.extend(LEVEL_READ_ONLY);
    let o = check_object(body, "crossTenantAccessPolicy", &allowed, &[])?;
    let display_name = match o.get("displayName") {
        None | Some(Value::Null) => PolicyLevel::default().display_name,
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => s.clone(),
        Some(_) => {
            return Err(bad(
                "Property 'displayName' must be a non-empty string of at most 256 characters. Nothing was changed.",
            ))
        }
    };
    let allowed_cloud_endpoints = match o.get("allowedCloudEndpoints") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    bad("Property 'allowedCloudEndpoints' must be an array of strings. Nothing was changed.")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(bad(
                "Property 'allowedCloudEndpoints' must be an array of strings. Nothing was changed.",
            ))
        }
    };
    Ok(PolicyLevel {
        display_name,
        allowed_cloud_endpoints,
    })
}

fn render_target_config(c: &Option<TargetConfiguration>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({
            "accessType": c.access_type.as_str(),
            "targets": c.targets.iter().map(|t| json!({
                "target": t.target,
                "targetType": t.target_type.as_str(),
            })).collect::<Vec<_>>(),
        }),
    }
}

fn render_setting(s: &Option<B2bSetting>) -> Value {
    match s {
        None => Value::Null,
        Some(s) => json!({
            "usersAndGroups": render_target_config(&s.users_and_groups),
            "applications": render_target_config(&s.applications),
        }),
    }
}

fn render_trust(t: &Option<InboundTrust>) -> Value {
    match t {
        None => Value::Null,
        Some(t) => json!({
            "isMfaAccepted": t.is_mfa_accepted,
            "isCompliantDeviceAccepted": t.is_compliant_device_accepted,
            "isHybridAzureADJoinedDeviceAccepted": t.is_hybrid_joined_device_accepted,
        }),
    }
}

fn render_settings(c: &Configuration) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("inboundTrust".into(), render_trust(&c.inbound_trust));
    m.insert(
        "b2bCollaborationOutbound".into(),
        render_setting(&c.b2b_collaboration_outbound),
    );
    m.insert(
        "b2bCollaborationInbound".into(),
        render_setting(&c.b2b_collaboration_inbound),
    );
    m.insert(
        "b2bDirectConnectOutbound".into(),
        render_setting(&c.b2b_direct_connect_outbound),
    );
    m.insert(
        "b2bDirectConnectInbound".into(),
        render_setting(&c.b2b_direct_connect_inbound),
    );
    m
}

/// The default's settings as stored (only what was set).
pub fn render_default_document(c: &Configuration) -> Value {
    Value::Object(render_settings(c))
}

/// The default as Graph returns it: `c` complete (over the service default).
pub fn render_default(c: &Configuration, is_service_default: bool) -> Value {
    let mut m = Map::new();
    m.insert("isServiceDefault".into(), json!(is_service_default));
    m.extend(render_settings(c));
    m.insert(
        "automaticUserConsentSettings".into(),
        json!({"inboundAllowed": false, "outboundAllowed": false}),
    );
    Value::Object(m)
}

/// A partner as Graph returns it (and as stored).
pub fn render_partner(p: &Partner) -> Value {
    let mut m = Map::new();
    m.insert("tenantId".into(), json!(p.tenant_id.to_string()));
    m.insert(
        "isServiceProvider".into(),
        p.is_service_provider.map_or(Value::Null, Value::Bool),
    );
    m.insert(
        "isInMultiTenantOrganization".into(),
        json!(p.is_in_multi_tenant_organization),
    );
    m.extend(render_settings(&p.config));
    let consent = p.config.automatic_user_consent.unwrap_or_default();
    m.insert(
        "automaticUserConsentSettings".into(),
        json!({"inboundAllowed": consent.inbound_allowed, "outboundAllowed": consent.outbound_allowed}),
    );
    m.insert("tenantRestrictions".into(), Value::Null);
    Value::Object(m)
}

/// The policy-level properties as Graph returns them (and as stored).
pub fn render_level(l: &PolicyLevel) -> Value {
    json!({
        "displayName": l.display_name,
        "allowedCloudEndpoints": l.allowed_cloud_endpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_core::cross_tenant::service_default;

    #[test]
    fn the_service_default_renders_as_entra_does_and_reads_back() {
        let v = render_default(&service_default(), true);
        assert_eq!(v["isServiceDefault"], true);
        assert_eq!(
            v["b2bCollaborationInbound"]["usersAndGroups"],
            json!({"accessType": "allowed", "targets": [{"target": "AllUsers", "targetType": "user"}]})
        );
        assert_eq!(
            v["b2bCollaborationOutbound"]["applications"],
            json!({"accessType": "allowed", "targets": [{"target": "AllApplications", "targetType": "application"}]})
        );
        assert_eq!(
            v["b2bDirectConnectInbound"]["usersAndGroups"]["accessType"],
            "blocked"
        );
        assert_eq!(
            v["inboundTrust"],
            json!({"isMfaAccepted": false, "isCompliantDeviceAccepted": false, "isHybridAzureADJoinedDeviceAccepted": false})
        );
        let back = parse_default(&v).unwrap();
        assert_eq!(
            back.b2b_collaboration_inbound,
            service_default().b2b_collaboration_inbound
        );
        assert_eq!(back.inbound_trust, service_default().inbound_trust);
    }

    #[test]
    fn a_partner_round_trips_and_nulls_inherit() {
        let t = TenantId::parse("11111111-2222-3333-4444-555555555555").unwrap();
        let body = json!({
            "tenantId": t.to_string(),
            "inboundTrust": {"isMfaAccepted": true},
            "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "blocked", "targets": [{"target": "AllUsers", "targetType": "user"}]}},
        });
        assert_eq!(check_partner_body(&body, None).unwrap(), Some(t));
        assert_eq!(check_partner_body(&body, Some(t)).unwrap(), Some(t));
        let p = parse_partner(&body).unwrap();
        assert_eq!(p.tenant_id, t);
        assert!(p.config.inbound_trust.unwrap().is_mfa_accepted);
        assert!(p.config.b2b_collaboration_outbound.is_none());
        let inb = p.config.b2b_collaboration_inbound.clone().unwrap();
        assert!(inb.applications.is_none());
        let r = render_partner(&p);
        assert_eq!(r["b2bCollaborationOutbound"], Value::Null);
        assert_eq!(r["b2bCollaborationInbound"]["applications"], Value::Null);
        assert_eq!(r["isInMultiTenantOrganization"], false);
        assert_eq!(parse_partner(&r).unwrap(), p);
    }

    #[test]
    fn bad_words_and_properties_are_refused_by_name() {
        let t = "11111111-2222-3333-4444-555555555555";
        for (body, needle) in [
            (
                json!({"tenantId": t, "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "maybe", "targets": []}}}),
                "b2bCollaborationInbound.usersAndGroups.accessType",
            ),
            (
                json!({"tenantId": t, "b2bCollaborationInbound": {"applications": {"accessType": "allowed", "targets": [{"target": "AllApplications", "targetType": "servicePrincipal"}]}}}),
                "targets[0].targetType",
            ),
            (
                json!({"tenantId": t, "b2bCollaborationInbound": {"people": {}}}),
                "people",
            ),
            (
                json!({"tenantId": t, "inboundTrust": {"isMfaAccepted": "yes"}}),
                "inboundTrust.isMfaAccepted",
            ),
            (
                json!({"tenantId": t, "tenantRestrictions": {"usersAndGroups": null}}),
                "tenantRestrictions",
            ),
        ] {
            let e = parse_partner(&body).unwrap_err();
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
            assert_eq!(e.status, 400);
        }
        let other = TenantId::parse("99999999-2222-3333-4444-555555555555").unwrap();
        assert!(
            check_partner_body(&json!({"isInMultiTenantOrganization": true}), Some(other))
                .unwrap_err()
                .message
                .contains("read-only")
        );
        assert!(check_partner_body(&json!({}), None)
            .unwrap_err()
            .message
            .contains("tenantId"));
        let tid = TenantId::parse(t).unwrap();
        assert!(check_partner_body(&json!({"tenantId": t}), Some(other)).is_err());
        assert_eq!(
            check_partner_body(&json!({"tenantId": t}), Some(tid)).unwrap(),
            Some(tid)
        );
        assert!(check_default_patch(&json!({"isServiceDefault": false}))
            .unwrap_err()
            .message
            .contains("read-only"));
        assert!(check_default_patch(&json!({"inboundTrust": {"isMfaAccepted": true}})).is_ok());
        assert!(
            check_level_patch(&json!({"allowedCloudEndpoints": ["microsoftonline.us"]})).is_ok()
        );
        assert!(check_level_patch(&json!({"color": "red"})).is_err());
    }
}
