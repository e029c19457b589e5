//! Conditional Access over the stored session facts: a sign-in frequency makes a refresh token
//! whose sign-in is older than the window unusable (AADSTS70043), while a fresh one works.

use serde_json::json;

use crate::{alias, shared, token_form as token, G};

#[tokio::test]
async fn sign_in_frequency_refuses_a_refresh_after_the_window_and_not_before() {
    let d = &shared().demo;
    let g = G::demo().await;
    let domain = d["user"]["upn"]
        .as_str()
        .unwrap()
        .split('@')
        .nth(1)
        .unwrap();
    let nick = alias("sif");
    let upn = format!("{nick}@{domain}");
    let pw = "Frequency-Test-Pw1!";
    let (st, u) = g
        .post(
            "/users",
            json!({"accountEnabled": true, "displayName": nick, "mailNickname": nick,
                   "userPrincipalName": upn,
                   "passwordProfile": {"password": pw, "forceChangePasswordNextSignIn": false}}),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    let uid = u["id"].as_str().unwrap();
    let (st, p) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": format!("Sign-in every hour {nick}"), "state": "enabled",
                   "conditions": {"users": {"includeUsers": [uid]},
                                  "applications": {"includeApplications": ["All"]},
                                  "clientAppTypes": ["all"]},
                   "sessionControls": {"signInFrequency": {"value": 1, "type": "hours",
                                        "frequencyInterval": "timeBased", "isEnabled": true}}}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let public = d["public_client"]["app_id"].as_str().unwrap();
    let (st, v) = token(&[
        ("grant_type", "password"),
        ("client_id", public),
        ("username", &upn),
        ("password", pw),
        ("scope", "User.Read offline_access"),
    ])
    .await;
    assert_eq!(st, 200, "{v}");
    // Within the hour: the refresh works (and rotates).
    let rt = v["refresh_token"].as_str().unwrap().to_string();
    let (st, v) = token(&[
        ("grant_type", "refresh_token"),
        ("client_id", public),
        ("refresh_token", &rt),
    ])
    .await;
    assert_eq!(st, 200, "{v}");
    let rt = v["refresh_token"].as_str().unwrap().to_string();
    // Two hours later (the stored sign-in time moved back): the window has passed.
    let store = shared().state.store.clone();
    let h = castellan_core::ops::signin::handle(&rt);
    let mut grant = store.grant(&h).await.unwrap().unwrap();
    let aged = castellan_server::state::now().millis() - 2 * 3600 * 1000;
    grant.set("auth_time", aged.to_string());
    assert!(store
        .update_grant(castellan_core::model::GrantState::Active, &grant)
        .await
        .unwrap());
    let (st, v) = token(&[
        ("grant_type", "refresh_token"),
        ("client_id", public),
        ("refresh_token", &rt),
    ])
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error_codes"], json!([70043]), "{v}");
    assert_eq!(v["error"], "invalid_grant", "{v}");
    g.delete(&format!(
        "/identity/conditionalAccess/policies/{}",
        p["id"].as_str().unwrap()
    ))
    .await;
}
