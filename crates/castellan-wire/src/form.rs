//! `application/x-www-form-urlencoded` token requests. Repeated OAuth parameters are refused
//! (RFC 6749 §3.1); unknown ones (MSAL's `x-client-*`, `client_info`, telemetry) are ignored.
//!
//! Bounds ([`Form::parse`], checked while decoding, before anything is kept): at most
//! [`MAX_FORM_PAIRS`] parameters, names of at most [`MAX_FORM_NAME_LEN`] bytes and values of at
//! most [`MAX_FORM_VALUE_LEN`] bytes (decoded). The whole body is already capped by the
//! server's body limit; these keep one request from making the server hold and scan thousands
//! of parameters or one giant value. A refusal is AADSTS90014 naming the limit and the value.

use std::collections::HashMap;

use castellan_core::error::AadstsError;

/// The most parameters a form may carry (MSAL sends about 15, telemetry included).
pub const MAX_FORM_PAIRS: usize = 100;
/// The longest parameter name, in bytes.
pub const MAX_FORM_NAME_LEN: usize = 256;
/// The longest parameter value, in bytes (decoded): 32 KiB, twice the longest JWT accepted
/// ([`crate::jwt::MAX_JWT_LEN`]), so an oversized assertion is reported as such.
pub const MAX_FORM_VALUE_LEN: usize = 32 * 1024;

/// Decodes an `application/x-www-form-urlencoded` body (or query string) into pairs within the
/// bounds ([`MAX_FORM_PAIRS`], [`MAX_FORM_NAME_LEN`], [`MAX_FORM_VALUE_LEN`]), stopping at the
/// first pair past a limit.
pub fn parse_pairs(body: &[u8]) -> Result<Vec<(String, String)>, AadstsError> {
    let mut out = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if out.len() >= MAX_FORM_PAIRS {
            return Err(AadstsError::malformed(&format!(
                "The request has more than {MAX_FORM_PAIRS} parameters; at most {MAX_FORM_PAIRS} are accepted."
            )));
        }
        if k.len() > MAX_FORM_NAME_LEN {
            let shown: String = k.chars().take(32).collect();
            return Err(AadstsError::malformed(&format!(
                "The parameter name '{shown}…' is {} bytes long; at most {MAX_FORM_NAME_LEN} are accepted.",
                k.len()
            )));
        }
        if v.len() > MAX_FORM_VALUE_LEN {
            return Err(AadstsError::malformed(&format!(
                "The value of the parameter '{k}' is {} bytes long; at most {MAX_FORM_VALUE_LEN} are accepted.",
                v.len()
            )));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// A parsed form with each parameter at most once.
#[derive(Debug, Default)]
pub struct Form(HashMap<String, String>);

/// Parameters that must not repeat.
const SINGLE: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "scope",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "username",
    "password",
    "assertion",
    "device_code",
    "requested_token_use",
];

impl Form {
    /// Decodes and parses a form body within the bounds ([`parse_pairs`]), refusing repeated
    /// OAuth parameters.
    pub fn parse(body: &[u8]) -> Result<Self, AadstsError> {
        Self::from_pairs(parse_pairs(body)?)
    }

    /// Parses decoded pairs.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, AadstsError> {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if map.contains_key(&k) && SINGLE.contains(&k.as_str()) {
                return Err(AadstsError::malformed(&format!(
                    "The parameter '{k}' is duplicated in the request; send each parameter once."
                )));
            }
            map.insert(k, v);
        }
        Ok(Self(map))
    }
    /// A parameter's value (trimmed of surrounding whitespace for assertions, as clients send files verbatim).
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    /// A required parameter (900144 if absent or empty).
    pub fn require(&self, k: &str) -> Result<&str, AadstsError> {
        self.get(k)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AadstsError::missing_parameter(k))
    }
}

/// The grants registry (`core::flow::grants`) reads its parameters through this.
impl castellan_core::flow::grants::Params for Form {
    fn get(&self, name: &str) -> Option<&str> {
        Form::get(self, name)
    }
}

/// The client id a `client_assertion` (RFC 7523 §3: `iss` and `sub` are both the client id)
/// names, read from its payload without checking the signature — the caller then verifies the
/// assertion against that application's credentials, so nothing is trusted on this reading.
/// `None` unless the payload is JSON whose `iss` and `sub` are equal and non-empty.
pub fn client_id_from_assertion(assertion: &str) -> Option<String> {
    use base64::Engine;
    let payload = assertion.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let iss = v.get("iss")?.as_str()?;
    let sub = v.get("sub")?.as_str()?;
    (iss == sub && !iss.is_empty()).then(|| iss.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect()
    }

    #[test]
    fn duplicates_refused_unknown_ignored() {
        assert!(Form::from_pairs(p(&[("scope", "a"), ("scope", "b")])).is_err());
        let f = Form::from_pairs(p(&[
            ("x-client-SKU", "a"),
            ("x-client-SKU", "b"),
            ("grant_type", "client_credentials"),
        ]))
        .ok();
        assert_eq!(
            f.as_ref().and_then(|f| f.get("grant_type")),
            Some("client_credentials")
        );
        assert_eq!(
            f.as_ref()
                .map(|f| f.require("client_id").err().map(|e| e.code)),
            Some(Some(900144))
        );
    }

    #[test]
    fn bounds_are_named_in_the_error() {
        let many: String = (0..=MAX_FORM_PAIRS)
            .map(|i| format!("x{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        let e = Form::parse(many.as_bytes()).unwrap_err();
        assert_eq!(e.code, 90014);
        assert!(e.message.contains("more than 100 parameters"), "{e}");
        let fine: String = (0..MAX_FORM_PAIRS)
            .map(|i| format!("x{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(Form::parse(fine.as_bytes()).is_ok());
        let long = format!("client_assertion={}", "a".repeat(MAX_FORM_VALUE_LEN + 1));
        let e = Form::parse(long.as_bytes()).unwrap_err();
        assert!(
            e.message.contains("'client_assertion' is 32769 bytes long"),
            "{e}"
        );
        let name = format!("{}=1", "n".repeat(MAX_FORM_NAME_LEN + 1));
        assert!(Form::parse(name.as_bytes())
            .unwrap_err()
            .message
            .contains("at most 256"));
        // Percent-encoded and '+' forms decode; repeated OAuth parameters stay refused.
        let f = Form::parse(b"scope=a+b%2Fc&grant_type=x").unwrap();
        assert_eq!(f.get("scope"), Some("a b/c"));
        assert!(Form::parse(b"code=a&code=b").is_err());
    }

    #[test]
    fn client_id_is_read_from_an_assertion() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = |p: &str| format!("{}.{}.sig", enc(r#"{"alg":"PS256"}"#), enc(p));
        assert_eq!(
            client_id_from_assertion(&jwt(r#"{"iss":"abc","sub":"abc"}"#)).as_deref(),
            Some("abc")
        );
        assert_eq!(
            client_id_from_assertion(&jwt(r#"{"iss":"abc","sub":"x"}"#)),
            None
        );
        assert_eq!(client_id_from_assertion(&jwt(r#"{"sub":"abc"}"#)), None);
        assert_eq!(client_id_from_assertion("not-a-jwt"), None);
    }
}
