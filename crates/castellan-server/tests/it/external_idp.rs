//! B2B guests of an external OpenID Connect provider: `/identity/identityProviders` through
//! Graph (bad configurations refused and nothing changes, the secret never returned, the
//! permission enforced), redemption at an in-process OP over real HTTPS (wrong address, bad
//! signature, state mismatch, provider down — each a page, nothing changed — then the
//! accepted guest), the guest's sign-in afterwards (`idp` = the OP, `acct` = 1, `tid` = the
//! resource tenant, the sign-in log naming the home issuer), and the `/common` tenant picker.

use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::security::mfa_guessing::{Browser, Page};
use crate::{alias, app_with, new_tenant, shared, G};

const CLIENT: &str = "castellan-at-op";
const SECRET: &str = "op-client-secret-Zq9";

#[derive(Default)]
struct OpState {
    nonce: String,
    challenge: String,
    email: String,
    forge: bool,
    seen_secret: String,
    /// Requests for the discovery document and the key set (the server caches both).
    discovery_hits: usize,
    jwks_hits: usize,
}

struct Op {
    url: String,
    state: Arc<Mutex<OpState>>,
}

fn es256_jwk(key: &rcgen::KeyPair, kid: &str) -> Value {
    let raw = key.public_key_raw().to_vec();
    json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&raw[1..33]), "y": URL_SAFE_NO_PAD.encode(&raw[33..])})
}

impl Op {
    /// An OP at `https://127.0.0.1:{port}` signing ES256 ID tokens for the address the test sets.
    async fn start() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let kid = alias("k");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let discovery = json!({
            "issuer": url,
            "authorization_endpoint": format!("{url}/auth"),
            "token_endpoint": format!("{url}/token"),
            "jwks_uri": format!("{url}/jwks"),
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        });
        let jwks = json!({"keys": [es256_jwk(&key, &kid)]});
        let state = Arc::new(Mutex::new(OpState::default()));
        let good = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
        let bad = jsonwebtoken::EncodingKey::from_ec_pem(other.serialize_pem().as_bytes()).unwrap();
        let (s1, s2) = (state.clone(), state.clone());
        let (s3, s4) = (state.clone(), state.clone());
        let iss = url.clone();
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    s3.lock().unwrap().discovery_hits += 1;
                    async move { Json(discovery) }
                }),
            )
            .route(
                "/jwks",
                get(move || {
                    s4.lock().unwrap().jwks_hits += 1;
                    async move { Json(jwks) }
                }),
            )
            .route(
                "/auth",
                get(move |Query(q): Query<std::collections::HashMap<String, String>>| {
                    let mut st = s1.lock().unwrap();
                    st.nonce = q.get("nonce").cloned().unwrap_or_default();
                    st.challenge = q.get("code_challenge").cloned().unwrap_or_default();
                    let to = format!(
                        "{}?code=the-code&state={}",
                        q["redirect_uri"],
                        q.get("state").cloned().unwrap_or_default()
                    );
                    async move { axum::response::Redirect::to(&to) }
                }),
            )
            .route(
                "/token",
                post(move |Form(f): Form<std::collections::HashMap<String, String>>| {
                    let mut st = s2.lock().unwrap();
                    st.seen_secret = f.get("client_secret").cloned().unwrap_or_default();
                    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
                    let pkce = URL_SAFE_NO_PAD.encode(castellan_core::secret::sha256(verifier.as_bytes()));
                    let now = castellan_server::state::now().secs();
                    let claims = json!({"iss": iss, "aud": CLIENT, "sub": format!("sub-{}", st.email),
                        "email": st.email, "email_verified": true, "name": "External Person",
                        "nonce": st.nonce, "iat": now, "exp": now + 300});
                    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
                    h.kid = Some(kid.clone());
                    let signer = if st.forge { &bad } else { &good };
                    let ok = pkce == st.challenge && f.get("client_id").map(String::as_str) == Some(CLIENT);
                    let body = if ok {
                        json!({"access_token": "x", "token_type": "Bearer", "id_token": jsonwebtoken::encode(&h, &claims, signer).unwrap()})
                    } else {
                        json!({"error": "invalid_grant", "error_description": "bad PKCE or client"})
                    };
                    let status = if ok { 200 } else { 400 };
                    async move { (axum::http::StatusCode::from_u16(status).unwrap(), Json(body)) }
                }),
            );
        let server = axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(shared().issuer_tls.clone()),
        )
        .unwrap();
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        Self { url, state }
    }

    fn set(&self, email: &str, forge: bool) {
        let mut st = self.state.lock().unwrap();
        st.email = email.to_string();
        st.forge = forge;
    }
}

