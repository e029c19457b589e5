//! Tenants: the isolation boundary.

use crate::ids::TenantId;
use crate::time::Timestamp;

/// The license tier that gates premium features (Conditional Access needs P1, risk needs P2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LicenseTier {
    /// Entra ID Free.
    Free,
    /// Entra ID P1.
    P1,
    /// Entra ID P2.
    P2,
}

impl LicenseTier {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Free => "Free",
            Self::P1 => "P1",
            Self::P2 => "P2",
        }
    }
    /// Case-insensitive parse.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "free" => Some(Self::Free),
            "p1" => Some(Self::P1),
            "p2" => Some(Self::P2),
            _ => None,
        }
    }
}

/// The tenant's password rules, applied whenever a password is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Entra: 8).
    pub min_length: usize,
    /// Maximum length in characters (Entra: 256).
    pub max_length: usize,
    /// How many of the four character classes (lower, upper, digit, symbol) are required (Entra: 3).
    pub required_classes: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 256,
            required_classes: 3,
        }
    }
}

/// Tenant-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSettings {
    /// Password rules.
    pub password_policy: PasswordPolicy,
    /// Sign-in pages answer "wrong user name or password" (50126) for unknown users too,
    /// instead of "this account does not exist" (50034).
    pub hide_account_existence: bool,
    /// Wrong passwords before smart lockout (default 10).
    pub lockout_threshold: u32,
    /// Access-token lifetime in seconds (Entra's default ~1 h; configurable 10 min – 1 day).
    pub access_token_lifetime_secs: i64,
    /// Who may consent to applications.
    pub user_consent: UserConsentPolicy,
    /// Users who may not consent can ask administrators for approval (admin consent workflow).
    pub admin_consent_workflow: bool,
    /// Member users may register applications (`allowedToCreateApps`).
    pub users_can_create_apps: bool,
    /// Security defaults (`identitySecurityDefaultsEnforcementPolicy.isEnabled`): MFA for
    /// administrators, MFA registration, legacy authentication blocked (see
    /// `policy::security_defaults`). `tenants::create` turns it on for new tenants; the default
    /// here (off) is what tenants stored before the setting existed load with.
    pub security_defaults: bool,
    /// `authorizationPolicy.allowInvitesFrom`: who may invite guests.
    pub allow_invites_from: InvitesFrom,
    /// `authorizationPolicy.guestUserRoleId`: what guests may read in the directory.
    pub guest_user_role: GuestRole,
}

crate::vocab::graph_enum! {
    /// `authorizationPolicy.allowInvitesFrom` (Entra's default: `everyone`).
    InvitesFrom {
        /// Nobody, administrators included.
        None => "none",
        /// Holders of a role with `users/inviteGuest` (Guest Inviter, User Administrator, …).
        AdminsAndGuestInviters => "adminsAndGuestInviters",
        /// Those, and every member user.
        AdminsGuestInvitersAndAllMembers => "adminsGuestInvitersAndAllMembers",
        /// Everyone, guests included.
        Everyone => "everyone",
    }
}

crate::vocab::graph_enum! {
    /// `authorizationPolicy.guestUserRoleId`: the role template guests get.
    GuestRole {
        /// "Same as member users".
        Member => "a0b1b346-4d3e-4e8b-98f8-753987be4970",
        /// "Limited access" (Entra's default): own object, and objects looked up by id.
        Limited => "10dae51f-b6af-4016-8d66-8c2a99b929b3",
        /// "Restricted access": own object only.
        Restricted => "2af84b1e-32c8-42b7-82bc-daa82404023b",
    }
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::default(),
            hide_account_existence: false,
            lockout_threshold: DEFAULT_LOCKOUT_THRESHOLD,
            access_token_lifetime_secs: crate::model::session::ACCESS_TOKEN_LIFETIME_SECS,
            user_consent: UserConsentPolicy::AllowAll,
            admin_consent_workflow: false,
            users_can_create_apps: true,
            security_defaults: false,
            allow_invites_from: InvitesFrom::Everyone,
            guest_user_role: GuestRole::Limited,
        }
    }
}

