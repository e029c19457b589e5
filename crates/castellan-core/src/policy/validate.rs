//! Checks a Conditional Access policy before it is stored (`validate`), the words Graph's
//! string vocabularies must parse to (`parse_*`), and the lockout guard the API layer asks
//! before enabling a policy: would it block the administrator making the change
//! (`would_block_caller`), or every administrator (`would_block_all_admins`)?
//!
//! Rules follow Microsoft Graph's documentation of `conditionalAccessPolicy` and its parts,
//! in particular `conditionalAccessGrantControls` ("Special considerations when using
//! passwordChange as a control") and `signInFrequencySessionControl` (1–23 hours, 1–365 days),
//! and "Conditional Access for workload identities" (block only; users, applications,
//! locations and service-principal risk).

use crate::ids::{AppId, ObjectId};

use super::evaluate::{
    Control, DeviceState, PolicyEvaluation, PolicySet, Satisfied, SignInContext, Subject,
    UserSubject,
};
use super::location::LocationFacts;
use super::model::{
    AppRef, BuiltInControl, ClientAppType, ConditionalAccessPolicy, FrequencyInterval,
    FrequencyUnit, GrantOperator, LocationRef, PolicyState, RiskLevel, ServicePrincipalRef,
    UserRef,
};

/// Why a policy was refused. `Display` names the field, the cause and the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `displayName` is empty.
    #[error("displayName is required.")]
    EmptyDisplayName,
    /// The users condition targets nobody.
    #[error("conditions.users must include something: user ids, group ids, role template ids, 'All', 'GuestsOrExternalUsers', or 'None' for a workload-identity policy.")]
    EmptyUsers,
    /// `None` (or `All`) mixed with other values.
    #[error("conditions.users.includeUsers: '{0}' cannot be combined with other users, groups or roles.")]
    ExclusiveUserValue(&'static str),
    /// `All`/`None` in an exclude list.
    #[error("{0} cannot contain 'All' or 'None'; use the include list instead.")]
    ExcludeAllOrNone(&'static str),
    /// No application targeted.
    #[error("conditions.applications.includeApplications must contain 'All', 'None' or application ids.")]
    EmptyApplications,
    /// `None` mixed with application ids.
    #[error(
        "conditions.applications.includeApplications: 'None' cannot be combined with other values."
    )]
    NoneApplicationsMixed,
    /// Neither grant nor session controls.
    #[error(
        "a policy needs grantControls or sessionControls; a policy with neither does nothing."
    )]
    NoControls,
    /// `grantControls` without any control.
    #[error("grantControls must contain at least one builtInControls value or an authenticationStrength.")]
    EmptyGrantControls,
    /// A control word Castellan does not know.
    #[error("grantControls.builtInControls: '{0}' is not a control. Use block, mfa, compliantDevice, domainJoinedDevice, approvedApplication, compliantApplication or passwordChange.")]
    UnknownControl(String),
    /// Another Graph word that is not one of the field's values.
    #[error("{field}: '{value}' is not a valid value.")]
    UnknownValue {
        /// The field.
        field: &'static str,
        /// What was sent.
        value: String,
    },
    /// `block` with other controls (under `AND` it makes them pointless, under `OR` it would
    /// let any of them bypass the block).
    #[error("grantControls: 'block' cannot be combined with other controls (with operator {0}); make a separate policy.")]
    BlockCombined(GrantOperator),
    /// A control listed twice.
    #[error("grantControls.builtInControls lists '{0}' more than once.")]
    DuplicateControl(BuiltInControl),
    /// `passwordChange` outside its one allowed shape.
    #[error("grantControls: passwordChange {0}")]
    PasswordChange(&'static str),
    /// `signInFrequency.value` out of range.
    #[error("sessionControls.signInFrequency.value {value} {unit} is out of range: use 1–23 hours or 1–365 days.")]
    SignInFrequencyOutOfRange {
        /// The value.
        value: u32,
        /// The unit.
        unit: FrequencyUnit,
    },
    /// A workload-identity policy with something only user policies may have.
    #[error("workload-identity policy (conditions.clientApplications): {0}")]
    WorkloadIdentity(&'static str),
    /// `servicePrincipalRiskLevels` on a user policy.
    #[error("conditions.servicePrincipalRiskLevels applies to workload identities only; add conditions.clientApplications or remove it.")]
    ServicePrincipalRiskOnUserPolicy,
    /// A locations condition with only exclusions.
    #[error("conditions.locations.includeLocations is required when locations are configured (use 'All' to exclude from everywhere).")]
    EmptyIncludeLocations,
    /// A platforms condition with no include.
    #[error("conditions.platforms.includePlatforms is required when platforms are configured (use 'all').")]
    EmptyIncludePlatforms,
    /// A user, group, role, application, service principal or named location id that the
    /// tenant does not have.
    #[error("{field}: '{id}' is not {kind} of this tenant. Use an existing object's id (or a special value: {special}).")]
    UnknownReference {
        /// The field (`conditions.users.includeGroups`, …).
        field: &'static str,
        /// The id as sent.
        id: String,
        /// What it should have named ("a user", "a group", …).
        kind: &'static str,
        /// The special values the field also takes.
        special: &'static str,
    },
    /// `persistentBrowser` on a policy that does not target all cloud apps.
    #[error("sessionControls.persistentBrowser requires conditions.applications.includeApplications = ['All'] with no exclusions.")]
    PersistentBrowserNeedsAllApps,
}

impl PolicyError {
    /// A stable machine-readable code for logs and tests (the server answers Graph's
    /// `400 BadRequest` with the `Display` text as message).
    pub const fn code(&self) -> &'static str {
        match self {
            Self::EmptyDisplayName => "emptyDisplayName",
            Self::EmptyUsers => "emptyUsersCondition",
            Self::ExclusiveUserValue(_) => "exclusiveUserValue",
            Self::ExcludeAllOrNone(_) => "excludeAllOrNone",
            Self::EmptyApplications => "emptyApplicationsCondition",
            Self::NoneApplicationsMixed => "noneApplicationsMixed",
            Self::NoControls => "noControls",
            Self::EmptyGrantControls => "emptyGrantControls",
            Self::UnknownControl(_) => "unknownControl",
            Self::UnknownValue { .. } => "unknownValue",
            Self::BlockCombined(_) => "blockCombined",
            Self::DuplicateControl(_) => "duplicateControl",
            Self::PasswordChange(_) => "passwordChangeShape",
            Self::SignInFrequencyOutOfRange { .. } => "signInFrequencyOutOfRange",
            Self::WorkloadIdentity(_) => "workloadIdentityShape",
            Self::ServicePrincipalRiskOnUserPolicy => "servicePrincipalRiskOnUserPolicy",
            Self::EmptyIncludeLocations => "emptyIncludeLocations",
            Self::EmptyIncludePlatforms => "emptyIncludePlatforms",
            Self::PersistentBrowserNeedsAllApps => "persistentBrowserNeedsAllApps",
            Self::UnknownReference { .. } => "unknownReference",
        }
    }
}

