//! The sign-in pipeline: the one place that decides what happens after a first factor was
//! presented, for every surface a user signs in at (`/authorize` and its pages,
//! `/devicelogin`, the token endpoint's user grants).
//!
//! Steps, in order: lockout and the credential (`Facts::credential`, decided by
//! `flow::lockout` and `flow::password` in `ops::signin::check_password`, or the grant's own
//! checks) → Identity Protection (a fresh assessment, or the user's standing risk) → the
//! session → consent (at `/authorize`) → the tokens → the device → Conditional Access
//! (evaluated here, over the loaded policies, with this sign-in's risk and device) → MFA,
//! step-up and the claims challenge → interrupts (password change, MFA registration) →
//! issue.
//!
//! The pipeline is pure and asks for what it needs one fact at a time: [`next`] returns
//! [`Step::Load`] with the next [`Need`] (a load, or a write the sign-in depends on, such as
//! starting the SSO session), or [`Step::Done`] with the [`Decision`]: the [`Outcome`] and the
//! intended writes (the sign-in record, whether a failed guess is kept for password-spray
//! detection, the Conditional Access decision and risk verdict the record carries). Loading
//! lazily keeps each surface's order of side effects (a consent page is shown before any risk
//! assessment is stored; a refused device stops the sign-in before Conditional Access is
//! loaded). The caller loads, calls [`next`] again, and renders the outcome; a new first factor
//! or interrupt is a change here only.

use crate::error::AadstsError;
use crate::model::SignInRiskInfo;
use crate::policy::decision::{self, is_mfa_requirement, CaDecision, Loaded, UserFacts};
use crate::policy::{
    security_defaults, ClientAppType, DevicePlatform, DeviceState, RiskLevel, Satisfied,
};
use crate::time::Timestamp;

use super::Authn;

/// The first factor the sign-in presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstFactor {
    /// A user name and password (the sign-in page, the device-login page, ROPC).
    Password,
    /// A new password just set at the forced password change (the current one was proven).
    NewPassword,
    /// The browser's SSO session.
    Session,
    /// The answer to the authenticator-code challenge (the same sign-in as its password).
    MfaAnswer,
    /// An authorization code: it inherits the decision made at `/authorize`.
    AuthorizationCode,
    /// A refresh token.
    RefreshToken,
    /// A device code the user approved at `/devicelogin`.
    DeviceCode,
    /// An on-behalf-of assertion (a user token sent by a middle-tier API).
    OnBehalfOf,
}

/// Where the sign-in happens: what an MFA requirement becomes, and which steps run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// `/authorize` and its pages. `silent`: `prompt=none` (nothing may be shown);
    /// `admin_consent`: the request came from `/adminconsent`.
    Authorize {
        /// `prompt=none`.
        silent: bool,
        /// From `/adminconsent`.
        admin_consent: bool,
    },
    /// `/devicelogin` after the password: only an MFA requirement is answered there; any other
    /// refusal is the token endpoint's, at the device's next poll.
    DeviceLogin,
    /// The token endpoint: an MFA requirement is a claims challenge.
    Token,
}

/// What the request says.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The first factor.
    pub first: FirstFactor,
    /// The surface.
    pub surface: Surface,
    /// What the session has done (password time, MFA time).
    pub authn: Authn,
    /// The client's appId.
    pub client_app_id: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// The client address.
    pub ip: &'a str,
    /// Now.
    pub now: Timestamp,
    /// The request's `claims` ask for step-up (MFA in this session).
    pub step_up: bool,
    /// `prompt=consent` on a request the user has not just answered.
    pub force_consent: bool,
    /// The tenant runs security defaults.
    pub security_defaults: bool,
    /// The sign-in risk assessed where the device code was approved (device-code grant).
    pub carried_sign_in_risk: Option<RiskLevel>,
}

