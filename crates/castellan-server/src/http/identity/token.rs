//! `POST /{tenant}/oauth2/v2.0/token`: parse the form (wire), run the grant (core), sign, render.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_core::error::AadstsError;
use castellan_core::flow::grants::{self, GrantRequest};
use castellan_core::flow::signin::{self, Challenge, Facts, FirstFactor, Outcome, Step, Surface};
use castellan_core::flow::{federated_assertion, Authn, VerifiedAssertion};
use castellan_core::model::Tenant;
use castellan_core::ops::signin::PasswordRequest;
use castellan_core::ops::signin::{self as signin_ops, ClientProof, Issued};
use castellan_core::ops::token::{self, ClientCredentialsRequest, TokenError};
use castellan_core::secret::SecretText;
use castellan_core::Timestamp;
use castellan_wire::claims;
use castellan_wire::errors::{token_error_body, token_error_status};
use castellan_wire::form::Form;

use super::{resolve_tenant, TenantRef};
use crate::crypto::random_token;
use crate::http::{host, ClientIp, CorrelationId};
use crate::signin_log::Attempt;
use crate::state::{now, AppState};

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn error(e: &AadstsError, cid: &str, at: Timestamp) -> Response {
    let trace = uuid::Uuid::new_v4().to_string();
    tracing::info!(
        code = e.code,
        error = e.error.as_str(),
        "token request refused"
    );
    let status = StatusCode::from_u16(token_error_status(e)).unwrap_or(StatusCode::BAD_REQUEST);
    no_store((status, Json(token_error_body(e, &trace, cid, at))).into_response())
}

/// [`error`] with a claims challenge (`claims`) the client sends back on its interactive
/// request (MSAL hands it to the app as `claims`).
fn error_with_claims(e: &AadstsError, claims: &str, cid: &str, at: Timestamp) -> Response {
    let trace = uuid::Uuid::new_v4().to_string();
    tracing::info!(
        code = e.code,
        "token request refused with a claims challenge"
    );
    let status = StatusCode::from_u16(token_error_status(e)).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = token_error_body(e, &trace, cid, at);
    body["claims"] = serde_json::json!(claims);
    no_store((status, Json(body)).into_response())
}

