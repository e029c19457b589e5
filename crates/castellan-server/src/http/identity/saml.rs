//! `/{tenant}/saml2` (SAML 2.0 single sign-on and single logout, HTTP-Redirect and HTTP-POST
//! bindings, IdP-initiated sign-on with `?appid=`) and the app federation metadata
//! `/{tenant}/federationmetadata/2007-06/federationmetadata.xml?appid=…`.
//!
//! An AuthnRequest is bounded and parsed (`wire::saml`), its service principal found by its
//! Issuer, its signature checked (query-string signature or enveloped XML signature, with the
//! app's verification certificates), its rules applied (`flow::saml::check`) and its `ID`
//! remembered (a second use is refused). What the response needs is then sealed with the
//! master key into the `ctx` the sign-in pages carry, and the sign-in runs the same pipeline as
//! `/authorize` (`authorize::run`: Identity Protection, session, Conditional Access, MFA,
//! interrupts, the sign-in log); at `Issue` the signed SAML response is posted to the reply URL.

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::error::{AadstsError, Code};
use castellan_core::flow::authorize_request::{self as rules, ResponseMode as Mode};
use castellan_core::flow::redirect::Platform;
use castellan_core::flow::saml::{self as flow, Signature};
use castellan_core::flow::signin::FirstFactor;
use castellan_core::flow::Authn;
use castellan_core::model::{
    Application, Grant, GrantKind, GrantState, ServicePrincipal, Tenant, User,
};
use castellan_core::store::StoreError;
use castellan_core::{AppId, ObjectId, Timestamp};
use castellan_wire::saml as wire;
use rustls::pki_types::CertificateDer;

use super::authorize::{self, Authz, Fail, Req, Start, Target};
use super::pages;
use super::{resolve_tenant, TenantRef};
use crate::http::{host, ClientIp, CorrelationId};
use crate::state::{now, AppState};

/// The carried sign-in form field starts with this (then the sealed context).
pub(super) const CTX_PREFIX: &str = "saml_ctx=";

/// A SAML sign-in in progress: what the response needs, sealed into the pages' `ctx`.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    tenant: castellan_core::TenantId,
    app_id: AppId,
    sp_id: ObjectId,
    acs: String,
    request_id: Option<String>,
    audience: String,
    name_id_format: String,
    relay_state: Option<String>,
    force_authn: bool,
    is_passive: bool,
    expires: Timestamp,
}

impl Ctx {
    fn to_plain(&self) -> String {
        let mut f = url::form_urlencoded::Serializer::new(String::new());
        f.append_pair("v", "1")
            .append_pair("t", &self.tenant.to_string())
            .append_pair("a", &self.app_id.to_string())
            .append_pair("s", &self.sp_id.to_string())
            .append_pair("acs", &self.acs)
            .append_pair("aud", &self.audience)
            .append_pair("fmt", &self.name_id_format)
            .append_pair("f", if self.force_authn { "1" } else { "0" })
            .append_pair("p", if self.is_passive { "1" } else { "0" })
            .append_pair("exp", &self.expires.millis().to_string());
        if let Some(r) = &self.request_id {
            f.append_pair("req", r);
        }
        if let Some(r) = &self.relay_state {
            f.append_pair("rs", r);
        }
        f.finish()
    }

