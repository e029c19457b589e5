//! PIM for Azure roles against the in-memory store, fixed clock, seeded ids: every request
//! type, every refusal (and that it changes nothing), the RBAC effect in time, the sweep.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::azure_rbac::Decision;
use crate::model::Tenant;
use crate::ops::arm::{self, PutAssignment, PutResource};
use crate::ops::testing::{env, store_with_p2_tenant, Seeded, NOW};
use crate::store::memory::{block_on, MemoryStore};
use crate::store::prelude::*;
use crate::store::{AuditQuery, Change, ChangeSet};
use crate::Timestamp;

const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const WRITE: &str = "Microsoft.Storage/storageAccounts/write";

struct World {
    store: MemoryStore,
    t: Tenant,
    admin: ObjectId,
    alice: ObjectId,
    bob: ObjectId,
    sub: String,
    rg: String,
}

fn world(seed: u64) -> World {
    let (store, t) = store_with_p2_tenant(seed);
    let mut ids = crate::conformance::Ids::new(seed + 100);
    let us: Vec<_> = ["admin", "alice", "bob"]
        .iter()
        .map(|n| crate::conformance::user(&mut ids, &t, n, false))
        .collect();
    let mut set = ChangeSet::new();
    for u in &us {
        set.push(Change::InsertUser(u.clone()));
    }
    block_on(store.commit(set)).unwrap();
    let sub = "/subscriptions/11111111-2222-3333-4444-555555555555".to_string();
    let rg = format!("{sub}/resourceGroups/app-rg");
    let mut entropy = Seeded(seed);
    let mut e = env(&store, &mut entropy);
    let plat = ArmCaller::platform(t.clone());
    block_on(arm::ensure_root(&mut e, &t)).unwrap();
    for (id, loc) in [(&sub, None), (&rg, Some("westeurope"))] {
        block_on(arm::put_resource(
            &mut e,
            &plat,
            id,
            PutResource {
                location: loc.map(str::to_string),
                ..Default::default()
            },
        ))
        .unwrap();
    }
    // The administrator is Owner of the subscription.
    block_on(arm::put_assignment(
        &mut e,
        &plat,
        &sub,
        uuid::Uuid::from_u128(0xabc),
        PutAssignment {
            role_definition_id: format!(
                "/providers/Microsoft.Authorization/roleDefinitions/{OWNER}"
            ),
            principal_id: us[0].id.to_string(),
            ..Default::default()
        },
    ))
    .unwrap();
    World {
        admin: us[0].id,
        alice: us[1].id,
        bob: us[2].id,
        store,
        t,
        sub,
        rg,
    }
}

fn caller(w: &World, who: ObjectId, now: Timestamp) -> ArmCaller {
    block_on(arm::caller(
        &w.store,
        w.t.clone(),
        who,
        format!("{who}@contoso.test"),
        true,
        now,
    ))
    .unwrap()
}

fn requestor(id: ObjectId) -> Requestor {
    Requestor {
        id,
        mfa: false,
        acrs: vec![],
    }
}

fn req(action: Action, principal: ObjectId, exp: Expiration) -> ArmRequest {
    ArmRequest {
        action,
        principal_id: principal.to_string(),
        role_definition_id: format!(
            "/subscriptions/11111111-2222-3333-4444-555555555555/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}"
        ),
        justification: Some("deploy hotfix 7".into()),
        ticket_number: None,
        ticket_system: None,
        start: None,
        expiration: exp,
        linked_eligibility: None,
    }
}

fn name(n: u128) -> String {
    uuid::Uuid::from_u128(0x5000 + n).to_string()
}

fn settings() -> Settings {
    Settings::default()
}

#[allow(clippy::too_many_arguments)]
fn send(
    w: &World,
    e: &mut Env<'_>,
    who: ObjectId,
    level: Level,
    scope: &str,
    n: u128,
    r: ArmRequest,
) -> Result<RoleScheduleRequest, ArmError> {
    let c = caller(w, who, e.now);
    block_on(submit(
        e,
        &c,
        &requestor(who),
        level,
        scope,
        &name(n),
        r,
        settings(),
    ))
}

fn may_write(w: &World, who: ObjectId, now: Timestamp, scope: &str) -> bool {
    matches!(
        block_on(arm::decide(
            &w.store,
            w.t.id,
            now,
            &[who],
            WRITE,
            false,
            scope
        ))
        .unwrap(),
        Decision::Allowed { .. }
    )
}

fn activities(w: &World) -> Vec<String> {
    block_on(w.store.audit_records(w.t.id, &AuditQuery::default()))
        .unwrap()
        .into_iter()
        .map(|a| a.activity)
        .collect()
}

const DAY: i64 = 86400;

