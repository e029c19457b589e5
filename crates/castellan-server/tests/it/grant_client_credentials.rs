//! `grant_type=client_credentials` and its failure families.

use base64::Engine;
use serde_json::{json, Value};

use crate::{alias, http, shared, token_response, G};

fn demo() -> (String, String, String) {
    let d = &shared().demo;
    (
        d["tenant_id"].as_str().unwrap().into(),
        d["confidential_client"]["app_id"].as_str().unwrap().into(),
        d["confidential_client"]["secret"].as_str().unwrap().into(),
    )
}

pub(crate) fn claims(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

pub(crate) fn assert_aadsts(st: u16, v: &Value, status: u16, code: u64, error: &str) {
    assert_eq!(st, status, "{v}");
    assert_eq!(v["error"], error, "{v}");
    assert_eq!(v["error_codes"], json!([code]), "{v}");
    let d = v["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    assert!(
        d.contains("\r\nTrace ID: ")
            && d.contains("\r\nCorrelation ID: ")
            && d.contains("\r\nTimestamp: "),
        "{d}"
    );
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(v[k].is_string(), "{k} missing in {v}");
    }
}

#[tokio::test]
async fn app_only_token_has_entra_claims_and_roles() {
    let (tid, cid, secret) = demo();
    let (st, v) = token_response(&tid, &cid, &secret, "https://graph.microsoft.com/.default").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    assert!(v.get("refresh_token").is_none());
    let c = claims(v["access_token"].as_str().unwrap());
    // Microsoft Graph accepts v1 tokens, so Entra issues v1 from the v2 endpoint too: the
    // resource URI as requested for aud, the v1 issuer, appid/appidacr.
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["iss"], format!("{}/{tid}/", shared().origin));
    assert_eq!(c["tid"], tid);
    assert_eq!(c["appid"], cid);
    assert_eq!(c["appidacr"], "1");
    assert!(c.get("azp").is_none());
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["ver"], "1.0");
    assert_eq!(c["oid"], c["sub"]);
    assert!(c["uti"].is_string());
    let roles: Vec<&str> = c["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for r in [
        "Directory.ReadWrite.All",
        "Application.ReadWrite.All",
        "RoleManagement.ReadWrite.Directory",
    ] {
        assert!(roles.contains(&r), "{roles:?}");
    }
}

