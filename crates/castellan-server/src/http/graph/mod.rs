//! Microsoft Graph v1.0 under `/v1.0/...`, authorised by bearer tokens whose audience is Graph.
//! Handlers parse with `castellan_wire::graph`, decide with `castellan_core::ops`, and render
//! with wire again; every list goes through the OData layer.

pub mod applications;
pub mod audit;
pub mod auth_methods;
pub mod conditional_access;
pub mod cross_tenant;
pub mod deleted_items;
pub mod devices;
pub mod domains;
pub mod group_pim;
pub mod groups;
pub mod identity_protection;
pub mod identity_providers;
pub mod invitations;
pub mod licenses;
pub mod pim;
pub mod reports;
pub mod roles;
pub mod sdk;
pub mod service_principals;
pub mod users;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use castellan_core::audit::Actor;
use castellan_core::authz::{self, Op, Target};
use castellan_core::graph_rules::{Access, Area};
use castellan_core::ids::GRAPH_APP_ID;
use castellan_core::model::{ObjectKind, Tenant};
use castellan_core::ops::{Entropy, Env};
use castellan_core::{ObjectId, TenantId};
use castellan_wire::errors::GraphError;
use castellan_wire::odata;
use serde_json::{json, Value};

use crate::http::{host, CorrelationId};
use crate::state::{now, AppState};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(invitations::router())
        .merge(auth_methods::router())
        .merge(groups::router())
        .merge(applications::router())
        .merge(service_principals::router())
        .merge(audit::router())
        .merge(roles::router())
        .merge(conditional_access::router())
        .merge(cross_tenant::router())
        .merge(identity_providers::router())
        .merge(devices::router())
        .merge(domains::router())
        .merge(licenses::router())
        .merge(deleted_items::router())
        .merge(identity_protection::router())
        .merge(reports::router())
        .merge(pim::router())
        .merge(group_pim::router())
        .merge(sdk::router())
        .method_not_allowed_fallback(sdk::method_not_allowed)
        .layer(axum::middleware::from_fn(sdk::graph_shaped))
}

/// A Graph error with the request's id, rendered in Graph's shape.
#[derive(Debug)]
pub struct ApiError(pub GraphError, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = self.0.body(&self.1, Some(&self.1), now());
        let mut r = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            if let Ok(v) =
                "Bearer realm=\"\", authorization_uri=\"/common/oauth2/v2.0/authorize\"".parse()
            {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(secs) = self.0.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        r
    }
}

/// Unknown paths answer in Graph's shape.
pub async fn fallback(OriginalUri(uri): OriginalUri) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    ApiError(
        GraphError::not_found(format!(
            "Resource not found for the segment '{}'.",
            uri.path()
        )),
        id,
    )
    .into_response()
}

/// A validated Graph caller.
pub struct Caller {
    /// The caller's tenant (from the token's `tid`).
    pub tenant: Tenant,
    /// Application permissions (`roles`) or delegated scopes (`scp`).
    pub permissions: Vec<String>,
    /// Who, for audit records.
    pub actor: Actor,
    /// The caller's object id.
    pub oid: ObjectId,
    /// Correlation id.
    pub cid: String,
    /// `https://host:port/v1.0`.
    pub base: String,
    /// The client application's appId (`azp` in v2 tokens, `appid` in v1).
    pub client_app_id: String,
    /// For delegated calls: the signed-in user's directory roles `(template, directoryScopeId)`
    /// and whether they are a guest (their own rights, intersected with the token's scopes).
    pub user_rights: Option<(Vec<(uuid::Uuid, String)>, bool)>,
    /// The tenant's custom role definitions (id, actions).
    pub custom_roles: Vec<castellan_core::directory_roles::CustomActions>,
    /// For app-only calls: the directory roles of the calling service principal.
    pub sp_roles: Vec<(uuid::Uuid, String)>,
    /// The token's `amr` carries `mfa`.
    pub mfa: bool,
    /// The token's `acrs`.
    pub acrs: Vec<String>,
}

