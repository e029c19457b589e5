//! `/v1.0/identity/conditionalAccess/policies` and `/namedLocations` (Graph's shapes, parsed and
//! rendered by `wire::graph::conditional_access`; decided by `core::ops::conditional_access`).

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::graph_rules::{Access, Area};
use castellan_core::model::{PolicyDocument, PolicyDocumentKind};
use castellan_core::ops::conditional_access as ops;
use castellan_core::ObjectId;
use castellan_wire::errors::GraphError;
use castellan_wire::graph::conditional_access as w;
use castellan_wire::odata::EntitySpec;
use castellan_wire::time::graph_datetime;
use serde_json::Value;

use super::{created, json_body, list, no_content, store_err, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;
use castellan_core::ops::Entropy as _;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1.0/identity/conditionalAccess/policies",
            get(list_policies).post(create_policy),
        )
        .route(
            "/v1.0/identity/conditionalAccess/policies/{id}",
            get(get_policy).patch(update_policy).delete(delete_policy),
        )
        .route(
            "/v1.0/identity/conditionalAccess/evaluate",
            axum::routing::post(what_if),
        )
        .route(
            "/v1.0/identity/conditionalAccess/replay",
            axum::routing::post(replay),
        )
        .route(
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            get(get_security_defaults).patch(patch_security_defaults),
        )
        .route(
            "/v1.0/identity/conditionalAccess/namedLocations",
            get(list_locations).post(create_location),
        )
        .route(
            "/v1.0/identity/conditionalAccess/namedLocations/{id}",
            get(get_location)
                .patch(update_location)
                .delete(delete_location),
        )
}

fn spec(kind: &str) -> EntitySpec {
    EntitySpec::new(
        kind,
        &[
            "id",
            "displayName",
            "state",
            "createdDateTime",
            "modifiedDateTime",
            "conditions",
            "grantControls",
            "sessionControls",
            "isTrusted",
            "ipRanges",
            "countriesAndRegions",
        ],
        &["displayName", "id", "state", "createdDateTime"],
        "id",
    )
}

fn doc_json(c: &Caller, d: &PolicyDocument) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_str(&d.document).map_err(|e| {
        c.err(GraphError::unavailable(format!(
            "stored policy {} is unreadable: {e}",
            d.id
        )))
    })?;
    v["createdDateTime"] = Value::String(graph_datetime(d.created));
    v["modifiedDateTime"] = Value::String(graph_datetime(d.modified));
    Ok(v)
}

async fn docs(
    s: &AppState,
    c: &Caller,
    kind: PolicyDocumentKind,
) -> Result<Vec<PolicyDocument>, ApiError> {
    s.store
        .policy_documents(c.tenant.id, kind)
        .await
        .map_err(store_err(c))
}

fn find<'a>(
    c: &Caller,
    all: &'a [PolicyDocument],
    id: &str,
) -> Result<&'a PolicyDocument, ApiError> {
    all.iter()
        .find(|d| d.id.to_string().eq_ignore_ascii_case(id.trim()))
        .ok_or_else(|| c.err(GraphError::not_found(format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))))
}

fn allow_lockout(uri: &axum::http::Uri) -> bool {
    super::query_pairs(uri)
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("allowAdministratorLockout") && v == "true")
}

async fn list_policies(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Read)?;
    let all = docs(&s, &c, PolicyDocumentKind::ConditionalAccessPolicy).await?;
    let items = all
        .iter()
        .map(|d| doc_json(&c, d))
        .collect::<Result<Vec<_>, _>>()?;
    list(
        &c,
        &uri,
        &headers,
        &spec("microsoft.graph.conditionalAccessPolicy"),
        "identity/conditionalAccess/policies",
        items,
    )
}

async fn get_policy(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Read)?;
    let all = docs(&s, &c, PolicyDocumentKind::ConditionalAccessPolicy).await?;
    Ok(Json(doc_json(&c, find(&c, &all, &id)?)?).into_response())
}

