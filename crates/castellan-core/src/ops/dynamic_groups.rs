//! Dynamic membership: a dynamic group's members are ordinary membership edges, written by the
//! system actor in the same commit as the change that caused them.
//!
//! - A user create or PATCH re-evaluates, for that user only, the rules that read a changed
//!   property (`reconcile_user`), then the `memberOf` rules naming a group whose membership of
//!   that user just changed.
//! - A rule edit, and resuming a paused rule, apply as a diff against the current members
//!   (`diff_for_rule`): only the joins and the leaves are written, never wipe-and-rebuild.
//! - `Paused` keeps the members as they are.
//!
//! `desired_members` is the full recomputation the incremental path must always agree with (the
//! property test below checks it over random sequences of rule and attribute changes).

use std::collections::{BTreeSet, HashMap};

use crate::audit::Actor;
use crate::dynamic_rule::{self, Rule, RuleSubject, UserFacts};
use crate::error::{Code, DirectoryError};
use crate::ids::ObjectId;
use crate::model::{Group, Membership, ObjectKind, Tenant, User};
use crate::ops::{target, Env};
use crate::store::{Change, ChangeSet};
use crate::time::Timestamp;

/// Entra's limit on dynamic groups per tenant.
pub const MAX_DYNAMIC_GROUPS: usize = 15_000;
/// Entra's limit on `memberOf` dynamic groups per tenant.
pub const MAX_MEMBER_OF_GROUPS_PER_TENANT: usize = 500;

/// The first-party application Entra's dynamic membership processing acts as in audit records.
pub const SYSTEM_APP_ID: &str = "65d91a3d-ab74-42e6-8a2f-0add61688c74";
/// Its display name.
pub const SYSTEM_APP_NAME: &str = "Microsoft Approval Management";

/// The actor of membership changes made by a rule.
pub fn system_actor() -> Actor {
    Actor::App {
        service_principal_id: ObjectId::parse(SYSTEM_APP_ID)
            .unwrap_or(ObjectId::from_random([0; 16])),
        app_id: SYSTEM_APP_ID.into(),
        display_name: SYSTEM_APP_NAME.into(),
    }
}

/// Parses a rule into a Graph 400 naming the position on failure.
pub fn parse_rule(text: &str) -> Result<Rule, DirectoryError> {
    dynamic_rule::parse(text).map_err(|e| DirectoryError::BadRequest(e.message()))
}

/// Parses and checks a rule for group `this`: the tenant's quotas and Entra's `memberOf` limits
/// (the named groups exist and are not themselves `memberOf` groups).
pub async fn check_rule(
    env: &Env<'_>,
    tenant: &Tenant,
    text: &str,
    this: Option<ObjectId>,
) -> Result<Rule, DirectoryError> {
    let rule = parse_rule(text)?;
    if rule.subject == RuleSubject::Device {
        return Err(DirectoryError::BadRequest(Code::DynamicRuleBadValue.message(&[
            ("position", &1),
            ("detail", &"device rules are evaluated by evaluateDynamicMembership, but device groups cannot hold devices in Castellan yet; use a user rule"),
        ])));
    }
    let groups = env.store.groups(tenant.id).await?;
    let others = || {
        groups
            .iter()
            .filter(|g| Some(g.id) != this && g.is_dynamic())
    };
    let dynamic = others().count();
    if dynamic >= MAX_DYNAMIC_GROUPS {
        return Err(DirectoryError::BadRequest(Code::DynamicGroupQuota.message(
            &[
                ("count", &dynamic),
                ("what", &"dynamic groups"),
                ("max", &MAX_DYNAMIC_GROUPS),
            ],
        )));
    }
    let named = rule.member_of_groups();
    if !named.is_empty() {
        let member_of_groups = others()
            .filter(|g| {
                g.membership_rule
                    .as_deref()
                    .and_then(|r| dynamic_rule::parse(r).ok())
                    .is_some_and(|r| !r.member_of_groups().is_empty())
            })
            .count();
        if member_of_groups >= MAX_MEMBER_OF_GROUPS_PER_TENANT {
            return Err(DirectoryError::BadRequest(Code::DynamicGroupQuota.message(
                &[
                    ("count", &member_of_groups),
                    ("what", &"memberOf dynamic groups"),
                    ("max", &MAX_MEMBER_OF_GROUPS_PER_TENANT),
                ],
            )));
        }
        if let Some(this) = this {
            let named_by_member_of = others().any(|g| {
                g.membership_rule
                    .as_deref()
                    .and_then(|r| dynamic_rule::parse(r).ok())
                    .is_some_and(|r| r.member_of_groups().contains(&this))
            });
            if named_by_member_of {
                return Err(DirectoryError::BadRequest(Code::DynamicRuleMemberOf.message(&[
                    ("position", &1),
                    ("detail", &format!("group '{this}' is named by another group's memberOf rule, so it cannot become a memberOf group itself")),
                ])));
            }
        }
        for id in named {
            let Some(g) = groups.iter().find(|g| g.id == id) else {
                return Err(DirectoryError::BadRequest(
                    Code::DynamicRuleMemberOf.message(&[
                        ("position", &1),
                        (
                            "detail",
                            &format!("group '{id}' does not exist in this tenant"),
                        ),
                    ]),
                ));
            };
            let is_member_of_rule = g
                .membership_rule
                .as_deref()
                .and_then(|r| dynamic_rule::parse(r).ok())
                .is_some_and(|r| !r.member_of_groups().is_empty());
            if Some(id) == this || is_member_of_rule {
                return Err(DirectoryError::BadRequest(
                    Code::DynamicRuleMemberOf.message(&[
                        ("position", &1),
                        (
                            "detail",
                            &format!("group '{id}' is itself a memberOf dynamic group"),
                        ),
                    ]),
                ));
            }
        }
    }
    Ok(rule)
}

