//! Security defaults (`/v1.0/policies/identitySecurityDefaultsEnforcementPolicy`) and impact
//! replay (`/v1.0/identity/conditionalAccess/replay`). Security defaults are toggled on a
//! private demo server (the shared one's demo tenant must keep them off for every other test);
//! replay runs on the shared server with its own users.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::{alias, shared, Private, G};

static PRIVATE: OnceLock<Private> = OnceLock::new();

/// A second demo server, for tests that change tenant-wide settings.
fn private() -> &'static Private {
    PRIVATE.get_or_init(|| crate::start_private("secdef", |_| {}))
}

fn client(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .build()
        .unwrap()
}

async fn token(origin: &str, ca: &[u8], tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = client(ca)
        .post(format!("{origin}/{tenant}/oauth2/v2.0/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn app_token(p: &Private, app: &str) -> String {
    let d = &p.demo;
    let (st, v) = token(
        &p.origin,
        &p.ca,
        d["tenant_id"].as_str().unwrap(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", d[app]["app_id"].as_str().unwrap()),
            ("client_secret", d[app]["secret"].as_str().unwrap()),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

fn graph(p: &Private, token: String) -> G {
    G {
        token,
        http: client(&p.ca),
        base: format!("{}/v1.0", p.origin),
    }
}

/// ROPC with the demo public client at `tenant`.
async fn ropc(
    origin: &str,
    ca: &[u8],
    tenant: &str,
    client_id: &str,
    upn: &str,
    pw: &str,
) -> (u16, Value) {
    token(
        origin,
        ca,
        tenant,
        &[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", upn),
            ("password", pw),
            ("scope", "User.Read"),
        ],
    )
    .await
}

const SD: &str = "/policies/identitySecurityDefaultsEnforcementPolicy";
const POLICIES: &str = "/identity/conditionalAccess/policies";

fn mfa_policy(name: &str, state: &str, user: &str) -> Value {
    json!({
        "displayName": name, "state": state,
        "conditions": {"users": {"includeUsers": [user]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    })
}

async fn sign_ins_of(g: &G, upn: &str) -> Vec<Value> {
    // The log writer batches for up to 50 ms.
    for _ in 0..50 {
        let all = g.all("/auditLogs/signIns").await;
        let mine: Vec<Value> = all
            .into_iter()
            .filter(|s| s["userPrincipalName"] == upn)
            .collect();
        if !mine.is_empty() {
            return mine;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no sign-in of {upn} was logged");
}

/// One sequential scenario: the settings are tenant-wide, so the steps must not interleave.
#[tokio::test]
async fn security_defaults_scenario() {
    let p = private();
    let d = &p.demo;
    let tid = d["tenant_id"].as_str().unwrap();
    let public = d["public_client"]["app_id"].as_str().unwrap();
    let g = graph(p, app_token(p, "confidential_client").await);

    // The demo tenant has them off; Graph's shape.
    let (st, v) = g.get(SD).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["id"], "00000000-0000-0000-0000-000000000005");
    assert_eq!(v["displayName"], "Security Defaults");
    assert_eq!(v["isEnabled"], false);
    assert!(v["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#policies/identitySecurityDefaultsEnforcementPolicy/$entity"));
    let alex = d["user"]["upn"].as_str().unwrap();
    let alex_pw = d["user"]["password"].as_str().unwrap();
    let (st, v) = ropc(&p.origin, &p.ca, tid, public, alex, alex_pw).await;
    assert_eq!(st, 200, "ROPC works while security defaults are off: {v}");

    // Bad bodies change nothing.
    for body in [
        json!({"isEnabled": "yes"}),
        json!({}),
        json!({"displayName": "x"}),
        json!([true]),
    ] {
        let (st, e) = g.patch(SD, body.clone()).await;
        assert_eq!(st, 400, "{body}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("isEnabled"),
            "{e}"
        );
    }
    assert_eq!(g.get(SD).await.1["isEnabled"], false);

    // Permissions: an app without Policy.* permissions may neither read nor change it.
    let weak = graph(p, app_token(p, "blob_store_app").await);
    assert_eq!(weak.get(SD).await.0, 403);
    assert_eq!(weak.patch(SD, json!({"isEnabled": true})).await.0, 403);
    let (st, e) = weak
        .post(
            "/identity/conditionalAccess/replay",
            json!({"policyId": d["conditional_access"]["example_policy_id"], "days": 1}),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    assert_eq!(g.get(SD).await.1["isEnabled"], false);

    // An enabled custom policy blocks turning them on; report-only ones do not count.
    let admin_id = d["admin"]["id"].as_str().unwrap();
    let (st, enabled) = g
        .post(
            POLICIES,
            mfa_policy("SD blocker", "enabled", d["user"]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(st, 201, "{enabled}");
    let (st, e) = g.patch(SD, json!({"isEnabled": true})).await;
    assert_eq!(st, 400, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("'SD blocker'") && m.contains("mutually exclusive"),
        "{m}"
    );
    assert_eq!(
        g.get(SD).await.1["isEnabled"],
        false,
        "refused: nothing changed"
    );
    let eid = enabled["id"].as_str().unwrap();
    let (st, _) = g
        .patch(
            &format!("{POLICIES}/{eid}"),
            json!({"state": "enabledForReportingButNotEnforced"}),
        )
        .await;
    assert_eq!(st, 204);

    // Turn them on (audited).
    assert_eq!(g.patch(SD, json!({"isEnabled": true})).await.0, 204);
    assert_eq!(g.get(SD).await.1["isEnabled"], true);
    let audits = g.all("/auditLogs/directoryAudits?$top=999").await;
    assert!(audits
        .iter()
        .any(|a| a["activityDisplayName"] == "Update policy"
            && a.to_string().contains("Security Defaults")
            && a.to_string().contains("isEnabled")));

    // Now an enabled custom policy is refused, created or updated, and nothing is stored.
    let (st, e) = g
        .post(POLICIES, mfa_policy("SD refused", "enabled", admin_id))
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Turn security defaults off first"));
    assert!(!g
        .all(POLICIES)
        .await
        .iter()
        .any(|x| x["displayName"] == "SD refused"));
    let (st, _) = g
        .patch(&format!("{POLICIES}/{eid}"), json!({"state": "enabled"}))
        .await;
    assert_eq!(st, 400);
    let (_, still) = g.get(&format!("{POLICIES}/{eid}")).await;
    assert_eq!(still["state"], "enabledForReportingButNotEnforced");
    // Report-only and disabled policies may still be made.
    let (st, ro) = g
        .post(
            POLICIES,
            mfa_policy(
                "SD report-only",
                "enabledForReportingButNotEnforced",
                admin_id,
            ),
        )
        .await;
    assert_eq!(st, 201, "{ro}");

    // ROPC is legacy authentication: blocked, for users and administrators alike, and the
    // sign-in log names the security-defaults policy.
    let (st, e) = ropc(&p.origin, &p.ca, tid, public, alex, alex_pw).await;
    assert_eq!(
        (st, e["error_codes"][0].as_u64()),
        (400, Some(530035)),
        "{e}"
    );
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("Security defaults: block legacy authentication"));
    let admin = d["admin"]["upn"].as_str().unwrap();
    let (st, e) = ropc(
        &p.origin,
        &p.ca,
        tid,
        public,
        admin,
        d["admin"]["password"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        (st, e["error_codes"][0].as_u64()),
        (400, Some(530035)),
        "{e}"
    );
    // Alex has earlier sign-ins, so `sign_ins_of` may return before the batched writer has
    // logged this one: wait for it (as `sign_ins_of` waits for the first).
    let mut rec = None;
    for _ in 0..50 {
        rec = sign_ins_of(&g, alex)
            .await
            .into_iter()
            .find(|s| s["status"]["errorCode"] == 530035);
        if rec.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let rec = rec.expect("the refused ROPC sign-in is logged");
    assert_eq!(rec["conditionalAccessStatus"], "failure");
    let applied = rec["appliedConditionalAccessPolicies"].as_array().unwrap();
    assert!(applied
        .iter()
        .any(|a| a["id"] == "00000000-0000-0000-0005-000000000002"
            && a["displayName"] == "Security defaults: block legacy authentication"
            && a["result"] == "failure"));
    assert!(
        applied.iter().any(|a| a["displayName"] == "SD report-only"),
        "report-only policies are still evaluated"
    );

    // What-If: administrators need MFA (no method registered yet: 50079); Alex in a browser
    // does not; a legacy client is blocked.
    let (st, v) = g
        .post(
            "/identity/conditionalAccess/evaluate",
            json!({"userId": admin, "clientAppType": "browser"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["outcome"].as_str(), v["errorCode"].as_u64()),
        (Some("requireControls"), Some(50079)),
        "{v}"
    );
    assert!(v["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(
            |x| x["displayName"] == "Security defaults: require MFA for administrators"
                && x["result"] == "failure"
        ));
    let (_, v) = g
        .post(
            "/identity/conditionalAccess/evaluate",
            json!({"userId": alex, "clientAppType": "browser"}),
        )
        .await;
    assert_eq!(v["outcome"], "allow", "{v}");
    let (_, v) = g
        .post(
            "/identity/conditionalAccess/evaluate",
            json!({"userId": alex, "clientAppType": "other"}),
        )
        .await;
    assert_eq!(v["errorCode"], 530035, "{v}");
    let (_, v) = g
        .post(
            "/identity/conditionalAccess/evaluate",
            json!({"userId": admin, "clientAppType": "browser", "mfaDone": true}),
        )
        .await;
    assert_eq!(v["outcome"], "allow", "{v}");

    // Client credentials are not affected.
    app_token(p, "confidential_client").await;

    // A tenant created now has them on.
    let name = alias("sd");
    let r = client(&p.ca)
        .post(format!("{}/operator/v1/tenants", p.origin))
        .bearer_auth(&p.operator_key)
        .json(&json!({"name": name, "adminUpn": "admin", "adminPassword": "Admin-Passw0rd!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["securityDefaults"], true, "{t}");

    // Off again: ROPC works, and the custom policy may be enabled.
    assert_eq!(g.patch(SD, json!({"isEnabled": false})).await.0, 204);
    let (st, v) = ropc(&p.origin, &p.ca, tid, public, alex, alex_pw).await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = g
        .patch(&format!("{POLICIES}/{eid}"), json!({"state": "enabled"}))
        .await;
    assert_eq!(st, 204);
    for id in [eid, ro["id"].as_str().unwrap()] {
        assert_eq!(g.delete(&format!("{POLICIES}/{id}")).await.0, 204);
    }
}

async fn shared_ropc(upn: &str) -> (u16, Value) {
    let s = shared();
    ropc(
        &s.origin,
        &s.ca,
        s.demo["tenant_id"].as_str().unwrap(),
        s.demo["public_client"]["app_id"].as_str().unwrap(),
        upn,
        "Test-Passw0rd!",
    )
    .await
}

#[tokio::test]
async fn replay_reports_who_would_be_blocked_or_challenged() {
    let g = G::demo().await;
    let a = g.create_user(&alias("rpa")).await;
    let b = g.create_user(&alias("rpb")).await;
    let c = g.create_user(&alias("rpc")).await;
    let upn = |u: &Value| u["userPrincipalName"].as_str().unwrap().to_string();
    let id = |u: &Value| u["id"].as_str().unwrap().to_string();
    for u in [&a, &a, &b, &c] {
        let (st, v) = shared_ropc(&upn(u)).await;
        assert_eq!(st, 200, "{v}");
    }
    // Let the log writer flush.
    sign_ins_of(&g, &upn(&c)).await;
    // Draft: MFA for a and c, but c is excluded; b is not included.
    let mfa_draft = json!({
        "displayName": "Replay MFA", "state": "disabled",
        "conditions": {"users": {"includeUsers": [id(&a), id(&c)], "excludeUsers": [id(&c)]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    });
    let (st, v) = g
        .post(
            "/identity/conditionalAccess/replay",
            json!({"policy": mfa_draft, "days": 1}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["evaluated"].as_u64().unwrap() >= 4);
    assert!(
        v["notApplied"].as_u64().unwrap() >= 2,
        "b and c (excluded) are not applied: {v}"
    );
    assert_eq!(v["wouldBlock"], json!([]));
    let ch = v["wouldChallenge"].as_array().unwrap();
    assert_eq!(ch.len(), 1, "{v}");
    assert_eq!(ch[0]["userId"], id(&a));
    assert_eq!(ch[0]["userPrincipalName"], upn(&a));
    assert_eq!(ch[0]["signIns"], 2);
    assert_eq!(ch[0]["controls"], json!(["mfa"]));
    assert_eq!(ch[0]["examples"].as_array().unwrap().len(), 2);
    assert_eq!(v["truncated"], false);
    assert!(v["from"].as_str().unwrap() < v["to"].as_str().unwrap());

    // A stored (report-only) policy by id: block b.
    let (st, stored) = g
        .post(POLICIES, json!({
            "displayName": alias("Replay block"), "state": "enabledForReportingButNotEnforced",
            "conditions": {"users": {"includeUsers": [id(&b)]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]},
        }))
        .await;
    assert_eq!(st, 201, "{stored}");
    let sid = stored["id"].as_str().unwrap();
    let (st, v) = g
        .post(
            "/identity/conditionalAccess/replay",
            json!({"policyId": sid}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["days"], 7);
    assert_eq!(v["wouldChallenge"], json!([]));
    let bl = v["wouldBlock"].as_array().unwrap();
    assert_eq!(bl.len(), 1, "{v}");
    assert_eq!(
        (bl[0]["userId"].as_str(), bl[0]["signIns"].as_u64()),
        (Some(id(&b).as_str()), Some(1))
    );
    assert_eq!(bl[0]["controls"], json!(["block"]));
    assert_eq!(v["policy"]["id"], sid);

    // Bad input: clear errors, nothing stored.
    let before = g.all(POLICIES).await.len();
    let marker = alias("ReplayBad");
    for (body, status, needle) in [
        (
            json!({"policy": {"displayName": marker, "state": "enabled", "conditions": {"users": {"includeUsers": ["All"]}}, "grantControls": {"operator": "XOR", "builtInControls": ["mfa"]}}, "days": 1}),
            400,
            "policy",
        ),
        (
            json!({"policy": {"displayName": marker, "state": "bogus"}, "days": 1}),
            400,
            "policy",
        ),
        (
            json!({"policyId": sid, "days": 0}),
            400,
            "days must be a whole number from 1 to 30",
        ),
        (
            json!({"policyId": sid, "days": 31}),
            400,
            "days must be a whole number from 1 to 30",
        ),
        (json!({"policyId": sid, "days": "7"}), 400, "days must be"),
        (json!({"days": 1}), 400, "Send policy"),
        (
            json!({"policyId": sid, "policy": mfa_draft}),
            400,
            "not both",
        ),
        (
            json!({"policyId": uuid::Uuid::new_v4().to_string()}),
            404,
            "does not exist",
        ),
    ] {
        let (st, e) = g
            .post("/identity/conditionalAccess/replay", body.clone())
            .await;
        assert_eq!(st, status, "{body}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {e}"
        );
    }
    assert_eq!(g.all(POLICIES).await.len(), before, "replay stores nothing");
    assert_eq!(g.audits_mentioning(&marker).await, 0);
    assert_eq!(g.delete(&format!("{POLICIES}/{sid}")).await.0, 204);
}
