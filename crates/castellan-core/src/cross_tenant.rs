//! Cross-tenant access settings (Graph's `crossTenantAccessPolicy`): the tenant's default
//! configuration and its per-partner configurations for B2B collaboration (inbound: people of
//! other tenants using this tenant's apps; outbound: this tenant's people using other tenants'
//! apps), B2B direct connect (stored only), and the inbound trust of a partner's MFA and
//! compliant devices. The model, Entra's service defaults, the validation of a configuration,
//! how a partner's settings fall back on the default, and the decisions: whether a guest may
//! come in ([`decide`]: the home tenant's outbound for the resource tenant, then the resource
//! tenant's inbound for the home tenant) and whether the home sign-in's MFA or compliant
//! device satisfies the resource tenant's Conditional Access ([`trust_of`]).

use crate::error::Code;
use crate::ids::{ObjectId, TenantId};
use crate::vocab::graph_enum;

graph_enum! {
    /// `crossTenantAccessPolicyTargetConfigurationAccessType`.
    AccessType {
        /// The targets are allowed (everyone else is blocked).
        Allowed => "allowed",
        /// The targets are blocked (everyone else is allowed).
        Blocked => "blocked",
    }
}

graph_enum! {
    /// `crossTenantAccessPolicyTargetType`.
    TargetType {
        /// A user (or `AllUsers`).
        User => "user",
        /// A group.
        Group => "group",
        /// An application (or `AllApplications`, `Office365`, `AllMicrosoftApps`).
        Application => "application",
    }
}

/// The keyword for every user.
pub const ALL_USERS: &str = "AllUsers";
/// The keyword for every application.
pub const ALL_APPLICATIONS: &str = "AllApplications";
/// The keyword for the Office 365 suite (no such application exists on this server).
pub const OFFICE_365: &str = "Office365";
/// The keyword for every Microsoft cloud application (none exists on this server).
pub const ALL_MICROSOFT_APPS: &str = "AllMicrosoftApps";

/// One `crossTenantAccessPolicyTarget`: a keyword or an object id / appId, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `target`.
    pub target: String,
    /// `targetType`.
    pub target_type: TargetType,
}

impl Target {
    /// A target.
    pub fn new(target: &str, target_type: TargetType) -> Self {
        Self {
            target: target.to_string(),
            target_type,
        }
    }
    fn is(&self, keyword: &str) -> bool {
        self.target.trim().eq_ignore_ascii_case(keyword)
    }
    fn id(&self) -> Option<uuid::Uuid> {
        uuid::Uuid::parse_str(self.target.trim()).ok()
    }
}

/// `crossTenantAccessPolicyTargetConfiguration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetConfiguration {
    /// `accessType`.
    pub access_type: AccessType,
    /// `targets`.
    pub targets: Vec<Target>,
}

impl TargetConfiguration {
    /// `accessType` for a single target.
    pub fn one(access_type: AccessType, target: &str, target_type: TargetType) -> Self {
        Self {
            access_type,
            targets: vec![Target::new(target, target_type)],
        }
    }
}

/// `crossTenantAccessPolicyB2BSetting`: `null` parts of a partner's setting fall back on the
/// default's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct B2bSetting {
    /// `usersAndGroups`.
    pub users_and_groups: Option<TargetConfiguration>,
    /// `applications`.
    pub applications: Option<TargetConfiguration>,
}

/// `crossTenantAccessPolicyInboundTrust`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboundTrust {
    /// `isMfaAccepted`: the home tenant's MFA satisfies this tenant's MFA requirement.
    pub is_mfa_accepted: bool,
    /// `isCompliantDeviceAccepted`.
    pub is_compliant_device_accepted: bool,
    /// `isHybridAzureADJoinedDeviceAccepted` (stored; no hybrid join on this server).
    pub is_hybrid_joined_device_accepted: bool,
}

/// `inboundOutboundPolicyConfiguration` (`automaticUserConsentSettings`; stored only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutomaticConsent {
    /// `inboundAllowed`.
    pub inbound_allowed: bool,
    /// `outboundAllowed`.
    pub outbound_allowed: bool,
}

