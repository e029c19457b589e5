//! PIM for Azure roles over ARM (api-version 2020-10-01): an Owner makes a user eligible for
//! Contributor on the demo resource group; eligibility grants no write; the user's
//! self-activation with a justification is honoured by the next ARM write; once its end has
//! passed ARM refuses again (before any sweep), and the sweep records the expiry with the
//! justification. Bad inputs are ARM errors that change nothing; policies list per scope.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{alias, http, shared, token_response, G};

const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
const API: &str = "api-version=2020-10-01";
const AUTH: &str = "/providers/Microsoft.Authorization";

fn arm(token: String) -> G {
    let mut g = G::with_token(token);
    g.base = shared().origin.clone();
    g
}

fn rg() -> String {
    shared().demo["resource_group_scope"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn owner() -> G {
    let d = &shared().demo;
    let (st, v) = token_response(
        d["tenant_id"].as_str().unwrap(),
        d["confidential_client"]["app_id"].as_str().unwrap(),
        d["confidential_client"]["secret"].as_str().unwrap(),
        "https://management.azure.com/.default",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    arm(v["access_token"].as_str().unwrap().to_string())
}

/// A new user and an ARM client over its password-grant token.
async fn user() -> (String, G) {
    let g = G::demo().await;
    let u = g.create_user(&alias("armpim")).await;
    let d = &shared().demo;
    let r = http()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            shared().origin,
            d["tenant_id"].as_str().unwrap()
        ))
        .form(&[
            ("grant_type", "password"),
            ("client_id", d["public_client"]["app_id"].as_str().unwrap()),
            ("username", u["userPrincipalName"].as_str().unwrap()),
            ("password", "Test-Passw0rd!"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    assert!(t["access_token"].is_string(), "{t}");
    (
        u["id"].as_str().unwrap().to_string(),
        arm(t["access_token"].as_str().unwrap().to_string()),
    )
}

fn request(principal: &str, request_type: &str, duration: &str, why: Option<&str>) -> Value {
    let mut p = json!({
        "principalId": principal,
        "roleDefinitionId": format!("{AUTH}/roleDefinitions/{CONTRIBUTOR}"),
        "requestType": request_type,
        "scheduleInfo": {"expiration": {"type": "AfterDuration", "duration": duration}},
    });
    if let Some(w) = why {
        p["justification"] = json!(w);
    }
    json!({ "properties": p })
}

async fn put_request(a: &G, kind: &str, body: Value) -> (u16, Value) {
    let name = uuid::Uuid::new_v4();
    a.send(
        Method::PUT,
        &format!("{}{AUTH}/{kind}/{name}?{API}", rg()),
        Some(body),
    )
    .await
}

async fn write(a: &G) -> u16 {
    let id = format!(
        "{}/providers/Microsoft.Storage/storageAccounts/{}",
        rg(),
        alias("pim").replace('-', "").to_ascii_lowercase()
    );
    let (st, _) = a
        .send(
            Method::PUT,
            &format!("{id}?api-version=2023-01-01"),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    st
}

async fn counts(a: &G) -> (usize, usize) {
    let (_, r) = a
        .get(&format!(
            "{}{AUTH}/roleAssignmentScheduleRequests?{API}",
            rg()
        ))
        .await;
    let (_, s) = a
        .get(&format!("{}{AUTH}/roleAssignmentSchedules?{API}", rg()))
        .await;
    (
        r["value"].as_array().map_or(0, Vec::len),
        s["value"].as_array().map_or(0, Vec::len),
    )
}

#[tokio::test]
async fn arm_pim_eligibility_grants_nothing_activation_grants_until_its_end() {
    let admin = owner().await;
    let (uid, me) = user().await;
    // Eligible for Contributor on the resource group (30 days).
    let (st, el) = put_request(
        &admin,
        "roleEligibilityScheduleRequests",
        request(&uid, "AdminAssign", "P30D", Some("on call")),
    )
    .await;
    assert_eq!(st, 201, "{el}");
    let p = &el["properties"];
    assert_eq!(p["status"], "Provisioned", "{el}");
    assert_eq!(p["requestType"], "AdminAssign");
    assert!(p["roleDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/roleDefinitions/{CONTRIBUTOR}")));
    assert_eq!(
        p["expandedProperties"]["roleDefinition"]["displayName"],
        "Contributor"
    );
    assert_eq!(p["expandedProperties"]["principal"]["type"], "User");
    let el_schedule = p["targetRoleEligibilityScheduleId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        el_schedule.contains("/roleEligibilitySchedules/"),
        "{el_schedule}"
    );
    // Eligibility alone grants nothing.
    assert_eq!(write(&me).await, 403);
    // The user sees its eligibility with asTarget(), not others' without read.
    let (st, v) = me
        .get(&format!(
            "{}{AUTH}/roleEligibilitySchedules?{API}&$filter=asTarget()",
            rg()
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["value"][0]["id"].as_str().unwrap(), el_schedule);
    let (st, v) = me
        .get(&format!("{}{AUTH}/roleEligibilitySchedules?{API}", rg()))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("AuthorizationFailed")),
        "{v}"
    );
    // Bad inputs: ARM errors, nothing changes.
    let before = counts(&admin).await;
    let cases = [
        (
            &me,
            request(&uid, "SelfActivate", "PT1H", None),
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "JustificationRule",
        ),
        (
            &me,
            request(&uid, "SelfActivate", "PT9H", Some("x")),
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "ExpirationRule",
        ),
        (
            &me,
            request(&uid, "AdminAssign", "PT1H", Some("x")),
            403,
            "AuthorizationFailed",
            "roleAssignments/write",
        ),
        (
            &admin,
            json!({"properties": {"principalId": uid, "roleDefinitionId": format!("{AUTH}/roleDefinitions/00000000-0000-0000-0000-00000000dead"), "requestType": "AdminAssign", "justification": "x", "scheduleInfo": {"expiration": {"type": "AfterDuration", "duration": "PT1H"}}}}),
            404,
            "RoleDefinitionDoesNotExist",
            "does not exist",
        ),
        (
            &admin,
            json!({"properties": {"principalId": uid, "requestType": "AdminAssign"}}),
            400,
            "InvalidRequestContent",
            "roleDefinitionId",
        ),
    ];
    for (who, body, status, code, needle) in cases {
        let (st, v) = put_request(who, "roleAssignmentScheduleRequests", body).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{v}"
        );
    }
    assert_eq!(counts(&admin).await, before, "refusals changed nothing");
    // Self-activation with a justification: the next write is allowed.
    let (st, act) = put_request(
        &me,
        "roleAssignmentScheduleRequests",
        request(&uid, "SelfActivate", "PT1H", Some("incident 4711")),
    )
    .await;
    assert_eq!(st, 201, "{act}");
    assert_eq!(act["properties"]["status"], "Provisioned", "{act}");
    assert_eq!(
        act["properties"]["linkedRoleEligibilityScheduleId"].as_str(),
        Some(el_schedule.as_str())
    );
    assert_eq!(write(&me).await, 201);
    let (st, v) = me
        .get(&format!(
            "{}{AUTH}/roleAssignmentScheduleInstances?{API}&$filter=asTarget()",
            rg()
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    let inst = &v["value"][0]["properties"];
    assert_eq!(inst["assignmentType"], "Activated", "{v}");
    assert_eq!(inst["principalId"], uid.as_str());
    // The request reads back; cancelling a provisioned request is refused.
    let name = act["name"].as_str().unwrap();
    let (st, v) = me
        .get(&format!(
            "{}{AUTH}/roleAssignmentScheduleRequests/{name}?{API}",
            rg()
        ))
        .await;
    assert_eq!(
        (st, v["properties"]["justification"].as_str()),
        (200, Some("incident 4711")),
        "{v}"
    );
    let (st, v) = me
        .send(
            Method::POST,
            &format!(
                "{}{AUTH}/roleAssignmentScheduleRequests/{name}/cancel?{API}",
                rg()
            ),
            None,
        )
        .await;
    assert_eq!(st, 400, "{v}");
    // Its end passes (moved into the past in the store): ARM refuses right after, sweep or not.
    let store = shared().state.store.clone();
    let tenant =
        castellan_core::TenantId::parse(shared().demo["tenant_id"].as_str().unwrap()).unwrap();
    let schedules = store.arm_role_schedules(tenant).await.unwrap();
    let mut s = schedules
        .into_iter()
        .find(|s| {
            s.principal_id.to_string() == uid && s.level == castellan_core::pim::Level::Assignment
        })
        .unwrap();
    let now = castellan_server::state::now();
    s.start = now.plus_secs(-120);
    s.end = Some(now.plus_secs(-1));
    let mut set = castellan_core::store::ChangeSet::new();
    set.push(castellan_core::store::Change::PutRoleSchedule(s));
    store.commit(set).await.unwrap();
    assert_eq!(write(&me).await, 403);
    // The sweep records the expiry once, with the justification.
    let n =
        castellan_server::http::graph::pim::sweep(store.as_ref(), castellan_server::state::now())
            .await
            .unwrap();
    assert!(n >= 1);
    let audit = store
        .audit_records(tenant, &castellan_core::store::AuditQuery::default())
        .await
        .unwrap();
    assert!(audit.iter().any(
        |a| a.activity == "Remove member from role (PIM activation expired)"
            && a.targets.iter().any(|t| t.id == uid
                && t.modified_properties
                    .iter()
                    .any(|p| p.new_value.as_deref() == Some("incident 4711")))
    ));
}

#[tokio::test]
async fn arm_pim_policies_list_per_scope_and_rules_patch() {
    let admin = owner().await;
    let filter = format!("roleDefinitionId eq '{AUTH}/roleDefinitions/{CONTRIBUTOR}'");
    let (st, v) = admin
        .send(
            Method::GET,
            &format!(
                "{}{AUTH}/roleManagementPolicyAssignments?{API}&$filter={}",
                rg(),
                urlencoding(&filter)
            ),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let a = &v["value"].as_array().unwrap()[0];
    let policy_id = a["properties"]["policyId"].as_str().unwrap().to_string();
    assert!(
        a["name"]
            .as_str()
            .unwrap()
            .ends_with(&format!("_{CONTRIBUTOR}")),
        "{a}"
    );
    let (st, p) = admin.get(&format!("{policy_id}?{API}")).await;
    assert_eq!(st, 200, "{p}");
    let rules = p["properties"]["rules"].as_array().unwrap();
    let exp = rules
        .iter()
        .find(|r| r["id"] == "Expiration_EndUser_Assignment")
        .unwrap();
    assert_eq!(exp["ruleType"], "RoleManagementPolicyExpirationRule");
    assert_eq!(exp["maximumDuration"], "PT8H");
    // A user without a role may not read or change it.
    let (_, me) = user().await;
    let (st, _) = me.get(&format!("{policy_id}?{API}")).await;
    assert_eq!(st, 403);
    // An unknown rule id, and a bad duration, are refused by name.
    let (st, v) = admin
        .patch(
            &format!("{policy_id}?{API}"),
            json!({"properties": {"rules": [{"id": "Expiration_EndUser_Assignment", "ruleType": "RoleManagementPolicyExpirationRule", "maximumDuration": "eight hours"}]}}),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("InvalidRoleManagementPolicyRule")),
        "{v}"
    );
    let (st, v) = admin
        .patch(
            &format!("{policy_id}?{API}"),
            json!({"properties": {"rules": [{"id": "Expiration_EndUser_Assignment", "ruleType": "RoleManagementPolicyExpirationRule", "isExpirationRequired": true, "maximumDuration": "PT2H"}]}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let exp = v["properties"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "Expiration_EndUser_Assignment")
        .unwrap()
        .clone();
    assert_eq!(exp["maximumDuration"], "PT2H");
    // At the subscription the default still holds.
    let sub = shared().demo["subscription_scope"].as_str().unwrap();
    let (_, v) = admin
        .get(&format!(
            "{sub}{AUTH}/roleManagementPolicies?{API}&$filter={}",
            urlencoding(&filter)
        ))
        .await;
    let exp = v["value"][0]["properties"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "Expiration_EndUser_Assignment")
        .unwrap()
        .clone();
    assert_eq!(exp["maximumDuration"], "PT8H", "{v}");
    // Put the resource group's back for the other test.
    let (st, _) = admin
        .patch(
            &format!("{policy_id}?{API}"),
            json!({"properties": {"rules": [{"id": "Expiration_EndUser_Assignment", "ruleType": "RoleManagementPolicyExpirationRule", "isExpirationRequired": true, "maximumDuration": "PT8H"}]}}),
        )
        .await;
    assert_eq!(st, 200);
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn arm_pim_approval_by_an_approver_activates_reader() {
    const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    let admin = owner().await;
    let (uid, me) = user().await;
    let (approver_id, approver) = user().await;
    // Reader's policy at the resource group requires approval by the approver.
    let filter = format!("roleDefinitionId eq '{AUTH}/roleDefinitions/{READER}'");
    let (_, v) = admin
        .get(&format!(
            "{}{AUTH}/roleManagementPolicies?{API}&$filter={}",
            rg(),
            urlencoding(&filter)
        ))
        .await;
    let policy_id = v["value"][0]["id"].as_str().unwrap().to_string();
    let (st, v) = admin
        .patch(
            &format!("{policy_id}?{API}"),
            json!({"properties": {"rules": [{"id": "Approval_EndUser_Assignment", "ruleType": "RoleManagementPolicyApprovalRule",
                "setting": {"isApprovalRequired": true, "approvalStages": [{"primaryApprovers": [{"userType": "User", "id": approver_id, "isBackup": false}]}]}}]}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let body = |t: &str, d: &str| {
        let mut b = request(&uid, t, d, Some("quarterly review"));
        b["properties"]["roleDefinitionId"] = json!(format!("{AUTH}/roleDefinitions/{READER}"));
        b
    };
    let (st, v) = put_request(
        &admin,
        "roleEligibilityScheduleRequests",
        body("AdminAssign", "P7D"),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(read(&me).await, 403);
    let (st, act) = put_request(
        &me,
        "roleAssignmentScheduleRequests",
        body("SelfActivate", "PT1H"),
    )
    .await;
    assert_eq!(st, 201, "{act}");
    assert_eq!(act["properties"]["status"], "PendingApproval", "{act}");
    assert_eq!(read(&me).await, 403, "pending grants nothing");
    let approval = act["properties"]["approvalId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        approval.starts_with("/providers/Microsoft.Authorization/roleAssignmentApprovals/"),
        "{approval}"
    );
    let (st, a) = approver
        .get(&format!("{approval}?api-version=2021-01-01-preview"))
        .await;
    assert_eq!(st, 200, "{a}");
    let stage = a["properties"]["stages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        a["properties"]["stages"][0]["properties"]["assignedToMe"],
        true
    );
    // The requestor may not approve her own request.
    let review = json!({"properties": {"reviewResult": "Approve", "justification": "ok"}});
    let (st, v) = me
        .send(
            Method::PUT,
            &format!("{stage}?api-version=2021-01-01-preview"),
            Some(review.clone()),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("AuthorizationFailed")),
        "{v}"
    );
    let (st, v) = approver
        .send(
            Method::PUT,
            &format!("{stage}?api-version=2021-01-01-preview"),
            Some(review),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["properties"]["reviewResult"], "Approve");
    assert_eq!(
        read(&me).await,
        200,
        "approved: honoured by the next request"
    );
}

async fn read(g: &G) -> u16 {
    g.get(&format!("{}?api-version=2021-04-01", rg())).await.0
}

#[tokio::test]
async fn arm_pim_validate_answers_without_writing() {
    let admin = owner().await;
    let (uid, _) = user().await;
    let name = uuid::Uuid::new_v4();
    let path = format!("{}{AUTH}/roleEligibilityScheduleRequests/{name}", rg());
    let (st, v) = admin
        .send(
            Method::POST,
            &format!("{path}/validate?{API}"),
            Some(request(&uid, "AdminAssign", "P1D", Some("check"))),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["properties"]["principalId"], uid.as_str());
    let (st, v) = admin.get(&format!("{path}?{API}")).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (404, Some("RoleAssignmentScheduleRequestNotFound")),
        "{v}"
    );
    let (st, v) = admin
        .send(
            Method::POST,
            &format!("{path}/validate?{API}"),
            Some(request(&uid, "AdminAssign", "P400D", Some("check"))),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("RoleAssignmentRequestPolicyValidationFailed")),
        "{v}"
    );
}
