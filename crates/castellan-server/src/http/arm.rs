//! Azure Resource Manager under `/subscriptions/…` and `/providers/…` (`api-version` required):
//! the hierarchy, `Microsoft.Authorization` (role definitions, role assignments, permissions,
//! check-access, deny assignments, elevate access) and the identity-endpoint secret of a
//! resource (`POST {resourceId}/listIdentityEndpoint`). Tokens must be for ARM
//! (`https://management.azure.com/`). Deciding is core's (`ops::arm`); shapes are wire's.
//! PIM for Azure roles (schedule requests, schedules, policies) is the child module `pim`.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use castellan_core::arm_view;
use castellan_core::audit::Actor;
use castellan_core::catalog::ARM_APP_ID;
use castellan_core::model::ScopeKind;
use castellan_core::ops::arm::{self, ArmCaller, ArmError, AssignmentFilter};
use castellan_core::ops::{managed_identity, Env};
use castellan_core::{ObjectId, TenantId};
use castellan_wire::arm as w;
use serde_json::Value;

use crate::crypto::OsEntropy;
use crate::http::bearer;
use crate::http::{host, CorrelationId};
use crate::state::{now, AppState};

mod pim;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/subscriptions", any(handle))
        .route("/subscriptions/{*rest}", any(handle))
        .route("/providers", any(handle))
        .route("/tenants", any(handle))
        .route("/providers/{*rest}", any(handle))
}

struct Ctx {
    caller: ArmCaller,
    actor: Actor,
    cid: String,
    origin: String,
    /// The token's `amr` carries `mfa` (PIM activations whose policy asks for it).
    mfa: bool,
    /// The token's `acrs`.
    acrs: Vec<String>,
}

