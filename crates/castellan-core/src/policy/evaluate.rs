//! The Conditional Access evaluator: which policies apply to one sign-in, what each requires,
//! what is already satisfied, and the combined decision (allow, block, or the controls still
//! owed) with the AADSTS code the token service answers and Graph's sign-in log values.
//!
//! How Entra decides, and so how this does (Microsoft Learn, "Conditional Access: Policy
//! evaluation", "Building a Conditional Access policy", "report-only mode"):
//! - a policy applies when *every* configured condition matches; inside a condition an
//!   exclusion beats an inclusion; a condition that is not configured matches everything;
//! - `disabled` policies are skipped (`notEnabled`); `enabledForReportingButNotEnforced`
//!   policies are evaluated and reported (`reportOnly*`) but never change the outcome;
//! - all applying enforced policies must be satisfied: `block` in any of them wins; otherwise
//!   each policy's grant controls are combined by its own operator (`AND`: all, `OR`: any one)
//!   and the requirements of different policies add up;
//! - controls satisfied earlier in the session count: an MFA performed within the sign-in
//!   frequency window, a compliant or hybrid-joined device, an approved or protected client app.
//!
//! Sign-in frequency here: the effective window is the shortest `signInFrequency` among the
//! applying enforced policies. Primary authentication older than that window must be redone
//! (`Control::Reauthentication`, AADSTS70043 on a refresh); an MFA older than the window does
//! not satisfy `mfa`. Without any frequency, an MFA anywhere in the session counts. A
//! report-only policy is judged with the shorter of that window and its own.
//!
//! Cost: `PolicySet::new` indexes every id a policy names (users, groups, roles, apps,
//! service principals, named locations) once; `PolicySet::evaluate` looks up only the
//! sign-in's own ids (user, its transitive groups and roles, resource, locations) and then
//! reads per-policy bit flags. Nothing is allocated per policy: an evaluation makes one flag
//! vector, the result vector and, when the outcome is not allow, the list of policies behind
//! it (`bench --ca`: a few microseconds for 195 policies).

use core::net::IpAddr;
use std::collections::HashMap;
use std::fmt;

use crate::error::AadstsError;
use crate::ids::{AppId, ObjectId};
use crate::time::Timestamp;

use super::location::LocationFacts;
use super::model::{
    AppRef, BuiltInControl, ClientAppType, ConditionalAccessPolicy, DevicePlatform, GrantOperator,
    LocationRef, PersistentBrowserMode, PolicyState, RiskLevel, ServicePrincipalRef, UserRef,
};
pub use crate::model::device::DeviceTrustType;

// ---------------------------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------------------------

/// A requirement a policy can place on a sign-in: Graph's built-in grant controls, an
/// authentication strength, and re-authentication forced by a sign-in frequency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Control {
    /// `block`.
    Block,
    /// `mfa`.
    Mfa,
    /// `compliantDevice`.
    CompliantDevice,
    /// `domainJoinedDevice`.
    DomainJoinedDevice,
    /// `approvedApplication`.
    ApprovedApplication,
    /// `compliantApplication`.
    CompliantApplication,
    /// `passwordChange`.
    PasswordChange,
    /// `authenticationStrength` (satisfied by multifactor authentication).
    AuthenticationStrength,
    /// `signInFrequency`: primary authentication is older than the window.
    Reauthentication,
}

impl Control {
    /// Every control, in declaration order.
    pub const ALL: [Control; 9] = [
        Self::Block,
        Self::Mfa,
        Self::CompliantDevice,
        Self::DomainJoinedDevice,
        Self::ApprovedApplication,
        Self::CompliantApplication,
        Self::PasswordChange,
        Self::AuthenticationStrength,
        Self::Reauthentication,
    ];

