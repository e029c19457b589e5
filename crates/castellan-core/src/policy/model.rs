//! The Conditional Access policy model: plain Rust values mirroring Microsoft Graph's
//! `conditionalAccessPolicy` (`/identity/conditionalAccess/policies`) and its condition set,
//! grant controls and session controls. Graph's string vocabularies (`All`, `None`,
//! `GuestsOrExternalUsers`, `AllTrusted`, `mfa`, `windowsPhone`, …) become enums here; each
//! enum has a `parse` for the wire layer and an `as_str` giving Graph's spelling back.
//!
//! Microsoft Graph v1.0 reference: `conditionalAccessPolicy`, `conditionalAccessConditionSet`,
//! `conditionalAccessUsers`, `conditionalAccessApplications`,
//! `conditionalAccessClientApplications`, `conditionalAccessLocations`,
//! `conditionalAccessPlatforms`, `conditionalAccessGrantControls`,
//! `conditionalAccessSessionControls`, `signInFrequencySessionControl`,
//! `persistentBrowserSessionControl`.

use crate::ids::{AppId, ObjectId};

use crate::vocab::graph_enum;

graph_enum!(
    /// `state`.
    PolicyState {
        /// `enabled`: evaluated and enforced.
        Enabled => "enabled",
        /// `disabled`: skipped (reported as `notEnabled`).
        Disabled => "disabled",
        /// `enabledForReportingButNotEnforced`: evaluated and reported, never enforced.
        ReportOnly => "enabledForReportingButNotEnforced",
    }
);

graph_enum!(
    /// `clientAppTypes[]` values. A sign-in has one concrete type (`Browser`,
    /// `MobileAppsAndDesktopClients`, `ExchangeActiveSync` or `Other`); a policy lists the types
    /// it targets, where `All` (or an empty list) means every type.
    ClientAppType {
        /// `all`.
        All => "all",
        /// `browser`: web sign-ins.
        Browser => "browser",
        /// `mobileAppsAndDesktopClients`: modern-authentication native clients.
        MobileAppsAndDesktopClients => "mobileAppsAndDesktopClients",
        /// `exchangeActiveSync`.
        ExchangeActiveSync => "exchangeActiveSync",
        /// `easSupported`: Exchange ActiveSync on supported platforms (treated as
        /// `exchangeActiveSync`).
        EasSupported => "easSupported",
        /// `other`: legacy authentication (basic auth protocols, ROPC from old clients).
        Other => "other",
    }
);

pub use crate::model::device::DevicePlatform;

graph_enum!(
    /// Risk levels for `signInRiskLevels`, `userRiskLevels` and `servicePrincipalRiskLevels`,
    /// ordered `None < Low < Medium < High`.
    RiskLevel {
        /// `none`: no risk detected.
        None => "none",
        /// `low`.
        Low => "low",
        /// `medium`.
        Medium => "medium",
        /// `high`.
        High => "high",
    }
);

graph_enum!(
    /// `grantControls.operator`.
    GrantOperator {
        /// `AND`: every control must be satisfied.
        And => "AND",
        /// `OR`: any one control satisfies the policy.
        Or => "OR",
    }
);

graph_enum!(
    /// `grantControls.builtInControls[]`.
    BuiltInControl {
        /// `block`: access is refused (AADSTS53003).
        Block => "block",
        /// `mfa`: multifactor authentication.
        Mfa => "mfa",
        /// `compliantDevice`: a device marked compliant.
        CompliantDevice => "compliantDevice",
        /// `domainJoinedDevice`: a hybrid Entra joined device.
        DomainJoinedDevice => "domainJoinedDevice",
        /// `approvedApplication`: an approved client app.
        ApprovedApplication => "approvedApplication",
        /// `compliantApplication`: an app protection policy.
        CompliantApplication => "compliantApplication",
        /// `passwordChange`: a secure password change (user-risk remediation).
        PasswordChange => "passwordChange",
    }
);

graph_enum!(
    /// `signInFrequency.type`.
    FrequencyUnit {
        /// `hours` (1–23).
        Hours => "hours",
        /// `days` (1–365).
        Days => "days",
    }
);

graph_enum!(
    /// `signInFrequency.frequencyInterval`.
    FrequencyInterval {
        /// `timeBased`: `value` × `type`.
        TimeBased => "timeBased",
        /// `everyTime`: re-authenticate on every evaluation (with five minutes of clock skew
        /// allowed, as Entra does).
        EveryTime => "everyTime",
    }
);

graph_enum!(
    /// `persistentBrowser.mode`.
    PersistentBrowserMode {
        /// `always`: keep the browser session across restarts.
        Always => "always",
        /// `never`: end the session when the browser closes.
        Never => "never",
    }
);