impl Ctx {
    fn env<'a>(&self, s: &'a AppState, entropy: &'a mut OsEntropy) -> Env<'a> {
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

fn respond(status: u16, body: Value, cid: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        Json(body),
    )
        .into_response();
    if let Ok(v) = cid.parse() {
        r.headers_mut().insert("x-ms-correlation-request-id", v);
    }
    r
}

fn fail(e: &ArmError, cid: &str) -> Response {
    let mut r = respond(e.status, w::error_body(e), cid);
    if e.status == 401 {
        if let Ok(v) = "Bearer authorization_uri=\"/common/oauth2/authorize\", error=\"invalid_token\", error_description=\"The access token is missing or invalid; request one for https://management.azure.com/.default.\"".parse() {
            r.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

async fn authenticate(s: &AppState, headers: &HeaderMap, cid: &str) -> Result<Ctx, ArmError> {
    let unauthorized = |m: &str| {
        castellan_core::error::Code::ArmInvalidAuthenticationToken.arm(&[("message", &m)])
    };
    let claims = bearer::validate(
        s,
        headers,
        &[
            ARM_APP_ID.to_string(),
            "https://management.azure.com/".into(),
            "https://management.azure.com".into(),
            "https://management.core.windows.net/".into(),
            "https://management.core.windows.net".into(),
        ],
        "Azure Resource Manager",
        "https://management.azure.com/.default",
    )
    .map_err(|m| unauthorized(&m))?;
    let tid = TenantId::parse(&claims.tid)
        .ok_or_else(|| unauthorized("The token's tid is not a GUID."))?;
    let tenant = s
        .store
        .tenant(tid)
        .await?
        .ok_or_else(|| unauthorized("The token's tenant does not exist."))?;
    let oid = ObjectId::parse(&claims.oid)
        .ok_or_else(|| unauthorized("The token's oid is not a GUID."))?;
    let (name, actor, is_user) = if claims.scp.is_some() {
        match s.store.user(tid, oid).await? {
            Some(u) if u.account_enabled => (
                u.user_principal_name.clone(),
                Actor::User {
                    id: oid,
                    upn: u.user_principal_name,
                },
                true,
            ),
            _ => {
                return Err(unauthorized(
                    "The signed-in user no longer exists or is disabled.",
                ))
            }
        }
    } else {
        match s.store.service_principal(tid, oid).await? {
            Some(sp) if sp.account_enabled => (
                sp.app_id.to_string(),
                Actor::App {
                    service_principal_id: sp.id,
                    app_id: sp.app_id.to_string(),
                    display_name: sp.display_name,
                },
                false,
            ),
            _ => {
                return Err(unauthorized(
                    "The calling service principal no longer exists or is disabled.",
                ))
            }
        }
    };
    let caller = arm::caller(s.store.as_ref(), tenant, oid, name, is_user, now()).await?;
    Ok(Ctx {
        caller,
        actor,
        cid: cid.to_string(),
        origin: s.origins.for_host(host(headers)),
        mfa: claims.amr.iter().any(|a| a == "mfa"),
        acrs: claims.acrs.clone(),
    })
}

/// What the path names.
#[derive(Debug)]
enum Target {
    ListSubscriptions,
    ListManagementGroups,
    ListResourceGroups(String),
    ListResources(String),
    ListFics(String),
    /// `GET {parent}/providers/{ns}/{type}` or `GET {resource}/{childType}`.
    Collection {
        parent: String,
        resource_type: String,
    },
    /// `GET /tenants` (`az login` lists the tenants a signed-in user may use).
    ListTenants,
    /// `GET /subscriptions/{id}/locations`.
    Locations(String),
    /// `GET /subscriptions/{id}/tagNames`.
    TagNames(String),
    /// `GET [/subscriptions/{id}]/providers`.
    Providers(Option<String>),
    /// `GET [/subscriptions/{id}]/providers/{ns}`.
    Provider(Option<String>, String),
    /// `POST [/subscriptions/{id}]/providers/{ns}/register`.
    Register(Option<String>, String),
    Scope(String),
    IdentityEndpoint(String),
    Elevate,
    Authorization {
        scope: String,
        kind: String,
        name: Option<String>,
        /// `…/{name}/cancel` on a PIM schedule request.
        action: Option<String>,
    },
}

/// Subscription-level and tenant-level provider, location and tag-name paths.
fn classify_meta(p: &str) -> Option<Target> {
    let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    let l: Vec<String> = segs.iter().map(|x| x.to_ascii_lowercase()).collect();
    let l: Vec<&str> = l.iter().map(String::as_str).collect();
    let sub = |i: usize| segs.get(i).map(|x| format!("/subscriptions/{x}"));
    let seg = |i: usize| segs.get(i).map(|x| x.to_string()).unwrap_or_default();
    Some(match l.as_slice() {
        ["subscriptions", _, "locations"] => Target::Locations(sub(1)?),
        ["subscriptions", _, "tagnames"] => Target::TagNames(sub(1)?),
        ["subscriptions", _, "providers"] => Target::Providers(sub(1)),
        ["subscriptions", _, "providers", _] => Target::Provider(sub(1), seg(3)),
        ["subscriptions", _, "providers", _, "register"] => Target::Register(sub(1), seg(3)),
        ["providers"] => Target::Providers(None),
        ["tenants"] => Target::ListTenants,
        ["providers", _] => Target::Provider(None, seg(1)),
        ["providers", _, "register"] => Target::Register(None, seg(1)),
        _ => return None,
    })
}

fn classify(path: &str) -> Result<Target, ArmError> {
    let p = path.trim_end_matches('/');
    let lower = p.to_ascii_lowercase();
    if let Some(t) = classify_meta(p) {
        return Ok(t);
    }
    const AUTH: &str = "/providers/microsoft.authorization/";
    if lower == "/providers/microsoft.authorization/elevateaccess" {
        return Ok(Target::Elevate);
    }
    if let Some(i) = lower.rfind(AUTH) {
        let scope = p.get(..i).unwrap_or("");
        let rest: Vec<&str> = p.get(i + AUTH.len()..).unwrap_or("").split('/').collect();
        let kind = rest
            .first()
            .map(|k| k.to_ascii_lowercase())
            .unwrap_or_default();
        let pim_action = (rest.len() == 3 && kind.ends_with("schedulerequests"))
            || (rest.len() == 4
                && kind == "roleassignmentapprovals"
                && rest
                    .get(2)
                    .is_some_and(|x| x.eq_ignore_ascii_case("stages")));
        if (rest.len() > 2 && !pim_action) || kind.is_empty() {
            return Err(not_found_path(path));
        }
        return Ok(Target::Authorization {
            scope: if scope.is_empty() {
                "/".into()
            } else {
                scope.into()
            },
            kind,
            name: rest.get(1).map(|s| s.to_string()),
            action: (rest.len() > 2).then(|| rest.get(2..).unwrap_or_default().join("/")),
        });
    }
    if lower == "/subscriptions" {
        return Ok(Target::ListSubscriptions);
    }
    if lower == "/providers/microsoft.management/managementgroups" {
        return Ok(Target::ListManagementGroups);
    }
    if let Some(base) = lower.strip_suffix("/listidentityendpoint") {
        return Ok(Target::IdentityEndpoint(
            p.get(..base.len()).unwrap_or("").into(),
        ));
    }
    if let Some(base) = lower.strip_suffix("/federatedidentitycredentials") {
        return Ok(Target::ListFics(p.get(..base.len()).unwrap_or("").into()));
    }
    if let Some(base) = lower.strip_suffix("/resourcegroups") {
        return Ok(Target::ListResourceGroups(
            p.get(..base.len()).unwrap_or("").into(),
        ));
    }
    if let Some(base) = lower.strip_suffix("/resources") {
        return Ok(Target::ListResources(
            p.get(..base.len()).unwrap_or("").into(),
        ));
    }
    if let Some((parent, resource_type)) = arm_view::collection(p) {
        return Ok(Target::Collection {
            parent,
            resource_type,
        });
    }
    Ok(Target::Scope(p.to_string()))
}

fn not_found_path(path: &str) -> ArmError {
    castellan_core::error::Code::ArmInvalidResourceType.arm(&[("path", &path)])
}

fn query(uri: &axum::http::Uri) -> Vec<(String, String)> {
    crate::http::graph::query_pairs(uri)
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn body_json(body: &Bytes) -> Result<Value, ArmError> {
    if body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body)
        .map_err(|e| castellan_core::error::Code::ArmInvalidRequestContent.arm(&[("e", &e)]))
}

async fn handle(
    State(s): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    axum::Extension(cid): axum::Extension<CorrelationId>,
    body: Bytes,
) -> Response {
    let cid = cid.0;
    match dispatch(&s, &method, &uri, &headers, &cid, &body).await {
        Ok(r) => r,
        Err(e) => fail(&e, &cid),
    }
}

async fn dispatch(
    s: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    cid: &str,
    body: &Bytes,
) -> Result<Response, ArmError> {
    let q = query(uri);
    if param(&q, "api-version").is_none_or(str::is_empty) {
        return Err(castellan_core::error::Code::ArmMissingApiVersionParameter.arm(&[]));
    }
    // Bounded before anything walks the path (core::azure_rbac::MAX_SCOPE_LEN / _SEGMENTS).
    arm::check_scope_size(uri.path())?;
    // Every scope in the path — resource ids, role-assignment and deny-assignment scopes,
    // checkAccess — is spelled plainly or refused before anything reads it.
    arm::check_scope(uri.path())?;
    let target = match classify(uri.path())? {
        // Only GET lists a collection; anything else on that path is a (malformed) resource id.
        Target::Collection { .. } if method != Method::GET => {
            Target::Scope(uri.path().trim_end_matches('/').to_string())
        }
        t => t,
    };
    let ctx = authenticate(s, headers, cid).await?;
    let store = s.store.as_ref();
    let c = &ctx.caller;
    let mut entropy = OsEntropy;
    let method_not_allowed = || {
        castellan_core::error::Code::ArmMethodNotAllowed2
            .arm(&[("method", &method), ("path", &uri.path())])
    };
    match target {
        Target::ListSubscriptions if method == Method::GET => {
            let subs = arm::list_subscriptions(store, c).await?;
            Ok(respond(200, w::list(render_all(s, &subs).await?), cid))
        }
        Target::ListManagementGroups if method == Method::GET => {
            arm::ensure_root(&mut ctx.env(s, &mut entropy), &c.tenant).await?;
            let mgs = arm::list_children(store, c, None, ScopeKind::ManagementGroup).await?;
            Ok(respond(200, w::list(render_all(s, &mgs).await?), cid))
        }
        Target::ListResourceGroups(sub) if method == Method::GET => {
            arm::open_scope(store, c, &sub).await.map_err(|e| {
                if e.status == 403 {
                    e
                } else {
                    castellan_core::error::Code::ArmSubscriptionNotFound.arm(&[("sub", &sub)])
                }
            })?;
            // `az group list --tag k=v` sends the /resources filter grammar here too.
            let filter = resource_filter(&q)?;
            let mut rgs =
                arm::list_children(store, c, Some(&sub), ScopeKind::ResourceGroup).await?;
            rgs.retain(|r| filter.matches(r));
            Ok(respond(200, w::list(render_all(s, &rgs).await?), cid))
        }
        Target::ListResources(parent) if method == Method::GET => {
            let filter = resource_filter(&q)?;
            arm::open_scope(store, c, &parent).await?;
            let rs = arm::list_resources(store, c, &parent, &filter).await?;
            Ok(respond(200, w::list(render_all(s, &rs).await?), cid))
        }
        Target::Collection {
            parent,
            resource_type,
        } if method == Method::GET => {
            let rs = arm::list_collection(store, c, &parent, &resource_type).await?;
            Ok(respond(200, w::list(render_all(s, &rs).await?), cid))
        }
        Target::ListTenants if method == Method::GET => {
            // The token's tenant: a principal signs in to one tenant at a time.
            Ok(respond(
                200,
                w::list(vec![w::render_tenant(&c.tenant)]),
                cid,
            ))
        }
        Target::Locations(sub) if method == Method::GET => {
            let r = arm::open_scope(store, c, &sub).await?;
            Ok(respond(
                200,
                w::list(
                    arm_view::LOCATIONS
                        .iter()
                        .map(|l| w::render_location(&r.name, l))
                        .collect(),
                ),
                cid,
            ))
        }
        Target::TagNames(sub) if method == Method::GET => {
            let scopes = arm::tagged_scopes(store, c, &sub).await?;
            let counts = arm_view::tag_counts(scopes.iter().map(|r| r.tags.as_slice()));
            let name = sub.rsplit('/').next().unwrap_or("");
            Ok(respond(200, w::render_tag_names(name, &counts), cid))
        }
        Target::Providers(sub) if method == Method::GET => {
            let name = match &sub {
                Some(sub) => Some(arm::open_scope(store, c, sub).await?.name),
                None => None,
            };
            Ok(respond(
                200,
                w::list(
                    arm_view::PROVIDERS
                        .iter()
                        .map(|p| w::render_provider(name.as_deref(), p))
                        .collect(),
                ),
                cid,
            ))
        }
        Target::Provider(sub, ns) if method == Method::GET => {
            let name = match &sub {
                Some(sub) => Some(arm::open_scope(store, c, sub).await?.name),
                None => None,
            };
            let p = arm::known_provider(&ns)?;
            Ok(respond(200, w::render_provider(name.as_deref(), p), cid))
        }
        Target::Register(sub, ns) if method == Method::POST => {
            // Every provider Castellan knows is registered in every subscription; registering
            // changes nothing (at tenant level, `POST /providers/{ns}/register`, neither).
            let (name, p) = match &sub {
                Some(sub) => {
                    let p = arm::register_provider(store, c, sub, &ns).await?;
                    (sub.rsplit('/').next().map(str::to_string), p)
                }
                None => (None, arm::known_provider(&ns)?),
            };
            Ok(respond(200, w::render_provider(name.as_deref(), p), cid))
        }
        Target::ListFics(uami) if method == Method::GET => {
            let list = managed_identity::list_fics(store, c, &uami).await?;
            Ok(respond(200, w::list(render_all(s, &list).await?), cid))
        }
        Target::Scope(id) => match *method {
            // `az group exists`, `check_existence`: 204 when it exists (and may be read), the
            // refusal's status otherwise — no body either way.
            Method::HEAD => Ok(match arm::get_resource(store, c, &id).await {
                Ok(_) => StatusCode::NO_CONTENT.into_response(),
                Err(e) => StatusCode::from_u16(e.status)
                    .unwrap_or(StatusCode::NOT_FOUND)
                    .into_response(),
            }),
            Method::GET => {
                let r = arm::get_resource(store, c, &id).await?;
                Ok(respond(200, render(s, &r).await?, cid))
            }
            Method::PUT | Method::PATCH
                if arm::parse_id(&id).is_ok_and(|p| {
                    p.resource_type
                        .eq_ignore_ascii_case(managed_identity::FIC_TYPE)
                }) =>
            {
                let patch = w::parse_fic_body(&body_json(body)?)?;
                let (r, created) =
                    managed_identity::put_fic(&mut ctx.env(s, &mut entropy), c, &id, patch).await?;
                Ok(respond(
                    if created { 201 } else { 200 },
                    render(s, &r).await?,
                    cid,
                ))
            }
            Method::PUT | Method::PATCH => {
                let req = w::parse_put_resource(&body_json(body)?)?;
                let (r, created) =
                    arm::put_resource(&mut ctx.env(s, &mut entropy), c, &id, req).await?;
                Ok(respond(
                    if created { 201 } else { 200 },
                    render(s, &r).await?,
                    cid,
                ))
            }
            Method::DELETE => {
                arm::delete_resource(&mut ctx.env(s, &mut entropy), c, &id).await?;
                Ok(StatusCode::OK.into_response())
            }
            _ => Err(method_not_allowed()),
        },
        Target::IdentityEndpoint(id) if method == Method::POST => {
            let (r, secret) =
                managed_identity::issue_secret(&mut ctx.env(s, &mut entropy), c, &id).await?;
            Ok(respond(
                200,
                serde_json::json!({
                    "resourceId": arm_view::canonical_id(&r.id),
                    "IDENTITY_ENDPOINT": format!("{}/msi/token", ctx.origin),
                    "IDENTITY_HEADER": secret,
                }),
                cid,
            ))
        }
        Target::Elevate if method == Method::POST => {
            arm::elevate_access(&mut ctx.env(s, &mut entropy), c).await?;
            Ok(StatusCode::OK.into_response())
        }
        Target::Authorization {
            scope,
            kind,
            name,
            action,
        } if pim::serves(&kind) => {
            pim::handle(
                s,
                &ctx,
                method,
                &scope,
                &kind,
                name.as_deref(),
                action.as_deref(),
                &q,
                body,
            )
            .await
        }
        Target::Authorization {
            scope,
            kind,
            name,
            action: None,
        } => authorization(s, &ctx, method, &scope, &kind, name.as_deref(), &q, body).await,
        _ => Err(method_not_allowed()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn authorization(
    s: &AppState,
    ctx: &Ctx,
    method: &Method,
    scope: &str,
    kind: &str,
    name: Option<&str>,
    q: &[(String, String)],
    body: &Bytes,
) -> Result<Response, ArmError> {
    let store = s.store.as_ref();
    let c = &ctx.caller;
    let cid = ctx.cid.as_str();
    let mut entropy = OsEntropy;
    let guid = |n: &str, what: &str| {
        uuid::Uuid::parse_str(n).map_err(|_| {
            let code = if what == "RoleDefinition" {
                castellan_core::error::Code::ArmInvalidRoleDefinitionName
            } else {
                castellan_core::error::Code::ArmInvalidRoleAssignmentName
            };
            code.arm(&[("name", &n)])
        })
    };
    let filter = param(q, "$filter").unwrap_or("").trim().to_string();
    match (kind, name, method.clone()) {
        ("roleassignments", None, Method::GET) => {
            let f = parse_assignment_filter(&filter)?;
            let list = arm::list_assignments(store, c, scope, &f).await?;
            Ok(respond(
                200,
                w::list(
                    list.iter()
                        .map(|a| w::render_assignment(a, scope))
                        .collect(),
                ),
                cid,
            ))
        }
        ("roleassignments", Some(n), Method::GET) => {
            let a = arm::get_assignment(store, c, scope, guid(n, "RoleAssignment")?).await?;
            Ok(respond(200, w::render_assignment(&a, scope), cid))
        }
        ("roleassignments", Some(n), Method::PUT) => {
            let req = w::parse_put_assignment(&body_json(body)?)?;
            let (a, created) = arm::put_assignment(
                &mut ctx.env(s, &mut entropy),
                c,
                scope,
                guid(n, "RoleAssignment")?,
                req,
            )
            .await?;
            Ok(respond(
                if created { 201 } else { 200 },
                w::render_assignment(&a, scope),
                cid,
            ))
        }
        ("roleassignments", Some(n), Method::DELETE) => {
            match arm::delete_assignment(
                &mut ctx.env(s, &mut entropy),
                c,
                scope,
                guid(n, "RoleAssignment")?,
            )
            .await?
            {
                Some(a) => Ok(respond(200, w::render_assignment(&a, scope), cid)),
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        ("roledefinitions", None, Method::GET) => {
            arm::scope_exists(store, c.tenant.id, scope).await?;
            let mut defs = arm::list_role_definitions(store, c, scope).await?;
            let f = filter.to_ascii_lowercase();
            if let Some(v) = odata_eq(&filter, "roleName") {
                defs.retain(|(r, _)| r.name.eq_ignore_ascii_case(&v));
            } else if f.contains("type eq 'builtinrole'") {
                defs.retain(|(_, b)| *b);
            } else if f.contains("type eq 'customrole'") {
                defs.retain(|(_, b)| !*b);
            } else if !filter.is_empty() {
                return Err(
                    castellan_core::error::Code::ArmInvalidFilter.arm(&[("filter", &filter)])
                );
            }
            Ok(respond(
                200,
                w::list(
                    defs.iter()
                        .map(|(r, b)| w::render_role_definition(r, *b, scope))
                        .collect(),
                ),
                cid,
            ))
        }
        ("roledefinitions", Some(n), Method::GET) => {
            let id = guid(n, "RoleDefinition")?;
            let catalog = arm::RoleCatalog::load(store, c.tenant.id).await?;
            let r = catalog.get(id).ok_or_else(|| {
                castellan_core::error::Code::ArmRoleDefinitionDoesNotExist.arm(&[("id", &id)])
            })?;
            let built_in = castellan_core::azure_rbac::built_in_roles()
                .iter()
                .any(|b| b.id == id);
            Ok(respond(
                200,
                w::render_role_definition(r, built_in, scope),
                cid,
            ))
        }
        ("roledefinitions", Some(n), Method::PUT) => {
            let req = w::parse_put_role_definition(&body_json(body)?)?;
            let r = arm::put_role_definition(
                &mut ctx.env(s, &mut entropy),
                c,
                guid(n, "RoleDefinition")?,
                req,
            )
            .await?;
            Ok(respond(
                201,
                w::render_role_definition(&r, false, scope),
                cid,
            ))
        }
        ("roledefinitions", Some(n), Method::DELETE) => {
            let r = arm::delete_role_definition(
                &mut ctx.env(s, &mut entropy),
                c,
                guid(n, "RoleDefinition")?,
            )
            .await?;
            Ok(respond(
                200,
                w::render_role_definition(&r, false, scope),
                cid,
            ))
        }
        ("permissions", None, Method::GET) => {
            let roles = arm::permissions(store, c, scope).await?;
            Ok(respond(200, w::render_permissions(&roles), cid))
        }
        ("checkaccess", None, Method::POST) => {
            let (subject, actions) = w::parse_check_access(&body_json(body)?)?;
            let subject = match subject {
                Some(p) => Some(ObjectId::parse(&p).ok_or_else(|| {
                    castellan_core::error::Code::ArmInvalidPrincipalId.arm(&[("p", &p)])
                })?),
                None => None,
            };
            arm::scope_exists(store, c.tenant.id, scope).await?;
            let answers = arm::check_access(store, c, scope, subject, &actions).await?;
            Ok(respond(200, w::render_check_access(&answers), cid))
        }
        ("denyassignments", None, Method::GET) => {
            arm::scope_exists(store, c.tenant.id, scope).await?;
            arm::require(
                store,
                c,
                "Microsoft.Authorization/denyAssignments/read",
                scope,
            )
            .await?;
            let chain = castellan_core::azure_rbac::ancestors(
                scope,
                &arm::management_chain(store, scope).await?,
            );
            let denies = store.deny_assignments(c.tenant.id).await?;
            let out = denies
                .iter()
                .filter(|d| chain.contains(&castellan_core::azure_rbac::normalise_scope(&d.deny.scope)))
                .map(|d| {
                    serde_json::json!({
                        "id": format!("{}/providers/Microsoft.Authorization/denyAssignments/{}", arm_view::canonical_id(&d.deny.scope).trim_end_matches('/'), d.deny.id),
                        "name": d.deny.id,
                        "type": "Microsoft.Authorization/denyAssignments",
                        "properties": {
                            "denyAssignmentName": d.deny.name,
                            "description": d.description,
                            "permissions": [{"actions": d.deny.actions, "notActions": [], "dataActions": d.deny.data_actions, "notDataActions": []}],
                            "scope": arm_view::canonical_id(&d.deny.scope),
                            "principals": d.deny.principals.iter().map(|p| serde_json::json!({"id": p.to_string(), "type": "User"})).collect::<Vec<_>>(),
                            "isSystemProtected": true,
                        },
                    })
                })
                .collect();
            Ok(respond(200, w::list(out), cid))
        }
        ("locks", None, Method::GET) => {
            arm::list_locks(store, c, scope).await?;
            Ok(respond(200, w::list(vec![]), cid))
        }
        ("locks", Some(n), Method::GET) => {
            arm::list_locks(store, c, scope).await?;
            Err(castellan_core::error::Code::ArmLockNotFound.arm(&[("n", &n)]))
        }
        ("denyassignments", Some(_), Method::PUT | Method::DELETE) => {
            Err(castellan_core::error::Code::ArmDenyAssignmentsAreSystemManaged.arm(&[]))
        }
        _ => Err(castellan_core::error::Code::ArmMethodNotAllowed
            .arm(&[("method", &method), ("kind", &kind)])),
    }
}

/// The `$filter` of a resource or resource-group list: one of ARM's documented forms, or 400
/// `InvalidFilterInQueryString` (never ignored).
fn resource_filter(q: &[(String, String)]) -> Result<arm_view::ResourceFilter, ArmError> {
    arm_view::parse_resource_filter(param(q, "$filter").unwrap_or("")).map_err(|e| {
        castellan_core::error::Code::ArmInvalidFilterInQueryString.arm(&[("message", &e.0)])
    })
}

/// `name eq 'value'` (or `name eq "value"`), case-insensitive on the name.
fn odata_eq(filter: &str, name: &str) -> Option<String> {
    let f = filter.trim();
    let lower = f.to_ascii_lowercase();
    let head = format!("{} eq ", name.to_ascii_lowercase());
    if !lower.starts_with(&head) {
        return None;
    }
    let v = f.get(head.len()..)?.trim();
    let v = v
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))?;
    Some(v.replace("''", "'"))
}

fn parse_assignment_filter(filter: &str) -> Result<AssignmentFilter, ArmError> {
    let f = filter.trim();
    if f.is_empty() {
        return Ok(AssignmentFilter::All);
    }
    let lower = f.to_ascii_lowercase();
    if lower == "atscope()" {
        return Ok(AssignmentFilter::AtScope);
    }
    let bad = || castellan_core::error::Code::ArmInvalidFilter2.arm(&[("f", &f)]);
    if let Some(rest) = lower.strip_prefix("atscope() and ") {
        return match parse_assignment_filter(f.get(f.len() - rest.len()..).unwrap_or(""))? {
            AssignmentFilter::AssignedTo(p) => Ok(AssignmentFilter::AtScopeAssignedTo(p)),
            _ => Err(bad()),
        };
    }
    if let Some(v) = odata_eq(f, "principalId") {
        return ObjectId::parse(&v)
            .map(AssignmentFilter::Principal)
            .ok_or_else(bad);
    }
    if let Some(rest) = lower.strip_prefix("assignedto(") {
        let inner = rest.strip_suffix(')').ok_or_else(bad)?;
        let v = inner.trim().trim_matches('\'').trim_matches('"');
        return ObjectId::parse(v)
            .map(AssignmentFilter::AssignedTo)
            .ok_or_else(bad);
    }
    Err(bad())
}

/// Renders several scopes.
async fn render_all(
    s: &AppState,
    rs: &[castellan_core::model::ArmResource],
) -> Result<Vec<Value>, ArmError> {
    let mut out = Vec::with_capacity(rs.len());
    for r in rs {
        out.push(render(s, r).await?);
    }
    Ok(out)
}

/// Renders a scope with its identities resolved to principal and client ids.
async fn render(s: &AppState, r: &castellan_core::model::ArmResource) -> Result<Value, ArmError> {
    let store = s.store.as_ref();
    let view = |id: String, sp: castellan_core::model::ServicePrincipal| w::IdentityView {
        resource_id: id,
        principal_id: sp.id.to_string(),
        client_id: sp.app_id.to_string(),
    };
    let mut system = None;
    if let Some(p) = r.identity.system_assigned {
        if let Some(sp) = store.service_principal(r.tenant_id, p).await? {
            system = Some(view(r.id.clone(), sp));
        }
    }
    let mut users = Vec::new();
    for ua in &r.identity.user_assigned {
        if let Some(mi) = store.arm_resource(ua).await? {
            if let Some(p) = mi.identity_principal {
                if let Some(sp) = store.service_principal(r.tenant_id, p).await? {
                    users.push(view(mi.id.clone(), sp));
                }
            }
        }
    }
    let mut uami = None;
    if let Some(p) = r.identity_principal {
        if let Some(sp) = store.service_principal(r.tenant_id, p).await? {
            uami = Some(view(r.id.clone(), sp));
        }
    }
    Ok(w::render_resource(
        r,
        system.as_ref(),
        &users,
        uami.as_ref(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_classify() {
        assert!(matches!(
            classify("/subscriptions").unwrap(),
            Target::ListSubscriptions
        ));
        assert!(matches!(
            classify("/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/x").unwrap(),
            Target::Authorization { ref scope, ref kind, name: Some(_), .. } if scope == "/subscriptions/s" && kind == "roleassignments"
        ));
        assert!(matches!(
            classify("/providers/Microsoft.Authorization/roleDefinitions").unwrap(),
            Target::Authorization { ref scope, .. } if scope == "/"
        ));
        assert!(matches!(
            classify("/providers/Microsoft.Authorization/elevateAccess").unwrap(),
            Target::Elevate
        ));
        assert!(matches!(
            classify("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/n/cancel").unwrap(),
            Target::Authorization { ref kind, action: Some(ref a), .. } if kind == "roleassignmentschedulerequests" && a == "cancel"
        ));
        // Only schedule requests have a third segment.
        assert!(classify(
            "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/n/cancel"
        )
        .is_err());
        assert!(
            matches!(classify("/subscriptions/s/resourcegroups").unwrap(), Target::ListResourceGroups(ref x) if x == "/subscriptions/s")
        );
        assert!(matches!(
            classify("/subscriptions/s/resourceGroups/rg").unwrap(),
            Target::Scope(_)
        ));
    }

    #[test]
    fn filters_parse_or_name_what_is_supported() {
        assert_eq!(
            parse_assignment_filter("atScope()").unwrap(),
            AssignmentFilter::AtScope
        );
        let id = "11111111-1111-1111-1111-111111111111";
        assert!(matches!(
            parse_assignment_filter(&format!("principalId eq '{id}'")).unwrap(),
            AssignmentFilter::Principal(_)
        ));
        assert!(matches!(
            parse_assignment_filter(&format!("assignedTo('{id}')")).unwrap(),
            AssignmentFilter::AssignedTo(_)
        ));
        assert_eq!(
            parse_assignment_filter(&format!("atScope() and assignedTo('{id}')")).unwrap(),
            AssignmentFilter::AtScopeAssignedTo(ObjectId::parse(id).unwrap())
        );
        assert!(parse_assignment_filter(&format!("atScope() and principalId eq '{id}'")).is_err());
        assert!(parse_assignment_filter("atScope() and atScope()").is_err());
        let e = parse_assignment_filter("roleName eq 'x'").unwrap_err();
        assert!(e.message.contains("atScope()"));
        assert_eq!(
            odata_eq("roleName eq 'Storage Blob Data Reader'", "roleName").as_deref(),
            Some("Storage Blob Data Reader")
        );
    }
}
