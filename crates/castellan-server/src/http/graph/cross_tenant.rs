//! `/v1.0/policies/crossTenantAccessPolicy` (the policy, `default` with
//! `resetToSystemDefault`, `partners`): Graph's shapes parsed and rendered by
//! `wire::graph::cross_tenant`, validated and written by `core::ops::cross_tenant`, read back
//! through `server::cross_tenant`. Reading needs Policy.Read.All (or a reader role), writing
//! Policy.ReadWrite.CrossTenantAccess and Security Administrator or Global Administrator.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::cross_tenant::Partner;
use castellan_core::error::Code;
use castellan_core::graph_rules::{Access, Area};
use castellan_core::ops::cross_tenant as ops;
use castellan_core::{DirectoryError, TenantId};
use castellan_wire::errors::GraphError;
use castellan_wire::graph::conditional_access::merge;
use castellan_wire::graph::cross_tenant as w;
use castellan_wire::odata::EntitySpec;

use super::users::with_context;
use super::{created, json_body, list, no_content, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;

const BASE: &str = "/v1.0/policies/crossTenantAccessPolicy";

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(BASE, get(get_level).patch(patch_level))
        .route(
            &format!("{BASE}/default"),
            get(get_default).patch(patch_default),
        )
        .route(
            &format!("{BASE}/default/resetToSystemDefault"),
            post(reset_default),
        )
        .route(
            &format!("{BASE}/partners"),
            get(list_partners).post(create_partner),
        )
        .route(
            &format!("{BASE}/partners/{{tenant}}"),
            get(get_partner).patch(patch_partner).delete(delete_partner),
        )
}

async fn load(s: &AppState, c: &Caller) -> Result<crate::cross_tenant::Loaded, ApiError> {
    crate::cross_tenant::load(s.store.as_ref(), c.tenant.id)
        .await
        .map_err(|e| c.err(GraphError::unavailable(e)))
}

fn partner_not_found(c: &Caller, t: &str) -> ApiError {
    c.err(GraphError::not_found(format!(
        "No partner configuration for tenant '{t}' exists in the cross-tenant access settings. List them with GET /policies/crossTenantAccessPolicy/partners, or create one with POST."
    )))
}

fn partner_error(c: &Caller, tenant: TenantId) -> impl Fn(DirectoryError) -> ApiError + '_ {
    move |e| match e {
        DirectoryError::Conflict(_) => c.err(GraphError::of(
            Code::CrossTenantPartnerExists,
            &[("tenant", &tenant)],
        )),
        other => c.err(other),
    }
}

async fn get_level(State(s): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Read)?;
    let l = load(&s, &c).await?;
    Ok(Json(with_context(
        &c,
        "policies/crossTenantAccessPolicy/$entity",
        w::render_level(&l.level),
    ))
    .into_response())
}

async fn patch_level(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Write)?;
    let patch = json_body(&c, &body)?;
    w::check_level_patch(&patch).map_err(|e| c.err(e))?;
    let l = load(&s, &c).await?;
    let mut merged = w::render_level(&l.level);
    merge(&mut merged, &patch);
    let level = w::parse_level(&merged).map_err(|e| c.err(e))?;
    let doc = w::render_level(&level).to_string();
    let mut ent = OsEntropy;
    ops::put_level(&mut c.env(&s, &mut ent), &c.tenant, &level, doc)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn get_default(State(s): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Read)?;
    let l = load(&s, &c).await?;
    Ok(Json(with_context(
        &c,
        "policies/crossTenantAccessPolicy/default/$entity",
        w::render_default(&l.policy.default, l.policy.is_service_default),
    ))
    .into_response())
}