/// A subject in `includeUsers` / `excludeUsers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserRef {
    /// `All`: every user (members and guests).
    All,
    /// `None`: nobody (a policy that targets no user, e.g. a workload-identity policy).
    None,
    /// `GuestsOrExternalUsers`: every guest or external user.
    GuestsOrExternalUsers,
    /// A user's object id.
    Id(ObjectId),
}

impl UserRef {
    /// Graph's spelling (`All`, `None`, `GuestsOrExternalUsers`) or a GUID; `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("All") {
            Some(Self::All)
        } else if t.eq_ignore_ascii_case("None") {
            Some(Self::None)
        } else if t.eq_ignore_ascii_case("GuestsOrExternalUsers") {
            Some(Self::GuestsOrExternalUsers)
        } else {
            ObjectId::parse(t).map(Self::Id)
        }
    }
    /// Graph's spelling.
    pub fn to_graph(self) -> String {
        match self {
            Self::All => "All".into(),
            Self::None => "None".into(),
            Self::GuestsOrExternalUsers => "GuestsOrExternalUsers".into(),
            Self::Id(id) => id.to_string(),
        }
    }
}

/// An entry in `includeApplications` / `excludeApplications`: the *resource* (cloud app) the
/// sign-in is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppRef {
    /// `All`: every resource.
    All,
    /// `None`: no resource.
    None,
    /// An application's `appId`.
    Id(AppId),
}

impl AppRef {
    /// `All`, `None` or an appId GUID; `None` otherwise (Graph's app groups such as
    /// `Office365` and `MicrosoftAdminPortals` are not modelled).
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("All") {
            Some(Self::All)
        } else if t.eq_ignore_ascii_case("None") {
            Some(Self::None)
        } else {
            AppId::parse(t).map(Self::Id)
        }
    }
    /// Graph's spelling.
    pub fn to_graph(self) -> String {
        match self {
            Self::All => "All".into(),
            Self::None => "None".into(),
            Self::Id(id) => id.to_string(),
        }
    }
}

/// An entry in `clientApplications.includeServicePrincipals` / `excludeServicePrincipals`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServicePrincipalRef {
    /// `ServicePrincipalsInMyTenant`: every service principal of a single-tenant app
    /// registered in this tenant.
    InMyTenant,
    /// A service principal's object id.
    Id(ObjectId),
}

impl ServicePrincipalRef {
    /// `ServicePrincipalsInMyTenant` or a GUID.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("ServicePrincipalsInMyTenant") {
            Some(Self::InMyTenant)
        } else {
            ObjectId::parse(t).map(Self::Id)
        }
    }
    /// Graph's spelling.
    pub fn to_graph(self) -> String {
        match self {
            Self::InMyTenant => "ServicePrincipalsInMyTenant".into(),
            Self::Id(id) => id.to_string(),
        }
    }
}

/// An entry in `locations.includeLocations` / `excludeLocations`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocationRef {
    /// `All`: any location.
    All,
    /// `AllTrusted`: any IP named location marked `isTrusted`.
    AllTrusted,
    /// A named location's id.
    Id(ObjectId),
}

impl LocationRef {
    /// `All`, `AllTrusted` or a GUID.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("All") {
            Some(Self::All)
        } else if t.eq_ignore_ascii_case("AllTrusted") {
            Some(Self::AllTrusted)
        } else {
            ObjectId::parse(t).map(Self::Id)
        }
    }
    /// Graph's spelling.
    pub fn to_graph(self) -> String {
        match self {
            Self::All => "All".into(),
            Self::AllTrusted => "AllTrusted".into(),
            Self::Id(id) => id.to_string(),
        }
    }
}

/// `conditions.users`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsersCondition {
    /// `includeUsers`.
    pub include_users: Vec<UserRef>,
    /// `excludeUsers` (`GuestsOrExternalUsers` and ids).
    pub exclude_users: Vec<UserRef>,
    /// `includeGroups`: matched against the user's *transitive* groups.
    pub include_groups: Vec<ObjectId>,
    /// `excludeGroups`: matched transitively too.
    pub exclude_groups: Vec<ObjectId>,
    /// `includeRoles`: directory role template ids.
    pub include_roles: Vec<uuid::Uuid>,
    /// `excludeRoles`: directory role template ids.
    pub exclude_roles: Vec<uuid::Uuid>,
}

/// `conditions.applications`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplicationsCondition {
    /// `includeApplications`.
    pub include_applications: Vec<AppRef>,
    /// `excludeApplications`.
    pub exclude_applications: Vec<AppRef>,
}

/// `conditions.clientApplications`: targets workload identities (service principals signing
/// in with client credentials) instead of users.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientApplicationsCondition {
    /// `includeServicePrincipals`.
    pub include_service_principals: Vec<ServicePrincipalRef>,
    /// `excludeServicePrincipals`.
    pub exclude_service_principals: Vec<ServicePrincipalRef>,
}

