//! Licence use cases: the operator sets a subscription's prepaid units (which sets the tenant's
//! tier in the same change set); `assignLicense` on users and groups; the reads that compute
//! what each user holds (`licenses::LicenseView`) from assignments and current memberships.

use std::collections::HashSet;

use crate::error::DirectoryError;
use crate::licenses::{
    effective_subscriptions, sku_by_id, tier_of, AssignmentState, LicenseAssignment, LicenseView,
    Sku, Subscription,
};
use crate::model::{Group, Tenant, User};
use crate::ops::{modified, target, Env};
use crate::store::{Change, ChangeSet, Store};

/// A tenant's subscriptions and the computed view of who holds what.
pub struct Licensing {
    /// The effective subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// The stored assignments.
    pub assignments: Vec<LicenseAssignment>,
    /// Who holds what.
    pub view: LicenseView,
}

/// Loads a tenant's licensing.
pub async fn load(store: &dyn Store, tenant: &Tenant) -> Result<Licensing, DirectoryError> {
    let subscriptions = effective_subscriptions(
        tenant.id,
        tenant.license,
        store.subscriptions(tenant.id).await?,
    );
    let assignments = store.license_assignments(tenant.id).await?;
    let (users, groups, edges) = if assignments.is_empty() {
        (HashSet::new(), HashSet::new(), Vec::new())
    } else {
        (
            store
                .users(tenant.id)
                .await?
                .into_iter()
                .map(|u| u.id)
                .collect(),
            store
                .groups(tenant.id)
                .await?
                .into_iter()
                .map(|g| g.id)
                .collect(),
            store.memberships(tenant.id).await?,
        )
    };
    let view = LicenseView::compute(&subscriptions, &assignments, &edges, &users, &groups);
    Ok(Licensing {
        subscriptions,
        assignments,
        view,
    })
}

/// The operator sets a subscription's prepaid units. The tenant's tier follows in the same
/// change set; assignments are kept (beyond the new count they are in error, nothing is
/// locked out).
pub async fn set_units(
    env: &mut Env<'_>,
    tenant: &Tenant,
    sku: &'static Sku,
    enabled: u32,
    suspended: u32,
    warning: u32,
) -> Result<(Tenant, Subscription), DirectoryError> {
    if enabled > 1_000_000 || suspended > 1_000_000 || warning > 1_000_000 {
        return Err(DirectoryError::BadRequest(
            "prepaid units must be between 0 and 1000000.".into(),
        ));
    }
    let mut subs = effective_subscriptions(
        tenant.id,
        tenant.license,
        env.store.subscriptions(tenant.id).await?,
    );
    let sub = Subscription {
        tenant_id: tenant.id,
        sku_id: sku.id.into(),
        enabled,
        suspended,
        warning,
    };
    let old = subs.iter().find(|s| s.sku_id == sku.id).cloned();
    subs.retain(|s| s.sku_id != sku.id);
    subs.push(sub.clone());
    let mut t = tenant.clone();
    t.license = tier_of(&subs);
    let mut set = ChangeSet::new();
    for s in &subs {
        set.push(Change::PutSubscription(s.clone()));
    }
    if t.license != tenant.license {
        // Compare-and-set: a concurrent change to the tenant (a domain, a setting) is not
        // overwritten with the state loaded here; the loser retries.
        set.push(Change::ReplaceTenant(
            Box::new(tenant.clone()),
            Box::new(t.clone()),
        ));
    }
    let audit = env.audit(
        tenant,
        "DirectoryManagement",
        "Update subscription",
        "Update",
        vec![target(
            tenant.id,
            "Company",
            Some(&tenant.display_name),
            None,
            vec![
                modified(
                    &format!("{}.prepaidUnits.enabled", sku.part_number),
                    old.map(|o| o.enabled.to_string()),
                    Some(enabled.to_string()),
                ),
                modified(
                    "licenseTier",
                    Some(tenant.license.as_str().into()),
                    Some(t.license.as_str().into()),
                ),
            ],
        )],
    );
    set.audit(audit);
    env.store.commit(set).await?;
    Ok((t, sub))
}

/// One licence to add: `skuId` and its `disabledPlans`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddLicense {
    /// `skuId`.
    pub sku_id: String,
    /// `disabledPlans`.
    pub disabled_plans: Vec<String>,
}

