//! Privileged Identity Management over Graph: eligibility grants nothing, an activation is
//! honoured by the next token (`wids`, `exp` capped at its end) and by Graph's own checks, a
//! deactivation ends it at once, policy rules refuse by name, MFA on activation is a claims
//! challenge, and only administrators assign. Each test has its own user; policy changes use
//! a role no other test activates.

use base64::Engine;
use serde_json::{json, Value};

use crate::security::{graph_sp, role};
use crate::{alias, http, shared, G};

const BASE: &str = "/roleManagement/directory";
const SCOPES: &[&str] = &[
    "RoleAssignmentSchedule.ReadWrite.Directory",
    "RoleManagement.Read.Directory",
    "User.ReadWrite.All",
];

/// A member user, and a public client consented for its scopes: mints fresh tokens on demand.
pub(crate) struct Member {
    pub(crate) id: String,
    upn: String,
    client: String,
    scopes: &'static [&'static str],
}

impl Member {
    async fn new() -> Self {
        Self::with_scopes(SCOPES).await
    }
    /// A member whose client is consented for `scopes`.
    pub(crate) async fn with_scopes(scopes: &'static [&'static str]) -> Self {
        let g = G::demo().await;
        let (_, app) = g
            .post(
                "/applications",
                json!({"displayName": alias("pim-pub"), "isFallbackPublicClient": true}),
            )
            .await;
        let (_, sp) = g
            .post("/servicePrincipals", json!({"appId": app["appId"]}))
            .await;
        let graph = graph_sp(&g).await;
        let (st, v) = g
            .post(
                "/oauth2PermissionGrants",
                json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph["id"], "scope": scopes.join(" ")}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let u = g.create_user(&alias("pimu")).await;
        Self {
            id: u["id"].as_str().unwrap().into(),
            upn: u["userPrincipalName"].as_str().unwrap().into(),
            client: app["appId"].as_str().unwrap().into(),
            scopes,
        }
    }
    /// A fresh password-grant token (no MFA in `amr`).
    pub(crate) async fn token(&self) -> Value {
        let s = shared();
        let scope: Vec<String> = self
            .scopes
            .iter()
            .map(|p| format!("https://graph.microsoft.com/{p}"))
            .collect();
        let r = http()
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                s.origin,
                s.demo["tenant_id"].as_str().unwrap()
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", self.client.as_str()),
                ("username", self.upn.as_str()),
                ("password", "Test-Passw0rd!"),
                ("scope", &scope.join(" ")),
            ])
            .send()
            .await
            .unwrap();
        let t: Value = r.json().await.unwrap();
        assert!(t["access_token"].is_string(), "{t}");
        t
    }
    pub(crate) async fn graph(&self) -> G {
        G::with_token(self.token().await["access_token"].as_str().unwrap().into())
    }
}

pub(crate) fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

pub(crate) fn wids(token: &Value) -> Vec<String> {
    payload(token["access_token"].as_str().unwrap())["wids"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn activation(principal: &str, role: &str, justification: Option<&str>, duration: &str) -> Value {
    let mut v = json!({
        "action": "selfActivate", "principalId": principal, "roleDefinitionId": role,
        "directoryScopeId": "/",
        "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": duration}},
    });
    if let Some(j) = justification {
        v["justification"] = json!(j);
    }
    v
}

fn policy_rule_failed(st: u16, e: &Value, rule: &str) {
    assert_eq!(st, 400, "{e}");
    assert_eq!(
        e["error"]["code"], "RoleAssignmentRequestPolicyValidationFailed",
        "{e}"
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains(rule),
        "the refusal names {rule}: {e}"
    );
}

