//! Cross-tenant access settings (issue 18 item 4): `/policies/crossTenantAccessPolicy`, its
//! default and partners in Graph's shapes, with Entra's defaults; bad input and readers'
//! writes change nothing; every change is audited. Enforcement over HTTP: a guest whose home
//! tenant (Fabrikam, the demo's second tenant) did MFA redeems and signs in to the demo
//! tenant's app; the partner setting blocks the user at redemption (500213), the home tenant's
//! outbound setting blocks it (500212), and the resource tenant's Conditional Access MFA is
//! satisfied by the home MFA only while `inboundTrust.isMfaAccepted` is true.

use serde_json::{json, Value};

use crate::security::mfa_guessing::{Browser, Page};
use crate::{alias, app_with, shared, G};

const BASE: &str = "/policies/crossTenantAccessPolicy";

fn random_tenant() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn the_default_reads_as_entra_and_bad_changes_change_nothing() {
    let g = G::demo().await;
    let (st, v) = g.get(&format!("{BASE}/default")).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#policies/crossTenantAccessPolicy/default/$entity"));
    let all_users =
        json!({"accessType": "allowed", "targets": [{"target": "AllUsers", "targetType": "user"}]});
    let all_apps = json!({"accessType": "allowed", "targets": [{"target": "AllApplications", "targetType": "application"}]});
    assert_eq!(v["b2bCollaborationInbound"]["usersAndGroups"], all_users);
    assert_eq!(v["b2bCollaborationInbound"]["applications"], all_apps);
    assert_eq!(v["b2bCollaborationOutbound"]["usersAndGroups"], all_users);
    assert_eq!(
        v["b2bDirectConnectInbound"]["usersAndGroups"]["accessType"],
        "blocked"
    );
    for k in [
        "isMfaAccepted",
        "isCompliantDeviceAccepted",
        "isHybridAzureADJoinedDeviceAccepted",
    ] {
        assert_eq!(v["inboundTrust"][k], false, "{v}");
    }
    let (st, p) = g.get(BASE).await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["displayName"], "CrossTenantAccessPolicy");

    // Bad input: 400 naming the cause, nothing changed, nothing audited.
    let before = g.get(&format!("{BASE}/default")).await.1;
    let audits = g.audits_mentioning("company default cross-tenant").await;
    for (body, needle) in [
        (
            json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "sometimes", "targets": [{"target": "AllUsers", "targetType": "user"}]}}}),
            "accessType",
        ),
        (
            json!({"b2bCollaborationInbound": {"applications": {"accessType": "blocked", "targets": [{"target": "AllApplications", "targetType": "device"}]}}}),
            "targetType",
        ),
        (
            json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "allowed", "targets": [{"target": "AllApplications", "targetType": "user"}]}}}),
            "AllApplications",
        ),
        (
            json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "allowed", "targets": [{"target": uuid::Uuid::new_v4().to_string(), "targetType": "user"}]}}}),
            "partner configuration",
        ),
        (json!({"isServiceDefault": false}), "read-only"),
        (
            json!({"inboundTrust": {"isMfaTrusted": true}}),
            "isMfaTrusted",
        ),
    ] {
        let (st, e) = g.patch(&format!("{BASE}/default"), body.clone()).await;
        assert_eq!(st, 400, "{body}: {e}");
        assert_eq!(e["error"]["code"], "Request_BadRequest", "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {e}"
        );
    }
    assert_eq!(g.get(&format!("{BASE}/default")).await.1, before);
    assert_eq!(
        g.audits_mentioning("company default cross-tenant").await,
        audits
    );
    let (st, e) = g
        .patch(BASE, json!({"allowedCloudEndpoints": ["evil.example"]}))
        .await;
    assert_eq!(st, 400, "{e}");

    // A good change (harmless to other tests: no sign-in here carries a device claim), then
    // resetToSystemDefault; both audited.
    let (st, e) = g
        .patch(
            &format!("{BASE}/default"),
            json!({"inboundTrust": {"isCompliantDeviceAccepted": true}}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    let (_, v) = g.get(&format!("{BASE}/default")).await;
    assert_eq!(v["isServiceDefault"], false, "{v}");
    assert_eq!(v["inboundTrust"]["isCompliantDeviceAccepted"], true);
    assert_eq!(v["inboundTrust"]["isMfaAccepted"], false);
    assert_eq!(v["b2bCollaborationInbound"]["usersAndGroups"], all_users);
    let (st, e) = g
        .post(&format!("{BASE}/default/resetToSystemDefault"), json!({}))
        .await;
    assert_eq!(st, 204, "{e}");
    let (_, v) = g.get(&format!("{BASE}/default")).await;
    assert_eq!(v["isServiceDefault"], true, "{v}");
    assert_eq!(v["inboundTrust"]["isCompliantDeviceAccepted"], false);
    let recs = g.all("/auditLogs/directoryAudits?$top=999").await;
    for activity in [
        "Update the company default cross-tenant access setting",
        "Reset the company default cross-tenant access setting",
    ] {
        assert!(
            recs.iter().any(|a| a["activityDisplayName"] == activity
                && a["category"] == "CrossTenantAccessSettings"),
            "{activity}"
        );
    }
    // The policy level: allowedCloudEndpoints stored and returned.
    let (st, e) = g
        .patch(
            BASE,
            json!({"allowedCloudEndpoints": ["microsoftonline.us"]}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    let (_, p) = g.get(BASE).await;
    assert_eq!(p["allowedCloudEndpoints"], json!(["microsoftonline.us"]));
}

#[tokio::test]
async fn partners_are_created_once_changed_deleted_and_refused_clearly() {
    let g = G::demo().await;
    let other = random_tenant();
    let own = shared().demo["tenant_id"].as_str().unwrap();
    // for the tenant itself: refused
    let (st, e) = g
        .post(&format!("{BASE}/partners"), json!({"tenantId": own}))
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e.to_string().contains("this tenant itself"), "{e}");
    let (st, e) = g
        .post(
            &format!("{BASE}/partners"),
            json!({"tenantId": "not-a-guid"}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = g
        .post(
            &format!("{BASE}/partners"),
            json!({"tenantId": other, "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "blocked", "targets": [{"target": "x", "targetType": "group"}]}}}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, _) = g.get(&format!("{BASE}/partners/{other}")).await;
    assert_eq!(st, 404, "a refused creation made nothing");

    let body = json!({
        "tenantId": other,
        "inboundTrust": {"isMfaAccepted": true},
        "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "blocked", "targets": [{"target": "AllUsers", "targetType": "user"}]}},
    });
    let (st, p) = g.post(&format!("{BASE}/partners"), body.clone()).await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["tenantId"], other.as_str());
    assert_eq!(p["inboundTrust"]["isMfaAccepted"], true);
    assert_eq!(
        p["b2bCollaborationOutbound"],
        Value::Null,
        "unset parts inherit the default"
    );
    assert_eq!(p["b2bCollaborationInbound"]["applications"], Value::Null);
    assert_eq!(p["isInMultiTenantOrganization"], false);
    // a second one for the same tenant: 409, the first unchanged
    let (st, e) = g
        .post(&format!("{BASE}/partners"), json!({"tenantId": other}))
        .await;
    assert_eq!(st, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{e}"
    );
    let (_, still) = g.get(&format!("{BASE}/partners/{other}")).await;
    assert_eq!(still["inboundTrust"]["isMfaAccepted"], true, "{still}");
    let listed = g.all(&format!("{BASE}/partners")).await;
    assert!(listed.iter().any(|x| x["tenantId"] == other.as_str()));

    // PATCH merges; a bad PATCH changes nothing; tenantId cannot change
    let (st, e) = g
        .patch(
            &format!("{BASE}/partners/{other}"),
            json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "allowed"}}}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    let (_, p) = g.get(&format!("{BASE}/partners/{other}")).await;
    assert_eq!(
        p["b2bCollaborationInbound"]["usersAndGroups"]["accessType"],
        "allowed"
    );
    assert_eq!(
        p["b2bCollaborationInbound"]["usersAndGroups"]["targets"][0]["target"],
        "AllUsers"
    );
    assert_eq!(p["inboundTrust"]["isMfaAccepted"], true);
    for bad in [
        json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "never"}}}),
        json!({"tenantId": random_tenant()}),
        json!({"isInMultiTenantOrganization": true}),
    ] {
        let (st, e) = g
            .patch(&format!("{BASE}/partners/{other}"), bad.clone())
            .await;
        assert_eq!(st, 400, "{bad}: {e}");
    }
    assert_eq!(g.get(&format!("{BASE}/partners/{other}")).await.1, p);
    // repeating its own tenantId is fine (an SDK sends the whole model)
    let (st, e) = g
        .patch(
            &format!("{BASE}/partners/{other}"),
            json!({"tenantId": other, "isServiceProvider": true}),
        )
        .await;
    assert_eq!(st, 204, "{e}");
    let (_, p) = g.get(&format!("{BASE}/partners/{other}")).await;
    assert_eq!(p["isServiceProvider"], true);
    let (st, _) = g
        .patch(&format!("{BASE}/partners/{}", random_tenant()), json!({}))
        .await;
    assert_eq!(st, 404);

    // DELETE, audited
    let (st, _) = g.delete(&format!("{BASE}/partners/{other}")).await;
    assert_eq!(st, 204);
    let (st, _) = g.get(&format!("{BASE}/partners/{other}")).await;
    assert_eq!(st, 404);
    let (st, _) = g.delete(&format!("{BASE}/partners/{other}")).await;
    assert_eq!(st, 404);
    let recs = g.all("/auditLogs/directoryAudits?$top=999").await;
    for activity in [
        "Add a partner to cross-tenant access setting",
        "Update a partner cross-tenant access setting",
        "Delete partner specific cross-tenant access setting",
    ] {
        assert!(
            recs.iter()
                .any(|a| a["activityDisplayName"] == activity && a.to_string().contains(&other)),
            "{activity}"
        );
    }
}

