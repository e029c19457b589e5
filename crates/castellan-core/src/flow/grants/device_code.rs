//! The device authorization grant's poll (RFC 8628 §3.4): `grant_type` is
//! `urn:ietf:params:oauth:grant-type:device_code` (MSAL) or `device_code` (older clients);
//! `client_id` and `device_code` (or `code`) required. The op (`ops::signin::poll_device`,
//! decisions in `flow::device`) answers pending/slow-down/declined/expired; an approved code
//! runs the sign-in pipeline with [`FirstFactor::DeviceCode`], carrying the risk assessed at
//! `/devicelogin`.

use crate::error::AadstsError;

use super::{FirstFactor, Grant, GrantRequest, TokenRequest};

/// The grant.
pub struct DeviceCode;

/// Its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `client_id`.
    pub client_id: &'a str,
    /// `device_code` (or `code`).
    pub device_code: &'a str,
}

impl Grant for DeviceCode {
    fn grant_types(&self) -> &'static [&'static str] {
        &[
            "urn:ietf:params:oauth:grant-type:device_code",
            "device_code",
        ]
    }

    fn first_factor(&self) -> Option<FirstFactor> {
        Some(FirstFactor::DeviceCode)
    }

    fn handle<'a>(&self, req: &TokenRequest<'a>) -> Result<GrantRequest<'a>, AadstsError> {
        let client_id = req.require_client_id()?;
        let device_code = req
            .params
            .get("device_code")
            .or_else(|| req.params.get("code"))
            .ok_or_else(|| AadstsError::missing_parameter("device_code"))?;
        Ok(GrantRequest::DeviceCode(Request {
            client_id,
            device_code,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{req, P};
    use super::*;

    #[test]
    fn takes_both_spellings_and_device_code_or_code() {
        let p = P(vec![("code", "dc")]);
        for t in [
            "urn:ietf:params:oauth:grant-type:device_code",
            "device_code",
        ] {
            assert!(DeviceCode.applies(&req(t, None, &p)));
            assert_eq!(
                DeviceCode.handle(&req(t, Some("app"), &p)),
                Ok(GrantRequest::DeviceCode(Request {
                    client_id: "app",
                    device_code: "dc"
                }))
            );
        }
        let none = P(vec![]);
        assert_eq!(
            DeviceCode.handle(&req("device_code", Some("app"), &none)),
            Err(AadstsError::missing_parameter("device_code"))
        );
        assert_eq!(
            DeviceCode.handle(&req("device_code", None, &p)),
            Err(AadstsError::missing_parameter("client_id"))
        );
    }
}
