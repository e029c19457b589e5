//! The console's App registration and Enterprise application blades, PIM on the role blade
//! and "My roles", and the External identities blade (`server::console::{apps, pim,
//! external}`): every form a Graph call as the signed-in administrator, so Graph's rules
//! decide — an Application Administrator edits registrations, a User Administrator is refused
//! and nothing changes; bad input gets a clear error and changes nothing.

use serde_json::{json, Value};

use crate::console::{abs, console_as, csrf, new_user, post};
use crate::security::mfa_guessing::{Browser, Page};
use crate::security::role;
use crate::{alias, G};

const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
const USER_READ: &str = "e1fe6dd8-ba31-4d61-89e7-88639da4683d";
const USER_READ_ALL_ROLE: &str = "df021288-bdef-4463-88db-98f22de89214";

async fn get(b: &Browser, path: &str) -> Page {
    b.get(&abs(path)).await
}

/// Registers an application through the console; returns its blade's path and object id.
async fn register(b: &Browser, token: &str, name: &str) -> (String, String) {
    let r = post(
        b,
        "/admin/app-registrations",
        &[
            ("csrf", token),
            ("displayName", name),
            ("signInAudience", "AzureADMyOrg"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.location.clone().unwrap();
    let id = path.rsplit('/').next().unwrap().to_string();
    (path, id)
}

async fn app(id: &str) -> Value {
    let (st, v) = G::demo().await.get(&format!("/applications/{id}")).await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn sp_of(app_id: &str) -> Value {
    let sps = G::demo()
        .await
        .all(&format!("/servicePrincipals?$filter=appId eq '{app_id}'"))
        .await;
    assert_eq!(sps.len(), 1, "{sps:?}");
    sps[0].clone()
}

fn uris(v: &Value, platform: &str) -> Vec<String> {
    v[platform]["redirectUris"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_application_administrator_edits_redirect_uris_a_user_administrator_cannot() {
    let (b, _) = console_as(role::APPLICATION_ADMIN).await;
    let home = get(&b, "/admin/app-registrations").await;
    let token = csrf(&home);
    let (path, id) = register(&b, &token, &alias("capp")).await;
    // Positive control: the Application Administrator adds a SPA redirect URI.
    let add = post(
        &b,
        &format!("{path}/redirects"),
        &[
            ("csrf", &token),
            ("platform", "spa"),
            ("uri", "https://spa.example/cb"),
        ],
    )
    .await;
    assert_eq!(add.status, 303, "{}", add.body);
    assert_eq!(uris(&app(&id).await, "spa"), vec!["https://spa.example/cb"]);
    let blade = get(&b, &path).await;
    assert_eq!(blade.status, 200, "{}", blade.body);
    assert!(
        blade.body.contains("https://spa.example/cb"),
        "{}",
        blade.body
    );
    assert!(blade.body.contains("Single-page application"));
    // Bad input: an unknown platform, a dangerous scheme (Graph's rule) — refused, unchanged.
    for (platform, uri, status) in [
        ("ftp", "https://x.example/cb", 400),
        ("web", "javascript:alert(1)", 400),
        ("web", "", 400),
    ] {
        let r = post(
            &b,
            &format!("{path}/redirects"),
            &[("csrf", &token), ("platform", platform), ("uri", uri)],
        )
        .await;
        assert_eq!(r.status, status, "{platform} {uri}: {}", r.body);
        assert!(
            r.body.contains("The redirect URI was not added"),
            "{}",
            r.body
        );
    }
    let now = app(&id).await;
    assert!(uris(&now, "web").is_empty(), "{now}");
    assert_eq!(uris(&now, "spa").len(), 1);
    // A User Administrator may not change applications: Graph refuses, nothing changes.
    let (ua, _) = console_as(role::USER_ADMIN).await;
    let ua_token = csrf(&get(&ua, "/admin/users").await);
    let refused = post(
        &ua,
        &format!("{path}/redirects"),
        &[
            ("csrf", &ua_token),
            ("platform", "web"),
            ("uri", "https://evil.example/cb"),
        ],
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let removed = post(
        &ua,
        &format!("{path}/redirects/remove"),
        &[("csrf", &ua_token), ("which", "spa https://spa.example/cb")],
    )
    .await;
    assert_eq!(removed.status, 403, "{}", removed.body);
    let now = app(&id).await;
    assert!(uris(&now, "web").is_empty(), "{now}");
    assert_eq!(uris(&now, "spa"), vec!["https://spa.example/cb"]);
    // The Application Administrator removes it; removing it twice is a clear error.
    let rm = post(
        &b,
        &format!("{path}/redirects/remove"),
        &[("csrf", &token), ("which", "spa https://spa.example/cb")],
    )
    .await;
    assert_eq!(rm.status, 303, "{}", rm.body);
    assert!(uris(&app(&id).await, "spa").is_empty());
    let again = post(
        &b,
        &format!("{path}/redirects/remove"),
        &[("csrf", &token), ("which", "spa https://spa.example/cb")],
    )
    .await;
    assert_eq!(again.status, 400, "{}", again.body);
}

#[tokio::test]
async fn add_graph_user_read_grant_admin_consent_and_see_it_on_the_enterprise_app() {
    let (b, _) = console_as(role::GLOBAL_ADMIN).await;
    let token = csrf(&get(&b, "/admin/app-registrations").await);
    let (path, id) = register(&b, &token, &alias("cconsent")).await;
    // The picker lists Graph's published permissions by name.
    let picker = get(&b, &format!("{path}?api={GRAPH}")).await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    assert!(
        picker
            .body
            .contains(&format!("value=\"Scope:{USER_READ}\"")),
        "{}",
        picker.body
    );
    assert!(
        picker.body.contains("Delegated: User.Read<"),
        "{}",
        picker.body
    );
    // A permission Graph does not publish: refused, nothing requested.
    let bogus = post(
        &b,
        &format!("{path}/permissions"),
        &[
            ("csrf", &token),
            ("api", GRAPH),
            ("permission", "Scope:11111111-1111-1111-1111-111111111111"),
        ],
    )
    .await;
    assert_eq!(bogus.status, 400, "{}", bogus.body);
    assert!(bogus.body.contains("does not publish"), "{}", bogus.body);
    assert!(app(&id).await["requiredResourceAccess"]
        .as_array()
        .unwrap()
        .is_empty());
    let add = post(
        &b,
        &format!("{path}/permissions"),
        &[
            ("csrf", &token),
            ("api", GRAPH),
            ("permission", &format!("Scope:{USER_READ}")),
        ],
    )
    .await;
    assert_eq!(add.status, 303, "{}", add.body);
    let x = app(&id).await;
    assert_eq!(
        x["requiredResourceAccess"][0]["resourceAppId"], GRAPH,
        "{x}"
    );
    assert_eq!(
        x["requiredResourceAccess"][0]["resourceAccess"][0]["id"],
        USER_READ
    );
    let blade = get(&b, &path).await;
    assert!(blade.body.contains("User.Read"), "{}", blade.body);
    assert!(blade.body.contains("Not granted"), "{}", blade.body);
    // Add and remove a second one (Mail.Read is requested, then not); removing it twice is
    // a clear error.
    let mail_read = "570282fd-fa5c-430d-a7fd-fc8dc98a9dca";
    let r = post(
        &b,
        &format!("{path}/permissions"),
        &[
            ("csrf", &token),
            ("api", GRAPH),
            ("permission", &format!("Scope:{mail_read}")),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        app(&id).await["requiredResourceAccess"][0]["resourceAccess"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let which = format!("{GRAPH}|Delegated|{mail_read}");
    let r = post(
        &b,
        &format!("{path}/permissions/remove"),
        &[("csrf", &token), ("which", &which)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = post(
        &b,
        &format!("{path}/permissions/remove"),
        &[("csrf", &token), ("which", &which)],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let x = app(&id).await;
    assert_eq!(
        x["requiredResourceAccess"][0]["resourceAccess"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{x}"
    );
    // Grant admin consent: the tenant-wide delegated grant, as Graph would make it.
    let c = post(&b, &format!("{path}/consent"), &[("csrf", &token)]).await;
    assert_eq!(c.status, 303, "{}", c.body);
    let sp = sp_of(x["appId"].as_str().unwrap()).await;
    let sp_id = sp["id"].as_str().unwrap();
    let grants = G::demo()
        .await
        .all(&format!(
            "/oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"
        ))
        .await;
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0]["consentType"], "AllPrincipals");
    assert_eq!(grants[0]["scope"], "User.Read");
    let blade = get(&b, &path).await;
    assert!(
        blade
            .body
            .contains("Admin consent granted for Microsoft Graph"),
        "the flash: {}",
        blade.body
    );
    assert!(blade.body.contains(">Granted<"), "{}", blade.body);
    // The sign-in logs filter by the application (the blade's link).
    let logs = get(
        &b,
        &format!("/admin/sign-ins?appId={}", x["appId"].as_str().unwrap()),
    )
    .await;
    assert_eq!(logs.status, 200, "{}", logs.body);
    assert!(
        logs.body
            .contains(&format!("value=\"{}\"", x["appId"].as_str().unwrap())),
        "{}",
        logs.body
    );
    // Again: idempotent.
    let c2 = post(&b, &format!("{path}/consent"), &[("csrf", &token)]).await;
    assert_eq!(c2.status, 303, "{}", c2.body);
    let grants = G::demo()
        .await
        .all(&format!(
            "/oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"
        ))
        .await;
    assert_eq!(grants.len(), 1, "{grants:?}");
    // The enterprise application shows the grant, says what it is and links back.
    let ent = get(&b, &format!("/admin/enterprise-apps/{sp_id}")).await;
    assert_eq!(ent.status, 200, "{}", ent.body);
    assert!(
        ent.body.contains("Admin consent (all users)"),
        "{}",
        ent.body
    );
    assert!(
        ent.body.contains("this tenant&#39;s instance")
            || ent.body.contains("this tenant's instance"),
        "{}",
        ent.body
    );
    assert!(
        ent.body.contains(&format!("/admin/app-registrations/{id}")),
        "{}",
        ent.body
    );
    assert!(
        ent.body.contains(&format!(
            "/admin/sign-ins?appId={}",
            x["appId"].as_str().unwrap()
        )),
        "{}",
        ent.body
    );
}

#[tokio::test]
async fn graph_application_permissions_need_a_privileged_role_administrator() {
    // An Application Administrator requests User.Read.All (application) and is refused
    // consent for it; a Global Administrator (positive control) grants it.
    let (b, _) = console_as(role::APPLICATION_ADMIN).await;
    let token = csrf(&get(&b, "/admin/app-registrations").await);
    let (path, id) = register(&b, &token, &alias("croles")).await;
    let add = post(
        &b,
        &format!("{path}/permissions"),
        &[
            ("csrf", &token),
            ("api", GRAPH),
            ("permission", &format!("Role:{USER_READ_ALL_ROLE}")),
        ],
    )
    .await;
    assert_eq!(add.status, 303, "{}", add.body);
    let c = post(&b, &format!("{path}/consent"), &[("csrf", &token)]).await;
    assert_eq!(c.status, 403, "{}", c.body);
    let app_id = app(&id).await["appId"].as_str().unwrap().to_string();
    let sp = sp_of(&app_id).await;
    let sp_id = sp["id"].as_str().unwrap().to_string();
    let held = G::demo()
        .await
        .all(&format!("/servicePrincipals/{sp_id}/appRoleAssignments"))
        .await;
    assert!(held.is_empty(), "{held:?}");
    let (ga, _) = console_as(role::GLOBAL_ADMIN).await;
    let ga_token = csrf(&get(&ga, "/admin/app-registrations").await);
    let ok = post(&ga, &format!("{path}/consent"), &[("csrf", &ga_token)]).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let held = G::demo()
        .await
        .all(&format!("/servicePrincipals/{sp_id}/appRoleAssignments"))
        .await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["appRoleId"], USER_READ_ALL_ROLE);
    let ent = get(&ga, &format!("/admin/enterprise-apps/{sp_id}")).await;
    assert!(ent.body.contains("User.Read.All"), "{}", ent.body);
}

#[tokio::test]
async fn secrets_expose_an_api_app_roles_owners_and_federated_credentials() {
    let (b, _) = console_as(role::APPLICATION_ADMIN).await;
    let token = csrf(&get(&b, "/admin/app-registrations").await);
    let (path, id) = register(&b, &token, &alias("cparts")).await;
    // A secret: its value once, its expiry marked.
    let bad = post(
        &b,
        &format!("{path}/secret"),
        &[("csrf", &token), ("displayName", "ci"), ("days", "9999")],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(app(&id).await["passwordCredentials"]
        .as_array()
        .unwrap()
        .is_empty());
    let s = post(
        &b,
        &format!("{path}/secret"),
        &[("csrf", &token), ("displayName", "ci"), ("days", "90")],
    )
    .await;
    assert_eq!(s.status, 303, "{}", s.body);
    let blade = get(&b, &path).await;
    assert!(blade.body.contains("Copy its value now"), "{}", blade.body);
    assert!(blade.body.contains(">Valid<"), "{}", blade.body);
    let again = get(&b, &path).await;
    assert!(!again.body.contains("Copy its value now"), "shown once");
    let key = app(&id).await["passwordCredentials"][0]["keyId"]
        .as_str()
        .unwrap()
        .to_string();
    let rm = post(
        &b,
        &format!("{path}/secret/remove"),
        &[("csrf", &token), ("keyId", &key)],
    )
    .await;
    assert_eq!(rm.status, 303, "{}", rm.body);
    assert!(app(&id).await["passwordCredentials"]
        .as_array()
        .unwrap()
        .is_empty());
    // Expose an API: identifier URI and a scope.
    let x = app(&id).await;
    let uri = format!("api://{}", x["appId"].as_str().unwrap());
    let r = post(
        &b,
        &format!("{path}/identifier-uris"),
        &[("csrf", &token), ("uri", &uri)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let bad_uri = post(
        &b,
        &format!("{path}/identifier-uris"),
        &[("csrf", &token), ("uri", "api://not-mine.example.com")],
    )
    .await;
    assert!(bad_uri.status >= 400, "{}", bad_uri.body);
    let r = post(
        &b,
        &format!("{path}/scopes"),
        &[
            ("csrf", &token),
            ("value", "access_as_user"),
            ("type", "User"),
            ("adminConsentDisplayName", "Access as the user"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let bad_scope = post(
        &b,
        &format!("{path}/scopes"),
        &[
            ("csrf", &token),
            ("value", "two words"),
            ("type", "User"),
            ("adminConsentDisplayName", "x"),
        ],
    )
    .await;
    assert_eq!(bad_scope.status, 400, "{}", bad_scope.body);
    // An app role.
    let r = post(
        &b,
        &format!("{path}/roles"),
        &[
            ("csrf", &token),
            ("displayName", "Readers"),
            ("value", "Data.Read"),
            ("members", "Both"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let x = app(&id).await;
    assert_eq!(x["identifierUris"][0], uri.as_str(), "{x}");
    assert_eq!(
        x["api"]["oauth2PermissionScopes"].as_array().unwrap().len(),
        1,
        "{x}"
    );
    assert_eq!(
        x["api"]["oauth2PermissionScopes"][0]["value"],
        "access_as_user"
    );
    assert_eq!(x["appRoles"][0]["value"], "Data.Read");
    assert_eq!(
        x["appRoles"][0]["allowedMemberTypes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // An owner, added by UPN and removed.
    let (owner_upn, owner_id) = new_user("cown").await;
    let r = post(
        &b,
        &format!("{path}/owners"),
        &[("csrf", &token), ("owner", &owner_upn)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let owners = G::demo()
        .await
        .all(&format!("/applications/{id}/owners"))
        .await;
    assert!(
        owners.iter().any(|o| o["id"] == owner_id.as_str()),
        "{owners:?}"
    );
    let blade = get(&b, &path).await;
    assert!(blade.body.contains(&owner_upn));
    let r = post(
        &b,
        &format!("{path}/owners/remove"),
        &[("csrf", &token), ("owner", &owner_id)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // A federated credential: added, listed, removed; a bad issuer is Graph's clear error.
    let bad_fic = post(
        &b,
        &format!("{path}/federated"),
        &[
            ("csrf", &token),
            ("name", "github-main"),
            ("issuer", "not a url"),
            ("subject", "repo:o/r:ref:refs/heads/main"),
        ],
    )
    .await;
    assert_eq!(bad_fic.status, 400, "{}", bad_fic.body);
    let r = post(
        &b,
        &format!("{path}/federated"),
        &[
            ("csrf", &token),
            ("name", "github-main"),
            ("issuer", "https://token.actions.githubusercontent.com"),
            ("subject", "repo:o/r:ref:refs/heads/main"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let fics = G::demo()
        .await
        .all(&format!("/applications/{id}/federatedIdentityCredentials"))
        .await;
    assert_eq!(fics.len(), 1, "{fics:?}");
    assert_eq!(fics[0]["audiences"][0], "api://AzureADTokenExchange");
    let blade = get(&b, &path).await;
    assert!(blade.body.contains("token.actions.githubusercontent.com"));
    let fid = fics[0]["id"].as_str().unwrap();
    let r = post(
        &b,
        &format!("{path}/federated/remove"),
        &[("csrf", &token), ("fic", fid)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(G::demo()
        .await
        .all(&format!("/applications/{id}/federatedIdentityCredentials"))
        .await
        .is_empty());
}

#[tokio::test]
async fn enterprise_app_assignments_the_required_switch_and_saml_setup() {
    let (b, _) = console_as(role::APPLICATION_ADMIN).await;
    let token = csrf(&get(&b, "/admin/app-registrations").await);
    let (_, id) = register(&b, &token, &alias("cent")).await;
    let x = app(&id).await;
    let sp = sp_of(x["appId"].as_str().unwrap()).await;
    let sp_id = sp["id"].as_str().unwrap().to_string();
    let ent = format!("/admin/enterprise-apps/{sp_id}");
    let (upn, uid) = new_user("cassign").await;
    let r = post(
        &b,
        &format!("{ent}/assign"),
        &[
            ("csrf", &token),
            ("principal", &upn),
            ("appRoleId", "00000000-0000-0000-0000-000000000000"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let assigned = G::demo()
        .await
        .all(&format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"))
        .await;
    assert_eq!(assigned.len(), 1, "{assigned:?}");
    assert_eq!(assigned[0]["principalId"], uid.as_str());
    let page = get(&b, &ent).await;
    assert!(page.body.contains("Default Access"), "{}", page.body);
    // The switch.
    let r = post(
        &b,
        &format!("{ent}/assignment-required"),
        &[("csrf", &token), ("required", "true")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, now) = G::demo()
        .await
        .get(&format!("/servicePrincipals/{sp_id}"))
        .await;
    assert_eq!(now["appRoleAssignmentRequired"], true);
    // A User Administrator may not flip it back (positive control above).
    let (ua, _) = console_as(role::USER_ADMIN).await;
    let ua_token = csrf(&get(&ua, "/admin/users").await);
    let r = post(
        &ua,
        &format!("{ent}/assignment-required"),
        &[("csrf", &ua_token)],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let (_, now) = G::demo()
        .await
        .get(&format!("/servicePrincipals/{sp_id}"))
        .await;
    assert_eq!(now["appRoleAssignmentRequired"], true);
    // Unassign.
    let aid = assigned[0]["id"].as_str().unwrap();
    let r = post(
        &b,
        &format!("{ent}/assign/remove"),
        &[("csrf", &token), ("assignment", aid)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(G::demo()
        .await
        .all(&format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"))
        .await
        .is_empty());
    // No SAML section until the sign-on mode is SAML.
    assert!(!get(&b, &ent).await.body.contains("SAML-based sign-on"));
    let g = G::demo().await;
    let entity = format!("api://{}", x["appId"].as_str().unwrap());
    let (st, v) = g
        .patch(
            &format!("/applications/{id}"),
            json!({"identifierUris": [entity], "web": {"redirectUris": ["https://sp.example/acs"]}}),
        )
        .await;
    assert!(st == 204 || st == 200, "{v}");
    let r = post(
        &b,
        &format!("{ent}/signing-certificate"),
        &[
            ("csrf", &token),
            ("displayName", "CN=console.test"),
            ("years", "2"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (st, v) = g
        .patch(
            &format!("/servicePrincipals/{sp_id}"),
            json!({"preferredSingleSignOnMode": "saml"}),
        )
        .await;
    assert!(st == 204 || st == 200, "{v}");
    let page = get(&b, &ent).await;
    assert!(page.body.contains("SAML-based sign-on"), "{}", page.body);
    assert!(page.body.contains(&entity), "{}", page.body);
    assert!(
        page.body.contains("https://sp.example/acs"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("federationmetadata.xml?appid="),
        "{}",
        page.body
    );
    assert!(page.body.contains("CN=console.test"), "{}", page.body);
    let bad = post(
        &b,
        &format!("{ent}/signing-certificate"),
        &[("csrf", &token), ("displayName", "CN=x"), ("years", "50")],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

/// Reports Reader: no other test activates it or changes its policy.
const REPORTS_READER: &str = "4a5d8f65-41da-4de4-8968-e035b65339cf";

#[tokio::test]
async fn pim_eligibility_from_the_role_blade_and_self_activation_in_my_roles() {
    let g = G::demo().await;
    let (st, v) = g
        .get(&format!("/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{REPORTS_READER}'"))
        .await;
    assert_eq!(st, 200, "{v}");
    let pid = v["value"][0]["policyId"].as_str().unwrap().to_string();
    let (st, v) = g
        .patch(
            &format!("/policies/roleManagementPolicies/{pid}/rules/Enablement_EndUser_Assignment"),
            json!({"id": "Enablement_EndUser_Assignment", "enabledRules": ["Justification"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (b, admin_upn) = console_as(role::GLOBAL_ADMIN).await;
    let home = get(&b, "/admin/roles").await;
    let token = csrf(&home);
    // Make the signed-in administrator eligible for Reports Reader.
    let blade = format!("/admin/roles/{REPORTS_READER}");
    let bad = post(
        &b,
        &format!("{blade}/eligible"),
        &[
            ("csrf", &token),
            ("principal", &admin_upn),
            ("duration", "P9999D"),
            ("justification", "x"),
        ],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let r = post(
        &b,
        &format!("{blade}/eligible"),
        &[
            ("csrf", &token),
            ("principal", &admin_upn),
            ("scope", "/"),
            ("duration", "P30D"),
            ("justification", "console-it"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = get(&b, &blade).await;
    assert!(page.body.contains("Eligible assignments"), "{}", page.body);
    assert!(page.body.contains(&admin_upn), "{}", page.body);
    // My roles lists it (no MFA needed by its policy now) and activates it.
    let mine = get(&b, "/admin/my-roles").await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert!(mine.body.contains("Reports Reader at /"), "{}", mine.body);
    let choice = format!("{REPORTS_READER}|/");
    let no_reason = post(
        &b,
        "/admin/my-roles/activate",
        &[
            ("csrf", &token),
            ("role", &choice),
            ("duration", "PT1H"),
            ("justification", ""),
        ],
    )
    .await;
    assert_eq!(no_reason.status, 400, "{}", no_reason.body);
    let r = post(
        &b,
        "/admin/my-roles/activate",
        &[
            ("csrf", &token),
            ("role", &choice),
            ("duration", "PT1H"),
            ("justification", "console-it"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mine = get(&b, "/admin/my-roles").await;
    assert!(mine.body.contains("Activated"), "{}", mine.body);
    let page = get(&b, &blade).await;
    assert!(
        page.body.contains("Active assignments (time-bound)"),
        "{}",
        page.body
    );
    assert!(page.body.contains(">Activated<"), "{}", page.body);
    // A User Administrator is not offered the form, and is refused when sending it anyway.
    let (ua, ua_upn) = console_as(role::USER_ADMIN).await;
    let ua_page = get(&ua, &blade).await;
    assert!(
        !ua_page.body.contains("id=\"make-eligible\""),
        "{}",
        ua_page.body
    );
    let ua_token = csrf(&get(&ua, "/admin/users").await);
    let r = post(
        &ua,
        &format!("{blade}/eligible"),
        &[
            ("csrf", &ua_token),
            ("principal", &ua_upn),
            ("duration", "P30D"),
            ("justification", "x"),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn global_administrator_activation_names_the_missing_mfa() {
    let (b, admin_upn) = console_as(role::USER_ADMIN).await;
    let g = G::demo().await;
    let me = crate::console::user_by_upn(&admin_upn).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, v) = g
        .post(
            "/roleManagement/directory/roleEligibilityScheduleRequests",
            json!({"action": "adminAssign", "principalId": me, "roleDefinitionId": role::GLOBAL_ADMIN,
                   "directoryScopeId": "/", "justification": "console-it",
                   "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "P30D"}}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let mine = get(&b, "/admin/my-roles").await;
    assert!(
        mine.body.contains("No: sign in again with MFA first"),
        "{}",
        mine.body
    );
    let token = csrf(&mine);
    let r = post(
        &b,
        "/admin/my-roles/activate",
        &[
            ("csrf", &token),
            ("role", &format!("{}|/", role::GLOBAL_ADMIN)),
            ("duration", "PT1H"),
            ("justification", "console-it"),
        ],
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.body.contains("requires multifactor authentication"),
        "{}",
        r.body
    );
    assert!(r.body.contains("sign in again"), "{}", r.body);
}

#[tokio::test]
async fn external_identities_invite_partners_and_identity_providers() {
    let (b, _) = console_as(role::GLOBAL_ADMIN).await;
    let page = get(&b, "/admin/external-identities").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = csrf(&page);
    let email = format!("{}@guest.example", alias("cguest"));
    let r = post(
        &b,
        "/admin/external-identities/invite",
        &[
            ("csrf", &token),
            ("email", &email),
            ("redirect", "https://myapp.example/"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = get(&b, "/admin/external-identities").await;
    assert!(page.body.contains("redemption link"), "{}", page.body);
    let guests = G::demo()
        .await
        .all(&format!("/users?$filter=mail eq '{email}'"))
        .await;
    assert_eq!(guests.len(), 1, "{guests:?}");
    assert_eq!(guests[0]["externalUserState"], "PendingAcceptance");
    // Partners: a bad tenant id changes nothing; a good one is added, then blocked with MFA trust.
    let before = G::demo()
        .await
        .all("/policies/crossTenantAccessPolicy/partners")
        .await
        .len();
    let bad = post(
        &b,
        "/admin/external-identities/partners",
        &[("csrf", &token), ("tenantId", "contoso")],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        G::demo()
            .await
            .all("/policies/crossTenantAccessPolicy/partners")
            .await
            .len(),
        before
    );
    let tid = uuid::Uuid::new_v4().to_string();
    let r = post(
        &b,
        "/admin/external-identities/partners",
        &[("csrf", &token), ("tenantId", &tid)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = post(
        &b,
        "/admin/external-identities/inbound",
        &[
            ("csrf", &token),
            ("target", &tid),
            ("access", "blocked"),
            ("mfa", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (st, p) = G::demo()
        .await
        .get(&format!("/policies/crossTenantAccessPolicy/partners/{tid}"))
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["inboundTrust"]["isMfaAccepted"], true, "{p}");
    assert_eq!(
        p["b2bCollaborationInbound"]["usersAndGroups"]["accessType"], "blocked",
        "{p}"
    );
    let page = get(&b, "/admin/external-identities").await;
    assert!(
        page.body.contains(&format!("Partner {tid}")),
        "{}",
        page.body
    );
    // An identity provider: a bad one is Graph's clear error, a good one listed.
    let domain = format!("{}.example", alias("cidp"));
    let bad = post(
        &b,
        "/admin/external-identities/identity-providers",
        &[
            ("csrf", &token),
            ("displayName", "Fabrikam"),
            ("issuer", "http://op.invalid"),
            ("clientId", "c"),
            ("clientSecret", "s"),
            ("domains", &domain),
        ],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let r = post(
        &b,
        "/admin/external-identities/identity-providers",
        &[
            ("csrf", &token),
            ("displayName", "Fabrikam"),
            ("issuer", "https://op.invalid"),
            ("clientId", "c"),
            ("clientSecret", "s3cret-value"),
            ("domains", &domain),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = get(&b, "/admin/external-identities").await;
    assert!(page.body.contains(&domain), "{}", page.body);
    assert!(!page.body.contains("s3cret-value"));
    // A User Administrator may not change cross-tenant settings.
    let (ua, _) = console_as(role::USER_ADMIN).await;
    let ua_token = csrf(&get(&ua, "/admin/users").await);
    let r = post(
        &ua,
        "/admin/external-identities/inbound",
        &[("csrf", &ua_token), ("target", &tid), ("access", "allowed")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let (_, p) = G::demo()
        .await
        .get(&format!("/policies/crossTenantAccessPolicy/partners/{tid}"))
        .await;
    assert_eq!(
        p["b2bCollaborationInbound"]["usersAndGroups"]["accessType"], "blocked",
        "{p}"
    );
}

#[tokio::test]
async fn every_new_form_refuses_a_forged_csrf_token_and_changes_nothing() {
    let (b, upn) = console_as(role::GLOBAL_ADMIN).await;
    let token = csrf(&get(&b, "/admin/app-registrations").await);
    let (path, id) = register(&b, &token, &alias("ccsrf")).await;
    let x = app(&id).await;
    let sp_id = sp_of(x["appId"].as_str().unwrap()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ent = format!("/admin/enterprise-apps/{sp_id}");
    let tid = uuid::Uuid::new_v4().to_string();
    let routes: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            format!("{path}/redirects"),
            vec![("platform", "web"), ("uri", "https://csrf.example/cb")],
        ),
        (
            format!("{path}/secret"),
            vec![("displayName", "csrf"), ("days", "90")],
        ),
        (
            format!("{path}/permissions"),
            vec![
                ("api", GRAPH),
                ("permission", "Scope:e1fe6dd8-ba31-4d61-89e7-88639da4683d"),
            ],
        ),
        (format!("{path}/consent"), vec![]),
        (
            format!("{path}/scopes"),
            vec![
                ("value", "csrf_scope"),
                ("type", "User"),
                ("adminConsentDisplayName", "x"),
            ],
        ),
        (
            format!("{path}/roles"),
            vec![
                ("displayName", "x"),
                ("value", "Csrf.Role"),
                ("members", "User"),
            ],
        ),
        (format!("{path}/owners"), vec![("owner", &upn)]),
        (
            format!("{ent}/assignment-required"),
            vec![("required", "true")],
        ),
        (
            format!("{ent}/assign"),
            vec![
                ("principal", &upn),
                ("appRoleId", "00000000-0000-0000-0000-000000000000"),
            ],
        ),
        (
            "/admin/external-identities/partners".to_string(),
            vec![("tenantId", &tid)],
        ),
        (
            format!("/admin/roles/{REPORTS_READER}/eligible"),
            vec![
                ("principal", &upn),
                ("duration", "P30D"),
                ("justification", "x"),
            ],
        ),
    ];
    let routes = routes.into_iter().chain(
        [
            format!("{path}/secret/remove"),
            format!("{path}/permissions/remove"),
            format!("{path}/redirects/remove"),
            format!("{path}/identifier-uris"),
            format!("{path}/owners/remove"),
            format!("{path}/federated"),
            format!("{path}/federated/remove"),
            format!("{ent}/assign/remove"),
            format!("{ent}/signing-certificate"),
            "/admin/my-roles/activate".to_string(),
            "/admin/external-identities/invite".to_string(),
            "/admin/external-identities/inbound".to_string(),
            "/admin/external-identities/identity-providers".to_string(),
        ]
        .into_iter()
        .map(|r| (r, vec![])),
    );
    for (route, fields) in routes {
        for bad in ["", "forged"] {
            let mut f: Vec<(&str, &str)> = fields.clone();
            f.push(("csrf", bad));
            let r = post(&b, &route, &f).await;
            assert_eq!(r.status, 403, "{route} with csrf '{bad}': {}", r.body);
        }
    }
    let after = app(&id).await;
    assert_eq!(after["web"], x["web"], "{after}");
    assert_eq!(after["passwordCredentials"], json!([]));
    assert_eq!(after["requiredResourceAccess"], json!([]));
    assert_eq!(after["appRoles"], json!([]));
    let (_, sp) = G::demo()
        .await
        .get(&format!("/servicePrincipals/{sp_id}"))
        .await;
    assert_eq!(sp["appRoleAssignmentRequired"], false);
    let (st, _) = G::demo()
        .await
        .get(&format!("/policies/crossTenantAccessPolicy/partners/{tid}"))
        .await;
    assert_eq!(st, 404);
    // Positive control: the session's token goes through.
    let r = post(
        &b,
        &format!("{ent}/assignment-required"),
        &[("csrf", &token), ("required", "true")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
}
