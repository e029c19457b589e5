//! `/{tenant}/oauth2/v2.0/authorize`, the sign-in pages behind it, and `/logout`.
//!
//! Order of checks (Microsoft identity platform auth-code flow): tenant, client, redirect URI —
//! failures up to here render an error page and never redirect — then response type and mode,
//! scope, PKCE, prompt; failures from here go back to the redirect URI. The sign-in form
//! carries the original request (`ctx`) and is validated again on every post; a double-submit
//! CSRF token guards every form.

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::error::{AadstsError, Code};
use castellan_core::flow::redirect::{match_redirect_uri, Platform};
use castellan_core::flow::signin::{
    self, Assessment, CaFacts, Challenge, DeviceFacts, Facts, FirstFactor, Interrupt, Outcome,
    Record, Step, Surface,
};
use castellan_core::flow::Authn;
use castellan_core::model::{Application, Tenant, User};
use castellan_core::ops::pipeline::{Answer, Halt};
use castellan_core::ops::signin::{self as ops, NewCode};
use castellan_core::ops::token::{load_client, TokenError};
use castellan_core::secret::SecretText;
use castellan_core::{AppId, Timestamp};
use castellan_wire::claims;

use super::pages;
use super::{resolve_tenant, TenantRef};
use crate::crypto::random_token;
use crate::http::{host, ClientIp, CorrelationId};
use crate::signin_log::Attempt;
use crate::state::{now, AppState};

pub(crate) const CSRF_COOKIE: &str = "castellan_csrf";

/// Cookies of the request, as (name, value).
pub(crate) fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

fn sso_cookie_name(tenant: &Tenant) -> String {
    format!("castellan_sso_{}", tenant.id.to_string().replace('-', ""))
}