impl Caller {
    /// The caller as core's authorisation decision sees it.
    pub fn principal(&self) -> authz::Principal<'_> {
        let (via, assignments, is_guest) = match &self.user_rights {
            Some((roles, guest)) => (authz::Via::Delegated, roles.as_slice(), *guest),
            None => (authz::Via::AppOnly, self.sp_roles.as_slice(), false),
        };
        authz::Principal {
            id: self.oid,
            via,
            permissions: &self.permissions,
            assignments,
            custom: &self.custom_roles,
            is_guest,
            guest_role: self.tenant.settings.guest_user_role,
        }
    }
    /// Asks core whether the caller may do `op` on a target described by `target`; a refusal
    /// is Graph's 403 naming what is missing.
    pub fn authorize(&self, op: Op, target: &Target) -> Result<(), ApiError> {
        authz::decide(&self.principal(), op, target).map_err(|why| {
            self.err(GraphError::forbidden(format!(
                "Insufficient privileges to complete the operation. {why}"
            )))
        })
    }
    /// [`Caller::authorize`] for an operation decided by area and access alone.
    pub fn require(&self, area: Area, access: Access) -> Result<(), ApiError> {
        self.authorize(Op::Area(area, access), &Target::default())
    }
    /// [`Caller::authorize`] for operations on one user: its units, roles and role-assignable
    /// group memberships are loaded for the decision.
    pub async fn authorize_on_user(
        &self,
        s: &AppState,
        ops: &[Op],
        user: ObjectId,
    ) -> Result<(), ApiError> {
        let target =
            castellan_core::ops::authz::user(s.store.as_ref(), self.tenant.id, user, now())
                .await
                .map_err(store_err(self))?;
        ops.iter().try_for_each(|op| self.authorize(*op, &target))
    }
    /// [`Caller::authorize`] for an operation on an application, service principal or group:
    /// ownership, units and role-assignability are loaded for the decision.
    pub async fn authorize_on_object(
        &self,
        s: &AppState,
        op: Op,
        object: ObjectId,
    ) -> Result<(), ApiError> {
        let target = self.owned_target(s, object).await?;
        self.authorize(op, &target)
    }
    /// What the decision knows about an owned object (application, service principal, group).
    pub async fn owned_target(&self, s: &AppState, object: ObjectId) -> Result<Target, ApiError> {
        castellan_core::ops::authz::owned(s.store.as_ref(), self.tenant.id, object, self.oid, now())
            .await
            .map_err(store_err(self))
    }
    /// For delegated calls, the signed-in user's tenant-wide directory roles.
    pub fn wide_roles(&self) -> Option<(Vec<uuid::Uuid>, bool)> {
        self.user_rights
            .as_ref()
            .map(|(roles, guest)| (castellan_core::directory_roles::tenant_wide(roles), *guest))
    }

    /// Wraps an error with this request's id.
    pub fn err(&self, e: impl Into<GraphError>) -> ApiError {
        ApiError(e.into(), self.cid.clone())
    }
    /// The op environment.
    pub fn env<'a>(&self, s: &'a AppState, entropy: &'a mut dyn Entropy) -> Env<'a> {
        Env {
            store: s.store.as_ref(),
            now: now(),
            entropy,
            hasher: &s.hasher,
            actor: self.actor.clone(),
            correlation_id: self.cid.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let cid = parts
            .extensions
            .get::<CorrelationId>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let unauthorized = |m: &str| ApiError(GraphError::invalid_token(m), cid.clone());
        let c = crate::http::bearer::validate(
            s,
            &parts.headers,
            &[
                GRAPH_APP_ID.to_string(),
                "https://graph.microsoft.com".into(),
                "https://graph.microsoft.com/".into(),
            ]
            .into_iter()
            .chain(
                s.origins
                    .graph_bases()
                    .into_iter()
                    .flat_map(|b| [format!("{b}/"), b]),
            )
            .collect::<Vec<_>>(),
            "Microsoft Graph",
            "https://graph.microsoft.com/.default",
        )
        .map_err(|m| unauthorized(&m))?;
        let tid = TenantId::parse(&c.tid)
            .ok_or_else(|| unauthorized("The token's tid is not a GUID."))?;
        // Throttling, per application and tenant (`core::throttle`), before anything is loaded.
        let client = c
            .azp
            .as_deref()
            .or(c.appid.as_deref())
            .and_then(castellan_core::AppId::parse);
        if let Some(app) = client {
            s.graph_throttle
                .charge(&s.store, tid, app, parts.method.as_str(), &parts.uri)
                .map_err(|t| {
                    s.metrics.throttled();
                    ApiError(GraphError::throttled(&t, &app, &tid), cid.clone())
                })?;
        }
        let tenant = match s.store.tenant(tid).await {
            Ok(Some(t)) => t,
            Ok(None) => return Err(unauthorized("The token's tenant does not exist.")),
            Err(e) => return Err(ApiError(GraphError::unavailable(e.to_string()), cid)),
        };
        let oid = ObjectId::parse(&c.oid)
            .ok_or_else(|| unauthorized("The token's oid is not a GUID."))?;
        let mut user_rights = None;
        let custom_roles: Vec<castellan_core::directory_roles::CustomActions>;
        let mut sp_roles = Vec::new();
        let (permissions, actor) = match &c.scp {
            Some(scp) => {
                let roles: Vec<(uuid::Uuid, String)> =
                    match castellan_core::ops::directory_roles::effective_roles(
                        s.store.as_ref(),
                        tid,
                        oid,
                        crate::state::now(),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(e) => {
                            return Err(ApiError(GraphError::unavailable(e.to_string()), cid))
                        }
                    };
                let upn = match s.store.user(tid, oid).await {
                    Ok(Some(u)) if u.account_enabled => {
                        custom_roles = match s.store.custom_roles(tid).await {
                            Ok(c) => c
                                .into_iter()
                                .filter(|r| r.is_enabled)
                                .map(|r| (r.id.uuid(), r.allowed_resource_actions))
                                .collect(),
                            Err(e) => {
                                return Err(ApiError(GraphError::unavailable(e.to_string()), cid))
                            }
                        };
                        user_rights =
                            Some((roles, u.user_type == castellan_core::model::UserType::Guest));
                        u.user_principal_name
                    }
                    Ok(_) => {
                        return Err(unauthorized(
                            "The signed-in user no longer exists or is disabled.",
                        ))
                    }
                    Err(e) => return Err(ApiError(GraphError::unavailable(e.to_string()), cid)),
                };
                (
                    scp.split_whitespace().map(str::to_string).collect(),
                    Actor::User { id: oid, upn },
                )
            }
            None => {
                let sp = match s.store.service_principal(tid, oid).await {
                    Ok(Some(sp)) if sp.account_enabled => sp,
                    Ok(_) => {
                        return Err(unauthorized(
                            "The calling service principal no longer exists or is disabled.",
                        ))
                    }
                    Err(e) => return Err(ApiError(GraphError::unavailable(e.to_string()), cid)),
                };
                let loaded = async {
                    let roles = castellan_core::ops::directory_roles::effective_roles(
                        s.store.as_ref(),
                        tid,
                        oid,
                        crate::state::now(),
                    )
                    .await?;
                    let custom = if roles.is_empty() {
                        Vec::new()
                    } else {
                        s.store.custom_roles(tid).await?
                    };
                    Ok::<_, castellan_core::store::StoreError>((roles, custom))
                };
                match loaded.await {
                    Ok((roles, custom)) => {
                        sp_roles = roles;
                        custom_roles = custom
                            .into_iter()
                            .filter(|r| r.is_enabled)
                            .map(|r| (r.id.uuid(), r.allowed_resource_actions))
                            .collect();
                    }
                    Err(e) => return Err(ApiError(GraphError::unavailable(e.to_string()), cid)),
                }
                (
                    c.roles.clone(),
                    Actor::App {
                        service_principal_id: sp.id,
                        app_id: sp.app_id.to_string(),
                        display_name: sp.display_name,
                    },
                )
            }
        };
        // Links point back at the base the client used: Graph's own port, `/graph/v1.0` or
        // `/v1.0`.
        let origin = s.origins.for_host(host(&parts.headers));
        let prefixed = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .is_some_and(|u| u.0.path().starts_with("/graph/"));
        let base = if host(&parts.headers).is_some_and(|h| s.origins.is_graph_host(h)) {
            format!("{}/v1.0", s.origins.graph_base(&origin))
        } else if prefixed {
            format!("{}/v1.0", crate::state::Origins::graph_path_base(&origin))
        } else {
            format!("{origin}/v1.0")
        };
        Ok(Caller {
            tenant,
            permissions,
            actor,
            oid,
            cid,
            base,
            client_app_id: c.client_app_id().unwrap_or_default().to_string(),
            user_rights,
            custom_roles,
            sp_roles,
            mfa: c.amr.iter().any(|a| a == "mfa"),
            acrs: c.acrs.clone(),
        })
    }
}

