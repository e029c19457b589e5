//! The sign-in pipeline's driver: the one loop every surface runs. It asks
//! [`flow::signin::next`](crate::flow::signin::next) for the next fact, answers the facts the
//! store holds itself (the user's standing risk, a registered authenticator app) and the rest
//! through the surface's [`Steps`] adapter (Identity Protection with GeoIP and the leaked
//! lists, Conditional Access's compiled policies, the device proof, and the browser's own
//! steps: the SSO session, consent, the tokens), until the [`Decision`].
//!
//! A surface implements only what it has: the defaults are the token endpoint's ("no device
//! presented", "the session, consent and tokens are behind this step"). A new [`Need`] is a
//! new method here with its default, so a surface that does not have the step needs no change.

use async_trait::async_trait;

use crate::error::AadstsError;
use crate::flow::signin::{self, Assessment, CaFacts, Decision, DeviceFacts, Facts, Need, Step};
use crate::ids::ObjectId;
use crate::model::Tenant;
use crate::store::{Store, StoreError};

/// Why the pipeline could not finish: a load or a write it depends on failed (the surface
/// answers "temporarily unavailable"; nothing was decided).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Halt(pub String);

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sign-in could not finish: {}", self.0)
    }
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
    }
}

/// A fact and its refusal: `Ok(Err(e))` is a decided refusal (the pipeline turns it into the
/// outcome), `Err(Halt)` a failure to find out.
pub type Answer<T> = Result<Result<T, AadstsError>, Halt>;

/// The surface's half of the pipeline: the facts only the adapter can produce.
#[async_trait]
pub trait Steps: Send {
    /// Identity Protection's assessment of this sign-in (detections stored);
    /// `with_password`: hand the detections the password just proven.
    async fn assess(&mut self, with_password: bool) -> Result<Assessment, Halt>;

    /// Conditional Access's inputs: the tenant's compiled policies and named locations, the
    /// client's country, the user's groups and roles, and the resource.
    async fn conditional_access(&mut self) -> Result<CaFacts, Halt>;

    /// The device the request proves. Default: none presented.
    async fn device(&mut self) -> Answer<DeviceFacts> {
        Ok(Ok(DeviceFacts::NONE))
    }

    /// Start the SSO session (the browser). Default: no session at this surface.
    async fn start_session(&mut self) -> Result<(), Halt> {
        Ok(())
    }

    /// Remember the MFA in the SSO session (the browser). Default: no session here.
    async fn mark_session_mfa(&mut self) -> Result<(), Halt> {
        Ok(())
    }

    /// Whether consent is owed (`/authorize`). Default: nothing to consent to here.
    async fn consent(&mut self) -> Answer<bool> {
        Ok(Ok(false))
    }

    /// Build the tokens, enforcing scope and consent (`/authorize`). Default: the grant built
    /// them before the pipeline ran.
    async fn tokens(&mut self) -> Answer<()> {
        Ok(Ok(()))
    }
}

/// The pipeline's result: the decision and what Identity Protection said (the sign-in record
/// carries it even when Conditional Access was not reached).
#[derive(Debug)]
pub struct Run {
    /// The outcome and the intended writes.
    pub decision: Decision,
    /// The assessment, when one was made or loaded.
    pub risk: Option<Assessment>,
}

/// Runs the sign-in described by `req` for `user` (absent: the credential named no user, so
/// the pipeline ends at the credential) from the facts already known (at least the
/// credential's verdict, when the surface checked it).
pub async fn run(
    store: &dyn Store,
    tenant: &Tenant,
    user: Option<ObjectId>,
    req: &signin::Request<'_>,
    mut facts: Facts,
    steps: &mut dyn Steps,
) -> Result<Run, Halt> {
    loop {
        let need = match signin::next(req, &facts) {
            Step::Done(decision) => {
                return Ok(Run {
                    decision,
                    risk: facts.risk,
                })
            }
            Step::Load(n) => n,
        };
        // Every fact past the credential is about a user.
        let needs_user = || {
            user.ok_or_else(|| {
                Halt(format!(
                    "the sign-in pipeline asked for {need:?} without a user"
                ))
            })
        };
        match need {
            // The surface checked the credential before the pipeline (or the grant did).
            Need::Credential => facts.credential = Some(Ok(())),
            Need::Assess { password } => {
                needs_user()?;
                facts.risk = Some(steps.assess(password).await?);
            }
            Need::StandingRisk => {
                let u = needs_user()?;
                facts.risk =
                    Some(crate::ops::identity_protection::standing(store, tenant, u).await?);
            }
            Need::MfaRegistration => {
                let u = needs_user()?;
                // An unreadable method list counts as none: the user is sent to register,
                // never let through.
                facts.mfa_registered = Some(
                    crate::ops::auth_methods::has_registered_method(store, tenant, u)
                        .await
                        .unwrap_or(false),
                );
            }
            Need::ConditionalAccess => {
                needs_user()?;
                facts.ca = Some(steps.conditional_access().await?);
            }
            Need::Device => facts.device = Some(steps.device().await?),
            Need::StartSession => {
                steps.start_session().await?;
                facts.session = true;
            }
            Need::MarkSessionMfa => {
                steps.mark_session_mfa().await?;
                facts.session = true;
            }
            Need::Consent => facts.consent = Some(steps.consent().await?),
            Need::Tokens => facts.tokens = Some(steps.tokens().await?),
        }
    }
}

#[cfg(test)]
mod tests;
