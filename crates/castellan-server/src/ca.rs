//! Conditional Access at sign-in: loads the tenant's policies and named locations (stored Graph
//! documents, parsed by wire), builds the evaluator's context from what the request and the
//! store say, and returns the decision with the sign-in log's `appliedConditionalAccessPolicies`
//! and `conditionalAccessStatus`. Every decision is core's (`castellan_core::policy`).

use std::net::IpAddr;

use castellan_core::error::AadstsError;
use castellan_core::model::{AppliedPolicy, PolicyDocumentKind, SignIn, Tenant, User, UserType};
use castellan_core::policy::{
    self, ClientAppType, DeviceState, Evaluation, NamedLocation, PolicySet, RiskLevel, Satisfied,
    SignInContext, Subject, UserSubject, WorkloadSubject,
};
use castellan_core::store::StoreError;
use castellan_core::{AppId, ObjectId, Timestamp};

use crate::state::AppState;

/// What Conditional Access decided for one sign-in.
#[derive(Debug, Default)]
pub struct Decision {
    /// The refusal, when the sign-in must not get a token.
    pub error: Option<AadstsError>,
    /// `conditionalAccessStatus`.
    pub status: String,
    /// `appliedConditionalAccessPolicies`.
    pub applied: Vec<AppliedPolicy>,
    /// Per policy: why it did not apply (empty when it applied).
    pub reasons: Vec<String>,
    /// Identity Protection's verdict on the sign-in (set by the caller that assessed it).
    pub risk: castellan_core::model::SignInRiskInfo,
    /// The ids of the policies behind `error` (the ones blocking, or owed controls).
    pub deciding: Vec<String>,
}

impl Decision {
    /// No policy applied (none to evaluate, or an earlier decision stands).
    pub fn not_applied() -> Self {
        Self {
            status: "notApplied".into(),
            ..Self::default()
        }
    }

    /// Copies the decision into a sign-in record.
    pub fn annotate(&self, rec: &mut SignIn) {
        rec.conditional_access_status = self.status.clone();
        rec.applied_policies = self.applied.clone();
        rec.risk = self.risk.clone();
    }

    /// Security defaults' MFA registration requirement stops this (otherwise allowed) sign-in:
    /// the decision becomes a failure listing the synthetic "require MFA registration" entry,
    /// and the AADSTS50079 error is returned.
    pub fn require_registration(&mut self) -> AadstsError {
        use castellan_core::policy::security_defaults as sd;
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

/// The tenant's policies and named locations, parsed. With security defaults on, their
/// built-in policies (`policy::security_defaults::policies`) come first, evaluated like any
/// other (custom policies are then at most report-only: the two are mutually exclusive).
pub async fn load(
    s: &AppState,
    tenant: &Tenant,
) -> Result<(PolicySet, Vec<NamedLocation>), StoreError> {
    let mut policies = if tenant.settings.security_defaults {
        policy::security_defaults::policies()
    } else {
        Vec::new()
    };
    for d in s
        .store
        .policy_documents(tenant.id, PolicyDocumentKind::ConditionalAccessPolicy)
        .await?
    {
        let v: serde_json::Value = serde_json::from_str(&d.document).unwrap_or_default();
        match castellan_wire::graph::conditional_access::parse_policy(&v, d.id) {
            Ok(p) => policies.push(p),
            Err(e) => {
                tracing::error!(policy = %d.id, error = %e.message, "stored conditional access policy is unreadable; skipped")
            }
        }
    }
    let mut locations = Vec::new();
    for d in s
        .store
        .policy_documents(tenant.id, PolicyDocumentKind::NamedLocation)
        .await?
    {
        let v: serde_json::Value = serde_json::from_str(&d.document).unwrap_or_default();
        if let Ok(l) = castellan_wire::graph::conditional_access::parse_named_location(&v, d.id) {
            locations.push(l);
        }
    }
    Ok((PolicySet::new(policies), locations))
}

fn decision(e: &Evaluation<'_>) -> Decision {
    let deciding = match &e.outcome {
        castellan_core::policy::Outcome::Allow => vec![],
        castellan_core::policy::Outcome::Block { policies }
        | castellan_core::policy::Outcome::RequireControls { policies, .. } => {
            policies.iter().map(|p| p.id.to_string()).collect()
        }
    };
    Decision {
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
        risk: Default::default(),
    }
}

/// The facts of one user sign-in the evaluator needs besides the user.
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
    pub platform: Option<policy::DevicePlatform>,
    /// The device, when one is presented.
    pub device: DeviceState,
}

fn app(s: &str) -> AppId {
    AppId::parse(s).unwrap_or_else(|| AppId::from_uuid(uuid::Uuid::nil()))
}

/// Evaluates a user's sign-in.
pub async fn for_user(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    req: &UserSignIn<'_>,
) -> Result<Decision, StoreError> {
    let (set, locations) = load(s, tenant).await?;
    if set.is_empty() {
        return Ok(Decision::not_applied());
    }
    let (groups, roles) =
        castellan_core::ops::conditional_access::user_facts(s.store.as_ref(), tenant, user.id)
            .await?;
    // 50076 (challenge) vs 50079 (register first) depends on a confirmed authenticator app.
    let mfa_registered =
        castellan_core::ops::auth_methods::has_registered_method(s.store.as_ref(), tenant, user.id)
            .await
            .unwrap_or(false);
    let ip: Option<IpAddr> = req.ip.parse().ok();
    // The country comes from GeoIP (`--geoip-db`); without one it is unknown, which only
    // country locations with `includeUnknownCountriesAndRegions` match.
    let country = s.protection.locate(req.ip).country_or_region;
    let facts = policy::resolve_location(&locations, ip, country.as_deref());
    let ctx = SignInContext {
        subject: Subject::User(UserSubject {
            id: user.id,
            is_guest: user.user_type == UserType::Guest,
            groups: &groups,
            roles: &roles,
            risk: req.user_risk,
            mfa_registered,
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
    Ok(decision(&set.evaluate(&ctx)))
}

/// Evaluates a workload identity's token request (client credentials).
pub async fn for_workload(
    s: &AppState,
    tenant: &Tenant,
    service_principal: ObjectId,
    client_app_id: &str,
    resource: &str,
    ip: &str,
    now: Timestamp,
) -> Result<Decision, StoreError> {
    let (set, locations) = load(s, tenant).await?;
    if set.is_empty() {
        return Ok(Decision::not_applied());
    }
    let country = s.protection.locate(ip).country_or_region;
    let ip: Option<IpAddr> = ip.parse().ok();
    let facts = policy::resolve_location(&locations, ip, country.as_deref());
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
    Ok(decision(&set.evaluate(&ctx)))
}
