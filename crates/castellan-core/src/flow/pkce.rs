//! Proof Key for Code Exchange (RFC 7636). Only `S256` is accepted (`plain` is refused, per
//! RFC 9700 §2.1.1); a challenge is required for public clients and SPAs; the verifier is
//! compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::error::{AadstsError, Code};

/// A validated code challenge (`code_challenge_method=S256`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// The challenge text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// A challenge read back from storage (validated when it was stored).
    pub fn from_stored(s: &str) -> Self {
        Self(s.to_string())
    }
}

fn unreserved(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

/// Validates the authorize request's PKCE parameters. `required` is true for public clients
/// and SPA redirects.
pub fn challenge_from_request(
    challenge: Option<&str>,
    method: Option<&str>,
    required: bool,
) -> Result<Option<CodeChallenge>, AadstsError> {
    let Some(c) = challenge else {
        if method.is_some() {
            return Err(Code::PkceMethodWithoutChallenge.aadsts(&[]));
        }
        if required {
            return Err(Code::PkceRequired.aadsts(&[]));
        }
        return Ok(None);
    };
    match method {
        Some("S256") => {}
        Some("plain") | None => return Err(Code::PkcePlainRefused.aadsts(&[])),
        Some(other) => return Err(Code::PkceUnknownMethod.aadsts(&[("method", &other)])),
    }
    if c.len() != 43 || !unreserved(c) {
        return Err(Code::PkceChallengeSize.aadsts(&[]));
    }
    Ok(Some(CodeChallenge(c.to_string())))
}

/// The S256 transform: `BASE64URL(SHA256(verifier))`.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(crate::secret::sha256(verifier.as_bytes()))
}

/// Checks the token request's verifier against the stored challenge (constant time).
pub fn verify(
    challenge: Option<&CodeChallenge>,
    verifier: Option<&str>,
) -> Result<(), AadstsError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(Code::PkceVerifierWithoutChallenge.aadsts(&[])),
        (Some(_), None) => Err(AadstsError::missing_parameter("code_verifier")),
        (Some(c), Some(v)) => {
            if v.len() < 43 || v.len() > 128 || !unreserved(v) {
                return Err(Code::PkceVerifierForm.aadsts(&[]));
            }
            if bool::from(s256(v).as_bytes().ct_eq(c.0.as_bytes())) {
                Ok(())
            } else {
                Err(Code::PkceVerifierMismatch.aadsts(&[]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn code<T>(r: Result<T, AadstsError>) -> u32 {
        r.err().map_or(0, |e| e.code)
    }

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(s256(VERIFIER), CHALLENGE);
        let c = challenge_from_request(Some(CHALLENGE), Some("S256"), true).unwrap();
        assert!(verify(c.as_ref(), Some(VERIFIER)).is_ok());
    }

    #[test]
    fn challenge_rules() {
        assert_eq!(
            code(challenge_from_request(None, None, true)),
            9002325,
            "required for public clients"
        );
        assert_eq!(challenge_from_request(None, None, false).unwrap(), None);
        assert_eq!(
            code(challenge_from_request(
                Some(CHALLENGE),
                Some("plain"),
                false
            )),
            501491
        );
        assert_eq!(
            code(challenge_from_request(Some(CHALLENGE), None, false)),
            501491,
            "absent method means plain"
        );
        assert_eq!(
            code(challenge_from_request(Some(CHALLENGE), Some("S512"), false)),
            501491
        );
        assert_eq!(
            code(challenge_from_request(Some("short"), Some("S256"), false)),
            501491
        );
        assert_eq!(
            code(challenge_from_request(
                Some(&format!("{}+", &CHALLENGE[..42])),
                Some("S256"),
                false
            )),
            501491
        );
        assert_eq!(
            code(challenge_from_request(None, Some("S256"), false)),
            50147
        );
    }

    #[test]
    fn verifier_rules() {
        let c = challenge_from_request(Some(CHALLENGE), Some("S256"), false).unwrap();
        assert_eq!(
            code(verify(c.as_ref(), None)),
            900144,
            "a challenge without a verifier"
        );
        assert_eq!(
            code(verify(None, Some(VERIFIER))),
            50148,
            "a verifier without a challenge"
        );
        assert_eq!(
            code(verify(c.as_ref(), Some(&VERIFIER.replace('d', "e")))),
            501481
        );
        assert_eq!(code(verify(c.as_ref(), Some("tooshort"))), 501481);
        assert_eq!(code(verify(c.as_ref(), Some(&"a".repeat(129)))), 501481);
        assert!(verify(None, None).is_ok());
    }
}
