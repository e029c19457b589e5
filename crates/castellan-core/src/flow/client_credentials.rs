//! `grant_type=client_credentials` (RFC 6749 §4.4; Microsoft identity platform "OAuth 2.0 client
//! credentials flow"): authenticate the client, then issue an app-only token whose `roles` are
//! the application permissions granted to the client's service principal on the resource.

use crate::error::AadstsError;
use crate::flow::{AccessTokenClaims, ClientAuthMethod, GroupsClaim};
use crate::model::{AppRole, AppRoleAssignment, Application, ServicePrincipal, Tenant};
use crate::secret::SecretText;
use crate::time::Timestamp;
use crate::AppId;

/// Checks a presented client secret against the application's password credentials: a match on
/// a current credential passes; a match only on an expired one is 7000222; anything else 7000215.
/// Every credential is compared (in constant time) so timing does not tell which one matched.
pub fn authenticate_secret(
    app: &Application,
    secret: &SecretText,
    now: Timestamp,
) -> Result<(), AadstsError> {
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
        Some(k) => Err(AadstsError::expired_client_secret(
            &client_id,
            &k.to_string(),
        )),
        None => Err(AadstsError::invalid_client_secret(&client_id)),
    }
}

/// Everything the decision needs, loaded by the op.
pub struct ClientCredentialsInput<'a> {
    /// The tenant issuing the token.
    pub tenant: &'a Tenant,
    /// The client's appId (an application's, or a managed identity's client id).
    pub client_app_id: AppId,
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
        return Err(AadstsError::client_disabled(
            &input.client_app_id.to_string(),
        ));
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
        exp: input
            .now
            .plus_secs(input.tenant.settings.access_token_lifetime_secs),
        azp: input.client_app_id.to_string(),
        azpacr: input.auth,
        oid: input.client_sp.id,
        sub: input.client_sp.id.to_string(),
        roles,
        scp: None,
        name: None,
        preferred_username: None,
        idtyp: "app",
        uti: input.uti.clone(),
        format: crate::flow::TokenFormat::V2,
        wids: vec![],
        groups: GroupsClaim::Absent,
        extra: vec![],
        amr: vec![],
    })
}