/// Parses a JSON request body (size is bounded by the router's body limit).
pub fn json_body(c: &Caller, body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(c.err(GraphError::bad_request(
            "The request body is empty; send a JSON object.",
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        c.err(GraphError::bad_request(format!(
            "The request body is not valid JSON: {e}."
        )))
    })
}

/// Query-string pairs.
pub fn query_pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// A list response: OData options applied to rendered items, with `@odata.nextLink` paging.
pub fn list(
    c: &Caller,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    spec: &odata::EntitySpec,
    context: &str,
    items: Vec<Value>,
) -> Result<Response, ApiError> {
    list_from(c, uri, headers, spec, context, Items::Rendered(items))
}

/// [`list`] from any [`Items`] (an indexed table included).
pub fn list_from(
    c: &Caller,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    spec: &odata::EntitySpec,
    context: &str,
    items: Items,
) -> Result<Response, ApiError> {
    Ok(
        match list_page(c, uri, headers, spec, context, items, false)? {
            Listed::Page(body) => Json(body).into_response(),
            Listed::Count(r) => r,
        },
    )
}

/// What a list is answered from: rendered entities (filtered and sorted per request), or an
/// indexed table of them (`crate::user_lists`).
pub enum Items {
    /// Rendered entities.
    Rendered(Vec<Value>),
    /// An indexed table.
    Indexed(std::sync::Arc<odata::index::Table>),
}

impl From<Vec<Value>> for Items {
    fn from(v: Vec<Value>) -> Self {
        Items::Rendered(v)
    }
}

impl Items {
    fn query(self, q: &odata::Query) -> Result<odata::Page, odata::ODataError> {
        match self {
            Items::Rendered(v) => odata::apply(q, v),
            Items::Indexed(t) => t.query(q),
        }
    }

    fn into_rendered(self) -> Vec<Value> {
        match self {
            Items::Rendered(v) => v,
            Items::Indexed(t) => t.rows().cloned().collect(),
        }
    }
}

/// What a list request answers: a JSON page (`value`, links, count), or a `/$count` text.
pub enum Listed {
    /// The page's body, for the caller to complete (expansions) and send.
    Page(Value),
    /// The answer to a `/$count` segment.
    Count(Response),
}

/// The most objects a page of a list with `$expand` holds (Graph's limit for directory
/// objects: `$top` above it is lowered, not refused).
pub const MAX_EXPAND_PAGE: usize = 100;

/// [`list`]'s page before it is sent. With `expanding` (the request's `$expand`, already
/// validated by `sdk::take_expand`) Graph's limits for expanding lists apply: at most
/// [`MAX_EXPAND_PAGE`] objects a page, `id` kept in a `$select`, and no advanced query
/// (`$search`, `$count`, `/$count`), which Graph does not combine with `$expand` either.
pub fn list_page(
    c: &Caller,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    spec: &odata::EntitySpec,
    context: &str,
    items: impl Into<Items>,
    expanding: bool,
) -> Result<Listed, ApiError> {
    let items: Items = items.into();
    let pairs = query_pairs(uri);
    let (_, cast, count_only) = sdk::cast_and_count(uri.path());
    let eventual = headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let mut search = None;
    let mut parse_pairs = Vec::with_capacity(pairs.len());
    for (k, v) in &pairs {
        if expanding && k.eq_ignore_ascii_case("$expand") {
            continue;
        }
        if k.eq_ignore_ascii_case("$search") {
            if !eventual {
                return Err(c.err(GraphError::bad_request(
                    "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
                )));
            }
            if search.is_some() {
                return Err(c.err(GraphError::bad_request(
                    "Query option '$search' was specified more than once, but it must be specified at most once.",
                )));
            }
            search = Some(
                odata::parse_search(v, spec)
                    .map_err(|e| c.err(GraphError::bad_request(e.message())))?,
            );
        } else {
            parse_pairs.push((k.clone(), v.clone()));
        }
    }
    let mut q = odata::Query::parse(&parse_pairs, spec)
        .map_err(|e| c.err(GraphError::bad_request(e.message())))?;
    if count_only && !eventual {
        return Err(c.err(GraphError::bad_request(
            "$count is not currently supported without the header 'ConsistencyLevel: eventual'.",
        )));
    }
    if expanding && (search.is_some() || q.count || count_only) {
        return Err(c.err(GraphError::bad_request(
            "'$expand' is not supported with advanced queries ($search, $count): list without '$expand', then read each object's relationship, or expand without '$search'/'$count'.",
        )));
    }
    if expanding {
        q.cap_top(MAX_EXPAND_PAGE);
        q.ensure_selected(spec.key());
    }
    if odata::needs_advanced_query(&q) && !eventual {
        return Err(c.err(GraphError::bad_request(
            "This query uses advanced query capabilities ($count, ne, not, endswith): send the header 'ConsistencyLevel: eventual' (and $count=true).",
        )));
    }
    let mut context = context.to_string();
    let mut items = items;
    if cast.is_some() || search.is_some() {
        // Casts and `$search` narrow the rendered entities first (no index for them).
        let mut rendered = items.into_rendered();
        if let Some(cast) = cast {
            let (ty, coll) = sdk::cast_type(c, &cast)?;
            rendered.retain(|v| {
                v.get("@odata.type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case(&ty))
            });
            context = coll.to_string();
        }
        if let Some(s) = &search {
            rendered.retain(|v| odata::search_matches(s, v));
        }
        items = Items::Rendered(rendered);
    }
    if count_only {
        q.count = true;
        let page = items
            .query(&q)
            .map_err(|e| c.err(GraphError::bad_request(e.message())))?;
        return Ok(Listed::Count(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                page.count.unwrap_or(0).to_string(),
            )
                .into_response(),
        ));
    }
    let page = items
        .query(&q)
        .map_err(|e| c.err(GraphError::bad_request(e.message())))?;
    let mut body = json!({"@odata.context": format!("{}/$metadata#{context}", c.base)});
    if let Some(n) = page.count {
        body["@odata.count"] = json!(n);
    }
    if let Some(tok) = page.next_skiptoken {
        let mut next: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| k != "$skiptoken")
            .collect();
        next.push(("$skiptoken".into(), tok));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(next)
            .finish();
        // `uri` is the original URI (`/graph/v1.0/...` or `/v1.0/...`), so the origin comes
        // before it, whichever base the client used.
        let origin = c.base.trim_end_matches("/v1.0");
        let origin = origin.strip_suffix("/graph").unwrap_or(origin);
        body["@odata.nextLink"] = json!(format!("{origin}{}?{qs}", uri.path()));
    }
    body["value"] = Value::Array(page.items);
    Ok(Listed::Page(body))
}