/// The next fact the pipeline needs (a load, or a write the rest of the sign-in depends on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The credential's verdict (lockout included).
    Credential,
    /// Identity Protection runs its detections over this sign-in and stores them; `password`:
    /// with the password just proven (leaked credentials).
    Assess {
        /// Hand the detections the password.
        password: bool,
    },
    /// Identity Protection: only the user's standing risk (no new first factor).
    StandingRisk,
    /// Start the SSO session.
    StartSession,
    /// Remember the MFA in the SSO session.
    MarkSessionMfa,
    /// Whether consent is owed for what the request asks.
    Consent,
    /// The tokens (scope and consent enforced).
    Tokens,
    /// The device the request proves, if any.
    Device,
    /// The tenant's policies and the user's facts (groups, roles, authenticator app).
    ConditionalAccess,
    /// Whether the user has a confirmed authenticator app.
    MfaRegistration,
}

/// Identity Protection's verdict on one sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// Sign-in risk (the highest of this sign-in's real-time detections).
    pub sign_in_risk: RiskLevel,
    /// The user's risk after this sign-in.
    pub user_risk: RiskLevel,
    /// For the sign-in record.
    pub info: SignInRiskInfo,
}

impl Assessment {
    /// A sign-in that was not assessed (no new first factor): only the user's standing risk
    /// (`state`: the stored `riskState`, when the user has a record).
    pub fn user_only(user_risk: RiskLevel, state: Option<&str>) -> Self {
        Self {
            sign_in_risk: RiskLevel::None,
            user_risk,
            info: SignInRiskInfo {
                aggregated: user_risk.as_str().into(),
                state: state.map_or_else(|| "none".into(), str::to_string),
                ..SignInRiskInfo::default()
            },
        }
    }
}

/// The device the request proved (none: `DeviceState::None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceFacts {
    /// Registered, compliant, trust type.
    pub state: DeviceState,
    /// The platform from `operatingSystem`.
    pub platform: Option<DevicePlatform>,
}

impl DeviceFacts {
    /// No device presented.
    pub const NONE: Self = Self {
        state: DeviceState::None,
        platform: None,
    };
}

/// What Conditional Access needs besides the request.
#[derive(Debug)]
pub struct CaFacts {
    /// The tenant's policies and named locations, and the client's country.
    pub loaded: Loaded,
    /// The user's groups, roles, guest flag, authenticator app.
    pub user: UserFacts,
    /// The resource (cloud app) the token is for.
    pub resource: String,
}

/// What is known so far; [`next`] asks for the rest.
#[derive(Debug, Default)]
pub struct Facts {
    /// The credential's verdict (lockout, password, or the grant's own checks).
    pub credential: Option<Result<(), AadstsError>>,
    /// Identity Protection's verdict.
    pub risk: Option<Assessment>,
    /// The session write the surface needs was done.
    pub session: bool,
    /// Consent: `Ok(true)` when it is owed.
    pub consent: Option<Result<bool, AadstsError>>,
    /// The tokens could be built.
    pub tokens: Option<Result<(), AadstsError>>,
    /// The device, or why its proof was refused.
    pub device: Option<Result<DeviceFacts, AadstsError>>,
    /// Conditional Access inputs.
    pub ca: Option<CaFacts>,
    /// A confirmed authenticator app.
    pub mfa_registered: Option<bool>,
}

/// How the user is asked for a second factor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// The authenticator-code form; `error`: why the last answer failed.
    Code {
        /// The last answer's refusal.
        error: Option<AadstsError>,
    },
    /// A claims challenge at the token endpoint: the MFA requirement, answered with the
    /// deciding policies' claims (`from_request == false`) or the request's own claims.
    Claims {
        /// 50076 or 50079.
        error: AadstsError,
        /// Echo the request's `claims` (step-up) instead of the policies'.
        from_request: bool,
    },
}

/// A step the user must take before the sign-in can finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// The password must be changed (AADSTS50055).
    ChangePassword,
    /// An authenticator app must be registered; `security_defaults`: because security defaults
    /// require it (not a policy's MFA requirement).
    RegisterMfa {
        /// Security defaults' registration requirement.
        security_defaults: bool,
    },
}