/// What a tenant has that a policy may name (loaded by `ops::conditional_access`): users,
/// groups, directory roles (built-in template ids and the tenant's custom roles), applications
/// (appIds of its service principals, Castellan's built-in resources and Microsoft first-party
/// apps it knows), service principals and named locations.
#[derive(Clone, Debug, Default)]
pub struct KnownReferences {
    /// User object ids.
    pub users: std::collections::HashSet<ObjectId>,
    /// Group object ids.
    pub groups: std::collections::HashSet<ObjectId>,
    /// Role template ids and custom role ids.
    pub roles: std::collections::HashSet<uuid::Uuid>,
    /// Application ids (appId).
    pub applications: std::collections::HashSet<AppId>,
    /// Service principal object ids.
    pub service_principals: std::collections::HashSet<ObjectId>,
    /// Named location ids.
    pub locations: std::collections::HashSet<ObjectId>,
}

impl KnownReferences {
    /// Every id a policy names (what an update may keep even when its object is gone).
    pub fn named_by(p: &ConditionalAccessPolicy) -> Self {
        let mut k = Self::default();
        let u = &p.conditions.users;
        for r in u.include_users.iter().chain(&u.exclude_users) {
            if let UserRef::Id(id) = r {
                k.users.insert(*id);
            }
        }
        k.groups
            .extend(u.include_groups.iter().chain(&u.exclude_groups));
        k.roles
            .extend(u.include_roles.iter().chain(&u.exclude_roles));
        let a = &p.conditions.applications;
        for r in a.include_applications.iter().chain(&a.exclude_applications) {
            if let AppRef::Id(id) = r {
                k.applications.insert(*id);
            }
        }
        if let Some(c) = &p.conditions.client_applications {
            for r in c
                .include_service_principals
                .iter()
                .chain(&c.exclude_service_principals)
            {
                if let ServicePrincipalRef::Id(id) = r {
                    k.service_principals.insert(*id);
                }
            }
        }
        if let Some(l) = &p.conditions.locations {
            for r in l.include_locations.iter().chain(&l.exclude_locations) {
                if let LocationRef::Id(id) = r {
                    k.locations.insert(*id);
                }
            }
        }
        k
    }

