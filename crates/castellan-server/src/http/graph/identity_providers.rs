//! `/v1.0/identity/identityProviders`: the tenant's external OpenID Connect providers for B2B
//! guests (`openIdConnectIdentityProvider`, shapes in `wire::graph::identity_providers`,
//! decisions in `core::external_idp`, stored by `core::ops::external_idp`). The client secret
//! is sealed under the master key (AES-256-GCM, its own purpose) before it is stored and is
//! never returned (reads show `****`). External Identity Provider Administrator or Global
//! Administrator; applications need IdentityProvider.ReadWrite.All (reads: .Read.All).

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_core::external_idp::OidcProvider;
use castellan_core::graph_rules::{Access, Area};
use castellan_core::model::PolicyDocument;
use castellan_core::ops::external_idp as ops;
use castellan_core::ops::Entropy as _;
use castellan_core::ObjectId;
use castellan_wire::errors::GraphError;
use castellan_wire::graph::identity_providers as w;
use castellan_wire::odata::EntitySpec;

use super::{created, json_body, list, no_content, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// The sealing purpose of client secrets (a value sealed for another purpose never opens).
pub const SECRET_PURPOSE: &[u8] = b"castellan-external-idp-client-secret";

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1.0/identity/identityProviders",
            get(list_all).post(create),
        )
        .route(
            "/v1.0/identity/identityProviders/{id}",
            get(get_one).patch(update).delete(delete),
        )
}

/// The stored document's parser (for `ops::external_idp`).
pub fn parse_stored(d: &PolicyDocument) -> Result<OidcProvider, String> {
    w::from_document(d)
}

/// Opens a provider's client secret.
pub fn client_secret(s: &AppState, p: &OidcProvider) -> Result<String, String> {
    let sealed = STANDARD
        .decode(&p.client_secret_sealed)
        .map_err(|e| format!("the stored client secret is not base64: {e}"))?;
    let plain = s.keys.open_purpose(SECRET_PURPOSE, &sealed)?;
    String::from_utf8(plain).map_err(|_| "the stored client secret is not UTF-8".to_string())
}

fn spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.identityProviderBase",
        &[
            "id",
            "displayName",
            "clientId",
            "issuer",
            "metadataUrl",
            "scope",
        ],
        &["displayName", "id", "issuer", "clientId"],
        "id",
    )
}

async fn all(s: &AppState, c: &Caller) -> Result<Vec<OidcProvider>, ApiError> {
    ops::providers(s.store.as_ref(), &c.tenant, parse_stored)
        .await
        .map_err(|e| c.err(e))
}

fn find<'a>(c: &Caller, all: &'a [OidcProvider], id: &str) -> Result<&'a OidcProvider, ApiError> {
    all.iter()
        .find(|p| p.id.to_string().eq_ignore_ascii_case(id.trim()))
        .ok_or_else(|| c.err(GraphError::not_found(format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))))
}

async fn list_all(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::IdentityProviders, Access::Read)?;
    let items = all(&s, &c).await?.iter().map(w::render).collect();
    list(
        &c,
        &uri,
        &headers,
        &spec(),
        "identity/identityProviders",
        items,
    )
}

async fn get_one(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::IdentityProviders, Access::Read)?;
    let all = all(&s, &c).await?;
    Ok(Json(w::render(find(&c, &all, &id)?)).into_response())
}

async fn save(
    s: &AppState,
    c: &Caller,
    body: &serde_json::Value,
    id: ObjectId,
    old: Option<&OidcProvider>,
) -> Result<OidcProvider, ApiError> {
    let (mut p, secret) = w::parse(body, id, c.tenant.id).map_err(|e| c.err(e))?;
    p.client_secret_sealed = match (secret, old) {
        (Some(plain), _) => {
            let sealed = s
                .keys
                .seal_purpose(SECRET_PURPOSE, plain.as_bytes())
                .map_err(|e| c.err(GraphError::unavailable(e)))?;
            STANDARD.encode(sealed)
        }
        (None, Some(o)) => o.client_secret_sealed.clone(),
        (None, None) => String::new(),
    };
    let doc = w::to_document(&p);
    let mut ent = OsEntropy;
    ops::put(&mut c.env(s, &mut ent), &c.tenant, &p, doc, parse_stored)
        .await
        .map_err(|e| c.err(e))?;
    Ok(p)
}

async fn create(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    c.require(Area::IdentityProviders, Access::Write)?;
    let v = json_body(&c, &body)?;
    let id = ObjectId::from_random(OsEntropy.bytes16());
    let p = save(&s, &c, &v, id, None).await?;
    Ok(created(
        format!("{}/identity/identityProviders/{}", c.base, p.id),
        w::render(&p),
    ))
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::IdentityProviders, Access::Write)?;
    let patch = json_body(&c, &body)?;
    let all = all(&s, &c).await?;
    let old = find(&c, &all, &id)?;
    let mut merged = w::render(old);
    if let Some(o) = merged.as_object_mut() {
        o.remove("clientSecret");
        o.remove("id");
    }
    castellan_wire::graph::conditional_access::merge(&mut merged, &patch);
    save(&s, &c, &merged, old.id, Some(old)).await?;
    Ok(no_content())
}

async fn delete(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::IdentityProviders, Access::Write)?;
    let all = all(&s, &c).await?;
    let p = find(&c, &all, &id)?;
    let mut ent = OsEntropy;
    ops::delete(&mut c.env(&s, &mut ent), &c.tenant, p.id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}