#[test]
fn eligibility_grants_nothing_and_an_activation_grants_until_it_ends() {
    let w = world(1);
    let mut entropy = Seeded(2);
    let mut e = env(&w.store, &mut entropy);
    let el = send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        1,
        req(
            Action::AdminAssign,
            w.alice,
            Expiration::AfterDuration(30 * DAY),
        ),
    )
    .unwrap();
    assert_eq!(el.status, "Provisioned");
    assert_eq!(el.plane, Plane::Azure);
    // Eligibility alone grants nothing.
    assert!(!may_write(&w, w.alice, NOW, &w.rg));
    // The directory plane is untouched.
    assert!(block_on(w.store.role_schedules(w.t.id)).unwrap().is_empty());
    let act = send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        2,
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(3600),
        ),
    )
    .unwrap();
    assert_eq!(act.status, "Provisioned");
    let schedules = block_on(w.store.arm_role_schedules(w.t.id)).unwrap();
    let s = schedules
        .iter()
        .find(|s| Some(s.id) == act.target_schedule_id)
        .unwrap();
    assert_eq!(s.assignment_type, crate::pim::AssignmentType::Activated);
    assert_eq!(s.eligibility_id, el.target_schedule_id);
    // Honoured at once, at the scope and below, not above, not for others.
    assert!(may_write(&w, w.alice, NOW, &w.rg));
    assert!(may_write(
        &w,
        w.alice,
        NOW.plus_secs(10),
        &format!("{}/providers/Microsoft.Storage/storageAccounts/a", w.rg)
    ));
    assert!(!may_write(&w, w.alice, NOW, &w.sub));
    assert!(!may_write(&w, w.bob, NOW, &w.rg));
    // At its end the access is gone, before any sweep ran.
    assert!(may_write(&w, w.alice, NOW.plus_secs(3599), &w.rg));
    assert!(!may_write(&w, w.alice, NOW.plus_secs(3600), &w.rg));
    // The sweep records the expiry once, with the justification and the scope.
    e.now = NOW.plus_secs(3601);
    assert_eq!(block_on(crate::ops::pim::sweep(&mut e, &w.t)).unwrap(), 1);
    assert_eq!(block_on(crate::ops::pim::sweep(&mut e, &w.t)).unwrap(), 0);
    let audit = block_on(w.store.audit_records(w.t.id, &AuditQuery::default())).unwrap();
    let acts = activities(&w);
    for want in [
        "Add eligible member to role in PIM completed (timebound)",
        "Add member to role completed (PIM activation)",
        "Remove member from role (PIM activation expired)",
    ] {
        assert!(acts.iter().any(|a| a == want), "{want}: {acts:?}");
    }
    let expiry = audit
        .iter()
        .find(|a| a.activity == "Remove member from role (PIM activation expired)")
        .unwrap();
    let props = &expiry.targets[0].modified_properties;
    assert!(props
        .iter()
        .any(|p| p.name == "Justification" && p.new_value.as_deref() == Some("deploy hotfix 7")));
    assert!(props
        .iter()
        .any(|p| p.name == "Scope" && p.new_value.as_deref() == Some(w.rg.as_str())));
    assert!(props
        .iter()
        .any(|p| p.name == "Role.DisplayName" && p.new_value.as_deref() == Some("Contributor")));
}

#[test]
fn every_request_type_does_what_it_says() {
    let w = world(3);
    let mut entropy = Seeded(4);
    let mut e = env(&w.store, &mut entropy);
    let end_of = |w: &World, id: Option<ObjectId>| {
        block_on(w.store.arm_role_schedules(w.t.id))
            .unwrap()
            .into_iter()
            .find(|s| Some(s.id) == id)
            .unwrap()
            .end
    };
    // AdminAssign (eligibility), AdminUpdate, AdminExtend, AdminRenew.
    let el = send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        1,
        req(
            Action::AdminAssign,
            w.alice,
            Expiration::AfterDuration(10 * DAY),
        ),
    )
    .unwrap();
    assert_eq!(
        end_of(&w, el.target_schedule_id),
        Some(NOW.plus_secs(10 * DAY))
    );
    let up = send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        2,
        req(
            Action::AdminUpdate,
            w.alice,
            Expiration::AfterDuration(20 * DAY),
        ),
    )
    .unwrap();
    assert_eq!(up.target_schedule_id, el.target_schedule_id);
    assert_eq!(
        end_of(&w, el.target_schedule_id),
        Some(NOW.plus_secs(20 * DAY))
    );
    send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        3,
        req(
            Action::AdminExtend,
            w.alice,
            Expiration::AfterDuration(40 * DAY),
        ),
    )
    .unwrap();
    assert_eq!(
        end_of(&w, el.target_schedule_id),
        Some(NOW.plus_secs(40 * DAY))
    );
    send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        4,
        req(
            Action::AdminRenew,
            w.alice,
            Expiration::AfterDuration(50 * DAY),
        ),
    )
    .unwrap();
    assert_eq!(
        end_of(&w, el.target_schedule_id),
        Some(NOW.plus_secs(50 * DAY))
    );
    // SelfActivate, SelfExtend, SelfRenew, SelfDeactivate.
    let act = send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        5,
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(1800),
        ),
    )
    .unwrap();
    send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        6,
        req(Action::SelfExtend, w.alice, Expiration::AfterDuration(3600)),
    )
    .unwrap();
    assert_eq!(
        end_of(&w, act.target_schedule_id),
        Some(NOW.plus_secs(3600))
    );
    send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        7,
        req(Action::SelfRenew, w.alice, Expiration::AfterDuration(7200)),
    )
    .unwrap();
    assert_eq!(
        end_of(&w, act.target_schedule_id),
        Some(NOW.plus_secs(7200))
    );
    e.now = NOW.plus_secs(60);
    let off = send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        8,
        req(Action::SelfDeactivate, w.alice, Expiration::NoExpiration),
    )
    .unwrap();
    assert_eq!(off.status, "Revoked");
    assert!(
        !may_write(&w, w.alice, NOW.plus_secs(60), &w.rg),
        "deactivation ends it at once"
    );
    // AdminAssign (active, time-bound) grants directly; AdminRemove ends it.
    send(
        &w,
        &mut e,
        w.admin,
        Level::Assignment,
        &w.rg,
        9,
        req(Action::AdminAssign, w.bob, Expiration::AfterDuration(DAY)),
    )
    .unwrap();
    assert!(may_write(&w, w.bob, NOW.plus_secs(61), &w.rg));
    e.now = NOW.plus_secs(120);
    let rm = send(
        &w,
        &mut e,
        w.admin,
        Level::Assignment,
        &w.rg,
        10,
        req(Action::AdminRemove, w.bob, Expiration::NoExpiration),
    )
    .unwrap();
    assert_eq!(rm.status, "Revoked");
    assert!(!may_write(&w, w.bob, NOW.plus_secs(120), &w.rg));
    // AdminRemove of the eligibility: activation is refused afterwards.
    send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        11,
        req(Action::AdminRemove, w.alice, Expiration::NoExpiration),
    )
    .unwrap();
    let er = send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        12,
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(600),
        ),
    )
    .unwrap_err();
    assert_eq!(
        (er.status, er.code.as_str()),
        (400, "RoleAssignmentRequestPolicyValidationFailed")
    );
    assert!(er.message.contains("EligibilityRule"), "{}", er.message);
    let acts = activities(&w);
    for want in [
        "Update eligible member in role in PIM completed",
        "Update member in role completed (PIM activation extended)",
        "Remove member from role completed (PIM deactivate)",
        "Add member to role in PIM completed (timebound)",
        "Remove member from role in PIM completed",
        "Remove eligible member from role in PIM completed",
    ] {
        assert!(acts.iter().any(|a| a == want), "{want}: {acts:?}");
    }
}