/// Who joins and who leaves a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// New members.
    pub joins: Vec<ObjectId>,
    /// Members that leave.
    pub leaves: Vec<ObjectId>,
}

/// The full recomputation: the users `rule` selects, given each user's direct memberships.
pub fn desired_members(
    rule: &Rule,
    users: &[User],
    member_of: &HashMap<ObjectId, Vec<ObjectId>>,
    now: Timestamp,
) -> BTreeSet<ObjectId> {
    users
        .iter()
        .filter(|u| {
            let of = member_of.get(&u.id).map(Vec::as_slice).unwrap_or_default();
            rule.matches(
                &UserFacts {
                    user: u,
                    member_of: of,
                },
                now,
            )
        })
        .map(|u| u.id)
        .collect()
}

/// The diff that makes `group`'s direct user members equal to what `rule` selects.
pub async fn diff_for_rule(
    env: &Env<'_>,
    tenant: &Tenant,
    group: ObjectId,
    rule: &Rule,
) -> Result<Diff, DirectoryError> {
    let users = env.store.users(tenant.id).await?;
    let edges = env.store.memberships(tenant.id).await?;
    let mut member_of: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    let mut current = BTreeSet::new();
    for e in &edges {
        member_of.entry(e.member_id).or_default().push(e.group_id);
        if e.group_id == group && e.member_kind == ObjectKind::User {
            current.insert(e.member_id);
        }
    }
    let want = desired_members(rule, &users, &member_of, env.now);
    Ok(Diff {
        joins: want.difference(&current).copied().collect(),
        leaves: current.difference(&want).copied().collect(),
    })
}

/// Appends a diff's edges and their audit records (by the system actor) to `set`.
pub fn push_diff(
    env: &mut Env<'_>,
    tenant: &Tenant,
    group: &Group,
    diff: &Diff,
    set: &mut ChangeSet,
) {
    for m in &diff.joins {
        push_edge(env, tenant, group.id, &group.display_name, *m, true, set);
    }
    for m in &diff.leaves {
        push_edge(env, tenant, group.id, &group.display_name, *m, false, set);
    }
}

fn push_edge(
    env: &mut Env<'_>,
    tenant: &Tenant,
    group: ObjectId,
    name: &str,
    member: ObjectId,
    add: bool,
    set: &mut ChangeSet,
) {
    let saved = std::mem::replace(&mut env.actor, system_actor());
    let (activity, op) = if add {
        ("Add member to group", "Assign")
    } else {
        ("Remove member from group", "Unassign")
    };
    let audit = env.audit(
        tenant,
        "GroupManagement",
        activity,
        op,
        vec![
            target(group, "Group", Some(name), None, vec![]),
            target(member, "User", None, None, vec![]),
        ],
    );
    env.actor = saved;
    let change = if add {
        Change::AddMember(
            tenant.id,
            Membership {
                group_id: group,
                member_id: member,
                member_kind: ObjectKind::User,
            },
        )
    } else {
        Change::RemoveMember(tenant.id, group, member)
    };
    set.push(change).audit(audit);
}

