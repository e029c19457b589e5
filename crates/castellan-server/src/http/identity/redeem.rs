//! B2B redemption pages: `GET /{tenant}/redeem?ticket=…` (the invitation's `inviteRedeemUrl`).
//! The invited person proves the invited address, then accepts the resource tenant's consent
//! page, and `ops::invitations::redeem` makes the guest `Accepted` (single use,
//! compare-and-set):
//! - **home tenant** (the address is a user of another tenant on this server): a sign-in at
//!   the home tenant's own `/authorize` (authorization code + PKCE as the first-party console
//!   client, redirect `/redeem/callback`), so the home tenant's pipeline applies — password,
//!   MFA, its Conditional Access, Identity Protection, sign-in log. The cross-tenant access
//!   settings are checked on the way back (`authorize::redemption_refusal`); a guest's
//!   sign-in hands the home sign-in's `amr` to the resumed pipeline (inbound MFA trust).
//! - **email one-time passcode** otherwise: a code sent through the SMTP relay
//!   (`ops::invitations::new_passcode`, hashed, 10 minutes, 3 tries).
//!
//! The browser is bound to its flight by an HttpOnly cookie; each flight lives 10 minutes in
//! this node's memory and is spent by its next step. Every refusal is a page naming cause and
//! fix; nothing changes before the final accept.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::catalog::CONSOLE_APP_ID;
use castellan_core::invitations::{home_issuer, Proof};
use castellan_core::model::Tenant;
use castellan_core::ops::invitations::{self as ops, PasscodeOutcome};
use castellan_core::{TenantId, Timestamp};

use crate::console::api::{self, Payload};
use crate::console::view::{Field, Form};
use crate::console::{Ctx, FormMap};
use crate::crypto::{random_token, OsEntropy};
use crate::state::{now, AppState};

/// The cookie binding a browser to its redemption flight.
pub const COOKIE: &str = "castellan_redeem";
/// The path the home tenant's sign-in returns to (registered on the console client).
pub const CALLBACK_PATH: &str = "/redeem/callback";

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/redeem", get(landing))
        .route("/{tenant}/redeem/passcode", post(send_passcode))
        .route("/{tenant}/redeem/passcode/verify", post(verify_passcode))
        .route("/redeem/start", post(start_home))
        .route(CALLBACK_PATH, get(callback))
        .route("/redeem/accept", post(accept))
        .layer(axum::middleware::map_response(
            crate::console::security_headers,
        ))
}

#[derive(Clone, Debug)]
enum Step {
    /// Signing in at the home tenant.
    Home {
        home: TenantId,
        state: String,
        nonce: String,
        verifier: String,
        redirect_uri: String,
    },
    /// A guest signing in to a resource tenant's app: proving itself at its home tenant.
    Guest {
        home: TenantId,
        guest: castellan_core::ObjectId,
        home_user: castellan_core::ObjectId,
        segment: String,
        ctx: String,
        state: String,
        nonce: String,
        verifier: String,
        redirect_uri: String,
    },
    /// Proven; waiting for the consent page's accept.
    Proven {
        proof: Proof,
        /// The home sign-in's authentication methods (`amr`), kept for inbound MFA trust.
        amr: Vec<String>,
        csrf: String,
    },
}

#[derive(Clone, Debug)]
pub struct Flight {
    resource: TenantId,
    secret: String,
    step: Step,
    created: Timestamp,
}

/// This node's redemption flights, by cookie value.
pub type Flights = super::flights::Flights<Flight>;

impl super::flights::Started for Flight {
    fn started(&self) -> Timestamp {
        self.created
    }
}

fn page(status: StatusCode, title: &str, kind: &str, text: &str, forms: Vec<Form>) -> Response {
    crate::console::form_page(status, title, kind, text, None, forms)
}

fn refused(text: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Invitation not accepted",
        "error",
        text,
        vec![],
    )
}

fn with_cookie(mut r: Response, key: &str) -> Response {
    let v = format!("{COOKIE}={key}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax");
    if let Ok(h) = v.parse() {
        r.headers_mut().append(header::SET_COOKIE, h);
    }
    r
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    crate::console::cookie(headers, COOKIE)
}

