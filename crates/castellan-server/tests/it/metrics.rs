//! `/metrics`: Prometheus text, guarded by the operator credential, labelled by route template.

use crate::{http, shared};

#[tokio::test]
async fn metrics_need_the_operator_key_and_count_by_route_template() {
    let s = shared();
    let url = format!("{}/metrics", s.origin);
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .get(&url)
        .bearer_auth("not-the-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A token request, then a Graph read under a concrete id.
    let d = &s.demo;
    let _ = crate::demo_token().await;
    let user = d["user"]["id"].as_str().unwrap();
    let _ = http()
        .get(format!("{}/v1.0/users/{user}", s.origin))
        .send()
        .await
        .unwrap();
    let r = http()
        .get(&url)
        .bearer_auth(&s.operator_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let t = r.text().await.unwrap();
    let token_line = t
        .lines()
        .find(|l| {
            l.starts_with("castellan_http_requests_total{route=\"/{tenant}/oauth2/v2.0/token\",method=\"POST\",status=\"200\"}")
        })
        .unwrap_or_else(|| panic!("no token counter in:\n{t}"));
    let n: u64 = token_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1, "{token_line}");
    assert!(t.contains("castellan_http_request_duration_seconds_bucket{route=\"/{tenant}/oauth2/v2.0/token\",le=\"+Inf\"}"), "{t}");
    // Labels are templates: the concrete user id never appears.
    assert!(t.contains("route=\"/v1.0/users/{id}\""), "{t}");
    assert!(!t.contains(user), "a raw path leaked into a label");
    assert!(t.contains("castellan_signin_log_queued "), "{t}");
    assert!(t.contains("castellan_graph_throttled_total "), "{t}");
}
