//! Hygiene reports (Castellan extensions under `/v1.0/reports/castellan/`):
//! `expiringCredentials?days=30` (application secrets and certificates expiring within N days,
//! expired ones included; needs reading applications) and `unusedGrants?days=90` (delegated
//! grants and application permissions with no successful sign-in of their client to their
//! resource for N days; needs reading applications and sign-in logs). Decisions in
//! `core::report`, loading in `core::ops::reports`.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::graph_rules::{Access, Area};
use castellan_wire::errors::GraphError;
use serde_json::json;
use std::collections::HashMap;

use super::{store_err, ApiError, Caller};
use crate::state::AppState;

/// The longest window a report looks at.
const MAX_DAYS: u32 = 3650;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1.0/reports/castellan/expiringCredentials",
            get(expiring_credentials),
        )
        .route("/v1.0/reports/castellan/unusedGrants", get(unused_grants))
}

fn days(c: &Caller, q: &HashMap<String, String>, default: u32) -> Result<u32, ApiError> {
    match q.get("days") {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_DAYS).contains(&n) => Ok(n),
            _ => Err(c.err(GraphError::bad_request(format!(
                "days must be a whole number from 1 to {MAX_DAYS} (got '{v}')."
            )))),
        },
    }
}

async fn expiring_credentials(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let days = days(&c, &q, 30)?;
    let rows = castellan_core::ops::reports::expiring_credentials(
        s.store.as_ref(),
        &c.tenant,
        crate::state::now(),
        days,
    )
    .await
    .map_err(store_err(&c))?;
    let value: Vec<_> = rows
        .iter()
        .map(castellan_wire::report::render_credential)
        .collect();
    Ok(Json(json!({"days": days, "value": value})).into_response())
}

async fn unused_grants(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    c.require(Area::AuditLogs, Access::Read)?;
    let days = days(&c, &q, 90)?;
    let rows = castellan_core::ops::reports::unused_grants(
        s.store.as_ref(),
        &c.tenant,
        crate::state::now(),
        days,
    )
    .await
    .map_err(store_err(&c))?;
    let value: Vec<_> = rows
        .iter()
        .map(castellan_wire::report::render_unused)
        .collect();
    Ok(Json(json!({
        "days": days,
        "value": value,
        "note": "Castellan extension: use is a successful sign-in of the client to the resource in the sign-in log; a grant is reported when there was none in the window.",
    }))
    .into_response())
}
