//! B2B guests of an external OpenID Connect provider (`/identity/identityProviders`), the I/O
//! half: the redemption page's "sign in with <provider>" (`POST /{tenant}/redeem/external`),
//! home-realm discovery for such a guest at a resource tenant's sign-in page
//! ([`guest_sign_in`]) and the provider's answer (`GET /redeem/external/callback`).
//!
//! Each sign-in reads the provider's discovery document (`metadataUrl`, whose `issuer` must be
//! the configured one; https endpoints only; cached an hour by `server::federation`, as are the
//! provider's keys, fetched again for an unknown `kid` at most once a minute), sends the browser to its
//! `authorization_endpoint` (authorization code + PKCE S256 + state + nonce, `response_mode`
//! query), redeems the code at `token_endpoint` (`client_secret_post` when discovery offers it,
//! else `client_secret_basic`), verifies the ID token's signature with a key from `jwks_uri`
//! (RS256, PS256 or ES256, by `kid`) and hands the claims to `core::external_idp::check_id_token`
//! (issuer, audience, expiry, nonce, subject, verified email). A redemption then requires the
//! invited address and shows the consent page (`redeem::proven`); a guest sign-in requires the
//! identity recorded at redemption and resumes the resource tenant's pipeline
//! (`authorize::resume_guest`), so its tokens carry `idp` = the issuer and `acct` = 1.
//! Network traffic goes through the federation client (`server::federation`: system roots plus
//! `CASTELLAN_EXTRA_CA_FILE`, no redirects, 5 s timeouts, capped bodies). The browser is bound
//! to its flight by an HttpOnly cookie; a flight lives 10 minutes in this node's memory and is
//! spent by the callback. Every failure is a page naming the cause and the fix; nothing changes
//! before the final accept.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::external_idp::{self as core_idp, ClientAuth, Failure, OidcProvider};
use castellan_core::flow::federated_assertion::AssertionAlgorithm;
use castellan_core::invitations::Proof;
use castellan_core::model::{ExternalUserState, Tenant, User};
use castellan_core::{ObjectId, TenantId, Timestamp};
use castellan_wire::graph::identity_providers::{self as w, OpMetadata};

use crate::console::view::{Field, Form};
use crate::console::{Ctx, FormMap};
use crate::crypto::random_token;
use crate::http::graph::identity_providers::{client_secret, parse_stored};
use crate::state::{now, AppState};

/// The cookie binding a browser to its external sign-in.
pub const COOKIE: &str = "castellan_extidp";
/// Where the provider sends the browser back (register it at the provider as the redirect URI).
pub const CALLBACK_PATH: &str = "/redeem/external/callback";
const MAX_DISCOVERY_BYTES: usize = 64 * 1024;
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/redeem/external", post(start_redemption))
        .route(CALLBACK_PATH, get(callback))
        .layer(axum::middleware::map_response(
            crate::console::security_headers,
        ))
}

#[derive(Clone, Debug)]
enum Purpose {
    /// Redeeming the invitation link `secret`.
    Redeem { secret: String },
    /// A guest signing in to an app of the resource tenant.
    Guest {
        guest: ObjectId,
        segment: String,
        ctx: String,
    },
}

#[derive(Clone, Copy)]
enum PurposeKind {
    Redeem,
    Guest,
}

#[derive(Clone, Debug)]
pub struct Flight {
    resource: TenantId,
    provider: ObjectId,
    purpose: Purpose,
    state: String,
    nonce: String,
    verifier: String,
    redirect_uri: String,
    meta: OpMetadata,
    created: Timestamp,
}

/// This node's external sign-ins in flight, by cookie value.
pub type Flights = super::flights::Flights<Flight>;

impl super::flights::Started for Flight {
    fn started(&self) -> Timestamp {
        self.created
    }
}

fn refused(status: StatusCode, text: &str) -> Response {
    crate::console::form_page(status, "Sign-in not completed", "error", text, None, vec![])
}

fn bad(text: &str) -> Response {
    refused(StatusCode::BAD_REQUEST, text)
}

fn failed(f: &Failure) -> Response {
    let Stop(status, why) = f.into();
    refused(status, &why)
}

fn unreachable_page(p: &OidcProvider, why: &str) -> Response {
    failed(&Failure::Unreachable {
        provider: p.display_name.clone(),
        why: why.to_string(),
        metadata_url: p.metadata_url.clone(),
    })
}

const UNAVAILABLE: &str =
    "The directory is unavailable right now; nothing was changed. Try again in a minute.";

