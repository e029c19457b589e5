//! `/v1.0/users`.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::authz::{self, Op, Target};
use castellan_core::graph_rules::{Access, Area};
use castellan_core::model::ObjectKind;
use castellan_core::ops::users;
use castellan_wire::graph::{parse_ref, users as wire};
use castellan_wire::odata::EntitySpec;
use serde_json::Value;

use super::{
    created, json_body, list, no_content, render_object, store_err, ApiError, Caller,
    DIRECTORY_OBJECT_PROPERTIES,
};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/users", get(list_users).post(create))
        .route("/v1.0/me", get(me))
        .route("/v1.0/me/memberOf", get(me_member_of))
        .route("/v1.0/me/transitiveMemberOf", get(me_transitive_member_of))
        .route(
            "/v1.0/users/{id}/revokeSignInSessions",
            axum::routing::post(revoke_sessions),
        )
        .route("/oidc/userinfo", get(userinfo).post(userinfo))
        .route(
            "/v1.0/users/{id}",
            get(get_user).patch(update).delete(delete),
        )
        .route("/v1.0/users/{id}/manager", get(get_manager))
        .route(
            "/v1.0/users/{id}/manager/$ref",
            axum::routing::put(set_manager).delete(remove_manager),
        )
        .route("/v1.0/users/{id}/memberOf", get(member_of))
        .route(
            "/v1.0/users/{id}/transitiveMemberOf",
            get(transitive_member_of),
        )
}

/// What `$orderby` may sort users by.
pub const SORTABLE: &[&str] = &["displayName", "userPrincipalName"];

/// The OData description of users.
pub fn spec() -> EntitySpec {
    EntitySpec::new("microsoft.graph.user", wire::PROPERTIES, SORTABLE, "id")
}

/// Directory objects (members, memberOf).
pub fn objects_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.directoryObject",
        DIRECTORY_OBJECT_PROPERTIES,
        &["displayName"],
        "id",
    )
}

async fn list_users(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Users, Access::Read)?;
    let (pairs, expand) = super::sdk::take_expand(&c, super::query_pairs(&uri), EXPANDABLE)?;
    let items = if super::licenses::selects_licenses(&pairs) {
        // Licences are computed per request from assignments and memberships.
        let all = s.store.users(c.tenant.id).await.map_err(store_err(&c))?;
        let l = castellan_core::ops::licenses::load(s.store.as_ref(), &c.tenant)
            .await
            .map_err(|e| c.err(e))?;
        super::Items::Rendered(
            all.iter()
                .map(|u| {
                    let mut v = wire::render(u);
                    castellan_wire::graph::licenses::add_user_licenses(&mut v, &l.view, u.id);
                    v
                })
                .collect(),
        )
    } else {
        // The common case, at any size: the indexed list (rendered once per change).
        let table = s
            .lists
            .users(s.store.as_ref(), c.tenant.id)
            .await
            .map_err(store_err(&c))?;
        super::Items::Indexed(table)
    };
    if expand.is_empty() {
        return super::list_from(&c, &uri, &headers, &spec(), "users", items);
    }
    let mut body = match super::list_page(&c, &uri, &headers, &spec(), "users", items, true)? {
        super::Listed::Page(b) => b,
        super::Listed::Count(r) => return Ok(r),
    };
    if let Some(page) = body["value"].as_array_mut() {
        for v in page.iter_mut() {
            let Some(id) = v["id"].as_str().and_then(castellan_core::ObjectId::parse) else {
                continue;
            };
            let Some(u) = s.store.user(c.tenant.id, id).await.map_err(store_err(&c))? else {
                continue;
            };
            for e in &expand {
                expand_into(&s, &c, &u, e, v).await?;
            }
        }
    }
    Ok(Json(body).into_response())
}

/// The navigation properties a user's `$expand` may name.
const EXPANDABLE: &[&str] = &["manager", "memberOf"];

/// Sets the expansion `e` of user `u` on its rendered form `v`: `manager` as an object (absent
/// when there is none), `memberOf` as at most `sdk::MAX_EXPANDED` groups (reading groups needs
/// the right to).
async fn expand_into(
    s: &AppState,
    c: &Caller,
    u: &castellan_core::model::User,
    e: &super::sdk::Expand,
    v: &mut Value,
) -> Result<(), ApiError> {
    let items = if e.name == "manager" {
        match u.manager_id {
            Some(m) => s
                .store
                .user(c.tenant.id, m)
                .await
                .map_err(store_err(c))?
                .map(|m| vec![wire::render(&m)])
                .unwrap_or_default(),
            None => Vec::new(),
        }
    } else {
        c.require(Area::Groups, Access::Read)?;
        groups_of(s, c, u.id, false).await?
    };
    let x = super::sdk::expanded(c, e, items)?;
    if e.name == "manager" {
        if let Some(m) = x.as_array().and_then(|a| a.first()) {
            v["manager"] = m.clone();
        }
    } else {
        v[e.name] = x;
    }
    Ok(())
}

