//! The token endpoint's grants as a registry: one file per grant, each a [`Grant`] that says
//! whether it applies to the request (its `grant_type` values) and handles it — checks its own
//! parameters in Entra's order and returns the typed [`GrantRequest`] the server executes —,
//! and answers the few questions the endpoint asks before it knows the grant's outcome (which
//! parameter carries a tenant-bound secret, whether a failed client authentication spends a
//! code, whether the grant is app-only). [`dispatch`] finds the grant; nothing else in the code
//! base compares `grant_type` strings. A new grant is a new file here and one entry in
//! [`REGISTRY`].

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod on_behalf_of;
pub mod password;
pub mod refresh_token;

use crate::error::AadstsError;

use super::signin::FirstFactor;

/// The request's parameters (wire's form implements it).
pub trait Params: Sync {
    /// A parameter, as sent.
    fn get(&self, name: &str) -> Option<&str>;

    /// A required parameter (AADSTS900144 when absent or empty).
    fn require(&self, name: &str) -> Result<&str, AadstsError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AadstsError::missing_parameter(name))
    }
}

/// A token request as the endpoint has it before the grant runs.
#[derive(Clone, Copy)]
pub struct TokenRequest<'a> {
    /// `grant_type`.
    pub grant_type: &'a str,
    /// The client id (form, HTTP Basic, or the client assertion's `iss`).
    pub client_id: Option<&'a str>,
    /// Every parameter.
    pub params: &'a dyn Params,
}

impl<'a> TokenRequest<'a> {
    /// The client id, required (AADSTS900144 names `client_id`).
    pub fn require_client_id(&self) -> Result<&'a str, AadstsError> {
        self.client_id
            .filter(|c| !c.is_empty())
            .ok_or_else(|| AadstsError::missing_parameter("client_id"))
    }
}

/// What a grant asks the server to run, with its parameters checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantRequest<'a> {
    /// `client_credentials`.
    ClientCredentials(client_credentials::Request<'a>),
    /// `password` (ROPC).
    Password(password::Request<'a>),
    /// `authorization_code`.
    AuthorizationCode(authorization_code::Request<'a>),
    /// `refresh_token`.
    RefreshToken(refresh_token::Request<'a>),
    /// The device authorization grant's poll.
    DeviceCode(device_code::Request<'a>),
    /// `jwt-bearer` with `requested_token_use=on_behalf_of`.
    OnBehalfOf(on_behalf_of::Request<'a>),
}

/// A grant.
pub trait Grant: Sync {
    /// The `grant_type` values it answers.
    fn grant_types(&self) -> &'static [&'static str];

    /// Whether it applies to the request.
    fn applies(&self, req: &TokenRequest<'_>) -> bool {
        self.grant_types().contains(&req.grant_type)
    }

    /// The first factor a user grant hands the sign-in pipeline (`None`: app-only).
    fn first_factor(&self) -> Option<FirstFactor>;

    /// Checks the grant's parameters and returns what to run.
    fn handle<'a>(&self, req: &TokenRequest<'a>) -> Result<GrantRequest<'a>, AadstsError>;

    /// The parameter holding a secret that knows its tenant (a code, a refresh token), so it
    /// can be redeemed at `/common` or `/organizations`, and what Entra calls it in 9002313.
    fn tenant_secret<'a>(&self, _params: &'a dyn Params) -> Option<(&'a str, &'static str)> {
        None
    }

    /// The code a failed client authentication spends (any attempt at a live code spends it).
    fn presented_code<'a>(&self, _params: &'a dyn Params) -> Option<&'a str> {
        None
    }

    /// App-only: a user-assigned managed identity may exchange a federated assertion.
    fn app_only(&self) -> bool {
        false
    }
}

/// Every grant, in the order they are asked.
pub static REGISTRY: &[&dyn Grant] = &[
    &client_credentials::ClientCredentials,
    &password::Password,
    &authorization_code::AuthorizationCode,
    &refresh_token::RefreshToken,
    &device_code::DeviceCode,
    &on_behalf_of::OnBehalfOf,
];

/// The grant that applies to `req`.
pub fn find(req: &TokenRequest<'_>) -> Option<&'static dyn Grant> {
    REGISTRY.iter().copied().find(|g| g.applies(req))
}

/// The grant named by `grant_type` alone (before the client is known).
pub fn by_type(grant_type: &str, params: &dyn Params) -> Option<&'static dyn Grant> {
    find(&TokenRequest {
        grant_type,
        client_id: None,
        params,
    })
}

/// Finds the grant and has it handle the request; an unknown `grant_type` is AADSTS70003.
pub fn dispatch<'a>(req: &TokenRequest<'a>) -> Result<GrantRequest<'a>, AadstsError> {
    find(req)
        .ok_or_else(|| AadstsError::unsupported_grant_type(req.grant_type))?
        .handle(req)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parameters from a list of pairs.
    pub(crate) struct P(pub Vec<(&'static str, &'static str)>);

    impl Params for P {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        }
    }

    pub(crate) fn req<'a>(
        grant_type: &'a str,
        client_id: Option<&'a str>,
        p: &'a P,
    ) -> TokenRequest<'a> {
        TokenRequest {
            grant_type,
            client_id,
            params: p,
        }
    }

    #[test]
    fn every_grant_type_has_exactly_one_grant() {
        let p = P(vec![]);
        let mut seen = Vec::new();
        for g in REGISTRY {
            for t in g.grant_types() {
                assert!(!seen.contains(t), "{t} is claimed twice");
                seen.push(t);
                let found = find(&req(t, None, &p)).expect("registered");
                assert_eq!(found.grant_types(), g.grant_types());
            }
        }
        assert_eq!(seen.len(), 7);
    }

    #[test]
    fn an_unknown_grant_type_is_70003() {
        let p = P(vec![]);
        for t in [
            "implicit",
            "",
            "urn:ietf:params:oauth:grant-type:saml2-bearer",
        ] {
            let e = dispatch(&req(t, Some("c"), &p)).unwrap_err();
            assert_eq!(e, AadstsError::unsupported_grant_type(t));
            assert!(by_type(t, &p).is_none());
        }
    }

    #[test]
    fn only_codes_and_refresh_tokens_know_their_tenant_and_only_codes_are_spent() {
        let p = P(vec![("code", "c0de"), ("refresh_token", "rt")]);
        let secret = |t: &str| by_type(t, &p).and_then(|g| g.tenant_secret(&p));
        assert_eq!(
            secret("authorization_code"),
            Some(("c0de", "authorization code"))
        );
        assert_eq!(secret("refresh_token"), Some(("rt", "refresh token")));
        assert_eq!(secret("password"), None);
        assert_eq!(secret("client_credentials"), None);
        let spent = |t: &str| by_type(t, &p).and_then(|g| g.presented_code(&p));
        assert_eq!(spent("authorization_code"), Some("c0de"));
        assert_eq!(spent("refresh_token"), None);
        let app_only: Vec<_> = REGISTRY
            .iter()
            .filter(|g| g.app_only())
            .flat_map(|g| g.grant_types())
            .collect();
        assert_eq!(app_only, vec![&"client_credentials"]);
        assert!(REGISTRY
            .iter()
            .all(|g| g.app_only() == g.first_factor().is_none()));
    }
}
