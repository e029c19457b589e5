//! `/users/{id}/authentication/...`: who may list and delete authentication methods, Graph's
//! shapes, and bad ids. (Registration through the enrollment page is covered end to end by
//! `conformance/test_mfa_setup.py`.)

use serde_json::json;

use crate::{alias, app_with, shared, G};

#[tokio::test]
async fn an_app_needs_the_authentication_method_permission() {
    let g = G::demo().await;
    let u = g.create_user(&alias("am")).await;
    let id = u["id"].as_str().unwrap();
    let none = app_with(&["User.ReadWrite.All"]).await;
    let (st, e) = none
        .get(&format!("/users/{id}/authentication/methods"))
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UserAuthenticationMethod.Read.All"),
        "{e}"
    );
    let reader = app_with(&["UserAuthenticationMethod.Read.All"]).await;
    let (st, v) = reader
        .get(&format!("/users/{id}/authentication/methods"))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["value"],
        json!([{
            "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
            "id": "28c10230-6103-485e-b985-444c60001490",
            "password": null,
            "createdDateTime": u["createdDateTime"],
        }])
    );
    assert!(v["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with(&format!("#users('{id}')/authentication/methods")));
    let (st, v) = reader
        .get(&format!("/users/{id}/authentication/softwareOathMethods"))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"], json!([]));
    // Reading is not deleting.
    let (st, e) = reader
        .delete(&format!(
            "/users/{id}/authentication/softwareOathMethods/{}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(st, 403, "{e}");
}

#[tokio::test]
async fn bad_and_unknown_ids_are_named() {
    let g = G::demo().await;
    let u = g.create_user(&alias("am")).await;
    let id = u["id"].as_str().unwrap();
    let admin = app_with(&["UserAuthenticationMethod.ReadWrite.All"]).await;
    let (st, e) = admin
        .delete(&format!(
            "/users/{id}/authentication/softwareOathMethods/not-a-guid"
        ))
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not-a-guid"));
    let missing = uuid::Uuid::new_v4();
    let (st, e) = admin
        .delete(&format!(
            "/users/{id}/authentication/softwareOathMethods/{missing}"
        ))
        .await;
    assert_eq!(st, 404, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&missing.to_string()));
    let (st, e) = admin
        .get(&format!(
            "/users/{}/authentication/methods",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(st, 404, "{e}");
    let (st, e) = admin.get("/me/authentication/methods").await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("/me"));
}

/// A delegated Graph token for a new user of the demo tenant, from a new public client whose
/// `scope` the tenant consented to.
async fn delegated(scope: &str) -> (G, String) {
    crate::security::member_with(&[scope]).await
}

#[tokio::test]
async fn users_read_their_own_methods_but_not_others() {
    let (me, id) = delegated("UserAuthenticationMethod.ReadWrite").await;
    let (st, v) = me.get("/me/authentication/methods").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["value"][0]["@odata.type"],
        "#microsoft.graph.passwordAuthenticationMethod"
    );
    let (st, v) = me.get(&format!("/users/{id}/authentication/methods")).await;
    assert_eq!(st, 200, "{v}");
    let (st, e) = me
        .delete(&format!(
            "/me/authentication/softwareOathMethods/{}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(st, 404, "{e}");
    // Another user's methods need an authentication admin role (and the .All scope).
    let other = shared().demo["user"]["id"].as_str().unwrap();
    let (st, e) = me
        .get(&format!("/users/{other}/authentication/methods"))
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UserAuthenticationMethod.ReadWrite.All"),
        "{e}"
    );
}

async fn assign_role(g: &G, principal: &str, role: &str) {
    let (st, v) = g
        .post(
            "/roleManagement/directory/roleAssignments",
            json!({"principalId": principal, "roleDefinitionId": role, "directoryScopeId": "/"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
}

#[tokio::test]
async fn authentication_administrators_manage_non_admins_only() {
    let g = G::demo().await;
    let (admin, admin_id) = delegated("UserAuthenticationMethod.ReadWrite.All").await;
    let plain = g.create_user(&alias("amp")).await;
    let plain = plain["id"].as_str().unwrap();
    let ga = g.create_user(&alias("amg")).await;
    let ga = ga["id"].as_str().unwrap();
    assign_role(&g, ga, "62e90394-69f5-4237-9190-012177145e10").await;
    // No role yet: refused.
    let (st, e) = admin
        .get(&format!("/users/{plain}/authentication/methods"))
        .await;
    assert_eq!(st, 403, "{e}");
    // Authentication Administrator: non-admins yes, a Global Administrator no.
    assign_role(&g, &admin_id, "c4e39bd9-1100-46d3-8c65-fb160da0071f").await;
    let (st, v) = admin
        .get(&format!("/users/{plain}/authentication/methods"))
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, e) = admin
        .get(&format!("/users/{ga}/authentication/methods"))
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Privileged Authentication Administrator"),
        "{e}"
    );
    // Privileged Authentication Administrator: anyone.
    assign_role(&g, &admin_id, "7be44c8a-adaf-4e2a-84d6-ab2649e08a13").await;
    let (st, v) = admin
        .get(&format!("/users/{ga}/authentication/methods"))
        .await;
    assert_eq!(st, 200, "{v}");
}
