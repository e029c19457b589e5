//! The byte formats of workload identity federation, as read from the outside world:
//! - a presented JWT (RFC 7519 / RFC 7515 compact serialisation): header (`alg`, `kid`) and the
//!   claims `flow::federated_assertion` decides on, parsed *before* the signature is checked
//!   (the server verifies it with the key the header names, from the issuer's JWKS);
//! - an issuer's OpenID Connect discovery document (OpenID Connect Discovery 1.0 §3: `issuer`,
//!   `jwks_uri`);
//! - its JWK Set (RFC 7517 §5), keeping only public signature keys this server can use.
//!
//! Sizes are bounded by the caller (the server caps what it reads from the network) and here
//! (assertion length, number of keys).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::error::{AadstsError, Code};
use castellan_core::flow::federated_assertion::AssertionClaims;
use serde_json::Value;

/// Longest assertion accepted (GitHub's tokens are ~1 KiB; Kubernetes' ~1.5 KiB): the limit
/// every presented JWT has, [`crate::jwt::MAX_JWT_LEN`].
pub const MAX_ASSERTION_LEN: usize = crate::jwt::MAX_JWT_LEN;
/// At most this many keys are kept from an issuer's JWKS (Entra keeps the first 100).
pub const MAX_JWKS_KEYS: usize = 100;

/// The protected header of a JWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoseHeader {
    /// `alg`, as sent (the server checks it against an allowlist).
    pub alg: String,
    /// `kid`.
    pub kid: Option<String>,
}

/// A compact JWS split and decoded, not yet verified.
#[derive(Clone, Debug)]
pub struct UnverifiedJwt<'a> {
    /// The header.
    pub header: JoseHeader,
    /// The claims federation looks at.
    pub claims: AssertionClaims,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The signature, decoded.
    pub signature: Vec<u8>,
}

fn malformed(why: &str) -> AadstsError {
    Code::FicMalformed.aadsts(&[("why", &why)])
}

fn b64(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()
}

/// A NumericDate, which may carry a fraction (RFC 7519 §2).
#[allow(clippy::cast_possible_truncation)]
fn numeric_date(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// Reads only the payload's `iss` (to tell federated from self-signed assertions before
/// anything else is checked). `None` if the token is not a JWT or has no string `iss`.
pub fn peek_issuer(token: &str) -> Option<String> {
    let token = token.trim();
    crate::jwt::check_size(token).ok()?;
    let payload = token.split('.').nth(1)?;
    let v: Value = serde_json::from_slice(&b64(payload)?).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

/// Splits and decodes a compact JWS (leading/trailing whitespace removed: azure-identity sends
/// the token file verbatim, trailing newline included). Refuses JWE, unsigned tokens and
/// anything malformed with 50027.
pub fn parse_unverified(token: &str) -> Result<UnverifiedJwt<'_>, AadstsError> {
    let token = token.trim();
    let crate::jwt::CompactJws {
        header,
        payload,
        signing_input,
        signature,
    } = crate::jwt::split(token).map_err(|e| malformed(&e.to_string()))?;
    if signature.is_empty() {
        return Err(malformed("it is unsigned"));
    }
    if header.get("crit").is_some() {
        return Err(malformed(
            "it has critical header parameters ('crit') this server does not understand",
        ));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the header has no alg"))?
        .to_string();
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let s = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_string);
    let aud = match payload.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    };
    Ok(UnverifiedJwt {
        header: JoseHeader { alg, kid },
        claims: AssertionClaims {
            iss: s("iss"),
            sub: s("sub"),
            aud,
            exp: numeric_date(payload.get("exp")),
            nbf: numeric_date(payload.get("nbf")),
        },
        signing_input,
        signature,
    })
}

/// The two fields of an OpenID Provider's configuration federation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// `issuer`: must equal the issuer URL it was fetched for (Discovery §4.3).
    pub issuer: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
}

/// Parses `/.well-known/openid-configuration`.
pub fn parse_provider_metadata(body: &[u8]) -> Result<ProviderMetadata, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the discovery document is not JSON ({e})"))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("the discovery document has no string '{k}'"))
    };
    Ok(ProviderMetadata {
        issuer: field("issuer")?,
        jwks_uri: field("jwks_uri")?,
    })
}

/// A public signature key from a JWKS (only the members this server uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicJwk {
    /// `kid`.
    pub kid: Option<String>,
    /// `kty`: `RSA` or `EC`.
    pub kty: String,
    /// `alg`, if the issuer pinned one.
    pub alg: Option<String>,
    /// `crv` (EC).
    pub crv: Option<String>,
    /// RSA modulus, base64url as published.
    pub n: Option<String>,
    /// RSA exponent, base64url.
    pub e: Option<String>,
    /// EC x, base64url.
    pub x: Option<String>,
    /// EC y, base64url.
    pub y: Option<String>,
}

