//! The device authorization grant: `POST /{tenant}/oauth2/v2.0/devicecode` for the device, and
//! `/devicelogin` where a person enters the code and signs in (or declines).

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::error::AadstsError;
use castellan_core::flow::signin::{
    self, Assessment, CaFacts, Challenge, Decision, Facts, FirstFactor, Interrupt, Outcome, Record,
    Surface,
};
use castellan_core::flow::{device, scope, Authn};
use castellan_core::model::{Grant, GrantState, Tenant, User};
use castellan_core::ops::pipeline;
use castellan_core::ops::signin as ops;
use castellan_core::ops::token::TokenError;
use castellan_core::secret::SecretText;
use castellan_core::{ObjectId, Timestamp};
use castellan_wire::errors::{token_error_body, token_error_status};
use castellan_wire::form::Form;
use rand::RngCore;

use super::authorize::{csrf_failed, csrf_ok, csrf_token, with_csrf};
use super::pages;
use super::{resolve_tenant, TenantRef};
use crate::crypto::random_token;
use crate::http::{host, ClientIp, CorrelationId};
use crate::signin_log::Attempt;
use crate::state::{now, AppState};

fn token_error(e: &AadstsError, cid: &str) -> Response {
    let status = StatusCode::from_u16(token_error_status(e)).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (
        status,
        Json(token_error_body(
            e,
            &uuid::Uuid::new_v4().to_string(),
            cid,
            now(),
        )),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn unavailable(cid: &str) -> Response {
    let e = castellan_core::error::Code::StoreUnavailableDevice.aadsts(&[]);
    token_error(&e, cid)
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub async fn devicecode(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut pairs = match castellan_wire::form::parse_pairs(&body) {
        Ok(p) => p,
        Err(e) => return token_error(&e, &cid),
    };
    super::canonical_scope_params(&s, &mut pairs);
    let form = match Form::from_pairs(pairs) {
        Ok(f) => f,
        Err(e) => return token_error(&e, &cid),
    };
    let tenant = match resolve_tenant(s.store.as_ref(), &segment).await {
        Ok(TenantRef::Tenant(t)) => t,
        Ok(TenantRef::Alias(a)) => {
            return token_error(&AadstsError::grant_needs_tenant("device_code", a), &cid)
        }
        Ok(TenantRef::Unknown) => {
            return token_error(&AadstsError::tenant_not_found(&segment), &cid)
        }
        Err(_) => return unavailable(&cid),
    };
    let client_id = match form.require("client_id") {
        Ok(c) => c.to_string(),
        Err(e) => return token_error(&e, &cid),
    };
    let scope = match form.require("scope") {
        Ok(c) => c.to_string(),
        Err(e) => return token_error(&e, &cid),
    };
    let device_code = random_token(48);
    let mut bytes = [0u8; device::USER_CODE_LEN];
    rand::rng().fill_bytes(&mut bytes);
    let user_code = device::user_code(&bytes);
    match ops::start_device(
        s.store.as_ref(),
        &tenant,
        &client_id,
        &scope,
        &device_code,
        &user_code,
        now(),
    )
    .await
    {
        Ok(d) => {
            let origin = s.origins.for_host(host(&headers));
            let uri = format!("{origin}/devicelogin");
            let body = serde_json::json!({
                "user_code": d.user_code,
                "device_code": device_code,
                "verification_uri": uri,
                "expires_in": d.expires_in,
                "interval": d.interval,
                "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {} to authenticate.", d.user_code),
            });
            let mut r = Json(body).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(TokenError::Aadsts(e)) => token_error(&e, &cid),
        Err(TokenError::Store(_)) => unavailable(&cid),
    }
}

/// `GET /devicelogin`.
pub async fn page(headers: HeaderMap) -> Response {
    let (csrf, fresh) = csrf_token(&headers);
    with_csrf(
        pages::device_code("/devicelogin", &csrf, None, ""),
        &csrf,
        fresh,
    )
}

async fn app_name(s: &AppState, g: &Grant) -> String {
    let id = g.attr("client_id").and_then(castellan_core::AppId::parse);
    match id {
        Some(id) => castellan_core::ops::token::client_application(s.store.as_ref(), id)
            .await
            .ok()
            .flatten()
            .map_or_else(|| "an application".into(), |a| a.display_name),
        None => "an application".into(),
    }
}

/// How long the authenticator-code step may follow the password on the device-login page.
const MFA_STEP_SECS: i64 = 600;

/// Conditional Access's inputs at the device-login page, with the password just proved. A
/// load that fails is no policy: any refusal is the token endpoint's to answer (and log) at
/// the device's next poll.
async fn ca_facts(
    s: &AppState,
    tenant: &Tenant,
    g: &Grant,
    user: &User,
    ip: &str,
) -> castellan_core::flow::signin::CaFacts {
    let Ok(scopes) = scope::parse_delegated(g.attr("scope").unwrap_or("")) else {
        return crate::ca::nothing_for(user);
    };
    let Ok(resource) =
        castellan_core::ops::token::find_resource(s.store.as_ref(), tenant, &scopes.resource).await
    else {
        return crate::ca::nothing_for(user);
    };
    crate::ca::user_facts(s, tenant, user, ip, &resource.app_id.to_string())
        .await
        .unwrap_or_else(|_| crate::ca::nothing_for(user))
}

/// The sign-in pipeline at the device-login page (`surface: DeviceLogin`): `credential` is the
/// password's or the authenticator code's verdict. Returns the decision and the assessment.
#[allow(clippy::too_many_arguments)]
async fn pipeline(
    s: &AppState,
    tenant: &Tenant,
    g: &Grant,
    user: Option<&User>,
    first: FirstFactor,
    credential: Result<(), AadstsError>,
    password: Option<&SecretText>,
    attempt: &Attempt,
    cid: &str,
) -> Result<(Decision, Option<crate::idprot::Assessment>), Response> {
    let req = signin::Request {
        first,
        surface: Surface::DeviceLogin,
        authn: Authn::password(attempt.at),
        client_app_id: g.attr("client_id").unwrap_or(""),
        client_name: "",
        ip: &attempt.ip,
        now: attempt.at,
        step_up: false,
        force_consent: false,
        security_defaults: tenant.settings.security_defaults,
        carried_sign_in_risk: None,
    };
    let facts = Facts {
        credential: Some(credential),
        ..Facts::default()
    };
    let ran = match user {
        Some(user) => {
            let mut steps = DeviceLoginSteps {
                common: crate::signin_steps::Common {
                    s,
                    tenant,
                    user,
                    ip: &attempt.ip,
                    user_agent: &attempt.user_agent,
                    password,
                    at: attempt.at,
                    cid,
                    // The device-login page takes no device assertion (the device polls).
                    headers: None,
                    resource: None,
                    device: None,
                },
                grant: g,
            };
            pipeline::run(
                s.store.as_ref(),
                tenant,
                Some(user.id),
                &req,
                facts,
                &mut steps,
            )
            .await
        }
        None => pipeline::run(s.store.as_ref(), tenant, None, &req, facts, &mut NoUser).await,
    };
    match ran {
        Ok(r) => Ok((r.decision, r.risk)),
        Err(_) => Err(unavailable_page(cid)),
    }
}

/// The device-login page's steps: Identity Protection as everywhere; Conditional Access for
/// the resource the device asked for, where a failed load is no policy (any refusal is the
/// token endpoint's to answer, and log, at the device's next poll); the session, consent,
/// tokens and the device are the token endpoint's.
struct DeviceLoginSteps<'a> {
    common: crate::signin_steps::Common<'a>,
    grant: &'a Grant,
}

#[async_trait::async_trait]
impl pipeline::Steps for DeviceLoginSteps<'_> {
    async fn assess(&mut self, with_password: bool) -> Result<Assessment, pipeline::Halt> {
        self.common.assess(with_password).await
    }

    async fn conditional_access(&mut self) -> Result<CaFacts, pipeline::Halt> {
        let c = &self.common;
        Ok(ca_facts(c.s, c.tenant, self.grant, c.user, c.ip).await)
    }
}

/// A credential that named no user: the pipeline ends at it, so nothing is ever asked.
struct NoUser;

#[async_trait::async_trait]
impl pipeline::Steps for NoUser {
    async fn assess(&mut self, _: bool) -> Result<Assessment, pipeline::Halt> {
        Err(pipeline::Halt("Identity Protection without a user".into()))
    }

    async fn conditional_access(&mut self) -> Result<CaFacts, pipeline::Halt> {
        Err(pipeline::Halt("Conditional Access without a user".into()))
    }
}

/// Approves the device's sign-in for `user` and says so; logs the sign-in (with Identity
/// Protection's verdict, when this step assessed one).
#[allow(clippy::too_many_arguments)]
async fn approve(
    s: &AppState,
    g: &Grant,
    user: &User,
    authn: Authn,
    attempt: &Attempt,
    name: &str,
    cid: &str,
    risk: Option<castellan_core::model::SignInRiskInfo>,
) -> Response {
    match ops::decide_device(s.store.as_ref(), g, Some((user, authn))).await {
        Ok(true) => {
            log_user(s, attempt, user, name, None, risk, Some(&authn)).await;
            pages::info(
                "You're signed in",
                &format!(
                    "You have signed in to {name} on your device. You may now close this window."
                ),
            )
        }
        Ok(false) => pages::error(
            StatusCode::CONFLICT,
            90120,
            "That code was already used. Start again on your device to get a new code.",
            cid,
        ),
        Err(_) => pages::error(
            StatusCode::SERVICE_UNAVAILABLE,
            90055,
            "The service is temporarily unavailable.",
            cid,
        ),
    }
}

/// `POST /devicelogin`: the code, then the credentials (or a decline), then — when
/// Conditional Access asks for it — the authenticator app's code.
pub async fn submit(
    State(s): State<AppState>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = match castellan_wire::form::parse_pairs(&body) {
        Ok(f) => f,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, e.code, &e.message, &cid),
    };
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    if !csrf_ok(&headers, get("csrf")) {
        return csrf_failed(&cid);
    }
    let (csrf, fresh) = csrf_token(&headers);
    let typed = get("code").unwrap_or("").to_string();
    let at = now();
    let g = match ops::find_device(s.store.as_ref(), &typed, at).await {
        Ok(g) => g,
        Err(TokenError::Aadsts(e)) => {
            return with_csrf(
                pages::device_code("/devicelogin", &csrf, Some((e.code, &e.message)), &typed),
                &csrf,
                fresh,
            )
        }
        Err(TokenError::Store(_)) => {
            return pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                90055,
                "The service is temporarily unavailable. Try again shortly.",
                &cid,
            )
        }
    };
    let name = app_name(&s, &g).await;
    let code = device::normalise_user_code(&typed);
    let login = |username: &str, error: Option<(u32, &str)>| {
        let hidden = [("code", code.as_str()), ("csrf", csrf.as_str())];
        with_csrf(
            pages::login(&pages::Login {
                action: "/devicelogin",
                app_name: &name,
                username,
                error,
                hidden: &hidden,
                kmsi: false,
                decline: true,
            }),
            &csrf,
            fresh,
        )
    };
    if get("decline") == Some("1") {
        return match ops::decide_device(s.store.as_ref(), &g, None).await {
            Ok(_) => pages::info(
                "Sign-in declined",
                &format!(
                    "You declined to sign in to {name} on your device. You can close this window."
                ),
            ),
            Err(_) => pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                90055,
                "The service is temporarily unavailable.",
                &cid,
            ),
        };
    }
    // The authenticator-code step: the password was proved on this page moments ago (the
    // device grant remembers who and when); the code completes the sign-in with MFA.
    if let Some(otc) = get("otc") {
        let pending = g
            .attr("pw_user")
            .and_then(ObjectId::parse)
            .zip(g.attr_i64("pw_at").map(Timestamp))
            .filter(|(_, t)| at.millis() - t.millis() <= MFA_STEP_SECS * 1000);
        let Some((uid, pw_at)) = pending else {
            return login(
                "",
                Some((
                    50058,
                    "Your sign-in on this page expired before the authenticator code was entered. Sign in again.",
                )),
            );
        };
        let (tenant, user) = match s.store.tenant(g.tenant_id).await {
            Ok(Some(t)) => match s.store.user(t.id, uid).await {
                Ok(Some(u)) if u.account_enabled => (t, u),
                Ok(_) => return login("", None),
                Err(_) => return unavailable_page(&cid),
            },
            _ => return unavailable_page(&cid),
        };
        let attempt = device_attempt(&tenant, &g, &cid, &ip, &headers, at);
        let check = match castellan_core::ops::auth_methods::verify_totp_for_user(
            s.store.as_ref(),
            s.keys.as_ref(),
            &tenant,
            user.id,
            otc.trim(),
            at,
        )
        .await
        {
            Ok(c) => c,
            Err(_) => return unavailable_page(&cid),
        };
        // Too many codes tried for this user (any page, any node): refused without looking at
        // this one until the cool-down ends.
        let locked = match &check {
            castellan_core::ops::auth_methods::TotpCheck::Locked(l) => Some(*l),
            _ => None,
        };
        let credential = match check {
            castellan_core::ops::auth_methods::TotpCheck::Accepted => Ok(()),
            _ => Err(locked.as_ref().map_or_else(
                AadstsError::mfa_code_rejected,
                castellan_core::ops::auth_methods::locked_error,
            )),
        };
        let decision = match pipeline(
            &s,
            &tenant,
            &g,
            Some(&user),
            FirstFactor::MfaAnswer,
            credential,
            None,
            &attempt,
            &cid,
        )
        .await
        {
            Ok((d, _)) => d,
            Err(r) => return r,
        };
        return match decision.outcome {
            Outcome::Challenge(Challenge::Code { error: Some(e) }) => {
                log_user(&s, &attempt, &user, &name, Some(&e), None, None).await;
                let fields = [("code", code.as_str()), ("csrf", csrf.as_str())];
                let page = pages::mfa_challenge(
                    "/devicelogin",
                    &fields,
                    &name,
                    Some((e.code, &e.message)),
                );
                let page = match locked {
                    Some(l) => pages::too_many_attempts(page, l.retry_after_secs),
                    None => page,
                };
                with_csrf(page, &csrf, fresh)
            }
            _ => {
                let authn = Authn {
                    auth_time: pw_at,
                    mfa_at: Some(at),
                };
                approve(&s, &g, &user, authn, &attempt, &name, &cid, None).await
            }
        };
    }
    let Some(username) = get("username") else {
        return login("", None);
    };
    let password = SecretText::new(get("password").unwrap_or(""));
    let tenant = match s.store.tenant(g.tenant_id).await {
        Ok(Some(t)) => t,
        _ => {
            return pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                90055,
                "The service is temporarily unavailable.",
                &cid,
            )
        }
    };
    let outcome = match ops::check_password(
        s.store.as_ref(),
        &s.hasher,
        &tenant,
        username,
        &password,
        &ip,
        at,
    )
    .await
    {
        Ok(o) => o,
        Err(_) => {
            return pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                90055,
                "The service is temporarily unavailable.",
                &cid,
            )
        }
    };
    let attempt = device_attempt(&tenant, &g, &cid, &ip, &headers, at);
    let (result, user) = match (outcome.result, outcome.user) {
        (Ok(()), None) => {
            return login(
                username,
                Some((
                    50126,
                    "Error validating credentials due to invalid username or password.",
                )),
            )
        }
        (r, u) => (r, u),
    };
    let (decision, assessed) = match pipeline(
        &s,
        &tenant,
        &g,
        user.as_ref(),
        FirstFactor::Password,
        result,
        Some(&password),
        &attempt,
        &cid,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    if decision.failed_guess {
        if let Some(Record::Failure(e)) = Some(&decision.record) {
            if let Err(x) = castellan_core::ops::identity_protection::record_failure(
                s.store.as_ref(),
                &tenant,
                username,
                &attempt.ip,
                e.code,
                at,
            )
            .await
            {
                tracing::warn!(error = %x, "could not keep a failed sign-in for password-spray detection");
            }
        }
    }
    let Some(user) = user else {
        // Refused before any user was found (unknown account).
        return refused_login(&s, &attempt, username, None, &name, &decision, &login).await;
    };
    match decision.outcome {
        Outcome::Refuse(_) => {
            refused_login(
                &s,
                &attempt,
                username,
                Some(&user),
                &name,
                &decision,
                &login,
            )
            .await
        }
        Outcome::Interrupt(Interrupt::RegisterMfa { .. }) => {
            if let Record::Failure(e) = &decision.record {
                log_user(&s, &attempt, &user, &name, Some(e), decision.risk, None).await;
            }
            let origin = s.origins.for_host(host(&headers));
            pages::mfa_register(
                &format!("{origin}/{}/mfa/setup", tenant.id),
                "Your organization requires multifactor authentication, and you have no authenticator app registered yet.",
                &cid,
            )
        }
        Outcome::Challenge(_) => {
            // The device's token request carries this sign-in's risk (the poll has no
            // password); the code step remembers who proved the password, and when.
            let mut next = g.clone();
            if let Some(a) = &assessed {
                next.set("sign_in_risk", a.sign_in_risk.as_str());
            }
            next.set("pw_user", user.id.to_string());
            next.set("pw_at", at.millis().to_string());
            match s.store.update_grant(GrantState::Pending, &next).await {
                Ok(true) => {
                    let fields = [("code", code.as_str()), ("csrf", csrf.as_str())];
                    with_csrf(
                        pages::mfa_challenge("/devicelogin", &fields, &name, None),
                        &csrf,
                        fresh,
                    )
                }
                Ok(false) => pages::error(
                    StatusCode::CONFLICT,
                    90120,
                    "That code was already used. Start again on your device to get a new code.",
                    &cid,
                ),
                Err(_) => unavailable_page(&cid),
            }
        }
        _ => {
            let mut risky = g.clone();
            if let Some(a) = &assessed {
                risky.set("sign_in_risk", a.sign_in_risk.as_str());
            }
            let authn = Authn::password(at);
            approve(
                &s,
                &risky,
                &user,
                authn,
                &attempt,
                &name,
                &cid,
                decision.risk,
            )
            .await
        }
    }
}

