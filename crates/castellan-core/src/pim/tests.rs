//! The PIM decisions over constructed facts.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;

const GA: uuid::Uuid = uuid::Uuid::from_u128(0x62e90394_69f5_4237_9190_012177145e10);
const NOW: Timestamp = Timestamp(1_750_000_000_000);

fn oid(n: u8) -> ObjectId {
    ObjectId::from_random([n; 16])
}

fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(7))
}

fn schedule(level: Level, start: Timestamp, end: Option<Timestamp>) -> RoleSchedule {
    RoleSchedule {
        id: oid(9),
        tenant_id: tenant(),
        plane: Plane::Directory,
        level,
        principal_id: oid(1),
        role_definition_id: GA,
        directory_scope_id: "/".into(),
        start,
        end,
        assignment_type: AssignmentType::Assigned,
        created_using: oid(8),
        eligibility_id: None,
        created: start,
        modified: start,
        end_recorded: false,
    }
}

fn facts<'a>(
    action: Action,
    expiration: Expiration,
    policy: &'a RolePolicy,
    schedules: &'a [RoleSchedule],
) -> RequestFacts<'a> {
    RequestFacts {
        level: Level::Assignment,
        action,
        principal: oid(1),
        role: GA,
        scope: "/",
        justification: Some("incident 42"),
        ticket_number: None,
        start: None,
        expiration,
        caller_mfa: true,
        caller_acrs: &[],
        policy,
        schedules,
        min_duration_secs: MIN_DURATION_SECS,
        now: NOW,
    }
}

#[test]
fn activation_needs_an_eligibility_in_force() {
    let p = RolePolicy::default_for(tenant(), GA);
    let none: Vec<RoleSchedule> = vec![];
    let f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &p,
        &none,
    );
    match check(&f) {
        Err(Refusal::Rule(r)) => assert_eq!(r.rules, vec!["EligibilityRule"]),
        other => panic!("{other:?}"),
    }
    // Positive control: eligible now.
    let el = vec![schedule(Level::Eligibility, NOW.plus_secs(-60), None)];
    let f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &p,
        &el,
    );
    assert_eq!(
        check(&f),
        Ok(Outcome::Create {
            start: NOW,
            end: Some(NOW.plus_secs(3600))
        })
    );
    // An eligibility that ended grants nothing.
    let ended = vec![schedule(
        Level::Eligibility,
        NOW.plus_secs(-7200),
        Some(NOW.plus_secs(-1)),
    )];
    let f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &p,
        &ended,
    );
    assert!(matches!(check(&f), Err(Refusal::Rule(_))));
}

#[test]
fn activation_rules_name_what_failed() {
    let p = RolePolicy::default_for(tenant(), GA);
    let el = vec![schedule(Level::Eligibility, NOW.plus_secs(-60), None)];
    // Longer than PT8H.
    let f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(9 * 3600),
        &p,
        &el,
    );
    assert!(matches!(check(&f), Err(Refusal::Rule(r)) if r.rules == vec!["ExpirationRule"]));
    // Permanent activation.
    let f = facts(Action::SelfActivate, Expiration::NoExpiration, &p, &el);
    assert!(matches!(check(&f), Err(Refusal::Rule(r)) if r.rules == vec!["ExpirationRule"]));
    // Shorter than PT5M, unless the development setting lowers the floor.
    let mut f = facts(Action::SelfActivate, Expiration::AfterDuration(60), &p, &el);
    assert!(matches!(check(&f), Err(Refusal::Rule(r)) if r.rules == vec!["ExpirationRule"]));
    f.min_duration_secs = 10;
    assert!(check(&f).is_ok());
    // No justification.
    let mut f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &p,
        &el,
    );
    f.justification = Some("  ");
    assert!(matches!(check(&f), Err(Refusal::Rule(r)) if r.rules == vec!["JustificationRule"]));
    // Ticketing when the policy asks for it.
    let mut tp = p.clone();
    tp.activation_rules.push("Ticketing".into());
    let f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &tp,
        &el,
    );
    assert!(matches!(check(&f), Err(Refusal::Rule(r)) if r.rules == vec!["TicketingRule"]));
    let mut f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &tp,
        &el,
    );
    f.ticket_number = Some("CHG-1");
    assert!(check(&f).is_ok());
}

#[test]
fn activation_without_mfa_is_a_step_up_and_with_mfa_passes() {
    let p = RolePolicy::default_for(tenant(), GA);
    let el = vec![schedule(Level::Eligibility, NOW.plus_secs(-60), None)];
    let mut f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &p,
        &el,
    );
    f.caller_mfa = false;
    assert_eq!(
        check(&f),
        Err(Refusal::StepUp {
            acrs: "c1".into(),
            rule: "MfaRule"
        })
    );
    // A policy without the MFA rule does not ask.
    let mut np = p.clone();
    np.activation_rules = vec!["Justification".into()];
    let mut f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &np,
        &el,
    );
    f.caller_mfa = false;
    assert!(check(&f).is_ok());
    // An authentication context asks for its own value.
    let mut cp = np.clone();
    cp.auth_context = Some("c3".into());
    let mut f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &cp,
        &el,
    );
    f.caller_mfa = false;
    assert!(matches!(check(&f), Err(Refusal::StepUp { acrs, .. }) if acrs == "c3"));
}

