//! Admission: what this node takes on before any handler runs. Two guards, both node-local:
//!
//! - **Load shedding.** Each class of traffic (the token service and its pages; Graph, ARM and
//!   the console) has a fixed number of requests in flight and a bounded queue in front of it.
//!   A request that finds the queue full, or waits in it longer than `--max-queue-wait-ms`, is
//!   answered at once with 503 and `Retry-After` in its surface's error shape, so latency of the
//!   accepted requests stays bounded past capacity instead of growing with the offered load.
//!   Graph's per-application budgets (`throttle.rs`, 429) are a separate, fairness limit.
//! - **Store outage.** A monitor pings the store; after two failed pings in a row the store
//!   counts as down and requests that need it are answered 503 with `Retry-After` at once
//!   (not after the pool's acquire timeout), `/readyz` says not ready without waiting; while
//!   down it pings every 100 ms, so service resumes about 0.1 s after the database returns.
//!
//! Exempt from both: `/healthz`, `/readyz` and `/metrics` (an operator must see an overloaded
//! or cut-off node).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::error::Code;
use castellan_core::store::Store;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Seconds a shed client is told to wait.
pub const RETRY_AFTER_SECS: u32 = 1;

/// Which pool of capacity a request draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `/authorize`, `/token`, device code, SAML, discovery, the sign-in pages.
    Identity,
    /// Graph, ARM, managed identity and the admin console.
    Api,
}

impl Class {
    fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Api => "api",
        }
    }
}

/// The error shape a refused request is answered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Token,
    Graph,
    Arm,
    /// The operator API's JSON error shape.
    Operator,
    Plain,
}

/// The class of `path`, or `None` for the exempt operational endpoints.
pub fn classify(path: &str) -> Option<Class> {
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return None;
    }
    let api = [
        "/v1.0",
        "/beta",
        "/graph/",
        "/subscriptions",
        "/providers",
        "/console",
    ]
    .iter()
    .any(|p| path.starts_with(p))
        || path.starts_with("/metadata/identity")
        || path == "/graph";
    Some(if api { Class::Api } else { Class::Identity })
}

fn shape(path: &str) -> Shape {
    if path.starts_with("/v1.0") || path.starts_with("/beta") || path.starts_with("/graph") {
        Shape::Graph
    } else if path.starts_with("/subscriptions") || path.starts_with("/providers") {
        Shape::Arm
    } else if path.starts_with("/operator/") {
        Shape::Operator
    } else if path.contains("/oauth2/") || path.ends_with("/token") {
        Shape::Token
    } else {
        Shape::Plain
    }
}

/// Why a request was refused at the door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The queue was full.
    QueueFull,
    /// It waited the longest allowed without a slot.
    Waited,
    /// The store is down.
    StoreDown,
}

/// One class's capacity: requests in flight, and a bounded queue in front.
pub struct Gate {
    permits: Arc<Semaphore>,
    in_flight: usize,
    max_queue: usize,
    waiting: AtomicUsize,
    max_wait: Duration,
    shed: AtomicU64,
}

/// Decrements the queue length however the wait ends (a dropped request included).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    /// A gate with `in_flight` slots and a queue of `max_queue` waiting at most `max_wait`.
    pub fn new(in_flight: usize, max_queue: usize, max_wait: Duration) -> Self {
        let in_flight = in_flight.max(1);
        Self {
            permits: Arc::new(Semaphore::new(in_flight)),
            in_flight,
            max_queue,
            waiting: AtomicUsize::new(0),
            max_wait,
            shed: AtomicU64::new(0),
        }
    }

    /// A slot, at once or after queueing; refused when the queue is full or the wait too long.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.shed.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::QueueFull);
        }
        let _queued = Queued(&self.waiting);
        match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => {
                self.shed.fetch_add(1, Ordering::Relaxed);
                Err(Refusal::Waited)
            }
        }
    }

    /// Requests refused so far.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Requests in flight now.
    pub fn busy(&self) -> usize {
        self.in_flight - self.permits.available_permits()
    }

    /// Requests queued now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// This node's admission state.