/// What, who, level, scope, request name, request, status, ARM code, a word of the message.
type Case = (
    &'static str,
    ObjectId,
    Level,
    String,
    String,
    ArmRequest,
    u16,
    &'static str,
    &'static str,
);

#[test]
fn refusals_are_arm_errors_and_change_nothing() {
    let w = world(5);
    let mut entropy = Seeded(6);
    let mut e = env(&w.store, &mut entropy);
    send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        1,
        req(
            Action::AdminAssign,
            w.alice,
            Expiration::AfterDuration(30 * DAY),
        ),
    )
    .unwrap();
    let snapshot = |w: &World| {
        (
            block_on(w.store.arm_role_schedules(w.t.id)).unwrap(),
            block_on(w.store.arm_role_schedule_requests(w.t.id)).unwrap(),
            activities(w).len(),
        )
    };
    let before = snapshot(&w);
    let unknown_role = ArmRequest {
        role_definition_id: "/providers/Microsoft.Authorization/roleDefinitions/00000000-0000-0000-0000-00000000dead".into(),
        ..req(Action::AdminAssign, w.alice, Expiration::AfterDuration(DAY))
    };
    let no_reason = ArmRequest {
        justification: None,
        ..req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(600),
        )
    };
    let bad_link = ArmRequest {
        linked_eligibility: Some(format!(
            "{}/providers/Microsoft.Authorization/roleEligibilitySchedules/{}",
            w.rg,
            uuid::Uuid::from_u128(9)
        )),
        ..req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(600),
        )
    };
    let cases: Vec<Case> = vec![
        (
            "unknown role definition",
            w.admin,
            Level::Eligibility,
            w.rg.clone(),
            name(20),
            unknown_role,
            404,
            "RoleDefinitionDoesNotExist",
            "does not exist",
        ),
        (
            "activation over the policy's 8 hours",
            w.alice,
            Level::Assignment,
            w.rg.clone(),
            name(21),
            req(
                Action::SelfActivate,
                w.alice,
                Expiration::AfterDuration(9 * 3600),
            ),
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "ExpirationRule",
        ),
        (
            "activation without eligibility",
            w.bob,
            Level::Assignment,
            w.rg.clone(),
            name(22),
            req(Action::SelfActivate, w.bob, Expiration::AfterDuration(600)),
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "EligibilityRule",
        ),
        (
            "eligibility at another scope does not count",
            w.alice,
            Level::Assignment,
            w.sub.clone(),
            name(23),
            req(
                Action::SelfActivate,
                w.alice,
                Expiration::AfterDuration(600),
            ),
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "EligibilityRule",
        ),
        (
            "non-owner AdminAssign",
            w.bob,
            Level::Eligibility,
            w.rg.clone(),
            name(24),
            req(Action::AdminAssign, w.bob, Expiration::AfterDuration(DAY)),
            403,
            "AuthorizationFailed",
            "roleAssignments/write",
        ),
        (
            "an eligible user cannot AdminAssign itself",
            w.alice,
            Level::Assignment,
            w.rg.clone(),
            name(25),
            req(Action::AdminAssign, w.alice, Expiration::AfterDuration(DAY)),
            403,
            "AuthorizationFailed",
            "roleAssignments/write",
        ),
        (
            "self-activation for someone else",
            w.bob,
            Level::Assignment,
            w.rg.clone(),
            name(26),
            req(
                Action::SelfActivate,
                w.alice,
                Expiration::AfterDuration(600),
            ),
            403,
            "AuthorizationFailed",
            "self actions act on the caller only",
        ),
        (
            "no justification",
            w.alice,
            Level::Assignment,
            w.rg.clone(),
            name(27),
            no_reason,
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "JustificationRule",
        ),
        (
            "permanent eligibility (Azure requires an expiration)",
            w.admin,
            Level::Eligibility,
            w.rg.clone(),
            name(28),
            req(Action::AdminAssign, w.bob, Expiration::NoExpiration),
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "ExpirationRule",
        ),
        (
            "eligibility over a year",
            w.admin,
            Level::Eligibility,
            w.rg.clone(),
            name(29),
            req(
                Action::AdminAssign,
                w.bob,
                Expiration::AfterDuration(400 * DAY),
            ),
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "ExpirationRule",
        ),
        (
            "shorter than five minutes",
            w.alice,
            Level::Assignment,
            w.rg.clone(),
            name(30),
            req(Action::SelfActivate, w.alice, Expiration::AfterDuration(60)),
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "ExpirationRule",
        ),
        (
            "a second eligibility",
            w.admin,
            Level::Eligibility,
            w.rg.clone(),
            name(31),
            req(Action::AdminAssign, w.alice, Expiration::AfterDuration(DAY)),
            400,
            "RoleAssignmentExists",
            "already",
        ),
        (
            "deactivating nothing",
            w.alice,
            Level::Assignment,
            w.rg.clone(),
            name(32),
            req(Action::SelfDeactivate, w.alice, Expiration::NoExpiration),
            400,
            "RoleAssignmentDoesNotExist",
            "does not exist",
        ),
        (
            "a linked eligibility that is not hers",
            w.alice,
            Level::Assignment,
            w.rg.clone(),
            name(33),
            bad_link,
            400,
            "RoleAssignmentRequestPolicyValidationFailed",
            "linkedRoleEligibilityScheduleId",
        ),
        (
            "a request name that is not a GUID",
            w.admin,
            Level::Eligibility,
            w.rg.clone(),
            "not-a-guid".into(),
            req(Action::AdminAssign, w.bob, Expiration::AfterDuration(DAY)),
            400,
            "InvalidRoleAssignmentScheduleRequestName",
            "GUID",
        ),
        (
            "a request name used before",
            w.admin,
            Level::Eligibility,
            w.rg.clone(),
            name(1),
            req(Action::AdminAssign, w.bob, Expiration::AfterDuration(DAY)),
            409,
            "RoleAssignmentScheduleRequestExists",
            "exists already",
        ),
        (
            "a scope that does not exist",
            w.admin,
            Level::Eligibility,
            format!("{}/resourceGroups/nope", w.sub),
            name(34),
            req(Action::AdminAssign, w.bob, Expiration::AfterDuration(DAY)),
            404,
            "ResourceGroupNotFound",
            "nope",
        ),
    ];
    for (what, who, level, scope, n, r, status, code, needle) in cases {
        let c = caller(&w, who, e.now);
        let err = block_on(submit(
            &mut e,
            &c,
            &requestor(who),
            level,
            &scope,
            &n,
            r,
            settings(),
        ))
        .unwrap_err();
        assert_eq!(
            (err.status, err.code.as_str()),
            (status, code),
            "{what}: {}",
            err.message
        );
        assert!(err.message.contains(needle), "{what}: {}", err.message);
        assert_eq!(snapshot(&w), before, "{what} changed something");
    }
    // Positive control: the same activation within bounds passes.
    send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        40,
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(8 * 3600),
        ),
    )
    .unwrap();
}

