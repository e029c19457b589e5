//! The token service's endpoints under `/{tenant}/...` (Microsoft identity platform v2.0 paths).

pub mod authorize;
pub mod device;
pub mod discovery;
pub mod external_idp;
pub mod flights;
pub mod mfa;
pub mod pages;
pub mod redeem;
pub mod saml;
pub mod tenant_choice;
pub mod token;

use axum::routing::{get, post};
use axum::Router;
use castellan_core::model::Tenant;
use castellan_core::store::{Store, StoreError};
use castellan_core::TenantId;
use tower_http::cors::{Any, CorsLayer};

use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/{tenant}/saml2", get(saml::saml2).post(saml::saml2))
        .route(
            "/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
            get(saml::metadata),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::jwks))
        .route("/{tenant}/discovery/keys", get(discovery::jwks))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize/login",
            post(authorize::login),
        )
        .route("/{tenant}/oauth2/v2.0/authorize/mfa", post(authorize::mfa))
        .route(
            "/{tenant}/oauth2/v2.0/authorize/tenant",
            post(tenant_choice::pick),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize/consent",
            post(authorize::consent),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize/adminconsent",
            post(authorize::adminconsent_answer),
        )
        .route("/{tenant}/v2.0/adminconsent", get(authorize::adminconsent))
        .route("/{tenant}/adminconsent", get(authorize::adminconsent))
        .route(
            "/{tenant}/oauth2/v2.0/authorize/changepassword",
            post(authorize::change_password),
        )
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            get(authorize::logout).post(authorize::logout),
        )
        .route("/devicelogin", get(device::page).post(device::submit))
        .route("/{tenant}/mfa/setup", get(mfa::page).post(mfa::submit))
        // Browser apps (SPA) call these cross-origin.
        .merge(
            Router::new()
                .route("/{tenant}/oauth2/v2.0/token", post(token::token))
                .route("/{tenant}/oauth2/v2.0/devicecode", post(device::devicecode))
                .layer(
                    CorsLayer::new()
                        .allow_origin(Any)
                        .allow_methods(Any)
                        .allow_headers(Any),
                ),
        )
}

/// What the `{tenant}` path segment names.
pub enum TenantRef {
    /// A real tenant.
    Tenant(Box<Tenant>),
    /// `common`, `organizations` or `consumers`.
    Alias(&'static str),
    /// Nothing we know.
    Unknown,
}

/// Resolves the `{tenant}` segment: a GUID, any verified domain (case-insensitive), or an alias.
pub async fn resolve_tenant(store: &dyn Store, segment: &str) -> Result<TenantRef, StoreError> {
    let lower = segment.to_ascii_lowercase();
    for alias in ["common", "organizations", "consumers"] {
        if lower == alias {
            return Ok(TenantRef::Alias(alias));
        }
    }
    let found = match TenantId::parse(&lower) {
        Some(id) => store.tenant(id).await?,
        None => store.tenant_by_domain(&lower).await?,
    };
    Ok(found.map_or(TenantRef::Unknown, |t| TenantRef::Tenant(Box::new(t))))
}

/// Rewrites the `scope` parameters of a request so that this server's own Graph base URL
/// (`https://host:port/graph`, what the Azure CLI derives its Graph token resource from) names
/// Microsoft Graph (`castellan_core::flow::scope::canonical_graph_scopes`).
pub fn canonical_scope_params(s: &AppState, pairs: &mut [(String, String)]) {
    let bases = s.origins.graph_bases();
    for (k, v) in pairs.iter_mut() {
        if k == "scope" {
            *v = castellan_core::flow::scope::canonical_graph_scopes(v, &bases);
        }
    }
}