/// The policy id of a role, found the way clients find it.
async fn policy_id(g: &G, role: &str) -> String {
    let (st, v) = g
        .get(&format!("/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{role}'"))
        .await;
    assert_eq!(st, 200, "{v}");
    let items = v["value"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    items[0]["policyId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn eligibility_grants_nothing_an_activation_does_until_deactivated() {
    let admin = G::demo().await;
    let m = Member::new().await;
    let target = admin.create_user(&alias("pimt")).await;
    let target_path = format!("/users/{}", target["id"].as_str().unwrap());
    // User Administrator: no MFA on activation for this test (the PATCH under test too).
    let pid = policy_id(&admin, role::USER_ADMIN).await;
    let (st, v) = admin
        .patch(
            &format!("/policies/roleManagementPolicies/{pid}/rules/Enablement_EndUser_Assignment"),
            json!({"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
                   "id": "Enablement_EndUser_Assignment", "enabledRules": ["Justification"],
                   "target": {"caller": "EndUser", "operations": ["All"], "level": "Assignment"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["enabledRules"], json!(["Justification"]));
    let mg = m.graph().await;
    // Not eligible yet.
    let (st, e) = mg
        .post(
            &format!("{BASE}/roleAssignmentScheduleRequests"),
            activation(&m.id, role::USER_ADMIN, Some("pim-it"), "PT1H"),
        )
        .await;
    policy_rule_failed(st, &e, "EligibilityRule");
    // A member may not make themselves eligible.
    let (st, e) = mg
        .post(
            &format!("{BASE}/roleEligibilityScheduleRequests"),
            json!({"action": "adminAssign", "principalId": m.id, "roleDefinitionId": role::USER_ADMIN,
                   "directoryScopeId": "/", "justification": "self", "scheduleInfo": {"expiration": {"type": "noExpiration"}}}),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(mg
        .get(&format!(
            "{BASE}/roleEligibilitySchedules/filterByCurrentUser(on='principal')"
        ))
        .await
        .1["value"]
        .as_array()
        .unwrap()
        .is_empty());
    // The administrator makes them eligible.
    let (st, r) = admin
        .post(
            &format!("{BASE}/roleEligibilityScheduleRequests"),
            json!({"action": "adminAssign", "principalId": m.id, "roleDefinitionId": role::USER_ADMIN,
                   "directoryScopeId": "/", "justification": "pim-it eligible",
                   "scheduleInfo": {"startDateTime": "2020-01-01T00:00:00Z", "expiration": {"type": "noExpiration"}}}),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["status"], "Provisioned", "{r}");
    assert!(r["targetScheduleId"].is_string(), "{r}");
    let (st, v) = mg
        .get(&format!(
            "{BASE}/roleEligibilityScheduleInstances/filterByCurrentUser(on='principal')"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    // Eligibility alone grants nothing: no wids, and Graph refuses.
    let t = m.token().await;
    assert!(!wids(&t).contains(&role::USER_ADMIN.to_string()), "{t}");
    let before = G::with_token(t["access_token"].as_str().unwrap().into());
    let (st, e) = before.patch(&target_path, json!({"jobTitle": "x"})).await;
    assert_eq!(st, 403, "{e}");
    // No justification: the rule is named.
    let (st, e) = mg
        .post(
            &format!("{BASE}/roleAssignmentScheduleRequests"),
            activation(&m.id, role::USER_ADMIN, None, "PT1H"),
        )
        .await;
    policy_rule_failed(st, &e, "JustificationRule");
    // Longer than the policy's PT8H.
    let (st, e) = mg
        .post(
            &format!("{BASE}/roleAssignmentScheduleRequests"),
            activation(&m.id, role::USER_ADMIN, Some("pim-it"), "PT9H"),
        )
        .await;
    policy_rule_failed(st, &e, "ExpirationRule");
    // Activate for an hour.
    let marker = alias("pim-it-why-");
    let (st, r) = mg
        .post(
            &format!("{BASE}/roleAssignmentScheduleRequests"),
            activation(&m.id, role::USER_ADMIN, Some(&marker), "PT1H"),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["status"], "Provisioned", "{r}");
    assert_eq!(r["action"], "selfActivate");
    assert_eq!(r["scheduleInfo"]["expiration"]["duration"], "PT1H");
    // The next token carries the role and ends no later than the activation.
    let t = m.token().await;
    assert!(wids(&t).contains(&role::USER_ADMIN.to_string()), "{t}");
    let exp = payload(t["access_token"].as_str().unwrap())["exp"]
        .as_i64()
        .unwrap();
    let now = castellan_server::state::now().secs();
    assert!(
        exp <= now + 3600 + 5,
        "exp {exp} is after the activation's end"
    );
    // Graph's own check honours it at once — even for the token minted before.
    let (st, e) = before
        .patch(&target_path, json!({"jobTitle": "activated"}))
        .await;
    assert_eq!(st, 204, "{e}");
    // The read models show it.
    let (_, v) = mg
        .get(&format!(
            "{BASE}/roleAssignmentScheduleInstances/filterByCurrentUser(on='principal')"
        ))
        .await;
    let inst = v["value"].as_array().unwrap();
    assert_eq!(inst.len(), 1, "{v}");
    assert_eq!(inst[0]["assignmentType"], "Activated");
    let (_, v) = admin
        .get(&format!(
            "{BASE}/roleAssignments?$filter=principalId eq '{}'",
            m.id
        ))
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    // A second activation is refused as existing.
    let (st, e) = mg
        .post(
            &format!("{BASE}/roleAssignmentScheduleRequests"),
            activation(&m.id, role::USER_ADMIN, Some("again"), "PT1H"),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["error"]["code"], "RoleAssignmentExists", "{e}");
    // Deactivate: Graph refuses right after.
    let (st, r) = mg
        .post(
            &format!("{BASE}/roleAssignmentScheduleRequests"),
            json!({"action": "selfDeactivate", "principalId": m.id, "roleDefinitionId": role::USER_ADMIN, "directoryScopeId": "/", "justification": marker}),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["status"], "Revoked", "{r}");
    let (st, e) = before
        .patch(&target_path, json!({"jobTitle": "after"}))
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(!wids(&m.token().await).contains(&role::USER_ADMIN.to_string()));
    // Every step is audited with its justification.
    assert!(admin.audits_mentioning(&marker).await >= 2);
    // The requests list for the caller holds both.
    let (_, v) = mg
        .get(&format!(
            "{BASE}/roleAssignmentScheduleRequests/filterByCurrentUser(on='principal')"
        ))
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 2, "{v}");
}

#[tokio::test]
async fn mfa_on_activation_is_a_claims_challenge_and_writes_nothing() {
    let admin = G::demo().await;
    let m = Member::new().await;
    let (st, r) = admin
        .post(
            &format!("{BASE}/roleEligibilityScheduleRequests"),
            json!({"action": "adminAssign", "principalId": m.id, "roleDefinitionId": role::GLOBAL_ADMIN,
                   "directoryScopeId": "/", "justification": "pim-it",
                   "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "P30D"}}}),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    // Global Administrator's default policy requires MFA; a password-only token gets the
    // challenge MSAL answers.
    let t = m.token().await;
    let r = http()
        .post(format!(
            "{}/v1.0{BASE}/roleAssignmentScheduleRequests",
            shared().origin
        ))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .json(&activation(
            &m.id,
            role::GLOBAL_ADMIN,
            Some("pim-it"),
            "PT1H",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let www = r
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(www.contains("error=\"insufficient_claims\""), "{www}");
    let b64 = www
        .split("claims=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims,
        json!({"access_token": {"acrs": {"essential": true, "value": "c1"}}})
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["code"],
        "RoleAssignmentRequestAcrsValidationFailed"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("MfaRule"));
    // Nothing was written, and no role is held.
    let mg = m.graph().await;
    let (_, v) = mg
        .get(&format!(
            "{BASE}/roleAssignmentScheduleRequests/filterByCurrentUser(on='principal')"
        ))
        .await;
    assert!(v["value"].as_array().unwrap().is_empty(), "{v}");
    assert!(!wids(&m.token().await).contains(&role::GLOBAL_ADMIN.to_string()));
}

#[tokio::test]
async fn policies_have_entras_rule_ids_and_refuse_bad_changes() {
    let admin = G::demo().await;
    let (st, e) = admin.get("/policies/roleManagementPolicies").await;
    assert_eq!(st, 400, "the scope filter is required: {e}");
    let pid = policy_id(&admin, role::GLOBAL_ADMIN).await;
    let (st, v) = admin
        .get(&format!("/policies/roleManagementPolicies/{pid}/rules"))
        .await;
    assert_eq!(st, 200, "{v}");
    let ids: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for want in [
        "Expiration_EndUser_Assignment",
        "Enablement_EndUser_Assignment",
        "Approval_EndUser_Assignment",
        "AuthenticationContext_EndUser_Assignment",
        "Expiration_Admin_Eligibility",
        "Expiration_Admin_Assignment",
        "Enablement_Admin_Eligibility",
        "Enablement_Admin_Assignment",
        "Notification_Admin_Admin_Eligibility",
        "Notification_Approver_EndUser_Assignment",
    ] {
        assert!(ids.contains(&want), "{want}: {ids:?}");
    }
    let (_, r) = admin
        .get(&format!(
            "/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment"
        ))
        .await;
    assert_eq!(r["maximumDuration"], "PT8H", "{r}");
    // Bad changes are refused by name and change nothing.
    let path =
        format!("/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment");
    let (st, e) = admin
        .patch(
            &path,
            json!({"id": "Expiration_EndUser_Assignment", "maximumDuration": "P1Y"}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = admin
        .patch(&path, json!({"id": "Expiration_EndUser_Assignment", "maximumDuration": "PT1H", "colour": "red"}))
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("colour"),
        "{e}"
    );
    let (st, e) = admin
        .patch(
            &format!("/policies/roleManagementPolicies/{pid}/rules/Nope_Rule"),
            json!({"id": "Nope_Rule"}),
        )
        .await;
    assert_eq!(st, 404, "{e}");
    // A member may read but not change.
    let m = Member::new().await;
    let mg = m.graph().await;
    let (st, e) = mg
        .patch(
            &path,
            json!({"id": "Expiration_EndUser_Assignment", "maximumDuration": "PT1H"}),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    let (_, r) = admin.get(&path).await;
    assert_eq!(r["maximumDuration"], "PT8H", "unchanged: {r}");
}

#[tokio::test]
async fn an_approval_round_trip_with_no_self_approval() {
    let admin = G::demo().await;
    let (requestor, approver) = (Member::new().await, Member::new().await);
    let pid = policy_id(&admin, role::GROUPS_ADMIN).await;
    let rule = |id: &str| format!("/policies/roleManagementPolicies/{pid}/rules/{id}");
    let (st, v) = admin
        .patch(
            &rule("Enablement_EndUser_Assignment"),
            json!({"id": "Enablement_EndUser_Assignment", "enabledRules": ["Justification"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // Approval needs approvers.
    let (st, e) = admin
        .patch(
            &rule("Approval_EndUser_Assignment"),
            json!({"id": "Approval_EndUser_Assignment", "setting": {"isApprovalRequired": true, "approvalStages": [{"primaryApprovers": []}]}}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, v) = admin
        .patch(
            &rule("Approval_EndUser_Assignment"),
            json!({"id": "Approval_EndUser_Assignment", "setting": {"isApprovalRequired": true, "approvalStages": [{"primaryApprovers": [
                {"@odata.type": "#microsoft.graph.singleUser", "userId": approver.id}]}]}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["setting"]["isApprovalRequired"], true, "{v}");
    let (st, r) = admin
        .post(
            &format!("{BASE}/roleEligibilityScheduleRequests"),
            json!({"action": "adminAssign", "principalId": requestor.id, "roleDefinitionId": role::GROUPS_ADMIN,
                   "directoryScopeId": "/", "justification": "pim-it", "scheduleInfo": {"expiration": {"type": "noExpiration"}}}),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    let rg = requestor.graph().await;
    let (st, r) = rg
        .post(
            &format!("{BASE}/roleAssignmentScheduleRequests"),
            activation(
                &requestor.id,
                role::GROUPS_ADMIN,
                Some("needs approval"),
                "PT2H",
            ),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["status"], "PendingApproval", "{r}");
    let approval = r["approvalId"].as_str().unwrap().to_string();
    assert!(!wids(&requestor.token().await).contains(&role::GROUPS_ADMIN.to_string()));
    let (st, a) = rg
        .get(&format!("{BASE}/roleAssignmentApprovals/{approval}"))
        .await;
    assert_eq!(st, 200, "{a}");
    let step = a["steps"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(a["steps"][0]["status"], "InProgress", "{a}");
    let step_path = format!("{BASE}/roleAssignmentApprovals/{approval}/steps/{step}");
    // The requestor cannot approve their own request.
    let (st, e) = rg
        .patch(
            &step_path,
            json!({"reviewResult": "Approve", "justification": "me"}),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    // A bad answer is refused by name and changes nothing.
    let ag = approver.graph().await;
    let (st, e) = ag
        .patch(
            &step_path,
            json!({"reviewResult": "Maybe", "justification": "hmm"}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("Maybe"),
        "{e}"
    );
    // The approver approves: the role is in force from now.
    let (st, e) = ag
        .patch(
            &step_path,
            json!({"reviewResult": "Approve", "justification": "ok"}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    assert!(wids(&requestor.token().await).contains(&role::GROUPS_ADMIN.to_string()));
    let (_, a) = rg
        .get(&format!("{BASE}/roleAssignmentApprovals/{approval}"))
        .await;
    assert_eq!(a["steps"][0]["reviewResult"], "Approve", "{a}");
    assert_eq!(
        a["steps"][0]["reviewedBy"]["id"],
        approver.id.as_str(),
        "{a}"
    );
    // Answered once only.
    let (st, e) = ag
        .patch(
            &step_path,
            json!({"reviewResult": "Deny", "justification": "changed my mind"}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (_, r) = rg
        .get(&format!(
            "{BASE}/roleAssignmentScheduleRequests/{}",
            r["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r["status"], "Provisioned", "{r}");
}
