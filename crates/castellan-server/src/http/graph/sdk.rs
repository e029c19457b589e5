//! Graph as the SDKs use it: Graph's path forms (empty segments, type-cast segments, `/$count`),
//! `directoryObjects/getByIds`, the member-check actions (`checkMemberGroups`,
//! `checkMemberObjects`, `getMemberGroups`, `getMemberObjects`), JSON `$batch`, and 405s in
//! Graph's error shape. Every read goes through [`Caller::require`]; a `$batch` sub-request is
//! dispatched through the same router with the batch's own token, so it is authorised exactly
//! as if it had been sent alone.

use std::collections::HashSet;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, OriginalUri, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use castellan_core::graph_rules::{Access, Area};
use castellan_core::model::ObjectKind;
use castellan_core::ops::{groups, users};
use castellan_core::ObjectId;
use castellan_wire::errors::GraphError;
use serde_json::{json, Value};

use super::{json_body, parse_id, render_object, store_err, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// The most requests one `$batch` may hold (Graph's limit).
pub const MAX_BATCH: usize = 20;
/// The largest response body one `$batch` sub-request may give.
pub const MAX_BATCH_RESPONSE_BYTES: usize = 16 << 20;
/// The most ids one `getByIds` may name (Graph's limit).
pub const MAX_GET_BY_IDS: usize = 1000;
/// The most ids a `checkMemberGroups` / `checkMemberObjects` may name (Graph's limit).
pub const MAX_CHECK_IDS: usize = 20;

/// Navigation properties after which Graph accepts a type-cast segment.
const CAST_AFTER: &[&str] = &[
    "members",
    "transitiveMembers",
    "memberOf",
    "transitiveMemberOf",
    "owners",
    "registeredOwners",
    "directReports",
];

/// Directory-object types a cast may name, with the collection name used in `@odata.context`.
const CAST_TYPES: &[(&str, &str)] = &[
    ("user", "users"),
    ("group", "groups"),
    ("servicePrincipal", "servicePrincipals"),
    ("application", "applications"),
    ("device", "devices"),
    ("orgContact", "contacts"),
];

/// Routes.
pub fn router() -> Router<AppState> {
    let mut r = Router::new()
        .route("/v1.0/directoryObjects/getByIds", post(get_by_ids))
        .route("/v1.0/$batch", post(batch))
        .route("/v1.0/users/delta", get(delta))
        .route("/v1.0/users/delta()", get(delta))
        .route("/v1.0/groups/delta", get(delta))
        .route("/v1.0/groups/delta()", get(delta));
    for coll in ["users", "groups", "servicePrincipals", "directoryObjects"] {
        for f in [
            "checkMemberGroups",
            "checkMemberObjects",
            "getMemberGroups",
            "getMemberObjects",
        ] {
            r = r.route(&format!("/v1.0/{coll}/{{id}}/{f}"), post(member_check));
        }
    }
    for f in [
        "checkMemberGroups",
        "checkMemberObjects",
        "getMemberGroups",
        "getMemberObjects",
    ] {
        r = r.route(&format!("/v1.0/me/{f}"), post(me_member_check));
    }
    r
}

/// A known path with a method it does not allow: Graph's 405 in Graph's shape.
pub async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    ApiError(
        GraphError::method_not_allowed(format!(
            "The request method '{method}' is not allowed for the resource '{}'.",
            uri.path()
        )),
        uuid::Uuid::new_v4().to_string(),
    )
    .into_response()
}

/// The type a cast segment names (`microsoft.graph.user`, `graph.user` → `user`).
fn cast_name(seg: &str) -> Option<&str> {
    let lower = seg.to_ascii_lowercase();
    let n = if lower.starts_with("microsoft.graph.") {
        seg.get("microsoft.graph.".len()..)
    } else if lower.starts_with("graph.") {
        seg.get("graph.".len()..)
    } else {
        None
    }?;
    (!n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric())).then_some(n)
}

/// Splits Graph's addressing suffixes off a path: a trailing `/$count` and a type-cast segment
/// after a navigation property. Returns the path to route, the cast type and whether the
/// count was asked.
pub fn cast_and_count(path: &str) -> (String, Option<String>, bool) {
    let (mut p, count) = match path.strip_suffix("/$count") {
        Some(p) => (p, true),
        None => (path, false),
    };
    let mut cast = None;
    if let Some((head, last)) = p.rsplit_once('/') {
        if let Some(t) = cast_name(last) {
            if head
                .rsplit('/')
                .next()
                .is_some_and(|nav| CAST_AFTER.contains(&nav))
            {
                cast = Some(t.to_string());
                p = head;
            }
        }
    }
    (p.to_string(), cast, count)
}

