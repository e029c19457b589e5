//! `/v1.0/identityProtection`: `riskDetections`, `riskyUsers` (+ `history`), and the
//! administrator's `dismiss` / `confirmCompromised` actions. Needs Microsoft Entra ID P2, as in
//! Entra. The records are kept by `castellan_core::ops::identity_protection`; this module
//! renders them.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::graph_rules::{Access, Area};
use castellan_core::policy::risky_user::{
    AdminAction, HistoryItem, RiskyUser, RiskyUserRecord, StoredDetection,
};
use castellan_core::ObjectId;
use castellan_wire::errors::GraphError;
use castellan_wire::graph::audit::render_location;
use castellan_wire::odata::EntitySpec;
use castellan_wire::time::graph_datetime;
use serde_json::{json, Value};

use super::{json_body, list, store_err, ApiError, Caller};
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1.0/identityProtection/riskDetections",
            get(risk_detections),
        )
        .route(
            "/v1.0/identityProtection/riskDetections/{id}",
            get(risk_detection),
        )
        .route("/v1.0/identityProtection/riskyUsers", get(risky_users))
        .route("/v1.0/identityProtection/riskyUsers/dismiss", post(dismiss))
        .route(
            "/v1.0/identityProtection/riskyUsers/confirmCompromised",
            post(confirm_compromised),
        )
        .route("/v1.0/identityProtection/riskyUsers/{id}", get(risky_user))
        .route(
            "/v1.0/identityProtection/riskyUsers/{id}/history",
            get(risky_user_history),
        )
}

const DETECTION_PROPERTIES: &[&str] = &[
    "id",
    "requestId",
    "correlationId",
    "riskEventType",
    "riskState",
    "riskLevel",
    "riskDetail",
    "source",
    "detectionTimingType",
    "activity",
    "tokenIssuerType",
    "ipAddress",
    "location",
    "activityDateTime",
    "detectedDateTime",
    "lastUpdatedDateTime",
    "userId",
    "userDisplayName",
    "userPrincipalName",
    "additionalInfo",
];

const RISKY_USER_PROPERTIES: &[&str] = &[
    "id",
    "isDeleted",
    "isProcessing",
    "riskLastUpdatedDateTime",
    "riskLevel",
    "riskState",
    "riskDetail",
    "userDisplayName",
    "userPrincipalName",
];

const HISTORY_PROPERTIES: &[&str] = &[
    "id",
    "isDeleted",
    "isProcessing",
    "riskLastUpdatedDateTime",
    "riskLevel",
    "riskState",
    "riskDetail",
    "userDisplayName",
    "userPrincipalName",
    "userId",
    "initiatedBy",
    "activity",
];

fn licensed(c: &Caller) -> Result<(), ApiError> {
    castellan_core::ops::conditional_access::identity_protection_licensed(c.tenant.license)
        .map_err(|e| c.err(GraphError::from(e)))
}

fn render_detection(user: ObjectId, doc: &RiskyUser, d: &StoredDetection) -> Value {
    json!({
        "id": d.id,
        "requestId": d.correlation_id,
        "correlationId": d.correlation_id,
        "riskEventType": d.kind.as_str(),
        "riskState": d.state.as_str(),
        "riskLevel": d.level.as_str(),
        "riskDetail": d.detail.as_str(),
        "source": "IdentityProtection",
        "detectionTimingType": d.kind.timing(),
        "activity": d.kind.activity(),
        "tokenIssuerType": "AzureAD",
        "ipAddress": d.ip,
        "location": render_location(&d.location),
        "activityDateTime": graph_datetime(d.at),
        "detectedDateTime": graph_datetime(d.at),
        "lastUpdatedDateTime": graph_datetime(d.updated),
        "userId": user.to_string(),
        "userDisplayName": doc.display_name,
        "userPrincipalName": doc.upn,
        // Graph carries this as a JSON array serialised into a string.
        "additionalInfo": json!([{"Key": "reason", "Value": d.reason}]).to_string(),
    })
}

