//! `grant_type=client_credentials` (RFC 6749 §4.4): app-only. The client's credential and the
//! `/.default` scope are checked by `ops::token::client_credentials`
//! (`flow::client_credentials` decides); a user-assigned managed identity may use it with a
//! federated assertion.

use crate::error::AadstsError;

use super::{FirstFactor, Grant, GrantRequest, TokenRequest};

/// The grant.
pub struct ClientCredentials;

/// Its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `scope` (checked by the op, after the client).
    pub scope: Option<&'a str>,
}

impl Grant for ClientCredentials {
    fn grant_types(&self) -> &'static [&'static str] {
        &["client_credentials"]
    }

    fn first_factor(&self) -> Option<FirstFactor> {
        None
    }

    fn handle<'a>(&self, req: &TokenRequest<'a>) -> Result<GrantRequest<'a>, AadstsError> {
        Ok(GrantRequest::ClientCredentials(Request {
            scope: req.params.get("scope"),
        }))
    }

    fn app_only(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{req, P};
    use super::*;

    #[test]
    fn applies_to_client_credentials_and_leaves_the_checks_to_the_op() {
        let p = P(vec![("scope", "https://graph.microsoft.com/.default")]);
        assert!(ClientCredentials.applies(&req("client_credentials", None, &p)));
        assert!(!ClientCredentials.applies(&req("password", None, &p)));
        assert_eq!(
            ClientCredentials.handle(&req("client_credentials", None, &p)),
            Ok(GrantRequest::ClientCredentials(Request {
                scope: Some("https://graph.microsoft.com/.default")
            }))
        );
    }
}