/// For `list`: validates the cast and gives `(@odata.type, collection name)`.
pub fn cast_type(c: &Caller, cast: &str) -> Result<(String, &'static str), ApiError> {
    CAST_TYPES
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(cast))
        .map(|(t, coll)| (format!("#microsoft.graph.{t}"), *coll))
        .ok_or_else(|| {
            c.err(GraphError::bad_request(format!(
                "Type 'microsoft.graph.{cast}' is not a type derived from 'microsoft.graph.directoryObject'."
            )))
        })
}

/// Marks a request whose path ended in `/$count` (only collections answer it).
#[derive(Clone, Copy, Debug)]
pub struct CountSegment;

/// Rewrites a Graph request's path before routing: empty segments are dropped (`/v1.0//users`
/// is `/v1.0/users`, as Graph treats it), and `/$count` and type-cast suffixes are removed so
/// the collection's handler answers; the handler sees them in [`OriginalUri`] (set here to the
/// normalised path with its suffixes).
pub fn rewrite(mut req: Request) -> Request {
    let uri = req.uri().clone();
    let full = uri.path();
    // Graph is served at `/v1.0` and under its own base `/graph/v1.0` alike.
    let (prefix, path) = match full.strip_prefix("/graph") {
        Some(rest) if rest == "/v1.0" || rest.starts_with("/v1.0/") => ("/graph", rest),
        _ => ("", full),
    };
    if !(path == "/v1.0" || path.starts_with("/v1.0/")) {
        return req;
    }
    let mut normal = String::from(prefix);
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        normal.push('/');
        normal.push_str(seg);
    }
    let (routed, _, count) = cast_and_count(&normal[prefix.len()..]);
    let routed = format!("{prefix}{routed}");
    if count {
        req.extensions_mut().insert(CountSegment);
    }
    let with_query = |p: &str| match uri.query() {
        Some(q) => format!("{p}?{q}"),
        None => p.to_string(),
    };
    if let Ok(orig) = with_query(&normal).parse::<Uri>() {
        req.extensions_mut().insert(OriginalUri(orig));
    }
    if routed != full {
        if let Ok(u) = with_query(&routed).parse::<Uri>() {
            *req.uri_mut() = u;
        }
    }
    req
}

/// `directoryObject` types that exist in Graph but of which Castellan holds none.
const OTHER_DIRECTORY_TYPES: &[&str] = &[
    "device",
    "orgContact",
    "directoryObjectPartnerReference",
    "administrativeUnit",
    "directoryRole",
    "directoryRoleTemplate",
    "contract",
    "appRoleAssignment",
    "endpoint",
];

fn area_of(k: ObjectKind) -> Area {
    match k {
        ObjectKind::User => Area::Users,
        ObjectKind::Group => Area::Groups,
        ObjectKind::ServicePrincipal | ObjectKind::Application => Area::Applications,
    }
}

fn kind_named(name: &str) -> Option<ObjectKind> {
    let n = name.trim();
    let n = n
        .strip_prefix("#")
        .unwrap_or(n)
        .strip_prefix("microsoft.graph.")
        .unwrap_or(n.strip_prefix("#").unwrap_or(n));
    [
        ("user", ObjectKind::User),
        ("group", ObjectKind::Group),
        ("servicePrincipal", ObjectKind::ServicePrincipal),
        ("application", ObjectKind::Application),
    ]
    .iter()
    .find(|(t, _)| t.eq_ignore_ascii_case(n))
    .map(|(_, k)| *k)
}

fn strings(c: &Caller, v: &Value, field: &str, max: usize) -> Result<Vec<String>, ApiError> {
    let bad = |m: String| c.err(GraphError::bad_request(m));
    let arr = v
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("'{field}' is required: a list of strings.")))?;
    if arr.len() > max {
        return Err(bad(format!(
            "'{field}' holds {} values; at most {max} are allowed.",
            arr.len()
        )));
    }
    arr.iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(format!("'{field}' must hold only strings.")))
        })
        .collect()
}

