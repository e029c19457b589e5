//! Token-endpoint use cases: load what a grant needs, then call the pure flow.

use crate::error::AadstsError;
use crate::flow::{client_credentials, scope, AccessTokenClaims};
use crate::model::{Application, ServicePrincipal, Tenant};
use crate::ops::service_principals::exposed_shared;
use crate::secret::SecretText;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::AppId;
use std::sync::Arc;

/// A client-credentials request, as parsed by wire.
pub struct ClientCredentialsRequest {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret` (body or HTTP Basic).
    pub client_secret: Option<SecretText>,
    /// A `client_assertion` was sent and the server verified it before calling this op: against
    /// the application's certificates (signature, aud, iss/sub, lifetime, jti) or, for a
    /// federated assertion, against the external issuer's keys and a federated identity
    /// credential (`flow::federated_assertion`).
    pub client_assertion_verified: Option<crate::flow::VerifiedAssertion>,
    /// `scope`.
    pub scope: Option<String>,
}

/// Why a token could not be issued: a protocol error, or the store failing.
#[derive(Debug)]
pub enum TokenError {
    /// An Entra error for the client.
    Aadsts(AadstsError),
    /// The store failed; the client should retry.
    Store(StoreError),
}

impl From<AadstsError> for TokenError {
    fn from(e: AadstsError) -> Self {
        Self::Aadsts(e)
    }
}
impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Loads the client's application and service principal in `tenant` (700016 if either is
/// missing), shared with the read model (not copied).
pub async fn load_client(
    store: &dyn Store,
    tenant: &Tenant,
    client_id: &str,
) -> Result<(Arc<Application>, Arc<ServicePrincipal>), TokenError> {
    let tenant_name = tenant.id.to_string();
    let Some(app_id) = AppId::parse(client_id) else {
        return Err(AadstsError::client_not_found(client_id, &tenant_name).into());
    };
    let sp = store
        .service_principal_by_app_id_shared(tenant.id, app_id)
        .await?;
    let app = client_application_shared(store, app_id).await?;
    match (app, sp) {
        (Some(app), Some(sp)) => Ok((app, sp)),
        _ => Err(AadstsError::client_not_found(client_id, &tenant_name).into()),
    }
}

/// The application registration a client id names: one in the store, or one of Microsoft's
/// first-party public clients (which live in Microsoft's tenant, not in the store; their
/// service principal in a tenant is what makes them usable there).
pub async fn client_application(
    store: &dyn Store,
    app_id: AppId,
) -> Result<Option<Application>, StoreError> {
    Ok(match store.application_by_app_id(app_id).await? {
        None => {
            crate::catalog::first_party_client(app_id).map(crate::catalog::first_party_application)
        }
        found => found,
    })
}

/// [`client_application`], shared with the read model.
pub async fn client_application_shared(
    store: &dyn Store,
    app_id: AppId,
) -> Result<Option<Arc<Application>>, StoreError> {
    Ok(match store.application_by_app_id_shared(app_id).await? {
        None => crate::catalog::first_party_client(app_id)
            .map(|c| Arc::new(crate::catalog::first_party_application(c))),
        found => found,
    })
}

/// `grant_type=client_credentials`.
pub async fn client_credentials(
    store: &dyn Store,
    tenant: &Tenant,
    req: ClientCredentialsRequest,
    now: Timestamp,
    uti: String,
) -> Result<AccessTokenClaims, TokenError> {
    let client_id = req
        .client_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AadstsError::missing_parameter("client_id"))?;
    let scope_text = req
        .scope
        .as_deref()
        .ok_or_else(|| AadstsError::missing_parameter("scope"))?;
    let (app, client_sp) = load_client(store, tenant, client_id).await?;
    let auth = crate::flow::client_credentials::authenticate_client(
        &app,
        req.client_secret.as_ref(),
        req.client_assertion_verified,
        false,
        now,
    )?;
    let wanted = scope::parse_default_scope(scope_text)?;
    let resource_sp = find_resource(store, tenant, &wanted.resource).await?;
    let exposed = exposed_shared(store, &resource_sp).await?;
    let assignments = store
        .app_role_assignments_of(tenant.id, client_sp.id)
        .await?;
    let claims = client_credentials::issue(&client_credentials::ClientCredentialsInput {
        tenant,
        client_app_id: app.app_id,
        client_sp: &client_sp,
        auth,
        resource_sp: &resource_sp,
        resource_roles: exposed.roles(),
        assignments: &assignments,
        now,
        uti,
    })?;
    // The resource's application is already loaded (or built in): no second read.
    let version = if crate::catalog::built_in(resource_sp.app_id).is_some() {
        BUILT_IN_TOKEN_VERSION
    } else {
        crate::flow::resource_token_version(exposed.application())
    };
    Ok(crate::flow::for_token_version(
        claims,
        version,
        &wanted.resource,
    ))
}

/// The access-token version the resource accepts: its application's
/// `requestedAccessTokenVersion`. Microsoft's first-party resources (Microsoft Graph, Azure
/// Resource Manager, Azure Storage: `catalog::built_in_resources`) accept v1 tokens, which is
/// what Entra issues for them from either endpoint.
pub async fn resource_version(
    store: &dyn Store,
    resource_sp: &ServicePrincipal,
) -> Result<u8, StoreError> {
    if crate::catalog::built_in(resource_sp.app_id).is_some() {
        return Ok(BUILT_IN_TOKEN_VERSION);
    }
    let app = store.application_by_app_id(resource_sp.app_id).await?;
    Ok(crate::flow::resource_token_version(app.as_ref()))
}

/// The access-token version of every built-in (first-party) resource.
pub const BUILT_IN_TOKEN_VERSION: u8 = 1;

/// Finds the resource service principal for an identifier (App ID URI or appId), 500011 if none.
pub async fn find_resource(
    store: &dyn Store,
    tenant: &Tenant,
    resource: &str,
) -> Result<Arc<ServicePrincipal>, TokenError> {
    if let Some(app_id) = AppId::parse(resource) {
        if let Some(sp) = store
            .service_principal_by_app_id_shared(tenant.id, app_id)
            .await?
        {
            return Ok(sp);
        }
    }
    // Built-in resources (Microsoft Graph) are known by name without scanning the tenant.
    if let Some(b) = crate::catalog::built_in_resources().iter().find(|b| {
        b.service_principal_names
            .iter()
            .any(|n| scope::resource_matches(n, resource))
    }) {
        if let Some(sp) = store
            .service_principal_by_app_id_shared(tenant.id, b.app_id)
            .await?
        {
            return Ok(sp);
        }
    }
    // An identifier URI names one application across all tenants (the store's unique index):
    // the resource is that application's service principal *in this tenant*, or nothing. The
    // audience of a token can therefore never be an identifier URI resolved to a different
    // application than the one holding it, whichever tenant asks.
    let not_found = || AadstsError::resource_not_found(resource, &tenant.id.to_string()).into();
    if let Some(app) = store.application_by_identifier_uri(resource).await? {
        if let Some(sp) = store
            .service_principal_by_app_id_shared(tenant.id, app.app_id)
            .await?
        {
            return Ok(sp);
        }
        if app.tenant_id != tenant.id {
            return Err(not_found());
        }
    }
    // Otherwise a service principal name, but only one no application claims differently: a
    // principal without an application (managed identities, built-ins), or one whose
    // application is this tenant's own and still lists the URI (a row kept by an older
    // collision). Names copied from an application that has since given the URI up never
    // match.
    for sp in store.service_principals(tenant.id).await? {
        if !sp
            .service_principal_names
            .iter()
            .any(|n| scope::resource_matches(n, resource))
        {
            continue;
        }
        match store.application_by_app_id(sp.app_id).await? {
            None => return Ok(Arc::new(sp)),
            Some(app)
                if app.tenant_id == tenant.id
                    && app
                        .identifier_uris
                        .iter()
                        .any(|u| scope::resource_matches(u, resource)) =>
            {
                return Ok(Arc::new(sp))
            }
            Some(_) => {}
        }
    }
    Err(not_found())
}

/// The app-role assignments a user holds directly and through (transitive) group membership
/// in force at `now` (PIM-for-groups memberships count while active).
pub async fn user_assignments(
    store: &dyn Store,
    tenant: &Tenant,
    user: crate::ObjectId,
    now: crate::Timestamp,
) -> Result<Vec<crate::model::AppRoleAssignment>, StoreError> {
    let mut out = store.app_role_assignments_of(tenant.id, user).await?;
    let graph = crate::model::MembershipGraph::new(
        &crate::ops::groups::memberships_at(store, tenant.id, now).await?,
    );
    for g in graph.transitive_member_of(user) {
        out.extend(store.app_role_assignments_of(tenant.id, g).await?);
    }
    Ok(out)
}
