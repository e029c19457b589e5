//! Groups: create, update, delete, members (with nesting and cycle refusal), owners.

use crate::error::{Code, DirectoryError};
use crate::ids::ObjectId;
use crate::model::{
    validate_mail_nickname, Group, Membership, MembershipGraph, ObjectKind, RuleProcessingState,
    Tenant,
};
use crate::ops::{dynamic_groups, modified, not_found, required, target, Env, Field};
use crate::store::{Change, ChangeSet, Store, StoreError, UniqueRule};

/// The settable properties of a group.
#[derive(Clone, Debug, Default)]
pub struct GroupInput {
    /// displayName
    pub display_name: Field<String>,
    /// description
    pub description: Field<String>,
    /// groupTypes
    pub group_types: Field<Vec<String>>,
    /// mailEnabled
    pub mail_enabled: Field<bool>,
    /// securityEnabled
    pub security_enabled: Field<bool>,
    /// mailNickname
    pub mail_nickname: Field<String>,
    /// isAssignableToRole (creation only)
    pub is_assignable_to_role: Field<bool>,
    /// membershipRule (dynamic groups)
    pub membership_rule: Field<String>,
    /// membershipRuleProcessingState (dynamic groups): On or Paused
    pub membership_rule_processing_state: Field<String>,
}

fn is_unified(types: &[String]) -> bool {
    types.iter().any(|t| t.eq_ignore_ascii_case("Unified"))
}

fn is_dynamic(types: &[String]) -> bool {
    types
        .iter()
        .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
}

fn needs_dynamic(property: &str, detail: &str) -> DirectoryError {
    DirectoryError::BadRequest(
        Code::DynamicRuleNeedsDynamicGroup.message(&[("property", &property), ("detail", &detail)]),
    )
}

fn parse_state(f: &Field<String>) -> Result<Option<RuleProcessingState>, DirectoryError> {
    match f {
        Field::Absent => Ok(None),
        Field::Null => Err(DirectoryError::BadRequest(
            Code::DynamicRuleBadProcessingState.message(&[("value", &"null")]),
        )),
        Field::Value(v) => RuleProcessingState::parse(v).map(Some).ok_or_else(|| {
            DirectoryError::BadRequest(Code::DynamicRuleBadProcessingState.message(&[("value", v)]))
        }),
    }
}

fn read_only_members(g: &Group) -> DirectoryError {
    DirectoryError::BadRequest(
        Code::DynamicMembersReadOnly.message(&[("name", &g.display_name), ("id", &g.id)]),
    )
}

fn check_types(
    types: &[String],
    mail_enabled: bool,
    security_enabled: bool,
) -> Result<(), DirectoryError> {
    if let Some(t) = types.iter().find(|t| {
        !t.eq_ignore_ascii_case("Unified") && !t.eq_ignore_ascii_case("DynamicMembership")
    }) {
        return Err(DirectoryError::BadRequest(format!(
            "groupTypes value '{t}' is not supported. Use [\"Unified\"] for a Microsoft 365 group, [] for a security group, and add \"DynamicMembership\" for a dynamic group."
        )));
    }
    if is_unified(types) && !mail_enabled {
        return Err(DirectoryError::BadRequest(
            "A Microsoft 365 group (groupTypes [\"Unified\"]) must have mailEnabled true.".into(),
        ));
    }
    if !is_unified(types) && mail_enabled {
        return Err(DirectoryError::BadRequest("Mail-enabled security groups cannot be created through Graph: set mailEnabled false, or groupTypes [\"Unified\"] for a Microsoft 365 group.".into()));
    }
    if !is_unified(types) && !security_enabled {
        return Err(DirectoryError::BadRequest(
            "A group that is not a Microsoft 365 group must have securityEnabled true.".into(),
        ));
    }
    Ok(())
}

