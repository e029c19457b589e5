//! OpenTelemetry trace export: a tiny OTLP/HTTP receiver in the test gets one span per
//! request, named by the route template and carrying the correlation id; a server without
//! `--otlp-endpoint` sends nothing; a dead collector fails no request.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;
use tokio::sync::mpsc;

/// Starts the receiver: `POST /v1/traces` decodes each export and passes it on.
async fn receiver() -> (
    String,
    mpsc::UnboundedReceiver<(String, ExportTraceServiceRequest)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let req = ExportTraceServiceRequest::decode(body).unwrap();
                    let _ = tx.send((ct, req));
                    // An empty ExportTraceServiceResponse.
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, rx)
}

async fn server(name: &str, otlp: Option<String>) -> (castellan_server::Running, reqwest::Client) {
    let dir = std::env::temp_dir().join(format!(
        "castellan-it-otel-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let mut args = castellan_server::ServeArgs::for_test(dir.clone());
    args.demo = true;
    args.otlp_endpoint = otlp;
    let r = castellan_server::start(args).await.unwrap();
    let ca = std::fs::read(dir.join("tls/ca.pem")).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    (r, http)
}

/// A client-credentials token request with `client-request-id: cid` (and a `traceparent`).
async fn token(
    r: &castellan_server::Running,
    http: &reqwest::Client,
    cid: &str,
    traceparent: Option<&str>,
) -> reqwest::StatusCode {
    let d: &Value = r.demo.as_ref().unwrap();
    let tid = d["tenant_id"].as_str().unwrap();
    let mut req = http
        .post(format!("{}/{tid}/oauth2/v2.0/token", r.origin))
        .header("client-request-id", cid)
        .form(&crate::demo_client_credentials(d));
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    req.send().await.unwrap().status()
}

async fn flush(r: &castellan_server::Running) -> Result<(), String> {
    let t = r.state.tracing.clone().expect("tracing is configured");
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || t.flush()),
    )
    .await
    .expect("a flush never hangs")
    .unwrap()
}

fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a AnyValue> {
    s.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(s: &Span, key: &str) -> Option<String> {
    match attr(s, key) {
        Some(AnyValue::StringValue(v)) => Some(v.clone()),
        _ => None,
    }
}

/// One received span, with the export's content type and the resource's service name.
struct Got {
    content_type: String,
    service: Option<String>,
    span: Span,
}

impl Got {
    fn correlated(&self, cid: &str) -> bool {
        text(&self.span, "castellan.correlation_id").as_deref() == Some(cid)
    }
}

fn got(ct: &str, req: ExportTraceServiceRequest) -> Vec<Got> {
    let mut out = Vec::new();
    for rs in req.resource_spans {
        let service = rs.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(
                    |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(AnyValue::StringValue(s)) => Some(s.clone()),
                        _ => None,
                    },
                )
        });
        for ss in rs.scope_spans {
            out.extend(ss.spans.into_iter().map(|span| Got {
                content_type: ct.to_string(),
                service: service.clone(),
                span,
            }));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_request_is_exported_as_a_span_with_its_route_and_correlation_id() {
    let (collector, mut rx) = receiver().await;
    // Control: a server without an endpoint has no exporter, and its request sends nothing.
    let (off, off_http) = server("off", None).await;
    assert!(off.state.tracing.is_none());
    let control_cid = uuid::Uuid::new_v4().to_string();
    assert_eq!(token(&off, &off_http, &control_cid, None).await, 200);

    let (on, http) = server("on", Some(collector.clone())).await;
    let cid = uuid::Uuid::new_v4().to_string();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let tp = format!("00-{trace_id}-{parent_id}-01");
    assert_eq!(token(&on, &http, &cid, Some(&tp)).await, 200);
    flush(&on).await.unwrap();

    let mut spans: Vec<Got> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !spans.iter().any(|g| g.correlated(&cid)) {
        let (ct, req) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the token request's span reaches the collector")
            .unwrap();
        spans.extend(got(&ct, req));
    }
    let g = spans.iter().find(|g| g.correlated(&cid)).unwrap();
    let span = &g.span;
    assert_eq!(g.content_type, "application/x-protobuf");
    assert_eq!(g.service.as_deref(), Some("castellan"));
    assert_eq!(span.name, "POST /{tenant}/oauth2/v2.0/token");
    assert_eq!(span.kind, 2, "a SERVER span");
    assert_eq!(text(span, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(
        text(span, "http.route").as_deref(),
        Some("/{tenant}/oauth2/v2.0/token")
    );
    assert!(matches!(
        attr(span, "http.response.status_code"),
        Some(AnyValue::IntValue(200))
    ));
    let tid = on.demo.as_ref().unwrap()["tenant_id"].as_str().unwrap();
    assert_eq!(text(span, "castellan.tenant_id").as_deref(), Some(tid));
    // The caller's trace continues: same trace id, the caller's span as the parent.
    assert_eq!(hex::encode(&span.trace_id), trace_id);
    assert_eq!(hex::encode(&span.parent_span_id), parent_id);
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    // The server without an endpoint sent nothing.
    while let Ok(Some((ct, req))) =
        tokio::time::timeout(Duration::from_millis(300), rx.recv()).await
    {
        spans.extend(got(&ct, req));
    }
    assert!(
        !spans.iter().any(|g| g.correlated(&control_cid)),
        "a server without --otlp-endpoint exported a span"
    );
    // Without a traceparent the span starts a trace of its own.
    let cid2 = uuid::Uuid::new_v4().to_string();
    assert_eq!(token(&on, &http, &cid2, None).await, 200);
    flush(&on).await.unwrap();
    let (ct, req) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let g = got(&ct, req)
        .into_iter()
        .find(|g| g.correlated(&cid2))
        .expect("the second request's span");
    assert!(g.span.parent_span_id.is_empty());
    assert_ne!(hex::encode(&g.span.trace_id), trace_id);
    on.handle.shutdown();
    off.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_fails_no_request() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (r, http) = server("dead", Some(format!("http://127.0.0.1:{port}"))).await;
    for _ in 0..3 {
        let cid = uuid::Uuid::new_v4().to_string();
        assert_eq!(token(&r, &http, &cid, None).await, 200);
    }
    // The export fails (and says so) without hanging, and serving goes on.
    assert!(flush(&r).await.is_err());
    let cid = uuid::Uuid::new_v4().to_string();
    assert_eq!(token(&r, &http, &cid, None).await, 200);
    r.handle.shutdown();
}

#[tokio::test]
async fn a_bad_endpoint_stops_start_up_naming_the_flag() {
    let dir = std::env::temp_dir().join(format!("castellan-it-otel-bad-{}", uuid::Uuid::new_v4()));
    let mut args = castellan_server::ServeArgs::for_test(dir);
    args.otlp_endpoint = Some("collector:4317".into());
    let e = castellan_server::start(args).await.err().expect("refused");
    let e = e.to_string();
    assert!(
        e.contains("--otlp-endpoint") && e.contains("http://"),
        "{e}"
    );
}