/// `POST /v1.0/directoryObjects/getByIds` `{ids, types}`: the objects of the caller's tenant
/// with those ids (ids of other tenants or unknown ids are left out, as in Graph), of the
/// listed types, and only of types the caller may read.
async fn get_by_ids(
    State(s): State<AppState>,
    c: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let v = json_body(&c, &body)?;
    let ids = strings(&c, &v, "ids", MAX_GET_BY_IDS)?;
    let wanted: Vec<ObjectKind> = match v.get("types") {
        None | Some(Value::Null) => vec![
            ObjectKind::User,
            ObjectKind::Group,
            ObjectKind::ServicePrincipal,
            ObjectKind::Application,
        ],
        Some(_) => {
            let mut kinds = Vec::new();
            for t in strings(&c, &v, "types", 16)? {
                match kind_named(&t) {
                    Some(k) => kinds.push(k),
                    // Directory types Castellan holds none of (the Azure CLI asks for
                    // directoryObjectPartnerReference, for example) match nothing.
                    None if OTHER_DIRECTORY_TYPES
                        .iter()
                        .any(|o| t.trim_start_matches("microsoft.graph.").eq_ignore_ascii_case(o)) => {}
                    None => {
                        return Err(c.err(GraphError::bad_request(format!(
                            "Unsupported type '{t}' in 'types'; use user, group, servicePrincipal, application or another directoryObject type."
                        ))))
                    }
                }
            }
            if kinds.is_empty() {
                return Ok(Json(json!({
                    "@odata.context": format!("{}/$metadata#directoryObjects", c.base),
                    "value": [],
                }))
                .into_response());
            }
            kinds
        }
    };
    let readable: Vec<ObjectKind> = wanted
        .iter()
        .copied()
        .filter(|k| c.require(area_of(*k), Access::Read).is_ok())
        .collect();
    if readable.is_empty() {
        // The refusal names what is missing, as for the type asked first.
        let first = wanted.first().copied().unwrap_or(ObjectKind::User);
        c.require(area_of(first), Access::Read)?;
    }
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for raw in &ids {
        let id = parse_id(&c, raw)?;
        if !seen.insert(id) {
            continue;
        }
        let Some(k) = s
            .store
            .object_kind(c.tenant.id, id)
            .await
            .map_err(store_err(&c))?
        else {
            continue;
        };
        if !readable.contains(&k) {
            continue;
        }
        if let Some(v) = render_object(&s, &c.tenant, id, k)
            .await
            .map_err(store_err(&c))?
        {
            items.push(v);
        }
    }
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#directoryObjects", c.base),
        "value": items,
    }))
    .into_response())
}

/// Which of the four actions a path names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Groups,
    Objects,
    AllGroups,
    AllObjects,
}

fn check_of(path: &str) -> Option<Check> {
    Some(match path.rsplit('/').next()? {
        "checkMemberGroups" => Check::Groups,
        "checkMemberObjects" => Check::Objects,
        "getMemberGroups" => Check::AllGroups,
        "getMemberObjects" => Check::AllObjects,
        _ => return None,
    })
}

/// `POST /{users|groups|servicePrincipals|directoryObjects}/{id}/{checkMemberGroups|…}`.
async fn member_check(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = uri.path();
    let coll = path.split('/').nth(2).unwrap_or("");
    let mut ent = OsEntropy;
    let not_found = || {
        c.err(GraphError::not_found(format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        )))
    };
    let (target, kind) = match coll {
        "users" => {
            c.require(Area::Users, Access::Read)?;
            let u = users::find(&c.env(&s, &mut ent), &c.tenant, &id)
                .await
                .map_err(|e| c.err(e))?;
            (u.id, ObjectKind::User)
        }
        "groups" => {
            c.require(Area::Groups, Access::Read)?;
            let g = groups::find(&c.env(&s, &mut ent), &c.tenant, &id)
                .await
                .map_err(|e| c.err(e))?;
            (g.id, ObjectKind::Group)
        }
        _ => {
            let oid = parse_id(&c, &id)?;
            let k = s
                .store
                .object_kind(c.tenant.id, oid)
                .await
                .map_err(store_err(&c))?;
            match k {
                Some(k) if coll != "servicePrincipals" || k == ObjectKind::ServicePrincipal => {
                    c.require(area_of(k), Access::Read)?;
                    (oid, k)
                }
                _ => {
                    // Whether it exists elsewhere is not the caller's business; a caller who
                    // may read none of these learns nothing either way.
                    c.require(Area::Users, Access::Read)
                        .or_else(|_| c.require(Area::Groups, Access::Read))
                        .or_else(|_| c.require(Area::Applications, Access::Read))?;
                    return Err(not_found());
                }
            }
        }
    };
    if kind == ObjectKind::Application {
        return Err(c.err(GraphError::bad_request(
            "Applications are not members of groups; use the application's service principal.",
        )));
    }
    c.require(Area::Groups, Access::Read)?;
    let check = check_of(path).ok_or_else(not_found)?;
    answer_check(&s, &c, target, check, &body).await
}

/// `POST /me/{checkMemberGroups|…}`: the signed-in user's own groups.
async fn me_member_check(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let castellan_core::audit::Actor::User { id, .. } = &c.actor else {
        return Err(c.err(GraphError::bad_request(
            "/me request is only valid with delegated authentication flow: an app-only token has no signed-in user.",
        )));
    };
    c.require(Area::Me, Access::Read)?;
    let check =
        check_of(uri.path()).ok_or_else(|| c.err(GraphError::not_found("Unknown action.")))?;
    answer_check(&s, &c, *id, check, &body).await
}

