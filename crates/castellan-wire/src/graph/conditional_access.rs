//! Conditional Access in Graph's shapes: `conditionalAccessPolicy` and the named locations
//! (`ipNamedLocation`, `countryNamedLocation`), parsed into `castellan_core::policy` values
//! (every unknown word refused by field name) and rendered back. The rendered document is also
//! what the store keeps.
//!
//! Bounds (checked while parsing, before anything is stored): every list of a policy or a
//! country location holds at most [`MAX_LIST_ITEMS`] strings of at most [`MAX_STRING_LEN`] bytes;
//! `displayName` at most [`MAX_DISPLAY_NAME_LEN`]; an IP location at most [`MAX_IP_RANGES`]
//! ranges; [`merge`] descends at most [`MAX_MERGE_DEPTH`] levels (the body itself is bounded by
//! serde_json's recursion limit of 128 before it gets here).

use castellan_core::policy::{
    parse_value, AppRef, ApplicationsCondition, AuthenticationStrength, BuiltInControl,
    ClientAppType, ClientApplicationsCondition, ConditionalAccessPolicy, Conditions,
    DevicePlatform, FrequencyInterval, FrequencyUnit, GrantControls, GrantOperator, LocationRef,
    LocationsCondition, NamedLocation, NamedLocationKind, PersistentBrowser, PersistentBrowserMode,
    PlatformsCondition, PolicyState, RiskLevel, ServicePrincipalRef, SessionControls,
    SignInFrequency, UserRef, UsersCondition,
};
use castellan_core::ObjectId;
use serde_json::{json, Map, Value};

use crate::errors::GraphError;

/// The most strings one list of a policy (`includeUsers`, `excludeGroups`, `includeApplications`,
/// `includeLocations`, …) or a country location may hold.
pub const MAX_LIST_ITEMS: usize = 1000;
/// The longest string in such a list, in bytes (ids, keywords and country codes are short).
pub const MAX_STRING_LEN: usize = 256;
/// The longest `displayName` of a policy or named location, in characters.
pub const MAX_DISPLAY_NAME_LEN: usize = 256;
/// The most ranges an IP named location may hold (Entra: 2,000 per location).
pub const MAX_IP_RANGES: usize = 2000;
/// How deep [`merge`] descends; below that, the patch's value replaces the stored one whole.
pub const MAX_MERGE_DEPTH: usize = 16;

fn bad(m: impl Into<String>) -> GraphError {
    GraphError::bad_request(m)
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, GraphError> {
    match v.get(field.rsplit('.').next().unwrap_or(field)) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) if a.len() > MAX_LIST_ITEMS => Err(bad(format!(
            "{field} holds {} items; at most {MAX_LIST_ITEMS} are accepted.",
            a.len()
        ))),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x.as_str() {
                Some(s) if s.len() > MAX_STRING_LEN => Err(bad(format!(
                    "{field} holds a value {} bytes long; at most {MAX_STRING_LEN} are accepted.",
                    s.len()
                ))),
                Some(s) => Ok(s.to_string()),
                None => Err(bad(format!("{field} must be an array of strings."))),
            })
            .collect(),
        Some(_) => Err(bad(format!("{field} must be an array of strings."))),
    }
}

fn list<T>(
    v: &Value,
    field: &'static str,
    parse: impl Fn(&str) -> Option<T> + Copy,
) -> Result<Vec<T>, GraphError> {
    strings(v, field)?
        .iter()
        .map(|s| parse_value(field, s, parse).map_err(|e| bad(e.to_string())))
        .collect()
}

