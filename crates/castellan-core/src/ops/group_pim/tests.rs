//! PIM for groups against the in-memory store, fixed clock, seeded ids: eligibility gives no
//! membership, an activation gives membership (and through it a role-assignable group's
//! directory role and a security group's Azure role) only while in force, ownership likewise,
//! the licence gate on every plane, bad requests refused with nothing written, the sweep.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::model::{DirectoryRoleAssignment, LicenseTier, MembershipGraph};
use crate::ops::directory_roles::{effective_roles, roles_end};
use crate::ops::groups::{memberships_at, owners_at};
use crate::ops::testing::{env, store_with_p2_tenant, store_with_tenant_on, Seeded, NOW};
use crate::pim::{Action, Expiration, Level};
use crate::store::memory::{block_on, MemoryStore};
use crate::store::prelude::*;
use crate::store::{AuditQuery, Change, ChangeSet};
use crate::Timestamp;

const HELPDESK: u128 = 0x729827e3_9c14_49f7_bb1b_9608f156bbb8;

struct World {
    store: MemoryStore,
    t: Tenant,
    admin: ObjectId,
    alice: ObjectId,
    group: ObjectId,
}

/// A role-assignable security group holding Helpdesk Administrator, an administrator and Alice.
fn world_on(seed: u64, tier: Option<LicenseTier>) -> World {
    let (store, t) = match tier {
        None => store_with_p2_tenant(seed),
        Some(x) => store_with_tenant_on(seed, x),
    };
    let mut ids = crate::conformance::Ids::new(seed + 100);
    let admin = crate::conformance::user(&mut ids, &t, "admin", false);
    let alice = crate::conformance::user(&mut ids, &t, "alice", false);
    let mut g = crate::conformance::group(&mut ids, &t, "oncall");
    g.is_assignable_to_role = true;
    g.security_enabled = true;
    let mut set = ChangeSet::new();
    set.push(Change::InsertUser(admin.clone()))
        .push(Change::InsertUser(alice.clone()))
        .push(Change::InsertGroup(g.clone()))
        .push(Change::InsertDirectoryRoleAssignment(
            DirectoryRoleAssignment {
                id: ids.object(),
                tenant_id: t.id,
                principal_id: g.id,
                role_template_id: uuid::Uuid::from_u128(HELPDESK),
                directory_scope_id: "/".into(),
            },
        ));
    block_on(store.commit(set)).unwrap();
    World {
        store,
        t,
        admin: admin.id,
        alice: alice.id,
        group: g.id,
    }
}

fn world(seed: u64) -> World {
    world_on(seed, None)
}

fn who(id: ObjectId) -> Requestor {
    Requestor {
        id,
        mfa: false,
        acrs: vec![],
    }
}

fn req(w: &World, level: Level, action: Action, access: uuid::Uuid, exp: Expiration) -> NewRequest {
    NewRequest {
        level,
        action,
        principal_id: w.alice.to_string(),
        role_definition_id: access.to_string(),
        directory_scope_id: w.group.to_string(),
        justification: Some("on call tonight".into()),
        ticket_number: None,
        ticket_system: None,
        is_validation_only: false,
        start: None,
        expiration: exp,
    }
}

fn send(
    w: &World,
    e: &mut Env<'_>,
    by: ObjectId,
    r: NewRequest,
) -> Result<RoleScheduleRequest, PimError> {
    block_on(submit(e, &w.t, &who(by), r, Settings::default()))
}

fn member_at(w: &World, now: Timestamp) -> bool {
    let g = MembershipGraph::new(&block_on(memberships_at(&w.store, w.t.id, now)).unwrap());
    g.transitive_member_of(w.alice).contains(&w.group)
}

fn helpdesk_at(w: &World, now: Timestamp) -> bool {
    block_on(effective_roles(&w.store, w.t.id, w.alice, now))
        .unwrap()
        .iter()
        .any(|(r, _)| *r == uuid::Uuid::from_u128(HELPDESK))
}

fn activities(w: &World) -> Vec<String> {
    block_on(w.store.audit_records(w.t.id, &AuditQuery::default()))
        .unwrap()
        .into_iter()
        .map(|a| a.activity)
        .collect()
}

