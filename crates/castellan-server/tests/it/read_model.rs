//! The directory read model (`castellan_store::CachedStore`) never serves what a commit changed:
//! each test warms the cache (the positive control: the first answer is the allowed one, twice),
//! commits the change through Graph, and sees the next token request decided on the new state.
//! Without the invalidation each of these would keep answering the cached, allowed value.

use serde_json::{json, Value};

use crate::grant_client_credentials::{assert_aadsts, claims};
use crate::{alias, shared, token_form, token_response, G};

const GRAPH: &str = "https://graph.microsoft.com/.default";

/// A new application with a service principal and one secret: (app, sp, secret).
async fn client(g: &G, prefix: &str) -> (Value, Value, String) {
    let (st, app) = g
        .post("/applications", json!({"displayName": alias(prefix)}))
        .await;
    assert_eq!(st, 201, "{app}");
    let (st, sp) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    assert_eq!(st, 201, "{sp}");
    let (st, pw) = g
        .post(
            &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{pw}");
    let secret = pw["secretText"].as_str().unwrap().to_string();
    (app, sp, secret)
}

fn tid() -> &'static str {
    shared().demo["tenant_id"].as_str().unwrap()
}

/// Two successful tokens: the second is answered from the warm read model.
async fn warm(app_id: &str, secret: &str) -> Value {
    for _ in 0..2 {
        let (st, v) = token_response(tid(), app_id, secret, GRAPH).await;
        assert_eq!(st, 200, "{v}");
    }
    let (_, v) = token_response(tid(), app_id, secret, GRAPH).await;
    v
}

#[tokio::test]
async fn a_removed_secret_is_refused_at_once_after_the_cache_was_warm() {
    let g = G::demo().await;
    let (app, _, secret) = client(&g, "rm-secret").await;
    let app_id = app["appId"].as_str().unwrap();
    let (st, other) = g
        .post(
            &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{other}");
    warm(app_id, &secret).await;
    let key = g
        .get(&format!("/applications/{}", app["id"].as_str().unwrap()))
        .await
        .1["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["keyId"] != other["keyId"])
        .unwrap()["keyId"]
        .clone();
    let (st, _) = g
        .post(
            &format!(
                "/applications/{}/removePassword",
                app["id"].as_str().unwrap()
            ),
            json!({"keyId": key}),
        )
        .await;
    assert_eq!(st, 204);
    let (st, v) = token_response(tid(), app_id, &secret, GRAPH).await;
    assert_aadsts(st, &v, 401, 7000215, "invalid_client");
    // The secret that was not removed still works (the application itself is not stale).
    let (st, v) = token_response(tid(), app_id, other["secretText"].as_str().unwrap(), GRAPH).await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn a_disabled_service_principal_and_a_disabled_user_are_refused_at_once() {
    let g = G::demo().await;
    let (app, sp, secret) = client(&g, "disabled-sp").await;
    let app_id = app["appId"].as_str().unwrap();
    warm(app_id, &secret).await;
    let (st, v) = g
        .patch(
            &format!("/servicePrincipals/{}", sp["id"].as_str().unwrap()),
            json!({"accountEnabled": false}),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = token_response(tid(), app_id, &secret, GRAPH).await;
    assert_eq!(v["error_codes"], json!([7000112]), "{st} {v}");
    // Enabled again: tokens again (the change is read both ways).
    let (st, v) = g
        .patch(
            &format!("/servicePrincipals/{}", sp["id"].as_str().unwrap()),
            json!({"accountEnabled": true}),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = token_response(tid(), app_id, &secret, GRAPH).await;
    assert_eq!(st, 200, "{v}");

    // A user: signs in (twice), is disabled, is refused.
    let d = &shared().demo;
    let domain = d["user"]["upn"]
        .as_str()
        .unwrap()
        .split('@')
        .nth(1)
        .unwrap();
    let nick = alias("disabled-user");
    let upn = format!("{nick}@{domain}");
    let pw = "Disabled-Test-Pw1!";
    let (st, u) = g
        .post(
            "/users",
            json!({"accountEnabled": true, "displayName": nick, "mailNickname": nick,
                   "userPrincipalName": upn,
                   "passwordProfile": {"password": pw, "forceChangePasswordNextSignIn": false}}),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    let public = d["public_client"]["app_id"].as_str().unwrap();
    let ropc = [
        ("grant_type", "password"),
        ("client_id", public),
        ("username", upn.as_str()),
        ("password", pw),
        ("scope", "User.Read"),
    ];
    for _ in 0..2 {
        let (st, v) = token_form(&ropc).await;
        assert_eq!(st, 200, "{v}");
    }
    let (st, v) = g
        .patch(
            &format!("/users/{}", u["id"].as_str().unwrap()),
            json!({"accountEnabled": false}),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = token_form(&ropc).await;
    assert_ne!(st, 200, "{v}");
    assert!(v.get("access_token").is_none(), "{v}");
}

#[tokio::test]
async fn a_revoked_app_role_assignment_leaves_the_next_token_at_once() {
    let g = G::demo().await;
    let (app, sp, secret) = client(&g, "revoked").await;
    let app_id = app["appId"].as_str().unwrap();
    let graph = g
        .all("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'")
        .await
        .remove(0);
    let role = graph["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["value"] == "User.Read.All")
        .unwrap()
        .clone();
    let sp_id = sp["id"].as_str().unwrap();
    let (st, a) = g
        .post(
            &format!("/servicePrincipals/{sp_id}/appRoleAssignments"),
            json!({"principalId": sp_id, "resourceId": graph["id"], "appRoleId": role["id"]}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let v = warm(app_id, &secret).await;
    let roles = claims(v["access_token"].as_str().unwrap())["roles"].clone();
    assert_eq!(
        roles,
        json!(["User.Read.All"]),
        "the control: the role is granted"
    );
    let (st, _) = g
        .delete(&format!(
            "/servicePrincipals/{sp_id}/appRoleAssignments/{}",
            a["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(st, 204);
    let (st, v) = token_response(tid(), app_id, &secret, GRAPH).await;
    assert_eq!(st, 200, "{v}");
    assert!(
        claims(v["access_token"].as_str().unwrap())
            .get("roles")
            .is_none(),
        "a revoked role is not in the next token: {v}"
    );
}

#[tokio::test]
async fn a_new_and_a_deleted_conditional_access_policy_apply_to_the_next_token() {
    let g = G::demo().await;
    let (app, sp, secret) = client(&g, "ca-change").await;
    let app_id = app["appId"].as_str().unwrap();
    warm(app_id, &secret).await;
    let (st, p) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": alias("Block workload"), "state": "enabled",
                   "conditions": {"users": {"includeUsers": ["None"]},
                                  "applications": {"includeApplications": ["All"]},
                                  "clientApplications": {"includeServicePrincipals": [sp["id"]]},
                                  "clientAppTypes": ["all"]},
                   "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let (st, v) = token_response(tid(), app_id, &secret, GRAPH).await;
    assert_eq!(v["error_codes"], json!([53003]), "{st} {v}");
    let (st, _) = g
        .delete(&format!(
            "/identity/conditionalAccess/policies/{}",
            p["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(st, 204);
    let (st, v) = token_response(tid(), app_id, &secret, GRAPH).await;
    assert_eq!(st, 200, "the deleted policy no longer blocks: {v}");
}