fn obj<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// Parses a policy body (POST, or a PATCH already merged over the stored document).
pub fn parse_policy(body: &Value, id: ObjectId) -> Result<ConditionalAccessPolicy, GraphError> {
    if !body.is_object() {
        return Err(bad(
            "The request body must be a conditionalAccessPolicy object.",
        ));
    }
    for k in body
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if !matches!(
            k.as_str(),
            "id" | "displayName"
                | "state"
                | "conditions"
                | "grantControls"
                | "sessionControls"
                | "createdDateTime"
                | "modifiedDateTime"
                | "@odata.type"
                | "@odata.context"
                | "templateId"
                | "description"
        ) {
            return Err(bad(format!("Property '{k}' is not a property of conditionalAccessPolicy (or is not supported).")));
        }
    }
    let display_name = body
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    check_display_name(&display_name)?;
    let state = match body.get("state").and_then(Value::as_str) {
        Some(s) => parse_value("state", s, PolicyState::parse).map_err(|e| bad(e.to_string()))?,
        None => {
            return Err(bad(
                "state is required: enabled, disabled or enabledForReportingButNotEnforced.",
            ))
        }
    };
    let c = obj(body, "conditions").ok_or_else(|| bad("conditions is required."))?;
    let users = obj(c, "users").cloned().unwrap_or(Value::Null);
    let apps = obj(c, "applications").cloned().unwrap_or(Value::Null);
    let oids = |field: &'static str, v: &Value| list(v, field, ObjectId::parse);
    let uuids =
        |field: &'static str, v: &Value| list(v, field, |s| uuid::Uuid::parse_str(s.trim()).ok());
    let conditions = Conditions {
        users: UsersCondition {
            include_users: list(&users, "conditions.users.includeUsers", UserRef::parse)?,
            exclude_users: list(&users, "conditions.users.excludeUsers", UserRef::parse)?,
            include_groups: oids("conditions.users.includeGroups", &users)?,
            exclude_groups: oids("conditions.users.excludeGroups", &users)?,
            include_roles: uuids("conditions.users.includeRoles", &users)?,
            exclude_roles: uuids("conditions.users.excludeRoles", &users)?,
        },
        applications: ApplicationsCondition {
            include_applications: list(
                &apps,
                "conditions.applications.includeApplications",
                AppRef::parse,
            )?,
            exclude_applications: list(
                &apps,
                "conditions.applications.excludeApplications",
                AppRef::parse,
            )?,
        },
        client_applications: match obj(c, "clientApplications") {
            None => None,
            Some(ca) => Some(ClientApplicationsCondition {
                include_service_principals: list(
                    ca,
                    "conditions.clientApplications.includeServicePrincipals",
                    ServicePrincipalRef::parse,
                )?,
                exclude_service_principals: list(
                    ca,
                    "conditions.clientApplications.excludeServicePrincipals",
                    ServicePrincipalRef::parse,
                )?,
            }),
        },
        client_app_types: list(c, "conditions.clientAppTypes", ClientAppType::parse)?,
        locations: match obj(c, "locations") {
            None => None,
            Some(l) => Some(LocationsCondition {
                include_locations: list(
                    l,
                    "conditions.locations.includeLocations",
                    LocationRef::parse,
                )?,
                exclude_locations: list(
                    l,
                    "conditions.locations.excludeLocations",
                    LocationRef::parse,
                )?,
            }),
        },
        platforms: match obj(c, "platforms") {
            None => None,
            Some(p) => Some(PlatformsCondition {
                include_platforms: list(
                    p,
                    "conditions.platforms.includePlatforms",
                    DevicePlatform::parse,
                )?,
                exclude_platforms: list(
                    p,
                    "conditions.platforms.excludePlatforms",
                    DevicePlatform::parse,
                )?,
            }),
        },
        sign_in_risk_levels: list(c, "conditions.signInRiskLevels", RiskLevel::parse)?,
        user_risk_levels: list(c, "conditions.userRiskLevels", RiskLevel::parse)?,
        service_principal_risk_levels: list(
            c,
            "conditions.servicePrincipalRiskLevels",
            RiskLevel::parse,
        )?,
    };
    let grant_controls = match obj(body, "grantControls") {
        None => None,
        Some(g) => Some(GrantControls {
            operator: match g.get("operator").and_then(Value::as_str) {
                Some(o) => parse_value("grantControls.operator", o, GrantOperator::parse)
                    .map_err(|e| bad(e.to_string()))?,
                None => GrantOperator::Or,
            },
            built_in_controls: strings(g, "grantControls.builtInControls")?
                .iter()
                .map(|s| castellan_core::policy::parse_control(s).map_err(|e| bad(e.to_string())))
                .collect::<Result<Vec<BuiltInControl>, _>>()?,
            authentication_strength: obj(g, "authenticationStrength").map(|a| {
                AuthenticationStrength {
                    id: a
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("00000000-0000-0000-0000-000000000002")
                        .to_string(),
                    display_name: a
                        .get("displayName")
                        .and_then(Value::as_str)
                        .unwrap_or("Multifactor authentication")
                        .to_string(),
                }
            }),
        }),
    };
    let session_controls = match obj(body, "sessionControls") {
        None => None,
        Some(sc) => Some(SessionControls {
            sign_in_frequency: match obj(sc, "signInFrequency") {
                None => None,
                Some(f) => Some(SignInFrequency {
                    value: u32::try_from(f.get("value").and_then(Value::as_u64).unwrap_or(0))
                        .unwrap_or(u32::MAX),
                    unit: match f.get("type").and_then(Value::as_str) {
                        Some(t) => parse_value(
                            "sessionControls.signInFrequency.type",
                            t,
                            FrequencyUnit::parse,
                        )
                        .map_err(|e| bad(e.to_string()))?,
                        None => FrequencyUnit::Hours,
                    },
                    interval: match f.get("frequencyInterval").and_then(Value::as_str) {
                        Some(t) => parse_value(
                            "sessionControls.signInFrequency.frequencyInterval",
                            t,
                            FrequencyInterval::parse,
                        )
                        .map_err(|e| bad(e.to_string()))?,
                        None => FrequencyInterval::TimeBased,
                    },
                    is_enabled: f.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
                }),
            },
            persistent_browser: match obj(sc, "persistentBrowser") {
                None => None,
                Some(p) => Some(PersistentBrowser {
                    mode: parse_value(
                        "sessionControls.persistentBrowser.mode",
                        p.get("mode").and_then(Value::as_str).unwrap_or(""),
                        PersistentBrowserMode::parse,
                    )
                    .map_err(|e| bad(e.to_string()))?,
                    is_enabled: p.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
                }),
            },
        }),
    };
    Ok(ConditionalAccessPolicy {
        id,
        display_name,
        state,
        conditions,
        grant_controls,
        session_controls,
    })
}