fn unavailable(e: &impl std::fmt::Display, cid: &str, at: Timestamp) -> Response {
    tracing::warn!(error = %e, "store unavailable during token request");
    let err = castellan_core::error::Code::StoreUnavailable.aadsts(&[]);
    let mut r = error(&err, cid, at);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// Client credentials from `Authorization: Basic base64(urlenc(id):urlenc(secret))`.
fn basic_auth(headers: &HeaderMap) -> Result<Option<(String, String)>, AadstsError> {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let Some(b) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let bad = || {
        AadstsError::malformed("The Authorization header is not valid HTTP Basic: expected base64(urlencode(client_id):urlencode(client_secret)).")
    };
    let decoded = STANDARD.decode(b.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    Ok(Some((dec(id), dec(secret))))
}

/// Verifies a federated `client_assertion` (workload identity federation) against the
/// application's federated identity credentials and the external issuer's keys.
async fn verify_federated(
    s: &AppState,
    app: &castellan_core::model::Application,
    assertion_type: Option<&str>,
    assertion: &str,
    at: Timestamp,
) -> Result<(), AadstsError> {
    if assertion_type != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return Err(castellan_core::error::Code::FederatedAssertionType.aadsts(&[]));
    }
    let fic = crate::federation::verify_federated_assertion(
        &s.federation,
        &app.federated_identity_credentials,
        assertion,
        &s.origins.all(),
        at,
    )
    .await?;
    tracing::info!(app = %app.app_id, credential = %fic.name, issuer = %fic.issuer, "federated assertion accepted");
    Ok(())
}

/// `client_credentials` for a user-assigned managed identity with a federated assertion:
/// `None` when `client_id` is not such an identity (the caller answers 700016).
#[allow(clippy::too_many_arguments)]
async fn managed_identity_exchange(
    s: &AppState,
    tenant: &castellan_core::model::Tenant,
    client_id: &str,
    assertion_type: Option<&str>,
    assertion: &str,
    scope: Option<&str>,
    cid: &str,
    ip: &str,
    origin: &str,
    at: Timestamp,
) -> Option<Response> {
    let found = match castellan_core::ops::managed_identity::federated_identity_of_client(
        s.store.as_ref(),
        tenant,
        client_id,
    )
    .await
    {
        Ok(f) => f?,
        Err(e) => return Some(unavailable(&e, cid, at)),
    };
    let (sp, uami, fics) = found;
    let attempt = Attempt {
        tenant_id: tenant.id,
        correlation_id: cid.to_string(),
        ip: ip.to_string(),
        user_agent: String::new(),
        app_id: client_id.to_string(),
        interactive: false,
        client_app_used: "Mobile Apps and Desktop clients".into(),
        details: "client_credentials (federated assertion, user-assigned managed identity)".into(),
        at,
    };
    let attempt = &attempt;
    let refused = |e: AadstsError| async move {
        s.signins
            .record(attempt.service_principal(None, Some(&e)))
            .await;
        error(&e, cid, at)
    };
    if assertion_type != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return Some(
            refused(castellan_core::error::Code::FederatedAssertionType.aadsts(&[])).await,
        );
    }
    if let Err(e) = crate::federation::verify_federated_assertion(
        &s.federation,
        &fics,
        assertion,
        &s.origins.all(),
        at,
    )
    .await
    {
        return Some(refused(e).await);
    }
    let wanted = match castellan_core::flow::scope::parse_default_scope(scope.unwrap_or_default()) {
        Ok(w) => w,
        Err(e) => return Some(refused(e).await),
    };
    match castellan_core::ops::managed_identity::token_for_identity(
        s.store.as_ref(),
        tenant,
        &sp,
        &uami.id,
        &wanted.resource,
        at,
        random_token(16),
    )
    .await
    {
        Ok(c) => {
            let iss = claims::issuer(origin, &tenant.id.to_string());
            let payload = claims::access_token_payload(&c, &iss);
            Some(match s.keys.sign_jwt(&payload, at) {
                Ok(jwt) => {
                    s.signins
                        .record(attempt.service_principal(Some(&c.aud), None))
                        .await;
                    no_store(
                        Json(claims::token_response(&jwt, c.exp.secs() - c.iat.secs()))
                            .into_response(),
                    )
                }
                Err(e) => unavailable(&e, cid, at),
            })
        }
        Err(TokenError::Aadsts(e)) => Some(refused(e).await),
        Err(TokenError::Store(e)) => Some(unavailable(&e, cid, at)),
    }
}