fn https(u: &str) -> bool {
    u.to_ascii_lowercase().starts_with("https://")
}

/// The tenant's providers (unreadable ones are skipped).
async fn providers(s: &AppState, t: &Tenant) -> Result<Vec<OidcProvider>, String> {
    castellan_core::ops::external_idp::providers(s.store.as_ref(), t, parse_stored)
        .await
        .map_err(|e| e.to_string())
}

/// Reads (through the federation cache: an hour, failures 10 s) and checks the provider's
/// discovery document; a document failing a check is forgotten, so the next sign-in reads it
/// again.
async fn discover(s: &AppState, p: &OidcProvider) -> Result<OpMetadata, String> {
    let body = s
        .federation
        .document(&p.metadata_url, MAX_DISCOVERY_BYTES)
        .await?;
    let checked = check_discovery(p, &body);
    if checked.is_err() {
        s.federation.forget_document(&p.metadata_url).await;
    }
    checked
}

fn check_discovery(p: &OidcProvider, body: &[u8]) -> Result<OpMetadata, String> {
    let m = w::parse_op_metadata(body).map_err(|e| format!("{}: {e}", p.metadata_url))?;
    if m.issuer != p.issuer {
        return Err(format!(
            "its discovery document names the issuer '{}', not the configured '{}'",
            m.issuer, p.issuer
        ));
    }
    for (k, u) in [
        ("authorization_endpoint", &m.authorization_endpoint),
        ("token_endpoint", &m.token_endpoint),
        ("jwks_uri", &m.jwks_uri),
    ] {
        if !https(u) {
            return Err(format!("its {k} '{u}' is not an https URL"));
        }
    }
    if m.code_challenge_methods
        .as_ref()
        .is_some_and(|c| !c.iter().any(|x| x == "S256"))
    {
        return Err("it does not support PKCE with S256 (code_challenge_methods_supported)".into());
    }
    core_idp::client_auth(m.token_auth_methods.as_deref())?;
    Ok(m)
}

/// Sends the browser to the provider.
async fn begin(
    s: &AppState,
    resource: &Tenant,
    p: &OidcProvider,
    purpose: Purpose,
    login_hint: &str,
    base: &str,
) -> Response {
    let meta = match discover(s, p).await {
        Ok(m) => m,
        Err(why) => return unreachable_page(p, &why),
    };
    let (state, nonce, verifier) = (random_token(16), random_token(16), random_token(32));
    let redirect_uri = format!("{base}{CALLBACK_PATH}");
    let challenge = URL_SAFE_NO_PAD.encode(castellan_core::secret::sha256(verifier.as_bytes()));
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &p.client_id)
        .append_pair("response_type", "code")
        .append_pair("response_mode", "query")
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &p.scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("login_hint", login_hint)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let sep = if meta.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let to = format!("{}{sep}{q}", meta.authorization_endpoint);
    let purpose_kind = match &purpose {
        Purpose::Redeem { .. } => PurposeKind::Redeem,
        Purpose::Guest { .. } => PurposeKind::Guest,
    };
    let key = random_token(32);
    s.external_idp.put(
        &key,
        Flight {
            resource: resource.id,
            provider: p.id,
            purpose,
            state,
            nonce,
            verifier,
            redirect_uri,
            meta,
            created: now(),
        },
    );
    // The redemption page's Content-Security-Policy (`form-action 'self'`) stops a form post
    // from being redirected to another origin: from there the browser navigates on a page of
    // its own (a refresh and a link), which is not a form action.
    let mut r = if matches!(purpose_kind, PurposeKind::Redeem) {
        let u = super::pages::esc(&to);
        super::pages::page(
            StatusCode::OK,
            "Continue to your identity provider",
            &format!(
                "<meta http-equiv=\"refresh\" content=\"0;url={u}\"><h1>Continue to {name}</h1><p>Sign in at <a id=\"continue\" href=\"{u}\">{name}</a> to prove the invited address is yours.</p>",
                name = super::pages::esc(&p.display_name)
            ),
        )
    } else {
        Redirect::to(&to).into_response()
    };
    let v = format!("{COOKIE}={key}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax");
    if let Ok(h) = v.parse() {
        r.headers_mut().append(header::SET_COOKIE, h);
    }
    r
}

