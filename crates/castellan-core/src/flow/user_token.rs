//! Issuing tokens for a signed-in user (every delegated grant ends here): the consent check —
//! a delegated permission is usable only if a grant covers it for this client, resource and
//! user (Microsoft identity platform "permissions and consent") — then the access token (`scp`,
//! the user's app roles), the ID token when `openid` was asked, and whether a refresh token is due.

use std::collections::BTreeSet;

use crate::error::AadstsError;
use crate::flow::scope::DelegatedScopes;
use crate::flow::GroupsClaim;
use crate::flow::{AccessTokenClaims, ClientAuthMethod, IdTokenClaims, ID_TOKEN_LIFETIME_SECS};
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

impl UserTokens {
    /// Says in the tokens how the user authenticated (`amr`, with `acr`).
    pub fn set_amr(&mut self, authn: &super::Authn) {
        self.access.amr = authn.amr();
        if let Some(id) = self.id.as_mut() {
            id.amr = authn.amr();
        }
    }
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
        exp: i
            .now
            .plus_secs(i.tenant.settings.access_token_lifetime_secs),
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
        format: crate::flow::TokenFormat::V2,
        wids: vec![],
        groups: GroupsClaim::Absent,
        extra: vec![],
        amr: vec!["pwd"],
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
        groups: GroupsClaim::Absent,
        extra: vec![],
        amr: vec!["pwd"],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::scope::parse_delegated;
    use crate::model::{
        LicenseTier, ObjectKind, ServicePrincipalType, SignInAudience, TenantSettings, UserType,
    };
    use crate::{AppId, ObjectId, TenantId};

    struct World {
        tenant: Tenant,
        app: Application,
        client: ServicePrincipal,
        resource: ServicePrincipal,
        user: User,
        other_user: User,
        scopes: Vec<PermissionScope>,
        roles: Vec<AppRole>,
    }

    fn world() -> World {
        let tenant = Tenant {
            id: TenantId::from_random([1; 16]),
            display_name: "t".into(),
            domains: vec![],
            license: LicenseTier::Free,
            settings: TenantSettings::default(),
            created: Timestamp(0),
        };
        let app = Application {
            id: ObjectId::from_random([2; 16]),
            app_id: AppId::from_random([3; 16]),
            tenant_id: tenant.id,
            display_name: "Client".into(),
            sign_in_audience: SignInAudience::AzureAdMyOrg,
            identifier_uris: vec![],
            web_redirect_uris: vec![],
            spa_redirect_uris: vec![],
            public_client_redirect_uris: vec![],
            is_fallback_public_client: true,
            required_resource_access: vec![],
            oauth2_permission_scopes: vec![],
            app_roles: vec![],
            password_credentials: vec![],
            key_credentials: vec![],
            requested_access_token_version: None,
            group_membership_claims: None,
            optional_claims: vec![],
            federated_identity_credentials: vec![],
            created: Timestamp(0),
        };
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
        let user = |n: u8| User {
            id: ObjectId::from_random([n; 16]),
            tenant_id: tenant.id,
            display_name: format!("U{n}"),
            user_principal_name: format!("u{n}@t.test"),
            mail_nickname: None,
            mail: Some(format!("u{n}@mail.test")),
            given_name: None,
            surname: None,
            job_title: None,
            department: None,
            office_location: None,
            company_name: None,
            employee_id: None,
            account_enabled: true,
            user_type: UserType::Member,
            created: Timestamp(0),
            password_hash: None,
            force_change_password_next_sign_in: false,
            manager_id: None,
            other_mails: Vec::new(),
            usage_location: None,
            external: None,
        };
        let scope = |v: &str, enabled: bool| PermissionScope {
            id: uuid::Uuid::from_bytes([v.len() as u8; 16]),
            value: v.into(),
            consent_type: "User".into(),
            is_enabled: enabled,
            admin_consent_display_name: None,
            admin_consent_description: None,
            user_consent_display_name: None,
            user_consent_description: None,
        };
        let role = |n: u8, v: &str, t: &str| AppRole {
            id: uuid::Uuid::from_bytes([n; 16]),
            value: v.into(),
            display_name: v.into(),
            description: v.into(),
            allowed_member_types: vec![t.into()],
            is_enabled: true,
        };
        World {
            client: sp(4, app.app_id),
            resource: sp(5, AppId::from_random([6; 16])),
            app,
            user: user(7),
            other_user: user(8),
            scopes: vec![
                scope("Read", true),
                scope("Write", true),
                scope("Off", false),
            ],
            roles: vec![
                role(9, "Approver", "User"),
                role(10, "Daemon", "Application"),
            ],
            tenant,
        }
    }

