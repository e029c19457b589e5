//! The console's Azure resources blade in depth: management groups above the subscriptions;
//! Access control (IAM) adds and removes role assignments through ARM (an Owner may, a Global
//! Administrator without an Azure role may not — the planes are separate), checks access with
//! the troubleshooter's verdict, lists deny assignments; elevate access is a Global
//! Administrator's, confirmed, audited by ARM, and lands on the root scope's IAM.

use serde_json::{json, Value};

use crate::console::{console_as, csrf, new_user, origin, post, user_by_upn};
use crate::security::role;
use crate::shared;

const REPORTS_READER: &str = "4a5d8f65-41da-4de4-8968-e035b65339cf";
const API: &str = "api-version=2022-04-01";

fn sub() -> String {
    shared().demo["subscription_scope"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The principal's role assignments made at the root scope `/`, from the store (the demo's
/// ARM client may not read there, which is the point of elevate access).
async fn root_assignments_of(principal: &str) -> Vec<String> {
    let tid =
        castellan_core::TenantId::parse(shared().demo["tenant_id"].as_str().unwrap()).unwrap();
    shared()
        .state
        .store
        .azure_role_assignments(tid)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.scope == "/" && a.principal_id.to_string() == principal)
        .map(|a| {
            format!(
                "/providers/Microsoft.Authorization/roleAssignments/{}",
                a.id
            )
        })
        .collect()
}

async fn assignments_of(scope: &str, principal: &str) -> Vec<Value> {
    if scope == "/" {
        return root_assignments_of(principal)
            .await
            .into_iter()
            .map(|id| json!({"id": id}))
            .collect();
    }
    let at = scope;
    let (st, v) = crate::arm_client()
        .await
        .send(
            reqwest::Method::GET,
            &format!("{at}/providers/Microsoft.Authorization/roleAssignments?{API}&$filter=principalId eq '{principal}'"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["properties"]["principalId"] == principal
                && a["properties"]["scope"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(scope))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn iam_assigns_removes_and_checks_through_arm_and_only_an_owner_may_assign() {
    let sub = sub();
    // An Owner of the subscription whose directory role (Reports Reader) grants nothing there.
    let (b, upn) = console_as(REPORTS_READER).await;
    let owner = user_by_upn(&upn).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let owner_role = castellan_core::azure_rbac::built_in_by_name("Owner")
        .unwrap()
        .id;
    let (st, v) = crate::arm_client()
        .await
        .send(
            reqwest::Method::PUT,
            &format!("{sub}/providers/Microsoft.Authorization/roleAssignments/{}?{API}", uuid::Uuid::new_v4()),
            Some(json!({"properties": {"roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{owner_role}"), "principalId": owner, "principalType": "User"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let iam = format!(
        "/admin/azure/iam?scope={}",
        castellan_server::console::api::q(&sub)
    );
    let p = b.get(&format!("{}{iam}", origin())).await;
    assert_eq!(p.status, 200, "{}", p.body);
    for id in ["add-form", "check-form", "deny-assignments"] {
        assert!(p.body.contains(id), "{id}: {}", p.body);
    }
    let token = csrf(&p);
    let reader = castellan_core::azure_rbac::built_in_by_name("Reader")
        .unwrap()
        .id
        .to_string();
    let (target_upn, target) = new_user("iamt").await;
    // Without the CSRF token: refused, nothing assigned.
    let r = post(
        &b,
        "/admin/azure/iam/add",
        &[
            ("scope", &sub),
            ("role", &reader),
            ("principal", &target_upn),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(assignments_of(&sub, &target).await.is_empty());
    // A bad role, an unknown principal, a bad scope: 400, nothing assigned.
    for (role, who, scope) in [
        ("x", target_upn.as_str(), sub.as_str()),
        (reader.as_str(), "nobody@nowhere.example", sub.as_str()),
        (reader.as_str(), target_upn.as_str(), "/etc/passwd"),
    ] {
        let r = post(
            &b,
            "/admin/azure/iam/add",
            &[
                ("csrf", &token),
                ("scope", scope),
                ("role", role),
                ("principal", who),
            ],
        )
        .await;
        assert!(r.status >= 400, "{role} {who} {scope}: {}", r.body);
    }
    assert!(assignments_of(&sub, &target).await.is_empty());
    // The Owner assigns Reader by user principal name.
    let r = post(
        &b,
        "/admin/azure/iam/add",
        &[
            ("csrf", &token),
            ("scope", &sub),
            ("role", &reader),
            ("principal", &target_upn),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let made = assignments_of(&sub, &target).await;
    assert_eq!(made.len(), 1, "{made:?}");
    // Check access: the target may read resource groups now (the engine's explanation).
    let r = post(
        &b,
        "/admin/azure/iam/check",
        &[
            ("csrf", &token),
            ("scope", &sub),
            ("principal", &target_upn),
            ("action", ""),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Check access: Allowed"), "{}", r.body);
    // Remove it.
    let id = made[0]["id"].as_str().unwrap();
    let r = post(
        &b,
        "/admin/azure/iam/remove",
        &[("csrf", &token), ("scope", &sub), ("assignment", id)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(assignments_of(&sub, &target).await.is_empty());

    // The hierarchy's last level: the demo resource group's IAM lists its resources, each
    // with an IAM view of its own.
    let rg = shared().demo["resource_group_scope"].as_str().unwrap();
    let p = b
        .get(&format!(
            "{}/admin/azure/iam?scope={}",
            origin(),
            castellan_server::console::api::q(rg)
        ))
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("resources-table"), "{}", p.body);
    assert!(
        p.body.contains(&format!(
            "/admin/azure/iam?scope={}",
            castellan_server::console::api::q(&format!("{rg}/providers/"))
        )),
        "a resource with its IAM link: {}",
        p.body
    );

    // A Global Administrator without an Azure role is refused by ARM; check access names the
    // wrong plane for them.
    let (ga, ga_upn) = console_as(role::GLOBAL_ADMIN).await;
    let p = ga.get(&format!("{}{iam}", origin())).await;
    let gt = csrf(&p);
    let r = post(
        &ga,
        "/admin/azure/iam/add",
        &[
            ("csrf", &gt),
            ("scope", &sub),
            ("role", &reader),
            ("principal", &target_upn),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(assignments_of(&sub, &target).await.is_empty());
    let r = post(
        &ga,
        "/admin/azure/iam/check",
        &[
            ("csrf", &gt),
            ("scope", &sub),
            ("principal", &ga_upn),
            (
                "action",
                "Microsoft.Resources/subscriptions/resourceGroups/write",
            ),
        ],
    )
    .await;
    assert!(
        r.body.contains("A directory role is not an Azure role"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn elevate_access_is_confirmed_and_only_a_global_administrators() {
    let (ga, ga_upn) = console_as(role::GLOBAL_ADMIN).await;
    let ga_id = user_by_upn(&ga_upn).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = ga.get(&format!("{}/admin/azure", origin())).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("management-groups") && p.body.contains("elevate-form"),
        "{}",
        p.body
    );
    let token = csrf(&p);
    // Unconfirmed: nothing.
    let r = post(&ga, "/admin/azure/elevate", &[("csrf", &token)]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(assignments_of("/", &ga_id).await.is_empty());
    // Someone else (an Owner-less Reports Reader): ARM refuses.
    let (other, other_upn) = console_as(REPORTS_READER).await;
    let p = other.get(&format!("{}/admin/azure", origin())).await;
    let ot = csrf(&p);
    let r = post(
        &other,
        "/admin/azure/elevate",
        &[("csrf", &ot), ("confirm", "true")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let other_id = user_by_upn(&other_upn).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(assignments_of("/", &other_id).await.is_empty());
    // The Global Administrator, confirmed: User Access Administrator at the root scope.
    let r = post(
        &ga,
        "/admin/azure/elevate",
        &[("csrf", &token), ("confirm", "true")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/admin/azure/iam?scope=%2F"));
    let root = assignments_of("/", &ga_id).await;
    assert_eq!(root.len(), 1, "{root:?}");
    let page = ga
        .get(&format!("{}/admin/azure/iam?scope=%2F", origin()))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    // Removing it from the root scope's IAM.
    let id = root[0]["id"].as_str().unwrap();
    let r = post(
        &ga,
        "/admin/azure/iam/remove",
        &[("csrf", &token), ("scope", "/"), ("assignment", id)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(assignments_of("/", &ga_id).await.is_empty());
}