    /// Graph's name (`builtInControls` spelling; `authenticationStrength`; `signInFrequency`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Mfa => "mfa",
            Self::CompliantDevice => "compliantDevice",
            Self::DomainJoinedDevice => "domainJoinedDevice",
            Self::ApprovedApplication => "approvedApplication",
            Self::CompliantApplication => "compliantApplication",
            Self::PasswordChange => "passwordChange",
            Self::AuthenticationStrength => "authenticationStrength",
            Self::Reauthentication => "signInFrequency",
        }
    }

    /// Whether the user can satisfy this control by acting during the sign-in (signing in
    /// again, MFA, changing the password). The others depend on the device, the client app or
    /// the policy itself and fail the sign-in when unmet.
    pub const fn is_interactive(self) -> bool {
        matches!(
            self,
            Self::Mfa
                | Self::AuthenticationStrength
                | Self::PasswordChange
                | Self::Reauthentication
        )
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl From<BuiltInControl> for Control {
    fn from(c: BuiltInControl) -> Self {
        match c {
            BuiltInControl::Block => Self::Block,
            BuiltInControl::Mfa => Self::Mfa,
            BuiltInControl::CompliantDevice => Self::CompliantDevice,
            BuiltInControl::DomainJoinedDevice => Self::DomainJoinedDevice,
            BuiltInControl::ApprovedApplication => Self::ApprovedApplication,
            BuiltInControl::CompliantApplication => Self::CompliantApplication,
            BuiltInControl::PasswordChange => Self::PasswordChange,
        }
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of controls (a bit set; copying it costs nothing).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ControlSet(u16);

impl ControlSet {
    /// The empty set.
    pub const EMPTY: Self = Self(0);

    /// A set of the given controls.
    pub fn of(controls: &[Control]) -> Self {
        controls.iter().fold(Self::EMPTY, |s, c| s.with(*c))
    }
    /// This set plus `c`.
    #[must_use]
    pub const fn with(self, c: Control) -> Self {
        Self(self.0 | c.bit())
    }
    /// Whether `c` is in the set.
    pub const fn contains(self, c: Control) -> bool {
        self.0 & c.bit() != 0
    }
    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The number of controls.
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }
    /// Union.
    #[must_use]
    pub const fn union(self, o: Self) -> Self {
        Self(self.0 | o.0)
    }
    /// Intersection.
    #[must_use]
    pub const fn intersection(self, o: Self) -> Self {
        Self(self.0 & o.0)
    }
    /// The controls of `self` not in `o`.
    #[must_use]
    pub const fn difference(self, o: Self) -> Self {
        Self(self.0 & !o.0)
    }
    /// Whether every control of `o` is in `self`.
    pub const fn is_superset(self, o: Self) -> bool {
        o.0 & !self.0 == 0
    }
    /// The interactive controls of the set.
    #[must_use]
    pub fn interactive(self) -> Self {
        Self(
            Control::ALL
                .iter()
                .filter(|c| c.is_interactive())
                .fold(0, |m, c| m | c.bit())
                & self.0,
        )
    }
    /// The controls in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Control> {
        Control::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl fmt::Debug for ControlSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for ControlSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for c in self.iter() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            f.write_str(c.as_str())?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The sign-in context
// ---------------------------------------------------------------------------------------------

/// A user signing in.
#[derive(Clone, Copy, Debug)]
pub struct UserSubject<'a> {
    /// The user's object id.
    pub id: ObjectId,
    /// `userType` is `Guest` (or the user is external): matches `GuestsOrExternalUsers`.
    pub is_guest: bool,
    /// Every group the user belongs to, directly or through nested groups.
    pub groups: &'a [ObjectId],
    /// Template ids of the directory roles the user holds (active assignments).
    pub roles: &'a [uuid::Uuid],
    /// The user's aggregated Identity Protection risk (`riskLevel` of `riskyUser`).
    pub risk: RiskLevel,
    /// Whether the user has an MFA method registered: an MFA requirement then answers
    /// AADSTS50076 (do MFA) instead of 50079 (register first).
    pub mfa_registered: bool,
}

/// A workload identity (a service principal using client credentials).
#[derive(Clone, Copy, Debug)]
pub struct WorkloadSubject {
    /// The service principal's object id.
    pub service_principal_id: ObjectId,
    /// Whether it belongs to a single-tenant application registered in this tenant. Entra
    /// applies workload-identity policies only to those: multi-tenant (third-party)
    /// applications and managed identities are out of scope, even when listed by id.
    pub in_my_tenant: bool,
    /// Its service-principal risk.
    pub risk: RiskLevel,
}

/// Who is signing in.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// A user (every grant but client credentials).
    User(UserSubject<'a>),
    /// A workload identity (client credentials).
    Workload(WorkloadSubject),
}

/// The device the sign-in comes from, as far as the directory knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceState {
    /// Unknown or unregistered device.
    #[default]
    None,
    /// A device object the sign-in proved possession of.
    Registered {
        /// `isCompliant` (set by the MDM).
        is_compliant: bool,
        /// `trustType`.
        trust_type: DeviceTrustType,
    },
}

/// What the session has already done, with when.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Satisfied {
    /// When the user last proved the primary factor (password, passkey…) in this session.
    pub password_at: Option<Timestamp>,
    /// When the user last completed multifactor authentication in this session.
    pub mfa_at: Option<Timestamp>,
    /// The user completed a secure password change during this sign-in.
    pub password_changed: bool,
    /// The client app is on the approved-client-app list.
    pub approved_client_app: bool,
    /// The client app is covered by an app protection policy.
    pub compliant_client_app: bool,
}

/// Everything the evaluator looks at for one sign-in. Built by the server per request; the
/// lists are borrowed so the caller's cached copies are not cloned.
#[derive(Clone, Copy, Debug)]
pub struct SignInContext<'a> {
    /// Who signs in.
    pub subject: Subject<'a>,
    /// The client application (`appid`/`azp`), for reporting.
    pub client_app_id: AppId,
    /// The resource (cloud app) the token is for: what `includeApplications` targets. For a
    /// sign-in to an app itself (OpenID Connect, no API), the app's own appId.
    pub resource_app_id: AppId,
    /// The client's type.
    pub client_app_type: ClientAppType,
    /// The client's address (see `location::client_ip_from`); carried for the sign-in log,
    /// matching uses `location`, resolved from it once per sign-in.
    pub ip: Option<IpAddr>,
    /// Named locations matched, trust and country (see `location::resolve_location`).
    pub location: &'a LocationFacts,
    /// The device platform from the user agent, if known.
    pub platform: Option<DevicePlatform>,
    /// The device.
    pub device: DeviceState,
    /// This sign-in's risk (the highest of its real-time detections).
    pub sign_in_risk: RiskLevel,
    /// What the session already satisfied.
    pub satisfied: Satisfied,
    /// Now.
    pub now: Timestamp,
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// Graph's `appliedConditionalAccessPolicies[].result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyResult {
    /// `success`: applied and satisfied.
    Success,
    /// `failure`: applied and not satisfied (blocked, or controls still owed).
    Failure,
    /// `notApplied`: a condition did not match.
    NotApplied,
    /// `notEnabled`: the policy is disabled.
    NotEnabled,
    /// `reportOnlySuccess`: report-only, would have been satisfied.
    ReportOnlySuccess,
    /// `reportOnlyFailure`: report-only, would have blocked or required a control the sign-in
    /// cannot provide (device, app).
    ReportOnlyFailure,
    /// `reportOnlyNotApplied`: report-only, a condition did not match.
    ReportOnlyNotApplied,
    /// `reportOnlyInterrupted`: report-only, would have required user action (MFA, password
    /// change, re-authentication).
    ReportOnlyInterrupted,
}

impl PolicyResult {
    /// Graph's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::NotApplied => "notApplied",
            Self::NotEnabled => "notEnabled",
            Self::ReportOnlySuccess => "reportOnlySuccess",
            Self::ReportOnlyFailure => "reportOnlyFailure",
            Self::ReportOnlyNotApplied => "reportOnlyNotApplied",
            Self::ReportOnlyInterrupted => "reportOnlyInterrupted",
        }
    }
    /// Whether the policy applied (its conditions all matched).
    pub const fn applied(self) -> bool {
        !matches!(
            self,
            Self::NotApplied | Self::NotEnabled | Self::ReportOnlyNotApplied
        )
    }
}