    fn grant(
        w: &World,
        consent: &str,
        principal: Option<ObjectId>,
        scope: &str,
    ) -> OAuth2PermissionGrant {
        OAuth2PermissionGrant {
            id: ObjectId::from_random([11; 16]),
            tenant_id: w.tenant.id,
            client_id: w.client.id,
            consent_type: consent.into(),
            principal_id: principal,
            resource_id: w.resource.id,
            scope: scope.into(),
        }
    }

    fn run(
        w: &World,
        user: &User,
        scope: &str,
        grants: &[OAuth2PermissionGrant],
        assignments: &[AppRoleAssignment],
    ) -> Result<UserTokens, AadstsError> {
        let s = parse_delegated(scope)?;
        issue(&UserTokenInput {
            tenant: &w.tenant,
            client_app: &w.app,
            client_sp: &w.client,
            auth: ClientAuthMethod::None,
            user,
            scopes: &s,
            resource_sp: &w.resource,
            resource_scopes: &w.scopes,
            resource_roles: &w.roles,
            grants,
            user_assignments: assignments,
            now: Timestamp::from_secs(1000),
            uti: ("a".into(), "i".into()),
            nonce: Some("n".into()),
        })
    }

    #[test]
    fn consent_decides_which_scopes_a_user_token_carries() {
        let w = world();
        let tenant_wide = [grant(&w, "AllPrincipals", None, "Read")];
        let t = run(
            &w,
            &w.user,
            "api://r/Read openid profile",
            &tenant_wide,
            &[],
        )
        .unwrap();
        assert_eq!(t.access.scp.as_deref(), Some("Read"));
        assert_eq!(t.access.idtyp, "user");
        assert!(!t.refresh);
        let id = t.id.unwrap();
        assert_eq!(id.aud, w.app.app_id.to_string());
        assert_eq!(id.nonce.as_deref(), Some("n"));
        assert_eq!(id.preferred_username.as_deref(), Some("u7@t.test"));
        assert_eq!(id.email, None, "email only with the email scope");
        assert_eq!(id.sub, t.access.sub);
        // Not consented → 65001; unknown or disabled scope → 70011.
        assert_eq!(
            run(&w, &w.user, "api://r/Write", &tenant_wide, &[])
                .err()
                .map(|e| e.code),
            Some(65001)
        );
        assert_eq!(
            run(&w, &w.user, "api://r/Nope", &tenant_wide, &[])
                .err()
                .map(|e| e.code),
            Some(70011)
        );
        assert_eq!(
            run(
                &w,
                &w.user,
                "api://r/Off",
                &[grant(&w, "AllPrincipals", None, "Off")],
                &[]
            )
            .err()
            .map(|e| e.code),
            Some(70011)
        );
        // A per-user grant covers only that user.
        let mine = [grant(&w, "Principal", Some(w.user.id), "Read Write")];
        assert_eq!(
            run(&w, &w.user, "api://r/Write offline_access", &mine, &[])
                .unwrap()
                .access
                .scp
                .as_deref(),
            Some("Write")
        );
        assert!(
            run(&w, &w.user, "api://r/Write offline_access", &mine, &[])
                .unwrap()
                .refresh
        );
        assert_eq!(
            run(&w, &w.other_user, "api://r/Write", &mine, &[])
                .err()
                .map(|e| e.code),
            Some(65001)
        );
        // .default means every consented, enabled scope; nothing consented is 65001.
        assert_eq!(
            run(&w, &w.user, "api://r/.default", &mine, &[])
                .unwrap()
                .access
                .scp
                .as_deref(),
            Some("Read Write")
        );
        assert_eq!(
            run(&w, &w.other_user, "api://r/.default", &mine, &[])
                .err()
                .map(|e| e.code),
            Some(65001)
        );
    }

    #[test]
    fn user_app_roles_go_into_roles_but_application_roles_do_not() {
        let w = world();
        let assign = |role: u8| AppRoleAssignment {
            id: ObjectId::from_random([role; 16]),
            tenant_id: w.tenant.id,
            principal_id: w.user.id,
            principal_type: ObjectKind::User,
            resource_id: w.resource.id,
            app_role_id: uuid::Uuid::from_bytes([role; 16]),
            created: Timestamp(0),
        };
        let t = run(
            &w,
            &w.user,
            "api://r/Read",
            &[grant(&w, "AllPrincipals", None, "Read")],
            &[assign(9), assign(10)],
        )
        .unwrap();
        assert_eq!(t.access.roles, vec!["Approver".to_string()]);
        assert_eq!(pairwise_sub("u", "a"), pairwise_sub("u", "a"));
        assert_ne!(
            pairwise_sub("u", "a"),
            pairwise_sub("u", "b"),
            "sub is pairwise per app"
        );
    }
}
