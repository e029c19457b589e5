//! Tenants are created by the platform operator, never through Graph. Creating one creates its
//! initial domain, its first Global Administrator and its built-in service principals, all in
//! one change set.

use crate::catalog;
use crate::error::DirectoryError;
use crate::model::{
    check_password_policy, validate_tenant_name, DirectoryRoleAssignment, Domain, LicenseTier,
    Tenant, TenantSettings, User, UserType, GLOBAL_ADMINISTRATOR,
};
use crate::ops::{modified, service_principals, target, Env};
use crate::store::{Change, ChangeSet, StoreError};
use crate::TenantId;

/// What the operator asks for.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Short name: becomes `<name>.<domain_suffix>`.
    pub name: String,
    /// Display name (defaults to the name).
    pub display_name: Option<String>,
    /// `onmicrosoft.test` by default.
    pub domain_suffix: String,
    /// License tier.
    pub license: LicenseTier,
    /// The first Global Administrator: `alias` or `alias@<initial domain>`.
    pub admin_upn: String,
    /// Their password (the caller generates one if the operator gave none).
    pub admin_password: String,
}

/// The result: the tenant and its first administrator.
#[derive(Clone, Debug)]
pub struct CreatedTenant {
    /// The tenant.
    pub tenant: Tenant,
    /// Its Global Administrator.
    pub admin: User,
}

/// Creates a tenant.
pub async fn create(env: &mut Env<'_>, req: NewTenant) -> Result<CreatedTenant, DirectoryError> {
    let name = validate_tenant_name(&req.name).map_err(DirectoryError::BadRequest)?;
    let suffix = req
        .domain_suffix
        .trim()
        .trim_start_matches('.')
        .to_ascii_lowercase();
    if suffix.is_empty() || suffix.contains(['/', '@', ' ']) {
        return Err(DirectoryError::BadRequest(format!(
            "domain suffix '{suffix}' is not a DNS name"
        )));
    }
    let domain = format!("{name}.{suffix}");
    if env.store.tenant_by_domain(&domain).await?.is_some() {
        return Err(DirectoryError::Conflict(format!(
            "A tenant with the domain '{domain}' already exists; choose another name."
        )));
    }
    let id = unused_tenant_id(env).await?;
    let tenant = Tenant {
        id,
        display_name: req
            .display_name
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| name.clone()),
        domains: vec![Domain {
            name: domain.clone(),
            is_initial: true,
            is_default: true,
            is_verified: true,
            supported_services: crate::domains::INITIAL_SERVICES
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            verification_code: String::new(),
        }],
        license: req.license,
        // Security defaults are on for every tenant created from now on, as in Entra.
        settings: TenantSettings {
            security_defaults: true,
            ..TenantSettings::default()
        },
        created: env.now,
    };
    let upn = if req.admin_upn.contains('@') {
        req.admin_upn.clone()
    } else {
        format!("{}@{domain}", req.admin_upn)
    };
    crate::model::validate_upn(&upn, &tenant).map_err(DirectoryError::BadRequest)?;
    check_password_policy(&req.admin_password, &tenant.settings.password_policy)
        .map_err(DirectoryError::BadRequest)?;
    let hash = env
        .hasher
        .hash(&req.admin_password)
        .await
        .map_err(DirectoryError::Unavailable)?;
    let alias = upn.split('@').next().unwrap_or("admin").to_string();
    let admin = User {
        id: env.new_id(),
        tenant_id: tenant.id,
        display_name: "Global Administrator".into(),
        user_principal_name: upn,
        mail_nickname: Some(alias),
        mail: None,
        given_name: None,
        surname: None,
        job_title: None,
        department: None,
        office_location: None,
        company_name: None,
        employee_id: None,
        account_enabled: true,
        user_type: UserType::Member,
        created: env.now,
        password_hash: Some(hash),
        force_change_password_next_sign_in: false,
        manager_id: None,
        other_mails: Vec::new(),
        usage_location: None,
        external: None,
    };
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(tenant.clone()));
    let a = env.audit(
        &tenant,
        "DirectoryManagement",
        "Create company",
        "Add",
        vec![target(
            tenant.id,
            "Tenant",
            Some(&tenant.display_name),
            None,
            vec![modified("InitialDomain", None, Some(domain.clone()))],
        )],
    );
    set.audit(a);
    // The root management group (id = tenant id) is reserved with the tenant: the ARM id space
    // is global, so a commit racing a management group of that name fails as a whole.
    let (root, a) = crate::ops::arm::root_group(env, &tenant);
    set.push(Change::InsertArmResource(root)).audit(a);
    let mut resources = Vec::new();
    for b in catalog::built_in_resources() {
        resources.push((b.app_id, add_built_in(env, &tenant, b, &mut set)));
    }
    for c in catalog::seeded_first_party_clients() {
        add_first_party(env, &tenant, c, &resources, &mut set);
    }
    let a = env.audit(
        &tenant,
        "UserManagement",
        "Add user",
        "Add",
        vec![target(
            admin.id,
            "User",
            Some(&admin.display_name),
            Some(&admin.user_principal_name),
            vec![],
        )],
    );
    set.push(Change::InsertUser(admin.clone())).audit(a);
    let role = DirectoryRoleAssignment {
        id: env.new_id(),
        tenant_id: tenant.id,
        principal_id: admin.id,
        role_template_id: GLOBAL_ADMINISTRATOR,
        directory_scope_id: "/".into(),
    };
    let a = env.audit(
        &tenant,
        "RoleManagement",
        "Add member to role",
        "Assign",
        vec![target(
            admin.id,
            "User",
            Some(&admin.display_name),
            Some(&admin.user_principal_name),
            vec![modified(
                "Role.DisplayName",
                None,
                Some("Global Administrator".into()),
            )],
        )],
    );
    set.push(Change::InsertDirectoryRoleAssignment(role))
        .audit(a);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::Conflict(m) => {
            DirectoryError::Conflict(format!("The tenant could not be created: {m}"))
        }
        other => other.into(),
    })?;
    Ok(CreatedTenant { tenant, admin })
}

