//! `/v1.0/users/{id}/authentication/...` and `/v1.0/me/authentication/...`: list a user's
//! authentication methods, list and delete authenticator-app (software OATH) methods. Who may
//! do what is decided by `core::ops::auth_methods::may_manage`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::audit::Actor;
use castellan_core::model::User;
use castellan_core::ops::auth_methods::{self, Manager, MethodAccess};
use castellan_core::ops::users;
use castellan_wire::errors::GraphError;
use castellan_wire::graph::auth_methods as wire;
use serde_json::{json, Value};

use super::{no_content, store_err, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/me/authentication/methods", get(me_methods))
        .route(
            "/v1.0/me/authentication/softwareOathMethods",
            get(me_oath_methods),
        )
        .route(
            "/v1.0/me/authentication/softwareOathMethods/{method}",
            get(me_get_oath).delete(me_delete_oath),
        )
        .route("/v1.0/users/{id}/authentication/methods", get(methods))
        .route(
            "/v1.0/users/{id}/authentication/softwareOathMethods",
            get(oath_methods),
        )
        .route(
            "/v1.0/users/{id}/authentication/softwareOathMethods/{method}",
            get(get_oath).delete(delete_oath),
        )
        // A Castellan extension (Entra has no such action): lift a user's MFA lockout.
        .route(
            "/v1.0/users/{id}/authentication/resetMfaAttempts",
            axum::routing::post(reset_mfa_attempts),
        )
}

/// The target user (`None`: the signed-in user) after checking the caller's right.
async fn authorized(
    s: &AppState,
    c: &Caller,
    key: Option<&str>,
    access: MethodAccess,
) -> Result<User, ApiError> {
    authorized_by(s, c, key, |who, target, roles| {
        auth_methods::may_manage(who, target, roles, access)
    })
    .await
}

/// The target user after core's `decide(caller, target, target's roles)` allowed the call.
async fn authorized_by(
    s: &AppState,
    c: &Caller,
    key: Option<&str>,
    decide: impl Fn(
        &Manager<'_>,
        castellan_core::ObjectId,
        &[uuid::Uuid],
    ) -> Result<(), castellan_core::DirectoryError>,
) -> Result<User, ApiError> {
    let user = match key {
        Some(k) => {
            let mut ent = OsEntropy;
            users::find(&c.env(s, &mut ent), &c.tenant, k)
                .await
                .map_err(|e| c.err(e))?
        }
        None => {
            let Actor::User { id, .. } = &c.actor else {
                return Err(c.err(GraphError::bad_request(
                    "/me request is only valid with delegated authentication flow: an app-only token has no signed-in user. Use /users/{id} instead.",
                )));
            };
            s.store
                .user(c.tenant.id, *id)
                .await
                .map_err(store_err(c))?
                .ok_or_else(|| {
                    c.err(GraphError::not_found(
                        "The signed-in user no longer exists.",
                    ))
                })?
        }
    };
    // The target's roles at any scope, direct or through role-assignable groups.
    let target_roles: Vec<uuid::Uuid> = castellan_core::ops::directory_roles::effective_roles(
        s.store.as_ref(),
        c.tenant.id,
        user.id,
        crate::state::now(),
    )
    .await
    .map_err(|e| c.err(GraphError::unavailable(e.to_string())))?
    .into_iter()
    .map(|(role, _)| role)
    .collect();
    let wide = c.wide_roles().map(|(r, _)| r).unwrap_or_default();
    let who = match &c.actor {
        Actor::User { .. } => Manager::User {
            id: c.oid,
            roles: &wide,
            scopes: &c.permissions,
        },
        _ => Manager::App {
            permissions: &c.permissions,
        },
    };
    decide(&who, user.id, &target_roles).map_err(|e| c.err(e))?;
    Ok(user)
}