#[test]
fn a_policy_changed_at_one_scope_governs_there_only() {
    let w = world(7);
    let mut entropy = Seeded(8);
    let mut e = env(&w.store, &mut entropy);
    let role = uuid::Uuid::parse_str(CONTRIBUTOR).unwrap();
    let admin = caller(&w, w.admin, NOW);
    let mut p = block_on(find_policy(
        &w.store,
        &admin,
        &w.rg,
        &RolePolicy::azure_default_for(w.t.id, role, &w.rg)
            .azure_name()
            .to_string(),
        false,
    ))
    .unwrap();
    assert_eq!(p.activation_max_secs, 8 * 3600);
    p.activation_max_secs = 1800;
    p.activation_rules = vec!["Justification".into(), "Ticketing".into()];
    // Alice (no role) may not change it.
    let alice = caller(&w, w.alice, NOW);
    let err = block_on(put_policy(
        &mut e,
        &alice,
        &w.rg,
        p.clone(),
        "Expiration_EndUser_Assignment",
    ))
    .unwrap_err();
    assert_eq!(err.status, 403);
    block_on(put_policy(
        &mut e,
        &admin,
        &w.rg,
        p,
        "Expiration_EndUser_Assignment",
    ))
    .unwrap();
    assert!(activities(&w)
        .iter()
        .any(|a| a == "Update role setting in PIM"));
    for scope in [&w.rg, &w.sub] {
        send(
            &w,
            &mut e,
            w.admin,
            Level::Eligibility,
            scope,
            if scope == &w.rg { 1 } else { 2 },
            req(
                Action::AdminAssign,
                w.alice,
                Expiration::AfterDuration(30 * DAY),
            ),
        )
        .unwrap();
    }
    let err = send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        3,
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(3600),
        ),
    )
    .unwrap_err();
    assert!(
        err.message.contains("ExpirationRule") && err.message.contains("TicketingRule"),
        "{}",
        err.message
    );
    // At the subscription Azure's defaults still apply.
    send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.sub,
        4,
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(3600),
        ),
    )
    .unwrap();
    let with_ticket = ArmRequest {
        ticket_number: Some("CHG-9".into()),
        ..req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(1800),
        )
    };
    send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        5,
        with_ticket,
    )
    .unwrap();
    // The list at the resource group shows the changed policy; one per role.
    let all = block_on(list_policies(&w.store, &admin, &w.rg, None)).unwrap();
    assert_eq!(all.len(), crate::azure_rbac::built_in_roles().len());
    let one = block_on(list_policies(&w.store, &admin, &w.rg, Some(role))).unwrap();
    assert_eq!(one[0].activation_max_secs, 1800);
    let at_sub = block_on(list_policies(&w.store, &admin, &w.sub, Some(role))).unwrap();
    assert_eq!(at_sub[0].activation_max_secs, 8 * 3600);
}

