//! The tenant picker of `/common` and `/organizations` sign-ins (`core::tenant_choice`,
//! candidates from `core::ops::tenant_choice`): after the home password is checked, or when the
//! browser's SSO session with the home tenant signs the person in (not for `prompt=none`), a person
//! who is also an accepted guest of other tenants where the app is available picks the tenant
//! the tokens come from (the home tenant first and preselected); a `domain_hint` naming one of
//! them decides without asking. The home tenant chosen: its pipeline runs for the home user.
//! A guest tenant chosen: the browser signs in at the home tenant's own `/authorize` first
//! (`redeem::guest_home_sign_in`, as for any guest sign-in), so the home tenant's MFA and
//! Conditional Access cannot be skipped by picking another tenant, and its answer resumes the
//! chosen tenant's pipeline for the guest account (`authorize::resume_guest`). Either way the
//! code — and the tokens redeemed at `/common/oauth2/v2.0/token` — are the chosen tenant's.
//! The pick is bound to the browser by an HttpOnly cookie and spent by its post (10 minutes,
//! this node's memory); only an offered tenant can be picked.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use castellan_core::flow::Authn;
use castellan_core::model::{Tenant, User};
use castellan_core::tenant_choice::{self as choice, Candidate, Choice};
use castellan_core::{AppId, TenantId, Timestamp};

use super::authorize::{csrf_failed, csrf_ok, csrf_token, resume_guest, with_csrf};
use super::pages::{self, esc};
use crate::crypto::random_token;
use crate::http::{ClientIp, CorrelationId};
use crate::state::{now, AppState};

/// The cookie binding a browser to its pick.
pub const COOKIE: &str = "castellan_tenant_pick";

#[derive(Clone, Debug)]
pub struct Flight {
    /// The home tenant and user (`None`: a guest of an external identity provider, whose
    /// choices are all guest tenants).
    home: Option<(TenantId, castellan_core::ObjectId)>,
    username: String,
    segment: String,
    ctx: String,
    offered: Vec<Candidate>,
    /// The home SSO session's facts when it was the first factor (else the password was).
    session: Option<Authn>,
    created: Timestamp,
}

/// This node's picks in flight, by cookie value.
pub type Flights = super::flights::Flights<Flight>;

impl super::flights::Started for Flight {
    fn started(&self) -> Timestamp {
        self.created
    }
}

fn domain_hint(raw: &str) -> Option<String> {
    castellan_wire::form::parse_pairs(raw.as_bytes())
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "domain_hint")
        .map(|(_, v)| v)
}

/// A `/common` or `/organizations` sign-in whose home tenant is known.
pub(super) struct Home<'a> {
    /// The authority segment (`common` / `organizations`).
    pub segment: &'a str,
    /// The sealed authorize context.
    pub raw: &'a str,
    /// The request's app.
    pub app: AppId,
    /// The home tenant.
    pub tenant: &'a Tenant,
    /// The home user.
    pub user: &'a User,
    /// `Some`: the first factor is the browser's SSO session with the home tenant (what it has
    /// done); `None`: the password just checked.
    pub session: Option<Authn>,
    /// Whether the picker may be shown (not for `prompt=none`).
    pub allow_picker: bool,
}

/// After the home password (or the home SSO session) of `h.user` was checked at `/common` or
/// `/organizations`: `None` to continue in the home tenant, else the picker or the chosen
/// tenant's sign-in.
pub(super) async fn after_home_sign_in(
    s: &AppState,
    h: &Home<'_>,
    cid: &str,
    headers: &HeaderMap,
    base: &str,
) -> Option<Response> {
    let (segment, raw, home, user) = (h.segment, h.raw, h.tenant, h.user);
    let hint = domain_hint(raw);
    let decided = match castellan_core::ops::tenant_choice::decide(
        s.store.as_ref(),
        home,
        user,
        h.app,
        hint.as_deref(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            // The home tenant still works: Entra's default.
            tracing::warn!(error = %e, "tenant choice unavailable; signing in to the home tenant");
            return None;
        }
    };
    match decided {
        Choice::Use(c) if c.guest.is_none() => None,
        Choice::Use(c) => {
            Some(sign_in_to(s, segment, raw, &c, &user.user_principal_name, cid, base).await)
        }
        Choice::Pick(_) if !h.allow_picker => None,
        Choice::Pick(offered) => Some(offer(
            s,
            Flight {
                home: Some((home.id, user.id)),
                username: user.user_principal_name.clone(),
                segment: segment.to_string(),
                ctx: raw.to_string(),
                offered,
                session: h.session,
                created: now(),
            },
            headers,
        )),
    }
}

/// At `/common` or `/organizations`, a user name no tenant of this server owns: when it is an
/// accepted guest who signs in at an external identity provider of one or more tenants where
/// the app is available, that tenant's provider (one, or the one `domain_hint` names) or the
/// picker; `None` otherwise (the user is not found).
#[allow(clippy::too_many_arguments)]
pub(super) async fn external_guest(
    s: &AppState,
    segment: &str,
    raw: &str,
    app: AppId,
    username: &str,
    cid: &str,
    headers: &HeaderMap,
    base: &str,
) -> Option<Response> {
    let guests = match castellan_core::ops::tenant_choice::external_guest_tenants(
        s.store.as_ref(),
        username,
        app,
    )
    .await
    {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(error = %e, "looking for external guests at /common failed");
            return Some(pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                90033,
                "The directory is unavailable right now; nothing was changed. Try signing in again in a minute.",
                cid,
            ));
        }
    };
    match choice::choose_without_home(guests, domain_hint(raw).as_deref())? {
        Choice::Use(c) => Some(sign_in_to(s, segment, raw, &c, username, cid, base).await),
        Choice::Pick(offered) => Some(offer(
            s,
            Flight {
                home: None,
                username: username.trim().to_lowercase(),
                segment: segment.to_string(),
                ctx: raw.to_string(),
                offered,
                session: None,
                created: now(),
            },
            headers,
        )),
    }
}