/// `POST /v1.0/users/{id}/authentication/resetMfaAttempts` (Castellan extension): clears the
/// user's second-factor attempt counters, so a user locked out by too many wrong codes
/// (AADSTS50053 at the MFA prompt) may try again at once. Authentication Administrator (users
/// without a role), Privileged Authentication Administrator or Global Administrator, with
/// `UserAuthenticationMethod.ReadWrite.All`; never for oneself. Audited as "Reset MFA
/// attempts". 204 whether or not there was a lockout.
async fn reset_mfa_attempts(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let u = authorized_by(&s, &c, Some(&id), auth_methods::may_reset_mfa_attempts).await?;
    let mut ent = OsEntropy;
    auth_methods::reset_mfa_attempts(&mut c.env(&s, &mut ent), &c.tenant, &u)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

fn collection(c: &Caller, user: &User, what: &str, value: Vec<Value>) -> Response {
    Json(json!({
        "@odata.context": format!("{}/$metadata#users('{}')/authentication/{what}", c.base, user.id),
        "value": value,
    }))
    .into_response()
}

async fn methods_impl(s: AppState, c: Caller, key: Option<String>) -> Result<Response, ApiError> {
    let u = authorized(&s, &c, key.as_deref(), MethodAccess::Read).await?;
    let oath = auth_methods::list(s.store.as_ref(), &c.tenant, u.id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(collection(&c, &u, "methods", wire::render_all(&u, &oath)))
}

async fn oath_impl(s: AppState, c: Caller, key: Option<String>) -> Result<Response, ApiError> {
    let u = authorized(&s, &c, key.as_deref(), MethodAccess::Read).await?;
    let oath = auth_methods::list(s.store.as_ref(), &c.tenant, u.id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(collection(
        &c,
        &u,
        "softwareOathMethods",
        oath.iter().map(wire::render_software_oath).collect(),
    ))
}

fn method_id(c: &Caller, raw: &str) -> Result<castellan_core::ObjectId, ApiError> {
    castellan_core::ObjectId::parse(raw).ok_or_else(|| {
        c.err(GraphError::bad_request(format!(
            "Invalid softwareOathAuthenticationMethod id '{raw}': expected a GUID."
        )))
    })
}

async fn get_oath_impl(
    s: AppState,
    c: Caller,
    key: Option<String>,
    raw: String,
) -> Result<Response, ApiError> {
    let u = authorized(&s, &c, key.as_deref(), MethodAccess::Read).await?;
    let id = method_id(&c, &raw)?;
    let m = auth_methods::list(s.store.as_ref(), &c.tenant, u.id)
        .await
        .map_err(|e| c.err(e))?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "The user has no softwareOathAuthenticationMethod with id '{id}'."
            )))
        })?;
    let mut v = wire::render_software_oath(&m);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "@odata.context".into(),
            Value::String(format!(
                "{}/$metadata#users('{}')/authentication/softwareOathMethods/$entity",
                c.base, u.id
            )),
        );
    }
    Ok(Json(v).into_response())
}

async fn delete_oath_impl(
    s: AppState,
    c: Caller,
    key: Option<String>,
    raw: String,
) -> Result<Response, ApiError> {
    let u = authorized(&s, &c, key.as_deref(), MethodAccess::Write).await?;
    let id = method_id(&c, &raw)?;
    let mut ent = OsEntropy;
    auth_methods::delete(&mut c.env(&s, &mut ent), &c.tenant, &u, id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn me_methods(State(s): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    methods_impl(s, c, None).await
}
async fn methods(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    methods_impl(s, c, Some(id)).await
}
async fn me_oath_methods(State(s): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    oath_impl(s, c, None).await
}
async fn oath_methods(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    oath_impl(s, c, Some(id)).await
}
async fn me_get_oath(
    State(s): State<AppState>,
    c: Caller,
    Path(method): Path<String>,
) -> Result<Response, ApiError> {
    get_oath_impl(s, c, None, method).await
}
async fn get_oath(
    State(s): State<AppState>,
    c: Caller,
    Path((id, method)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    get_oath_impl(s, c, Some(id), method).await
}
async fn me_delete_oath(
    State(s): State<AppState>,
    c: Caller,
    Path(method): Path<String>,
) -> Result<Response, ApiError> {
    delete_oath_impl(s, c, None, method).await
}
async fn delete_oath(
    State(s): State<AppState>,
    c: Caller,
    Path((id, method)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    delete_oath_impl(s, c, Some(id), method).await
}