fn strs<T>(v: &[T], f: impl Fn(&T) -> String) -> Vec<String> {
    v.iter().map(f).collect()
}

/// Renders `microsoft.graph.conditionalAccessPolicy`.
pub fn render_policy(p: &ConditionalAccessPolicy, created: &str, modified: &str) -> Value {
    let c = &p.conditions;
    json!({
        "@odata.type": "#microsoft.graph.conditionalAccessPolicy",
        "id": p.id.to_string(),
        "displayName": p.display_name,
        "state": p.state.as_str(),
        "createdDateTime": created,
        "modifiedDateTime": modified,
        "conditions": {
            "users": {
                "includeUsers": strs(&c.users.include_users, |u| u.to_graph()),
                "excludeUsers": strs(&c.users.exclude_users, |u| u.to_graph()),
                "includeGroups": strs(&c.users.include_groups, ToString::to_string),
                "excludeGroups": strs(&c.users.exclude_groups, ToString::to_string),
                "includeRoles": strs(&c.users.include_roles, ToString::to_string),
                "excludeRoles": strs(&c.users.exclude_roles, ToString::to_string),
            },
            "applications": {
                "includeApplications": strs(&c.applications.include_applications, |a| a.to_graph()),
                "excludeApplications": strs(&c.applications.exclude_applications, |a| a.to_graph()),
            },
            "clientApplications": c.client_applications.as_ref().map(|ca| json!({
                "includeServicePrincipals": strs(&ca.include_service_principals, |s| s.to_graph()),
                "excludeServicePrincipals": strs(&ca.exclude_service_principals, |s| s.to_graph()),
            })),
            "clientAppTypes": strs(&c.client_app_types, |t| t.as_str().to_string()),
            "locations": c.locations.as_ref().map(|l| json!({
                "includeLocations": strs(&l.include_locations, |x| x.to_graph()),
                "excludeLocations": strs(&l.exclude_locations, |x| x.to_graph()),
            })),
            "platforms": c.platforms.as_ref().map(|pl| json!({
                "includePlatforms": strs(&pl.include_platforms, |x| x.as_str().to_string()),
                "excludePlatforms": strs(&pl.exclude_platforms, |x| x.as_str().to_string()),
            })),
            "signInRiskLevels": strs(&c.sign_in_risk_levels, |x| x.as_str().to_string()),
            "userRiskLevels": strs(&c.user_risk_levels, |x| x.as_str().to_string()),
            "servicePrincipalRiskLevels": strs(&c.service_principal_risk_levels, |x| x.as_str().to_string()),
        },
        "grantControls": p.grant_controls.as_ref().map(|g| json!({
            "operator": g.operator.as_str(),
            "builtInControls": strs(&g.built_in_controls, |x| x.as_str().to_string()),
            "customAuthenticationFactors": [],
            "termsOfUse": [],
            "authenticationStrength": g.authentication_strength.as_ref().map(|a| json!({"id": a.id, "displayName": a.display_name})),
        })),
        "sessionControls": p.session_controls.as_ref().map(|s| json!({
            "signInFrequency": s.sign_in_frequency.map(|f| json!({
                "value": f.value, "type": f.unit.as_str(), "frequencyInterval": f.interval.as_str(),
                "authenticationType": "primaryAndSecondaryAuthentication", "isEnabled": f.is_enabled,
            })),
            "persistentBrowser": s.persistent_browser.map(|b| json!({"mode": b.mode.as_str(), "isEnabled": b.is_enabled})),
        })),
    })
}

