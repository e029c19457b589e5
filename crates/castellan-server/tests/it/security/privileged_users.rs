//! Security suite: privileged users are protected. Who may reset a password, disable, delete
//! or revoke a user depends on the roles the *target* holds (Microsoft's "who can reset
//! passwords" and "who can perform sensitive actions" tables); an administrative-unit scope
//! does not lift that rule, and app-only `User.ReadWrite.All` does not reach administrators.
//! Every refusal changed nothing; every class has a positive control.

use serde_json::json;

use super::{assert_denied, assign_role, assign_role_at, member_with, role, BROAD_SCOPES};
use crate::{alias, app_with, shared, token_form, G};

/// The target can still sign in with its original password (nothing was reset).
async fn still_signs_in(upn: &str) {
    let d = &shared().demo;
    let (st, v) = token_form(&[
        ("grant_type", "password"),
        ("client_id", d["public_client"]["app_id"].as_str().unwrap()),
        ("username", upn),
        ("password", "Test-Passw0rd!"),
        ("scope", "User.Read"),
    ])
    .await;
    assert_eq!(st, 200, "{upn} can no longer sign in: {v}");
}

/// A new user holding `roles` (tenant-wide): (id, upn).
async fn user_with_roles(g: &G, roles: &[&str]) -> (String, String) {
    let u = g.create_user(&alias("sec-t")).await;
    let id = u["id"].as_str().unwrap().to_string();
    for r in roles {
        assign_role(&id, r).await;
    }
    (id, u["userPrincipalName"].as_str().unwrap().to_string())
}

fn reset() -> serde_json::Value {
    json!({"passwordProfile": {"password": "Reset-Passw0rd!9", "forceChangePasswordNextSignIn": false}})
}

#[tokio::test]
async fn a_user_administrator_cannot_touch_a_global_administrator() {
    let g = G::demo().await;
    let (ga, ga_upn) = user_with_roles(&g, &[role::GLOBAL_ADMIN]).await;
    let (plain, _) = user_with_roles(&g, &[]).await;
    let (ua, ua_id) = member_with(BROAD_SCOPES).await;
    assign_role(&ua_id, role::USER_ADMIN).await;
    let before = g.audits_mentioning(&ga).await;

    let (st, e) = ua.patch(&format!("/users/{ga}"), reset()).await;
    assert_denied(st, &e, "Privileged Authentication Administrator");
    let (st, e) = ua
        .patch(&format!("/users/{ga}"), json!({"accountEnabled": false}))
        .await;
    assert_denied(st, &e, "sensitive");
    let (st, e) = ua
        .post(&format!("/users/{ga}/revokeSignInSessions"), json!({}))
        .await;
    assert_denied(st, &e, "sensitive");
    let (st, e) = ua.delete(&format!("/users/{ga}")).await;
    assert_denied(st, &e, "sensitive");
    let (st, e) = ua
        .patch(
            &format!("/users/{ga}"),
            json!({"userPrincipalName": format!("x{ga_upn}")}),
        )
        .await;
    assert_eq!(st, 403, "{e}");

    // Nothing changed.
    let (st, now) = g
        .get(&format!(
            "/users/{ga}?$select=accountEnabled,userPrincipalName"
        ))
        .await;
    assert_eq!(st, 200, "{now}");
    assert_eq!(now["accountEnabled"], true);
    assert_eq!(now["userPrincipalName"], ga_upn.as_str());
    assert_eq!(g.audits_mentioning(&ga).await, before);
    still_signs_in(&ga_upn).await;

    // Positive controls: a plain user, and basic properties of the administrator.
    let (st, v) = ua.patch(&format!("/users/{plain}"), reset()).await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = ua
        .patch(&format!("/users/{plain}"), json!({"accountEnabled": false}))
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = ua
        .patch(&format!("/users/{ga}"), json!({"jobTitle": "Chief"}))
        .await;
    assert_eq!(st, 204, "{v}");
}