/// The picker page, its flight kept under a fresh cookie.
fn offer(s: &AppState, f: Flight, headers: &HeaderMap) -> Response {
    let key = random_token(32);
    let (csrf, fresh) = csrf_token(headers);
    let page = picker(&f.segment, &f.offered, &csrf);
    s.tenant_picks.put(&key, f);
    let mut r = with_csrf(page, &csrf, fresh);
    let v = format!("{COOKIE}={key}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax");
    if let Ok(h) = v.parse() {
        r.headers_mut().append(header::SET_COOKIE, h);
    }
    r
}

/// A guest tenant chosen: the home's sign-in first (the home tenant's, or the external
/// identity provider's the guest redeemed at), then that tenant's pipeline.
async fn sign_in_to(
    s: &AppState,
    segment: &str,
    raw: &str,
    c: &Candidate,
    username: &str,
    cid: &str,
    base: &str,
) -> Response {
    let unavailable = || {
        pages::error(
            StatusCode::SERVICE_UNAVAILABLE,
            90033,
            "The directory is unavailable right now; nothing was changed. Try signing in again in a minute.",
            cid,
        )
    };
    let Ok(Some(t)) = s.store.tenant(c.tenant).await else {
        return unavailable();
    };
    if let Some(r) = super::redeem::guest_home_sign_in(s, &t, username, segment, raw, base).await {
        return r;
    }
    super::external_idp::guest_sign_in(s, &t, username, segment, raw, base)
        .await
        .unwrap_or_else(unavailable)
}

fn picker(segment: &str, offered: &[Candidate], csrf: &str) -> Response {
    let mut items = String::new();
    for (i, c) in offered.iter().enumerate() {
        let id = c.tenant.to_string();
        let kind = if c.guest.is_some() {
            "guest"
        } else {
            "your organization"
        };
        items.push_str(&format!(
            "<div class=\"check\"><input type=\"radio\" id=\"t-{id}\" name=\"tenant\" value=\"{id}\"{checked}><label for=\"t-{id}\">{name} <span class=\"muted\">({kind})</span></label></div>",
            checked = if i == 0 { " checked" } else { "" },
            name = esc(&c.name),
        ));
    }
    let body = format!(
        "<h1>Choose an organization</h1><p class=\"muted\">Your account can sign in to this app in more than one organization. Pick the one to continue with.</p>\
<form method=\"post\" action=\"/{seg}/oauth2/v2.0/authorize/tenant\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{items}\
<button type=\"submit\" id=\"submit\">Continue</button></form>",
        seg = esc(segment),
        csrf = esc(csrf),
    );
    pages::page(StatusCode::OK, "Choose an organization", &body)
}

/// `POST /{common|organizations}/oauth2/v2.0/authorize/tenant`: the picker's answer.
pub async fn pick(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = castellan_wire::form::parse_pairs(&body).unwrap_or_default();
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if !csrf_ok(&headers, get("csrf")) {
        return csrf_failed(&cid);
    }
    let key = super::authorize::cookies(&headers)
        .into_iter()
        .find(|(k, _)| k == COOKIE)
        .map(|(_, v)| v)
        .unwrap_or_default();
    let Some(flight) = s.tenant_picks.take(&key) else {
        return pages::error(StatusCode::BAD_REQUEST, 90014, "This choice does not belong to a sign-in in this browser, was sent already, or took longer than 10 minutes. Nothing was changed. Sign in again.", &cid);
    };
    if flight.segment != segment {
        return pages::error(
            StatusCode::BAD_REQUEST,
            90014,
            "This choice belongs to another sign-in. Nothing was changed. Sign in again.",
            &cid,
        );
    }
    let Some(c) = choice::picked(&flight.offered, get("tenant").unwrap_or("")) else {
        return pages::error(StatusCode::BAD_REQUEST, 90014, "The organization chosen was not one offered to this account. Nothing was changed. Sign in again and pick one of the organizations listed.", &cid);
    };
    if c.guest.is_some() {
        let base = s.origins.for_host(crate::http::host(&headers));
        return sign_in_to(&s, &segment, &flight.ctx, &c, &flight.username, &cid, &base).await;
    }
    // The home tenant: its own pipeline for the home user.
    let Some((home, user)) = flight.home else {
        return pages::error(StatusCode::BAD_REQUEST, 90014, "The organization chosen was not one offered to this account. Nothing was changed. Sign in again and pick one of the organizations listed.", &cid);
    };
    let (Ok(Some(t)), Ok(Some(u))) = (s.store.tenant(home).await, s.store.user(home, user).await)
    else {
        return pages::error(StatusCode::SERVICE_UNAVAILABLE, 90033, "The directory is unavailable right now; nothing was changed. Try signing in again in a minute.", &cid);
    };
    match flight.session {
        // The home SSO session was the first factor: the home pipeline runs on it, with what
        // the session has done (its MFA), as it would have without the picker.
        Some(authn) => {
            super::authorize::resume_session(
                &s,
                &segment,
                &flight.ctx,
                &t,
                &u,
                authn,
                cid,
                ip,
                &headers,
            )
            .await
        }
        None => {
            resume_guest(
                &s,
                &segment,
                &flight.ctx,
                &t,
                &u,
                &[],
                None,
                cid,
                ip,
                &headers,
            )
            .await
        }
    }
}
