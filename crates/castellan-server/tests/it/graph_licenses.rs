//! Licences (issue 16 item 8): `subscribedSkus` with Microsoft's ids, `assignLicense` on users
//! (usageLocation required) and groups (inherited by direct members, following membership),
//! `licenseDetails`, `licenseAssignmentStates` with CountViolation past the prepaid units and
//! the refusal of a new direct assignment, the operator's units setting the tier (a Free tenant
//! is refused Conditional Access naming AAD_PREMIUM; sign-in keeps working). Tenant-wide
//! settings change, so the scenario runs on a private demo server of its own.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::{alias, app_with, Private, G};

static PRIVATE: OnceLock<Private> = OnceLock::new();

fn private() -> &'static Private {
    PRIVATE.get_or_init(|| crate::start_private("licenses", |_| {}))
}

const P1: &str = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4";
const P2: &str = "84a661c4-e949-4bd2-a560-ed7766fcaf2b";

fn client(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .build()
        .unwrap()
}

async fn token(p: &Private, form: &[(&str, &str)]) -> (u16, Value) {
    let tid = p.demo["tenant_id"].as_str().unwrap();
    let r = client(&p.ca)
        .post(format!("{}/{tid}/oauth2/v2.0/token", p.origin))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn graph(p: &Private) -> G {
    app_client(
        p,
        "https://graph.microsoft.com/.default",
        format!("{}/v1.0", p.origin),
    )
    .await
}

/// A client over the demo confidential client's app-only token for `scope`, at `base`.
async fn app_client(p: &Private, scope: &str, base: String) -> G {
    let d = &p.demo;
    let (st, v) = token(
        p,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_id",
                d["confidential_client"]["app_id"].as_str().unwrap(),
            ),
            (
                "client_secret",
                d["confidential_client"]["secret"].as_str().unwrap(),
            ),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(st, 200, "{v}");
    G {
        token: v["access_token"].as_str().unwrap().into(),
        http: client(&p.ca),
        base,
    }
}

/// ARM as the demo confidential client (Owner of the demo subscription).
async fn arm_owner(p: &Private) -> G {
    app_client(p, "https://management.azure.com/.default", p.origin.clone()).await
}

/// An ARM PIM eligibility request (Reader on the demo resource group) for `principal`.
async fn arm_pim_put(p: &Private, arm: &G, principal: &str) -> (u16, Value) {
    let rg = p.demo["resource_group_scope"].as_str().unwrap();
    arm.send(
        reqwest::Method::PUT,
        &format!(
            "{rg}/providers/Microsoft.Authorization/roleEligibilityScheduleRequests/{}?api-version=2020-10-01",
            uuid::Uuid::new_v4()
        ),
        Some(json!({"properties": {
            "principalId": principal,
            "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
            "requestType": "AdminAssign", "justification": "licence gate",
            "scheduleInfo": {"expiration": {"type": "AfterDuration", "duration": "P30D"}}}})),
    )
    .await
}

async fn set_units(p: &Private, sku: &str, units: u32) -> (u16, Value) {
    let tid = p.demo["tenant_id"].as_str().unwrap();
    let r = client(&p.ca)
        .put(format!("{}/operator/v1/tenants/{tid}/licenses", p.origin))
        .bearer_auth(&p.operator_key)
        .json(&json!({"sku": sku, "units": units}))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("operator answered {st} with a body that is not JSON ({e}): {text}")
    });
    (st, v)
}