/// A refused password at the device-login page: logged under the typed name, and the form
/// shown again with the error.
fn refused_login<F: Fn(&str, Option<(u32, &str)>) -> Response>(
    s: &AppState,
    attempt: &Attempt,
    username: &str,
    user: Option<&User>,
    name: &str,
    decision: &Decision,
    login: &F,
) -> impl std::future::Future<Output = Response> {
    let e = match &decision.record {
        Record::Failure(e) => e.clone(),
        _ => AadstsError::invalid_credentials(),
    };
    let mut rec = attempt.user(
        Some(username),
        user.map(|u| u.id),
        user.map(|u| u.display_name.as_str()),
        None,
        Some(&e),
    );
    rec.app_display_name = Some(name.to_string());
    let signins = s.signins.clone();
    let page = login(username, Some((e.code, &e.message)));
    async move {
        signins.record(rec).await;
        page
    }
}

/// Records the sign-in of `user` at the device-login page (`e`: why it failed).
async fn log_user(
    s: &AppState,
    attempt: &Attempt,
    user: &User,
    app_name: &str,
    e: Option<&AadstsError>,
    risk: Option<castellan_core::model::SignInRiskInfo>,
    authn: Option<&Authn>,
) {
    let mut rec = attempt.user(
        Some(&user.user_principal_name),
        Some(user.id),
        Some(&user.display_name),
        None,
        e,
    );
    if let Some(r) = risk {
        rec.risk = r;
    }
    if let Some(a) = authn {
        rec.note_authn(a);
    }
    rec.app_display_name = Some(app_name.to_string());
    s.signins.record(rec).await;
}

fn unavailable_page(cid: &str) -> Response {
    pages::error(
        StatusCode::SERVICE_UNAVAILABLE,
        90055,
        "The service is temporarily unavailable.",
        cid,
    )
}

fn device_attempt(
    tenant: &Tenant,
    g: &Grant,
    cid: &str,
    ip: &str,
    headers: &HeaderMap,
    at: Timestamp,
) -> Attempt {
    Attempt {
        tenant_id: tenant.id,
        correlation_id: cid.to_string(),
        ip: ip.to_string(),
        user_agent: crate::http::user_agent(headers),
        app_id: g.attr("client_id").unwrap_or("").to_string(),
        interactive: true,
        client_app_used: "Browser".into(),
        details: "devicelogin".into(),
        at,
    }
}