/// Authenticates a client. `assertion_verified`: the server already verified a client assertion
/// (against the application's certificates, or an external issuer's keys and the application's
/// federated identity credentials). `public_ok`: the flow may run without a credential
/// (SPA / native redirect, public-client refresh, device flow on a public client).
pub fn authenticate_client(
    app: &Application,
    secret: Option<&SecretText>,
    assertion_verified: Option<crate::flow::VerifiedAssertion>,
    public_ok: bool,
    now: Timestamp,
) -> Result<ClientAuthMethod, AadstsError> {
    match (secret, assertion_verified) {
        (Some(_), Some(_)) => Err(AadstsError::malformed(
            "Send either client_secret or client_assertion, not both.",
        )),
        (Some(s), None) => {
            authenticate_secret(app, s, now)?;
            Ok(ClientAuthMethod::Secret)
        }
        (None, Some(a)) => Ok(a.method()),
        (None, None) if public_ok => Ok(ClientAuthMethod::None),
        (None, None) => Err(AadstsError::missing_client_credential()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AppRole, LicenseTier, ObjectKind, PasswordCredential, ServicePrincipalType, SignInAudience,
        TenantSettings,
    };
    use crate::{AppId, ObjectId, TenantId};

    const NOW: Timestamp = Timestamp::from_secs(1_000_000);

    fn app(creds: Vec<PasswordCredential>) -> Application {
        Application {
            id: ObjectId::from_random([1; 16]),
            app_id: AppId::from_random([2; 16]),
            tenant_id: TenantId::from_random([3; 16]),
            display_name: "a".into(),
            sign_in_audience: SignInAudience::AzureAdMyOrg,
            identifier_uris: vec![],
            web_redirect_uris: vec![],
            spa_redirect_uris: vec![],
            public_client_redirect_uris: vec![],
            is_fallback_public_client: false,
            required_resource_access: vec![],
            oauth2_permission_scopes: vec![],
            app_roles: vec![],
            password_credentials: creds,
            key_credentials: vec![],
            requested_access_token_version: None,
            group_membership_claims: None,
            optional_claims: vec![],
            federated_identity_credentials: vec![],
            created: Timestamp(0),
        }
    }
    fn cred(secret: &str, start: i64, end: i64, k: u8) -> PasswordCredential {
        let s = SecretText::new(secret);
        PasswordCredential {
            key_id: uuid::Uuid::from_bytes([k; 16]),
            display_name: None,
            hint: s.hint(),
            secret_sha256: s.sha256(),
            start: Timestamp::from_secs(start),
            end: Timestamp::from_secs(end),
        }
    }
    fn code(r: Result<(), AadstsError>) -> u32 {
        r.err().map_or(0, |e| e.code)
    }

    #[test]
    fn secret_checks() {
        let a = app(vec![
            cred("current", 0, 2_000_000, 1),
            cred("old", 0, 999_999, 2),
            cred("future", 1_500_000, 2_000_000, 3),
        ]);
        assert_eq!(
            code(authenticate_secret(&a, &SecretText::new("current"), NOW)),
            0
        );
        assert_eq!(
            code(authenticate_secret(&a, &SecretText::new("old"), NOW)),
            7000222
        );
        assert_eq!(
            code(authenticate_secret(&a, &SecretText::new("future"), NOW)),
            7000215
        );
        assert_eq!(
            code(authenticate_secret(&a, &SecretText::new("nope"), NOW)),
            7000215
        );
        assert_eq!(
            code(authenticate_secret(&a, &SecretText::new("Current"), NOW)),
            7000215
        );
        assert_eq!(
            code(authenticate_secret(
                &app(vec![]),
                &SecretText::new("x"),
                NOW
            )),
            7000215
        );
        // Boundary: the end instant itself is expired.
        let b = app(vec![cred("edge", 0, 1_000_000, 1)]);
        assert_eq!(
            code(authenticate_secret(&b, &SecretText::new("edge"), NOW)),
            7000222
        );
    }

    #[test]
    fn roles_are_the_enabled_application_roles_assigned_on_this_resource() {
        let tenant = Tenant {
            id: TenantId::from_random([9; 16]),
            display_name: "t".into(),
            domains: vec![],
            license: LicenseTier::Free,
            settings: TenantSettings::default(),
            created: Timestamp(0),
        };
        let a = app(vec![]);
        let sp = |n: u8, app_id: AppId| ServicePrincipal {
            id: ObjectId::from_random([n; 16]),
            tenant_id: tenant.id,
            app_id,
            app_owner_tenant_id: None,
            display_name: "sp".into(),
            service_principal_type: ServicePrincipalType::Application,
            service_principal_names: vec![],
            alternative_names: vec![],
            app_role_assignment_required: false,
            account_enabled: true,
            created: Timestamp(0),
            saml: Default::default(),
        };
        let client = sp(10, a.app_id);
        let resource = sp(11, AppId::from_random([12; 16]));
        let other_resource = sp(13, AppId::from_random([14; 16]));
        let role = |n: u8, v: &str, types: &[&str], enabled: bool| AppRole {
            id: uuid::Uuid::from_bytes([n; 16]),
            value: v.into(),
            display_name: v.into(),
            description: v.into(),
            allowed_member_types: types.iter().map(|s| (*s).to_string()).collect(),
            is_enabled: enabled,
        };
        let roles = vec![
            role(1, "Read", &["Application"], true),
            role(2, "Write", &["Application", "User"], true),
            role(3, "Off", &["Application"], false),
            role(4, "UserOnly", &["User"], true),
        ];
        let assign = |n: u8, r: u8, res: ObjectId| AppRoleAssignment {
            id: ObjectId::from_random([n; 16]),
            tenant_id: tenant.id,
            principal_id: client.id,
            principal_type: ObjectKind::ServicePrincipal,
            resource_id: res,
            app_role_id: uuid::Uuid::from_bytes([r; 16]),
            created: Timestamp(0),
        };
        let assignments = vec![
            assign(20, 2, resource.id),
            assign(21, 1, resource.id),
            assign(22, 3, resource.id),
            assign(23, 4, resource.id),
            assign(24, 1, other_resource.id),
            assign(25, 99, resource.id),
        ];
        let input = ClientCredentialsInput {
            tenant: &tenant,
            client_app_id: a.app_id,
            client_sp: &client,
            auth: ClientAuthMethod::Secret,
            resource_sp: &resource,
            resource_roles: &roles,
            assignments: &assignments,
            now: NOW,
            uti: "u".into(),
        };
        let c = issue(&input).unwrap();
        assert_eq!(c.roles, vec!["Read".to_string(), "Write".to_string()]);
        assert_eq!(c.aud, resource.app_id.to_string());
        assert_eq!(c.oid, client.id);
        assert_eq!(c.exp, NOW.plus_secs(3599));
        assert_eq!(c.idtyp, "app");
        let mut disabled = client.clone();
        disabled.account_enabled = false;
        let input = ClientCredentialsInput {
            client_sp: &disabled,
            ..input
        };
        assert_eq!(issue(&input).err().map(|e| e.code), Some(7000112));
    }
}