/// The redemption page's form for an invited address served by an external provider of
/// `tenant`, or `None` (the page offers the other ways).
pub(super) async fn redeem_form(
    s: &AppState,
    tenant: &Tenant,
    email: &str,
    secret: &str,
) -> Option<Form> {
    let all = providers(s, tenant).await.ok()?;
    let p = core_idp::for_address(&all, email)?;
    let title = format!("Sign in with {}", p.display_name);
    Some(
        Form::post(
            "external",
            format!("/{}/redeem/external", tenant.id),
            &title,
            "Sign in",
            "",
        )
        .hint(format!(
            "{email} signs in at {}: sign in there to prove it is yours.",
            p.display_name
        ))
        .fields(vec![Field::new("hidden", "ticket", "").value(secret)]),
    )
}

/// `POST /{tenant}/redeem/external`: the invited person signs in at the provider.
async fn start_redemption(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    form: FormMap,
) -> Response {
    let Some(t) = (match TenantId::parse(&tenant) {
        Some(id) => s.store.tenant(id).await.ok().flatten(),
        None => None,
    }) else {
        return bad(&castellan_core::invitations::RedeemRefusal::Unknown.message());
    };
    let secret = form.0.get("ticket").cloned().unwrap_or_default();
    let mut ent = crate::crypto::OsEntropy;
    let e = castellan_core::ops::Env {
        store: s.store.as_ref(),
        now: now(),
        entropy: &mut ent,
        hasher: &s.hasher,
        actor: castellan_core::audit::Actor::Operator,
        correlation_id: ctx.origin.correlation_id.clone(),
    };
    let g = match castellan_core::ops::invitations::peek(&e, &t, &secret).await {
        Ok(Ok((g, _))) => g,
        Ok(Err(r)) => return bad(&r.message()),
        Err(_) => return refused(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    };
    let email = g.attr("email").unwrap_or_default().to_string();
    let all = match providers(&s, &t).await {
        Ok(a) => a,
        Err(_) => return refused(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    };
    let Some(p) = core_idp::for_address(&all, &email) else {
        return failed(&Failure::NotServed);
    };
    begin(&s, &t, p, Purpose::Redeem { secret }, &email, &ctx.base).await
}

/// The accepted guest of `tenant` whose address is `username` (lower case), by the guest UPN
/// an invitation makes, else by mail — indexed lookups, never a scan.
async fn guest_by_address(s: &AppState, tenant: &Tenant, address: &str) -> Option<User> {
    let candidates = super::redeem::users_by_address(s, tenant, address).await?;
    candidates.into_iter().find(|u| {
        u.external
            .as_ref()
            .is_some_and(|e| e.state == ExternalUserState::Accepted)
            && castellan_core::invitations::external_issuer(u).is_some()
            && castellan_core::invitations::holds_address(u, address)
    })
}

/// Home-realm discovery at a resource tenant's sign-in page: when `username` is an accepted
/// guest who redeemed at an external provider still configured, the browser goes there; the
/// answer at the callback resumes this sign-in. `None`: not such a guest.
pub(super) async fn guest_sign_in(
    s: &AppState,
    tenant: &Tenant,
    username: &str,
    segment: &str,
    ctx_raw: &str,
    base: &str,
) -> Option<Response> {
    // Cheap checks first (this runs for every sign-in): the tenant's providers come from the
    // read model; a tenant without any, or a user name that is a user's own UPN, ends here.
    let all = providers(s, tenant).await.ok()?;
    if all.is_empty()
        || s.store
            .user_by_upn(tenant.id, username)
            .await
            .ok()?
            .is_some()
    {
        return None;
    }
    let address = username.trim().to_lowercase();
    let guest = guest_by_address(s, tenant, &address).await?;
    let issuer = castellan_core::invitations::external_issuer(&guest)?.to_string();
    let Some(p) = core_idp::for_issuer(&all, &issuer) else {
        return Some(failed(&Failure::NoLongerTrusted {
            username: username.to_string(),
            issuer,
        }));
    };
    Some(
        begin(
            s,
            tenant,
            p,
            Purpose::Guest {
                guest: guest.id,
                segment: segment.to_string(),
                ctx: ctx_raw.to_string(),
            },
            &address,
            base,
        )
        .await,
    )
}

/// Redeems the code at the token endpoint; returns the ID token.
async fn redeem_code(
    s: &AppState,
    p: &OidcProvider,
    f: &Flight,
    code: &str,
) -> Result<String, String> {
    let secret = client_secret(s, p)?;
    let auth = core_idp::client_auth(f.meta.token_auth_methods.as_deref())?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", f.redirect_uri.clone()),
        ("code_verifier", f.verifier.clone()),
    ];
    let mut req = s.federation.http().post(&f.meta.token_endpoint);
    match auth {
        ClientAuth::Post => {
            form.push(("client_id", p.client_id.clone()));
            form.push(("client_secret", secret));
        }
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
            let enc =
                |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(&p.client_id), Some(enc(&secret)));
        }
    }
    let url = &f.meta.token_endpoint;
    let resp = req
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("POST {url} failed: {}", crate::federation::cause_chain(&e)))?;
    let status = resp.status();
    let too_big = || format!("POST {url}: the answer is larger than {MAX_TOKEN_BYTES} bytes");
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_TOKEN_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("POST {url}: reading the answer failed: {e}"))?
    {
        if body.len() + chunk.len() > MAX_TOKEN_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| format!("POST {url} answered HTTP {status} without JSON"))?;
    if !status.is_success() {
        return Err(format!(
            "the token endpoint refused the code (HTTP {status}, {}: {})",
            v["error"].as_str().unwrap_or("no error code"),
            v["error_description"].as_str().unwrap_or("")
        ));
    }
    v["id_token"].as_str().map(str::to_string).ok_or_else(|| {
        "the token endpoint's answer holds no id_token (is 'openid' in the provider's scope?)"
            .to_string()
    })
}