/// `conditions.locations`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocationsCondition {
    /// `includeLocations`.
    pub include_locations: Vec<LocationRef>,
    /// `excludeLocations`.
    pub exclude_locations: Vec<LocationRef>,
}

/// `conditions.platforms`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformsCondition {
    /// `includePlatforms`.
    pub include_platforms: Vec<DevicePlatform>,
    /// `excludePlatforms`.
    pub exclude_platforms: Vec<DevicePlatform>,
}

/// `conditions` (`conditionalAccessConditionSet`). An empty list or `None` means the
/// condition is not configured and matches every sign-in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    /// `users` (required by Graph; for workload-identity policies `includeUsers: ["None"]`).
    pub users: UsersCondition,
    /// `applications` (required by Graph).
    pub applications: ApplicationsCondition,
    /// `clientApplications`: present only on workload-identity policies.
    pub client_applications: Option<ClientApplicationsCondition>,
    /// `clientAppTypes` (empty = all).
    pub client_app_types: Vec<ClientAppType>,
    /// `locations`.
    pub locations: Option<LocationsCondition>,
    /// `platforms`.
    pub platforms: Option<PlatformsCondition>,
    /// `signInRiskLevels` (empty = any).
    pub sign_in_risk_levels: Vec<RiskLevel>,
    /// `userRiskLevels` (empty = any).
    pub user_risk_levels: Vec<RiskLevel>,
    /// `servicePrincipalRiskLevels` (empty = any; workload identities only).
    pub service_principal_risk_levels: Vec<RiskLevel>,
}

/// `grantControls.authenticationStrength`: modelled as a named requirement that multifactor
/// authentication satisfies (Castellan has no finer-grained method combinations yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticationStrength {
    /// The strength policy's id (built-in ones are GUID-like strings such as
    /// `00000000-0000-0000-0000-000000000002` for "Multifactor authentication").
    pub id: String,
    /// Its display name.
    pub display_name: String,
}

/// `grantControls`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantControls {
    /// `operator`.
    pub operator: GrantOperator,
    /// `builtInControls`.
    pub built_in_controls: Vec<BuiltInControl>,
    /// `authenticationStrength`.
    pub authentication_strength: Option<AuthenticationStrength>,
}

/// `sessionControls.signInFrequency`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInFrequency {
    /// `value`: 1–23 hours or 1–365 days (ignored for `everyTime`).
    pub value: u32,
    /// `type`.
    pub unit: FrequencyUnit,
    /// `frequencyInterval`.
    pub interval: FrequencyInterval,
    /// `isEnabled`.
    pub is_enabled: bool,
}

/// Entra's clock-skew allowance for `everyTime` sign-in frequency: an authentication counts as
/// fresh for five minutes.
pub const EVERY_TIME_SKEW_SECS: i64 = 5 * 60;

impl SignInFrequency {
    /// The window in seconds within which an earlier authentication still counts, or `None`
    /// when the control is disabled.
    pub const fn window_secs(&self) -> Option<i64> {
        if !self.is_enabled {
            return None;
        }
        Some(match self.interval {
            FrequencyInterval::EveryTime => EVERY_TIME_SKEW_SECS,
            FrequencyInterval::TimeBased => match self.unit {
                FrequencyUnit::Hours => self.value as i64 * 3600,
                FrequencyUnit::Days => self.value as i64 * 86_400,
            },
        })
    }
}

/// `sessionControls.persistentBrowser`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersistentBrowser {
    /// `mode`.
    pub mode: PersistentBrowserMode,
    /// `isEnabled`.
    pub is_enabled: bool,
}

/// `sessionControls`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionControls {
    /// `signInFrequency`.
    pub sign_in_frequency: Option<SignInFrequency>,
    /// `persistentBrowser`.
    pub persistent_browser: Option<PersistentBrowser>,
}

/// A Conditional Access policy (`conditionalAccessPolicy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionalAccessPolicy {
    /// `id`.
    pub id: ObjectId,
    /// `displayName`.
    pub display_name: String,
    /// `state`.
    pub state: PolicyState,
    /// `conditions`.
    pub conditions: Conditions,
    /// `grantControls`.
    pub grant_controls: Option<GrantControls>,
    /// `sessionControls`.
    pub session_controls: Option<SessionControls>,
}

impl ConditionalAccessPolicy {
    /// Whether the policy names the named location `id` (included or excluded): such a
    /// location cannot be deleted.
    pub fn uses_location(&self, id: ObjectId) -> bool {
        self.conditions.locations.as_ref().is_some_and(|l| {
            l.include_locations
                .iter()
                .chain(&l.exclude_locations)
                .any(|r| *r == LocationRef::Id(id))
        })
    }
}