#[test]
fn lists_filter_as_target_and_by_principal_and_need_read_otherwise() {
    let w = world(9);
    let mut entropy = Seeded(10);
    let mut e = env(&w.store, &mut entropy);
    for (n, p) in [(1, w.alice), (2, w.bob)] {
        send(
            &w,
            &mut e,
            w.admin,
            Level::Eligibility,
            &w.rg,
            n,
            req(Action::AdminAssign, p, Expiration::AfterDuration(30 * DAY)),
        )
        .unwrap();
    }
    let alice = caller(&w, w.alice, NOW);
    let mine = PimFilter {
        as_target: true,
        ..Default::default()
    };
    let got = block_on(list_schedules(
        &w.store,
        &alice,
        Level::Eligibility,
        false,
        &w.rg,
        &mine,
    ))
    .unwrap();
    assert_eq!(
        got.iter().map(|s| s.principal_id).collect::<Vec<_>>(),
        vec![w.alice]
    );
    let got = block_on(list_requests(
        &w.store,
        &alice,
        Level::Eligibility,
        &w.sub,
        &mine,
    ))
    .unwrap();
    assert_eq!(got.len(), 1, "below the subscription too");
    // Without asTarget() she needs read at the scope.
    let err = block_on(list_schedules(
        &w.store,
        &alice,
        Level::Eligibility,
        false,
        &w.rg,
        &PimFilter::default(),
    ))
    .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (403, "AuthorizationFailed")
    );
    let admin = caller(&w, w.admin, NOW);
    let bobs = PimFilter {
        principal: Some(w.bob),
        ..Default::default()
    };
    let got = block_on(list_schedules(
        &w.store,
        &admin,
        Level::Eligibility,
        false,
        &w.sub,
        &bobs,
    ))
    .unwrap();
    assert_eq!(
        got.iter().map(|s| s.principal_id).collect::<Vec<_>>(),
        vec![w.bob]
    );
    // atScope() at the subscription leaves out the resource group's.
    let at = PimFilter {
        at_scope: true,
        ..Default::default()
    };
    assert!(block_on(list_schedules(
        &w.store,
        &admin,
        Level::Eligibility,
        false,
        &w.sub,
        &at
    ))
    .unwrap()
    .is_empty());
    // Instances are only those in force.
    assert!(block_on(list_schedules(
        &w.store,
        &admin,
        Level::Assignment,
        true,
        &w.rg,
        &PimFilter::default()
    ))
    .unwrap()
    .is_empty());
    // Get by name; another user's request is refused to a reader without read.
    let r = block_on(get_request(
        &w.store,
        &alice,
        Level::Eligibility,
        &w.rg,
        &name(1),
    ))
    .unwrap();
    assert_eq!(r.principal_id, w.alice);
    let err = block_on(get_request(
        &w.store,
        &alice,
        Level::Eligibility,
        &w.rg,
        &name(2),
    ))
    .unwrap_err();
    assert_eq!(err.status, 403);
    let err = block_on(get_request(
        &w.store,
        &admin,
        Level::Eligibility,
        &w.rg,
        &name(77),
    ))
    .unwrap_err();
    assert_eq!(err.status, 404);
}