/// Re-evaluates, for one user, the On rules that read a property in `changed` (`None`: a new
/// user, every rule), then the `memberOf` rules naming a group whose membership of this user
/// changed (or that `extra_groups_changed` names: a hand-made membership change). Appends the
/// edges and audit records to `set`.
pub async fn reconcile_user(
    env: &mut Env<'_>,
    tenant: &Tenant,
    user: &User,
    changed: Option<&BTreeSet<String>>,
    extra_groups_changed: &[ObjectId],
    set: &mut ChangeSet,
) -> Result<(), DirectoryError> {
    let groups = env.store.groups(tenant.id).await?;
    let mut rules: Vec<(&Group, Rule)> = groups
        .iter()
        .filter(|g| g.rule_is_on())
        .filter_map(|g| {
            let r = dynamic_rule::parse(g.membership_rule.as_deref()?).ok()?;
            (r.subject == RuleSubject::User).then_some((g, r))
        })
        .collect();
    if rules.is_empty() {
        return Ok(());
    }
    let mut of: BTreeSet<ObjectId> = if changed.is_none() {
        BTreeSet::new()
    } else {
        env.store
            .direct_member_of(tenant.id, user.id)
            .await?
            .into_iter()
            .collect()
    };
    // Edges already in `set` (e.g. a hand-made change being committed with this one).
    for c in &set.changes {
        match c {
            Change::AddMember(_, m) if m.member_id == user.id => {
                of.insert(m.group_id);
            }
            Change::RemoveMember(_, g, m) if *m == user.id => {
                of.remove(g);
            }
            _ => {}
        }
    }
    let mut touched: BTreeSet<ObjectId> = extra_groups_changed.iter().copied().collect();
    rules.sort_by_key(|(_, r)| !r.member_of_groups().is_empty());
    for (g, rule) in &rules {
        let named = rule.member_of_groups();
        let relevant = match changed {
            None => true,
            Some(c) if named.is_empty() => rule.reads().iter().any(|p| c.contains(p)),
            Some(_) => named.iter().any(|n| touched.contains(n)),
        };
        if !relevant {
            continue;
        }
        let of_vec: Vec<ObjectId> = of.iter().copied().collect();
        let should = rule.matches(
            &UserFacts {
                user,
                member_of: &of_vec,
            },
            env.now,
        );
        let is = of.contains(&g.id);
        if should != is {
            push_edge(env, tenant, g.id, &g.display_name, user.id, should, set);
            if should {
                of.insert(g.id);
            } else {
                of.remove(&g.id);
            }
            touched.insert(g.id);
        }
    }
    Ok(())
}

/// The rule properties a user PATCH touched, from the Graph names in the body.
pub fn changed_properties(graph_names: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in graph_names {
        let canon = match *n {
            "officeLocation" => "physicalDeliveryOfficeName",
            "manager" => "manager",
            other => other,
        };
        out.insert(canon.to_string());
        if *n == "mail" {
            out.insert("proxyAddresses".into());
        }
    }
    out
}