/// A domain name the tenant has added (Graph's `domain`): the initial one, made with the
/// tenant, and custom ones added through `ops::domains`, which are unverified until their DNS
/// records prove the tenant controls them (`core::domains`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Domain {
    /// The lowercase DNS name.
    pub name: String,
    /// The `<name>.onmicrosoft.*` domain made with the tenant.
    pub is_initial: bool,
    /// The default domain for new users.
    pub is_default: bool,
    /// Verified (the initial domain always is).
    pub is_verified: bool,
    /// Graph's `supportedServices` (`Email`, `OfficeCommunicationsOnline`, …), canonical case.
    pub supported_services: Vec<String>,
    /// The eight digits of the verification records (`MS=ms<code>`, `ms<code>.msv1.invalid`),
    /// drawn once when the domain is added (empty for the initial domain).
    pub verification_code: String,
}

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant GUID (`tid`).
    pub id: TenantId,
    /// Display name.
    pub display_name: String,
    /// Domains; exactly one is initial.
    pub domains: Vec<Domain>,
    /// License tier.
    pub license: LicenseTier,
    /// Settings.
    pub settings: TenantSettings,
    /// When it was created.
    pub created: Timestamp,
}

impl Tenant {
    /// The initial domain (`<name>.onmicrosoft.test`).
    pub fn initial_domain(&self) -> &str {
        self.domains
            .iter()
            .find(|d| d.is_initial)
            .or(self.domains.first())
            .map_or("", |d| d.name.as_str())
    }
    /// Whether `domain` (any case) is a verified domain of this tenant.
    pub fn owns_domain(&self, domain: &str) -> bool {
        self.domains
            .iter()
            .any(|d| d.is_verified && d.name.eq_ignore_ascii_case(domain))
    }
    /// The tenant's domain named `name` (any case), verified or not.
    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name.trim_end_matches('.')))
    }
    /// The default domain (new users' UPNs); the initial domain when none is marked.
    pub fn default_domain(&self) -> &str {
        self.domains
            .iter()
            .find(|d| d.is_default)
            .map_or_else(|| self.initial_domain(), |d| d.name.as_str())
    }
}

/// Checks a tenant short name (the `<name>` of `<name>.onmicrosoft.test`): 1–27 lowercase
/// ASCII letters or digits, like Entra's initial-domain prefix.
pub fn validate_tenant_name(name: &str) -> Result<String, String> {
    let n = name.trim().to_ascii_lowercase();
    if n.is_empty()
        || n.len() > 27
        || !n
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err(format!(
            "tenant name '{name}' is not valid: use 1 to 27 letters or digits (it becomes the initial domain '<name>.onmicrosoft.<suffix>')"
        ));
    }
    Ok(n)
}

/// The tenant's user-consent setting (Graph `authorizationPolicy`
/// `defaultUserRolePermissions.permissionGrantPoliciesAssigned`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserConsentPolicy {
    /// `ManagePermissionGrantsForSelf.microsoft-user-default-legacy`: users consent to any
    /// user-consentable permission of any app.
    AllowAll,
    /// `ManagePermissionGrantsForSelf.microsoft-user-default-low`: only low-impact permissions,
    /// only for apps from verified publishers or registered in this tenant.
    LowRiskVerifiedOrOwn,
    /// No policy assigned: users cannot consent; an administrator must.
    None,
}

impl UserConsentPolicy {
    /// Graph's policy id list for this setting.
    pub fn graph_ids(self) -> &'static [&'static str] {
        match self {
            Self::AllowAll => &["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"],
            Self::LowRiskVerifiedOrOwn => {
                &["ManagePermissionGrantsForSelf.microsoft-user-default-low"]
            }
            Self::None => &[],
        }
    }
    /// Parses Graph's list (unknown ids are refused by the caller).
    pub fn from_graph_ids(ids: &[String]) -> Option<Self> {
        match ids {
            [] => Some(Self::None),
            [one]
                if one.eq_ignore_ascii_case(
                    "ManagePermissionGrantsForSelf.microsoft-user-default-legacy",
                ) =>
            {
                Some(Self::AllowAll)
            }
            [one]
                if one.eq_ignore_ascii_case(
                    "ManagePermissionGrantsForSelf.microsoft-user-default-low",
                ) =>
            {
                Some(Self::LowRiskVerifiedOrOwn)
            }
            _ => None,
        }
    }
}

/// Default failures before a smart lockout.
pub const DEFAULT_LOCKOUT_THRESHOLD: u32 = 10;
