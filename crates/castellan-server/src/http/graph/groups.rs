//! `/v1.0/groups`.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use castellan_core::authz::{self, Op, Target};
use castellan_core::graph_rules::{Access, Area};
use castellan_core::model::MembershipGraph;
use castellan_core::ops::groups;
use castellan_core::ObjectId;
use castellan_wire::graph::{groups as wire, parse_ref};
use castellan_wire::odata::EntitySpec;
use serde_json::Value;

use super::users::{groups_of, objects_spec, select_pairs, with_context};
use super::{
    created, json_body, list, no_content, parse_id, render_object, store_err, ApiError, Caller,
};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/groups", get(list_groups).post(create))
        .route(
            "/v1.0/groups/evaluateDynamicMembership",
            post(evaluate_rule),
        )
        .route(
            "/v1.0/groups/{id}/evaluateDynamicMembership",
            post(evaluate_group),
        )
        .route("/v1.0/groups/{id}/previewDynamicMembership", post(preview))
        .route(
            "/v1.0/groups/{id}",
            get(get_group).patch(update).delete(remove),
        )
        .route("/v1.0/groups/{id}/members", get(members))
        .route(
            "/v1.0/groups/{id}/transitiveMembers",
            get(transitive_members),
        )
        .route("/v1.0/groups/{id}/members/$ref", post(add_member))
        .route(
            "/v1.0/groups/{id}/members/{member}/$ref",
            delete(remove_member),
        )
        .route("/v1.0/groups/{id}/owners", get(owners))
        .route("/v1.0/groups/{id}/owners/$ref", post(add_owner))
        .route(
            "/v1.0/groups/{id}/owners/{owner}/$ref",
            delete(remove_owner),
        )
        .route("/v1.0/groups/{id}/memberOf", get(member_of))
        .route(
            "/v1.0/groups/{id}/transitiveMemberOf",
            get(transitive_member_of),
        )
}

/// The OData description of groups.
/// What `$orderby` may sort groups by.
pub const SORTABLE: &[&str] = &["displayName"];

/// The OData description of groups.
pub fn spec() -> EntitySpec {
    EntitySpec::new("microsoft.graph.group", wire::PROPERTIES, SORTABLE, "id")
}

async fn list_groups(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Groups, Access::Read)?;
    let (_, expand) = super::sdk::take_expand(&c, super::query_pairs(&uri), EXPANDABLE)?;
    let d = c.tenant.initial_domain().to_string();
    let items = if super::licenses::selects_licenses(&super::query_pairs(&uri)) {
        // Licences are computed per request from assignments.
        let all = s.store.groups(c.tenant.id).await.map_err(store_err(&c))?;
        let l = castellan_core::ops::licenses::load(s.store.as_ref(), &c.tenant)
            .await
            .map_err(|e| c.err(e))?;
        super::Items::Rendered(
            all.iter()
                .map(|g| {
                    let mut v = wire::render(g, &d);
                    v["assignedLicenses"] = castellan_wire::graph::licenses::render_assigned(
                        &castellan_core::ops::licenses::group_licenses(&l, g),
                    );
                    v
                })
                .collect(),
        )
    } else {
        let table = s
            .lists
            .groups(s.store.as_ref(), c.tenant.id, &d)
            .await
            .map_err(store_err(&c))?;
        super::Items::Indexed(table)
    };
    if expand.is_empty() {
        return super::list_from(&c, &uri, &headers, &spec(), "groups", items);
    }
    let mut body = match super::list_page(&c, &uri, &headers, &spec(), "groups", items, true)? {
        super::Listed::Page(b) => b,
        super::Listed::Count(r) => return Ok(r),
    };
    // One membership graph for the whole page.
    let graph = super::membership_graph(&s, &c).await?;
    if let Some(page) = body["value"].as_array_mut() {
        for v in page.iter_mut() {
            let Some(id) = v["id"].as_str().and_then(ObjectId::parse) else {
                continue;
            };
            for e in &expand {
                v[e.name] = expansion(&s, &c, id, e, &graph).await?;
            }
        }
    }
    Ok(Json(body).into_response())
}

