//! Client address behind a trusted proxy, GeoIP, and Identity Protection in real sign-ins, end
//! to end over HTTPS. A server of its own runs with `--trusted-proxy 127.0.0.1/32` (so a test
//! picks its client address with `X-Forwarded-For`), the test GeoIP database
//! (`tests/data/geoip-test.mmdb`: 10.1/16 → Wellington NZ, 10.2/16 → Berlin DE, 10.3/16 →
//! New York US, 10.4/16 → FR without coordinates), an anonymizer list (10.66/16) and a
//! leaked-password list. The addresses only ever travel in headers.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{alias, shared};

const PW: &str = "Test-Passw0rd!";
const LEAKED: &str = "Leaked-Passw0rd!7";

struct Srv {
    origin: String,
    demo: Value,
    ca: Vec<u8>,
    /// A user whose password (`LEAKED`) was set before the leaked list knew it.
    leaky_upn: String,
}

static SRV: OnceLock<Srv> = OnceLock::new();

fn geoip_db() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/geoip-test.mmdb")
}

fn srv() -> &'static Srv {
    SRV.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let dir = std::env::temp_dir().join(format!(
                    "castellan-idprot-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4()
                ));
                std::fs::create_dir_all(&dir).unwrap();
                let anon = dir.join("anonymizers.txt");
                std::fs::write(&anon, "# Tor exits (test)\n10.66.0.0/16\n").unwrap();
                let leaked = dir.join("leaked.txt");
                let h = castellan_core::policy::risk::password_sha1_hex(LEAKED);
                std::fs::write(&leaked, format!("{}:{}\n", &h[..5], &h[5..])).unwrap();
                let mut args = castellan_server::ServeArgs::for_test(dir.clone());
                args.demo = true;
                args.trusted_proxies = vec!["127.0.0.1/32".into()];
                args.geoip_db = Some(geoip_db());
                args.anonymous_ip_list = Some(anon);
                args.leaked_passwords = Some(leaked);
                let r = castellan_server::start(args).await.unwrap();
                let demo = r.demo.clone().unwrap();
                // A password set before the list knew it (through core, as an import would).
                let tid =
                    castellan_core::TenantId::parse(demo["tenant_id"].as_str().unwrap()).unwrap();
                let tenant = r.state.store.tenant(tid).await.unwrap().unwrap();
                let mut entropy = castellan_server::crypto::OsEntropy;
                let mut env = castellan_core::ops::Env {
                    store: r.state.store.as_ref(),
                    now: castellan_server::state::now(),
                    entropy: &mut entropy,
                    hasher: &r.state.hasher,
                    actor: castellan_core::audit::Actor::Operator,
                    correlation_id: "test".into(),
                };
                let leaky_upn = format!("leaky@{}", demo["domain"].as_str().unwrap());
                castellan_core::ops::users::create(
                    &mut env,
                    &tenant,
                    castellan_core::ops::users::UserInput {
                        display_name: castellan_core::ops::Field::Value("Leaky".into()),
                        user_principal_name: castellan_core::ops::Field::Value(leaky_upn.clone()),
                        account_enabled: castellan_core::ops::Field::Value(true),
                        password: castellan_core::ops::Field::Value(LEAKED.into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
                let s = Srv {
                    origin: r.origin.clone(),
                    demo,
                    ca: std::fs::read(dir.join("tls/ca.pem")).unwrap(),
                    leaky_upn,
                };
                tx.send(s).unwrap();
                let _keep = r;
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    })
}

fn client(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .build()
        .unwrap()
}

