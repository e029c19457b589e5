//! `application/x-www-form-urlencoded` token requests. Repeated OAuth parameters are refused
//! (RFC 6749 §3.1); unknown ones (MSAL's `x-client-*`, `client_info`, telemetry) are ignored.

use std::collections::HashMap;

use castellan_core::error::AadstsError;

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
