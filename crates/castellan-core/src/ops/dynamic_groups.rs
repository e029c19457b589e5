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