fn render_risky_user(user: ObjectId, doc: &RiskyUser) -> Value {
    json!({
        "id": user.to_string(),
        "isDeleted": false,
        "isProcessing": false,
        "riskLastUpdatedDateTime": graph_datetime(doc.updated),
        "riskLevel": doc.level().as_str(),
        "riskState": doc.state.as_str(),
        "riskDetail": doc.detail.as_str(),
        "userDisplayName": doc.display_name,
        "userPrincipalName": doc.upn,
    })
}

fn render_history(user: ObjectId, doc: &RiskyUser, h: &HistoryItem) -> Value {
    let events: Vec<&str> = h.event_types.iter().map(|e| e.as_str()).collect();
    json!({
        "id": h.id,
        "isDeleted": false,
        "isProcessing": false,
        "riskLastUpdatedDateTime": graph_datetime(h.at),
        "riskLevel": h.level.as_str(),
        "riskState": h.state.as_str(),
        "riskDetail": h.detail.as_str(),
        "userDisplayName": doc.display_name,
        "userPrincipalName": doc.upn,
        "userId": user.to_string(),
        "initiatedBy": h.initiated_by.map(|i| i.to_string()),
        "activity": {"eventTypes": [], "riskEventTypes": events, "detail": h.detail.as_str()},
    })
}

async fn records(s: &AppState, c: &Caller) -> Result<Vec<RiskyUserRecord>, ApiError> {
    Ok(s.store
        .risky_users(c.tenant.id)
        .await
        .map_err(store_err(c))?
        .into_iter()
        .filter(|r| r.user.is_risky())
        .collect())
}

/// `GET /identityProtection/riskDetections` (newest first; `$filter` on any rendered property,
/// e.g. `userId eq '…'` or `riskEventType eq 'impossibleTravel'`).
async fn risk_detections(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::RiskDetections, Access::Read)?;
    licensed(&c)?;
    let mut all: Vec<(i64, Value)> = Vec::new();
    for r in records(&s, &c).await? {
        for d in &r.user.detections {
            all.push((d.at.millis(), render_detection(r.user_id, &r.user, d)));
        }
    }
    all.sort_by_key(|d| std::cmp::Reverse(d.0));
    let spec = EntitySpec::new(
        "microsoft.graph.riskDetection",
        DETECTION_PROPERTIES,
        &["activityDateTime", "detectedDateTime", "riskLevel"],
        "id",
    );
    list(
        &c,
        &uri,
        &headers,
        &spec,
        "identityProtection/riskDetections",
        all.into_iter().map(|(_, v)| v).collect(),
    )
}

/// `GET /identityProtection/riskDetections/{id}`.
async fn risk_detection(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::RiskDetections, Access::Read)?;
    licensed(&c)?;
    for r in records(&s, &c).await? {
        if let Some(d) = r
            .user
            .detections
            .iter()
            .find(|d| d.id.eq_ignore_ascii_case(&id))
        {
            let mut v = render_detection(r.user_id, &r.user, d);
            v["@odata.context"] = json!(format!(
                "{}/$metadata#identityProtection/riskDetections/$entity",
                c.base
            ));
            return Ok(Json(v).into_response());
        }
    }
    Err(c.err(GraphError::not_found(format!(
        "No risk detection with id '{id}' in this tenant."
    ))))
}

fn risky_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.riskyUser",
        RISKY_USER_PROPERTIES,
        &["riskLastUpdatedDateTime", "riskLevel", "userPrincipalName"],
        "id",
    )
}

/// `GET /identityProtection/riskyUsers`: users Identity Protection has a record of (most
/// recently updated first).
async fn risky_users(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::RiskyUsers, Access::Read)?;
    licensed(&c)?;
    let items = records(&s, &c)
        .await?
        .iter()
        .map(|r| render_risky_user(r.user_id, &r.user))
        .collect();
    list(
        &c,
        &uri,
        &headers,
        &risky_spec(),
        "identityProtection/riskyUsers",
        items,
    )
}

