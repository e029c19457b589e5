//! `POST /{tenant}/oauth2/v2.0/token`: parse the form (wire), run the grant (core), sign, render.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_core::error::AadstsError;
use castellan_core::ops::token::{self, ClientCredentialsRequest, PasswordRequest, TokenError};
use castellan_core::secret::SecretText;
use castellan_core::Timestamp;
use castellan_wire::claims;
use castellan_wire::errors::{token_error_body, token_error_status};
use castellan_wire::form::Form;

use super::{resolve_tenant, TenantRef};
use crate::crypto::random_token;
use crate::http::{host, CorrelationId};
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

fn unavailable(e: &impl std::fmt::Display, cid: &str, at: Timestamp) -> Response {
    tracing::warn!(error = %e, "store unavailable during token request");
    let err = AadstsError {
        code: 90055,
        error: castellan_core::error::OAuthError::TemporarilyUnavailable,
        message: "The service is temporarily unavailable (its store did not answer). Retry after the delay in Retry-After.".into(),
    };
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

/// The token endpoint.
pub async fn token(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    Extension(CorrelationId(cid)): Extension<CorrelationId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = now();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let form = match Form::from_pairs(pairs) {
        Ok(f) => f,
        Err(e) => return error(&e, &cid, at),
    };
    let tenant = match resolve_tenant(s.store.as_ref(), &segment).await {
        Ok(TenantRef::Tenant(t)) => t,
        Ok(TenantRef::Alias(a)) => {
            let grant = form.get("grant_type").unwrap_or("");
            return error(&AadstsError::grant_needs_tenant(grant, a), &cid, at);
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
    match grant.as_str() {
        "client_credentials" => {
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
            let req = ClientCredentialsRequest {
                client_id: client_id.clone(),
                client_secret: secret.map(SecretText::new),
                has_client_assertion: form.get("client_assertion").is_some(),
                scope: form.get("scope").map(str::to_string),
            };
            match token::client_credentials(s.store.as_ref(), &tenant, req, at, random_token(16))
                .await
            {
                Ok(c) => {
                    let origin = s.origins.for_host(host(&headers));
                    let iss = claims::issuer(&origin, &tenant.id.to_string());
                    let payload = claims::access_token_payload(&c, &iss);
                    match s.keys.sign_jwt(&payload, at) {
                        Ok(jwt) => {
                            tracing::info!(client_id = client_id.as_deref().unwrap_or(""), tenant = %tenant.id, aud = %c.aud, "issued app-only token");
                            no_store(
                                Json(claims::token_response(&jwt, c.exp.secs() - c.iat.secs()))
                                    .into_response(),
                            )
                        }
                        Err(e) => unavailable(&e, &cid, at),
                    }
                }
                Err(TokenError::Aadsts(e)) => error(&e, &cid, at),
                Err(TokenError::Store(e)) => unavailable(&e, &cid, at),
            }
        }
        "password" => {
            let (mut client_id, mut secret) = (
                form.get("client_id").map(str::to_string),
                form.get("client_secret").map(str::to_string),
            );
            if let Some((bid, bsecret)) = basic {
                client_id = Some(bid);
                secret = Some(bsecret);
            }
            let req = PasswordRequest {
                client_id,
                client_secret: secret.map(SecretText::new),
                username: form.get("username").map(str::to_string),
                password: form.get("password").map(SecretText::new),
                scope: form.get("scope").map(str::to_string),
            };
            match token::password(
                s.store.as_ref(),
                &s.hasher,
                &tenant,
                req,
                at,
                (random_token(16), random_token(16)),
            )
            .await
            {
                Ok(t) => {
                    let origin = s.origins.for_host(host(&headers));
                    let iss = claims::issuer(&origin, &tenant.id.to_string());
                    let access = match s
                        .keys
                        .sign_jwt(&claims::access_token_payload(&t.access, &iss), at)
                    {
                        Ok(j) => j,
                        Err(e) => return unavailable(&e, &cid, at),
                    };
                    let mut body =
                        claims::token_response(&access, t.access.exp.secs() - t.access.iat.secs());
                    body["scope"] = serde_json::json!(t.scope);
                    if let Some(id) = &t.id {
                        match s.keys.sign_jwt(&claims::id_token_payload(id, &iss), at) {
                            Ok(j) => body["id_token"] = serde_json::json!(j),
                            Err(e) => return unavailable(&e, &cid, at),
                        }
                    }
                    if form.get("client_info") == Some("1") {
                        body["client_info"] = serde_json::json!(claims::client_info(
                            &t.access.oid.to_string(),
                            &tenant.id.to_string()
                        ));
                    }
                    tracing::info!(tenant = %tenant.id, user = %t.access.oid, aud = %t.access.aud, "issued user token (password grant)");
                    no_store(Json(body).into_response())
                }
                Err(TokenError::Aadsts(e)) => error(&e, &cid, at),
                Err(TokenError::Store(e)) => unavailable(&e, &cid, at),
            }
        }
        other => error(&AadstsError::unsupported_grant_type(other), &cid, at),
    }
}