fn check_display_name(name: &str) -> Result<(), GraphError> {
    let n = name.chars().count();
    if n > MAX_DISPLAY_NAME_LEN {
        return Err(bad(format!(
            "displayName is {n} characters long; at most {MAX_DISPLAY_NAME_LEN} are accepted."
        )));
    }
    Ok(())
}

/// Merges a PATCH body over a stored document (objects merge key by key; arrays replace). Past
/// [`MAX_MERGE_DEPTH`] levels the patch's value replaces the stored one instead of recursing.
pub fn merge(base: &mut Value, patch: &Value) {
    merge_at(base, patch, 0);
}

fn merge_at(base: &mut Value, patch: &Value, depth: usize) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) if depth < MAX_MERGE_DEPTH => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_at(existing, v, depth + 1);
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Parses a named location body (`@odata.type` ipNamedLocation or countryNamedLocation).
pub fn parse_named_location(body: &Value, id: ObjectId) -> Result<NamedLocation, GraphError> {
    let kind = body
        .get("@odata.type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let display_name = body
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| bad("displayName is required."))?
        .to_string();
    check_display_name(&display_name)?;
    let kind = match kind.trim_start_matches('#').to_ascii_lowercase().as_str() {
        "microsoft.graph.ipnamedlocation" => {
            let ranges = body
                .get("ipRanges")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| bad("ipRanges must list at least one {\"cidrAddress\": \"…\"}."))?;
            if ranges.len() > MAX_IP_RANGES {
                return Err(bad(format!(
                    "ipRanges holds {} ranges; at most {MAX_IP_RANGES} are accepted per named location.",
                    ranges.len()
                )));
            }
            let mut parsed = Vec::new();
            for r in ranges {
                let cidr = r
                    .get("cidrAddress")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("ipRanges[].cidrAddress is required."))?;
                parsed.push(
                    castellan_core::policy::parse_cidr(cidr)
                        .map_err(|e| bad(format!("ipRanges: '{cidr}' is not a CIDR range ({e}).")))?,
                );
            }
            NamedLocationKind::Ip {
                ranges: parsed,
                is_trusted: body.get("isTrusted").and_then(Value::as_bool).unwrap_or(false),
            }
        }
        "microsoft.graph.countrynamedlocation" => {
            let countries = strings(body, "countriesAndRegions")?;
            if countries.is_empty() || countries.iter().any(|c| c.len() != 2 || !c.chars().all(|x| x.is_ascii_alphabetic())) {
                return Err(bad("countriesAndRegions must list ISO 3166-1 alpha-2 codes, e.g. [\"DE\", \"FR\"]."));
            }
            NamedLocationKind::Country {
                countries: countries.iter().map(|c| c.to_ascii_uppercase()).collect(),
                include_unknown: body.get("includeUnknownCountriesAndRegions").and_then(Value::as_bool).unwrap_or(false),
            }
        }
        _ => return Err(bad("@odata.type must be #microsoft.graph.ipNamedLocation or #microsoft.graph.countryNamedLocation.")),
    };
    Ok(NamedLocation {
        id,
        display_name,
        kind,
    })
}