#[test]
fn a_future_request_can_be_canceled_and_then_grants_nothing() {
    let w = world(11);
    let mut entropy = Seeded(12);
    let mut e = env(&w.store, &mut entropy);
    let later = ArmRequest {
        start: Some(NOW.plus_secs(3600)),
        ..req(Action::AdminAssign, w.bob, Expiration::AfterDuration(DAY))
    };
    let r = send(&w, &mut e, w.admin, Level::Assignment, &w.rg, 1, later).unwrap();
    assert_eq!(r.status, "Granted");
    assert!(!may_write(&w, w.bob, NOW, &w.rg), "not yet");
    assert!(
        may_write(&w, w.bob, NOW.plus_secs(3601), &w.rg),
        "from its start"
    );
    // Bob may not cancel the administrator's request.
    let bob = caller(&w, w.bob, NOW);
    assert_eq!(
        block_on(cancel(&mut e, &bob, Level::Assignment, &w.rg, &name(1)))
            .unwrap_err()
            .status,
        403
    );
    let admin = caller(&w, w.admin, NOW);
    let c = block_on(cancel(&mut e, &admin, Level::Assignment, &w.rg, &name(1))).unwrap();
    assert_eq!(c.status, "Canceled");
    assert!(
        !may_write(&w, w.bob, NOW.plus_secs(3601), &w.rg),
        "canceled"
    );
    // A provisioned request cannot be canceled.
    send(
        &w,
        &mut e,
        w.admin,
        Level::Assignment,
        &w.rg,
        2,
        req(Action::AdminAssign, w.bob, Expiration::AfterDuration(DAY)),
    )
    .unwrap();
    let err = block_on(cancel(&mut e, &admin, Level::Assignment, &w.rg, &name(2))).unwrap_err();
    assert_eq!(err.status, 400);
}

#[test]
fn a_directory_eligibility_or_activation_grants_nothing_in_arm() {
    let w = world(13);
    let mut entropy = Seeded(14);
    let mut e = env(&w.store, &mut entropy);
    // A directory-plane active schedule with the Contributor GUID at "/" is not an ARM grant.
    let s = RoleSchedule {
        id: ObjectId::from_uuid(uuid::Uuid::from_u128(0x77)),
        tenant_id: w.t.id,
        plane: Plane::Directory,
        level: Level::Assignment,
        principal_id: w.alice,
        role_definition_id: uuid::Uuid::parse_str(CONTRIBUTOR).unwrap(),
        directory_scope_id: "/".into(),
        start: NOW,
        end: None,
        assignment_type: crate::pim::AssignmentType::Assigned,
        created_using: ObjectId::from_uuid(uuid::Uuid::from_u128(0x78)),
        eligibility_id: None,
        created: NOW,
        modified: NOW,
        end_recorded: false,
    };
    let mut set = ChangeSet::new();
    set.push(Change::PutRoleSchedule(s));
    block_on(w.store.commit(set)).unwrap();
    assert!(!may_write(&w, w.alice, NOW, &w.rg));
    // Positive control: the same through the Azure plane does grant.
    send(
        &w,
        &mut e,
        w.admin,
        Level::Assignment,
        &w.rg,
        1,
        req(Action::AdminAssign, w.alice, Expiration::AfterDuration(DAY)),
    )
    .unwrap();
    assert!(may_write(&w, w.alice, NOW, &w.rg));
}

fn change_policy(w: &World, e: &mut Env<'_>, f: impl FnOnce(&mut RolePolicy)) {
    let role = uuid::Uuid::parse_str(CONTRIBUTOR).unwrap();
    let admin = caller(w, w.admin, e.now);
    let mut p = block_on(list_policies(&w.store, &admin, &w.rg, Some(role)))
        .unwrap()
        .remove(0);
    f(&mut p);
    block_on(put_policy(e, &admin, &w.rg, p, "test")).unwrap();
}

#[test]
fn mfa_on_activation_is_asked_for_when_the_policy_says_so() {
    let w = world(15);
    let mut entropy = Seeded(16);
    let mut e = env(&w.store, &mut entropy);
    change_policy(&w, &mut e, |p| {
        p.activation_rules = vec!["MultiFactorAuthentication".into(), "Justification".into()]
    });
    send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        1,
        req(
            Action::AdminAssign,
            w.alice,
            Expiration::AfterDuration(30 * DAY),
        ),
    )
    .unwrap();
    let err = send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        2,
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(600),
        ),
    )
    .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (400, "RoleAssignmentRequestAcrsValidationFailed")
    );
    assert!(err.message.contains("MfaRule"), "{}", err.message);
    assert!(!may_write(&w, w.alice, NOW, &w.rg));
    // Positive control: the same with MFA in the token.
    let c = caller(&w, w.alice, NOW);
    let with_mfa = Requestor {
        id: w.alice,
        mfa: true,
        acrs: vec![],
    };
    block_on(submit(
        &mut e,
        &c,
        &with_mfa,
        Level::Assignment,
        &w.rg,
        &name(3),
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(600),
        ),
        settings(),
    ))
    .unwrap();
    assert!(may_write(&w, w.alice, NOW, &w.rg));
}

