//! Conditional Access at a sign-in, as the sign-in log and the token service need it: the
//! evaluator's context built from a user's (or workload's) loaded facts, and the evaluation
//! turned into a [`CaDecision`] (the refusal, `conditionalAccessStatus`,
//! `appliedConditionalAccessPolicies`, the ids of the deciding policies). Moved here from the
//! server (`server::ca` only loads and parses the stored documents now).

use core::net::IpAddr;

use crate::error::AadstsError;
use crate::ids::{AppId, ObjectId};
use crate::model::{AppliedPolicy, SignIn, SignInRiskInfo};
use crate::time::Timestamp;

use super::{
    resolve_location, ClientAppType, DevicePlatform, DeviceState, Evaluation, NamedLocation,
    Outcome, PolicySet, RiskLevel, Satisfied, SignInContext, Subject, UserSubject, WorkloadSubject,
};

/// What Conditional Access decided for one sign-in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaDecision {
    /// The refusal, when the sign-in must not get a token.
    pub error: Option<AadstsError>,
    /// `conditionalAccessStatus`.
    pub status: String,
    /// `appliedConditionalAccessPolicies`.
    pub applied: Vec<AppliedPolicy>,
    /// Per policy: why it did not apply (empty when it applied).
    pub reasons: Vec<String>,
    /// Identity Protection's verdict on the sign-in (set by the pipeline that assessed it).
    pub risk: SignInRiskInfo,
    /// The ids of the policies behind `error` (the ones blocking, or owed controls).
    pub deciding: Vec<String>,
}

impl CaDecision {
    /// No policy applied (none to evaluate, or an earlier decision stands).
    pub fn not_applied() -> Self {
        Self {
            status: "notApplied".into(),
            ..Self::default()
        }
    }

    /// Copies the decision into a sign-in record.
    pub fn annotate(&self, rec: &mut SignIn) {
        rec.conditional_access_status.clone_from(&self.status);
        rec.applied_policies.clone_from(&self.applied);
        rec.risk = self.risk.clone();
    }

    /// Whether the refusal is an MFA requirement (50076 do MFA, 50079 register first).
    pub fn owes_mfa(&self) -> bool {
        self.error.as_ref().is_some_and(is_mfa_requirement)
    }

    /// Security defaults' MFA registration requirement stops this (otherwise allowed) sign-in:
    /// the decision becomes a failure listing the synthetic "require MFA registration" entry,
    /// and the AADSTS50079 error is returned.
    pub fn require_registration(&mut self) -> AadstsError {
        use super::security_defaults as sd;
        let e = AadstsError::mfa_registration_required(&format!(
            "'{}' ({})",
            sd::REGISTRATION_NAME,
            sd::REGISTRATION_POLICY_ID
        ));
        self.status = "failure".into();
        self.applied.push(AppliedPolicy {
            id: sd::REGISTRATION_POLICY_ID.to_string(),
            display_name: sd::REGISTRATION_NAME.into(),
            result: "failure".into(),
            enforced_grant_controls: vec!["mfa".into()],
            enforced_session_controls: vec![],
        });
        self.reasons.push(String::new());
        self.error = Some(e.clone());
        e
    }
}

/// An MFA requirement: 50076 (do MFA) or 50079 (register a method first).
pub fn is_mfa_requirement(e: &AadstsError) -> bool {
    e.code == 50076 || e.code == 50079
}

/// The evaluation as the sign-in log and the token service see it.
pub fn decision(e: &Evaluation<'_>) -> CaDecision {
    let deciding = match &e.outcome {
        Outcome::Allow => vec![],
        Outcome::Block { policies } | Outcome::RequireControls { policies, .. } => {
            policies.iter().map(|p| p.id.to_string()).collect()
        }
    };
    CaDecision {
        deciding,
        reasons: e
            .policies
            .iter()
            .map(|p| {
                p.not_applied
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            })
            .collect(),
        error: e.aadsts_error(),
        status: e.status().as_str().to_string(),
        applied: e
            .policies
            .iter()
            .map(|p| AppliedPolicy {
                id: p.policy.id.to_string(),
                display_name: p.policy.display_name.clone(),
                result: p.result.as_str().to_string(),
                enforced_grant_controls: p
                    .required
                    .iter()
                    .map(|c| c.as_str().to_string())
                    .collect(),
                enforced_session_controls: p
                    .policy
                    .session_controls
                    .as_ref()
                    .map(|sc| {
                        let mut v = Vec::new();
                        if sc.sign_in_frequency.is_some() {
                            v.push("signInFrequency".to_string());
                        }
                        if sc.persistent_browser.is_some() {
                            v.push("persistentBrowserSessionMode".to_string());
                        }
                        v
                    })
                    .unwrap_or_default(),
            })
            .collect(),
        risk: SignInRiskInfo::default(),
    }
}

