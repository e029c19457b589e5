//! B2B invitations (issue 18 item 1): `POST /v1.0/invitations` answers Entra's shape and makes
//! the guest as Entra does; refusals (own verified domain, an existing member, no relay for
//! `sendInvitationMessage`, missing permission) change nothing; a relay that cannot be reached
//! leaves the invitation in place, says the message was not sent and audits the failure;
//! `allowInvitesFrom` and `guestUserRoleId` are writable and `none` stops every inviter. The
//! tenant-wide settings change on a private server of its own.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::{alias, app_with, shared, Private, G};

fn invite_body(email: &str) -> Value {
    json!({
        "invitedUserEmailAddress": email,
        "inviteRedirectUrl": "https://app.example/welcome",
        "invitedUserDisplayName": "Guest Person",
    })
}

#[tokio::test]
async fn an_invitation_makes_an_entra_shaped_guest_and_refusals_change_nothing() {
    let g = G::demo().await;
    let email = format!("{}@contoso-partner.test", alias("alice"));
    let (st, inv) = g.post("/invitations", invite_body(&email)).await;
    assert_eq!(st, 201, "{inv}");
    assert_eq!(inv["status"], "PendingAcceptance");
    assert_eq!(inv["invitedUserType"], "Guest");
    assert_eq!(inv["invitedUserEmailAddress"], email.as_str());
    assert_eq!(inv["sendInvitationMessage"], false);
    assert!(inv["@castellan.invitationMessage"].is_null());
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let url = inv["inviteRedeemUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/{tid}/redeem?ticket=", shared().origin)),
        "{url}"
    );
    let id = inv["invitedUser"]["id"].as_str().unwrap();
    let (st, u) = g.get(&format!("/users/{id}")).await;
    assert_eq!(st, 200, "{u}");
    let domain = shared().demo["domain"].as_str().unwrap();
    let mangled = email.replace('@', "_");
    assert_eq!(
        u["userPrincipalName"],
        format!("{mangled}#EXT#@{domain}").as_str()
    );
    assert_eq!(u["userType"], "Guest");
    assert_eq!(u["creationType"], "Invitation");
    assert_eq!(u["externalUserState"], "PendingAcceptance");
    assert!(u["externalUserStateChangeDateTime"].is_string());
    assert_eq!(u["mail"], email.as_str());
    assert_eq!(u["otherMails"], json!([email]));
    assert_eq!(u["displayName"], "Guest Person");
    assert_eq!(u["identities"][0]["signInType"], "userPrincipalName");
    // a member has no invitation properties
    let (_, admin) = g
        .get(&format!(
            "/users/{}",
            shared().demo["admin"]["id"].as_str().unwrap()
        ))
        .await;
    assert!(admin["creationType"].is_null() && admin["externalUserState"].is_null());
    // the guest is found by $filter
    let found = g.all(&format!("/users?$filter=mail eq '{email}'")).await;
    assert_eq!(found.len(), 1);

    // a guest holds app-role and Azure RBAC assignments like any user
    let sp = shared().demo["confidential_client"]["service_principal_id"]
        .as_str()
        .unwrap();
    let (st, a) = g
        .post(
            &format!("/servicePrincipals/{sp}/appRoleAssignedTo"),
            json!({"principalId": id, "resourceId": sp, "appRoleId": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let arm = crate::arm_client().await;
    let rg = shared().demo["resource_group_scope"].as_str().unwrap();
    let reader = format!(
        "{}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
        shared().demo["subscription_scope"].as_str().unwrap()
    );
    let (st, ra) = arm
        .send(
            reqwest::Method::PUT,
            &format!("{rg}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", uuid::Uuid::new_v4()),
            Some(json!({"properties": {"roleDefinitionId": reader, "principalId": id, "principalType": "User"}})),
        )
        .await;
    assert!(st == 200 || st == 201, "{st} {ra}");

    // inviting the same address again: the same guest, a new link
    let (st, again) = g.post("/invitations", invite_body(&email)).await;
    assert_eq!(st, 201, "{again}");
    assert_eq!(again["invitedUser"]["id"], id);
    assert_ne!(again["inviteRedeemUrl"], inv["inviteRedeemUrl"]);

    // refusals, each naming its cause, none leaving a trace
    let before = g.all("/users").await.len();
    let own = format!("{}@{domain}", alias("own"));
    let (st, e) = g.post("/invitations", invite_body(&own)).await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("verified domain of this tenant"),
        "{e}"
    );
    let member = g.create_user(&alias("member")).await;
    let (st, e) = g
        .post(
            "/invitations",
            invite_body(member["userPrincipalName"].as_str().unwrap()),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let before = before + 1;
    let mut b = invite_body(&format!("{}@x-partner.test", alias("nomail")));
    b["sendInvitationMessage"] = json!(true);
    let (st, e) = g.post("/invitations", b).await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--smtp-relay"),
        "{e}"
    );
    for bad in [
        json!({"invitedUserEmailAddress": "not-an-address", "inviteRedirectUrl": "https://x.test"}),
        json!({"invitedUserEmailAddress": "ok@partner.test"}),
        json!({"invitedUserEmailAddress": "ok@partner.test", "inviteRedirectUrl": "https://x.test", "status": "Completed"}),
        json!({"invitedUserEmailAddress": "ok@partner.test", "inviteRedirectUrl": "https://x.test", "resetRedemption": true}),
    ] {
        let (st, e) = g.post("/invitations", bad.clone()).await;
        assert_eq!(st, 400, "{bad} -> {e}");
    }
    assert_eq!(g.all("/users").await.len(), before);

    // deleting a guest works like deleting any user; its link then finds no guest
    let (st, _) = g.delete(&format!("/users/{id}")).await;
    assert_eq!(st, 204);
    let (st, _) = g.get(&format!("/users/{id}")).await;
    assert_eq!(st, 404);
    let gone = crate::security::mfa_guessing::Browser::new()
        .get(again["inviteRedeemUrl"].as_str().unwrap())
        .await;
    assert_eq!(gone.status, 400, "{}", gone.body);
    assert!(gone.body.contains("no longer exists"), "{}", gone.body);
}

#[tokio::test]
async fn inviting_needs_an_invite_permission() {
    let weak = app_with(&["User.Read.All"]).await;
    let email = format!("{}@partner.test", alias("x"));
    let (st, e) = weak.post("/invitations", invite_body(&email)).await;
    assert_eq!(st, 403, "{e}");
    assert!(e.to_string().contains("User.Invite.All"), "{e}");
    let inviter = app_with(&["User.Invite.All"]).await;
    let (st, v) = inviter.post("/invitations", invite_body(&email)).await;
    assert_eq!(st, 201, "{v}");
}

static PRIVATE: OnceLock<Private> = OnceLock::new();

/// A server whose relay is a closed port: every delivery fails.
fn private() -> &'static Private {
    PRIVATE.get_or_init(|| {
        crate::start_private("invitations", |args| {
            args.smtp_relay = Some("127.0.0.1:1".into());
            args.smtp_from = Some("invites@castellan.test".into());
        })
    })
}