/// ROPC at our server from `xff` with `ua`.
async fn ropc(upn: &str, pw: &str, xff: &str, ua: &str) -> (u16, Value) {
    let s = srv();
    let r = client(&s.ca)
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            s.origin,
            s.demo["tenant_id"].as_str().unwrap()
        ))
        .header("x-forwarded-for", xff)
        .header("user-agent", ua)
        .form(&[
            ("grant_type", "password"),
            (
                "client_id",
                s.demo["public_client"]["app_id"].as_str().unwrap(),
            ),
            ("username", upn),
            ("password", pw),
            ("scope", "User.Read"),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn code(v: &Value) -> u64 {
    v["error_codes"][0].as_u64().unwrap_or(0)
}

/// Graph at our server as the demo confidential client.
struct Gx {
    token: String,
    http: reqwest::Client,
    base: String,
}

impl Gx {
    async fn new() -> Self {
        let s = srv();
        let http = client(&s.ca);
        let v: Value = http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                s.origin,
                s.demo["tenant_id"].as_str().unwrap()
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                (
                    "client_id",
                    s.demo["confidential_client"]["app_id"].as_str().unwrap(),
                ),
                (
                    "client_secret",
                    s.demo["confidential_client"]["secret"].as_str().unwrap(),
                ),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            token: v["access_token"].as_str().unwrap().to_string(),
            http,
            base: format!("{}/v1.0", s.origin),
        }
    }
    async fn send(&self, m: reqwest::Method, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut rb = self
            .http
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = rb.send().await.unwrap();
        let st = r.status().as_u16();
        let t = r.text().await.unwrap();
        (st, serde_json::from_str(&t).unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(&body.to_string()))
            .await
    }
    async fn new_user(&self) -> (String, String) {
        let a = alias("ip");
        let upn = format!("{a}@{}", srv().demo["domain"].as_str().unwrap());
        let (st, v) = self
            .post("/users", &json!({"accountEnabled": true, "displayName": a, "mailNickname": a, "userPrincipalName": upn, "passwordProfile": {"password": PW, "forceChangePasswordNextSignIn": false}}))
            .await;
        assert_eq!(st, 201, "{v}");
        (v["id"].as_str().unwrap().to_string(), upn)
    }
    /// The user's sign-in records, waiting for the log writer (it batches).
    async fn sign_ins(&self, upn: &str, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            let (st, v) = self
                .get(&format!(
                    "/auditLogs/signIns?$filter=userPrincipalName%20eq%20'{upn}'"
                ))
                .await;
            assert_eq!(st, 200, "{v}");
            let items = v["value"].as_array().unwrap().clone();
            if items.len() >= n {
                return items;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} sign-ins for {upn}");
    }
    async fn detections(&self, uid: &str) -> Vec<Value> {
        let (st, v) = self
            .get(&format!(
                "/identityProtection/riskDetections?$filter=userId%20eq%20'{uid}'"
            ))
            .await;
        assert_eq!(st, 200, "{v}");
        v["value"].as_array().unwrap().clone()
    }
    async fn risky_user(&self, uid: &str) -> (u16, Value) {
        self.get(&format!("/identityProtection/riskyUsers/{uid}"))
            .await
    }
    async fn block_policy(&self, uid: &str, condition: &str, level: &str) -> String {
        let (st, v) = self
            .post(
                "/identity/conditionalAccess/policies",
                &json!({
                    "displayName": format!("Block {condition} {level} for {uid}"),
                    "state": "enabled",
                    "conditions": {
                        "users": {"includeUsers": [uid]},
                        "applications": {"includeApplications": ["All"]},
                        "clientAppTypes": ["all"],
                        condition: [level],
                    },
                    "grantControls": {"operator": "OR", "builtInControls": ["block"]},
                }),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
}

fn kinds(d: &[Value]) -> Vec<&str> {
    let mut k: Vec<&str> = d
        .iter()
        .map(|x| x["riskEventType"].as_str().unwrap())
        .collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy_and_geoip_places_the_sign_in() {
    let g = Gx::new().await;
    let (_, upn) = g.new_user().await;
    // Trusted loopback proxy: the forwarded address, placed by GeoIP.
    let (st, v) = ropc(&upn, PW, "203.0.113.50, 10.1.2.3", "agent/1").await;
    assert_eq!(st, 200, "{v}");
    let rec = &g.sign_ins(&upn, 1).await[0];
    assert_eq!(rec["ipAddress"], "10.1.2.3");
    assert_eq!(rec["location"]["countryOrRegion"], "NZ");
    assert_eq!(rec["location"]["city"], "Wellington");
    assert!(
        (rec["location"]["geoCoordinates"]["latitude"]
            .as_f64()
            .unwrap()
            + 41.2866)
            .abs()
            < 1e-6
    );
    assert_eq!(rec["riskLevelDuringSignIn"], "none");
    // A malformed header stops at the proxy itself.
    let (st, _) = ropc(&upn, PW, "garbage", "agent/1").await;
    assert_eq!(st, 200);
    // (Records of the same second may come in either order: find them by address.)
    let recs = g.sign_ins(&upn, 2).await;
    let proxy = recs.iter().find(|r| r["ipAddress"] == "127.0.0.1").unwrap();
    assert_eq!(proxy["location"]["countryOrRegion"], Value::Null);
    assert!(recs.iter().any(|r| r["ipAddress"] == "10.1.2.3"));
    // The shared server trusts no proxy: the same header from the same peer is ignored.
    let sh = shared();
    let r = crate::http()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sh.origin,
            sh.demo["tenant_id"].as_str().unwrap()
        ))
        .header("x-forwarded-for", "10.1.2.3")
        .form(&[
            ("grant_type", "password"),
            (
                "client_id",
                sh.demo["public_client"]["app_id"].as_str().unwrap(),
            ),
            ("username", sh.demo["user"]["upn"].as_str().unwrap()),
            ("password", sh.demo["user"]["password"].as_str().unwrap()),
            ("scope", "User.Read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cid = r.headers()["client-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let gs = crate::G::demo().await;
    let mut found = None;
    for _ in 0..100 {
        let all = gs.all("/auditLogs/signIns").await;
        if let Some(x) = all.into_iter().find(|x| x["correlationId"] == cid.as_str()) {
            found = Some(x);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(found.unwrap()["ipAddress"], "127.0.0.1");
}

#[tokio::test]
async fn impossible_travel_nz_then_de_is_high_and_a_sign_in_risk_policy_blocks_only_that_sign_in() {
    let g = Gx::new().await;
    let (uid, upn) = g.new_user().await;
    g.block_policy(&uid, "signInRiskLevels", "high").await;
    let (st, v) = ropc(&upn, PW, "10.1.0.5", "agent/1").await;
    assert_eq!(st, 200, "first sign-in, no history: {v}");
    assert!(g.detections(&uid).await.is_empty());
    // Berlin minutes after Wellington: ~18,000 km, far beyond any airliner → high.
    let (st, v) = ropc(&upn, PW, "10.2.0.5", "agent/1").await;
    assert_eq!((st, code(&v)), (400, 53003), "{v}");
    let d = g.detections(&uid).await;
    assert_eq!(kinds(&d), ["impossibleTravel"]);
    assert_eq!(d[0]["riskLevel"], "high");
    assert_eq!(d[0]["riskState"], "atRisk");
    assert_eq!(d[0]["activity"], "signin");
    assert_eq!(d[0]["detectionTimingType"], "realtime");
    assert_eq!(d[0]["ipAddress"], "10.2.0.5");
    assert_eq!(d[0]["location"]["countryOrRegion"], "DE");
    assert_eq!(d[0]["userPrincipalName"], upn.as_str());
    assert!(d[0]["additionalInfo"].as_str().unwrap().contains("km"));
    // The blocked sign-in's record carries the risk.
    let recs = g.sign_ins(&upn, 2).await;
    let blocked = recs
        .iter()
        .find(|r| r["status"]["errorCode"] == 53003)
        .unwrap();
    assert_eq!(blocked["ipAddress"], "10.2.0.5");
    assert_eq!(blocked["riskLevelDuringSignIn"], "high");
    assert_eq!(blocked["riskLevelAggregated"], "high");
    assert_eq!(blocked["riskState"], "atRisk");
    assert_eq!(blocked["riskEventTypes_v2"], json!(["impossibleTravel"]));
    let first = recs.iter().find(|r| r["ipAddress"] == "10.1.0.5").unwrap();
    assert_eq!(first["riskLevelDuringSignIn"], "none");
    // Berlin again: no travel, no sign-in risk; the sign-in-risk policy lets it through even
    // though the user is still at risk.
    let (st, v) = ropc(&upn, PW, "10.2.0.6", "agent/1").await;
    assert_eq!(st, 200, "{v}");
    let (st, u) = g.risky_user(&uid).await;
    assert_eq!(st, 200, "{u}");
    assert_eq!(
        (u["riskLevel"].as_str(), u["riskState"].as_str()),
        (Some("high"), Some("atRisk"))
    );
    // A single detection by id.
    let id = d[0]["id"].as_str().unwrap();
    let (st, one) = g
        .get(&format!("/identityProtection/riskDetections/{id}"))
        .await;
    assert_eq!((st, one["id"].as_str()), (200, Some(id)));
    let (st, _) = g
        .get("/identityProtection/riskDetections/not-a-detection")
        .await;
    assert_eq!(st, 404);
    // $filter on riskEventType.
    let (st, v) = g
        .get("/identityProtection/riskDetections?$filter=riskEventType%20eq%20'impossibleTravel'")
        .await;
    assert_eq!(st, 200);
    assert!(v["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["riskEventType"] == "impossibleTravel"));
    assert!(v["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["userId"] == uid.as_str()));
}

#[tokio::test]
async fn anonymous_ip_from_a_listed_range_is_medium() {
    let g = Gx::new().await;
    let (uid, upn) = g.new_user().await;
    let (st, v) = ropc(&upn, PW, "10.66.9.9", "agent/1").await;
    assert_eq!(st, 200, "{v}");
    let d = g.detections(&uid).await;
    assert_eq!(kinds(&d), ["anonymizedIPAddress"]);
    assert_eq!(d[0]["riskLevel"], "medium");
    let recs = g.sign_ins(&upn, 1).await;
    assert_eq!(recs[0]["riskLevelDuringSignIn"], "medium");
    // Just outside the range: nothing.
    let (uid2, upn2) = g.new_user().await;
    assert_eq!(ropc(&upn2, PW, "10.67.0.1", "agent/1").await.0, 200);
    assert!(g.detections(&uid2).await.is_empty());
}

#[tokio::test]
async fn unfamiliar_properties_after_an_established_history_but_not_before() {
    let g = Gx::new().await;
    let (uid, upn) = g.new_user().await;
    // The very first sign-in, from anywhere, is not unfamiliar (nothing to compare with).
    assert_eq!(ropc(&upn, PW, "10.4.0.1", "curl/8.1").await.0, 200);
    assert!(g.detections(&uid).await.is_empty());
    // Four more from France (no coordinates in the DB: no travel either): five in history.
    for i in 2..=5 {
        assert_eq!(
            ropc(&upn, PW, &format!("10.4.0.{i}"), "curl/8.1").await.0,
            200
        );
    }
    // Still learning before the fifth: a new network + country + client from the sixth on.
    assert!(g.detections(&uid).await.is_empty());
    let (st, v) = ropc(&upn, PW, "10.1.7.7", "Mozilla/5.0 Firefox/140").await;
    assert_eq!(st, 200, "{v}");
    let d = g.detections(&uid).await;
    assert_eq!(kinds(&d), ["unfamiliarFeatures"]);
    assert_eq!(
        d[0]["riskLevel"], "medium",
        "network, country and client are all new"
    );
    // A browser update from a familiar network is nothing.
    let (uid2, upn2) = g.new_user().await;
    for i in 1..=5 {
        assert_eq!(
            ropc(&upn2, PW, &format!("10.4.1.{i}"), "curl/8.1").await.0,
            200
        );
    }
    assert_eq!(ropc(&upn2, PW, "10.4.1.9", "curl/8.2").await.0, 200);
    assert!(g.detections(&uid2).await.is_empty());
}

#[tokio::test]
async fn password_spray_from_one_address_flags_the_next_successful_sign_in() {
    let g = Gx::new().await;
    let (uid, upn) = g.new_user().await;
    let domain = srv().demo["domain"].as_str().unwrap().to_string();
    // Nine accounts failing is not yet a spray.
    for i in 0..9 {
        let (st, v) = ropc(
            &format!("sprayed{i}@{domain}"),
            "Winter2026!",
            "10.77.0.1",
            "spray/1",
        )
        .await;
        assert_eq!(st, 400, "{v}");
    }
    let (uid0, upn0) = g.new_user().await;
    assert_eq!(ropc(&upn0, PW, "10.77.0.1", "agent/1").await.0, 200);
    assert!(
        g.detections(&uid0).await.is_empty(),
        "9 accounts is below the threshold"
    );
    // The tenth distinct account (a real one, wrong password).
    let (st, v) = ropc(&upn, "Winter2026!", "10.77.0.1", "spray/1").await;
    assert_eq!((st, code(&v)), (400, 50126), "{v}");
    // The sprayed user's correct password from the same address: a spray hit.
    assert_eq!(ropc(&upn, PW, "10.77.0.1", "agent/1").await.0, 200);
    let d = g.detections(&uid).await;
    assert_eq!(kinds(&d), ["passwordSpray"]);
    assert_eq!(d[0]["riskLevel"], "medium");
    // Another address is not the spraying source.
    let (uid3, upn3) = g.new_user().await;
    assert_eq!(ropc(&upn3, PW, "10.77.0.2", "agent/1").await.0, 200);
    assert!(g.detections(&uid3).await.is_empty());
}

#[tokio::test]
async fn leaked_credentials_at_sign_in_and_refused_as_a_new_password() {
    let g = Gx::new().await;
    let s = srv();
    let (st, v) = ropc(&s.leaky_upn, LEAKED, "10.3.0.1", "agent/1").await;
    assert_eq!(st, 200, "{v}");
    let (st, u) = g.get(&format!("/users/{}", s.leaky_upn)).await;
    assert_eq!(st, 200);
    let uid = u["id"].as_str().unwrap().to_string();
    let d = g.detections(&uid).await;
    assert_eq!(kinds(&d), ["leakedCredentials"]);
    assert_eq!(d[0]["riskLevel"], "high");
    assert_eq!(d[0]["activity"], "user");
    assert_eq!(d[0]["detectionTimingType"], "offline");
    // It is user risk, not this sign-in's risk.
    let recs = g.sign_ins(&s.leaky_upn, 1).await;
    assert_eq!(recs[0]["riskLevelDuringSignIn"], "none");
    assert_eq!(recs[0]["riskLevelAggregated"], "high");
    assert_eq!(g.risky_user(&uid).await.1["riskLevel"], "high");
    // Graph refuses the leaked password as a new one, and changes nothing.
    let (id, upn) = g.new_user().await;
    let (st, e) = g
        .send(
            reqwest::Method::PATCH,
            &format!("/users/{id}"),
            Some(&json!({"passwordProfile": {"password": LEAKED}}).to_string()),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("leaked"),
        "{e}"
    );
    assert_eq!(
        ropc(&upn, PW, "10.3.0.2", "agent/1").await.0,
        200,
        "old password still works"
    );
    let a = alias("lk");
    let (st, e) = g
        .post("/users", &json!({"accountEnabled": true, "displayName": a, "mailNickname": a, "userPrincipalName": format!("{a}@{}", s.demo["domain"].as_str().unwrap()), "passwordProfile": {"password": LEAKED}}))
        .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(
        g.get(&format!(
            "/users/{a}@{}",
            s.demo["domain"].as_str().unwrap()
        ))
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn confirm_compromised_blocks_by_user_risk_and_dismiss_lets_the_user_back() {
    let g = Gx::new().await;
    let (uid, upn) = g.new_user().await;
    let (bystander, bupn) = g.new_user().await;
    g.block_policy(&uid, "userRiskLevels", "high").await;
    // A refresh token from before the confirmation (grants without a new password carry the
    // user's standing risk).
    let s = srv();
    let token_url = format!(
        "{}/{}/oauth2/v2.0/token",
        s.origin,
        s.demo["tenant_id"].as_str().unwrap()
    );
    let public = s.demo["public_client"]["app_id"].as_str().unwrap();
    let v: Value = client(&s.ca)
        .post(&token_url)
        .header("x-forwarded-for", "10.3.0.9")
        .form(&[
            ("grant_type", "password"),
            ("client_id", public),
            ("username", upn.as_str()),
            ("password", PW),
            ("scope", "User.Read offline_access"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    // Not a risky user yet.
    assert_eq!(g.risky_user(&uid).await.0, 404);
    let (st, _) = g
        .post(
            "/identityProtection/riskyUsers/confirmCompromised",
            &json!({"userIds": [uid]}),
        )
        .await;
    assert_eq!(st, 204);
    let (_, u) = g.risky_user(&uid).await;
    assert_eq!(
        (
            u["riskLevel"].as_str(),
            u["riskState"].as_str(),
            u["riskDetail"].as_str()
        ),
        (
            Some("high"),
            Some("confirmedCompromised"),
            Some("adminConfirmedUserCompromised")
        )
    );
    let (st, list) = g.get("/identityProtection/riskyUsers").await;
    assert_eq!(st, 200);
    assert!(list["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == uid.as_str() && x["userPrincipalName"] == upn.as_str()));
    let (st, v) = ropc(&upn, PW, "10.3.0.9", "agent/1").await;
    assert_eq!((st, code(&v)), (400, 53003), "{v}");
    let r = client(&s.ca)
        .post(&token_url)
        .header("x-forwarded-for", "10.3.0.9")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", public),
            ("refresh_token", refresh.as_str()),
            ("scope", "User.Read"),
        ])
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (st, code(&v)),
        (400, 53003),
        "refresh with user risk high: {v}"
    );
    // Bad input changes nothing: unknown user, malformed bodies, too many ids.
    let unknown = uuid::Uuid::new_v4().to_string();
    for (body, status) in [
        (json!({"userIds": [uid, unknown]}), 404),
        (json!({"userIds": ["not-a-guid"]}), 400),
        (json!({"userIds": []}), 400),
        (json!({"userIds": uid}), 400),
        (json!({"ids": [uid]}), 400),
        (json!({"userIds": vec![uid.clone(); 61]}), 400),
    ] {
        let (st, e) = g
            .post("/identityProtection/riskyUsers/dismiss", &body)
            .await;
        assert_eq!(st, status, "{body}: {e}");
        assert!(
            !e["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{e}"
        );
    }
    let (st, _) = g
        .send(
            reqwest::Method::POST,
            "/identityProtection/riskyUsers/dismiss",
            Some("{not json"),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        g.risky_user(&uid).await.1["riskState"],
        "confirmedCompromised"
    );
    // Dismiss: none, and the user signs in again.
    let (st, _) = g
        .post(
            "/identityProtection/riskyUsers/dismiss",
            &json!({"userIds": [uid]}),
        )
        .await;
    assert_eq!(st, 204);
    let (_, u) = g.risky_user(&uid).await;
    assert_eq!(
        (
            u["riskLevel"].as_str(),
            u["riskState"].as_str(),
            u["riskDetail"].as_str()
        ),
        (
            Some("none"),
            Some("dismissed"),
            Some("adminDismissedAllRiskForUser")
        )
    );
    assert_eq!(ropc(&upn, PW, "10.3.0.9", "agent/1").await.0, 200);
    // History names the administrator (the calling app's service principal).
    let (st, h) = g
        .get(&format!("/identityProtection/riskyUsers/{uid}/history"))
        .await;
    assert_eq!(st, 200, "{h}");
    let items = h["value"].as_array().unwrap();
    for state in ["dismissed", "confirmedCompromised"] {
        let item = items.iter().find(|i| i["riskState"] == state).unwrap();
        assert!(item["initiatedBy"].is_string(), "{item}");
        assert_eq!(item["userId"], uid.as_str());
    }
    // The bystander was never touched.
    assert_eq!(g.risky_user(&bystander).await.0, 404);
    assert_eq!(ropc(&bupn, PW, "10.3.0.10", "agent/1").await.0, 200);
    // Audited.
    let (_, audits) = g.get("/auditLogs/directoryAudits").await;
    let ours: Vec<&Value> = audits["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a.to_string().contains(&uid))
        .collect();
    assert!(
        ours.iter()
            .any(|a| a["activityDisplayName"] == "Confirm user compromised"),
        "{ours:?}"
    );
    assert!(
        ours.iter()
            .any(|a| a["activityDisplayName"] == "Dismiss user risk"),
        "{ours:?}"
    );
}

#[tokio::test]
async fn identity_protection_needs_its_permissions() {
    // The shared demo server's user token (User.Read) cannot read risky users.
    let s = srv();
    let r = client(&s.ca)
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            s.origin,
            s.demo["tenant_id"].as_str().unwrap()
        ))
        .form(&[
            ("grant_type", "password"),
            (
                "client_id",
                s.demo["public_client"]["app_id"].as_str().unwrap(),
            ),
            ("username", s.demo["user"]["upn"].as_str().unwrap()),
            ("password", s.demo["user"]["password"].as_str().unwrap()),
            ("scope", "User.Read"),
        ])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let token = v["access_token"].as_str().unwrap();
    let g = Gx {
        token: token.to_string(),
        http: client(&s.ca),
        base: format!("{}/v1.0", s.origin),
    };
    let (st, e) = g.get("/identityProtection/riskyUsers").await;
    assert_eq!(st, 403, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("IdentityRiskyUser.Read.All"));
    let (st, _) = g
        .post(
            "/identityProtection/riskyUsers/dismiss",
            &json!({"userIds": [s.demo["user"]["id"]]}),
        )
        .await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn bad_list_files_and_geoip_databases_stop_the_server_with_the_file_named() {
    let dir = std::env::temp_dir().join(format!("castellan-idprot-bad-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let anon = dir.join("anon.txt");
    std::fs::write(&anon, "10.0.0.0/8\nnot-a-range\n").unwrap();
    let leaked = dir.join("leaked.txt");
    std::fs::write(&leaked, "abc\n").unwrap();
    let bad_db = dir.join("bad.mmdb");
    std::fs::write(&bad_db, b"not a MaxMind DB").unwrap();
    let base = || castellan_server::ServeArgs::for_test(dir.join("data"));
    let cases: Vec<(castellan_server::ServeArgs, String)> = vec![
        (
            {
                let mut a = base();
                a.anonymous_ip_list = Some(anon.clone());
                a
            },
            format!("{}:2:", anon.display()),
        ),
        (
            {
                let mut a = base();
                a.leaked_passwords = Some(leaked.clone());
                a
            },
            format!("{}:1:", leaked.display()),
        ),
        (
            {
                let mut a = base();
                a.anonymous_ip_list = Some(dir.join("missing.txt"));
                a
            },
            dir.join("missing.txt").display().to_string(),
        ),
        (
            {
                let mut a = base();
                a.geoip_db = Some(bad_db.clone());
                a
            },
            bad_db.display().to_string(),
        ),
        (
            {
                let mut a = base();
                a.geoip_db = Some(dir.join("GeoLite2-Country.mmdb"));
                a
            },
            "GeoLite2-Country.mmdb".into(),
        ),
        (
            {
                let mut a = base();
                a.trusted_proxies = vec!["10.0.0.0/33".into()];
                a
            },
            "--trusted-proxy".into(),
        ),
    ];
    for (args, needle) in cases {
        match castellan_server::start(args).await {
            Ok(_) => panic!("started despite {needle}"),
            Err(e) => assert!(e.to_string().contains(&needle), "{needle}: {e}"),
        }
    }
    // Nothing was created: the error comes before the data dir is touched.
    assert!(!dir.join("data").exists());
}

#[tokio::test]
async fn country_named_locations_use_geoip_including_unknown_countries() {
    let g = Gx::new().await;
    async fn blocked_from(g: &Gx, uid: &str, countries: &[&str], unknown: bool) {
        let (st, loc) = g
            .post(
                "/identity/conditionalAccess/namedLocations",
                &json!({
                    "@odata.type": "#microsoft.graph.countryNamedLocation",
                    "displayName": format!("Countries {countries:?} for {uid}"),
                    "countriesAndRegions": countries,
                    "includeUnknownCountriesAndRegions": unknown,
                }),
            )
            .await;
        assert_eq!(st, 201, "{loc}");
        let (st, v) = g
            .post(
                "/identity/conditionalAccess/policies",
                &json!({
                    "displayName": format!("Block from {countries:?} for {uid}"),
                    "state": "enabled",
                    "conditions": {
                        "users": {"includeUsers": [uid]},
                        "applications": {"includeApplications": ["All"]},
                        "clientAppTypes": ["all"],
                        "locations": {"includeLocations": [loc["id"]]},
                    },
                    "grantControls": {"operator": "OR", "builtInControls": ["block"]},
                }),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }
    let (uid, upn) = g.new_user().await;
    blocked_from(&g, &uid, &["NZ"], false).await;
    assert_eq!(
        ropc(&upn, PW, "10.3.0.1", "agent/1").await.0,
        200,
        "US is not NZ"
    );
    let (st, v) = ropc(&upn, PW, "2001:db8:1::9", "agent/1").await;
    assert_eq!((st, code(&v)), (400, 53003), "NZ over IPv6: {v}");
    assert_eq!(
        ropc(&upn, PW, "10.9.0.1", "agent/1").await.0,
        200,
        "unknown is not NZ"
    );
    let (uid2, upn2) = g.new_user().await;
    blocked_from(&g, &uid2, &["FR"], true).await;
    let (st, v) = ropc(&upn2, PW, "10.9.0.1", "agent/1").await;
    assert_eq!(
        (st, code(&v)),
        (400, 53003),
        "not in the database → unknown: {v}"
    );
    let (st, v) = ropc(&upn2, PW, "10.4.0.1", "agent/1").await;
    assert_eq!((st, code(&v)), (400, 53003), "FR: {v}");
    assert_eq!(ropc(&upn2, PW, "10.2.0.1", "agent/1").await.0, 200, "DE");
}

/// Concurrent sign-ins of one account all succeed. Each rewrites the user's risk record with a
/// compare-and-set; before sign-ins of one user took turns, 8 concurrent SSO sign-ins lost that
/// race to each other often enough that some gave up with AADSTS90055 ("the user's risk
/// record is changing too fast").
#[tokio::test]
async fn concurrent_sign_ins_of_one_user_all_succeed() {
    use crate::security::mfa_guessing::Browser;
    use std::sync::Arc;
    let (upn, _) = crate::console::new_user("tabs").await;
    let b = Arc::new(Browser::new());
    crate::console::sign_in(&b, &upn).await;
    let d = &shared().demo;
    let authorize = Arc::new(format!(
        "{}/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri={}&scope=User.Read",
        d["authority"].as_str().unwrap(),
        d["confidential_client"]["app_id"].as_str().unwrap(),
        urlencode(d["confidential_client"]["redirect_uri"].as_str().unwrap()),
    ));
    // Twelve tabs, each signing in again as soon as its last sign-in is done.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (b, authorize) = (b.clone(), authorize.clone());
        tasks.spawn(async move {
            let mut refused = Vec::new();
            for _ in 0..12 {
                let p = b.get(&authorize).await;
                if !p.location.as_deref().is_some_and(|l| l.contains("code=")) {
                    refused.push(format!("{} {:?}", p.status, p.aadsts()));
                }
            }
            refused
        });
    }
    let mut refused = Vec::new();
    while let Some(r) = tasks.join_next().await {
        refused.extend(r.unwrap());
    }
    assert!(refused.is_empty(), "refused sign-ins: {refused:?}");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
