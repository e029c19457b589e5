//! `/healthz` (alive) and `/readyz` (store reachable, a signing key active; not ready at once
//! while the admission monitor finds the store down).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::{now, AppState};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
}

async fn ready(State(s): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    // Known down (the admission monitor): say so at once; else ask, for at most a second.
    let store = if s.admission.store_down() {
        Err("the store is not answering (checked every 100 ms)".to_string())
    } else {
        match tokio::time::timeout(std::time::Duration::from_secs(1), s.store.ping()).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("the store did not answer within 1 s".to_string()),
        }
    };
    let keys = s.keys.ready(now());
    let ok = store.is_ok() && keys;
    let body = json!({
        "status": if ok { "ready" } else { "not ready" },
        "store": store.map_or_else(|e| e, |()| "ok".into()),
        "signingKey": if keys { "ok" } else { "no active signing key" },
    });
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}
