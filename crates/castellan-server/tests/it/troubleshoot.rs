//! The troubleshooter's token and access questions (`POST /v1.0/auditLogs/troubleshoot`): a
//! token sent to the wrong API, a changed one, garbage; a Global Administrator without an Azure
//! role (the wrong plane), an Azure Owner asking a directory action (the reverse), and the
//! positive controls (the right role on each plane) — plus who may ask.

use serde_json::{json, Value};

use crate::security::{assign_role, member_with, role};
use crate::{alias, shared, G};

const PATH: &str = "/auditLogs/troubleshoot";

fn families(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings: {v}"))
        .iter()
        .map(|f| f["family"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_pasted_token_is_judged_against_the_api_it_was_sent_to() {
    let g = G::demo().await;
    let token = g.token.clone();
    // A Graph token for Graph: it fits, and its claims are shown.
    let (st, v) = g
        .post(PATH, json!({"token": token, "resource": "graph"}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(families(&v), vec!["success"], "{v}");
    assert_eq!(v["claims"]["tid"], shared().demo["tenant_id"], "{v}");
    // The same token sent to ARM: the audience is named, with the scope to ask for.
    let (_, v) = g
        .post(PATH, json!({"token": token, "resource": "arm"}))
        .await;
    assert_eq!(families(&v), vec!["tokenMismatch"], "{v}");
    let f = &v["findings"][0];
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("https://management.azure.com/.default"),
        "{f}"
    );
    // A permission the token lacks.
    let (_, v) = g
        .post(
            PATH,
            json!({"token": token, "resource": "graph", "permission": "Nothing.Such.All"}),
        )
        .await;
    assert_eq!(families(&v), vec!["consentNeeded"], "{v}");
    // A changed token: the signature is named.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[2] = parts[2].chars().rev().collect();
    let (_, v) = g.post(PATH, json!({"token": parts.join(".")})).await;
    assert_eq!(families(&v), vec!["tokenMismatch"], "{v}");
    assert!(
        v["findings"][0]["title"]
            .as_str()
            .unwrap()
            .contains("Signature"),
        "{v}"
    );
    // Garbage, an unknown API, an empty question: 400 naming the problem.
    let (st, e) = g.post(PATH, json!({"token": "not-a-token"})).await;
    assert_eq!(st, 400, "{e}");
    assert!(e.to_string().contains("not a JWT"), "{e}");
    let (st, e) = g
        .post(
            PATH,
            json!({"token": token, "resource": "https://nowhere.example/api"}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = g.post(PATH, json!({})).await;
    assert_eq!(st, 400, "{e}");
}

#[tokio::test]
async fn the_wrong_plane_is_named_both_ways_with_positive_controls() {
    let g = G::demo().await;
    let sub = shared().demo["subscription_scope"]
        .as_str()
        .unwrap()
        .to_string();
    // A Global Administrator with no Azure role: RBAC denies, and the mistake is the plane.
    let ga = g.create_user(&alias("tsga")).await;
    let ga_id = ga["id"].as_str().unwrap().to_string();
    assign_role(&ga_id, role::GLOBAL_ADMIN).await;
    let ask = |p: &str, action: &str, scope: Option<&str>| {
        let mut b = json!({"principalId": p, "action": action});
        if let Some(s) = scope {
            b["scope"] = json!(s);
        }
        b
    };
    let write = "Microsoft.Resources/subscriptions/resourceGroups/write";
    let (st, v) = g.post(PATH, ask(&ga_id, write, Some(&sub))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(families(&v), vec!["wrongPlane"], "{v}");
    let f = &v["findings"][0];
    assert!(
        f["evidence"]
            .as_str()
            .unwrap()
            .contains("Global Administrator"),
        "{f}"
    );
    assert!(
        f["consoleBlade"]
            .as_str()
            .unwrap()
            .starts_with("/admin/azure/iam"),
        "{f}"
    );
    // … while the directory action is allowed for them (the positive control on that plane).
    let (_, v) = g
        .post(PATH, ask(&ga_id, "microsoft.directory/users/create", None))
        .await;
    assert_eq!(families(&v), vec!["success"], "{v}");

    // An Azure Owner of the subscription asking a directory action: the reverse mistake.
    let owner = g.create_user(&alias("tsown")).await;
    let owner_id = owner["id"].as_str().unwrap().to_string();
    let owner_role = castellan_core::azure_rbac::built_in_by_name("Owner")
        .unwrap()
        .id;
    let (st, v) = crate::arm_client()
        .await
        .send(
            reqwest::Method::PUT,
            &format!("{sub}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", uuid::Uuid::new_v4()),
            Some(json!({"properties": {"roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{owner_role}"), "principalId": owner_id, "principalType": "User"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, v) = g
        .post(
            PATH,
            ask(&owner_id, "microsoft.directory/users/create", None),
        )
        .await;
    assert_eq!(families(&v), vec!["wrongPlane"], "{v}");
    assert!(
        v["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("Owner at"),
        "{v}"
    );
    // … and Azure RBAC allows them the Azure action (the positive control).
    let (_, v) = g.post(PATH, ask(&owner_id, write, Some(&sub))).await;
    assert_eq!(families(&v), vec!["success"], "{v}");
    // Someone with neither: a plain missing permission, not a plane mistake.
    let nobody = g.create_user(&alias("tsnone")).await;
    let (_, v) = g
        .post(PATH, ask(nobody["id"].as_str().unwrap(), write, Some(&sub)))
        .await;
    assert_eq!(families(&v), vec!["missingPermission"], "{v}");
    // Bad questions: an Azure action without a scope, an unknown principal.
    let (st, e) = g.post(PATH, ask(&ga_id, write, None)).await;
    assert_eq!(st, 400, "{e}");
    assert!(e.to_string().contains("scope"), "{e}");
    let (st, e) = g
        .post(
            PATH,
            ask(&uuid::Uuid::new_v4().to_string(), write, Some(&sub)),
        )
        .await;
    assert_eq!(st, 404, "{e}");
}

#[tokio::test]
async fn asking_needs_the_right_to_read_sign_in_logs() {
    let (me, my_id) = member_with(&["AuditLog.Read.All", "Directory.Read.All"]).await;
    let body = json!({"principalId": my_id, "action": "microsoft.directory/users/create"});
    let (st, e) = me.post(PATH, body.clone()).await;
    assert_eq!(st, 403, "{e}");
    // Reports Reader may (the positive control).
    assign_role(&my_id, "4a5d8f65-41da-4de4-8968-e035b65339cf").await;
    let (st, v) = me.post(PATH, body).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(families(&v), vec!["missingPermission"], "{v}");
}