/// The resource tenant of a redemption URL, or the refusal page.
async fn resource_tenant(s: &AppState, t: &str) -> Result<Tenant, Response> {
    let found = match TenantId::parse(t) {
        Some(id) => s.store.tenant(id).await.ok().flatten(),
        None => None,
    };
    found.ok_or_else(|| refused(&castellan_core::invitations::RedeemRefusal::Unknown.message()))
}

fn env<'a>(s: &'a AppState, e: &'a mut OsEntropy, cid: &str) -> castellan_core::ops::Env<'a> {
    castellan_core::ops::Env {
        store: s.store.as_ref(),
        now: now(),
        entropy: e,
        hasher: &s.hasher,
        actor: castellan_core::audit::Actor::Operator,
        correlation_id: cid.to_string(),
    }
}

const UNAVAILABLE: &str =
    "The directory is unavailable right now; nothing was changed. Try the link again in a minute.";

/// `GET /{tenant}/redeem?ticket=…`: who invited whom, and how to prove the address.
async fn landing(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = match resource_tenant(&s, &tenant).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let secret = q.get("ticket").cloned().unwrap_or_default();
    let mut ent = OsEntropy;
    let e = env(&s, &mut ent, &ctx.origin.correlation_id);
    let (g, _) = match ops::peek(&e, &t, &secret).await {
        Ok(Ok(x)) => x,
        Ok(Err(r)) => return refused(&r.message()),
        Err(_) => return refused(UNAVAILABLE),
    };
    let email = g.attr("email").unwrap_or_default().to_string();
    let home = castellan_core::ops::signin::other_home_tenant(s.store.as_ref(), &t, &email)
        .await
        .ok()
        .flatten();
    let intro = format!(
        "{} invited {email} to access its applications as a guest.",
        t.display_name
    );
    let hidden = |n: &str, v: &str| Field::new("hidden", n, "").value(v);
    let external = super::external_idp::redeem_form(&s, &t, &email, &secret).await;
    let form = match (external, home) {
        (Some(f), _) => f,
        (None, Some(h)) => Form::post(
            "home",
            "/redeem/start",
            "Sign in with your organization's account",
            "Sign in",
            "",
        )
        .hint(format!(
            "{email} is an account of another organization on this service: sign in there to prove it is yours."
        ))
        .fields(vec![
            hidden("tenant", &t.id.to_string()),
            hidden("ticket", &secret),
            hidden("home", &h.to_string()),
        ]),
        (None, None) => Form::post(
            "passcode",
            format!("/{}/redeem/passcode", t.id),
            "Verify your email address",
            "Send code",
            "",
        )
        .hint(format!(
            "We will send a one-time code to {email}; enter it on the next page."
        ))
        .fields(vec![hidden("ticket", &secret)]),
    };
    page(
        StatusCode::OK,
        "Accept invitation",
        "info",
        &intro,
        vec![form],
    )
}

/// `POST /redeem/start`: the home tenant's sign-in (code + PKCE).
async fn start_home(State(s): State<AppState>, ctx: Ctx, form: FormMap) -> Response {
    let f = &form.0;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let t = match resource_tenant(&s, &get("tenant")).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let secret = get("ticket");
    let mut ent = OsEntropy;
    let e = env(&s, &mut ent, &ctx.origin.correlation_id);
    let g = match ops::peek(&e, &t, &secret).await {
        Ok(Ok((g, _))) => g,
        Ok(Err(r)) => return refused(&r.message()),
        Err(_) => return refused(UNAVAILABLE),
    };
    let email = g.attr("email").unwrap_or_default().to_string();
    let Ok(Some(home)) =
        castellan_core::ops::signin::other_home_tenant(s.store.as_ref(), &t, &email).await
    else {
        return refused("The invited address is not an account of another organization on this service; open the invitation link again to verify it by email.");
    };
    let h = HomeRequest::new(&ctx.base);
    let to = h.url(home, &email);
    let key = random_token(32);
    s.redemptions.put(
        &key,
        Flight {
            resource: t.id,
            secret,
            step: Step::Home {
                home,
                state: h.state,
                nonce: h.nonce,
                verifier: h.verifier,
                redirect_uri: h.redirect_uri,
            },
            created: now(),
        },
    );
    with_cookie(Redirect::to(&to).into_response(), &key)
}

/// One sign-in at a home tenant: code + PKCE (S256) as the console client.
struct HomeRequest {
    state: String,
    nonce: String,
    verifier: String,
    redirect_uri: String,
}