async fn user(g: &G, prefix: &str, location: Option<&str>) -> String {
    let a = alias(prefix);
    let domain = g.get("/domains").await.1["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["isInitial"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut body = json!({"accountEnabled": true, "displayName": a, "mailNickname": a,
        "userPrincipalName": format!("{a}@{domain}"), "passwordProfile": {"password": "Test-Passw0rd!"}});
    if let Some(l) = location {
        body["usageLocation"] = json!(l);
    }
    let (st, v) = g.post("/users", body).await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn add(sku: &str) -> Value {
    json!({"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []})
}

async fn states(g: &G, u: &str) -> Vec<Value> {
    let (st, v) = g
        .get(&format!(
            "/users/{u}?$select=id,assignedLicenses,licenseAssignmentStates"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("displayName").is_none(), "$select applies: {v}");
    v["licenseAssignmentStates"].as_array().unwrap().clone()
}

async fn member(g: &G, group: &str, u: &str, add: bool) {
    let st = if add {
        g.post(
            &format!("/groups/{group}/members/$ref"),
            json!({"@odata.id": format!("{}/directoryObjects/{u}", g.base)}),
        )
        .await
        .0
    } else {
        g.delete(&format!("/groups/{group}/members/{u}/$ref"))
            .await
            .0
    };
    assert_eq!(st, 204);
}

/// One sequential scenario: units and the tier are tenant-wide.
#[tokio::test]
async fn licences_scenario() {
    let p = private();
    let g = graph(p).await;

    // subscribedSkus: the demo tenant holds P2 (its tier) with Microsoft's ids.
    let (st, v) = g.get("/subscribedSkus").await;
    assert_eq!(st, 200, "{v}");
    let skus = v["value"].as_array().unwrap();
    let p2 = skus.iter().find(|s| s["skuId"] == P2).expect("P2");
    assert_eq!(p2["skuPartNumber"], "AAD_PREMIUM_P2");
    assert_eq!(p2["capabilityStatus"], "Enabled");
    assert_eq!(p2["prepaidUnits"]["enabled"], 100);
    let plans: Vec<&str> = p2["servicePlans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["servicePlanId"].as_str().unwrap())
        .collect();
    assert!(plans.contains(&"eec0eb4f-6444-4f95-aba0-50c24d67f998"));
    assert!(plans.contains(&"41781fb2-bc02-4b7c-bd55-b576c07bb09d"));
    let id = p2["id"].as_str().unwrap();
    assert_eq!(g.get(&format!("/subscribedSkus/{id}")).await.0, 200);
    assert_eq!(g.get("/subscribedSkus/nope").await.0, 404);

    // usageLocation is required; validated; then the assignment works.
    let u1 = user(&g, "lic", None).await;
    let (st, e) = g.post(&format!("/users/{u1}/assignLicense"), add(P2)).await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(
        e["error"]["message"],
        "License assignment cannot be done for user with invalid usage location."
    );
    assert!(
        states(&g, &u1).await.is_empty(),
        "a refusal changes nothing"
    );
    let (st, e) = g
        .patch(&format!("/users/{u1}"), json!({"usageLocation": "XX"}))
        .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(
        g.patch(&format!("/users/{u1}"), json!({"usageLocation": "gb"}))
            .await
            .0,
        204
    );
    let (_, v) = g.get(&format!("/users/{u1}?$select=usageLocation")).await;
    assert_eq!(v["usageLocation"], "GB");
    let (st, v) = g.post(&format!("/users/{u1}/assignLicense"), add(P2)).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["assignedLicenses"][0]["skuId"], P2);
    assert!(v["assignedPlans"].as_array().unwrap().len() >= 3);
    let (st, d) = g.get(&format!("/users/{u1}/licenseDetails")).await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["value"][0]["skuPartNumber"], "AAD_PREMIUM_P2");
    // An unknown SKU is refused.
    let (st, e) = g
        .post(
            &format!("/users/{u1}/assignLicense"),
            add("11111111-2222-3333-4444-555555555555"),
        )
        .await;
    assert_eq!(st, 400, "{e}");

    // Group-based licensing: direct members inherit, and lose it when removed.
    let grp = g.create_group(&alias("licgrp")).await;
    let gid = grp["id"].as_str().unwrap();
    let (u2, u3) = (user(&g, "licm", None).await, user(&g, "licm", None).await);
    member(&g, gid, &u2, true).await;
    let (st, v) = g
        .post(&format!("/groups/{gid}/assignLicense"), add(P2))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["assignedLicenses"][0]["skuId"], P2);
    let s2 = states(&g, &u2).await;
    assert_eq!(s2[0]["assignedByGroup"], gid);
    assert_eq!(s2[0]["state"], "Active");
    member(&g, gid, &u3, true).await;
    assert_eq!(states(&g, &u3).await[0]["state"], "Active");
    member(&g, gid, &u3, false).await;
    assert!(states(&g, &u3).await.is_empty(), "membership ended");
    // An inherited licence cannot be removed from the user.
    let (st, e) = g
        .post(
            &format!("/users/{u2}/assignLicense"),
            json!({"addLicenses": [], "removeLicenses": [P2]}),
        )
        .await;
    assert_eq!(st, 400, "{e}");

    // Over the limit: 2 units for u1 (direct) and u2 (group); u3 joins and is in error.
    let (st, v) = set_units(p, "P2", 2).await;
    assert_eq!(st, 200, "{v}");
    member(&g, gid, &u3, true).await;
    // The direct assignment keeps its unit; of the two members (same group, same time) one
    // holds the second unit and the other is in error.
    assert_eq!(states(&g, &u1).await[0]["state"], "Active");
    let mut errors = 0;
    for u in [&u2, &u3] {
        let s = states(&g, u).await;
        if s[0]["state"] == "Error" {
            assert_eq!(s[0]["error"], "CountViolation", "{s:?}");
            errors += 1;
        }
    }
    assert_eq!(errors, 1);
    let u4 = user(&g, "licx", Some("US")).await;
    let (st, e) = g.post(&format!("/users/{u4}/assignLicense"), add(P2)).await;
    assert_eq!(st, 400, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("AAD_PREMIUM_P2") && m.contains("2 prepaid units"),
        "{m}"
    );
    assert!(states(&g, &u4).await.is_empty());
    let (_, v) = g.get(&format!("/subscribedSkus/{id}")).await;
    assert_eq!(v["consumedUnits"], 2);

    // A Free tenant: Conditional Access is refused naming AAD_PREMIUM; sign-in keeps working.
    let (st, v) = set_units(p, "P2", 0).await;
    assert_eq!((st, v["license"].clone()), (200, json!("Free")), "{v}");
    let policy = json!({"displayName": alias("lic-ca"), "state": "disabled",
        "conditions": {"users": {"includeUsers": ["None"]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    let (st, e) = g
        .post("/identity/conditionalAccess/policies", policy.clone())
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AAD_PREMIUM"),
        "{e}"
    );
    let d = &p.demo;
    let (st, v) = token(
        p,
        &[
            ("grant_type", "password"),
            ("client_id", d["public_client"]["app_id"].as_str().unwrap()),
            ("username", d["user"]["upn"].as_str().unwrap()),
            ("password", d["user"]["password"].as_str().unwrap()),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(st, 200, "sign-in is never locked out by licences: {v}");
    // PIM needs P2 (still refused under P1 below).
    let pim = json!({"action": "adminAssign", "principalId": u1,
        "roleDefinitionId": "fe930be7-5e62-47db-91af-98c3a49a38b1", "directoryScopeId": "/",
        "justification": "licence gate", "scheduleInfo": {"expiration": {"type": "noExpiration"}}});
    let (st, e) = g
        .post(
            "/roleManagement/directory/roleEligibilityScheduleRequests",
            pim.clone(),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AAD_PREMIUM_P2"),
        "{e}"
    );
    // Positive control: P1 units allow it again.
    let (st, v) = set_units(p, "P1", 5).await;
    assert_eq!((st, v["license"].clone()), (200, json!("P1")), "{v}");
    let (st, e) = g.post("/identity/conditionalAccess/policies", policy).await;
    assert_eq!(st, 201, "{e}");
    // The decision records the SKU that allowed it.
    let pid = e["id"].as_str().unwrap();
    let audits = g.all("/auditLogs/directoryAudits?$top=999").await;
    let rec = audits
        .iter()
        .find(|a| a.to_string().contains(pid))
        .expect("the policy's audit record")
        .to_string();
    assert!(
        rec.contains("licensedBy") && rec.contains("AAD_PREMIUM"),
        "{rec}"
    );
    let skus = g.get("/subscribedSkus").await.1;
    assert!(skus["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["skuId"] == P1 && s["prepaidUnits"]["enabled"] == 5));
    let (st, e) = g
        .post(
            "/roleManagement/directory/roleEligibilityScheduleRequests",
            pim.clone(),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AAD_PREMIUM_P2"),
        "{e}"
    );
    // The gate is core's, so PIM for groups and ARM PIM are refused the same way on P1.
    let (st, grp) = g
        .post(
            "/groups",
            json!({"displayName": alias("lic-pim"), "mailEnabled": false,
                "mailNickname": alias("licpim"), "securityEnabled": true}),
        )
        .await;
    assert_eq!(st, 201, "{grp}");
    let group_pim = json!({"accessId": "member", "action": "adminAssign", "principalId": u1,
        "groupId": grp["id"], "justification": "licence gate",
        "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "P30D"}}});
    let group_path = "/identityGovernance/privilegedAccess/group/eligibilityScheduleRequests";
    let (st, e) = g.post(group_path, group_pim.clone()).await;
    assert_eq!(st, 403, "{e}");
    assert!(e.to_string().contains("AAD_PREMIUM_P2"), "{e}");
    let arm = arm_owner(p).await;
    let (st, e) = arm_pim_put(p, &arm, &u1).await;
    assert_eq!(st, 403, "{e}");
    assert!(e.to_string().contains("AAD_PREMIUM_P2"), "{e}");
    // Nothing was written by any of them.
    let (_, v) = g.get(group_path).await;
    assert_eq!(v["value"].as_array().map(Vec::len), Some(0), "{v}");
    // Positive control: Governance units allow PIM.
    let (st, v) = set_units(p, "GOVERNANCE", 1).await;
    assert_eq!((st, v["license"].clone()), (200, json!("P2")), "{v}");
    let (st, e) = g
        .post(
            "/roleManagement/directory/roleEligibilityScheduleRequests",
            pim,
        )
        .await;
    assert_eq!(st, 201, "{e}");
    let (st, e) = g.post(group_path, group_pim).await;
    assert_eq!(st, 201, "{e}");
    let (st, e) = arm_pim_put(p, &arm, &u1).await;
    assert_eq!(st, 201, "{e}");
    // Bad operator bodies are refused.
    assert_eq!(set_units(p, "E5", 1).await.0, 400);
}

/// Authorisation: assigning needs LicenseAssignment.ReadWrite.All (or User/Directory
/// ReadWrite); a reader is refused and nothing changes.
#[tokio::test]
async fn assigning_needs_a_licence_permission() {
    let admin = G::demo().await;
    let u = admin.create_user(&alias("licz")).await;
    let uid = u["id"].as_str().unwrap();
    assert_eq!(
        admin
            .patch(&format!("/users/{uid}"), json!({"usageLocation": "FR"}))
            .await
            .0,
        204
    );
    let reader = app_with(&["User.Read.All"]).await;
    let (st, e) = reader
        .post(&format!("/users/{uid}/assignLicense"), add(P2))
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(states(&admin, uid).await.is_empty());
    let writer = app_with(&["LicenseAssignment.ReadWrite.All", "User.Read.All"]).await;
    let (st, v) = writer
        .post(&format!("/users/{uid}/assignLicense"), add(P2))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(states(&admin, uid).await[0]["state"], "Active");
}