async fn save_policy(
    s: &AppState,
    c: &Caller,
    body: &Value,
    id: ObjectId,
    uri: &axum::http::Uri,
    previous: Option<&PolicyDocument>,
) -> Result<PolicyDocument, ApiError> {
    let policy = w::parse_policy(body, id).map_err(|e| c.err(e))?;
    let document = w::render_policy(&policy, "", "").to_string();
    // The stored version an update replaces (the ids it already names may stay).
    let previous = previous
        .and_then(|d| serde_json::from_str::<Value>(&d.document).ok())
        .and_then(|v| w::parse_policy(&v, id).ok());
    let mut ent = OsEntropy;
    ops::put_policy(
        &mut c.env(s, &mut ent),
        &c.tenant,
        &policy,
        previous.as_ref(),
        document,
        allow_lockout(uri),
    )
    .await
    .map_err(|e| c.err(e))
}

async fn create_policy(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Write)?;
    let v = json_body(&c, &body)?;
    let id = ObjectId::from_random(OsEntropy.bytes16());
    let d = save_policy(&s, &c, &v, id, &uri, None).await?;
    Ok(created(
        format!("{}/identity/conditionalAccess/policies/{}", c.base, d.id),
        doc_json(&c, &d)?,
    ))
}

async fn update_policy(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Write)?;
    let patch = json_body(&c, &body)?;
    let all = docs(&s, &c, PolicyDocumentKind::ConditionalAccessPolicy).await?;
    let old = find(&c, &all, &id)?;
    let mut merged: Value = serde_json::from_str(&old.document).unwrap_or(Value::Null);
    w::merge(&mut merged, &patch);
    save_policy(&s, &c, &merged, old.id, &uri, Some(old)).await?;
    Ok(no_content())
}

async fn delete_policy(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Write)?;
    let all = docs(&s, &c, PolicyDocumentKind::ConditionalAccessPolicy).await?;
    let d = find(&c, &all, &id)?;
    let mut ent = OsEntropy;
    ops::delete_document(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        PolicyDocumentKind::ConditionalAccessPolicy,
        d.id,
        &[],
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn list_locations(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Read)?;
    let all = docs(&s, &c, PolicyDocumentKind::NamedLocation).await?;
    let items = all
        .iter()
        .map(|d| doc_json(&c, d))
        .collect::<Result<Vec<_>, _>>()?;
    list(
        &c,
        &uri,
        &headers,
        &spec("microsoft.graph.namedLocation"),
        "identity/conditionalAccess/namedLocations",
        items,
    )
}

async fn get_location(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Read)?;
    let all = docs(&s, &c, PolicyDocumentKind::NamedLocation).await?;
    Ok(Json(doc_json(&c, find(&c, &all, &id)?)?).into_response())
}

async fn save_location(
    s: &AppState,
    c: &Caller,
    body: &Value,
    id: ObjectId,
) -> Result<PolicyDocument, ApiError> {
    let l = w::parse_named_location(body, id).map_err(|e| c.err(e))?;
    let document = w::render_named_location(&l, "", "").to_string();
    let mut ent = OsEntropy;
    ops::put_named_location(&mut c.env(s, &mut ent), &c.tenant, &l, document)
        .await
        .map_err(|e| c.err(e))
}

async fn create_location(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Write)?;
    let v = json_body(&c, &body)?;
    let id = ObjectId::from_random(OsEntropy.bytes16());
    let d = save_location(&s, &c, &v, id).await?;
    Ok(created(
        format!(
            "{}/identity/conditionalAccess/namedLocations/{}",
            c.base, d.id
        ),
        doc_json(&c, &d)?,
    ))
}

async fn update_location(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Write)?;
    let patch = json_body(&c, &body)?;
    let all = docs(&s, &c, PolicyDocumentKind::NamedLocation).await?;
    let old = find(&c, &all, &id)?;
    let mut merged: Value = serde_json::from_str(&old.document).unwrap_or(Value::Null);
    w::merge(&mut merged, &patch);
    save_location(&s, &c, &merged, old.id).await?;
    Ok(no_content())
}

