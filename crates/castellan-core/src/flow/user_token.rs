//! Issuing tokens for a signed-in user (every delegated grant ends here): the consent check —
//! a delegated permission is usable only if a grant covers it for this client, resource and
//! user (Microsoft identity platform "permissions and consent") — then the access token (`scp`,
//! the user's app roles), the ID token when `openid` was asked, and whether a refresh token is due.

use std::collections::BTreeSet;

use crate::error::AadstsError;
use crate::flow::scope::DelegatedScopes;
use crate::flow::{
    AccessTokenClaims, ClientAuthMethod, IdTokenClaims, ACCESS_TOKEN_LIFETIME_SECS,
    ID_TOKEN_LIFETIME_SECS,
};
use crate::model::{
    AppRole, AppRoleAssignment, Application, OAuth2PermissionGrant, PermissionScope,
    ServicePrincipal, Tenant, User,
};
use crate::time::Timestamp;

/// What user-token issuance needs, loaded by the op.
pub struct UserTokenInput<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The client application.
    pub client_app: &'a Application,
    /// The client's service principal here.
    pub client_sp: &'a ServicePrincipal,
    /// How the client authenticated.
    pub auth: ClientAuthMethod,
    /// The signed-in user.
    pub user: &'a User,
    /// The requested scopes.
    pub scopes: &'a DelegatedScopes,
    /// The resource's service principal here.
    pub resource_sp: &'a ServicePrincipal,
    /// The delegated permissions the resource exposes.
    pub resource_scopes: &'a [PermissionScope],
    /// The app roles the resource defines.
    pub resource_roles: &'a [AppRole],
    /// The tenant's delegated grants.
    pub grants: &'a [OAuth2PermissionGrant],
    /// The user's app-role assignments (direct and through groups), as loaded.
    pub user_assignments: &'a [AppRoleAssignment],
    /// Now.
    pub now: Timestamp,
    /// Fresh random token ids (access, id).
    pub uti: (String, String),
    /// The request's nonce, if any.
    pub nonce: Option<String>,
}

/// The tokens to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserTokens {
    /// The access token.
    pub access: AccessTokenClaims,
    /// The ID token, when `openid` was requested.
    pub id: Option<IdTokenClaims>,
    /// The `scope` of the response (granted permissions plus OIDC scopes).
    pub scope: String,
    /// Whether a refresh token is due (`offline_access`).
    pub refresh: bool,
}

/// Decides the user's tokens or the consent/scope error.
pub fn issue(i: &UserTokenInput<'_>) -> Result<UserTokens, AadstsError> {
    let granted: BTreeSet<String> = i
        .grants
        .iter()
        .filter(|g| g.client_id == i.client_sp.id && g.resource_id == i.resource_sp.id)
        .filter(|g| g.consent_type == "AllPrincipals" || g.principal_id == Some(i.user.id))
        .flat_map(|g| {
            g.scope
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let exists = |p: &str| {
        i.resource_scopes
            .iter()
            .find(|s| s.is_enabled && s.value.eq_ignore_ascii_case(p))
            .map(|s| s.value.clone())
    };
    let mut scp = Vec::new();
    if i.scopes.default {
        scp.extend(granted.iter().filter_map(|g| exists(g)));
    } else {
        let mut missing = Vec::new();
        for p in &i.scopes.permissions {
            let Some(canonical) = exists(p) else {
                return Err(AadstsError::invalid_scope(
                    p,
                    &format!(
                        "The resource '{}' has no enabled delegated permission named '{p}'.",
                        i.resource_sp.display_name
                    ),
                ));
            };
            if granted.iter().any(|g| g.eq_ignore_ascii_case(&canonical)) {
                scp.push(canonical);
            } else {
                missing.push(canonical);
            }
        }
        if !missing.is_empty() {
            return Err(AadstsError::consent_required(
                &i.client_app.app_id.to_string(),
                &i.client_app.display_name,
                &missing.join(" "),
            ));
        }
    }
    if scp.is_empty() {
        return Err(AadstsError::consent_required(
            &i.client_app.app_id.to_string(),
            &i.client_app.display_name,
            "any delegated permission on the resource",
        ));
    }
    scp.sort();
    scp.dedup();
    let mut roles: Vec<String> = i
        .user_assignments
        .iter()
        .filter(|a| a.resource_id == i.resource_sp.id)
        .filter_map(|a| i.resource_roles.iter().find(|r| r.id == a.app_role_id))
        .filter(|r| {
            r.is_enabled
                && r.allowed_member_types
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case("User"))
        })
        .map(|r| r.value.clone())
        .collect();
    roles.sort();
    roles.dedup();
    let u = i.user;
    let sub = pairwise_sub(&u.id.to_string(), &i.client_app.app_id.to_string());
    let access = AccessTokenClaims {
        aud: i.resource_sp.app_id.to_string(),
        tid: i.tenant.id,
        iat: i.now,
        nbf: i.now,
        exp: i.now.plus_secs(ACCESS_TOKEN_LIFETIME_SECS),
        azp: i.client_app.app_id.to_string(),
        azpacr: i.auth,
        oid: u.id,
        sub: sub.clone(),
        roles,
        scp: Some(scp.join(" ")),
        name: Some(u.display_name.clone()),
        preferred_username: Some(u.user_principal_name.clone()),
        idtyp: "user",
        uti: i.uti.0.clone(),
    };
    let has = |s: &str| i.scopes.oidc.iter().any(|x| x == s);
    let id = has("openid").then(|| IdTokenClaims {
        aud: i.client_app.app_id.to_string(),
        tid: i.tenant.id,
        iat: i.now,
        nbf: i.now,
        exp: i.now.plus_secs(ID_TOKEN_LIFETIME_SECS),
        oid: u.id,
        sub,
        name: has("profile").then(|| u.display_name.clone()),
        preferred_username: has("profile").then(|| u.user_principal_name.clone()),
        email: has("email").then(|| u.mail.clone()).flatten(),
        nonce: i.nonce.clone(),
        uti: i.uti.1.clone(),
    });
    let mut scope_words = scp;
    scope_words.extend(
        i.scopes
            .oidc
            .iter()
            .filter(|s| *s != "offline_access" || has("offline_access"))
            .cloned(),
    );
    Ok(UserTokens {
        access,
        id,
        scope: scope_words.join(" "),
        refresh: has("offline_access"),
    })
}

/// A stable per-(user, app) subject: pairwise, as Entra's `sub` (hex of SHA-256 over both ids).
pub fn pairwise_sub(user: &str, app: &str) -> String {
    let d = crate::secret::sha256(format!("{user}|{app}").as_bytes());
    d.iter().take(20).map(|b| format!("{b:02x}")).collect()
}