#[tokio::test]
async fn lesser_admin_roles_cannot_reset_a_global_administrators_password() {
    let g = G::demo().await;
    let (ga, ga_upn) = user_with_roles(&g, &[role::GLOBAL_ADMIN]).await;
    for (name, r) in [
        ("Authentication Administrator", role::AUTHENTICATION_ADMIN),
        ("Intune Administrator", role::INTUNE_ADMIN),
        ("Directory Writers", role::DIRECTORY_WRITERS),
        ("Helpdesk Administrator", role::HELPDESK_ADMIN),
    ] {
        let (caller, caller_id) = member_with(BROAD_SCOPES).await;
        assign_role(&caller_id, r).await;
        let (st, e) = caller.patch(&format!("/users/{ga}"), reset()).await;
        assert_eq!(st, 403, "{name}: {e}");
        // Positive control per role: a plain user's password, for the roles that reset
        // passwords at all (Intune Administrator and Directory Writers never do).
        let (plain, _) = user_with_roles(&g, &[]).await;
        let (st, v) = caller.patch(&format!("/users/{plain}"), reset()).await;
        let resets = matches!(
            name,
            "Authentication Administrator" | "Helpdesk Administrator"
        );
        assert_eq!(st == 204, resets, "{name} on a plain user: {st} {v}");
    }
    still_signs_in(&ga_upn).await;

    // A Privileged Authentication Administrator may.
    let (paa, paa_id) = member_with(BROAD_SCOPES).await;
    assign_role(&paa_id, role::PRIVILEGED_AUTHENTICATION_ADMIN).await;
    let (st, v) = paa.patch(&format!("/users/{ga}"), reset()).await;
    assert_eq!(st, 204, "{v}");
}

#[tokio::test]
async fn an_administrative_unit_scope_does_not_lift_the_privileged_user_rule() {
    let g = G::demo().await;
    let (_, au) = g
        .post(
            "/directory/administrativeUnits",
            json!({"displayName": alias("sec-au")}),
        )
        .await;
    let au_id = au["id"].as_str().unwrap();
    let (ga, ga_upn) = user_with_roles(&g, &[role::GLOBAL_ADMIN]).await;
    let (plain, _) = user_with_roles(&g, &[]).await;
    for u in [&ga, &plain] {
        let (st, v) = g
            .post(
                &format!("/directory/administrativeUnits/{au_id}/members/$ref"),
                json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{u}")}),
            )
            .await;
        assert_eq!(st, 204, "{v}");
    }
    let (ua, ua_id) = member_with(BROAD_SCOPES).await;
    assign_role_at(
        &ua_id,
        role::USER_ADMIN,
        &format!("/administrativeUnits/{au_id}"),
    )
    .await;
    let (st, e) = ua.patch(&format!("/users/{ga}"), reset()).await;
    assert_denied(st, &e, "Privileged Authentication Administrator");
    still_signs_in(&ga_upn).await;
    // Positive control: the plain member of the unit.
    let (st, v) = ua.patch(&format!("/users/{plain}"), reset()).await;
    assert_eq!(st, 204, "{v}");
    // Outside the unit the scoped role gives nothing.
    let (outside, _) = user_with_roles(&g, &[]).await;
    let (st, e) = ua.patch(&format!("/users/{outside}"), reset()).await;
    assert_eq!(st, 403, "{e}");
}

#[tokio::test]
async fn app_only_user_readwrite_all_does_not_reach_administrators() {
    let g = G::demo().await;
    let (ga, ga_upn) = user_with_roles(&g, &[role::GLOBAL_ADMIN]).await;
    let (plain, _) = user_with_roles(&g, &[]).await;
    let app = app_with(&["User.ReadWrite.All"]).await;
    let (st, e) = app.patch(&format!("/users/{ga}"), reset()).await;
    assert_denied(st, &e, "Privileged Authentication Administrator");
    let (st, e) = app
        .patch(&format!("/users/{ga}"), json!({"accountEnabled": false}))
        .await;
    assert_eq!(st, 403, "{e}");
    let (st, e) = app.delete(&format!("/users/{ga}")).await;
    assert_eq!(st, 403, "{e}");
    still_signs_in(&ga_upn).await;
    // Positive control: ordinary users.
    let (st, v) = app.patch(&format!("/users/{plain}"), reset()).await;
    assert_eq!(st, 204, "{v}");
}
