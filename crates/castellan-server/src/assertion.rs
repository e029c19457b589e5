//! Client assertions (RFC 7523 `private_key_jwt`; Microsoft identity platform certificate
//! credentials): the JWT names a registered certificate by `x5t#S256` or `x5t` (SHA-1) or `kid`
//! (hex SHA-1); its signature is checked with that certificate's key (RS256 or PS256 only — the
//! header's `alg` only picks between the two RSA schemes the credential type allows); `aud`
//! must be this tenant's token endpoint, `iss` = `sub` = the client id, `exp`/`nbf` current
//! (lifetime at most one hour).
//!
//! `jti`: every `jti` is remembered until its assertion expires, with a hash of the whole
//! assertion. A `jti` presented again in a *different* assertion is refused. The *identical*
//! assertion may be presented again until it expires, because that is what Entra accepts and
//! what MSAL relies on: MSAL caches one signed assertion and reuses it for about nine minutes
//! (`oauth2cli/assertion.py` `AutoRefresher`), so refusing it would break unmodified clients.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::error::{AadstsError, OAuthError};
use castellan_core::model::{Application, Grant, GrantKind, GrantState, Tenant};
use castellan_core::store::{Store, StoreError};
use castellan_core::Timestamp;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

/// Clock skew allowed on `exp`/`nbf`.
const LEEWAY_SECS: i64 = 300;
/// Longest lifetime accepted for an assertion.
const MAX_LIFETIME_SECS: i64 = 3600;

/// Parses DER as an X.509 end-entity certificate.
pub fn parse_certificate(der: &[u8]) -> Result<(), String> {
    let d = CertificateDer::from(der.to_vec());
    webpki::EndEntityCert::try_from(&d)
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

fn invalid(code: u32, message: impl Into<String>) -> AadstsError {
    AadstsError {
        code,
        error: OAuthError::InvalidClient,
        message: message.into(),
    }
}

/// Why an assertion was not accepted: a protocol error, or the store failing.
#[derive(Debug)]
pub enum AssertionError {
    /// Refuse with this error.
    Refused(AadstsError),
    /// The store failed.
    Store(StoreError),
}

impl From<AadstsError> for AssertionError {
    fn from(e: AadstsError) -> Self {
        Self::Refused(e)
    }
}

/// Verifies a client assertion for `app` in `tenant`. `audiences` are the token endpoint URLs
/// this server answers as for the tenant.
pub async fn verify_client_assertion(
    store: &dyn Store,
    tenant: &Tenant,
    app: &Application,
    assertion_type: Option<&str>,
    assertion: &str,
    audiences: &[String],
    now: Timestamp,
) -> Result<(), AssertionError> {
    if assertion_type != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return Err(invalid(
            50027,
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
        )
        .into());
    }
    // Bounded and split before anything else (wire::jwt: 16 KiB, header 8 KiB, base64url JSON).
    let jws = castellan_wire::jwt::split(assertion).map_err(|e| {
        invalid(
            50027,
            format!("The client assertion is not a well-formed JWT: {e}."),
        )
    })?;
    let (header, claims, signature) = (jws.header, jws.payload, jws.signature);
    let client_id = app.app_id.to_string();

    // Which registered certificate?
    // MSAL Python pads its base64url thumbprints ('='); accept both.
    let b64 = |k: &str| {
        header[k]
            .as_str()
            .and_then(|v| URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok())
    };
    let by_s256 = b64("x5t#S256");
    let by_sha1 = b64("x5t");
    let by_kid = header["kid"].as_str().and_then(|k| {
        hex::decode(k)
            .ok()
            .or_else(|| URL_SAFE_NO_PAD.decode(k.trim_end_matches('=')).ok())
    });
    let cert = app.key_credentials.iter().find(|k| {
        by_s256.as_deref() == Some(&k.sha256[..])
            || by_sha1.as_deref() == Some(&k.sha1[..])
            || by_kid.as_deref() == Some(&k.sha1[..])
            || by_kid.as_deref() == Some(&k.sha256[..])
    });
    let Some(cert) = cert else {
        return Err(invalid(700027, format!("Client assertion failed signature validation: no certificate registered on application '{client_id}' matches the assertion's x5t#S256 / x5t / kid. Upload the certificate to the application's keyCredentials.")).into());
    };
    if !cert.valid_at(now) {
        return Err(invalid(700027, format!("The certificate with key id {} is outside its validity period (startDateTime/endDateTime).", cert.key_id)).into());
    }
    let alg: &dyn rustls::pki_types::SignatureVerificationAlgorithm = match header["alg"].as_str() {
        Some("RS256") => webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
        Some("PS256") => webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        other => {
            return Err(invalid(
                700027,
                format!(
                "Client assertion algorithm {other:?} is not accepted: sign with PS256 or RS256."
            ),
            )
            .into())
        }
    };
    let der = CertificateDer::from(cert.certificate_der.clone());
    let ee = webpki::EndEntityCert::try_from(&der)
        .map_err(|_| invalid(700027, "The registered certificate cannot be parsed."))?;
    let signed = assertion
        .rsplit_once('.')
        .map(|(m, _)| m)
        .unwrap_or_default();
    if ee
        .verify_signature(alg, signed.as_bytes(), &signature)
        .is_err()
    {
        return Err(invalid(700027, "Client assertion failed signature validation: the signature does not verify with the registered certificate.").into());
    }

    // Claims.
    let aud_ok = match &claims["aud"] {
        Value::String(a) => audiences.contains(a),
        Value::Array(v) => v
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid(
            700027,
            format!(
                "The client assertion's aud must be this tenant's token endpoint ({}).",
                audiences.first().map(String::as_str).unwrap_or("")
            ),
        )
        .into());
    }
    if claims["iss"].as_str() != Some(client_id.as_str())
        || claims["sub"].as_str() != Some(client_id.as_str())
    {
        return Err(invalid(
            50048,
            format!("The client assertion's iss and sub must both be the client id '{client_id}'."),
        )
        .into());
    }
    let secs = now.secs();
    // NumericDate may carry a fraction (MSAL Python sends floats).
    #[allow(clippy::cast_possible_truncation)]
    let num = |v: &Value| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64));
    let exp =
        num(&claims["exp"]).ok_or_else(|| invalid(700024, "The client assertion has no exp."))?;
    if exp + LEEWAY_SECS <= secs {
        return Err(invalid(
            700024,
            "Client assertion is not within its valid time range: it has expired.",
        )
        .into());
    }
    if let Some(nbf) = num(&claims["nbf"]) {
        if nbf - LEEWAY_SECS > secs {
            return Err(invalid(
                700024,
                "Client assertion is not within its valid time range: nbf is in the future.",
            )
            .into());
        }
    }
    if exp - secs > MAX_LIFETIME_SECS {
        return Err(invalid(
            700024,
            "Client assertion lifetime is too long (exp more than one hour ahead).",
        )
        .into());
    }
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return Err(invalid(50027, "The client assertion has no jti.").into());
    };
    let remember = Grant {
        handle: format!("jti:{client_id}:{jti}"),
        kind: GrantKind::AssertionId,
        tenant_id: tenant.id,
        family: None,
        user_id: None,
        lookup: None,
        state: GrantState::Used,
        created: now,
        expires: Timestamp::from_secs(exp + LEEWAY_SECS),
        attrs: vec![(
            "assertion_sha256".into(),
            hex::encode(castellan_core::secret::sha256(assertion.as_bytes())),
        )],
    };
    match store.insert_grant(&remember).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => {
            let seen = store
                .grant(&remember.handle)
                .await
                .map_err(AssertionError::Store)?;
            if seen.is_some_and(|g| g.attr("assertion_sha256") == remember.attr("assertion_sha256"))
            {
                Ok(())
            } else {
                Err(invalid(700027, format!("The jti '{jti}' was already used by a different client assertion; every assertion needs its own jti.")).into())
            }
        }
        Err(e) => Err(AssertionError::Store(e)),
    }
}

