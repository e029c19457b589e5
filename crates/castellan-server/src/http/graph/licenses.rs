//! Licences: `GET /subscribedSkus[/{id}]` (the tenant's subscriptions with Microsoft's SKU and
//! service-plan ids, consumed units computed), `POST /users/{id}/assignLicense` and
//! `POST /groups/{id}/assignLicense` (group-based licensing to direct members),
//! `GET /users/{id}/licenseDetails` and `/me/licenseDetails`. Decisions are
//! `core::ops::licenses`'; writes need `LicenseAssignment.ReadWrite.All` (or User/Group/
//! Directory.ReadWrite.All) and, delegated, License Administrator, User Administrator or
//! Global Administrator (`microsoft.directory/{users,groups}/assignLicense`).

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::authz::Op;
use castellan_core::graph_rules::{Access, Area};
use castellan_core::ops::{groups, licenses as ops, users};
use castellan_wire::errors::GraphError;
use castellan_wire::graph::licenses as wire;
use castellan_wire::odata::EntitySpec;
use serde_json::Value;

use super::users::{select_one, with_context};
use super::{json_body, list, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/subscribedSkus", get(list_skus))
        .route("/v1.0/subscribedSkus/{id}", get(get_sku))
        .route("/v1.0/users/{id}/assignLicense", post(assign_user))
        .route("/v1.0/groups/{id}/assignLicense", post(assign_group))
        .route("/v1.0/users/{id}/licenseDetails", get(user_details))
        .route("/v1.0/me/licenseDetails", get(my_details))
}

fn sku_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.subscribedSku",
        wire::SKU_PROPERTIES,
        &[
            "skuPartNumber",
            "skuId",
            "capabilityStatus",
            "consumedUnits",
        ],
        "id",
    )
}

fn details_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.licenseDetails",
        wire::DETAIL_PROPERTIES,
        &["skuPartNumber", "skuId"],
        "id",
    )
}

async fn skus(s: &AppState, c: &Caller) -> Result<Vec<Value>, ApiError> {
    let l = ops::load(s.store.as_ref(), &c.tenant)
        .await
        .map_err(|e| c.err(e))?;
    Ok(l.subscriptions
        .iter()
        .map(|sub| {
            let consumed = l.view.consumed.get(&sub.sku_id).copied().unwrap_or(0);
            wire::render_subscribed_sku(sub, &c.tenant.display_name, consumed)
        })
        .collect())
}

async fn list_skus(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Licenses, Access::Read)?;
    let items = skus(&s, &c).await?;
    list(&c, &uri, &headers, &sku_spec(), "subscribedSkus", items)
}

async fn get_sku(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    c.require(Area::Licenses, Access::Read)?;
    let want = id.to_ascii_lowercase();
    let found = skus(&s, &c)
        .await?
        .into_iter()
        .find(|v| {
            v["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&want))
                || v["skuId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&want))
        })
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "Resource '{id}' does not exist: the tenant has no subscription with this id (ids are '{{tenantId}}_{{skuId}}')."
            )))
        })?;
    let v = select_one(&c, &uri, &sku_spec(), found)?;
    Ok(Json(with_context(&c, "subscribedSkus/$entity", v)).into_response())
}

/// Renders a user with its licence properties (what `assignLicense` answers).
async fn user_with_licenses(
    s: &AppState,
    c: &Caller,
    u: &castellan_core::model::User,
) -> Result<Value, ApiError> {
    let l = ops::load(s.store.as_ref(), &c.tenant)
        .await
        .map_err(|e| c.err(e))?;
    let mut v = castellan_wire::graph::users::render(u);
    wire::add_user_licenses(&mut v, &l.view, u.id);
    Ok(with_context(c, "users/$entity", v))
}

async fn assign_user(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::Users, Access::Read)?;
    let (add, remove) = wire::parse_assign(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    let target = users::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    c.authorize_on_user(&s, &[Op::UserAssignLicense], target.id)
        .await?;
    let u = ops::assign_to_user(&mut c.env(&s, &mut ent), &c.tenant, &id, &add, &remove)
        .await
        .map_err(|e| c.err(e))?;
    Ok(Json(user_with_licenses(&s, &c, &u).await?).into_response())
}

async fn assign_group(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::Groups, Access::Read)?;
    let (add, remove) = wire::parse_assign(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    let g = groups::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    c.authorize_on_object(&s, Op::GroupAssignLicense, g.id)
        .await?;
    let g = ops::assign_to_group(&mut c.env(&s, &mut ent), &c.tenant, &id, &add, &remove)
        .await
        .map_err(|e| c.err(e))?;
    let l = ops::load(s.store.as_ref(), &c.tenant)
        .await
        .map_err(|e| c.err(e))?;
    let mut v = castellan_wire::graph::groups::render(&g, c.tenant.initial_domain());
    v["assignedLicenses"] = wire::render_assigned(&ops::group_licenses(&l, &g));
    Ok(Json(with_context(&c, "groups/$entity", v)).into_response())
}

async fn details_of(
    s: &AppState,
    c: &Caller,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    user: castellan_core::ObjectId,
) -> Result<Response, ApiError> {
    let l = ops::load(s.store.as_ref(), &c.tenant)
        .await
        .map_err(|e| c.err(e))?;
    let items = wire::render_license_details(&l.view, user);
    list(
        c,
        uri,
        headers,
        &details_spec(),
        "users('{id}')/licenseDetails",
        items,
    )
}

async fn user_details(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Users, Access::Read)?;
    c.require(Area::Licenses, Access::Read)?;
    let mut ent = OsEntropy;
    let u = users::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    details_of(&s, &c, &uri, &headers, u.id).await
}

async fn my_details(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let castellan_core::audit::Actor::User { id, .. } = &c.actor else {
        return Err(c.err(GraphError::bad_request(
            "/me needs a delegated token (a signed-in user); an app-only token has none.",
        )));
    };
    details_of(&s, &c, &uri, &headers, *id).await
}

/// Whether a query's `$select` names a licence property (they are computed only then).
pub fn selects_licenses(pairs: &[(String, String)]) -> bool {
    pairs.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("$select")
            && v.split(',').any(|p| {
                castellan_wire::graph::users::LICENSE_PROPERTIES
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(p.trim()))
            })
    })
}
