//! Signing in to the console: authorization code + PKCE (S256) at Castellan's own
//! `/{tenant}/oauth2/v2.0/authorize` as the console's first-party client, the code redeemed
//! in-process at the token endpoint. The authorize request's `state` and PKCE verifier are
//! bound to the browser by the sign-in cookie and spent by the first callback; the ID token's
//! `nonce` must be ours. A fresh session (new cookie, new CSRF token) is made at every
//! sign-in. A user with no directory role is refused (`core::console::access`) and no session
//! is made.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::catalog::{CONSOLE_APP_ID, CONSOLE_REDIRECT_PATH};
use castellan_core::console::ConsoleAccess;

use super::api::{self, Payload};
use super::session::{self, Pending, Session, Token};
use super::view::{Field, Form, Layout, Message};
use super::{message_page, sessions, Admin, Ctx, FormMap};
use crate::crypto::random_token;
use crate::state::{now, AppState};

/// The longest tenant name (a DNS name) accepted from the sign-in form.
pub const MAX_TENANT_LEN: usize = 253;

/// A tenant as typed: a domain, a tenant id or `organizations`; anything that is not a DNS
/// name or GUID is refused before it becomes part of a URL.
pub fn valid_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_TENANT_LEN
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !t.starts_with(['.', '-'])
}

fn cookie_header(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict")
}

/// The sign-in page: which tenant to sign in to.
pub fn picker(status: StatusCode, error: Option<&str>) -> Response {
    let form = Form::get("/admin/signin", "Sign in", vec![]).fields(vec![Field::new(
        "text",
        "tenant",
        "Tenant (domain such as contoso.onmicrosoft.test, or tenant ID)",
    )
    .required()]);
    let mut form = form;
    form.title = "Sign in to your tenant".into();
    form.id = "signin".into();
    super::view::render(
        status,
        &Message {
            l: Layout {
                title: "Sign in".into(),
                ..Layout::default()
            },
            kind: if error.is_some() { "error" } else { "info" }.into(),
            text: error
                .unwrap_or("Sign in with an administrator account of your tenant. You can also open /{tenant}/admin directly.")
                .into(),
            detail: None,
            link: None,
            forms: vec![form],
        },
    )
}

/// `GET /admin/signin?tenant=…`.
pub async fn signin(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let tenant = q.get("tenant").map(|t| t.trim()).unwrap_or("");
    if !valid_tenant(tenant) {
        return picker(
            StatusCode::BAD_REQUEST,
            Some("Enter your tenant's domain (for example contoso.onmicrosoft.test) or its tenant ID: letters, digits, dots and hyphens only."),
        );
    }
    start(&s, &ctx, tenant)
}

/// `GET /{tenant}/admin`: the console of that tenant (signs in when needed).
pub async fn tenant_entry(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
) -> Response {
    if !valid_tenant(&tenant) {
        return picker(
            StatusCode::BAD_REQUEST,
            Some("That is not a tenant name or ID."),
        );
    }
    if let Some(sess) = ctx
        .session_cookie
        .as_deref()
        .and_then(|c| sessions(&s).get(c, now()))
    {
        if sess.tenant.eq_ignore_ascii_case(&tenant) {
            return Redirect::to("/admin").into_response();
        }
    }
    start(&s, &ctx, &tenant)
}