#[test]
fn admin_assignments_follow_the_admin_expiration_rules() {
    let mut p = RolePolicy::default_for(tenant(), GA);
    let none: Vec<RoleSchedule> = vec![];
    let mut f = facts(Action::AdminAssign, Expiration::NoExpiration, &p, &none);
    f.level = Level::Eligibility;
    assert_eq!(
        check(&f),
        Ok(Outcome::Create {
            start: NOW,
            end: None
        })
    );
    p.eligibility_expiration = (true, 86400);
    let mut f = facts(Action::AdminAssign, Expiration::NoExpiration, &p, &none);
    f.level = Level::Eligibility;
    assert!(matches!(check(&f), Err(Refusal::Rule(r)) if r.rules == vec!["ExpirationRule"]));
    // A future start is kept: a scheduled assignment.
    let mut f = facts(
        Action::AdminAssign,
        Expiration::AfterDuration(3600),
        &p,
        &none,
    );
    f.start = Some(NOW.plus_secs(600));
    assert_eq!(
        check(&f),
        Ok(Outcome::Create {
            start: NOW.plus_secs(600),
            end: Some(NOW.plus_secs(4200))
        })
    );
    // Self actions do not apply to eligibility.
    let el = vec![schedule(Level::Eligibility, NOW.plus_secs(-60), None)];
    let mut f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &p,
        &el,
    );
    f.level = Level::Eligibility;
    assert!(matches!(check(&f), Err(Refusal::Bad(_))));
}

#[test]
fn duplicates_and_missing_targets_are_refused() {
    let p = RolePolicy::default_for(tenant(), GA);
    let mut active = schedule(
        Level::Assignment,
        NOW.plus_secs(-60),
        Some(NOW.plus_secs(600)),
    );
    active.assignment_type = AssignmentType::Activated;
    let el = schedule(Level::Eligibility, NOW.plus_secs(-600), None);
    let all = vec![el.clone(), active.clone()];
    let f = facts(
        Action::SelfActivate,
        Expiration::AfterDuration(3600),
        &p,
        &all,
    );
    assert!(matches!(check(&f), Err(Refusal::Exists(_))));
    let f = facts(Action::SelfDeactivate, Expiration::NoExpiration, &p, &all);
    assert_eq!(
        check(&f),
        Ok(Outcome::End {
            schedule: active.id
        })
    );
    let only_el = vec![el];
    let f = facts(
        Action::SelfDeactivate,
        Expiration::NoExpiration,
        &p,
        &only_el,
    );
    assert!(matches!(check(&f), Err(Refusal::Missing(_))));
    let f = facts(
        Action::SelfExtend,
        Expiration::AfterDuration(3600),
        &p,
        &all,
    );
    assert!(matches!(check(&f), Ok(Outcome::Change { .. })));
}

#[test]
fn being_in_force_is_decided_by_time_alone() {
    let s = schedule(Level::Assignment, NOW, Some(NOW.plus_secs(300)));
    assert!(!s.active_at(NOW.plus_secs(-1)));
    assert!(s.active_at(NOW));
    assert!(s.active_at(NOW.plus_secs(299)));
    assert!(!s.active_at(NOW.plus_secs(300)));
    let el = schedule(Level::Eligibility, NOW, None);
    let all = vec![s.clone(), el];
    // Eligibility is never an active assignment.
    assert_eq!(active_assignments(&all, NOW).len(), 1);
    assert!(active_assignments(&all, NOW.plus_secs(300)).is_empty());
    assert_eq!(earliest_end(&all, &[oid(1)], NOW), Some(NOW.plus_secs(300)));
    assert_eq!(earliest_end(&all, &[oid(2)], NOW), None);
    assert_eq!(unrecorded_ends(&all, NOW.plus_secs(299)).len(), 0);
    assert_eq!(unrecorded_ends(&all, NOW.plus_secs(300)).len(), 1);
}

#[test]
fn approvers_never_include_the_requestor() {
    let step = ApprovalStep {
        id: oid(5),
        approvers: vec![oid(1), oid(3)],
        review_result: "NotReviewed".into(),
        reviewed_by: None,
        reviewed: None,
        justification: None,
    };
    assert!(!may_approve(&step, oid(1), oid(1), &[]));
    assert!(may_approve(&step, oid(1), oid(3), &[]));
    // A member of a listed group.
    assert!(may_approve(&step, oid(1), oid(4), &[oid(3)]));
    assert!(!may_approve(&step, oid(1), oid(4), &[oid(6)]));
}

#[test]
fn group_access_counts_only_active_assignments_of_the_group_plane() {
    let group = oid(5);
    let g = |level, access, end: Option<Timestamp>| RoleSchedule {
        plane: Plane::Group,
        role_definition_id: access,
        directory_scope_id: group.to_string(),
        ..schedule(level, NOW, end)
    };
    let schedules = vec![
        g(Level::Assignment, GROUP_MEMBER, Some(NOW.plus_secs(60))),
        g(Level::Eligibility, GROUP_OWNER, None),
        // A directory-role schedule whose scope happens to parse is not a group relation.
        RoleSchedule {
            directory_scope_id: group.to_string(),
            ..schedule(Level::Assignment, NOW, None)
        },
    ];
    assert_eq!(
        group_access_in_force(&schedules, NOW),
        vec![(oid(1), group, GROUP_MEMBER)]
    );
    assert!(group_access_in_force(&schedules, NOW.plus_secs(60)).is_empty());
    let edges = with_group_members(vec![], &schedules, NOW);
    assert_eq!(edges.len(), 1);
    assert_eq!((edges[0].group_id, edges[0].member_id), (group, oid(1)));
    // A stored edge is not doubled; eligibility gives no ownership.
    assert_eq!(with_group_members(edges.clone(), &schedules, NOW), edges);
    assert!(with_group_owners(vec![], &schedules, group, NOW).is_empty());
    assert_eq!(access_id(GROUP_OWNER), Some("owner"));
    assert_eq!(access_role("Member"), Some(GROUP_MEMBER));
    assert_eq!(access_role("admin"), None);
    assert_eq!(access_id(GA), None);
}
