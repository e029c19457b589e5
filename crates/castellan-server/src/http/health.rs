//! `/healthz` (alive) and `/readyz` (store reachable, a signing key active).

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
    let store = s.store.ping().await;
    let keys = s.keys.ready(now());
    let ok = store.is_ok() && keys;
    let body = json!({
        "status": if ok { "ready" } else { "not ready" },
        "store": store.map_or_else(|e| e.to_string(), |_| "ok".into()),
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