fn start(s: &AppState, ctx: &Ctx, tenant: &str) -> Response {
    let verifier = random_token(32);
    let challenge = URL_SAFE_NO_PAD.encode(castellan_core::secret::sha256(verifier.as_bytes()));
    let redirect_uri = format!("{}{CONSOLE_REDIRECT_PATH}", ctx.base);
    let p = Pending {
        tenant: tenant.to_string(),
        state: random_token(16),
        nonce: random_token(16),
        verifier,
        redirect_uri: redirect_uri.clone(),
        created: now(),
    };
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &CONSOLE_APP_ID.to_string())
        .append_pair("response_type", "code")
        .append_pair("response_mode", "query")
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair(
            "scope",
            "openid profile offline_access https://graph.microsoft.com/.default",
        )
        .append_pair("state", &p.state)
        .append_pair("nonce", &p.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let login = random_token(32);
    sessions(s).begin(&login, p);
    let mut r = Redirect::to(&format!("/{tenant}/oauth2/v2.0/authorize?{q}")).into_response();
    if let Ok(v) = cookie_header(session::LOGIN_COOKIE, &login, session::LOGIN_SECS).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

fn clear(r: &mut Response, name: &str) {
    if let Ok(v) = cookie_header(name, "", 0).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn again(status: StatusCode, text: &str) -> Response {
    let mut r = message_page(
        status,
        "Sign-in failed",
        "error",
        text,
        Some(("/admin".into(), "Sign in again".into())),
    );
    clear(&mut r, session::LOGIN_COOKIE);
    r
}

/// `GET /admin/callback?code=…&state=…` (or `error=…`).
pub async fn callback(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = q.get("state").map(String::as_str).unwrap_or("");
    let pending = ctx
        .login_cookie
        .as_deref()
        .and_then(|c| sessions(&s).finish(c, state, now()));
    let Some(p) = pending else {
        return again(
            StatusCode::BAD_REQUEST,
            "This sign-in response does not belong to a sign-in started in this browser, was already used, or took longer than 10 minutes. Nothing was signed in; start the sign-in again.",
        );
    };
    if let Some(e) = q.get("error") {
        let d = q.get("error_description").map_or("", String::as_str);
        return again(
            StatusCode::UNAUTHORIZED,
            &format!("The sign-in was not completed ({e}): {d}"),
        );
    }
    let Some(code) = q.get("code") else {
        return again(
            StatusCode::BAD_REQUEST,
            "The sign-in response carries no authorization code; start again.",
        );
    };
    let form = vec![
        ("grant_type".into(), "authorization_code".into()),
        ("client_id".into(), CONSOLE_APP_ID.to_string()),
        ("code".into(), code.clone()),
        ("redirect_uri".into(), p.redirect_uri.clone()),
        ("code_verifier".into(), p.verifier.clone()),
        (
            "scope".into(),
            "openid profile offline_access https://graph.microsoft.com/.default".into(),
        ),
    ];
    let a = api::call(
        &s,
        &ctx.origin,
        Method::POST,
        &format!("/{}/oauth2/v2.0/token", p.tenant),
        None,
        Payload::Form(form),
    )
    .await;
    let (Some(access), Some(refresh), true) = (
        a.body["access_token"].as_str(),
        a.body["refresh_token"].as_str(),
        a.ok(),
    ) else {
        return again(
            StatusCode::UNAUTHORIZED,
            &format!("The token endpoint refused the sign-in: {}", a.message()),
        );
    };
    let id_nonce = a.body["id_token"]
        .as_str()
        .and_then(api::claims)
        .and_then(|c| c["nonce"].as_str().map(str::to_string));
    if id_nonce.as_deref() != Some(p.nonce.as_str()) {
        return again(
            StatusCode::UNAUTHORIZED,
            "The ID token does not carry this sign-in's nonce, so it was not accepted; start again.",
        );
    }
    let Some(c) = api::claims(access) else {
        return again(
            StatusCode::BAD_GATEWAY,
            "The access token could not be read; start again.",
        );
    };
    let str_of = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    // v2 access tokens carry `preferred_username`; v1 (Graph's, as Entra issues them) carry
    // `upn` and `unique_name`.
    let upn = ["preferred_username", "upn", "unique_name"]
        .iter()
        .map(|k| str_of(k))
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let wids: Vec<uuid::Uuid> = c["wids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().and_then(|w| uuid::Uuid::parse_str(w).ok()))
                .collect()
        })
        .unwrap_or_default();
    let roles = match castellan_core::console::access(&upn, &wids) {
        ConsoleAccess::Administrator(r) => r,
        ConsoleAccess::Refused(why) => {
            let mut r = message_page(
                StatusCode::FORBIDDEN,
                "Access to the admin console is denied",
                "error",
                &why,
                None,
            );
            clear(&mut r, session::LOGIN_COOKIE);
            return r;
        }
    };
    let t = now();
    let exp = t.0 / 1000 + a.body["expires_in"].as_i64().unwrap_or(300);
    let tenant = str_of("tid");
    let cookie = random_token(32);
    let session = Session {
        tenant: tenant.clone(),
        tenant_name: tenant.clone(),
        oid: str_of("oid"),
        upn,
        name: str_of("name"),
        wids,
        roles,
        graph: Token {
            access: access.to_string(),
            exp,
        },
        arm: None,
        refresh: refresh.to_string(),
        csrf: random_token(32),
        created: t,
        seen: t,
        flash: None,
    };
    sessions(&s).insert(&cookie, session);
    // The tenant's display name, read as the administrator (who may read the organization).
    if let Ok(mut admin) = Admin::from(
        &s,
        Ctx {
            origin: ctx.origin.clone(),
            base: ctx.base.clone(),
            session_cookie: Some(cookie.clone()),
            login_cookie: None,
        },
    ) {
        let o = admin.graph(Method::GET, "/v1.0/organization", None).await;
        if let Some(n) = o.body["value"][0]["displayName"].as_str() {
            let n = n.to_string();
            sessions(&s).update(&cookie, |x| x.tenant_name = n);
        }
    }
    let mut r = Redirect::to("/admin").into_response();
    if let Ok(v) = cookie_header(session::SESSION_COOKIE, &cookie, session::ABSOLUTE_SECS).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    clear(&mut r, session::LOGIN_COOKIE);
    r
}

/// `POST /admin/signout` (CSRF-checked): ends the console session.
pub async fn signout(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let admin = match Admin::from(&s, ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(r) = admin.check_csrf(&f) {
        return r;
    }
    sessions(&s).remove(&admin.cookie);
    let mut r = message_page(
        StatusCode::OK,
        "Signed out",
        "info",
        "You are signed out of the admin console. Your sign-in session with Castellan itself stays until you close the browser, so signing in again may not ask for your password.",
        Some((format!("/{}/admin", admin.session.tenant), "Sign in again".into())),
    );
    clear(&mut r, session::SESSION_COOKIE);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_cannot_carry_a_path() {
        assert!(valid_tenant("contoso.onmicrosoft.test"));
        assert!(valid_tenant("4a3b2c1d-0000-4000-8000-000000000000"));
        for bad in [
            "",
            "a/b",
            "..",
            ".x",
            "a?b",
            "a b",
            "evil.com/x",
            &"a".repeat(254),
        ] {
            assert!(!valid_tenant(bad), "{bad}");
        }
    }
}
