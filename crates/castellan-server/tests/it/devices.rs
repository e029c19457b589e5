//! Devices: `/v1.0/devices` CRUD, registered owners, permissions, bad input changing nothing,
//! and device proof (`x-castellan-device-assertion`) at the token endpoint with a policy that
//! requires a compliant device — every way an assertion can be wrong is refused, never read as
//! "no device".

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::{alias, app_with, http, shared, G};

struct Key(EcdsaKeyPair);

impl Key {
    fn new() -> Self {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        Self(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap())
    }
    fn spki_b64(&self) -> String {
        STANDARD.encode(castellan_core::model::p256_spki(
            self.0.public_key().as_ref(),
        ))
    }
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self.0.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

fn now() -> i64 {
    castellan_server::state::now().secs()
}

fn tid() -> String {
    shared().demo["tenant_id"].as_str().unwrap().to_string()
}

fn issuer() -> String {
    format!("{}/{}/v2.0", shared().origin, tid())
}

/// A good assertion for `device_id`, after `change` edits the claims.
fn assertion(key: &Key, device_id: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut c = json!({"iss": device_id, "sub": device_id, "aud": issuer(), "iat": now(),
                       "exp": now() + 120, "jti": uuid::Uuid::new_v4().to_string()});
    change(&mut c);
    key.sign(&json!({"alg": "ES256", "typ": "JWT", "kid": device_id}), &c)
}

fn device_body(device_id: &str, name: &str, key: &Key) -> Value {
    json!({"deviceId": device_id, "displayName": name, "operatingSystem": "Windows",
           "operatingSystemVersion": "10.0.22631", "trustType": "AzureAd", "accountEnabled": true,
           "alternativeSecurityIds": [{"type": 2, "identityProvider": null, "key": key.spki_b64()}]})
}

#[tokio::test]
async fn devices_crud_owners_and_audit() {
    let g = G::demo().await;
    let u = g.create_user(&alias("devown")).await;
    let uid = u["id"].as_str().unwrap();
    let key = Key::new();
    let device_id = uuid::Uuid::new_v4().to_string();
    let name = alias("LAPTOP-");
    let (st, d) = g
        .post("/devices", device_body(&device_id, &name, &key))
        .await;
    assert_eq!(st, 201, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["deviceId"], device_id);
    assert_eq!(d["trustType"], "AzureAd");
    assert_eq!(d["isCompliant"], false);
    assert_eq!(d["alternativeSecurityIds"][0]["key"], key.spki_b64());
    assert_eq!(d["approximateLastSignInDateTime"], Value::Null);
    // Get, list with $filter and $select.
    let (st, got) = g.get(&format!("/devices/{id}")).await;
    assert_eq!((st, &got["displayName"]), (200, &json!(name)));
    let found = g
        .all(&format!(
            "/devices?$filter=deviceId eq '{device_id}'&$select=id,isCompliant"
        ))
        .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], json!(id));
    assert!(found[0].get("displayName").is_none(), "{}", found[0]);
    // PATCH compliance and management.
    let (st, e) = g
        .patch(
            &format!("/devices/{id}"),
            json!({"isCompliant": true, "isManaged": true}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    let (_, got) = g.get(&format!("/devices/{id}")).await;
    assert_eq!(
        (&got["isCompliant"], &got["isManaged"]),
        (&json!(true), &json!(true))
    );
    // Registered owners, both directions.
    let odata = format!("{}/directoryObjects/{uid}", g.base);
    let (st, e) = g
        .post(
            &format!("/devices/{id}/registeredOwners/$ref"),
            json!({"@odata.id": odata}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    let (st, e) = g
        .post(
            &format!("/devices/{id}/registeredOwners/$ref"),
            json!({"@odata.id": odata}),
        )
        .await;
    assert_eq!(st, 400, "adding the same owner twice: {e}");
    let owners = g.all(&format!("/devices/{id}/registeredOwners")).await;
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0]["id"], json!(uid));
    let mine = g.all(&format!("/users/{uid}/registeredDevices")).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["deviceId"], json!(device_id));
    // Audit: add, update (naming IsCompliant), owner.
    let audits = g.all("/auditLogs/directoryAudits?$top=999").await;
    let about: Vec<&Value> = audits
        .iter()
        .filter(|a| a.to_string().contains(&id))
        .collect();
    let acts: Vec<&str> = about
        .iter()
        .map(|a| a["activityDisplayName"].as_str().unwrap())
        .collect();
    for want in [
        "Add device",
        "Update device",
        "Add registered owner to device",
    ] {
        assert!(acts.contains(&want), "{want} missing from {acts:?}");
    }
    assert!(about.iter().any(|a| a.to_string().contains("IsCompliant")));
    assert!(about.iter().all(|a| a["category"] == "Device"));
    // Remove the owner, delete the device.
    let (st, _) = g
        .delete(&format!("/devices/{id}/registeredOwners/{uid}/$ref"))
        .await;
    assert_eq!(st, 204);
    assert!(g
        .all(&format!("/users/{uid}/registeredDevices"))
        .await
        .is_empty());
    assert_eq!(g.delete(&format!("/devices/{id}")).await.0, 204);
    assert_eq!(g.get(&format!("/devices/{id}")).await.0, 404);
    assert_eq!(g.delete(&format!("/devices/{id}")).await.0, 404);
}

