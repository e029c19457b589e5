//! The platform operator's API (`/operator/v1/...`), guarded by the operator credential
//! generated at first start into `<data-dir>/operator.key` (0600). Tenants are created here,
//! never through Graph.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::audit::Actor;
use castellan_core::model::LicenseTier;
use castellan_core::ops::tenants::{self, NewTenant};
use castellan_core::ops::Env;
use castellan_core::secret::SecretText;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::crypto::{random_secret, OsEntropy};
use crate::http::{host, CorrelationId};
use crate::state::{now, AppState};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/operator/v1/tenants", get(list).post(create))
        .route("/operator/v1/keys/rotate", post(rotate))
        .route(
            "/operator/v1/tenants/{id}/signInSettings",
            axum::routing::patch(sign_in_settings),
        )
        .route(
            "/operator/v1/tenants/{id}/licenses",
            get(list_licenses).put(set_license),
        )
}

#[allow(clippy::result_large_err)]
async fn find_tenant(s: &AppState, id: &str) -> Result<castellan_core::model::Tenant, Response> {
    let tenant = match castellan_core::TenantId::parse(id) {
        Some(t) => s.store.tenant(t).await,
        None => s.store.tenant_by_domain(id).await,
    };
    match tenant {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(err(
            StatusCode::NOT_FOUND,
            "TenantNotFound",
            format!("No tenant '{id}' (use its GUID or a domain)."),
        )),
        Err(e) => Err(err(
            StatusCode::SERVICE_UNAVAILABLE,
            "StoreUnavailable",
            e.to_string(),
        )),
    }
}

fn render_subscriptions(l: &castellan_core::ops::licenses::Licensing) -> Value {
    Value::Array(
        l.subscriptions
            .iter()
            .map(|sub| {
                let sku = sub.sku();
                json!({
                    "sku": sku.map_or("", |k| k.short),
                    "skuId": sub.sku_id,
                    "skuPartNumber": sku.map_or("", |k| k.part_number),
                    "enabled": sub.enabled,
                    "suspended": sub.suspended,
                    "warning": sub.warning,
                    "capabilityStatus": sub.capability_status(),
                    "consumedUnits": l.view.consumed.get(&sub.sku_id).copied().unwrap_or(0),
                    "assignedUnits": l.view.assigned.get(&sub.sku_id).copied().unwrap_or(0),
                })
            })
            .collect(),
    )
}

/// `GET /operator/v1/tenants/{id}/licenses`: the tenant's subscriptions and tier.
async fn list_licenses(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let tenant = match find_tenant(&s, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    match castellan_core::ops::licenses::load(s.store.as_ref(), &tenant).await {
        Ok(l) => Json(json!({"tenantId": tenant.id.to_string(), "license": tenant.license.as_str(), "subscriptions": render_subscriptions(&l)})).into_response(),
        Err(e) => err(StatusCode::SERVICE_UNAVAILABLE, "StoreUnavailable", e.to_string()),
    }
}

/// `PUT /operator/v1/tenants/{id}/licenses` `{sku: P1|P2|GOVERNANCE, units, suspended?,
/// warning?}`: sets a subscription's prepaid units; the tenant's tier follows.
async fn set_license(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::extract::Extension(CorrelationId(cid)): axum::extract::Extension<CorrelationId>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let usage = "The body must be JSON: {\"sku\": \"P1|P2|GOVERNANCE\", \"units\": 25, \"suspended\": 0, \"warning\": 0}.";
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&body) else {
        return err(StatusCode::BAD_REQUEST, "BadRequest", usage);
    };
    let known = ["sku", "units", "suspended", "warning"];
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return err(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Unknown property '{k}'. Known: {}.", known.join(", ")),
        );
    }
    let Some(sku) = o
        .get("sku")
        .and_then(Value::as_str)
        .and_then(castellan_core::licenses::sku_by_name)
    else {
        return err(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("sku must be one of P1 (AAD_PREMIUM), P2 (AAD_PREMIUM_P2), GOVERNANCE (Microsoft_Entra_ID_Governance). {usage}"),
        );
    };
    let num = |k: &str, required: bool| -> Result<u32, String> {
        match o.get(k) {
            None if !required => Ok(0),
            Some(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("{k} must be a whole number from 0 to 1000000.")),
            None => Err(format!("{k} is required. {usage}")),
        }
    };
    let (units, suspended, warning) = match (
        num("units", true),
        num("suspended", false),
        num("warning", false),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(m), _, _) | (_, Err(m), _) | (_, _, Err(m)) => {
            return err(StatusCode::BAD_REQUEST, "BadRequest", m)
        }
    };
    let tenant = match find_tenant(&s, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut ent = OsEntropy;
    let mut env = Env {
        store: s.store.as_ref(),
        now: now(),
        entropy: &mut ent,
        hasher: &s.hasher,
        actor: Actor::Operator,
        correlation_id: cid,
    };
    match castellan_core::ops::licenses::set_units(&mut env, &tenant, sku, units, suspended, warning).await {
        Ok((t, _)) => match castellan_core::ops::licenses::load(s.store.as_ref(), &t).await {
            Ok(l) => Json(json!({"tenantId": t.id.to_string(), "license": t.license.as_str(), "subscriptions": render_subscriptions(&l)})).into_response(),
            Err(e) => err(StatusCode::SERVICE_UNAVAILABLE, "StoreUnavailable", e.to_string()),
        },
        Err(castellan_core::DirectoryError::Unavailable(m)) => err(StatusCode::SERVICE_UNAVAILABLE, "StoreUnavailable", m),
        Err(e) => err(StatusCode::BAD_REQUEST, "BadRequest", e.to_string()),
    }
}

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