fn set_cookie(r: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A CSRF token: reuses the browser's cookie or mints one (set on the response by `with_csrf`).
pub(crate) fn csrf_token(headers: &HeaderMap) -> (String, bool) {
    match cookies(headers)
        .into_iter()
        .find(|(k, v)| k == CSRF_COOKIE && v.len() >= 32)
    {
        Some((_, v)) => (v, false),
        None => (random_token(32), true),
    }
}

pub(crate) fn with_csrf(mut r: Response, token: &str, fresh: bool) -> Response {
    if fresh {
        set_cookie(
            &mut r,
            &format!("{CSRF_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"),
        );
    }
    r
}

/// Checks the double-submit token in constant time.
pub(crate) fn csrf_ok(headers: &HeaderMap, form_value: Option<&str>) -> bool {
    let Some(sent) = form_value else {
        return false;
    };
    cookies(headers)
        .iter()
        .filter(|(k, _)| k == CSRF_COOKIE)
        .any(|(_, v)| {
            subtle::ConstantTimeEq::ct_eq(v.as_bytes(), sent.as_bytes()).into() && v.len() >= 32
        })
}

pub(crate) fn csrf_failed(cid: &str) -> Response {
    pages::error(
        StatusCode::BAD_REQUEST,
        90014,
        "The sign-in form expired or was submitted from another site (the anti-forgery check failed). Go back to the application and start signing in again.",
        cid,
    )
}

fn params_of(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

use castellan_core::flow::authorize_request::{self as rules, ResponseMode as Mode};

/// Where responses go once the redirect URI is trusted.
pub(super) struct Target {
    pub(super) redirect_uri: String,
    pub(super) mode: Mode,
    pub(super) state: Option<String>,
    /// A SAML sign-in: answers are SAML responses posted to the reply URL.
    pub(super) saml: Option<Box<super::saml::Ctx>>,
}

/// A validated authorize request.
pub(super) struct Authz {
    pub(super) raw: String,
    pub(super) segment: String,
    pub(super) tenant: Option<Tenant>,
    pub(super) app: Application,
    pub(super) platform: Platform,
    pub(super) target: Target,
    pub(super) code: bool,
    pub(super) id_token: bool,
    pub(super) scope: String,
    pub(super) nonce: Option<String>,
    pub(super) prompt: Option<String>,
    pub(super) login_hint: Option<String>,
    pub(super) max_age: Option<i64>,
    pub(super) code_challenge: Option<String>,
    /// This request came from `/adminconsent`: ask for tenant-wide consent instead of issuing.
    pub(super) admin_consent: bool,
    /// The `claims` parameter asks for step-up (a claims challenge): MFA in this session.
    pub(super) step_up: bool,
}

pub(super) enum Fail {
    /// Render an error page (the redirect URI is not trusted).
    Page(StatusCode, AadstsError),
    /// Send the error to the redirect URI.
    Redirect(Target, AadstsError),
    /// The store failed.
    Unavailable(String),
}

async fn validate(s: &AppState, segment: &str, raw: &str) -> Result<Authz, Fail> {
    if let Some(sealed) = raw.strip_prefix(super::saml::CTX_PREFIX) {
        return super::saml::reopen(s, segment, sealed).await;
    }
    // Bounded like the token endpoint's form (wire::form: pairs, name and value lengths).
    let mut p = castellan_wire::form::parse_pairs(raw.as_bytes())
        .map_err(|e| Fail::Page(StatusCode::BAD_REQUEST, e))?;
    super::canonical_scope_params(s, &mut p);
    let tenant = match resolve_tenant(s.store.as_ref(), segment).await {
        Ok(TenantRef::Tenant(t)) => Some(*t),
        Ok(TenantRef::Alias("consumers")) => {
            return Err(Fail::Page(
                StatusCode::BAD_REQUEST,
                Code::ConsumersUnsupported.aadsts(&[]),
            ))
        }
        Ok(TenantRef::Alias(_)) => None,
        Ok(TenantRef::Unknown) => {
            return Err(Fail::Page(
                StatusCode::BAD_REQUEST,
                AadstsError::tenant_not_found(segment),
            ))
        }
        Err(e) => return Err(Fail::Unavailable(e.to_string())),
    };
    let Some(client_id) = get(&p, "client_id") else {
        return Err(Fail::Page(
            StatusCode::BAD_REQUEST,
            AadstsError::missing_parameter("client_id"),
        ));
    };
    let tenant_name = tenant
        .as_ref()
        .map_or_else(|| segment.to_string(), |t| t.id.to_string());
    let app = match AppId::parse(client_id) {
        Some(id) => castellan_core::ops::token::client_application(s.store.as_ref(), id)
            .await
            .map_err(|e| Fail::Unavailable(e.to_string()))?,
        None => None,
    };
    let Some(app) = app else {
        return Err(Fail::Page(
            StatusCode::BAD_REQUEST,
            AadstsError::client_not_found(client_id, &tenant_name),
        ));
    };
    let Some(redirect_uri) = get(&p, "redirect_uri") else {
        return Err(Fail::Page(
            StatusCode::BAD_REQUEST,
            AadstsError::missing_parameter("redirect_uri"),
        ));
    };
    let platform = match_redirect_uri(&app, redirect_uri)
        .map_err(|e| Fail::Page(StatusCode::BAD_REQUEST, e))?;
    // The rest of Entra's order (response type and mode, scope, openid and nonce, PKCE,
    // max_age, claims, prompt) is core's.
    let admin_consent = get(&p, "admin_consent") == Some("1");
    let params = rules::Params {
        response_type: get(&p, "response_type").unwrap_or(""),
        response_mode: get(&p, "response_mode"),
        scope: get(&p, "scope"),
        nonce: get(&p, "nonce"),
        code_challenge: get(&p, "code_challenge"),
        code_challenge_method: get(&p, "code_challenge_method"),
        max_age: get(&p, "max_age"),
        prompt: get(&p, "prompt"),
        admin_consent,
        step_up: get(&p, "claims")
            .filter(|c| !c.trim().is_empty())
            .map(castellan_wire::claims_challenge::requires_step_up),
    };
    let target_in = |mode: Mode| Target {
        redirect_uri: redirect_uri.to_string(),
        mode,
        state: get(&p, "state").map(str::to_string),
        saml: None,
    };
    let checked = match rules::check(platform, &params) {
        Ok(c) => c,
        Err(rules::Refusal::Page(e)) => return Err(Fail::Page(StatusCode::BAD_REQUEST, e)),
        Err(rules::Refusal::Redirect(mode, e)) => return Err(Fail::Redirect(target_in(mode), e)),
    };
    let target = target_in(checked.mode);
    let (code, id_token, challenge, max_age, step_up) = (
        checked.code,
        checked.id_token,
        checked.code_challenge.clone(),
        checked.max_age,
        checked.step_up,
    );
    let scope_text = checked.scope;
    let prompt = checked.prompt.map(str::to_string);
    Ok(Authz {
        raw: raw.to_string(),
        segment: segment.to_string(),
        tenant,
        app,
        platform,
        target,
        code,
        id_token,
        scope: scope_text.to_string(),
        nonce: get(&p, "nonce").map(str::to_string),
        prompt,
        login_hint: get(&p, "login_hint").map(str::to_string),
        max_age,
        code_challenge: challenge,
        admin_consent,
        step_up,
    })
}

/// Sends `fields` to the redirect URI in the request's response mode.
fn respond_to(target: &Target, mut fields: Vec<(String, String)>) -> Response {
    if let Some(st) = &target.state {
        fields.push(("state".into(), st.clone()));
    }
    match target.mode {
        Mode::FormPost => pages::form_post(&target.redirect_uri, &fields),
        Mode::Query | Mode::Fragment => {
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter())
                .finish();
            let sep = match target.mode {
                Mode::Fragment => '#',
                _ if target.redirect_uri.contains('?') => '&',
                _ => '?',
            };
            let location = format!("{}{sep}{encoded}", target.redirect_uri);
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
    }
}

fn error_fields(e: &AadstsError, cid: &str) -> Vec<(String, String)> {
    let error = match e.code {
        65001 => "consent_required",
        _ => e.error.as_str(),
    };
    let ts = castellan_wire::time::sts_timestamp(now());
    vec![
        ("error".into(), error.into()),
        (
            "error_description".into(),
            format!(
                "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {cid}\r\nTimestamp: {ts}",
                e.code,
                e.message,
                uuid::Uuid::new_v4()
            ),
        ),
        (
            "error_uri".into(),
            format!("https://login.microsoftonline.com/error?code={}", e.code),
        ),
    ]
}

pub(super) fn fail(f: Fail, cid: &str) -> Response {
    match f {
        Fail::Redirect(t, e) if t.saml.is_some() => {
            tracing::info!(
                code = e.code,
                "SAML sign-in refused: error response posted to the reply URL"
            );
            super::saml::error_response(&t, &e, cid)
        }
        Fail::Page(status, e) => {
            tracing::info!(code = e.code, "authorize refused with an error page");
            pages::error(status, e.code, &e.message, cid)
        }
        Fail::Redirect(t, e) => {
            tracing::info!(code = e.code, "authorize error sent to the redirect URI");
            respond_to(&t, error_fields(&e, cid))
        }
        Fail::Unavailable(e) => {
            tracing::warn!(error = %e, "store unavailable during sign-in");
            let mut r = pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                90055,
                "The service is temporarily unavailable. Try again in a few seconds.",
                cid,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// Shared request facts for logging and origins.
pub(crate) struct Req {
    pub cid: String,
    pub ip: String,
    pub user_agent: String,
    pub origin: String,
    pub at: Timestamp,
}

fn attempt(r: &Req, tenant: &Tenant, app: &Application, interactive: bool) -> Attempt {
    attempt_via(r, tenant, app, interactive, "authorize")
}

fn attempt_via(
    r: &Req,
    tenant: &Tenant,
    app: &Application,
    interactive: bool,
    details: &str,
) -> Attempt {
    Attempt {
        tenant_id: tenant.id,
        correlation_id: r.cid.clone(),
        ip: r.ip.clone(),
        user_agent: r.user_agent.clone(),
        app_id: app.app_id.to_string(),
        interactive,
        client_app_used: "Browser".into(),
        details: details.into(),
        at: r.at,
    }
}

/// How a sign-in reached the pipeline.
pub(super) struct Start<'x> {
    /// The first factor.
    pub(super) first: FirstFactor,
    /// Its verdict (lockout, password, authenticator code).
    pub(super) credential: Result<(), AadstsError>,
    /// What the session has done.
    pub(super) authn: Authn,
    /// A user at a page (not an SSO redirect).
    pub(super) interactive: bool,
    /// The user just answered the consent page.
    pub(super) consented: bool,
    /// The password just proven (Identity Protection's leaked credentials).
    pub(super) password: Option<&'x SecretText>,
    /// "Stay signed in", when the session starts here.
    pub(super) persistent: bool,
    /// Too many authenticator codes: seconds until the next one is looked at.
    pub(super) retry_after: Option<i64>,
    /// A guest's home device as this tenant's inbound trust accepts it
    /// (`core::cross_tenant::trusted_device`), used when the request proves none here.
    pub(super) guest_device: Option<DeviceFacts>,
}

/// Runs the sign-in pipeline for `user` (`core::flow::signin`, surface `Authorize`): loads what
/// it asks for (Identity Protection, the SSO session, consent, the tokens, the device,
/// Conditional Access) and renders its decision: the code and/or ID token at the redirect URI,
/// an error there, the consent, MFA or registration page. A session started on the way sets
/// its cookie on whatever the answer is.
pub(super) async fn run(
    s: &AppState,
    a: &Authz,
    tenant: &Tenant,
    user: &User,
    st: Start<'_>,
    r: &Req,
    headers: &HeaderMap,
) -> Response {
    let mut cookie = None;
    let mut resp = drive(s, a, tenant, user, st, r, headers, &mut cookie).await;
    if let Some(c) = cookie {
        set_cookie(&mut resp, &c);
    }
    resp
}

/// `/authorize`'s steps besides the shared ones: the SSO session (its cookie), consent, the
/// tokens (or, for a SAML application, its service principal, assignment and signing key), and
/// Conditional Access for the resource the tokens are for.
struct AuthorizeSteps<'a> {
    common: crate::signin_steps::Common<'a>,
    a: &'a Authz,
    headers: &'a HeaderMap,
    persistent: bool,
    /// A guest's trusted home device (`Start::guest_device`).
    guest_device: Option<DeviceFacts>,
    /// MFA was done before the pipeline started (a guest's trusted home MFA): the session
    /// started here remembers it.
    mfa_done: bool,
    /// The SSO session cookie to set.
    cookie: Option<String>,
    /// What consent is owed (for the consent page).
    need: Option<castellan_core::ops::consent::ConsentNeed>,
    /// The client and its tokens.
    tokens: Option<(
        std::sync::Arc<Application>,
        castellan_core::flow::user_token::UserTokens,
    )>,
    /// The SAML sign-in's preparation.
    saml_prep: Option<super::saml::Prepared>,
}

#[async_trait::async_trait]
impl castellan_core::ops::pipeline::Steps for AuthorizeSteps<'_> {
    // Identity Protection: a password sign-in is assessed when the password was checked, an
    // SSO sign-in here; the answer to an MFA challenge is the same sign-in, so it carries only
    // the user's standing risk (the pipeline loads that itself).
    async fn assess(&mut self, with_password: bool) -> Result<Assessment, Halt> {
        self.common.assess(with_password).await
    }

    // Conditional Access, after the first factor (the password, or the SSO session).
    async fn conditional_access(&mut self) -> Result<CaFacts, Halt> {
        let resource = match (&self.tokens, &self.saml_prep) {
            (Some((_, t)), _) => t.access.aud.clone(),
            // A SAML sign-in's cloud app is the application itself.
            (None, Some(_)) => self.a.app.app_id.to_string(),
            (None, None) => return Err(Halt("Conditional Access before the tokens".into())),
        };
        self.common.conditional_access_for(&resource).await
    }

    // The device, when the request proves one (x-castellan-device-assertion); else a guest's
    // home device, as far as this tenant's inbound trust accepts it.
    async fn device(&mut self) -> Answer<DeviceFacts> {
        let here = self.common.device().await?;
        Ok(match (here, self.guest_device) {
            (Ok(d), Some(home)) if d.state == castellan_core::policy::DeviceState::None => Ok(home),
            (x, _) => x,
        })
    }

    // The SSO session (cookie) starts with the password.
    async fn start_session(&mut self) -> Result<(), Halt> {
        let c = &self.common;
        let secret = random_token(32);
        ops::start_session(
            c.s.store.as_ref(),
            c.tenant,
            c.user,
            self.persistent,
            &secret,
            c.at,
        )
        .await
        .map_err(|e| Halt(format!("{e:?}")))?;
        if self.mfa_done {
            ops::mark_session_mfa(c.s.store.as_ref(), c.tenant, &secret, c.at)
                .await
                .map_err(|e| Halt(format!("{e:?}")))?;
        }
        let max_age = if self.persistent {
            format!("; Max-Age={}", ops::SSO_PERSISTENT_SECS)
        } else {
            String::new()
        };
        self.cookie = Some(format!(
            "{}={secret}; Path=/; Secure; HttpOnly; SameSite=Lax{max_age}",
            sso_cookie_name(c.tenant)
        ));
        Ok(())
    }

    // The session remembers the MFA: the next sign-in in this browser (and every refresh
    // token of this sign-in) counts it, within the sign-in frequency.
    async fn mark_session_mfa(&mut self) -> Result<(), Halt> {
        let c = &self.common;
        if let Some(secret) = cookies(self.headers)
            .into_iter()
            .find(|(n, _)| *n == sso_cookie_name(c.tenant))
            .map(|(_, v)| v)
        {
            ops::mark_session_mfa(c.s.store.as_ref(), c.tenant, &secret, c.at)
                .await
                .map_err(|e| Halt(format!("{e:?}")))?;
        }
        Ok(())
    }

    // Missing permissions (or an app new to this tenant) ask the user; a SAML application
    // asks for no delegated permissions.
    async fn consent(&mut self) -> Answer<bool> {
        if self.a.target.saml.is_some() {
            return Ok(Ok(false));
        }
        let c = &self.common;
        match castellan_core::ops::consent::need(
            c.s.store.as_ref(),
            c.tenant,
            &self.a.app,
            c.user,
            &self.a.scope,
            crate::state::now(),
        )
        .await
        {
            Ok(n) => {
                let owed = n.required();
                self.need = Some(n);
                Ok(Ok(owed))
            }
            Err(TokenError::Aadsts(e)) => Ok(Err(e)),
            Err(TokenError::Store(e)) => Err(e.into()),
        }
    }

    // Consent and scope are decided now, so the error reaches the app at the redirect. The
    // SAML "tokens": the service principal, user assignment, a signing key.
    async fn tokens(&mut self) -> Answer<()> {
        let c = &self.common;
        let a = self.a;
        if let Some(ctx) = a.target.saml.as_deref() {
            return match super::saml::prepare(c.s, c.tenant, &a.app, c.user, ctx).await {
                Ok(Ok(p)) => {
                    self.saml_prep = Some(p);
                    Ok(Ok(()))
                }
                Ok(Err(e)) => Ok(Err(e)),
                Err(e) => Err(Halt(e)),
            };
        }
        let (app, client_sp) =
            match load_client(c.s.store.as_ref(), c.tenant, &a.app.app_id.to_string()).await {
                Ok(x) => x,
                Err(TokenError::Aadsts(e)) => return Ok(Err(e)),
                Err(TokenError::Store(e)) => return Err(e.into()),
            };
        let auth = if a.platform == Platform::Web {
            castellan_core::flow::ClientAuthMethod::Secret
        } else {
            castellan_core::flow::ClientAuthMethod::None
        };
        match ops::user_tokens(
            c.s.store.as_ref(),
            c.tenant,
            &app,
            &client_sp,
            auth,
            c.user,
            &a.scope,
            a.nonce.clone(),
            c.at,
            (random_token(16), random_token(16)),
        )
        .await
        {
            Ok(t) => {
                self.tokens = Some((app, t));
                Ok(Ok(()))
            }
            Err(TokenError::Aadsts(e)) => Ok(Err(e)),
            Err(TokenError::Store(e)) => Err(e.into()),
        }
    }
}

#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
async fn drive(
    s: &AppState,
    a: &Authz,
    tenant: &Tenant,
    user: &User,
    st: Start<'_>,
    r: &Req,
    headers: &HeaderMap,
    cookie: &mut Option<String>,
) -> Response {
    let saml = a.target.saml.as_deref();
    let log = attempt_via(
        r,
        tenant,
        &a.app,
        st.interactive,
        if saml.is_some() { "saml2" } else { "authorize" },
    );
    let retry_after = st.retry_after;
    let app_id = a.app.app_id.to_string();
    let silent = a.prompt.as_deref() == Some("none");
    let authn = st.authn;
    let req = signin::Request {
        first: st.first,
        surface: Surface::Authorize {
            silent,
            admin_consent: a.admin_consent,
        },
        authn,
        client_app_id: &app_id,
        client_name: &a.app.display_name,
        ip: &log.ip,
        now: r.at,
        step_up: a.step_up,
        force_consent: a.prompt.as_deref() == Some("consent") && !st.consented,
        security_defaults: tenant.settings.security_defaults,
        carried_sign_in_risk: None,
    };
    let facts = Facts {
        credential: Some(st.credential),
        ..Facts::default()
    };
    let unavailable = |e: String| fail(Fail::Unavailable(e), &r.cid);
    // Cross-tenant access: a guest of another tenant on this server passes the home tenant's
    // outbound and this tenant's inbound B2B collaboration settings for this app, at every
    // sign-in (the home-realm one and the SSO session's alike).
    if let Some(e) = match crate::cross_tenant::refusal_for(
        s.store.as_ref(),
        tenant,
        user,
        a.app.app_id.uuid(),
        r.at,
    )
    .await
    {
        Ok(x) => x,
        Err(e) => return unavailable(e),
    } {
        let mut rec = log.user(
            Some(&user.user_principal_name),
            Some(user.id),
            Some(&user.display_name),
            None,
            Some(&e),
        );
        rec.app_display_name = Some(a.app.display_name.clone());
        s.signins.record(rec).await;
        return fail(Fail::Page(StatusCode::FORBIDDEN, e), &r.cid);
    }
    let mut steps = AuthorizeSteps {
        common: crate::signin_steps::Common {
            s,
            tenant,
            user,
            ip: &log.ip,
            user_agent: &r.user_agent,
            password: st.password,
            at: r.at,
            cid: &r.cid,
            headers: Some(headers),
            resource: None,
            device: None,
        },
        a,
        headers,
        persistent: st.persistent,
        mfa_done: authn.mfa_at.is_some(),
        guest_device: st.guest_device,
        cookie: None,
        need: None,
        tokens: None,
        saml_prep: None,
    };
    let ran = castellan_core::ops::pipeline::run(
        s.store.as_ref(),
        tenant,
        Some(user.id),
        &req,
        facts,
        &mut steps,
    )
    .await;
    let AuthorizeSteps {
        common,
        cookie: started,
        need,
        tokens,
        saml_prep,
        ..
    } = steps;
    // A session started before a later step failed is still the browser's.
    *cookie = started;
    let decision = match ran {
        Ok(x) => x.decision,
        Err(e) => return unavailable(e.0),
    };
    let device = common.device;
    // The sign-in record: with the resource, Conditional Access and the device once the
    // sign-in reached Conditional Access.
    let saml_resource = saml_prep.as_ref().map(|_| a.app.app_id.to_string());
    let record = |e: Option<&AadstsError>, with_device: bool| {
        let resource = tokens
            .as_ref()
            .map(|(_, t)| t.access.aud.as_str())
            .or(saml_resource.as_deref());
        let reached = decision.ca.as_ref().zip(resource);
        let mut rec = log.user(
            Some(&user.user_principal_name),
            Some(user.id),
            Some(&user.display_name),
            reached.map(|(_, r)| r),
            e,
        );
        rec.app_display_name = Some(a.app.display_name.clone());
        if let Some((ca, _)) = reached {
            ca.annotate(&mut rec);
            if with_device {
                crate::device_proof::annotate(device.as_ref(), &mut rec);
            }
        }
        rec
    };
    let failure = match &decision.record {
        Record::Failure(e) => Some(e),
        _ => None,
    };
    match &decision.outcome {
        Outcome::AdminConsent => show_admin_consent(s, a, tenant, user, headers).await,
        Outcome::NeedConsent => match &need {
            Some(n) => show_consent(s, a, tenant, n, headers).await,
            None => unavailable("consent page without the consent need".into()),
        },
        Outcome::Refuse(e) => {
            s.signins.record(record(Some(e), true)).await;
            fail(Fail::Redirect(clone_target(&a.target), e.clone()), &r.cid)
        }
        Outcome::Challenge(c) => {
            if let Some(e) = failure {
                s.signins.record(record(Some(e), true)).await;
            }
            // The answer to a failed code goes back to the page that posted it.
            let (segment, shown) = match c {
                Challenge::Code { error: Some(e) } => {
                    (a.segment.clone(), Some((e.code, e.message.as_str())))
                }
                _ => (tenant.id.to_string(), None),
            };
            let (csrf, fresh) = csrf_token(headers);
            let fields = [("ctx", a.raw.as_str()), ("csrf", csrf.as_str())];
            let page = pages::mfa_challenge(
                &format!("/{segment}/oauth2/v2.0/authorize/mfa"),
                &fields,
                &a.app.display_name,
                shown,
            );
            let page = match (shown, retry_after) {
                (Some(_), Some(secs)) => pages::too_many_attempts(page, secs),
                _ => page,
            };
            with_csrf(page, &csrf, fresh)
        }
        Outcome::Interrupt(Interrupt::RegisterMfa { security_defaults }) => {
            if let Some(e) = failure {
                s.signins.record(record(Some(e), !*security_defaults)).await;
            }
            let why = if *security_defaults {
                "Your organization uses security defaults: register an authenticator app for multifactor authentication before you continue."
            } else {
                "Your organization requires multifactor authentication, and you have no authenticator app registered yet."
            };
            pages::mfa_register(
                &format!("{}/{}/mfa/setup", r.origin, tenant.id),
                why,
                &r.cid,
            )
        }
        Outcome::Interrupt(Interrupt::ChangePassword) => {
            let (csrf, fresh) = csrf_token(headers);
            let fields = [("ctx", a.raw.as_str()), ("csrf", csrf.as_str())];
            with_csrf(
                pages::change_password(
                    &format!("/{}/oauth2/v2.0/authorize/changepassword", a.segment),
                    &user.user_principal_name,
                    None,
                    &fields,
                ),
                &csrf,
                fresh,
            )
        }
        Outcome::Issue if saml.is_some() => {
            let (Some(ctx), Some(prep)) = (saml, &saml_prep) else {
                return unavailable("SAML issue without its preparation".into());
            };
            let resp = match super::saml::issue(s, tenant, ctx, prep, user, authn, r) {
                Ok(x) => x,
                Err(e) => return unavailable(e),
            };
            let mut rec = record(None, true);
            rec.note_authn(&authn);
            s.signins.record(rec).await;
            crate::device_proof::touch(s, device.as_ref(), r.at).await;
            resp
        }
        Outcome::Issue => {
            let Some((app, tokens)) = &tokens else {
                return unavailable("issue without tokens".into());
            };
            let mut fields = Vec::new();
            let mut code_secret = None;
            if a.code {
                let secret = random_token(48);
                let new = NewCode {
                    client_id: &app.app_id.to_string(),
                    redirect_uri: &a.target.redirect_uri,
                    public: a.platform != Platform::Web,
                    spa: a.platform == Platform::Spa,
                    scope: &a.scope,
                    nonce: a.nonce.as_deref(),
                    code_challenge: a.code_challenge.as_deref(),
                    authn,
                    user: user.id,
                    device_id: device.as_ref().map(|d| d.0.device_id),
                };
                if let Err(e) = ops::issue_code(s.store.as_ref(), tenant, &new, &secret, r.at).await
                {
                    return unavailable(format!("{e:?}"));
                }
                fields.push(("code".to_string(), secret.clone()));
                code_secret = Some(secret);
            }
            if a.id_token {
                let Some(id) = &tokens.id else {
                    return fail(
                        Fail::Redirect(
                            clone_target(&a.target),
                            Code::IdTokenNeedsOpenid.aadsts(&[]),
                        ),
                        &r.cid,
                    );
                };
                let iss = claims::issuer(&r.origin, &tenant.id.to_string());
                let mut id = id.clone();
                id.amr = authn.amr();
                let mut payload = claims::id_token_payload(&id, &iss);
                payload["auth_time"] = serde_json::json!(authn.auth_time.secs());
                if let Some(c) = &code_secret {
                    // OIDC Core §3.3.2.11: left half of SHA-256 of the code, base64url.
                    let d = castellan_core::secret::sha256(c.as_bytes());
                    payload["c_hash"] = serde_json::json!(URL_SAFE_NO_PAD.encode(&d[..16]));
                }
                match s.keys.sign_jwt(&payload, r.at) {
                    Ok(j) => fields.push(("id_token".into(), j)),
                    Err(e) => return unavailable(e),
                }
            }
            fields.push(("session_state".into(), uuid::Uuid::new_v4().to_string()));
            let mut rec = record(None, true);
            rec.note_authn(&authn);
            s.signins.record(rec).await;
            crate::device_proof::touch(s, device.as_ref(), r.at).await;
            respond_to(&a.target, fields)
        }
    }
}

/// The cross-tenant check of a redemption through the home tenant (users and groups only: a
/// redemption is no application's sign-in). A refusal is recorded in the resource tenant's
/// sign-in log, naming the home tenant, and returned for the redemption page.
#[allow(clippy::too_many_arguments)]
pub(super) async fn redemption_refusal(
    s: &AppState,
    (resource, secret): (castellan_core::TenantId, &str),
    home: castellan_core::TenantId,
    home_user: castellan_core::ObjectId,
    cid: &str,
    ip: &str,
    headers: &HeaderMap,
) -> Result<Option<AadstsError>, String> {
    let at = now();
    let resource = s
        .store
        .tenant(resource)
        .await
        .map_err(|e| format!("{e:?}"))?
        .ok_or("the resource tenant is gone")?;
    let resource = &resource;
    // The invited guest (for the log), while the link is still good.
    let mut ent = crate::crypto::OsEntropy;
    let env = castellan_core::ops::Env {
        store: s.store.as_ref(),
        now: at,
        entropy: &mut ent,
        hasher: &s.hasher,
        actor: castellan_core::audit::Actor::Operator,
        correlation_id: cid.to_string(),
    };
    let guest = castellan_core::ops::invitations::peek(&env, resource, secret)
        .await
        .ok()
        .and_then(Result::ok)
        .map(|(_, g)| g);
    let guest = guest.as_ref();
    let c = crate::cross_tenant::check(s.store.as_ref(), resource.id, home, home_user, None, at)
        .await?;
    let Some(e) = castellan_core::cross_tenant::refusal(c.verdict, resource.id, home) else {
        return Ok(None);
    };
    let log = Attempt {
        tenant_id: resource.id,
        correlation_id: cid.to_string(),
        ip: ip.to_string(),
        user_agent: crate::http::user_agent(headers),
        app_id: castellan_core::catalog::CONSOLE_APP_ID.to_string(),
        interactive: true,
        client_app_used: "Browser".into(),
        details: format!("B2B invitation redemption through home tenant {home}"),
        at,
    };
    let mut rec = log.user(
        guest.map(|g| g.user_principal_name.as_str()),
        guest.map(|g| g.id),
        guest.map(|g| g.display_name.as_str()),
        None,
        Some(&e),
    );
    rec.app_display_name = Some("Invitation redemption".into());
    s.signins.record(rec).await;
    Ok(Some(e))
}

pub(super) fn clone_target(t: &Target) -> Target {
    Target {
        redirect_uri: t.redirect_uri.clone(),
        mode: t.mode,
        state: t.state.clone(),
        saml: t.saml.clone(),
    }
}

/// The live SSO session in this browser for `tenant` (or, for `common`/`organizations`, the one
/// tenant the browser has a session with).
pub(crate) async fn current_session(
    s: &AppState,
    headers: &HeaderMap,
    tenant: Option<&Tenant>,
    at: Timestamp,
) -> Result<Option<(Tenant, User, Authn)>, String> {
    let jar = cookies(headers);
    let mut found = Vec::new();
    for (name, value) in &jar {
        let Some(hex) = name.strip_prefix("castellan_sso_") else {
            continue;
        };
        let t = match tenant {
            Some(t) if sso_cookie_name(t) == *name => t.clone(),
            Some(_) => continue,
            None => {
                let Some(id) = castellan_core::TenantId::parse(&format!(
                    "{}-{}-{}-{}-{}",
                    hex.get(0..8).unwrap_or(""),
                    hex.get(8..12).unwrap_or(""),
                    hex.get(12..16).unwrap_or(""),
                    hex.get(16..20).unwrap_or(""),
                    hex.get(20..32).unwrap_or("")
                )) else {
                    continue;
                };
                match s.store.tenant(id).await.map_err(|e| e.to_string())? {
                    Some(t) => t,
                    None => continue,
                }
            }
        };
        match ops::session(s.store.as_ref(), &t, value, at).await {
            Ok(Some((g, u))) => {
                found.push((t, u, ops::session_authn(&g)));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    Ok(if found.len() == 1 { found.pop() } else { None })
}

fn app_name(a: &Authz) -> String {
    a.app.display_name.clone()
}

fn login_action(segment: &str) -> String {
    format!("/{segment}/oauth2/v2.0/authorize/login")
}

pub(super) fn show_login(
    a: &Authz,
    headers: &HeaderMap,
    username: &str,
    error: Option<(u32, &str)>,
) -> Response {
    let (csrf, fresh) = csrf_token(headers);
    let hidden = [("ctx", a.raw.as_str()), ("csrf", csrf.as_str())];
    let name = app_name(a);
    let r = pages::login(&pages::Login {
        action: &login_action(&a.segment),
        app_name: &name,
        username,
        error,
        hidden: &hidden,
        kmsi: true,
        decline: false,
    });
    with_csrf(r, &csrf, fresh)
}

/// `GET|POST /{tenant}/oauth2/v2.0/authorize`.
#[allow(clippy::too_many_arguments)]
pub async fn authorize(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = if method == Method::POST {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        query.unwrap_or_default()
    };
    let a = match validate(&s, &segment, &raw).await {
        Ok(a) => a,
        Err(f) => return fail(f, &cid),
    };
    let r = Req {
        cid,
        ip,
        user_agent: crate::http::user_agent(&headers),
        origin: s.origins.for_host(host(&headers)),
        at: now(),
    };
    let session = match current_session(&s, &headers, a.tenant.as_ref(), r.at).await {
        Ok(x) => x,
        Err(e) => return fail(Fail::Unavailable(e), &r.cid),
    };
    let usable = session.filter(|(_, u, authn)| {
        rules::session_usable(
            a.login_hint.as_deref(),
            &u.user_principal_name,
            a.max_age,
            authn.auth_time,
            r.at,
        )
    });
    match (rules::entry(usable.is_some(), a.prompt.as_deref()), usable) {
        (rules::Entry::Session, Some((t, u, authn))) => {
            // `/common`, `/organizations` with the home tenant's session: the person may be a
            // guest elsewhere too (the picker, or a `domain_hint` naming that tenant). Silent
            // requests (`prompt=none`) never show the picker: the home tenant, Entra's default.
            if a.tenant.is_none() {
                let silent = a.prompt.as_deref() == Some("none");
                if let Some(resp) = super::tenant_choice::after_home_sign_in(
                    &s,
                    &super::tenant_choice::Home {
                        segment: &a.segment,
                        raw: &a.raw,
                        app: a.app.app_id,
                        tenant: &t,
                        user: &u,
                        session: Some(authn),
                        allow_picker: !silent,
                    },
                    &r.cid,
                    &headers,
                    &r.origin,
                )
                .await
                {
                    return resp;
                }
            }
            let st = Start {
                first: FirstFactor::Session,
                credential: Ok(()),
                authn,
                interactive: false,
                consented: false,
                password: None,
                persistent: false,
                retry_after: None,
                guest_device: None,
            };
            run(&s, &a, &t, &u, st, &r, &headers).await
        }
        (rules::Entry::LoginRequired, _) => fail(
            Fail::Redirect(clone_target(&a.target), rules::login_required()),
            &r.cid,
        ),
        _ => show_login(&a, &headers, a.login_hint.as_deref().unwrap_or(""), None),
    }
}

fn form_fields(body: &Bytes) -> Result<Vec<(String, String)>, AadstsError> {
    castellan_wire::form::parse_pairs(body)
}

/// Finds the tenant a typed user name belongs to (for `common`/`organizations`).
async fn tenant_for(s: &AppState, a: &Authz, username: &str) -> Result<Option<Tenant>, String> {
    if let Some(t) = &a.tenant {
        return Ok(Some(t.clone()));
    }
    let Some((_, domain)) = username.rsplit_once('@') else {
        return Ok(None);
    };
    s.store
        .tenant_by_domain(domain)
        .await
        .map_err(|e| e.to_string())
}

type Posted = (Vec<(String, String)>, Authz, Req);

/// The common start of every form post: CSRF check, then the carried authorize request
/// validated again.
async fn posted_form(
    s: &AppState,
    segment: &str,
    cid: String,
    ip: String,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Posted, Box<Response>> {
    let f = form_fields(body).map_err(|e| {
        Box::new(pages::error(
            StatusCode::BAD_REQUEST,
            e.code,
            &e.message,
            &cid,
        ))
    })?;
    if !csrf_ok(headers, get(&f, "csrf")) {
        return Err(Box::new(csrf_failed(&cid)));
    }
    let a = match validate(s, segment, get(&f, "ctx").unwrap_or("")).await {
        Ok(a) => a,
        Err(x) => return Err(Box::new(fail(x, &cid))),
    };
    let r = Req {
        cid,
        ip,
        user_agent: crate::http::user_agent(headers),
        origin: s.origins.for_host(host(headers)),
        at: now(),
    };
    Ok((f, a, r))
}

/// Resumes the resource tenant's sign-in for `guest` after its home tenant proved who it is
/// (`redeem::callback`): the sealed authorize context `raw` is reopened and the same pipeline
/// runs (Conditional Access with `guestsOrExternalUsers`, MFA, Identity Protection, consent,
/// the sign-in log), the home sign-in standing as the first factor.
#[allow(clippy::too_many_arguments)]
pub(super) async fn resume_guest(
    s: &AppState,
    segment: &str,
    raw: &str,
    tenant: &Tenant,
    guest: &castellan_core::model::User,
    home_amr: &[String],
    home_device: Option<&castellan_core::model::Device>,
    cid: String,
    ip: String,
    headers: &HeaderMap,
) -> Response {
    let a = match validate(s, segment, raw).await {
        Ok(a) => a,
        Err(x) => return fail(x, &cid),
    };
    // Inbound trust: this tenant accepts the home sign-in's MFA for this home tenant, so its
    // Conditional Access sees MFA done (no second prompt) and the tokens' `amr` says so; and
    // the home device's compliance (or hybrid join), which its Conditional Access then sees.
    let (trusted_mfa, guest_device) = match guest.external.as_ref().and_then(|e| e.home_tenant) {
        Some(home) => match crate::cross_tenant::load(s.store.as_ref(), tenant.id).await {
            Ok(l) => {
                let compliant = home_device.is_some_and(|d| d.is_compliant);
                let mfa =
                    castellan_core::cross_tenant::trust_of(&l.policy, home, home_amr, compliant)
                        .mfa;
                let state =
                    castellan_core::cross_tenant::trusted_device(&l.policy, home, home_device);
                let device =
                    (state != castellan_core::policy::DeviceState::None).then(|| DeviceFacts {
                        state,
                        platform: home_device.map(castellan_core::flow::device_assertion::platform),
                    });
                (mfa, device)
            }
            Err(e) => return fail(Fail::Unavailable(e), &cid),
        },
        None => (false, None),
    };
    let r = Req {
        cid,
        ip,
        user_agent: crate::http::user_agent(headers),
        origin: s.origins.for_host(host(headers)),
        at: now(),
    };
    let authn = Authn {
        mfa_at: trusted_mfa.then_some(r.at),
        ..Authn::password(r.at)
    };
    let st = Start {
        first: FirstFactor::Password,
        credential: Ok(()),
        authn,
        interactive: true,
        consented: false,
        password: None,
        persistent: false,
        retry_after: None,
        guest_device,
    };
    run(s, &a, tenant, guest, st, &r, headers).await
}

/// Resumes a `/common` sign-in whose first factor was the browser's SSO session with `tenant`
/// after the tenant picker chose that (home) tenant: the pipeline runs on the session, as it
/// would have without the picker.
#[allow(clippy::too_many_arguments)]
pub(super) async fn resume_session(
    s: &AppState,
    segment: &str,
    raw: &str,
    tenant: &Tenant,
    user: &castellan_core::model::User,
    authn: Authn,
    cid: String,
    ip: String,
    headers: &HeaderMap,
) -> Response {
    let a = match validate(s, segment, raw).await {
        Ok(a) => a,
        Err(x) => return fail(x, &cid),
    };
    let r = Req {
        cid,
        ip,
        user_agent: crate::http::user_agent(headers),
        origin: s.origins.for_host(host(headers)),
        at: now(),
    };
    let st = Start {
        first: FirstFactor::Session,
        credential: Ok(()),
        authn,
        interactive: false,
        consented: false,
        password: None,
        persistent: false,
        retry_after: None,
        guest_device: None,
    };
    run(s, &a, tenant, user, st, &r, headers).await
}

/// Records a guest's sign-in that its home (another tenant, or an external provider) did not
/// complete — the provider's error, an answer that does not verify, another account — in the
/// resource tenant's sign-in log, where the administrator looks for it. The browser gets the
/// page naming the cause; the request `raw` is the sealed authorize context.
#[allow(clippy::too_many_arguments)]
pub(super) async fn log_guest_refusal(
    s: &AppState,
    segment: &str,
    raw: &str,
    tenant: &Tenant,
    guest: &castellan_core::model::User,
    err: &AadstsError,
    cid: String,
    ip: String,
    headers: &HeaderMap,
) {
    let Ok(a) = validate(s, segment, raw).await else {
        return;
    };
    let r = Req {
        cid,
        ip,
        user_agent: crate::http::user_agent(headers),
        origin: s.origins.for_host(host(headers)),
        at: now(),
    };
    let mut rec = attempt(&r, tenant, &a.app, true).user(
        Some(&guest.user_principal_name),
        Some(guest.id),
        Some(&guest.display_name),
        None,
        Some(err),
    );
    rec.app_display_name = Some(a.app.display_name.clone());
    s.signins.record(rec).await;
}

/// `POST /{tenant}/oauth2/v2.0/authorize/login`: the sign-in form.
pub async fn login(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (f, a, r) = match posted_form(&s, &segment, cid, ip, &headers, &body).await {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let username = get(&f, "username").unwrap_or("").trim().to_string();
    let password = SecretText::new(get(&f, "password").unwrap_or(""));
    if username.is_empty() || password.expose().is_empty() {
        return show_login(
            &a,
            &headers,
            &username,
            Some((900144, "Enter your user name and password.")),
        );
    }
    let tenant = match tenant_for(&s, &a, &username).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            // `/common`, `/organizations`: a guest who signs in at an external identity
            // provider has no home tenant here; the tenants it is a guest of may hold it.
            if a.tenant.is_none() {
                if let Some(resp) = super::tenant_choice::external_guest(
                    &s,
                    &a.segment,
                    &a.raw,
                    a.app.app_id,
                    &username,
                    &r.cid,
                    &headers,
                    &r.origin,
                )
                .await
                {
                    return resp;
                }
            }
            let e = AadstsError::user_not_found(&username, "any directory on this server");
            return show_login(&a, &headers, &username, Some((e.code, &e.message)));
        }
        Err(e) => return fail(Fail::Unavailable(e), &r.cid),
    };
    // Home-realm discovery: an accepted guest proves itself at its home tenant.
    if let Some(resp) = super::redeem::guest_home_sign_in(
        &s,
        &tenant,
        &username,
        &segment,
        get(&f, "ctx").unwrap_or(""),
        &r.origin,
    )
    .await
    {
        return resp;
    }
    // … or at the external OpenID Connect provider it redeemed at.
    if let Some(resp) = super::external_idp::guest_sign_in(
        &s,
        &tenant,
        &username,
        &segment,
        get(&f, "ctx").unwrap_or(""),
        &r.origin,
    )
    .await
    {
        return resp;
    }
    let outcome = match ops::check_password(
        s.store.as_ref(),
        &s.hasher,
        &tenant,
        &username,
        &password,
        &r.ip,
        r.at,
    )
    .await
    {
        Ok(o) => o,
        Err(e) => return fail(Fail::Unavailable(format!("{e:?}")), &r.cid),
    };
    match (outcome.result, outcome.user) {
        (Ok(()), Some(user)) => {
            // `/common`, `/organizations`: the person may be a guest elsewhere too.
            if a.tenant.is_none() {
                if let Some(resp) = super::tenant_choice::after_home_sign_in(
                    &s,
                    &super::tenant_choice::Home {
                        segment: &a.segment,
                        raw: &a.raw,
                        app: a.app.app_id,
                        tenant: &tenant,
                        user: &user,
                        session: None,
                        allow_picker: true,
                    },
                    &r.cid,
                    &headers,
                    &r.origin,
                )
                .await
                {
                    return resp;
                }
            }
            let st = Start {
                first: FirstFactor::Password,
                credential: Ok(()),
                authn: Authn::password(r.at),
                interactive: true,
                consented: false,
                password: Some(&password),
                persistent: get(&f, "kmsi") == Some("1"),
                retry_after: None,
                guest_device: None,
            };
            run(&s, &a, &tenant, &user, st, &r, &headers).await
        }
        (Ok(()), None) => {
            let e = AadstsError::invalid_credentials();
            show_login(&a, &headers, &username, Some((e.code, &e.message)))
        }
        (Err(e), user) => {
            // The pipeline's verdict on a refused password: the forced password change is an
            // interrupt; anything else is logged (and a failed guess kept for spray detection).
            let req = signin::Request {
                first: FirstFactor::Password,
                surface: Surface::Authorize {
                    silent: false,
                    admin_consent: a.admin_consent,
                },
                authn: Authn::password(r.at),
                client_app_id: "",
                client_name: "",
                ip: &r.ip,
                now: r.at,
                step_up: false,
                force_consent: false,
                security_defaults: tenant.settings.security_defaults,
                carried_sign_in_risk: None,
            };
            let facts = Facts {
                credential: Some(Err(e.clone())),
                ..Facts::default()
            };
            let decision = match signin::next(&req, &facts) {
                Step::Done(d) => d,
                Step::Load(_) => return fail(Fail::Unavailable("pipeline".into()), &r.cid),
            };
            if decision.outcome == Outcome::Interrupt(Interrupt::ChangePassword) && user.is_some() {
                let (csrf, fresh) = csrf_token(&headers);
                let fields = [("ctx", a.raw.as_str()), ("csrf", csrf.as_str())];
                return with_csrf(
                    pages::change_password(
                        &format!("/{}/oauth2/v2.0/authorize/changepassword", a.segment),
                        &username,
                        None,
                        &fields,
                    ),
                    &csrf,
                    fresh,
                );
            }
            if decision.failed_guess {
                if let Err(x) = castellan_core::ops::identity_protection::record_failure(
                    s.store.as_ref(),
                    &tenant,
                    &username,
                    &r.ip,
                    e.code,
                    r.at,
                )
                .await
                {
                    tracing::warn!(error = %x, "could not keep a failed sign-in for password-spray detection");
                }
            }
            let mut rec = attempt(&r, &tenant, &a.app, true).user(
                Some(&username),
                user.as_ref().map(|u| u.id),
                user.as_ref().map(|u| u.display_name.as_str()),
                None,
                Some(&e),
            );
            rec.app_display_name = Some(a.app.display_name.clone());
            s.signins.record(rec).await;
            show_login(&a, &headers, &username, Some((e.code, &e.message)))
        }
    }
}

/// `POST /{tenant}/oauth2/v2.0/authorize/changepassword`: the 50055 page.
pub async fn change_password(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (f, a, r) = match posted_form(&s, &segment, cid, ip, &headers, &body).await {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let username = get(&f, "username").unwrap_or("").to_string();
    let current = SecretText::new(get(&f, "current").unwrap_or(""));
    let new = get(&f, "new").unwrap_or("").to_string();
    let (csrf, fresh) = csrf_token(&headers);
    let again = |msg: &str| {
        let fields = [("ctx", a.raw.as_str()), ("csrf", csrf.as_str())];
        with_csrf(
            pages::change_password(
                &format!("/{}/oauth2/v2.0/authorize/changepassword", a.segment),
                &username,
                Some((50055, msg)),
                &fields,
            ),
            &csrf,
            fresh,
        )
    };
    if new != get(&f, "confirm").unwrap_or("") {
        return again("The new passwords do not match.");
    }
    if let Err(m) = crate::idprot::check_new_password(&s, &new) {
        return again(&m);
    }
    let tenant = match tenant_for(&s, &a, &username).await {
        Ok(Some(t)) => t,
        Ok(None) => return again("That account does not exist."),
        Err(e) => return fail(Fail::Unavailable(e), &r.cid),
    };
    let outcome = match ops::check_password(
        s.store.as_ref(),
        &s.hasher,
        &tenant,
        &username,
        &current,
        &r.ip,
        r.at,
    )
    .await
    {
        Ok(o) => o,
        Err(e) => return fail(Fail::Unavailable(format!("{e:?}")), &r.cid),
    };
    let user = match (outcome.result, outcome.user) {
        (Ok(()), Some(u)) => u,
        (Err(e), Some(u)) if e.code == 50055 => u,
        (Err(e), _) => return again(&e.message),
        (Ok(()), None) => return again("That account does not exist."),
    };
    let mut entropy = crate::crypto::OsEntropy;
    let mut env = castellan_core::ops::Env {
        store: s.store.as_ref(),
        now: r.at,
        entropy: &mut entropy,
        hasher: &s.hasher,
        actor: castellan_core::audit::Actor::User {
            id: user.id,
            upn: user.user_principal_name.clone(),
        },
        correlation_id: r.cid.clone(),
    };
    match castellan_core::ops::users::change_own_password(
        &mut env,
        &tenant,
        &user,
        &new,
        current.expose(),
    )
    .await
    {
        Ok(u) => {
            // A password change after proving the current password remediates user risk.
            if let Err(e) = castellan_core::ops::identity_protection::remediate_password_change(
                s.store.as_ref(),
                &mut crate::crypto::OsEntropy,
                &tenant,
                &u,
                r.at,
            )
            .await
            {
                return fail(Fail::Unavailable(e.to_string()), &r.cid);
            }
            let st = Start {
                first: FirstFactor::NewPassword,
                credential: Ok(()),
                authn: Authn::password(r.at),
                interactive: true,
                consented: false,
                password: None,
                persistent: false,
                retry_after: None,
                guest_device: None,
            };
            run(&s, &a, &tenant, &u, st, &r, &headers).await
        }
        Err(castellan_core::DirectoryError::BadRequest(m)) => again(&m),
        Err(e) => fail(Fail::Unavailable(e.to_string()), &r.cid),
    }
}

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the SSO session; redirects to
/// `post_logout_redirect_uri` only if it is registered for the client named by `client_id` (or
/// by the `id_token_hint`'s audience).
pub async fn logout(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = if method == Method::POST {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        query.unwrap_or_default()
    };
    let p = params_of(&raw);
    let tenant = match resolve_tenant(s.store.as_ref(), &segment).await {
        Ok(TenantRef::Tenant(t)) => Some(*t),
        Ok(_) => None,
        Err(e) => return fail(Fail::Unavailable(e.to_string()), &cid),
    };
    let mut cleared = Vec::new();
    for (name, value) in cookies(&headers) {
        if !name.starts_with("castellan_sso_") {
            continue;
        }
        if let Some(t) = &tenant {
            if sso_cookie_name(t) != name {
                continue;
            }
        }
        if let Err(e) = ops::end_session(s.store.as_ref(), &value).await {
            return fail(Fail::Unavailable(format!("{e:?}")), &cid);
        }
        cleared.push(name);
    }
    let client = get(&p, "client_id").map(str::to_string).or_else(|| {
        get(&p, "id_token_hint").and_then(|t| {
            castellan_wire::jwt::check_size(t).ok()?;
            let payload = t.split('.').nth(1)?;
            let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
            let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            v["aud"].as_str().map(str::to_string)
        })
    });
    let mut resp = match get(&p, "post_logout_redirect_uri") {
        Some(uri) => {
            let app = match client.as_deref().and_then(AppId::parse) {
                Some(id) => castellan_core::ops::token::client_application(s.store.as_ref(), id)
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            let registered = app.is_some_and(|app| {
                app.web_redirect_uris
                    .iter()
                    .chain(&app.spa_redirect_uris)
                    .chain(&app.public_client_redirect_uris)
                    .any(|r| r == uri)
            });
            if registered {
                let target = Target {
                    redirect_uri: uri.to_string(),
                    mode: Mode::Query,
                    state: get(&p, "state").map(str::to_string),
                    saml: None,
                };
                if target.state.is_some() {
                    respond_to(&target, vec![])
                } else {
                    let mut r = StatusCode::FOUND.into_response();
                    if let Ok(v) = HeaderValue::from_str(uri) {
                        r.headers_mut().insert(header::LOCATION, v);
                    }
                    r
                }
            } else {
                pages::info(
                    "You signed out of your account",
                    &format!("You have been signed out. You were not sent back to '{uri}' because it is not a registered redirect URI of the application (pass client_id or id_token_hint, and register the URI). You can close this window."),
                )
            }
        }
        None => pages::info(
            "You signed out of your account",
            "You have been signed out. It's a good idea to close all browser windows.",
        ),
    };
    for name in cleared {
        set_cookie(
            &mut resp,
            &format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"),
        );
    }
    resp
}

async fn show_consent(
    s: &AppState,
    a: &Authz,
    tenant: &Tenant,
    need: &castellan_core::ops::consent::ConsentNeed,
    headers: &HeaderMap,
) -> Response {
    let publisher = match s.store.tenant(a.app.tenant_id).await {
        Ok(Some(t)) => t.initial_domain().to_string(),
        _ => "unknown publisher".into(),
    };
    let mut permissions: Vec<(String, String)> = need
        .missing
        .iter()
        .map(|p| {
            let d = p
                .user_consent_display_name
                .clone()
                .or_else(|| p.admin_consent_display_name.clone())
                .unwrap_or_else(|| p.value.clone());
            (p.value.clone(), d)
        })
        .collect();
    if permissions.is_empty() {
        permissions.push((
            "openid".into(),
            "Sign you in and read your basic profile".into(),
        ));
    }
    let (csrf, fresh) = csrf_token(headers);
    let hidden = [("ctx", a.raw.as_str()), ("csrf", csrf.as_str())];
    let r = pages::consent(&pages::Consent {
        action: &format!("/{}/oauth2/v2.0/authorize/consent", a.segment),
        app_name: &a.app.display_name,
        publisher: &publisher,
        permissions: &permissions,
        blocked: need.blocked.as_deref(),
        admin: need.is_admin,
        request_approval: need.blocked.is_some() && tenant.settings.admin_consent_workflow,
        hidden: &hidden,
    });
    with_csrf(r, &csrf, fresh)
}

/// `POST /{tenant}/oauth2/v2.0/authorize/consent`: accept (for me, or for the organization)
/// or decline.
pub async fn consent(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (f, a, r) = match posted_form(&s, &segment, cid, ip, &headers, &body).await {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let session = match current_session(&s, &headers, a.tenant.as_ref(), r.at).await {
        Ok(x) => x,
        Err(e) => return fail(Fail::Unavailable(e), &r.cid),
    };
    let Some((tenant, user, authn)) = session else {
        return show_login(
            &a,
            &headers,
            "",
            Some((
                50058,
                "Your session ended before you answered. Sign in again.",
            )),
        );
    };
    if get(&f, "decision") == Some("request") {
        let need = match castellan_core::ops::consent::need(
            s.store.as_ref(),
            &tenant,
            &a.app,
            &user,
            &a.scope,
            crate::state::now(),
        )
        .await
        {
            Ok(n) => n,
            Err(TokenError::Aadsts(e)) => {
                return fail(Fail::Redirect(clone_target(&a.target), e), &r.cid)
            }
            Err(TokenError::Store(e)) => return fail(Fail::Unavailable(e.to_string()), &r.cid),
        };
        let id = uuid::Uuid::new_v4().to_string();
        let reason = get(&f, "reason").unwrap_or("");
        return match castellan_core::ops::consent::request_approval(s.store.as_ref(), &tenant, &a.app, &user, &need, reason, &id, r.at).await {
            Ok(_) => pages::info(
                "Approval request sent",
                &format!("Your request to use {} was sent to your administrators. You will be able to sign in once an administrator approves it.", a.app.display_name),
            ),
            Err(TokenError::Aadsts(e)) => fail(Fail::Redirect(clone_target(&a.target), e), &r.cid),
            Err(TokenError::Store(e)) => fail(Fail::Unavailable(e.to_string()), &r.cid),
        };
    }
    if get(&f, "decision") != Some("accept") {
        let e = Code::ConsentDeclined
            .aadsts(&[("app_name", &a.app.display_name), ("app_id", &a.app.app_id)]);
        return fail(Fail::Redirect(clone_target(&a.target), e), &r.cid);
    }
    let need = match castellan_core::ops::consent::need(
        s.store.as_ref(),
        &tenant,
        &a.app,
        &user,
        &a.scope,
        crate::state::now(),
    )
    .await
    {
        Ok(n) => n,
        Err(TokenError::Aadsts(e)) => {
            return fail(Fail::Redirect(clone_target(&a.target), e), &r.cid)
        }
        Err(TokenError::Store(e)) => return fail(Fail::Unavailable(e.to_string()), &r.cid),
    };
    let mut entropy = crate::crypto::OsEntropy;
    let mut env = castellan_core::ops::Env {
        store: s.store.as_ref(),
        now: r.at,
        entropy: &mut entropy,
        hasher: &s.hasher,
        actor: castellan_core::audit::Actor::User {
            id: user.id,
            upn: user.user_principal_name.clone(),
        },
        correlation_id: r.cid.clone(),
    };
    let tenant_wide = get(&f, "tenant_wide") == Some("1");
    match castellan_core::ops::consent::grant(&mut env, &tenant, &a.app, &user, &need, tenant_wide)
        .await
    {
        Ok(()) => {
            let st = Start {
                first: FirstFactor::Session,
                credential: Ok(()),
                authn,
                interactive: true,
                consented: true,
                password: None,
                persistent: false,
                retry_after: None,
                guest_device: None,
            };
            run(&s, &a, &tenant, &user, st, &r, &headers).await
        }
        Err(castellan_core::DirectoryError::Forbidden(m)) => {
            let mut blocked = need.clone();
            blocked.blocked = Some(m);
            show_consent(&s, &a, &tenant, &blocked, &headers).await
        }
        Err(e) => fail(Fail::Unavailable(e.to_string()), &r.cid),
    }
}

async fn show_admin_consent(
    s: &AppState,
    a: &Authz,
    tenant: &Tenant,
    user: &User,
    headers: &HeaderMap,
) -> Response {
    use castellan_core::ops::consent as c;
    let plan = match c::admin_consent_plan(s.store.as_ref(), tenant, &a.app).await {
        Ok(p) => p,
        Err(_) => return fail(Fail::Unavailable("store".into()), ""),
    };
    let blocked =
        match c::consent_admin_refusal(s.store.as_ref(), tenant, user, &a.app, crate::state::now())
            .await
        {
            Ok(b) => b,
            Err(e) => return fail(Fail::Unavailable(e.to_string()), ""),
        };
    let mut permissions: Vec<(String, String)> = plan
        .iter()
        .map(|p| {
            let kind = match p.kind {
                castellan_core::model::PermissionKind::Scope => "delegated, for every user",
                castellan_core::model::PermissionKind::Role => "application permission",
            };
            (
                format!("{} — {} ({kind})", p.value, p.resource),
                p.description.clone(),
            )
        })
        .collect();
    if permissions.is_empty() {
        permissions.push(("openid".into(), "Sign users in".into()));
    }
    let publisher = match s.store.tenant(a.app.tenant_id).await {
        Ok(Some(t)) => t.initial_domain().to_string(),
        _ => "unknown publisher".into(),
    };
    let (csrf, fresh) = csrf_token(headers);
    let hidden = [("ctx", a.raw.as_str()), ("csrf", csrf.as_str())];
    let r = pages::consent(&pages::Consent {
        action: &format!("/{}/oauth2/v2.0/authorize/adminconsent", a.segment),
        app_name: &format!(
            "{} (consent on behalf of your organization)",
            a.app.display_name
        ),
        publisher: &publisher,
        permissions: &permissions,
        blocked: blocked.as_deref(),
        admin: false,
        request_approval: false,
        hidden: &hidden,
    });
    with_csrf(r, &csrf, fresh)
}

/// `GET /{tenant}/v2.0/adminconsent?client_id&redirect_uri&state[&scope]`: an administrator
/// grants every permission the application's `requiredResourceAccess` lists, for the whole
/// tenant; the browser returns to `redirect_uri?admin_consent=True&tenant={tid}&state=...`.
pub async fn adminconsent(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = params_of(&query.unwrap_or_default());
    let raw = {
        let mut ctx = url::form_urlencoded::Serializer::new(String::new());
        for k in ["client_id", "redirect_uri", "state"] {
            if let Some(v) = get(&p, k) {
                ctx.append_pair(k, v);
            }
        }
        ctx.append_pair("response_type", "code");
        ctx.append_pair("scope", "openid");
        ctx.append_pair("admin_consent", "1");
        ctx.finish()
    };
    let a = match validate(&s, &segment, &raw).await {
        Ok(a) => a,
        Err(f) => return fail(f, &cid),
    };
    let r = Req {
        cid,
        ip,
        user_agent: crate::http::user_agent(&headers),
        origin: s.origins.for_host(host(&headers)),
        at: now(),
    };
    match current_session(&s, &headers, a.tenant.as_ref(), r.at).await {
        Ok(Some((t, u, _))) => show_admin_consent(&s, &a, &t, &u, &headers).await,
        Ok(None) => show_login(&a, &headers, "", None),
        Err(e) => fail(Fail::Unavailable(e), &r.cid),
    }
}

/// `POST /{tenant}/oauth2/v2.0/authorize/adminconsent`: the administrator's answer.
pub async fn adminconsent_answer(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (f, a, r) = match posted_form(&s, &segment, cid, ip, &headers, &body).await {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let Ok(Some((tenant, user, _))) = current_session(&s, &headers, a.tenant.as_ref(), r.at).await
    else {
        return show_login(
            &a,
            &headers,
            "",
            Some((
                50058,
                "Your session ended before you answered. Sign in again.",
            )),
        );
    };
    if get(&f, "decision") != Some("accept") {
        let e = Code::AdminConsentDeclined.aadsts(&[]);
        return fail(Fail::Redirect(clone_target(&a.target), e), &r.cid);
    }
    let mut entropy = crate::crypto::OsEntropy;
    let mut env = castellan_core::ops::Env {
        store: s.store.as_ref(),
        now: r.at,
        entropy: &mut entropy,
        hasher: &s.hasher,
        actor: castellan_core::audit::Actor::User {
            id: user.id,
            upn: user.user_principal_name.clone(),
        },
        correlation_id: r.cid.clone(),
    };
    match castellan_core::ops::consent::admin_consent(&mut env, &tenant, &a.app, &user).await {
        Ok(_) => respond_to(
            &a.target,
            vec![
                ("admin_consent".into(), "True".into()),
                ("tenant".into(), tenant.id.to_string()),
            ],
        ),
        Err(castellan_core::DirectoryError::Forbidden(_)) => {
            show_admin_consent(&s, &a, &tenant, &user, &headers).await
        }
        Err(e) => fail(Fail::Unavailable(e.to_string()), &r.cid),
    }
}

/// `POST /{tenant}/oauth2/v2.0/authorize/mfa`: the answer to the MFA challenge. The user is the
/// browser's SSO session (started by the password step), never a value from the form.
pub async fn mfa(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (f, a, r) = match posted_form(&s, &segment, cid, ip, &headers, &body).await {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let session = match current_session(&s, &headers, None, r.at).await {
        Ok(Some(x)) => x,
        Ok(None) => {
            return pages::error(
                StatusCode::UNAUTHORIZED,
                50058,
                "Your sign-in session has ended; start the sign-in again.",
                &r.cid,
            )
        }
        Err(e) => return fail(Fail::Unavailable(e), &r.cid),
    };
    let (tenant, user, authn) = session;
    let code = get(&f, "otc").unwrap_or("").trim().to_string();
    let check = castellan_core::ops::auth_methods::verify_totp_for_user(
        s.store.as_ref(),
        s.keys.as_ref(),
        &tenant,
        user.id,
        &code,
        r.at,
    )
    .await;
    match check {
        Ok(castellan_core::ops::auth_methods::TotpCheck::Accepted) => {
            let authn = Authn {
                mfa_at: Some(r.at),
                ..authn
            };
            let st = Start {
                first: FirstFactor::MfaAnswer,
                credential: Ok(()),
                authn,
                interactive: true,
                consented: false,
                password: None,
                persistent: false,
                retry_after: None,
                guest_device: None,
            };
            run(&s, &a, &tenant, &user, st, &r, &headers).await
        }
        Ok(verdict) => {
            // Too many codes tried (per user, in the store): refused without looking at this
            // one, until the cool-down ends; otherwise the code was wrong or used.
            let locked = match verdict {
                castellan_core::ops::auth_methods::TotpCheck::Locked(l) => Some(l),
                _ => None,
            };
            let e = locked.as_ref().map_or_else(
                AadstsError::mfa_code_rejected,
                castellan_core::ops::auth_methods::locked_error,
            );
            let st = Start {
                first: FirstFactor::MfaAnswer,
                credential: Err(e),
                authn,
                interactive: true,
                consented: false,
                password: None,
                persistent: false,
                retry_after: locked.map(|l| l.retry_after_secs),
                guest_device: None,
            };
            run(&s, &a, &tenant, &user, st, &r, &headers).await
        }
        Err(e) => fail(Fail::Unavailable(e.to_string()), &r.cid),
    }
}