/// Renders a named location.
pub fn render_named_location(l: &NamedLocation, created: &str, modified: &str) -> Value {
    let mut v = Map::new();
    v.insert("id".into(), json!(l.id.to_string()));
    v.insert("displayName".into(), json!(l.display_name));
    v.insert("createdDateTime".into(), json!(created));
    v.insert("modifiedDateTime".into(), json!(modified));
    match &l.kind {
        NamedLocationKind::Ip { ranges, is_trusted } => {
            v.insert(
                "@odata.type".into(),
                json!("#microsoft.graph.ipNamedLocation"),
            );
            v.insert("isTrusted".into(), json!(is_trusted));
            v.insert(
                "ipRanges".into(),
                Value::Array(
                    ranges
                        .iter()
                        .map(|r| {
                            let t = if r.addr().is_ipv4() {
                                "#microsoft.graph.iPv4CidrRange"
                            } else {
                                "#microsoft.graph.iPv6CidrRange"
                            };
                            json!({"@odata.type": t, "cidrAddress": r.to_string()})
                        })
                        .collect(),
                ),
            );
        }
        NamedLocationKind::Country {
            countries,
            include_unknown,
        } => {
            v.insert(
                "@odata.type".into(),
                json!("#microsoft.graph.countryNamedLocation"),
            );
            v.insert("countriesAndRegions".into(), json!(countries));
            v.insert(
                "includeUnknownCountriesAndRegions".into(),
                json!(include_unknown),
            );
            v.insert("countryLookupMethod".into(), json!("clientIpAddress"));
        }
    }
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_round_trips_and_bad_words_are_named() {
        let id = ObjectId::from_random([3; 16]);
        let body = json!({
            "displayName": "Require MFA outside the office",
            "state": "enabledForReportingButNotEnforced",
            "conditions": {
                "users": {"includeUsers": ["All"], "excludeGroups": ["11111111-1111-1111-1111-111111111111"]},
                "applications": {"includeApplications": ["All"]},
                "clientAppTypes": ["all"],
                "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]},
            },
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        });
        let p = parse_policy(&body, id).unwrap();
        assert_eq!(p.state, PolicyState::ReportOnly);
        let rendered = render_policy(&p, "t", "t");
        let again = parse_policy(&rendered, id).unwrap();
        assert_eq!(p, again);
        let mut bad_body = body.clone();
        bad_body["grantControls"]["builtInControls"] = json!(["mfaa"]);
        assert!(parse_policy(&bad_body, id)
            .unwrap_err()
            .message
            .contains("'mfaa'"));
        let mut bad_body = body.clone();
        bad_body["conditions"]["clientAppTypes"] = json!(["fax"]);
        assert!(parse_policy(&bad_body, id)
            .unwrap_err()
            .message
            .contains("clientAppTypes"));
        let mut bad_body = body;
        bad_body["colour"] = json!("red");
        assert!(parse_policy(&bad_body, id)
            .unwrap_err()
            .message
            .contains("colour"));
    }

    #[test]
    fn named_locations_parse_and_render() {
        let id = ObjectId::from_random([4; 16]);
        let l = parse_named_location(&json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Office", "isTrusted": true, "ipRanges": [{"cidrAddress": "10.0.0.0/8"}, {"cidrAddress": "2001:db8::/32"}]}), id).unwrap();
        let r = render_named_location(&l, "t", "t");
        assert_eq!(parse_named_location(&r, id).unwrap(), l);
        assert!(parse_named_location(&json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x", "ipRanges": [{"cidrAddress": "10.0.0.0/33"}]}), id).unwrap_err().message.contains("10.0.0.0/33"));
        assert!(parse_named_location(&json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "x", "countriesAndRegions": ["Germany"]}), id).unwrap_err().message.contains("alpha-2"));
    }

    #[test]
    fn lists_names_and_ranges_are_bounded() {
        let id = ObjectId::from_random([4; 16]);
        let policy = |users: Value, name: &str| {
            json!({
                "displayName": name, "state": "disabled",
                "conditions": {"users": {"includeUsers": users}, "applications": {"includeApplications": ["All"]}},
                "grantControls": {"operator": "OR", "builtInControls": ["block"]},
            })
        };
        let ids: Vec<String> = (0..=MAX_LIST_ITEMS)
            .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
            .collect();
        let e = parse_policy(&policy(json!(ids), "p"), id).unwrap_err();
        assert!(
            e.message
                .contains("conditions.users.includeUsers holds 1001 items; at most 1000"),
            "{}",
            e.message
        );
        assert!(parse_policy(&policy(json!(ids[..MAX_LIST_ITEMS]), "p"), id).is_ok());
        let e =
            parse_policy(&policy(json!(["x".repeat(MAX_STRING_LEN + 1)]), "p"), id).unwrap_err();
        assert!(e.message.contains("at most 256"), "{}", e.message);
        let e = parse_policy(&policy(json!(["All"]), &"n".repeat(257)), id).unwrap_err();
        assert!(
            e.message.contains("displayName is 257 characters"),
            "{}",
            e.message
        );
        let ranges: Vec<Value> = (0..=MAX_IP_RANGES)
            .map(|_| json!({"cidrAddress": "10.0.0.0/8"}))
            .collect();
        let loc = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x", "ipRanges": ranges});
        let e = parse_named_location(&loc, id).unwrap_err();
        assert!(
            e.message.contains("2001 ranges; at most 2000"),
            "{}",
            e.message
        );
        // merge stops descending at its bound instead of following a deep patch.
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!({ "a": deep });
        }
        let mut base = deep.clone();
        merge(&mut base, &deep);
        assert_eq!(base, deep);
    }
}
