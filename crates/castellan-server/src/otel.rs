//! OpenTelemetry trace export (`--otlp-endpoint`): one server span per HTTP request, sent to
//! an OTLP collector over HTTP/protobuf by the SDK's batch processor (its own thread; a span's
//! end only queues it, and a full queue drops spans rather than wait). Off unless configured:
//! without an endpoint there is no exporter and the middleware only passes the request on.
//!
//! The exporter's HTTP client is this crate's reqwest (rustls with aws-lc-rs) on a one-thread
//! runtime of its own, so an export never runs on, or waits for, the serving runtime. A
//! collector that cannot be reached is logged once (again only after it has answered in
//! between) and never fails a request or start-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, SpanKind, Status, Tracer, TracerProvider};
use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HeaderExtractor, HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::http::CorrelationId;
use crate::state::AppState;

/// The service name spans carry unless `OTEL_SERVICE_NAME` names another.
pub const DEFAULT_SERVICE_NAME: &str = "castellan";

/// How long one export may take (connect, send, answer).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where spans go: the full OTLP/HTTP traces URL, or `None` (export off).
///
/// `flag` is `--otlp-endpoint` / `CASTELLAN_OTLP_ENDPOINT`, then the standard variables:
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is) and `OTEL_EXPORTER_OTLP_ENDPOINT`.
/// The flag and `OTEL_EXPORTER_OTLP_ENDPOINT` are the collector's base URL
/// (`http://collector:4318`): `/v1/traces` is appended unless the path already ends so.
pub fn traces_url(
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    let nonempty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let (source, url, append) = if let Some(f) = flag.filter(|f| !f.trim().is_empty()) {
        ("--otlp-endpoint", f.trim().to_string(), true)
    } else if let Some(v) = nonempty(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            v.trim().to_string(),
            false,
        )
    } else if let Some(v) = nonempty(env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        ("OTEL_EXPORTER_OTLP_ENDPOINT", v.trim().to_string(), true)
    } else {
        return Ok(None);
    };
    let parsed = url::Url::parse(&url).map_err(|e| {
        format!("{source} '{url}' is not a URL ({e}): give the collector's OTLP/HTTP address, e.g. http://127.0.0.1:4318")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "{source} '{url}' is not an http(s) address: OTLP is exported over HTTP/protobuf, e.g. http://127.0.0.1:4318 (gRPC is not supported)"
        ));
    }
    if append && !parsed.path().trim_end_matches('/').ends_with("/v1/traces") {
        return Ok(Some(format!("{}/v1/traces", url.trim_end_matches('/'))));
    }
    Ok(Some(url))
}

/// The service name: `OTEL_SERVICE_NAME`, else [`DEFAULT_SERVICE_NAME`].
pub fn service_name(env: impl Fn(&str) -> Option<String>) -> String {
    env("OTEL_SERVICE_NAME")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.into())
}

/// The trace exporter of one server.
pub struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing").finish_non_exhaustive()
    }
}

impl Tracing {
    /// Starts the exporter for `url` (from [`traces_url`]). Nothing is sent yet, so an
    /// unreachable collector cannot fail this.
    pub fn start(url: &str, service: &str) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("castellan-otlp")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the OTLP exporter's runtime: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the OTLP exporter's HTTP client: {e}"))?;
        let client = Client {
            http,
            runtime: runtime.handle().clone(),
            url: url.to_string(),
            failing: Arc::default(),
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("--otlp-endpoint '{url}': {e}"))?;
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_service_name(service.to_string())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("castellan-server");
        Ok(Self {
            provider,
            tracer,
            runtime: Some(runtime),
        })
    }

    /// Sends every finished span now and waits for the answer (blocking: call it off the
    /// serving runtime, e.g. in `spawn_blocking`). For shutdown and tests.
    pub fn flush(&self) -> Result<(), String> {
        self.provider.force_flush().map_err(|e| e.to_string())
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        // The last batch is exported while the exporter's runtime still runs.
        let _ = self.provider.shutdown();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The exporter's HTTP client: the request runs on the exporter's runtime (the SDK's batch
/// thread only waits for it), and failures are logged once per outage.
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
    url: String,
    failing: Arc<AtomicBool>,
}

impl Client {
    /// Notes an export's outcome; true when it logged the warning (an outage's first failure).
    fn outcome(&self, failure: Option<String>) -> bool {
        match failure {
            Some(why) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(
                    endpoint = %self.url,
                    "cannot export traces: {why}; requests are served regardless, spans are dropped until the collector answers (logged once)"
                );
                true
            }
            Some(why) => {
                tracing::debug!(endpoint = %self.url, "trace export failed: {why}");
                false
            }
            None => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(endpoint = %self.url, "trace export works again");
                }
                false
            }
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(
        &self,
        request: axum::http::Request<Bytes>,
    ) -> Result<axum::http::Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let mut rb = http.request(parts.method, parts.uri.to_string()).body(body);
            for (k, v) in &parts.headers {
                rb = rb.header(k, v);
            }
            let r = rb.send().await?;
            let status = r.status();
            let headers = r.headers().clone();
            let bytes = r.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        });
        let answer = match sent.await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                let _ = self.outcome(Some(e.to_string()));
                return Err(Box::new(e));
            }
            Err(e) => {
                let _ = self.outcome(Some(e.to_string()));
                return Err(Box::new(e));
            }
        };
        let (status, headers, bytes) = answer;
        let _ = self
            .outcome((!status.is_success()).then(|| format!("the collector answered {status}")));
        let mut resp = axum::http::Response::new(bytes);
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        Ok(resp)
    }
}

