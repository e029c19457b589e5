//! Consent at sign-in: what the user would have to grant for a request, and granting it
//! (creating the client's service principal in the user's tenant first for a multi-tenant app).

use crate::audit::Actor;
use crate::error::DirectoryError;
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
    now: crate::Timestamp,
) -> Result<ConsentNeed, TokenError> {
    let client_sp = store
        .service_principal_by_app_id(tenant.id, app.app_id)
        .await?;
    if client_sp.is_none()
        && app.tenant_id != tenant.id
        && app.sign_in_audience == SignInAudience::AzureAdMyOrg
    {
        return Err(crate::error::Code::SingleTenantAppElsewhere
            .aadsts(&[("app_id", &app.app_id), ("tenant", &tenant.id)])
            .into());
    }
    let requested = scope::parse_delegated(scope_text)?;
    let resource = find_resource(store, tenant, &requested.resource).await?;
    let (_, resource_scopes) = exposed(store, &resource).await?;
    let grants = store.permission_grants(tenant.id).await?;
    let mut missing = match &client_sp {
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
    if requested.default {
        // `/.default` asks for what the app registered (requiredResourceAccess) on the resource.
        let granted: Vec<String> = grants
            .iter()
            .filter(|g| {
                client_sp.as_ref().is_some_and(|sp| g.client_id == sp.id)
                    && g.resource_id == resource.id
            })
            .filter(|g| g.consent_type == "AllPrincipals" || g.principal_id == Some(user.id))
            .flat_map(|g| {
                g.scope
                    .split_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect::<Vec<_>>()
            })
            .collect();
        for rra in app
            .required_resource_access
            .iter()
            .filter(|r| r.resource_app_id == resource.app_id)
        {
            for ra in rra
                .resource_access
                .iter()
                .filter(|a| a.kind == crate::model::PermissionKind::Scope)
            {
                if let Some(s) = resource_scopes
                    .iter()
                    .find(|s| s.id == ra.id && s.is_enabled)
                {
                    if !granted.contains(&s.value.to_ascii_lowercase())
                        && !missing.iter().any(|m| m.id == s.id)
                    {
                        missing.push(s.clone());
                    }
                }
            }
        }
    }
    let is_admin = consent::is_consent_admin(
        &crate::ops::directory_roles::tenant_wide_roles(store, tenant.id, user.id, now).await?,
    );
    let policy: UserConsentPolicy = tenant.settings.user_consent;
    let blocked =
        consent::user_may_consent(&missing, policy, app.tenant_id == tenant.id, is_admin).err();
    Ok(ConsentNeed {
        missing,
        resource: std::sync::Arc::unwrap_or_clone(resource),
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
    if tenant_wide && !need.missing.is_empty() {
        let target = crate::authz::Target {
            resource_is_graph: need.resource.app_id == crate::ids::GRAPH_APP_ID,
            ..Default::default()
        };
        crate::ops::authz::interactive(
            env.store,
            tenant.id,
            user,
            crate::authz::Op::ConsentForAll,
            &target,
            env.now,
        )
        .await?
        .map_err(|why| {
            DirectoryError::Forbidden(format!(
                "{} cannot consent on behalf of the organization: {why}",
                user.user_principal_name
            ))
        })?;
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

/// One permission an admin consent would grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminPermission {
    /// The resource's display name.
    pub resource: String,
    /// The permission value (`User.Read`, `User.Read.All`).
    pub value: String,
    /// `Scope` (delegated, for every user) or `Role` (application permission).
    pub kind: crate::model::PermissionKind,
    /// What it allows.
    pub description: String,
}

/// The permissions an application's `requiredResourceAccess` asks for, as they would be granted
/// in `tenant` (unknown resources or ids are skipped — they cannot be granted).
pub async fn admin_consent_plan(
    store: &dyn Store,
    tenant: &Tenant,
    app: &Application,
) -> Result<Vec<AdminPermission>, TokenError> {
    let mut out = Vec::new();
    for rra in &app.required_resource_access {
        let Some(resource) = store
            .service_principal_by_app_id(tenant.id, rra.resource_app_id)
            .await?
        else {
            continue;
        };
        let (roles, scopes) = exposed(store, &resource).await?;
        for ra in &rra.resource_access {
            let found = match ra.kind {
                crate::model::PermissionKind::Scope => {
                    scopes.iter().find(|s| s.id == ra.id).map(|s| {
                        (
                            s.value.clone(),
                            s.admin_consent_display_name
                                .clone()
                                .unwrap_or_else(|| s.value.clone()),
                        )
                    })
                }
                crate::model::PermissionKind::Role => roles
                    .iter()
                    .find(|r| r.id == ra.id)
                    .map(|r| (r.value.clone(), r.display_name.clone())),
            };
            if let Some((value, description)) = found {
                out.push(AdminPermission {
                    resource: resource.display_name.clone(),
                    value,
                    kind: ra.kind,
                    description,
                });
            }
        }
    }
    Ok(out)
}

/// Admin consent (`/adminconsent`): creates the client's service principal here if needed,
/// grants every delegated permission in `requiredResourceAccess` for all users (AllPrincipals)
/// and assigns every application permission to the service principal.
pub async fn admin_consent(
    env: &mut Env<'_>,
    tenant: &Tenant,
    app: &Application,
    admin: &User,
) -> Result<ServicePrincipal, DirectoryError> {
    if let Some(why) = consent_admin_refusal(env.store, tenant, admin, app, env.now).await? {
        return Err(DirectoryError::Forbidden(why));
    }
    env.actor = Actor::User {
        id: admin.id,
        upn: admin.user_principal_name.clone(),
    };
    let client_sp = match env
        .store
        .service_principal_by_app_id(tenant.id, app.app_id)
        .await?
    {
        Some(sp) => sp,
        None => service_principals::create(env, tenant, &app.app_id.to_string()).await?,
    };
    let grants = env.store.permission_grants(tenant.id).await?;
    let held = env
        .store
        .app_role_assignments_of(tenant.id, client_sp.id)
        .await?;
    for rra in &app.required_resource_access {
        let Some(resource) = env
            .store
            .service_principal_by_app_id(tenant.id, rra.resource_app_id)
            .await?
        else {
            continue;
        };
        let (roles, scopes) = exposed(env.store, &resource).await?;
        let already: Vec<String> = grants
            .iter()
            .filter(|g| {
                g.client_id == client_sp.id
                    && g.resource_id == resource.id
                    && g.consent_type == "AllPrincipals"
            })
            .flat_map(|g| {
                g.scope
                    .split_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut delegated = Vec::new();
        for ra in &rra.resource_access {
            match ra.kind {
                crate::model::PermissionKind::Scope => {
                    if let Some(s) = scopes.iter().find(|s| s.id == ra.id) {
                        if !already.contains(&s.value.to_ascii_lowercase()) {
                            delegated.push(s.value.clone());
                        }
                    }
                }
                crate::model::PermissionKind::Role => {
                    let exists = roles.iter().any(|r| r.id == ra.id);
                    let assigned = held
                        .iter()
                        .any(|a| a.resource_id == resource.id && a.app_role_id == ra.id);
                    if exists && !assigned {
                        service_principals::assign_app_role(
                            env,
                            tenant,
                            client_sp.id,
                            resource.id,
                            ra.id,
                        )
                        .await?;
                    }
                }
            }
        }
        if !delegated.is_empty() {
            service_principals::grant_delegated_to(
                env,
                tenant,
                &client_sp,
                &resource,
                &delegated.join(" "),
                None,
            )
            .await?;
        }
    }
    Ok(client_sp)
}

/// Records a user's request for admin approval (admin consent workflow). One open request per
/// user and application; asking again returns the open one.
#[allow(clippy::too_many_arguments)]
pub async fn request_approval(
    store: &dyn Store,
    tenant: &Tenant,
    app: &Application,
    user: &User,
    need: &ConsentNeed,
    reason: &str,
    request_id: &str,
    now: crate::time::Timestamp,
) -> Result<crate::model::Grant, TokenError> {
    use crate::model::{Grant, GrantKind, GrantState};
    if !tenant.settings.admin_consent_workflow {
        return Err(crate::error::Code::AdminConsentWorkflowOff
            .aadsts(&[])
            .into());
    }
    let open = store
        .grants_of_kind(tenant.id, GrantKind::ConsentRequest)
        .await?
        .into_iter()
        .find(|g| {
            g.state == GrantState::Active
                && g.user_id == Some(user.id)
                && g.attr("app_id") == Some(app.app_id.to_string().as_str())
        });
    if let Some(g) = open {
        return Ok(g);
    }
    let scope: Vec<&str> = need.missing.iter().map(|s| s.value.as_str()).collect();
    let g = Grant {
        handle: request_id.to_string(),
        kind: GrantKind::ConsentRequest,
        tenant_id: tenant.id,
        family: None,
        user_id: Some(user.id),
        lookup: None,
        state: GrantState::Active,
        created: now,
        expires: now.plus_secs(30 * 24 * 3600),
        attrs: vec![
            ("app_id".into(), app.app_id.to_string()),
            ("app_name".into(), app.display_name.clone()),
            ("scope".into(), scope.join(" ")),
            ("resource".into(), need.resource.id.to_string()),
            ("reason".into(), reason.chars().take(1000).collect()),
            ("upn".into(), user.user_principal_name.clone()),
            ("status".into(), "InProgress".into()),
        ],
    };
    store.insert_grant(&g).await?;
    Ok(g)
}

/// An administrator approves (tenant-wide grant of the requested permissions, creating the
/// app's service principal if needed) or denies a consent request.
pub async fn review_request(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    approve: bool,
) -> Result<crate::model::Grant, DirectoryError> {
    use crate::model::{GrantKind, GrantState};
    let not_found = || {
        DirectoryError::NotFound(format!(
            "appConsentRequest '{id}' does not exist in this tenant."
        ))
    };
    let g = env
        .store
        .grant(id)
        .await?
        .filter(|g| g.kind == GrantKind::ConsentRequest && g.tenant_id == tenant.id)
        .ok_or_else(not_found)?;
    if g.state != GrantState::Active {
        return Err(DirectoryError::BadRequest(format!(
            "The request was already {}.",
            g.attr("status").unwrap_or("completed")
        )));
    }
    if approve {
        let app_id = g
            .attr("app_id")
            .and_then(crate::AppId::parse)
            .ok_or_else(not_found)?;
        let app = crate::ops::token::client_application(env.store, app_id)
            .await?
            .ok_or_else(|| {
                DirectoryError::BadRequest("The application no longer exists.".into())
            })?;
        let client_sp = match env
            .store
            .service_principal_by_app_id(tenant.id, app_id)
            .await?
        {
            Some(sp) => sp,
            None => service_principals::create(env, tenant, &app.app_id.to_string()).await?,
        };
        let resource_id = g
            .attr("resource")
            .and_then(crate::ObjectId::parse)
            .ok_or_else(not_found)?;
        let resource = env
            .store
            .service_principal(tenant.id, resource_id)
            .await?
            .ok_or_else(|| {
                DirectoryError::BadRequest("The requested resource no longer exists.".into())
            })?;
        let scope = g.attr("scope").unwrap_or("").to_string();
        if !scope.trim().is_empty() {
            service_principals::grant_delegated_to(
                env, tenant, &client_sp, &resource, &scope, None,
            )
            .await?;
        }
    }
    let mut next = g.clone();
    next.state = GrantState::Used;
    next.set("status", if approve { "Approved" } else { "Denied" });
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        if approve {
            "Approve admin consent request"
        } else {
            "Deny admin consent request"
        },
        "Update",
        vec![crate::ops::target(
            g.attr("app_id").unwrap_or(""),
            "Application",
            g.attr("app_name"),
            None,
            vec![crate::ops::modified(
                "RequestedScopes",
                None,
                g.attr("scope").map(str::to_string),
            )],
        )],
    );
    // The state change and its audit record commit together.
    let mut set = crate::store::ChangeSet::new();
    set.push(crate::store::Change::UpdateGrant(
        GrantState::Active,
        next.clone(),
    ))
    .audit(audit);
    env.store.commit(set).await.map_err(|e| {
        if e.unique_rule() == Some(crate::store::UniqueRule::GrantChanged) {
            DirectoryError::Conflict("The request was reviewed concurrently.".into())
        } else {
            e.into()
        }
    })?;
    Ok(next)
}

/// Why `user` may not grant what `app`'s `requiredResourceAccess` asks for the whole tenant
/// (`None`: they may). First a consent administrator at all (Global, Privileged Role, Cloud
/// Application or Application Administrator, tenant-wide); then, per resource, core's decision
/// on tenant-wide consent and application permissions — Microsoft Graph's need a Privileged
/// Role Administrator or Global Administrator.
pub async fn consent_admin_refusal(
    store: &dyn Store,
    tenant: &Tenant,
    user: &User,
    app: &Application,
    now: crate::Timestamp,
) -> Result<Option<String>, crate::store::StoreError> {
    let roles =
        crate::ops::directory_roles::tenant_wide_roles(store, tenant.id, user.id, now).await?;
    if !consent::is_consent_admin(&roles) {
        return Ok(Some(format!("{} is not an administrator who can grant consent for the whole organization; ask a Global, Privileged Role, Cloud Application or Application Administrator.", user.user_principal_name)));
    }
    for rra in &app.required_resource_access {
        let Some(resource) = store
            .service_principal_by_app_id(tenant.id, rra.resource_app_id)
            .await?
        else {
            continue;
        };
        let kinds =
            |k: crate::model::PermissionKind| rra.resource_access.iter().any(|a| a.kind == k);
        for (op, target) in crate::ops::authz::admin_consent_ops(
            kinds(crate::model::PermissionKind::Scope),
            kinds(crate::model::PermissionKind::Role),
            resource.app_id == crate::ids::GRAPH_APP_ID,
        ) {
            if let Err(why) =
                crate::ops::authz::interactive(store, tenant.id, user, op, &target, now).await?
            {
                return Ok(Some(format!(
                    "{} cannot grant what this application asks of {}: {why}",
                    user.user_principal_name, resource.display_name
                )));
            }
        }
    }
    Ok(None)
}