#[tokio::test]
async fn a_failed_delivery_keeps_the_invitation_and_settings_decide_who_invites() {
    let p = private();
    let g = crate::private_graph(p).await;
    let email = format!("{}@partner.test", alias("bob"));
    let mut b = invite_body(&email);
    b["sendInvitationMessage"] = json!(true);
    b["invitedUserMessageInfo"] = json!({"customizedMessageBody": "Hi", "ccRecipients": [{"emailAddress": {"address": "cc@partner.test"}}]});
    let (st, inv) = g.post("/invitations", b).await;
    assert_eq!(st, 201, "{inv}");
    let note = inv["@castellan.invitationMessage"].as_str().unwrap();
    assert!(
        note.starts_with("not sent:") && note.contains("127.0.0.1:1"),
        "{note}"
    );
    assert_eq!(
        inv["invitedUserMessageInfo"]["ccRecipients"][0]["emailAddress"]["address"],
        "cc@partner.test"
    );
    let id = inv["invitedUser"]["id"].as_str().unwrap();
    let (st, _) = g.get(&format!("/users/{id}")).await;
    assert_eq!(st, 200);
    let audits = g.all("/auditLogs/directoryAudits?$top=999").await;
    let failed = audits
        .iter()
        .find(|a| a["activityDisplayName"] == "Send invitation email" && a.to_string().contains(id))
        .unwrap_or_else(|| panic!("no delivery audit for {id}"));
    assert_eq!(failed["result"], "failure", "{failed}");

    // authorizationPolicy: the defaults, then writable
    let (st, pol) = g.get("/policies/authorizationPolicy").await;
    assert_eq!(st, 200);
    assert_eq!(pol["allowInvitesFrom"], "everyone");
    assert_eq!(
        pol["guestUserRoleId"],
        "10dae51f-b6af-4016-8d66-8c2a99b929b3"
    );
    let (st, e) = g
        .patch(
            "/policies/authorizationPolicy",
            json!({"allowInvitesFrom": "somebody"}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = g
        .patch(
            "/policies/authorizationPolicy",
            json!({"guestUserRoleId": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = g
        .patch(
            "/policies/authorizationPolicy",
            json!({"allowInvitesFrom": "none", "guestUserRoleId": "2af84b1e-32c8-42b7-82bc-daa82404023b"}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    let (_, pol) = g.get("/policies/authorizationPolicy").await;
    assert_eq!(pol["allowInvitesFrom"], "none");
    assert_eq!(
        pol["guestUserRoleId"],
        "2af84b1e-32c8-42b7-82bc-daa82404023b"
    );
    let other = format!("{}@partner.test", alias("carol"));
    let (st, e) = g.post("/invitations", invite_body(&other)).await;
    assert_eq!(st, 403, "{e}");
    assert!(e.to_string().contains("'none'"), "{e}");
    // positive control: back to everyone, the same call works
    let (st, _) = g
        .patch(
            "/policies/authorizationPolicy",
            json!({"allowInvitesFrom": "everyone"}),
        )
        .await;
    assert_eq!(st, 204);
    let (st, v) = g.post("/invitations", invite_body(&other)).await;
    assert_eq!(st, 201, "{v}");
}

fn abs(loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_string()
    } else {
        format!("{}{loc}", shared().origin)
    }
}

/// Follows the redemption of `url` as the home user `upn`/`pw` up to the home sign-in's answer
/// at `/redeem/callback`.
async fn redeem_at_home(
    b: &crate::security::mfa_guessing::Browser,
    url: &str,
    upn: &str,
    pw: &str,
) -> crate::security::mfa_guessing::Page {
    let landing = b.get(url).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert!(landing.body.contains("Sign in"), "{}", landing.body);
    let start = b.submit(&landing, &[]).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let authorize = start.location.clone().unwrap();
    let fab = shared().demo["second_tenant"]["tenant_id"]
        .as_str()
        .unwrap();
    assert!(
        authorize.starts_with(&format!("/{fab}/oauth2/v2.0/authorize?")),
        "{authorize}"
    );
    let login = b.get(&abs(&authorize)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let done = b
        .submit(&login, &[("username", upn), ("password", pw)])
        .await;
    let loc = done.location.clone().unwrap_or_else(|| {
        panic!(
            "no redirect after the password ({}): {}",
            done.status, done.body
        )
    });
    assert!(loc.contains("/redeem/callback?"), "{loc}");
    b.get(&abs(&loc)).await
}

#[tokio::test]
async fn a_guest_from_another_tenant_redeems_once_through_its_home_sign_in() {
    use crate::security::mfa_guessing::Browser;
    let g = G::demo().await;
    let fab = &shared().demo["second_tenant"];
    let (upn, pw) = (
        fab["user"]["upn"].as_str().unwrap(),
        fab["user"]["password"].as_str().unwrap(),
    );
    let (st, inv) = g.post("/invitations", invite_body(upn)).await;
    assert_eq!(st, 201, "{inv}");
    let url = inv["inviteRedeemUrl"].as_str().unwrap().to_string();
    let id = inv["invitedUser"]["id"].as_str().unwrap().to_string();

    // someone else of the home tenant cannot redeem it: the page names both addresses
    let b = Browser::new();
    let admin = (
        fab["admin"]["upn"].as_str().unwrap(),
        fab["admin"]["password"].as_str().unwrap(),
    );
    let wrong = redeem_at_home(&b, &url, admin.0, admin.1).await;
    assert_eq!(wrong.status, 200, "{}", wrong.body);
    let r = b.submit(&wrong, &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("was sent to"), "{}", r.body);
    let (_, u) = g.get(&format!("/users/{id}")).await;
    assert_eq!(u["externalUserState"], "PendingAcceptance");

    // the invited user does
    let b = Browser::new();
    let consent = redeem_at_home(&b, &url, upn, pw).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        consent.body.contains("Review permissions"),
        "{}",
        consent.body
    );
    let done = b.submit(&consent, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("https://app.example/welcome")
    );
    let (_, u) = g.get(&format!("/users/{id}")).await;
    assert_eq!(u["externalUserState"], "Accepted", "{u}");
    assert!(
        u["identities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["signInType"] == "federated" && i["issuer"] == "ExternalAzureAD"),
        "{u}"
    );
    let audits = g.all("/auditLogs/directoryAudits?$top=999").await;
    assert!(audits.iter().any(
        |a| a["activityDisplayName"] == "Redeem external user invite"
            && a.to_string().contains(&id)
    ));

    // the guest signs in to the resource tenant's app: home-realm discovery sends it home,
    // the home sign-in resumes the resource tenant's pipeline, the tokens are the resource's
    let claims = guest_sign_in(upn, pw).await;
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let fab_id = fab["tenant_id"].as_str().unwrap();
    assert_eq!(claims["tid"], tid, "{claims}");
    assert_eq!(claims["oid"], id.as_str(), "{claims}");
    assert_eq!(
        claims["idp"],
        format!("https://sts.windows.net/{fab_id}/").as_str(),
        "{claims}"
    );
    assert_eq!(claims["acct"], 1, "{claims}");
    // the log is written in batches: wait for it
    let mut ok = None;
    for _ in 0..50 {
        let logs = g
            .all(&format!("/auditLogs/signIns?$filter=userId eq '{id}'"))
            .await;
        ok = logs.into_iter().find(|l| l["status"]["errorCode"] == 0);
        if ok.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ok = ok.expect("no successful sign-in of the guest in the resource tenant's log");
    assert_eq!(ok["userType"], "guest", "{ok}");
    assert_eq!(ok["homeTenantId"], fab_id, "{ok}");
    assert_eq!(ok["resourceTenantId"], tid, "{ok}");
    assert_eq!(ok["crossTenantAccessType"], "b2bCollaboration", "{ok}");
    guest_role_is_enforced(&g, upn, pw, &id).await;
    guests_are_covered_by_conditional_access(&g, upn, pw).await;
    a_home_refusal_is_in_the_resource_tenants_log(&g, upn, &id).await;
    // a password grant for the guest's address: a clear refusal, not "never invited"
    let (st, v) = crate::token_form(&[
        ("grant_type", "password"),
        (
            "client_id",
            shared().demo["public_client"]["app_id"].as_str().unwrap(),
        ),
        ("username", upn),
        ("password", pw),
        ("scope", "User.Read"),
    ])
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("is a guest of tenant"),
        "{v}"
    );

    // the link works once
    let again = Browser::new().get(&url).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("used already"), "{}", again.body);
    // a mangled link is refused too
    let bad = Browser::new().get(&format!("{url}x")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not valid"), "{}", bad.body);

    // resetRedemption: pending again, a new link, the old one superseded
    let mut r = invite_body(upn);
    r["resetRedemption"] = json!(true);
    r["invitedUser"] = json!({"id": id});
    let (st, reset) = g.post("/invitations", r).await;
    assert_eq!(st, 201, "{reset}");
    assert_eq!(reset["status"], "PendingAcceptance");
    let (_, u) = g.get(&format!("/users/{id}")).await;
    assert_eq!(u["externalUserState"], "PendingAcceptance");
    let fresh = Browser::new()
        .get(reset["inviteRedeemUrl"].as_str().unwrap())
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
}

/// Signs in to the demo tenant's confidential web app as the guest whose home account is
/// `upn`/`pw`, and returns the ID token's claims.
/// The home tenant answers the guest's sign-in with an error (the person cancelled there):
/// the browser gets the page, and the resource tenant's sign-in log has the refusal (90072,
/// the home's words), so its administrator sees why the guest did not get in.
async fn a_home_refusal_is_in_the_resource_tenants_log(g: &G, upn: &str, id: &str) {
    use crate::security::mfa_guessing::Browser;
    let d = &shared().demo;
    let cc = &d["confidential_client"];
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", cc["app_id"].as_str().unwrap())
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", cc["redirect_uri"].as_str().unwrap())
        .append_pair("scope", "openid")
        .finish();
    let tid = d["tenant_id"].as_str().unwrap();
    let b = Browser::new();
    let login = b
        .get(&format!(
            "{}/{tid}/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    let hrd = b
        .submit(&login, &[("username", upn), ("password", "x")])
        .await;
    let home = hrd
        .location
        .clone()
        .unwrap_or_else(|| panic!("{}", hrd.body));
    let state = url::Url::parse(&abs(&home))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.to_string())
        .unwrap();
    let r = b
        .get(&format!(
            "{}/redeem/callback?state={state}&error=access_denied&error_description=cancelled-at-home",
            shared().origin
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("access_denied"), "{}", r.body);
    let mut row = None;
    for _ in 0..50 {
        let logs = g
            .all(&format!("/auditLogs/signIns?$filter=userId eq '{id}'"))
            .await;
        row = logs.into_iter().find(|l| l["status"]["errorCode"] == 90072);
        if row.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let row = row.expect("no refused guest sign-in in the resource tenant's log");
    assert!(
        row["status"]["failureReason"]
            .as_str()
            .is_some_and(|f| f.contains("cancelled-at-home")),
        "{row}"
    );
}

async fn guest_sign_in(upn: &str, pw: &str) -> Value {
    let d = &shared().demo;
    let cc = &d["confidential_client"];
    let client = (
        cc["app_id"].as_str().unwrap(),
        cc["secret"].as_str().unwrap(),
        cc["redirect_uri"].as_str().unwrap(),
    );
    guest_tokens(upn, pw, client, "openid profile User.Read")
        .await
        .0
}

/// The guest's ID token claims and access token from a code flow of `client` (app id,
/// secret, redirect URI) for `scope`.
async fn guest_tokens(
    upn: &str,
    pw: &str,
    client: (&str, &str, &str),
    scope: &str,
) -> (Value, String) {
    let to_app = guest_authorize(upn, pw, client, scope).await;
    let code = url::Url::parse(&to_app)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("no code in {to_app}"));
    guest_redeem_code(&code, client, scope).await
}

/// The guest's journey through the resource tenant's sign-in, its home's, and back: the
/// final redirect to the app (with a code, or an error).
async fn guest_authorize(upn: &str, pw: &str, client: (&str, &str, &str), scope: &str) -> String {
    use crate::security::mfa_guessing::Browser;
    let d = &shared().demo;
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client.0)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", client.2)
        .append_pair("scope", scope)
        .append_pair("state", "g1")
        .append_pair("nonce", "n1")
        .finish();
    let tid = d["tenant_id"].as_str().unwrap();
    let b = Browser::new();
    let login = b
        .get(&format!(
            "{}/{tid}/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    // the resource tenant's page: the guest's own address
    let hrd = b
        .submit(
            &login,
            &[("username", upn), ("password", "not-checked-here")],
        )
        .await;
    assert_eq!(hrd.status, 303, "{}", hrd.body);
    let home = hrd.location.clone().unwrap();
    let fab = d["second_tenant"]["tenant_id"].as_str().unwrap();
    assert!(
        home.starts_with(&format!("/{fab}/oauth2/v2.0/authorize?")),
        "{home}"
    );
    let home_login = b.get(&abs(&home)).await;
    assert_eq!(home_login.status, 200, "{}", home_login.body);
    let back = b
        .submit(&home_login, &[("username", upn), ("password", pw)])
        .await;
    let cb = back
        .location
        .clone()
        .unwrap_or_else(|| panic!("no redirect ({}): {}", back.status, back.body));
    assert!(cb.contains("/redeem/callback?"), "{cb}");
    // the app is consented in the resource tenant: straight to it with a code
    let page = b.get(&abs(&cb)).await;
    page.location
        .clone()
        .unwrap_or_else(|| panic!("no redirect to the app ({}): {}", page.status, page.body))
}

async fn guest_redeem_code(code: &str, client: (&str, &str, &str), scope: &str) -> (Value, String) {
    let (st, t) = crate::token_form(&[
        ("grant_type", "authorization_code"),
        ("client_id", client.0),
        ("client_secret", client.1),
        ("code", code),
        ("redirect_uri", client.2),
        ("scope", scope),
    ])
    .await;
    assert_eq!(st, 200, "{t}");
    let id = t["id_token"].as_str().unwrap();
    let payload = id.split('.').nth(1).unwrap();
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    let at = t["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let at: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(at)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(at["tid"], claims["tid"]);
    assert_eq!(at["acct"], 1, "{at}");
    (claims, t["access_token"].as_str().unwrap().to_string())
}

/// A web app of the demo tenant consented (for everyone) to read users and groups.
async fn reader_app(g: &G) -> (String, String, String) {
    let redirect = "https://reader.example/cb";
    let (_, app) = g
        .post(
            "/applications",
            json!({"displayName": alias("guest-reader"), "web": {"redirectUris": [redirect]}}),
        )
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
    let (st, v) = g
        .post(
            "/oauth2PermissionGrants",
            json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph["id"], "scope": "openid profile User.Read User.Read.All Group.Read.All"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    (
        app["appId"].as_str().unwrap().to_string(),
        pw["secretText"].as_str().unwrap().to_string(),
        redirect.to_string(),
    )
}

/// guestUserRoleId with a real guest's delegated token: limited (the default) looks objects
/// up but does not list; restricted reads only its own object; "same as members" lists.
async fn guest_role_is_enforced(g: &G, upn: &str, pw: &str, guest_id: &str) {
    let (app, secret, redirect) = reader_app(g).await;
    let scope = "openid profile https://graph.microsoft.com/User.Read.All https://graph.microsoft.com/Group.Read.All";
    let (_, at) = guest_tokens(upn, pw, (&app, &secret, &redirect), scope).await;
    let guest = G::with_token(at);
    let admin = shared().demo["admin"]["id"].as_str().unwrap();
    let (st, me) = guest.get("/me").await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["id"], guest_id);
    let (st, v) = guest.get(&format!("/users/{admin}")).await;
    assert_eq!(st, 200, "limited: a lookup by id works: {v}");
    let (st, v) = guest.get("/users").await;
    assert_eq!(st, 403, "{v}");
    assert!(v.to_string().contains("limited access"), "{v}");
    let set = |role: &'static str| async move {
        let (st, v) = g
            .patch(
                "/policies/authorizationPolicy",
                json!({"guestUserRoleId": role}),
            )
            .await;
        assert_eq!(st, 204, "{v}");
    };
    set("2af84b1e-32c8-42b7-82bc-daa82404023b").await;
    let (st, v) = guest.get(&format!("/users/{admin}")).await;
    assert_eq!(st, 403, "restricted: {v}");
    assert!(v.to_string().contains("restricted access"), "{v}");
    let (st, v) = guest.get(&format!("/users/{guest_id}")).await;
    assert_eq!(st, 200, "restricted: its own object: {v}");
    set("a0b1b346-4d3e-4e8b-98f8-753987be4970").await;
    let (st, v) = guest.get("/users").await;
    assert_eq!(st, 200, "same as members: lists: {v}");
    set("10dae51f-b6af-4016-8d66-8c2a99b929b3").await;
}

#[tokio::test]
async fn an_address_without_a_home_tenant_is_offered_a_passcode() {
    use crate::security::mfa_guessing::Browser;
    let g = G::demo().await;
    let email = format!("{}@nowhere-partner.test", alias("otp"));
    let (_, inv) = g.post("/invitations", invite_body(&email)).await;
    let b = Browser::new();
    let landing = b.get(inv["inviteRedeemUrl"].as_str().unwrap()).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert!(landing.body.contains("one-time code"), "{}", landing.body);
    // this server has no relay: a clear page, nothing sent
    let sent = b.submit(&landing, &[]).await;
    assert_eq!(sent.status, 503, "{}", sent.body);
    assert!(sent.body.contains("--smtp-relay"), "{}", sent.body);
}

#[tokio::test]
async fn an_uninvited_user_of_another_tenant_gets_50020() {
    let fab = &shared().demo["second_tenant"];
    let d = &shared().demo;
    let (st, v) = crate::token_form(&[
        ("grant_type", "password"),
        ("client_id", d["public_client"]["app_id"].as_str().unwrap()),
        ("username", fab["admin"]["upn"].as_str().unwrap()),
        ("password", fab["admin"]["password"].as_str().unwrap()),
        ("scope", "User.Read"),
    ])
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS50020"),
        "{v}"
    );
    assert_eq!(v["error_codes"][0], 50020);
}

/// A Conditional Access policy for `GuestsOrExternalUsers` blocks the real invited guest's
/// sign-in (53003) on an app; without it (the positive control, before and after) the same
/// sign-in gets a code.
async fn guests_are_covered_by_conditional_access(g: &G, upn: &str, pw: &str) {
    let (app, secret, redirect) = reader_app(g).await;
    let client = (app.as_str(), secret.as_str(), redirect.as_str());
    let scope = "openid profile User.Read";
    let before = guest_authorize(upn, pw, client, scope).await;
    assert!(before.contains("code="), "{before}");
    let (st, p) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": alias("Block guests "), "state": "enabled",
                   "conditions": {"users": {"includeUsers": ["GuestsOrExternalUsers"]},
                                  "applications": {"includeApplications": ["All"]},
                                  "clientAppTypes": ["all"]},
                   "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let blocked = guest_authorize(upn, pw, client, scope).await;
    let pid = p["id"].as_str().unwrap();
    let (st, _) = g
        .delete(&format!("/identity/conditionalAccess/policies/{pid}"))
        .await;
    assert_eq!(st, 204);
    assert!(
        blocked.contains("error=") && blocked.contains("AADSTS53003") && !blocked.contains("code="),
        "{blocked}"
    );
}
