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
use castellan_core::error::{AadstsError, Code};
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
        return Err(Code::ClientAssertionType.aadsts(&[]).into());
    }
    // Bounded and split before anything else (wire::jwt: 16 KiB, header 8 KiB, base64url JSON).
    let jws = castellan_wire::jwt::split(assertion)
        .map_err(|e| Code::ClientAssertionMalformed.aadsts(&[("e", &e)]))?;
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
        return Err(Code::ClientAssertionNoCertificate
            .aadsts(&[("client_id", &client_id)])
            .into());
    };
    if !cert.valid_at(now) {
        return Err(Code::ClientAssertionCertificateExpired
            .aadsts(&[("key_id", &cert.key_id)])
            .into());
    }
    let alg: &dyn rustls::pki_types::SignatureVerificationAlgorithm = match header["alg"].as_str() {
        Some("RS256") => webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
        Some("PS256") => webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        other => {
            return Err(Code::ClientAssertionAlgorithm
                .aadsts(&[("other", &format!("{other:?}"))])
                .into())
        }
    };
    let der = CertificateDer::from(cert.certificate_der.clone());
    let ee = webpki::EndEntityCert::try_from(&der)
        .map_err(|_| Code::ClientAssertionCertificateUnparsable.aadsts(&[]))?;
    let signed = assertion
        .rsplit_once('.')
        .map(|(m, _)| m)
        .unwrap_or_default();
    if ee
        .verify_signature(alg, signed.as_bytes(), &signature)
        .is_err()
    {
        return Err(Code::ClientAssertionSignature.aadsts(&[]).into());
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
        return Err(Code::ClientAssertionAudience
            .aadsts(&[(
                "endpoint",
                &audiences.first().map(String::as_str).unwrap_or(""),
            )])
            .into());
    }
    if claims["iss"].as_str() != Some(client_id.as_str())
        || claims["sub"].as_str() != Some(client_id.as_str())
    {
        return Err(Code::ClientAssertionIssSub
            .aadsts(&[("client_id", &client_id)])
            .into());
    }
    let secs = now.secs();
    // NumericDate may carry a fraction (MSAL Python sends floats).
    #[allow(clippy::cast_possible_truncation)]
    let num = |v: &Value| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64));
    let exp = num(&claims["exp"]).ok_or_else(|| Code::ClientAssertionNoExp.aadsts(&[]))?;
    if exp + LEEWAY_SECS <= secs {
        return Err(Code::ClientAssertionExpired.aadsts(&[]).into());
    }
    if let Some(nbf) = num(&claims["nbf"]) {
        if nbf - LEEWAY_SECS > secs {
            return Err(Code::ClientAssertionNotYetValid.aadsts(&[]).into());
        }
    }
    if exp - secs > MAX_LIFETIME_SECS {
        return Err(Code::ClientAssertionTooLong.aadsts(&[]).into());
    }
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return Err(Code::ClientAssertionNoJti.aadsts(&[]).into());
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
                Err(Code::ClientAssertionJtiReused
                    .aadsts(&[("jti", &jti)])
                    .into())
            }
        }
        Err(e) => Err(AssertionError::Store(e)),
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
    castellan_wire::jwt::check_size(token)
        .map_err(|e| Code::OboAssertionOversize.aadsts(&[("e", &e)]))?;
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| Code::OboAssertionMalformed.aadsts(&[]))?;
    let kid = header
        .kid
        .ok_or_else(|| Code::OboAssertionNoKid.aadsts(&[]))?;
    let key = keys
        .decoding_key(&kid, now)
        .ok_or_else(|| Code::OboAssertionUnknownKey.aadsts(&[]))?;
    let mut audiences = vec![caller.app_id.to_string()];
    audiences.extend(caller.identifier_uris.iter().cloned());
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.leeway = 0;
    v.set_audience(&audiences);
    v.set_issuer(issuers);
    v.set_required_spec_claims(&["exp", "aud", "iss"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => Code::OboAssertionExpired.aadsts(&[]),
        jsonwebtoken::errors::ErrorKind::InvalidAudience => {
            Code::OboAssertionAudience.aadsts(&[("app_id", &caller.app_id)])
        }
        jsonwebtoken::errors::ErrorKind::InvalidIssuer => Code::OboAssertionIssuer.aadsts(&[]),
        _ => Code::OboAssertionSignature.aadsts(&[]),
    })?;
    let c = data.claims;
    if c["tid"].as_str() != Some(tenant.id.to_string().as_str()) {
        return Err(Code::OboAssertionOtherTenant.aadsts(&[]));
    }
    if c["scp"].as_str().is_none() {
        return Err(Code::OboAssertionAppOnly.aadsts(&[]));
    }
    let oid = c["oid"]
        .as_str()
        .and_then(castellan_core::ObjectId::parse)
        .ok_or_else(|| Code::OboAssertionNoOid.aadsts(&[]))?;
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