/// Why a user or service principal is excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exclusion {
    /// Listed in `excludeUsers`.
    User,
    /// A guest, and `excludeUsers` has `GuestsOrExternalUsers`.
    Guests,
    /// A member (transitively) of this group in `excludeGroups`.
    Group(ObjectId),
    /// Holds this role in `excludeRoles`.
    Role(uuid::Uuid),
}

/// The first condition that kept a policy from applying, in words by `Display`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotApplied {
    /// The policy is disabled.
    Disabled,
    /// The user is in none of `includeUsers`, `includeGroups`, `includeRoles`.
    UserNotIncluded,
    /// The user is excluded.
    UserExcluded(Exclusion),
    /// A workload identity signed in, and the policy targets users.
    PolicyTargetsUsers,
    /// The service principal is not in `includeServicePrincipals`.
    ServicePrincipalNotIncluded,
    /// The service principal is not a single-tenant app of this tenant.
    ServicePrincipalOutOfScope,
    /// The service principal is excluded.
    ServicePrincipalExcluded,
    /// The resource is not in `includeApplications`.
    ApplicationNotIncluded(AppId),
    /// The resource is in `excludeApplications`.
    ApplicationExcluded(AppId),
    /// The client app type is not in `clientAppTypes`.
    ClientAppType(ClientAppType),
    /// The location is not in `includeLocations`.
    LocationNotIncluded,
    /// The location is in `excludeLocations`.
    LocationExcluded(LocationRef),
    /// The platform is not in `includePlatforms` (`None`: it is unknown).
    PlatformNotIncluded(Option<DevicePlatform>),
    /// The platform is in `excludePlatforms`.
    PlatformExcluded(DevicePlatform),
    /// The sign-in risk is not in `signInRiskLevels`.
    SignInRisk(RiskLevel),
    /// The user risk is not in `userRiskLevels`.
    UserRisk(RiskLevel),
    /// The service principal risk is not in `servicePrincipalRiskLevels`.
    ServicePrincipalRisk(RiskLevel),
}

impl fmt::Display for NotApplied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled => f.write_str("the policy is disabled"),
            Self::UserNotIncluded => {
                f.write_str("the user is not in includeUsers, includeGroups or includeRoles")
            }
            Self::UserExcluded(Exclusion::User) => f.write_str("the user is in excludeUsers"),
            Self::UserExcluded(Exclusion::Guests) => {
                f.write_str("the user is a guest and excludeUsers has GuestsOrExternalUsers")
            }
            Self::UserExcluded(Exclusion::Group(g)) => {
                write!(f, "the user is a member of excluded group {g}")
            }
            Self::UserExcluded(Exclusion::Role(r)) => {
                write!(f, "the user holds excluded directory role {r}")
            }
            Self::PolicyTargetsUsers => f.write_str(
                "a workload identity signed in and the policy has no clientApplications condition",
            ),
            Self::ServicePrincipalNotIncluded => {
                f.write_str("the service principal is not in includeServicePrincipals")
            }
            Self::ServicePrincipalOutOfScope => f.write_str(
                "the service principal is not a single-tenant application of this tenant",
            ),
            Self::ServicePrincipalExcluded => {
                f.write_str("the service principal is in excludeServicePrincipals")
            }
            Self::ApplicationNotIncluded(a) => {
                write!(f, "the resource {a} is not in includeApplications")
            }
            Self::ApplicationExcluded(a) => write!(f, "the resource {a} is in excludeApplications"),
            Self::ClientAppType(t) => write!(f, "the client app type {t} is not in clientAppTypes"),
            Self::LocationNotIncluded => f.write_str("the location is not in includeLocations"),
            Self::LocationExcluded(LocationRef::All) => f.write_str("excludeLocations has All"),
            Self::LocationExcluded(LocationRef::AllTrusted) => f.write_str(
                "the sign-in comes from a trusted location and excludeLocations has AllTrusted",
            ),
            Self::LocationExcluded(LocationRef::Id(id)) => {
                write!(f, "the sign-in comes from excluded named location {id}")
            }
            Self::PlatformNotIncluded(Some(p)) => {
                write!(f, "the platform {p} is not in includePlatforms")
            }
            Self::PlatformNotIncluded(None) => f.write_str(
                "the device platform is unknown and includePlatforms names specific platforms",
            ),
            Self::PlatformExcluded(p) => write!(f, "the platform {p} is in excludePlatforms"),
            Self::SignInRisk(r) => write!(f, "the sign-in risk {r} is not in signInRiskLevels"),
            Self::UserRisk(r) => write!(f, "the user risk {r} is not in userRiskLevels"),
            Self::ServicePrincipalRisk(r) => write!(
                f,
                "the service principal risk {r} is not in servicePrincipalRiskLevels"
            ),
        }
    }
}

/// One policy's verdict for one sign-in.
#[derive(Clone, Debug)]
pub struct PolicyEvaluation<'p> {
    /// The policy.
    pub policy: &'p ConditionalAccessPolicy,
    /// Graph's result value.
    pub result: PolicyResult,
    /// Why it did not apply (for `notApplied`, `reportOnlyNotApplied`, `notEnabled`).
    pub not_applied: Option<NotApplied>,
    /// Every control the policy requires when it applies (grant controls, and
    /// `Reauthentication` if it sets a sign-in frequency).
    pub required: ControlSet,
    /// How the grant controls combine.
    pub operator: GrantOperator,
    /// What is still owed when it applies: for `AND`, each unmet control; for `OR` with none
    /// met, every option; plus `Reauthentication` if the primary factor is too old.
    pub unsatisfied: ControlSet,
}