/// Checks an `assignLicense` body against the tenant's subscriptions: known SKUs the tenant
/// subscribes to, plans of that SKU, nothing twice, nothing both added and removed.
fn check_body(
    l: &Licensing,
    add: &[AddLicense],
    remove: &[String],
) -> Result<Vec<(&'static Sku, Vec<String>)>, DirectoryError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for a in add {
        let sku = sku_by_id(&a.sku_id)
            .filter(|s| l.subscriptions.iter().any(|x| x.sku_id == s.id))
            .ok_or_else(|| {
                DirectoryError::BadRequest(format!(
                    "License {} does not correspond to a valid company License.",
                    a.sku_id
                ))
            })?;
        if !seen.insert(sku.id) {
            return Err(DirectoryError::BadRequest(format!(
                "License {} ({}) appears more than once in addLicenses.",
                sku.id, sku.part_number
            )));
        }
        let mut plans = Vec::new();
        for p in &a.disabled_plans {
            let plan = sku
                .plans
                .iter()
                .find(|x| x.id.eq_ignore_ascii_case(p.trim()))
                .ok_or_else(|| {
                    DirectoryError::BadRequest(format!(
                        "disabledPlans: service plan '{p}' is not part of license {} ({}); its plans are {}.",
                        sku.id,
                        sku.part_number,
                        sku.plans.iter().map(|x| format!("{} ({})", x.id, x.name)).collect::<Vec<_>>().join(", ")
                    ))
                })?;
            if !plans.contains(&plan.id.to_string()) {
                plans.push(plan.id.to_string());
            }
        }
        out.push((sku, plans));
    }
    for r in remove {
        if seen.contains(r.to_ascii_lowercase().as_str()) {
            return Err(DirectoryError::BadRequest(format!(
                "License {r} is in both addLicenses and removeLicenses."
            )));
        }
    }
    Ok(out)
}

/// `POST /users/{id}/assignLicense`. A user needs a `usageLocation` before a licence is added;
/// a new assignment of a SKU with no free unit is refused (naming the SKU and the counts); a
/// licence inherited from a group cannot be removed from the user directly.
pub async fn assign_to_user(
    env: &mut Env<'_>,
    tenant: &Tenant,
    key: &str,
    add: &[AddLicense],
    remove: &[String],
) -> Result<User, DirectoryError> {
    let user = super::users::find(env, tenant, key).await?;
    let l = load(env.store, tenant).await?;
    let adds = check_body(&l, add, remove)?;
    if !adds.is_empty() && user.usage_location.is_none() {
        return Err(DirectoryError::BadRequest(
            "License assignment cannot be done for user with invalid usage location.".into(),
        ));
    }
    let mut set = ChangeSet::new();
    let mut names = Vec::new();
    for (sku, plans) in adds {
        let existing = l
            .assignments
            .iter()
            .find(|a| a.principal_id == user.id && a.sku_id == sku.id);
        let in_force = l
            .view
            .states(user.id)
            .iter()
            .any(|s| s.sku_id == sku.id && s.state == AssignmentState::Active);
        if !in_force {
            let cap = l
                .subscriptions
                .iter()
                .find(|s| s.sku_id == sku.id)
                .map_or(0, Subscription::capacity);
            let consumed = l.view.consumed.get(sku.id).copied().unwrap_or(0);
            let assigned = l.view.assigned.get(sku.id).copied().unwrap_or(0);
            if consumed >= cap {
                return Err(DirectoryError::BadRequest(format!(
                    "License assignment failed because there are no available licenses of {} ({}): the tenant has {cap} prepaid units and {assigned} assigned. Free a unit or raise the prepaid units (castellan tenant license set --sku {} --units N).",
                    sku.part_number, sku.id, sku.short
                )));
            }
        }
        set.push(Change::PutLicenseAssignment(LicenseAssignment {
            tenant_id: tenant.id,
            principal_id: user.id,
            sku_id: sku.id.into(),
            disabled_plans: plans,
            assigned: existing.map_or(env.now, |a| a.assigned),
        }));
        names.push(format!("+{}", sku.part_number));
    }
    for r in remove {
        let sku = r.trim().to_ascii_lowercase();
        let direct = l
            .assignments
            .iter()
            .any(|a| a.principal_id == user.id && a.sku_id == sku);
        if !direct {
            return Err(DirectoryError::BadRequest(if l.view.holds(user.id, &sku) {
                format!("User license {r} is inherited from a group membership and it cannot be removed directly from the user.")
            } else {
                format!(
                    "User does not have a corresponding license: {r} is not assigned to '{}'.",
                    user.user_principal_name
                )
            }));
        }
        set.push(Change::DeleteLicenseAssignment(
            tenant.id,
            user.id,
            sku.clone(),
        ));
        names.push(format!(
            "-{}",
            sku_by_id(&sku).map_or(sku.as_str(), |s| s.part_number)
        ));
    }
    let audit = env.audit(
        tenant,
        "UserManagement",
        "Change user license",
        "Update",
        vec![target(
            user.id,
            "User",
            Some(&user.display_name),
            Some(&user.user_principal_name),
            vec![modified("AssignedLicense", None, Some(names.join(" ")))],
        )],
    );
    set.audit(audit);
    env.store.commit(set).await?;
    Ok(user)
}

