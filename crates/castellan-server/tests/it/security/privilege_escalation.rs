//! Security suite: privilege escalation through a consented delegated scope. A member with no
//! directory role, signed in to a client an administrator consented to broad Graph scopes, is
//! held to their own rights: they manage only what they own. Each refusal is checked to have
//! changed nothing, and each has a positive control (an owner or the right administrator does
//! the same thing successfully).

use serde_json::json;

use super::{assert_denied, assign_role, graph_sp, member_with, role, BROAD_SCOPES};
use crate::{alias, G};

/// An application the member does not own, holding Graph's RoleManagement.ReadWrite.Directory:
/// the stepping stone of the reported escalation. Returns (app, its service principal).
async fn privileged_app(g: &G) -> (serde_json::Value, serde_json::Value) {
    let (_, app) = g
        .post("/applications", json!({"displayName": alias("sec-priv")}))
        .await;
    let (_, sp) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    let graph = graph_sp(g).await;
    let rm = graph["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["value"] == "RoleManagement.ReadWrite.Directory")
        .unwrap()
        .clone();
    let (st, v) = g
        .post(
            &format!(
                "/servicePrincipals/{}/appRoleAssignments",
                sp["id"].as_str().unwrap()
            ),
            json!({"principalId": sp["id"], "resourceId": graph["id"], "appRoleId": rm["id"]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    (app, sp)
}

#[tokio::test]
async fn a_member_cannot_add_a_password_to_an_app_they_do_not_own() {
    let g = G::demo().await;
    let (app, _) = privileged_app(&g).await;
    let app_id = app["id"].as_str().unwrap();
    let (member, member_id) = member_with(BROAD_SCOPES).await;
    let before = g.audits_mentioning(app_id).await;

    let (st, e) = member
        .post(&format!("/applications/{app_id}/addPassword"), json!({}))
        .await;
    assert_denied(
        st,
        &e,
        "microsoft.directory/applications/credentials/update",
    );
    for (path, body) in [
        (
            format!("/applications/{app_id}/owners/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member_id}")}),
        ),
        (
            format!("/applications/{app_id}/federatedIdentityCredentials"),
            json!({"name": "x", "issuer": "https://issuer.example", "subject": "s", "audiences": ["api://AzureADTokenExchange"]}),
        ),
    ] {
        let (st, e) = member.post(&path, body).await;
        assert_eq!(st, 403, "{path}: {e}");
    }
    let (st, e) = member
        .patch(
            &format!("/applications/{app_id}"),
            json!({"displayName": "pwned"}),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    let (st, e) = member.delete(&format!("/applications/{app_id}")).await;
    assert_eq!(st, 403, "{e}");

    // Nothing changed: no credential, owner or audit record appeared.
    let (_, now) = g.get(&format!("/applications/{app_id}")).await;
    assert_eq!(
        now["passwordCredentials"], app["passwordCredentials"],
        "{now}"
    );
    assert_eq!(now["displayName"], app["displayName"]);
    let (_, owners) = g.get(&format!("/applications/{app_id}/owners")).await;
    assert_eq!(owners["value"].as_array().unwrap().len(), 0, "{owners}");
    assert_eq!(g.audits_mentioning(app_id).await, before);

    // Positive controls: the member's own registration (they become its owner), and an
    // Application Administrator on the other one.
    let (st, mine) = member
        .post("/applications", json!({"displayName": alias("sec-mine")}))
        .await;
    assert_eq!(st, 201, "{mine}");
    let (st, v) = member
        .post(
            &format!("/applications/{}/addPassword", mine["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assign_role(&member_id, role::APPLICATION_ADMIN).await;
    let (st, v) = member
        .post(&format!("/applications/{app_id}/addPassword"), json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn granting_graph_application_permissions_needs_a_privileged_role_administrator() {
    let g = G::demo().await;
    let graph = graph_sp(&g).await;
    let rm = graph["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["value"] == "RoleManagement.ReadWrite.Directory")
        .unwrap()
        .clone();
    let (member, member_id) = member_with(BROAD_SCOPES).await;
    // The member registers their own app and service principal: they own both.
    let (_, mine) = member
        .post("/applications", json!({"displayName": alias("sec-own")}))
        .await;
    let (st, sp) = member
        .post("/servicePrincipals", json!({"appId": mine["appId"]}))
        .await;
    assert_eq!(st, 201, "{sp}");
    let sp_id = sp["id"].as_str().unwrap();
    let grant = json!({"principalId": sp_id, "resourceId": graph["id"], "appRoleId": rm["id"]});
    let path = format!("/servicePrincipals/{sp_id}/appRoleAssignments");

    let (st, e) = member.post(&path, grant.clone()).await;
    assert_denied(
        st,
        &e,
        "managePermissionGrantsForAll.microsoft-company-admin",
    );
    // An Application Administrator may not grant Microsoft Graph's app permissions either.
    assign_role(&member_id, role::APPLICATION_ADMIN).await;
    let (st, e) = member.post(&path, grant.clone()).await;
    assert_denied(st, &e, "Privileged Role Administrator");
    let (_, held) = g.get(&path).await;
    assert_eq!(held["value"].as_array().unwrap().len(), 0, "{held}");

    // Tenant-wide consent to Graph: refused to the member (now an Application Administrator).
    let consent = json!({"clientId": sp_id, "consentType": "AllPrincipals", "resourceId": graph["id"], "scope": "User.Read.All"});
    let (st, e) = member
        .post("/oauth2PermissionGrants", consent.clone())
        .await;
    assert_denied(st, &e, "Privileged Role Administrator");
    let (_, grants) = g.get("/oauth2PermissionGrants").await;
    assert!(
        !grants["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["clientId"] == sp_id),
        "{grants}"
    );

    // Positive control: a Privileged Role Administrator may do both.
    assign_role(&member_id, role::PRIVILEGED_ROLE_ADMIN).await;
    let (st, v) = member.post(&path, grant).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = member.post("/oauth2PermissionGrants", consent).await;
    assert_eq!(st, 201, "{v}");
}

#[tokio::test]
async fn application_administrators_grant_permissions_of_other_resources() {
    let g = G::demo().await;
    // A customer API exposing an app role for applications.
    let role_id = uuid::Uuid::new_v4().to_string();
    let (st, api) = g
        .post(
            "/applications",
            json!({"displayName": alias("sec-api"), "appRoles": [{"id": role_id, "allowedMemberTypes": ["Application"], "displayName": "Read", "description": "Read", "value": "Data.Read", "isEnabled": true}]}),
        )
        .await;
    assert_eq!(st, 201, "{api}");
    let (_, api_sp) = g
        .post("/servicePrincipals", json!({"appId": api["appId"]}))
        .await;
    let (_, client) = g
        .post("/applications", json!({"displayName": alias("sec-cli")}))
        .await;
    let (_, client_sp) = g
        .post("/servicePrincipals", json!({"appId": client["appId"]}))
        .await;
    let path = format!(
        "/servicePrincipals/{}/appRoleAssignments",
        client_sp["id"].as_str().unwrap()
    );
    let grant =
        json!({"principalId": client_sp["id"], "resourceId": api_sp["id"], "appRoleId": role_id});
    let (member, member_id) = member_with(BROAD_SCOPES).await;
    let (st, e) = member.post(&path, grant.clone()).await;
    assert_denied(
        st,
        &e,
        "managePermissionGrantsForAll.microsoft-application-admin",
    );
    assign_role(&member_id, role::CLOUD_APPLICATION_ADMIN).await;
    let (st, v) = member.post(&path, grant).await;
    assert_eq!(st, 201, "{v}");
}

#[tokio::test]
async fn a_member_cannot_edit_service_principals_they_do_not_own() {
    let g = G::demo().await;
    let (_, sp) = privileged_app(&g).await;
    let sp_id = sp["id"].as_str().unwrap();
    let (member, member_id) = member_with(BROAD_SCOPES).await;
    let (st, e) = member
        .patch(
            &format!("/servicePrincipals/{sp_id}"),
            json!({"accountEnabled": false}),
        )
        .await;
    assert_denied(st, &e, "microsoft.directory/servicePrincipals/basic/update");
    let (st, e) = member.delete(&format!("/servicePrincipals/{sp_id}")).await;
    assert_eq!(st, 403, "{e}");
    let (_, now) = g.get(&format!("/servicePrincipals/{sp_id}")).await;
    assert_eq!(now["accountEnabled"], true, "{now}");
    // Positive control.
    assign_role(&member_id, role::CLOUD_APPLICATION_ADMIN).await;
    let (st, v) = member
        .patch(
            &format!("/servicePrincipals/{sp_id}"),
            json!({"accountEnabled": true}),
        )
        .await;
    assert_eq!(st, 204, "{v}");
}

#[tokio::test]
async fn a_member_manages_only_groups_they_own() {
    let g = G::demo().await;
    let theirs = g.create_group(&alias("sec-grp")).await;
    let gid = theirs["id"].as_str().unwrap();
    let (member, member_id) = member_with(BROAD_SCOPES).await;
    let me_ref = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member_id}")});
    let before = g.audits_mentioning(gid).await;

    let (st, e) = member
        .post(&format!("/groups/{gid}/members/$ref"), me_ref.clone())
        .await;
    assert_denied(st, &e, "microsoft.directory/groups/members/update");
    let (st, e) = member
        .post(&format!("/groups/{gid}/owners/$ref"), me_ref.clone())
        .await;
    assert_denied(st, &e, "microsoft.directory/groups/owners/update");
    let (st, e) = member
        .patch(&format!("/groups/{gid}"), json!({"displayName": "pwned"}))
        .await;
    assert_denied(st, &e, "microsoft.directory/groups/basic/update");
    let (st, e) = member.delete(&format!("/groups/{gid}")).await;
    assert_denied(st, &e, "microsoft.directory/groups/delete");
    let (_, now) = g.get(&format!("/groups/{gid}")).await;
    assert_eq!(now["displayName"], theirs["displayName"]);
    let (_, members) = g.get(&format!("/groups/{gid}/members")).await;
    assert_eq!(members["value"].as_array().unwrap().len(), 0);
    assert_eq!(g.audits_mentioning(gid).await, before);

    // Positive controls: a group the member creates is theirs to manage; a Groups
    // Administrator manages the other one.
    let (st, mine) = member
        .post("/groups", json!({"displayName": alias("sec-mine"), "mailEnabled": false, "mailNickname": alias("m"), "securityEnabled": true}))
        .await;
    assert_eq!(st, 201, "{mine}");
    let mid = mine["id"].as_str().unwrap();
    let (st, v) = member
        .patch(&format!("/groups/{mid}"), json!({"description": "mine"}))
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = member
        .post(&format!("/groups/{mid}/members/$ref"), me_ref.clone())
        .await;
    assert_eq!(st, 204, "{v}");
    assign_role(&member_id, role::GROUPS_ADMIN).await;
    let (st, v) = member
        .post(&format!("/groups/{gid}/members/$ref"), me_ref)
        .await;
    assert_eq!(st, 204, "{v}");
}

#[tokio::test]
async fn only_privileged_role_administrators_change_role_assignable_groups() {
    let g = G::demo().await;
    let nick = alias("ra");
    let (st, ra) = g
        .post("/groups", json!({"displayName": nick, "mailEnabled": false, "mailNickname": nick, "securityEnabled": true, "isAssignableToRole": true}))
        .await;
    assert_eq!(st, 201, "{ra}");
    let gid = ra["id"].as_str().unwrap();
    let (member, member_id) = member_with(BROAD_SCOPES).await;
    let me_ref = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member_id}")});
    // Made an owner of the group by an administrator: still may not change who is in it.
    let (st, v) = g
        .post(&format!("/groups/{gid}/owners/$ref"), me_ref.clone())
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, e) = member
        .post(&format!("/groups/{gid}/members/$ref"), me_ref.clone())
        .await;
    assert_denied(st, &e, "roleAssignments");
    let other = g.create_user(&alias("sec-o")).await;
    let other_ref = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", other["id"].as_str().unwrap())});
    let (st, e) = member
        .post(&format!("/groups/{gid}/owners/$ref"), other_ref.clone())
        .await;
    assert_eq!(st, 403, "{e}");
    // Nor may a Groups Administrator or a User Administrator.
    assign_role(&member_id, role::GROUPS_ADMIN).await;
    assign_role(&member_id, role::USER_ADMIN).await;
    let (st, e) = member
        .post(&format!("/groups/{gid}/owners/$ref"), other_ref.clone())
        .await;
    assert_eq!(st, 403, "{e}");
    let (_, owners) = g.get(&format!("/groups/{gid}/owners")).await;
    assert_eq!(owners["value"].as_array().unwrap().len(), 1, "{owners}");
    let (_, members) = g.get(&format!("/groups/{gid}/members")).await;
    assert_eq!(members["value"].as_array().unwrap().len(), 0, "{members}");
    // Positive control.
    assign_role(&member_id, role::PRIVILEGED_ROLE_ADMIN).await;
    let (st, v) = member
        .post(&format!("/groups/{gid}/owners/$ref"), other_ref)
        .await;
    assert_eq!(st, 204, "{v}");
}