/// Creates a group.
pub async fn create(
    env: &mut Env<'_>,
    tenant: &Tenant,
    input: GroupInput,
) -> Result<Group, DirectoryError> {
    let display_name = required(&input.display_name, "displayName")?;
    if display_name.trim().is_empty() || display_name.chars().count() > 256 {
        return Err(DirectoryError::BadRequest(
            "Property 'displayName' must be 1 to 256 characters.".into(),
        ));
    }
    let mail_enabled = required(&input.mail_enabled, "mailEnabled")?;
    let security_enabled = required(&input.security_enabled, "securityEnabled")?;
    let mail_nickname = required(&input.mail_nickname, "mailNickname")?;
    validate_mail_nickname(&mail_nickname).map_err(DirectoryError::BadRequest)?;
    let group_types = input.group_types.value().cloned().unwrap_or_default();
    check_types(&group_types, mail_enabled, security_enabled)?;
    let is_assignable_to_role = input
        .is_assignable_to_role
        .value()
        .copied()
        .unwrap_or(false);
    if is_assignable_to_role && !security_enabled {
        return Err(DirectoryError::BadRequest(
            "A role-assignable group (isAssignableToRole true) must have securityEnabled true."
                .into(),
        ));
    }
    let dynamic = is_dynamic(&group_types);
    if dynamic {
        crate::licenses::gate(crate::licenses::Feature::DynamicGroups, tenant.license)
            .map_err(DirectoryError::Forbidden)?;
    }
    let state = parse_state(&input.membership_rule_processing_state)?;
    let (rule_text, rule, state) = if dynamic {
        let Some(text) = input.membership_rule.value().cloned() else {
            return Err(needs_dynamic(
                "membershipRule",
                "is required for a group whose groupTypes holds DynamicMembership",
            ));
        };
        if is_assignable_to_role {
            return Err(DirectoryError::BadRequest("A role-assignable group (isAssignableToRole true) cannot be a dynamic group: its members must be assigned.".into()));
        }
        let rule = dynamic_groups::check_rule(env, tenant, &text, None).await?;
        (
            Some(text),
            Some(rule),
            Some(state.unwrap_or(RuleProcessingState::On)),
        )
    } else {
        if input.membership_rule.is_present() {
            return Err(needs_dynamic(
                "membershipRule",
                "is set, but groupTypes does not hold DynamicMembership",
            ));
        }
        if state.is_some() {
            return Err(needs_dynamic(
                "membershipRuleProcessingState",
                "is set, but groupTypes does not hold DynamicMembership",
            ));
        }
        (None, None, None)
    };
    let g = Group {
        id: env.new_id(),
        tenant_id: tenant.id,
        display_name,
        description: input.description.value().cloned(),
        group_types,
        mail_enabled,
        security_enabled,
        mail_nickname,
        is_assignable_to_role,
        created: env.now,
        membership_rule: rule_text,
        membership_rule_processing_state: state,
    };
    let audit = env.audit(
        tenant,
        "GroupManagement",
        "Add group",
        "Add",
        vec![target(g.id, "Group", Some(&g.display_name), None, vec![])],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertGroup(g.clone())).audit(audit);
    if let (Some(rule), true) = (&rule, g.rule_is_on()) {
        let diff = dynamic_groups::diff_for_rule(env, tenant, g.id, rule).await?;
        dynamic_groups::push_diff(env, tenant, &g, &diff, &mut set);
        dynamic_groups::follow_diff(env, tenant, g.id, &diff, &mut set).await?;
    }
    env.store.commit(set).await?;
    Ok(g)
}