async fn answer_check(
    s: &AppState,
    c: &Caller,
    target: ObjectId,
    check: Check,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let v = if body.is_empty() && matches!(check, Check::AllGroups | Check::AllObjects) {
        json!({})
    } else {
        json_body(c, body)?
    };
    let graph = super::membership_graph(s, c).await?;
    let mut all = graph.transitive_member_of(target);
    let groups_only = all.clone();
    // The object forms also cover administrative units (directory roles are not objects
    // here), for a caller who may read them.
    if matches!(check, Check::Objects | Check::AllObjects)
        && c.require(Area::RoleManagement, Access::Read).is_ok()
    {
        for au in s
            .store
            .aus_of(c.tenant.id, target)
            .await
            .map_err(store_err(c))?
        {
            if !all.contains(&au) {
                all.push(au);
            }
        }
    }
    let values: Vec<String> = match check {
        Check::Groups | Check::Objects => {
            let field = if check == Check::Groups {
                "groupIds"
            } else {
                "ids"
            };
            let asked = strings(c, &v, field, MAX_CHECK_IDS)?;
            let mut out = Vec::new();
            for a in asked {
                let Some(oid) = ObjectId::parse(&a) else {
                    return Err(c.err(GraphError::bad_request(format!(
                        "Invalid object identifier '{a}'."
                    ))));
                };
                if all.contains(&oid) && !out.contains(&oid.to_string()) {
                    out.push(oid.to_string());
                }
            }
            out
        }
        Check::AllGroups | Check::AllObjects => {
            let security_only = match v.get("securityEnabledOnly") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(c.err(GraphError::bad_request(
                        "'securityEnabledOnly' must be true or false.",
                    )))
                }
            };
            let mut out = Vec::new();
            for g in all {
                if security_only {
                    if !groups_only.contains(&g) {
                        continue;
                    }
                    match s.store.group(c.tenant.id, g).await.map_err(store_err(c))? {
                        Some(g) if g.security_enabled => {}
                        _ => continue,
                    }
                }
                out.push(g.to_string());
            }
            out
        }
    };
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#Collection(Edm.String)", c.base),
        "value": values,
    }))
    .into_response())
}

/// Sub-request headers a `$batch` passes on; the token, host and forwarding headers always come
/// from the batch itself.
const BATCH_HEADERS: &[&str] = &[
    "content-type",
    "consistencylevel",
    "prefer",
    "accept",
    "if-match",
    "if-none-match",
];

/// Response headers a `$batch` reports per request.
const BATCH_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "location",
    "retry-after",
    "odata-version",
    "www-authenticate",
];

struct Sub {
    id: String,
    method: Method,
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
    depends_on: Vec<String>,
}

fn parse_batch(c: &Caller, v: &Value) -> Result<Vec<Sub>, ApiError> {
    let bad = |m: String| c.err(GraphError::bad_request(m));
    let reqs = v.get("requests").and_then(Value::as_array).ok_or_else(|| {
        bad("The batch body must be a JSON object with a 'requests' array.".into())
    })?;
    if reqs.is_empty() {
        return Err(bad("The batch holds no requests.".into()));
    }
    if reqs.len() > MAX_BATCH {
        return Err(bad(format!(
            "The batch holds {} requests; at most {MAX_BATCH} are allowed.",
            reqs.len()
        )));
    }
    let mut out: Vec<Sub> = Vec::new();
    for r in reqs {
        let id = match r.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(bad("Every batch request needs an 'id'.".into())),
        };
        if out.iter().any(|s| s.id == id) {
            return Err(bad(format!(
                "The batch request id '{id}' is used more than once."
            )));
        }
        let method = r
            .get("method")
            .and_then(Value::as_str)
            .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
            .filter(|m| {
                [
                    Method::GET,
                    Method::POST,
                    Method::PATCH,
                    Method::PUT,
                    Method::DELETE,
                ]
                .contains(m)
            })
            .ok_or_else(|| {
                bad(format!(
                    "Batch request '{id}' needs a 'method': GET, POST, PATCH, PUT or DELETE."
                ))
            })?;
        let url = r
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("Batch request '{id}' needs a 'url'.")))?;
        let url = relative_url(url, c.base.trim_end_matches("/v1.0")).ok_or_else(|| {
            bad(format!(
                "Batch request '{id}': the url '{url}' must be relative to the Graph version, for example '/users'."
            ))
        })?;
        let mut headers = Vec::new();
        let mut has_ct = false;
        if let Some(h) = r.get("headers") {
            let Some(h) = h.as_object() else {
                return Err(bad(format!(
                    "Batch request '{id}': 'headers' must be an object."
                )));
            };
            for (k, val) in h {
                let lk = k.to_ascii_lowercase();
                if !BATCH_HEADERS.contains(&lk.as_str()) {
                    continue;
                }
                let (Ok(n), Some(Ok(hv))) = (
                    HeaderName::from_bytes(lk.as_bytes()),
                    val.as_str().map(HeaderValue::from_str),
                ) else {
                    return Err(bad(format!(
                        "Batch request '{id}': header '{k}' is not valid."
                    )));
                };
                has_ct |= lk == "content-type";
                headers.push((n, hv));
            }
        }
        let body = match r.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s))
                if headers.iter().any(|(n, v)| {
                    n == header::CONTENT_TYPE && !v.to_str().unwrap_or("").contains("json")
                }) =>
            {
                Some(s.clone().into_bytes())
            }
            Some(b) => {
                if !has_ct {
                    headers.push((
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    ));
                }
                Some(b.to_string().into_bytes())
            }
        };
        // `depends_on`: msgraph-core's batch helper spells it so.
        let depends_on = match r.get("dependsOn").or_else(|| r.get("depends_on")) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| match d {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    bad(format!(
                        "Batch request '{id}': 'dependsOn' must list request ids."
                    ))
                })?,
            Some(_) => {
                return Err(bad(format!(
                    "Batch request '{id}': 'dependsOn' must be an array of request ids."
                )))
            }
        };
        for d in &depends_on {
            if !out.iter().any(|s| &s.id == d) {
                return Err(bad(format!(
                    "Batch request '{id}' depends on '{d}', which is not an earlier request of the batch."
                )));
            }
        }
        out.push(Sub {
            id,
            method,
            url,
            headers,
            body,
            depends_on,
        });
    }
    Ok(out)
}