pub struct Admission {
    identity: Gate,
    api: Gate,
    store_down: AtomicBool,
    store_refused: AtomicU64,
}

impl Admission {
    /// Gates of `in_flight` slots and `max_queue` places (each class), waiting at most
    /// `max_wait`.
    pub fn new(in_flight: usize, max_queue: usize, max_wait: Duration) -> Self {
        Self {
            identity: Gate::new(in_flight, max_queue, max_wait),
            api: Gate::new(in_flight, max_queue, max_wait),
            store_down: AtomicBool::new(false),
            store_refused: AtomicU64::new(0),
        }
    }

    /// From `--max-in-flight`, `--max-queue` and `--max-queue-wait-ms` (0: sized to the CPUs).
    pub fn from_args(args: &crate::config::ServeArgs) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let in_flight = if args.max_in_flight == 0 {
            32 * cores
        } else {
            args.max_in_flight
        };
        let queue = if args.max_queue == 0 {
            4 * in_flight
        } else {
            args.max_queue
        };
        Self::new(
            in_flight,
            queue,
            Duration::from_millis(args.max_queue_wait_ms.max(1)),
        )
    }

    fn gate(&self, c: Class) -> &Gate {
        match c {
            Class::Identity => &self.identity,
            Class::Api => &self.api,
        }
    }

    /// Whether the monitor last found the store down.
    pub fn store_down(&self) -> bool {
        self.store_down.load(Ordering::Acquire)
    }

    /// The monitor's verdict.
    pub fn set_store_down(&self, down: bool) {
        let was = self.store_down.swap(down, Ordering::AcqRel);
        if was != down {
            if down {
                tracing::error!("the store stopped answering: requests that need it are refused with 503 until it answers again");
            } else {
                tracing::warn!("the store answers again: requests are admitted");
            }
        }
    }

    /// The Prometheus lines of this state.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP castellan_shed_requests_total Requests refused at admission (503 with Retry-After).\n# TYPE castellan_shed_requests_total counter\n",
        );
        for c in [Class::Identity, Class::Api] {
            out.push_str(&format!(
                "castellan_shed_requests_total{{class=\"{}\",reason=\"overload\"}} {}\n",
                c.as_str(),
                self.gate(c).shed()
            ));
        }
        out.push_str(&format!(
            "castellan_shed_requests_total{{class=\"all\",reason=\"store_down\"}} {}\n",
            self.store_refused.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP castellan_admission_in_flight Requests being served, by class.\n# TYPE castellan_admission_in_flight gauge\n");
        for c in [Class::Identity, Class::Api] {
            out.push_str(&format!(
                "castellan_admission_in_flight{{class=\"{}\"}} {}\n",
                c.as_str(),
                self.gate(c).busy()
            ));
        }
        out.push_str("# HELP castellan_admission_queued Requests waiting for a slot, by class.\n# TYPE castellan_admission_queued gauge\n");
        for c in [Class::Identity, Class::Api] {
            out.push_str(&format!(
                "castellan_admission_queued{{class=\"{}\"}} {}\n",
                c.as_str(),
                self.gate(c).queued()
            ));
        }
        out.push_str(&format!(
            "# HELP castellan_store_up Whether the store answers (the admission monitor's view).\n# TYPE castellan_store_up gauge\ncastellan_store_up {}\n",
            u8::from(!self.store_down())
        ));
        out
    }
}

/// The middleware: refuses at once when the store is down, else takes a slot of the
/// request's class (queueing within bounds) for the whole handling.
pub async fn admit(State(a): State<Arc<Admission>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let Some(class) = classify(path) else {
        return next.run(req).await;
    };
    let shape = shape(path);
    if a.store_down() {
        a.store_refused.fetch_add(1, Ordering::Relaxed);
        return refuse(shape, Refusal::StoreDown, class, &a);
    }
    match a.gate(class).enter().await {
        Ok(_slot) => next.run(req).await,
        Err(r) => refuse(shape, r, class, &a),
    }
}