async fn patch_default(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Write)?;
    let patch = json_body(&c, &body)?;
    w::check_default_patch(&patch).map_err(|e| c.err(e))?;
    let l = load(&s, &c).await?;
    // Over what is in force (the service default's parts included), so the stored default is
    // complete from its first change on.
    let mut merged = w::render_default_document(&l.policy.default);
    merge(&mut merged, &patch);
    let config = w::parse_default(&merged).map_err(|e| c.err(e))?;
    let doc = w::render_default_document(&config).to_string();
    let mut ent = OsEntropy;
    ops::put_default(&mut c.env(&s, &mut ent), &c.tenant, &config, doc)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn reset_default(State(s): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Write)?;
    let mut ent = OsEntropy;
    ops::reset_default(&mut c.env(&s, &mut ent), &c.tenant)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

fn spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.crossTenantAccessPolicyConfigurationPartner",
        &[
            "tenantId",
            "isServiceProvider",
            "isInMultiTenantOrganization",
            "inboundTrust",
            "automaticUserConsentSettings",
            "b2bCollaborationInbound",
            "b2bCollaborationOutbound",
            "b2bDirectConnectInbound",
            "b2bDirectConnectOutbound",
            "tenantRestrictions",
        ],
        &["tenantId", "isServiceProvider"],
        "tenantId",
    )
}

async fn list_partners(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Read)?;
    let l = load(&s, &c).await?;
    let items = l.policy.partners.iter().map(w::render_partner).collect();
    list(
        &c,
        &uri,
        &headers,
        &spec(),
        "policies/crossTenantAccessPolicy/partners",
        items,
    )
}

fn find<'a>(
    c: &Caller,
    l: &'a crate::cross_tenant::Loaded,
    t: &str,
) -> Result<&'a Partner, ApiError> {
    TenantId::parse(t)
        .and_then(|id| l.policy.partner(id))
        .ok_or_else(|| partner_not_found(c, t))
}

async fn get_partner(
    State(s): State<AppState>,
    c: Caller,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Read)?;
    let l = load(&s, &c).await?;
    let p = find(&c, &l, &t)?;
    Ok(Json(with_context(
        &c,
        "policies/crossTenantAccessPolicy/partners/$entity",
        w::render_partner(p),
    ))
    .into_response())
}

async fn create_partner(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Write)?;
    let v = json_body(&c, &body)?;
    let tenant = w::check_partner_body(&v, None)
        .map_err(|e| c.err(e))?
        .ok_or_else(|| c.err(GraphError::bad_request("Property 'tenantId' is required.")))?;
    let p = w::parse_partner(&v).map_err(|e| c.err(e))?;
    let rendered = w::render_partner(&p);
    let mut ent = OsEntropy;
    ops::create_partner(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        &p,
        rendered.to_string(),
    )
    .await
    .map_err(partner_error(&c, tenant))?;
    Ok(created(
        format!(
            "{}/policies/crossTenantAccessPolicy/partners/{tenant}",
            c.base
        ),
        with_context(
            &c,
            "policies/crossTenantAccessPolicy/partners/$entity",
            rendered,
        ),
    ))
}

async fn patch_partner(
    State(s): State<AppState>,
    c: Caller,
    Path(t): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Write)?;
    let patch = json_body(&c, &body)?;
    let l = load(&s, &c).await?;
    let old = find(&c, &l, &t)?;
    w::check_partner_body(&patch, Some(old.tenant_id)).map_err(|e| c.err(e))?;
    let mut merged = w::render_partner(old);
    merge(&mut merged, &patch);
    let p = w::parse_partner(&merged).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    ops::update_partner(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        &p,
        w::render_partner(&p).to_string(),
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn delete_partner(
    State(s): State<AppState>,
    c: Caller,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::CrossTenantAccess, Access::Write)?;
    let Some(tenant) = TenantId::parse(&t) else {
        return Err(partner_not_found(&c, &t));
    };
    let mut ent = OsEntropy;
    ops::delete_partner(&mut c.env(&s, &mut ent), &c.tenant, tenant)
        .await
        .map_err(|e| match e {
            DirectoryError::NotFound(_) => partner_not_found(&c, &t),
            other => c.err(other),
        })?;
    Ok(no_content())
}