/// `users?$top=1`, `/users`, `/v1.0/users`, or an absolute URL on this Graph (`origin`, as the
/// SDKs' batch helpers send) or `https://graph.microsoft.com` → the path under `/v1.0`. Nested
/// `$batch` and other hosts are refused.
fn relative_url(url: &str, origin: &str) -> Option<String> {
    let u = url.trim();
    let u = [origin, "https://graph.microsoft.com"]
        .iter()
        .find_map(|p| {
            u.get(..p.len())
                .filter(|h| h.eq_ignore_ascii_case(p))
                .and_then(|_| u.get(p.len()..))
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .unwrap_or(u);
    if u.contains("://") || u.starts_with("//") || u.is_empty() {
        return None;
    }
    let u = u.trim_start_matches('/');
    let u = u.strip_prefix("v1.0/").unwrap_or(u);
    let full = format!("/v1.0/{u}");
    let path = full.split('?').next().unwrap_or("");
    if path
        .split('/')
        .any(|s| s == "$batch" || s == "." || s == "..")
    {
        return None;
    }
    full.parse::<Uri>().ok()?;
    Some(full)
}

/// `POST /v1.0/$batch` (JSON batching): each request is dispatched in order through the same
/// router, with the batch's own `Authorization` (and address) only, so each is authorised as if
/// it had been sent alone. A request whose dependency did not succeed gets 424.
async fn batch(
    State(s): State<AppState>,
    c: Caller,
    headers: HeaderMap,
    conn: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let v = json_body(&c, &body)?;
    let subs = parse_batch(&c, &v)?;
    let app = crate::http::router(s.clone());
    let mut statuses: Vec<(String, u16)> = Vec::new();
    let mut responses = Vec::new();
    for sub in subs {
        let failed = sub.depends_on.iter().find(|d| {
            statuses
                .iter()
                .any(|(id, st)| id == *d && !(200..300).contains(st))
        });
        if let Some(d) = failed {
            statuses.push((sub.id.clone(), 424));
            responses.push(json!({
                "id": sub.id,
                "status": 424,
                "headers": {"Content-Type": "application/json"},
                "body": {"error": {"code": "FailedDependency", "message": format!("Request '{d}', which this request depends on, did not succeed."), "innerError": {"request-id": c.cid, "client-request-id": c.cid}}},
            }));
            continue;
        }
        let mut rb = axum::http::Request::builder()
            .method(sub.method.clone())
            .uri(&sub.url);
        for name in [
            header::AUTHORIZATION,
            header::HOST,
            header::USER_AGENT,
            HeaderName::from_static("x-forwarded-for"),
            HeaderName::from_static("x-forwarded-proto"),
            HeaderName::from_static("x-forwarded-host"),
            HeaderName::from_static("forwarded"),
        ] {
            if let Some(val) = headers.get(&name) {
                rb = rb.header(name, val.clone());
            }
        }
        rb = rb.header("client-request-id", c.cid.as_str());
        for (n, hv) in &sub.headers {
            rb = rb.header(n, hv.clone());
        }
        let Ok(mut req) = rb.body(sub.body.map(Body::from).unwrap_or_else(Body::empty)) else {
            return Err(c.err(GraphError::bad_request(format!(
                "Batch request '{}' could not be formed.",
                sub.id
            ))));
        };
        if let Some(Extension(ci)) = &conn {
            req.extensions_mut().insert(*ci);
        }
        let res = match tower::ServiceExt::oneshot(app.clone(), req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = res.status().as_u16();
        let mut rh = serde_json::Map::new();
        for n in BATCH_RESPONSE_HEADERS {
            if let Some(val) = res.headers().get(*n).and_then(|v| v.to_str().ok()) {
                let name = match *n {
                    "content-type" => "Content-Type",
                    "location" => "Location",
                    "retry-after" => "Retry-After",
                    "odata-version" => "OData-Version",
                    _ => "WWW-Authenticate",
                };
                rh.insert(name.into(), Value::String(val.into()));
            }
        }
        let is_json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let Ok(bytes) = axum::body::to_bytes(res.into_body(), MAX_BATCH_RESPONSE_BYTES).await
        else {
            statuses.push((sub.id.clone(), 500));
            responses.push(json!({
                "id": sub.id,
                "status": 500,
                "headers": {"Content-Type": "application/json"},
                "body": {"error": {"code": "generalException", "message": format!("The response to request '{}' is larger than {MAX_BATCH_RESPONSE_BYTES} bytes; send it alone.", sub.id), "innerError": {"request-id": c.cid, "client-request-id": c.cid}}},
            }));
            continue;
        };
        let body = if bytes.is_empty() {
            None
        } else if is_json {
            serde_json::from_slice(&bytes).ok()
        } else {
            Some(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        let mut one = json!({"id": sub.id, "status": status, "headers": rh});
        if let Some(b) = body {
            one["body"] = b;
        }
        statuses.push((sub.id, status));
        responses.push(one);
    }
    let mut r = Json(json!({"responses": responses})).into_response();
    *r.status_mut() = StatusCode::OK;
    Ok(r)
}

/// The most objects an expanded collection holds (Graph's limit for directory objects).
pub const MAX_EXPANDED: usize = 20;

/// Query pairs without `$expand`, and the parsed `$expand` items.
pub type Expanded = (Vec<(String, String)>, Vec<Expand>);

/// One `$expand` item: a navigation property, with an optional nested `$select`.
pub struct Expand {
    /// The navigation property, spelled as `allowed` spells it.
    pub name: &'static str,
    /// The nested `$select` text, if any.
    pub select: Option<String>,
}

/// Takes `$expand` out of the query pairs (the rest go on to `$select`), accepting only the
/// `allowed` navigation properties, each optionally with `($select=…)`.
pub fn take_expand(
    c: &Caller,
    pairs: Vec<(String, String)>,
    allowed: &[&'static str],
) -> Result<Expanded, ApiError> {
    let bad = |m: String| c.err(GraphError::bad_request(m));
    let mut rest = Vec::new();
    let mut out: Vec<Expand> = Vec::new();
    let mut seen = false;
    for (k, v) in pairs {
        if !k.eq_ignore_ascii_case("$expand") {
            rest.push((k, v));
            continue;
        }
        if seen {
            return Err(bad(
                "Query option '$expand' was specified more than once, but it must be specified at most once.".into(),
            ));
        }
        seen = true;
        // Split at top-level commas.
        let mut items = Vec::new();
        let (mut depth, mut start) = (0i32, 0usize);
        for (i, ch) in v.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(v.get(start..i).unwrap_or(""));
                    start = i + 1;
                }
                _ => {}
            }
            if depth < 0 {
                return Err(bad(format!("Syntax error in '$expand': '{v}'.")));
            }
        }
        items.push(v.get(start..).unwrap_or(""));
        if depth != 0 || items.len() > allowed.len() {
            return Err(bad(format!("Syntax error in '$expand': '{v}'.")));
        }
        for item in items {
            let item = item.trim();
            let (name, inner) = match item.split_once('(') {
                Some((n, i)) => (n.trim(), Some(i.strip_suffix(')').unwrap_or(i))),
                None => (item, None),
            };
            let Some(canon) = allowed.iter().find(|a| a.eq_ignore_ascii_case(name)) else {
                return Err(bad(format!(
                    "Expanding '{name}' is not supported here; expandable properties: {}.",
                    allowed.join(", ")
                )));
            };
            let select = match inner {
                None => None,
                Some(i) => {
                    let (k, sel) = i.split_once('=').unwrap_or((i, ""));
                    if !k.trim().eq_ignore_ascii_case("$select") {
                        return Err(bad(format!(
                            "Only '$select' may be nested in '$expand' (found '{i}')."
                        )));
                    }
                    Some(sel.to_string())
                }
            };
            if out.iter().any(|e| e.name == *canon) {
                return Err(bad(format!("'{canon}' is expanded more than once.")));
            }
            out.push(Expand {
                name: canon,
                select,
            });
        }
    }
    Ok((rest, out))
}

/// The expanded objects, at most [`MAX_EXPANDED`], projected by the nested `$select`.
pub fn expanded(c: &Caller, e: &Expand, items: Vec<Value>) -> Result<Value, ApiError> {
    let mut pairs = vec![("$top".to_string(), MAX_EXPANDED.to_string())];
    if let Some(s) = &e.select {
        pairs.push(("$select".into(), s.clone()));
    }
    let q = castellan_wire::odata::Query::parse(&pairs, &super::users::objects_spec())
        .map_err(|er| c.err(GraphError::bad_request(er.message())))?;
    let page = castellan_wire::odata::apply(&q, items)
        .map_err(|er| c.err(GraphError::bad_request(er.message())))?;
    Ok(Value::Array(page.items))
}

/// Renders objects by id (members, owners, groups) in the caller's tenant.
pub async fn render_all(
    s: &AppState,
    c: &Caller,
    ids: Vec<(ObjectId, ObjectKind)>,
) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for (id, k) in ids {
        if let Some(v) = render_object(s, &c.tenant, id, k)
            .await
            .map_err(store_err(c))?
        {
            out.push(v);
        }
    }
    Ok(out)
}

/// How far before "now" a delta watermark is set, so a change whose transaction was still
/// committing when the watermark was taken is reported next time (delta may repeat a change,
/// as Graph's may; it must not lose one).
pub const DELTA_MARGIN_MS: i64 = 5_000;

/// `GET /users/delta` and `/groups/delta` (also spelled `delta()`, as the SDKs send it), in
/// rounds as Graph pages them (`castellan_wire::graph::delta`): without a token, every object;
/// with the `$deltatoken` of a previous round's `@odata.deltaLink`, the objects changed since
/// (added, updated, members changed) and those deleted as `@removed`, read from the directory's
/// change record (every change commits with its audit record in one transaction). Each page
/// holds up to 100 objects (`Prefer: odata.maxpagesize=N` for another size, up to 999) and links
/// the next with `@odata.nextLink`; the last carries the `@odata.deltaLink`.
/// `$deltatoken=latest` gives just a link. `$select` is honoured and carried in the links.
async fn delta(
    State(s): State<AppState>,
    c: Caller,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    use castellan_wire::graph::delta as d;
    let path = uri.path();
    let is_users = path.starts_with("/v1.0/users/");
    let (area, coll, kind, spec) = if is_users {
        (Area::Users, "users", "User", super::users::spec())
    } else {
        (Area::Groups, "groups", "Group", super::groups::spec())
    };
    c.require(area, Access::Read)?;
    let bad = |m: String| c.err(GraphError::bad_request(m));
    let mut delta_token = None;
    let mut skip_token = None;
    let mut select = None;
    for (k, v) in super::query_pairs(&uri) {
        match k.to_ascii_lowercase().as_str() {
            "$deltatoken" => delta_token = Some(v),
            "$skiptoken" => skip_token = Some(v),
            "$select" => select = Some(v),
            k if k.starts_with('$') => {
                return Err(bad(format!(
                    "Query option '{k}' is not supported on delta; supported: $select, $deltatoken, $skiptoken."
                )))
            }
            _ => {}
        }
    }
    let prefer = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let (size, size_applied) = d::page_size(Some(&prefer)).map_err(bad)?;
    let tenant = c.tenant.id.to_string();
    let now_mark = crate::state::now().0 - DELTA_MARGIN_MS;
    // The round: where it starts (`since`: None = every object), its watermark, the cursor.
    let (since, watermark, after) = match (delta_token.as_deref(), skip_token.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "Send either '$deltatoken' or '$skiptoken', not both: follow the @odata.nextLink or @odata.deltaLink exactly as returned.".into(),
            ))
        }
        (Some(t), None) if t.eq_ignore_ascii_case("latest") => {
            return Ok(delta_answer(&c, path, coll, select.as_deref(), Vec::new(), DeltaLink::Delta(now_mark), None));
        }
        (Some(t), None) => match d::read_token(&tenant, coll, t, false).map_err(bad)? {
            d::State::Delta { since } => (Some(since), now_mark, None),
            d::State::Skip { .. } => return Err(bad("The '$deltatoken' value is malformed: use the @odata.deltaLink exactly as returned.".into())),
        },
        (None, Some(t)) => match d::read_token(&tenant, coll, t, true).map_err(bad)? {
            d::State::Skip { since, watermark, after } => (since, watermark, Some(after)),
            d::State::Delta { .. } => return Err(bad("The '$skiptoken' value is malformed: use the @odata.nextLink exactly as returned.".into())),
        },
        (None, None) => (None, now_mark, None),
    };
    let dom = c.tenant.initial_domain().to_string();
    let mut items: Vec<Value> = Vec::new();
    match since {
        None => {
            if is_users {
                for u in s.store.users(c.tenant.id).await.map_err(store_err(&c))? {
                    items.push(castellan_wire::graph::users::render(&u));
                }
            } else {
                for g in s.store.groups(c.tenant.id).await.map_err(store_err(&c))? {
                    items.push(castellan_wire::graph::groups::render(&g, &dom));
                }
            }
        }
        Some(since) => {
            let records = s
                .store
                .audit_records(
                    c.tenant.id,
                    &castellan_core::store::AuditQuery {
                        since: Some(castellan_core::Timestamp(since)),
                        ..Default::default()
                    },
                )
                .await
                .map_err(store_err(&c))?;
            let mut seen = HashSet::new();
            for r in records.iter().filter(|r| r.result == "success") {
                for t in r.targets.iter().filter(|t| t.kind == kind) {
                    let Some(id) = ObjectId::parse(&t.id) else {
                        continue;
                    };
                    // Only what this page can hold is loaded: ids at or before the cursor
                    // were answered on an earlier page of the round.
                    if after
                        .as_deref()
                        .is_some_and(|a| id.to_string().as_str() <= a)
                    {
                        continue;
                    }
                    if !seen.insert(id) {
                        continue;
                    }
                    let now = if is_users {
                        s.store
                            .user(c.tenant.id, id)
                            .await
                            .map_err(store_err(&c))?
                            .map(|u| castellan_wire::graph::users::render(&u))
                    } else {
                        s.store
                            .group(c.tenant.id, id)
                            .await
                            .map_err(store_err(&c))?
                            .map(|g| castellan_wire::graph::groups::render(&g, &dom))
                    };
                    items.push(now.unwrap_or_else(|| {
                        json!({
                            "@odata.type": if is_users { "#microsoft.graph.user" } else { "#microsoft.graph.group" },
                            "id": id.to_string(),
                            "@removed": {"reason": "deleted"},
                        })
                    }));
                }
            }
        }
    }
    let (mut items, next) = d::page(items, after.as_deref(), size);
    if let Some(sel) = &select {
        let pairs = [("$select".to_string(), sel.clone())];
        items = items
            .into_iter()
            .map(|v| {
                if v.get("@removed").is_some() {
                    Ok(v)
                } else {
                    super::users::select_pairs(&c, &pairs, &spec, v)
                }
            })
            .collect::<Result<_, _>>()?;
    }
    let link = match next {
        Some(last) => DeltaLink::Next(d::skip_token(&tenant, coll, since, watermark, &last)),
        None => DeltaLink::Delta(watermark),
    };
    Ok(delta_answer(
        &c,
        path,
        coll,
        select.as_deref(),
        items,
        link,
        size_applied.then_some(size),
    ))
}

