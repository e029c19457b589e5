//! The IMDS agent's HTTP side (`castellan imds`): `GET /metadata/identity/oauth2/token` in
//! Azure IMDS's shape (`Metadata: true`, `api-version=2018-02-01`), forwarded to the platform's
//! App Service–style identity endpoint with the resource's secret. It lives here, not in the
//! CLI, so the integration tests run the very router the binary serves.
//!
//! Like Azure's IMDS it refuses requests carrying `X-Forwarded-For` or `Forwarded`
//! (`castellan_wire::arm::imds_proxy_header`): a token endpoint that holds a resource's
//! credential must be reached from the machine itself, never relayed by a proxy on the host.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_wire::arm as w;
use serde_json::{json, Value};

/// What the agent forwards with.
pub struct ImdsAgent {
    /// Client for the platform's identity endpoint (trusting its CA).
    pub http: reqwest::Client,
    /// `IDENTITY_ENDPOINT`.
    pub endpoint: String,
    /// `IDENTITY_HEADER` (the resource's secret).
    pub header: String,
}

/// The agent's routes.
pub fn router(agent: ImdsAgent) -> Router {
    Router::new()
        .route("/metadata/identity/oauth2/token", get(token))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "not_found", "error_description": "Only /metadata/identity/oauth2/token is served by this agent."})),
            )
        })
        .with_state(Arc::new(agent))
}

/// How the agent answers the platform's refusal (upstream status): IMDS's status and error.
/// A 400 tells clients "no identity here" and they stop; a 5xx stays a 5xx (500) so they
/// retry; a rejected identity header is `unknown_source`.
pub fn imds_refusal(upstream: u16) -> (u16, &'static str) {
    let status = if (500..600).contains(&upstream) {
        500
    } else {
        400
    };
    let error = if upstream == 401 {
        "unknown_source"
    } else {
        "invalid_request"
    };
    (status, error)
}

fn err(status: StatusCode, e: &str, d: &str) -> Response {
    (status, Json(w::imds_error(e, d))).into_response()
}

async fn token(
    State(s): State<Arc<ImdsAgent>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(h) = w::imds_proxy_header(headers.keys().map(|k| k.as_str())) {
        return (StatusCode::BAD_REQUEST, Json(w::imds_proxied_error(h))).into_response();
    }
    if headers
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| !v.eq_ignore_ascii_case("true"))
    {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_request_102",
            "Required metadata header not specified",
        );
    }
    match q.get("api-version").map(String::as_str) {
        Some(v) if v.starts_with("20") => {}
        _ => {
            return err(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Required query variable 'api-version' is missing (use 2018-02-01).",
            )
        }
    }
    let Some(resource) = q.get("resource").filter(|r| !r.is_empty()) else {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'resource' is missing.",
        );
    };
    let mut url = match url::Url::parse(&s.endpoint) {
        Ok(u) => u,
        Err(e) => {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unknown",
                &format!(
                    "the agent's identity endpoint '{}' is not a URL: {e}",
                    s.endpoint
                ),
            )
        }
    };
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("api-version", "2019-08-01");
        pairs.append_pair("resource", resource);
        for (from, to) in [
            ("client_id", "client_id"),
            ("object_id", "principal_id"),
            ("msi_res_id", "mi_res_id"),
            ("mi_res_id", "mi_res_id"),
        ] {
            if let Some(v) = q.get(from).filter(|v| !v.is_empty()) {
                pairs.append_pair(to, v);
            }
        }
    }
    let r = match s
        .http
        .get(url)
        .header("X-IDENTITY-HEADER", &s.header)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unknown",
                &format!("the platform's identity endpoint did not answer: {e}"),
            )
        }
    };
    let status = r.status();
    let v: Value = match r.bytes().await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    if !status.is_success() {
        let msg = v["message"]
            .as_str()
            .unwrap_or("the platform refused the request");
        let (code, e) = imds_refusal(status.as_u16());
        return err(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            e,
            msg,
        );
    }
    let num = |k: &str| -> i64 { v[k].as_str().and_then(|x| x.parse().ok()).unwrap_or(0) };
    let now = crate::state::now().millis() / 1000;
    Json(w::imds_token(
        v["access_token"].as_str().unwrap_or(""),
        num("expires_on"),
        num("not_before"),
        now,
        resource,
        v["client_id"].as_str().unwrap_or(""),
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::imds_refusal;

    #[test]
    fn imds_keeps_server_errors_retryable_and_names_a_rejected_header() {
        for (up, want) in [
            (500, (500, "invalid_request")),
            (502, (500, "invalid_request")),
            (503, (500, "invalid_request")),
            (400, (400, "invalid_request")),
            (404, (400, "invalid_request")),
            (401, (400, "unknown_source")),
        ] {
            assert_eq!(imds_refusal(up), want, "upstream {up}");
        }
    }
}