/// The settings shared by the default and a partner configuration. In a partner, `None` means
/// "as the default".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Configuration {
    /// `b2bCollaborationInbound`.
    pub b2b_collaboration_inbound: Option<B2bSetting>,
    /// `b2bCollaborationOutbound`.
    pub b2b_collaboration_outbound: Option<B2bSetting>,
    /// `b2bDirectConnectInbound` (stored; direct connect is not served).
    pub b2b_direct_connect_inbound: Option<B2bSetting>,
    /// `b2bDirectConnectOutbound` (stored).
    pub b2b_direct_connect_outbound: Option<B2bSetting>,
    /// `inboundTrust`.
    pub inbound_trust: Option<InboundTrust>,
    /// `automaticUserConsentSettings`.
    pub automatic_user_consent: Option<AutomaticConsent>,
}

/// `crossTenantAccessPolicyConfigurationPartner`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partner {
    /// `tenantId`.
    pub tenant_id: TenantId,
    /// `isServiceProvider`.
    pub is_service_provider: Option<bool>,
    /// `isInMultiTenantOrganization` (read-only, always false here).
    pub is_in_multi_tenant_organization: bool,
    /// The settings (`None`: as the default).
    pub config: Configuration,
}

impl Partner {
    /// A partner with every setting inherited from the default.
    pub fn new(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            is_service_provider: None,
            is_in_multi_tenant_organization: false,
            config: Configuration::default(),
        }
    }
}

/// `crossTenantAccessPolicy` itself (the tenant-wide properties).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyLevel {
    /// `displayName`.
    pub display_name: String,
    /// `allowedCloudEndpoints` (stored; this server is one cloud).
    pub allowed_cloud_endpoints: Vec<String>,
}

impl Default for PolicyLevel {
    fn default() -> Self {
        Self {
            display_name: "CrossTenantAccessPolicy".into(),
            allowed_cloud_endpoints: vec![],
        }
    }
}

/// The cloud endpoints `allowedCloudEndpoints` may name (Entra's national clouds).
pub const CLOUD_ENDPOINTS: &[&str] = &[
    "microsoftonline.com",
    "microsoftonline.us",
    "partner.microsoftonline.cn",
];

/// A tenant's cross-tenant access settings as loaded: the default (complete: every part set)
/// and the partners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The default configuration, complete.
    pub default: Configuration,
    /// Whether the default is the service's (never changed, or reset).
    pub is_service_default: bool,
    /// Partner configurations.
    pub partners: Vec<Partner>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            default: service_default(),
            is_service_default: true,
            partners: vec![],
        }
    }
}

fn setting(access: AccessType) -> B2bSetting {
    B2bSetting {
        users_and_groups: Some(TargetConfiguration::one(
            access,
            ALL_USERS,
            TargetType::User,
        )),
        applications: Some(TargetConfiguration::one(
            access,
            ALL_APPLICATIONS,
            TargetType::Application,
        )),
    }
}

/// Entra's service default: B2B collaboration allowed both ways for all users and all
/// applications, B2B direct connect blocked both ways, no inbound trust, no automatic consent.
pub fn service_default() -> Configuration {
    Configuration {
        b2b_collaboration_inbound: Some(setting(AccessType::Allowed)),
        b2b_collaboration_outbound: Some(setting(AccessType::Allowed)),
        b2b_direct_connect_inbound: Some(setting(AccessType::Blocked)),
        b2b_direct_connect_outbound: Some(setting(AccessType::Blocked)),
        inbound_trust: Some(InboundTrust::default()),
        automatic_user_consent: Some(AutomaticConsent::default()),
    }
}

fn fill(mine: &Option<B2bSetting>, base: &Option<B2bSetting>) -> Option<B2bSetting> {
    let b = base.clone().unwrap_or_default();
    let m = mine.clone().unwrap_or_default();
    Some(B2bSetting {
        users_and_groups: m.users_and_groups.or(b.users_and_groups),
        applications: m.applications.or(b.applications),
    })
}

