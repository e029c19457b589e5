//! Workload identity federation over real HTTPS: an in-process OIDC issuer with an ES256 key
//! (its CA is the shared server's `extra_ca_file`), federated identity credentials through
//! Graph, and the `client_credentials` exchange with its failure codes. The Python conformance
//! suite covers RS256 with azure-identity; this covers ES256, the cache, and races.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::{alias, http, shared, G};

const AUD: &str = "api://AzureADTokenExchange";
pub(crate) const MAIN: &str = "repo:org/repo:ref:refs/heads/main";

pub(crate) struct Issuer {
    pub(crate) url: String,
    kid: String,
    key: jsonwebtoken::EncodingKey,
    jwks_hits: Arc<AtomicUsize>,
}

impl Issuer {
    /// Starts an issuer at `https://127.0.0.1:{port}{path}` on the current runtime; with
    /// `lie`, its discovery document names `lie` as its issuer instead of itself.
    pub(crate) async fn start(path: &str, lie: Option<&str>) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let raw = key.public_key_raw().to_vec();
        assert_eq!(raw.len(), 65);
        let kid = alias("k");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!(
            "https://127.0.0.1:{}{path}",
            listener.local_addr().unwrap().port()
        );
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]), "y": URL_SAFE_NO_PAD.encode(&raw[33..]),
        }]});
        let discovery = json!({"issuer": lie.unwrap_or(&url), "jwks_uri": format!("{url}/jwks")});
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new()
            .route(
                &format!("{path}/.well-known/openid-configuration"),
                get(move || async move { Json(discovery) }),
            )
            .route(
                &format!("{path}/jwks"),
                get(move || {
                    h.fetch_add(1, Ordering::SeqCst);
                    async move { Json(jwks) }
                }),
            );
        let server = axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(shared().issuer_tls.clone()),
        )
        .unwrap();
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        Self {
            url,
            kid,
            key: jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
            jwks_hits: hits,
        }
    }

    pub(crate) fn mint(&self, f: impl FnOnce(&mut Value)) -> String {
        let now = castellan_server::state::now().secs();
        let mut c = json!({"iss": self.url, "sub": MAIN, "aud": AUD, "iat": now, "nbf": now, "exp": now + 300});
        f(&mut c);
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, &c, &self.key).unwrap()
    }
}

/// A new application with a service principal; returns (object id, appId).
pub(crate) async fn new_app(g: &G) -> (String, String) {
    let (st, a) = g
        .post("/applications", json!({"displayName": alias("wif-")}))
        .await;
    assert_eq!(st, 201, "{a}");
    let app_id = a["appId"].as_str().unwrap().to_string();
    let (st, v) = g.post("/servicePrincipals", json!({"appId": app_id})).await;
    assert_eq!(st, 201, "{v}");
    (a["id"].as_str().unwrap().to_string(), app_id)
}