/// The navigation properties a group's `$expand` may name.
const EXPANDABLE: &[&str] = &["members", "owners", "memberOf"];

/// Group `id`'s expansion `e`: its direct members, owners or groups, at most
/// `sdk::MAX_EXPANDED`, projected by a nested `$select`.
async fn expansion(
    s: &AppState,
    c: &Caller,
    id: ObjectId,
    e: &super::sdk::Expand,
    graph: &MembershipGraph,
) -> Result<Value, ApiError> {
    let items = match e.name {
        "members" => super::sdk::render_all(s, c, graph.direct_members(id)).await?,
        "owners" => {
            let mut ids = Vec::new();
            for o in castellan_core::ops::groups::owners_at(
                s.store.as_ref(),
                c.tenant.id,
                id,
                crate::state::now(),
            )
            .await
            .map_err(store_err(c))?
            {
                if let Some(k) = s
                    .store
                    .object_kind(c.tenant.id, o)
                    .await
                    .map_err(store_err(c))?
                {
                    ids.push((o, k));
                }
            }
            super::sdk::render_all(s, c, ids).await?
        }
        _ => groups_of(s, c, id, false).await?,
    };
    super::sdk::expanded(c, e, items)
}

async fn create(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    c.authorize(
        if input.is_assignable_to_role.value() == Some(&true) {
            Op::GroupCreateRoleAssignable
        } else {
            Op::GroupCreate
        },
        &Target::default(),
    )?;
    let mut ent = OsEntropy;
    let g = groups::create(&mut c.env(&s, &mut ent), &c.tenant, input)
        .await
        .map_err(|e| c.err(e))?;
    if authz::creator_becomes_owner(&c.principal(), Op::GroupUpdate) {
        groups::add_owner(
            &mut c.env(&s, &mut ent),
            &c.tenant,
            &g.id.to_string(),
            c.oid,
        )
        .await
        .map_err(|e| c.err(e))?;
    }
    Ok(created(
        format!("{}/groups/{}", c.base, g.id),
        with_context(
            &c,
            "groups/$entity",
            wire::render(&g, c.tenant.initial_domain()),
        ),
    ))
}

async fn evaluate_rule(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    evaluate_impl(s, c, None, body).await
}

async fn evaluate_group(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    evaluate_impl(s, c, Some(id), body).await
}

async fn evaluate_impl(
    s: AppState,
    c: Caller,
    group: Option<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::Groups, Access::Read)?;
    let (member, rule) = wire::parse_evaluate(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    let (text, x) = groups::evaluate(
        &c.env(&s, &mut ent),
        &c.tenant,
        group.as_deref(),
        &member,
        rule.as_deref(),
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(Json(wire::render_evaluation(&text, &x)).into_response())
}

/// Castellan's dry run of a rule edit: who would join and who would leave (nothing is written).
async fn preview(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::Groups, Access::Read)?;
    let v = json_body(&c, &body)?;
    let Some(rule) = v.get("membershipRule").and_then(Value::as_str) else {
        return Err(c.err(castellan_wire::errors::GraphError::bad_request(
            "Property 'membershipRule' is required: the rule to preview.",
        )));
    };
    let mut ent = OsEntropy;
    let d = groups::preview_rule(&c.env(&s, &mut ent), &c.tenant, &id, rule)
        .await
        .map_err(|e| c.err(e))?;
    Ok(Json(wire::render_preview(rule, &d)).into_response())
}

