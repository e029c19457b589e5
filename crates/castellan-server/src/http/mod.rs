//! HTTP: routers mirroring URL paths, request ids, errors as responses.

pub mod arm;
pub mod bearer;
pub mod graph;
pub mod health;
pub mod identity;
pub mod managed_identity;
pub mod operator;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// The per-request correlation id: the client's `client-request-id` if it is a sane value,
/// else a fresh GUID. Handlers read it from the request extensions.
#[derive(Clone, Debug)]
pub struct CorrelationId(pub String);

/// The client's IP address (the TCP peer; proxies are not trusted).
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

async fn correlate(mut req: Request, next: Next) -> Response {
    let cid = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(CorrelationId(cid.clone()));
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "0.0.0.0".to_string(), |c| c.0.ip().to_string());
    req.extensions_mut().insert(ClientIp(ip));
    let span = tracing::info_span!("request", correlation_id = %cid, method = %req.method(), path = %req.uri().path());
    let mut res = tracing::Instrument::instrument(next.run(req), span).await;
    if let Ok(v) = HeaderValue::from_str(&cid) {
        res.headers_mut().insert("client-request-id", v.clone());
        res.headers_mut().insert("x-ms-request-id", v);
    }
    res.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// The `Host` header, for origin resolution.
pub fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get("host").and_then(|v| v.to_str().ok())
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(health::router())
        .merge(operator::router())
        .merge(graph::router())
        .merge(identity::router())
        .merge(arm::router())
        .merge(managed_identity::router())
        .fallback(graph::fallback)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(correlate))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