/// The combined decision of the enforced policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<'p> {
    /// No enforced policy is unsatisfied.
    Allow,
    /// At least one applying enforced policy blocks; block wins over everything.
    Block {
        /// The blocking policies.
        policies: Vec<&'p ConditionalAccessPolicy>,
    },
    /// Controls are still owed.
    RequireControls {
        /// Every unmet control of every unsatisfied policy (for `OR` policies: every option).
        controls: ControlSet,
        /// What to ask for first, in Entra's enforcement order (`PROMPT_ORDER`): an `OR`
        /// policy that offers an interactive option is satisfied by that option.
        next: Control,
        /// The unsatisfied policies.
        policies: Vec<&'p ConditionalAccessPolicy>,
    },
}

/// Entra's order of enforcement after block: the sign-in itself, MFA, then device state,
/// client app, and password change (Microsoft Learn, "Conditional Access policy
/// evaluation", phase 2).
pub const PROMPT_ORDER: [Control; 8] = [
    Control::Reauthentication,
    Control::Mfa,
    Control::AuthenticationStrength,
    Control::CompliantDevice,
    Control::DomainJoinedDevice,
    Control::ApprovedApplication,
    Control::CompliantApplication,
    Control::PasswordChange,
];

/// The sign-in's `conditionalAccessStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionalAccessStatus {
    /// `success`: enforced policies applied and all were satisfied.
    Success,
    /// `failure`: blocked or controls owed.
    Failure,
    /// `notApplied`: no enforced policy applied.
    NotApplied,
}

impl ConditionalAccessStatus {
    /// Graph's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::NotApplied => "notApplied",
        }
    }
}

/// Session controls in force for the resulting session (from applying enforced policies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionDecision {
    /// The shortest sign-in frequency window, in seconds.
    pub sign_in_frequency_secs: Option<i64>,
    /// Persistent browser: `never` wins over `always` when policies disagree.
    pub persistent_browser: Option<PersistentBrowserMode>,
}

/// The evaluation of one sign-in against a policy set.
#[derive(Clone, Debug)]
pub struct Evaluation<'p> {
    /// Every policy's verdict, in the set's order.
    pub policies: Vec<PolicyEvaluation<'p>>,
    /// The combined decision.
    pub outcome: Outcome<'p>,
    /// Session controls to apply when the outcome is allow.
    pub session: SessionDecision,
    /// Whether the user has an MFA method registered (copied from the context).
    mfa_registered: bool,
    /// Whether any enforced policy applied.
    any_enforced_applied: bool,
}

impl<'p> Evaluation<'p> {
    /// The sign-in log's `conditionalAccessStatus`.
    pub fn status(&self) -> ConditionalAccessStatus {
        match self.outcome {
            Outcome::Allow if self.any_enforced_applied => ConditionalAccessStatus::Success,
            Outcome::Allow => ConditionalAccessStatus::NotApplied,
            _ => ConditionalAccessStatus::Failure,
        }
    }

    /// The AADSTS code the token service answers, `None` when allowed:
    /// block 53003; re-authentication for sign-in frequency 70043; MFA 50076 (50079 when the
    /// user has no method registered yet); compliant device 53000; hybrid join 53001; approved
    /// or protected client app 53002; password change 50142; a block by security defaults
    /// alone 530035 (BlockedBySecurityDefaults).
    ///
    /// 50142 (Entra's "PasswordChangeRequiredConditionalAccess") is from Microsoft's AADSTS
    /// list as remembered; it is *not* in `shared/reference/entra-wire.md` and is unconfirmed.
    /// Entra's distinct code for `compliantApplication`, if it has one, is not in the
    /// reference either; 53002 (approved app) is used for both.
    pub fn aadsts_code(&self) -> Option<u32> {
        self.aadsts_error().map(|e| e.code)
    }

    /// The token-service error for a sign-in that is not allowed, naming the policies.
    pub fn aadsts_error(&self) -> Option<AadstsError> {
        let names = |ps: &[&ConditionalAccessPolicy]| {
            ps.iter()
                .map(|p| format!("'{}' ({})", p.display_name, p.id))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &self.outcome {
            Outcome::Allow => None,
            // Security defaults' own block has its own code (Entra's BlockedBySecurityDefaults).
            Outcome::Block { policies }
                if policies
                    .iter()
                    .all(|p| p.id == super::security_defaults::LEGACY_BLOCK_POLICY_ID) =>
            {
                Some(AadstsError::blocked_by_security_defaults(&names(policies)))
            }
            Outcome::Block { policies } => {
                Some(AadstsError::blocked_by_conditional_access(&names(policies)))
            }
            Outcome::RequireControls { next, policies, .. } => {
                let n = names(policies);
                Some(match next {
                    Control::Reauthentication => AadstsError::sign_in_frequency(&n),
                    Control::Mfa | Control::AuthenticationStrength if self.mfa_registered => {
                        AadstsError::mfa_required(&n)
                    }
                    Control::Mfa | Control::AuthenticationStrength => {
                        AadstsError::mfa_registration_required(&n)
                    }
                    Control::CompliantDevice => AadstsError::device_not_compliant(&n),
                    Control::DomainJoinedDevice => AadstsError::device_not_domain_joined(&n),
                    Control::ApprovedApplication | Control::CompliantApplication => {
                        AadstsError::client_app_not_approved(&n)
                    }
                    Control::PasswordChange => AadstsError::password_change_required(&n),
                    Control::Block => AadstsError::blocked_by_conditional_access(&n),
                })
            }
        }
    }

    /// The verdict for one policy by id.
    pub fn policy(&self, id: ObjectId) -> Option<&PolicyEvaluation<'p>> {
        self.policies.iter().find(|p| p.policy.id == id)
    }
}

// ---------------------------------------------------------------------------------------------
// The index
// ---------------------------------------------------------------------------------------------

