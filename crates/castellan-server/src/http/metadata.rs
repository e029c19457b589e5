//! `GET /metadata/endpoints?api-version=…`: ARM's cloud metadata document (shapes in
//! `castellan_wire::cloud_metadata`), unauthenticated as in Azure. With it one
//! `az cloud register -n Castellan --endpoint-resource-manager https://host:port` (or
//! Terraform's `metadata_host`, `Add-AzEnvironment -ARMEndpoint`) configures a client.

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::ops::arm::ArmError;
use castellan_wire::cloud_metadata::{self, CloudEndpoints};

use crate::http::host;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/metadata/endpoints", get(endpoints))
}

async fn endpoints(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let version = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
            .map(|(_, v)| v.into_owned())
    });
    let origin = s.origins.for_host(host(&headers));
    let graph_base = s.origins.graph_base(&origin);
    let e = CloudEndpoints {
        origin: &origin,
        graph_base: &graph_base,
    };
    let err = |e: ArmError| {
        (
            StatusCode::BAD_REQUEST,
            Json(castellan_wire::arm::error_body(&e)),
        )
            .into_response()
    };
    match version.as_deref().filter(|v| !v.is_empty()) {
        None => err(castellan_core::error::Code::ArmMissingApiVersionParameterMetadata.arm(&[])),
        Some(v) => match cloud_metadata::render(&e, v) {
            Some(doc) => Json(doc).into_response(),
            None => err(
                castellan_core::error::Code::ArmInvalidApiVersionParameter.arm(&[
                    ("version", &v),
                    ("supported", &cloud_metadata::API_VERSIONS.join(",")),
                ]),
            ),
        },
    }
}