/// Parses a JWK Set: keys that are not RSA/EC, that are marked for encryption (`use` other
/// than `sig`) or lack their public members are skipped; at most [`MAX_JWKS_KEYS`] are kept.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<PublicJwk>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the JWKS is not JSON ({e})"))?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no 'keys' array")?;
    let s = |k: &Value, m: &str| k.get(m).and_then(Value::as_str).map(str::to_string);
    let out: Vec<PublicJwk> = keys
        .iter()
        .filter(|k| s(k, "use").is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let kty = s(k, "kty")?;
            let jwk = PublicJwk {
                kid: s(k, "kid"),
                alg: s(k, "alg"),
                crv: s(k, "crv"),
                n: s(k, "n"),
                e: s(k, "e"),
                x: s(k, "x"),
                y: s(k, "y"),
                kty,
            };
            let usable = match jwk.kty.as_str() {
                "RSA" => jwk.n.is_some() && jwk.e.is_some(),
                "EC" => jwk.x.is_some() && jwk.y.is_some() && jwk.crv.is_some(),
                _ => false,
            };
            usable.then_some(jwk)
        })
        .take(MAX_JWKS_KEYS)
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }
    fn jwt(h: &Value, p: &Value) -> String {
        format!("{}.{}.c2ln", enc(h), enc(p))
    }

    #[test]
    fn parses_assertions() {
        let t = jwt(
            &json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
            &json!({"iss": "https://i", "sub": "s", "aud": "api://AzureADTokenExchange", "exp": 10, "nbf": 5.5}),
        );
        let with_newline = format!("{t}\n");
        let p = parse_unverified(&with_newline).unwrap();
        assert_eq!(p.header.alg, "RS256");
        assert_eq!(p.header.kid.as_deref(), Some("k1"));
        assert_eq!(p.claims.iss.as_deref(), Some("https://i"));
        assert_eq!(p.claims.aud, vec!["api://AzureADTokenExchange".to_string()]);
        assert_eq!(p.claims.exp, Some(10));
        assert_eq!(p.claims.nbf, Some(5));
        assert_eq!(p.signature, b"sig".to_vec());
        assert!(t.starts_with(p.signing_input) && !p.signing_input.ends_with('.'));
        assert_eq!(peek_issuer(&with_newline).as_deref(), Some("https://i"));
        let arr = jwt(&json!({"alg": "ES256"}), &json!({"aud": ["a", "b", 3]}));
        assert_eq!(parse_unverified(&arr).unwrap().claims.aud, vec!["a", "b"]);
    }

    #[test]
    fn refuses_malformed_assertions() {
        let h = json!({"alg": "RS256"});
        let p = json!({"iss": "https://i"});
        for bad in [
            String::new(),
            "a.b".into(),
            "a.b.c.d.e".into(),
            format!("{}.{}.", enc(&h), enc(&p)),
            format!("{}.{}.c2ln", enc(&json!({})), enc(&p)),
            format!(
                "{}.{}.c2ln",
                enc(&json!({"alg": "RS256", "crit": ["x"]})),
                enc(&p)
            ),
            format!("{}.{}.c2ln", enc(&h), enc(&json!([1]))),
            format!("{}.bm90IGpzb24.c2ln", enc(&h)),
            format!("{}.{}.c2ln", enc(&h), "x".repeat(MAX_ASSERTION_LEN)),
        ] {
            let e = parse_unverified(&bad).unwrap_err();
            assert_eq!(e.code, 50027, "{bad}");
        }
        assert_eq!(peek_issuer("nonsense"), None);
    }

    #[test]
    fn provider_metadata_and_jwks() {
        let m =
            parse_provider_metadata(br#"{"issuer":"https://i","jwks_uri":"https://i/jwks","x":1}"#)
                .unwrap();
        assert_eq!(m.jwks_uri, "https://i/jwks");
        assert!(parse_provider_metadata(br#"{"issuer":"https://i"}"#)
            .unwrap_err()
            .contains("jwks_uri"));
        assert!(parse_provider_metadata(b"<html>").is_err());
        let keys = parse_jwks(
            br#"{"keys":[
            {"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB","use":"sig"},
            {"kty":"RSA","kid":"enc","n":"AQAB","e":"AQAB","use":"enc"},
            {"kty":"EC","kid":"e","crv":"P-256","x":"AA","y":"AA"},
            {"kty":"oct","kid":"h","k":"AA"},
            {"kty":"RSA","kid":"nomod","e":"AQAB"}
        ]}"#,
        )
        .unwrap();
        let kids: Vec<_> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, vec!["r", "e"]);
        let many: Vec<Value> = (0..150)
            .map(|i| json!({"kty":"RSA","kid":format!("{i}"),"n":"AQAB","e":"AQAB"}))
            .collect();
        let body = serde_json::to_vec(&json!({"keys": many})).unwrap();
        assert_eq!(parse_jwks(&body).unwrap().len(), MAX_JWKS_KEYS);
        assert!(parse_jwks(b"{}").is_err());
    }
}