// Per-policy hit flags: which of the policy's id lists contain one of the sign-in's ids.
const F_INC_USER: u16 = 1;
const F_EXC_USER: u16 = 1 << 1;
const F_INC_GROUP: u16 = 1 << 2;
const F_EXC_GROUP: u16 = 1 << 3;
const F_INC_ROLE: u16 = 1 << 4;
const F_EXC_ROLE: u16 = 1 << 5;
const F_INC_APP: u16 = 1 << 6;
const F_EXC_APP: u16 = 1 << 7;
const F_INC_SP: u16 = 1 << 8;
const F_EXC_SP: u16 = 1 << 9;
const F_INC_LOC: u16 = 1 << 10;
const F_EXC_LOC: u16 = 1 << 11;

type IdMap<V> = HashMap<Key, V>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    User(ObjectId),
    Group(ObjectId),
    Role(uuid::Uuid),
    App(AppId),
    Sp(ObjectId),
    Location(ObjectId),
}

/// A policy's non-id conditions and controls, flattened to flags and masks.
#[derive(Clone, Debug)]
struct Compiled {
    state: PolicyState,
    workload: bool,
    inc_all_users: bool,
    exc_all_users: bool,
    inc_guests: bool,
    exc_guests: bool,
    inc_sp_tenant: bool,
    exc_sp_tenant: bool,
    inc_all_apps: bool,
    exc_all_apps: bool,
    client_app_types: u16,
    locations: Option<LocationMask>,
    platforms: Option<(u16, u16)>,
    sign_in_risk: u16,
    user_risk: u16,
    sp_risk: u16,
    grant: ControlSet,
    operator: GrantOperator,
    window: Option<i64>,
    persistent: Option<PersistentBrowserMode>,
}

#[derive(Clone, Copy, Debug)]
struct LocationMask {
    inc_all: bool,
    inc_trusted: bool,
    exc_all: bool,
    exc_trusted: bool,
}

fn mask<T: Copy>(items: &[T], bit: impl Fn(T) -> u16) -> u16 {
    items.iter().fold(0, |m, i| m | bit(*i))
}

impl Compiled {
    fn new(p: &ConditionalAccessPolicy) -> Self {
        let c = &p.conditions;
        let u = &c.users;
        let apps = &c.applications;
        let (inc_sp_tenant, exc_sp_tenant) =
            c.client_applications.as_ref().map_or((false, false), |ca| {
                (
                    ca.include_service_principals
                        .contains(&ServicePrincipalRef::InMyTenant),
                    ca.exclude_service_principals
                        .contains(&ServicePrincipalRef::InMyTenant),
                )
            });
        let grant = p.grant_controls.as_ref();
        let mut controls = grant.map_or(ControlSet::EMPTY, |g| {
            g.built_in_controls
                .iter()
                .fold(ControlSet::EMPTY, |s, c| s.with(Control::from(*c)))
        });
        if grant.is_some_and(|g| g.authentication_strength.is_some()) {
            controls = controls.with(Control::AuthenticationStrength);
        }
        let session = p.session_controls.as_ref();
        let client_app_types = mask(&c.client_app_types, |t| match t {
            // `all` means no restriction; `easSupported` is Exchange ActiveSync.
            ClientAppType::All => 0,
            ClientAppType::EasSupported => ClientAppType::ExchangeActiveSync.bit(),
            t => t.bit(),
        });
        let all_types = c.client_app_types.contains(&ClientAppType::All);
        Self {
            state: p.state,
            workload: c.client_applications.is_some(),
            inc_all_users: u.include_users.contains(&UserRef::All),
            // `All` in excludeUsers is refused by `validate`; if stored anyway it excludes all.
            exc_all_users: u.exclude_users.contains(&UserRef::All),
            inc_guests: u.include_users.contains(&UserRef::GuestsOrExternalUsers),
            exc_guests: u.exclude_users.contains(&UserRef::GuestsOrExternalUsers),
            inc_sp_tenant,
            exc_sp_tenant,
            inc_all_apps: apps.include_applications.contains(&AppRef::All),
            exc_all_apps: apps.exclude_applications.contains(&AppRef::All),
            client_app_types: if all_types { 0 } else { client_app_types },
            locations: c.locations.as_ref().map(|l| LocationMask {
                // An empty include list is treated as `All` (only exclusions configured).
                inc_all: l.include_locations.is_empty()
                    || l.include_locations.contains(&LocationRef::All),
                inc_trusted: l.include_locations.contains(&LocationRef::AllTrusted),
                exc_all: l.exclude_locations.contains(&LocationRef::All),
                exc_trusted: l.exclude_locations.contains(&LocationRef::AllTrusted),
            }),
            platforms: c.platforms.as_ref().map(|pl| {
                (
                    mask(&pl.include_platforms, DevicePlatform::bit),
                    mask(&pl.exclude_platforms, DevicePlatform::bit),
                )
            }),
            sign_in_risk: mask(&c.sign_in_risk_levels, RiskLevel::bit),
            user_risk: mask(&c.user_risk_levels, RiskLevel::bit),
            sp_risk: mask(&c.service_principal_risk_levels, RiskLevel::bit),
            grant: controls,
            operator: grant.map_or(GrantOperator::And, |g| g.operator),
            window: session
                .and_then(|s| s.sign_in_frequency)
                .and_then(|f| f.window_secs()),
            persistent: session
                .and_then(|s| s.persistent_browser)
                .filter(|b| b.is_enabled)
                .map(|b| b.mode),
        }
    }