/// The token endpoint.
#[allow(clippy::too_many_lines)]
pub async fn token(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = now();
    let mut pairs = match castellan_wire::form::parse_pairs(&body) {
        Ok(p) => p,
        Err(e) => return error(&e, &cid, at),
    };
    super::canonical_scope_params(&s, &mut pairs);
    let form = match Form::from_pairs(pairs) {
        Ok(f) => f,
        Err(e) => return error(&e, &cid, at),
    };
    let tenant = match resolve_tenant(s.store.as_ref(), &segment).await {
        Ok(TenantRef::Tenant(t)) => t,
        Ok(TenantRef::Alias(a)) => {
            // Codes and refresh tokens know their tenant (the user's): redeem them at
            // /common or /organizations as Entra allows.
            let grant = form.get("grant_type").unwrap_or("");
            let held = grants::by_type(grant, &form).and_then(|g| g.tenant_secret(&form));
            let secret = held.map(|(sec, _)| sec);
            let found = match secret {
                Some(sec) => match s
                    .store
                    .grant(&castellan_core::ops::signin::handle(sec))
                    .await
                {
                    Ok(Some(g)) => match s.store.tenant(g.tenant_id).await {
                        Ok(t) => t,
                        Err(e) => return unavailable(&e, &cid, at),
                    },
                    Ok(None) => None,
                    Err(e) => return unavailable(&e, &cid, at),
                },
                None => None,
            };
            match found {
                Some(t) => Box::new(t),
                None if secret.is_some() => {
                    let what = held.map_or("grant", |(_, w)| w);
                    return error(&AadstsError::malformed_grant(what), &cid, at);
                }
                None => return error(&AadstsError::grant_needs_tenant(grant, a), &cid, at),
            }
        }
        Ok(TenantRef::Unknown) => return error(&AadstsError::tenant_not_found(&segment), &cid, at),
        Err(e) => return unavailable(&e, &cid, at),
    };
    let grant = match form.require("grant_type") {
        Ok(g) => g.to_string(),
        Err(e) => return error(&e, &cid, at),
    };
    let basic = match basic_auth(&headers) {
        Ok(b) => b,
        Err(e) => return error(&e, &cid, at),
    };
    let (mut client_id, mut secret) = (
        form.get("client_id").map(str::to_string),
        form.get("client_secret").map(str::to_string),
    );
    if let Some((bid, bsecret)) = basic {
        if client_id.as_deref().is_some_and(|c| c != bid) {
            return error(&AadstsError::malformed("client_id in the body does not match the client id in the Authorization header."), &cid, at);
        }
        client_id = Some(bid);
        secret = Some(bsecret);
    }
    // RFC 7523 §3: a client authenticating with an assertion may leave `client_id` out; the
    // assertion's `iss`/`sub` name it (and the assertion is then verified against that
    // application). Without either, say which parameter is missing.
    if client_id.as_deref().is_none_or(str::is_empty) {
        if let Some(a) = form.get("client_assertion") {
            match castellan_wire::form::client_id_from_assertion(a) {
                Some(c) => client_id = Some(c),
                None => return error(&AadstsError::missing_parameter("client_id"), &cid, at),
            }
        }
    }
    let secret = secret.map(SecretText::new);
    let origin = s.origins.for_host(host(&headers));
    // azure-identity's WorkloadIdentityCredential sends the token file verbatim, trailing
    // newline included.
    let assertion_verified = match form.get("client_assertion").map(str::trim) {
        None => None,
        Some(assertion) => {
            let app = match client_id.as_deref().and_then(castellan_core::AppId::parse) {
                Some(id) => match s.store.application_by_app_id(id).await {
                    Ok(a) => a,
                    Err(e) => return unavailable(&e, &cid, at),
                },
                None => None,
            };
            let Some(app) = app else {
                // A user-assigned managed identity exchanging a federated token (workload
                // identity federation on Kubernetes and the like) has no application object.
                if grants::by_type(&grant, &form).is_some_and(|g| g.app_only()) {
                    if let Some(r) = managed_identity_exchange(
                        &s,
                        &tenant,
                        client_id.as_deref().unwrap_or_default(),
                        form.get("client_assertion_type"),
                        assertion,
                        form.get("scope"),
                        &cid,
                        &ip,
                        &origin,
                        at,
                    )
                    .await
                    {
                        return r;
                    }
                }
                let cid_text = client_id.clone().unwrap_or_default();
                return error(
                    &AadstsError::client_not_found(&cid_text, &tenant.id.to_string()),
                    &cid,
                    at,
                );
            };
            let mut audiences = Vec::new();
            for h in &s.origins.hosts {
                for seg in [tenant.id.to_string(), segment.clone()] {
                    audiences.push(format!("https://{h}/{seg}/oauth2/v2.0/token"));
                    audiences.push(format!("https://{h}/{seg}/oauth2/token"));
                }
            }
            let federated = federated_assertion::is_federated(
                castellan_wire::federation::peek_issuer(assertion).as_deref(),
                &app.app_id.to_string(),
            );
            let verified = if federated {
                verify_federated(&s, &app, form.get("client_assertion_type"), assertion, at)
                    .await
                    .map(|()| VerifiedAssertion::Federated)
                    .map_err(crate::assertion::AssertionError::Refused)
            } else {
                crate::assertion::verify_client_assertion(
                    s.store.as_ref(),
                    &tenant,
                    &app,
                    form.get("client_assertion_type"),
                    assertion,
                    &audiences,
                    at,
                )
                .await
                .map(|()| VerifiedAssertion::Certificate)
            };
            match verified {
                Ok(kind) => Some(kind),
                Err(crate::assertion::AssertionError::Refused(e)) => {
                    let attempt = Attempt {
                        tenant_id: tenant.id,
                        correlation_id: cid.clone(),
                        ip: ip.clone(),
                        user_agent: crate::http::user_agent(&headers),
                        app_id: app.app_id.to_string(),
                        interactive: false,
                        client_app_used: "Mobile Apps and Desktop clients".into(),
                        details: format!(
                            "{grant} ({} assertion)",
                            if federated { "federated" } else { "client" }
                        ),
                        at,
                    };
                    s.signins
                        .record(attempt.service_principal(None, Some(&e)))
                        .await;
                    // A code redemption with a bad client assertion is a failed attempt:
                    // it spends the code like any other (docs/security.md).
                    if let Some(g) = grants::by_type(&grant, &form) {
                        if let Some(code) = g.presented_code(&form) {
                            if let Err(x) = signin_ops::spend_presented_code(
                                s.store.as_ref(),
                                &tenant,
                                code,
                                at,
                            )
                            .await
                            {
                                tracing::warn!(error = ?x, "could not spend the presented code");
                            }
                        }
                    }
                    return error(&e, &cid, at);
                }
                Err(crate::assertion::AssertionError::Store(e)) => {
                    return unavailable(&e, &cid, at)
                }
            }
        }
    };
    let attempt = Attempt {
        tenant_id: tenant.id,
        correlation_id: cid.clone(),
        ip: ip.clone(),
        user_agent: crate::http::user_agent(&headers),
        app_id: client_id.clone().unwrap_or_default(),
        interactive: false,
        client_app_used: "Mobile Apps and Desktop clients".into(),
        details: if assertion_verified == Some(VerifiedAssertion::Federated) {
            format!("{grant} (federated assertion)")
        } else {
            grant.clone()
        },
        at,
    };
    // A claims challenge sent back (step-up): the session must have done MFA.
    let claims_request = form.get("claims").filter(|c| !c.trim().is_empty());
    let step_up = match claims_request.map(castellan_wire::claims_challenge::requires_step_up) {
        Some(Ok(b)) => b,
        Some(Err(e)) => return error(&e, &cid, at),
        None => false,
    };
    let ctx = Ctx {
        s: &s,
        tenant: &tenant,
        origin: &origin,
        cid: &cid,
        at,
        client_info: form.get("client_info") == Some("1"),
        attempt: &attempt,
        step_up: step_up.then(|| claims_request.unwrap_or_default().to_string()),
        headers: &headers,
    };
    // The grants registry: the grant that applies checks its parameters and names what to run.
    let request = grants::TokenRequest {
        grant_type: &grant,
        client_id: client_id.as_deref(),
        params: &form,
    };
    let run = match grants::dispatch(&request) {
        Ok(r) => r,
        Err(e) => return error(&e, &cid, at),
    };
    match run {
        GrantRequest::ClientCredentials(g) => {
            let req = ClientCredentialsRequest {
                client_id: client_id.clone(),
                client_secret: secret,
                client_assertion_verified: assertion_verified,
                scope: g.scope.map(str::to_string),
            };
            match token::client_credentials(s.store.as_ref(), &tenant, req, at, random_token(16))
                .await
            {
                Ok(c) => {
                    // Conditional Access for workload identities (clientApplications).
                    let ca =
                        match crate::ca::for_workload(&s, &tenant, c.oid, &c.azp, &c.aud, &ip, at)
                            .await
                        {
                            Ok(d) => d,
                            Err(e) => return unavailable(&e, &cid, at),
                        };
                    if let Some(e) = &ca.error {
                        let mut rec = attempt.service_principal(Some(&c.aud), Some(e));
                        ca.annotate(&mut rec);
                        s.signins.record(rec).await;
                        return error(e, &cid, at);
                    }
                    let iss = claims::issuer(&origin, &tenant.id.to_string());
                    let payload = claims::access_token_payload(&c, &iss);
                    match s.keys.sign_jwt(&payload, at) {
                        Ok(jwt) => {
                            let mut rec = attempt.service_principal(Some(&c.aud), None);
                            ca.annotate(&mut rec);
                            s.signins.record(rec).await;
                            no_store(
                                Json(claims::token_response(&jwt, c.exp.secs() - c.iat.secs()))
                                    .into_response(),
                            )
                        }
                        Err(e) => unavailable(&e, &cid, at),
                    }
                }
                Err(TokenError::Aadsts(e)) => {
                    s.signins
                        .record(attempt.service_principal(None, Some(&e)))
                        .await;
                    error(&e, &cid, at)
                }
                Err(TokenError::Store(e)) => unavailable(&e, &cid, at),
            }
        }
        GrantRequest::Password(g) => {
            let username = g.username.map(str::to_string);
            let password = g.password.map(SecretText::new);
            let proven = g.password.map(SecretText::new);
            let req = PasswordRequest {
                client_id: client_id.clone(),
                client_secret: secret,
                username: username.clone(),
                password,
                scope: g.scope.map(str::to_string),
                ip: ip.clone(),
            };
            let r = signin_ops::password(
                s.store.as_ref(),
                &s.hasher,
                &tenant,
                req,
                at,
                (random_token(16), random_token(16)),
                random_token(48),
            )
            .await;
            ctx.respond_for(
                r,
                FirstFactor::Password,
                username.as_deref(),
                proven.as_ref(),
            )
            .await
        }
        GrantRequest::AuthorizationCode(g) => {
            let proof = ClientProof {
                client_id: g.client_id,
                secret: secret.as_ref(),
                assertion_verified,
                cross_origin: headers.contains_key(header::ORIGIN),
            };
            let r = signin_ops::redeem_code(
                s.store.as_ref(),
                &tenant,
                &proof,
                g.code,
                g.redirect_uri,
                g.code_verifier,
                at,
                (random_token(16), random_token(16)),
                random_token(48),
            )
            .await;
            ctx.respond(r, FirstFactor::AuthorizationCode).await
        }
        GrantRequest::RefreshToken(g) => {
            let proof = ClientProof {
                client_id: g.client_id,
                secret: secret.as_ref(),
                assertion_verified,
                cross_origin: headers.contains_key(header::ORIGIN),
            };
            let r = signin_ops::redeem_refresh(
                s.store.as_ref(),
                &tenant,
                &proof,
                g.refresh_token,
                g.scope,
                at,
                (random_token(16), random_token(16)),
                random_token(48),
            )
            .await;
            ctx.respond(r, FirstFactor::RefreshToken).await
        }
        GrantRequest::DeviceCode(g) => {
            let r = signin_ops::poll_device(
                s.store.as_ref(),
                &tenant,
                g.client_id,
                g.device_code,
                at,
                (random_token(16), random_token(16)),
                random_token(48),
            )
            .await;
            // Pending polls are not sign-ins; only the outcome is logged.
            if let Err(TokenError::Aadsts(e)) = &r {
                if e.code == 70016 {
                    return error(e, &cid, at);
                }
            }
            ctx.respond(r, FirstFactor::DeviceCode).await
        }
        GrantRequest::OnBehalfOf(g) => {
            let (client_id, assertion, scope) = (g.client_id, g.assertion, g.scope);
            let caller = match castellan_core::AppId::parse(client_id) {
                Some(id) => match s.store.application_by_app_id(id).await {
                    Ok(a) => a,
                    Err(e) => return unavailable(&e, &cid, at),
                },
                None => None,
            };
            let Some(caller) = caller else {
                return error(
                    &AadstsError::client_not_found(client_id, &tenant.id.to_string()),
                    &cid,
                    at,
                );
            };
            let mut issuers = s.origins.issuers(&tenant.id.to_string());
            issuers.extend(issuers.clone().iter().map(|i| claims::v1_issuer(i)));
            let (user_id, upstream) = match crate::assertion::validate_obo_assertion(
                &s.keys, &issuers, &tenant, &caller, assertion, at,
            ) {
                Ok(u) => u,
                Err(e) => {
                    s.signins
                        .record(attempt.user(None, None, None, None, Some(&e)))
                        .await;
                    return error(&e, &cid, at);
                }
            };
            let proof = ClientProof {
                client_id,
                secret: secret.as_ref(),
                assertion_verified,
                cross_origin: headers.contains_key(header::ORIGIN),
            };
            let r = signin_ops::on_behalf_of(
                s.store.as_ref(),
                &tenant,
                &proof,
                user_id,
                upstream,
                scope,
                at,
                (random_token(16), random_token(16)),
                random_token(48),
            )
            .await;
            ctx.respond(r, FirstFactor::OnBehalfOf).await
        }
    }
}

