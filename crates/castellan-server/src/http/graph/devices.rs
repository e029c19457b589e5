//! `/v1.0/devices`, `/v1.0/devices/{id}/registeredOwners`, and the reverse edges
//! `/v1.0/users/{id}/registeredDevices` and `/v1.0/me/registeredDevices`. Decisions are
//! `core::ops::devices`'; authorisation is the Devices area (Device.Read.All /
//! Device.ReadWrite.All; Cloud Device, Intune or Global Administrator for delegated writes).

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use castellan_core::audit::Actor;
use castellan_core::graph_rules::{Access, Area};
use castellan_core::ops::{devices, users};
use castellan_wire::errors::GraphError;
use castellan_wire::graph::{devices as wire, parse_ref};
use castellan_wire::odata::EntitySpec;

use super::users::{objects_spec, select_one, with_context};
use super::{
    created, json_body, list, no_content, parse_id, render_object, store_err, ApiError, Caller,
};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/devices", get(list_devices).post(create))
        .route(
            "/v1.0/devices/{id}",
            get(get_device).patch(update).delete(remove),
        )
        .route("/v1.0/devices/{id}/registeredOwners", get(owners))
        .route("/v1.0/devices/{id}/registeredOwners/$ref", post(add_owner))
        .route(
            "/v1.0/devices/{id}/registeredOwners/{owner}/$ref",
            delete(remove_owner),
        )
        .route("/v1.0/users/{id}/registeredDevices", get(user_devices))
        .route("/v1.0/me/registeredDevices", get(my_devices))
}

/// The OData description of devices.
pub fn spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.device",
        wire::PROPERTIES,
        &["displayName", "registrationDateTime"],
        "id",
    )
}

async fn list_devices(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Devices, Access::Read)?;
    let all = s.store.devices(c.tenant.id).await.map_err(store_err(&c))?;
    list(
        &c,
        &uri,
        &headers,
        &spec(),
        "devices",
        all.iter().map(wire::render).collect(),
    )
}

async fn create(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    c.require(Area::Devices, Access::Write)?;
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    let d = devices::create(&mut c.env(&s, &mut ent), &c.tenant, input)
        .await
        .map_err(|e| c.err(e))?;
    Ok(created(
        format!("{}/devices/{}", c.base, d.id),
        with_context(&c, "devices/$entity", wire::render(&d)),
    ))
}

async fn get_device(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    c.require(Area::Devices, Access::Read)?;
    let mut ent = OsEntropy;
    let d = devices::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let v = select_one(&c, &uri, &spec(), wire::render(&d))?;
    Ok(Json(with_context(&c, "devices/$entity", v)).into_response())
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::Devices, Access::Write)?;
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    devices::update(&mut c.env(&s, &mut ent), &c.tenant, &id, input)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::Devices, Access::Write)?;
    let mut ent = OsEntropy;
    devices::delete(&mut c.env(&s, &mut ent), &c.tenant, &id)
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
    c.require(Area::Devices, Access::Read)?;
    let mut ent = OsEntropy;
    let d = devices::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let mut items = Vec::new();
    for o in s
        .store
        .owners(c.tenant.id, d.id)
        .await
        .map_err(store_err(&c))?
    {
        if let Some(v) = render_object(&s, &c.tenant, o, castellan_core::model::ObjectKind::User)
            .await
            .map_err(store_err(&c))?
        {
            items.push(v);
        }
    }
    list(
        &c,
        &uri,
        &headers,
        &objects_spec(),
        "directoryObjects",
        items,
    )
}

async fn add_owner(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::Devices, Access::Write)?;
    let o = parse_ref(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    devices::add_owner(&mut c.env(&s, &mut ent), &c.tenant, &id, o)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove_owner(
    State(s): State<AppState>,
    c: Caller,
    Path((id, owner)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    c.require(Area::Devices, Access::Write)?;
    let o = parse_id(&c, &owner)?;
    let mut ent = OsEntropy;
    devices::remove_owner(&mut c.env(&s, &mut ent), &c.tenant, &id, o)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn devices_of(
    s: &AppState,
    c: &Caller,
    user: castellan_core::ObjectId,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let all = s
        .store
        .devices_owned_by(c.tenant.id, user)
        .await
        .map_err(store_err(c))?;
    list(
        c,
        uri,
        headers,
        &spec(),
        "directoryObjects",
        all.iter().map(wire::render).collect(),
    )
}

async fn user_devices(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Devices, Access::Read)?;
    let mut ent = OsEntropy;
    let u = users::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    devices_of(&s, &c, u.id, &uri, &headers).await
}

async fn my_devices(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Actor::User { id, .. } = &c.actor else {
        return Err(c.err(GraphError::bad_request(
            "/me request is only valid with delegated authentication flow: an app-only token has no signed-in user. Use /users/{id}/registeredDevices instead.",
        )));
    };
    c.require(Area::Me, Access::Read)?;
    devices_of(&s, &c, *id, &uri, &headers).await
}