async fn create(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    c.authorize(Op::UserCreate, &Target::default())?;
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    refuse_leaked(&s, &c, &input)?;
    let mut ent = OsEntropy;
    let u = users::create(&mut c.env(&s, &mut ent), &c.tenant, input)
        .await
        .map_err(|e| c.err(e))?;
    Ok(created(
        format!("{}/users/{}", c.base, u.id),
        with_context(&c, "users/$entity", wire::render(&u)),
    ))
}

/// Identity Protection: a `passwordProfile.password` in the leaked-password list
/// (`--leaked-passwords`) is refused before anything changes.
fn refuse_leaked(s: &AppState, c: &Caller, input: &users::UserInput) -> Result<(), ApiError> {
    if let Some(p) = input.password.value() {
        crate::idprot::check_new_password(s, p).map_err(|m| {
            c.err(castellan_wire::errors::GraphError::bad_request(format!(
                "passwordProfile.password: {m}"
            )))
        })?;
    }
    Ok(())
}

/// Adds `@odata.context` to a single entity.
pub fn with_context(c: &Caller, what: &str, mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "@odata.context".into(),
            Value::String(format!("{}/$metadata#{what}", c.base)),
        );
    }
    v
}

/// `$select` on a single entity.
pub fn select_one(
    c: &Caller,
    uri: &axum::http::Uri,
    spec: &EntitySpec,
    v: Value,
) -> Result<Value, ApiError> {
    select_pairs(c, &super::query_pairs(uri), spec, v)
}

/// `$select` on a single entity, from query pairs.
pub fn select_pairs(
    c: &Caller,
    pairs: &[(String, String)],
    spec: &EntitySpec,
    v: Value,
) -> Result<Value, ApiError> {
    let q = castellan_wire::odata::Query::parse(pairs, spec)
        .map_err(|e| c.err(castellan_wire::errors::GraphError::bad_request(e.message())))?;
    let page = castellan_wire::odata::apply(&q, vec![v])
        .map_err(|e| c.err(castellan_wire::errors::GraphError::bad_request(e.message())))?;
    Ok(page.items.into_iter().next().unwrap_or(Value::Null))
}