impl HomeRequest {
    fn new(base: &str) -> Self {
        Self {
            state: random_token(16),
            nonce: random_token(16),
            verifier: random_token(32),
            redirect_uri: format!("{base}{CALLBACK_PATH}"),
        }
    }
    fn url(&self, home: TenantId, login_hint: &str) -> String {
        let challenge =
            URL_SAFE_NO_PAD.encode(castellan_core::secret::sha256(self.verifier.as_bytes()));
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &CONSOLE_APP_ID.to_string())
            .append_pair("response_type", "code")
            .append_pair("response_mode", "query")
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", "openid profile email")
            .append_pair("state", &self.state)
            .append_pair("nonce", &self.nonce)
            .append_pair("login_hint", login_hint)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("/{home}/oauth2/v2.0/authorize?{q}")
    }
}

/// The users an address may name, by an indexed lookup, never a scan of the tenant (home-realm
/// discovery runs it for every unknown username): the guest UPN an invitation made from the
/// address, else the users whose mail it is. `None`: the store or the index did not answer.
pub(super) async fn users_by_address(
    s: &AppState,
    tenant: &Tenant,
    address: &str,
) -> Option<Vec<castellan_core::model::User>> {
    let upn = castellan_core::invitations::guest_upn(address, tenant.initial_domain());
    let mut candidates: Vec<castellan_core::model::User> = s
        .store
        .user_by_upn(tenant.id, &upn)
        .await
        .ok()?
        .into_iter()
        .collect();
    if candidates.is_empty() {
        let filter = format!("mail eq '{}'", address.replace('\'', "''"));
        let q = castellan_wire::odata::Query::parse(
            &[("$filter".to_string(), filter)],
            &crate::http::graph::users::spec(),
        )
        .ok()?;
        let table = s.lists.users(s.store.as_ref(), tenant.id).await.ok()?;
        for v in table.query(&q).ok()?.items {
            if let Some(id) = v["id"].as_str().and_then(castellan_core::ObjectId::parse) {
                candidates.extend(s.store.user(tenant.id, id).await.ok()?);
            }
        }
    }
    Some(candidates)
}

/// Home-realm discovery at a resource tenant's sign-in page: when `username` is the address
/// of an accepted guest whose home is another tenant of this server, the browser goes to
/// that tenant's sign-in; its answer at `/redeem/callback` resumes this sign-in
/// (`authorize::resume_guest`). `None`: not such a guest, sign in as usual.
pub(super) async fn guest_home_sign_in(
    s: &AppState,
    tenant: &Tenant,
    username: &str,
    segment: &str,
    ctx_raw: &str,
    base: &str,
) -> Option<Response> {
    if s.store
        .user_by_upn(tenant.id, username)
        .await
        .ok()?
        .is_some()
    {
        return None;
    }
    let address = username.to_lowercase();
    let candidates = users_by_address(s, tenant, &address).await?;
    let guest = candidates.iter().find(|u| {
        u.external.as_ref().is_some_and(|e| {
            e.state == castellan_core::model::ExternalUserState::Accepted && e.home_tenant.is_some()
        }) && castellan_core::invitations::holds_address(u, &address)
    })?;
    let ext = guest.external.as_ref()?;
    let h = HomeRequest::new(base);
    let to = h.url(ext.home_tenant?, username);
    let key = random_token(32);
    s.redemptions.put(
        &key,
        Flight {
            resource: tenant.id,
            secret: String::new(),
            step: Step::Guest {
                home: ext.home_tenant?,
                guest: guest.id,
                home_user: ext.home_object_id?,
                segment: segment.to_string(),
                ctx: ctx_raw.to_string(),
                state: h.state,
                nonce: h.nonce,
                verifier: h.verifier,
                redirect_uri: h.redirect_uri,
            },
            created: now(),
        },
    );
    Some(with_cookie(Redirect::to(&to).into_response(), &key))
}