/// A fresh tenant id that names no tenant and no management group yet (a management group
/// named by a GUID could predate the rule reserving GUID names for tenant roots). Drawing again
/// is cheap; eight collisions in a row means the randomness is broken, so stop.
async fn unused_tenant_id(env: &mut Env<'_>) -> Result<TenantId, DirectoryError> {
    for _ in 0..8 {
        let id = TenantId::from_random(env.entropy.bytes16());
        let root = crate::ops::arm::root_management_group(id);
        if env.store.tenant(id).await?.is_none() && env.store.arm_resource(&root).await?.is_none() {
            return Ok(id);
        }
    }
    Err(DirectoryError::Conflict(
        "The tenant could not be created: every tenant id drawn is already taken by a tenant or a management group; check the server's randomness.".into(),
    ))
}

/// Sign-in settings an operator may change.
#[derive(Clone, Debug, Default)]
pub struct SignInSettings {
    /// Answer 50126 for unknown users too (hide which accounts exist).
    pub hide_account_existence: Option<bool>,
    /// Wrong passwords before smart lockout (1–100).
    pub lockout_threshold: Option<u32>,
    /// Access-token lifetime, 600–86400 seconds (Entra's configurable range).
    pub access_token_lifetime_secs: Option<i64>,
    /// Who may consent to applications.
    pub user_consent: Option<crate::flow::consent::UserConsentPolicy>,
    /// Admin consent workflow on/off.
    pub admin_consent_workflow: Option<bool>,
    /// Member users may register applications.
    pub users_can_create_apps: Option<bool>,
    /// `allowInvitesFrom`.
    pub allow_invites_from: Option<crate::model::InvitesFrom>,
    /// `guestUserRoleId`.
    pub guest_user_role: Option<crate::model::GuestRole>,
}