/// Verifies the ID token's signature with a key from the provider's JWKS.
async fn verify(
    s: &AppState,
    p: &OidcProvider,
    f: &Flight,
    token: &str,
) -> Result<core_idp::IdTokenClaims, Failure> {
    let provider = || p.display_name.clone();
    let (alg, kid, claims, input, sig) =
        w::parse_id_token(token, &p.claims).map_err(|why| Failure::Malformed {
            provider: provider(),
            why,
        })?;
    let Some(alg) = AssertionAlgorithm::parse(&alg) else {
        return Err(Failure::Algorithm {
            provider: provider(),
            alg,
        });
    };
    let signature = || Failure::Signature {
        provider: provider(),
        jwks_uri: f.meta.jwks_uri.clone(),
        kid: kid.clone().unwrap_or_default(),
    };
    // The key set is cached (an hour); a `kid` it does not hold fetches it again, at most once a
    // minute, so a provider's key rotation is picked up and forged `kid`s cannot hammer it.
    let key = match s
        .federation
        .key_at(&f.meta.jwks_uri, kid.as_deref(), alg)
        .await
    {
        Ok(k) => k,
        Err(crate::federation::KeyError::Unreachable(why)) => {
            return Err(Failure::Unreachable {
                provider: provider(),
                why,
                metadata_url: p.metadata_url.clone(),
            })
        }
        Err(crate::federation::KeyError::UnknownKey(_)) => return Err(signature()),
    };
    if !crate::federation::verify_signature(&key, alg, input, &sig) {
        return Err(signature());
    }
    Ok(claims)
}

/// A callback that stops: the page's status and sentence (cause and fix).
struct Stop(StatusCode, String);

impl From<&Failure> for Stop {
    fn from(f: &Failure) -> Self {
        let status = if f.is_upstream() {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::BAD_REQUEST
        };
        Self(status, f.message())
    }
}

/// `GET /redeem/external/callback?code=…&state=…`: the provider's answer. A guest sign-in
/// that stops here is also a row in the resource tenant's sign-in log (AADSTS50166 with the
/// page's sentence), so the administrator sees why the guest could not sign in.
async fn callback(
    State(s): State<AppState>,
    ctx: Ctx,
    axum::Extension(crate::http::ClientIp(ip)): axum::Extension<crate::http::ClientIp>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let key = crate::console::cookie(&headers, COOKIE).unwrap_or_default();
    let Some(f) = s.external_idp.take(&key) else {
        return failed(&Failure::NoFlight);
    };
    let guest = match &f.purpose {
        Purpose::Guest {
            guest,
            segment,
            ctx,
        } => Some((*guest, segment.clone(), ctx.clone())),
        Purpose::Redeem { .. } => None,
    };
    let resource = f.resource;
    match answer(&s, &ctx, ip.clone(), &headers, &q, f).await {
        Ok(r) => r,
        Err(Stop(status, why)) => {
            if let (Some((gid, segment, raw)), true) =
                (guest, status != StatusCode::SERVICE_UNAVAILABLE)
            {
                if let (Ok(Some(t)), Ok(Some(g))) = (
                    s.store.tenant(resource).await,
                    s.store.user(resource, gid).await,
                ) {
                    let e = castellan_core::error::AadstsError::external_idp_sign_in_failed(&why);
                    super::authorize::log_guest_refusal(
                        &s,
                        &segment,
                        &raw,
                        &t,
                        &g,
                        &e,
                        ctx.origin.correlation_id.clone(),
                        ip,
                        &headers,
                    )
                    .await;
                }
            }
            refused(status, &why)
        }
    }
}