/// What the sign-in comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Issue (the code, the tokens, the device approval).
    Issue,
    /// Refuse with this error.
    Refuse(AadstsError),
    /// Ask for the second factor.
    Challenge(Challenge),
    /// Ask the user to consent.
    NeedConsent,
    /// Ask an administrator to consent for the organisation (`/adminconsent`).
    AdminConsent,
    /// Interrupt the sign-in.
    Interrupt(Interrupt),
}

/// The sign-in record to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// None (a page shown on the way, not an attempt's end).
    None,
    /// A successful sign-in.
    Success,
    /// A failed one, with its error.
    Failure(AadstsError),
}

/// The outcome and the intended writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// What to render.
    pub outcome: Outcome,
    /// The sign-in record.
    pub record: Record,
    /// Keep the failure for password-spray detection (a wrong password or unknown account).
    pub failed_guess: bool,
    /// The Conditional Access decision the record carries (with the risk verdict), when the
    /// sign-in reached it.
    pub ca: Option<CaDecision>,
    /// The risk verdict alone, for surfaces that record it without Conditional Access.
    pub risk: Option<SignInRiskInfo>,
}

impl Decision {
    fn new(outcome: Outcome, record: Record) -> Self {
        Self {
            outcome,
            record,
            failed_guess: false,
            ca: None,
            risk: None,
        }
    }

    fn with_ca(mut self, ca: CaDecision) -> Self {
        self.ca = Some(ca);
        self
    }
}

/// One step of the pipeline.
// A step is returned and matched at once, never stored in bulk: boxing the decision would
// only add an allocation per sign-in.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Load (or do) this, put it in the facts, and call [`next`] again.
    Load(Need),
    /// Finished.
    Done(Decision),
}

/// A refused credential that is a guess that failed (wrong password, unknown account), kept
/// for password-spray detection; lockouts and disabled accounts are not.
pub const fn counts_as_guess(code: u32) -> bool {
    matches!(code, 50126 | 50034)
}

/// AADSTS65001 for a silent (`prompt=none`) request that needs consent.
pub fn silent_consent_required(client_app_id: &str, client_name: &str) -> AadstsError {
    crate::error::Code::ConsentRequiredSilent
        .aadsts(&[("app_id", &client_app_id), ("app_name", &client_name)])
}

macro_rules! need {
    ($e:expr, $n:expr) => {
        match $e {
            Some(x) => x,
            None => return Step::Load($n),
        }
    };
}

macro_rules! ok_or_refuse {
    ($e:expr) => {
        match $e {
            Ok(x) => x,
            Err(e) => {
                return Step::Done(Decision::new(
                    Outcome::Refuse(e.clone()),
                    Record::Failure(e.clone()),
                ))
            }
        }
    };
}

/// The next step of the sign-in described by `req`, given what is known (`f`).
pub fn next(req: &Request<'_>, f: &Facts) -> Step {
    let cred = need!(&f.credential, Need::Credential);
    if let Err(e) = cred {
        return Step::Done(refused_credential(req, e));
    }
    match req.surface {
        Surface::Token => token(req, f),
        Surface::DeviceLogin => device_login(req, f),
        Surface::Authorize {
            silent,
            admin_consent,
        } => authorize(req, f, silent, admin_consent),
    }
}

fn refused_credential(req: &Request<'_>, e: &AadstsError) -> Decision {
    match req.first {
        FirstFactor::MfaAnswer => Decision::new(
            Outcome::Challenge(Challenge::Code {
                error: Some(e.clone()),
            }),
            Record::Failure(e.clone()),
        ),
        FirstFactor::Password
            if e.code == 50055 && matches!(req.surface, Surface::Authorize { .. }) =>
        {
            Decision::new(Outcome::Interrupt(Interrupt::ChangePassword), Record::None)
        }
        _ => {
            let mut d = Decision::new(Outcome::Refuse(e.clone()), Record::Failure(e.clone()));
            d.failed_guess = req.first == FirstFactor::Password && counts_as_guess(e.code);
            d
        }
    }
}