/// Checks the operator credential (`Authorization: Bearer <operator key>`).
#[allow(clippy::result_large_err)]
pub fn authorize(s: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| SecretText::new(t.trim()));
    match presented {
        Some(t) if bool::from(t.sha256().ct_eq(&s.operator_key_sha256)) => Ok(()),
        Some(_) => Err(err(StatusCode::UNAUTHORIZED, "InvalidOperatorCredential", "The operator credential is wrong. Use the contents of <data-dir>/operator.key.")),
        None => Err(err(StatusCode::UNAUTHORIZED, "MissingOperatorCredential", "Send 'Authorization: Bearer <operator key>' (the contents of <data-dir>/operator.key).")),
    }
}

async fn list(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    match s.store.tenants().await {
        Ok(ts) => Json(json!({"value": ts.iter().map(|t| json!({
            "tenantId": t.id.to_string(), "displayName": t.display_name, "domain": t.initial_domain(), "license": t.license.as_str(),
        })).collect::<Vec<_>>()}))
        .into_response(),
        Err(e) => err(StatusCode::SERVICE_UNAVAILABLE, "StoreUnavailable", e.to_string()),
    }
}

/// `POST /operator/v1/tenants` `{name, displayName?, adminUpn, adminPassword?, license?}`.
async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::Extension(CorrelationId(cid)): axum::extract::Extension<CorrelationId>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return err(StatusCode::BAD_REQUEST, "BadRequest", "The body must be JSON: {\"name\": \"contoso\", \"adminUpn\": \"admin\", \"adminPassword\": \"...\", \"license\": \"P2\"}.");
    };
    let known = [
        "name",
        "displayName",
        "adminUpn",
        "adminPassword",
        "license",
    ];
    if let Some(k) = v
        .as_object()
        .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
    {
        return err(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Unknown property '{k}'. Known: {}.", known.join(", ")),
        );
    }
    let get = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(name) = get("name") else {
        return err(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Property 'name' is required.",
        );
    };
    let license = match get("license") {
        None => LicenseTier::P2,
        Some(l) => match LicenseTier::parse(&l) {
            Some(l) => l,
            None => {
                return err(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("license '{l}' is not valid: use Free, P1 or P2."),
                )
            }
        },
    };
    let (password, generated) = match get("adminPassword") {
        Some(p) => (p, false),
        None => (format!("Cs1!{}", random_secret()), true),
    };
    let req = NewTenant {
        name,
        display_name: get("displayName"),
        domain_suffix: s.config.domain_suffix.clone(),
        license,
        admin_upn: get("adminUpn").unwrap_or_else(|| "admin".into()),
        admin_password: password.clone(),
    };
    let mut ent = OsEntropy;
    let mut env = Env {
        store: s.store.as_ref(),
        now: now(),
        entropy: &mut ent,
        hasher: &s.hasher,
        actor: Actor::Operator,
        correlation_id: cid,
    };
    match tenants::create(&mut env, req).await {
        Ok(c) => {
            let origin = s.origins.for_host(host(&headers));
            tracing::info!(tenant = %c.tenant.id, domain = c.tenant.initial_domain(), "tenant created");
            (
                StatusCode::CREATED,
                Json(json!({
                    "tenantId": c.tenant.id.to_string(),
                    "displayName": c.tenant.display_name,
                    "domain": c.tenant.initial_domain(),
                    "license": c.tenant.license.as_str(),
                    "securityDefaults": c.tenant.settings.security_defaults,
                    "authority": format!("{origin}/{}", c.tenant.id),
                    "admin": {"id": c.admin.id.to_string(), "upn": c.admin.user_principal_name, "password": if generated { Some(password) } else { None }},
                })),
            )
                .into_response()
        }
        Err(e) => {
            let (status, code) = match &e {
                castellan_core::DirectoryError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
                castellan_core::DirectoryError::Unavailable(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "StoreUnavailable")
                }
                _ => (StatusCode::BAD_REQUEST, "BadRequest"),
            };
            err(status, code, e.to_string())
        }
    }
}

