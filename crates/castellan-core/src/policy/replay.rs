//! Impact replay: evaluates a draft Conditional Access policy against past sign-ins and reports
//! who would have been blocked or challenged, before the policy is enabled. A Castellan
//! extension (Entra has no such API; its closest feature is report-only mode, which only sees
//! sign-ins made after the policy exists).
//!
//! The draft is judged on its own, as if it were enforced (whatever its `state`), by the same
//! evaluator as live sign-ins: a record is **not applied** when a condition does not match,
//! **satisfied** when it applies and nothing is owed, **challenged** when the user could have
//! satisfied it by acting in the sign-in (MFA, password change, re-authentication — the
//! evaluator's `reportOnlyInterrupted`), and **blocked** otherwise (`block`, or a device or
//! client-app requirement the sign-in did not meet — `reportOnlyFailure`).
//!
//! What a record is replayed with is the caller's job (`ReplayInput`): the server uses the
//! user's groups and roles *as of now* (membership is not historised), the record's IP (resolved
//! against today's named locations), client app type, client and resource; no device and no
//! risk (sign-in records carry neither yet), and MFA as not yet done (the log does not record
//! a completed MFA), so an MFA requirement always counts as a challenge.

use std::collections::BTreeMap;

use crate::ids::ObjectId;
use crate::model::SignIn;

use super::evaluate::{
    ControlSet, DeviceState, DeviceTrustType, NotApplied, PolicyResult, PolicySet, SignInContext,
};
use super::model::{ClientAppType, ConditionalAccessPolicy, PolicyState, RiskLevel};

/// The most records one replay evaluates; older records beyond it are not read.
pub const MAX_RECORDS: usize = 10_000;
/// The longest look-back, in days.
pub const MAX_DAYS: u32 = 30;
/// Example sign-in ids kept per user in the summary.
pub const EXAMPLES_PER_USER: usize = 3;

/// One past sign-in to replay.
#[derive(Clone, Copy, Debug)]
pub struct ReplayInput<'a> {
    /// The sign-in record's id.
    pub sign_in_id: uuid::Uuid,
    /// The user's UPN (for the report).
    pub user_principal_name: &'a str,
    /// The reconstructed context (its subject must be a user).
    pub ctx: SignInContext<'a>,
}

/// What the draft would have done to one sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A condition did not match.
    NotApplied(NotApplied),
    /// It applied and was already satisfied.
    Satisfied,
    /// The user would have been asked for these controls.
    Challenge(ControlSet),
    /// The sign-in would have been refused (these controls unmet; `block` included if the
    /// policy blocks).
    Block(ControlSet),
}

/// One user's share of the impact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserImpact {
    /// The user's object id.
    pub user_id: ObjectId,
    /// Their UPN.
    pub user_principal_name: String,
    /// How many of their sign-ins are affected.
    pub sign_ins: usize,
    /// Every control they would have owed.
    pub controls: ControlSet,
    /// Up to `EXAMPLES_PER_USER` sign-in ids, newest first in input order.
    pub examples: Vec<uuid::Uuid>,
}

/// The replay's result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// Per input, in order.
    pub verdicts: Vec<Verdict>,
    /// Records evaluated.
    pub evaluated: usize,
    /// Records the draft did not apply to.
    pub not_applied: usize,
    /// Records it applied to and that already satisfied it.
    pub satisfied: usize,
    /// Users who would have been blocked, most affected first.
    pub would_block: Vec<UserImpact>,
    /// Users who would have been challenged, most affected first.
    pub would_challenge: Vec<UserImpact>,
}