struct Ctx<'a> {
    s: &'a AppState,
    tenant: &'a Tenant,
    origin: &'a str,
    cid: &'a str,
    at: Timestamp,
    client_info: bool,
    attempt: &'a Attempt,
    /// The request's `claims`, when it asks for step-up (MFA in the session).
    step_up: Option<String>,
    /// For the device assertion.
    headers: &'a HeaderMap,
}

impl Ctx<'_> {
    async fn respond(&self, r: Result<Issued, TokenError>, first: FirstFactor) -> Response {
        self.respond_for(r, first, None, None).await
    }

    /// Runs the sign-in pipeline over the grant's outcome (`core::flow::signin`: device,
    /// Identity Protection, Conditional Access, step-up), renders its decision and logs it;
    /// `typed_upn` names the user in the failure record when the request carried one (ROPC),
    /// `password` is the one ROPC just proved (Identity Protection's leaked credentials).
    async fn respond_for(
        &self,
        r: Result<Issued, TokenError>,
        first: FirstFactor,
        typed_upn: Option<&str>,
        password: Option<&SecretText>,
    ) -> Response {
        let mut req = signin::Request {
            first,
            surface: Surface::Token,
            authn: Authn::password(self.at),
            client_app_id: "",
            client_name: "",
            ip: &self.attempt.ip,
            now: self.at,
            step_up: self.step_up.is_some(),
            force_consent: false,
            security_defaults: self.tenant.settings.security_defaults,
            carried_sign_in_risk: None,
        };
        let issued = match r {
            Ok(i) => i,
            Err(TokenError::Aadsts(e)) => {
                let facts = Facts {
                    credential: Some(Err(e.clone())),
                    ..Facts::default()
                };
                let guess = matches!(signin::next(&req, &facts), Step::Done(d) if d.failed_guess);
                // A failed guess is kept for password-spray detection.
                if guess {
                    if let Err(x) = castellan_core::ops::identity_protection::record_failure(
                        self.s.store.as_ref(),
                        self.tenant,
                        typed_upn.unwrap_or(""),
                        &self.attempt.ip,
                        e.code,
                        self.at,
                    )
                    .await
                    {
                        tracing::warn!(error = %x, "could not keep a failed sign-in for password-spray detection");
                    }
                }
                self.s
                    .signins
                    .record(self.attempt.user(typed_upn, None, None, None, Some(&e)))
                    .await;
                return error(&e, self.cid, self.at);
            }
            Err(TokenError::Store(e)) => return unavailable(&e, self.cid, self.at),
        };
        // Cross-tenant access: a guest of another tenant on this server is checked at every
        // token (code, refresh token, on-behalf-of), so a block takes effect at the next refresh.
        let client = uuid::Uuid::parse_str(&issued.tokens.access.azp).unwrap_or_default();
        match crate::cross_tenant::refusal_for(
            self.s.store.as_ref(),
            self.tenant,
            &issued.user,
            client,
            self.at,
        )
        .await
        {
            Ok(None) => {}
            Ok(Some(e)) => {
                let rec = self.attempt.user(
                    Some(&issued.user.user_principal_name),
                    Some(issued.user.id),
                    Some(&issued.user.display_name),
                    Some(&issued.tokens.access.aud),
                    Some(&e),
                );
                self.s.signins.record(rec).await;
                return error(&e, self.cid, self.at);
            }
            Err(e) => return unavailable(&e, self.cid, self.at),
        }
        req.authn = issued.authn;
        req.client_app_id = &issued.tokens.access.azp;
        req.carried_sign_in_risk = issued
            .carried_sign_in_risk
            .as_deref()
            .and_then(castellan_core::policy::RiskLevel::parse);
        let facts = Facts {
            credential: Some(Ok(())),
            ..Facts::default()
        };
        let mut steps = crate::signin_steps::Common {
            s: self.s,
            tenant: self.tenant,
            user: &issued.user,
            ip: &self.attempt.ip,
            user_agent: &self.attempt.user_agent,
            password,
            at: self.at,
            cid: self.cid,
            headers: Some(self.headers),
            resource: Some(issued.tokens.access.aud.clone()),
            device: None,
        };
        let run = castellan_core::ops::pipeline::run(
            self.s.store.as_ref(),
            self.tenant,
            Some(issued.user.id),
            &req,
            facts,
            &mut steps,
        )
        .await;
        let decision = match run {
            Ok(r) => r.decision,
            Err(e) => return unavailable(&e, self.cid, self.at),
        };
        let device = steps.device;
        let record = |e: Option<&AadstsError>| {
            let mut rec = self.attempt.user(
                Some(&issued.user.user_principal_name),
                Some(issued.user.id),
                Some(&issued.user.display_name),
                Some(&issued.tokens.access.aud),
                e,
            );
            if let Some(ca) = &decision.ca {
                ca.annotate(&mut rec);
                crate::device_proof::annotate(device.as_ref(), &mut rec);
            }
            rec
        };
        match &decision.outcome {
            Outcome::Issue => match user_token_body(
                self.s,
                self.origin,
                self.tenant,
                &issued,
                self.client_info,
                self.at,
            ) {
                Ok(body) => {
                    let mut rec = record(None);
                    rec.note_authn(&issued.authn);
                    self.s.signins.record(rec).await;
                    crate::device_proof::touch(self.s, device.as_ref(), self.at).await;
                    no_store(Json(body).into_response())
                }
                Err(e) => unavailable(&e, self.cid, self.at),
            },
            Outcome::Challenge(Challenge::Claims {
                error: e,
                from_request,
            }) => {
                self.s.signins.record(record(Some(e))).await;
                // MFA owed: a claims challenge naming the policies behind it, or the
                // request's own step-up claims sent back.
                let claims = match (&self.step_up, &decision.ca) {
                    (Some(c), _) if *from_request => c.clone(),
                    (_, Some(ca)) => {
                        castellan_wire::claims_challenge::challenge_for_policies(&ca.deciding)
                    }
                    (_, None) => castellan_wire::claims_challenge::challenge_for_policies(&[]),
                };
                error_with_claims(e, &claims, self.cid, self.at)
            }
            Outcome::Refuse(e) => {
                self.s.signins.record(record(Some(e))).await;
                error(e, self.cid, self.at)
            }
            other => {
                tracing::error!(outcome = ?other, "the sign-in pipeline answered the token endpoint with a browser outcome");
                unavailable(&"unexpected sign-in outcome", self.cid, self.at)
            }
        }
    }
}

