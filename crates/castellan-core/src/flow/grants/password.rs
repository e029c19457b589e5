//! `grant_type=password` (ROPC, RFC 6749 §4.3): the user's name and password. The op
//! (`ops::signin::password`) checks, in Entra's order, `client_id`, `username`, `password`,
//! `scope`, the client's credential, the scope, then the password under smart lockout; the
//! sign-in pipeline runs with [`FirstFactor::Password`].

use crate::error::AadstsError;

use super::{FirstFactor, Grant, GrantRequest, TokenRequest};

/// The grant.
pub struct Password;

/// Its parameters (required ones are checked by the op, in Entra's order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `username`.
    pub username: Option<&'a str>,
    /// `password`.
    pub password: Option<&'a str>,
    /// `scope`.
    pub scope: Option<&'a str>,
}

impl Grant for Password {
    fn grant_types(&self) -> &'static [&'static str] {
        &["password"]
    }

    fn first_factor(&self) -> Option<FirstFactor> {
        Some(FirstFactor::Password)
    }

    fn handle<'a>(&self, req: &TokenRequest<'a>) -> Result<GrantRequest<'a>, AadstsError> {
        Ok(GrantRequest::Password(Request {
            username: req.params.get("username"),
            password: req.params.get("password"),
            scope: req.params.get("scope"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{req, P};
    use super::*;

    #[test]
    fn carries_the_credentials_to_the_op() {
        let p = P(vec![
            ("username", "a@b"),
            ("password", "pw"),
            ("scope", "openid"),
        ]);
        assert!(Password.applies(&req("password", None, &p)));
        assert_eq!(Password.first_factor(), Some(FirstFactor::Password));
        assert_eq!(
            Password.handle(&req("password", None, &p)),
            Ok(GrantRequest::Password(Request {
                username: Some("a@b"),
                password: Some("pw"),
                scope: Some("openid"),
            }))
        );
    }
}
