//! The admin console at `/admin`: the Entra admin center's everyday blades as server-rendered
//! HTML (askama templates in `templates/console/`, one stylesheet served from the binary, no
//! script except the rule editor's optional as-you-type preview, `assets/console/console.js`,
//! allowed by [`CSP_WITH_SCRIPT`] on those pages only), for the administrators of every tenant.
//!
//! How it is trusted: the console is a first-party application in every tenant
//! (`core::catalog::console_client`, seeded with the Azure CLI's), signs the administrator in
//! through Castellan's own `/authorize` with authorization code + PKCE ([`auth`]), keeps the
//! delegated tokens server-side ([`session`]) and reads or changes anything only through
//! Graph and ARM with those tokens, in-process through the same router ([`api`]). So every
//! console action is decided by `core::authz::decide` for the signed-in administrator and
//! audited as theirs; the console itself holds no rule. Who may use it at all is
//! `core::console::access` (any directory role).
//!
//! Browser rules: `Content-Security-Policy` without script (the rule editor: `script-src 'self'`
//! only) or inline style,
//! `frame-ancestors 'none'` + `X-Frame-Options: DENY`, `Cache-Control: no-store`,
//! `Referrer-Policy: no-referrer`; every POST carries the session's CSRF token; the session
//! cookie is `__Host-` prefixed, `HttpOnly; Secure; SameSite=Strict`.

// A handler's early exit is a whole page (`Response`); boxing it buys nothing here.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod apps;
pub mod auth;
pub mod azure;
pub mod blades;
pub mod ca;
pub mod chart;
pub mod directory;
pub mod dynamic;
pub mod external;
pub mod idprot;
pub mod insights;
mod kit;
pub mod pim;
pub mod session;
pub mod troubleshoot;
pub mod view;

use std::collections::HashMap;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use castellan_core::Timestamp;

use crate::state::{now, AppState};
use api::{Answer, Origin, Payload};
use session::{Session, Token};
use view::{Layout, Message, NavItem, UserBar};

/// The console's Content-Security-Policy: nothing but this origin's stylesheet and images,
/// forms posting only here, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The rule editor's CSP ([`dynamic`]): [`CSP`] plus this origin's one script and its
/// same-origin previews — never `unsafe-inline`. Only those pages carry it.
pub const CSP_WITH_SCRIPT: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("../../assets/console/console.css");
const JS: &str = include_str!("../../assets/console/console.js");

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(blades::overview))
        .route("/admin/", get(blades::overview))
        .route("/admin/assets/console.css", get(css))
        .route("/admin/assets/console.js", get(js))
        .route("/admin/signin", get(auth::signin))
        .route("/{tenant}/admin", get(auth::tenant_entry))
        .route("/admin/callback", get(auth::callback))
        .route("/admin/signout", post(auth::signout))
        .merge(blades::router())
        .merge(azure::router())
        .merge(ca::router())
        .merge(idprot::router())
        .merge(troubleshoot::router())
        .merge(apps::router())
        .merge(pim::router())
        .merge(external::router())
        .merge(dynamic::router())
        .merge(directory::router())
        .layer(axum::middleware::map_response(security_headers))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

/// The console's security headers (also on the B2B redemption pages, which share its look).
pub async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    // A page that chose the script-allowing policy keeps it; every other page gets [`CSP`].
    let with_script = h
        .get("content-security-policy")
        .is_some_and(|v| v.as_bytes() == CSP_WITH_SCRIPT.as_bytes());
    if !with_script {
        h.insert("content-security-policy", HeaderValue::from_static(CSP));
    }
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// A console request: where it came from and the console cookies it carries.
pub struct Ctx {
    /// For API calls.
    pub origin: Origin,
    /// `https://host[:port]` the browser is on (one of the server's own).
    pub base: String,
    /// The session cookie's value.
    pub session_cookie: Option<String>,
    /// The sign-in cookie's value.
    pub login_cookie: Option<String>,
}

/// A cookie's value (at most 128 bytes, non-empty).
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(p: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let base = s.origins.for_host(crate::http::host(&p.headers));
        let host = base.trim_start_matches("https://").to_string();
        let peer = p
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        let correlation_id = p
            .extensions
            .get::<crate::http::CorrelationId>()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |c| c.0.clone());
        Ok(Self {
            origin: Origin {
                host,
                peer,
                correlation_id,
            },
            base,
            session_cookie: cookie(&p.headers, session::SESSION_COOKIE),
            login_cookie: cookie(&p.headers, session::LOGIN_COOKIE),
        })
    }
}