fn provider_body(op: &str, domain: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.openIdConnectIdentityProvider",
        "displayName": alias("Fabrikam OP "),
        "clientId": CLIENT,
        "clientSecret": SECRET,
        "issuer": op,
        "scope": "openid profile email",
        "responseType": "code",
        "claimsMapping": {"userId": "sub", "email": "email", "displayName": "name"},
        "domains": [{"id": domain}],
    })
}

#[tokio::test]
async fn identity_providers_are_configured_through_graph_and_the_secret_never_returned() {
    let g = app_with(&["IdentityProvider.ReadWrite.All"]).await;
    let domain = format!("{}.example", alias("ext"));
    let (st, v) = g.get("/identity/identityProviders").await;
    assert_eq!(st, 200, "{v}");
    let before = g.all("/identity/identityProviders").await.len();
    // bad configurations: each refused naming the property, nothing stored
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let good = provider_body("https://op.invalid", &domain);
    let mut b = good.clone();
    b["issuer"] = json!("http://op.invalid");
    cases.push((b, "issuer"));
    let mut b = good.clone();
    b["responseType"] = json!("id_token");
    cases.push((b, "responseType"));
    let mut b = good.clone();
    b["domains"] = json!([]);
    cases.push((b, "domains"));
    let mut b = good.clone();
    b["scope"] = json!("profile");
    cases.push((b, "openid"));
    let mut b = good.clone();
    b["colour"] = json!("red");
    cases.push((b, "colour"));
    let mut b = good.clone();
    b.as_object_mut().unwrap().remove("clientSecret");
    cases.push((b, "clientSecret"));
    let mut b = good.clone();
    let own = shared().demo["domain"].as_str().unwrap().to_string();
    b["domains"] = json!([{"id": own}]);
    cases.push((b, "verified domain of this tenant"));
    for (body, needle) in cases {
        let (st, v) = g.post("/identity/identityProviders", body).await;
        assert_eq!(st, 400, "{needle}: {v}");
        assert!(v.to_string().contains(needle), "{needle}: {v}");
    }
    assert_eq!(g.all("/identity/identityProviders").await.len(), before);

    // a good one: the secret is masked, never returned
    let (st, p) = g.post("/identity/identityProviders", good.clone()).await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(
        p["@odata.type"],
        "#microsoft.graph.openIdConnectIdentityProvider"
    );
    assert_eq!(p["clientSecret"], "****");
    assert_eq!(p["domains"][0]["id"], domain.as_str());
    let id = p["id"].as_str().unwrap().to_string();
    let (st, one) = g.get(&format!("/identity/identityProviders/{id}")).await;
    assert_eq!(st, 200, "{one}");
    let list = g.all("/identity/identityProviders").await;
    for text in [one.to_string(), serde_json::to_string(&list).unwrap()] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains("Sealed"), "{text}");
    }
    // the same domain at a second provider is refused
    let (st, v) = g.post("/identity/identityProviders", good.clone()).await;
    assert_eq!(st, 400, "{v}");
    assert!(v.to_string().contains("served already"), "{v}");
    // PATCH keeps the secret; a bad PATCH changes nothing
    let (st, v) = g
        .patch(
            &format!("/identity/identityProviders/{id}"),
            json!({"scope": "openid email"}),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = g
        .patch(
            &format!("/identity/identityProviders/{id}"),
            json!({"issuer": "ftp://x"}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (_, one) = g.get(&format!("/identity/identityProviders/{id}")).await;
    assert_eq!(one["scope"], "openid email");
    assert_eq!(one["issuer"], "https://op.invalid");
    assert_eq!(one["clientSecret"], "****");
    assert!(
        G::demo()
            .await
            .audits_mentioning(p["displayName"].as_str().unwrap())
            .await
            >= 2
    );
    // without IdentityProvider.* the demo client is refused (positive control above)
    let (st, v) = G::demo().await.get("/identity/identityProviders").await;
    assert_eq!(st, 403, "{v}");
    assert!(v.to_string().contains("IdentityProvider"), "{v}");
    let (st, _) = g.delete(&format!("/identity/identityProviders/{id}")).await;
    assert_eq!(st, 204);
    let (st, _) = g.get(&format!("/identity/identityProviders/{id}")).await;
    assert_eq!(st, 404);
}

/// The redemption's "continue to the provider" page: its link.
fn continue_link(p: &Page) -> String {
    assert_eq!(p.status, 200, "{}", p.body);
    let at = p
        .body
        .find("id=\"continue\" href=\"")
        .unwrap_or_else(|| panic!("{}", p.body))
        + 20;
    let end = p.body[at..].find('"').unwrap() + at;
    p.body[at..end].replace("&amp;", "&")
}

/// The browser's visit to the OP's authorization endpoint (trusting the OP's CA): where it
/// sends the browser back.
async fn at_op(auth: &str) -> String {
    let ca = std::fs::read(shared().state.config.extra_ca_file.as_ref().unwrap()).unwrap();
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c.get(auth).send().await.unwrap();
    r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_string()
}

fn abs(loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_string()
    } else {
        format!("{}{loc}", shared().origin)
    }
}

/// Follows the redemption page through the OP up to the callback's page.
async fn via_op(b: &Browser, url: &str, op: &Op) -> Page {
    let landing = b.get(url).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert!(landing.body.contains("Sign in with"), "{}", landing.body);
    let start = b.submit(&landing, &[]).await;
    let auth = continue_link(&start);
    assert!(auth.starts_with(&format!("{}/auth?", op.url)), "{auth}");
    for p in [
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "response_type=code",
    ] {
        assert!(auth.contains(p), "{p}: {auth}");
    }
    let cb = at_op(&auth).await;
    assert!(cb.contains("/redeem/external/callback?"), "{cb}");
    b.get(&cb).await
}

#[tokio::test]
async fn a_guest_redeems_at_an_external_provider_then_signs_in_with_idp_and_acct() {
    let op = Op::start().await;
    let admin = app_with(&["IdentityProvider.ReadWrite.All"]).await;
    let g = G::demo().await;
    let domain = format!("{}.example", alias("op"));
    let (st, p) = admin
        .post(
            "/identity/identityProviders",
            provider_body(&op.url, &domain),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let email = format!("alice@{domain}");
    let (st, inv) = g
        .post(
            "/invitations",
            json!({"invitedUserEmailAddress": email, "inviteRedirectUrl": "https://app.example/welcome"}),
        )
        .await;
    assert_eq!(st, 201, "{inv}");
    let url = inv["inviteRedeemUrl"].as_str().unwrap().to_string();
    let id = inv["invitedUser"]["id"].as_str().unwrap().to_string();
    let pending = || async {
        let (_, u) = g.get(&format!("/users/{id}")).await;
        u["externalUserState"] == "PendingAcceptance"
    };

    // another address at the OP: refused, nothing changed
    op.set(&format!("mallory@{domain}"), false);
    let r = via_op(&Browser::new(), &url, &op).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("was sent to") && r.body.contains("Nothing was changed"),
        "{}",
        r.body
    );
    assert!(pending().await);
    // a forged signature: refused
    op.set(&email, true);
    let r = via_op(&Browser::new(), &url, &op).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("signature does not verify"), "{}", r.body);
    assert!(pending().await);
    // a state that is not the browser's: refused
    op.set(&email, false);
    let b = Browser::new();
    let landing = b.get(&url).await;
    let start = b.submit(&landing, &[]).await;
    let cb = at_op(&continue_link(&start))
        .await
        .replace("state=", "state=x");
    let r = b.get(&cb).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("state differs"), "{}", r.body);
    assert!(pending().await);
    // an answer naming another issuer (RFC 9207 mix-up): refused
    let b = Browser::new();
    let landing = b.get(&url).await;
    let start = b.submit(&landing, &[]).await;
    let cb = format!(
        "{}&iss=https%3A%2F%2Fevil.example",
        at_op(&continue_link(&start)).await
    );
    let r = b.get(&cb).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("names the issuer"), "{}", r.body);
    assert!(pending().await);
    // the secret really went to the OP (client_secret_post)
    assert_eq!(op.state.lock().unwrap().seen_secret, SECRET);

    // the invited address: the consent page, then Accepted with the OP's identity
    let br = Browser::new();
    let consent = via_op(&br, &url, &op).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        consent.body.contains("Review permissions"),
        "{}",
        consent.body
    );
    let done = br.submit(&consent, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("https://app.example/welcome")
    );
    let (_, u) = g.get(&format!("/users/{id}")).await;
    assert_eq!(u["externalUserState"], "Accepted", "{u}");
    assert!(
        u["identities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["signInType"] == "federated"
                && i["issuer"] == op.url.as_str()
                && i["issuerAssignedId"] == format!("sub-{email}").as_str()),
        "{u}"
    );

    // signing in to the resource tenant's app: home-realm discovery → the OP → back
    let d = &shared().demo;
    let cc = &d["confidential_client"];
    let (app_id, secret, redirect) = (
        cc["app_id"].as_str().unwrap(),
        cc["secret"].as_str().unwrap(),
        cc["redirect_uri"].as_str().unwrap(),
    );
    let tid = d["tenant_id"].as_str().unwrap();
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", app_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid profile User.Read")
        .append_pair("state", "g1")
        .append_pair("nonce", "n1")
        .finish();
    let b = Browser::new();
    let login = b
        .get(&format!(
            "{}/{tid}/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    let hrd = b
        .submit(
            &login,
            &[("username", &email), ("password", "not-checked-here")],
        )
        .await;
    assert_eq!(hrd.status, 303, "{}", hrd.body);
    let auth = hrd.location.clone().unwrap();
    assert!(auth.starts_with(&format!("{}/auth?", op.url)), "{auth}");
    let page = b.get(&abs(&at_op(&auth).await)).await;
    let to_app = page
        .location
        .clone()
        .unwrap_or_else(|| panic!("no redirect to the app ({}): {}", page.status, page.body));
    let code = url::Url::parse(&to_app)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("no code in {to_app}"));
    let (st, t) = crate::token_form(&[
        ("grant_type", "authorization_code"),
        ("client_id", app_id),
        ("client_secret", secret),
        ("code", &code),
        ("redirect_uri", redirect),
        ("scope", "openid profile User.Read"),
    ])
    .await;
    assert_eq!(st, 200, "{t}");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(t["id_token"].as_str().unwrap().split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["tid"], tid, "{claims}");
    assert_eq!(claims["oid"], id.as_str(), "{claims}");
    assert_eq!(claims["idp"], op.url.as_str(), "{claims}");
    assert_eq!(claims["acct"], 1, "{claims}");
    // the sign-in log names the home issuer
    let mut row = None;
    for _ in 0..50 {
        let logs = g
            .all(&format!("/auditLogs/signIns?$filter=userId eq '{id}'"))
            .await;
        row = logs.into_iter().find(|l| l["status"]["errorCode"] == 0);
        if row.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let row = row.expect("no successful sign-in of the guest in the log");
    assert_eq!(row["userType"], "guest", "{row}");
    assert_eq!(row["homeTenantName"], op.url.as_str(), "{row}");
    assert_eq!(row["crossTenantAccessType"], "b2bCollaboration", "{row}");

    // at /common the address belongs to no tenant here: the tenant it is a guest of (one, so
    // no picker) sends it to its provider, and the tokens are that tenant's
    let b = Browser::new();
    let login = b
        .get(&format!(
            "{}/common/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    let hrd = b
        .submit(&login, &[("username", &email), ("password", "x")])
        .await;
    assert_eq!(hrd.status, 303, "{}", hrd.body);
    let auth = hrd.location.clone().unwrap();
    assert!(auth.starts_with(&format!("{}/auth?", op.url)), "{auth}");
    let page = b.get(&abs(&at_op(&auth).await)).await;
    let to_app = page
        .location
        .clone()
        .unwrap_or_else(|| panic!("no redirect to the app ({}): {}", page.status, page.body));
    let code = url::Url::parse(&to_app)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("no code in {to_app}"));
    let (st, t) = crate::token_form_at(
        "common",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", app_id),
            ("client_secret", secret),
            ("code", &code),
            ("redirect_uri", redirect),
            ("scope", "openid profile User.Read"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(t["id_token"].as_str().unwrap().split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["tid"], tid, "{claims}");
    assert_eq!(claims["idp"], op.url.as_str(), "{claims}");
    // an address that is nobody's guest is still not found at /common (the control)
    let b = Browser::new();
    let login = b
        .get(&format!(
            "{}/common/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    let r = b
        .submit(
            &login,
            &[("username", &format!("nobody@{domain}")), ("password", "x")],
        )
        .await;
    assert_eq!(r.aadsts(), Some(50034), "{}", r.body);

    // the provider's discovery document and keys were fetched once for all these sign-ins
    {
        let st = op.state.lock().unwrap();
        assert_eq!(
            st.discovery_hits, 1,
            "discovery fetched {} times",
            st.discovery_hits
        );
        assert_eq!(st.jwks_hits, 1, "keys fetched {} times", st.jwks_hits);
    }

    // another account at the OP cannot sign in as this guest
    op.set(&format!("mallory@{domain}"), false);
    let b = Browser::new();
    let login = b
        .get(&format!(
            "{}/{tid}/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    let hrd = b
        .submit(&login, &[("username", &email), ("password", "x")])
        .await;
    let r = b
        .get(&abs(&at_op(hrd.location.as_deref().unwrap()).await))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("another account"), "{}", r.body);
    // … and the refusal is in the resource tenant's sign-in log, naming the cause
    let mut row = None;
    for _ in 0..50 {
        let logs = g
            .all(&format!("/auditLogs/signIns?$filter=userId eq '{id}'"))
            .await;
        row = logs.into_iter().find(|l| l["status"]["errorCode"] == 50166);
        if row.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let row = row.expect("no refused sign-in of the guest in the log");
    assert!(
        row["status"]["failureReason"]
            .as_str()
            .is_some_and(|r| r.contains("another account")),
        "{row}"
    );
    assert_eq!(row["appId"], app_id, "{row}");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_page_and_changes_nothing() {
    let admin = app_with(&["IdentityProvider.ReadWrite.All"]).await;
    let g = G::demo().await;
    let domain = format!("{}.example", alias("down"));
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (st, p) = admin
        .post(
            "/identity/identityProviders",
            provider_body(&format!("https://127.0.0.1:{port}"), &domain),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let (_, inv) = g
        .post(
            "/invitations",
            json!({"invitedUserEmailAddress": format!("bob@{domain}"), "inviteRedirectUrl": "https://app.example"}),
        )
        .await;
    let b = Browser::new();
    let landing = b.get(inv["inviteRedeemUrl"].as_str().unwrap()).await;
    let r = b.submit(&landing, &[]).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(
        r.body.contains("could not be used") && r.body.contains("Nothing was changed"),
        "{}",
        r.body
    );
    let (_, u) = g
        .get(&format!(
            "/users/{}",
            inv["invitedUser"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(u["externalUserState"], "PendingAcceptance");
}

/// A guest tenant chosen at `/common`: the home tenant's own sign-in (its MFA and Conditional
/// Access apply), then back to the chosen tenant's pipeline; returns the redirect to the app.
async fn through_home(b: &Browser, to_home: &Page, home: &str, upn: &str, pw: &str) -> String {
    assert_eq!(to_home.status, 303, "{}", to_home.body);
    let at = to_home.location.clone().unwrap();
    assert!(
        at.starts_with(&format!("/{home}/oauth2/v2.0/authorize?")),
        "{at}"
    );
    let login = b.get(&abs(&at)).await;
    let back = b
        .submit(&login, &[("username", upn), ("password", pw)])
        .await;
    let cb = back
        .location
        .clone()
        .unwrap_or_else(|| panic!("home sign-in ({}): {}", back.status, back.body));
    assert!(cb.contains("/redeem/callback?"), "{cb}");
    let page = b.get(&abs(&cb)).await;
    page.location
        .clone()
        .unwrap_or_else(|| panic!("no redirect to the app ({}): {}", page.status, page.body))
}

#[tokio::test]
async fn common_offers_the_tenants_a_guest_belongs_to_and_a_domain_hint_decides() {
    let g = G::demo().await;
    let home = new_tenant(&alias("home")).await;
    let upn = home["admin"]["upn"].as_str().unwrap().to_string();
    let pw = "Admin-Passw0rd!";
    let home_id = home["id"]
        .as_str()
        .or(home["tenantId"].as_str())
        .unwrap()
        .to_string();
    // security defaults off in the new home tenant (on again at the end: the positive control)
    set_security_defaults(&home_id, false).await;
    // the home admin becomes a guest of the demo tenant, redeeming at home
    let (st, inv) = g
        .post(
            "/invitations",
            json!({"invitedUserEmailAddress": upn, "inviteRedirectUrl": "https://app.example/welcome"}),
        )
        .await;
    assert_eq!(st, 201, "{inv}");
    let guest_id = inv["invitedUser"]["id"].as_str().unwrap().to_string();
    let b = Browser::new();
    let landing = b.get(inv["inviteRedeemUrl"].as_str().unwrap()).await;
    let start = b.submit(&landing, &[]).await;
    let login = b.get(&abs(start.location.as_deref().unwrap())).await;
    let done = b
        .submit(&login, &[("username", &upn), ("password", pw)])
        .await;
    let loc = done
        .location
        .clone()
        .unwrap_or_else(|| panic!("home sign-in ({}): {}", done.status, done.body));
    let consent = b.get(&abs(&loc)).await;
    let accepted = b.submit(&consent, &[]).await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);

    let d = &shared().demo;
    let cc = &d["confidential_client"];
    let (app_id, secret, redirect) = (
        cc["app_id"].as_str().unwrap(),
        cc["secret"].as_str().unwrap(),
        cc["redirect_uri"].as_str().unwrap(),
    );
    let tid = d["tenant_id"].as_str().unwrap();
    let authorize = |hint: Option<&str>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", app_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid profile User.Read")
            .append_pair("state", "c1")
            .append_pair("nonce", "n1");
        if let Some(h) = hint {
            q.append_pair("domain_hint", h);
        }
        format!(
            "{}/common/oauth2/v2.0/authorize?{}",
            shared().origin,
            q.finish()
        )
    };
    let code_of = |to_app: &str| {
        url::Url::parse(to_app)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| panic!("no code in {to_app}"))
    };
    let tokens = |code: String| async move {
        let (st, t) = crate::token_form_at(
            "common",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", app_id),
                ("client_secret", secret),
                ("code", &code),
                ("redirect_uri", redirect),
                ("scope", "openid profile User.Read"),
            ],
        )
        .await;
        assert_eq!(st, 200, "{t}");
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(t["id_token"].as_str().unwrap().split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        claims
    };

    // the picker: the home tenant first and preselected, then the demo tenant
    let b = Browser::new();
    let login = b.get(&authorize(None)).await;
    let picker = b
        .submit(&login, &[("username", &upn), ("password", pw)])
        .await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    assert!(
        picker.body.contains("Choose an organization"),
        "{}",
        picker.body
    );
    let (hi, di) = (
        picker.body.find(&home_id).unwrap(),
        picker.body.find(tid).unwrap(),
    );
    assert!(hi < di, "{}", picker.body);
    // a tenant not offered is refused
    let bad = b
        .submit(
            &picker,
            &[("tenant", "00000000-0000-0000-0000-000000000009")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    // the demo tenant: the guest's tokens come from it
    let b = Browser::new();
    let login = b.get(&authorize(None)).await;
    let picker = b
        .submit(&login, &[("username", &upn), ("password", pw)])
        .await;
    let to_home = b.submit(&picker, &[("tenant", tid)]).await;
    let loc = through_home(&b, &to_home, &home_id, &upn, pw).await;
    let claims = tokens(code_of(&loc)).await;
    assert_eq!(claims["tid"], tid, "{claims}");
    assert_eq!(claims["oid"], guest_id.as_str(), "{claims}");
    assert_eq!(claims["acct"], 1, "{claims}");
    assert_eq!(
        claims["idp"],
        format!("https://sts.windows.net/{home_id}/").as_str(),
        "{claims}"
    );

    // domain_hint naming the demo tenant decides: no picker
    let b = Browser::new();
    let login = b.get(&authorize(Some(tid))).await;
    let to_home = b
        .submit(&login, &[("username", &upn), ("password", pw)])
        .await;
    let loc = through_home(&b, &to_home, &home_id, &upn, pw).await;
    assert_eq!(tokens(code_of(&loc)).await["tid"], tid);
    // a member of one tenant only (the demo admin) gets no picker at /common
    let b = Browser::new();
    let login = b.get(&authorize(None)).await;
    let (au, ap) = (
        d["admin"]["upn"].as_str().unwrap(),
        d["admin"]["password"].as_str().unwrap(),
    );
    let r = b
        .submit(&login, &[("username", au), ("password", ap)])
        .await;
    assert!(!r.body.contains("Choose an organization"), "{}", r.body);

    // the home tenant's SSO session at /common is a first factor too: the picker, without a
    // password; a silent request (prompt=none) never shows it and resolves to the home tenant
    let b = Browser::new();
    let home_login = b
        .get(&authorize(None).replace("/common/", &format!("/{home_id}/")))
        .await;
    let signed_in = b
        .submit(&home_login, &[("username", &upn), ("password", pw)])
        .await;
    assert!(
        signed_in
            .set_cookies
            .iter()
            .any(|c| c.starts_with("castellan_sso_")),
        "no home session ({}): {}",
        signed_in.status,
        signed_in.body
    );
    let picker = b.get(&authorize(None)).await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    assert!(
        picker.body.contains("Choose an organization")
            && !picker.body.contains("name=\"password\""),
        "{}",
        picker.body
    );
    let silent = b.get(&format!("{}&prompt=none", authorize(None))).await;
    assert!(
        silent
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with(redirect)),
        "prompt=none ({}): {:?} {}",
        silent.status,
        silent.location,
        silent.body
    );
    // picking the demo tenant goes through the home tenant's session (no password asked)
    let to_home = b.submit(&picker, &[("tenant", tid)]).await;
    assert_eq!(to_home.status, 303, "{}", to_home.body);
    let at_home = b.get(&abs(to_home.location.as_deref().unwrap())).await;
    let cb = at_home
        .location
        .clone()
        .unwrap_or_else(|| panic!("home SSO ({}): {}", at_home.status, at_home.body));
    assert!(cb.contains("/redeem/callback?"), "{cb}");
    let page = b.get(&abs(&cb)).await;
    let claims = tokens(code_of(page.location.as_deref().unwrap_or_else(|| {
        panic!("no redirect to the app ({}): {}", page.status, page.body)
    })))
    .await;
    assert_eq!(claims["tid"], tid, "{claims}");
    assert_eq!(claims["oid"], guest_id.as_str(), "{claims}");

    // picking the guest tenant does not skip the home tenant's rules: with its security
    // defaults on, the home sign-in asks for MFA registration and no code is issued
    set_security_defaults(&home_id, true).await;
    let b = Browser::new();
    let login = b.get(&authorize(None)).await;
    let picker = b
        .submit(&login, &[("username", &upn), ("password", pw)])
        .await;
    let to_home = b.submit(&picker, &[("tenant", tid)]).await;
    assert_eq!(to_home.status, 303, "{}", to_home.body);
    let home_login = b.get(&abs(to_home.location.as_deref().unwrap())).await;
    let r = b
        .submit(&home_login, &[("username", &upn), ("password", pw)])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("AADSTS50079"), "{}", r.body);
    assert!(r.location.is_none());
}

async fn set_security_defaults(tenant: &str, on: bool) {
    let store = &shared().state.store;
    let t = store
        .tenant(castellan_core::TenantId::parse(tenant).unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut next = t.clone();
    next.settings.security_defaults = on;
    let mut set = castellan_core::store::ChangeSet::new();
    set.push(castellan_core::store::Change::ReplaceTenant(
        Box::new(t),
        Box::new(next),
    ));
    store.commit(set).await.unwrap();
}
