//! `GET|POST /{tenant}/mfa/setup`: a signed-in user (the tenant's SSO session cookie) registers
//! an authenticator app: the page shows the otpauth URI as an inline-SVG QR code and as text,
//! the user types the app's current code, and on success sees their recovery codes once.
//! Plain forms, no script, the same double-submit CSRF token as the sign-in pages.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use castellan_core::audit::Actor;
use castellan_core::model::{Tenant, User};
use castellan_core::ops::auth_methods::{self, Registration};
use castellan_core::ops::Env;

use super::authorize::{cookies, csrf_ok, csrf_token, current_session, with_csrf};
use super::pages;
use super::{resolve_tenant, TenantRef};
use crate::crypto::OsEntropy;
use crate::http::{ClientIp, CorrelationId};
use crate::signin_log::Attempt;
use crate::state::{now, AppState};

fn action(segment: &str) -> String {
    format!("/{segment}/mfa/setup")
}

/// The tenant and the user signed in to it in this browser, or the page that says why not.
async fn signed_in(
    s: &AppState,
    segment: &str,
    headers: &HeaderMap,
) -> Result<(Tenant, User), Box<Response>> {
    let tenant = match resolve_tenant(s.store.as_ref(), segment).await {
        Ok(TenantRef::Tenant(t)) => *t,
        Ok(_) => {
            return Err(Box::new(pages::mfa_message(
                StatusCode::NOT_FOUND,
                "Unknown organization",
                &format!("'{segment}' is not a tenant id or verified domain of this service. Open security info registration under your organization's id, e.g. /<tenant-id>/mfa/setup."),
            )))
        }
        Err(e) => return Err(Box::new(unavailable(&e.to_string()))),
    };
    match current_session(s, headers, Some(&tenant), now()).await {
        Ok(Some((t, u, _))) => Ok((t, u)),
        Ok(None) => Err(Box::new(pages::mfa_message(
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "You are not signed in to this organization in this browser (or your session ended). Sign in to any application of the organization, then open this page again.",
        ))),
        Err(e) => Err(Box::new(unavailable(&e))),
    }
}

fn unavailable(e: &str) -> Response {
    tracing::warn!(error = e, "mfa setup: store unavailable");
    pages::mfa_message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "The service is temporarily unavailable. Try again in a moment.",
    )
}

fn show(
    segment: &str,
    user: &User,
    reg: &Registration,
    headers: &HeaderMap,
    error: Option<&str>,
) -> Response {
    let (csrf, fresh) = csrf_token(headers);
    let r = pages::mfa_setup(&pages::MfaSetup {
        action: &action(segment),
        upn: &user.user_principal_name,
        otpauth_uri: &reg.otpauth_uri,
        secret: &reg.secret_base32,
        method_id: &reg.method_id.to_string(),
        csrf: &csrf,
        error,
    });
    with_csrf(r, &csrf, fresh)
}

fn env<'a>(s: &'a AppState, ent: &'a mut OsEntropy, user: &User, cid: &str) -> Env<'a> {
    Env {
        store: s.store.as_ref(),
        now: now(),
        entropy: ent,
        hasher: &s.hasher,
        actor: Actor::User {
            id: user.id,
            upn: user.user_principal_name.clone(),
        },
        correlation_id: cid.to_string(),
    }
}

/// `GET /{tenant}/mfa/setup`: starts a registration (replacing an unfinished one).
pub async fn page(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    headers: HeaderMap,
) -> Response {
    let (tenant, user) = match signed_in(&s, &segment, &headers).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut ent = OsEntropy;
    match auth_methods::begin_registration(
        &mut env(&s, &mut ent, &user, &cid),
        s.keys.as_ref(),
        &tenant,
        &user,
        // The SSO session records no MFA yet (the sign-in challenge comes later).
        false,
    )
    .await
    {
        Ok(reg) => show(&segment, &user, &reg, &headers, None),
        Err(castellan_core::DirectoryError::Forbidden(msg)) => pages::mfa_message(
            StatusCode::FORBIDDEN,
            "Authenticator app already registered",
            &msg,
        ),
        Err(e) => unavailable(&e.to_string()),
    }
}

