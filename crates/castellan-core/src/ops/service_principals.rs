//! Service principals and what they hold: app-role assignments and delegated grants.

use crate::catalog;
use crate::error::DirectoryError;
use crate::ids::{AppId, ObjectId};
use crate::model::{
    AppRole, AppRoleAssignment, OAuth2PermissionGrant, ObjectKind, PermissionScope,
    ServicePrincipal, ServicePrincipalType, SignInAudience, Tenant,
};
use crate::ops::{modified, not_found, target, Env, Field};
use crate::store::{Change, ChangeSet, Store, StoreError};

/// The app roles and scopes a service principal exposes (from its application, or the
/// built-in catalogue for Microsoft's own resources).
pub async fn exposed(
    store: &dyn Store,
    sp: &ServicePrincipal,
) -> Result<(Vec<AppRole>, Vec<PermissionScope>), StoreError> {
    let e = exposed_shared(store, sp).await?;
    Ok((e.roles().to_vec(), e.scopes().to_vec()))
}

/// What a service principal exposes, borrowed: the built-in catalogue itself (Microsoft
/// Graph's ~1,500 permissions are not copied per token) or the application the store holds.
pub enum Exposed {
    /// One of Microsoft's built-in resources.
    BuiltIn(&'static catalog::BuiltInResource),
    /// The resource's application registration.
    Application(std::sync::Arc<crate::model::Application>),
    /// No application (a managed identity, a deleted registration): nothing exposed.
    Nothing,
}

impl Exposed {
    /// The app roles.
    pub fn roles(&self) -> &[AppRole] {
        match self {
            Self::BuiltIn(b) => &b.app_roles,
            Self::Application(a) => &a.app_roles,
            Self::Nothing => &[],
        }
    }
    /// The delegated permission scopes.
    pub fn scopes(&self) -> &[PermissionScope] {
        match self {
            Self::BuiltIn(b) => &b.scopes,
            Self::Application(a) => &a.oauth2_permission_scopes,
            Self::Nothing => &[],
        }
    }
    /// The resource's application, when it is not a built-in one.
    pub fn application(&self) -> Option<&crate::model::Application> {
        match self {
            Self::Application(a) => Some(a),
            _ => None,
        }
    }
}

/// [`exposed`] without copying (the token path).
pub async fn exposed_shared(
    store: &dyn Store,
    sp: &ServicePrincipal,
) -> Result<Exposed, StoreError> {
    if let Some(b) = catalog::built_in(sp.app_id) {
        return Ok(Exposed::BuiltIn(b));
    }
    Ok(match store.application_by_app_id_shared(sp.app_id).await? {
        Some(app) => Exposed::Application(app),
        None => Exposed::Nothing,
    })
}

/// Builds the service principal value for an application in a tenant (not yet stored).
pub fn instantiate(
    env: &mut Env<'_>,
    tenant: &Tenant,
    app_id: AppId,
    display_name: &str,
    identifier_uris: &[String],
    owner: Option<crate::TenantId>,
) -> ServicePrincipal {
    let mut names = vec![app_id.to_string()];
    names.extend(identifier_uris.iter().cloned());
    ServicePrincipal {
        id: env.new_id(),
        tenant_id: tenant.id,
        app_id,
        app_owner_tenant_id: owner,
        display_name: display_name.to_string(),
        service_principal_type: ServicePrincipalType::Application,
        service_principal_names: names,
        alternative_names: vec![],
        app_role_assignment_required: false,
        account_enabled: true,
        created: env.now,
        saml: Default::default(),
    }
}

/// Creates the tenant's service principal for `app_id` (`POST /servicePrincipals {appId}`).
pub async fn create(
    env: &mut Env<'_>,
    tenant: &Tenant,
    app_id: &str,
) -> Result<ServicePrincipal, DirectoryError> {
    let Some(app_id) = AppId::parse(app_id) else {
        return Err(DirectoryError::BadRequest(format!(
            "appId '{app_id}' is not a GUID."
        )));
    };
    if env
        .store
        .service_principal_by_app_id(tenant.id, app_id)
        .await?
        .is_some()
    {
        return Err(DirectoryError::Conflict(format!(
            "The service principal cannot be created: a service principal for appId '{app_id}' already exists in this tenant."
        )));
    }
    let sp = if let Some(b) = catalog::built_in(app_id) {
        let uris: Vec<String> = b
            .service_principal_names
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        instantiate(env, tenant, app_id, b.display_name, &uris, None)
    } else {
        let Some(app) = env.store.application_by_app_id(app_id).await? else {
            return Err(DirectoryError::BadRequest(format!(
                "No application with appId '{app_id}' exists. Create the application first (POST /applications)."
            )));
        };
        if app.tenant_id != tenant.id && app.sign_in_audience == SignInAudience::AzureAdMyOrg {
            return Err(DirectoryError::BadRequest(format!(
                "Application '{app_id}' is single-tenant (signInAudience AzureADMyOrg) and belongs to another tenant; it cannot be instantiated here."
            )));
        }
        instantiate(
            env,
            tenant,
            app_id,
            &app.display_name,
            &app.identifier_uris,
            Some(app.tenant_id),
        )
    };
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Add service principal",
        "Add",
        vec![target(
            sp.id,
            "ServicePrincipal",
            Some(&sp.display_name),
            None,
            vec![modified("AppId", None, Some(app_id.to_string()))],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertServicePrincipal(sp.clone()))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(sp)
}

/// Loads a service principal.
pub async fn find(
    env: &Env<'_>,
    tenant: &Tenant,
    id: &str,
) -> Result<ServicePrincipal, DirectoryError> {
    let Some(oid) = ObjectId::parse(id) else {
        return Err(DirectoryError::BadRequest(format!(
            "Invalid object identifier '{id}'."
        )));
    };
    env.store
        .service_principal(tenant.id, oid)
        .await?
        .ok_or_else(|| not_found(id))
}

/// The settable properties of a service principal.
#[derive(Clone, Debug, Default)]
pub struct ServicePrincipalInput {
    /// accountEnabled
    pub account_enabled: Field<bool>,
    /// appRoleAssignmentRequired
    pub app_role_assignment_required: Field<bool>,
    /// SAML single sign-on settings.
    pub saml: SamlInput,
}

/// The SAML part of a service principal PATCH.
#[derive(Clone, Debug, Default)]
pub struct SamlInput {
    /// `preferredSingleSignOnMode`.
    pub mode: Field<String>,
    /// `samlSingleSignOnSettings.relayState`.
    pub relay_state: Field<String>,
    /// `preferredTokenSigningKeyThumbprint` (must name one of the signing certificates).
    pub preferred_thumbprint: Field<String>,
    /// `logoutUrl`.
    pub logout_url: Field<String>,
    /// `samlSingleSignOnSettings.castellanNameIdFormat`.
    pub name_id_format: Field<String>,
    /// `samlSingleSignOnSettings.castellanRequireSignedRequests`.
    pub require_signed_requests: Field<bool>,
    /// `samlSingleSignOnSettings.castellanClaims` (claim URI, source property).
    pub claims: Field<Vec<(String, String)>>,
    /// `keyCredentials` with usage `Verify` (DER; the adapter checked each parses).
    pub verification_certificates: Field<Vec<Vec<u8>>>,
    /// `samlSingleSignOnSettings.castellanSigningOption`.
    pub signing_option: Field<String>,
}

/// `preferredSingleSignOnMode` values Graph accepts.
pub const SSO_MODES: &[&str] = &["saml", "password", "oidc", "notSupported"];

fn apply_saml(
    sp: &mut ServicePrincipal,
    input: &SamlInput,
    props: &mut Vec<crate::audit::ModifiedProperty>,
) -> Result<(), DirectoryError> {
    let bad = |m: String| Err(DirectoryError::BadRequest(m));
    let old = sp.saml.clone();
    let s = &mut sp.saml;
    if let Some(m) = input.mode.value() {
        if !SSO_MODES.contains(&m.as_str()) {
            return bad(format!(
                "Invalid value '{m}' for preferredSingleSignOnMode: use one of {}.",
                SSO_MODES.join(", ")
            ));
        }
    }
    if input.mode.apply_opt(&mut s.preferred_single_sign_on_mode) {
        props.push(modified(
            "PreferredSingleSignOnMode",
            old.preferred_single_sign_on_mode.clone(),
            s.preferred_single_sign_on_mode.clone(),
        ));
    }
    if input.relay_state.apply_opt(&mut s.relay_state) {
        props.push(modified(
            "SamlSingleSignOnSettings",
            old.relay_state.clone(),
            s.relay_state.clone(),
        ));
    }
    if let Some(t) = input.preferred_thumbprint.value() {
        if !s
            .signing_certificates
            .iter()
            .any(|c| c.thumbprint.eq_ignore_ascii_case(t))
        {
            return bad(format!(
                "preferredTokenSigningKeyThumbprint '{t}' does not name one of this service principal's token signing certificates: add one with addTokenSigningCertificate and use its thumbprint."
            ));
        }
    }
    if input
        .preferred_thumbprint
        .apply_opt(&mut s.preferred_token_signing_key_thumbprint)
    {
        props.push(modified(
            "PreferredTokenSigningKeyThumbprint",
            old.preferred_token_signing_key_thumbprint.clone(),
            s.preferred_token_signing_key_thumbprint.clone(),
        ));
    }
    if let Some(u) = input.logout_url.value() {
        if !u.starts_with("https://")
            && !u.starts_with("http://localhost")
            && !u.starts_with("http://127.0.0.1")
        {
            return bad(format!("logoutUrl '{u}' must be an https URL."));
        }
    }
    if input.logout_url.apply_opt(&mut s.logout_url) {
        props.push(modified(
            "LogoutUrl",
            old.logout_url.clone(),
            s.logout_url.clone(),
        ));
    }
    if let Some(f) = input.name_id_format.value() {
        crate::flow::saml::name_id_format(Some(f), None)
            .map_err(|e| DirectoryError::BadRequest(e.message))?;
    }
    if input.name_id_format.apply_opt(&mut s.name_id_format) {
        props.push(modified(
            "SamlNameIdFormat",
            old.name_id_format.clone(),
            s.name_id_format.clone(),
        ));
    }
    if let Some(o) = input.signing_option.value() {
        if !crate::model::SAML_SIGNING_OPTIONS.contains(&o.as_str()) {
            return bad(format!(
                "Invalid value '{o}' for castellanSigningOption: use one of {}.",
                crate::model::SAML_SIGNING_OPTIONS.join(", ")
            ));
        }
    }
    if input.signing_option.apply_opt(&mut s.signing_option) {
        props.push(modified(
            "SamlSigningOption",
            old.signing_option.clone(),
            s.signing_option.clone(),
        ));
    }
    if let Some(v) = input.require_signed_requests.value() {
        s.require_signed_requests = *v;
        props.push(modified(
            "SamlRequireSignedRequests",
            Some(old.require_signed_requests.to_string()),
            Some(v.to_string()),
        ));
    }
    match &input.claims {
        Field::Value(c) => {
            if c.len() > 50 {
                return bad("At most 50 claims may be mapped.".into());
            }
            for (uri, src) in c {
                crate::flow::saml::check_claim_mapping(uri, src)
                    .map_err(DirectoryError::BadRequest)?;
            }
            s.claims = c.clone();
            props.push(modified(
                "SamlClaims",
                None,
                Some(format!("{} claims", c.len())),
            ));
        }
        Field::Null => s.claims.clear(),
        Field::Absent => {}
    }
    match &input.verification_certificates {
        Field::Value(c) => {
            s.verification_certificates = c.clone();
            props.push(modified(
                "KeyCredentials",
                None,
                Some(format!("{} verification certificates", c.len())),
            ));
        }
        Field::Null => s.verification_certificates.clear(),
        Field::Absent => {}
    }
    Ok(())
}

/// `POST /servicePrincipals/{id}/addTokenSigningCertificate`: keeps the new certificate (made
/// and sealed by the adapter). The first certificate also becomes the preferred one; later ones
/// are published in the metadata and sign once `preferredTokenSigningKeyThumbprint` names them
/// (rollover).
pub async fn add_token_signing_certificate(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    cert: crate::model::SamlSigningCertificate,
) -> Result<ServicePrincipal, DirectoryError> {
    let mut sp = find(env, tenant, id).await?;
    if sp.saml.signing_certificates.len() >= 10 {
        return Err(DirectoryError::BadRequest(
            "This service principal already has 10 token signing certificates: remove expired ones first.".into(),
        ));
    }
    if sp.saml.preferred_token_signing_key_thumbprint.is_none() {
        sp.saml.preferred_token_signing_key_thumbprint = Some(cert.thumbprint.clone());
    }
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Update service principal",
        "Update",
        vec![target(
            sp.id,
            "ServicePrincipal",
            Some(&sp.display_name),
            None,
            vec![modified(
                "KeyCredentials",
                None,
                Some(format!("token signing certificate {}", cert.thumbprint)),
            )],
        )],
    );
    sp.saml.signing_certificates.push(cert);
    let mut set = ChangeSet::new();
    set.push(Change::UpdateServicePrincipal(sp.clone()))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(sp)
}

/// Applies a PATCH.
pub async fn update(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    input: ServicePrincipalInput,
) -> Result<ServicePrincipal, DirectoryError> {
    let old = find(env, tenant, id).await?;
    let mut sp = old.clone();
    let mut props = Vec::new();
    if let Some(v) = input.account_enabled.value() {
        sp.account_enabled = *v;
        props.push(modified(
            "accountEnabled",
            Some(old.account_enabled.to_string()),
            Some(v.to_string()),
        ));
    }
    if let Some(v) = input.app_role_assignment_required.value() {
        sp.app_role_assignment_required = *v;
        props.push(modified(
            "appRoleAssignmentRequired",
            Some(old.app_role_assignment_required.to_string()),
            Some(v.to_string()),
        ));
    }
    apply_saml(&mut sp, &input.saml, &mut props)?;
    if props.is_empty() && sp == old {
        return Ok(old);
    }
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Update service principal",
        "Update",
        vec![target(
            sp.id,
            "ServicePrincipal",
            Some(&sp.display_name),
            None,
            props,
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateServicePrincipal(sp.clone()))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(sp)
}

/// Deletes a service principal (its assignments and grants go with it).
pub async fn delete(env: &mut Env<'_>, tenant: &Tenant, id: &str) -> Result<(), DirectoryError> {
    let sp = find(env, tenant, id).await?;
    if catalog::built_in(sp.app_id).is_some() {
        return Err(DirectoryError::BadRequest(format!(
            "'{}' is a built-in service principal and cannot be deleted.",
            sp.display_name
        )));
    }
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Remove service principal",
        "Delete",
        vec![target(
            sp.id,
            "ServicePrincipal",
            Some(&sp.display_name),
            None,
            vec![],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteServicePrincipal(tenant.id, sp.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// Grants `app_role_id` on `resource_id` to `principal_id` (a user, group or service principal).
/// An application permission is such an assignment whose principal is the client's service principal.
pub async fn assign_app_role(
    env: &mut Env<'_>,
    tenant: &Tenant,
    principal_id: ObjectId,
    resource_id: ObjectId,
    app_role_id: uuid::Uuid,
) -> Result<AppRoleAssignment, DirectoryError> {
    let principal_type = match env.store.object_kind(tenant.id, principal_id).await? {
        Some(k @ (ObjectKind::User | ObjectKind::Group | ObjectKind::ServicePrincipal)) => k,
        Some(ObjectKind::Application) => {
            return Err(DirectoryError::BadRequest(format!("principalId '{principal_id}' is an application object; use its service principal's id.")))
        }
        None => return Err(DirectoryError::NotFound(format!("principalId '{principal_id}' does not exist in this tenant."))),
    };
    let resource = env
        .store
        .service_principal(tenant.id, resource_id)
        .await?
        .ok_or_else(|| {
            DirectoryError::NotFound(format!(
                "resourceId '{resource_id}' is not a service principal in this tenant."
            ))
        })?;
    let (roles, _) = exposed(env.store, &resource).await?;
    if !app_role_id.is_nil() {
        let Some(role) = roles.iter().find(|r| r.id == app_role_id) else {
            return Err(DirectoryError::BadRequest(format!(
                "Permission being assigned was not found on application '{}': no app role with id '{app_role_id}' on resource '{}'.",
                resource.app_id, resource.display_name
            )));
        };
        let wanted = if principal_type == ObjectKind::ServicePrincipal {
            "Application"
        } else {
            "User"
        };
        if !role
            .allowed_member_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(wanted))
        {
            return Err(DirectoryError::BadRequest(format!(
                "App role '{}' does not allow member type '{wanted}' (allowedMemberTypes: {}).",
                role.value,
                role.allowed_member_types.join(", ")
            )));
        }
        if !role.is_enabled {
            return Err(DirectoryError::BadRequest(format!(
                "App role '{}' is disabled.",
                role.value
            )));
        }
    }
    let a = AppRoleAssignment {
        id: env.new_id(),
        tenant_id: tenant.id,
        principal_id,
        principal_type,
        resource_id,
        app_role_id,
        created: env.now,
    };
    let role_value = roles
        .iter()
        .find(|r| r.id == app_role_id)
        .map(|r| r.value.clone())
        .unwrap_or_else(|| "default access".into());
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        if principal_type == ObjectKind::ServicePrincipal {
            "Add app role assignment to service principal"
        } else {
            "Add app role assignment grant to user"
        },
        "Assign",
        vec![
            target(
                resource.id,
                "ServicePrincipal",
                Some(&resource.display_name),
                None,
                vec![modified("AppRole.Value", None, Some(role_value))],
            ),
            target(principal_id, "Other", None, None, vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertAppRoleAssignment(a.clone()))
        .audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::Conflict(_) => DirectoryError::Conflict(
            "Permission being assigned already exists on the object.".into(),
        ),
        other => other.into(),
    })?;
    Ok(a)
}

/// Removes an app-role assignment. `holder` is the principal or resource the path named.
pub async fn unassign_app_role(
    env: &mut Env<'_>,
    tenant: &Tenant,
    holder: ObjectId,
    assignment_id: &str,
) -> Result<(), DirectoryError> {
    let Some(aid) = ObjectId::parse(assignment_id) else {
        return Err(DirectoryError::BadRequest(format!(
            "Invalid object identifier '{assignment_id}'."
        )));
    };
    let mut all = env.store.app_role_assignments_of(tenant.id, holder).await?;
    all.extend(env.store.app_role_assignments_to(tenant.id, holder).await?);
    let Some(a) = all.into_iter().find(|a| a.id == aid) else {
        return Err(not_found(assignment_id));
    };
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Remove app role assignment",
        "Unassign",
        vec![
            target(a.resource_id, "ServicePrincipal", None, None, vec![]),
            target(a.principal_id, "Other", None, None, vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteAppRoleAssignment(tenant.id, a.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// Records a tenant-wide (`AllPrincipals`) delegated grant from `client` to `resource`.
pub async fn grant_delegated(
    env: &mut Env<'_>,
    tenant: &Tenant,
    client: &ServicePrincipal,
    resource: &ServicePrincipal,
    scope: &str,
) -> Result<OAuth2PermissionGrant, DirectoryError> {
    grant_delegated_to(env, tenant, client, resource, scope, None).await
}

/// Creates a delegated permission grant: tenant-wide (`principal` None, `AllPrincipals`) or for
/// one user (`Principal`). Every scope must be a delegated permission the resource exposes.
pub async fn grant_delegated_to(
    env: &mut Env<'_>,
    tenant: &Tenant,
    client: &ServicePrincipal,
    resource: &ServicePrincipal,
    scope: &str,
    principal: Option<crate::ObjectId>,
) -> Result<OAuth2PermissionGrant, DirectoryError> {
    if scope.split_whitespace().next().is_none() {
        return Err(DirectoryError::BadRequest(
            "scope must name at least one delegated permission.".into(),
        ));
    }
    if let Some(p) = principal {
        if env.store.user(tenant.id, p).await?.is_none() {
            return Err(DirectoryError::BadRequest(format!(
                "principalId '{p}' is not a user in this tenant."
            )));
        }
    }
    let (_, scopes) = exposed(env.store, resource).await?;
    for s in scope.split_whitespace() {
        if !scopes.iter().any(|x| x.value.eq_ignore_ascii_case(s)) {
            return Err(DirectoryError::BadRequest(format!(
                "Scope '{s}' is not a delegated permission of '{}'.",
                resource.display_name
            )));
        }
    }
    let g = OAuth2PermissionGrant {
        id: env.new_id(),
        tenant_id: tenant.id,
        client_id: client.id,
        consent_type: if principal.is_some() {
            "Principal".into()
        } else {
            "AllPrincipals".into()
        },
        principal_id: principal,
        resource_id: resource.id,
        scope: scope.to_string(),
    };
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Add delegated permission grant",
        "Assign",
        vec![
            target(
                resource.id,
                "ServicePrincipal",
                Some(&resource.display_name),
                None,
                vec![modified(
                    "DelegatedPermissionGrant.Scope",
                    None,
                    Some(scope.into()),
                )],
            ),
            target(
                client.id,
                "ServicePrincipal",
                Some(&client.display_name),
                None,
                vec![],
            ),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertPermissionGrant(g.clone()))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(g)
}

/// Deletes a delegated permission grant (`DELETE /oauth2PermissionGrants/{id}`); the next token
/// request for it fails with 65001.
pub async fn revoke_delegated(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
) -> Result<(), DirectoryError> {
    let Some(oid) = crate::ObjectId::parse(id) else {
        return Err(DirectoryError::NotFound(format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present.")));
    };
    let grants = env.store.permission_grants(tenant.id).await?;
    let Some(g) = grants.into_iter().find(|g| g.id == oid) else {
        return Err(DirectoryError::NotFound(format!(
            "oAuth2PermissionGrant '{id}' does not exist in this tenant."
        )));
    };
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Remove delegated permission grant",
        "Unassign",
        vec![target(
            g.resource_id,
            "ServicePrincipal",
            None,
            None,
            vec![modified(
                "DelegatedPermissionGrant.Scope",
                Some(g.scope.clone()),
                None,
            )],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeletePermissionGrant(tenant.id, g.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}