#[test]
fn an_activation_needing_approval_grants_only_once_an_approver_approves() {
    let w = world(17);
    let mut entropy = Seeded(18);
    let mut e = env(&w.store, &mut entropy);
    let bob = w.bob;
    change_policy(&w, &mut e, |p| {
        p.approval_required = true;
        p.approvers = vec![crate::pim::Approver {
            is_group: false,
            id: bob,
            description: None,
        }];
    });
    send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        1,
        req(
            Action::AdminAssign,
            w.alice,
            Expiration::AfterDuration(30 * DAY),
        ),
    )
    .unwrap();
    let r = send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        2,
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(3600),
        ),
    )
    .unwrap();
    assert_eq!(r.status, "PendingApproval");
    assert!(
        !may_write(&w, w.alice, NOW, &w.rg),
        "pending grants nothing"
    );
    let id = r.id.to_string();
    let stage = r.approval[0].id.to_string();
    // Who may read and answer it.
    let (alice, admin, approver) = (
        caller(&w, w.alice, NOW),
        caller(&w, w.admin, NOW),
        caller(&w, bob, NOW),
    );
    assert!(block_on(get_approval(&w.store, &alice, &id)).is_ok());
    assert_eq!(
        block_on(get_approval(&w.store, &admin, &id))
            .unwrap_err()
            .status,
        403
    );
    let err = block_on(review(
        &mut e,
        &alice,
        &id,
        &stage,
        "Approve",
        Some("me".into()),
    ))
    .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (403, "AuthorizationFailed")
    );
    let err = block_on(review(
        &mut e,
        &admin,
        &id,
        &stage,
        "Approve",
        Some("x".into()),
    ))
    .unwrap_err();
    assert_eq!(
        err.status, 403,
        "an Owner who is not an approver may not approve"
    );
    let err = block_on(review(
        &mut e,
        &approver,
        &id,
        &stage,
        "Maybe",
        Some("x".into()),
    ))
    .unwrap_err();
    assert_eq!(err.status, 400);
    assert_eq!(
        block_on(review(
            &mut e,
            &approver,
            &id,
            &uuid::Uuid::from_u128(1).to_string(),
            "Approve",
            Some("x".into())
        ))
        .unwrap_err()
        .status,
        404
    );
    assert!(
        !may_write(&w, w.alice, NOW, &w.rg),
        "refused reviews changed nothing"
    );
    e.now = NOW.plus_secs(600);
    let done = block_on(review(
        &mut e,
        &approver,
        &id,
        &stage,
        "Approve",
        Some("looks right".into()),
    ))
    .unwrap();
    assert_eq!(done.status, "Provisioned");
    assert!(may_write(&w, w.alice, NOW.plus_secs(601), &w.rg));
    // The clock started at approval: one hour from then.
    assert!(may_write(&w, w.alice, NOW.plus_secs(600 + 3599), &w.rg));
    assert!(!may_write(&w, w.alice, NOW.plus_secs(600 + 3600), &w.rg));
    let acts = activities(&w);
    for want in [
        "Add member to role request approval requested (PIM activation)",
        "Add member to role request approved (PIM activation)",
        "Add member to role completed (PIM activation)",
    ] {
        assert!(acts.iter().any(|a| a == want), "{want}: {acts:?}");
    }
    // A denied one grants nothing.
    e.now = NOW.plus_secs(700);
    send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        3,
        req(Action::SelfDeactivate, w.alice, Expiration::NoExpiration),
    )
    .unwrap();
    let r = send(
        &w,
        &mut e,
        w.alice,
        Level::Assignment,
        &w.rg,
        4,
        req(
            Action::SelfActivate,
            w.alice,
            Expiration::AfterDuration(3600),
        ),
    )
    .unwrap();
    let approver = caller(&w, bob, e.now);
    let denied = block_on(review(
        &mut e,
        &approver,
        &r.id.to_string(),
        &r.approval[0].id.to_string(),
        "Deny",
        Some("not now".into()),
    ))
    .unwrap();
    assert_eq!(denied.status, "Denied");
    assert!(!may_write(&w, w.alice, NOW.plus_secs(701), &w.rg));
}

#[test]
fn a_custom_role_is_eligible_only_within_its_assignable_scopes() {
    let w = world(19);
    let mut entropy = Seeded(20);
    let mut e = env(&w.store, &mut entropy);
    let id = uuid::Uuid::from_u128(0xc0ffee);
    let plat = ArmCaller::platform(w.t.clone());
    block_on(arm::put_role_definition(
        &mut e,
        &plat,
        id,
        arm::PutRoleDefinition {
            name: "App deployer".into(),
            description: "deploys".into(),
            actions: vec!["Microsoft.Storage/*".into()],
            assignable_scopes: vec![w.rg.clone()],
            ..Default::default()
        },
    ))
    .unwrap();
    let custom = |principal| ArmRequest {
        role_definition_id: format!("/providers/Microsoft.Authorization/roleDefinitions/{id}"),
        ..req(
            Action::AdminAssign,
            principal,
            Expiration::AfterDuration(DAY),
        )
    };
    let err = send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.sub,
        1,
        custom(w.alice),
    )
    .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (400, "InvalidRoleAssignmentScope"),
        "{}",
        err.message
    );
    assert!(block_on(w.store.arm_role_schedules(w.t.id))
        .unwrap()
        .is_empty());
    // Positive control: at its assignable scope.
    let r = send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        2,
        custom(w.alice),
    )
    .unwrap();
    assert_eq!(r.status, "Provisioned");
}