async fn one(s: &AppState, c: &Caller, id: &str) -> Result<(ObjectId, RiskyUser), ApiError> {
    let not_found = || {
        c.err(GraphError::not_found(format!(
            "No risky user with id '{id}' in this tenant."
        )))
    };
    let uid = ObjectId::parse(id).ok_or_else(not_found)?;
    let r = s
        .store
        .risky_user(c.tenant.id, uid)
        .await
        .map_err(store_err(c))?
        .ok_or_else(not_found)?;
    if !r.user.is_risky() {
        return Err(not_found());
    }
    Ok((uid, r.user))
}

/// `GET /identityProtection/riskyUsers/{id}`.
async fn risky_user(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::RiskyUsers, Access::Read)?;
    licensed(&c)?;
    let (uid, doc) = one(&s, &c, &id).await?;
    let mut v = render_risky_user(uid, &doc);
    v["@odata.context"] = json!(format!(
        "{}/$metadata#identityProtection/riskyUsers/$entity",
        c.base
    ));
    Ok(Json(v).into_response())
}

/// `GET /identityProtection/riskyUsers/{id}/history` (newest first).
async fn risky_user_history(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::RiskyUsers, Access::Read)?;
    licensed(&c)?;
    let (uid, doc) = one(&s, &c, &id).await?;
    let items = doc
        .history
        .iter()
        .rev()
        .map(|h| render_history(uid, &doc, h))
        .collect();
    let spec = EntitySpec::new(
        "microsoft.graph.riskyUserHistoryItem",
        HISTORY_PROPERTIES,
        &["riskLastUpdatedDateTime"],
        "id",
    );
    list(
        &c,
        &uri,
        &headers,
        &spec,
        &format!("identityProtection/riskyUsers('{uid}')/history"),
        items,
    )
}

/// At most this many users per `dismiss` / `confirmCompromised` call (Graph's limit).
pub const MAX_USER_IDS: usize = 60;

async fn act(
    s: &AppState,
    c: &Caller,
    body: &Bytes,
    action: AdminAction,
) -> Result<Response, ApiError> {
    c.require(Area::RiskyUsers, Access::Write)?;
    licensed(c)?;
    let v = json_body(c, body)?;
    let shape = || {
        c.err(GraphError::bad_request(
            "The body must be {\"userIds\": [\"<user object id>\", ...]} with 1 to 60 user ids.",
        ))
    };
    let ids = v
        .as_object()
        .and_then(|o| o.get("userIds"))
        .and_then(Value::as_array)
        .ok_or_else(shape)?;
    if ids.is_empty() || ids.len() > MAX_USER_IDS {
        return Err(shape());
    }
    // Every id is checked before anything changes.
    let mut users = Vec::with_capacity(ids.len());
    for id in ids {
        let text = id.as_str().ok_or_else(shape)?;
        let uid = ObjectId::parse(text).ok_or_else(|| {
            c.err(GraphError::bad_request(format!(
                "'{text}' in userIds is not a user object id (a GUID)."
            )))
        })?;
        let user = s
            .store
            .user(c.tenant.id, uid)
            .await
            .map_err(store_err(c))?
            .ok_or_else(|| {
                c.err(GraphError::not_found(format!(
                    "No user with id '{uid}' in this tenant; nothing was changed."
                )))
            })?;
        if !users
            .iter()
            .any(|u: &castellan_core::model::User| u.id == user.id)
        {
            users.push(user);
        }
    }
    let mut entropy = crate::crypto::OsEntropy;
    let mut env = c.env(s, &mut entropy);
    // Each user's risk change and its audit record commit together (one transaction each).
    castellan_core::ops::identity_protection::admin_action(&mut env, &c.tenant, &users, action)
        .await
        .map_err(store_err(c))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /identityProtection/riskyUsers/dismiss` `{"userIds": [...]}` → 204.
async fn dismiss(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    act(&s, &c, &body, AdminAction::Dismiss).await
}

/// `POST /identityProtection/riskyUsers/confirmCompromised` `{"userIds": [...]}` → 204.
async fn confirm_compromised(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    act(&s, &c, &body, AdminAction::ConfirmCompromised).await
}