#[tokio::test]
async fn readers_read_and_only_the_cross_tenant_permission_writes() {
    let reader = app_with(&["Policy.Read.All"]).await;
    let (st, v) = reader.get(&format!("{BASE}/default")).await;
    assert_eq!(st, 200, "{v}");
    let other = random_tenant();
    let (st, e) = reader
        .post(&format!("{BASE}/partners"), json!({"tenantId": other}))
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(
        e.to_string().contains("Policy.ReadWrite.CrossTenantAccess"),
        "{e}"
    );
    let (st, _) = reader
        .patch(
            &format!("{BASE}/default"),
            json!({"inboundTrust": {"isMfaAccepted": true}}),
        )
        .await;
    assert_eq!(st, 403);
    let ca_writer = app_with(&["Policy.ReadWrite.ConditionalAccess"]).await;
    let (st, _) = ca_writer
        .post(&format!("{BASE}/partners"), json!({"tenantId": other}))
        .await;
    assert_eq!(st, 403);
    let (st, _) = G::demo()
        .await
        .get(&format!("{BASE}/partners/{other}"))
        .await;
    assert_eq!(st, 404, "refused writes made nothing");
    let none = app_with(&[]).await;
    let (st, _) = none.get(&format!("{BASE}/default")).await;
    assert_eq!(st, 403);
    // positive control: the permission writes
    let writer = app_with(&["Policy.ReadWrite.CrossTenantAccess"]).await;
    let (st, v) = writer
        .post(&format!("{BASE}/partners"), json!({"tenantId": other}))
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = writer.delete(&format!("{BASE}/partners/{other}")).await;
    assert_eq!(st, 204);
}