    /// Whether every condition matches, given the id-list hits `f`.
    fn applies(
        &self,
        p: &ConditionalAccessPolicy,
        f: u16,
        ctx: &SignInContext<'_>,
    ) -> Result<(), NotApplied> {
        match ctx.subject {
            Subject::User(u) => {
                let included = self.inc_all_users
                    || (self.inc_guests && u.is_guest)
                    || f & (F_INC_USER | F_INC_GROUP | F_INC_ROLE) != 0;
                if !included {
                    return Err(NotApplied::UserNotIncluded);
                }
                if self.exc_all_users || f & F_EXC_USER != 0 {
                    return Err(NotApplied::UserExcluded(Exclusion::User));
                }
                if self.exc_guests && u.is_guest {
                    return Err(NotApplied::UserExcluded(Exclusion::Guests));
                }
                if f & F_EXC_GROUP != 0 {
                    let users = &p.conditions.users;
                    let g = u.groups.iter().find(|g| users.exclude_groups.contains(g));
                    return Err(NotApplied::UserExcluded(Exclusion::Group(
                        g.copied().unwrap_or(ObjectId::from_uuid(uuid::Uuid::nil())),
                    )));
                }
                if f & F_EXC_ROLE != 0 {
                    let users = &p.conditions.users;
                    let r = u.roles.iter().find(|r| users.exclude_roles.contains(r));
                    return Err(NotApplied::UserExcluded(Exclusion::Role(
                        r.copied().unwrap_or(uuid::Uuid::nil()),
                    )));
                }
            }
            Subject::Workload(w) => {
                if !self.workload {
                    return Err(NotApplied::PolicyTargetsUsers);
                }
                if !w.in_my_tenant {
                    return Err(NotApplied::ServicePrincipalOutOfScope);
                }
                if !(self.inc_sp_tenant || f & F_INC_SP != 0) {
                    return Err(NotApplied::ServicePrincipalNotIncluded);
                }
                if self.exc_sp_tenant || f & F_EXC_SP != 0 {
                    return Err(NotApplied::ServicePrincipalExcluded);
                }
            }
        }
        let app = ctx.resource_app_id;
        if !(self.inc_all_apps || f & F_INC_APP != 0) {
            return Err(NotApplied::ApplicationNotIncluded(app));
        }
        if self.exc_all_apps || f & F_EXC_APP != 0 {
            return Err(NotApplied::ApplicationExcluded(app));
        }
        // Client app types describe user sign-ins; client credentials have none.
        if let Subject::User(_) = ctx.subject {
            let t = match ctx.client_app_type {
                ClientAppType::EasSupported => ClientAppType::ExchangeActiveSync,
                t => t,
            };
            if self.client_app_types != 0 && self.client_app_types & t.bit() == 0 {
                return Err(NotApplied::ClientAppType(ctx.client_app_type));
            }
        }
        if let Some(l) = self.locations {
            let inc = l.inc_all || (l.inc_trusted && ctx.location.trusted) || f & F_INC_LOC != 0;
            if !inc {
                return Err(NotApplied::LocationNotIncluded);
            }
            if l.exc_all {
                return Err(NotApplied::LocationExcluded(LocationRef::All));
            }
            if l.exc_trusted && ctx.location.trusted {
                return Err(NotApplied::LocationExcluded(LocationRef::AllTrusted));
            }
            if f & F_EXC_LOC != 0 {
                let ex = p
                    .conditions
                    .locations
                    .as_ref()
                    .and_then(|lc| {
                        lc.exclude_locations.iter().find_map(|r| match r {
                            LocationRef::Id(id) if ctx.location.named_locations.contains(id) => {
                                Some(*r)
                            }
                            _ => None,
                        })
                    })
                    .unwrap_or(LocationRef::All);
                return Err(NotApplied::LocationExcluded(ex));
            }
        }
        if let Some((inc, exc)) = self.platforms {
            let all = DevicePlatform::All.bit();
            match ctx.platform {
                // An unknown platform matches only "all platforms" and is never excluded by a
                // specific platform.
                None => {
                    if inc & all == 0 {
                        return Err(NotApplied::PlatformNotIncluded(None));
                    }
                }
                Some(pl) => {
                    if inc & (all | pl.bit()) == 0 {
                        return Err(NotApplied::PlatformNotIncluded(Some(pl)));
                    }
                    if exc & (all | pl.bit()) != 0 {
                        return Err(NotApplied::PlatformExcluded(pl));
                    }
                }
            }
        }
        // Sign-in and user risk describe users, service-principal risk workloads; on the other
        // kind of sign-in the condition is ignored (`validate` refuses such mixtures).
        match ctx.subject {
            Subject::User(u) => {
                if self.sign_in_risk != 0 && self.sign_in_risk & ctx.sign_in_risk.bit() == 0 {
                    return Err(NotApplied::SignInRisk(ctx.sign_in_risk));
                }
                if self.user_risk != 0 && self.user_risk & u.risk.bit() == 0 {
                    return Err(NotApplied::UserRisk(u.risk));
                }
            }
            Subject::Workload(w) => {
                if self.sp_risk != 0 && self.sp_risk & w.risk.bit() == 0 {
                    return Err(NotApplied::ServicePrincipalRisk(w.risk));
                }
            }
        }
        Ok(())
    }
}

/// The controls the session already satisfies, judged with sign-in frequency `window`.
fn satisfied_controls(ctx: &SignInContext<'_>, window: Option<i64>) -> ControlSet {
    let now = ctx.now.secs();
    let fresh = |t: Option<Timestamp>| {
        t.is_some_and(|t| window.is_none_or(|w| now.saturating_sub(t.secs()) <= w))
    };
    let mut s = ControlSet::EMPTY;
    if fresh(ctx.satisfied.mfa_at) {
        s = s.with(Control::Mfa).with(Control::AuthenticationStrength);
    }
    if window.is_some() && fresh(ctx.satisfied.password_at) {
        s = s.with(Control::Reauthentication);
    }
    if let DeviceState::Registered {
        is_compliant,
        trust_type,
    } = ctx.device
    {
        if is_compliant {
            s = s.with(Control::CompliantDevice);
        }
        if trust_type == DeviceTrustType::ServerAd {
            s = s.with(Control::DomainJoinedDevice);
        }
    }
    if ctx.satisfied.approved_client_app {
        s = s.with(Control::ApprovedApplication);
    }
    if ctx.satisfied.compliant_client_app {
        s = s.with(Control::CompliantApplication);
    }
    if ctx.satisfied.password_changed {
        s = s.with(Control::PasswordChange);
    }
    s
}

