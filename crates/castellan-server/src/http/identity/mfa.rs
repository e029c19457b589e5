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
use crate::http::CorrelationId;
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

/// `POST /{tenant}/mfa/setup`: confirms with the app's code; shows the recovery codes.
pub async fn submit(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
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
    match auth_methods::confirm_registration(
        &mut env(&s, &mut ent, &user, &cid),
        s.keys.as_ref(),
        &tenant,
        &user,
        method,
        code,
    )
    .await
    {
        Ok(codes) => pages::mfa_done(&codes),
        Err(castellan_core::DirectoryError::BadRequest(msg)) => {
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
