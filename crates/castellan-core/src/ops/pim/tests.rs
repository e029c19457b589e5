//! PIM use cases against the in-memory store, fixed clock, seeded ids.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::ops::directory_roles::{effective_roles, roles_end};
use crate::ops::testing::{env, store_with_p2_tenant, Seeded, NOW};
use crate::store::memory::{block_on, MemoryStore};
use crate::store::prelude::*;
use crate::store::AuditQuery;

const GA: &str = "62e90394-69f5-4237-9190-012177145e10";

fn ga() -> uuid::Uuid {
    uuid::Uuid::parse_str(GA).unwrap()
}

fn users(store: &MemoryStore, t: &Tenant, names: &[&str]) -> Vec<crate::model::User> {
    let mut ids = crate::conformance::Ids::new(77);
    let us: Vec<_> = names
        .iter()
        .map(|n| crate::conformance::user(&mut ids, t, n, false))
        .collect();
    let mut set = ChangeSet::new();
    for u in &us {
        set.push(Change::InsertUser(u.clone()));
    }
    block_on(store.commit(set)).unwrap();
    us
}

fn req(level: Level, action: Action, principal: ObjectId, exp: Expiration) -> NewRequest {
    NewRequest {
        level,
        action,
        principal_id: principal.to_string(),
        role_definition_id: GA.into(),
        directory_scope_id: "/".into(),
        justification: Some("incident 42".into()),
        ticket_number: None,
        ticket_system: None,
        is_validation_only: false,
        start: None,
        expiration: exp,
    }
}

fn who(id: ObjectId, mfa: bool) -> Requestor {
    Requestor {
        id,
        mfa,
        acrs: vec![],
    }
}

fn at(e: &mut Env<'_>, t: Timestamp) {
    e.now = t;
}

#[test]
fn eligibility_grants_nothing_and_an_activation_grants_until_it_ends() {
    let (store, t) = store_with_p2_tenant(31);
    let u = users(&store, &t, &["admin", "alice"]);
    let (admin, alice) = (u[0].id, u[1].id);
    let mut entropy = Seeded(5);
    let mut e = env(&store, &mut entropy);
    let r = block_on(submit(
        &mut e,
        &t,
        &who(admin, true),
        req(
            Level::Eligibility,
            Action::AdminAssign,
            alice,
            Expiration::NoExpiration,
        ),
        Settings::default(),
    ))
    .unwrap();
    assert_eq!(r.status, "Provisioned");
    assert!(r.target_schedule_id.is_some());
    // Eligible only: no role anywhere.
    assert!(block_on(effective_roles(&store, t.id, alice, NOW))
        .unwrap()
        .is_empty());
    assert_eq!(block_on(roles_end(&store, t.id, alice, NOW)).unwrap(), None);
    // Activate for an hour.
    let r = block_on(submit(
        &mut e,
        &t,
        &who(alice, true),
        req(
            Level::Assignment,
            Action::SelfActivate,
            alice,
            Expiration::AfterDuration(3600),
        ),
        Settings::default(),
    ))
    .unwrap();
    assert_eq!(r.status, "Provisioned");
    assert_eq!(
        block_on(effective_roles(&store, t.id, alice, NOW)).unwrap(),
        vec![(ga(), "/".to_string())]
    );
    assert_eq!(
        block_on(roles_end(&store, t.id, alice, NOW)).unwrap(),
        Some(NOW.plus_secs(3600))
    );
    // At its end the role is gone, before any sweep ran.
    assert!(
        block_on(effective_roles(&store, t.id, alice, NOW.plus_secs(3600)))
            .unwrap()
            .is_empty()
    );
    // The sweep records the expiry once, with the justification.
    at(&mut e, NOW.plus_secs(3601));
    assert_eq!(block_on(sweep(&mut e, &t)).unwrap(), 1);
    assert_eq!(block_on(sweep(&mut e, &t)).unwrap(), 0);
    let audit = block_on(store.audit_records(t.id, &AuditQuery::default())).unwrap();
    let activities: Vec<&str> = audit.iter().map(|a| a.activity.as_str()).collect();
    for want in [
        "Add eligible member to role in PIM completed (permanent)",
        "Add member to role completed (PIM activation)",
        "Remove member from role (PIM activation expired)",
    ] {
        assert!(activities.contains(&want), "{want}: {activities:?}");
    }
    let expiry = audit
        .iter()
        .find(|a| a.activity == "Remove member from role (PIM activation expired)")
        .unwrap();
    assert!(expiry.targets[0]
        .modified_properties
        .iter()
        .any(|p| p.name == "Justification" && p.new_value.as_deref() == Some("incident 42")));
}