fn evaluate(
    req: &Request<'_>,
    ca: &CaFacts,
    risk: &Assessment,
    device: DeviceFacts,
    client_app_type: ClientAppType,
) -> CaDecision {
    let mut d = decision::for_user(
        &ca.loaded,
        &ca.user,
        &decision::UserSignIn {
            client_app_id: req.client_app_id,
            resource: &ca.resource,
            client_app_type,
            ip: req.ip,
            satisfied: Satisfied {
                password_at: Some(req.authn.auth_time),
                mfa_at: req.authn.mfa_at,
                ..Satisfied::default()
            },
            now: req.now,
            sign_in_risk: risk.sign_in_risk,
            user_risk: risk.user_risk,
            platform: device.platform,
            device: device.state,
        },
    );
    d.risk = risk.info.clone();
    d
}

fn token(req: &Request<'_>, f: &Facts) -> Step {
    // A code was issued only after Conditional Access passed at /authorize (MFA included);
    // redeeming it inherits that decision, as in Entra.
    if req.first == FirstFactor::AuthorizationCode {
        return Step::Done(
            Decision::new(Outcome::Issue, Record::Success).with_ca(CaDecision::not_applied()),
        );
    }
    let password = req.first == FirstFactor::Password;
    // ROPC proved a password: assessed before the device is looked at.
    if password && f.risk.is_none() {
        return Step::Load(Need::Assess { password: true });
    }
    let device = *ok_or_refuse!(need!(&f.device, Need::Device));
    // Grants without a fresh password carry the user's standing risk.
    let mut risk = need!(&f.risk, Need::StandingRisk).clone();
    // A device code carries the risk assessed at the device-login page.
    if req.first == FirstFactor::DeviceCode {
        if let Some(level) = req.carried_sign_in_risk {
            risk.sign_in_risk = level;
            risk.info.during_sign_in = level.as_str().into();
        }
    }
    let ca = need!(&f.ca, Need::ConditionalAccess);
    // ROPC is legacy authentication under security defaults (blocked).
    let app_type = security_defaults::client_app_type(
        req.security_defaults,
        password,
        ClientAppType::MobileAppsAndDesktopClients,
    );
    let d = evaluate(req, ca, &risk, device, app_type);
    if let Some(e) = d.error.clone() {
        let outcome = if is_mfa_requirement(&e) {
            // MFA owed: a claims challenge naming the policies behind it.
            Outcome::Challenge(Challenge::Claims {
                error: e.clone(),
                from_request: false,
            })
        } else {
            Outcome::Refuse(e.clone())
        };
        return Step::Done(Decision::new(outcome, Record::Failure(e)).with_ca(d));
    }
    // A step-up request the session has not met is an MFA requirement, answered with the
    // same claims so the client goes interactive.
    if let Some(e) = req.authn.step_up_owed(req.step_up) {
        return Step::Done(
            Decision::new(
                Outcome::Challenge(Challenge::Claims {
                    error: e.clone(),
                    from_request: true,
                }),
                Record::Failure(e),
            )
            .with_ca(d),
        );
    }
    Step::Done(Decision::new(Outcome::Issue, Record::Success).with_ca(d))
}

fn device_login(req: &Request<'_>, f: &Facts) -> Step {
    // The code completes the sign-in whose password was proven (and assessed) moments ago.
    if req.first == FirstFactor::MfaAnswer {
        return Step::Done(Decision::new(Outcome::Issue, Record::Success));
    }
    let risk = need!(&f.risk, Need::Assess { password: true });
    let ca = need!(&f.ca, Need::ConditionalAccess);
    let d = evaluate(req, ca, risk, DeviceFacts::NONE, ClientAppType::Browser);
    let mut out = match d.error {
        Some(e) if e.code == 50079 => Decision::new(
            Outcome::Interrupt(Interrupt::RegisterMfa {
                security_defaults: false,
            }),
            Record::Failure(e),
        ),
        // Asked for the code first; the sign-in ends at the code's answer.
        Some(e) if e.code == 50076 => {
            return Step::Done(Decision::new(
                Outcome::Challenge(Challenge::Code { error: None }),
                Record::None,
            ))
        }
        // Any other refusal is the token endpoint's to answer (and log) at the next poll.
        _ => Decision::new(Outcome::Issue, Record::Success),
    };
    out.risk = Some(risk.info.clone());
    Step::Done(out)
}