/// The console's state (sessions) lives beside the server's.
pub fn sessions(s: &AppState) -> &session::Sessions {
    &s.console
}

/// A signed-in administrator's request.
pub struct Admin {
    /// The request.
    pub ctx: Ctx,
    /// Their session cookie.
    pub cookie: String,
    /// Their session.
    pub session: Session,
    /// The state.
    pub state: AppState,
}

fn secs(t: Timestamp) -> i64 {
    t.0 / 1000
}

impl Admin {
    /// The signed-in administrator, or a redirect to the sign-in.
    pub fn from(s: &AppState, ctx: Ctx) -> Result<Self, Response> {
        let Some(cookie) = ctx.session_cookie.clone() else {
            return Err(Redirect::to("/admin").into_response());
        };
        let Some(session) = sessions(s).get(&cookie, now()) else {
            return Err(Redirect::to("/admin").into_response());
        };
        Ok(Self {
            ctx,
            cookie,
            session,
            state: s.clone(),
        })
    }

    /// The layout for a page titled `title` with `current` highlighted; takes the flash.
    pub fn layout(&mut self, title: &str, current: &str) -> Layout {
        let flash = self.session.flash.take();
        if flash.is_some() {
            sessions(&self.state).update(&self.cookie, |s| s.flash = None);
        }
        Layout {
            title: title.into(),
            user: Some(UserBar {
                tenant_name: self.session.tenant_name.clone(),
                name: self.session.name.clone(),
                upn: self.session.upn.clone(),
                roles: self.session.roles.join(", "),
                csrf: self.session.csrf.clone(),
            }),
            nav: nav(current),
            flash,
        }
    }

    /// Whether the administrator's built-in roles grant `action` (`core::console::may`): the
    /// console offers a form only then, and Graph decides again when it is sent.
    pub fn may(&self, action: &str) -> bool {
        castellan_core::console::may(&self.session.wids, action)
    }

    /// Sets the next page's one-time message.
    pub fn flash(&self, m: impl Into<String>) {
        let m = m.into();
        sessions(&self.state).update(&self.cookie, |s| s.flash = Some(m));
    }

    /// Refuses a POST whose CSRF token is not this session's (nothing is changed).
    pub fn check_csrf(&self, form: &HashMap<String, String>) -> Result<(), Response> {
        if session::csrf_matches(&self.session, form.get("csrf").map(String::as_str)) {
            Ok(())
        } else {
            Err(message_page(
                StatusCode::FORBIDDEN,
                "Request refused",
                "error",
                "This form's security token is missing or does not belong to your session, so nothing was changed. Reload the page and submit the form again.",
                Some(("/admin".into(), "Back to the console".into())),
            ))
        }
    }

    /// A fresh token for `resource` ("graph" or "arm"), refreshed through the token endpoint
    /// when it expires within two minutes. Refreshes are serialised per node so two requests of
    /// one session never present the same refresh token twice (a reuse revokes the family).
    async fn token(&mut self, arm: bool) -> Result<String, Answer> {
        let t = now();
        // The token for this resource if it is good for two more minutes.
        let fresh = |s: &Session| {
            let tok = if arm { s.arm.as_ref() } else { Some(&s.graph) };
            tok.filter(|x| x.exp - secs(t) > 120)
                .map(|x| x.access.clone())
        };
        if let Some(a) = fresh(&self.session) {
            return Ok(a);
        }
        let _guard = sessions(&self.state).refresh_lock.lock().await;
        // Another request may have refreshed meanwhile.
        if let Some(s) = sessions(&self.state).get(&self.cookie, t) {
            self.session = s;
        }
        if let Some(a) = fresh(&self.session) {
            return Ok(a);
        }
        let scope = if arm {
            "https://management.azure.com/.default offline_access"
        } else {
            "https://graph.microsoft.com/.default offline_access"
        };
        let form = vec![
            ("grant_type".into(), "refresh_token".into()),
            (
                "client_id".into(),
                castellan_core::catalog::CONSOLE_APP_ID.to_string(),
            ),
            ("refresh_token".into(), self.session.refresh.clone()),
            ("scope".into(), scope.into()),
        ];
        let a = api::call(
            &self.state,
            &self.ctx.origin,
            Method::POST,
            &format!("/{}/oauth2/v2.0/token", self.session.tenant),
            None,
            Payload::Form(form),
        )
        .await;
        let (Some(access), true) = (a.body["access_token"].as_str(), a.ok()) else {
            return Err(a);
        };
        let tok = Token {
            access: access.to_string(),
            exp: secs(t) + a.body["expires_in"].as_i64().unwrap_or(300),
        };
        let refresh = a.body["refresh_token"]
            .as_str()
            .map_or_else(|| self.session.refresh.clone(), str::to_string);
        if arm {
            self.session.arm = Some(tok.clone());
        } else {
            self.session.graph = tok.clone();
        }
        self.session.refresh = refresh.clone();
        sessions(&self.state).update(&self.cookie, |s| {
            if arm {
                s.arm = Some(tok);
            } else {
                s.graph = tok;
            }
            s.refresh = refresh;
        });
        Ok(access.to_string())
    }

