//! `/metrics` in Prometheus' text exposition format (version 0.0.4): requests by route (the
//! matched path template, never the raw path, so the label set stays bounded), method and
//! status with a latency histogram per route, Graph requests refused by throttling, and the
//! sign-in log's queue. This node's counters only. Guarded by the operator credential
//! (`Authorization: Bearer <operator key>`, Prometheus' `authorization` setting).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    throttled: u64,
}

/// This node's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one answered request.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut m = self.lock();
        *m.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        let h = m.latency.entry(route.to_string()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                if let Some(c) = h.counts.get_mut(i) {
                    *c += 1;
                }
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// Records a Graph request refused by throttling.
    pub fn throttled(&self) {
        self.lock().throttled += 1;
    }

    /// The exposition text; `queued` is the sign-in log's queue length.
    pub fn render(&self, queued: usize) -> String {
        let m = self.lock();
        let mut out = String::new();
        let esc = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        out.push_str("# HELP castellan_http_requests_total HTTP requests answered, by route template, method and status.\n# TYPE castellan_http_requests_total counter\n");
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "castellan_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                esc(route),
                esc(method)
            );
        }
        out.push_str("# HELP castellan_http_request_duration_seconds Time to answer, by route template.\n# TYPE castellan_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            let r = esc(route);
            for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "castellan_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "castellan_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}\ncastellan_http_request_duration_seconds_sum{{route=\"{r}\"}} {}\ncastellan_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        let _ = write!(
            out,
            "# HELP castellan_graph_throttled_total Graph requests refused with 429 by throttling.\n# TYPE castellan_graph_throttled_total counter\ncastellan_graph_throttled_total {}\n# HELP castellan_signin_log_queued Sign-in records waiting for the log's next batch.\n# TYPE castellan_signin_log_queued gauge\ncastellan_signin_log_queued {queued}\n",
            m.throttled
        );
        out
    }
}

/// The middleware (a route layer, so the matched path template is known).
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    s.metrics.observe(
        &route,
        &method,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// `GET /metrics`.
pub async fn endpoint(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = crate::http::operator::authorize(&s, &headers) {
        return r;
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(s.signins.queued()) + &s.admission.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("/{tenant}/oauth2/v2.0/token", "POST", 200, 0.003);
        m.observe("/{tenant}/oauth2/v2.0/token", "POST", 200, 0.2);
        m.observe("/{tenant}/oauth2/v2.0/token", "POST", 400, 0.02);
        m.throttled();
        let t = m.render(4);
        assert!(t.contains("castellan_http_requests_total{route=\"/{tenant}/oauth2/v2.0/token\",method=\"POST\",status=\"200\"} 2\n"), "{t}");
        assert!(t.contains("status=\"400\"} 1\n"), "{t}");
        assert!(t.contains("le=\"0.005\"} 1\n"), "{t}");
        assert!(t.contains("le=\"0.025\"} 2\n"), "{t}");
        assert!(t.contains("le=\"0.25\"} 3\n"), "{t}");
        assert!(t.contains("le=\"+Inf\"} 3\n"), "{t}");
        assert!(
            t.contains("_count{route=\"/{tenant}/oauth2/v2.0/token\"} 3\n"),
            "{t}"
        );
        assert!(t.contains("castellan_graph_throttled_total 1\n"), "{t}");
        assert!(t.contains("castellan_signin_log_queued 4\n"), "{t}");
        // Every sample line is `name{labels} value` or `name value`.
        for l in t.lines().filter(|l| !l.starts_with('#')) {
            let v = l.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
    }
}