/// Renders any directory object by id (for members, owners, memberOf).
pub async fn render_object(
    s: &AppState,
    tenant: &Tenant,
    id: ObjectId,
    kind: ObjectKind,
) -> Result<Option<Value>, castellan_core::store::StoreError> {
    Ok(match kind {
        ObjectKind::User => s
            .store
            .user(tenant.id, id)
            .await?
            .map(|u| castellan_wire::graph::users::render(&u)),
        ObjectKind::Group => s
            .store
            .group(tenant.id, id)
            .await?
            .map(|g| castellan_wire::graph::groups::render(&g, tenant.initial_domain())),
        ObjectKind::ServicePrincipal => match s.store.service_principal(tenant.id, id).await? {
            Some(sp) => {
                let (roles, scopes) =
                    castellan_core::ops::service_principals::exposed(s.store.as_ref(), &sp).await?;
                Some(castellan_wire::graph::service_principals::render(
                    &sp, &roles, &scopes,
                ))
            }
            None => None,
        },
        ObjectKind::Application => s
            .store
            .application(tenant.id, id)
            .await?
            .map(|a| castellan_wire::graph::applications::render(&a, tenant.initial_domain())),
    })
}

/// Properties of a `directoryObject` collection (union of what members can be).
pub const DIRECTORY_OBJECT_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "userPrincipalName",
    "mail",
    "mailNickname",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "accountEnabled",
    "userType",
    "appId",
    "servicePrincipalType",
    "securityEnabled",
    "mailEnabled",
    "groupTypes",
    "description",
    "createdDateTime",
];