async fn delete_location(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Write)?;
    let all = docs(&s, &c, PolicyDocumentKind::NamedLocation).await?;
    let d = find(&c, &all, &id)?;
    let policies = docs(&s, &c, PolicyDocumentKind::ConditionalAccessPolicy).await?;
    // Stored documents are what `render_policy` wrote, so they parse.
    let used: Vec<String> = policies
        .iter()
        .filter(|p| {
            serde_json::from_str::<Value>(&p.document)
                .ok()
                .and_then(|v| w::parse_policy(&v, p.id).ok())
                .is_some_and(|policy| policy.uses_location(d.id))
        })
        .map(|p| format!("'{}'", p.display_name))
        .collect();
    let mut ent = OsEntropy;
    ops::delete_document(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        PolicyDocumentKind::NamedLocation,
        d.id,
        &used,
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(no_content())
}

/// What-If: evaluates the tenant's policies for a described sign-in without signing in.
/// Body: `userId` or `servicePrincipalId`, `appId` (client), `resource` (appId or URI),
/// `ipAddress`, `clientAppType`, `devicePlatform`, `signInRiskLevel`, `userRiskLevel`,
/// `deviceIsCompliant` (absent = no registered device), `mfaDone` (MFA already satisfied).
async fn what_if(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    use castellan_core::policy::{self as p, ClientAppType, DevicePlatform, RiskLevel};
    c.require(Area::ConditionalAccess, Access::Read)?;
    let v = json_body(&c, &body)?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let word =
        |k: &'static str, parse: fn(&str) -> Option<RiskLevel>| -> Result<RiskLevel, ApiError> {
            match text(k) {
                None => Ok(RiskLevel::None),
                Some(x) => p::parse_value(k, &x, parse)
                    .map_err(|e| c.err(GraphError::bad_request(e.to_string()))),
            }
        };
    let client_app_type = match text("clientAppType") {
        None => ClientAppType::Browser,
        Some(x) => p::parse_value("clientAppType", &x, ClientAppType::parse)
            .map_err(|e| c.err(GraphError::bad_request(e.to_string())))?,
    };
    let platform = match text("devicePlatform") {
        None => None,
        Some(x) => Some(
            p::parse_value("devicePlatform", &x, DevicePlatform::parse)
                .map_err(|e| c.err(GraphError::bad_request(e.to_string())))?,
        ),
    };
    let ip = text("ipAddress").unwrap_or_default();
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(c.err(GraphError::bad_request(format!(
            "ipAddress '{ip}' is not an IPv4 or IPv6 address."
        ))));
    }
    let app_id = text("appId").unwrap_or_default();
    let resource =
        text("resource").unwrap_or_else(|| "00000003-0000-0000-c000-000000000000".into());
    let now = crate::state::now();
    let d = if let Some(sp) = text("servicePrincipalId") {
        let sp = ObjectId::parse(&sp)
            .ok_or_else(|| c.err(GraphError::bad_request("servicePrincipalId is not a GUID.")))?;
        crate::ca::for_workload(&s, &c.tenant, sp, &app_id, &resource, &ip, now)
            .await
            .map_err(store_err(&c))?
    } else {
        let uid = text("userId").ok_or_else(|| {
            c.err(GraphError::bad_request(
                "Send userId (a user's id or UPN) or servicePrincipalId.",
            ))
        })?;
        let user = match ObjectId::parse(&uid) {
            Some(id) => s.store.user(c.tenant.id, id).await,
            None => s.store.user_by_upn(c.tenant.id, &uid).await,
        }
        .map_err(store_err(&c))?
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "No user '{uid}' in this tenant."
            )))
        })?;
        let device = match v.get("deviceIsCompliant").and_then(Value::as_bool) {
            None => p::DeviceState::None,
            Some(compliant) => p::DeviceState::Registered {
                is_compliant: compliant,
                trust_type: p::DeviceTrustType::AzureAd,
            },
        };
        let mfa_done = v.get("mfaDone").and_then(Value::as_bool).unwrap_or(false);
        crate::ca::for_user(
            &s,
            &c.tenant,
            &user,
            &crate::ca::UserSignIn {
                client_app_id: &app_id,
                resource: &resource,
                client_app_type,
                ip: &ip,
                satisfied: p::Satisfied {
                    password_at: Some(now),
                    mfa_at: mfa_done.then_some(now),
                    ..Default::default()
                },
                now,
                sign_in_risk: word("signInRiskLevel", RiskLevel::parse)?,
                user_risk: word("userRiskLevel", RiskLevel::parse)?,
                platform,
                device,
            },
        )
        .await
        .map_err(store_err(&c))?
    };
    let policies: Vec<Value> = d
        .applied
        .iter()
        .zip(d.reasons.iter())
        .map(|(a, why)| serde_json::json!({
            "id": a.id, "displayName": a.display_name, "result": a.result,
            "policyApplies": !matches!(a.result.as_str(), "notApplied" | "notEnabled" | "reportOnlyNotApplied"),
            "reason": why, "enforcedGrantControls": a.enforced_grant_controls, "enforcedSessionControls": a.enforced_session_controls,
        }))
        .collect();
    let outcome = match &d.error {
        None => "allow",
        Some(e) if e.code == 53003 => "block",
        Some(_) => "requireControls",
    };
    Ok(Json(serde_json::json!({
        "outcome": outcome,
        "conditionalAccessStatus": d.status,
        "errorCode": d.error.as_ref().map(|e| e.code),
        "message": d.error.as_ref().map(|e| format!("AADSTS{}: {}", e.code, e.message)),
        "value": policies,
    }))
    .into_response())
}