/// `POST /groups/{id}/assignLicense`: the group's licences reach its direct user members
/// (computed at read time, so they follow membership); members beyond the count hold them in
/// error (`CountViolation`).
pub async fn assign_to_group(
    env: &mut Env<'_>,
    tenant: &Tenant,
    key: &str,
    add: &[AddLicense],
    remove: &[String],
) -> Result<Group, DirectoryError> {
    let group = super::groups::find(env, tenant, key).await?;
    let l = load(env.store, tenant).await?;
    let adds = check_body(&l, add, remove)?;
    let mut set = ChangeSet::new();
    let mut names = Vec::new();
    for (sku, plans) in adds {
        let existing = l
            .assignments
            .iter()
            .find(|a| a.principal_id == group.id && a.sku_id == sku.id);
        set.push(Change::PutLicenseAssignment(LicenseAssignment {
            tenant_id: tenant.id,
            principal_id: group.id,
            sku_id: sku.id.into(),
            disabled_plans: plans,
            assigned: existing.map_or(env.now, |a| a.assigned),
        }));
        names.push(format!("+{}", sku.part_number));
    }
    for r in remove {
        let sku = r.trim().to_ascii_lowercase();
        if !l
            .assignments
            .iter()
            .any(|a| a.principal_id == group.id && a.sku_id == sku)
        {
            return Err(DirectoryError::BadRequest(format!(
                "Group '{}' does not have license {r}.",
                group.display_name
            )));
        }
        set.push(Change::DeleteLicenseAssignment(
            tenant.id,
            group.id,
            sku.clone(),
        ));
        names.push(format!(
            "-{}",
            sku_by_id(&sku).map_or(sku.as_str(), |s| s.part_number)
        ));
    }
    let audit = env.audit(
        tenant,
        "GroupManagement",
        "Change group license",
        "Update",
        vec![target(
            group.id,
            "Group",
            Some(&group.display_name),
            None,
            vec![modified("AssignedLicense", None, Some(names.join(" ")))],
        )],
    );
    set.audit(audit);
    env.store.commit(set).await?;
    Ok(group)
}

