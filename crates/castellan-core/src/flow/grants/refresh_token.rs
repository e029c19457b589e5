//! `grant_type=refresh_token` (RFC 6749 §6): `client_id` and `refresh_token` required; the op
//! (`ops::signin::redeem_refresh`, decisions in `flow::refresh_token`) rotates the token and
//! revokes the family on reuse. The sign-in pipeline runs with
//! [`FirstFactor::RefreshToken`] (standing risk, Conditional Access, step-up).

use crate::error::AadstsError;

use super::{FirstFactor, Grant, GrantRequest, Params, TokenRequest};

/// The grant.
pub struct RefreshToken;

/// Its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `client_id`.
    pub client_id: &'a str,
    /// `refresh_token`.
    pub refresh_token: &'a str,
    /// `scope` (a narrower or other resource's scope; default: the token's).
    pub scope: Option<&'a str>,
}

impl Grant for RefreshToken {
    fn grant_types(&self) -> &'static [&'static str] {
        &["refresh_token"]
    }

    fn first_factor(&self) -> Option<FirstFactor> {
        Some(FirstFactor::RefreshToken)
    }

    fn handle<'a>(&self, req: &TokenRequest<'a>) -> Result<GrantRequest<'a>, AadstsError> {
        let client_id = req.require_client_id()?;
        Ok(GrantRequest::RefreshToken(Request {
            client_id,
            refresh_token: req.params.require("refresh_token")?,
            scope: req.params.get("scope"),
        }))
    }

    fn tenant_secret<'a>(&self, params: &'a dyn Params) -> Option<(&'a str, &'static str)> {
        params.get("refresh_token").map(|c| (c, "refresh token"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{req, P};
    use super::*;

    #[test]
    fn needs_the_client_then_the_token() {
        let t = "refresh_token";
        let none = P(vec![]);
        assert_eq!(
            RefreshToken.handle(&req(t, None, &none)),
            Err(AadstsError::missing_parameter("client_id"))
        );
        assert_eq!(
            RefreshToken.handle(&req(t, Some("app"), &none)),
            Err(AadstsError::missing_parameter("refresh_token"))
        );
        let p = P(vec![("refresh_token", "rt"), ("scope", "User.Read")]);
        assert_eq!(
            RefreshToken.handle(&req(t, Some("app"), &p)),
            Ok(GrantRequest::RefreshToken(Request {
                client_id: "app",
                refresh_token: "rt",
                scope: Some("User.Read"),
            }))
        );
    }
}
