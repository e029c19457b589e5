//! `/v1.0/applications`.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::authz::{self, Op, Target};
use castellan_core::graph_rules::{Access, Area};
use castellan_core::ops::{applications, federated_credentials};
use castellan_wire::graph::applications as wire;
use castellan_wire::graph::federated_identity_credentials as fic_wire;
use castellan_wire::odata::EntitySpec;

use super::users::{select_one, with_context};
use super::{created, json_body, list, no_content, parse_id, store_err, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/applications", get(list_apps).post(create))
        .route(
            "/v1.0/applications/{id}",
            get(get_app).patch(update).delete(remove),
        )
        .route("/v1.0/applications/{id}/addPassword", post(add_password))
        .route(
            "/v1.0/applications/{id}/removePassword",
            post(remove_password),
        )
        .route(
            "/v1.0/applications/{id}/federatedIdentityCredentials",
            get(list_fics).post(add_fic),
        )
        .route(
            "/v1.0/applications/{id}/federatedIdentityCredentials/{fic}",
            get(get_fic).patch(update_fic).delete(remove_fic),
        )
        .route("/v1.0/applications/{id}/owners", get(owners))
        .route("/v1.0/applications/{id}/owners/$ref", post(add_owner))
        .route(
            "/v1.0/applications/{id}/owners/{owner}/$ref",
            axum::routing::delete(remove_owner),
        )
}

/// The OData description of applications.
pub fn spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.application",
        wire::PROPERTIES,
        &["displayName"],
        "id",
    )
}

async fn list_apps(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let all = s
        .store
        .applications(c.tenant.id)
        .await
        .map_err(store_err(&c))?;
    let d = c.tenant.initial_domain().to_string();
    list(
        &c,
        &uri,
        &headers,
        &spec(),
        "applications",
        all.iter().map(|a| wire::render(a, &d)).collect(),
    )
}

async fn create(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    c.authorize(
        Op::AppCreate,
        &Target {
            members_may_create: c.tenant.settings.users_can_create_apps,
            ..Target::default()
        },
    )?;
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    check_certificates(&c, &input)?;
    let mut ent = OsEntropy;
    let a = applications::create(&mut c.env(&s, &mut ent), &c.tenant, input)
        .await
        .map_err(|e| c.err(e))?;
    if authz::creator_becomes_owner(&c.principal(), Op::AppUpdate) {
        applications::add_owner(
            &mut c.env(&s, &mut ent),
            &c.tenant,
            &a.id.to_string(),
            c.oid,
        )
        .await
        .map_err(|e| c.err(e))?;
    }
    Ok(created(
        format!("{}/applications/{}", c.base, a.id),
        with_context(
            &c,
            "applications/$entity",
            wire::render(&a, c.tenant.initial_domain()),
        ),
    ))
}