/// `POST /operator/v1/keys/rotate` `{activateAfterSeconds?}`: publishes a new signing key now,
/// signing with it after the delay (default one hour, for validators that cache the JWKS; 0 is
/// allowed, and then the key still waits `PROPAGATION_SECS` so that every node publishes it
/// before any node signs with it). `activeFrom` is when it takes over.
async fn rotate(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let after = v
        .get("activateAfterSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    if !(0..=30 * 24 * 3600).contains(&after) {
        return err(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "activateAfterSeconds must be between 0 and 2592000.",
        );
    }
    let at = now();
    match s.keys.add(s.store.as_ref(), at, at.plus_secs(after)).await {
        Ok(kid) => {
            let from = at.plus_secs(after.max(castellan_core::model::PROPAGATION_SECS));
            Json(json!({"kid": kid, "activeFrom": castellan_wire::time::graph_datetime(from)}))
                .into_response()
        }
        Err(e) => err(
            StatusCode::SERVICE_UNAVAILABLE,
            "KeyRotationFailed",
            e.to_string(),
        ),
    }
}

/// `PATCH /operator/v1/tenants/{id}/signInSettings` `{hideAccountExistence?, lockoutThreshold?}`.
async fn sign_in_settings(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::extract::Extension(CorrelationId(cid)): axum::extract::Extension<CorrelationId>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return err(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The body must be JSON: {\"hideAccountExistence\": true, \"lockoutThreshold\": 10}.",
        );
    };
    let known = [
        "hideAccountExistence",
        "lockoutThreshold",
        "accessTokenLifetimeSeconds",
    ];
    if let Some(k) = v
        .as_object()
        .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
    {
        return err(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Unknown property '{k}'. Known: {}.", known.join(", ")),
        );
    }
    let hide = match v.get("hideAccountExistence") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return err(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "hideAccountExistence must be true or false.",
            )
        }
    };
    let threshold = match v.get("lockoutThreshold") {
        None => None,
        Some(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                return err(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "lockoutThreshold must be a whole number from 1 to 100.",
                )
            }
        },
    };
    let lifetime = match v.get("accessTokenLifetimeSeconds") {
        None => None,
        Some(n) => match n.as_i64() {
            Some(n) => Some(n),
            None => {
                return err(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "accessTokenLifetimeSeconds must be a whole number of seconds (600-86400).",
                )
            }
        },
    };
    let tenant = match castellan_core::TenantId::parse(&id) {
        Some(t) => s.store.tenant(t).await,
        None => s.store.tenant_by_domain(&id).await,
    };
    let tenant = match tenant {
        Ok(Some(t)) => t,
        Ok(None) => {
            return err(
                StatusCode::NOT_FOUND,
                "TenantNotFound",
                format!("No tenant '{id}' (use its GUID or a domain)."),
            )
        }
        Err(e) => {
            return err(
                StatusCode::SERVICE_UNAVAILABLE,
                "StoreUnavailable",
                e.to_string(),
            )
        }
    };
    let mut ent = OsEntropy;
    let mut env = Env {
        store: s.store.as_ref(),
        now: now(),
        entropy: &mut ent,
        hasher: &s.hasher,
        actor: Actor::Operator,
        correlation_id: cid,
    };
    let req = tenants::SignInSettings {
        hide_account_existence: hide,
        lockout_threshold: threshold,
        access_token_lifetime_secs: lifetime,
        user_consent: None,
        admin_consent_workflow: None,
        users_can_create_apps: None,
        ..Default::default()
    };
    match tenants::update_sign_in_settings(&mut env, &tenant, &req).await {
        Ok(t) => Json(json!({"tenantId": t.id.to_string(), "hideAccountExistence": t.settings.hide_account_existence, "lockoutThreshold": t.settings.lockout_threshold, "accessTokenLifetimeSeconds": t.settings.access_token_lifetime_secs})).into_response(),
        Err(castellan_core::DirectoryError::BadRequest(m)) => err(StatusCode::BAD_REQUEST, "BadRequest", m),
        Err(castellan_core::DirectoryError::Conflict(m)) => err(StatusCode::CONFLICT, "Conflict", m),
        Err(e) => err(StatusCode::SERVICE_UNAVAILABLE, "StoreUnavailable", e.to_string()),
    }
}
