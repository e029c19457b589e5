//! Bearer-token validation shared by the resource APIs Castellan serves besides Graph (ARM and
//! the sample data plane): our own signing keys (the `kid` picks one; the algorithm is fixed by
//! us, never taken from the token), audience, issuer (v1 or v2, both this server's), lifetime.

use axum::http::{header, HeaderMap};
use castellan_wire::claims::ValidatedClaims;
use jsonwebtoken::{Algorithm, Validation};

use crate::state::{now, AppState};

/// The bearer token of a request, if any.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
}

/// Validates the request's bearer token for one of `audiences`; the error names what is wrong
/// and, for a wrong or missing token, the scope to ask for (`scope_hint`).
pub fn validate(
    s: &AppState,
    headers: &HeaderMap,
    audiences: &[String],
    resource_name: &str,
    scope_hint: &str,
) -> Result<ValidatedClaims, String> {
    let Some(token) = token(headers) else {
        return Err(format!(
            "Access token is empty. Send 'Authorization: Bearer <token>' with a token for {scope_hint}."
        ));
    };
    castellan_wire::jwt::check_size(token)
        .map_err(|e| format!("IDX14100: JWT is not well formed: {e}."))?;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| "IDX14100: JWT is not well formed.".to_string())?;
    let kid = header.kid.ok_or_else(|| {
        "The token has no 'kid' header; it was not issued by this server.".to_string()
    })?;
    let key = s.keys.decoding_key(&kid, now()).ok_or_else(|| {
        "The token's signing key is not one this server publishes (unknown or expired kid)."
            .to_string()
    })?;
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = 300;
    v.set_audience(audiences);
    v.set_required_spec_claims(&["exp", "aud", "iss", "nbf"]);
    let data =
        jsonwebtoken::decode::<ValidatedClaims>(token, &key, &v).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                "Lifetime validation failed, the token is expired.".to_string()
            }
            jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                format!("Invalid audience: this token is not for {resource_name}. Request a token with scope {scope_hint}.")
            }
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                "Signature validation failed.".to_string()
            }
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                "The token is not yet valid (nbf).".to_string()
            }
            _ => "The access token is not valid.".to_string(),
        })?;
    let c = data.claims;
    // Graph, ARM and Storage accept v1 tokens (what Castellan, like Entra, issues for them), whose
    // issuer is `{origin}/{tid}/`; APIs asking for v2 get `{origin}/{tid}/v2.0`. Either is one of
    // this server's own for the token's tenant.
    let issuers = s.origins.issuers(&c.tid);
    if !issuers.contains(&c.iss)
        && !issuers
            .iter()
            .any(|i| castellan_wire::claims::v1_issuer(i) == c.iss)
    {
        return Err(
            "Invalid issuer: the token was not issued by this server for its tenant.".into(),
        );
    }
    Ok(c)
}
