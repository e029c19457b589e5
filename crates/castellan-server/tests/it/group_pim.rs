//! PIM for groups over Graph (`/identityGovernance/privilegedAccess/group`): an eligible
//! member of a role-assignable group holding User Administrator has neither the membership
//! nor the role; the self-activation makes both count at once (next token's `wids`, the
//! group's members, a user PATCH the role allows), the deactivation ends both; the schedule
//! lists filter by group and principal and by current user; group policies list under
//! `scopeType eq 'Group'`; only the group's administrators assign, bad bodies are refused by
//! name and change nothing.

use serde_json::{json, Value};

use crate::pim::{wids, Member};
use crate::{alias, G};

const BASE: &str = "/identityGovernance/privilegedAccess/group";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const SCOPES: &[&str] = &[
    "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
    "RoleManagementPolicy.Read.AzureADGroup",
    "User.ReadWrite.All",
    "GroupMember.Read.All",
];

/// A group (role-assignable or not) made by the demo administrator.
async fn group(admin: &G, role_assignable: bool) -> String {
    let (st, g) = admin
        .post(
            "/groups",
            json!({"displayName": alias("pimgrp"), "mailEnabled": false, "mailNickname": alias("pimgrp"),
                "securityEnabled": true, "isAssignableToRole": role_assignable}),
        )
        .await;
    assert_eq!(st, 201, "{g}");
    g["id"].as_str().unwrap().to_string()
}

fn request(access: &str, action: &str, group: &str, principal: &str, duration: &str) -> Value {
    json!({"accessId": access, "action": action, "groupId": group, "principalId": principal,
        "justification": "on call", "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": duration}}})
}