/// `c` with every part it leaves out taken from `base` (a partner over the default, or a
/// stored default over the service default). Within a B2B setting, `usersAndGroups` and
/// `applications` fall back separately.
pub fn over(c: &Configuration, base: &Configuration) -> Configuration {
    Configuration {
        b2b_collaboration_inbound: fill(
            &c.b2b_collaboration_inbound,
            &base.b2b_collaboration_inbound,
        ),
        b2b_collaboration_outbound: fill(
            &c.b2b_collaboration_outbound,
            &base.b2b_collaboration_outbound,
        ),
        b2b_direct_connect_inbound: fill(
            &c.b2b_direct_connect_inbound,
            &base.b2b_direct_connect_inbound,
        ),
        b2b_direct_connect_outbound: fill(
            &c.b2b_direct_connect_outbound,
            &base.b2b_direct_connect_outbound,
        ),
        inbound_trust: c.inbound_trust.or(base.inbound_trust),
        automatic_user_consent: c.automatic_user_consent.or(base.automatic_user_consent),
    }
}

impl Policy {
    /// The partner configuration for `tenant`, if any.
    pub fn partner(&self, tenant: TenantId) -> Option<&Partner> {
        self.partners.iter().find(|p| p.tenant_id == tenant)
    }
    /// The settings in force for `other`: its partner configuration over the default.
    pub fn effective(&self, other: TenantId) -> Configuration {
        let base = over(&self.default, &service_default());
        match self.partner(other) {
            Some(p) => over(&p.config, &base),
            None => base,
        }
    }
}

/// Who is crossing: the user's object id in its home tenant and the home groups it is a
/// (transitive) member of.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The home user's object id.
    pub user: ObjectId,
    /// The home user's groups.
    pub groups: &'a [ObjectId],
}

/// What a B2B collaboration check answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Both tenants allow it.
    Allowed,
    /// The home tenant's outbound setting for the resource tenant refuses it (500212).
    BlockedOutbound(Part),
    /// The resource tenant's inbound setting for the home tenant refuses it (500213).
    BlockedInbound(Part),
}

/// Which part of a B2B setting refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `usersAndGroups`.
    UsersAndGroups,
    /// `applications`.
    Applications,
}

impl Part {
    /// Graph's property name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UsersAndGroups => "usersAndGroups",
            Self::Applications => "applications",
        }
    }
}

/// Whether a `usersAndGroups` configuration lets `s` through: `allowed` lets only the targets
/// through, `blocked` everyone but the targets.
pub fn allows_subject(c: &TargetConfiguration, s: Subject<'_>) -> bool {
    let hit = c.targets.iter().any(|t| match t.target_type {
        TargetType::User => t.is(ALL_USERS) || t.id().is_some_and(|id| id == s.user.uuid()),
        TargetType::Group => t
            .id()
            .is_some_and(|id| s.groups.iter().any(|g| g.uuid() == id)),
        TargetType::Application => false,
    });
    match c.access_type {
        AccessType::Allowed => hit,
        AccessType::Blocked => !hit,
    }
}

/// Whether an `applications` configuration lets the application `app` (its appId) through.
/// `None` (a redemption, which is no application's sign-in) is not judged by applications.
/// `Office365` and `AllMicrosoftApps` name Microsoft's own applications, none of which run on
/// this server, so they match nothing.
pub fn allows_app(c: &TargetConfiguration, app: Option<uuid::Uuid>) -> bool {
    let Some(app) = app else {
        return true;
    };
    let hit = c.targets.iter().any(|t| {
        t.target_type == TargetType::Application && (t.is(ALL_APPLICATIONS) || t.id() == Some(app))
    });
    match c.access_type {
        AccessType::Allowed => hit,
        AccessType::Blocked => !hit,
    }
}

fn judge(s: &B2bSetting, who: Subject<'_>, app: Option<uuid::Uuid>) -> Option<Part> {
    if let Some(u) = &s.users_and_groups {
        if !allows_subject(u, who) {
            return Some(Part::UsersAndGroups);
        }
    }
    if let Some(a) = &s.applications {
        if !allows_app(a, app) {
            return Some(Part::Applications);
        }
    }
    None
}