/// Replays `draft` over `inputs`.
pub fn replay(draft: &ConditionalAccessPolicy, inputs: &[ReplayInput<'_>]) -> Replay {
    let mut p = draft.clone();
    // Report-only: judged as if enforced, with the interrupted/failure distinction.
    p.state = PolicyState::ReportOnly;
    let set = PolicySet::new(vec![p]);
    let mut out = Replay {
        evaluated: inputs.len(),
        ..Default::default()
    };
    let mut block: BTreeMap<ObjectId, UserImpact> = BTreeMap::new();
    let mut challenge: BTreeMap<ObjectId, UserImpact> = BTreeMap::new();
    for i in inputs {
        let e = set.evaluate(&i.ctx);
        let Some(pe) = e.policies.first() else {
            continue;
        };
        let verdict = match pe.result {
            PolicyResult::ReportOnlySuccess => Verdict::Satisfied,
            PolicyResult::ReportOnlyInterrupted => Verdict::Challenge(pe.unsatisfied),
            PolicyResult::ReportOnlyFailure => Verdict::Block(pe.unsatisfied),
            _ => Verdict::NotApplied(pe.not_applied.unwrap_or(NotApplied::UserNotIncluded)),
        };
        let user_id = match i.ctx.subject {
            super::evaluate::Subject::User(u) => u.id,
            super::evaluate::Subject::Workload(w) => w.service_principal_id,
        };
        let add = |m: &mut BTreeMap<ObjectId, UserImpact>, controls: ControlSet| {
            let u = m.entry(user_id).or_insert_with(|| UserImpact {
                user_id,
                user_principal_name: i.user_principal_name.to_string(),
                sign_ins: 0,
                controls: ControlSet::EMPTY,
                examples: Vec::new(),
            });
            u.sign_ins += 1;
            u.controls = u.controls.union(controls);
            if u.examples.len() < EXAMPLES_PER_USER {
                u.examples.push(i.sign_in_id);
            }
        };
        match verdict {
            Verdict::NotApplied(_) => out.not_applied += 1,
            Verdict::Satisfied => out.satisfied += 1,
            Verdict::Challenge(c) => add(&mut challenge, c),
            Verdict::Block(c) => add(&mut block, c),
        }
        out.verdicts.push(verdict);
    }
    let sorted = |m: BTreeMap<ObjectId, UserImpact>| {
        let mut v: Vec<UserImpact> = m.into_values().collect();
        v.sort_by(|a, b| {
            b.sign_ins
                .cmp(&a.sign_ins)
                .then_with(|| a.user_principal_name.cmp(&b.user_principal_name))
        });
        v
    };
    out.would_block = sorted(block);
    out.would_challenge = sorted(challenge);
    out
}

/// The client app type of a logged sign-in (Graph's `clientAppUsed` words).
pub fn client_app_type_of(client_app_used: &str) -> ClientAppType {
    match client_app_used.trim() {
        "Browser" => ClientAppType::Browser,
        "Mobile Apps and Desktop clients" => ClientAppType::MobileAppsAndDesktopClients,
        "Exchange ActiveSync" => ClientAppType::ExchangeActiveSync,
        _ => ClientAppType::Other,
    }
}

/// Whether a logged sign-in is worth replaying: a user's, with a known user id, that passed the
/// first factor (it succeeded, or Conditional Access was what stopped it). Wrong passwords,
/// unknown users and client errors are not: no policy decides them.
pub fn replayable(r: &SignIn) -> bool {
    !r.is_service_principal
        && r.user_id.is_some()
        && (r.error_code == 0 || r.conditional_access_status == "failure")
}

/// What a logged sign-in says it had, as evaluation facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded<'a> {
    /// `riskLevelDuringSignIn`.
    pub sign_in_risk: RiskLevel,
    /// `riskLevelAggregated` (the user's risk then).
    pub user_risk: RiskLevel,
    /// `deviceDetail`: the device the sign-in proved.
    pub device: DeviceState,
    /// GeoIP's country (`location.countryOrRegion`).
    pub country: Option<&'a str>,
    /// The session had done multifactor authentication (`authenticationRequirement`).
    pub mfa_done: bool,
}