/// Changes a tenant's sign-in settings (audited).
pub async fn update_sign_in_settings(
    env: &mut Env<'_>,
    tenant: &Tenant,
    s: &SignInSettings,
) -> Result<Tenant, DirectoryError> {
    let mut t = tenant.clone();
    let mut props = Vec::new();
    if let Some(h) = s.hide_account_existence {
        props.push(modified(
            "hideAccountExistence",
            Some(t.settings.hide_account_existence.to_string()),
            Some(h.to_string()),
        ));
        t.settings.hide_account_existence = h;
    }
    if let Some(n) = s.lockout_threshold {
        if !(1..=100).contains(&n) {
            return Err(DirectoryError::BadRequest(format!(
                "lockoutThreshold must be between 1 and 100 (got {n})."
            )));
        }
        props.push(modified(
            "lockoutThreshold",
            Some(t.settings.lockout_threshold.to_string()),
            Some(n.to_string()),
        ));
        t.settings.lockout_threshold = n;
    }
    if let Some(l) = s.access_token_lifetime_secs {
        if !(600..=86_400).contains(&l) {
            return Err(DirectoryError::BadRequest(format!(
                "accessTokenLifetimeSeconds must be between 600 (10 minutes) and 86400 (1 day) (got {l})."
            )));
        }
        props.push(modified(
            "accessTokenLifetimeSeconds",
            Some(t.settings.access_token_lifetime_secs.to_string()),
            Some(l.to_string()),
        ));
        t.settings.access_token_lifetime_secs = l;
    }
    if let Some(a) = s.users_can_create_apps {
        props.push(modified(
            "allowedToCreateApps",
            Some(t.settings.users_can_create_apps.to_string()),
            Some(a.to_string()),
        ));
        t.settings.users_can_create_apps = a;
    }
    if let Some(f) = s.allow_invites_from {
        props.push(modified(
            "allowInvitesFrom",
            Some(t.settings.allow_invites_from.as_str().into()),
            Some(f.as_str().into()),
        ));
        t.settings.allow_invites_from = f;
    }
    if let Some(r) = s.guest_user_role {
        props.push(modified(
            "guestUserRoleId",
            Some(t.settings.guest_user_role.as_str().into()),
            Some(r.as_str().into()),
        ));
        t.settings.guest_user_role = r;
    }
    if let Some(w) = s.admin_consent_workflow {
        props.push(modified(
            "adminConsentRequestPolicy.isEnabled",
            Some(t.settings.admin_consent_workflow.to_string()),
            Some(w.to_string()),
        ));
        t.settings.admin_consent_workflow = w;
    }
    if let Some(p) = s.user_consent {
        props.push(modified(
            "permissionGrantPoliciesAssigned",
            Some(t.settings.user_consent.graph_ids().join(",")),
            Some(p.graph_ids().join(",")),
        ));
        t.settings.user_consent = p;
    }
    if props.is_empty() {
        return Err(DirectoryError::BadRequest(
            "Nothing to change: send hideAccountExistence, lockoutThreshold and/or accessTokenLifetimeSeconds.".into(),
        ));
    }
    let audit = env.audit(
        &t,
        "Policy",
        "Update tenant sign-in settings",
        "Update",
        vec![target(t.id, "Tenant", Some(&t.display_name), None, props)],
    );
    let mut set = ChangeSet::new();
    // Compare-and-set over the tenant as read: a concurrent domain or settings change is a
    // conflict to retry, never silently overwritten.
    set.push(Change::ReplaceTenant(
        Box::new(tenant.clone()),
        Box::new(t.clone()),
    ))
    .audit(audit);
    env.store
        .commit(set)
        .await
        .map_err(|e| DirectoryError::Unavailable(e.to_string()))?;
    Ok(t)
}

/// Gives every tenant the built-in resource service principals it lacks (tenants created before
/// a built-in resource was added — e.g. Azure Resource Manager and Azure Storage — get them at
/// the next start). Returns how many were created.
pub async fn ensure_built_in_service_principals(env: &mut Env<'_>) -> Result<usize, StoreError> {
    let mut created = 0;
    for tenant in env.store.tenants().await? {
        let mut set = ChangeSet::new();
        for b in catalog::built_in_resources() {
            if env
                .store
                .service_principal_by_app_id(tenant.id, b.app_id)
                .await?
                .is_some()
            {
                continue;
            }
            add_built_in(env, &tenant, b, &mut set);
            created += 1;
        }
        if !set.changes.is_empty() {
            env.store.commit(set).await?;
        }
        // First-party clients after the resources they are pre-authorised on exist.
        let mut set = ChangeSet::new();
        let mut resources = Vec::new();
        for b in catalog::built_in_resources() {
            if let Some(sp) = env
                .store
                .service_principal_by_app_id(tenant.id, b.app_id)
                .await?
            {
                resources.push((b.app_id, sp.id));
            }
        }
        for c in catalog::seeded_first_party_clients() {
            if let Some(sp) = env
                .store
                .service_principal_by_app_id(tenant.id, c.app_id)
                .await?
            {
                // A release that pre-authorises more (the console's new blades) widens the
                // tenant-wide grant it made; nothing a grant already holds is taken away.
                let grants = env.store.permission_grants(tenant.id).await?;
                widen_first_party(env, &tenant, c, sp.id, &resources, &grants, &mut set);
                continue;
            }
            add_first_party(env, &tenant, c, &resources, &mut set);
            created += 1;
        }
        if !set.changes.is_empty() {
            env.store.commit(set).await?;
        }
    }
    Ok(created)
}