async fn answer(
    s: &AppState,
    ctx: &Ctx,
    ip: String,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    f: Flight,
) -> Result<Response, Stop> {
    let unavailable = || Stop(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE.to_string());
    let bad = |m: String| Stop(StatusCode::BAD_REQUEST, m);
    if q.get("state") != Some(&f.state) {
        return Err((&Failure::StateMismatch).into());
    }
    let Ok(Some(t)) = s.store.tenant(f.resource).await else {
        return Err(unavailable());
    };
    let all = providers(s, &t).await.map_err(|_| unavailable())?;
    let Some(p) = all.iter().find(|p| p.id == f.provider) else {
        return Err((&Failure::ProviderRemoved).into());
    };
    if let Some(err) = q.get("error") {
        return Err((&Failure::ProviderError {
            provider: p.display_name.clone(),
            error: err.clone(),
            description: q.get("error_description").cloned().unwrap_or_default(),
        })
            .into());
    }
    // RFC 9207: a provider that names itself in the answer must be the one this sign-in used.
    if let Some(iss) = q.get("iss") {
        if *iss != p.issuer {
            return Err((&Failure::IssuerMismatch {
                provider: p.display_name.clone(),
                expected: p.issuer.clone(),
                found: iss.clone(),
            })
                .into());
        }
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return Err((&Failure::NoCode {
            provider: p.display_name.clone(),
        })
            .into());
    };
    let token = redeem_code(s, p, &f, code).await.map_err(|why| {
        Stop::from(&Failure::Unreachable {
            provider: p.display_name.clone(),
            why,
            metadata_url: p.metadata_url.clone(),
        })
    })?;
    let claims = verify(s, p, &f, &token).await.map_err(|f| Stop::from(&f))?;
    let x = core_idp::check_id_token(p, &claims, &f.nonce, now().secs())
        .map_err(|r| bad(r.message(&p.display_name)))?;
    match f.purpose {
        Purpose::Redeem { secret } => {
            let mut ent = crate::crypto::OsEntropy;
            let e = castellan_core::ops::Env {
                store: s.store.as_ref(),
                now: now(),
                entropy: &mut ent,
                hasher: &s.hasher,
                actor: castellan_core::audit::Actor::Operator,
                correlation_id: ctx.origin.correlation_id.clone(),
            };
            let invited = match castellan_core::ops::invitations::peek(&e, &t, &secret).await {
                Ok(Ok((g, _))) => g.attr("email").unwrap_or_default().to_string(),
                Ok(Err(r)) => return Err(bad(r.message())),
                Err(_) => return Err(unavailable()),
            };
            if !invited.eq_ignore_ascii_case(&x.email) {
                return Err(bad(format!(
                    "{} Nothing was changed.",
                    castellan_core::invitations::RedeemRefusal::WrongAddress {
                        invited,
                        proven: x.email.clone()
                    }
                    .message()
                )));
            }
            Ok(
                super::redeem::proven(s, t.id, secret, Proof::ExternalIdp(x), vec!["pwd".into()])
                    .await,
            )
        }
        Purpose::Guest {
            guest,
            segment,
            ctx: raw,
        } => {
            let Ok(Some(g)) = s.store.user(t.id, guest).await else {
                return Err(bad(
                    castellan_core::invitations::RedeemRefusal::GuestGone.message()
                ));
            };
            let same = g.external.as_ref().is_some_and(|e| {
                e.identities.iter().any(|i| {
                    i.issuer == x.issuer && i.issuer_assigned_id.as_deref() == Some(&x.subject)
                })
            });
            if !same {
                return Err((&Failure::WrongAccount {
                    provider: p.display_name.clone(),
                    email: x.email.clone(),
                })
                    .into());
            }
            Ok(super::authorize::resume_guest(
                s,
                &segment,
                &raw,
                &t,
                &g,
                // An external provider's guest has no home tenant here: no inbound trust.
                &[],
                None,
                ctx.origin.correlation_id.clone(),
                ip,
                headers,
            )
            .await)
        }
    }
}