fn refuse(shape: Shape, why: Refusal, class: Class, a: &Admission) -> Response {
    let g = a.gate(class);
    let cause = match why {
        Refusal::StoreDown => "its store is not answering".to_string(),
        Refusal::QueueFull => format!(
            "it is at capacity for {} requests ({} in flight, {} queued)",
            class.as_str(),
            g.busy(),
            g.queued()
        ),
        Refusal::Waited => format!(
            "it is at capacity for {} requests (no slot within {} ms)",
            class.as_str(),
            g.max_wait.as_millis()
        ),
    };
    let cid = uuid::Uuid::new_v4().to_string();
    let now = crate::state::now();
    let mut r = match shape {
        Shape::Token => {
            let e = Code::ServiceBusy.aadsts(&[("cause", &cause), ("seconds", &RETRY_AFTER_SECS)]);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(castellan_wire::errors::token_error_body(
                    &e, &cid, &cid, now,
                )),
            )
                .into_response()
        }
        Shape::Graph => {
            let mut e = castellan_wire::errors::GraphError::of(
                Code::GraphBusy,
                &[("cause", &cause), ("seconds", &RETRY_AFTER_SECS)],
            );
            e.retry_after = Some(RETRY_AFTER_SECS);
            crate::http::graph::ApiError(e, cid).into_response()
        }
        Shape::Arm => {
            let e = Code::ArmBusy.arm(&[("cause", &cause), ("seconds", &RETRY_AFTER_SECS)]);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(castellan_wire::arm::error_body(&e)),
            )
                .into_response()
        }
        Shape::Operator => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": {
                "code": "ServiceUnavailable",
                "message": Code::ServiceBusy.message(&[("cause", &cause), ("seconds", &RETRY_AFTER_SECS)]),
            }})),
        )
            .into_response(),
        Shape::Plain => (
            StatusCode::SERVICE_UNAVAILABLE,
            Code::ServiceBusy.message(&[("cause", &cause), ("seconds", &RETRY_AFTER_SECS)]),
        )
            .into_response(),
    };
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// How long one ping may take before it counts as failed: the pool's acquire timeout. A
/// shorter bound mistook a busy node (a 2-core machine under load stalls a ping for half a
/// second) for a lost database and refused every request with 503; a database that is really
/// gone answers with an error at once (connection refused or reset), and one behind a black
/// hole is caught by this bound.
const PING_TIMEOUT: Duration = Duration::from_millis(1500);