fn render_security_defaults(c: &Caller, on: bool) -> Value {
    use castellan_core::policy::security_defaults as sd;
    super::users::with_context(
        c,
        "policies/identitySecurityDefaultsEnforcementPolicy/$entity",
        serde_json::json!({
            "id": sd::ENFORCEMENT_POLICY_ID,
            "displayName": sd::DISPLAY_NAME,
            "description": sd::DESCRIPTION,
            "isEnabled": on,
        }),
    )
}

/// `GET /v1.0/policies/identitySecurityDefaultsEnforcementPolicy` (Policy.Read.All).
async fn get_security_defaults(c: Caller) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Read)?;
    Ok(Json(render_security_defaults(
        &c,
        c.tenant.settings.security_defaults,
    ))
    .into_response())
}

/// `PATCH /v1.0/policies/identitySecurityDefaultsEnforcementPolicy` `{"isEnabled": bool}`
/// (Policy.ReadWrite.ConditionalAccess). Turning it on is refused while a custom policy is
/// enabled. Answers 204 like Graph.
async fn patch_security_defaults(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::ConditionalAccess, Access::Write)?;
    let v = json_body(&c, &body)?;
    let bad = |m: String| c.err(GraphError::bad_request(m));
    let Some(obj) = v.as_object() else {
        return Err(bad(
            "The body must be a JSON object such as {\"isEnabled\": false}.".into(),
        ));
    };
    if let Some(k) = obj.keys().find(|k| k.as_str() != "isEnabled") {
        return Err(bad(format!(
            "Property '{k}' of identitySecurityDefaultsEnforcementPolicy cannot be changed; only isEnabled can."
        )));
    }
    let on = match obj.get("isEnabled") {
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(bad(
                "Send {\"isEnabled\": true} or {\"isEnabled\": false}.".into()
            ))
        }
    };
    let mut enabled = Vec::new();
    for d in docs(&s, &c, PolicyDocumentKind::ConditionalAccessPolicy).await? {
        let doc: Value = serde_json::from_str(&d.document).unwrap_or_default();
        if let Ok(p) = w::parse_policy(&doc, d.id) {
            if p.state == castellan_core::policy::PolicyState::Enabled {
                enabled.push(format!("'{}'", p.display_name));
            }
        }
    }
    let mut ent = OsEntropy;
    ops::set_security_defaults(&mut c.env(&s, &mut ent), &c.tenant, on, &enabled)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

