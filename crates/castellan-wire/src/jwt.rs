//! The compact JWS serialisation (RFC 7515 §3.1, §7.1) of every JWT that arrives from outside —
//! client assertions (RFC 7523), on-behalf-of assertions, federated assertions, device
//! assertions, bearer tokens — split and decoded *before* any signature is checked.
//!
//! Bounds come first, before any base64 or JSON decoding: at most [`MAX_JWT_LEN`] bytes in all
//! and [`MAX_JWT_HEADER_LEN`] bytes of encoded protected header; exactly three parts; header and
//! payload must be base64url JSON objects (serde_json's own recursion limit of 128 holds for
//! them). Verification (algorithm allowlist, key, claims) is the caller's; nothing here trusts
//! the header.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// The longest JWT accepted anywhere, in bytes: 16 KiB. Entra's own access tokens stay below
/// it by design (past 200 groups the `groups` claim becomes an overage pointer); GitHub's and
/// Kubernetes' federated tokens are 1–2 KiB; an MSAL certificate assertion with its `x5c` chain
/// is a few KiB.
pub const MAX_JWT_LEN: usize = 16 * 1024;
/// The longest encoded protected header accepted, in bytes: 12 KiB, room for the `x5c` chain
/// MSAL sends with `send_x5c` (three 4096-bit certificates encode to about 9.5 KiB) while
/// leaving the claims and signature their share of [`MAX_JWT_LEN`].
pub const MAX_JWT_HEADER_LEN: usize = 12 * 1024;

/// Why a token is not a well-formed, bounded compact JWS.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtFormError {
    /// Longer than [`MAX_JWT_LEN`].
    #[error("the token is {0} bytes long; at most {MAX_JWT_LEN} bytes are accepted")]
    TooLong(usize),
    /// The encoded header is longer than [`MAX_JWT_HEADER_LEN`].
    #[error(
        "the token's header is {0} bytes long; at most {MAX_JWT_HEADER_LEN} bytes are accepted"
    )]
    HeaderTooLong(usize),
    /// Not `header.payload.signature`.
    #[error("expected header.payload.signature (three base64url parts)")]
    Parts,
    /// The header is not a base64url JSON object.
    #[error("the header is not a base64url JSON object")]
    Header,
    /// The payload is not a base64url JSON object.
    #[error("the payload is not a base64url JSON object")]
    Payload,
    /// The signature is not base64url.
    #[error("the signature is not base64url")]
    Signature,
}

/// A compact JWS split and decoded, not verified.
#[derive(Clone, Debug)]
pub struct CompactJws<'a> {
    /// The protected header (a JSON object).
    pub header: Value,
    /// The claims (a JSON object).
    pub payload: Value,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The signature, decoded (may be empty; callers refuse unsigned tokens).
    pub signature: Vec<u8>,
}

fn b64(part: &str) -> Option<Vec<u8>> {
    // Some clients pad base64url ('='); RFC 7515 says not to, but accepting it harms nothing.
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()
}

/// Checks only the sizes ([`MAX_JWT_LEN`], [`MAX_JWT_HEADER_LEN`]), for callers that hand the
/// token to a verifying library next.
pub fn check_size(token: &str) -> Result<(), JwtFormError> {
    if token.len() > MAX_JWT_LEN {
        return Err(JwtFormError::TooLong(token.len()));
    }
    let header = token.split('.').next().unwrap_or("");
    if header.len() > MAX_JWT_HEADER_LEN {
        return Err(JwtFormError::HeaderTooLong(header.len()));
    }
    Ok(())
}

/// Splits and decodes a compact JWS after [`check_size`]. Surrounding whitespace is the
/// caller's to trim.
pub fn split(token: &str) -> Result<CompactJws<'_>, JwtFormError> {
    check_size(token)?;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtFormError::Parts);
    };
    let header: Value = b64(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .ok_or(JwtFormError::Header)?;
    let payload: Value = b64(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .ok_or(JwtFormError::Payload)?;
    let signature = b64(sig).ok_or(JwtFormError::Signature)?;
    let signing_input = token
        .rsplit_once('.')
        .map(|(m, _)| m)
        .ok_or(JwtFormError::Parts)?;
    Ok(CompactJws {
        header,
        payload,
        signing_input,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn a_token_splits_and_bounds_are_named() {
        let t = format!(
            "{}.{}.{}",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"iss":"x"}"#),
            enc("sig")
        );
        let j = split(&t).unwrap();
        assert_eq!(j.header["alg"], "RS256");
        assert_eq!(j.payload["iss"], "x");
        assert_eq!(j.signature, b"sig");
        assert_eq!(j.signing_input, t.rsplit_once('.').unwrap().0);

        let long = format!("{t}{}", "A".repeat(MAX_JWT_LEN));
        let e = split(&long).unwrap_err();
        assert_eq!(e, JwtFormError::TooLong(long.len()));
        assert!(e.to_string().contains("at most 16384 bytes"), "{e}");
        let big_header = format!("{}.{}.x", "A".repeat(MAX_JWT_HEADER_LEN + 1), enc("{}"));
        assert!(matches!(
            split(&big_header),
            Err(JwtFormError::HeaderTooLong(_))
        ));
        // At the limit: the size check passes (the content then decides).
        assert!(check_size(&"A".repeat(MAX_JWT_HEADER_LEN)).is_ok());
    }

    #[test]
    fn malformed_tokens_are_errors() {
        let h = enc(r#"{"alg":"RS256"}"#);
        for (t, want) in [
            (String::new(), JwtFormError::Parts),
            ("a.b".to_string(), JwtFormError::Parts),
            ("a.b.c.d".to_string(), JwtFormError::Parts),
            (
                format!("{}.{}.x", enc("[1]"), enc("{}")),
                JwtFormError::Header,
            ),
            (format!("{h}.{}.x", enc("7")), JwtFormError::Payload),
            (format!("{h}.{}.!", enc("{}")), JwtFormError::Signature),
        ] {
            assert_eq!(split(&t).unwrap_err(), want, "{t}");
        }
        // JSON nested past serde_json's recursion limit is refused, not a crash.
        let deep = format!("{}{}", "[".repeat(7000), "]".repeat(7000));
        let t = format!("{h}.{}.x", enc(&deep));
        assert_eq!(split(&t).unwrap_err(), JwtFormError::TooLong(t.len()));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let t = format!("{h}.{}.x", enc(&deep));
        assert_eq!(split(&t).unwrap_err(), JwtFormError::Payload);
    }
}
