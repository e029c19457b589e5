//! Consent at sign-in: what the user would have to grant for a request, and granting it
//! (creating the client's service principal in the user's tenant first for a multi-tenant app).

use crate::audit::Actor;
use crate::error::{AadstsError, DirectoryError, OAuthError};
use crate::flow::consent::{self, UserConsentPolicy};
use crate::flow::scope;
use crate::model::{Application, PermissionScope, ServicePrincipal, SignInAudience, Tenant, User};
use crate::ops::service_principals::{self, exposed};
use crate::ops::token::{find_resource, TokenError};
use crate::ops::Env;
use crate::store::Store;

/// What a request needs before tokens can be issued.
#[derive(Clone, Debug)]
pub struct ConsentNeed {
    /// Requested permissions not yet granted.
    pub missing: Vec<PermissionScope>,
    /// The resource they belong to.
    pub resource: ServicePrincipal,
    /// The client's service principal in this tenant, if it exists yet.
    pub client_sp: Option<ServicePrincipal>,
    /// Why this user may not consent (None: they may).
    pub blocked: Option<String>,
    /// The user holds a role that may consent for the whole tenant.
    pub is_admin: bool,
}

impl ConsentNeed {
    /// Whether consent must be asked (permissions missing, or the app is new to this tenant).
    pub fn required(&self) -> bool {
        !self.missing.is_empty() || self.client_sp.is_none()
    }
}

/// Works out the consent a user would need for `scope_text` on `app` in `tenant`. A
/// single-tenant app from another tenant is AADSTS700016.
pub async fn need(
    store: &dyn Store,
    tenant: &Tenant,
    app: &Application,
    user: &User,
    scope_text: &str,
) -> Result<ConsentNeed, TokenError> {
    let client_sp = store
        .service_principal_by_app_id(tenant.id, app.app_id)
        .await?;
    if client_sp.is_none()
        && app.tenant_id != tenant.id
        && app.sign_in_audience == SignInAudience::AzureAdMyOrg
    {
        return Err(AadstsError {
            code: 700016,
            error: OAuthError::UnauthorizedClient,
            message: format!("Application with identifier '{}' was not found in the directory '{}'. The application is single-tenant (AzureADMyOrg) and registered in another tenant: sign in through its home tenant, or make it multi-tenant (signInAudience AzureADMultipleOrgs).", app.app_id, tenant.id),
        }
        .into());
    }
    let requested = scope::parse_delegated(scope_text)?;
    let resource = find_resource(store, tenant, &requested.resource).await?;
    let (_, resource_scopes) = exposed(store, &resource).await?;
    let grants = store.permission_grants(tenant.id).await?;
    let missing = match &client_sp {
        Some(sp) => consent::missing(
            &requested,
            &resource_scopes,
            &grants,
            sp.id,
            resource.id,
            user.id,
        ),
        None => consent::missing(
            &requested,
            &resource_scopes,
            &[],
            resource.id,
            resource.id,
            user.id,
        ),
    };
    let roles: Vec<uuid::Uuid> = store
        .directory_role_assignments(tenant.id)
        .await?
        .into_iter()
        .filter(|r| r.principal_id == user.id)
        .map(|r| r.role_template_id)
        .collect();
    let is_admin = consent::is_consent_admin(&roles);
    let policy: UserConsentPolicy = tenant.settings.user_consent;
    let blocked =
        consent::user_may_consent(&missing, policy, app.tenant_id == tenant.id, is_admin).err();
    Ok(ConsentNeed {
        missing,
        resource,
        client_sp,
        blocked,
        is_admin,
    })
}

/// Grants what `need` lists: for this user, or (administrators only) for the whole tenant.
/// Creates the client's service principal here first if the app is new to this tenant.
pub async fn grant(
    env: &mut Env<'_>,
    tenant: &Tenant,
    app: &Application,
    user: &User,
    need: &ConsentNeed,
    tenant_wide: bool,
) -> Result<(), DirectoryError> {
    if tenant_wide && !need.is_admin {
        return Err(DirectoryError::Forbidden(
            "Only an administrator (Global, Privileged Role, Cloud Application or Application Administrator) can consent on behalf of the organization.".into(),
        ));
    }
    if let Some(why) = &need.blocked {
        return Err(DirectoryError::Forbidden(why.clone()));
    }
    env.actor = Actor::User {
        id: user.id,
        upn: user.user_principal_name.clone(),
    };
    let client_sp = match &need.client_sp {
        Some(sp) => sp.clone(),
        None => service_principals::create(env, tenant, &app.app_id.to_string()).await?,
    };
    if need.missing.is_empty() {
        return Ok(());
    }
    let scope: Vec<&str> = need.missing.iter().map(|s| s.value.as_str()).collect();
    service_principals::grant_delegated_to(
        env,
        tenant,
        &client_sp,
        &need.resource,
        &scope.join(" "),
        (!tenant_wide).then_some(user.id),
    )
    .await?;
    Ok(())
}