fn obo_err(code: u32, message: impl Into<String>) -> AadstsError {
    AadstsError {
        code,
        error: OAuthError::InvalidGrant,
        message: message.into(),
    }
}

/// Validates the user token an on-behalf-of request presents: signed by this server (RS256,
/// published `kid`), issued for `tenant`, unexpired, a delegated (user) token, and addressed to
/// the calling application (`aud` = its appId or one of its identifier URIs). Returns the
/// user's object id.
pub fn validate_obo_assertion(
    keys: &crate::keys::KeyRing,
    issuers: &[String],
    tenant: &Tenant,
    caller: &Application,
    token: &str,
    now: Timestamp,
) -> Result<(castellan_core::ObjectId, castellan_core::flow::Authn), AadstsError> {
    castellan_wire::jwt::check_size(token).map_err(|e| {
        obo_err(
            50027,
            format!("The assertion is not a well-formed JWT: {e}."),
        )
    })?;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| obo_err(50027, "The assertion is not a well-formed JWT."))?;
    let kid = header.kid.ok_or_else(|| {
        obo_err(
            50027,
            "The assertion has no kid; it was not issued by this server.",
        )
    })?;
    let key = keys.decoding_key(&kid, now).ok_or_else(|| {
        obo_err(
            50027,
            "The assertion's signing key is not one this server publishes.",
        )
    })?;
    let mut audiences = vec![caller.app_id.to_string()];
    audiences.extend(caller.identifier_uris.iter().cloned());
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.leeway = 0;
    v.set_audience(&audiences);
    v.set_issuer(issuers);
    v.set_required_spec_claims(&["exp", "aud", "iss"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => obo_err(500133, "Assertion is not within its valid time range: the user token has expired. Get a fresh token from the client."),
        jsonwebtoken::errors::ErrorKind::InvalidAudience => obo_err(50013, format!("Assertion failed signature validation or its audience does not match the client app presenting it: the token's aud must be this API ('{}' or one of its identifier URIs).", caller.app_id)),
        jsonwebtoken::errors::ErrorKind::InvalidIssuer => obo_err(50013, "The assertion was not issued by this tenant on this server."),
        _ => obo_err(50013, "Assertion failed signature validation."),
    })?;
    let c = data.claims;
    if c["tid"].as_str() != Some(tenant.id.to_string().as_str()) {
        return Err(obo_err(
            50013,
            "The assertion was issued for another tenant.",
        ));
    }
    if c["scp"].as_str().is_none() {
        return Err(obo_err(
            50013,
            "The assertion is an app-only token; on-behalf-of needs a user's delegated token.",
        ));
    }
    let oid = c["oid"]
        .as_str()
        .and_then(castellan_core::ObjectId::parse)
        .ok_or_else(|| obo_err(50013, "The assertion has no valid oid."))?;
    // What the user did, from the token's sealed `aio`; a token without one (or not sealed by
    // this server) counts as a password sign-in at its issue time.
    let authn = c["aio"]
        .as_str()
        .and_then(|a| keys.open_aio(a))
        .unwrap_or_else(|| {
            castellan_core::flow::Authn::password(Timestamp::from_secs(
                c["iat"].as_i64().unwrap_or(now.secs()),
            ))
        });
    Ok((oid, authn))
}