/// What a policy with `grant` (combined by `op`) and an optional frequency still needs.
fn unsatisfied(grant: ControlSet, op: GrantOperator, reauth: bool, have: ControlSet) -> ControlSet {
    let mut owed = match op {
        GrantOperator::And => grant.difference(have),
        GrantOperator::Or if grant.is_empty() || !grant.intersection(have).is_empty() => {
            ControlSet::EMPTY
        }
        GrantOperator::Or => grant,
    };
    // `block` is never satisfied, whatever the operator.
    if grant.contains(Control::Block) {
        owed = owed.with(Control::Block);
    }
    if reauth && !have.contains(Control::Reauthentication) {
        owed = owed.with(Control::Reauthentication);
    }
    owed
}

/// Conditional Access policies indexed for evaluation. Build once per change of the tenant's
/// policies (the server caches it); evaluate per sign-in.
#[derive(Clone, Debug)]
pub struct PolicySet {
    policies: Vec<ConditionalAccessPolicy>,
    compiled: Vec<Compiled>,
    index: IdMap<Vec<(u32, u16)>>,
}

impl PolicySet {
    /// Indexes `policies` (in the order given, which is the report order).
    pub fn new(policies: Vec<ConditionalAccessPolicy>) -> Self {
        let compiled = policies.iter().map(Compiled::new).collect();
        let mut index: IdMap<Vec<(u32, u16)>> = IdMap::default();
        for (i, p) in policies.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let mut add = |k: Key, f: u16| {
                let e = index.entry(k).or_default();
                match e.iter_mut().find(|(j, _)| *j == i) {
                    Some((_, flags)) => *flags |= f,
                    None => e.push((i, f)),
                }
            };
            let c = &p.conditions;
            for (list, flag) in [
                (&c.users.include_users, F_INC_USER),
                (&c.users.exclude_users, F_EXC_USER),
            ] {
                for r in list {
                    if let UserRef::Id(id) = r {
                        add(Key::User(*id), flag);
                    }
                }
            }
            for g in &c.users.include_groups {
                add(Key::Group(*g), F_INC_GROUP);
            }
            for g in &c.users.exclude_groups {
                add(Key::Group(*g), F_EXC_GROUP);
            }
            for r in &c.users.include_roles {
                add(Key::Role(*r), F_INC_ROLE);
            }
            for r in &c.users.exclude_roles {
                add(Key::Role(*r), F_EXC_ROLE);
            }
            for (list, flag) in [
                (&c.applications.include_applications, F_INC_APP),
                (&c.applications.exclude_applications, F_EXC_APP),
            ] {
                for a in list {
                    if let AppRef::Id(id) = a {
                        add(Key::App(*id), flag);
                    }
                }
            }
            if let Some(ca) = &c.client_applications {
                for (list, flag) in [
                    (&ca.include_service_principals, F_INC_SP),
                    (&ca.exclude_service_principals, F_EXC_SP),
                ] {
                    for s in list {
                        if let ServicePrincipalRef::Id(id) = s {
                            add(Key::Sp(*id), flag);
                        }
                    }
                }
            }
            if let Some(l) = &c.locations {
                for (list, flag) in [
                    (&l.include_locations, F_INC_LOC),
                    (&l.exclude_locations, F_EXC_LOC),
                ] {
                    for r in list {
                        if let LocationRef::Id(id) = r {
                            add(Key::Location(*id), flag);
                        }
                    }
                }
            }
        }
        Self {
            policies,
            compiled,
            index,
        }
    }

    /// The policies, in order.
    pub fn policies(&self) -> &[ConditionalAccessPolicy] {
        &self.policies
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The number of policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Per policy, which of its id lists contain one of the sign-in's ids (from the index).
    fn hits(&self, ctx: &SignInContext<'_>) -> Vec<u16> {
        let mut flags = vec![0u16; self.policies.len()];
        let mut mark = |k: Key| {
            if let Some(postings) = self.index.get(&k) {
                for (i, f) in postings {
                    if let Some(x) = flags.get_mut(*i as usize) {
                        *x |= *f;
                    }
                }
            }
        };
        match ctx.subject {
            Subject::User(u) => {
                mark(Key::User(u.id));
                for g in u.groups {
                    mark(Key::Group(*g));
                }
                for r in u.roles {
                    mark(Key::Role(*r));
                }
            }
            Subject::Workload(w) => mark(Key::Sp(w.service_principal_id)),
        }
        mark(Key::App(ctx.resource_app_id));
        for l in &ctx.location.named_locations {
            mark(Key::Location(*l));
        }
        flags
    }

    /// Evaluates one sign-in.
    pub fn evaluate(&self, ctx: &SignInContext<'_>) -> Evaluation<'_> {
        let flags = self.hits(ctx);
        let mut out = Vec::with_capacity(self.policies.len());
        // Pass 1: which policies apply, and the enforced sign-in frequency window.
        let mut window: Option<i64> = None;
        let mut session = SessionDecision::default();
        for (i, (p, c)) in self.policies.iter().zip(&self.compiled).enumerate() {
            let f = flags.get(i).copied().unwrap_or(0);
            let applied = match c.state {
                PolicyState::Disabled => Err(NotApplied::Disabled),
                _ => c.applies(p, f, ctx),
            };
            if applied.is_ok() && c.state == PolicyState::Enabled {
                window = min_opt(window, c.window);
                if let Some(mode) = c.persistent {
                    session.persistent_browser = Some(match session.persistent_browser {
                        Some(PersistentBrowserMode::Never) => PersistentBrowserMode::Never,
                        _ => mode,
                    });
                }
            }
            out.push(PolicyEvaluation {
                policy: p,
                result: match (c.state, applied.is_ok()) {
                    (PolicyState::Disabled, _) => PolicyResult::NotEnabled,
                    (PolicyState::Enabled, false) => PolicyResult::NotApplied,
                    (PolicyState::ReportOnly, false) => PolicyResult::ReportOnlyNotApplied,
                    // Decided in pass 2.
                    (PolicyState::Enabled, true) => PolicyResult::Success,
                    (PolicyState::ReportOnly, true) => PolicyResult::ReportOnlySuccess,
                },
                not_applied: applied.err(),
                required: if c.window.is_some() {
                    c.grant.with(Control::Reauthentication)
                } else {
                    c.grant
                },
                operator: c.operator,
                unsatisfied: ControlSet::EMPTY,
            });
        }
        session.sign_in_frequency_secs = window;
        // Pass 2: satisfaction. Enforced policies share the enforced window; a report-only
        // policy is judged as if it were enforced too.
        let have = satisfied_controls(ctx, window);
        let mut blocked = Vec::new();
        let mut owing = Vec::new();
        let mut owed = ControlSet::EMPTY;
        let mut needed = ControlSet::EMPTY;
        let mut any_enforced_applied = false;
        for (e, c) in out.iter_mut().zip(&self.compiled) {
            if !e.result.applied() {
                continue;
            }
            let enforced = c.state == PolicyState::Enabled;
            let have = if enforced || c.window.is_none() || min_opt(window, c.window) == window {
                have
            } else {
                satisfied_controls(ctx, min_opt(window, c.window))
            };
            let reauth = c.window.is_some();
            e.unsatisfied = unsatisfied(c.grant, c.operator, reauth, have);
            let u = e.unsatisfied;
            // What the user would be asked for: an OR policy with an interactive grant option
            // is satisfied by that option (plus re-authentication, which is not an option).
            let reauth_bit = ControlSet::EMPTY.with(Control::Reauthentication);
            let options = u.difference(reauth_bit);
            let step = match c.operator {
                GrantOperator::Or
                    if !options.interactive().is_empty() && !u.contains(Control::Block) =>
                {
                    options.interactive().union(u.intersection(reauth_bit))
                }
                _ => u,
            };
            if enforced {
                any_enforced_applied = true;
                if u.contains(Control::Block) {
                    e.result = PolicyResult::Failure;
                    blocked.push(e.policy);
                } else if !u.is_empty() {
                    e.result = PolicyResult::Failure;
                    owing.push(e.policy);
                    owed = owed.union(u);
                    needed = needed.union(step);
                }
            } else if u.is_empty() {
                e.result = PolicyResult::ReportOnlySuccess;
            } else if step.interactive() == step {
                e.result = PolicyResult::ReportOnlyInterrupted;
            } else {
                e.result = PolicyResult::ReportOnlyFailure;
            }
        }
        let outcome = if !blocked.is_empty() {
            Outcome::Block { policies: blocked }
        } else if owing.is_empty() {
            Outcome::Allow
        } else {
            let next = PROMPT_ORDER
                .iter()
                .copied()
                .find(|c| needed.contains(*c))
                .unwrap_or(Control::Block);
            Outcome::RequireControls {
                controls: owed,
                next,
                policies: owing,
            }
        };
        let mfa_registered = match ctx.subject {
            Subject::User(u) => u.mfa_registered,
            Subject::Workload(_) => true,
        };
        Evaluation {
            policies: out,
            outcome,
            session,
            mfa_registered,
            any_enforced_applied,
        }
    }

    /// The id-list hits computed by scanning each policy's lists (no index). The evaluator
    /// must agree with it; the lockout guard uses it for single policies.
    pub(crate) fn hits_by_scan(p: &ConditionalAccessPolicy, ctx: &SignInContext<'_>) -> u16 {
        let c = &p.conditions;
        let mut f = 0u16;
        let mut set = |cond: bool, flag: u16| {
            if cond {
                f |= flag;
            }
        };
        match ctx.subject {
            Subject::User(u) => {
                set(
                    c.users.include_users.contains(&UserRef::Id(u.id)),
                    F_INC_USER,
                );
                set(
                    c.users.exclude_users.contains(&UserRef::Id(u.id)),
                    F_EXC_USER,
                );
                set(
                    u.groups.iter().any(|g| c.users.include_groups.contains(g)),
                    F_INC_GROUP,
                );
                set(
                    u.groups.iter().any(|g| c.users.exclude_groups.contains(g)),
                    F_EXC_GROUP,
                );
                set(
                    u.roles.iter().any(|r| c.users.include_roles.contains(r)),
                    F_INC_ROLE,
                );
                set(
                    u.roles.iter().any(|r| c.users.exclude_roles.contains(r)),
                    F_EXC_ROLE,
                );
            }
            Subject::Workload(w) => {
                if let Some(ca) = &c.client_applications {
                    let id = ServicePrincipalRef::Id(w.service_principal_id);
                    set(ca.include_service_principals.contains(&id), F_INC_SP);
                    set(ca.exclude_service_principals.contains(&id), F_EXC_SP);
                }
            }
        }
        let app = AppRef::Id(ctx.resource_app_id);
        set(
            c.applications.include_applications.contains(&app),
            F_INC_APP,
        );
        set(
            c.applications.exclude_applications.contains(&app),
            F_EXC_APP,
        );
        if let Some(l) = &c.locations {
            let hit = |list: &[LocationRef]| {
                ctx.location
                    .named_locations
                    .iter()
                    .any(|id| list.contains(&LocationRef::Id(*id)))
            };
            set(hit(&l.include_locations), F_INC_LOC);
            set(hit(&l.exclude_locations), F_EXC_LOC);
        }
        f
    }

    /// Whether one policy's conditions match a sign-in (ignoring its state), by scanning.
    pub(crate) fn policy_applies(
        p: &ConditionalAccessPolicy,
        ctx: &SignInContext<'_>,
    ) -> Result<(), NotApplied> {
        Compiled::new(p).applies(p, Self::hits_by_scan(p, ctx), ctx)
    }

    #[cfg(test)]
    pub(crate) fn hits_for_test(&self, ctx: &SignInContext<'_>) -> Vec<u16> {
        self.hits(ctx)
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Evaluates one sign-in against an indexed policy set (the same as `policies.evaluate(ctx)`).
pub fn evaluate<'p>(policies: &'p PolicySet, ctx: &SignInContext<'_>) -> Evaluation<'p> {
    policies.evaluate(ctx)
}