/// `evaluateDynamicMembership`: whether `member` (a user or device) satisfies `rule`, or the
/// rule of `group` when no rule is given, with the sub-expressions that decided. Returns the
/// rule's text and the explanation.
pub async fn evaluate(
    env: &Env<'_>,
    tenant: &Tenant,
    group: Option<&str>,
    member: &str,
    rule: Option<&str>,
) -> Result<(String, crate::dynamic_rule::Explanation), DirectoryError> {
    use crate::dynamic_rule::{DeviceFacts, RuleSubject, UserFacts};
    let text = match (rule, group) {
        (Some(r), _) => r.to_string(),
        (None, Some(id)) => {
            let g = find(env, tenant, id).await?;
            match (&g.membership_rule, g.is_dynamic()) {
                (Some(r), true) => r.clone(),
                _ => {
                    return Err(needs_dynamic(
                        "membershipRule",
                        "is needed to evaluate membership, and this group is assigned",
                    ))
                }
            }
        }
        (None, None) => {
            return Err(DirectoryError::BadRequest(
                "Property 'membershipRule' is required when no group is named: POST /groups/evaluateDynamicMembership {\"memberId\": \"...\", \"membershipRule\": \"...\"}.".into(),
            ))
        }
    };
    let parsed = dynamic_groups::parse_rule(&text)?;
    let Some(mid) = ObjectId::parse(member) else {
        return Err(DirectoryError::BadRequest(format!(
            "Invalid object identifier '{member}' for memberId."
        )));
    };
    let of = env.store.direct_member_of(tenant.id, mid).await?;
    let x = if let Some(u) = env.store.user(tenant.id, mid).await? {
        if parsed.subject != RuleSubject::User {
            return Err(DirectoryError::BadRequest(format!("memberId '{mid}' is a user, but the rule reads device properties: evaluate a device, or write a user rule.")));
        }
        parsed.explain(
            &UserFacts {
                user: &u,
                member_of: &of,
            },
            env.now,
        )
    } else if let Some(d) = env.store.device(tenant.id, mid).await? {
        if parsed.subject != RuleSubject::Device {
            return Err(DirectoryError::BadRequest(format!("memberId '{mid}' is a device, but the rule reads user properties: evaluate a user, or write a device rule.")));
        }
        parsed.explain(
            &DeviceFacts {
                device: &d,
                member_of: &of,
            },
            env.now,
        )
    } else {
        return Err(not_found(mid));
    };
    Ok((text, x))
}

/// Who would join and who would leave `group` under `rule` (a dry run: nothing is written).
pub async fn preview_rule(
    env: &Env<'_>,
    tenant: &Tenant,
    id: &str,
    rule: &str,
) -> Result<dynamic_groups::Diff, DirectoryError> {
    let g = find(env, tenant, id).await?;
    if !g.is_dynamic() {
        return Err(needs_dynamic(
            "membershipRule",
            "cannot be previewed on an assigned group",
        ));
    }
    let rule = dynamic_groups::check_rule(env, tenant, rule, Some(g.id)).await?;
    dynamic_groups::diff_for_rule(env, tenant, g.id, &rule).await
}

