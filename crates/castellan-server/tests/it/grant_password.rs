//! `grant_type=password` (ROPC): user tokens, ID tokens, consent, and the user-side failures.

use base64::Engine;
use serde_json::{json, Value};

use crate::{alias, http, shared, G};

fn claims(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

async fn ropc(client_id: &str, user: &str, password: &str, scope: &str) -> (u16, Value) {
    let s = shared();
    let r = http()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            s.origin,
            s.demo["tenant_id"].as_str().unwrap()
        ))
        .form(&[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", user),
            ("password", password),
            ("scope", scope),
            ("client_info", "1"),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn public() -> String {
    shared().demo["public_client"]["app_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn user_gets_access_and_id_tokens_and_reads_me() {
    let d = &shared().demo;
    let (upn, pw) = (
        d["user"]["upn"].as_str().unwrap(),
        d["user"]["password"].as_str().unwrap(),
    );
    let (st, v) = ropc(
        &public(),
        &upn.to_uppercase(),
        pw,
        "User.Read openid profile offline_access",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let at = claims(v["access_token"].as_str().unwrap());
    assert_eq!(at["scp"], "User.Read");
    // Graph gets v1 tokens (as from Entra); bare scopes name Graph by its appId, which is
    // then the audience.
    assert_eq!(at["aud"], "00000003-0000-0000-c000-000000000000");
    assert_eq!(at["ver"], "1.0");
    assert_eq!(at["idtyp"], "user");
    assert_eq!(at["appidacr"], "0");
    assert_eq!(at["oid"], d["user"]["id"]);
    assert_eq!(at["upn"], upn);
    assert_eq!(at["unique_name"], upn);
    let id = claims(v["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], public());
    assert_eq!(
        id["iss"],
        format!(
            "{}/{}/v2.0",
            shared().origin,
            d["tenant_id"].as_str().unwrap()
        )
    );
    assert_eq!(id["preferred_username"], upn);
    assert_eq!(id["sub"], at["sub"]);
    // How the user authenticated: a password, no MFA (ROPC never has MFA). Graph's access
    // token is v1, which carries both claims, as Entra's does (a v2 one carries neither).
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["acr"], "1");
    assert_eq!(at["amr"], json!(["pwd"]), "{at}");
    assert_eq!(at["acr"], "1", "{at}");
    assert!(
        v["scope"].as_str().unwrap().contains("User.Read")
            && v["scope"].as_str().unwrap().contains("openid")
    );
    let ci: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v["client_info"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ci, json!({"uid": d["user"]["id"], "utid": d["tenant_id"]}));
    let g = G::with_token(v["access_token"].as_str().unwrap().into());
    let (st, me) = g.get("/me").await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["userPrincipalName"], upn);
    let (st, e) = g.get("/users").await;
    assert_eq!(st, 403, "User.Read does not allow listing users: {e}");
    // An ID token is never accepted as an access token.
    let (st, _) = G::with_token(v["id_token"].as_str().unwrap().into())
        .get("/me")
        .await;
    assert_eq!(st, 401);
    // /me with an app-only token names the problem.
    let (st, e) = G::demo().await.get("/me").await;
    assert_eq!(st, 400);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("delegated"));
}

#[tokio::test]
async fn user_side_failures_carry_entra_codes() {
    let d = &shared().demo;
    let (upn, pw) = (
        d["user"]["upn"].as_str().unwrap(),
        d["user"]["password"].as_str().unwrap(),
    );
    let code = |v: &Value| v["error_codes"][0].as_u64().unwrap_or(0);
    let (st, v) = ropc(&public(), upn, "Wrong-Passw0rd", "User.Read").await;
    assert_eq!(
        (st, code(&v), v["error"].as_str()),
        (400, 50126, Some("invalid_grant"))
    );
    let (st, v) = ropc(
        &public(),
        &format!("nobody@{}", d["domain"].as_str().unwrap()),
        pw,
        "User.Read",
    )
    .await;
    assert_eq!((st, code(&v)), (400, 50034));
    let (st, v) = ropc(&public(), upn, pw, "Mail.Read").await;
    assert_eq!(
        (st, code(&v)),
        (400, 65001),
        "no consent for Mail.Read: {v}"
    );
    let (st, v) = ropc(&public(), upn, pw, "Not.A.Permission").await;
    assert_eq!((st, code(&v)), (400, 70011));
    let (st, v) = ropc(&public(), upn, pw, "User.Read api://elsewhere/x").await;
    assert_eq!((st, code(&v)), (400, 700022));
    // A confidential client without its secret is refused.
    let (st, v) = ropc(
        d["confidential_client"]["app_id"].as_str().unwrap(),
        upn,
        pw,
        "User.Read",
    )
    .await;
    assert_eq!((st, code(&v)), (401, 7000218));
    // Disabled, and must-change-password users.
    let g = G::demo().await;
    let u = g.create_user(&alias("ro")).await;
    let uid = u["id"].as_str().unwrap();
    let upn2 = u["userPrincipalName"].as_str().unwrap();
    let (st, v) = ropc(&public(), upn2, "Test-Passw0rd!", "User.Read").await;
    assert_eq!(st, 200, "{v}");
    g.patch(
        &format!("/users/{uid}"),
        json!({"passwordProfile": {"forceChangePasswordNextSignIn": true}}),
    )
    .await;
    let (st, v) = ropc(&public(), upn2, "Test-Passw0rd!", "User.Read").await;
    assert_eq!((st, code(&v)), (400, 50055));
    g.patch(&format!("/users/{uid}"), json!({"accountEnabled": false}))
        .await;
    let (st, v) = ropc(&public(), upn2, "Test-Passw0rd!", "User.Read").await;
    assert_eq!((st, code(&v)), (400, 50057));
}

async fn ropc_with_claims(claims_param: &str) -> (u16, Value) {
    let d = &shared().demo;
    crate::token_form(&[
        ("grant_type", "password"),
        ("client_id", public().as_str()),
        ("username", d["user"]["upn"].as_str().unwrap()),
        ("password", d["user"]["password"].as_str().unwrap()),
        ("scope", "User.Read openid"),
        ("claims", claims_param),
    ])
    .await
}

#[tokio::test]
async fn a_claims_challenge_asks_for_mfa_and_bad_claims_are_named() {
    // Sent back (step-up): a password-only sign-in cannot meet it; the answer is 50076 with the
    // same claims, so the client goes interactive with them.
    let challenge = r#"{"access_token":{"polids":{"essential":true,"values":["9f1a2b3c-0000-4000-8000-000000000001"]}}}"#;
    let (st, v) = ropc_with_claims(challenge).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"], "interaction_required");
    assert_eq!(v["error_codes"], json!([50076]));
    assert_eq!(v["claims"], challenge);
    assert!(v.get("access_token").is_none());
    let (st, v) =
        ropc_with_claims(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#).await;
    assert_eq!((st, v["error_codes"].clone()), (400, json!([50076])), "{v}");
    // Client capabilities ask nothing of the sign-in.
    let (st, v) = ropc_with_claims(r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["access_token"].is_string());
    // Malformed claims: 90014 naming the parameter.
    let (st, v) = ropc_with_claims("{not json").await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error_codes"], json!([90014]));
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("'claims'"),
        "{v}"
    );
}