async fn get_app(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let mut ent = OsEntropy;
    let a = applications::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let v = select_one(
        &c,
        &uri,
        &spec(),
        wire::render(&a, c.tenant.initial_domain()),
    )?;
    Ok(Json(with_context(&c, "applications/$entity", v)).into_response())
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    for op in authz::app_patch_ops(&input) {
        may_write_app(&s, &c, &id, op).await?;
    }
    check_certificates(&c, &input)?;
    let mut ent = OsEntropy;
    applications::update(&mut c.env(&s, &mut ent), &c.tenant, &id, input)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    may_write_app(&s, &c, &id, Op::AppDelete).await?;
    let mut ent = OsEntropy;
    applications::delete(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn add_password(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_app(&s, &c, &id, Op::AppCredentials).await?;
    let v = if body.is_empty() {
        serde_json::json!({})
    } else {
        json_body(&c, &body)?
    };
    let (name, end) = wire::parse_add_password(&v).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    let n = applications::add_password(&mut c.env(&s, &mut ent), &c.tenant, &id, name, end)
        .await
        .map_err(|e| c.err(e))?;
    let body = with_context(
        &c,
        "microsoft.graph.passwordCredential",
        wire::render_password(&n.credential, Some(n.secret_text.expose())),
    );
    Ok(Json(body).into_response())
}

async fn remove_password(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_app(&s, &c, &id, Op::AppCredentials).await?;
    let key = wire::parse_remove_password(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    applications::remove_password(&mut c.env(&s, &mut ent), &c.tenant, &id, key)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn owners(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let mut ent = OsEntropy;
    let a = applications::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    super::owners_list(&s, &c, a.id, &uri, &headers).await
}

async fn add_owner(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_app(&s, &c, &id, Op::AppOwners).await?;
    let o = castellan_wire::graph::parse_ref(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    applications::add_owner(&mut c.env(&s, &mut ent), &c.tenant, &id, o)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove_owner(
    State(s): State<AppState>,
    c: Caller,
    Path((id, owner)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    may_write_app(&s, &c, &id, Op::AppOwners).await?;
    let o = parse_id(&c, &owner)?;
    let mut ent = OsEntropy;
    applications::remove_owner(&mut c.env(&s, &mut ent), &c.tenant, &id, o)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

/// The OData description of federated identity credentials.
fn fic_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.federatedIdentityCredential",
        fic_wire::PROPERTIES,
        &["name"],
        "id",
    )
}

fn fic_context(app: &str) -> String {
    format!("applications('{app}')/federatedIdentityCredentials")
}

// Federated identity credentials are authorised like every other application update
// (`Area::Applications` write: Application.ReadWrite.All / Directory.ReadWrite.All, and for
// delegated calls the signed-in user's own right to update applications).

async fn list_fics(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let mut ent = OsEntropy;
    let fics = federated_credentials::list(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    list(
        &c,
        &uri,
        &headers,
        &fic_spec(),
        &fic_context(&id),
        fics.iter().map(fic_wire::render).collect(),
    )
}

async fn add_fic(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_app(&s, &c, &id, Op::AppCredentials).await?;
    let input = fic_wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    let f = federated_credentials::add(&mut c.env(&s, &mut ent), &c.tenant, &id, input)
        .await
        .map_err(|e| c.err(e))?;
    Ok(created(
        format!(
            "{}/applications/{id}/federatedIdentityCredentials/{}",
            c.base, f.id
        ),
        with_context(
            &c,
            &format!("{}/$entity", fic_context(&id)),
            fic_wire::render(&f),
        ),
    ))
}

async fn get_fic(
    State(s): State<AppState>,
    c: Caller,
    Path((id, fic)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let mut ent = OsEntropy;
    let f = federated_credentials::get(&c.env(&s, &mut ent), &c.tenant, &id, &fic)
        .await
        .map_err(|e| c.err(e))?;
    let v = select_one(&c, &uri, &fic_spec(), fic_wire::render(&f))?;
    Ok(Json(with_context(
        &c,
        &format!("{}/$entity", fic_context(&id)),
        v,
    ))
    .into_response())
}

async fn update_fic(
    State(s): State<AppState>,
    c: Caller,
    Path((id, fic)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_app(&s, &c, &id, Op::AppCredentials).await?;
    let patch = fic_wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    federated_credentials::update(&mut c.env(&s, &mut ent), &c.tenant, &id, &fic, patch)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove_fic(
    State(s): State<AppState>,
    c: Caller,
    Path((id, fic)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    may_write_app(&s, &c, &id, Op::AppCredentials).await?;
    let mut ent = OsEntropy;
    federated_credentials::delete(&mut c.env(&s, &mut ent), &c.tenant, &id, &fic)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

/// Every uploaded key credential must parse as an X.509 certificate.
fn check_certificates(
    c: &Caller,
    input: &castellan_core::ops::applications::ApplicationInput,
) -> Result<(), ApiError> {
    if let Some(keys) = input.key_credentials.value() {
        for k in keys {
            if let Err(e) = crate::assertion::parse_certificate(&k.certificate_der) {
                return Err(c.err(castellan_wire::errors::GraphError::bad_request(format!(
                    "keyCredentials: key {} is not a valid X.509 certificate ({e}). Upload the certificate's DER, base64-encoded.",
                    k.key_id
                ))));
            }
        }
    }
    Ok(())
}

/// The caller may do `op` on this application (404 first when it does not exist): core decides
/// from the token, the caller's roles and whether the caller owns it.
async fn may_write_app(s: &AppState, c: &Caller, id: &str, op: Op) -> Result<(), ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let mut ent = OsEntropy;
    let a = applications::find(&c.env(s, &mut ent), &c.tenant, id)
        .await
        .map_err(|e| c.err(e))?;
    c.authorize_on_object(s, op, a.id).await
}