/// Loads a group.
pub async fn find(env: &Env<'_>, tenant: &Tenant, id: &str) -> Result<Group, DirectoryError> {
    let Some(oid) = ObjectId::parse(id) else {
        return Err(DirectoryError::BadRequest(format!(
            "Invalid object identifier '{id}'."
        )));
    };
    env.store
        .group(tenant.id, oid)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Applies a PATCH.
pub async fn update(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    input: GroupInput,
) -> Result<Group, DirectoryError> {
    let old = find(env, tenant, id).await?;
    if input.is_assignable_to_role.is_present() {
        return Err(DirectoryError::BadRequest(
            "isAssignableToRole can only be set when the group is created.".into(),
        ));
    }
    let mut g = old.clone();
    let mut props = Vec::new();
    if input.display_name.is_present() {
        g.display_name = required(&input.display_name, "displayName")?;
        props.push(modified(
            "displayName",
            Some(old.display_name.clone()),
            Some(g.display_name.clone()),
        ));
    }
    if input.description.apply_opt(&mut g.description) {
        props.push(modified(
            "description",
            old.description.clone(),
            g.description.clone(),
        ));
    }
    if input.mail_nickname.is_present() {
        g.mail_nickname = required(&input.mail_nickname, "mailNickname")?;
        validate_mail_nickname(&g.mail_nickname).map_err(DirectoryError::BadRequest)?;
        props.push(modified(
            "mailNickname",
            Some(old.mail_nickname.clone()),
            Some(g.mail_nickname.clone()),
        ));
    }
    if input.group_types.is_present()
        || input.mail_enabled.is_present()
        || input.security_enabled.is_present()
    {
        if input.group_types.is_present() || input.mail_enabled.is_present() {
            return Err(DirectoryError::BadRequest(
                "groupTypes and mailEnabled cannot be changed after creation.".into(),
            ));
        }
        g.security_enabled = required(&input.security_enabled, "securityEnabled")?;
        check_types(&g.group_types, g.mail_enabled, g.security_enabled)?;
        props.push(modified(
            "securityEnabled",
            Some(old.security_enabled.to_string()),
            Some(g.security_enabled.to_string()),
        ));
    }
    let mut new_rule = None;
    if input.membership_rule.is_present() || input.membership_rule_processing_state.is_present() {
        if g.is_dynamic() {
            crate::licenses::gate(crate::licenses::Feature::DynamicGroups, tenant.license)
                .map_err(DirectoryError::Forbidden)?;
        }
        if !g.is_dynamic() {
            return Err(needs_dynamic(
                "membershipRule",
                "cannot be set on an assigned group",
            ));
        }
        if input.membership_rule.is_present() {
            let Some(text) = input.membership_rule.value().cloned() else {
                return Err(needs_dynamic(
                    "membershipRule",
                    "cannot be cleared on a dynamic group",
                ));
            };
            new_rule = Some(dynamic_groups::check_rule(env, tenant, &text, Some(g.id)).await?);
            if old.membership_rule.as_deref() != Some(text.as_str()) {
                props.push(modified(
                    "membershipRule",
                    old.membership_rule.clone(),
                    Some(text.clone()),
                ));
            }
            g.membership_rule = Some(text);
        }
        if let Some(s) = parse_state(&input.membership_rule_processing_state)? {
            if old.membership_rule_processing_state != Some(s) {
                props.push(modified(
                    "membershipRuleProcessingState",
                    old.membership_rule_processing_state
                        .map(|x| x.as_str().to_string()),
                    Some(s.as_str().to_string()),
                ));
            }
            g.membership_rule_processing_state = Some(s);
        }
    }
    if props.is_empty() {
        return Ok(old);
    }
    let audit = env.audit(
        tenant,
        "GroupManagement",
        "Update group",
        "Update",
        vec![target(g.id, "Group", Some(&g.display_name), None, props)],
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGroup(g.clone())).audit(audit);
    // A rule edit, or resuming a paused rule, applies as a diff (only joins and leaves).
    let rule_changed = old.membership_rule != g.membership_rule;
    let resumed = !old.rule_is_on() && g.rule_is_on();
    if g.rule_is_on() && (rule_changed || resumed) {
        let rule = match new_rule {
            Some(r) => r,
            None => dynamic_groups::parse_rule(g.membership_rule.as_deref().unwrap_or_default())?,
        };
        let diff = dynamic_groups::diff_for_rule(env, tenant, g.id, &rule).await?;
        dynamic_groups::push_diff(env, tenant, &g, &diff, &mut set);
        dynamic_groups::follow_diff(env, tenant, g.id, &diff, &mut set).await?;
    }
    env.store.commit(set).await?;
    Ok(g)
}

/// Deletes a group (soft: into the recycle bin for 30 days, `ops::deleted_items`).
pub async fn delete(env: &mut Env<'_>, tenant: &Tenant, id: &str) -> Result<(), DirectoryError> {
    let g = find(env, tenant, id).await?;
    let audit = env.audit(
        tenant,
        "GroupManagement",
        "Delete group",
        "Delete",
        vec![target(g.id, "Group", Some(&g.display_name), None, vec![])],
    );
    let item = super::deleted_items::snapshot(
        env,
        tenant,
        crate::deleted_items::DeletedObject::Group(g.clone()),
    )
    .await?;
    let mut set = ChangeSet::new();
    set.push(Change::InsertDeletedItem(Box::new(item)))
        .push(Change::DeleteGroup(tenant.id, g.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// Adds `member` (a user, group or service principal) to a group. Nesting that would close a
/// cycle is refused, as is nesting into a Microsoft 365 group.
pub async fn add_member(
    env: &mut Env<'_>,
    tenant: &Tenant,
    group_id: &str,
    member: ObjectId,
) -> Result<(), DirectoryError> {
    let g = find(env, tenant, group_id).await?;
    if g.is_dynamic() {
        return Err(read_only_members(&g));
    }
    let kind = match env.store.object_kind(tenant.id, member).await? {
        Some(k @ (ObjectKind::User | ObjectKind::Group | ObjectKind::ServicePrincipal)) => k,
        Some(ObjectKind::Application) => {
            return Err(DirectoryError::BadRequest(format!(
                "Object '{member}' is an application; add its service principal instead."
            )))
        }
        None => return Err(not_found(member)),
    };
    if kind == ObjectKind::Group && g.is_assignable_to_role {
        return Err(DirectoryError::BadRequest(format!(
            "Role-assignable group '{}' cannot contain other groups (role assignments do not nest).",
            g.display_name
        )));
    }
    if kind == ObjectKind::Group {
        if is_unified(&g.group_types) {
            return Err(DirectoryError::BadRequest(format!(
                "Microsoft 365 group '{}' cannot contain other groups; nest security groups instead.",
                g.display_name
            )));
        }
        let graph = MembershipGraph::new(&env.store.memberships(tenant.id).await?);
        if graph.would_cycle(g.id, member) {
            return Err(DirectoryError::BadRequest(format!(
                "Adding group '{member}' to group '{}' ({}) would create a membership cycle: '{}' is already a member of '{member}', directly or through nesting.",
                g.display_name, g.id, g.id
            )));
        }
    }
    let audit = env.audit(
        tenant,
        "GroupManagement",
        "Add member to group",
        "Assign",
        vec![
            target(g.id, "Group", Some(&g.display_name), None, vec![]),
            target(member, kind_label(kind), None, None, vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::AddMember(
        tenant.id,
        Membership {
            group_id: g.id,
            member_id: member,
            member_kind: kind,
        },
    ))
    .audit(audit);
    follow_member_of(env, tenant, g.id, member, kind, &mut set).await?;
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::Conflict(c) if c.rule == UniqueRule::MembershipExists => DirectoryError::Conflict("One or more added object references already exist for the following modified properties: 'members'.".into()),
        other => other.into(),
    })
}

/// Removes a direct member.
pub async fn remove_member(
    env: &mut Env<'_>,
    tenant: &Tenant,
    group_id: &str,
    member: ObjectId,
) -> Result<(), DirectoryError> {
    let g = find(env, tenant, group_id).await?;
    if g.is_dynamic() {
        return Err(read_only_members(&g));
    }
    let audit = env.audit(
        tenant,
        "GroupManagement",
        "Remove member from group",
        "Unassign",
        vec![
            target(g.id, "Group", Some(&g.display_name), None, vec![]),
            target(member, "Other", None, None, vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::RemoveMember(tenant.id, g.id, member))
        .audit(audit);
    if let Some(kind) = env.store.object_kind(tenant.id, member).await? {
        follow_member_of(env, tenant, g.id, member, kind, &mut set).await?;
    }
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::NotFound(_) => not_found(member),
        other => other.into(),
    })
}

/// Adds an owner (a user or service principal) to a group.
pub async fn add_owner(
    env: &mut Env<'_>,
    tenant: &Tenant,
    group_id: &str,
    owner: ObjectId,
) -> Result<(), DirectoryError> {
    let g = find(env, tenant, group_id).await?;
    match env.store.object_kind(tenant.id, owner).await? {
        Some(ObjectKind::User | ObjectKind::ServicePrincipal) => {}
        Some(_) => {
            return Err(DirectoryError::BadRequest(format!(
                "Object '{owner}' cannot own a group: owners are users or service principals."
            )))
        }
        None => return Err(not_found(owner)),
    }
    if env.store.owners(tenant.id, g.id).await?.len() >= 100 {
        return Err(DirectoryError::BadRequest(
            "A group can have at most 100 owners.".into(),
        ));
    }
    let audit = env.audit(
        tenant,
        "GroupManagement",
        "Add owner to group",
        "Assign",
        vec![
            target(g.id, "Group", Some(&g.display_name), None, vec![]),
            target(owner, "Other", None, None, vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::AddOwner(tenant.id, g.id, owner))
        .audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::Conflict(c) if c.rule == UniqueRule::OwnerExists => DirectoryError::Conflict("One or more added object references already exist for the following modified properties: 'owners'.".into()),
        other => other.into(),
    })
}

/// Removes an owner.
pub async fn remove_owner(
    env: &mut Env<'_>,
    tenant: &Tenant,
    group_id: &str,
    owner: ObjectId,
) -> Result<(), DirectoryError> {
    let g = find(env, tenant, group_id).await?;
    let audit = env.audit(
        tenant,
        "GroupManagement",
        "Remove owner from group",
        "Unassign",
        vec![
            target(g.id, "Group", Some(&g.display_name), None, vec![]),
            target(owner, "Other", None, None, vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::RemoveOwner(tenant.id, g.id, owner))
        .audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::NotFound(_) => not_found(owner),
        other => other.into(),
    })
}

/// A hand-made membership change of a user in `group` re-evaluates the `memberOf` rules that
/// name `group`, for that user, in the same commit.
async fn follow_member_of(
    env: &mut Env<'_>,
    tenant: &Tenant,
    group: ObjectId,
    member: ObjectId,
    kind: ObjectKind,
    set: &mut ChangeSet,
) -> Result<(), DirectoryError> {
    if kind != ObjectKind::User {
        return Ok(());
    }
    let Some(user) = env.store.user(tenant.id, member).await? else {
        return Ok(());
    };
    let nothing = std::collections::BTreeSet::new();
    dynamic_groups::reconcile_user(env, tenant, &user, Some(&nothing), &[group], set).await
}

fn kind_label(k: ObjectKind) -> &'static str {
    match k {
        ObjectKind::User => "User",
        ObjectKind::Group => "Group",
        ObjectKind::Application => "Application",
        ObjectKind::ServicePrincipal => "ServicePrincipal",
    }
}

/// The tenant's membership edges in force at `now`: stored ones plus active PIM-for-groups
/// memberships ([`crate::pim::with_group_members`]).
pub async fn memberships_at(
    store: &dyn Store,
    t: crate::TenantId,
    now: crate::Timestamp,
) -> Result<Vec<crate::model::Membership>, StoreError> {
    let edges = store.memberships(t).await?;
    let schedules = store.group_role_schedules(t).await?;
    Ok(crate::pim::with_group_members(edges, &schedules, now))
}

/// An object's owners in force at `now`: stored ones plus, for a group, active PIM-for-groups
/// ownerships.
pub async fn owners_at(
    store: &dyn Store,
    t: crate::TenantId,
    object: ObjectId,
    now: crate::Timestamp,
) -> Result<Vec<ObjectId>, StoreError> {
    let owners = store.owners(t, object).await?;
    let schedules = store.group_role_schedules(t).await?;
    Ok(crate::pim::with_group_owners(
        owners, &schedules, object, now,
    ))
}

#[cfg(test)]
mod memory_store_tests {
    //! `create` and `add_member` against the in-memory store, fixed clock, seeded ids.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::ops::testing::{env, store_with_tenant, Seeded};
    use crate::store::memory::block_on;
    use crate::store::prelude::*;
    use crate::store::AuditQuery;

    #[test]
    fn add_member_writes_the_edge_with_its_audit_record_and_a_second_add_changes_nothing() {
        let (store, t) = store_with_tenant(2);
        let mut ids = crate::conformance::Ids::new(3);
        let u = crate::conformance::user(&mut ids, &t, "member", false);
        let mut set = ChangeSet::new();
        set.push(Change::InsertUser(u.clone()));
        block_on(store.commit(set)).unwrap();
        let mut entropy = Seeded(11);
        let mut e = env(&store, &mut entropy);
        let g = block_on(create(
            &mut e,
            &t,
            GroupInput {
                display_name: Field::Value("Readers".into()),
                mail_enabled: Field::Value(false),
                security_enabled: Field::Value(true),
                mail_nickname: Field::Value("readers".into()),
                ..GroupInput::default()
            },
        ))
        .unwrap();
        block_on(add_member(&mut e, &t, &g.id.to_string(), u.id)).unwrap();
        assert_eq!(
            block_on(store.memberships(t.id)).unwrap(),
            vec![Membership {
                group_id: g.id,
                member_id: u.id,
                member_kind: ObjectKind::User,
            }]
        );
        let activities = |s: &crate::store::memory::MemoryStore| {
            let mut v: Vec<String> = block_on(s.audit_records(t.id, &AuditQuery::default()))
                .unwrap()
                .into_iter()
                .map(|a| a.activity)
                .collect();
            v.sort();
            v
        };
        assert_eq!(activities(&store), ["Add group", "Add member to group"]);
        // Graph's answer to a duplicate reference; the store's MembershipExists, no audit.
        let err = block_on(add_member(&mut e, &t, &g.id.to_string(), u.id)).unwrap_err();
        assert_eq!(
            err,
            DirectoryError::Conflict("One or more added object references already exist for the following modified properties: 'members'.".into())
        );
        assert_eq!(activities(&store), ["Add group", "Add member to group"]);
        assert_eq!(block_on(store.memberships(t.id)).unwrap().len(), 1);
    }
}