// ---- enforcement ----

const PW: &str = "Xt-Guest-Passw0rd!";

fn env(ent: &mut castellan_server::crypto::OsEntropy) -> castellan_core::ops::Env<'_> {
    castellan_core::ops::Env {
        store: shared().state.store.as_ref(),
        now: castellan_server::state::now(),
        entropy: ent,
        hasher: &shared().state.hasher,
        actor: castellan_core::audit::Actor::Operator,
        correlation_id: "it-cross-tenant".into(),
    }
}

async fn fabrikam() -> castellan_core::model::Tenant {
    let id = castellan_core::TenantId::parse(
        shared().demo["second_tenant"]["tenant_id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    shared().state.store.tenant(id).await.unwrap().unwrap()
}

/// A new Fabrikam user (the home tenant), made through core's use case.
async fn home_user() -> (String, castellan_core::ObjectId) {
    use castellan_core::ops::Field;
    let fab = fabrikam().await;
    let nick = alias("hana");
    let upn = format!("{nick}@{}", fab.initial_domain());
    let mut ent = castellan_server::crypto::OsEntropy;
    let u = castellan_core::ops::users::create(
        &mut env(&mut ent),
        &fab,
        castellan_core::ops::users::UserInput {
            display_name: Field::Value(nick.clone()),
            user_principal_name: Field::Value(upn.clone()),
            account_enabled: Field::Value(true),
            password: Field::Value(PW.into()),
            force_change_password_next_sign_in: Field::Value(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (upn, u.id)
}

/// A Conditional Access policy of `tenant` requiring MFA of `user` (core's use case).
async fn mfa_policy_at(
    tenant: &castellan_core::model::Tenant,
    user: &str,
) -> castellan_core::ObjectId {
    policy_at(tenant, user, "mfa").await
}

/// A Conditional Access policy of `tenant` requiring the built-in `control` of `user`.
async fn policy_at(
    tenant: &castellan_core::model::Tenant,
    user: &str,
    control: &str,
) -> castellan_core::ObjectId {
    use castellan_wire::graph::conditional_access as w;
    let id = castellan_core::ObjectId::from_uuid(uuid::Uuid::new_v4());
    let body = json!({"displayName": alias(&format!("xt {control} ")), "state": "enabled",
        "conditions": {"users": {"includeUsers": [user]}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]},
        "grantControls": {"operator": "OR", "builtInControls": [control]}});
    let p = w::parse_policy(&body, id).unwrap();
    let doc = w::render_policy(&p, "", "").to_string();
    let mut ent = castellan_server::crypto::OsEntropy;
    castellan_core::ops::conditional_access::put_policy(
        &mut env(&mut ent),
        tenant,
        &p,
        None,
        doc,
        true,
    )
    .await
    .unwrap();
    id
}

async fn drop_policy_at(tenant: &castellan_core::model::Tenant, id: castellan_core::ObjectId) {
    let mut ent = castellan_server::crypto::OsEntropy;
    castellan_core::ops::conditional_access::delete_document(
        &mut env(&mut ent),
        tenant,
        castellan_core::model::PolicyDocumentKind::ConditionalAccessPolicy,
        id,
        &[],
    )
    .await
    .unwrap();
}

fn abs(loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_string()
    } else {
        format!("{}{loc}", shared().origin)
    }
}

fn now() -> castellan_core::Timestamp {
    castellan_server::state::now()
}

/// Registers an authenticator app for the Fabrikam user through Fabrikam's setup page (after
/// a password sign-in there, which leaves Fabrikam's SSO session in `b`).
async fn register_at_home(b: &Browser, upn: &str) -> castellan_core::policy::totp::Totp {
    let fab = fabrikam().await;
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "client_id",
            &castellan_core::catalog::CONSOLE_APP_ID.to_string(),
        )
        .append_pair("response_type", "code")
        .append_pair(
            "redirect_uri",
            &format!("{}/redeem/callback", shared().origin),
        )
        .append_pair("scope", "openid")
        .append_pair("state", "r")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .finish();
    let login = b
        .get(&format!(
            "{}/{}/oauth2/v2.0/authorize?{q}",
            shared().origin,
            fab.id
        ))
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let r = b
        .submit(&login, &[("username", upn), ("password", PW)])
        .await;
    assert!(matches!(r.status, 302 | 303), "{}: {}", r.status, r.body);
    let page = b
        .get(&format!("{}/{}/mfa/setup", shared().origin, fab.id))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let i = page.body.find("id=\"secret\">").unwrap() + "id=\"secret\">".len();
    let end = page.body[i..].find('<').unwrap() + i;
    let totp = castellan_core::policy::totp::Totp::from_base32(&page.body[i..end]).unwrap();
    let done = b.submit(&page, &[("code", &totp.code(now()))]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    totp
}

/// At the home tenant's sign-in (a page, or straight back through its SSO session): the
/// password and, when asked, the home MFA; returns the answer at `/redeem/callback`.
async fn home_sign_in(
    b: &Browser,
    to_home: &str,
    upn: &str,
    totp: &castellan_core::policy::totp::Totp,
) -> Page {
    let mut page = b.get(&abs(to_home)).await;
    for _ in 0..4 {
        if let Some(loc) = page.location.clone() {
            if loc.contains("/redeem/callback?") {
                return b.get(&abs(&loc)).await;
            }
            page = b.get(&abs(&loc)).await;
            continue;
        }
        if page.body.contains("name=\"otc\"") {
            let code = totp.code_at_step(totp.step(now()) + 1);
            page = b.submit(&page, &[("otc", &code)]).await;
        } else if page.body.contains("name=\"password\"") {
            page = b
                .submit(&page, &[("username", upn), ("password", PW)])
                .await;
        } else {
            panic!("unexpected home page ({}): {}", page.status, page.body);
        }
    }
    panic!(
        "the home sign-in did not come back ({}): {}",
        page.status, page.body
    );
}

/// The resource tenant's sign-in cookie forgotten (a new visit to its sign-in page), the home
/// tenant's kept (its session remembers the home MFA).
fn forget_resource_session(b: &Browser) {
    let tid = shared().demo["tenant_id"]
        .as_str()
        .unwrap()
        .replace('-', "");
    b.forget(&format!("castellan_sso_{tid}"));
}

/// The guest's sign-in to the demo web app; the page the browser ends on, or the app's URL.
async fn guest_attempt(
    b: &Browser,
    upn: &str,
    totp: &castellan_core::policy::totp::Totp,
) -> Result<String, Page> {
    forget_resource_session(b);
    let cc = &shared().demo["confidential_client"];
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", cc["app_id"].as_str().unwrap())
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", cc["redirect_uri"].as_str().unwrap())
        .append_pair("scope", "openid profile offline_access User.Read")
        .append_pair("state", "x")
        .append_pair("nonce", "n")
        .finish();
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let login = b
        .get(&format!(
            "{}/{tid}/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let hrd = b
        .submit(&login, &[("username", upn), ("password", "unused")])
        .await;
    assert_eq!(hrd.status, 303, "{}", hrd.body);
    let back = home_sign_in(b, hrd.location.as_deref().unwrap(), upn, totp).await;
    match back.location.clone() {
        Some(l) if l.starts_with(cc["redirect_uri"].as_str().unwrap()) => Ok(l),
        _ => Err(back),
    }
}

async fn set_partner(g: &G, fab: &str, body: Value) {
    let (st, _) = g.get(&format!("{BASE}/partners/{fab}")).await;
    let (st, v) = if st == 404 {
        let mut b = body;
        b["tenantId"] = json!(fab);
        g.post(&format!("{BASE}/partners"), b).await
    } else {
        g.patch(&format!("{BASE}/partners/{fab}"), body).await
    };
    assert!(st == 201 || st == 204, "{st}: {v}");
}

fn block(user: &str) -> Value {
    json!({"usersAndGroups": {"accessType": "blocked", "targets": [{"target": user, "targetType": "user"}]}})
}

/// The first sign-in record of `user` with error `code` whose details contain `details`.
async fn logged(g: &G, user: &str, code: u32, details: &str) -> Value {
    for _ in 0..50 {
        let logs = g
            .all(&format!("/auditLogs/signIns?$filter=userId eq '{user}'"))
            .await;
        if let Some(l) = logs.into_iter().find(|l| {
            l["status"]["errorCode"] == code
                && l["status"]["additionalDetails"]
                    .as_str()
                    .unwrap_or("")
                    .contains(details)
        }) {
            return l;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no sign-in of {user} with error {code} in the log");
}

/// The tests that change the demo tenant's partner setting for Fabrikam take turns.
static FABRIKAM_PARTNER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_guest_is_blocked_by_either_tenant_and_its_home_mfa_is_trusted_only_when_accepted() {
    let _turn = FABRIKAM_PARTNER.lock().await;
    let g = G::demo().await;
    let fab = fabrikam().await;
    let fab_id = fab.id.to_string();
    let (upn, home_id) = home_user().await;
    let b = Browser::new();
    let totp = register_at_home(&b, &upn).await;
    let home_mfa = mfa_policy_at(&fab, &home_id.to_string()).await;

    // The partner setting blocks this user (only): the redemption through the home tenant is
    // refused with 500213 after the home sign-in, and the guest stays pending.
    set_partner(
        &g,
        &fab_id,
        json!({"b2bCollaborationInbound": block(&home_id.to_string())}),
    )
    .await;
    let (st, inv) = g
        .post("/invitations", json!({"invitedUserEmailAddress": upn, "inviteRedirectUrl": "https://app.example/welcome"}))
        .await;
    assert_eq!(st, 201, "{inv}");
    let url = inv["inviteRedeemUrl"].as_str().unwrap().to_string();
    let guest = inv["invitedUser"]["id"].as_str().unwrap().to_string();
    let redeem = |b: Browser| {
        let url = url.clone();
        let upn = upn.clone();
        let totp = totp.clone();
        async move {
            let landing = b.get(&url).await;
            assert_eq!(landing.status, 200, "{}", landing.body);
            let start = b.submit(&landing, &[]).await;
            assert_eq!(start.status, 303, "{}", start.body);
            home_sign_in(&b, start.location.as_deref().unwrap(), &upn, &totp).await
        }
    };
    let refused = redeem(b.clone()).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("AADSTS500213"), "{}", refused.body);
    let (_, u) = g.get(&format!("/users/{guest}")).await;
    assert_eq!(
        u["externalUserState"], "PendingAcceptance",
        "nothing changed"
    );
    let l = logged(&g, &guest, 500213, &fab_id).await;
    assert_eq!(l["appDisplayName"], "Invitation redemption", "{l}");

    // Positive control: another user blocked, this one redeems (its home MFA done).
    set_partner(&g, &fab_id, json!({"b2bCollaborationInbound": block(&uuid::Uuid::new_v4().to_string()), "inboundTrust": {"isMfaAccepted": false}})).await;
    let consent = redeem(b.clone()).await;
    assert!(
        consent.body.contains("Review permissions"),
        "{}",
        consent.body
    );
    let done = b.submit(&consent, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, u) = g.get(&format!("/users/{guest}")).await;
    assert_eq!(u["externalUserState"], "Accepted", "{u}");

    // The resource tenant requires MFA of the guest. Not trusted: it asks for its own (the
    // guest has no authenticator app here: the registration interrupt).
    let resource = {
        let id =
            castellan_core::TenantId::parse(shared().demo["tenant_id"].as_str().unwrap()).unwrap();
        shared().state.store.tenant(id).await.unwrap().unwrap()
    };
    let here_mfa = mfa_policy_at(&resource, &guest).await;
    let page = guest_attempt(&b, &upn, &totp).await.unwrap_err();
    assert!(
        page.body.contains("mfa/setup"),
        "the resource tenant asks for its own MFA: {}",
        page.body
    );

    // Trusted: the home MFA satisfies it, no prompt; the tokens say mfa.
    set_partner(
        &g,
        &fab_id,
        json!({"inboundTrust": {"isMfaAccepted": true}}),
    )
    .await;
    let to_app = guest_attempt(&b, &upn, &totp)
        .await
        .unwrap_or_else(|p| panic!("({}) {}", p.status, p.body));
    let code = url::Url::parse(&to_app)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let cc = &shared().demo["confidential_client"];
    let (st, t) = crate::token_form(&[
        ("grant_type", "authorization_code"),
        ("client_id", cc["app_id"].as_str().unwrap()),
        ("client_secret", cc["secret"].as_str().unwrap()),
        ("code", &code),
        ("redirect_uri", cc["redirect_uri"].as_str().unwrap()),
        ("scope", "openid profile offline_access User.Read"),
    ])
    .await;
    assert_eq!(st, 200, "{t}");
    let refresh = |rt: String| async move {
        crate::token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", cc["app_id"].as_str().unwrap()),
            ("client_secret", cc["secret"].as_str().unwrap()),
            ("refresh_token", &rt),
            ("scope", "User.Read"),
        ])
        .await
    };
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    let (st, r1) = refresh(rt.clone()).await;
    assert_eq!(st, 200, "a refresh works while allowed: {r1}");
    let rt = r1["refresh_token"].as_str().unwrap_or(&rt).to_string();
    let claims = |jwt: &str| -> Value {
        use base64::Engine;
        let p = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    };
    let id_token = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id_token["oid"], guest.as_str());
    assert!(
        id_token["amr"].as_array().unwrap().contains(&json!("mfa")),
        "{id_token}"
    );
    // The resource tenant's session started by that sign-in remembers the trusted MFA: a
    // sign-in through it (no home detour) is not asked again.
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", cc["app_id"].as_str().unwrap())
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", cc["redirect_uri"].as_str().unwrap())
        .append_pair("scope", "openid profile User.Read")
        .finish();
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let sso = b
        .get(&format!(
            "{}/{tid}/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    assert!(
        sso.location.as_deref().is_some_and(|l| l
            .starts_with(cc["redirect_uri"].as_str().unwrap())
            && l.contains("code=")),
        "({}) {:?} {}",
        sso.status,
        sso.location,
        sso.body
    );
    let ok = logged(&g, &guest, 0, "authorize").await;
    assert_eq!(ok["homeTenantId"], fab_id.as_str(), "{ok}");

    // The home tenant's outbound setting for the resource tenant blocks the user: 500212.
    let own = resource.id.to_string();
    let mut ent = castellan_server::crypto::OsEntropy;
    let outbound = castellan_wire::graph::cross_tenant::parse_partner(&json!({
        "tenantId": own, "b2bCollaborationOutbound": block(&home_id.to_string()),
    }))
    .unwrap();
    let doc = castellan_wire::graph::cross_tenant::render_partner(&outbound).to_string();
    castellan_core::ops::cross_tenant::create_partner(&mut env(&mut ent), &fab, &outbound, doc)
        .await
        .unwrap();
    let page = guest_attempt(&b, &upn, &totp).await.unwrap_err();
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("AADSTS500212"), "{}", page.body);
    castellan_core::ops::cross_tenant::delete_partner(&mut env(&mut ent), &fab, resource.id)
        .await
        .unwrap();

    // The resource tenant's partner setting blocks the user: 500213 on the page and in the
    // log, with the home tenant.
    set_partner(
        &g,
        &fab_id,
        json!({"b2bCollaborationInbound": block(&home_id.to_string())}),
    )
    .await;
    let page = guest_attempt(&b, &upn, &totp).await.unwrap_err();
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(page.aadsts(), Some(500213), "{}", page.body);
    assert!(
        page.body.contains("cross-tenant access policy"),
        "{}",
        page.body
    );
    // ...and the refresh token of the earlier sign-in is refused too.
    let (st, r2) = refresh(rt.clone()).await;
    assert_eq!(st, 400, "{r2}");
    assert_eq!(r2["error_codes"], json!([500213]), "{r2}");
    let l = logged(&g, &guest, 500213, "authorize").await;
    assert_eq!(l["homeTenantId"], fab_id.as_str(), "{l}");
    assert_eq!(l["crossTenantAccessType"], "b2bCollaboration", "{l}");
    // ...also when the browser still holds the resource tenant's session (no home detour).
    set_partner(
        &g,
        &fab_id,
        json!({"b2bCollaborationInbound": block(&uuid::Uuid::new_v4().to_string())}),
    )
    .await;
    assert!(guest_attempt(&b, &upn, &totp).await.is_ok());
    set_partner(
        &g,
        &fab_id,
        json!({"b2bCollaborationInbound": block(&home_id.to_string())}),
    )
    .await;
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", cc["app_id"].as_str().unwrap())
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", cc["redirect_uri"].as_str().unwrap())
        .append_pair("scope", "openid profile User.Read")
        .finish();
    let sso = b
        .get(&format!(
            "{}/{own}/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    assert_eq!(sso.aadsts(), Some(500213), "({}) {}", sso.status, sso.body);

    let (st, _) = g.delete(&format!("{BASE}/partners/{fab_id}")).await;
    assert_eq!(st, 204);
    drop_policy_at(&resource, here_mfa).await;
    drop_policy_at(&fab, home_mfa).await;
}

/// A device registered in the home tenant (Fabrikam), with the ES256 key that proves it.
struct HomeDevice {
    key: aws_lc_rs::signature::EcdsaKeyPair,
    device_id: uuid::Uuid,
}

impl HomeDevice {
    async fn register(compliant: bool) -> Self {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let fab = fabrikam().await;
        let device_id = uuid::Uuid::new_v4();
        let d = castellan_core::model::Device {
            id: castellan_core::ObjectId::from_uuid(uuid::Uuid::new_v4()),
            tenant_id: fab.id,
            device_id,
            display_name: alias("HOME-PC-"),
            operating_system: castellan_core::model::DeviceOs::Windows,
            operating_system_version: "10.0.22631".into(),
            trust_type: castellan_core::model::DeviceTrustType::AzureAd,
            is_compliant: compliant,
            is_managed: true,
            account_enabled: true,
            public_key: Some(castellan_core::model::p256_spki(key.public_key().as_ref())),
            created: now(),
            last_sign_in: None,
        };
        let mut set = castellan_core::store::ChangeSet::new();
        set.push(castellan_core::store::Change::InsertDevice(d));
        shared().state.store.commit(set).await.unwrap();
        Self { key, device_id }
    }

    /// A fresh assertion for the home tenant's sign-in.
    fn assertion(&self) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let fab = shared().demo["second_tenant"]["tenant_id"]
            .as_str()
            .unwrap();
        let id = self.device_id.to_string();
        let t = now().secs();
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": id});
        let claims = json!({"iss": id, "sub": id, "aud": format!("{}/{fab}/v2.0", shared().origin),
            "iat": t, "exp": t + 120, "jti": uuid::Uuid::new_v4().to_string()});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// The guest's sign-in to the demo web app in a new browser, the home tenant's password page
/// answered by a client that proves `device` (its assertion header); the app's URL, or the
/// page the browser ends on.
async fn guest_attempt_from(upn: &str, device: Option<&HomeDevice>) -> Result<String, Page> {
    let b = Browser::new();
    let cc = &shared().demo["confidential_client"];
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", cc["app_id"].as_str().unwrap())
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", cc["redirect_uri"].as_str().unwrap())
        .append_pair("scope", "openid profile User.Read")
        .finish();
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    let login = b
        .get(&format!(
            "{}/{tid}/oauth2/v2.0/authorize?{q}",
            shared().origin
        ))
        .await;
    let hrd = b
        .submit(&login, &[("username", upn), ("password", "unused")])
        .await;
    assert_eq!(hrd.status, 303, "{}", hrd.body);
    let home_login = b.get(&abs(hrd.location.as_deref().unwrap())).await;
    assert_eq!(home_login.status, 200, "{}", home_login.body);
    let assertion = device.map(HomeDevice::assertion);
    let headers: Vec<(&str, &str)> = assertion
        .as_deref()
        .map(|a| vec![("x-castellan-device-assertion", a)])
        .unwrap_or_default();
    let back = b
        .submit_with(
            &home_login,
            &[("username", upn), ("password", PW)],
            &headers,
        )
        .await;
    let cb = back
        .location
        .clone()
        .unwrap_or_else(|| panic!("home sign-in ({}): {}", back.status, back.body));
    assert!(cb.contains("/redeem/callback?"), "{cb}");
    let page = b.get(&abs(&cb)).await;
    match page.location.clone() {
        Some(l) if l.starts_with(cc["redirect_uri"].as_str().unwrap()) && l.contains("code=") => {
            Ok(l)
        }
        _ => Err(page),
    }
}

#[tokio::test]
async fn a_guests_compliant_home_device_counts_only_when_the_resource_tenant_trusts_it() {
    let _turn = FABRIKAM_PARTNER.lock().await;
    let g = G::demo().await;
    let fab = fabrikam().await;
    let fab_id = fab.id.to_string();
    let (upn, _home_id) = home_user().await;
    let (st, inv) = g
        .post("/invitations", json!({"invitedUserEmailAddress": upn, "inviteRedirectUrl": "https://app.example/welcome"}))
        .await;
    assert_eq!(st, 201, "{inv}");
    let guest = inv["invitedUser"]["id"].as_str().unwrap().to_string();
    let b = Browser::new();
    let landing = b.get(inv["inviteRedeemUrl"].as_str().unwrap()).await;
    let start = b.submit(&landing, &[]).await;
    let unused =
        castellan_core::policy::totp::Totp::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
            .unwrap();
    let consent = home_sign_in(&b, start.location.as_deref().unwrap(), &upn, &unused).await;
    let done = b.submit(&consent, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);

    let compliant = HomeDevice::register(true).await;
    let plain = HomeDevice::register(false).await;
    let resource = {
        let id =
            castellan_core::TenantId::parse(shared().demo["tenant_id"].as_str().unwrap()).unwrap();
        shared().state.store.tenant(id).await.unwrap().unwrap()
    };
    let policy = policy_at(&resource, &guest, "compliantDevice").await;

    // Not trusted (the default): the home tenant's compliant device is unknown here: 53000.
    // (Conditional Access refusals go back to the app's redirect URI, as in Entra.)
    let blocked = |p: Page| {
        let at = p.location.clone().unwrap_or_default();
        assert!(
            p.aadsts() == Some(53000) || at.contains("AADSTS53000"),
            "({}) {at} {}",
            p.status,
            p.body
        );
    };
    blocked(
        guest_attempt_from(&upn, Some(&compliant))
            .await
            .unwrap_err(),
    );
    // Trusted: the compliant home device satisfies the resource tenant's policy.
    set_partner(
        &g,
        &fab_id,
        json!({"inboundTrust": {"isCompliantDeviceAccepted": true}}),
    )
    .await;
    guest_attempt_from(&upn, Some(&compliant))
        .await
        .unwrap_or_else(|p| {
            panic!(
                "trusted compliant device refused ({}): {}",
                p.status, p.body
            )
        });
    // Trusted, but the home device is not compliant, or no device was proven: still 53000.
    blocked(guest_attempt_from(&upn, Some(&plain)).await.unwrap_err());
    blocked(guest_attempt_from(&upn, None).await.unwrap_err());

    let (st, _) = g.delete(&format!("{BASE}/partners/{fab_id}")).await;
    assert_eq!(st, 204);
    drop_policy_at(&resource, policy).await;
}

#[tokio::test]
async fn signed_in_the_role_decides_reader_roles_read_and_security_administrators_write() {
    let g = G::demo().await;
    let (me, my_id) =
        crate::security::member_with(&["Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"])
            .await;
    let other = random_tenant();
    let assign = |role: &'static str| {
        let g = &g;
        let my_id = my_id.clone();
        async move {
            let (st, v) = g
                .post(
                    "/roleManagement/directory/roleAssignments",
                    json!({"principalId": my_id, "roleDefinitionId": role, "directoryScopeId": "/"}),
                )
                .await;
            assert_eq!(st, 201, "{v}");
        }
    };
    // A member with the scopes but no role: neither reads nor writes.
    let (st, e) = me.get(&format!("{BASE}/default")).await;
    assert_eq!(st, 403, "{e}");
    // User Administrator holds `policies/standard/read` but no cross-tenant read: still refused.
    assign("fe930be7-5e62-47db-91af-98c3a49a38b1").await;
    let (st, e) = me.get(&format!("{BASE}/default")).await;
    assert_eq!(st, 403, "{e}");
    // Security Reader reads (Microsoft lists it for GET crossTenantAccessPolicy), does not write.
    assign("5d6b6bb7-de71-4623-b4af-96380a352509").await;
    let (st, v) = me.get(&format!("{BASE}/default")).await;
    assert_eq!(st, 200, "{v}");
    let (st, e) = me
        .post(&format!("{BASE}/partners"), json!({"tenantId": other}))
        .await;
    assert_eq!(st, 403, "{e}");
    // Global Reader reads, does not write.
    assign("f2ef992c-3afb-46b9-b7cf-a126ee74c451").await;
    let (st, v) = me.get(&format!("{BASE}/default")).await;
    assert_eq!(st, 200, "{v}");
    let (st, e) = me
        .post(&format!("{BASE}/partners"), json!({"tenantId": other}))
        .await;
    assert_eq!(st, 403, "{e}");
    assert_eq!(g.get(&format!("{BASE}/partners/{other}")).await.0, 404);
    // Security Administrator writes.
    assign("194ae4cb-b126-40b2-bd5b-6091b380977d").await;
    let (st, v) = me
        .post(&format!("{BASE}/partners"), json!({"tenantId": other}))
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = me.delete(&format!("{BASE}/partners/{other}")).await;
    assert_eq!(st, 204);
}