async fn members(admin: &G, group: &str) -> Vec<String> {
    let (st, v) = admin.get(&format!("/groups/{group}/members")).await;
    assert_eq!(st, 200, "{v}");
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn group_pim_activation_gives_the_groups_role_until_deactivated() {
    let admin = G::demo().await;
    let gid = group(&admin, true).await;
    let (st, v) = admin
        .post(
            "/roleManagement/directory/roleAssignments",
            json!({"principalId": gid, "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let m = Member::with_scopes(SCOPES).await;
    let target = admin.create_user(&alias("pimgt")).await;
    let target = target["id"].as_str().unwrap();
    // Eligible (30 days; group policies require an expiration).
    let (st, el) = admin
        .post(
            &format!("{BASE}/eligibilityScheduleRequests"),
            request("member", "adminAssign", &gid, &m.id, "P30D"),
        )
        .await;
    assert_eq!(st, 201, "{el}");
    assert_eq!(el["status"], "Provisioned", "{el}");
    assert_eq!(
        (el["accessId"].clone(), el["groupId"].clone()),
        (json!("member"), json!(gid))
    );
    assert!(el.get("roleDefinitionId").is_none(), "{el}");
    // Eligible only: not a member, no role, the PATCH is refused.
    assert!(!members(&admin, &gid).await.contains(&m.id));
    assert!(!wids(&m.token().await).contains(&USER_ADMIN.to_string()));
    let patch = json!({"jobTitle": "pim-group"});
    let (st, e) = m
        .graph()
        .await
        .patch(&format!("/users/{target}"), patch.clone())
        .await;
    assert_eq!(st, 403, "{e}");
    // Self-activation for an hour.
    let me = m.graph().await;
    let (st, act) = me
        .post(
            &format!("{BASE}/assignmentScheduleRequests"),
            request("member", "selfActivate", &gid, &m.id, "PT1H"),
        )
        .await;
    assert_eq!(st, 201, "{act}");
    assert_eq!(act["status"], "Provisioned", "{act}");
    assert!(members(&admin, &gid).await.contains(&m.id));
    let t = m.token().await;
    assert!(wids(&t).contains(&USER_ADMIN.to_string()), "{t}");
    let (st, e) = m
        .graph()
        .await
        .patch(&format!("/users/{target}"), patch.clone())
        .await;
    assert_eq!(st, 204, "the group's role is honoured: {e}");
    // The read models, filtered as clients filter them.
    let (st, v) = admin
        .get(&format!(
            "{BASE}/assignmentScheduleInstances?$filter=groupId eq '{gid}' and principalId eq '{}'",
            m.id
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    let items = v["value"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["assignmentType"], "activated");
    assert_eq!(items[0]["accessId"], "member");
    let (st, v) = me
        .get(&format!(
            "{BASE}/eligibilitySchedules/filterByCurrentUser(on='principal')"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    let (st, v) = admin
        .get(&format!(
            "{BASE}/assignmentScheduleRequests/{}",
            act["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (st, v["action"].clone()),
        (200, json!("selfActivate")),
        "{v}"
    );
    // Deactivation ends membership and role at once.
    let (st, off) = me
        .post(
            &format!("{BASE}/assignmentScheduleRequests"),
            json!({"accessId": "member", "action": "selfDeactivate", "groupId": gid, "principalId": m.id}),
        )
        .await;
    assert_eq!(st, 201, "{off}");
    assert_eq!(off["status"], "Revoked", "{off}");
    assert!(!members(&admin, &gid).await.contains(&m.id));
    assert!(!wids(&m.token().await).contains(&USER_ADMIN.to_string()));
    let (st, e) = m
        .graph()
        .await
        .patch(&format!("/users/{target}"), patch)
        .await;
    assert_eq!(st, 403, "{e}");
}

#[tokio::test]
async fn group_pim_is_for_the_groups_administrators_and_refuses_bad_bodies() {
    let admin = G::demo().await;
    let gid = group(&admin, false).await;
    let m = Member::with_scopes(SCOPES).await;
    let other = admin.create_user(&alias("pimgo")).await;
    let other = other["id"].as_str().unwrap();
    let me = m.graph().await;
    let path = format!("{BASE}/eligibilityScheduleRequests");
    // Not an owner, no role: refused.
    let (st, e) = me
        .post(&path, request("member", "adminAssign", &gid, other, "P30D"))
        .await;
    assert_eq!(st, 403, "{e}");
    // Bad bodies name their cause.
    for (body, status, says) in [
        (
            request("admin", "adminAssign", &gid, other, "P30D"),
            400,
            "accessId 'admin'",
        ),
        (
            request(
                "member",
                "adminAssign",
                "00000000-0000-0000-0000-00000000dead",
                other,
                "P30D",
            ),
            404,
            "does not exist",
        ),
        (
            request("member", "adminAssign", &gid, &gid, "P30D"),
            404,
            "not a user",
        ),
        (
            json!({"accessId": "member", "action": "adminAssign", "groupId": gid, "principalId": other,
                "roleDefinitionId": USER_ADMIN}),
            400,
            "roleDefinitionId",
        ),
        (
            json!({"accessId": "member", "action": "adminAssign", "groupId": gid, "principalId": other,
                "justification": "x", "scheduleInfo": {"expiration": {"type": "noExpiration"}}}),
            400,
            "ExpirationRule",
        ),
    ] {
        let (st, e) = admin.post(&path, body).await;
        assert_eq!(st, status, "{says}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(says),
            "{says}: {e}"
        );
    }
    let (_, v) = admin
        .get(&format!(
            "{BASE}/eligibilitySchedules?$filter=groupId eq '{gid}'"
        ))
        .await;
    assert_eq!(
        v["value"].as_array().unwrap().len(),
        0,
        "nothing written: {v}"
    );
    // Positive control: an owner of the group may assign.
    let (st, e) = admin
        .post(
            &format!("/groups/{gid}/owners/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", m.id)}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    let (st, e) = m
        .graph()
        .await
        .post(&path, request("member", "adminAssign", &gid, other, "P30D"))
        .await;
    assert_eq!(st, 201, "{e}");
    let (_, v) = admin
        .get(&format!(
            "{BASE}/eligibilitySchedules?$filter=groupId eq '{gid}'"
        ))
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
}

#[tokio::test]
async fn group_policies_list_under_the_group_scope_with_entras_rule_ids() {
    let admin = G::demo().await;
    let gid = group(&admin, false).await;
    let (st, v) = admin
        .get(&format!(
            "/policies/roleManagementPolicyAssignments?$filter=scopeId eq '{gid}' and scopeType eq 'Group' and roleDefinitionId eq 'member'"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    let items = v["value"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    let pid = items[0]["policyId"].as_str().unwrap().to_string();
    assert!(pid.starts_with(&format!("Group_{gid}_")), "{pid}");
    let (st, v) = admin
        .get(&format!(
            "/policies/roleManagementPolicies?$filter=scopeId eq '{gid}' and scopeType eq 'Group'"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["value"].as_array().unwrap().len(),
        2,
        "member and owner: {v}"
    );
    assert_eq!(v["value"][0]["scopeType"], "Group");
    let (st, v) = admin
        .get(&format!(
            "/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["maximumDuration"], "PT8H", "{v}");
    // The rule is changed through the same PATCH as directory roles, and governs requests.
    let (st, v) = admin
        .patch(
            &format!("/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment"),
            json!({"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
                "id": "Expiration_EndUser_Assignment", "isExpirationRequired": true, "maximumDuration": "PT1H",
                "target": {"caller": "EndUser", "operations": ["All"], "level": "Assignment"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = admin
        .get(&format!(
            "/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment"
        ))
        .await;
    assert_eq!(v["maximumDuration"], "PT1H", "{v}");
    // A bad scope filter is refused.
    let (st, e) = admin
        .get("/policies/roleManagementPolicies?$filter=scopeId eq 'nope' and scopeType eq 'Group'")
        .await;
    assert_eq!(st, 400, "{e}");
}

#[tokio::test]
async fn a_group_activation_needing_approval_counts_only_once_approved() {
    let admin = G::demo().await;
    let gid = group(&admin, false).await;
    let (requestor, approver) = (
        Member::with_scopes(SCOPES).await,
        Member::with_scopes(SCOPES).await,
    );
    let (_, v) = admin
        .get(&format!(
            "/policies/roleManagementPolicyAssignments?$filter=scopeId eq '{gid}' and scopeType eq 'Group' and roleDefinitionId eq 'member'"
        ))
        .await;
    let pid = v["value"][0]["policyId"].as_str().unwrap().to_string();
    let (st, v) = admin
        .patch(
            &format!("/policies/roleManagementPolicies/{pid}/rules/Approval_EndUser_Assignment"),
            json!({"id": "Approval_EndUser_Assignment", "setting": {"isApprovalRequired": true, "approvalStages": [{"primaryApprovers": [
                {"@odata.type": "#microsoft.graph.singleUser", "userId": approver.id}]}]}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, el) = admin
        .post(
            &format!("{BASE}/eligibilityScheduleRequests"),
            request("member", "adminAssign", &gid, &requestor.id, "P30D"),
        )
        .await;
    assert_eq!(st, 201, "{el}");
    let (st, r) = requestor
        .graph()
        .await
        .post(
            &format!("{BASE}/assignmentScheduleRequests"),
            request("member", "selfActivate", &gid, &requestor.id, "PT2H"),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["status"], "PendingApproval", "{r}");
    assert!(
        !members(&admin, &gid).await.contains(&requestor.id),
        "pending gives nothing"
    );
    let approval = r["approvalId"].as_str().unwrap();
    let ag = approver.graph().await;
    let (st, a) = ag
        .get(&format!("{BASE}/assignmentApprovals/{approval}"))
        .await;
    assert_eq!(st, 200, "{a}");
    let step = a["steps"][0]["id"].as_str().unwrap();
    let step_path = format!("{BASE}/assignmentApprovals/{approval}/steps/{step}");
    // The requestor cannot approve their own request.
    let (st, e) = requestor
        .graph()
        .await
        .patch(
            &step_path,
            json!({"reviewResult": "Approve", "justification": "me"}),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(!members(&admin, &gid).await.contains(&requestor.id));
    let (st, e) = ag
        .patch(
            &step_path,
            json!({"reviewResult": "Approve", "justification": "ok"}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    assert!(
        members(&admin, &gid).await.contains(&requestor.id),
        "approved: a member"
    );
}