#[test]
fn deactivation_ends_the_role_now_and_refusals_change_nothing() {
    let (store, t) = store_with_p2_tenant(32);
    let u = users(&store, &t, &["admin", "alice", "bob"]);
    let (admin, alice, bob) = (u[0].id, u[1].id, u[2].id);
    let mut entropy = Seeded(6);
    let mut e = env(&store, &mut entropy);
    block_on(submit(
        &mut e,
        &t,
        &who(admin, true),
        req(
            Level::Eligibility,
            Action::AdminAssign,
            alice,
            Expiration::NoExpiration,
        ),
        Settings::default(),
    ))
    .unwrap();
    let before = block_on(store.role_schedules(t.id)).unwrap();
    let audit_before = block_on(store.audit_records(t.id, &AuditQuery::default()))
        .unwrap()
        .len();
    // No MFA: a step-up, nothing written.
    let err = block_on(submit(
        &mut e,
        &t,
        &who(alice, false),
        req(
            Level::Assignment,
            Action::SelfActivate,
            alice,
            Expiration::AfterDuration(3600),
        ),
        Settings::default(),
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            PimError::StepUp {
                rule: "MfaRule",
                ..
            }
        ),
        "{err:?}"
    );
    // Someone else's activation: forbidden.
    let err = block_on(submit(
        &mut e,
        &t,
        &who(bob, true),
        req(
            Level::Assignment,
            Action::SelfActivate,
            alice,
            Expiration::AfterDuration(3600),
        ),
        Settings::default(),
    ))
    .unwrap_err();
    assert!(
        matches!(err, PimError::Directory(DirectoryError::Forbidden(_))),
        "{err:?}"
    );
    // Bob is not eligible.
    let err = block_on(submit(
        &mut e,
        &t,
        &who(bob, true),
        req(
            Level::Assignment,
            Action::SelfActivate,
            bob,
            Expiration::AfterDuration(3600),
        ),
        Settings::default(),
    ))
    .unwrap_err();
    assert!(
        matches!(&err, PimError::Rule(f) if f.rules == vec!["EligibilityRule"]),
        "{err:?}"
    );
    // A bad principal id.
    let mut bad = req(
        Level::Assignment,
        Action::AdminAssign,
        bob,
        Expiration::NoExpiration,
    );
    bad.principal_id = "nope".into();
    assert!(matches!(
        block_on(submit(
            &mut e,
            &t,
            &who(admin, true),
            bad,
            Settings::default()
        )),
        Err(PimError::Directory(DirectoryError::BadRequest(_)))
    ));
    // Validation only: passes, writes nothing.
    let mut v = req(
        Level::Assignment,
        Action::SelfActivate,
        alice,
        Expiration::AfterDuration(3600),
    );
    v.is_validation_only = true;
    block_on(submit(
        &mut e,
        &t,
        &who(alice, true),
        v,
        Settings::default(),
    ))
    .unwrap();
    assert_eq!(block_on(store.role_schedules(t.id)).unwrap(), before);
    assert!(block_on(store.role_schedule_requests(t.id)).unwrap().len() == 1);
    assert_eq!(
        block_on(store.audit_records(t.id, &AuditQuery::default()))
            .unwrap()
            .len(),
        audit_before
    );
    // Activate, then deactivate: the role ends at once.
    block_on(submit(
        &mut e,
        &t,
        &who(alice, true),
        req(
            Level::Assignment,
            Action::SelfActivate,
            alice,
            Expiration::AfterDuration(3600),
        ),
        Settings::default(),
    ))
    .unwrap();
    at(&mut e, NOW.plus_secs(60));
    let r = block_on(submit(
        &mut e,
        &t,
        &who(alice, true),
        req(
            Level::Assignment,
            Action::SelfDeactivate,
            alice,
            Expiration::NoExpiration,
        ),
        Settings::default(),
    ))
    .unwrap();
    assert_eq!(r.status, "Revoked");
    assert!(
        block_on(effective_roles(&store, t.id, alice, NOW.plus_secs(60)))
            .unwrap()
            .is_empty()
    );
    // The deactivation was recorded by its request: the sweep has nothing to add.
    at(&mut e, NOW.plus_secs(7200));
    assert_eq!(block_on(sweep(&mut e, &t)).unwrap(), 0);
}

