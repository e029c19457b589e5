//! The security suite (issue 12): one module per class of attack, each with a positive control
//! so that a pass is never vacuous — the same request by a caller who *is* entitled succeeds.

mod cross_tenant_names;
pub(crate) mod mfa_guessing;
mod parser_limits;
mod privilege_escalation;
mod privileged_users;
mod small_mends;

use serde_json::{json, Value};

use crate::{alias, http, shared, G};

/// Role template ids (Microsoft's), for the suites.
pub mod role {
    pub const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
    pub const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
    pub const HELPDESK_ADMIN: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
    pub const AUTHENTICATION_ADMIN: &str = "c4e39bd9-1100-46d3-8c65-fb160da0071f";
    pub const PRIVILEGED_AUTHENTICATION_ADMIN: &str = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13";
    pub const DIRECTORY_WRITERS: &str = "9360feb5-f418-4baa-8175-e2a00bac4301";
    pub const INTUNE_ADMIN: &str = "3a2c62db-5318-420d-8d74-23affee5d9d5";
    pub const APPLICATION_ADMIN: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";
    pub const CLOUD_APPLICATION_ADMIN: &str = "158c047a-c907-4556-b7ef-446551a6b5f7";
    pub const PRIVILEGED_ROLE_ADMIN: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
    pub const GROUPS_ADMIN: &str = "fdd7a751-b60b-444a-984c-02652fe8fa1c";
}

/// Every delegated Graph scope the attack scenarios use: an administrator consented to all of
/// them for all users of the client, so only the user's own rights stand in the way.
pub const BROAD_SCOPES: &[&str] = &[
    "User.ReadWrite.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Group.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "Directory.AccessAsUser.All",
];

/// A new member user (no role) signed in through a public client that an administrator
/// consented to `scopes` for all users: (their Graph client, their object id, their UPN).
pub async fn member_with(scopes: &[&str]) -> (G, String) {
    let g = G::demo().await;
    let (_, app) = g
        .post(
            "/applications",
            json!({"displayName": alias("sec-pub"), "isFallbackPublicClient": true}),
        )
        .await;
    let (_, sp) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    let graph = graph_sp(&g).await;
    let (st, v) = g
        .post(
            "/oauth2PermissionGrants",
            json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph["id"], "scope": scopes.join(" ")}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let u = g.create_user(&alias("secu")).await;
    let s = shared();
    let scope: Vec<String> = scopes
        .iter()
        .map(|p| format!("https://graph.microsoft.com/{p}"))
        .collect();
    let r = http()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            s.origin,
            s.demo["tenant_id"].as_str().unwrap()
        ))
        .form(&[
            ("grant_type", "password"),
            ("client_id", app["appId"].as_str().unwrap()),
            ("username", u["userPrincipalName"].as_str().unwrap()),
            ("password", "Test-Passw0rd!"),
            ("scope", &scope.join(" ")),
        ])
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    (
        G::with_token(
            t["access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("{t}"))
                .into(),
        ),
        u["id"].as_str().unwrap().to_string(),
    )
}

/// Microsoft Graph's service principal in the demo tenant.
pub async fn graph_sp(g: &G) -> Value {
    g.all("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'")
        .await
        .remove(0)
}

/// Assigns a directory role (tenant-wide, or at `scope`) with the demo administrator app.
pub async fn assign_role_at(principal: &str, role: &str, scope: &str) {
    let (st, v) = G::demo()
        .await
        .post(
            "/roleManagement/directory/roleAssignments",
            json!({"principalId": principal, "roleDefinitionId": role, "directoryScopeId": scope}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
}

/// [`assign_role_at`] tenant-wide.
pub async fn assign_role(principal: &str, role: &str) {
    assign_role_at(principal, role, "/").await;
}

/// Asserts a Graph 403 `Authorization_RequestDenied` whose message names `needle`.
#[track_caller]
pub fn assert_denied(st: u16, e: &Value, needle: &str) {
    assert_eq!(st, 403, "{e}");
    assert_eq!(e["error"]["code"], "Authorization_RequestDenied", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(needle),
        "expected the refusal to name '{needle}': {e}"
    );
}