    fn from_plain(plain: &str) -> Option<Self> {
        let p: Vec<(String, String)> = url::form_urlencoded::parse(plain.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("v").as_deref() != Some("1") {
            return None;
        }
        Some(Self {
            tenant: castellan_core::TenantId::parse(&get("t")?)?,
            app_id: AppId::parse(&get("a")?)?,
            sp_id: ObjectId::parse(&get("s")?)?,
            acs: get("acs")?,
            request_id: get("req"),
            audience: get("aud")?,
            name_id_format: get("fmt")?,
            relay_state: get("rs"),
            force_authn: get("f").as_deref() == Some("1"),
            is_passive: get("p").as_deref() == Some("1"),
            expires: Timestamp(get("exp")?.parse().ok()?),
        })
    }
}

fn seal(s: &AppState, ctx: &Ctx) -> Result<String, String> {
    s.keys
        .seal_purpose(b"castellan-saml-ctx", ctx.to_plain().as_bytes())
        .map(|b| URL_SAFE_NO_PAD.encode(b))
}

fn authz(segment: &str, tenant: Tenant, app: Application, ctx: Ctx, sealed: &str) -> Authz {
    let prompt = if ctx.is_passive {
        Some("none".to_string())
    } else if ctx.force_authn {
        Some("login".to_string())
    } else {
        None
    };
    Authz {
        raw: format!("{CTX_PREFIX}{sealed}"),
        segment: segment.to_string(),
        tenant: Some(tenant),
        app,
        platform: Platform::Web,
        target: Target {
            redirect_uri: ctx.acs.clone(),
            mode: Mode::FormPost,
            state: ctx.relay_state.clone(),
            saml: Some(Box::new(ctx)),
        },
        code: false,
        id_token: false,
        scope: String::new(),
        nonce: None,
        prompt,
        login_hint: None,
        max_age: None,
        code_challenge: None,
        admin_consent: false,
        step_up: false,
    }
}

/// Reopens the sealed context a sign-in page posted back (login, MFA, password change).
pub(super) async fn reopen(s: &AppState, segment: &str, sealed: &str) -> Result<Authz, Fail> {
    let expired = || {
        Fail::Page(
            StatusCode::BAD_REQUEST,
            Code::SamlContextExpired.aadsts(&[("minutes", &(flow::SIGNIN_LIFETIME_SECS / 60))]),
        )
    };
    let plain = URL_SAFE_NO_PAD
        .decode(sealed.trim())
        .ok()
        .and_then(|b| s.keys.open_purpose(b"castellan-saml-ctx", &b).ok())
        .and_then(|p| String::from_utf8(p).ok())
        .ok_or_else(expired)?;
    let ctx = Ctx::from_plain(&plain).ok_or_else(expired)?;
    if ctx.expires <= now() {
        return Err(expired());
    }
    let tenant = s
        .store
        .tenant(ctx.tenant)
        .await
        .map_err(|e| Fail::Unavailable(e.to_string()))?
        .ok_or_else(expired)?;
    let app = castellan_core::ops::token::client_application(s.store.as_ref(), ctx.app_id)
        .await
        .map_err(|e| Fail::Unavailable(e.to_string()))?
        .ok_or_else(expired)?;
    Ok(authz(segment, tenant, app, ctx, sealed.trim()))
}

/// What the response needs besides the request: the service principal (its certificate, NameID
/// and claims configuration).
pub(super) struct Prepared {
    sp: ServicePrincipal,
}

/// The SAML "tokens" step of the pipeline: the service principal still exists and is enabled,
/// the user is assigned when assignment is required, and a signing certificate exists.
pub(super) async fn prepare(
    s: &AppState,
    tenant: &Tenant,
    app: &Application,
    user: &User,
    ctx: &Ctx,
) -> Result<Result<Prepared, AadstsError>, String> {
    let sp = match s.store.service_principal(tenant.id, ctx.sp_id).await {
        Ok(Some(sp)) if sp.account_enabled => sp,
        Ok(_) => {
            return Ok(Err(AadstsError::client_not_found(
                &ctx.app_id.to_string(),
                &tenant.id.to_string(),
            )))
        }
        Err(e) => return Err(e.to_string()),
    };
    let assignments =
        castellan_core::ops::token::user_assignments(s.store.as_ref(), tenant, user.id, now())
            .await
            .map_err(|e| e.to_string())?;
    if let Err(e) = flow::assignment(&sp, app, user, &assignments) {
        return Ok(Err(e));
    }
    if sp.saml.signing_certificate(now()).is_none() {
        return Ok(Err(
            Code::SamlNoSigningKey.aadsts(&[("app_id", &sp.app_id), ("sp_id", &sp.id)])
        ));
    }
    Ok(Ok(Prepared { sp }))
}

fn issuer(tenant: &Tenant) -> String {
    format!("https://sts.windows.net/{}/", tenant.id)
}

fn fresh_id() -> String {
    format!("_{}", uuid::Uuid::new_v4())
}

fn post_form(acs: &str, param: &str, xml: &str, relay: Option<&str>) -> Response {
    let mut fields = vec![(param.to_string(), wire::encode_post(xml))];
    if let Some(r) = relay {
        fields.push(("RelayState".into(), r.to_string()));
    }
    let mut r = pages::form_post(acs, &fields);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Builds, signs and posts the SAML response (the assertion, the response or both signed, by
/// the app's signing option; RSA-SHA256, exclusive C14N).
pub(super) fn issue(
    s: &AppState,
    tenant: &Tenant,
    ctx: &Ctx,
    prep: &Prepared,
    user: &User,
    authn: Authn,
    r: &Req,
) -> Result<Response, String> {
    let sp = &prep.sp;
    let cert = sp
        .saml
        .signing_certificate(r.at)
        .ok_or_else(|| "no SAML signing certificate".to_string())?;
    let sign = |m: &[u8]| s.keys.saml_sign(cert, m);
    let iss = issuer(tenant);
    let attributes = flow::attributes(user, sp, &iss, authn.mfa_at.is_some());
    let name_id = flow::name_id(
        &ctx.name_id_format,
        user,
        sp,
        &uuid::Uuid::new_v4().simple().to_string(),
    );
    let assertion_id = fresh_id();
    let validity = flow::validity(r.at);
    let xml = wire::assertion(&wire::AssertionInput {
        id: &assertion_id,
        issuer: &iss,
        now: r.at,
        name_id: (&ctx.name_id_format, &name_id),
        in_response_to: ctx.request_id.as_deref(),
        recipient: &ctx.acs,
        validity,
        audience: &ctx.audience,
        attributes: &attributes,
        authn_instant: authn.auth_time,
        session_index: &assertion_id,
        authn_context: "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
    });
    let (sign_assertion, sign_response) = sp.saml.signs();
    let signed = if sign_assertion {
        wire::sign_enveloped(&xml, &assertion_id, &cert.cert_der, &sign)?
    } else {
        xml
    };
    let response_id = fresh_id();
    let resp = wire::response(
        &response_id,
        &iss,
        r.at,
        &ctx.acs,
        ctx.request_id.as_deref(),
        None,
        &signed,
    );
    let resp = if sign_response {
        wire::sign_enveloped(&resp, &response_id, &cert.cert_der, &sign)?
    } else {
        resp
    };
    Ok(post_form(
        &ctx.acs,
        "SAMLResponse",
        &resp,
        ctx.relay_state.as_deref(),
    ))
}

fn status_message(e: &AadstsError, cid: &str) -> String {
    format!(
        "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {cid}\r\nTimestamp: {}",
        e.code,
        e.message,
        uuid::Uuid::new_v4(),
        castellan_wire::time::sts_timestamp(now())
    )
}

/// A refusal after the reply URL was trusted: a `samlp:Response` with a Requester status
/// (NoPassive for a passive request nobody is signed in for) and the AADSTS message, posted to
/// the reply URL.
pub(super) fn error_response(t: &Target, e: &AadstsError, cid: &str) -> Response {
    let Some(ctx) = t.saml.as_deref() else {
        return pages::error(StatusCode::BAD_REQUEST, e.code, &e.message, cid);
    };
    let sub = if e.code == 50058 {
        wire::NO_PASSIVE
    } else {
        wire::REQUEST_UNSUPPORTED
    };
    let msg = status_message(e, cid);
    let xml = wire::response(
        &fresh_id(),
        &format!("https://sts.windows.net/{}/", ctx.tenant),
        now(),
        &ctx.acs,
        ctx.request_id.as_deref(),
        Some((wire::REQUESTER, sub, &msg)),
        "",
    );
    post_form(&ctx.acs, "SAMLResponse", &xml, ctx.relay_state.as_deref())
}

/// Verifies an RSA PKCS#1 v1.5 SHA-256 signature with any of the app's verification
/// certificates.
fn verified_by(certs: &[Vec<u8>], msg: &[u8], sig: &[u8]) -> bool {
    certs.iter().any(|der| {
        let d = CertificateDer::from(der.clone());
        webpki::EndEntityCert::try_from(&d).is_ok_and(|ee| {
            ee.verify_signature(webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok()
        })
    })
}

fn bad_signature(detail: &str) -> AadstsError {
    Code::SamlBadSignature.aadsts(&[("detail", &detail)])
}

/// The signature state of a message: `redirect` is the raw query (Redirect binding); for POST,
/// the enveloped signature in `xml`.
fn signature_of(
    sp: &ServicePrincipal,
    redirect: Option<&str>,
    xml: &str,
    embedded: wire::Embedded,
) -> Result<Signature, AadstsError> {
    let certs = &sp.saml.verification_certificates;
    if let Some(q) = redirect {
        if let Some((octets, alg, sig)) = wire::redirect_signed_octets(q)? {
            if alg != wire::RSA_SHA256 {
                return Err(bad_signature(
                    "SigAlg must be http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                ));
            }
            if certs.is_empty() {
                return Err(bad_signature(
                    "no verification certificate is registered for the application",
                ));
            }
            if !verified_by(certs, &octets, &sig) {
                return Err(bad_signature("the query-string signature is not valid"));
            }
            return Ok(Signature::Verified);
        }
    }
    match embedded {
        wire::Embedded::None => Ok(Signature::Absent),
        wire::Embedded::Present => {
            let checked = wire::verify_enveloped(xml)?;
            if certs.is_empty() {
                return Err(bad_signature(
                    "no verification certificate is registered for the application",
                ));
            }
            if !verified_by(certs, &checked.signed_info, &checked.signature) {
                return Err(bad_signature("the XML signature value is not valid"));
            }
            Ok(Signature::Verified)
        }
    }
}

fn page_err(e: &AadstsError, cid: &str) -> Response {
    tracing::info!(code = e.code, "SAML request refused with an error page");
    pages::error(StatusCode::BAD_REQUEST, e.code, &e.message, cid)
}

fn unavailable(e: impl std::fmt::Display, cid: &str) -> Response {
    authorize::fail(Fail::Unavailable(e.to_string()), cid)
}

fn params(raw: &str) -> Result<Vec<(String, String)>, AadstsError> {
    castellan_wire::form::parse_pairs(raw.as_bytes())
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// `GET|POST /{tenant}/saml2`.
#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
pub async fn saml2(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let post = method == Method::POST;
    if body.len() > wire::MAX_MESSAGE * 2
        || query
            .as_ref()
            .is_some_and(|q| q.len() > wire::MAX_MESSAGE * 2)
    {
        return page_err(
            &Code::SamlBinding.aadsts(&[
                ("detail", &"the message is too large"),
                ("limit", &wire::MAX_MESSAGE),
            ]),
            &cid,
        );
    }
    let raw = if post {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        query.clone().unwrap_or_default()
    };
    let p = match params(&raw) {
        Ok(p) => p,
        Err(e) => {
            let detail = format!("the form or query is not acceptable ({})", e.message);
            return page_err(
                &Code::SamlBinding.aadsts(&[("detail", &detail), ("limit", &wire::MAX_MESSAGE)]),
                &cid,
            );
        }
    };
    let tenant = match resolve_tenant(s.store.as_ref(), &segment).await {
        Ok(TenantRef::Tenant(t)) => *t,
        Ok(_) => return page_err(&AadstsError::tenant_not_found(&segment), &cid),
        Err(e) => return unavailable(e, &cid),
    };
    let r = Req {
        cid,
        ip,
        user_agent: crate::http::user_agent(&headers),
        origin: s.origins.for_host(host(&headers)),
        at: now(),
    };
    let endpoint = format!("{}/{segment}/saml2", r.origin);
    let relay = param(&p, "RelayState").map(str::to_string);
    let (xml, redirect_query) = match (param(&p, "SAMLRequest"), param(&p, "SAMLResponse")) {
        (Some(m), _) | (None, Some(m)) => {
            let decoded = if post {
                wire::decode_post(m)
            } else {
                wire::decode_redirect(m)
            };
            match decoded {
                Ok(x) => (x, (!post).then_some(raw.as_str())),
                Err(e) => return page_err(&e, &r.cid),
            }
        }
        (None, None) => {
            return match param(&p, "appid").or_else(|| param(&p, "app_id")) {
                Some(app_id) if !post => {
                    idp_initiated(&s, &segment, tenant, app_id, &r, &headers).await
                }
                _ => page_err(&Code::SamlRequestMissing.aadsts(&[]), &r.cid),
            };
        }
    };
    let kind = match wire::message_kind(&xml) {
        Ok(k) => k,
        Err(e) => return page_err(&e, &r.cid),
    };
    match kind.as_str() {
        "AuthnRequest" => sso(&s, &segment, tenant, &xml, redirect_query, relay, &endpoint, &r, &headers).await,
        "LogoutRequest" => slo(&s, tenant, &xml, redirect_query, relay, &endpoint, &r, &headers).await,
        "LogoutResponse" => match wire::parse_logout_response(&xml) {
            Ok(_) => pages::info("You signed out of your account", "You have been signed out. It's a good idea to close all browser windows."),
            Err(e) => page_err(&e, &r.cid),
        },
        other => page_err(
            &Code::SamlInvalidRequest.aadsts(&[("detail", &format!("samlp:{other} is not served at /saml2: send an AuthnRequest or a LogoutRequest"))]),
            &r.cid,
        ),
    }
}

async fn sp_by_issuer(
    s: &AppState,
    tenant: &Tenant,
    issuer: Option<&str>,
) -> Result<Result<ServicePrincipal, AadstsError>, StoreError> {
    let issuer = issuer.unwrap_or("");
    let sps = s.store.service_principals(tenant.id).await?;
    Ok(flow::find_by_issuer(&sps, issuer).cloned().ok_or_else(|| {
        Code::SamlIssuerUnknown.aadsts(&[("issuer", &issuer), ("tenant", &tenant.id)])
    }))
}

#[allow(clippy::too_many_arguments)]
async fn sso(
    s: &AppState,
    segment: &str,
    tenant: Tenant,
    xml: &str,
    redirect_query: Option<&str>,
    relay: Option<String>,
    endpoint: &str,
    r: &Req,
    headers: &HeaderMap,
) -> Response {
    let (req, embedded) = match wire::parse_authn_request(xml) {
        Ok(x) => x,
        Err(e) => return page_err(&e, &r.cid),
    };
    let sp = match sp_by_issuer(s, &tenant, req.issuer.as_deref()).await {
        Ok(Ok(sp)) => sp,
        Ok(Err(e)) => return page_err(&e, &r.cid),
        Err(e) => return unavailable(e, &r.cid),
    };
    let app =
        match castellan_core::ops::token::client_application(s.store.as_ref(), sp.app_id).await {
            Ok(Some(a)) => a,
            Ok(None) => {
                return page_err(
                    &AadstsError::client_not_found(&sp.app_id.to_string(), &tenant.id.to_string()),
                    &r.cid,
                )
            }
            Err(e) => return unavailable(e, &r.cid),
        };
    let signature = match signature_of(&sp, redirect_query, xml, embedded) {
        Ok(x) => x,
        Err(e) => return page_err(&e, &r.cid),
    };
    let accepted = match flow::check(&req, &sp, &app, endpoint, signature, r.at) {
        Ok(a) => a,
        Err(e) => return page_err(&e, &r.cid),
    };
    // One answer per request ID: remembered past the issue window.
    let remember = Grant {
        handle: format!("samlreq:{}:{}", sp.id, accepted.request_id),
        kind: GrantKind::SamlRequestId,
        tenant_id: tenant.id,
        family: None,
        user_id: None,
        lookup: None,
        state: GrantState::Used,
        created: r.at,
        expires: r.at.plus_secs(flow::REQUEST_ID_MEMORY_SECS),
        attrs: vec![],
    };
    match s.store.insert_grant(&remember).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return page_err(
                &Code::SamlRequestReplayed.aadsts(&[("id", &accepted.request_id)]),
                &r.cid,
            )
        }
        Err(e) => return unavailable(e, &r.cid),
    }
    let ctx = Ctx {
        tenant: tenant.id,
        app_id: app.app_id,
        sp_id: sp.id,
        acs: accepted.acs_url,
        request_id: Some(accepted.request_id),
        audience: accepted.audience,
        name_id_format: accepted.name_id_format.to_string(),
        relay_state: relay,
        force_authn: accepted.force_authn,
        is_passive: accepted.is_passive,
        expires: r.at.plus_secs(flow::SIGNIN_LIFETIME_SECS),
    };
    enter(s, segment, tenant, app, ctx, r, headers).await
}

/// IdP-initiated sign-on (`GET /{tenant}/saml2?appid=…`, what My Apps and the "Test" button
/// do): no request, so no `InResponseTo`; the response goes to the first reply URL with the
/// configured relay state.
async fn idp_initiated(
    s: &AppState,
    segment: &str,
    tenant: Tenant,
    app_id: &str,
    r: &Req,
    headers: &HeaderMap,
) -> Response {
    let not_found = || AadstsError::client_not_found(app_id, &tenant.id.to_string());
    let Some(id) = AppId::parse(app_id) else {
        return page_err(&not_found(), &r.cid);
    };
    let (app, sp) =
        match castellan_core::ops::token::load_client(s.store.as_ref(), &tenant, &id.to_string())
            .await
        {
            Ok(x) => x,
            Err(castellan_core::ops::token::TokenError::Aadsts(e)) => return page_err(&e, &r.cid),
            Err(castellan_core::ops::token::TokenError::Store(e)) => return unavailable(e, &r.cid),
        };
    if !sp.saml.enabled() {
        return page_err(
            &Code::SamlNotEnabled.aadsts(&[("app_id", &sp.app_id)]),
            &r.cid,
        );
    }
    let acs = match flow::reply_url(&app, None) {
        Ok(a) => a,
        Err(e) => return page_err(&e, &r.cid),
    };
    let format = match flow::name_id_format(None, sp.saml.name_id_format.as_deref()) {
        Ok(f) => f,
        Err(e) => return page_err(&e, &r.cid),
    };
    let ctx = Ctx {
        tenant: tenant.id,
        app_id: app.app_id,
        sp_id: sp.id,
        acs,
        request_id: None,
        audience: flow::idp_initiated_audience(&sp),
        name_id_format: format.to_string(),
        relay_state: sp.saml.relay_state.clone(),
        force_authn: false,
        is_passive: false,
        expires: r.at.plus_secs(flow::SIGNIN_LIFETIME_SECS),
    };
    enter(
        s,
        segment,
        tenant,
        std::sync::Arc::unwrap_or_clone(app),
        ctx,
        r,
        headers,
    )
    .await
}

/// The sign-in: the SSO session when it may be used, else the login page (both enter
/// `authorize::run`).
async fn enter(
    s: &AppState,
    segment: &str,
    tenant: Tenant,
    app: Application,
    ctx: Ctx,
    r: &Req,
    headers: &HeaderMap,
) -> Response {
    let sealed = match seal(s, &ctx) {
        Ok(x) => x,
        Err(e) => return unavailable(e, &r.cid),
    };
    let a = authz(segment, tenant.clone(), app, ctx, &sealed);
    let session = match authorize::current_session(s, headers, Some(&tenant), r.at).await {
        Ok(x) => x,
        Err(e) => return unavailable(e, &r.cid),
    };
    match (
        rules::entry(session.is_some(), a.prompt.as_deref()),
        session,
    ) {
        (rules::Entry::Session, Some((t, u, authn))) => {
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
            authorize::run(s, &a, &t, &u, st, r, headers).await
        }
        (rules::Entry::LoginRequired, _) => authorize::fail(
            Fail::Redirect(
                authorize::clone_target(&a.target),
                Code::SamlPassiveNoSession.aadsts(&[]),
            ),
            &r.cid,
        ),
        _ => authorize::show_login(&a, headers, "", None),
    }
}

/// Single logout: a LogoutRequest from the app (its signature checked when the app can sign),
/// ends this browser's session for the tenant and answers a signed LogoutResponse to the app's
/// logout URL in the binding the request came by.
#[allow(clippy::too_many_arguments)]
async fn slo(
    s: &AppState,
    tenant: Tenant,
    xml: &str,
    redirect_query: Option<&str>,
    relay: Option<String>,
    endpoint: &str,
    r: &Req,
    headers: &HeaderMap,
) -> Response {
    let (req, embedded) = match wire::parse_logout_request(xml) {
        Ok(x) => x,
        Err(e) => return page_err(&e, &r.cid),
    };
    let sp = match sp_by_issuer(s, &tenant, req.issuer.as_deref()).await {
        Ok(Ok(sp)) => sp,
        Ok(Err(e)) => return page_err(&e, &r.cid),
        Err(e) => return unavailable(e, &r.cid),
    };
    let signature = match signature_of(&sp, redirect_query, xml, embedded) {
        Ok(x) => x,
        Err(e) => return page_err(&e, &r.cid),
    };
    if let Err(e) = flow::check_logout(&req, &sp, endpoint, signature, r.at) {
        return page_err(&e, &r.cid);
    }
    let cookie_name = format!("castellan_sso_{}", tenant.id.to_string().replace('-', ""));
    for (name, value) in authorize::cookies(headers) {
        if name == cookie_name {
            if let Err(e) = castellan_core::ops::signin::end_session(s.store.as_ref(), &value).await
            {
                return unavailable(format!("{e:?}"), &r.cid);
            }
        }
    }
    let Some(dest) = sp.saml.logout_url.clone() else {
        let mut resp = pages::info("You signed out of your account", "You have been signed out. The application has no logout URL configured (logoutUrl), so you were not sent back to it.");
        clear(&mut resp, &cookie_name);
        return resp;
    };
    let Some(cert) = sp.saml.signing_certificate(r.at) else {
        return page_err(
            &Code::SamlNoSigningKey.aadsts(&[("app_id", &sp.app_id), ("sp_id", &sp.id)]),
            &r.cid,
        );
    };
    let sign = |m: &[u8]| s.keys.saml_sign(cert, m);
    let id = fresh_id();
    let xml = wire::logout_response(&id, &issuer(&tenant), r.at, &dest, &req.id);
    let mut resp = if redirect_query.is_some() {
        match wire::redirect_query("SAMLResponse", &xml, relay.as_deref(), &sign) {
            Ok(q) => {
                let sep = if dest.contains('?') { '&' } else { '?' };
                let mut resp = StatusCode::FOUND.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("{dest}{sep}{q}")) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                resp
            }
            Err(e) => return unavailable(e, &r.cid),
        }
    } else {
        match wire::sign_enveloped(&xml, &id, &cert.cert_der, &sign) {
            Ok(signed) => post_form(&dest, "SAMLResponse", &signed, relay.as_deref()),
            Err(e) => return unavailable(e, &r.cid),
        }
    };
    clear(&mut resp, &cookie_name);
    resp
}

fn clear(resp: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{cookie}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// `GET /{tenant}/federationmetadata/2007-06/federationmetadata.xml?appid=…`: the app's
/// federation metadata, signed with its signing certificate, listing every certificate not yet
/// expired (so an SP can pick up a new one before the rollover).
pub async fn metadata(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = params(query.as_deref().unwrap_or("")).unwrap_or_default();
    let tenant = match resolve_tenant(s.store.as_ref(), &segment).await {
        Ok(TenantRef::Tenant(t)) => *t,
        Ok(_) => return page_err(&AadstsError::tenant_not_found(&segment), &cid),
        Err(e) => return unavailable(e, &cid),
    };
    let Some(app_id) = param(&p, "appid") else {
        return page_err(&AadstsError::missing_parameter("appid"), &cid);
    };
    let sp = match AppId::parse(app_id) {
        Some(id) => match s.store.service_principal_by_app_id(tenant.id, id).await {
            Ok(x) => x,
            Err(e) => return unavailable(e, &cid),
        },
        None => None,
    };
    let Some(sp) = sp else {
        return page_err(
            &AadstsError::client_not_found(app_id, &tenant.id.to_string()),
            &cid,
        );
    };
    let at = now();
    let Some(cert) = sp.saml.signing_certificate(at) else {
        return page_err(
            &Code::SamlNoSigningKey.aadsts(&[("app_id", &sp.app_id), ("sp_id", &sp.id)]),
            &cid,
        );
    };
    let origin = s.origins.for_host(host(&headers));
    let endpoint = format!("{origin}/{}/saml2", tenant.id);
    let certs: Vec<&[u8]> = sp
        .saml
        .published_certificates(at)
        .iter()
        .map(|c| c.cert_der.as_slice())
        .collect();
    let id = fresh_id();
    let xml = wire::metadata(&id, &issuer(&tenant), &endpoint, &certs);
    let sign = |m: &[u8]| s.keys.saml_sign(cert, m);
    match wire::sign_metadata(&xml, &id, &cert.cert_der, &sign) {
        Ok(doc) => {
            let mut r = (StatusCode::OK, doc).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/samlmetadata+xml"),
            );
            r
        }
        Err(e) => unavailable(e, &cid),
    }
}
