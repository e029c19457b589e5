//! The server's half of the sign-in pipeline (`core::ops::pipeline`): the facts only this
//! process can produce — Identity Protection's detections (GeoIP, the leaked-password and
//! anonymizer lists), Conditional Access's compiled policy set and the client's country, the
//! device the request proves. [`Common`] is what every surface shares; the token endpoint
//! runs it as is, `/authorize` and `/devicelogin` wrap it with their own steps.

use async_trait::async_trait;
use axum::http::HeaderMap;
use castellan_core::flow::signin::{Assessment, CaFacts, DeviceFacts};
use castellan_core::model::{Tenant, User};
use castellan_core::ops::pipeline::{Answer, Halt, Steps};
use castellan_core::secret::SecretText;
use castellan_core::Timestamp;

use crate::device_proof::{ProofError, Proven};
use crate::state::AppState;

/// One user's sign-in at this node.
pub struct Common<'a> {
    /// The service.
    pub s: &'a AppState,
    /// The tenant signed in to.
    pub tenant: &'a Tenant,
    /// The user.
    pub user: &'a User,
    /// The client address.
    pub ip: &'a str,
    /// The client's `User-Agent`.
    pub user_agent: &'a str,
    /// The password just proven, for the leaked-credentials detection.
    pub password: Option<&'a SecretText>,
    /// Now.
    pub at: Timestamp,
    /// The correlation id.
    pub cid: &'a str,
    /// The request's headers, when the surface accepts a device assertion.
    pub headers: Option<&'a HeaderMap>,
    /// The resource (cloud app) Conditional Access evaluates, when the surface knows it
    /// before the pipeline runs (the token endpoint).
    pub resource: Option<String>,
    /// The device the request proved (for the sign-in record and `touch`).
    pub device: Option<Proven>,
}

impl Common<'_> {
    /// Identity Protection over this sign-in.
    pub async fn assess(&self, with_password: bool) -> Result<Assessment, Halt> {
        Ok(crate::idprot::assess_sign_in(
            self.s,
            self.tenant,
            self.user,
            &crate::idprot::SignInFacts {
                ip: self.ip,
                user_agent: self.user_agent,
                password: if with_password { self.password } else { None },
                at: self.at,
                cid: self.cid,
            },
        )
        .await?)
    }

    /// Conditional Access's inputs for a sign-in to `resource`.
    pub async fn conditional_access_for(&self, resource: &str) -> Result<CaFacts, Halt> {
        Ok(crate::ca::user_facts(self.s, self.tenant, self.user, self.ip, resource).await?)
    }

    /// The device the request's assertion proves (none without headers or an assertion); a
    /// presented assertion that fails is a refusal.
    pub async fn device(&mut self) -> Answer<DeviceFacts> {
        let Some(headers) = self.headers else {
            return Ok(Ok(DeviceFacts::NONE));
        };
        match crate::device_proof::verify(self.s, self.tenant, headers, self.at).await {
            Ok(d) => {
                let (state, platform) = crate::device_proof::ca_inputs(d.as_ref());
                self.device = d;
                Ok(Ok(DeviceFacts { state, platform }))
            }
            Err(ProofError::Refused(e)) => Ok(Err(e)),
            Err(ProofError::Store(e)) => Err(e.into()),
        }
    }
}

/// The token endpoint's user grants: the session, consent and tokens are behind them.
#[async_trait]
impl Steps for Common<'_> {
    async fn assess(&mut self, with_password: bool) -> Result<Assessment, Halt> {
        Common::assess(self, with_password).await
    }

    async fn conditional_access(&mut self) -> Result<CaFacts, Halt> {
        let resource = self
            .resource
            .clone()
            .ok_or_else(|| Halt("Conditional Access before the resource is known".into()))?;
        self.conditional_access_for(&resource).await
    }

    async fn device(&mut self) -> Answer<DeviceFacts> {
        Common::device(self).await
    }
}
