//! Conditional Access tests: table tests for the evaluator (every condition's include and
//! exclude, every control, operators, report-only, disabled, block precedence, sign-in
//! frequency, workload identities, legacy clients, AADSTS mapping), validation and the lockout
//! guard, and property tests (the index agrees with a plain scan; adding a policy never makes
//! the outcome less restrictive; policy order does not change the outcome).

// Tables read better with `&[p.clone()]` than `std::slice::from_ref(&p)`.
#![allow(clippy::cloned_ref_to_slice_refs)]

use proptest::prelude::*;

use super::*;
use crate::ids::{AppId, ObjectId};
use crate::time::Timestamp;

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

fn oid(n: u128) -> ObjectId {
    ObjectId::from_uuid(uuid::Uuid::from_u128(n))
}
fn app(n: u128) -> AppId {
    AppId::from_uuid(uuid::Uuid::from_u128(n))
}
fn role(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

const USER: u128 = 0x100;
const OTHER_USER: u128 = 0x101;
const G_DIRECT: u128 = 0x200;
const G_NESTED: u128 = 0x201;
const G_OTHER: u128 = 0x202;
const R_GLOBAL_ADMIN: u128 = 0x300;
const R_OTHER: u128 = 0x301;
const CLIENT: u128 = 0x400;
const RESOURCE: u128 = 0x401;
const OTHER_APP: u128 = 0x402;
const L_HQ: u128 = 0x500;
const L_BLOCKED: u128 = 0x501;
const SP: u128 = 0x600;
const OTHER_SP: u128 = 0x601;
const NOW: i64 = 1_800_000_000;

trait With: Sized {
    fn with(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}
impl With for ConditionalAccessPolicy {}
impl With for Ctx {}

fn grant(op: GrantOperator, controls: &[BuiltInControl]) -> Option<GrantControls> {
    Some(GrantControls {
        operator: op,
        built_in_controls: controls.to_vec(),
        authentication_strength: None,
    })
}

/// Enabled, all users, all apps, requires MFA.
fn pol(n: u128) -> ConditionalAccessPolicy {
    ConditionalAccessPolicy {
        id: oid(0x9000 + n),
        display_name: format!("P{n}"),
        state: PolicyState::Enabled,
        conditions: Conditions {
            users: UsersCondition {
                include_users: vec![UserRef::All],
                ..Default::default()
            },
            applications: ApplicationsCondition {
                include_applications: vec![AppRef::All],
                ..Default::default()
            },
            ..Default::default()
        },
        grant_controls: grant(GrantOperator::And, &[BuiltInControl::Mfa]),
        session_controls: None,
    }
}

fn block(n: u128) -> ConditionalAccessPolicy {
    pol(n).with(|p| p.grant_controls = grant(GrantOperator::Or, &[BuiltInControl::Block]))
}

fn sif(p: &mut ConditionalAccessPolicy, value: u32, unit: FrequencyUnit) {
    p.session_controls = Some(SessionControls {
        sign_in_frequency: Some(SignInFrequency {
            value,
            unit,
            interval: FrequencyInterval::TimeBased,
            is_enabled: true,
        }),
        persistent_browser: None,
    });
}

/// A workload-identity policy: block every service principal of this tenant.
fn wl_block(n: u128) -> ConditionalAccessPolicy {
    block(n).with(|p| {
        p.conditions.users.include_users = vec![UserRef::None];
        p.conditions.client_applications = Some(ClientApplicationsCondition {
            include_service_principals: vec![ServicePrincipalRef::InMyTenant],
            exclude_service_principals: vec![],
        });
    })
}

/// An owned sign-in context (`SignInContext` borrows from it).
#[derive(Clone, Debug)]
struct Ctx {
    user: ObjectId,
    guest: bool,
    groups: Vec<ObjectId>,
    roles: Vec<uuid::Uuid>,
    user_risk: RiskLevel,
    mfa_registered: bool,
    workload: Option<WorkloadSubject>,
    resource: AppId,
    client_type: ClientAppType,
    facts: LocationFacts,
    platform: Option<DevicePlatform>,
    device: DeviceState,
    sign_in_risk: RiskLevel,
    satisfied: Satisfied,
    now: Timestamp,
}

impl Ctx {
    /// A member signing in with a password just now from a browser on Windows, in two groups
    /// (one reached through nesting), no roles, no device, no MFA yet.
    fn user() -> Self {
        Ctx {
            user: oid(USER),
            guest: false,
            groups: vec![oid(G_DIRECT), oid(G_NESTED)],
            roles: vec![],
            user_risk: RiskLevel::None,
            mfa_registered: true,
            workload: None,
            resource: app(RESOURCE),
            client_type: ClientAppType::Browser,
            facts: LocationFacts::default(),
            platform: Some(DevicePlatform::Windows),
            device: DeviceState::None,
            sign_in_risk: RiskLevel::None,
            satisfied: Satisfied {
                password_at: Some(Timestamp::from_secs(NOW)),
                ..Default::default()
            },
            now: Timestamp::from_secs(NOW),
        }
    }
    /// A single-tenant app's service principal using client credentials.
    fn workload() -> Self {
        Ctx {
            workload: Some(WorkloadSubject {
                service_principal_id: oid(SP),
                in_my_tenant: true,
                risk: RiskLevel::None,
            }),
            satisfied: Satisfied::default(),
            platform: None,
            client_type: ClientAppType::Other,
            ..Ctx::user()
        }
    }
    fn get(&self) -> SignInContext<'_> {
        SignInContext {
            subject: match self.workload {
                Some(w) => Subject::Workload(w),
                None => Subject::User(UserSubject {
                    id: self.user,
                    is_guest: self.guest,
                    groups: &self.groups,
                    roles: &self.roles,
                    risk: self.user_risk,
                    mfa_registered: self.mfa_registered,
                }),
            },
            client_app_id: app(CLIENT),
            resource_app_id: self.resource,
            client_app_type: self.client_type,
            ip: None,
            location: &self.facts,
            platform: self.platform,
            device: self.device,
            sign_in_risk: self.sign_in_risk,
            satisfied: self.satisfied,
            now: self.now,
        }
    }
    fn mfa_ago(self, secs: i64) -> Self {
        self.with(|c| c.satisfied.mfa_at = Some(Timestamp::from_secs(NOW - secs)))
    }
    fn password_ago(self, secs: i64) -> Self {
        self.with(|c| c.satisfied.password_at = Some(Timestamp::from_secs(NOW - secs)))
    }
}

fn names(ps: &[&ConditionalAccessPolicy]) -> String {
    ps.iter()
        .map(|p| p.display_name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `<outcome> | <policy>=<result> … | <conditionalAccessStatus> [<AADSTS code>]`.
fn render(e: &Evaluation<'_>) -> String {
    let outcome = match &e.outcome {
        Outcome::Allow => "allow".to_string(),
        Outcome::Block { policies } => format!("block by {}", names(policies)),
        Outcome::RequireControls {
            controls,
            next,
            policies,
        } => format!("require {controls} next {next} by {}", names(policies)),
    };
    let per = e
        .policies
        .iter()
        .map(|p| format!("{}={}", p.policy.display_name, p.result.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    let code = e.aadsts_code().map(|c| format!(" {c}")).unwrap_or_default();
    format!("{outcome} | {per} | {}{code}", e.status().as_str())
}

#[track_caller]
fn check(policies: &[ConditionalAccessPolicy], ctx: &Ctx, want: &str) {
    let set = PolicySet::new(policies.to_vec());
    let got = render(&set.evaluate(&ctx.get()));
    assert_eq!(got, want, "\n  ctx: {ctx:?}");
}

/// The reason the single policy did not apply, in words.
#[track_caller]
fn reason(p: ConditionalAccessPolicy, ctx: &Ctx) -> String {
    let set = PolicySet::new(vec![p]);
    let e = set.evaluate(&ctx.get());
    e.policies[0]
        .not_applied
        .map(|r| r.to_string())
        .unwrap_or_else(|| format!("applied: {}", e.policies[0].result.as_str()))
}

const MFA_BY_P1: &str = "require mfa next mfa by P1 | P1=failure | failure 50076";
const NOT_APPLIED: &str = "allow | P1=notApplied | notApplied";

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

#[test]
fn include_users_all_none_and_ids() {
    let c = Ctx::user();
    check(&[pol(1)], &c, MFA_BY_P1);
    let none = pol(1).with(|p| p.conditions.users.include_users = vec![UserRef::None]);
    check(&[none], &c, NOT_APPLIED);
    let me = pol(1).with(|p| p.conditions.users.include_users = vec![UserRef::Id(oid(USER))]);
    check(&[me.clone()], &c, MFA_BY_P1);
    let other =
        pol(1).with(|p| p.conditions.users.include_users = vec![UserRef::Id(oid(OTHER_USER))]);
    check(&[other.clone()], &c, NOT_APPLIED);
    assert_eq!(
        reason(other, &c),
        "the user is not in includeUsers, includeGroups or includeRoles"
    );
    let excluded = pol(1).with(|p| p.conditions.users.exclude_users = vec![UserRef::Id(oid(USER))]);
    check(&[excluded.clone()], &c, NOT_APPLIED);
    assert_eq!(reason(excluded, &c), "the user is in excludeUsers");
    let excluded_other =
        pol(1).with(|p| p.conditions.users.exclude_users = vec![UserRef::Id(oid(OTHER_USER))]);
    check(&[excluded_other], &c, MFA_BY_P1);
}

#[test]
fn guests_or_external_users() {
    let member = Ctx::user();
    let guest = Ctx::user().with(|c| c.guest = true);
    let guests =
        pol(1).with(|p| p.conditions.users.include_users = vec![UserRef::GuestsOrExternalUsers]);
    check(&[guests.clone()], &member, NOT_APPLIED);
    check(&[guests], &guest, MFA_BY_P1);
    let all_but_guests =
        pol(1).with(|p| p.conditions.users.exclude_users = vec![UserRef::GuestsOrExternalUsers]);
    check(&[all_but_guests.clone()], &member, MFA_BY_P1);
    check(&[all_but_guests.clone()], &guest, NOT_APPLIED);
    assert_eq!(
        reason(all_but_guests, &guest),
        "the user is a guest and excludeUsers has GuestsOrExternalUsers"
    );
}

#[test]
fn groups_are_matched_transitively_and_exclusion_wins() {
    let c = Ctx::user();
    // The context carries transitive membership: G_NESTED is reached through G_DIRECT.
    let nested = pol(1).with(|p| {
        p.conditions.users.include_users = vec![];
        p.conditions.users.include_groups = vec![oid(G_NESTED)];
    });
    check(&[nested.clone()], &c, MFA_BY_P1);
    let other = nested
        .clone()
        .with(|p| p.conditions.users.include_groups = vec![oid(G_OTHER)]);
    check(&[other], &c, NOT_APPLIED);
    let excl =
        pol(1).with(|p| p.conditions.users.exclude_groups = vec![oid(G_OTHER), oid(G_NESTED)]);
    check(&[excl.clone()], &c, NOT_APPLIED);
    assert_eq!(
        reason(excl, &c),
        format!("the user is a member of excluded group {}", oid(G_NESTED))
    );
    // Included by id, excluded by group: exclusion wins.
    let both = pol(1).with(|p| {
        p.conditions.users.include_users = vec![UserRef::Id(oid(USER))];
        p.conditions.users.exclude_groups = vec![oid(G_DIRECT)];
    });
    check(&[both], &c, NOT_APPLIED);
    // Not in the group any more: the policy no longer applies.
    let left = Ctx::user().with(|c| c.groups = vec![oid(G_DIRECT)]);
    check(&[nested], &left, NOT_APPLIED);
}

#[test]
fn directory_roles_by_template_id() {
    let admin = Ctx::user().with(|c| c.roles = vec![role(R_GLOBAL_ADMIN)]);
    let plain = Ctx::user();
    let admins = pol(1).with(|p| {
        p.conditions.users.include_users = vec![];
        p.conditions.users.include_roles = vec![role(R_GLOBAL_ADMIN)];
    });
    check(&[admins.clone()], &admin, MFA_BY_P1);
    check(&[admins], &plain, NOT_APPLIED);
    let not_admins = pol(1).with(|p| p.conditions.users.exclude_roles = vec![role(R_GLOBAL_ADMIN)]);
    check(&[not_admins.clone()], &admin, NOT_APPLIED);
    check(&[not_admins.clone()], &plain, MFA_BY_P1);
    assert_eq!(
        reason(not_admins, &admin),
        format!(
            "the user holds excluded directory role {}",
            role(R_GLOBAL_ADMIN)
        )
    );
    let other_role = pol(1).with(|p| {
        p.conditions.users.include_users = vec![];
        p.conditions.users.include_roles = vec![role(R_OTHER)];
    });
    check(&[other_role], &admin, NOT_APPLIED);
}

// ---------------------------------------------------------------------------------------------
// Applications, client app types, locations, platforms, risk
// ---------------------------------------------------------------------------------------------

#[test]
fn applications_target_the_resource() {
    let c = Ctx::user();
    let this = pol(1)
        .with(|p| p.conditions.applications.include_applications = vec![AppRef::Id(app(RESOURCE))]);
    check(&[this], &c, MFA_BY_P1);
    // The client's own id is not the resource.
    let client = pol(1)
        .with(|p| p.conditions.applications.include_applications = vec![AppRef::Id(app(CLIENT))]);
    check(&[client.clone()], &c, NOT_APPLIED);
    assert_eq!(
        reason(client, &c),
        format!(
            "the resource {} is not in includeApplications",
            app(RESOURCE)
        )
    );
    let excl = pol(1)
        .with(|p| p.conditions.applications.exclude_applications = vec![AppRef::Id(app(RESOURCE))]);
    check(&[excl.clone()], &c, NOT_APPLIED);
    assert_eq!(
        reason(excl, &c),
        format!("the resource {} is in excludeApplications", app(RESOURCE))
    );
    let excl_other = pol(1).with(|p| {
        p.conditions.applications.exclude_applications = vec![AppRef::Id(app(OTHER_APP))]
    });
    check(&[excl_other], &c, MFA_BY_P1);
    let none = pol(1).with(|p| p.conditions.applications.include_applications = vec![AppRef::None]);
    check(&[none], &c, NOT_APPLIED);
}

#[test]
fn client_app_types_and_legacy_authentication() {
    // The classic "block legacy authentication" policy.
    let legacy = block(1).with(|p| {
        p.conditions.client_app_types =
            vec![ClientAppType::ExchangeActiveSync, ClientAppType::Other]
    });
    let browser = Ctx::user();
    let other = Ctx::user().with(|c| c.client_type = ClientAppType::Other);
    let eas = Ctx::user().with(|c| c.client_type = ClientAppType::ExchangeActiveSync);
    check(&[legacy.clone()], &browser, NOT_APPLIED);
    check(
        &[legacy.clone()],
        &other,
        "block by P1 | P1=failure | failure 53003",
    );
    check(
        &[legacy.clone()],
        &eas,
        "block by P1 | P1=failure | failure 53003",
    );
    assert_eq!(
        reason(legacy, &browser),
        "the client app type browser is not in clientAppTypes"
    );
    let modern = pol(1).with(|p| {
        p.conditions.client_app_types = vec![
            ClientAppType::Browser,
            ClientAppType::MobileAppsAndDesktopClients,
        ]
    });
    check(&[modern.clone()], &browser, MFA_BY_P1);
    check(&[modern], &other, NOT_APPLIED);
    let all = pol(1).with(|p| p.conditions.client_app_types = vec![ClientAppType::All]);
    check(&[all], &other, MFA_BY_P1);
    let eas_supported =
        pol(1).with(|p| p.conditions.client_app_types = vec![ClientAppType::EasSupported]);
    check(&[eas_supported.clone()], &eas, MFA_BY_P1);
    check(&[eas_supported], &browser, NOT_APPLIED);
}

fn locations(inc: &[LocationRef], exc: &[LocationRef]) -> Option<LocationsCondition> {
    Some(LocationsCondition {
        include_locations: inc.to_vec(),
        exclude_locations: exc.to_vec(),
    })
}

#[test]
fn locations_all_trusted_and_named() {
    let trusted = Ctx::user().with(|c| {
        c.facts = LocationFacts {
            named_locations: vec![oid(L_HQ)],
            trusted: true,
            country: Some("DE".into()),
        }
    });
    let outside = Ctx::user();
    let blocked_country = Ctx::user().with(|c| {
        c.facts.named_locations = vec![oid(L_BLOCKED)];
        c.facts.country = Some("KP".into());
    });
    // MFA everywhere except trusted locations.
    let p = pol(1).with(|p| {
        p.conditions.locations = locations(&[LocationRef::All], &[LocationRef::AllTrusted])
    });
    check(&[p.clone()], &outside, MFA_BY_P1);
    check(&[p.clone()], &trusted, NOT_APPLIED);
    assert_eq!(
        reason(p, &trusted),
        "the sign-in comes from a trusted location and excludeLocations has AllTrusted"
    );
    // Block a named (country) location.
    let b = block(1)
        .with(|p| p.conditions.locations = locations(&[LocationRef::Id(oid(L_BLOCKED))], &[]));
    check(
        &[b.clone()],
        &blocked_country,
        "block by P1 | P1=failure | failure 53003",
    );
    check(&[b.clone()], &outside, NOT_APPLIED);
    assert_eq!(
        reason(b, &outside),
        "the location is not in includeLocations"
    );
    // Only from trusted locations.
    let t = pol(1).with(|p| p.conditions.locations = locations(&[LocationRef::AllTrusted], &[]));
    check(&[t.clone()], &trusted, MFA_BY_P1);
    check(&[t], &outside, NOT_APPLIED);
    // Exclude one named location.
    let x = pol(1).with(|p| {
        p.conditions.locations = locations(&[LocationRef::All], &[LocationRef::Id(oid(L_HQ))])
    });
    check(&[x.clone()], &trusted, NOT_APPLIED);
    check(&[x.clone()], &outside, MFA_BY_P1);
    assert_eq!(
        reason(x, &trusted),
        format!(
            "the sign-in comes from excluded named location {}",
            oid(L_HQ)
        )
    );
}

fn platforms(inc: &[DevicePlatform], exc: &[DevicePlatform]) -> Option<PlatformsCondition> {
    Some(PlatformsCondition {
        include_platforms: inc.to_vec(),
        exclude_platforms: exc.to_vec(),
    })
}

#[test]
fn device_platforms_include_exclude_and_unknown() {
    use DevicePlatform::*;
    let windows = Ctx::user();
    let ios = Ctx::user().with(|c| c.platform = Some(IOS));
    let unknown = Ctx::user().with(|c| c.platform = None);
    let mobile = pol(1).with(|p| p.conditions.platforms = platforms(&[Android, IOS], &[]));
    check(&[mobile.clone()], &windows, NOT_APPLIED);
    check(&[mobile.clone()], &ios, MFA_BY_P1);
    check(&[mobile.clone()], &unknown, NOT_APPLIED);
    assert_eq!(
        reason(mobile.clone(), &windows),
        "the platform windows is not in includePlatforms"
    );
    assert_eq!(
        reason(mobile, &unknown),
        "the device platform is unknown and includePlatforms names specific platforms"
    );
    let all_but_windows = pol(1).with(|p| p.conditions.platforms = platforms(&[All], &[Windows]));
    check(&[all_but_windows.clone()], &windows, NOT_APPLIED);
    check(&[all_but_windows.clone()], &ios, MFA_BY_P1);
    // An unknown platform is covered by "all" and not excluded by a named platform.
    check(&[all_but_windows.clone()], &unknown, MFA_BY_P1);
    assert_eq!(
        reason(all_but_windows, &windows),
        "the platform windows is in excludePlatforms"
    );
    for p in [Linux, MacOS, WindowsPhone, Android] {
        let only = pol(1).with(|x| x.conditions.platforms = platforms(&[p], &[]));
        let on = Ctx::user().with(|c| c.platform = Some(p));
        check(&[only.clone()], &on, MFA_BY_P1);
        check(&[only], &ios, NOT_APPLIED);
    }
}

#[test]
fn sign_in_and_user_risk_levels() {
    use RiskLevel::*;
    let risky = pol(1).with(|p| p.conditions.sign_in_risk_levels = vec![Medium, High]);
    for (level, applies) in [(None, false), (Low, false), (Medium, true), (High, true)] {
        let c = Ctx::user().with(|c| c.sign_in_risk = level);
        check(
            &[risky.clone()],
            &c,
            if applies { MFA_BY_P1 } else { NOT_APPLIED },
        );
    }
    assert_eq!(
        reason(risky, &Ctx::user().with(|c| c.sign_in_risk = Low)),
        "the sign-in risk low is not in signInRiskLevels"
    );
    let user_high = pol(1).with(|p| p.conditions.user_risk_levels = vec![High]);
    for (level, applies) in [(None, false), (Low, false), (Medium, false), (High, true)] {
        let c = Ctx::user().with(|c| c.user_risk = level);
        check(
            &[user_high.clone()],
            &c,
            if applies { MFA_BY_P1 } else { NOT_APPLIED },
        );
    }
    // Sign-in risk and user risk are separate signals.
    let c = Ctx::user().with(|c| c.sign_in_risk = High);
    check(&[user_high], &c, NOT_APPLIED);
    // `none` can be targeted explicitly.
    let no_risk = pol(1).with(|p| p.conditions.sign_in_risk_levels = vec![None]);
    check(&[no_risk], &Ctx::user(), MFA_BY_P1);
}

// ---------------------------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------------------------

fn requires(op: GrantOperator, controls: &[BuiltInControl]) -> ConditionalAccessPolicy {
    pol(1).with(|p| p.grant_controls = grant(op, controls))
}

#[test]
fn each_control_unmet_and_met() {
    use BuiltInControl::*;
    let compliant = DeviceState::Registered {
        is_compliant: true,
        trust_type: DeviceTrustType::AzureAd,
    };
    let hybrid = DeviceState::Registered {
        is_compliant: false,
        trust_type: DeviceTrustType::ServerAd,
    };
    let registered = DeviceState::Registered {
        is_compliant: false,
        trust_type: DeviceTrustType::Workplace,
    };
    let rows: Vec<(BuiltInControl, Ctx, Ctx, &str)> = vec![
        (Mfa, Ctx::user(), Ctx::user().mfa_ago(60), "require mfa next mfa by P1 | P1=failure | failure 50076"),
        (
            CompliantDevice,
            Ctx::user().with(|c| c.device = registered),
            Ctx::user().with(|c| c.device = compliant),
            "require compliantDevice next compliantDevice by P1 | P1=failure | failure 53000",
        ),
        (
            DomainJoinedDevice,
            Ctx::user().with(|c| c.device = compliant),
            Ctx::user().with(|c| c.device = hybrid),
            "require domainJoinedDevice next domainJoinedDevice by P1 | P1=failure | failure 53001",
        ),
        (
            ApprovedApplication,
            Ctx::user(),
            Ctx::user().with(|c| c.satisfied.approved_client_app = true),
            "require approvedApplication next approvedApplication by P1 | P1=failure | failure 53002",
        ),
        (
            CompliantApplication,
            Ctx::user(),
            Ctx::user().with(|c| c.satisfied.compliant_client_app = true),
            "require compliantApplication next compliantApplication by P1 | P1=failure | failure 53002",
        ),
        (
            PasswordChange,
            Ctx::user(),
            Ctx::user().with(|c| c.satisfied.password_changed = true),
            "require passwordChange next passwordChange by P1 | P1=failure | failure 50142",
        ),
    ];
    for (control, unmet, met, want) in rows {
        let p = requires(GrantOperator::And, &[control]);
        check(&[p.clone()], &unmet, want);
        check(&[p], &met, "allow | P1=success | success");
    }
    check(
        &[block(1)],
        &Ctx::user().mfa_ago(1),
        "block by P1 | P1=failure | failure 53003",
    );
}

#[test]
fn and_needs_every_control_or_needs_one() {
    use BuiltInControl::*;
    let compliant = DeviceState::Registered {
        is_compliant: true,
        trust_type: DeviceTrustType::AzureAd,
    };
    let and = requires(GrantOperator::And, &[Mfa, CompliantDevice]);
    let or = requires(GrantOperator::Or, &[Mfa, CompliantDevice]);
    let nothing = Ctx::user();
    let device = Ctx::user().with(|c| c.device = compliant);
    let mfa = Ctx::user().mfa_ago(10);
    check(
        &[and.clone()],
        &nothing,
        "require mfa, compliantDevice next mfa by P1 | P1=failure | failure 50076",
    );
    check(
        &[and.clone()],
        &device,
        "require mfa next mfa by P1 | P1=failure | failure 50076",
    );
    check(
        &[and.clone()],
        &mfa,
        "require compliantDevice next compliantDevice by P1 | P1=failure | failure 53000",
    );
    check(
        &[and],
        &mfa.clone().with(|c| c.device = compliant),
        "allow | P1=success | success",
    );
    // OR: either satisfies; with neither, both are options and MFA is what to ask for.
    check(
        &[or.clone()],
        &nothing,
        "require mfa, compliantDevice next mfa by P1 | P1=failure | failure 50076",
    );
    check(&[or.clone()], &device, "allow | P1=success | success");
    check(&[or], &mfa, "allow | P1=success | success");
    // OR of non-interactive controls only: the device state decides.
    let devices = requires(GrantOperator::Or, &[CompliantDevice, DomainJoinedDevice]);
    check(
        &[devices],
        &nothing,
        "require compliantDevice, domainJoinedDevice next compliantDevice by P1 | P1=failure | failure 53000",
    );
}

#[test]
fn authentication_strength_is_satisfied_by_mfa() {
    let p = pol(1).with(|p| {
        p.grant_controls = Some(GrantControls {
            operator: GrantOperator::And,
            built_in_controls: vec![],
            authentication_strength: Some(AuthenticationStrength {
                id: "00000000-0000-0000-0000-000000000002".into(),
                display_name: "Multifactor authentication".into(),
            }),
        })
    });
    check(
        &[p.clone()],
        &Ctx::user(),
        "require authenticationStrength next authenticationStrength by P1 | P1=failure | failure 50076",
    );
    check(
        &[p],
        &Ctx::user().mfa_ago(5),
        "allow | P1=success | success",
    );
}

#[test]
fn mfa_without_a_registered_method_answers_50079() {
    let c = Ctx::user().with(|c| c.mfa_registered = false);
    check(
        &[pol(1)],
        &c,
        "require mfa next mfa by P1 | P1=failure | failure 50079",
    );
    let set = PolicySet::new(vec![pol(1)]);
    let e = set.evaluate(&c.get());
    let err = e.aadsts_error().unwrap();
    assert_eq!(err.code, 50079);
    assert_eq!(err.error, crate::error::OAuthError::InteractionRequired);
    assert!(err.message.contains("'P1'"), "{}", err.message);
}

#[test]
fn requirements_of_several_policies_add_up() {
    use BuiltInControl::*;
    let p1 = pol(1);
    let p2 = requires(GrantOperator::And, &[CompliantDevice]).with(|p| {
        p.id = oid(0x9002);
        p.display_name = "P2".into();
    });
    check(
        &[p1.clone(), p2.clone()],
        &Ctx::user(),
        "require mfa, compliantDevice next mfa by P1,P2 | P1=failure P2=failure | failure 50076",
    );
    check(
        &[p1, p2],
        &Ctx::user().mfa_ago(1),
        "require compliantDevice next compliantDevice by P2 | P1=success P2=failure | failure 53000",
    );
}

#[test]
fn block_wins_over_everything() {
    let p2 = block(2);
    check(
        &[pol(1), p2.clone()],
        &Ctx::user(),
        "block by P2 | P1=failure P2=failure | failure 53003",
    );
    check(
        &[pol(1), p2],
        &Ctx::user().mfa_ago(1),
        "block by P2 | P1=success P2=failure | failure 53003",
    );
    let set = PolicySet::new(vec![block(7)]);
    let err = set.evaluate(&Ctx::user().get()).aadsts_error().unwrap();
    assert_eq!(err.code, 53003);
    assert!(err.message.contains("'P7'"));
}

#[test]
fn report_only_is_reported_never_enforced() {
    use BuiltInControl::*;
    let ro = |p: ConditionalAccessPolicy| p.with(|p| p.state = PolicyState::ReportOnly);
    let c = Ctx::user();
    check(
        &[ro(block(1))],
        &c,
        "allow | P1=reportOnlyFailure | notApplied",
    );
    check(
        &[ro(pol(1))],
        &c,
        "allow | P1=reportOnlyInterrupted | notApplied",
    );
    check(
        &[ro(pol(1))],
        &c.clone().mfa_ago(1),
        "allow | P1=reportOnlySuccess | notApplied",
    );
    check(
        &[ro(requires(GrantOperator::And, &[CompliantDevice]))],
        &c,
        "allow | P1=reportOnlyFailure | notApplied",
    );
    // OR with an interactive option would interrupt, not fail.
    check(
        &[ro(requires(GrantOperator::Or, &[Mfa, CompliantDevice]))],
        &c,
        "allow | P1=reportOnlyInterrupted | notApplied",
    );
    let ro_na = ro(pol(1)).with(|p| p.conditions.users.include_users = vec![UserRef::None]);
    check(&[ro_na], &c, "allow | P1=reportOnlyNotApplied | notApplied");
    // Next to an enforced policy: the enforced one decides.
    check(
        &[ro(block(1)), pol(2)],
        &c.clone().mfa_ago(1),
        "allow | P1=reportOnlyFailure P2=success | success",
    );
}

#[test]
fn disabled_policies_are_skipped() {
    let off = block(1).with(|p| p.state = PolicyState::Disabled);
    check(
        &[off.clone()],
        &Ctx::user(),
        "allow | P1=notEnabled | notApplied",
    );
    assert_eq!(reason(off.clone(), &Ctx::user()), "the policy is disabled");
    check(
        &[off, pol(2)],
        &Ctx::user(),
        "require mfa next mfa by P2 | P1=notEnabled P2=failure | failure 50076",
    );
}

#[test]
fn status_is_success_failure_or_not_applied() {
    check(&[], &Ctx::user(), "allow |  | notApplied");
    check(
        &[pol(1)],
        &Ctx::user().mfa_ago(1),
        "allow | P1=success | success",
    );
    check(&[pol(1)], &Ctx::user(), MFA_BY_P1);
}

// ---------------------------------------------------------------------------------------------
// Sign-in frequency
// ---------------------------------------------------------------------------------------------

#[test]
fn mfa_counts_within_the_sign_in_frequency_window() {
    let four_hours = pol(1).with(|p| sif(p, 4, FrequencyUnit::Hours));
    check(
        &[four_hours.clone()],
        &Ctx::user().mfa_ago(2 * 3600),
        "allow | P1=success | success",
    );
    check(
        &[four_hours.clone()],
        &Ctx::user().mfa_ago(5 * 3600),
        "require mfa next mfa by P1 | P1=failure | failure 50076",
    );
    // Exactly at the edge still counts.
    check(
        &[four_hours.clone()],
        &Ctx::user().mfa_ago(4 * 3600),
        "allow | P1=success | success",
    );
    // Without a frequency any MFA of the session counts, even a month old.
    check(
        &[pol(1)],
        &Ctx::user().mfa_ago(30 * 86_400),
        "allow | P1=success | success",
    );
    // Days.
    let two_days = pol(1).with(|p| sif(p, 2, FrequencyUnit::Days));
    check(
        &[two_days.clone()],
        &Ctx::user().mfa_ago(86_400),
        "allow | P1=success | success",
    );
    check(
        &[two_days],
        &Ctx::user().mfa_ago(3 * 86_400),
        "require mfa next mfa by P1 | P1=failure | failure 50076",
    );
}

#[test]
fn an_old_primary_sign_in_must_be_redone() {
    let hourly = pol(1).with(|p| {
        p.grant_controls = None;
        sif(p, 1, FrequencyUnit::Hours);
    });
    check(
        &[hourly.clone()],
        &Ctx::user().password_ago(1800),
        "allow | P1=success | success",
    );
    check(
        &[hourly.clone()],
        &Ctx::user().password_ago(7200),
        "require signInFrequency next signInFrequency by P1 | P1=failure | failure 70043",
    );
    // And it shortens another policy's MFA window: P2 alone would accept a 2-hour-old MFA.
    check(
        &[hourly.clone(), pol(2)],
        &Ctx::user().mfa_ago(7200),
        "require mfa next mfa by P2 | P1=success P2=failure | failure 50076",
    );
    check(
        &[pol(2)],
        &Ctx::user().mfa_ago(7200),
        "allow | P2=success | success",
    );
    let set = PolicySet::new(vec![hourly]);
    let old = Ctx::user().password_ago(7200);
    let e = set.evaluate(&old.get());
    assert_eq!(e.session.sign_in_frequency_secs, Some(3600));
    assert_eq!(
        e.aadsts_error().unwrap().error,
        crate::error::OAuthError::InvalidGrant
    );
}

#[test]
fn every_time_allows_five_minutes_of_skew() {
    let every = pol(1).with(|p| {
        p.session_controls = Some(SessionControls {
            sign_in_frequency: Some(SignInFrequency {
                value: 0,
                unit: FrequencyUnit::Hours,
                interval: FrequencyInterval::EveryTime,
                is_enabled: true,
            }),
            persistent_browser: None,
        })
    });
    check(
        &[every.clone()],
        &Ctx::user().mfa_ago(240),
        "allow | P1=success | success",
    );
    check(
        &[every],
        &Ctx::user().mfa_ago(360),
        "require mfa next mfa by P1 | P1=failure | failure 50076",
    );
}

#[test]
fn a_report_only_frequency_does_not_shorten_enforced_windows() {
    let ro_hourly = pol(1).with(|p| {
        p.state = PolicyState::ReportOnly;
        sif(p, 1, FrequencyUnit::Hours);
    });
    // The report-only policy would interrupt (its own window is 1 h), the enforced one passes.
    check(
        &[ro_hourly, pol(2)],
        &Ctx::user().mfa_ago(7200),
        "allow | P1=reportOnlyInterrupted P2=success | success",
    );
}

#[test]
fn re_authentication_is_not_an_or_option() {
    use BuiltInControl::*;
    // OR of device controls with a frequency: signing in again does not make the device
    // compliant, so report-only says failure, not "user action required".
    let devices = requires(GrantOperator::Or, &[CompliantDevice, DomainJoinedDevice]).with(|p| {
        p.state = PolicyState::ReportOnly;
        sif(p, 1, FrequencyUnit::Hours);
    });
    let old = Ctx::user().password_ago(7200);
    check(
        &[devices.clone()],
        &old,
        "allow | P1=reportOnlyFailure | notApplied",
    );
    // With an MFA option, MFA plus a fresh sign-in would do.
    let mfa_or_device =
        devices.with(|p| p.grant_controls = grant(GrantOperator::Or, &[Mfa, CompliantDevice]));
    check(
        &[mfa_or_device],
        &old,
        "allow | P1=reportOnlyInterrupted | notApplied",
    );
}

#[test]
fn session_decision_takes_the_strictest() {
    let mut a = pol(1);
    sif(&mut a, 8, FrequencyUnit::Hours);
    a.session_controls = a.session_controls.map(|mut s| {
        s.persistent_browser = Some(PersistentBrowser {
            mode: PersistentBrowserMode::Always,
            is_enabled: true,
        });
        s
    });
    let mut b = pol(2);
    sif(&mut b, 2, FrequencyUnit::Hours);
    b.session_controls = b.session_controls.map(|mut s| {
        s.persistent_browser = Some(PersistentBrowser {
            mode: PersistentBrowserMode::Never,
            is_enabled: true,
        });
        s
    });
    for order in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
        let set = PolicySet::new(order);
        let e = set.evaluate(&Ctx::user().mfa_ago(60).get());
        assert_eq!(e.session.sign_in_frequency_secs, Some(2 * 3600));
        assert_eq!(
            e.session.persistent_browser,
            Some(PersistentBrowserMode::Never)
        );
        assert_eq!(e.outcome, Outcome::Allow);
    }
}

// ---------------------------------------------------------------------------------------------
// Workload identities
// ---------------------------------------------------------------------------------------------

#[test]
fn workload_identities_are_hit_only_by_client_applications_policies() {
    let w = Ctx::workload();
    // User policies, even "all users, block", do not touch a service principal.
    check(&[block(1)], &w, NOT_APPLIED);
    assert_eq!(
        reason(block(1), &w),
        "a workload identity signed in and the policy has no clientApplications condition"
    );
    check(
        &[wl_block(1)],
        &w,
        "block by P1 | P1=failure | failure 53003",
    );
    // And a workload policy does not touch users.
    check(&[wl_block(1)], &Ctx::user(), NOT_APPLIED);
    let by_id = wl_block(1).with(|p| {
        p.conditions.client_applications = Some(ClientApplicationsCondition {
            include_service_principals: vec![ServicePrincipalRef::Id(oid(OTHER_SP))],
            exclude_service_principals: vec![],
        })
    });
    check(&[by_id], &w, NOT_APPLIED);
    let excl = wl_block(1).with(|p| {
        if let Some(ca) = &mut p.conditions.client_applications {
            ca.exclude_service_principals = vec![ServicePrincipalRef::Id(oid(SP))];
        }
    });
    check(&[excl.clone()], &w, NOT_APPLIED);
    assert_eq!(
        reason(excl, &w),
        "the service principal is in excludeServicePrincipals"
    );
    // Multi-tenant apps and managed identities are out of scope, even listed by id.
    let foreign = Ctx::workload().with(|c| {
        if let Some(w) = &mut c.workload {
            w.in_my_tenant = false;
        }
    });
    check(&[wl_block(1)], &foreign, NOT_APPLIED);
}

#[test]
fn workload_location_and_service_principal_risk() {
    let outside = Ctx::workload();
    let trusted = Ctx::workload().with(|c| {
        c.facts.named_locations = vec![oid(L_HQ)];
        c.facts.trusted = true;
    });
    let p = wl_block(1).with(|p| {
        p.conditions.locations = locations(&[LocationRef::All], &[LocationRef::AllTrusted])
    });
    check(
        &[p.clone()],
        &outside,
        "block by P1 | P1=failure | failure 53003",
    );
    check(&[p], &trusted, NOT_APPLIED);
    let risky =
        wl_block(1).with(|p| p.conditions.service_principal_risk_levels = vec![RiskLevel::High]);
    check(&[risky.clone()], &outside, NOT_APPLIED);
    let high = Ctx::workload().with(|c| {
        if let Some(w) = &mut c.workload {
            w.risk = RiskLevel::High;
        }
    });
    check(&[risky], &high, "block by P1 | P1=failure | failure 53003");
    // User risk conditions do not apply to workloads (and sign-in risk is the user's signal).
    let user_risk = wl_block(1).with(|p| p.conditions.user_risk_levels = vec![RiskLevel::High]);
    check(
        &[user_risk],
        &outside,
        "block by P1 | P1=failure | failure 53003",
    );
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn invalid(p: ConditionalAccessPolicy, code: &str, words: &str) {
    let e = validate(&p).unwrap_err();
    assert_eq!(e.code(), code, "{e}");
    assert!(e.to_string().contains(words), "{e}");
}

#[test]
fn valid_policies_pass() {
    validate(&pol(1)).unwrap();
    validate(&block(1)).unwrap();
    validate(&wl_block(1)).unwrap();
    validate(&pol(1).with(|p| sif(p, 23, FrequencyUnit::Hours))).unwrap();
    validate(&pol(1).with(|p| sif(p, 365, FrequencyUnit::Days))).unwrap();
    // Entra exports block policies with operator OR; block alone is fine either way.
    validate(
        &block(1).with(|p| p.grant_controls = grant(GrantOperator::And, &[BuiltInControl::Block])),
    )
    .unwrap();
    let risk = pol(1).with(|p| {
        p.grant_controls = grant(
            GrantOperator::And,
            &[BuiltInControl::Mfa, BuiltInControl::PasswordChange],
        );
        p.conditions.user_risk_levels = vec![RiskLevel::High];
    });
    validate(&risk).unwrap();
    let session_only = pol(1).with(|p| {
        p.grant_controls = None;
        sif(p, 1, FrequencyUnit::Hours);
    });
    validate(&session_only).unwrap();
}

#[test]
fn invalid_policies_are_refused_with_a_reason() {
    use BuiltInControl::*;
    invalid(
        pol(1).with(|p| p.display_name = " ".into()),
        "emptyDisplayName",
        "displayName",
    );
    invalid(
        pol(1).with(|p| p.conditions.users.include_users.clear()),
        "emptyUsersCondition",
        "conditions.users must include",
    );
    invalid(
        pol(1).with(|p| {
            p.conditions.users.include_users = vec![UserRef::None];
            p.conditions.users.include_groups = vec![oid(G_DIRECT)];
        }),
        "exclusiveUserValue",
        "'None'",
    );
    invalid(
        pol(1).with(|p| p.conditions.users.exclude_users = vec![UserRef::All]),
        "excludeAllOrNone",
        "excludeUsers",
    );
    invalid(
        pol(1).with(|p| p.conditions.applications.include_applications.clear()),
        "emptyApplicationsCondition",
        "includeApplications",
    );
    invalid(
        pol(1).with(|p| p.grant_controls = None),
        "noControls",
        "grantControls or sessionControls",
    );
    invalid(
        pol(1).with(|p| p.grant_controls = grant(GrantOperator::And, &[])),
        "emptyGrantControls",
        "at least one",
    );
    invalid(
        pol(1).with(|p| p.grant_controls = grant(GrantOperator::Or, &[Block, Mfa])),
        "blockCombined",
        "operator OR",
    );
    invalid(
        pol(1).with(|p| p.grant_controls = grant(GrantOperator::And, &[Mfa, Mfa])),
        "duplicateControl",
        "'mfa'",
    );
    assert_eq!(parse_control("mfa"), Ok(Mfa));
    assert_eq!(parse_control("MFA"), Ok(Mfa));
    let e = parse_control("termsOfUse").unwrap_err();
    assert_eq!(e.code(), "unknownControl");
    assert!(e.to_string().contains("'termsOfUse' is not a control"));
    assert!(parse_control("unknownFutureValue").is_err());
    invalid(
        pol(1).with(|p| sif(p, 24, FrequencyUnit::Hours)),
        "signInFrequencyOutOfRange",
        "24 hours",
    );
    invalid(
        pol(1).with(|p| sif(p, 0, FrequencyUnit::Days)),
        "signInFrequencyOutOfRange",
        "1–365 days",
    );
    invalid(
        pol(1).with(|p| sif(p, 366, FrequencyUnit::Days)),
        "signInFrequencyOutOfRange",
        "366 days",
    );
    invalid(
        pol(1).with(|p| p.conditions.locations = locations(&[], &[LocationRef::AllTrusted])),
        "emptyIncludeLocations",
        "includeLocations",
    );
    invalid(
        pol(1).with(|p| p.conditions.platforms = platforms(&[], &[DevicePlatform::Android])),
        "emptyIncludePlatforms",
        "includePlatforms",
    );
    invalid(
        pol(1).with(|p| p.conditions.service_principal_risk_levels = vec![RiskLevel::High]),
        "servicePrincipalRiskOnUserPolicy",
        "workload identities only",
    );
    invalid(
        pol(1).with(|p| {
            p.conditions.applications.include_applications = vec![AppRef::Id(app(RESOURCE))];
            p.session_controls = Some(SessionControls {
                sign_in_frequency: None,
                persistent_browser: Some(PersistentBrowser {
                    mode: PersistentBrowserMode::Never,
                    is_enabled: true,
                }),
            });
        }),
        "persistentBrowserNeedsAllApps",
        "persistentBrowser",
    );
}

#[test]
fn password_change_has_exactly_one_allowed_shape() {
    use BuiltInControl::*;
    let good = pol(1).with(|p| {
        p.grant_controls = grant(GrantOperator::And, &[Mfa, PasswordChange]);
        p.conditions.user_risk_levels = vec![RiskLevel::High];
    });
    validate(&good).unwrap();
    invalid(
        good.clone()
            .with(|p| p.grant_controls = grant(GrantOperator::And, &[PasswordChange])),
        "passwordChangeShape",
        "accompanied by mfa",
    );
    invalid(
        good.clone()
            .with(|p| p.grant_controls = grant(GrantOperator::Or, &[Mfa, PasswordChange])),
        "passwordChangeShape",
        "operator AND",
    );
    invalid(
        good.clone().with(|p| p.conditions.user_risk_levels.clear()),
        "passwordChangeShape",
        "userRiskLevels",
    );
    invalid(
        good.clone().with(|p| {
            p.conditions.applications.exclude_applications = vec![AppRef::Id(app(OTHER_APP))]
        }),
        "passwordChangeShape",
        "includeApplications ['All']",
    );
    invalid(
        good.clone()
            .with(|p| p.conditions.sign_in_risk_levels = vec![RiskLevel::High]),
        "passwordChangeShape",
        "no conditions other than",
    );
    invalid(
        good.with(|p| p.conditions.locations = locations(&[LocationRef::All], &[])),
        "passwordChangeShape",
        "no conditions other than",
    );
    // Evaluated: MFA first, then the password change; after both, allowed.
    let risky = Ctx::user().with(|c| c.user_risk = RiskLevel::High);
    let p = pol(1).with(|p| {
        p.grant_controls = grant(GrantOperator::And, &[Mfa, PasswordChange]);
        p.conditions.user_risk_levels = vec![RiskLevel::High];
    });
    check(
        &[p.clone()],
        &risky,
        "require mfa, passwordChange next mfa by P1 | P1=failure | failure 50076",
    );
    check(
        &[p.clone()],
        &risky.clone().mfa_ago(1),
        "require passwordChange next passwordChange by P1 | P1=failure | failure 50142",
    );
    check(
        &[p],
        &risky
            .mfa_ago(1)
            .with(|c| c.satisfied.password_changed = true),
        "allow | P1=success | success",
    );
}

#[test]
fn workload_policies_have_their_own_shape() {
    invalid(
        wl_block(1).with(|p| p.grant_controls = grant(GrantOperator::And, &[BuiltInControl::Mfa])),
        "workloadIdentityShape",
        "only grant control",
    );
    invalid(
        wl_block(1).with(|p| p.conditions.users.include_users = vec![UserRef::All]),
        "workloadIdentityShape",
        "['None']",
    );
    invalid(
        wl_block(1).with(|p| p.conditions.sign_in_risk_levels = vec![RiskLevel::High]),
        "workloadIdentityShape",
        "servicePrincipalRiskLevels",
    );
    invalid(
        wl_block(1).with(|p| {
            p.conditions.client_applications = Some(ClientApplicationsCondition::default())
        }),
        "workloadIdentityShape",
        "includeServicePrincipals",
    );
    invalid(
        wl_block(1).with(|p| sif(p, 1, FrequencyUnit::Hours)),
        "workloadIdentityShape",
        "session controls",
    );
    validate(&wl_block(1).with(|p| {
        p.conditions.service_principal_risk_levels = vec![RiskLevel::High];
        p.conditions.locations = locations(&[LocationRef::All], &[LocationRef::AllTrusted]);
    }))
    .unwrap();
}

#[test]
fn graph_words_round_trip() {
    for s in PolicyState::ALL_VALUES {
        assert_eq!(PolicyState::parse(s.as_str()), Some(*s));
    }
    for c in BuiltInControl::ALL_VALUES {
        assert_eq!(BuiltInControl::parse(c.as_str()), Some(*c));
        assert_eq!(Control::from(*c).as_str(), c.as_str());
    }
    for p in DevicePlatform::ALL_VALUES {
        assert_eq!(DevicePlatform::parse(&p.as_str().to_uppercase()), Some(*p));
    }
    assert_eq!(
        PolicyState::parse("enabledForReportingButNotEnforced"),
        Some(PolicyState::ReportOnly)
    );
    assert_eq!(
        UserRef::parse("GuestsOrExternalUsers"),
        Some(UserRef::GuestsOrExternalUsers)
    );
    let id = oid(USER);
    assert_eq!(UserRef::parse(&id.to_string()), Some(UserRef::Id(id)));
    assert_eq!(UserRef::parse("nobody"), None);
    assert_eq!(
        LocationRef::parse("AllTrusted")
            .map(LocationRef::to_graph)
            .as_deref(),
        Some("AllTrusted")
    );
    assert_eq!(
        ServicePrincipalRef::parse("ServicePrincipalsInMyTenant"),
        Some(ServicePrincipalRef::InMyTenant)
    );
    assert_eq!(
        AppRef::parse("Office365"),
        None,
        "app groups are not modelled"
    );
    assert_eq!(RiskLevel::parse("hidden"), None);
    assert!(RiskLevel::Low < RiskLevel::High);
    let e = validate::parse_value(
        "conditions.platforms.includePlatforms",
        "amiga",
        DevicePlatform::parse,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "conditions.platforms.includePlatforms: 'amiga' is not a valid value."
    );
}

// ---------------------------------------------------------------------------------------------
// Lockout guard
// ---------------------------------------------------------------------------------------------

#[test]
fn the_caller_is_warned_before_locking_themselves_out() {
    use BuiltInControl::*;
    let me = Ctx::user().with(|c| c.roles = vec![role(R_GLOBAL_ADMIN)]);
    assert!(would_block_caller(&block(1), &me.get()));
    // Report-only and draft (disabled → enabled later) are judged as if enabled, except a
    // policy saved as disabled, which cannot block.
    assert!(would_block_caller(
        &block(1).with(|p| p.state = PolicyState::ReportOnly),
        &me.get()
    ));
    assert!(!would_block_caller(
        &block(1).with(|p| p.state = PolicyState::Disabled),
        &me.get()
    ));
    // Excluding yourself, or requiring only MFA, is fine.
    let excl = block(1).with(|p| p.conditions.users.exclude_users = vec![UserRef::Id(oid(USER))]);
    assert!(!would_block_caller(&excl, &me.get()));
    assert!(!would_block_caller(&pol(1), &me.get()));
    // A compliant device the caller does not have locks them out; with an MFA alternative, not.
    assert!(would_block_caller(
        &requires(GrantOperator::And, &[CompliantDevice]),
        &me.get()
    ));
    assert!(would_block_caller(
        &requires(GrantOperator::And, &[Mfa, CompliantDevice]),
        &me.get()
    ));
    assert!(!would_block_caller(
        &requires(GrantOperator::Or, &[Mfa, CompliantDevice]),
        &me.get()
    ));
    // Blocking a location the caller is not in is fine.
    let elsewhere = block(1)
        .with(|p| p.conditions.locations = locations(&[LocationRef::Id(oid(L_BLOCKED))], &[]));
    assert!(!would_block_caller(&elsewhere, &me.get()));
}

#[test]
fn blocking_every_administrator_is_detected() {
    let admin_roles = [role(R_GLOBAL_ADMIN)];
    let groups = [oid(G_DIRECT)];
    let a1 = UserSubject {
        id: oid(USER),
        is_guest: false,
        groups: &groups,
        roles: &admin_roles,
        risk: RiskLevel::None,
        mfa_registered: true,
    };
    let a2 = UserSubject {
        id: oid(OTHER_USER),
        groups: &[],
        ..a1
    };
    let admins = [a1, a2];
    let graph = app(RESOURCE);
    assert!(would_block_all_admins(&block(1), &admins, graph));
    // Targeting the admin role blocks both.
    let by_role = block(1).with(|p| {
        p.conditions.users.include_users = vec![];
        p.conditions.users.include_roles = vec![role(R_GLOBAL_ADMIN)];
    });
    assert!(would_block_all_admins(&by_role, &admins, graph));
    // One admin excluded (a break-glass account through its group): a way in remains.
    let break_glass = block(1).with(|p| p.conditions.users.exclude_groups = vec![oid(G_DIRECT)]);
    assert!(!would_block_all_admins(&break_glass, &admins, graph));
    // Not the management app.
    let other_app = block(1).with(|p| {
        p.conditions.applications.include_applications = vec![AppRef::Id(app(OTHER_APP))]
    });
    assert!(!would_block_all_admins(&other_app, &admins, graph));
    // Narrowing conditions leave a way in.
    let legacy = block(1).with(|p| p.conditions.client_app_types = vec![ClientAppType::Other]);
    assert!(!would_block_all_admins(&legacy, &admins, graph));
    let outside = block(1).with(|p| {
        p.conditions.locations = locations(&[LocationRef::All], &[LocationRef::AllTrusted])
    });
    assert!(!would_block_all_admins(&outside, &admins, graph));
    // Not a block, report-only, or no admins: no lockout.
    assert!(!would_block_all_admins(&pol(1), &admins, graph));
    assert!(!would_block_all_admins(
        &block(1).with(|p| p.state = PolicyState::ReportOnly),
        &admins,
        graph
    ));
    assert!(!would_block_all_admins(&block(1), &[], graph));
}

#[test]
fn aadsts_errors_name_the_policies_and_the_fix() {
    let set = PolicySet::new(vec![requires(
        GrantOperator::And,
        &[BuiltInControl::CompliantDevice],
    )]);
    let e = set.evaluate(&Ctx::user().get());
    let err = e.aadsts_error().unwrap();
    assert_eq!(err.code, 53000);
    assert!(err
        .to_string()
        .starts_with("AADSTS53000: Device is not in required device state"));
    assert!(err.message.contains("'P1'"));
    let set = PolicySet::new(vec![pol(1)]);
    assert!(set
        .evaluate(&Ctx::user().mfa_ago(1).get())
        .aadsts_error()
        .is_none());
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn arb_subset<T: Clone + std::fmt::Debug + 'static>(
    items: Vec<T>,
) -> impl Strategy<Value = Vec<T>> {
    let n = items.len();
    proptest::sample::subsequence(items, 0..=n)
}

/// Mostly empty (not configured), so that random policies often apply and interact.
fn sometimes<T: Clone + std::fmt::Debug + 'static>(items: Vec<T>) -> BoxedStrategy<Vec<T>> {
    prop_oneof![3 => Just(Vec::new()), 1 => arb_subset(items)].boxed()
}

fn arb_users() -> impl Strategy<Value = UsersCondition> {
    let refs = vec![
        UserRef::All,
        UserRef::None,
        UserRef::GuestsOrExternalUsers,
        UserRef::Id(oid(USER)),
        UserRef::Id(oid(OTHER_USER)),
    ];
    let groups = vec![oid(G_DIRECT), oid(G_NESTED), oid(G_OTHER)];
    let roles = vec![role(R_GLOBAL_ADMIN), role(R_OTHER)];
    (
        prop_oneof![2 => Just(vec![UserRef::All]), 1 => arb_subset(refs.clone())],
        sometimes(refs),
        sometimes(groups.clone()),
        sometimes(groups),
        sometimes(roles.clone()),
        sometimes(roles),
    )
        .prop_map(|(iu, eu, ig, eg, ir, er)| UsersCondition {
            include_users: iu,
            exclude_users: eu,
            include_groups: ig,
            exclude_groups: eg,
            include_roles: ir,
            exclude_roles: er,
        })
}

fn arb_policy() -> impl Strategy<Value = ConditionalAccessPolicy> {
    let apps = vec![
        AppRef::All,
        AppRef::None,
        AppRef::Id(app(RESOURCE)),
        AppRef::Id(app(OTHER_APP)),
    ];
    let locs = vec![
        LocationRef::All,
        LocationRef::AllTrusted,
        LocationRef::Id(oid(L_HQ)),
        LocationRef::Id(oid(L_BLOCKED)),
    ];
    let sps = vec![
        ServicePrincipalRef::InMyTenant,
        ServicePrincipalRef::Id(oid(SP)),
        ServicePrincipalRef::Id(oid(OTHER_SP)),
    ];
    let conditions = (
        arb_users(),
        (
            prop_oneof![2 => Just(vec![AppRef::All]), 1 => arb_subset(apps.clone())],
            sometimes(apps),
        ),
        proptest::option::weighted(0.2, (arb_subset(sps.clone()), arb_subset(sps))),
        sometimes(ClientAppType::ALL_VALUES.to_vec()),
        proptest::option::weighted(0.3, (arb_subset(locs.clone()), sometimes(locs))),
        proptest::option::weighted(
            0.2,
            (
                arb_subset(DevicePlatform::ALL_VALUES.to_vec()),
                sometimes(DevicePlatform::ALL_VALUES.to_vec()),
            ),
        ),
        sometimes(RiskLevel::ALL_VALUES.to_vec()),
        sometimes(RiskLevel::ALL_VALUES.to_vec()),
        sometimes(RiskLevel::ALL_VALUES.to_vec()),
    )
        .prop_map(
            |(users, (ia, ea), ca, types, l, pl, sr, ur, spr)| Conditions {
                users,
                applications: ApplicationsCondition {
                    include_applications: ia,
                    exclude_applications: ea,
                },
                client_applications: ca.map(|(i, e)| ClientApplicationsCondition {
                    include_service_principals: i,
                    exclude_service_principals: e,
                }),
                client_app_types: types,
                locations: l.map(|(i, e)| LocationsCondition {
                    include_locations: i,
                    exclude_locations: e,
                }),
                platforms: pl.map(|(i, e)| PlatformsCondition {
                    include_platforms: i,
                    exclude_platforms: e,
                }),
                sign_in_risk_levels: sr,
                user_risk_levels: ur,
                service_principal_risk_levels: spr,
            },
        );
    let grant = proptest::option::weighted(
        0.9,
        (
            prop_oneof![Just(GrantOperator::And), Just(GrantOperator::Or)],
            arb_subset(BuiltInControl::ALL_VALUES.to_vec()),
            any::<bool>(),
        ),
    )
    .prop_map(|g| {
        g.map(|(operator, built_in_controls, strength)| GrantControls {
            operator,
            built_in_controls,
            authentication_strength: strength.then(|| AuthenticationStrength {
                id: "mfa".into(),
                display_name: "MFA".into(),
            }),
        })
    });
    let session = proptest::option::weighted(
        0.4,
        (
            1u32..30,
            prop_oneof![Just(FrequencyUnit::Hours), Just(FrequencyUnit::Days)],
            prop_oneof![
                Just(FrequencyInterval::TimeBased),
                Just(FrequencyInterval::EveryTime)
            ],
            any::<bool>(),
        ),
    )
    .prop_map(|s| {
        s.map(|(value, unit, interval, is_enabled)| SessionControls {
            sign_in_frequency: Some(SignInFrequency {
                value,
                unit,
                interval,
                is_enabled,
            }),
            persistent_browser: None,
        })
    });
    (
        0u128..1_000_000,
        prop_oneof![
            4 => Just(PolicyState::Enabled),
            1 => Just(PolicyState::Disabled),
            1 => Just(PolicyState::ReportOnly)
        ],
        conditions,
        grant,
        session,
    )
        .prop_map(|(n, state, conditions, grant_controls, session_controls)| {
            ConditionalAccessPolicy {
                id: oid(0x10_0000 + n),
                display_name: format!("R{n}"),
                state,
                conditions,
                grant_controls,
                session_controls,
            }
        })
}

fn arb_ctx() -> impl Strategy<Value = Ctx> {
    let opt_secs = proptest::option::of(0i64..(10 * 86_400));
    (
        (
            prop_oneof![Just(USER), Just(OTHER_USER)],
            any::<bool>(),
            arb_subset(vec![oid(G_DIRECT), oid(G_NESTED), oid(G_OTHER)]),
            arb_subset(vec![role(R_GLOBAL_ADMIN), role(R_OTHER)]),
            proptest::sample::select(RiskLevel::ALL_VALUES.to_vec()),
            any::<bool>(),
        ),
        proptest::option::weighted(
            0.2,
            (
                prop_oneof![Just(SP), Just(OTHER_SP)],
                any::<bool>(),
                proptest::sample::select(RiskLevel::ALL_VALUES.to_vec()),
            ),
        ),
        (
            prop_oneof![Just(RESOURCE), Just(OTHER_APP)],
            proptest::sample::select(vec![
                ClientAppType::Browser,
                ClientAppType::MobileAppsAndDesktopClients,
                ClientAppType::ExchangeActiveSync,
                ClientAppType::Other,
            ]),
            arb_subset(vec![oid(L_HQ), oid(L_BLOCKED)]),
            any::<bool>(),
            proptest::option::of(proptest::sample::select(
                DevicePlatform::ALL_VALUES
                    .iter()
                    .copied()
                    .filter(|p| *p != DevicePlatform::All)
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            proptest::option::of((any::<bool>(), 0u8..3)),
            proptest::sample::select(RiskLevel::ALL_VALUES.to_vec()),
            opt_secs.clone(),
            opt_secs,
            any::<[bool; 3]>(),
        ),
    )
        .prop_map(
            |(
                (user, guest, groups, roles, user_risk, mfa_registered),
                wl,
                (resource, client_type, named, trusted, platform),
                (device, sign_in_risk, pw, mfa, [changed, approved, protected]),
            )| Ctx {
                user: oid(user),
                guest,
                groups,
                roles,
                user_risk,
                mfa_registered,
                workload: wl.map(|(sp, in_my_tenant, risk)| WorkloadSubject {
                    service_principal_id: oid(sp),
                    in_my_tenant,
                    risk,
                }),
                resource: app(resource),
                client_type,
                facts: LocationFacts {
                    trusted: trusted && !named.is_empty(),
                    named_locations: named,
                    country: None,
                },
                platform,
                device: device.map_or(DeviceState::None, |(is_compliant, t)| {
                    DeviceState::Registered {
                        is_compliant,
                        trust_type: match t {
                            0 => DeviceTrustType::Workplace,
                            1 => DeviceTrustType::AzureAd,
                            _ => DeviceTrustType::ServerAd,
                        },
                    }
                }),
                sign_in_risk,
                satisfied: Satisfied {
                    password_at: pw.map(|s| Timestamp::from_secs(NOW - s)),
                    mfa_at: mfa.map(|s| Timestamp::from_secs(NOW - s)),
                    password_changed: changed,
                    approved_client_app: approved,
                    compliant_client_app: protected,
                },
                now: Timestamp::from_secs(NOW),
            },
        )
}

fn ids(ps: &[&ConditionalAccessPolicy]) -> std::collections::BTreeSet<ObjectId> {
    ps.iter().map(|p| p.id).collect()
}

/// `after` is at least as restrictive as `before`: allow < controls owed < block; blocks and
/// owed controls are only ever added to.
fn at_least_as_restrictive(after: &Outcome<'_>, before: &Outcome<'_>) -> Result<(), String> {
    match (before, after) {
        (Outcome::Allow, _) => Ok(()),
        (Outcome::Block { policies: b }, Outcome::Block { policies: a }) => {
            if ids(a).is_superset(&ids(b)) {
                Ok(())
            } else {
                Err("a blocking policy stopped blocking".into())
            }
        }
        (Outcome::Block { .. }, _) => Err("block was lifted".into()),
        (Outcome::RequireControls { .. }, Outcome::Block { .. }) => Ok(()),
        (
            Outcome::RequireControls {
                controls: bc,
                policies: bp,
                ..
            },
            Outcome::RequireControls {
                controls: ac,
                policies: ap,
                ..
            },
        ) => {
            if !ac.is_superset(*bc) {
                Err(format!("owed controls shrank: {bc} → {ac}"))
            } else if !ids(ap).is_superset(&ids(bp)) {
                Err("an unsatisfied policy became satisfied".into())
            } else {
                Ok(())
            }
        }
        (Outcome::RequireControls { .. }, Outcome::Allow) => Err("owed controls vanished".into()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// The index finds exactly what scanning each policy's lists finds.
    #[test]
    fn index_agrees_with_a_scan(policies in prop::collection::vec(arb_policy(), 0..12), ctx in arb_ctx()) {
        let set = PolicySet::new(policies.clone());
        let c = ctx.get();
        let indexed = set.hits_for_test(&c);
        for (p, hit) in policies.iter().zip(&indexed) {
            prop_assert_eq!(*hit, PolicySet::hits_by_scan(p, &c), "policy {:?}", p);
        }
        // And applicability through the index equals applicability by scan.
        let e = set.evaluate(&c);
        for (p, pe) in policies.iter().zip(&e.policies) {
            let scanned = p.state != PolicyState::Disabled && PolicySet::policy_applies(p, &c).is_ok();
            prop_assert_eq!(pe.result.applied(), scanned);
        }
    }

    /// Adding any policy, anywhere in the list, never makes the outcome less restrictive.
    #[test]
    fn adding_a_policy_never_relaxes_the_outcome(
        policies in prop::collection::vec(arb_policy(), 0..10),
        extra in arb_policy(),
        at in any::<prop::sample::Index>(),
        ctx in arb_ctx(),
    ) {
        let c = ctx.get();
        let before_set = PolicySet::new(policies.clone());
        let before = before_set.evaluate(&c);
        let mut more = policies;
        more.insert(at.index(more.len() + 1), extra);
        let after_set = PolicySet::new(more);
        let after = after_set.evaluate(&c);
        if let Err(why) = at_least_as_restrictive(&after.outcome, &before.outcome) {
            prop_assert!(false, "{}\nbefore: {}\nafter: {}", why, render(&before), render(&after));
        }
        // The token-service answer never goes from an error back to success either.
        prop_assert!(before.aadsts_code().is_none() || after.aadsts_code().is_some());
    }

    /// The order of the policies does not change the decision.
    #[test]
    fn order_does_not_matter(policies in prop::collection::vec(arb_policy(), 0..10), ctx in arb_ctx()) {
        let c = ctx.get();
        let fwd = PolicySet::new(policies.clone());
        let mut rev_list = policies;
        rev_list.reverse();
        let rev = PolicySet::new(rev_list);
        let (a, b) = (fwd.evaluate(&c), rev.evaluate(&c));
        prop_assert_eq!(a.aadsts_code(), b.aadsts_code());
        prop_assert_eq!(a.status(), b.status());
        prop_assert_eq!(a.session, b.session);
        match (&a.outcome, &b.outcome) {
            (Outcome::Allow, Outcome::Allow) => {}
            (Outcome::Block { policies: x }, Outcome::Block { policies: y }) => prop_assert_eq!(ids(x), ids(y)),
            (
                Outcome::RequireControls { controls: cx, next: nx, policies: x },
                Outcome::RequireControls { controls: cy, next: ny, policies: y },
            ) => {
                prop_assert_eq!(cx, cy);
                prop_assert_eq!(nx, ny);
                prop_assert_eq!(ids(x), ids(y));
            }
            (x, y) => prop_assert!(false, "{:?} vs {:?}", x, y),
        }
    }

    /// Valid policies (per `validate`) are a subset the evaluator handles like any other; and
    /// `validate` never panics on arbitrary input.
    #[test]
    fn validate_never_panics(p in arb_policy()) {
        let _ = validate(&p);
    }
}

#[test]
fn a_policy_uses_a_named_location_it_includes_or_excludes_only() {
    let loc = oid(900);
    let with = |inc: Vec<LocationRef>, exc: Vec<LocationRef>| {
        let mut p = pol(1);
        p.conditions.locations = Some(LocationsCondition {
            include_locations: inc,
            exclude_locations: exc,
        });
        p
    };
    assert!(with(vec![LocationRef::Id(loc)], vec![]).uses_location(loc));
    assert!(with(vec![LocationRef::All], vec![LocationRef::Id(loc)]).uses_location(loc));
    assert!(!with(vec![LocationRef::All], vec![LocationRef::AllTrusted]).uses_location(loc));
    assert!(!with(vec![LocationRef::Id(oid(901))], vec![]).uses_location(loc));
    assert!(!pol(1).uses_location(loc));
}

// ---------------------------------------------------------------------------------------------
// References: every id a stored policy names exists in the tenant
// ---------------------------------------------------------------------------------------------

fn known() -> KnownReferences {
    KnownReferences {
        users: [oid(USER)].into(),
        groups: [oid(G_DIRECT)].into(),
        roles: [role(R_GLOBAL_ADMIN)].into(),
        applications: [app(RESOURCE)].into(),
        service_principals: [oid(SP)].into(),
        locations: [oid(L_HQ)].into(),
    }
}

#[test]
fn references_must_exist_and_special_values_always_pass() {
    let k = known();
    // Special values name nothing and pass against an empty tenant too.
    for p in [pol(1), block(2), wl_block(3)] {
        check_references(&p, &KnownReferences::default(), None).unwrap();
    }
    let everything = pol(4).with(|p| {
        let u = &mut p.conditions.users;
        u.include_users = vec![UserRef::Id(oid(USER)), UserRef::GuestsOrExternalUsers];
        u.exclude_users = vec![UserRef::Id(oid(USER))];
        u.include_groups = vec![oid(G_DIRECT)];
        u.exclude_groups = vec![oid(G_DIRECT)];
        u.include_roles = vec![role(R_GLOBAL_ADMIN)];
        u.exclude_roles = vec![role(R_GLOBAL_ADMIN)];
        p.conditions.applications.include_applications = vec![AppRef::Id(app(RESOURCE))];
        p.conditions.applications.exclude_applications = vec![AppRef::Id(app(RESOURCE))];
        p.conditions.locations = locations(
            &[LocationRef::Id(oid(L_HQ)), LocationRef::AllTrusted],
            &[LocationRef::Id(oid(L_HQ))],
        );
    });
    check_references(&everything, &k, None).unwrap();
    let wl = wl_block(5).with(|p| {
        p.conditions.client_applications = Some(ClientApplicationsCondition {
            include_service_principals: vec![ServicePrincipalRef::Id(oid(SP))],
            exclude_service_principals: vec![ServicePrincipalRef::Id(oid(SP))],
        })
    });
    check_references(&wl, &k, None).unwrap();
    type Edit = fn(&mut ConditionalAccessPolicy);
    let cases: [(Edit, &str, u128); 11] = [
        (
            |p| p.conditions.users.include_users = vec![UserRef::Id(oid(OTHER_USER))],
            "conditions.users.includeUsers",
            OTHER_USER,
        ),
        (
            |p| p.conditions.users.exclude_users = vec![UserRef::Id(oid(OTHER_USER))],
            "conditions.users.excludeUsers",
            OTHER_USER,
        ),
        (
            |p| p.conditions.users.include_groups = vec![oid(G_OTHER)],
            "conditions.users.includeGroups",
            G_OTHER,
        ),
        (
            |p| p.conditions.users.exclude_groups = vec![oid(G_OTHER)],
            "conditions.users.excludeGroups",
            G_OTHER,
        ),
        (
            |p| p.conditions.users.include_roles = vec![role(R_OTHER)],
            "conditions.users.includeRoles",
            R_OTHER,
        ),
        (
            |p| p.conditions.users.exclude_roles = vec![role(R_OTHER)],
            "conditions.users.excludeRoles",
            R_OTHER,
        ),
        (
            |p| p.conditions.applications.include_applications = vec![AppRef::Id(app(OTHER_APP))],
            "conditions.applications.includeApplications",
            OTHER_APP,
        ),
        (
            |p| p.conditions.applications.exclude_applications = vec![AppRef::Id(app(OTHER_APP))],
            "conditions.applications.excludeApplications",
            OTHER_APP,
        ),
        (
            |p| p.conditions.locations = locations(&[LocationRef::Id(oid(L_BLOCKED))], &[]),
            "conditions.locations.includeLocations",
            L_BLOCKED,
        ),
        (
            |p| {
                p.conditions.locations =
                    locations(&[LocationRef::All], &[LocationRef::Id(oid(L_BLOCKED))])
            },
            "conditions.locations.excludeLocations",
            L_BLOCKED,
        ),
        (
            |p| {
                p.conditions.client_applications = Some(ClientApplicationsCondition {
                    include_service_principals: vec![ServicePrincipalRef::Id(oid(OTHER_SP))],
                    exclude_service_principals: vec![],
                })
            },
            "conditions.clientApplications.includeServicePrincipals",
            OTHER_SP,
        ),
    ];
    for (edit, field, id) in cases {
        let p = pol(6).with(edit);
        let e = check_references(&p, &k, None).unwrap_err();
        assert_eq!(e.code(), "unknownReference", "{field}");
        let msg = e.to_string();
        let id = uuid::Uuid::from_u128(id).to_string();
        assert!(
            msg.starts_with(field) && msg.contains(&id),
            "{field}: {msg}"
        );
        // An update may keep an id the stored version already named (its object was deleted
        // since), but not add one.
        check_references(&p, &k, Some(&p)).unwrap();
        assert!(check_references(&p, &k, Some(&pol(7))).is_err(), "{field}");
    }
}
