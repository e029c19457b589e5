//! `/v1.0/directory/deletedItems`: the recycle bin. `GET …/microsoft.graph.{user,group,
//! application}` lists one kind (OData `$filter`, `$top`, `$count` as for the live lists),
//! `GET …/{id}` reads one item, `POST …/{id}/restore` brings it back, `DELETE …/{id}` deletes
//! it for good. Reading, restoring and deleting need what deleting the live object needs
//! (`Op::UserDelete`, `GroupDelete`, `AppDelete`), decided on the snapshot.

use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::authz::{Op, Target};
use castellan_core::deleted_items::DeletedItem;
use castellan_core::error::Code;
use castellan_core::graph_rules::{Access, Area};
use castellan_core::model::ObjectKind;
use castellan_core::ops::deleted_items as ops;
use castellan_core::DirectoryError;
use castellan_wire::graph::deleted_items as wire;
use castellan_wire::odata::EntitySpec;
use serde_json::Value;

use super::users::{select_one, with_context};
use super::{list, no_content, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1.0/directory/deletedItems/{segment}",
            get(list_or_get).delete(purge),
        )
        .route("/v1.0/directory/deletedItems/{id}/restore", post(restore))
}

/// What managing deleted objects of a kind needs: the live delete's operation and area.
fn op_of(kind: ObjectKind) -> (Op, Area, &'static str, fn() -> EntitySpec) {
    match kind {
        ObjectKind::User => (Op::UserDelete, Area::Users, "user", super::users::spec),
        ObjectKind::Group => (Op::GroupDelete, Area::Groups, "group", super::groups::spec),
        _ => (
            Op::AppDelete,
            Area::Applications,
            "application",
            super::applications::spec,
        ),
    }
}

/// Authorises an operation on one deleted item (its snapshot is the target, with the
/// role-assignable groups a restore would bring a user back into).
async fn authorize_item(s: &AppState, c: &Caller, item: &DeletedItem) -> Result<(), ApiError> {
    let (op, area, ..) = op_of(item.object.kind());
    c.require(area, Access::Read)?;
    let mut ent = OsEntropy;
    let target = ops::authz_target(&c.env(s, &mut ent), &c.tenant, item, c.oid)
        .await
        .map_err(|e| c.err(e))?;
    c.authorize(op, &target)
}

async fn list_or_get(
    State(s): State<AppState>,
    c: Caller,
    Path(segment): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut ent = OsEntropy;
    let env = c.env(&s, &mut ent);
    if !wire::is_cast(&segment) {
        let item = ops::get(&env, &c.tenant, &segment)
            .await
            .map_err(|e| c.err(e))?;
        authorize_item(&s, &c, &item).await?;
        let (.., spec) = op_of(item.object.kind());
        let v = select_one(
            &c,
            &uri,
            &spec(),
            wire::render(&item, c.tenant.initial_domain()),
        )?;
        return Ok(Json(with_context(&c, "directory/deletedItems/$entity", v)).into_response());
    }
    let kind = wire::cast_kind(&segment).ok_or_else(|| {
        c.err(DirectoryError::BadRequest(
            Code::DeletedItemBadKind.message(&[("segment", &segment)]),
        ))
    })?;
    let (op, area, word, spec) = op_of(kind);
    c.require(area, Access::Read)?;
    c.authorize(op, &Target::default())?;
    let items: Vec<Value> = ops::list(&env, &c.tenant, kind)
        .await
        .map_err(|e| c.err(e))?
        .iter()
        .map(|i| wire::render(i, c.tenant.initial_domain()))
        .collect();
    list(
        &c,
        &uri,
        &headers,
        &spec(),
        &format!("directory/deletedItems/microsoft.graph.{word}"),
        items,
    )
}

async fn restore(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut ent = OsEntropy;
    let mut env = c.env(&s, &mut ent);
    let item = ops::get(&env, &c.tenant, &id).await.map_err(|e| c.err(e))?;
    authorize_item(&s, &c, &item).await?;
    let item = ops::restore(&mut env, &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let mut v = wire::render(&item, c.tenant.initial_domain());
    if let Some(o) = v.as_object_mut() {
        o.insert("deletedDateTime".into(), Value::Null);
    }
    Ok(Json(with_context(&c, "directoryObjects/$entity", v)).into_response())
}

async fn purge(
    State(s): State<AppState>,
    c: Caller,
    Path(segment): Path<String>,
) -> Result<Response, ApiError> {
    let mut ent = OsEntropy;
    let mut env = c.env(&s, &mut ent);
    let item = ops::get(&env, &c.tenant, &segment)
        .await
        .map_err(|e| c.err(e))?;
    authorize_item(&s, &c, &item).await?;
    ops::purge(&mut env, &c.tenant, &segment)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

/// The purge sweep: in every tenant, deletes for good the items deleted 30 days ago or more
/// (`core::deleted_items::due_for_purge`), audited by the system operator. Returns how many.
pub async fn sweep(
    store: &dyn castellan_core::store::Store,
    now: castellan_core::Timestamp,
) -> Result<usize, String> {
    let mut total = 0;
    for t in store.tenants().await.map_err(|e| e.to_string())? {
        let mut ent = OsEntropy;
        let mut env = castellan_core::ops::Env {
            store,
            now,
            entropy: &mut ent,
            hasher: &super::pim::NoHashing,
            actor: castellan_core::audit::Actor::Operator,
            correlation_id: String::new(),
        };
        total += ops::sweep(&mut env, &t).await.map_err(|e| e.to_string())?;
    }
    Ok(total)
}