#[test]
fn approval_starts_the_clock_and_requestors_cannot_approve_themselves() {
    let (store, t) = store_with_p2_tenant(33);
    let u = users(&store, &t, &["admin", "alice", "bob"]);
    let (admin, alice, bob) = (u[0].id, u[1].id, u[2].id);
    let mut entropy = Seeded(7);
    let mut e = env(&store, &mut entropy);
    let mut p = RolePolicy::default_for(t.id, ga());
    p.approval_required = true;
    p.approvers = vec![crate::pim::Approver {
        is_group: false,
        id: bob,
        description: None,
    }];
    block_on(put_policy(
        &mut e,
        &t,
        p,
        "Approval_EndUser_Assignment",
        admin,
    ))
    .unwrap();
    block_on(submit(
        &mut e,
        &t,
        &who(admin, true),
        req(
            Level::Eligibility,
            Action::AdminAssign,
            alice,
            Expiration::NoExpiration,
        ),
        Settings::default(),
    ))
    .unwrap();
    let r = block_on(submit(
        &mut e,
        &t,
        &who(alice, true),
        req(
            Level::Assignment,
            Action::SelfActivate,
            alice,
            Expiration::AfterDuration(3600),
        ),
        Settings::default(),
    ))
    .unwrap();
    assert_eq!(r.status, "PendingApproval");
    assert!(block_on(effective_roles(&store, t.id, alice, NOW))
        .unwrap()
        .is_empty());
    let step = r.approval[0].id.to_string();
    let id = r.id.to_string();
    // Alice may not approve herself; an admin who is no approver may not either.
    for reviewer in [alice, admin] {
        let err = block_on(review(
            &mut e,
            &t,
            &id,
            &step,
            reviewer,
            "Approve",
            Some("ok".into()),
        ))
        .unwrap_err();
        assert!(
            matches!(err, PimError::Directory(DirectoryError::Forbidden(_))),
            "{err:?}"
        );
    }
    // Bob approves ten minutes later: the hour starts then.
    at(&mut e, NOW.plus_secs(600));
    let done = block_on(review(
        &mut e,
        &t,
        &id,
        &step,
        bob,
        "Approve",
        Some("ok".into()),
    ))
    .unwrap();
    assert_eq!(done.status, "Provisioned");
    assert_eq!(
        block_on(roles_end(&store, t.id, alice, NOW.plus_secs(600))).unwrap(),
        Some(NOW.plus_secs(4200))
    );
    // A second answer is refused.
    assert!(block_on(review(
        &mut e,
        &t,
        &id,
        &step,
        bob,
        "Deny",
        Some("no".into())
    ))
    .is_err());
}

#[test]
fn unanswered_approvals_time_out() {
    let (store, t) = store_with_p2_tenant(34);
    let u = users(&store, &t, &["admin", "alice", "bob"]);
    let (admin, alice, bob) = (u[0].id, u[1].id, u[2].id);
    let mut entropy = Seeded(8);
    let mut e = env(&store, &mut entropy);
    let mut p = RolePolicy::default_for(t.id, ga());
    p.approval_required = true;
    p.approvers = vec![crate::pim::Approver {
        is_group: false,
        id: bob,
        description: None,
    }];
    block_on(put_policy(
        &mut e,
        &t,
        p,
        "Approval_EndUser_Assignment",
        admin,
    ))
    .unwrap();
    block_on(submit(
        &mut e,
        &t,
        &who(admin, true),
        req(
            Level::Eligibility,
            Action::AdminAssign,
            alice,
            Expiration::NoExpiration,
        ),
        Settings::default(),
    ))
    .unwrap();
    let r = block_on(submit(
        &mut e,
        &t,
        &who(alice, true),
        req(
            Level::Assignment,
            Action::SelfActivate,
            alice,
            Expiration::AfterDuration(3600),
        ),
        Settings::default(),
    ))
    .unwrap();
    at(&mut e, NOW.plus_secs(crate::pim::APPROVAL_TIMEOUT_SECS));
    let step = r.approval[0].id.to_string();
    assert!(block_on(review(
        &mut e,
        &t,
        &r.id.to_string(),
        &step,
        bob,
        "Approve",
        Some("late".into())
    ))
    .is_err());
    assert_eq!(block_on(sweep(&mut e, &t)).unwrap(), 1);
    let stored = block_on(store.role_schedule_requests(t.id)).unwrap();
    assert!(stored
        .iter()
        .any(|x| x.id == r.id && x.status == "TimedOut"));
}

#[test]
fn a_scheduled_assignment_starts_on_time_and_can_be_canceled_before() {
    let (store, t) = store_with_p2_tenant(35);
    let u = users(&store, &t, &["admin", "alice"]);
    let (admin, alice) = (u[0].id, u[1].id);
    let mut entropy = Seeded(9);
    let mut e = env(&store, &mut entropy);
    let mut r1 = req(
        Level::Assignment,
        Action::AdminAssign,
        alice,
        Expiration::AfterDuration(3600),
    );
    r1.start = Some(NOW.plus_secs(600));
    let r = block_on(submit(
        &mut e,
        &t,
        &who(admin, true),
        r1.clone(),
        Settings::default(),
    ))
    .unwrap();
    assert_eq!(r.status, "Granted");
    assert!(block_on(effective_roles(&store, t.id, alice, NOW))
        .unwrap()
        .is_empty());
    assert_eq!(
        block_on(effective_roles(&store, t.id, alice, NOW.plus_secs(600))).unwrap(),
        vec![(ga(), "/".to_string())]
    );
    block_on(cancel(
        &mut e,
        &t,
        Level::Assignment,
        &r.id.to_string(),
        admin,
        true,
    ))
    .unwrap();
    assert!(
        block_on(effective_roles(&store, t.id, alice, NOW.plus_secs(600)))
            .unwrap()
            .is_empty()
    );
    // A provisioned request cannot be canceled.
    let r2 = block_on(submit(
        &mut e,
        &t,
        &who(admin, true),
        req(
            Level::Eligibility,
            Action::AdminAssign,
            alice,
            Expiration::NoExpiration,
        ),
        Settings::default(),
    ))
    .unwrap();
    assert!(block_on(cancel(
        &mut e,
        &t,
        Level::Eligibility,
        &r2.id.to_string(),
        admin,
        true
    ))
    .is_err());
}