pub(crate) async fn exchange(client_id: &str, assertion: &str) -> (u16, Value) {
    let s = shared();
    let tid = s.demo["tenant_id"].as_str().unwrap();
    let r = http()
        .post(format!("{}/{tid}/oauth2/v2.0/token", s.origin))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", "https://graph.microsoft.com/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn code(v: &Value) -> u64 {
    v["error_codes"][0].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn es256_exchange_codes_and_cache() {
    let g = G::demo().await;
    let issuer = Issuer::start("", None).await;
    let (obj, app_id) = new_app(&g).await;
    let base = format!("/applications/{obj}/federatedIdentityCredentials");
    let (st, fic) = g
        .post(
            &base,
            json!({"name": "gh-main", "issuer": issuer.url, "subject": MAIN}),
        )
        .await;
    assert_eq!(st, 201, "{fic}");
    assert_eq!(fic["audiences"], json!([AUD]));
    assert_eq!(
        fic["@odata.type"],
        "#microsoft.graph.federatedIdentityCredential"
    );
    assert_eq!(
        g.audits_mentioning("gh-main").await,
        1,
        "the add is audited"
    );
    // A refused add stores nothing and leaves no audit record.
    let refused = alias("refused-");
    let (st, v) = g
        .post(
            &base,
            json!({"name": refused, "issuer": issuer.url.replace("https:", "http:"), "subject": "s"}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("https"),
        "{v}"
    );
    assert_eq!(g.audits_mentioning(&refused).await, 0);
    assert_eq!(g.get(&base).await.1["value"].as_array().unwrap().len(), 1);

    // Success, with the trailing newline azure-identity sends.
    let (st, v) = exchange(&app_id, &format!("{}\n", issuer.mint(|_| {}))).await;
    assert_eq!(st, 200, "{v}");
    let p = v["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    // A Graph token, so v1: the client is `appid`, proved with an asymmetric key (`2`).
    assert_eq!(claims["appid"], app_id.as_str());
    assert_eq!(claims["appidacr"], "2");
    assert_eq!(issuer.jwks_hits.load(Ordering::SeqCst), 1);

    // Each refusal, in Entra's order.
    let cases: Vec<(String, u64, u16)> = vec![
        (
            issuer.mint(|c| c["sub"] = json!("repo:org/repo:pull_request")),
            700213,
            401,
        ),
        (
            issuer.mint(|c| c["sub"] = json!("repo:Org/repo:ref:refs/heads/main")),
            700213,
            401,
        ),
        (
            issuer.mint(|c| c["aud"] = json!("api://other")),
            700212,
            401,
        ),
        (
            issuer.mint(|c| c["aud"] = json!(["api://other", AUD])),
            0,
            200,
        ),
        (
            issuer.mint(|c| c["iss"] = json!(format!("{}/x", issuer.url))),
            700211,
            401,
        ),
        (issuer.mint(|c| c["exp"] = json!(1_000_000)), 700024, 401),
        (
            issuer.mint(|c| c["nbf"] = json!(castellan_server::state::now().secs() + 3600)),
            700024,
            401,
        ),
        (
            issuer.mint(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            700024,
            401,
        ),
        (
            issuer.mint(|c| c["iss"] = json!(shared().origin.clone() + "/x/v2.0")),
            700229,
            401,
        ),
    ];
    for (token, want, status) in cases {
        let (st, v) = exchange(&app_id, &token).await;
        assert_eq!((st, code(&v)), (status, want), "{v}");
    }
    // A tampered signature, and a header algorithm the EC key does not fit.
    let good = issuer.mint(|_| {});
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let mut sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig_bytes[0] ^= 1;
    let tampered = format!("{head}.{payload}.{}", URL_SAFE_NO_PAD.encode(&sig_bytes));
    let (st, v) = exchange(&app_id, &tampered).await;
    assert_eq!((st, code(&v)), (401, 700027), "{v}");
    // A forged token cannot probe which subjects are configured: the signature is checked
    // before the subject, so an unknown subject on a forged token is still 700027.
    let forged = issuer.mint(|c| c["sub"] = json!("repo:org/repo:pull_request"));
    let (h2, rest2) = forged.split_once('.').unwrap();
    let (p2, _) = rest2.split_once('.').unwrap();
    let (st, v) = exchange(
        &app_id,
        &format!("{h2}.{p2}.{}", URL_SAFE_NO_PAD.encode(&sig_bytes)),
    )
    .await;
    assert_eq!((st, code(&v)), (401, 700027), "{v}");
    let rs_header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "kid": issuer.kid}).to_string());
    let (st, v) = exchange(&app_id, &format!("{rs_header}.{payload}.{sig}")).await;
    assert_eq!((st, code(&v)), (401, 700027), "{v}");
    let hs_header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": issuer.kid}).to_string());
    let (st, v) = exchange(&app_id, &format!("{hs_header}.{payload}.{sig}")).await;
    assert_eq!((st, code(&v)), (401, 700027), "{v}");
    assert!(v["error_description"].as_str().unwrap().contains("HS256"));

    // Unknown kids: at most one refresh per minute, however many arrive.
    for _ in 0..5 {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some("rotated".into());
        let now = castellan_server::state::now().secs();
        let t = jsonwebtoken::encode(
            &h,
            &json!({"iss": issuer.url, "sub": MAIN, "aud": AUD, "exp": now + 300}),
            &issuer.key,
        )
        .unwrap();
        let (st, v) = exchange(&app_id, &t).await;
        assert_eq!((st, code(&v)), (401, 700027), "{v}");
    }
    assert!(
        issuer.jwks_hits.load(Ordering::SeqCst) <= 2,
        "refresh is rate-limited: {}",
        issuer.jwks_hits.load(Ordering::SeqCst)
    );

    // Deleting the credential stops the exchange (70021: the app has none left).
    let (st, _) = g
        .delete(&format!("{base}/{}", fic["id"].as_str().unwrap()))
        .await;
    assert_eq!(st, 204);
    let (st, v) = exchange(&app_id, &issuer.mint(|_| {})).await;
    assert_eq!((st, code(&v)), (400, 70021), "{v}");
    let (st, _) = g
        .get(&format!("{base}/{}", fic["id"].as_str().unwrap()))
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn issuer_whose_discovery_names_another_issuer_is_refused() {
    // OpenID Connect Discovery §4.3: the document's issuer must be the URL it was fetched for.
    let g = G::demo().await;
    let liar = Issuer::start("/a", Some("https://token.actions.githubusercontent.com")).await;
    let (obj, app_id) = new_app(&g).await;
    let (st, v) = g
        .post(
            &format!("/applications/{obj}/federatedIdentityCredentials"),
            json!({"name": "liar", "issuer": liar.url, "subject": MAIN}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = exchange(&app_id, &liar.mint(|_| {})).await;
    assert_eq!((st, code(&v)), (400, 50166), "{v}");
    let d = v["error_description"].as_str().unwrap();
    assert!(
        d.contains(&liar.url) && d.contains("is not the requested issuer"),
        "{d}"
    );
    assert_eq!(
        liar.jwks_hits.load(Ordering::SeqCst),
        0,
        "keys are not fetched"
    );
}

#[tokio::test]
async fn concurrent_adds_respect_the_limit_and_store_nothing_extra() {
    let g = Arc::new(G::demo().await);
    let (obj, _) = new_app(&g).await;
    let base = format!("/applications/{obj}/federatedIdentityCredentials");
    let mut tasks = Vec::new();
    for i in 0..26 {
        let (g, base) = (g.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            g.post(
                &base,
                json!({"name": format!("fic-{i}"), "issuer": "https://token.actions.githubusercontent.com", "subject": format!("repo:o/r:ref:refs/heads/b{i}")}),
            )
            .await
        }));
    }
    let mut created = 0;
    let mut refused = 0;
    for t in tasks {
        let (st, v) = t.await.unwrap();
        match st {
            201 => created += 1,
            400 => {
                assert!(v.to_string().contains("at most 20"), "{v}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!((created, refused), (20, 6));
    let (st, v) = g.get(&base).await;
    assert_eq!(st, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 20, "{v}");
    // Two concurrent adds of the same issuer+subject: exactly one wins.
    let (obj2, _) = new_app(&g).await;
    let base2 = format!("/applications/{obj2}/federatedIdentityCredentials");
    let body = |n: &str| json!({"name": n, "issuer": "https://token.actions.githubusercontent.com", "subject": MAIN});
    let (a, b) = tokio::join!(g.post(&base2, body("one")), g.post(&base2, body("two")));
    let mut codes = [a.0, b.0];
    codes.sort_unstable();
    assert_eq!(codes, [201, 400], "{a:?} {b:?}");
    assert_eq!(g.get(&base2).await.1["value"].as_array().unwrap().len(), 1);
}