/// After a diff of `group`, the `memberOf` rules naming `group` follow for each user that
/// joined or left (in the same commit).
pub async fn follow_diff(
    env: &mut Env<'_>,
    tenant: &Tenant,
    group: ObjectId,
    diff: &Diff,
    set: &mut ChangeSet,
) -> Result<(), DirectoryError> {
    let groups = env.store.groups(tenant.id).await?;
    let named = groups.iter().filter(|g| g.rule_is_on()).any(|g| {
        g.membership_rule
            .as_deref()
            .and_then(|r| dynamic_rule::parse(r).ok())
            .is_some_and(|r| r.member_of_groups().contains(&group))
    });
    if !named {
        return Ok(());
    }
    let nothing = BTreeSet::new();
    for m in diff.joins.iter().chain(&diff.leaves) {
        if let Some(u) = env.store.user(tenant.id, *m).await? {
            reconcile_user(env, tenant, &u, Some(&nothing), &[group], set).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod property_tests {
    //! Incremental evaluation equals full recomputation, over seeded random sequences of rule
    //! edits, pauses, resumes, attribute PATCHes and hand-made memberships (memory store).
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::audit::AuditRecord;
    use crate::ops::groups::{self, GroupInput};
    use crate::ops::testing::{env, store_with_tenant, Seeded};
    use crate::ops::users::{self, UserInput};
    use crate::ops::Field;
    use crate::store::memory::{block_on, MemoryStore};
    use crate::store::prelude::*;
    use crate::store::AuditQuery;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    const DEPTS: &[&str] = &["Sales", "Marketing", "Eng"];
    const TITLES: &[&str] = &["SDE", "PM", "Lead"];

    fn rules(assigned: ObjectId, first_dynamic: Option<ObjectId>) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "user.department -eq \"Sales\"".into(),
            "user.department -in [\"Sales\", \"Eng\"] -and -not (user.jobTitle -startsWith \"S\")"
                .into(),
            "user.jobTitle -eq \"Lead\" -or user.department -eq \"marketing\"".into(),
            "user.otherMails -any (_ -endsWith \"@partner.test\")".into(),
            "user.jobTitle -match \"^(PM|Lead)$\"".into(),
            format!("user.memberOf -any (group.objectId -in ['{assigned}'])"),
        ];
        if let Some(d) = first_dynamic {
            v.push(format!("user.memberOf -any (group.objectId -in ['{d}'])"));
        }
        v
    }

    fn check_consistent(store: &MemoryStore, t: &Tenant, step: usize) {
        let users = block_on(store.users(t.id)).unwrap();
        let edges = block_on(store.memberships(t.id)).unwrap();
        let mut member_of: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
        for e in &edges {
            member_of.entry(e.member_id).or_default().push(e.group_id);
        }
        for g in block_on(store.groups(t.id)).unwrap() {
            if !g.rule_is_on() {
                continue;
            }
            let rule = parse_rule(g.membership_rule.as_deref().unwrap()).unwrap();
            let want = desired_members(&rule, &users, &member_of, crate::ops::testing::NOW);
            let have: BTreeSet<ObjectId> = edges
                .iter()
                .filter(|e| e.group_id == g.id)
                .map(|e| e.member_id)
                .collect();
            assert_eq!(
                have, want,
                "step {step}: group '{}' ({})",
                g.display_name, rule.text
            );
        }
    }

    #[test]
    fn incremental_equals_full_recomputation() {
        for seed in 1..=12u64 {
            let (store, t) = store_with_tenant(seed);
            let mut entropy = Seeded(seed * 7919);
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut e = env(&store, &mut entropy);
            let mut user_ids = Vec::new();
            for i in 0..10 {
                let u = block_on(users::create(
                    &mut e,
                    &t,
                    UserInput {
                        display_name: Field::Value(format!("U{i}")),
                        user_principal_name: Field::Value(format!("u{i}@{}", t.initial_domain())),
                        account_enabled: Field::Value(true),
                        password: Field::Value("Test-Passw0rd!".into()),
                        department: Field::Value(DEPTS[rng.next(3)].into()),
                        job_title: Field::Value(TITLES[rng.next(3)].into()),
                        ..UserInput::default()
                    },
                ))
                .unwrap();
                user_ids.push(u.id);
            }
            let assigned = block_on(groups::create(
                &mut e,
                &t,
                GroupInput {
                    display_name: Field::Value("Assigned".into()),
                    mail_enabled: Field::Value(false),
                    security_enabled: Field::Value(true),
                    mail_nickname: Field::Value("assigned".into()),
                    ..GroupInput::default()
                },
            ))
            .unwrap();
            let mut dynamic: Vec<ObjectId> = Vec::new();
            for step in 0..40 {
                let pool = rules(assigned.id, dynamic.first().copied());
                let u = user_ids[rng.next(user_ids.len())];
                let r = match rng.next(6) {
                    0 if dynamic.len() < 5 => {
                        let n = dynamic.len();
                        let g = block_on(groups::create(
                            &mut e,
                            &t,
                            GroupInput {
                                display_name: Field::Value(format!("D{n}")),
                                mail_enabled: Field::Value(false),
                                security_enabled: Field::Value(true),
                                mail_nickname: Field::Value(format!("d{n}")),
                                group_types: Field::Value(vec!["DynamicMembership".into()]),
                                membership_rule: Field::Value(pool[rng.next(pool.len())].clone()),
                                ..GroupInput::default()
                            },
                        ));
                        g.map(|g| dynamic.push(g.id))
                    }
                    1 if !dynamic.is_empty() => {
                        let g = dynamic[rng.next(dynamic.len())];
                        block_on(groups::update(
                            &mut e,
                            &t,
                            &g.to_string(),
                            GroupInput {
                                membership_rule: Field::Value(pool[rng.next(pool.len())].clone()),
                                ..GroupInput::default()
                            },
                        ))
                        .map(|_| ())
                    }
                    2 if !dynamic.is_empty() => {
                        let g = dynamic[rng.next(dynamic.len())];
                        let s = if rng.next(2) == 0 { "Paused" } else { "On" };
                        block_on(groups::update(
                            &mut e,
                            &t,
                            &g.to_string(),
                            GroupInput {
                                membership_rule_processing_state: Field::Value(s.into()),
                                ..GroupInput::default()
                            },
                        ))
                        .map(|_| ())
                    }
                    3 => {
                        let input = match rng.next(3) {
                            0 => UserInput {
                                department: Field::Value(DEPTS[rng.next(3)].into()),
                                ..UserInput::default()
                            },
                            1 => UserInput {
                                job_title: Field::Value(TITLES[rng.next(3)].into()),
                                ..UserInput::default()
                            },
                            _ => UserInput {
                                other_mails: Field::Value(if rng.next(2) == 0 {
                                    vec!["x@partner.test".into()]
                                } else {
                                    vec![]
                                }),
                                ..UserInput::default()
                            },
                        };
                        block_on(users::update(&mut e, &t, &u.to_string(), input)).map(|_| ())
                    }
                    4 => block_on(groups::add_member(&mut e, &t, &assigned.id.to_string(), u)),
                    _ => block_on(groups::remove_member(
                        &mut e,
                        &t,
                        &assigned.id.to_string(),
                        u,
                    )),
                };
                // Refusals (duplicate edge, memberOf limits, absent edge) must change nothing;
                // either way, the stored edges equal the full recomputation.
                let _ = r;
                check_consistent(&store, &t, step);
            }
            assert!(!dynamic.is_empty(), "seed {seed} made dynamic groups");
        }
    }

    #[test]
    fn rule_made_changes_are_audited_by_the_system_actor() {
        let (store, t) = store_with_tenant(3);
        let mut entropy = Seeded(5);
        let mut e = env(&store, &mut entropy);
        let g = block_on(groups::create(
            &mut e,
            &t,
            GroupInput {
                display_name: Field::Value("Sales".into()),
                mail_enabled: Field::Value(false),
                security_enabled: Field::Value(true),
                mail_nickname: Field::Value("sales".into()),
                group_types: Field::Value(vec!["DynamicMembership".into()]),
                membership_rule: Field::Value("user.department -eq \"Sales\"".into()),
                ..GroupInput::default()
            },
        ))
        .unwrap();
        let u = block_on(users::create(
            &mut e,
            &t,
            UserInput {
                display_name: Field::Value("A".into()),
                user_principal_name: Field::Value(format!("a@{}", t.initial_domain())),
                account_enabled: Field::Value(true),
                password: Field::Value("Test-Passw0rd!".into()),
                department: Field::Value("sales".into()),
                ..UserInput::default()
            },
        ))
        .unwrap();
        assert_eq!(
            block_on(store.direct_member_of(t.id, u.id)).unwrap(),
            vec![g.id]
        );
        let records: Vec<AuditRecord> =
            block_on(store.audit_records(t.id, &AuditQuery::default())).unwrap();
        let add = records
            .iter()
            .find(|r| r.activity == "Add member to group")
            .unwrap();
        assert_eq!(
            add.actor,
            system_actor(),
            "the rule's change is the system's"
        );
        assert!(add.targets.iter().any(|x| x.id == u.id.to_string()));
        let creator = records.iter().find(|r| r.activity == "Add user").unwrap();
        assert_eq!(
            creator.actor,
            Actor::Operator,
            "the PATCH itself stays the caller's"
        );
    }
}