/// 204 No Content.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// 201 Created with a body and `Location`.
pub fn created(location: String, body: Value) -> Response {
    let mut r = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = location.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Parses an object id from a path segment.
pub fn parse_id(c: &Caller, s: &str) -> Result<ObjectId, ApiError> {
    ObjectId::parse(s).ok_or_else(|| {
        c.err(GraphError::bad_request(format!(
            "Invalid object identifier '{s}'."
        )))
    })
}

/// Maps a store error.
pub fn store_err(c: &Caller) -> impl Fn(castellan_core::store::StoreError) -> ApiError + '_ {
    |e| c.err(GraphError::from(castellan_core::DirectoryError::from(e)))
}

/// The tenant's membership graph in force now (stored edges plus active PIM-for-groups
/// memberships).
pub async fn membership_graph(
    s: &AppState,
    c: &Caller,
) -> Result<castellan_core::model::MembershipGraph, ApiError> {
    Ok(castellan_core::model::MembershipGraph::new(
        &castellan_core::ops::groups::memberships_at(s.store.as_ref(), c.tenant.id, now())
            .await
            .map_err(store_err(c))?,
    ))
}

/// Lists the owners of a group or application as directory objects.
pub async fn owners_list(
    s: &AppState,
    c: &Caller,
    object: ObjectId,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let mut items = Vec::new();
    // Active PIM-for-groups owners are owners while in force.
    for o in castellan_core::ops::groups::owners_at(s.store.as_ref(), c.tenant.id, object, now())
        .await
        .map_err(store_err(c))?
    {
        if let Some(k) = s
            .store
            .object_kind(c.tenant.id, o)
            .await
            .map_err(store_err(c))?
        {
            if let Some(v) = render_object(s, &c.tenant, o, k)
                .await
                .map_err(store_err(c))?
            {
                items.push(v);
            }
        }
    }
    list(
        c,
        uri,
        headers,
        &users::objects_spec(),
        "directoryObjects",
        items,
    )
}