#[test]
fn eligible_membership_gives_nothing_an_activation_gives_membership_and_the_groups_role_while_in_force(
) {
    let w = world(1);
    let mut entropy = Seeded(2);
    let mut e = env(&w.store, &mut entropy);
    let el = send(
        &w,
        &mut e,
        w.admin,
        req(
            &w,
            Level::Eligibility,
            Action::AdminAssign,
            pim::GROUP_MEMBER,
            Expiration::AfterDuration(30 * 86400),
        ),
    )
    .unwrap();
    assert_eq!(
        (el.status.as_str(), el.plane),
        ("Provisioned", Plane::Group)
    );
    // Eligible only: no membership, no role, no token cap.
    assert!(!member_at(&w, NOW));
    assert!(!helpdesk_at(&w, NOW));
    assert_eq!(
        block_on(roles_end(&w.store, w.t.id, w.alice, NOW)).unwrap(),
        None
    );
    // Alice activates for an hour.
    let act = send(
        &w,
        &mut e,
        w.alice,
        req(
            &w,
            Level::Assignment,
            Action::SelfActivate,
            pim::GROUP_MEMBER,
            Expiration::AfterDuration(3600),
        ),
    )
    .unwrap();
    assert_eq!(act.status, "Provisioned");
    assert!(member_at(&w, NOW) && helpdesk_at(&w, NOW));
    assert!(member_at(&w, NOW.plus_secs(3599)));
    // A token minted now must not outlive the membership.
    assert_eq!(
        block_on(roles_end(&w.store, w.t.id, w.alice, NOW)).unwrap(),
        Some(NOW.plus_secs(3600))
    );
    // Not before its start, not after its end — sweep or no sweep.
    assert!(!member_at(&w, Timestamp(NOW.millis() - 1)));
    assert!(!member_at(&w, NOW.plus_secs(3600)) && !helpdesk_at(&w, NOW.plus_secs(3600)));
    // Deactivation ends it at once.
    e.now = NOW.plus_secs(60);
    let off = send(
        &w,
        &mut e,
        w.alice,
        req(
            &w,
            Level::Assignment,
            Action::SelfDeactivate,
            pim::GROUP_MEMBER,
            Expiration::NoExpiration,
        ),
    )
    .unwrap();
    assert_eq!(off.status, "Revoked");
    assert!(!member_at(&w, NOW.plus_secs(61)) && !helpdesk_at(&w, NOW.plus_secs(61)));
    let a = activities(&w);
    assert!(a.iter().any(|x| x.contains("PIM activation")), "{a:?}");
    // Every record names the group and the justification.
    let recs = block_on(w.store.audit_records(w.t.id, &AuditQuery::default())).unwrap();
    let props: Vec<String> = recs
        .iter()
        .flat_map(|r| r.targets.iter().flat_map(|t| t.modified_properties.iter()))
        .filter_map(|p| p.new_value.clone())
        .collect();
    assert!(props.contains(&w.group.to_string()), "{props:?}");
    assert!(props.iter().any(|p| p == "on call tonight"), "{props:?}");
}

#[test]
fn an_active_membership_makes_the_groups_azure_role_count_only_while_in_force() {
    let w = world(3);
    let mut entropy = Seeded(4);
    let mut e = env(&w.store, &mut entropy);
    // An administrator makes Alice an active member for ten minutes.
    send(
        &w,
        &mut e,
        w.admin,
        req(
            &w,
            Level::Assignment,
            Action::AdminAssign,
            pim::GROUP_MEMBER,
            Expiration::AfterDuration(600),
        ),
    )
    .unwrap();
    let principals = |now| {
        block_on(crate::ops::arm::caller(
            &w.store,
            w.t.clone(),
            w.alice,
            "alice".into(),
            true,
            now,
        ))
        .unwrap()
        .principals
    };
    assert!(
        principals(NOW).contains(&w.group),
        "the group's Azure roles apply"
    );
    assert!(
        !principals(NOW.plus_secs(600)).contains(&w.group),
        "and end with it"
    );
    // App-role assignments to the group follow too.
    let mut ids = crate::conformance::Ids::new(99);
    let sp = ids.object();
    let mut set = ChangeSet::new();
    set.push(Change::InsertAppRoleAssignment(
        crate::model::AppRoleAssignment {
            id: ids.object(),
            tenant_id: w.t.id,
            app_role_id: uuid::Uuid::nil(),
            principal_id: w.group,
            principal_type: crate::model::ObjectKind::Group,
            resource_id: sp,
            created: NOW,
        },
    ));
    block_on(w.store.commit(set)).unwrap();
    let has = |now| {
        block_on(crate::ops::token::user_assignments(
            &w.store, &w.t, w.alice, now,
        ))
        .unwrap()
        .iter()
        .any(|a| a.resource_id == sp)
    };
    assert!(has(NOW) && !has(NOW.plus_secs(600)));
}