#[tokio::test]
async fn scope_by_app_id_and_domain_authority_and_basic_auth() {
    let (tid, cid, secret) = demo();
    let (st, v) = token_response(
        &tid,
        &cid,
        &secret,
        "00000003-0000-0000-c000-000000000000/.default",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let domain = shared().demo["domain"].as_str().unwrap().to_string();
    let (st, v) = token_response(
        &domain,
        &cid,
        &secret,
        "https://graph.microsoft.com//.default",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{cid}:{}", url_encode(&secret)));
    let r = http()
        .post(format!("{}/{tid}/oauth2/v2.0/token", shared().origin))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn failure_families_carry_entra_codes() {
    let (tid, cid, secret) = demo();
    let g = "https://graph.microsoft.com/.default";
    let (st, v) = token_response(&tid, &cid, "wrong", g).await;
    assert_aadsts(st, &v, 401, 7000215, "invalid_client");
    let (st, v) = token_response(&tid, &uuid::Uuid::new_v4().to_string(), &secret, g).await;
    assert_aadsts(st, &v, 400, 700016, "unauthorized_client");
    let (st, v) =
        token_response(&tid, &cid, &secret, "https://graph.microsoft.com/User.Read").await;
    assert_aadsts(st, &v, 400, 70011, "invalid_scope");
    let (st, v) = token_response(&tid, &cid, &secret, "api://nothing-here/.default").await;
    assert_aadsts(st, &v, 400, 500011, "invalid_resource");
    let (st, v) = token_response("nosuch.example", &cid, &secret, g).await;
    assert_aadsts(st, &v, 400, 90002, "invalid_request");
    let (st, v) = token_response("common", &cid, &secret, g).await;
    assert_aadsts(st, &v, 400, 9001023, "invalid_request");

    let post = |form: Vec<(&'static str, String)>| {
        let tid = tid.clone();
        async move {
            let r = http()
                .post(format!("{}/{tid}/oauth2/v2.0/token", shared().origin))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = post(vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:saml1_1-bearer".into(),
        ),
        ("client_id", cid.clone()),
    ])
    .await;
    assert_aadsts(st, &v, 400, 70003, "unsupported_grant_type");
    let (st, v) = post(vec![
        ("grant_type", "client_credentials".into()),
        ("client_secret", secret.clone()),
        ("scope", g.into()),
    ])
    .await;
    assert_aadsts(st, &v, 400, 900144, "invalid_request");
    let (st, v) = post(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", cid.clone()),
        ("scope", g.into()),
    ])
    .await;
    assert_aadsts(st, &v, 401, 7000218, "invalid_client");
    let (st, v) = post(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", cid.clone()),
        ("client_secret", secret.clone()),
    ])
    .await;
    assert_aadsts(st, &v, 400, 900144, "invalid_request");
    let (st, v) = post(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", cid.clone()),
        ("client_secret", secret.clone()),
        ("scope", g.into()),
        ("scope", g.into()),
    ])
    .await;
    assert_aadsts(st, &v, 400, 90014, "invalid_request");
    // MSAL's extra parameters are ignored.
    let (st, v) = post(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", cid.clone()),
        ("client_secret", secret.clone()),
        ("scope", g.into()),
        ("client_info", "1".into()),
        ("x-client-SKU", "MSAL.Python".into()),
    ])
    .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn expired_secret_is_aadsts7000222_and_removed_secret_stops_working() {
    let g = G::demo().await;
    let (st, app) = g
        .post("/applications", json!({"displayName": alias("exp")}))
        .await;
    assert_eq!(st, 201, "{app}");
    let (st, _) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    assert_eq!(st, 201);
    let end = chrono::Utc::now() + chrono::Duration::seconds(2);
    let (st, short) = g
        .post(
            &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
            json!({"passwordCredential": {"endDateTime": end.to_rfc3339()}}),
        )
        .await;
    assert_eq!(st, 200, "{short}");
    let (st, long) = g
        .post(
            &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let cid = app["appId"].as_str().unwrap();
    let (st, v) = token_response(
        tid,
        cid,
        long["secretText"].as_str().unwrap(),
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v["access_token"]
            .as_str()
            .map(|t| claims(t).get("roles").is_none())
            .unwrap(),
        "a client with no grants gets no roles"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (st, v) = token_response(
        tid,
        cid,
        short["secretText"].as_str().unwrap(),
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_aadsts(st, &v, 401, 7000222, "invalid_client");
    let (st, _) = g
        .post(
            &format!(
                "/applications/{}/removePassword",
                app["id"].as_str().unwrap()
            ),
            json!({"keyId": long["keyId"]}),
        )
        .await;
    assert_eq!(st, 204);
    let (st, v) = token_response(
        tid,
        cid,
        long["secretText"].as_str().unwrap(),
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_aadsts(st, &v, 401, 7000215, "invalid_client");
}

#[tokio::test]
async fn granted_and_revoked_app_roles_follow_into_the_next_token() {
    let g = G::demo().await;
    let (_, app) = g
        .post("/applications", json!({"displayName": alias("daemon")}))
        .await;
    let (_, sp) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    let (_, pw) = g
        .post(
            &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
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
    assert_eq!(role["id"], "df021288-bdef-4463-88db-98f22de89214");
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let secret = pw["secretText"].as_str().unwrap();
    let cid = app["appId"].as_str().unwrap();
    // Without the grant: token has no roles, Graph says 403.
    let (_, t) = token_response(tid, cid, secret, "https://graph.microsoft.com/.default").await;
    let (st, e) = G::with_token(t["access_token"].as_str().unwrap().into())
        .get("/users")
        .await;
    assert_eq!(st, 403, "{e}");
    assert_eq!(e["error"]["code"], "Authorization_RequestDenied");
    let (st, a) = g
        .post(
            &format!(
                "/servicePrincipals/{}/appRoleAssignments",
                sp["id"].as_str().unwrap()
            ),
            json!({"principalId": sp["id"], "resourceId": graph["id"], "appRoleId": role["id"]}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let (_, t) = token_response(tid, cid, secret, "https://graph.microsoft.com/.default").await;
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["roles"],
        json!(["User.Read.All"])
    );
    let reader = G::with_token(t["access_token"].as_str().unwrap().into());
    assert_eq!(reader.get("/users").await.0, 200);
    assert_eq!(reader.post("/groups", json!({"displayName": "x", "mailEnabled": false, "mailNickname": "x", "securityEnabled": true})).await.0, 403);
    // Duplicate grant is refused; revoke takes effect on the next token.
    let (st, _) = g
        .post(
            &format!(
                "/servicePrincipals/{}/appRoleAssignments",
                sp["id"].as_str().unwrap()
            ),
            json!({"principalId": sp["id"], "resourceId": graph["id"], "appRoleId": role["id"]}),
        )
        .await;
    assert_eq!(st, 400);
    let (st, _) = g
        .delete(&format!(
            "/servicePrincipals/{}/appRoleAssignments/{}",
            sp["id"].as_str().unwrap(),
            a["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(st, 204);
    let (_, t) = token_response(tid, cid, secret, "https://graph.microsoft.com/.default").await;
    assert!(claims(t["access_token"].as_str().unwrap())
        .get("roles")
        .is_none());
}

#[tokio::test]
async fn graph_rejects_bad_tokens() {
    let g = G::with_token("not-a-jwt".into());
    let (st, v) = g.get("/users").await;
    assert_eq!(st, 401);
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    let r = http()
        .get(format!("{}/v1.0/users", shared().origin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A token for another resource is not a Graph token.
    let d = &shared().demo;
    let g2 = G::demo().await;
    let (_, app) = g2.post("/applications", json!({"displayName": alias("api"), "identifierUris": [format!("api://{}", alias("res"))]})).await;
    g2.post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    let uri = app["identifierUris"][0].as_str().unwrap();
    let (st, t) = token_response(
        d["tenant_id"].as_str().unwrap(),
        d["confidential_client"]["app_id"].as_str().unwrap(),
        d["confidential_client"]["secret"].as_str().unwrap(),
        &format!("{uri}/.default"),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    // requestedAccessTokenVersion is null: a v1 token whose aud is the App ID URI asked for.
    let c = claims(t["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], uri);
    assert_eq!(c["ver"], "1.0");
    let (st, v) = G::with_token(t["access_token"].as_str().unwrap().into())
        .get("/users")
        .await;
    assert_eq!(st, 401, "{v}");
}

/// Entra's rule: the resource's accepted token version decides the format, not the endpoint.
/// Microsoft's first-party resources take v1 tokens whose `aud` is the identifier as the
/// client asked for it (GUID, URI, trailing slash and all); an API asking for v2 gets v2.
#[tokio::test]
async fn first_party_resources_get_v1_tokens_and_v2_apis_get_v2() {
    let (tid, cid, secret) = demo();
    let origin = shared().origin.clone();
    for (scope, aud) in [
        (
            "00000003-0000-0000-c000-000000000000/.default",
            "00000003-0000-0000-c000-000000000000",
        ),
        (
            "https://graph.microsoft.com//.default",
            "https://graph.microsoft.com/",
        ),
        (
            "https://management.core.windows.net//.default",
            "https://management.core.windows.net/",
        ),
        (
            "https://management.azure.com/.default",
            "https://management.azure.com",
        ),
        (
            "https://storage.azure.com/.default",
            "https://storage.azure.com",
        ),
    ] {
        let (st, v) = token_response(&tid, &cid, &secret, scope).await;
        assert_eq!(st, 200, "{scope}: {v}");
        let c = claims(v["access_token"].as_str().unwrap());
        assert_eq!(c["aud"], aud, "{scope}");
        assert_eq!(c["ver"], "1.0", "{scope}");
        assert_eq!(c["iss"], format!("{origin}/{tid}/"), "{scope}");
        assert_eq!(c["appid"], cid, "{scope}");
        assert!(c.get("azp").is_none(), "{scope}");
    }
    // The v1 tokens work where they are meant to: Graph and ARM accept the v1 issuer and
    // every audience form above.
    for scope in [
        "https://graph.microsoft.com//.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ] {
        let (_, t) = token_response(&tid, &cid, &secret, scope).await;
        let (st, v) = G::with_token(t["access_token"].as_str().unwrap().into())
            .get("/users?$top=1")
            .await;
        assert_eq!(st, 200, "{scope}: {v}");
    }
    for scope in [
        "https://management.core.windows.net//.default",
        "https://management.azure.com/.default",
    ] {
        let (_, t) = token_response(&tid, &cid, &secret, scope).await;
        let r = http()
            .get(format!("{origin}/subscriptions?api-version=2022-12-01"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scope}");
    }
    // An API whose application asks for v2: the v2 claim set, aud = its appId.
    let g = G::demo().await;
    let (_, app) = g
        .post(
            "/applications",
            json!({"displayName": alias("v2api"), "identifierUris": [format!("api://{}", alias("v2res"))], "api": {"requestedAccessTokenVersion": 2}}),
        )
        .await;
    g.post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    let uri = app["identifierUris"][0].as_str().unwrap();
    let (st, t) = token_response(&tid, &cid, &secret, &format!("{uri}/.default")).await;
    assert_eq!(st, 200, "{t}");
    let c = claims(t["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], app["appId"]);
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["iss"], format!("{origin}/{tid}/v2.0"));
    assert_eq!(c["azp"], cid);
    assert!(c.get("appid").is_none());
}