/// Logs a guest sign-in that its home tenant did not complete in the resource tenant's sign-in
/// log (AADSTS90072 with the page's sentence; see `authorize::log_guest_refusal`).
#[allow(clippy::too_many_arguments)]
async fn log_home_refusal(
    s: &AppState,
    resource: castellan_core::TenantId,
    guest: castellan_core::ObjectId,
    segment: &str,
    raw: &str,
    why: &str,
    ctx: &Ctx,
    ip: &str,
    headers: &HeaderMap,
) {
    if let (Ok(Some(t)), Ok(Some(g))) = (
        s.store.tenant(resource).await,
        s.store.user(resource, guest).await,
    ) {
        let e = castellan_core::error::AadstsError::guest_home_sign_in_failed(why);
        super::authorize::log_guest_refusal(
            s,
            segment,
            raw,
            &t,
            &g,
            &e,
            ctx.origin.correlation_id.clone(),
            ip.to_string(),
            headers,
        )
        .await;
    }
}

/// `GET /redeem/callback?code=…&state=…`: the home sign-in's answer (a redemption's, or a
/// guest's sign-in to a resource tenant's app).
async fn callback(
    State(s): State<AppState>,
    ctx: Ctx,
    axum::Extension(crate::http::ClientIp(ip)): axum::Extension<crate::http::ClientIp>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let key = cookie(&headers).unwrap_or_default();
    let Some(f) = s.redemptions.take(&key) else {
        return refused("This sign-in does not belong to a redemption started in this browser, was used already, or took longer than 10 minutes. Open the invitation link again.");
    };
    let (home, state, nonce, verifier, redirect_uri, guest) = match f.step.clone() {
        Step::Home {
            home,
            state,
            nonce,
            verifier,
            redirect_uri,
        } => (home, state, nonce, verifier, redirect_uri, None),
        Step::Guest {
            home,
            guest,
            home_user,
            segment,
            ctx,
            state,
            nonce,
            verifier,
            redirect_uri,
        } => (
            home,
            state,
            nonce,
            verifier,
            redirect_uri,
            Some((guest, home_user, segment, ctx)),
        ),
        Step::Proven { .. } => return refused("Open the invitation link again."),
    };
    // A guest's sign-in stopping here is also a row in the resource tenant's sign-in log.
    let resource = f.resource;
    macro_rules! stop {
        ($msg:expr) => {{
            let msg: String = $msg.into();
            if let Some((gid, _, segment, raw)) = &guest {
                log_home_refusal(&s, resource, *gid, segment, raw, &msg, &ctx, &ip, &headers).await;
            }
            return refused(&msg);
        }};
    }
    if q.get("state") != Some(&state) {
        stop!("This sign-in response does not match the redemption started in this browser. Open the invitation link again.");
    }
    if let Some(err) = q.get("error") {
        let d = q.get("error_description").map_or("", String::as_str);
        stop!(format!(
            "The sign-in at your organization was not completed ({err}): {d}"
        ));
    }
    let code = q.get("code").cloned().unwrap_or_default();
    let form = vec![
        ("grant_type".into(), "authorization_code".into()),
        ("client_id".into(), CONSOLE_APP_ID.to_string()),
        ("code".into(), code),
        ("redirect_uri".into(), redirect_uri),
        ("code_verifier".into(), verifier),
        ("scope".into(), "openid profile email".into()),
    ];
    let a = api::call(
        &s,
        &ctx.origin,
        Method::POST,
        &format!("/{home}/oauth2/v2.0/token"),
        None,
        Payload::Form(form),
    )
    .await;
    let Some(c) = a.body["id_token"].as_str().and_then(api::claims) else {
        stop!(format!(
            "Your organization's token endpoint refused the sign-in: {}",
            a.message()
        ));
    };
    if c["nonce"].as_str() != Some(nonce.as_str())
        || c["tid"].as_str() != Some(home.to_string().as_str())
    {
        stop!("The sign-in's ID token is not the one this redemption asked for; open the invitation link again.");
    }
    let Some(oid) = c["oid"].as_str().and_then(castellan_core::ObjectId::parse) else {
        stop!("The sign-in's ID token names no user; open the invitation link again.");
    };
    let amr: Vec<String> = c["amr"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some((guest, home_user, segment, raw)) = guest.clone() {
        if oid != home_user {
            stop!("You signed in at your organization with another account than the one this guest account belongs to. Sign in again with the right account.");
        }
        let Ok(Some(t)) = s.store.tenant(f.resource).await else {
            return refused(UNAVAILABLE);
        };
        let Ok(Some(g)) = s.store.user(t.id, guest).await else {
            return refused("Your guest account in this organization no longer exists. Ask for a new invitation.");
        };
        // The device the home sign-in proved (`deviceid`), as the home tenant records it.
        let home_device = match c["deviceid"]
            .as_str()
            .and_then(|d| uuid::Uuid::parse_str(d).ok())
        {
            Some(d) => match s.store.device_by_device_id(home, d).await {
                Ok(x) => x,
                Err(_) => return refused(UNAVAILABLE),
            },
            None => None,
        };
        return super::authorize::resume_guest(
            &s,
            &segment,
            &raw,
            &t,
            &g,
            &amr,
            home_device.as_ref(),
            ctx.origin.correlation_id.clone(),
            ip,
            &headers,
        )
        .await;
    }
    let Ok(Some(u)) = s.store.user(home, oid).await else {
        return refused(UNAVAILABLE);
    };
    // Cross-tenant access settings (the home tenant's outbound, this tenant's inbound).
    let (cid, at) = (&ctx.origin.correlation_id, (f.resource, f.secret.as_str()));
    match super::authorize::redemption_refusal(&s, at, home, oid, cid, &ip, &headers).await {
        Ok(None) => {}
        Ok(Some(e)) => return refused(&format!("AADSTS{}: {}", e.code, e.message)),
        Err(_) => return refused(UNAVAILABLE),
    }
    let proof = Proof::HomeTenant {
        tenant: home,
        user: oid,
        email: u.user_principal_name.clone(),
        issuer: home_issuer(home),
    };
    consent_page(&s, &key, f, proof, amr).await
}

/// The consent page for a redemption proven elsewhere (an external OpenID Connect provider,
/// `external_idp`): a new flight in this browser, then [`accept`] as for the other proofs.
pub(super) async fn proven(
    s: &AppState,
    resource: TenantId,
    secret: String,
    proof: Proof,
    amr: Vec<String>,
) -> Response {
    let key = random_token(32);
    let f = Flight {
        resource,
        secret,
        step: Step::Home {
            home: resource,
            state: String::new(),
            nonce: String::new(),
            verifier: String::new(),
            redirect_uri: String::new(),
        },
        created: now(),
    };
    consent_page(s, &key, f, proof, amr).await
}

async fn consent_page(
    s: &AppState,
    key: &str,
    f: Flight,
    proof: Proof,
    amr: Vec<String>,
) -> Response {
    let Ok(Some(t)) = s.store.tenant(f.resource).await else {
        return refused(UNAVAILABLE);
    };
    let csrf = random_token(16);
    let text = format!(
        "Review permissions: {} will be able to sign you in as a guest ({}) and read your name and email address. Accept only if you trust {}.",
        t.display_name,
        proof.email(),
        t.display_name
    );
    let form = Form::post(
        "accept",
        "/redeem/accept",
        "Accept the invitation",
        "Accept",
        &csrf,
    );
    s.redemptions.put(
        key,
        Flight {
            step: Step::Proven { proof, amr, csrf },
            created: now(),
            ..f
        },
    );
    with_cookie(
        page(
            StatusCode::OK,
            "Review permissions",
            "info",
            &text,
            vec![form],
        ),
        key,
    )
}

/// `POST /redeem/accept`: the guest accepts; the invitation is redeemed.
async fn accept(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    form: FormMap,
) -> Response {
    let key = cookie(&headers).unwrap_or_default();
    let Some(f) = s.redemptions.take(&key) else {
        return refused("This acceptance does not belong to a redemption in this browser, was sent already, or took longer than 10 minutes. Open the invitation link again.");
    };
    let Step::Proven { proof, amr, csrf } = &f.step else {
        return refused("Open the invitation link again.");
    };
    if form.0.get("csrf") != Some(csrf) {
        return refused("This form is stale (its protection token does not match). Open the invitation link again.");
    }
    let Ok(Some(t)) = s.store.tenant(f.resource).await else {
        return refused(UNAVAILABLE);
    };
    let mut ent = OsEntropy;
    let mut e = env(&s, &mut ent, &ctx.origin.correlation_id);
    match ops::redeem(&mut e, &t, &f.secret, proof).await {
        Ok(Ok((_, redirect))) => {
            tracing::info!(tenant = %t.id, amr = ?amr, "B2B invitation redeemed");
            if redirect.is_empty() {
                page(
                    StatusCode::OK,
                    "Invitation accepted",
                    "info",
                    &format!("You are now a guest of {}.", t.display_name),
                    vec![],
                )
            } else {
                Redirect::to(&redirect).into_response()
            }
        }
        Ok(Err(r)) => refused(&r.message()),
        Err(_) => refused(UNAVAILABLE),
    }
}

/// `POST /{tenant}/redeem/passcode`: sends a one-time code to the invited address.
async fn send_passcode(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    form: FormMap,
) -> Response {
    let t = match resource_tenant(&s, &tenant).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(relay) = s.smtp.clone() else {
        return page(StatusCode::SERVICE_UNAVAILABLE, "Cannot send a code", "error", "This service has no mail relay configured, so it cannot send you a code. Ask the person who invited you to contact the administrator (the server needs --smtp-relay).", vec![]);
    };
    let secret = form.0.get("ticket").cloned().unwrap_or_default();
    let mut ent = OsEntropy;
    let mut e = env(&s, &mut ent, &ctx.origin.correlation_id);
    let (code, to) = match ops::new_passcode(&mut e, &t, &secret).await {
        Ok(Ok(x)) => x,
        Ok(Err(r)) => return refused(&r.message()),
        Err(_) => return refused(UNAVAILABLE),
    };
    let (subject, body) = castellan_wire::mail::passcode_text(
        &t.display_name,
        &code,
        castellan_core::invitations::PASSCODE_MINUTES,
    );
    let m = castellan_wire::mail::Message {
        from: relay.from.clone(),
        to: vec![to.clone()],
        cc: vec![],
        subject,
        body,
        date: chrono::Utc::now().to_rfc2822(),
        message_id: format!("{}@castellan", uuid::Uuid::new_v4()),
    };
    if let Err(why) = relay.send(&m).await {
        tracing::warn!(tenant = %t.id, "passcode not delivered: {why}");
        return page(
            StatusCode::BAD_GATEWAY,
            "Cannot send a code",
            "error",
            &format!("The code could not be sent to {to}: the mail relay failed. Try again later."),
            vec![],
        );
    }
    passcode_form(
        &t,
        &secret,
        &format!(
            "We sent a code to {to}. It expires in {} minutes.",
            castellan_core::invitations::PASSCODE_MINUTES
        ),
        StatusCode::OK,
    )
}

fn passcode_form(t: &Tenant, secret: &str, text: &str, status: StatusCode) -> Response {
    let form = Form::post(
        "verify",
        format!("/{}/redeem/passcode/verify", t.id),
        "Enter code",
        "Verify",
        "",
    )
    .fields(vec![
        Field::new("hidden", "ticket", "").value(secret),
        Field::new("text", "code", "Code").required(),
    ]);
    page(status, "Verify your email", "info", text, vec![form])
}

/// `POST /{tenant}/redeem/passcode/verify`: checks the code, then the consent page.
async fn verify_passcode(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    form: FormMap,
) -> Response {
    let t = match resource_tenant(&s, &tenant).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let secret = form.0.get("ticket").cloned().unwrap_or_default();
    let code = form.0.get("code").cloned().unwrap_or_default();
    let mut ent = OsEntropy;
    let mut e = env(&s, &mut ent, &ctx.origin.correlation_id);
    match ops::check_passcode(&mut e, &t, &secret, &code).await {
        Ok(Ok(PasscodeOutcome::Proven(proof))) => {
            let key = random_token(32);
            let f = Flight {
                resource: t.id,
                secret,
                step: Step::Home {
                    home: t.id,
                    state: String::new(),
                    nonce: String::new(),
                    verifier: String::new(),
                    redirect_uri: String::new(),
                },
                created: now(),
            };
            consent_page(&s, &key, f, proof, vec!["otp".into()]).await
        }
        Ok(Ok(PasscodeOutcome::Wrong(left))) if left > 0 => passcode_form(
            &t,
            &secret,
            &format!("That code is not right. {left} tries left."),
            StatusCode::BAD_REQUEST,
        ),
        Ok(Ok(_)) => refused("No valid code: it expired, was used, or was typed wrong too often. Open the invitation link again and send a new code."),
        Ok(Err(r)) => refused(&r.message()),
        Err(_) => refused(UNAVAILABLE),
    }
}