fn authorize(req: &Request<'_>, f: &Facts, silent: bool, admin_consent: bool) -> Step {
    use FirstFactor as F;
    // A password proven here is assessed before the session starts.
    if req.first == F::Password && f.risk.is_none() {
        return Step::Load(Need::Assess { password: true });
    }
    if !f.session {
        match req.first {
            F::Password | F::NewPassword => return Step::Load(Need::StartSession),
            F::MfaAnswer => return Step::Load(Need::MarkSessionMfa),
            _ => {}
        }
    }
    if admin_consent {
        return Step::Done(Decision::new(Outcome::AdminConsent, Record::None));
    }
    // Consent first: missing permissions (or an app new to this tenant) ask the user.
    let owed = *ok_or_refuse!(need!(&f.consent, Need::Consent));
    if owed || req.force_consent {
        if silent {
            let e = silent_consent_required(req.client_app_id, req.client_name);
            return Step::Done(Decision::new(
                Outcome::Refuse(e.clone()),
                Record::Failure(e),
            ));
        }
        return Step::Done(Decision::new(Outcome::NeedConsent, Record::None));
    }
    ok_or_refuse!(need!(&f.tokens, Need::Tokens));
    // A presented device assertion that fails refuses the sign-in rather than counting as
    // "no device".
    let device = *ok_or_refuse!(need!(&f.device, Need::Device));
    // An SSO sign-in is assessed here; the answer to an MFA challenge (or a session that did
    // MFA) is the same sign-in as its password, so it carries only the standing risk.
    let risk = need!(
        &f.risk,
        if req.authn.mfa_at.is_some() {
            Need::StandingRisk
        } else {
            Need::Assess { password: false }
        }
    );
    let ca = need!(&f.ca, Need::ConditionalAccess);
    let mut d = evaluate(req, ca, risk, device, ClientAppType::Browser);
    // A claims challenge (step-up) the session has not met yet asks for MFA like a policy.
    if let Some(e) = d
        .error
        .clone()
        .or_else(|| req.authn.step_up_owed(req.step_up))
    {
        // An MFA requirement in a browser sign-in is a challenge, not a refusal.
        if !silent && is_mfa_requirement(&e) {
            let registered = *need!(&f.mfa_registered, Need::MfaRegistration);
            let outcome = if registered {
                Outcome::Challenge(Challenge::Code { error: None })
            } else {
                Outcome::Interrupt(Interrupt::RegisterMfa {
                    security_defaults: false,
                })
            };
            return Step::Done(Decision::new(outcome, Record::Failure(e)).with_ca(d));
        }
        return Step::Done(
            Decision::new(Outcome::Refuse(e.clone()), Record::Failure(e)).with_ca(d),
        );
    }
    // Security defaults: an interactive sign-in of a user without an authenticator app is
    // sent to register one (prompt=none, a silent sign-in, is not interrupted).
    if req.security_defaults && !silent && req.authn.mfa_at.is_none() {
        let registered = *need!(&f.mfa_registered, Need::MfaRegistration);
        if security_defaults::registration_required(true, true, registered) {
            let e = d.require_registration();
            return Step::Done(
                Decision::new(
                    Outcome::Interrupt(Interrupt::RegisterMfa {
                        security_defaults: true,
                    }),
                    Record::Failure(e),
                )
                .with_ca(d),
            );
        }
    }
    Step::Done(Decision::new(Outcome::Issue, Record::Success).with_ca(d))
}

#[cfg(test)]
pub(crate) mod tests;