async fn get_user(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let (pairs, expand) = super::sdk::take_expand(&c, super::query_pairs(&uri), EXPANDABLE)?;
    let mut ent = OsEntropy;
    // A lookup by id (guests with the limited role may; one's own object is /me).
    c.authorize(Op::Lookup(Area::Users), &Target::default())
        .or_else(|e| {
            if id.eq_ignore_ascii_case(&c.oid.to_string()) {
                c.require(Area::Me, Access::Read)
            } else {
                Err(e)
            }
        })?;
    let u = users::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let mut rendered = wire::render(&u);
    if super::licenses::selects_licenses(&pairs) {
        let l = castellan_core::ops::licenses::load(s.store.as_ref(), &c.tenant)
            .await
            .map_err(|e| c.err(e))?;
        castellan_wire::graph::licenses::add_user_licenses(&mut rendered, &l.view, u.id);
    }
    let mut v = select_pairs(&c, &pairs, &spec(), rendered)?;
    for e in &expand {
        expand_into(&s, &c, &u, e, &mut v).await?;
    }
    Ok(Json(with_context(&c, "users/$entity", v)).into_response())
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    may_write_user(&s, &c, &id, &authz::user_patch_ops(&input)).await?;
    refuse_leaked(&s, &c, &input)?;
    let mut ent = OsEntropy;
    users::update(&mut c.env(&s, &mut ent), &c.tenant, &id, input)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn delete(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    may_write_user(&s, &c, &id, &[Op::UserDelete]).await?;
    let mut ent = OsEntropy;
    users::delete(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

/// `POST /users/{id}/revokeSignInSessions`: every refresh token and SSO session of the user
/// stops working at once.
async fn revoke_sessions(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    may_write_user(&s, &c, &id, &[Op::UserRevokeSessions]).await?;
    let mut ent = OsEntropy;
    users::revoke_sign_in_sessions(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(Json(with_context(
        &c,
        "Edm.Boolean",
        serde_json::json!({"value": true}),
    ))
    .into_response())
}

/// `GET|POST /oidc/userinfo` (OIDC Core §5.3; Entra hosts it on Graph): the signed-in user's
/// claims, for a delegated Graph token.
async fn userinfo(State(s): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    let castellan_core::audit::Actor::User { id, .. } = &c.actor else {
        return Err(c.err(castellan_wire::errors::GraphError::bad_request(
            "userinfo needs a delegated token (a signed-in user); an app-only token has none.",
        )));
    };
    let u = s
        .store
        .user(c.tenant.id, *id)
        .await
        .map_err(store_err(&c))?
        .ok_or_else(|| {
            c.err(castellan_wire::errors::GraphError::not_found(
                "The signed-in user no longer exists.",
            ))
        })?;
    let sub = castellan_core::flow::user_token::pairwise_sub(&u.id.to_string(), &c.client_app_id);
    Ok(Json(serde_json::json!({
        "sub": sub,
        "name": u.display_name,
        "family_name": u.surname,
        "given_name": u.given_name,
        "email": u.mail,
        "picture": format!("{}/me/photo/$value", c.base),
    }))
    .into_response())
}

async fn get_manager(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::Users, Access::Read)?;
    let mut ent = OsEntropy;
    let u = users::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let m = match u.manager_id {
        Some(m) => s.store.user(c.tenant.id, m).await.map_err(store_err(&c))?,
        None => None,
    };
    match m {
        Some(m) => Ok(Json(with_context(
            &c,
            "directoryObjects/$entity",
            wire::render(&m),
        ))
        .into_response()),
        None => Err(c.err(castellan_wire::errors::GraphError::not_found(format!(
            "User '{id}' has no manager."
        )))),
    }
}

async fn set_manager(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    may_write_user(&s, &c, &id, &[Op::UserManager]).await?;
    let m = parse_ref(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    users::set_manager(&mut c.env(&s, &mut ent), &c.tenant, &id, Some(m))
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove_manager(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    may_write_user(&s, &c, &id, &[Op::UserManager]).await?;
    let mut ent = OsEntropy;
    users::set_manager(&mut c.env(&s, &mut ent), &c.tenant, &id, None)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

/// Groups an object is in, directly (`transitive = false`) or through nesting.
pub async fn groups_of(
    s: &AppState,
    c: &Caller,
    object: castellan_core::ObjectId,
    transitive: bool,
) -> Result<Vec<Value>, ApiError> {
    let graph = super::membership_graph(s, c).await?;
    let ids = if transitive {
        graph.transitive_member_of(object)
    } else {
        graph.direct_member_of(object)
    };
    let mut out = Vec::new();
    for g in ids {
        if let Some(v) = render_object(s, &c.tenant, g, ObjectKind::Group)
            .await
            .map_err(store_err(c))?
        {
            out.push(v);
        }
    }
    Ok(out)
}

async fn member_of_impl(
    s: AppState,
    c: Caller,
    id: String,
    uri: axum::http::Uri,
    headers: HeaderMap,
    transitive: bool,
) -> Result<Response, ApiError> {
    c.require(Area::Users, Access::Read)?;
    c.require(Area::Groups, Access::Read)?;
    let mut ent = OsEntropy;
    let u = users::find(&c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    let items = groups_of(&s, &c, u.id, transitive).await?;
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

async fn me_groups(
    s: AppState,
    c: Caller,
    uri: axum::http::Uri,
    headers: HeaderMap,
    transitive: bool,
) -> Result<Response, ApiError> {
    let castellan_core::audit::Actor::User { id, .. } = &c.actor else {
        return Err(c.err(castellan_wire::errors::GraphError::bad_request(
            "/me/memberOf is only valid with a delegated token: an app-only token has no signed-in user.",
        )));
    };
    c.require(Area::Me, Access::Read)?;
    let items = groups_of(&s, &c, *id, transitive).await?;
    list(
        &c,
        &uri,
        &headers,
        &objects_spec(),
        "directoryObjects",
        items,
    )
}

/// `GET /v1.0/me/memberOf`: the signed-in user's own groups.
async fn me_member_of(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    me_groups(s, c, uri, headers, false).await
}

/// `GET /v1.0/me/transitiveMemberOf`.
async fn me_transitive_member_of(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    me_groups(s, c, uri, headers, true).await
}

/// `GET /v1.0/me`: the signed-in user (delegated tokens only).
async fn me(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let castellan_core::audit::Actor::User { id, .. } = &c.actor else {
        return Err(c.err(castellan_wire::errors::GraphError::bad_request(
            "/me request is only valid with delegated authentication flow: an app-only token has no signed-in user. Use /users/{id} instead.",
        )));
    };
    c.require(Area::Me, Access::Read)?;
    let u = s
        .store
        .user(c.tenant.id, *id)
        .await
        .map_err(store_err(&c))?
        .ok_or_else(|| {
            c.err(castellan_wire::errors::GraphError::not_found(
                "The signed-in user no longer exists.",
            ))
        })?;
    let v = select_one(&c, &uri, &spec(), wire::render(&u))?;
    Ok(Json(with_context(&c, "users/$entity", v)).into_response())
}

/// The caller may do `ops` on this user: core decides from the token, the caller's roles (tenant
/// -wide or scoped to one of the target's units) and the target's own privilege.
async fn may_write_user(s: &AppState, c: &Caller, id: &str, ops: &[Op]) -> Result<(), ApiError> {
    c.require(Area::Users, Access::Read)?;
    let target = {
        let mut ent = OsEntropy;
        users::find(&c.env(s, &mut ent), &c.tenant, id)
            .await
            .map_err(|e| c.err(e))?
            .id
    };
    c.authorize_on_user(s, ops, target).await
}