#[tokio::test]
async fn bad_device_input_is_refused_by_name_and_changes_nothing() {
    let g = G::demo().await;
    let key = Key::new();
    let marker = alias("BADDEV-");
    let good = || device_body(&uuid::Uuid::new_v4().to_string(), &marker, &key);
    let with = |k: &str, v: Value| {
        let mut b = good();
        b[k] = v;
        b
    };
    // Count only this test's devices (by their marker name): other tests add devices to the
    // same tenant concurrently.
    let mine = |all: Vec<Value>| {
        all.iter()
            .filter(|d| d["displayName"].as_str() == Some(marker.as_str()))
            .count()
    };
    let before = mine(g.all("/devices").await);
    for (body, needle) in [
        (
            with("operatingSystem", json!("BeOS")),
            "operatingSystem 'BeOS'",
        ),
        (with("trustType", json!("Joined")), "trustType 'Joined'"),
        (with("deviceId", json!("laptop-1")), "deviceId"),
        (with("deviceId", Value::Null), "deviceId"),
        (with("displayName", json!("")), "displayName"),
        (with("isCompliant", json!("yes")), "isCompliant"),
        (
            with("id", json!(uuid::Uuid::new_v4().to_string())),
            "read-only",
        ),
        (with("colour", json!("red")), "colour"),
        (
            with(
                "alternativeSecurityIds",
                json!([{"type": 2, "key": STANDARD.encode(b"not a key")}]),
            ),
            "EC P-256",
        ),
        (
            with(
                "alternativeSecurityIds",
                json!([{"type": 1, "key": key.spki_b64()}]),
            ),
            "alternativeSecurityIds",
        ),
    ] {
        let (st, e) = g.post("/devices", body.clone()).await;
        assert_eq!(st, 400, "{body} -> {e}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg:?} should name {needle:?}");
    }
    // A duplicate deviceId.
    let dup = uuid::Uuid::new_v4().to_string();
    let (st, first) = g.post("/devices", device_body(&dup, &marker, &key)).await;
    assert_eq!(st, 201);
    let (st, e) = g.post("/devices", device_body(&dup, &marker, &key)).await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains(&dup));
    // PATCH: read-only and bad values refused; the device is unchanged.
    let id = first["id"].as_str().unwrap();
    for (body, needle) in [
        (
            json!({"deviceId": uuid::Uuid::new_v4().to_string()}),
            "deviceId",
        ),
        (
            json!({"alternativeSecurityIds": [{"type": 2, "key": key.spki_b64()}]}),
            "alternativeSecurityIds",
        ),
        (json!({"operatingSystem": "OS/2"}), "OS/2"),
        (json!({"isCompliant": null}), "isCompliant"),
        (
            json!({"registrationDateTime": "2020-01-01T00:00:00Z"}),
            "read-only",
        ),
    ] {
        let (st, e) = g.patch(&format!("/devices/{id}"), body.clone()).await;
        assert_eq!(st, 400, "{body} -> {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{e}"
        );
    }
    assert_eq!(
        g.get(&format!("/devices/{id}")).await.1,
        first
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert(
                    "@odata.context".into(),
                    json!(format!("{}/$metadata#devices/$entity", g.base)),
                );
                Value::Object(o)
            })
            .unwrap()
    );
    // Bad ids.
    assert_eq!(g.get("/devices/not-a-guid").await.0, 400);
    assert_eq!(
        g.get(&format!("/devices/{}", uuid::Uuid::new_v4())).await.0,
        404
    );
    let (st, _) = g
        .post(
            &format!("/devices/{id}/registeredOwners/$ref"),
            json!({"@odata.id": format!("{}/directoryObjects/{}", g.base, uuid::Uuid::new_v4())}),
        )
        .await;
    assert_eq!(st, 404);
    // Only the one good device was made, with one audit record.
    assert_eq!(mine(g.all("/devices").await), before + 1);
    assert_eq!(g.audits_mentioning(&marker).await, 1);
    g.delete(&format!("/devices/{id}")).await;
}

