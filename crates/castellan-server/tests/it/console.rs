//! The admin console's HTTP behaviour (`server::console`): signed in through `/authorize` with
//! code + PKCE as the first-party console client, a server-side session behind a `__Host-`
//! cookie, CSRF on every form, a CSP without script or inline style, and every action a Graph
//! call as the signed-in administrator (so Graph's rules decide and the audit log names them).

use serde_json::{json, Value};

use crate::security::mfa_guessing::{Browser, Page};
use crate::security::{assign_role, role};
use crate::{alias, http, shared, G};

pub(crate) const PW: &str = "Console-Test-Pw1!";
const CONSOLE_APP_ID: &str = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c";

pub(crate) fn origin() -> &'static str {
    &shared().origin
}

pub(crate) fn abs(loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_string()
    } else {
        format!("{}{loc}", origin())
    }
}

/// A new user of the demo tenant who may sign in at once: (upn, id).
pub(crate) async fn new_user(prefix: &str) -> (String, String) {
    let nick = alias(prefix);
    let upn = format!("{nick}@{}", shared().demo["domain"].as_str().unwrap());
    let (st, u) = G::demo()
        .await
        .post(
            "/users",
            json!({"accountEnabled": true, "displayName": nick, "mailNickname": nick,
                   "userPrincipalName": upn,
                   "passwordProfile": {"password": PW, "forceChangePasswordNextSignIn": false}}),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    (upn, u["id"].as_str().unwrap().to_string())
}

/// An administrator holding `role_id` tenant-wide.
pub(crate) async fn admin_with(role_id: &str) -> String {
    let (upn, id) = new_user("cadm").await;
    assign_role(&id, role_id).await;
    upn
}

/// Signs in to the console through the real pages; returns the callback's answer.
pub(crate) async fn sign_in(b: &Browser, upn: &str) -> Page {
    sign_in_at(b, upn).await.0
}

/// [`sign_in`], also returning the callback URL the browser was sent to.
async fn sign_in_at(b: &Browser, upn: &str) -> (Page, String) {
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let start = b.get(&format!("{}/{tid}/admin", origin())).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let authorize = start.location.clone().unwrap();
    let url = url::Url::parse(&abs(&authorize)).unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CONSOLE_APP_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["redirect_uri"].ends_with("/admin/callback"), "{q:?}");
    let login = b.get(&abs(&authorize)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let done = b
        .submit(&login, &[("username", upn), ("password", PW)])
        .await;
    let loc = done.location.clone().unwrap_or_else(|| {
        panic!(
            "no redirect after the password ({}): {}",
            done.status, done.body
        )
    });
    assert!(loc.contains("/admin/callback?"), "{loc}");
    (b.get(&abs(&loc)).await, abs(&loc))
}

/// A signed-in console browser for a new administrator with `role_id`.
pub(crate) async fn console_as(role_id: &str) -> (Browser, String) {
    let upn = admin_with(role_id).await;
    let b = Browser::new();
    let cb = sign_in(&b, &upn).await;
    assert_eq!(cb.status, 303, "{}", cb.body);
    assert_eq!(cb.location.as_deref(), Some("/admin"));
    (b, upn)
}

/// The session's CSRF token, from any console page's forms.
pub(crate) fn csrf(p: &Page) -> String {
    let key = "name=\"csrf\" value=\"";
    let i = p
        .body
        .find(key)
        .unwrap_or_else(|| panic!("no csrf field:\n{}", p.body))
        + key.len();
    p.body[i..i + p.body[i..].find('"').unwrap()].to_string()
}

pub(crate) async fn post(b: &Browser, path: &str, fields: &[(&str, &str)]) -> Page {
    let f: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    b.post(path, &f).await
}

pub(crate) async fn user_by_upn(upn: &str) -> Vec<Value> {
    G::demo()
        .await
        .all(&format!("/users?$filter=userPrincipalName eq '{upn}'"))
        .await
}

#[tokio::test]
async fn console_pages_refuse_framing_script_and_caching() {
    let r = http()
        .get(format!("{}/admin", origin()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("<script") && !body.contains("style=\""),
        "{body}"
    );
    assert!(
        body.contains("<label for=\"signin-tenant\""),
        "labelled: {body}"
    );
    // The stylesheet comes from the binary.
    let css = http()
        .get(format!("{}/admin/assets/console.css", origin()))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn the_console_is_a_first_party_app_in_every_tenant() {
    let g = G::demo().await;
    let sps = g
        .all(&format!(
            "/servicePrincipals?$filter=appId eq '{CONSOLE_APP_ID}'"
        ))
        .await;
    assert_eq!(sps.len(), 1, "{sps:?}");
    let grants = g
        .all(&format!(
            "/oauth2PermissionGrants?$filter=clientId eq '{}'",
            sps[0]["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        grants.iter().any(|x| x["consentType"] == "AllPrincipals"
            && x["scope"].as_str().unwrap().contains("User.ReadWrite.All")),
        "{grants:?}"
    );
    // No customer tenant lists its registration: it lives in Microsoft's tenant.
    let apps = g
        .all(&format!(
            "/applications?$filter=appId eq '{CONSOLE_APP_ID}'"
        ))
        .await;
    assert!(apps.is_empty(), "{apps:?}");
    // Its redirect is only this server's own origin: another origin is AADSTS50011, no redirect.
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let evil = format!(
        "{}/{tid}/oauth2/v2.0/authorize?client_id={CONSOLE_APP_ID}&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fevil.example%2Fadmin%2Fcallback&code_challenge=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq&code_challenge_method=S256",
        origin()
    );
    let r = Browser::new().get(&evil).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.location.is_none());
    assert_eq!(r.aadsts(), Some(50011), "{}", r.body);
}

#[tokio::test]
async fn an_administrator_signs_in_into_a_secure_server_side_session() {
    let upn = admin_with(role::GLOBAL_ADMIN).await;
    let b = Browser::new();
    let (cb, callback_url) = sign_in_at(&b, &upn).await;
    assert_eq!(cb.status, 303, "{}", cb.body);
    let session = cb
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-castellan_console="))
        .unwrap_or_else(|| panic!("{:?}", cb.set_cookies));
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(!session.contains("Domain="), "{session}");
    // The cookie is a random handle, not a token.
    let value = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    assert!(value.len() >= 43 && !value.contains('.'), "{value}");
    let home = b.get(&format!("{}/admin", origin())).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains(&upn), "{}", home.body);
    assert!(home.body.contains("Global Administrator"), "{}", home.body);
    assert!(home.body.contains("Castellan Demo"), "{}", home.body);
    // The callback is single-use: replaying it (same code, same state) signs nobody in.
    let again = b.get(&callback_url).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again
        .set_cookies
        .iter()
        .all(|c| !c.starts_with("__Host-castellan_console=")));
    // Nor does a forged one.
    let forged = b.get(&abs("/admin/callback?code=x&state=y")).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    // Sign-out ends the session.
    let token = csrf(&home);
    let out = post(&b, "/admin/signout", &[("csrf", &token)]).await;
    assert_eq!(out.status, 200, "{}", out.body);
    let after = b.get(&format!("{}/admin/users", origin())).await;
    assert_eq!(after.status, 303, "signed out");
}

#[tokio::test]
async fn console_actions_are_graph_calls_by_the_administrator() {
    let (b, admin_upn) = console_as(role::GLOBAL_ADMIN).await;
    let users = b.get(&format!("{}/admin/users", origin())).await;
    assert_eq!(users.status, 200, "{}", users.body);
    let token = csrf(&users);
    let nick = alias("cnew");
    let upn = format!("{nick}@{}", shared().demo["domain"].as_str().unwrap());
    let r = post(
        &b,
        "/admin/users",
        &[
            ("csrf", &token),
            ("displayName", &nick),
            ("userPrincipalName", &upn),
            ("password", PW),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let found = user_by_upn(&upn).await;
    assert_eq!(found.len(), 1);
    let uid = found[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/admin/users/{uid}").as_str())
    );
    // The audit log names the administrator, not the console.
    let audits = G::demo()
        .await
        .all("/auditLogs/directoryAudits?$filter=activityDisplayName eq 'Add user'&$top=999")
        .await;
    let rec = audits
        .iter()
        .find(|a| a.to_string().contains(&uid))
        .unwrap_or_else(|| panic!("no audit record for {uid}"));
    assert_eq!(
        rec["initiatedBy"]["user"]["userPrincipalName"], admin_upn,
        "{rec}"
    );
    // Search finds the user; the detail page shows them.
    let search = b.get(&format!("{}/admin/users?q={nick}", origin())).await;
    assert!(search.body.contains(&upn), "{}", search.body);
    let detail = b.get(&format!("{}/admin/users/{uid}", origin())).await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains("Reset password") && detail.body.contains("Revoke sessions"));
    // A group, and the user added to it by UPN.
    let gname = alias("cgrp");
    let g = post(
        &b,
        "/admin/groups",
        &[("csrf", &token), ("displayName", &gname)],
    )
    .await;
    assert_eq!(g.status, 303, "{}", g.body);
    let gpath = g.location.clone().unwrap();
    let gid = gpath.rsplit('/').next().unwrap().to_string();
    let add = post(
        &b,
        &format!("{gpath}/members"),
        &[("csrf", &token), ("member", &upn)],
    )
    .await;
    assert_eq!(add.status, 303, "{}", add.body);
    let members = G::demo().await.all(&format!("/groups/{gid}/members")).await;
    assert!(
        members.iter().any(|m| m["id"] == uid.as_str()),
        "{members:?}"
    );
    let page = b.get(&abs(&gpath)).await;
    assert!(page.body.contains(&upn), "{}", page.body);
    assert!(page.body.contains("added."), "the flash: {}", page.body);
}

#[tokio::test]
async fn a_form_without_the_session_csrf_token_changes_nothing() {
    let (b, _) = console_as(role::USER_ADMIN).await;
    let page = b.get(&format!("{}/admin/users", origin())).await;
    let token = csrf(&page);
    let domain = shared().demo["domain"].as_str().unwrap();
    for bad in ["", "forged", &token[..token.len() - 1]] {
        let nick = alias("ccsrf");
        let upn = format!("{nick}@{domain}");
        let mut fields = vec![
            ("displayName", nick.as_str()),
            ("userPrincipalName", upn.as_str()),
            ("password", PW),
        ];
        if !bad.is_empty() {
            fields.push(("csrf", bad));
        }
        let r = post(&b, "/admin/users", &fields).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("security token"), "{}", r.body);
        assert!(user_by_upn(&upn).await.is_empty(), "created without CSRF");
    }
    // Positive control: the session's own token works.
    let nick = alias("ccsrf");
    let upn = format!("{nick}@{domain}");
    let r = post(
        &b,
        "/admin/users",
        &[
            ("csrf", &token),
            ("displayName", &nick),
            ("userPrincipalName", &upn),
            ("password", PW),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(user_by_upn(&upn).await.len(), 1);
    // Another session's token is not this one's.
    let (other, _) = console_as(role::USER_ADMIN).await;
    let theirs = csrf(&other.get(&format!("{}/admin", origin())).await);
    assert_ne!(theirs, token);
    let nick = alias("ccsrf");
    let upn = format!("{nick}@{domain}");
    let r = post(
        &b,
        "/admin/users",
        &[
            ("csrf", &theirs),
            ("displayName", &nick),
            ("userPrincipalName", &upn),
            ("password", PW),
        ],
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(user_by_upn(&upn).await.is_empty());
}

#[tokio::test]
async fn an_ordinary_user_is_refused_and_gets_no_session() {
    let (upn, _) = new_user("cplain").await;
    let b = Browser::new();
    let cb = sign_in(&b, &upn).await;
    assert_eq!(cb.status, 403, "{}", cb.body);
    assert!(cb.body.contains("no directory role"), "{}", cb.body);
    assert!(cb.body.contains(&upn), "{}", cb.body);
    assert!(
        !cb.set_cookies
            .iter()
            .any(|c| c.starts_with("__Host-castellan_console=")),
        "{:?}",
        cb.set_cookies
    );
    let r = b.get(&format!("{}/admin/users", origin())).await;
    assert_eq!(r.status, 303, "no console for them");
    // Positive control: the same user with a role gets in.
    let id = user_by_upn(&upn).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assign_role(&id, role::HELPDESK_ADMIN).await;
    let b = Browser::new();
    assert_eq!(sign_in(&b, &upn).await.status, 303);
}

#[tokio::test]
async fn a_user_administrator_is_refused_what_their_role_does_not_allow() {
    let (b, _) = console_as(role::USER_ADMIN).await;
    let (plain, plain_id) = new_user("cvictim").await;
    let roles = b
        .get(&format!("{}/admin/roles/{}", origin(), role::USER_ADMIN))
        .await;
    assert_eq!(roles.status, 200, "{}", roles.body);
    let token = csrf(&roles);
    // The console does not offer what the role does not cover ...
    assert!(!roles.body.contains("id=\"assign\""), "{}", roles.body);
    assert!(roles
        .body
        .contains("do not allow you to assign directory roles"));
    // ... and Graph refuses it when sent anyway: assigning a directory role needs Privileged
    // Role Administrator; the page says why, nothing is assigned.
    let r = post(
        &b,
        &format!("/admin/roles/{}/assign", role::USER_ADMIN),
        &[("csrf", &token), ("principal", &plain), ("scope", "/")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("role=\"alert\""), "{}", r.body);
    let held = G::demo()
        .await
        .all(&format!(
            "/roleManagement/directory/roleAssignments?$filter=principalId eq '{plain_id}'"
        ))
        .await;
    assert!(held.is_empty(), "{held:?}");
    // A Global Administrator's password is out of a User Administrator's reach.
    let ga = admin_with(role::GLOBAL_ADMIN).await;
    let ga_id = user_by_upn(&ga).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &b,
        &format!("/admin/users/{ga_id}/password"),
        &[("csrf", &token), ("password", "Another-Pw-123!")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // What the role does allow works (positive control): an ordinary user's password.
    let r = post(
        &b,
        &format!("/admin/users/{plain_id}/password"),
        &[("csrf", &token), ("password", "Another-Pw-123!")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
}

#[tokio::test]
async fn every_blade_renders_for_a_global_administrator() {
    let (b, _) = console_as(role::GLOBAL_ADMIN).await;
    for path in [
        "/admin",
        "/admin/users",
        "/admin/groups",
        "/admin/app-registrations",
        "/admin/enterprise-apps",
        "/admin/roles",
        &format!("/admin/roles/{}", role::USER_ADMIN),
        "/admin/conditional-access",
        "/admin/sign-ins",
        "/admin/sign-ins?status=failure",
        "/admin/audit",
        "/admin/audit?category=UserManagement",
        "/admin/troubleshoot",
    ] {
        let p = b.get(&format!("{}{path}", origin())).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert!(p.body.contains("aria-current=\"page\""), "{path}");
        if path.starts_with("/admin/roles/") {
            // Positive control for the User Administrator's missing form.
            assert!(p.body.contains("id=\"assign\""), "{}", p.body);
        }
    }
    let sp = G::demo()
        .await
        .all(&format!(
            "/servicePrincipals?$filter=appId eq '{CONSOLE_APP_ID}'"
        ))
        .await;
    let p = b
        .get(&format!(
            "{}/admin/enterprise-apps/{}",
            origin(),
            sp[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("Castellan admin console"));
    // A bad id is a clear 404, not a Graph call with a path in it.
    let p = b
        .get(&format!("{}/admin/users/..%2F..%2Fgroups", origin()))
        .await;
    assert_eq!(p.status, 404, "{}", p.body);
}

#[tokio::test]
async fn the_troubleshooter_names_the_family_of_a_failed_sign_in() {
    let (victim, _) = new_user("ctrbl").await;
    let sh = shared();
    let cid = uuid::Uuid::new_v4().to_string();
    let r = http()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sh.origin,
            sh.demo["tenant_id"].as_str().unwrap()
        ))
        .header("client-request-id", &cid)
        .form(&[
            ("grant_type", "password"),
            (
                "client_id",
                sh.demo["public_client"]["app_id"].as_str().unwrap(),
            ),
            ("username", &victim),
            ("password", "not-the-password"),
            ("scope", "User.Read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (b, _) = console_as(role::GLOBAL_ADMIN).await;
    let url = format!("{}/admin/troubleshoot?correlationId={cid}", origin());
    let mut page = b.get(&url).await;
    for _ in 0..100 {
        if page.body.contains("Troubleshooter: ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = b.get(&url).await;
    }
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Troubleshooter: User credential or account state"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("AADSTS50126") && page.body.contains(&victim),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("href=\"/admin/users\""),
        "links the fix: {}",
        page.body
    );
    // The same answer from the API (`castellan troubleshoot` calls it).
    let (st, v) = G::demo()
        .await
        .get(&format!("/auditLogs/troubleshoot?correlationId={cid}"))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["value"][0]["diagnosis"]["family"], "userCredential",
        "{v}"
    );
    assert_eq!(v["value"][0]["diagnosis"]["consoleBlade"], "/admin/users");
    assert_eq!(v["value"][0]["signIn"]["status"]["errorCode"], 50126);
    let (st, e) = G::demo()
        .await
        .get("/auditLogs/troubleshoot?correlationId=nope")
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("correlationId=<GUID>"));
    // Not a GUID: said plainly, no Graph query built from it.
    let bad = b
        .get(&format!(
            "{}/admin/troubleshoot?correlationId=x%27%20or%201",
            origin()
        ))
        .await;
    assert_eq!(bad.status, 200);
    assert!(
        bad.body.contains("A correlation ID is a GUID"),
        "{}",
        bad.body
    );
}

/// The troubleshooter API answers what reading sign-in logs allows: a member with the scope
/// consented but no role is refused; the same kind of member as Security Reader gets the answer.
#[tokio::test]
async fn the_troubleshooter_api_needs_a_sign_in_log_reader() {
    let scopes = &["AuditLog.Read.All"];
    let path = format!(
        "/auditLogs/troubleshoot?correlationId={}",
        uuid::Uuid::new_v4()
    );
    let (member, _) = crate::security::member_with(scopes).await;
    let (st, e) = member.get(&path).await;
    assert_eq!(st, 403, "{e}");
    assert_eq!(e["error"]["code"], "Authorization_RequestDenied", "{e}");
    let (reader, reader_id) = crate::security::member_with(scopes).await;
    assign_role(&reader_id, "5d6b6bb7-de71-4623-b4af-96380a352509").await;
    let (st, v) = reader.get(&path).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"], json!([]), "{v}");
}

/// The Azure resources blade is the resource plane as the administrator's ARM token sees it:
/// a Global Administrator without an Azure role sees no subscription (directory roles grant
/// nothing there); given Reader on the subscription, the subscription, its IAM view (their own
/// assignment, the role named) and its resource groups appear. A scope that is not an ARM scope
/// never reaches the API.
#[tokio::test]
async fn the_azure_resources_blade_shows_the_resource_plane_only_as_azure_rbac_allows() {
    let (b, upn) = console_as(role::GLOBAL_ADMIN).await;
    let p = b.get(&format!("{}/admin/azure", origin())).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let sub = shared().demo["subscription_scope"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !p.body.contains(&sub),
        "a directory role showed a subscription:\n{}",
        p.body
    );
    assert!(
        p.body.contains("No subscription you hold an Azure role on"),
        "{}",
        p.body
    );
    // Reader on the subscription (PUT through ARM by the demo's Owner client).
    let id = user_by_upn(&upn).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reader = castellan_core::azure_rbac::built_in_by_name("Reader")
        .unwrap()
        .id;
    let (st, v) = crate::arm_client()
        .await
        .send(
            reqwest::Method::PUT,
            &format!("{sub}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", uuid::Uuid::new_v4()),
            Some(json!({"properties": {"roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{reader}"), "principalId": id, "principalType": "User"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let p = b.get(&format!("{}/admin/azure", origin())).await;
    assert_eq!(p.status, 200);
    assert!(
        p.body
            .contains(&sub.rsplit('/').next().unwrap().to_string()),
        "{}",
        p.body
    );
    let iam = b
        .get(&format!(
            "{}/admin/azure/iam?scope={}",
            origin(),
            castellan_server::console::api::q(&sub)
        ))
        .await;
    assert_eq!(iam.status, 200, "{}", iam.body);
    assert!(iam.body.contains("Reader"), "{}", iam.body);
    assert!(iam.body.contains(&upn), "{}", iam.body);
    assert!(iam.body.contains("Resource groups"), "{}", iam.body);
    // Not an ARM scope: refused before any call.
    for bad in [
        "/v1.0/users",
        "/subscriptions/x/../../v1.0/users",
        "/subscriptions/x?a=b",
    ] {
        let p = b
            .get(&format!(
                "{}/admin/azure/iam?scope={}",
                origin(),
                castellan_server::console::api::q(bad)
            ))
            .await;
        assert_eq!(p.status, 400, "{bad}: {}", p.body);
        assert!(p.body.contains("must be an ARM scope"), "{}", p.body);
    }
}