/// Whether a user of `home_tenant` may use `app` of `resource_tenant` through B2B
/// collaboration (or, with `app` `None`, redeem an invitation there): first the home tenant's
/// outbound setting for the resource tenant (the applications it names are the resource
/// tenant's), then the resource tenant's inbound setting for the home tenant (the users and
/// groups it names are the home tenant's). Each side reads its partner configuration for the
/// other, part by part, else its default.
pub fn decide(
    resource: &Policy,
    resource_tenant: TenantId,
    home: &Policy,
    home_tenant: TenantId,
    who: Subject<'_>,
    app: Option<uuid::Uuid>,
) -> Verdict {
    let out = home.effective(resource_tenant);
    if let Some(p) = out
        .b2b_collaboration_outbound
        .as_ref()
        .and_then(|s| judge(s, who, app))
    {
        return Verdict::BlockedOutbound(p);
    }
    let inb = resource.effective(home_tenant);
    if let Some(p) = inb
        .b2b_collaboration_inbound
        .as_ref()
        .and_then(|s| judge(s, who, app))
    {
        return Verdict::BlockedInbound(p);
    }
    Verdict::Allowed
}

/// What the resource tenant accepts from the home sign-in of a guest of `home_tenant`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trusted {
    /// The home sign-in did MFA and the resource tenant accepts it.
    pub mfa: bool,
    /// The home sign-in's device is compliant and the resource tenant accepts it.
    pub compliant_device: bool,
}

/// The resource tenant's `inboundTrust` for `home_tenant` applied to the home sign-in: its
/// `amr` (MFA when it holds `mfa`) and whether it came from a compliant device.
pub fn trust_of(
    resource: &Policy,
    home_tenant: TenantId,
    home_amr: &[String],
    home_device_compliant: bool,
) -> Trusted {
    let t = resource
        .effective(home_tenant)
        .inbound_trust
        .unwrap_or_default();
    Trusted {
        mfa: t.is_mfa_accepted && home_amr.iter().any(|a| a == "mfa"),
        compliant_device: t.is_compliant_device_accepted && home_device_compliant,
    }
}

/// The device a guest's home sign-in proved, as the resource tenant's Conditional Access sees
/// it: only what the resource tenant's `inboundTrust` for `home_tenant` accepts —
/// `isCompliantDeviceAccepted` carries the home tenant's compliance verdict,
/// `isHybridAzureADJoinedDeviceAccepted` its hybrid join; with neither (or no device, or a
/// disabled one) the device is unknown here (`DeviceState::None`), as in Entra.
pub fn trusted_device(
    resource: &Policy,
    home_tenant: TenantId,
    home_device: Option<&crate::model::Device>,
) -> crate::policy::DeviceState {
    use crate::model::DeviceTrustType;
    use crate::policy::DeviceState;
    let Some(d) = home_device.filter(|d| d.account_enabled) else {
        return DeviceState::None;
    };
    let t = resource
        .effective(home_tenant)
        .inbound_trust
        .unwrap_or_default();
    let compliant = t.is_compliant_device_accepted && d.is_compliant;
    let hybrid = t.is_hybrid_joined_device_accepted && d.trust_type == DeviceTrustType::ServerAd;
    if !compliant && !hybrid {
        return DeviceState::None;
    }
    DeviceState::Registered {
        is_compliant: compliant,
        trust_type: if hybrid {
            DeviceTrustType::ServerAd
        } else {
            DeviceTrustType::Workplace
        },
    }
}

/// The refusal a verdict stands for (500212 outbound, 500213 inbound), naming the tenants,
/// the setting and the fix; `None` when allowed.
pub fn refusal(
    v: Verdict,
    resource_tenant: TenantId,
    home_tenant: TenantId,
) -> Option<crate::AadstsError> {
    match v {
        Verdict::Allowed => None,
        Verdict::BlockedOutbound(p) => Some(Code::CrossTenantOutboundBlocked.aadsts(&[
            ("home", &home_tenant),
            ("resource", &resource_tenant),
            ("part", &p.as_str()),
        ])),
        Verdict::BlockedInbound(p) => Some(Code::CrossTenantInboundBlocked.aadsts(&[
            ("home", &home_tenant),
            ("resource", &resource_tenant),
            ("part", &p.as_str()),
        ])),
    }
}