#[test]
fn validate_checks_everything_and_writes_nothing() {
    let w = world(21);
    let mut entropy = Seeded(22);
    let mut e = env(&w.store, &mut entropy);
    let admin = caller(&w, w.admin, NOW);
    let audits = activities(&w).len();
    let ok = block_on(validate(
        &mut e,
        &admin,
        &requestor(w.admin),
        Level::Eligibility,
        &w.rg,
        &name(1),
        req(Action::AdminAssign, w.alice, Expiration::AfterDuration(DAY)),
        settings(),
    ))
    .unwrap();
    assert!(ok.target_schedule_id.is_none());
    assert!(block_on(w.store.arm_role_schedules(w.t.id))
        .unwrap()
        .is_empty());
    assert!(block_on(w.store.arm_role_schedule_requests(w.t.id))
        .unwrap()
        .is_empty());
    assert_eq!(activities(&w).len(), audits);
    let err = block_on(validate(
        &mut e,
        &admin,
        &requestor(w.admin),
        Level::Eligibility,
        &w.rg,
        &name(2),
        req(Action::AdminAssign, w.alice, Expiration::NoExpiration),
        settings(),
    ))
    .unwrap_err();
    assert!(err.message.contains("ExpirationRule"), "{}", err.message);
}

#[test]
fn another_tenant_cannot_reach_this_tenants_scopes_or_schedules() {
    let w = world(23);
    let mut entropy = Seeded(24);
    let mut e = env(&w.store, &mut entropy);
    let mut ids = crate::conformance::Ids::new(999);
    let other = crate::conformance::tenant(&mut ids, "other");
    let mallory = crate::conformance::user(&mut ids, &other, "mallory", false);
    let mut set = ChangeSet::new();
    set.push(Change::InsertTenant(other.clone()))
        .push(Change::InsertUser(mallory.clone()));
    block_on(w.store.commit(set)).unwrap();
    // The other tenant's platform itself (authorised everywhere in its own tenant) is refused.
    let foreign = ArmCaller::platform(other.clone());
    let err = block_on(submit(
        &mut e,
        &foreign,
        &requestor(mallory.id),
        Level::Assignment,
        &w.rg,
        &name(1),
        req(
            Action::AdminAssign,
            mallory.id,
            Expiration::AfterDuration(DAY),
        ),
        settings(),
    ))
    .unwrap_err();
    assert_eq!(err.status, 404, "{}", err.message);
    let err = block_on(list_schedules(
        &w.store,
        &foreign,
        Level::Assignment,
        false,
        &w.rg,
        &PimFilter::default(),
    ))
    .unwrap_err();
    assert_eq!(err.status, 404);
    assert!(block_on(w.store.arm_role_schedules(w.t.id))
        .unwrap()
        .is_empty());
    assert!(block_on(w.store.arm_role_schedules(other.id))
        .unwrap()
        .is_empty());
    // Positive control: this tenant's platform may.
    let own = ArmCaller::platform(w.t.clone());
    block_on(submit(
        &mut e,
        &own,
        &requestor(w.admin),
        Level::Assignment,
        &w.rg,
        &name(2),
        req(Action::AdminAssign, w.alice, Expiration::AfterDuration(DAY)),
        settings(),
    ))
    .unwrap();
    // And the other tenant still sees nothing of it.
    let r = block_on(get_request(
        &w.store,
        &foreign,
        Level::Assignment,
        &w.rg,
        &name(2),
    ))
    .unwrap_err();
    assert_eq!(r.status, 404);
}

#[test]
fn arm_pim_is_licence_gated_like_every_pim_entry_point() {
    for tier in [
        crate::model::LicenseTier::Free,
        crate::model::LicenseTier::P1,
    ] {
        let mut w = world(40);
        w.t.license = tier;
        let mut entropy = Seeded(41);
        let mut e = env(&w.store, &mut entropy);
        let err = send(
            &w,
            &mut e,
            w.admin,
            Level::Eligibility,
            &w.rg,
            1,
            req(
                Action::AdminAssign,
                w.alice,
                Expiration::AfterDuration(30 * DAY),
            ),
        )
        .unwrap_err();
        assert!(format!("{err:?}").contains("AAD_PREMIUM_P2"), "{err:?}");
        assert!(block_on(w.store.arm_role_schedules(w.t.id))
            .unwrap()
            .is_empty());
        assert!(block_on(w.store.arm_role_schedule_requests(w.t.id))
            .unwrap()
            .is_empty());
    }
    // Positive control: on P2 the same request passes.
    let w = world(40);
    let mut entropy = Seeded(41);
    let mut e = env(&w.store, &mut entropy);
    send(
        &w,
        &mut e,
        w.admin,
        Level::Eligibility,
        &w.rg,
        1,
        req(
            Action::AdminAssign,
            w.alice,
            Expiration::AfterDuration(30 * DAY),
        ),
    )
    .unwrap();
}
