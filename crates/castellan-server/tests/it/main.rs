//! One integration-test binary over real HTTPS against an in-process server, one module per
//! area. A shared demo server runs on its own runtime; tests that need a clean slate create
//! their own tenant through the operator API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod arm;
mod arm_clients;
mod arm_pim;
mod azure_cli;
mod conditional_access;
mod console;
mod console_apps;
mod console_azure;
mod console_ca;
mod console_dir;
mod cross_tenant;
mod devices;
mod discovery;
mod external_idp;
mod federation;
mod grant_client_credentials;
mod grant_password;
mod graph_applications;
mod graph_auth_methods;
mod graph_deleted_items;
mod graph_domains;
mod graph_dynamic_groups;
mod graph_groups;
mod graph_invitations;
mod graph_licenses;
mod graph_sdk;
mod graph_throttle;
mod graph_users;
mod group_pim;
mod identity_protection;
mod keys;
mod metrics;
mod multinode;
mod otel;
mod outage;
mod pim;
mod postgres;
mod read_model;
mod reports;
mod saml;
mod security;
mod security_defaults;
mod tenants;
mod troubleshoot;

use std::sync::OnceLock;

use serde_json::{json, Value};

/// The shared server.
pub struct Shared {
    pub origin: String,
    pub demo: Value,
    pub ca: Vec<u8>,
    pub operator_key: String,
    /// TLS of the test OIDC issuers (`federation.rs`); its CA is the server's
    /// `extra_ca_file`, so the server trusts them.
    pub issuer_tls: std::sync::Arc<rustls::ServerConfig>,
    /// The server's state (its store), for tests that must age stored grants.
    pub state: castellan_server::state::AppState,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// Starts (once) a demo server on a background runtime that lives for the whole test binary.
pub fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let dir = std::env::temp_dir().join(format!(
                    "castellan-it-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4()
                ));
                let issuer_dir = dir.join("issuer");
                let issuer_tls = castellan_server::tls::server_config(
                    &issuer_dir,
                    &[],
                    castellan_server::state::now(),
                )
                .unwrap();
                let mut args = castellan_server::ServeArgs::for_test(dir.clone());
                args.demo = true;
                args.extra_ca_file = Some(issuer_dir.join("tls/ca.pem"));
                args.max_body_bytes = 64 * 1024;
                let r = castellan_server::start(args).await.unwrap();
                let s = Shared {
                    origin: r.origin.clone(),
                    demo: r.demo.clone().unwrap(),
                    ca: std::fs::read(dir.join("tls/ca.pem")).unwrap(),
                    operator_key: std::fs::read_to_string(dir.join("operator.key"))
                        .unwrap()
                        .trim()
                        .to_string(),
                    issuer_tls,
                    state: r.state.clone(),
                };
                tx.send(s).unwrap();
                let _keep = r;
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    })
}

/// A demo server of a test file's own (for settings the shared one must not have), started
/// once on a background runtime that lives for the whole test binary.
pub struct Private {
    pub origin: String,
    pub demo: Value,
    pub ca: Vec<u8>,
    pub operator_key: String,
}

/// Starts a private demo server named `name`, its arguments adjusted by `configure`.
pub fn start_private(name: &str, configure: fn(&mut castellan_server::ServeArgs)) -> Private {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = name.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let dir = std::env::temp_dir().join(format!(
                "castellan-it-{name}-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4()
            ));
            let mut args = castellan_server::ServeArgs::for_test(dir.clone());
            args.demo = true;
            configure(&mut args);
            let r = castellan_server::start(args).await.unwrap();
            tx.send(Private {
                origin: r.origin.clone(),
                demo: r.demo.clone().unwrap(),
                ca: std::fs::read(dir.join("tls/ca.pem")).unwrap(),
                operator_key: std::fs::read_to_string(dir.join("operator.key"))
                    .unwrap()
                    .trim()
                    .to_string(),
            })
            .unwrap();
            let _keep = r;
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

/// A Graph client for a private server's demo confidential client (app-only).
pub async fn private_graph(p: &Private) -> G {
    let d = &p.demo;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&p.ca).unwrap())
        .build()
        .unwrap();
    let tid = d["tenant_id"].as_str().unwrap();
    let r = http
        .post(format!("{}/{tid}/oauth2/v2.0/token", p.origin))
        .form(&demo_client_credentials(d))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    G {
        token: v["access_token"].as_str().unwrap().into(),
        http,
        base: format!("{}/v1.0", p.origin),
    }
}

/// The client-credentials token form of a demo's confidential client, for Graph.
pub fn demo_client_credentials(d: &Value) -> [(&'static str, &str); 4] {
    [
        ("grant_type", "client_credentials"),
        (
            "client_id",
            d["confidential_client"]["app_id"].as_str().unwrap(),
        ),
        (
            "client_secret",
            d["confidential_client"]["secret"].as_str().unwrap(),
        ),
        ("scope", "https://graph.microsoft.com/.default"),
    ]
}

/// An HTTPS client trusting the server's CA.
pub fn http() -> reqwest::Client {
    let s = shared();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&s.ca).unwrap())
        .build()
        .unwrap()
}

