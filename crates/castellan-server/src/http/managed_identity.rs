//! The managed-identity token endpoint in App Service's form: `GET /msi/token?api-version=2019-08-01
//! &resource=…[&client_id=|&principal_id=|&object_id=|&mi_res_id=]` with the resource's secret in
//! `X-IDENTITY-HEADER` (what `castellan resource env` prints as IDENTITY_ENDPOINT/IDENTITY_HEADER).
//! The IMDS form is served by the `castellan imds` agent, which forwards here.

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::ops::managed_identity::{self, MiError, Selector};
use castellan_wire::arm as w;
use castellan_wire::claims;

use crate::crypto::random_token;
use crate::http::{host, CorrelationId};
use crate::state::{now, AppState};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/msi/token", get(token))
}

fn fail(status: StatusCode, message: &str, cid: &str) -> Response {
    (
        status,
        Json(w::app_service_error(status.as_u16(), message, cid)),
    )
        .into_response()
}

async fn token(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    axum::Extension(cid): axum::Extension<CorrelationId>,
) -> Response {
    let cid = cid.0;
    let q = crate::http::graph::query_pairs(&uri);
    let p = |n: &str| {
        q.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    match p("api-version").as_deref() {
        Some("2019-08-01") => {}
        Some(v) => {
            return fail(
                StatusCode::BAD_REQUEST,
                &format!("api-version '{v}' is not supported here; use 2019-08-01 (IDENTITY_ENDPOINT + IDENTITY_HEADER)."),
                &cid,
            )
        }
        None => {
            return fail(
                StatusCode::BAD_REQUEST,
                "The api-version query parameter is required (api-version=2019-08-01).",
                &cid,
            )
        }
    }
    let Some(secret) = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "The X-IDENTITY-HEADER header is required: send the IDENTITY_HEADER value the platform gave this workload.",
            &cid,
        );
    };
    let Some(resource) = p("resource").map(|r| {
        castellan_core::flow::scope::canonical_graph_resource(&r, &s.origins.graph_bases())
    }) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "The 'resource' parameter is required (e.g. resource=https://management.azure.com/).",
            &cid,
        );
    };
    let ids: Vec<Selector> = [
        p("client_id").map(Selector::ClientId),
        p("principal_id").map(Selector::PrincipalId),
        p("object_id").map(Selector::PrincipalId),
        p("mi_res_id").map(Selector::ResourceId),
        p("msi_res_id").map(Selector::ResourceId),
    ]
    .into_iter()
    .flatten()
    .collect();
    if ids.len() > 1 {
        return fail(
            StatusCode::BAD_REQUEST,
            "Pass at most one of client_id, principal_id, object_id, mi_res_id.",
            &cid,
        );
    }
    let selector = ids.into_iter().next().unwrap_or(Selector::SystemAssigned);
    let at = now();
    match managed_identity::token(
        s.store.as_ref(),
        secret,
        &selector,
        &resource,
        at,
        random_token(16),
    )
    .await
    {
        Ok(c) => {
            let origin = s.origins.for_host(host(&headers));
            let iss = claims::issuer(&origin, &c.tid.to_string());
            let payload = claims::access_token_payload(&c, &iss);
            match s.keys.sign_jwt(&payload, at) {
                Ok(jwt) => {
                    tracing::info!(client_id = %c.azp, "managed identity token issued");
                    let mut r = Json(w::app_service_token(
                        &jwt,
                        c.exp.secs(),
                        c.nbf.secs(),
                        &resource,
                        &c.azp,
                    ))
                    .into_response();
                    r.headers_mut().insert(
                        axum::http::header::CACHE_CONTROL,
                        axum::http::HeaderValue::from_static("no-store"),
                    );
                    r
                }
                Err(e) => fail(StatusCode::SERVICE_UNAVAILABLE, &e, &cid),
            }
        }
        Err(MiError::Unauthorized(m)) => fail(StatusCode::UNAUTHORIZED, &m, &cid),
        Err(MiError::NoIdentity(m)) | Err(MiError::BadRequest(m)) => {
            fail(StatusCode::BAD_REQUEST, &m, &cid)
        }
        Err(MiError::Token(e)) => fail(
            StatusCode::BAD_REQUEST,
            &format!("AADSTS{}: {}", e.code, e.message),
            &cid,
        ),
        Err(MiError::Store(e)) => fail(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), &cid),
    }
}
