//! `/v1.0/directory/deletedItems`: soft delete, listing by cast, restore (identity, memberships,
//! sign-in and credentials back), the UPN conflict, permanent deletion and the refusal of an
//! ordinary member — each refusal checked to change nothing.

use serde_json::{json, Value};

use crate::security::{assert_denied, member_with, BROAD_SCOPES};
use crate::{alias, shared, token_form, token_response, G};

fn odata_id(id: &Value) -> Value {
    json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", id.as_str().unwrap())})
}

/// ROPC for `upn` through the demo public client: the status.
async fn sign_in(upn: &str) -> u16 {
    let d = &shared().demo;
    token_form(&[
        ("grant_type", "password"),
        ("client_id", d["public_client"]["app_id"].as_str().unwrap()),
        ("username", upn),
        ("password", "Test-Passw0rd!"),
        ("scope", "User.Read"),
    ])
    .await
    .0
}

fn ids(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_deleted_user_is_listed_then_restored_with_memberships_and_signs_in_again() {
    let g = G::demo().await;
    let u = g.create_user(&alias("del")).await;
    let (id, upn) = (
        u["id"].as_str().unwrap().to_string(),
        u["userPrincipalName"].as_str().unwrap().to_string(),
    );
    let grp = g.create_group(&alias("delgrp")).await;
    let gid = grp["id"].as_str().unwrap();
    let (st, v) = g
        .post(&format!("/groups/{gid}/members/$ref"), odata_id(&u["id"]))
        .await;
    assert_eq!(st, 204, "{v}");
    assert_eq!(
        sign_in(&upn).await,
        200,
        "positive control: the user signs in"
    );

    assert_eq!(g.delete(&format!("/users/{id}")).await.0, 204);
    assert_eq!(g.get(&format!("/users/{id}")).await.0, 404);
    assert!(!ids(&g.all(&format!("/groups/{gid}/members")).await).contains(&id));
    assert_eq!(sign_in(&upn).await, 400, "a deleted user cannot sign in");

    let listed = g.all("/directory/deletedItems/microsoft.graph.user").await;
    let item = listed
        .iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap_or_else(|| panic!("not listed: {listed:?}"));
    assert_eq!(item["userPrincipalName"], upn.as_str());
    assert!(
        item["deletedDateTime"].as_str().unwrap().ends_with('Z'),
        "{item}"
    );
    // The cast narrows the kind; $filter and $top work as on live lists.
    assert!(!ids(&g.all("/directory/deletedItems/microsoft.graph.group").await).contains(&id));
    let (st, v) = g
        .get(&format!(
            "/directory/deletedItems/microsoft.graph.user?$filter=userPrincipalName eq '{upn}'&$top=1"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(ids(v["value"].as_array().unwrap()), vec![id.clone()]);
    let (st, one) = g.get(&format!("/directory/deletedItems/{id}")).await;
    assert_eq!(st, 200, "{one}");
    assert_eq!(one["@odata.type"], "#microsoft.graph.user");

    let (st, back) = g
        .post(&format!("/directory/deletedItems/{id}/restore"), json!({}))
        .await;
    assert_eq!(st, 200, "{back}");
    assert_eq!(back["id"], id.as_str());
    assert!(back["deletedDateTime"].is_null(), "{back}");
    assert_eq!(
        g.get(&format!("/users/{id}")).await.1["userPrincipalName"],
        upn.as_str()
    );
    assert!(ids(&g.all(&format!("/groups/{gid}/members")).await).contains(&id));
    assert_eq!(
        sign_in(&upn).await,
        200,
        "the restored user signs in with the old password"
    );
    assert_eq!(g.get(&format!("/directory/deletedItems/{id}")).await.0, 404);
    let audits = g.all("/auditLogs/directoryAudits?$top=999").await;
    assert!(
        audits
            .iter()
            .any(|a| a["activityDisplayName"] == "Restore user" && a.to_string().contains(&id)),
        "the restore is audited"
    );
}

#[tokio::test]
async fn a_reused_upn_makes_restore_fail_with_400_and_change_nothing() {
    let g = G::demo().await;
    let a = alias("reuse");
    let old = g.create_user(&a).await;
    let oid = old["id"].as_str().unwrap();
    assert_eq!(g.delete(&format!("/users/{oid}")).await.0, 204);
    let newcomer = g.create_user(&a).await;
    let nid = newcomer["id"].as_str().unwrap();
    let audits_before = g.audits_mentioning(oid).await;
    let (st, e) = g
        .post(&format!("/directory/deletedItems/{oid}/restore"), json!({}))
        .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["error"]["code"], "Request_BadRequest");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.contains("userPrincipalName") && m.contains(nid), "{m}");
    // Nothing changed: still in the bin, still gone from users, the newcomer untouched.
    assert_eq!(
        g.get(&format!("/directory/deletedItems/{oid}")).await.0,
        200
    );
    assert_eq!(g.get(&format!("/users/{oid}")).await.0, 404);
    assert_eq!(g.get(&format!("/users/{nid}")).await.1["id"], nid);
    assert_eq!(
        g.audits_mentioning(oid).await,
        audits_before,
        "no audit record"
    );
    // Positive control: once the newcomer is gone, the restore works.
    assert_eq!(g.delete(&format!("/users/{nid}")).await.0, 204);
    let (st, v) = g
        .post(&format!("/directory/deletedItems/{oid}/restore"), json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn permanent_deletion_removes_the_item_for_good() {
    let g = G::demo().await;
    let grp = g.create_group(&alias("gone")).await;
    let id = grp["id"].as_str().unwrap();
    assert_eq!(g.delete(&format!("/groups/{id}")).await.0, 204);
    assert!(ids(&g.all("/directory/deletedItems/graph.group").await).contains(&id.to_string()));
    let (st, v) = g.delete(&format!("/directory/deletedItems/{id}")).await;
    assert_eq!(st, 204, "{v}");
    assert_eq!(g.get(&format!("/directory/deletedItems/{id}")).await.0, 404);
    let (st, e) = g
        .post(&format!("/directory/deletedItems/{id}/restore"), json!({}))
        .await;
    assert_eq!(st, 404, "{e}");
    assert_eq!(e["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(g.get(&format!("/groups/{id}")).await.0, 404);
    // An unknown cast is a clear 400.
    let (st, e) = g
        .get("/directory/deletedItems/microsoft.graph.device")
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("microsoft.graph.user"));
}

#[tokio::test]
async fn a_deleted_application_gets_no_tokens_until_restored_with_its_secret() {
    let g = G::demo().await;
    let (_, app) = g
        .post("/applications", json!({"displayName": alias("delapp")}))
        .await;
    let (aid, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap());
    let (st, sp) = g.post("/servicePrincipals", json!({"appId": app_id})).await;
    assert_eq!(st, 201, "{sp}");
    let (_, pw) = g
        .post(&format!("/applications/{aid}/addPassword"), json!({}))
        .await;
    let secret = pw["secretText"].as_str().unwrap();
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let scope = "https://graph.microsoft.com/.default";
    assert_eq!(token_response(tid, app_id, secret, scope).await.0, 200);
    assert_eq!(g.delete(&format!("/applications/{aid}")).await.0, 204);
    assert_eq!(
        g.get(&format!(
            "/servicePrincipals/{}",
            sp["id"].as_str().unwrap()
        ))
        .await
        .0,
        404
    );
    let (st, v) = token_response(tid, app_id, secret, scope).await;
    assert!(
        st == 400 || st == 401,
        "a deleted app's client gets no token: {st} {v}"
    );
    assert!(ids(&g
        .all("/directory/deletedItems/microsoft.graph.application")
        .await)
    .contains(&aid.to_string()));
    let (st, v) = g
        .post(&format!("/directory/deletedItems/{aid}/restore"), json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["appId"], app_id);
    assert_eq!(
        g.get(&format!(
            "/servicePrincipals/{}",
            sp["id"].as_str().unwrap()
        ))
        .await
        .1["appId"],
        app_id
    );
    let (st, v) = token_response(tid, app_id, secret, scope).await;
    assert_eq!(st, 200, "the restored app's secret works again: {v}");
}

#[tokio::test]
async fn an_ordinary_member_may_not_list_restore_or_purge_and_changes_nothing() {
    let (member, _) = member_with(BROAD_SCOPES).await;
    let g = G::demo().await;
    let u = g.create_user(&alias("prot")).await;
    let id = u["id"].as_str().unwrap();
    assert_eq!(g.delete(&format!("/users/{id}")).await.0, 204);
    let (st, e) = member
        .get("/directory/deletedItems/microsoft.graph.user")
        .await;
    assert_denied(st, &e, "microsoft.directory/users/delete");
    let (st, e) = member.get(&format!("/directory/deletedItems/{id}")).await;
    assert_denied(st, &e, "microsoft.directory/users/delete");
    let (st, e) = member
        .post(&format!("/directory/deletedItems/{id}/restore"), json!({}))
        .await;
    assert_denied(st, &e, "microsoft.directory/users/delete");
    let (st, e) = member
        .delete(&format!("/directory/deletedItems/{id}"))
        .await;
    assert_denied(st, &e, "microsoft.directory/users/delete");
    // Nothing changed: the item is still there and the user still deleted.
    assert_eq!(g.get(&format!("/directory/deletedItems/{id}")).await.0, 200);
    assert_eq!(g.get(&format!("/users/{id}")).await.0, 404);
    // Positive control: the administrator app restores it.
    let (st, v) = g
        .post(&format!("/directory/deletedItems/{id}/restore"), json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn a_user_administrator_restores_plain_users_but_not_a_deleted_global_administrator() {
    use crate::security::{assign_role, role};
    let (helper, helper_id) = member_with(BROAD_SCOPES).await;
    assign_role(&helper_id, role::USER_ADMIN).await;
    let g = G::demo().await;
    let plain = g.create_user(&alias("plain")).await;
    let boss = g.create_user(&alias("boss")).await;
    let (pid, bid) = (plain["id"].as_str().unwrap(), boss["id"].as_str().unwrap());
    assign_role(bid, role::GLOBAL_ADMIN).await;
    // Deleting (and restoring) a Global Administrator takes a Global Administrator.
    let (global, global_id) = member_with(BROAD_SCOPES).await;
    assign_role(&global_id, role::GLOBAL_ADMIN).await;
    assert_eq!(g.delete(&format!("/users/{pid}")).await.0, 204);
    let (st, v) = global.delete(&format!("/users/{bid}")).await;
    assert_eq!(st, 204, "{v}");
    // The User Administrator lists deleted users and restores a plain one...
    let (st, v) = helper
        .get("/directory/deletedItems/microsoft.graph.user")
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = helper
        .post(&format!("/directory/deletedItems/{pid}/restore"), json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
    // ...but not a Global Administrator (the privileged-user rule holds while deleted).
    let (st, e) = helper
        .post(&format!("/directory/deletedItems/{bid}/restore"), json!({}))
        .await;
    assert_eq!(st, 403, "{e}");
    assert_eq!(g.get(&format!("/users/{bid}")).await.0, 404);
    assert_eq!(
        global
            .get(&format!("/directory/deletedItems/{bid}"))
            .await
            .0,
        200
    );
    let (st, e) = helper
        .delete(&format!("/directory/deletedItems/{bid}"))
        .await;
    assert_eq!(st, 403, "{e}");
    // A Global Administrator restores it, role and all.
    let (st, v) = global
        .post(&format!("/directory/deletedItems/{bid}/restore"), json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, roles) = g
        .get(&format!(
            "/roleManagement/directory/roleAssignments?$filter=principalId eq '{bid}'"
        ))
        .await;
    assert!(
        roles["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["roleDefinitionId"] == role::GLOBAL_ADMIN),
        "{roles}"
    );
}