/// A token for `scope` with the given client credentials at `tenant`.
pub async fn token_response(
    tenant: &str,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> (u16, Value) {
    let s = shared();
    let r = http()
        .post(format!("{}/{tenant}/oauth2/v2.0/token", s.origin))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A Graph client for a new app holding exactly these Graph application permissions.
pub async fn app_with(permissions: &[&str]) -> G {
    let g = G::demo().await;
    let (_, app) = g
        .post("/applications", json!({"displayName": alias("permapp")}))
        .await;
    let (_, sp) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    let (_, pw) = g
        .post(
            &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    let graph = g
        .all("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'")
        .await
        .remove(0);
    for p in permissions {
        let role = graph["appRoles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["value"] == *p)
            .unwrap_or_else(|| panic!("Graph has no app role {p}"))
            .clone();
        let (st, a) = g
            .post(
                &format!(
                    "/servicePrincipals/{}/appRoleAssignments",
                    sp["id"].as_str().unwrap()
                ),
                json!({"principalId": sp["id"], "resourceId": graph["id"], "appRoleId": role["id"]}),
            )
            .await;
        assert_eq!(st, 201, "{a}");
    }
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let (st, t) = token_response(
        tid,
        app["appId"].as_str().unwrap(),
        pw["secretText"].as_str().unwrap(),
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(st, 200, "{t}");
    G::with_token(t["access_token"].as_str().unwrap().into())
}

/// An ARM token for the demo confidential client.
pub async fn arm_token() -> String {
    let d = &shared().demo;
    let (st, v) = token_response(
        d["tenant_id"].as_str().unwrap(),
        d["confidential_client"]["app_id"].as_str().unwrap(),
        d["confidential_client"]["secret"].as_str().unwrap(),
        "https://management.azure.com/.default",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

/// A client for ARM (base: the origin) with [`arm_token`].
pub async fn arm_client() -> G {
    let mut g = G::with_token(arm_token().await);
    g.base = shared().origin.clone();
    g
}

/// POSTs `form` to the demo tenant's token endpoint.
pub async fn token_form(form: &[(&str, &str)]) -> (u16, Value) {
    let s = shared();
    let r = http()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            s.origin,
            s.demo["tenant_id"].as_str().unwrap()
        ))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// POSTs `form` to the token endpoint of `segment` (a tenant id, `common`, `organizations`).
pub async fn token_form_at(segment: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let s = shared();
    let r = http()
        .post(format!("{}/{segment}/oauth2/v2.0/token", s.origin))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A Graph token for the demo confidential client.
pub async fn demo_token() -> String {
    let d = &shared().demo;
    let (st, v) = token_response(
        d["tenant_id"].as_str().unwrap(),
        d["confidential_client"]["app_id"].as_str().unwrap(),
        d["confidential_client"]["secret"].as_str().unwrap(),
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

/// A small Graph client.
pub struct G {
    pub token: String,
    pub http: reqwest::Client,
    pub base: String,
}

impl G {
    pub async fn demo() -> Self {
        Self {
            token: demo_token().await,
            http: http(),
            base: format!("{}/v1.0", shared().origin),
        }
    }
    pub fn with_token(token: String) -> Self {
        Self {
            token,
            http: http(),
            base: format!("{}/v1.0", shared().origin),
        }
    }
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let st = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            st,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            },
        )
    }
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }
    /// Every item of a collection, following nextLinks.
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(format!("{}{path}", self.base));
        while let Some(u) = next {
            let r = self
                .http
                .get(&u)
                .bearer_auth(&self.token)
                .header("ConsistencyLevel", "eventual")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            out.extend(v["value"].as_array().unwrap().clone());
            next = v["@odata.nextLink"].as_str().map(str::to_string);
        }
        out
    }
    /// Number of audit records mentioning `marker` (an id or a unique name), to prove a
    /// refused write left no trace even while other tests write concurrently.
    pub async fn audits_mentioning(&self, marker: &str) -> usize {
        self.all("/auditLogs/directoryAudits?$top=999")
            .await
            .iter()
            .filter(|a| a.to_string().contains(marker))
            .count()
    }
    pub async fn create_user(&self, alias: &str) -> Value {
        let domain = shared().demo["domain"].as_str().unwrap();
        let (st, v) = self
            .post("/users", json!({"accountEnabled": true, "displayName": alias, "mailNickname": alias, "userPrincipalName": format!("{alias}@{domain}"), "passwordProfile": {"password": "Test-Passw0rd!"}}))
            .await;
        assert_eq!(st, 201, "{v}");
        v
    }
    pub async fn create_group(&self, name: &str) -> Value {
        let nick: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let (st, v) = self.post("/groups", json!({"displayName": name, "mailEnabled": false, "mailNickname": nick, "securityEnabled": true})).await;
        assert_eq!(st, 201, "{v}");
        v
    }
}

/// A unique short alias.
pub fn alias(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Creates a tenant through the operator API.
pub async fn new_tenant(name: &str) -> Value {
    let s = shared();
    let r = http()
        .post(format!("{}/operator/v1/tenants", s.origin))
        .bearer_auth(&s.operator_key)
        .json(&json!({"name": name, "adminUpn": "admin", "adminPassword": "Admin-Passw0rd!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}
