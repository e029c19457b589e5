//! `/v1.0/applications` and `/v1.0/servicePrincipals`.

use serde_json::json;

use crate::{alias, shared, token_response, G};

#[tokio::test]
async fn secrets_are_shown_once_and_stored_hashed() {
    let g = G::demo().await;
    let (st, app) = g.post("/applications", json!({"displayName": alias("app"), "web": {"redirectUris": ["https://app.example/cb"]}, "spa": {"redirectUris": ["http://localhost:3000"]}})).await;
    assert_eq!(st, 201, "{app}");
    let id = app["id"].as_str().unwrap();
    let (st, pw) = g
        .post(
            &format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "ci"}}),
        )
        .await;
    assert_eq!(st, 200, "{pw}");
    let secret = pw["secretText"].as_str().unwrap();
    assert!(secret.len() >= 40);
    assert_eq!(pw["hint"], &secret[..3]);
    let (_, got) = g.get(&format!("/applications/{id}")).await;
    let creds = got["passwordCredentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert!(
        creds[0]["secretText"].is_null(),
        "secret text is never returned again"
    );
    assert!(!got.to_string().contains(secret));
    assert_eq!(
        got["web"]["redirectUris"],
        json!(["https://app.example/cb"])
    );
    // Owners.
    let owner = g.create_user(&alias("appowner")).await;
    let r = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", owner["id"].as_str().unwrap())});
    assert_eq!(
        g.post(&format!("/applications/{id}/owners/$ref"), r.clone())
            .await
            .0,
        204
    );
    assert_eq!(
        g.post(&format!("/applications/{id}/owners/$ref"), r)
            .await
            .0,
        400,
        "duplicate owner"
    );
    assert_eq!(
        g.all(&format!("/applications/{id}/owners")).await[0]["id"],
        owner["id"]
    );
    assert_eq!(
        g.delete(&format!(
            "/applications/{id}/owners/{}/$ref",
            owner["id"].as_str().unwrap()
        ))
        .await
        .0,
        204
    );
    assert!(g
        .all(&format!("/applications/{id}/owners"))
        .await
        .is_empty());
}

#[tokio::test]
async fn registration_validation() {
    let g = G::demo().await;
    for (body, needle) in [
        (
            json!({"displayName": "x", "web": {"redirectUris": ["http://app.example/cb"]}}),
            "http",
        ),
        (
            json!({"displayName": "x", "web": {"redirectUris": ["https://*.example/cb"]}}),
            "wildcard",
        ),
        (
            json!({"displayName": "x", "web": {"redirectUris": ["https://app.example/cb#frag"]}}),
            "fragment",
        ),
        (
            json!({"displayName": "x", "web": {"redirectUris": ["javascript:alert(1)"]}}),
            "absolute",
        ),
        (
            json!({"displayName": "x", "signInAudience": "Everyone"}),
            "signInAudience",
        ),
        (
            json!({"displayName": "x", "appId": "8f2c5b6e-1111-2222-3333-444455556666"}),
            "read-only",
        ),
        (
            json!({"displayName": "x", "appRoles": [{"id": "8f2c5b6e-1111-2222-3333-444455556666", "value": "A", "allowedMemberTypes": ["Robot"]}]}),
            "allowedMemberTypes",
        ),
        (json!({"web": {"redirectUris": []}}), "displayName"),
    ] {
        let (st, v) = g.post("/applications", body.clone()).await;
        assert_eq!(st, 400, "{body}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    let uri = format!("api://{}", alias("dup"));
    assert_eq!(
        g.post(
            "/applications",
            json!({"displayName": "one", "identifierUris": [uri]})
        )
        .await
        .0,
        201
    );
    let (st, v) = g
        .post(
            "/applications",
            json!({"displayName": "two", "identifierUris": [uri]}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
}

#[tokio::test]
async fn deleting_an_application_removes_its_service_principal() {
    let g = G::demo().await;
    let (_, app) = g
        .post("/applications", json!({"displayName": alias("gone")}))
        .await;
    let (st, sp) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    assert_eq!(st, 201, "{sp}");
    assert_eq!(sp["appId"], app["appId"]);
    let (st, _) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    assert_eq!(st, 400, "one service principal per app per tenant");
    let (st, _) = g
        .post(
            "/servicePrincipals",
            json!({"appId": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
    assert_eq!(st, 400, "unknown appId");
    assert_eq!(
        g.delete(&format!("/applications/{}", app["id"].as_str().unwrap()))
            .await
            .0,
        204
    );
    assert_eq!(
        g.get(&format!(
            "/servicePrincipals/{}",
            sp["id"].as_str().unwrap()
        ))
        .await
        .0,
        404
    );
    let d = &shared().demo;
    let (st, v) = token_response(
        d["tenant_id"].as_str().unwrap(),
        app["appId"].as_str().unwrap(),
        "whatever",
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!((st, v["error_codes"][0].as_u64()), (400, Some(700016)));
}

#[tokio::test]
async fn graph_service_principal_exposes_real_permission_ids() {
    let g = G::demo().await;
    let sps = g.all("/servicePrincipals?$filter=servicePrincipalNames/any(n:n eq 'https://graph.microsoft.com')").await;
    assert_eq!(sps.len(), 1);
    let graph = &sps[0];
    assert_eq!(graph["appId"], "00000003-0000-0000-c000-000000000000");
    let find = |coll: &str, v: &str| {
        graph[coll]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["value"] == v)
            .map(|r| r["id"].clone())
    };
    assert_eq!(
        find("appRoles", "Directory.ReadWrite.All"),
        Some(json!("19dbc75e-c2e2-444c-a770-ec69d8559fc7"))
    );
    assert_eq!(
        find("oauth2PermissionScopes", "User.Read"),
        Some(json!("e1fe6dd8-ba31-4d61-89e7-88639da4683d"))
    );
    assert_eq!(
        g.delete(&format!(
            "/servicePrincipals/{}",
            graph["id"].as_str().unwrap()
        ))
        .await
        .0,
        400,
        "built-ins cannot be deleted"
    );
}

#[tokio::test]
async fn audit_log_records_who_changed_what() {
    let g = G::demo().await;
    let (_, app) = g
        .post("/applications", json!({"displayName": alias("audited")}))
        .await;
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "$filter",
            "category eq 'ApplicationManagement' and activityDateTime ge 2020-01-01T00:00:00Z",
        )
        .finish();
    let recs = g.all(&format!("/auditLogs/directoryAudits?{q}")).await;
    let r = recs
        .iter()
        .find(|r| {
            r["activityDisplayName"] == "Add application"
                && r["targetResources"][0]["id"] == app["id"]
        })
        .expect("audit record");
    assert_eq!(r["result"], "success");
    assert_eq!(
        r["initiatedBy"]["app"]["appId"],
        shared().demo["confidential_client"]["app_id"]
    );
    assert!(r["correlationId"].as_str().unwrap().len() > 8);
}
