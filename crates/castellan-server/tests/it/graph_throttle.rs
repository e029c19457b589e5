//! Graph throttling (issue 17 item 7) on a server of its own with a small budget
//! (`--graph-throttle 6/2`: 6 resource units per 10 s and 2 writes per 150 s per application and
//! tenant): past it, 429 in Graph's shape with `Retry-After`; another application keeps its own
//! budget; the token endpoint is not charged.

use std::sync::OnceLock;

use serde_json::Value;

use crate::Private;

static PRIVATE: OnceLock<Private> = OnceLock::new();

fn private() -> &'static Private {
    PRIVATE.get_or_init(|| {
        crate::start_private("throttle", |args| {
            args.graph_throttle = castellan_server::throttle::parse_limits("6/2").unwrap();
        })
    })
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&private().ca).unwrap())
        .build()
        .unwrap()
}

async fn token(form: &[(&str, &str)]) -> String {
    let p = private();
    let r = client()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            p.origin,
            p.demo["tenant_id"].as_str().unwrap()
        ))
        .form(form)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().expect("a token").to_string()
}

async fn app_token() -> String {
    let d = &private().demo;
    token(&crate::demo_client_credentials(d)).await
}

async fn user_token() -> String {
    let d = &private().demo;
    signed_in(
        d["public_client"]["app_id"].as_str().unwrap(),
        "user",
        "User.Read",
    )
    .await
}

async fn signed_in(client: &str, who: &str, scope: &str) -> String {
    let d = &private().demo;
    token(&[
        ("grant_type", "password"),
        ("client_id", client),
        ("username", d[who]["upn"].as_str().unwrap()),
        ("password", d[who]["password"].as_str().unwrap()),
        ("scope", scope),
    ])
    .await
}

async fn call(
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = client()
        .request(method, format!("{}/v1.0{path}", private().origin))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

/// One application's budget, in order: writes first (their own budget), then reads.
#[tokio::test]
async fn past_its_budgets_an_application_gets_429_with_retry_after_and_others_do_not() {
    let app = app_token().await;
    let id = private().demo["user"]["id"].as_str().unwrap().to_string();
    let patch = |v: &str| Some(serde_json::json!({"jobTitle": v}));
    // Two writes per 150 s (1 RU each): a third is refused by the write budget while RU remain.
    for title in ["First", "Second"] {
        let r = call(
            reqwest::Method::PATCH,
            &format!("/users/{id}"),
            &app,
            patch(title),
        )
        .await;
        let st = r.status();
        assert!(st.is_success(), "{st}: {}", r.text().await.unwrap());
    }
    let r = call(
        reqwest::Method::PATCH,
        &format!("/users/{id}"),
        &app,
        patch("Third"),
    )
    .await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((60..=75).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "TooManyRequests", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Tenant_Application/Write"),
        "{v}"
    );
    assert!(v["error"]["innerError"]["request-id"].is_string(), "{v}");
    // The refused write changed nothing (1 RU: 3 of 6 left).
    let u: Value = call(reqwest::Method::GET, &format!("/users/{id}"), &app, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["jobTitle"], "Second", "{u}");
    // GET /users costs 2 RU: one fits, the next does not.
    assert_eq!(
        call(reqwest::Method::GET, "/users", &app, None)
            .await
            .status(),
        200
    );
    let r = call(reqwest::Method::GET, "/users", &app, None).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("Retry after") && m.contains("Tenant_Application/ReadWrite"),
        "{m}"
    );
    // Another application in the same tenant has a budget of its own (the positive control).
    let user = user_token().await;
    assert_eq!(
        call(reqwest::Method::GET, "/me", &user, None)
            .await
            .status(),
        200
    );
    // The token endpoint is not charged to Graph's budget.
    let _again = app_token().await;
    // After Retry-After the application fits again.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    assert_eq!(
        call(reqwest::Method::GET, "/users", &app, None)
            .await
            .status(),
        200
    );
}