async fn get_group(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    c.authorize(
        castellan_core::authz::Op::Lookup(Area::Groups),
        &castellan_core::authz::Target::default(),
    )?;
    let (pairs, expand) = super::sdk::take_expand(&c, super::query_pairs(&uri), EXPANDABLE)?;
    let mut ent = OsEntropy;
    let g = groups::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let mut rendered = wire::render(&g, c.tenant.initial_domain());
    if super::licenses::selects_licenses(&pairs) {
        let l = castellan_core::ops::licenses::load(s.store.as_ref(), &c.tenant)
            .await
            .map_err(|e| c.err(e))?;
        rendered["assignedLicenses"] = castellan_wire::graph::licenses::render_assigned(
            &castellan_core::ops::licenses::group_licenses(&l, &g),
        );
    }
    let mut v = select_pairs(&c, &pairs, &spec(), rendered)?;
    if !expand.is_empty() {
        let graph = super::membership_graph(&s, &c).await?;
        for e in &expand {
            v[e.name] = expansion(&s, &c, g.id, e, &graph).await?;
        }
    }
    Ok(Json(with_context(&c, "groups/$entity", v)).into_response())
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_group(&s, &c, &id, Op::GroupUpdate).await?;
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    groups::update(&mut c.env(&s, &mut ent), &c.tenant, &id, input)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    may_write_group(&s, &c, &id, Op::GroupDelete).await?;
    let mut ent = OsEntropy;
    groups::delete(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn members_impl(
    s: AppState,
    c: Caller,
    id: String,
    uri: axum::http::Uri,
    headers: HeaderMap,
    transitive: bool,
) -> Result<Response, ApiError> {
    c.require(Area::Groups, Access::Read)?;
    let mut ent = OsEntropy;
    let g = groups::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let graph = super::membership_graph(&s, &c).await?;
    let ids = if transitive {
        graph.transitive_members(g.id)
    } else {
        graph.direct_members(g.id)
    };
    let mut items = Vec::new();
    for (m, k) in ids {
        if let Some(v) = render_object(&s, &c.tenant, m, k)
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

async fn members(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    members_impl(s, c, id, uri, headers, false).await
}

async fn transitive_members(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    members_impl(s, c, id, uri, headers, true).await
}

async fn add_member(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_group(&s, &c, &id, Op::GroupMembers).await?;
    let m = parse_ref(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    groups::add_member(&mut c.env(&s, &mut ent), &c.tenant, &id, m)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove_member(
    State(s): State<AppState>,
    c: Caller,
    Path((id, member)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    may_write_group(&s, &c, &id, Op::GroupMembers).await?;
    let m = parse_id(&c, &member)?;
    let mut ent = OsEntropy;
    groups::remove_member(&mut c.env(&s, &mut ent), &c.tenant, &id, m)
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
    c.require(Area::Groups, Access::Read)?;
    let mut ent = OsEntropy;
    let g = groups::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    super::owners_list(&s, &c, g.id, &uri, &headers).await
}

async fn add_owner(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_group(&s, &c, &id, Op::GroupOwners).await?;
    let o = parse_ref(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    groups::add_owner(&mut c.env(&s, &mut ent), &c.tenant, &id, o)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove_owner(
    State(s): State<AppState>,
    c: Caller,
    Path((id, owner)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    may_write_group(&s, &c, &id, Op::GroupOwners).await?;
    let o = parse_id(&c, &owner)?;
    let mut ent = OsEntropy;
    groups::remove_owner(&mut c.env(&s, &mut ent), &c.tenant, &id, o)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn member_of_impl(
    s: AppState,
    c: Caller,
    id: String,
    uri: axum::http::Uri,
    headers: HeaderMap,
    transitive: bool,
) -> Result<Response, ApiError> {
    c.require(Area::Groups, Access::Read)?;
    let mut ent = OsEntropy;
    let g = groups::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let items = groups_of(&s, &c, g.id, transitive).await?;
    list(
        &c,
        &uri,
        &headers,
        &objects_spec(),
        "directoryObjects",
        items,
    )
}

async fn member_of(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    member_of_impl(s, c, id, uri, headers, false).await
}

async fn transitive_member_of(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    member_of_impl(s, c, id, uri, headers, true).await
}

/// The caller may do `op` on this group (404 first when it does not exist). Core decides from
/// the token, the caller's roles, whether the caller owns the group, and whether it is
/// role-assignable (then only Privileged Role Administrator and Global Administrator may).
async fn may_write_group(s: &AppState, c: &Caller, id: &str, op: Op) -> Result<(), ApiError> {
    c.require(Area::Groups, Access::Read)?;
    let mut ent = OsEntropy;
    let g = groups::find(&c.env(s, &mut ent), &c.tenant, id)
        .await
        .map_err(|e| c.err(e))?;
    c.authorize_on_object(s, op, g.id).await
}