/// Adds a first-party public client's service principal and its pre-authorisation (one
/// tenant-wide delegated grant per resource, `catalog::FirstPartyClient`) to `set`.
fn add_first_party(
    env: &mut Env<'_>,
    tenant: &Tenant,
    c: &catalog::FirstPartyClient,
    resources: &[(crate::AppId, crate::ObjectId)],
    set: &mut ChangeSet,
) {
    let sp = service_principals::instantiate(
        env,
        tenant,
        c.app_id,
        c.display_name,
        &[],
        Some(catalog::MICROSOFT_SERVICES_TENANT),
    );
    let client_id = push_service_principal(env, tenant, sp, set);
    for (res_app, scope) in c.pre_authorized {
        let Some((_, resource_id)) = resources.iter().find(|(a, _)| a == res_app) else {
            continue;
        };
        let g = crate::model::OAuth2PermissionGrant {
            id: env.new_id(),
            tenant_id: tenant.id,
            client_id,
            consent_type: "AllPrincipals".into(),
            principal_id: None,
            resource_id: *resource_id,
            scope: (*scope).to_string(),
        };
        let a = env.audit(
            tenant,
            "ApplicationManagement",
            "Add delegated permission grant",
            "Assign",
            vec![target(
                *resource_id,
                "ServicePrincipal",
                None,
                None,
                vec![modified(
                    "DelegatedPermissionGrant.Scope",
                    None,
                    Some((*scope).to_string()),
                )],
            )],
        );
        set.push(Change::InsertPermissionGrant(g)).audit(a);
    }
}

/// The scopes a first-party client's tenant-wide grant on a resource lacks of what the release
/// pre-authorises (`None`: nothing to add), as the grant's new scope text.
pub fn widened_scope(granted: &str, pre_authorized: &str) -> Option<String> {
    let have: Vec<&str> = granted.split_whitespace().collect();
    let missing: Vec<&str> = pre_authorized
        .split_whitespace()
        .filter(|s| !have.iter().any(|h| h.eq_ignore_ascii_case(s)))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut all = have;
    all.extend(missing);
    Some(all.join(" "))
}

/// Widens an existing first-party client's tenant-wide grants to what this release
/// pre-authorises ([`widened_scope`]), audited as an update of the grant.
#[allow(clippy::too_many_arguments)]
fn widen_first_party(
    env: &mut Env<'_>,
    tenant: &Tenant,
    c: &catalog::FirstPartyClient,
    client_id: crate::ObjectId,
    resources: &[(crate::AppId, crate::ObjectId)],
    grants: &[crate::model::OAuth2PermissionGrant],
    set: &mut ChangeSet,
) {
    for (res_app, scope) in c.pre_authorized {
        let Some((_, resource_id)) = resources.iter().find(|(a, _)| a == res_app) else {
            continue;
        };
        let Some(old) = grants.iter().find(|g| {
            g.client_id == client_id
                && g.resource_id == *resource_id
                && g.consent_type == "AllPrincipals"
        }) else {
            continue;
        };
        let Some(wider) = widened_scope(&old.scope, scope) else {
            continue;
        };
        let a = env.audit(
            tenant,
            "ApplicationManagement",
            "Update delegated permission grant",
            "Update",
            vec![target(
                *resource_id,
                "ServicePrincipal",
                None,
                None,
                vec![modified(
                    "DelegatedPermissionGrant.Scope",
                    Some(old.scope.clone()),
                    Some(wider.clone()),
                )],
            )],
        );
        let mut new = old.clone();
        new.scope = wider;
        set.push(Change::DeletePermissionGrant(tenant.id, old.id))
            .push(Change::InsertPermissionGrant(new))
            .audit(a);
    }
}

/// Adds a built-in resource's service principal (and its audit record) to `set`; returns its id.
fn add_built_in(
    env: &mut Env<'_>,
    tenant: &Tenant,
    b: &catalog::BuiltInResource,
    set: &mut ChangeSet,
) -> crate::ObjectId {
    let uris: Vec<String> = b
        .service_principal_names
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    let sp = service_principals::instantiate(env, tenant, b.app_id, b.display_name, &uris, None);
    push_service_principal(env, tenant, sp, set)
}

/// Adds a new service principal and its "Add service principal" audit record to `set`; returns
/// its id.
fn push_service_principal(
    env: &mut Env<'_>,
    tenant: &Tenant,
    sp: crate::model::ServicePrincipal,
    set: &mut ChangeSet,
) -> crate::ObjectId {
    let a = env.audit(
        tenant,
        "ApplicationManagement",
        "Add service principal",
        "Add",
        vec![target(
            sp.id,
            "ServicePrincipal",
            Some(&sp.display_name),
            None,
            vec![],
        )],
    );
    let id = sp.id;
    set.push(Change::InsertServicePrincipal(sp)).audit(a);
    id
}

#[cfg(test)]
mod tests {
    use super::widened_scope;

    #[test]
    fn a_first_party_grant_is_widened_never_narrowed() {
        assert_eq!(widened_scope("User.Read openid", "openid User.Read"), None);
        assert_eq!(
            widened_scope("User.Read Custom.Extra", "user.read Policy.Read.All"),
            Some("User.Read Custom.Extra Policy.Read.All".into())
        );
        assert_eq!(widened_scope("", "a b"), Some("a b".into()));
    }
}
