//! `grant_type=client_credentials` (RFC 6749 §4.4; Microsoft identity platform "OAuth 2.0 client
//! credentials flow"): authenticate the client, then issue an app-only token whose `roles` are
//! the application permissions granted to the client's service principal on the resource.

use crate::error::AadstsError;
use crate::flow::{AccessTokenClaims, ClientAuthMethod, ACCESS_TOKEN_LIFETIME_SECS};
use crate::model::{AppRole, AppRoleAssignment, Application, ServicePrincipal, Tenant};
use crate::secret::SecretText;
use crate::time::Timestamp;

/// Checks a presented client secret against the application's password credentials: a match on
/// a current credential passes; a match only on an expired one is 7000222; anything else 7000215.
/// Every credential is compared (in constant time) so timing does not tell which one matched.
pub fn authenticate_secret(app: &Application, secret: &SecretText, now: Timestamp) -> Result<(), AadstsError> {
    let mut current = false;
    let mut expired_key = None;
    for cred in &app.password_credentials {
        if secret.matches_sha256(&cred.secret_sha256) {
            if cred.start <= now && now < cred.end {
                current = true;
            } else if now >= cred.end {
                expired_key = Some(cred.key_id);
            }
        }
    }
    if current {
        return Ok(());
    }
    let client_id = app.app_id.to_string();
    match expired_key {
        Some(k) => Err(AadstsError::expired_client_secret(&client_id, &k.to_string())),
        None => Err(AadstsError::invalid_client_secret(&client_id)),
    }
}

/// Everything the decision needs, loaded by the op.
pub struct ClientCredentialsInput<'a> {
    /// The tenant issuing the token.
    pub tenant: &'a Tenant,
    /// The client's application object.
    pub client_app: &'a Application,
    /// The client's service principal in this tenant.
    pub client_sp: &'a ServicePrincipal,
    /// How the client authenticated (already checked).
    pub auth: ClientAuthMethod,
    /// The resource's service principal in this tenant.
    pub resource_sp: &'a ServicePrincipal,
    /// The resource's app roles.
    pub resource_roles: &'a [AppRole],
    /// The client service principal's app-role assignments.
    pub assignments: &'a [AppRoleAssignment],
    /// Now.
    pub now: Timestamp,
    /// A fresh random token id (`uti`).
    pub uti: String,
}

/// Decides the app-only token.
pub fn issue(input: &ClientCredentialsInput<'_>) -> Result<AccessTokenClaims, AadstsError> {
    if !input.client_sp.account_enabled {
        return Err(AadstsError::client_disabled(&input.client_app.app_id.to_string()));
    }
    let mut roles: Vec<String> = input
        .assignments
        .iter()
        .filter(|a| a.resource_id == input.resource_sp.id && a.principal_id == input.client_sp.id)
        .filter_map(|a| input.resource_roles.iter().find(|r| r.id == a.app_role_id))
        .filter(|r| r.is_enabled && r.allows_applications())
        .map(|r| r.value.clone())
        .collect();
    roles.sort();
    roles.dedup();
    Ok(AccessTokenClaims {
        aud: input.resource_sp.app_id.to_string(),
        tid: input.tenant.id,
        iat: input.now,
        nbf: input.now,
        exp: input.now.plus_secs(ACCESS_TOKEN_LIFETIME_SECS),
        azp: input.client_app.app_id.to_string(),
        azpacr: input.auth,
        oid: input.client_sp.id,
        sub: input.client_sp.id.to_string(),
        roles,
        idtyp: "app",
        uti: input.uti.clone(),
    })
}
