//! HTTP: routers mirroring URL paths, request ids, errors as responses.

pub mod arm;
pub mod bearer;
pub mod graph;
pub mod health;
pub mod identity;
pub mod managed_identity;
pub mod metadata;
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

/// The client's IP address: the TCP peer, or behind a trusted proxy (`--trusted-proxy`) the
/// address it forwarded (`Protection::client_ip`). Everything (sign-in log, Conditional
/// Access, Identity Protection) uses this one value.
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

async fn correlate(
    axum::extract::State(s): axum::extract::State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
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
        .map_or_else(
            || "0.0.0.0".to_string(),
            |c| s.protection.client_ip(c.0.ip(), req.headers()).to_string(),
        );
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

/// The `User-Agent` header (empty when absent or not text; at most 512 characters kept).
pub fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(512).collect())
        .unwrap_or_default()
}

/// The `Host` header, for origin resolution.
pub fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get("host").and_then(|v| v.to_str().ok())
}

/// The whole router. Graph paths are first normalised as Graph addresses them
/// ([`graph::sdk::rewrite`]: empty segments, type casts, `/$count`), with the request's
/// original URI kept as [`axum::extract::OriginalUri`].
pub fn router(state: AppState) -> Router {
    Router::new().fallback_service(tower::ServiceExt::map_request(routes(state), |req| {
        graph::sdk::rewrite(authority_as_host(req))
    }))
}

/// HTTP/2 carries the host in the `:authority` pseudo-header (the request URI), not in `Host`:
/// copy it to `Host` so that origin resolution ([`host`]) sees one place for both versions. It
/// is as client-chosen as `Host` and is validated the same way (`Origins::for_host`).
fn authority_as_host(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.headers().contains_key(axum::http::header::HOST) {
        if let Some(v) = req
            .uri()
            .authority()
            .and_then(|a| axum::http::HeaderValue::from_str(a.as_str()).ok())
        {
            req.headers_mut().insert(axum::http::header::HOST, v);
        }
    }
    req
}

fn routes(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(health::router())
        .merge(operator::router())
        .merge(graph::router())
        // Graph also under `/graph/` (`Origins::graph_base`): its own base URL and identifier.
        .nest("/graph", graph::router().fallback(graph::fallback))
        .merge(identity::router())
        .merge(arm::router())
        .merge(managed_identity::router())
        .merge(metadata::router())
        .merge(crate::console::router())
        .merge(identity::redeem::router())
        .merge(identity::external_idp::router())
        .route("/metrics", axum::routing::get(crate::metrics::endpoint))
        // Counted per matched route template (a route layer: it sees `MatchedPath`).
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        // One OpenTelemetry span per request when `--otlp-endpoint` is set (route template).
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::otel::trace,
        ))
        .fallback(graph::fallback)
        .layer(DefaultBodyLimit::max(limit))
        // Inside `correlate`, so a refused request still carries its ids and headers.
        .layer(middleware::from_fn_with_state(
            state.admission.clone(),
            crate::admission::admit,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), correlate))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