#[test]
fn an_active_ownership_counts_as_ownership_while_in_force() {
    let w = world(5);
    let mut entropy = Seeded(6);
    let mut e = env(&w.store, &mut entropy);
    send(
        &w,
        &mut e,
        w.admin,
        req(
            &w,
            Level::Assignment,
            Action::AdminAssign,
            pim::GROUP_OWNER,
            Expiration::AfterDuration(900),
        ),
    )
    .unwrap();
    let owns = |now| {
        block_on(owners_at(&w.store, w.t.id, w.group, now))
            .unwrap()
            .contains(&w.alice)
    };
    assert!(owns(NOW) && !owns(NOW.plus_secs(900)));
    // Ownership is not membership.
    assert!(!member_at(&w, NOW));
    let t = block_on(target(&w.store, w.t.id, w.group, w.alice, NOW)).unwrap();
    assert!(t.owned_by_caller && t.role_assignable_group);
}

#[test]
fn bad_requests_are_refused_with_their_cause_and_change_nothing() {
    let w = world(7);
    let mut entropy = Seeded(8);
    let mut e = env(&w.store, &mut entropy);
    let mut ids = crate::conformance::Ids::new(70);
    let mut dynamic = crate::conformance::group(&mut ids, &w.t, "dyn");
    dynamic.membership_rule = Some("user.department -eq \"x\"".into());
    let mut set = ChangeSet::new();
    set.push(Change::InsertGroup(dynamic.clone()));
    block_on(w.store.commit(set)).unwrap();
    let base = || {
        req(
            &w,
            Level::Eligibility,
            Action::AdminAssign,
            pim::GROUP_MEMBER,
            Expiration::NoExpiration,
        )
    };
    let cases: Vec<(NewRequest, ObjectId, &str)> = vec![
        (
            NewRequest {
                directory_scope_id: "nope".into(),
                ..base()
            },
            w.admin,
            "not a valid object id",
        ),
        (
            NewRequest {
                directory_scope_id: ids.object().to_string(),
                ..base()
            },
            w.admin,
            "does not exist",
        ),
        (
            NewRequest {
                directory_scope_id: dynamic.id.to_string(),
                ..base()
            },
            w.admin,
            "dynamic membership",
        ),
        (
            NewRequest {
                role_definition_id: uuid::Uuid::nil().to_string(),
                ..base()
            },
            w.admin,
            "member or owner",
        ),
        (
            NewRequest {
                principal_id: w.group.to_string(),
                ..base()
            },
            w.admin,
            "not a user",
        ),
        (
            NewRequest {
                justification: Some("x".repeat(501)),
                ..base()
            },
            w.admin,
            "longer than 500",
        ),
        (
            req(
                &w,
                Level::Assignment,
                Action::SelfActivate,
                pim::GROUP_MEMBER,
                Expiration::AfterDuration(600),
            ),
            w.admin,
            "caller's id",
        ),
        (
            req(
                &w,
                Level::Assignment,
                Action::SelfActivate,
                pim::GROUP_MEMBER,
                Expiration::AfterDuration(600),
            ),
            w.alice,
            "EligibilityRule",
        ),
        (
            NewRequest {
                justification: None,
                ..req(
                    &w,
                    Level::Assignment,
                    Action::AdminAssign,
                    pim::GROUP_MEMBER,
                    Expiration::AfterDuration(600),
                )
            },
            w.admin,
            "JustificationRule",
        ),
        (
            req(
                &w,
                Level::Assignment,
                Action::AdminAssign,
                pim::GROUP_MEMBER,
                Expiration::NoExpiration,
            ),
            w.admin,
            "ExpirationRule",
        ),
    ];
    for (r, by, says) in cases {
        let err = send(&w, &mut e, by, r).unwrap_err();
        assert!(format!("{err:?}").contains(says), "{says}: {err:?}");
    }
    assert!(block_on(w.store.group_role_schedules(w.t.id))
        .unwrap()
        .is_empty());
    assert!(block_on(w.store.group_role_schedule_requests(w.t.id))
        .unwrap()
        .is_empty());
    assert!(activities(&w).is_empty());
}