/// Logs a refused confirmation code (wrong, or refused by the attempt limit) as a failed
/// interactive sign-in of the user, so administrators see guessing in the sign-in log.
async fn log_refusal(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    cid: &str,
    ip: &str,
    headers: &HeaderMap,
    e: &castellan_core::error::AadstsError,
) {
    let attempt = Attempt {
        tenant_id: tenant.id,
        correlation_id: cid.to_string(),
        ip: ip.to_string(),
        user_agent: crate::http::user_agent(headers),
        app_id: String::new(),
        interactive: true,
        client_app_used: "Browser".into(),
        details: "mfa/setup".into(),
        at: now(),
    };
    let mut rec = attempt.user(
        Some(&user.user_principal_name),
        Some(user.id),
        Some(&user.display_name),
        None,
        Some(e),
    );
    rec.app_display_name = Some("Security info registration".into());
    s.signins.record(rec).await;
}

/// `POST /{tenant}/mfa/setup`: confirms with the app's code; shows the recovery codes.
/// Confirmation codes count against the user's second-factor attempt limit.
pub async fn submit(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = match castellan_wire::form::parse_pairs(&body) {
        Ok(f) => f,
        Err(e) => return pages::mfa_message(StatusCode::BAD_REQUEST, "Start again", &e.message),
    };
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if !csrf_ok(&headers, get("csrf")) {
        // No CSRF cookie at all usually means cookies are blocked.
        let why = if cookies(&headers).is_empty() {
            "This browser sent no cookies: allow cookies for this site, then open this page again."
        } else {
            "The form expired or was submitted from another site (the anti-forgery check failed). Open this page again."
        };
        return pages::mfa_message(StatusCode::BAD_REQUEST, "Start again", why);
    }
    let (tenant, user) = match signed_in(&s, &segment, &headers).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(method) = get("method").and_then(castellan_core::ObjectId::parse) else {
        return pages::mfa_message(
            StatusCode::BAD_REQUEST,
            "Start again",
            "The form is missing the registration it belongs to. Open this page again.",
        );
    };
    let code = get("code").unwrap_or("");
    let mut ent = OsEntropy;
    match auth_methods::confirm_registration_checked(
        &mut env(&s, &mut ent, &user, &cid),
        s.keys.as_ref(),
        &tenant,
        &user,
        method,
        code,
    )
    .await
    {
        Ok(Ok(codes)) => pages::mfa_done(&codes),
        Ok(Err(lock)) => {
            let e = auth_methods::locked_error(&lock);
            log_refusal(&s, &tenant, &user, &cid, &ip, &headers, &e).await;
            match auth_methods::resume_registration(
                s.store.as_ref(),
                s.keys.as_ref(),
                &tenant,
                &user,
                method,
            )
            .await
            {
                Ok(Some(reg)) => pages::too_many_attempts(
                    show(&segment, &user, &reg, &headers, Some(&e.to_string())),
                    lock.retry_after_secs,
                ),
                Ok(_) => pages::too_many_attempts(
                    pages::mfa_message(
                        StatusCode::TOO_MANY_REQUESTS,
                        "Too many attempts",
                        &e.to_string(),
                    ),
                    lock.retry_after_secs,
                ),
                Err(e) => unavailable(&e.to_string()),
            }
        }
        Err(castellan_core::DirectoryError::BadRequest(msg)) => {
            let e = castellan_core::error::AadstsError::mfa_code_rejected();
            log_refusal(&s, &tenant, &user, &cid, &ip, &headers, &e).await;
            match auth_methods::resume_registration(
                s.store.as_ref(),
                s.keys.as_ref(),
                &tenant,
                &user,
                method,
            )
            .await
            {
                Ok(Some(reg)) => show(&segment, &user, &reg, &headers, Some(&msg)),
                Ok(None) => pages::mfa_message(
                    StatusCode::BAD_REQUEST,
                    "Start again",
                    "This registration is not pending any more. Open this page again.",
                ),
                Err(e) => unavailable(&e.to_string()),
            }
        }
        Err(castellan_core::DirectoryError::NotFound(msg)) => {
            pages::mfa_message(StatusCode::BAD_REQUEST, "Start again", &msg)
        }
        Err(e) => unavailable(&e.to_string()),
    }
}