/// Which link ends a delta page.
enum DeltaLink {
    /// More of the round: `@odata.nextLink` with this `$skiptoken`.
    Next(String),
    /// The round is complete: `@odata.deltaLink` from this watermark.
    Delta(i64),
}

fn delta_answer(
    c: &Caller,
    path: &str,
    coll: &str,
    select: Option<&str>,
    items: Vec<Value>,
    link: DeltaLink,
    page_size_applied: Option<usize>,
) -> Response {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(sel) = select {
        q.append_pair("$select", sel);
    }
    let key = match &link {
        DeltaLink::Next(t) => {
            q.append_pair("$skiptoken", t);
            "@odata.nextLink"
        }
        DeltaLink::Delta(w) => {
            q.append_pair(
                "$deltatoken",
                &castellan_wire::graph::delta::delta_token(&c.tenant.id.to_string(), coll, *w),
            );
            "@odata.deltaLink"
        }
    };
    let origin = c.base.trim_end_matches("/v1.0");
    let mut body = serde_json::Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}/$metadata#{coll}", c.base)),
    );
    body.insert(key.into(), json!(format!("{origin}{path}?{}", q.finish())));
    body.insert("value".into(), Value::Array(items));
    let mut r = Json(Value::Object(body)).into_response();
    if let Some(n) = page_size_applied {
        if let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={n}")) {
            r.headers_mut().insert("preference-applied", v);
        }
    }
    r
}

/// Graph answers every error in its JSON shape: an error response that is not JSON (a body
/// over the size limit, an extractor's rejection) is rewritten so, keeping its status.
pub async fn graph_shaped(req: Request, next: axum::middleware::Next) -> Response {
    let cid = req
        .extensions()
        .get::<crate::http::CorrelationId>()
        .map(|c| c.0.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let count = req.extensions().get::<CountSegment>().is_some();
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if count && status.is_success() && is_json {
        // The handler answered an entity or an action, not a collection.
        return ApiError(
            GraphError::bad_request("The '$count' segment is supported on collections only."),
            cid,
        )
        .into_response();
    }
    if status.as_u16() < 400 || is_json {
        return res;
    }
    let bytes = axum::body::to_bytes(res.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_string()
    } else {
        text
    };
    ApiError(GraphError::for_status(status.as_u16(), message), cid).into_response()
}