/// Reads a logged sign-in's facts back (unknown words count as none: no risk, a registered
/// personal device).
pub fn recorded(r: &SignIn) -> Recorded<'_> {
    let level = |x: &str| RiskLevel::parse(x).unwrap_or(RiskLevel::None);
    Recorded {
        sign_in_risk: level(&r.risk.during_sign_in),
        user_risk: level(&r.risk.aggregated),
        device: match &r.device {
            Some(d) => DeviceState::Registered {
                is_compliant: d.is_compliant,
                trust_type: DeviceTrustType::parse(&d.trust_type)
                    .unwrap_or(DeviceTrustType::Workplace),
            },
            None => DeviceState::None,
        },
        country: r.location.country_or_region.as_deref(),
        mfa_done: r.authentication_requirement == crate::model::MFA_AUTHENTICATION_REQUIREMENT,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::ids::AppId;
    use crate::policy::evaluate::{Control, DeviceState, Satisfied, Subject, UserSubject};
    use crate::policy::location::{resolve_location, LocationFacts, NamedLocation};
    use crate::policy::model::*;
    use crate::policy::{parse_cidr, NamedLocationKind};
    use crate::time::Timestamp;

    fn oid(n: u128) -> ObjectId {
        ObjectId::from_uuid(uuid::Uuid::from_u128(n))
    }
    const ALEX: u128 = 1;
    const KIM: u128 = 2;
    const ADMIN: u128 = 3;
    const OFFICE: u128 = 0x50;

    fn office() -> Vec<NamedLocation> {
        vec![NamedLocation {
            id: oid(OFFICE),
            display_name: "Office".into(),
            kind: NamedLocationKind::Ip {
                ranges: vec![parse_cidr("10.20.0.0/16").unwrap()],
                is_trusted: true,
            },
        }]
    }

    /// "Require MFA outside the office": everyone but the admin, all apps, untrusted places.
    fn draft(grant: BuiltInControl) -> ConditionalAccessPolicy {
        ConditionalAccessPolicy {
            id: oid(0x900),
            display_name: "Draft".into(),
            state: PolicyState::Disabled,
            conditions: Conditions {
                users: UsersCondition {
                    include_users: vec![UserRef::All],
                    exclude_users: vec![UserRef::Id(oid(ADMIN))],
                    ..Default::default()
                },
                applications: ApplicationsCondition {
                    include_applications: vec![AppRef::All],
                    ..Default::default()
                },
                locations: Some(LocationsCondition {
                    include_locations: vec![LocationRef::All],
                    exclude_locations: vec![LocationRef::AllTrusted],
                }),
                ..Default::default()
            },
            grant_controls: Some(GrantControls {
                operator: GrantOperator::Or,
                built_in_controls: vec![grant],
                authentication_strength: None,
            }),
            session_controls: None,
        }
    }

    struct Rec {
        id: u128,
        user: u128,
        upn: &'static str,
        facts: LocationFacts,
        mfa_done: bool,
    }

    fn rec(id: u128, user: u128, upn: &'static str, ip: &str) -> Rec {
        Rec {
            id,
            user,
            upn,
            facts: resolve_location(&office(), ip.parse().ok(), None),
            mfa_done: false,
        }
    }

    fn run(draft: &ConditionalAccessPolicy, recs: &[Rec]) -> Replay {
        let now = Timestamp::from_secs(1_800_000_000);
        let inputs: Vec<ReplayInput<'_>> = recs
            .iter()
            .map(|r| ReplayInput {
                sign_in_id: uuid::Uuid::from_u128(r.id),
                user_principal_name: r.upn,
                ctx: SignInContext {
                    subject: Subject::User(UserSubject {
                        id: oid(r.user),
                        is_guest: false,
                        groups: &[],
                        roles: &[],
                        risk: RiskLevel::None,
                        mfa_registered: true,
                    }),
                    client_app_id: AppId::from_uuid(uuid::Uuid::from_u128(7)),
                    resource_app_id: AppId::from_uuid(uuid::Uuid::from_u128(8)),
                    client_app_type: ClientAppType::Browser,
                    ip: None,
                    location: &r.facts,
                    platform: None,
                    device: DeviceState::None,
                    sign_in_risk: RiskLevel::None,
                    satisfied: Satisfied {
                        password_at: Some(now),
                        mfa_at: r.mfa_done.then_some(now),
                        ..Default::default()
                    },
                    now,
                },
            })
            .collect();
        replay(draft, &inputs)
    }

    #[test]
    fn mfa_outside_the_office_challenges_outside_sign_ins_only() {
        let recs = [
            rec(10, ALEX, "alex@x", "203.0.113.9"),
            rec(11, ALEX, "alex@x", "10.20.1.1"),
            rec(12, ALEX, "alex@x", "198.51.100.1"),
            rec(13, KIM, "kim@x", "198.51.100.2"),
            rec(14, ADMIN, "admin@x", "203.0.113.1"),
            Rec {
                mfa_done: true,
                ..rec(15, KIM, "kim@x", "203.0.113.3")
            },
        ];
        let r = run(&draft(BuiltInControl::Mfa), &recs);
        assert_eq!(r.evaluated, 6);
        assert_eq!(r.not_applied, 2, "office sign-in and the excluded admin");
        assert_eq!(r.satisfied, 1, "kim's sign-in with MFA done");
        assert!(r.would_block.is_empty());
        let mfa = ControlSet::EMPTY.with(Control::Mfa);
        assert_eq!(
            r.would_challenge,
            vec![
                UserImpact {
                    user_id: oid(ALEX),
                    user_principal_name: "alex@x".into(),
                    sign_ins: 2,
                    controls: mfa,
                    examples: vec![uuid::Uuid::from_u128(10), uuid::Uuid::from_u128(12)],
                },
                UserImpact {
                    user_id: oid(KIM),
                    user_principal_name: "kim@x".into(),
                    sign_ins: 1,
                    controls: mfa,
                    examples: vec![uuid::Uuid::from_u128(13)],
                },
            ]
        );
        assert_eq!(
            r.verdicts[1],
            Verdict::NotApplied(NotApplied::LocationExcluded(LocationRef::AllTrusted))
        );
        assert_eq!(
            r.verdicts[4],
            Verdict::NotApplied(NotApplied::UserExcluded(
                crate::policy::evaluate::Exclusion::User
            ))
        );
    }

    #[test]
    fn block_and_device_requirements_are_blocks_even_after_mfa() {
        let recs = [
            Rec {
                mfa_done: true,
                ..rec(1, KIM, "kim@x", "203.0.113.3")
            },
            rec(2, KIM, "kim@x", "10.20.0.5"),
        ];
        for (grant, control) in [
            (BuiltInControl::Block, Control::Block),
            (BuiltInControl::CompliantDevice, Control::CompliantDevice),
        ] {
            let r = run(&draft(grant), &recs);
            assert!(r.would_challenge.is_empty(), "{grant}");
            assert_eq!(r.would_block.len(), 1);
            assert_eq!(r.would_block[0].sign_ins, 1);
            assert!(r.would_block[0].controls.contains(control));
            assert_eq!(r.not_applied, 1);
            assert_eq!(
                r.verdicts[0],
                Verdict::Block(ControlSet::EMPTY.with(control))
            );
        }
    }

    #[test]
    fn the_drafts_state_does_not_matter_and_examples_are_capped() {
        let recs: Vec<Rec> = (0..10)
            .map(|i| rec(i, ALEX, "alex@x", "203.0.113.9"))
            .collect();
        for state in PolicyState::ALL_VALUES {
            let mut d = draft(BuiltInControl::Mfa);
            d.state = *state;
            let r = run(&d, &recs);
            assert_eq!(r.would_challenge.len(), 1, "{state}");
            assert_eq!(r.would_challenge[0].sign_ins, 10);
            assert_eq!(r.would_challenge[0].examples.len(), EXAMPLES_PER_USER);
        }
        let empty = run(&draft(BuiltInControl::Mfa), &[]);
        assert_eq!((empty.evaluated, empty.verdicts.len()), (0, 0));
    }

    #[test]
    fn client_app_types_from_the_log() {
        assert_eq!(client_app_type_of("Browser"), ClientAppType::Browser);
        assert_eq!(
            client_app_type_of("Mobile Apps and Desktop clients"),
            ClientAppType::MobileAppsAndDesktopClients
        );
        assert_eq!(
            client_app_type_of("Exchange ActiveSync"),
            ClientAppType::ExchangeActiveSync
        );
        assert_eq!(client_app_type_of("IMAP4"), ClientAppType::Other);
    }

    #[test]
    fn only_first_factor_passes_are_replayable() {
        let base = SignIn {
            id: uuid::Uuid::from_u128(1),
            tenant_id: crate::TenantId::from_uuid(uuid::Uuid::from_u128(2)),
            created: Timestamp(0),
            user_principal_name: Some("a@x".into()),
            user_id: Some(oid(ALEX)),
            user_display_name: None,
            app_id: String::new(),
            app_display_name: None,
            resource_display_name: None,
            resource_id: None,
            ip_address: "127.0.0.1".into(),
            client_app_used: "Browser".into(),
            is_interactive: true,
            error_code: 0,
            failure_reason: String::new(),
            additional_details: String::new(),
            correlation_id: String::new(),
            authentication_requirement: String::new(),
            conditional_access_status: "notApplied".into(),
            applied_policies: vec![],
            is_service_principal: false,
            device: None,
            user_agent: String::new(),
            location: crate::model::SignInLocation::default(),
            risk: crate::model::SignInRiskInfo::default(),
        };
        assert!(replayable(&base));
        // A plain record has no risk, no device, no country and no MFA.
        let none = recorded(&base);
        assert_eq!(
            (
                none.sign_in_risk,
                none.user_risk,
                none.device,
                none.country,
                none.mfa_done
            ),
            (
                RiskLevel::None,
                RiskLevel::None,
                DeviceState::None,
                None,
                false
            )
        );
        // What a full record says is read back.
        let full = SignIn {
            authentication_requirement: crate::model::MFA_AUTHENTICATION_REQUIREMENT.into(),
            device: Some(crate::model::SignInDevice {
                trust_type: "ServerAd".into(),
                is_compliant: true,
                ..Default::default()
            }),
            location: crate::model::SignInLocation {
                country_or_region: Some("NZ".into()),
                ..Default::default()
            },
            risk: crate::model::SignInRiskInfo {
                during_sign_in: "high".into(),
                aggregated: "medium".into(),
                ..Default::default()
            },
            ..base.clone()
        };
        let r = recorded(&full);
        assert_eq!(
            (r.sign_in_risk, r.user_risk, r.country, r.mfa_done),
            (RiskLevel::High, RiskLevel::Medium, Some("NZ"), true)
        );
        assert_eq!(
            r.device,
            DeviceState::Registered {
                is_compliant: true,
                trust_type: DeviceTrustType::ServerAd
            }
        );
        let ca_refused = SignIn {
            error_code: 53003,
            conditional_access_status: "failure".into(),
            ..base.clone()
        };
        assert!(replayable(&ca_refused));
        assert!(!replayable(&SignIn {
            error_code: 50126,
            ..base.clone()
        }));
        assert!(!replayable(&SignIn {
            user_id: None,
            ..base.clone()
        }));
        assert!(!replayable(&SignIn {
            is_service_principal: true,
            ..base
        }));
    }
}