fn check_targets(
    what: &str,
    c: &TargetConfiguration,
    part: Part,
    default_inbound: bool,
) -> Result<(), String> {
    let bad = |target: &str, why: &str| {
        Code::CrossTenantBadTarget.message(&[
            ("property", &what),
            ("target", &target),
            ("why", &why),
        ])
    };
    if c.targets.is_empty() {
        return Err(bad(
            "",
            "targets is empty: name at least one target (AllUsers or AllApplications for everyone)",
        ));
    }
    for t in &c.targets {
        let keyword_ok = match (part, t.target_type) {
            (Part::UsersAndGroups, TargetType::User) => t.is(ALL_USERS),
            (Part::UsersAndGroups, TargetType::Group) => false,
            (Part::Applications, TargetType::Application) => {
                t.is(ALL_APPLICATIONS) || t.is(OFFICE_365) || t.is(ALL_MICROSOFT_APPS)
            }
            (Part::UsersAndGroups, TargetType::Application) => {
                return Err(bad(
                    &t.target,
                    "usersAndGroups takes targetType user or group, not application",
                ))
            }
            (Part::Applications, _) => {
                return Err(bad(
                    &t.target,
                    "applications takes targetType application, not user or group",
                ))
            }
        };
        if keyword_ok {
            continue;
        }
        if t.id().is_none() {
            return Err(bad(
                &t.target,
                match part {
                    Part::UsersAndGroups => {
                        "a user or group target is AllUsers or an object id (GUID)"
                    }
                    Part::Applications => {
                        "an application target is AllApplications, Office365 or an appId (GUID)"
                    }
                },
            ));
        }
        if default_inbound && part == Part::UsersAndGroups {
            return Err(bad(
                &t.target,
                "the default inbound setting applies to every other organization, so it can only target AllUsers; name users or groups of one organization in its partner configuration",
            ));
        }
    }
    Ok(())
}

fn check_setting(name: &str, s: &Option<B2bSetting>, default_inbound: bool) -> Result<(), String> {
    let Some(s) = s else { return Ok(()) };
    if let Some(u) = &s.users_and_groups {
        check_targets(
            &format!("{name}.usersAndGroups"),
            u,
            Part::UsersAndGroups,
            default_inbound,
        )?;
    }
    if let Some(a) = &s.applications {
        check_targets(
            &format!("{name}.applications"),
            a,
            Part::Applications,
            false,
        )?;
    }
    Ok(())
}

/// Checks a configuration's targets (`is_default`: the default's, whose inbound parts can
/// only target everyone).
pub fn validate(c: &Configuration, is_default: bool) -> Result<(), String> {
    check_setting(
        "b2bCollaborationInbound",
        &c.b2b_collaboration_inbound,
        is_default,
    )?;
    check_setting(
        "b2bCollaborationOutbound",
        &c.b2b_collaboration_outbound,
        false,
    )?;
    check_setting(
        "b2bDirectConnectInbound",
        &c.b2b_direct_connect_inbound,
        is_default,
    )?;
    check_setting(
        "b2bDirectConnectOutbound",
        &c.b2b_direct_connect_outbound,
        false,
    )?;
    if is_default {
        if let Some(a) = c.automatic_user_consent {
            if a.inbound_allowed || a.outbound_allowed {
                return Err(Code::CrossTenantDefaultConsent.message(&[]));
            }
        }
    }
    Ok(())
}

/// Checks a partner: not the tenant itself, settings valid.
pub fn validate_partner(own: TenantId, p: &Partner) -> Result<(), String> {
    if p.tenant_id == own {
        return Err(Code::CrossTenantPartnerSelf.message(&[("tenant", &own)]));
    }
    validate(&p.config, false)
}

/// Checks the policy-level properties.
pub fn validate_level(l: &PolicyLevel) -> Result<(), String> {
    for e in &l.allowed_cloud_endpoints {
        if !CLOUD_ENDPOINTS
            .iter()
            .any(|c| c.eq_ignore_ascii_case(e.trim()))
        {
            return Err(Code::CrossTenantBadCloud
                .message(&[("endpoint", &e), ("allowed", &CLOUD_ENDPOINTS.join(", "))]));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