/// Signs and renders a user-token response (access, ID, refresh token, client_info).
pub fn user_token_body(
    s: &AppState,
    origin: &str,
    tenant: &Tenant,
    issued: &Issued,
    client_info: bool,
    at: Timestamp,
) -> Result<serde_json::Value, String> {
    let t = &issued.tokens;
    let iss = claims::issuer(origin, &tenant.id.to_string());
    let mut payload = claims::access_token_payload(&t.access, &iss);
    // `aio` (opaque, as Entra's): the session facts, sealed, so an API exchanging this token
    // on-behalf-of the user carries what the user did (MFA) into the downstream sign-in.
    payload["aio"] = serde_json::json!(s.keys.seal_aio(&issued.authn)?);
    let access = s.keys.sign_jwt(&payload, at)?;
    let mut body = claims::token_response(&access, t.access.exp.secs() - t.access.iat.secs());
    body["scope"] = serde_json::json!(t.scope);
    if let Some(id) = &t.id {
        let mut payload = claims::id_token_payload(id, &iss);
        payload["auth_time"] = serde_json::json!(issued.authn.auth_time.secs());
        body["id_token"] = serde_json::json!(s.keys.sign_jwt(&payload, at)?);
    }
    if let Some(rt) = &issued.refresh_token {
        body["refresh_token"] = serde_json::json!(rt);
    }
    if client_info {
        body["client_info"] = serde_json::json!(claims::client_info(
            &issued.user.id.to_string(),
            &tenant.id.to_string()
        ));
    }
    Ok(body)
}