/// `POST /v1.0/identity/conditionalAccess/replay` — a Castellan extension, not an Entra API.
/// Body: `{"policy": {<conditionalAccessPolicy>}}` or `{"policyId": "<stored policy>"}`, and
/// `days` (1–30, default 7). Replays the draft (as if enforced) over the tenant's user sign-ins
/// of those days (newest first, at most `replay::MAX_RECORDS`; `truncated` says when older ones
/// were left out) with the users' groups and roles as of now; stores nothing. The replay is
/// core's (`ops::conditional_access::replay`); this parses the request and renders the answer.
async fn replay(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    use castellan_core::policy::{self as p, replay as r};
    c.require(Area::ConditionalAccess, Access::Read)?;
    let v = json_body(&c, &body)?;
    let bad = |m: String| c.err(GraphError::bad_request(m));
    let days = match v.get("days") {
        None => 7,
        Some(d) => match d.as_u64() {
            Some(n) if (1..=u64::from(r::MAX_DAYS)).contains(&n) => n,
            _ => {
                return Err(bad(format!(
                    "days must be a whole number from 1 to {} (got {d}).",
                    r::MAX_DAYS
                )))
            }
        },
    };
    let draft = match (v.get("policy"), v.get("policyId").and_then(Value::as_str)) {
        (Some(_), Some(_)) => {
            return Err(bad("Send either policy (a draft) or policyId (a stored policy), not both.".into()))
        }
        (Some(doc), None) => {
            let id = ObjectId::parse(doc.get("id").and_then(Value::as_str).unwrap_or(""))
                .unwrap_or_else(|| ObjectId::from_random(OsEntropy.bytes16()));
            let d = w::parse_policy(doc, id).map_err(|e| {
                c.err(GraphError::bad_request(format!("policy: {}", e.message)))
            })?;
            p::validate(&d).map_err(|e| bad(format!("policy: {e}")))?;
            d
        }
        (None, Some(id)) => {
            let all = docs(&s, &c, PolicyDocumentKind::ConditionalAccessPolicy).await?;
            let d = find(&c, &all, id)?;
            let doc: Value = serde_json::from_str(&d.document).unwrap_or_default();
            w::parse_policy(&doc, d.id).map_err(|e| c.err(e))?
        }
        (None, None) => {
            return Err(bad(
                "Send policy (a conditionalAccessPolicy, e.g. the body you would POST to /identity/conditionalAccess/policies) or policyId (a stored policy's id), and days.".into(),
            ))
        }
    };
    let (_, locations) = crate::ca::load(&s, &c.tenant)
        .await
        .map_err(store_err(&c))?;
    let run = castellan_core::ops::conditional_access::replay(
        s.store.as_ref(),
        &c.tenant,
        &draft,
        &locations,
        u32::try_from(days).unwrap_or(r::MAX_DAYS),
        crate::state::now(),
    )
    .await
    .map_err(store_err(&c))?;
    let out = &run.outcome;
    let users_json = |list: &[r::UserImpact]| -> Vec<Value> {
        list.iter()
            .map(|u| {
                serde_json::json!({
                    "userId": u.user_id.to_string(),
                    "userPrincipalName": u.user_principal_name,
                    "signIns": u.sign_ins,
                    "controls": u.controls.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                    "examples": u.examples.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    Ok(Json(serde_json::json!({
        "policy": {"id": draft.id.to_string(), "displayName": draft.display_name, "state": draft.state.as_str()},
        "from": graph_datetime(run.from),
        "to": graph_datetime(run.to),
        "days": days,
        "evaluated": out.evaluated,
        "notApplied": out.not_applied,
        "satisfied": out.satisfied,
        "wouldBlock": users_json(&out.would_block),
        "wouldChallenge": users_json(&out.would_challenge),
        "cap": r::MAX_RECORDS,
        "truncated": run.truncated,
        "note": "Castellan extension (not an Entra API). Users' groups and roles are as of now; device, risk and completed MFA are not in the sign-in log, so an MFA requirement always counts as a challenge.",
    }))
    .into_response())
}