/// What the store and the request say about the tenant's policies for one sign-in (loaded by
/// the caller; an empty set short-cuts to `notApplied`).
#[derive(Debug)]
pub struct Loaded {
    /// The tenant's policies (security defaults' built-in ones first when on), compiled once
    /// per change and shared.
    pub set: std::sync::Arc<PolicySet>,
    /// The tenant's named locations, shared.
    pub locations: std::sync::Arc<Vec<NamedLocation>>,
    /// GeoIP's country of the client address, when known.
    pub country: Option<String>,
}

/// The user side of a sign-in, loaded (only needed when the set is not empty).
#[derive(Clone, Debug)]
pub struct UserFacts {
    /// Object id.
    pub id: ObjectId,
    /// `userType` is `Guest`.
    pub is_guest: bool,
    /// Transitive groups.
    pub groups: Vec<ObjectId>,
    /// Directory role template ids.
    pub roles: Vec<uuid::Uuid>,
    /// A confirmed authenticator app (50076 vs 50079).
    pub mfa_registered: bool,
}

/// The facts of one user sign-in the evaluator needs besides the user.
#[derive(Clone, Copy, Debug)]
pub struct UserSignIn<'a> {
    /// The client's appId.
    pub client_app_id: &'a str,
    /// The resource's appId (or identifier, when not a GUID).
    pub resource: &'a str,
    /// Browser or app.
    pub client_app_type: ClientAppType,
    /// The client's IP.
    pub ip: &'a str,
    /// What the user has done already.
    pub satisfied: Satisfied,
    /// Now.
    pub now: Timestamp,
    /// Sign-in risk (What-If; Identity Protection feeds it otherwise).
    pub sign_in_risk: RiskLevel,
    /// User risk.
    pub user_risk: RiskLevel,
    /// Device platform, when known.
    pub platform: Option<DevicePlatform>,
    /// The device, when one is presented.
    pub device: DeviceState,
}

fn app(s: &str) -> AppId {
    AppId::parse(s).unwrap_or_else(|| AppId::from_uuid(uuid::Uuid::nil()))
}

/// Evaluates a user's sign-in.
pub fn for_user(loaded: &Loaded, user: &UserFacts, req: &UserSignIn<'_>) -> CaDecision {
    if loaded.set.is_empty() {
        return CaDecision::not_applied();
    }
    let ip: Option<IpAddr> = req.ip.parse().ok();
    let facts = resolve_location(&loaded.locations, ip, loaded.country.as_deref());
    let ctx = SignInContext {
        subject: Subject::User(UserSubject {
            id: user.id,
            is_guest: user.is_guest,
            groups: &user.groups,
            roles: &user.roles,
            risk: req.user_risk,
            mfa_registered: user.mfa_registered,
        }),
        client_app_id: app(req.client_app_id),
        resource_app_id: app(req.resource),
        client_app_type: req.client_app_type,
        ip,
        location: &facts,
        platform: req.platform,
        device: req.device,
        sign_in_risk: req.sign_in_risk,
        satisfied: req.satisfied,
        now: req.now,
    };
    decision(&loaded.set.evaluate(&ctx))
}

/// Evaluates a workload identity's token request (client credentials).
pub fn for_workload(
    loaded: &Loaded,
    service_principal: ObjectId,
    client_app_id: &str,
    resource: &str,
    ip: &str,
    now: Timestamp,
) -> CaDecision {
    if loaded.set.is_empty() {
        return CaDecision::not_applied();
    }
    let ip: Option<IpAddr> = ip.parse().ok();
    let facts = resolve_location(&loaded.locations, ip, loaded.country.as_deref());
    let ctx = SignInContext {
        subject: Subject::Workload(WorkloadSubject {
            service_principal_id: service_principal,
            in_my_tenant: true,
            risk: RiskLevel::None,
        }),
        client_app_id: app(client_app_id),
        resource_app_id: app(resource),
        client_app_type: ClientAppType::Other,
        ip,
        location: &facts,
        platform: None,
        device: DeviceState::None,
        sign_in_risk: RiskLevel::None,
        satisfied: Satisfied::default(),
        now,
    };
    decision(&loaded.set.evaluate(&ctx))
}