#[test]
fn every_pim_plane_is_refused_below_p2_with_the_sku_named() {
    for tier in [LicenseTier::Free, LicenseTier::P1] {
        let w = world_on(9, Some(tier));
        let mut entropy = Seeded(10);
        let mut e = env(&w.store, &mut entropy);
        // PIM for groups.
        let err = send(
            &w,
            &mut e,
            w.admin,
            req(
                &w,
                Level::Eligibility,
                Action::AdminAssign,
                pim::GROUP_MEMBER,
                Expiration::NoExpiration,
            ),
        )
        .unwrap_err();
        assert!(format!("{err:?}").contains("AAD_PREMIUM_P2"), "{err:?}");
        // Directory roles.
        let dir = NewRequest {
            role_definition_id: "62e90394-69f5-4237-9190-012177145e10".into(),
            directory_scope_id: "/".into(),
            ..req(
                &w,
                Level::Eligibility,
                Action::AdminAssign,
                pim::GROUP_MEMBER,
                Expiration::NoExpiration,
            )
        };
        let err = block_on(ops_pim::submit(
            &mut e,
            &w.t,
            &who(w.admin),
            dir,
            Settings::default(),
        ))
        .unwrap_err();
        assert!(format!("{err:?}").contains("AAD_PREMIUM_P2"), "{err:?}");
        assert!(block_on(w.store.group_role_schedules(w.t.id))
            .unwrap()
            .is_empty());
        assert!(block_on(w.store.role_schedules(w.t.id)).unwrap().is_empty());
        assert!(activities(&w).is_empty());
    }
    // Positive control: the same request on P2 passes.
    let w = world(9);
    let mut entropy = Seeded(10);
    let mut e = env(&w.store, &mut entropy);
    let ok = send(
        &w,
        &mut e,
        w.admin,
        req(
            &w,
            Level::Eligibility,
            Action::AdminAssign,
            pim::GROUP_MEMBER,
            Expiration::AfterDuration(86400),
        ),
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn the_group_policy_governs_activation_and_the_sweep_records_the_expiry() {
    let w = world(11);
    let mut entropy = Seeded(12);
    let mut e = env(&w.store, &mut entropy);
    let policies = block_on(policies_of(&w.store, w.t.id, w.group)).unwrap();
    assert_eq!(policies.len(), 2);
    assert!(policies[0].id().starts_with(&format!("Group_{}_", w.group)));
    assert_eq!(policies[0].activation_max_secs, 8 * 3600);
    send(
        &w,
        &mut e,
        w.admin,
        req(
            &w,
            Level::Eligibility,
            Action::AdminAssign,
            pim::GROUP_MEMBER,
            Expiration::AfterDuration(86400),
        ),
    )
    .unwrap();
    // Longer than the policy's PT8H: refused by name.
    let err = send(
        &w,
        &mut e,
        w.alice,
        req(
            &w,
            Level::Assignment,
            Action::SelfActivate,
            pim::GROUP_MEMBER,
            Expiration::AfterDuration(9 * 3600),
        ),
    )
    .unwrap_err();
    assert!(format!("{err:?}").contains("ExpirationRule"), "{err:?}");
    // MFA required by a changed policy: a step-up, nothing written.
    let mut p = policies[0].clone();
    p.activation_rules = vec!["MultiFactorAuthentication".into(), "Justification".into()];
    block_on(ops_pim::put_policy(
        &mut e,
        &w.t,
        p,
        "Enablement_EndUser_Assignment",
        w.admin,
    ))
    .unwrap();
    let err = send(
        &w,
        &mut e,
        w.alice,
        req(
            &w,
            Level::Assignment,
            Action::SelfActivate,
            pim::GROUP_MEMBER,
            Expiration::AfterDuration(600),
        ),
    )
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
    let r = block_on(submit(
        &mut e,
        &w.t,
        &Requestor {
            id: w.alice,
            mfa: true,
            acrs: vec![],
        },
        req(
            &w,
            Level::Assignment,
            Action::SelfActivate,
            pim::GROUP_MEMBER,
            Expiration::AfterDuration(600),
        ),
        Settings::default(),
    ))
    .unwrap();
    assert_eq!(r.status, "Provisioned");
    // The sweep records the expiry once.
    e.now = NOW.plus_secs(601);
    assert_eq!(block_on(ops_pim::sweep(&mut e, &w.t)).unwrap(), 1);
    assert_eq!(block_on(ops_pim::sweep(&mut e, &w.t)).unwrap(), 0);
    assert!(activities(&w).iter().any(|a| a.contains("expired")));
    assert!(!member_at(&w, e.now));
}