    /// Calls Graph (`/v1.0/...`) with the administrator's delegated token.
    pub async fn graph(
        &mut self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        self.call(false, method, path, body).await
    }

    /// Calls ARM with the administrator's delegated token.
    pub async fn arm(
        &mut self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        self.call(true, method, path, body).await
    }

    async fn call(
        &mut self,
        arm: bool,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let token = match self.token(arm).await {
            Ok(t) => t,
            Err(a) => {
                return Answer {
                    status: StatusCode::UNAUTHORIZED,
                    body: serde_json::json!({"error": {"message": format!("Your console session could not get a new token ({}); sign out and sign in again.", a.message())}}),
                }
            }
        };
        let payload = body.map_or(Payload::None, Payload::Json);
        api::call(
            &self.state,
            &self.ctx.origin,
            method,
            path,
            Some(&token),
            payload,
        )
        .await
    }

    /// A 400 page for input the console refused before calling any API (nothing changed).
    pub fn api_error_text(&mut self, title: &str, text: &str, back: &str) -> Response {
        let l = self.layout(title, "");
        view::render(
            StatusCode::BAD_REQUEST,
            &Message {
                l,
                kind: "error".into(),
                text: text.into(),
                detail: None,
                link: Some((back.into(), "Back".into())),
                forms: vec![],
            },
        )
    }

    /// A page telling the administrator what the API answered (status kept).
    pub fn api_error(&mut self, title: &str, a: &Answer, back: &str) -> Response {
        let l = self.layout(title, "");
        view::render(
            if a.status.is_client_error() || a.status.is_server_error() {
                a.status
            } else {
                StatusCode::BAD_GATEWAY
            },
            &Message {
                l,
                kind: "error".into(),
                text: a.message(),
                detail: Some(format!(
                    "Answered {} · correlation id {}",
                    a.status, self.ctx.origin.correlation_id
                )),
                link: Some((back.into(), "Back".into())),
                forms: vec![],
            },
        )
    }
}

/// The blades, in the order the navigation lists them.
pub const BLADES: &[(&str, &str)] = &[
    ("/admin", "Overview"),
    ("/admin/users", "Users"),
    ("/admin/groups", "Groups"),
    ("/admin/app-registrations", "App registrations"),
    ("/admin/enterprise-apps", "Enterprise applications"),
    ("/admin/roles", "Roles and administrators"),
    ("/admin/admin-units", "Administrative units"),
    ("/admin/my-roles", "My roles"),
    ("/admin/external-identities", "External identities"),
    ("/admin/azure", "Azure resources"),
    ("/admin/conditional-access", "Conditional Access"),
    ("/admin/identity-protection", "Identity Protection"),
    ("/admin/sign-ins", "Sign-in logs"),
    ("/admin/audit", "Audit logs"),
    ("/admin/troubleshoot", "Troubleshooter"),
];

fn nav(current: &str) -> Vec<NavItem> {
    BLADES
        .iter()
        .map(|(href, label)| NavItem {
            href: (*href).into(),
            label: (*label).into(),
            current: *href == current,
        })
        .collect()
}

/// A page with only a message (signed out, refused, expired).
pub fn message_page(
    status: StatusCode,
    title: &str,
    kind: &str,
    text: &str,
    link: Option<(String, String)>,
) -> Response {
    form_page(status, title, kind, text, link, vec![])
}

/// [`message_page`] with forms under the message (the B2B redemption pages).
pub fn form_page(
    status: StatusCode,
    title: &str,
    kind: &str,
    text: &str,
    link: Option<(String, String)>,
    forms: Vec<view::Form>,
) -> Response {
    view::render(
        status,
        &Message {
            l: Layout {
                title: title.into(),
                ..Layout::default()
            },
            kind: kind.into(),
            text: text.into(),
            detail: None,
            link,
            forms,
        },
    )
}

/// Reads a form.
pub type FormMap = axum::Form<HashMap<String, String>>;

/// The state extractor, re-exported for the blades.
pub type St = State<AppState>;
