//! OIDC discovery and JWKS.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::error::AadstsError;
use castellan_wire::{discovery, errors};

use super::{resolve_tenant, TenantRef};
use crate::http::host;
use crate::state::{now, AppState};

fn cacheable(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

fn tenant_error(segment: &str, status: StatusCode) -> Response {
    let e = AadstsError::tenant_not_found(segment);
    let id = uuid::Uuid::new_v4().to_string();
    (status, Json(errors::token_error_body(&e, &id, &id, now()))).into_response()
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let origin = s.origins.for_host(host(&headers));
    match resolve_tenant(s.store.as_ref(), &segment).await {
        Ok(TenantRef::Tenant(t)) => {
            let tid = t.id.to_string();
            cacheable(Json(discovery::openid_configuration(&origin, &tid, &tid)).into_response())
        }
        Ok(TenantRef::Alias(a)) => cacheable(
            Json(discovery::openid_configuration(&origin, a, "{tenantid}")).into_response(),
        ),
        Ok(TenantRef::Unknown) => tenant_error(&segment, StatusCode::BAD_REQUEST),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
        )
            .into_response(),
    }
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub async fn jwks(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let origin = s.origins.for_host(host(&headers));
    match resolve_tenant(s.store.as_ref(), &segment).await {
        Ok(TenantRef::Tenant(_) | TenantRef::Alias(_)) => {
            let keys = s.keys.published(now());
            cacheable(
                Json(discovery::jwks(
                    &keys,
                    &format!("{origin}/{{tenantid}}/v2.0"),
                ))
                .into_response(),
            )
        }
        Ok(TenantRef::Unknown) => tenant_error(&segment, StatusCode::BAD_REQUEST),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
        )
            .into_response(),
    }
}