/// Watches the store: a ping every 250 ms while up (down after two failures in a row: an
/// error, or no answer within [`PING_TIMEOUT`]), every 100 ms while down (up at the first
/// answer).
pub fn monitor(store: Arc<dyn Store>, a: Arc<Admission>) {
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            let ok = matches!(
                tokio::time::timeout(PING_TIMEOUT, store.ping()).await,
                Ok(Ok(()))
            );
            failures = if ok { 0 } else { failures + 1 };
            if ok {
                a.set_store_down(false);
            } else if failures >= 2 {
                a.set_store_down(true);
            }
            let pause = if a.store_down() { 100 } else { 250 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn operational_endpoints_are_exempt_and_the_rest_classified() {
        assert_eq!(classify("/healthz"), None);
        assert_eq!(classify("/readyz"), None);
        assert_eq!(classify("/metrics"), None);
        assert_eq!(classify("/t/oauth2/v2.0/token"), Some(Class::Identity));
        assert_eq!(
            classify("/common/oauth2/v2.0/authorize"),
            Some(Class::Identity)
        );
        assert_eq!(classify("/v1.0/users"), Some(Class::Api));
        assert_eq!(
            classify("/subscriptions/x/resourceGroups"),
            Some(Class::Api)
        );
        assert_eq!(classify("/console/"), Some(Class::Api));
        assert_eq!(shape("/t/oauth2/v2.0/token"), Shape::Token);
        assert_eq!(shape("/v1.0/me"), Shape::Graph);
        assert_eq!(shape("/graph/v1.0/me"), Shape::Graph);
        assert_eq!(
            shape("/providers/Microsoft.Authorization/roleDefinitions"),
            Shape::Arm
        );
        assert_eq!(shape("/t/login"), Shape::Plain);
        assert_eq!(shape("/operator/v1/tenants"), Shape::Operator);
    }

    #[tokio::test]
    async fn a_full_gate_queues_within_bounds_then_sheds() {
        let g = Gate::new(1, 1, Duration::from_millis(50));
        let first = g.enter().await.unwrap();
        assert_eq!(g.busy(), 1);
        // The second waits in the queue; the third finds it full and is refused at once.
        let g = Arc::new(g);
        let waiter = {
            let g = g.clone();
            tokio::spawn(async move { g.enter().await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(g.queued(), 1);
        assert_eq!(g.enter().await.err(), Some(Refusal::QueueFull));
        // Nobody leaves: the waiter gives up after the longest wait.
        assert_eq!(waiter.await.unwrap(), Err(Refusal::Waited));
        assert_eq!((g.queued(), g.shed()), (0, 2));
        // Positive control: a slot freed while waiting is taken.
        let waiter = {
            let g = g.clone();
            tokio::spawn(async move { g.enter().await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!((g.busy(), g.queued(), g.shed()), (0, 0, 2));
    }

    #[tokio::test]
    async fn the_middleware_answers_each_surface_in_its_shape() {
        use axum::routing::{get, post};
        use tower::ServiceExt;
        let a = Arc::new(Admission::new(1, 0, Duration::from_millis(20)));
        let (hold_tx, hold_rx) = tokio::sync::oneshot::channel::<()>();
        let hold = Arc::new(tokio::sync::Mutex::new(Some(hold_rx)));
        let app = axum::Router::new()
            .route(
                "/slow/oauth2/v2.0/token",
                post(move || {
                    let hold = hold.clone();
                    async move {
                        if let Some(rx) = hold.lock().await.take() {
                            let _ = rx.await;
                        }
                        "issued"
                    }
                }),
            )
            .route("/v1.0/users", get(|| async { "users" }))
            .route("/operator/v1/tenants", get(|| async { "tenants" }))
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(a.clone(), admit));
        let call = |method: &str, uri: &str| {
            axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let held = tokio::spawn(app.clone().oneshot(call("POST", "/slow/oauth2/v2.0/token")));
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The identity class is full (one slot, no queue): the token endpoint sheds in
        // OAuth's shape; Graph, another class, is still served; so is /healthz.
        let r = app
            .clone()
            .oneshot(call("POST", "/slow/oauth2/v2.0/token"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "temporarily_unavailable", "{v}");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("at capacity for identity requests"),
            "{v}"
        );
        let r = app
            .clone()
            .oneshot(call("GET", "/v1.0/users"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // The slot frees: the token endpoint serves again.
        drop(hold_tx);
        assert_eq!(held.await.unwrap().unwrap().status(), StatusCode::OK);
        let r = app
            .clone()
            .oneshot(call("POST", "/slow/oauth2/v2.0/token"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // The store is down: Graph refuses at once in Graph's shape; /healthz still answers.
        a.set_store_down(true);
        let r = app
            .clone()
            .oneshot(call("GET", "/v1.0/users"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "serviceNotAvailable", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("store is not answering"),
            "{v}"
        );
        // The operator API refuses in its own JSON shape (its clients parse JSON errors).
        let r = app
            .clone()
            .oneshot(call("GET", "/operator/v1/tenants"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "ServiceUnavailable", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("store is not answering"),
            "{v}"
        );
        let r = app.clone().oneshot(call("GET", "/healthz")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        a.set_store_down(false);
        let r = app.oneshot(call("GET", "/v1.0/users")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let m = a.render();
        assert!(
            m.contains("castellan_shed_requests_total{class=\"identity\",reason=\"overload\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("castellan_shed_requests_total{class=\"all\",reason=\"store_down\"} 2\n"),
            "{m}"
        );
        assert!(m.contains("castellan_store_up 1\n"), "{m}");
    }
}