/// A group's `assignedLicenses`.
pub fn group_licenses(l: &Licensing, group: &Group) -> Vec<(String, Vec<String>)> {
    l.assignments
        .iter()
        .filter(|a| a.principal_id == group.id)
        .map(|a| (a.sku_id.clone(), a.disabled_plans.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licenses::{P1, P2};
    use crate::model::LicenseTier;
    use crate::ops::testing::{env, store_with_tenant, Seeded};
    use crate::ops::Field;
    use crate::store::memory::MemoryStore;
    use crate::store::prelude::*;

    struct TestEnv {
        store: MemoryStore,
        tenant: Tenant,
        seed: std::sync::Mutex<Seeded>,
    }

    impl TestEnv {
        async fn new(tier: LicenseTier) -> Self {
            let (store, mut tenant) = store_with_tenant(31);
            tenant.license = tier;
            let mut set = ChangeSet::new();
            set.push(Change::UpdateTenant(tenant.clone()));
            store.commit(set).await.unwrap();
            Self {
                store,
                tenant,
                seed: std::sync::Mutex::new(Seeded(77)),
            }
        }
        fn env(&self) -> Env<'_> {
            let mut g = self.seed.lock().unwrap();
            g.0 += 1;
            let seeded = Box::leak(Box::new(Seeded(g.0 * 7919)));
            env(&self.store, seeded)
        }
        async fn user(&self, name: &str) -> User {
            crate::ops::users::create(
                &mut self.env(),
                &self.tenant,
                crate::ops::users::UserInput {
                    display_name: Field::Value(name.into()),
                    user_principal_name: Field::Value(format!(
                        "{name}@{}",
                        self.tenant.initial_domain()
                    )),
                    account_enabled: Field::Value(true),
                    password: Field::Value("Passw0rd!long".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
        }
        async fn group(&self, name: &str) -> Group {
            crate::ops::groups::create(
                &mut self.env(),
                &self.tenant,
                crate::ops::groups::GroupInput {
                    display_name: Field::Value(name.into()),
                    mail_enabled: Field::Value(false),
                    security_enabled: Field::Value(true),
                    mail_nickname: Field::Value(name.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
        }
        async fn audited(&self, activity: &str) -> bool {
            self.store
                .audit_records(self.tenant.id, &Default::default())
                .await
                .unwrap()
                .iter()
                .any(|a| a.activity == activity)
        }
    }

    fn add(sku: &Sku) -> Vec<AddLicense> {
        vec![AddLicense {
            sku_id: sku.id.into(),
            disabled_plans: vec![],
        }]
    }

    async fn located(t: &TestEnv, name: &str) -> User {
        let u = t.user(name).await;
        let mut e = t.env();
        crate::ops::users::update(
            &mut e,
            &t.tenant,
            &u.id.to_string(),
            crate::ops::users::UserInput {
                usage_location: Field::Value("us".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    #[test]
    fn a_user_without_usage_location_is_refused_and_nothing_changes() {
        crate::store::memory::block_on(async {
            let t = TestEnv::new(LicenseTier::P2).await;
            let u = t.user("ann").await;
            let err = assign_to_user(&mut t.env(), &t.tenant, &u.id.to_string(), &add(&P2), &[])
                .await
                .unwrap_err();
            assert!(err.to_string().contains("invalid usage location"), "{err}");
            assert!(t
                .store
                .license_assignments(t.tenant.id)
                .await
                .unwrap()
                .is_empty());
            // Positive control: with a usage location the same call succeeds, audited.
            let u = located(&t, "bob").await;
            assign_to_user(&mut t.env(), &t.tenant, &u.id.to_string(), &add(&P2), &[])
                .await
                .unwrap();
            let l = load(&t.store, &t.tenant).await.unwrap();
            assert_eq!(l.view.assigned_licenses(u.id)[0].0, P2.id);
            assert!(t.audited("Change user license").await);
        });
    }

    #[test]
    fn unknown_skus_foreign_plans_and_absent_removals_are_refused() {
        crate::store::memory::block_on(async {
            let t = TestEnv::new(LicenseTier::P1).await;
            let u = located(&t, "ann").await;
            let id = u.id.to_string();
            // P2 is not subscribed by a P1 tenant.
            let e = assign_to_user(&mut t.env(), &t.tenant, &id, &add(&P2), &[]).await;
            assert!(e.unwrap_err().to_string().contains("valid company License"));
            let bad_plan = vec![AddLicense {
                sku_id: P1.id.into(),
                disabled_plans: vec!["eec0eb4f-6444-4f95-aba0-50c24d67f998".into()],
            }];
            let e = assign_to_user(&mut t.env(), &t.tenant, &id, &bad_plan, &[]).await;
            assert!(e.unwrap_err().to_string().contains("not part of license"));
            let e = assign_to_user(&mut t.env(), &t.tenant, &id, &[], &[P1.id.into()]).await;
            assert!(e.unwrap_err().to_string().contains("does not have"));
            assert!(t
                .store
                .license_assignments(t.tenant.id)
                .await
                .unwrap()
                .is_empty());
        });
    }

    #[test]
    fn group_licences_follow_membership_and_over_limit_refuses_new_direct_ones() {
        crate::store::memory::block_on(async {
            let t = TestEnv::new(LicenseTier::P2).await;
            let (a, b, c) = (
                located(&t, "a").await,
                located(&t, "b").await,
                located(&t, "c").await,
            );
            set_units(&mut t.env(), &t.tenant, &P2, 1, 0, 0)
                .await
                .unwrap();
            let g = t.group("licensed").await;
            for u in [&a, &b] {
                crate::ops::groups::add_member(&mut t.env(), &t.tenant, &g.id.to_string(), u.id)
                    .await
                    .unwrap();
            }
            assign_to_group(&mut t.env(), &t.tenant, &g.id.to_string(), &add(&P2), &[])
                .await
                .unwrap();
            let l = load(&t.store, &t.tenant).await.unwrap();
            let errors = [a.id, b.id]
                .iter()
                .filter(|u| l.view.states(**u)[0].error == Some("CountViolation"))
                .count();
            assert_eq!(errors, 1);
            assert_eq!(l.view.states(a.id)[0].assigned_by_group, Some(g.id));
            // Over the limit: a new direct assignment is refused, naming the SKU and the counts.
            let e = assign_to_user(&mut t.env(), &t.tenant, &c.id.to_string(), &add(&P2), &[])
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("AAD_PREMIUM_P2") && e.contains("1 prepaid units and 2 assigned"),
                "{e}"
            );
            // Removing a member takes the inherited licence away.
            crate::ops::groups::remove_member(&mut t.env(), &t.tenant, &g.id.to_string(), b.id)
                .await
                .unwrap();
            let l = load(&t.store, &t.tenant).await.unwrap();
            assert!(l.view.states(b.id).is_empty());
            assert_eq!(l.view.states(a.id)[0].state, AssignmentState::Active);
            // Inherited licences cannot be removed from the user.
            let e = assign_to_user(
                &mut t.env(),
                &t.tenant,
                &a.id.to_string(),
                &[],
                &[P2.id.into()],
            )
            .await
            .unwrap_err();
            assert!(e.to_string().contains("inherited from a group"));
        });
    }

    #[test]
    fn dynamic_groups_need_p1_and_the_refusal_names_the_sku() {
        crate::store::memory::block_on(async {
            let t = TestEnv::new(LicenseTier::Free).await;
            let input = crate::ops::groups::GroupInput {
                display_name: Field::Value("dyn".into()),
                mail_enabled: Field::Value(false),
                security_enabled: Field::Value(true),
                mail_nickname: Field::Value("dyn".into()),
                group_types: Field::Value(vec!["DynamicMembership".into()]),
                membership_rule: Field::Value("user.department -eq \"Sales\"".into()),
                membership_rule_processing_state: Field::Value("On".into()),
                ..Default::default()
            };
            let e = crate::ops::groups::create(&mut t.env(), &t.tenant, input.clone())
                .await
                .unwrap_err();
            assert!(
                matches!(&e, DirectoryError::Forbidden(m) if m.contains("AAD_PREMIUM")),
                "{e:?}"
            );
            assert!(t.store.groups(t.tenant.id).await.unwrap().is_empty());
            // Positive control: P1 units allow it.
            let (p1, _) = set_units(&mut t.env(), &t.tenant, &P1, 1, 0, 0)
                .await
                .unwrap();
            crate::ops::groups::create(&mut t.env(), &p1, input)
                .await
                .unwrap();
        });
    }

    #[test]
    fn a_tier_change_over_a_stale_tenant_is_refused_and_changes_nothing() {
        crate::store::memory::block_on(async {
            let t = TestEnv::new(LicenseTier::P2).await;
            let mut renamed = t.tenant.clone();
            renamed.display_name = "Renamed meanwhile".into();
            let mut set = ChangeSet::new();
            set.push(Change::UpdateTenant(renamed.clone()));
            t.store.commit(set).await.unwrap();
            assert!(set_units(&mut t.env(), &t.tenant, &P2, 0, 0, 0)
                .await
                .is_err());
            let now = t.store.tenant(t.tenant.id).await.unwrap().unwrap();
            assert_eq!(
                now, renamed,
                "the concurrent change is kept, the tier untouched"
            );
            assert!(t.store.subscriptions(t.tenant.id).await.unwrap().is_empty());
            // Positive control: over the current state it goes through.
            let (done, _) = set_units(&mut t.env(), &now, &P2, 0, 0, 0).await.unwrap();
            assert_eq!(done.license, LicenseTier::Free);
            assert_eq!(done.display_name, "Renamed meanwhile");
        });
    }

    #[test]
    fn setting_units_sets_the_tier_and_a_free_tenant_is_refused_ca_naming_the_sku() {
        crate::store::memory::block_on(async {
            let t = TestEnv::new(LicenseTier::P2).await;
            let (t2, _) = set_units(&mut t.env(), &t.tenant, &P2, 0, 0, 0)
                .await
                .unwrap();
            assert_eq!(t2.license, LicenseTier::Free);
            let stored = t.store.tenant(t.tenant.id).await.unwrap().unwrap();
            assert_eq!(stored.license, LicenseTier::Free);
            let e =
                crate::licenses::gate(crate::licenses::Feature::ConditionalAccess, stored.license)
                    .unwrap_err();
            assert!(e.contains("AAD_PREMIUM"));
            let (t3, _) = set_units(&mut t.env(), &stored, &P1, 5, 0, 0)
                .await
                .unwrap();
            assert_eq!(t3.license, LicenseTier::P1);
            assert!(
                crate::licenses::gate(crate::licenses::Feature::ConditionalAccess, t3.license)
                    .is_ok()
            );
            let subs = t.store.subscriptions(t.tenant.id).await.unwrap();
            assert_eq!(subs.len(), 2);
            assert!(t.audited("Update subscription").await);
        });
    }
}