#[tokio::test]
async fn device_permissions() {
    let reader = app_with(&["Device.Read.All"]).await;
    let (st, v) = reader.get("/devices").await;
    assert_eq!(st, 200, "{v}");
    let key = Key::new();
    let marker = alias("PERMDEV-");
    let (st, e) = reader
        .post(
            "/devices",
            device_body(&uuid::Uuid::new_v4().to_string(), &marker, &key),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Device.ReadWrite.All"));
    let users_only = app_with(&["User.Read.All"]).await;
    let (st, e) = users_only.get("/devices").await;
    assert_eq!(st, 403, "{e}");
    let writer = app_with(&["Device.ReadWrite.All"]).await;
    let (st, d) = writer
        .post(
            "/devices",
            device_body(&uuid::Uuid::new_v4().to_string(), &marker, &key),
        )
        .await;
    assert_eq!(st, 201, "{d}");
    let id = d["id"].as_str().unwrap();
    let (st, _) = reader
        .patch(&format!("/devices/{id}"), json!({"isCompliant": true}))
        .await;
    assert_eq!(st, 403);
    assert_eq!(reader.delete(&format!("/devices/{id}")).await.0, 403);
    let (_, got) = writer.get(&format!("/devices/{id}")).await;
    assert_eq!(
        got["isCompliant"], false,
        "the refused PATCH changed nothing"
    );
    assert_eq!(writer.delete(&format!("/devices/{id}")).await.0, 204);
}

async fn ropc(upn: &str, pw: &str, device: Option<&str>) -> (u16, Value) {
    let s = shared();
    let mut rb = http()
        .post(format!("{}/{}/oauth2/v2.0/token", s.origin, tid()))
        .form(&[
            ("grant_type", "password"),
            (
                "client_id",
                s.demo["public_client"]["app_id"].as_str().unwrap(),
            ),
            ("username", upn),
            ("password", pw),
            ("scope", "User.Read"),
        ]);
    if let Some(a) = device {
        rb = rb.header("x-castellan-device-assertion", a);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn code(v: &Value) -> u64 {
    v["error_codes"][0].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_compliant_device_policy_and_every_bad_assertion() {
    let g = G::demo().await;
    let a = alias("devusr");
    let u = g.create_user(&a).await;
    let (uid, upn) = (
        u["id"].as_str().unwrap(),
        u["userPrincipalName"].as_str().unwrap(),
    );
    let pw = "Test-Passw0rd!";
    let key = Key::new();
    let device_id = uuid::Uuid::new_v4().to_string();
    let (st, d) = g
        .post("/devices", device_body(&device_id, &alias("DEV-"), &key))
        .await;
    assert_eq!(st, 201, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    let (st, p) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": alias("Require compliant device "), "state": "enabled",
                   "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]},
                   "grantControls": {"operator": "OR", "builtInControls": ["compliantDevice"]}}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    // No device: 53000.
    let (st, v) = ropc(upn, pw, None).await;
    assert_eq!((st, code(&v)), (400, 53000), "{v}");
    // A registered, non-compliant device: still 53000.
    let (st, v) = ropc(upn, pw, Some(&assertion(&key, &device_id, |_| {}))).await;
    assert_eq!((st, code(&v)), (400, 53000), "{v}");
    // Every bad assertion is refused by name (not treated as "no device").
    let other = Key::new();
    let good = assertion(&key, &device_id, |_| {});
    let unknown = uuid::Uuid::new_v4().to_string();
    let cases: Vec<(String, u64, &str)> = vec![
        (assertion(&other, &device_id, |_| {}), 50155, "signature"),
        (assertion(&key, &device_id, |c| { c["iat"] = json!(now() - 900); c["exp"] = json!(now() - 700); }), 50155, "expired"),
        (assertion(&key, &device_id, |c| c["exp"] = json!(now() + 3600)), 50155, "too long"),
        (assertion(&key, &device_id, |c| c["aud"] = json!("https://elsewhere.example/v2.0")), 50155, "aud"),
        (assertion(&key, &device_id, |c| c["iss"] = json!(unknown)), 50155, "iss"),
        (assertion(&key, &device_id, |c| { c.as_object_mut().unwrap().remove("jti"); }), 50155, "jti"),
        (key.sign(&json!({"alg": "HS256", "kid": device_id}), &json!({"iss": device_id, "aud": issuer(), "iat": now(), "exp": now() + 60, "jti": "x"})), 50155, "ES256"),
        (format!("{}.", good.rsplit_once('.').unwrap().0), 50155, "signature"),
        ("not-a-jwt".into(), 50155, "well-formed"),
        (assertion(&key, &unknown, |_| {}), 700003, "not found"),
    ];
    for (a, want, needle) in &cases {
        let (st, v) = ropc(upn, pw, Some(a)).await;
        assert_eq!((st, code(&v)), (400, *want), "{needle}: {v}");
        assert!(
            v["error_description"].as_str().unwrap().contains(needle),
            "{needle}: {v}"
        );
        assert!(v.get("access_token").is_none());
    }
    // Compliant: a token. The same assertion a second time: refused as a replay.
    let (st, e) = g
        .patch(&format!("/devices/{id}"), json!({"isCompliant": true}))
        .await;
    assert_eq!(st, 204, "{e}");
    let once = assertion(&key, &device_id, |_| {});
    let (st, v) = ropc(upn, pw, Some(&once)).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = ropc(upn, pw, Some(&once)).await;
    assert_eq!((st, code(&v)), (400, 50155), "{v}");
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));
    // Still no token without the device.
    assert_eq!(code(&ropc(upn, pw, None).await.1), 53000);
    // A disabled device cannot prove itself.
    g.patch(&format!("/devices/{id}"), json!({"accountEnabled": false}))
        .await;
    let (st, v) = ropc(upn, pw, Some(&assertion(&key, &device_id, |_| {}))).await;
    assert_eq!((st, code(&v)), (400, 135011), "{v}");
    // The sign-in log shows the device and the policy's result; the device its sign-in time.
    // The sign-in log is written in batches (50 ms): wait for the records.
    let mut logs = Vec::new();
    for _ in 0..100 {
        logs = g
            .all(&format!("/auditLogs/signIns?$filter=userId eq '{uid}'"))
            .await;
        if logs.iter().any(|r| r["status"]["errorCode"] == 135011) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ok = logs
        .iter()
        .find(|r| r["status"]["errorCode"] == 0)
        .expect("a successful sign-in");
    assert_eq!(ok["deviceDetail"]["deviceId"], json!(device_id));
    assert_eq!(ok["deviceDetail"]["isCompliant"], true);
    assert_eq!(ok["deviceDetail"]["trustType"], "AzureAd");
    assert_eq!(ok["deviceDetail"]["operatingSystem"], "Windows");
    assert_eq!(ok["conditionalAccessStatus"], "success");
    let refused = logs
        .iter()
        .find(|r| {
            r["status"]["errorCode"] == 53000 && r["deviceDetail"]["deviceId"] == json!(device_id)
        })
        .expect("a 53000 sign-in with the device");
    assert_eq!(refused["deviceDetail"]["isCompliant"], false);
    assert_eq!(refused["conditionalAccessStatus"], "failure");
    assert!(logs
        .iter()
        .any(|r| r["status"]["errorCode"] == 53000 && r["deviceDetail"]["deviceId"] == ""));
    let (_, got) = g.get(&format!("/devices/{id}")).await;
    assert!(got["approximateLastSignInDateTime"].is_string(), "{got}");
    g.delete(&format!(
        "/identity/conditionalAccess/policies/{}",
        p["id"].as_str().unwrap()
    ))
    .await;
    g.delete(&format!("/devices/{id}")).await;
}

#[tokio::test]
async fn parallel_replays_of_one_assertion_get_one_token() {
    let g = G::demo().await;
    let u = g.create_user(&alias("devrace")).await;
    let upn = u["userPrincipalName"].as_str().unwrap().to_string();
    let key = Key::new();
    let device_id = uuid::Uuid::new_v4().to_string();
    let (st, d) = g
        .post("/devices", device_body(&device_id, &alias("RACE-"), &key))
        .await;
    assert_eq!(st, 201, "{d}");
    let once = assertion(&key, &device_id, |_| {});
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (upn, once) = (upn.clone(), once.clone());
            tokio::spawn(async move { ropc(&upn, "Test-Passw0rd!", Some(&once)).await })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        let (st, v) = t.await.unwrap();
        codes.push(if st == 200 { 0 } else { code(&v) });
    }
    codes.sort_unstable();
    assert_eq!(codes, [0, 50155, 50155, 50155, 50155, 50155, 50155, 50155]);
    g.delete(&format!("/devices/{}", d["id"].as_str().unwrap()))
        .await;
}

#[tokio::test]
async fn a_user_reads_their_own_registered_devices() {
    let g = G::demo().await;
    let u = g.create_user(&alias("devme")).await;
    let (uid, upn) = (
        u["id"].as_str().unwrap(),
        u["userPrincipalName"].as_str().unwrap(),
    );
    let key = Key::new();
    let device_id = uuid::Uuid::new_v4().to_string();
    let (_, d) = g
        .post("/devices", device_body(&device_id, &alias("MINE-"), &key))
        .await;
    let id = d["id"].as_str().unwrap();
    let (st, e) = g
        .post(
            &format!("/devices/{id}/registeredOwners/$ref"),
            json!({"@odata.id": format!("{}/directoryObjects/{uid}", g.base)}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    let (st, t) = ropc(upn, "Test-Passw0rd!", None).await;
    assert_eq!(st, 200, "{t}");
    let me = G::with_token(t["access_token"].as_str().unwrap().into());
    let (st, v) = me.get("/me/registeredDevices").await;
    assert_eq!(st, 200, "{v}");
    let ids: Vec<&Value> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["deviceId"])
        .collect();
    assert_eq!(ids, [&json!(device_id)]);
    // A member without a device role cannot register devices (the token has no device scope).
    let (st, e) = me
        .post(
            "/devices",
            device_body(&uuid::Uuid::new_v4().to_string(), "x", &key),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    // App-only tokens have no /me.
    assert_eq!(g.get("/me/registeredDevices").await.0, 400);
    g.delete(&format!("/devices/{id}")).await;
}

#[tokio::test]
async fn a_proven_device_gives_conditional_access_its_platform() {
    let g = G::demo().await;
    let u = g.create_user(&alias("devplat")).await;
    let (uid, upn) = (
        u["id"].as_str().unwrap(),
        u["userPrincipalName"].as_str().unwrap(),
    );
    let key = Key::new();
    let device_id = uuid::Uuid::new_v4().to_string();
    let mut body = device_body(&device_id, &alias("MAC-"), &key);
    body["operatingSystem"] = json!("MacOS");
    let (st, d) = g.post("/devices", body).await;
    assert_eq!(st, 201, "{d}");
    let (st, p) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": alias("Block macOS "), "state": "enabled",
                   "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]},
                                  "clientAppTypes": ["all"], "platforms": {"includePlatforms": ["macOS"]}},
                   "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    // The platform is known only from a proven device: without one the policy does not apply.
    let (st, v) = ropc(upn, "Test-Passw0rd!", None).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = ropc(
        upn,
        "Test-Passw0rd!",
        Some(&assertion(&key, &device_id, |_| {})),
    )
    .await;
    assert_eq!((st, code(&v)), (400, 53003), "{v}");
    g.delete(&format!(
        "/identity/conditionalAccess/policies/{}",
        p["id"].as_str().unwrap()
    ))
    .await;
    g.delete(&format!("/devices/{}", d["id"].as_str().unwrap()))
        .await;
}