/// The tenant id a request names, when its route starts with `/{tenant}` and the segment is
/// a GUID (a domain name or `common` is not an id).
fn tenant_id(route: &str, path: &str) -> Option<String> {
    if !route.starts_with("/{tenant}") {
        return None;
    }
    let seg = path.trim_start_matches('/').split('/').next()?;
    uuid::Uuid::parse_str(seg).ok().map(|u| u.to_string())
}

/// The middleware (a route layer, so the matched route template is known): one server span
/// per request named `METHOD /route/{template}`, a child of the caller's W3C `traceparent`.
pub async fn trace(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(t) = s.tracing.clone() else {
        return next.run(req).await;
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(req.headers()));
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.clone()),
        KeyValue::new("http.route", route.clone()),
    ];
    if let Some(c) = req.extensions().get::<CorrelationId>() {
        attributes.push(KeyValue::new("castellan.correlation_id", c.0.clone()));
    }
    if let Some(tid) = tenant_id(&route, req.uri().path()) {
        attributes.push(KeyValue::new("castellan.tenant_id", tid));
    }
    let mut span = t
        .tracer
        .span_builder(format!("{method} {route}"))
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(&t.tracer, &parent);
    let resp = next.run(req).await;
    let status = resp.status();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        span.set_status(Status::error(status.to_string()));
    }
    span.end();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        }
    }

    #[test]
    fn off_unless_configured() {
        assert_eq!(traces_url(None, env(&[])), Ok(None));
        assert_eq!(
            traces_url(Some(" "), env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])),
            Ok(None)
        );
    }

    #[test]
    fn the_flag_is_a_base_url_and_wins() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/x"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:2"),
        ]);
        assert_eq!(
            traces_url(Some("http://c:4318/"), &e).unwrap().as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            traces_url(Some("http://c:4318/v1/traces"), &e)
                .unwrap()
                .as_deref(),
            Some("http://c:4318/v1/traces")
        );
    }

    #[test]
    fn standard_variables_in_their_order() {
        let both = env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:2"),
        ]);
        assert_eq!(
            traces_url(None, both).unwrap().as_deref(),
            Some("http://t:1/custom")
        );
        let base = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://b:2/otlp")]);
        assert_eq!(
            traces_url(None, base).unwrap().as_deref(),
            Some("https://b:2/otlp/v1/traces")
        );
    }

    #[test]
    fn a_bad_endpoint_names_its_source_and_the_fix() {
        let e = traces_url(Some("collector:4317"), env(&[])).unwrap_err();
        assert!(
            e.contains("--otlp-endpoint") && e.contains("http://"),
            "{e}"
        );
        let e = traces_url(None, env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")])).unwrap_err();
        assert!(
            e.contains("OTEL_EXPORTER_OTLP_ENDPOINT") && e.contains("e.g."),
            "{e}"
        );
        let e = traces_url(Some("grpc://c:4317"), env(&[])).unwrap_err();
        assert!(e.contains("gRPC is not supported"), "{e}");
    }

    #[test]
    fn an_outage_is_logged_once_and_again_after_a_recovery() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let c = Client {
            http: reqwest::Client::new(),
            runtime: rt.handle().clone(),
            url: "http://127.0.0.1:9/v1/traces".into(),
            failing: Arc::default(),
        };
        assert!(!c.outcome(None));
        assert!(c.outcome(Some("connection refused".into())));
        assert!(!c.outcome(Some("connection refused".into())));
        assert!(!c.outcome(Some("the collector answered 503".into())));
        assert!(!c.outcome(None));
        assert!(c.outcome(Some("connection refused".into())));
    }

    #[test]
    fn service_name_defaults_to_castellan() {
        assert_eq!(service_name(env(&[])), "castellan");
        assert_eq!(
            service_name(env(&[("OTEL_SERVICE_NAME", "login-eu")])),
            "login-eu"
        );
    }

    #[test]
    fn tenant_id_only_from_a_guid_segment() {
        let g = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
        assert_eq!(
            tenant_id(
                "/{tenant}/oauth2/v2.0/token",
                &format!("/{g}/oauth2/v2.0/token")
            ),
            Some(g.to_string())
        );
        assert_eq!(
            tenant_id("/{tenant}/oauth2/v2.0/token", "/common/oauth2/v2.0/token"),
            None
        );
        assert_eq!(tenant_id("/v1.0/users", "/v1.0/users"), None);
    }
}