    fn with(mut self, other: Self) -> Self {
        self.users.extend(other.users);
        self.groups.extend(other.groups);
        self.roles.extend(other.roles);
        self.applications.extend(other.applications);
        self.service_principals.extend(other.service_principals);
        self.locations.extend(other.locations);
        self
    }
}

/// Every id a policy names must exist in the tenant (Entra answers 400 for an unknown one);
/// special values (`All`, `None`, `GuestsOrExternalUsers`, `AllTrusted`,
/// `ServicePrincipalsInMyTenant`) are not ids and always pass. Checked when a policy is
/// created or replaced. A user or group deleted *later* leaves a stale id behind, as in Entra:
/// the evaluator never matches it, and an update of the policy (`previous` = the stored
/// version) may keep ids it already named — only ids the update *adds* must exist.
pub fn check_references(
    p: &ConditionalAccessPolicy,
    known: &KnownReferences,
    previous: Option<&ConditionalAccessPolicy>,
) -> Result<(), PolicyError> {
    let extended;
    let known = match previous {
        Some(old) => {
            extended = known.clone().with(KnownReferences::named_by(old));
            &extended
        }
        None => known,
    };
    let unknown = |field, id: String, kind, special| {
        Err(PolicyError::UnknownReference {
            field,
            id,
            kind,
            special,
        })
    };
    let u = &p.conditions.users;
    for (field, list) in [
        ("conditions.users.includeUsers", &u.include_users),
        ("conditions.users.excludeUsers", &u.exclude_users),
    ] {
        for r in list {
            if let UserRef::Id(id) = r {
                if !known.users.contains(id) {
                    return unknown(
                        field,
                        id.to_string(),
                        "a user",
                        "All, None, GuestsOrExternalUsers",
                    );
                }
            }
        }
    }
    for (field, list) in [
        ("conditions.users.includeGroups", &u.include_groups),
        ("conditions.users.excludeGroups", &u.exclude_groups),
    ] {
        if let Some(id) = list.iter().find(|g| !known.groups.contains(g)) {
            return unknown(field, id.to_string(), "a group", "none");
        }
    }
    for (field, list) in [
        ("conditions.users.includeRoles", &u.include_roles),
        ("conditions.users.excludeRoles", &u.exclude_roles),
    ] {
        if let Some(id) = list.iter().find(|r| !known.roles.contains(r)) {
            return unknown(
                field,
                id.to_string(),
                "a directory role template id or custom role",
                "none",
            );
        }
    }
    let a = &p.conditions.applications;
    for (field, list) in [
        (
            "conditions.applications.includeApplications",
            &a.include_applications,
        ),
        (
            "conditions.applications.excludeApplications",
            &a.exclude_applications,
        ),
    ] {
        for r in list {
            if let AppRef::Id(id) = r {
                if !known.applications.contains(id) {
                    return unknown(
                        field,
                        id.to_string(),
                        "the appId of an application with a service principal in (or a Microsoft application known to)",
                        "All, None",
                    );
                }
            }
        }
    }
    if let Some(c) = &p.conditions.client_applications {
        for (field, list) in [
            (
                "conditions.clientApplications.includeServicePrincipals",
                &c.include_service_principals,
            ),
            (
                "conditions.clientApplications.excludeServicePrincipals",
                &c.exclude_service_principals,
            ),
        ] {
            for r in list {
                if let ServicePrincipalRef::Id(id) = r {
                    if !known.service_principals.contains(id) {
                        return unknown(
                            field,
                            id.to_string(),
                            "a service principal",
                            "ServicePrincipalsInMyTenant",
                        );
                    }
                }
            }
        }
    }
    if let Some(l) = &p.conditions.locations {
        for (field, list) in [
            (
                "conditions.locations.includeLocations",
                &l.include_locations,
            ),
            (
                "conditions.locations.excludeLocations",
                &l.exclude_locations,
            ),
        ] {
            for r in list {
                if let LocationRef::Id(id) = r {
                    if !known.locations.contains(id) {
                        return unknown(
                            field,
                            id.to_string(),
                            "a named location",
                            "All, AllTrusted",
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// Parses a `builtInControls` word.
pub fn parse_control(s: &str) -> Result<BuiltInControl, PolicyError> {
    BuiltInControl::parse(s).ok_or_else(|| PolicyError::UnknownControl(s.to_string()))
}

/// Parses a Graph word with `parse`, naming `field` if it is not one of its values.
pub fn parse_value<T>(
    field: &'static str,
    s: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, PolicyError> {
    parse(s).ok_or_else(|| PolicyError::UnknownValue {
        field,
        value: s.to_string(),
    })
}

/// Checks a policy's shape. The first problem found is returned.
pub fn validate(p: &ConditionalAccessPolicy) -> Result<(), PolicyError> {
    if p.display_name.trim().is_empty() {
        return Err(PolicyError::EmptyDisplayName);
    }
    let c = &p.conditions;
    let u = &c.users;
    if u.include_users.is_empty() && u.include_groups.is_empty() && u.include_roles.is_empty() {
        return Err(PolicyError::EmptyUsers);
    }
    let others = u.include_users.len() + u.include_groups.len() + u.include_roles.len();
    if u.include_users.contains(&UserRef::None) && others > 1 {
        return Err(PolicyError::ExclusiveUserValue("None"));
    }
    if u.exclude_users
        .iter()
        .any(|r| matches!(r, UserRef::All | UserRef::None))
    {
        return Err(PolicyError::ExcludeAllOrNone(
            "conditions.users.excludeUsers",
        ));
    }
    let apps = &c.applications;
    if apps.include_applications.is_empty() {
        return Err(PolicyError::EmptyApplications);
    }
    if apps.include_applications.contains(&AppRef::None) && apps.include_applications.len() > 1 {
        return Err(PolicyError::NoneApplicationsMixed);
    }
    if apps
        .exclude_applications
        .iter()
        .any(|a| matches!(a, AppRef::All | AppRef::None))
    {
        return Err(PolicyError::ExcludeAllOrNone(
            "conditions.applications.excludeApplications",
        ));
    }
    if let Some(l) = &c.locations {
        if l.include_locations.is_empty() && !l.exclude_locations.is_empty() {
            return Err(PolicyError::EmptyIncludeLocations);
        }
    }
    if let Some(pl) = &c.platforms {
        if pl.include_platforms.is_empty() {
            return Err(PolicyError::EmptyIncludePlatforms);
        }
    }
    if p.grant_controls.is_none() && p.session_controls.is_none() {
        return Err(PolicyError::NoControls);
    }
    let mut has_block = false;
    if let Some(g) = &p.grant_controls {
        if g.built_in_controls.is_empty() && g.authentication_strength.is_none() {
            return Err(PolicyError::EmptyGrantControls);
        }
        for (i, ctl) in g.built_in_controls.iter().enumerate() {
            if g.built_in_controls.iter().skip(i + 1).any(|x| x == ctl) {
                return Err(PolicyError::DuplicateControl(*ctl));
            }
        }
        has_block = g.built_in_controls.contains(&BuiltInControl::Block);
        let count = g.built_in_controls.len() + usize::from(g.authentication_strength.is_some());
        if has_block && count > 1 {
            return Err(PolicyError::BlockCombined(g.operator));
        }
        if g.built_in_controls
            .contains(&BuiltInControl::PasswordChange)
        {
            if !g.built_in_controls.contains(&BuiltInControl::Mfa) {
                return Err(PolicyError::PasswordChange(
                    "must be accompanied by mfa (builtInControls: [mfa, passwordChange]).",
                ));
            }
            if g.operator != GrantOperator::And {
                return Err(PolicyError::PasswordChange(
                    "must be combined with mfa using operator AND.",
                ));
            }
            if c.user_risk_levels.is_empty() {
                return Err(PolicyError::PasswordChange(
                    "must be used in a policy with conditions.userRiskLevels.",
                ));
            }
            if apps.include_applications != [AppRef::All] || !apps.exclude_applications.is_empty() {
                return Err(PolicyError::PasswordChange(
                    "requires includeApplications ['All'] and no excluded applications.",
                ));
            }
            if !c.client_app_types.is_empty()
                || c.locations.is_some()
                || c.platforms.is_some()
                || !c.sign_in_risk_levels.is_empty()
                || c.client_applications.is_some()
            {
                return Err(PolicyError::PasswordChange(
                    "policies may have no conditions other than users, applications and userRiskLevels.",
                ));
            }
        }
    }
    if let Some(s) = &p.session_controls {
        if let Some(f) = s.sign_in_frequency {
            let ok = match f.unit {
                FrequencyUnit::Hours => (1..=23).contains(&f.value),
                FrequencyUnit::Days => (1..=365).contains(&f.value),
            };
            if f.is_enabled && f.interval == FrequencyInterval::TimeBased && !ok {
                return Err(PolicyError::SignInFrequencyOutOfRange {
                    value: f.value,
                    unit: f.unit,
                });
            }
        }
        if s.persistent_browser.is_some_and(|b| b.is_enabled)
            && (apps.include_applications != [AppRef::All] || !apps.exclude_applications.is_empty())
        {
            return Err(PolicyError::PersistentBrowserNeedsAllApps);
        }
    }
    match &c.client_applications {
        Some(ca) => {
            if ca.include_service_principals.is_empty() {
                return Err(PolicyError::WorkloadIdentity(
                    "clientApplications.includeServicePrincipals must name service principals or 'ServicePrincipalsInMyTenant'.",
                ));
            }
            if u.include_users != [UserRef::None]
                || !u.include_groups.is_empty()
                || !u.include_roles.is_empty()
            {
                return Err(PolicyError::WorkloadIdentity(
                    "users.includeUsers must be ['None']: a policy targets users or workload identities, not both.",
                ));
            }
            if !has_block {
                return Err(PolicyError::WorkloadIdentity(
                    "the only grant control for workload identities is block.",
                ));
            }
            if p.session_controls.is_some() {
                return Err(PolicyError::WorkloadIdentity(
                    "session controls do not apply to workload identities.",
                ));
            }
            if (!c.client_app_types.is_empty() && c.client_app_types != [ClientAppType::All])
                || c.platforms.is_some()
                || !c.sign_in_risk_levels.is_empty()
                || !c.user_risk_levels.is_empty()
            {
                return Err(PolicyError::WorkloadIdentity(
                    "only applications, locations and servicePrincipalRiskLevels may be combined with clientApplications.",
                ));
            }
        }
        None => {
            if !c.service_principal_risk_levels.is_empty() {
                return Err(PolicyError::ServicePrincipalRiskOnUserPolicy);
            }
        }
    }
    Ok(())
}

/// Whether a policy's verdict leaves a signed-in user no way through: `block`, or a control
/// the user cannot satisfy by acting (device, client app) with no interactive alternative.
fn locks_out(e: &PolicyEvaluation<'_>) -> bool {
    let u = e.unsatisfied;
    if u.contains(Control::Block) {
        return true;
    }
    match e.operator {
        GrantOperator::And => u.iter().any(|c| !c.is_interactive()),
        GrantOperator::Or => {
            let grant =
                u.difference(super::evaluate::ControlSet::EMPTY.with(Control::Reauthentication));
            !grant.is_empty() && grant.interactive().is_empty()
        }
    }
}

/// Would `policy`, enabled, stop the caller's own sign-in (described by `caller`, usually
/// their current sign-in to the admin API) — by blocking it or by requiring a device or app
/// state the caller does not have? MFA, re-authentication and password change are not
/// lockouts: the caller can perform them.
pub fn would_block_caller(policy: &ConditionalAccessPolicy, caller: &SignInContext<'_>) -> bool {
    let mut p = policy.clone();
    if p.state == PolicyState::Disabled {
        return false;
    }
    p.state = PolicyState::Enabled;
    let set = PolicySet::new(vec![p]);
    let e = set.evaluate(caller);
    e.policies
        .first()
        .is_some_and(|pe| pe.result.applied() && locks_out(pe))
}

/// Would `policy`, enabled, block *every* administrator in `admins` from `management_app`
/// (the app through which policies are changed: Graph or the console) wherever they sign in?
///
/// Counted as a lockout: the policy blocks (`block`), targets each admin (users, groups, roles,
/// exclusions checked), and covers `management_app`. Any location, platform, client-app-type
/// or risk condition counts as leaving a way in (an admin could sign in from the place, device
/// or risk state the policy does not cover), and so does a device requirement (an admin may
/// own a compliant device) — `would_block_caller` catches those for the caller's actual
/// sign-in. An empty `admins` list is never reported as locked out. Report-only and disabled
/// policies never block.
pub fn would_block_all_admins(
    policy: &ConditionalAccessPolicy,
    admins: &[UserSubject<'_>],
    management_app: AppId,
) -> bool {
    if policy.state != PolicyState::Enabled || admins.is_empty() {
        return false;
    }
    let blocks = policy
        .grant_controls
        .as_ref()
        .is_some_and(|g| g.built_in_controls.contains(&BuiltInControl::Block));
    let c = &policy.conditions;
    let narrowed = c.locations.is_some()
        || c.platforms.is_some()
        || !(c.client_app_types.is_empty() || c.client_app_types.contains(&ClientAppType::All))
        || !c.sign_in_risk_levels.is_empty()
        || !c.user_risk_levels.is_empty();
    if !blocks || narrowed {
        return false;
    }
    let facts = LocationFacts::default();
    admins.iter().all(|a| {
        let ctx = SignInContext {
            subject: Subject::User(UserSubject {
                risk: RiskLevel::None,
                ..*a
            }),
            client_app_id: management_app,
            resource_app_id: management_app,
            client_app_type: ClientAppType::Browser,
            ip: None,
            location: &facts,
            platform: None,
            device: DeviceState::None,
            sign_in_risk: RiskLevel::None,
            satisfied: Satisfied::default(),
            now: crate::time::Timestamp(0),
        };
        PolicySet::policy_applies(policy, &ctx).is_ok()
    })
}
