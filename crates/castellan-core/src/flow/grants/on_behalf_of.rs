//! On-behalf-of (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with
//! `requested_token_use=on_behalf_of`): a middle-tier API exchanges the user's token for one to
//! a downstream API. `client_id`, then `requested_token_use`, then `assertion` and `scope` are
//! required; the server validates the assertion (our key, issuer, audience) and the op
//! (`ops::signin::on_behalf_of`) issues under the API's consent; the sign-in pipeline runs with
//! [`FirstFactor::OnBehalfOf`].

use crate::error::AadstsError;

use super::{FirstFactor, Grant, GrantRequest, TokenRequest};

/// The grant.
pub struct OnBehalfOf;

/// Its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `client_id` (the middle-tier API).
    pub client_id: &'a str,
    /// `assertion`: the user's token.
    pub assertion: &'a str,
    /// `scope` downstream.
    pub scope: &'a str,
}

impl Grant for OnBehalfOf {
    fn grant_types(&self) -> &'static [&'static str] {
        &["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    }

    fn first_factor(&self) -> Option<FirstFactor> {
        Some(FirstFactor::OnBehalfOf)
    }

    fn handle<'a>(&self, req: &TokenRequest<'a>) -> Result<GrantRequest<'a>, AadstsError> {
        let client_id = req.require_client_id()?;
        if req.params.get("requested_token_use") != Some("on_behalf_of") {
            return Err(AadstsError::malformed(
                "requested_token_use must be 'on_behalf_of' for the jwt-bearer grant.",
            ));
        }
        let assertion = req.params.require("assertion")?;
        let scope = req.params.require("scope")?;
        Ok(GrantRequest::OnBehalfOf(Request {
            client_id,
            assertion,
            scope,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{req, P};
    use super::*;

    const T: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

    #[test]
    fn checks_client_use_assertion_scope_in_that_order() {
        let none = P(vec![]);
        assert_eq!(
            OnBehalfOf.handle(&req(T, None, &none)),
            Err(AadstsError::missing_parameter("client_id"))
        );
        assert_eq!(
            OnBehalfOf.handle(&req(T, Some("api"), &none)),
            Err(AadstsError::malformed(
                "requested_token_use must be 'on_behalf_of' for the jwt-bearer grant."
            ))
        );
        let only_use = P(vec![("requested_token_use", "on_behalf_of")]);
        assert_eq!(
            OnBehalfOf.handle(&req(T, Some("api"), &only_use)),
            Err(AadstsError::missing_parameter("assertion"))
        );
        let no_scope = P(vec![
            ("requested_token_use", "on_behalf_of"),
            ("assertion", "ey"),
        ]);
        assert_eq!(
            OnBehalfOf.handle(&req(T, Some("api"), &no_scope)),
            Err(AadstsError::missing_parameter("scope"))
        );
        let p = P(vec![
            ("requested_token_use", "on_behalf_of"),
            ("assertion", "ey"),
            ("scope", "api://down/.default"),
        ]);
        assert_eq!(
            OnBehalfOf.handle(&req(T, Some("api"), &p)),
            Ok(GrantRequest::OnBehalfOf(Request {
                client_id: "api",
                assertion: "ey",
                scope: "api://down/.default",
            }))
        );
    }
}
