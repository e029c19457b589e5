//! `grant_type=authorization_code` (RFC 6749 §4.1.3, PKCE RFC 7636): `client_id` and `code`
//! required; the op (`ops::signin::redeem_code`, decisions in `flow::auth_code`) checks the
//! client, redirect URI and verifier, and any failed attempt spends the code. The redemption
//! inherits the Conditional Access decision made at `/authorize`
//! ([`FirstFactor::AuthorizationCode`]).

use crate::error::AadstsError;

use super::{FirstFactor, Grant, GrantRequest, Params, TokenRequest};

/// The grant.
pub struct AuthorizationCode;

/// Its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `client_id`.
    pub client_id: &'a str,
    /// `code`.
    pub code: &'a str,
    /// `redirect_uri`.
    pub redirect_uri: Option<&'a str>,
    /// `code_verifier`.
    pub code_verifier: Option<&'a str>,
}

impl Grant for AuthorizationCode {
    fn grant_types(&self) -> &'static [&'static str] {
        &["authorization_code"]
    }

    fn first_factor(&self) -> Option<FirstFactor> {
        Some(FirstFactor::AuthorizationCode)
    }

    fn handle<'a>(&self, req: &TokenRequest<'a>) -> Result<GrantRequest<'a>, AadstsError> {
        let client_id = req.require_client_id()?;
        Ok(GrantRequest::AuthorizationCode(Request {
            client_id,
            code: req.params.require("code")?,
            redirect_uri: req.params.get("redirect_uri"),
            code_verifier: req.params.get("code_verifier"),
        }))
    }

    fn tenant_secret<'a>(&self, params: &'a dyn Params) -> Option<(&'a str, &'static str)> {
        params.get("code").map(|c| (c, "authorization code"))
    }

    fn presented_code<'a>(&self, params: &'a dyn Params) -> Option<&'a str> {
        params.get("code")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{req, P};
    use super::*;

    #[test]
    fn needs_the_client_then_the_code() {
        let none = P(vec![]);
        let t = "authorization_code";
        assert_eq!(
            AuthorizationCode.handle(&req(t, None, &none)),
            Err(AadstsError::missing_parameter("client_id"))
        );
        assert_eq!(
            AuthorizationCode.handle(&req(t, Some(""), &none)),
            Err(AadstsError::missing_parameter("client_id"))
        );
        assert_eq!(
            AuthorizationCode.handle(&req(t, Some("app"), &none)),
            Err(AadstsError::missing_parameter("code"))
        );
        let p = P(vec![
            ("code", "c"),
            ("redirect_uri", "https://a/cb"),
            ("code_verifier", "v"),
        ]);
        assert_eq!(
            AuthorizationCode.handle(&req(t, Some("app"), &p)),
            Ok(GrantRequest::AuthorizationCode(Request {
                client_id: "app",
                code: "c",
                redirect_uri: Some("https://a/cb"),
                code_verifier: Some("v"),
            }))
        );
    }
}
