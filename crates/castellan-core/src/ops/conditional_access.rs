//! Conditional Access use cases: store policies and named locations (validated, licensed,
//! guarded against locking every administrator out, audited) and gather what the evaluator
//! needs to know about a user (transitive groups, directory roles).

use crate::error::DirectoryError;
use crate::ids::ObjectId;
use crate::licenses::{self, Feature};
use crate::model::{
    LicenseTier, MembershipGraph, PolicyDocument, PolicyDocumentKind, Tenant, UserType,
    GLOBAL_ADMINISTRATOR,
};
use crate::ops::{target, Env};
use crate::policy::{self, ConditionalAccessPolicy, NamedLocation, RiskLevel, UserSubject};
use crate::store::{Change, ChangeSet, Store, StoreError};

/// Azure portal's app id: what "all administrators locked out of the portal" is judged against.
pub const MANAGEMENT_APP: crate::AppId = crate::AppId::from_uuid(uuid::Uuid::from_u128(
    0xc44b4083_3bb0_49c1_b47d_974e53cbdf3c,
));

/// The user's transitive groups and tenant-wide directory roles, for the evaluator.
pub async fn user_facts(
    store: &dyn Store,
    tenant: &Tenant,
    user: ObjectId,
    now: crate::Timestamp,
) -> Result<(Vec<ObjectId>, Vec<uuid::Uuid>), StoreError> {
    let graph =
        MembershipGraph::new(&crate::ops::groups::memberships_at(store, tenant.id, now).await?);
    let groups = graph.transitive_member_of(user);
    let roles = crate::ops::directory_roles::tenant_wide_roles(store, tenant.id, user, now).await?;
    Ok((groups, roles))
}

/// Everything Conditional Access needs about `user`'s sign-in to `resource`, given the
/// tenant's loaded policies (`loaded`): the user's groups, roles and authenticator app are
/// read only when there is a policy to evaluate.
pub async fn sign_in_facts(
    store: &dyn Store,
    tenant: &Tenant,
    user: &crate::model::User,
    loaded: policy::decision::Loaded,
    resource: &str,
    now: crate::Timestamp,
) -> Result<crate::flow::signin::CaFacts, StoreError> {
    let mut facts = policy::decision::UserFacts {
        id: user.id,
        is_guest: user.user_type == UserType::Guest,
        groups: vec![],
        roles: vec![],
        mfa_registered: false,
    };
    if !loaded.set.is_empty() {
        (facts.groups, facts.roles) = user_facts(store, tenant, user.id, now).await?;
        // 50076 (challenge) vs 50079 (register first) depends on a confirmed authenticator
        // app; an unreadable list counts as none.
        facts.mfa_registered =
            crate::ops::auth_methods::has_registered_method(store, tenant, user.id)
                .await
                .unwrap_or(false);
    }
    Ok(crate::flow::signin::CaFacts {
        loaded,
        user: facts,
        resource: resource.to_string(),
    })
}

/// The licence gate of a policy: `Ok(skuPartNumber)` of the SKU that allows it (recorded in
/// the audit record), or the refusal naming the SKU it needs.
fn licensed(tenant: &Tenant, p: &ConditionalAccessPolicy) -> Result<&'static str, DirectoryError> {
    let c = &p.conditions;
    let risky = !c.sign_in_risk_levels.is_empty()
        || !c.user_risk_levels.is_empty()
        || !c.service_principal_risk_levels.is_empty();
    let feature = if risky {
        Feature::RiskBasedPolicies
    } else {
        Feature::ConditionalAccess
    };
    licenses::gate(Feature::ConditionalAccess, tenant.license)
        .and_then(|_| licenses::gate(feature, tenant.license))
        .map_err(DirectoryError::Forbidden)
}

/// Identity Protection's API (risk detections, risky users and the administrator's actions on
/// them) needs Microsoft Entra ID P2, as in Entra.
pub fn identity_protection_licensed(license: LicenseTier) -> Result<(), DirectoryError> {
    licenses::gate(Feature::IdentityProtection, license)
        .map(|_| ())
        .map_err(DirectoryError::Forbidden)
}

/// Everything of the tenant a policy may name (`policy::check_references`): its users, groups,
/// built-in role templates and custom roles, the appIds of its service principals and its own
/// applications plus the built-in resources and the Azure portal, its service principals and
/// named locations.
pub async fn known_references(
    store: &dyn Store,
    tenant: &Tenant,
) -> Result<policy::KnownReferences, StoreError> {
    let mut k = policy::KnownReferences {
        users: store
            .users(tenant.id)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect(),
        groups: store
            .groups(tenant.id)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect(),
        roles: crate::directory_roles::built_in_roles()
            .iter()
            .map(|r| r.template_id)
            .collect(),
        ..Default::default()
    };
    k.roles.extend(
        store
            .custom_roles(tenant.id)
            .await?
            .into_iter()
            .map(|r| r.id.uuid()),
    );
    for sp in store.service_principals(tenant.id).await? {
        k.applications.insert(sp.app_id);
        k.service_principals.insert(sp.id);
    }
    k.applications.extend(
        store
            .applications(tenant.id)
            .await?
            .into_iter()
            .map(|a| a.app_id),
    );
    k.applications.extend(
        crate::catalog::built_in_resources()
            .iter()
            .map(|b| b.app_id),
    );
    k.applications.insert(MANAGEMENT_APP);
    k.locations = store
        .policy_documents(tenant.id, PolicyDocumentKind::NamedLocation)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    Ok(k)
}

/// The tenant's Global Administrators as evaluator subjects (for the lock-out guard).
async fn administrators(
    store: &dyn Store,
    tenant: &Tenant,
    now: crate::Timestamp,
) -> Result<Vec<(ObjectId, Vec<ObjectId>, Vec<uuid::Uuid>, bool)>, StoreError> {
    let mut out = Vec::new();
    for u in store.users(tenant.id).await? {
        if !u.account_enabled {
            continue;
        }
        let (groups, roles) = user_facts(store, tenant, u.id, now).await?;
        if roles.contains(&GLOBAL_ADMINISTRATOR) {
            out.push((u.id, groups, roles, u.user_type == UserType::Guest));
        }
    }
    Ok(out)
}

/// Creates or replaces a policy. `document` is its canonical Graph rendering (wire's), which the
/// store keeps. An enabled policy that would block every Global Administrator is refused unless
/// `allow_lockout` (break-glass accounts must stay out of reach of a mistake). Every id the
/// policy names must exist in the tenant, except ids `previous` (the stored version an update
/// replaces) already named.
pub async fn put_policy(
    env: &mut Env<'_>,
    tenant: &Tenant,
    policy: &ConditionalAccessPolicy,
    previous: Option<&ConditionalAccessPolicy>,
    document: String,
    allow_lockout: bool,
) -> Result<PolicyDocument, DirectoryError> {
    let sku = licensed(tenant, policy)?;
    policy::validate(policy).map_err(|e| DirectoryError::BadRequest(e.to_string()))?;
    let known = known_references(env.store, tenant).await?;
    policy::check_references(policy, &known, previous)
        .map_err(|e| DirectoryError::BadRequest(e.to_string()))?;
    policy::security_defaults::check_custom_policy(
        tenant.settings.security_defaults,
        &policy.display_name,
        policy.state,
    )
    .map_err(DirectoryError::BadRequest)?;
    if policy.state == policy::PolicyState::Enabled && !allow_lockout {
        let admins = administrators(env.store, tenant, env.now).await?;
        let subjects: Vec<UserSubject<'_>> = admins
            .iter()
            .map(|(id, groups, roles, guest)| UserSubject {
                id: *id,
                is_guest: *guest,
                groups,
                roles,
                risk: RiskLevel::None,
                mfa_registered: false,
            })
            .collect();
        if !subjects.is_empty() && policy::would_block_all_admins(policy, &subjects, MANAGEMENT_APP)
        {
            return Err(DirectoryError::BadRequest(format!(
                "This policy would block every Global Administrator ({} of them), you included, with no way back in. Exclude a break-glass account or group (conditions.users.excludeUsers / excludeGroups), create it as enabledForReportingButNotEnforced first, or repeat the request with ?allowAdministratorLockout=true if you really mean it.",
                subjects.len()
            )));
        }
    }
    store_document(
        env,
        tenant,
        PolicyDocumentKind::ConditionalAccessPolicy,
        policy.id,
        &policy.display_name,
        document,
        "conditional access policy",
        vec![
            crate::ops::modified("state", None, Some(policy.state.as_str().to_string())),
            crate::ops::modified("licensedBy", None, Some(sku.to_string())),
        ],
    )
    .await
}

/// Turns security defaults on or off (audited as Entra does: "Update policy" on the
/// `identitySecurityDefaultsEnforcementPolicy`). Turning them on is refused while a custom
/// policy is `enabled` (report-only and disabled ones do not count; the caller, which parses
/// the stored documents, names the enabled ones in `enabled_custom`). Returns the updated
/// tenant.
pub async fn set_security_defaults(
    env: &mut Env<'_>,
    tenant: &Tenant,
    on: bool,
    enabled_custom: &[String],
) -> Result<Tenant, DirectoryError> {
    if on {
        policy::security_defaults::check_enable(enabled_custom)
            .map_err(DirectoryError::BadRequest)?;
    }
    let mut t = tenant.clone();
    let old = t.settings.security_defaults;
    t.settings.security_defaults = on;
    let a = env.audit(
        &t,
        "Policy",
        "Update policy",
        "Update",
        vec![target(
            ObjectId::from_uuid(uuid::Uuid::from_u128(5)),
            "Policy",
            Some(policy::security_defaults::DISPLAY_NAME),
            None,
            vec![crate::ops::modified(
                "isEnabled",
                Some(old.to_string()),
                Some(on.to_string()),
            )],
        )],
    );
    let mut set = ChangeSet::new();
    // Compare-and-set over the tenant as read: a concurrent domain or settings change is a
    // conflict to retry, never silently overwritten.
    set.push(Change::ReplaceTenant(
        Box::new(tenant.clone()),
        Box::new(t.clone()),
    ))
    .audit(a);
    env.store.commit(set).await?;
    Ok(t)
}

fn conflict_as_bad(e: StoreError) -> DirectoryError {
    match e {
        StoreError::Conflict(c) => DirectoryError::Conflict(c.to_string()),
        other => other.into(),
    }
}

/// Deletes a policy or named location (a named location still used by a policy is refused).
pub async fn delete_document(
    env: &mut Env<'_>,
    tenant: &Tenant,
    kind: PolicyDocumentKind,
    id: ObjectId,
    used_by: &[String],
) -> Result<(), DirectoryError> {
    let docs = env.store.policy_documents(tenant.id, kind).await?;
    let Some(d) = docs.iter().find(|d| d.id == id) else {
        return Err(crate::ops::not_found(id));
    };
    if !used_by.is_empty() {
        return Err(DirectoryError::BadRequest(format!(
            "The named location '{}' is used by the policies {}; remove it from them first.",
            d.display_name,
            used_by.join(", ")
        )));
    }
    let a = env.audit(
        tenant,
        "Policy",
        match kind {
            PolicyDocumentKind::ConditionalAccessPolicy => "Delete conditional access policy",
            PolicyDocumentKind::NamedLocation => "Delete named location",
            PolicyDocumentKind::CrossTenantPolicy
            | PolicyDocumentKind::CrossTenantDefault
            | PolicyDocumentKind::CrossTenantPartner => "Delete policy",
            PolicyDocumentKind::IdentityProvider => "Delete identity provider",
        },
        "Delete",
        vec![target(id, "Policy", Some(&d.display_name), None, vec![])],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeletePolicyDocument(tenant.id, id))
        .audit(a);
    env.store.commit(set).await?;
    Ok(())
}

/// Creates or replaces a named location.
pub async fn put_named_location(
    env: &mut Env<'_>,
    tenant: &Tenant,
    location: &NamedLocation,
    document: String,
) -> Result<PolicyDocument, DirectoryError> {
    licenses::gate(Feature::ConditionalAccess, tenant.license).map_err(|m| {
        DirectoryError::Forbidden(format!(
            "Named locations are part of Conditional Access. {m}"
        ))
    })?;
    store_document(
        env,
        tenant,
        PolicyDocumentKind::NamedLocation,
        location.id,
        &location.display_name,
        document,
        "named location",
        vec![],
    )
    .await
}

/// Stores a policy document (created or replaced) with its audit record.
#[allow(clippy::too_many_arguments)]
async fn store_document(
    env: &mut Env<'_>,
    tenant: &Tenant,
    kind: PolicyDocumentKind,
    id: ObjectId,
    name: &str,
    document: String,
    noun: &str,
    props: Vec<crate::audit::ModifiedProperty>,
) -> Result<PolicyDocument, DirectoryError> {
    let existing = env.store.policy_documents(tenant.id, kind).await?;
    let old = existing.iter().find(|d| d.id == id);
    let doc = PolicyDocument {
        id,
        tenant_id: tenant.id,
        kind,
        display_name: name.to_string(),
        document,
        created: old.map_or(env.now, |o| o.created),
        modified: env.now,
    };
    let (activity, op) = if old.is_some() {
        (format!("Update {noun}"), "Update")
    } else {
        (format!("Add {noun}"), "Add")
    };
    let a = env.audit(
        tenant,
        "Policy",
        &activity,
        op,
        vec![target(id, "Policy", Some(name), None, props)],
    );
    let mut set = ChangeSet::new();
    set.push(Change::PutPolicyDocument(doc.clone())).audit(a);
    env.store.commit(set).await.map_err(conflict_as_bad)?;
    Ok(doc)
}

/// What a replay of a draft policy over the sign-in log found (`replay`).
#[derive(Debug)]
pub struct ReplayRun {
    /// The first instant replayed (`to` − `days`).
    pub from: crate::Timestamp,
    /// The last instant replayed (now).
    pub to: crate::Timestamp,
    /// Whether older sign-ins were left out (more than `policy::replay::MAX_RECORDS`).
    pub truncated: bool,
    /// The verdicts and per-user impact.
    pub outcome: policy::replay::Replay,
}

/// Replays `draft` (as if enforced) over the tenant's replayable user sign-ins of the last
/// `days` days (newest first, at most `policy::replay::MAX_RECORDS`), with each user's
/// groups, roles and MFA registration as of `now` and each record's location resolved
/// against `locations`. Sign-ins of users deleted since are skipped. Stores nothing.
pub async fn replay(
    store: &dyn Store,
    tenant: &Tenant,
    draft: &ConditionalAccessPolicy,
    locations: &[NamedLocation],
    days: u32,
    now: crate::Timestamp,
) -> Result<ReplayRun, StoreError> {
    use crate::policy::replay as r;
    use std::collections::HashMap;

    struct Facts {
        user: crate::model::User,
        groups: Vec<ObjectId>,
        roles: Vec<uuid::Uuid>,
        mfa_registered: bool,
    }

    let days = days.clamp(1, r::MAX_DAYS);
    let from = crate::Timestamp(now.millis() - i64::from(days) * 86_400_000);
    let records = store
        .sign_ins(
            tenant.id,
            &crate::model::SignInQuery {
                since: Some(from),
                until: None,
                limit: Some(r::MAX_RECORDS + 1),
            },
        )
        .await?;
    let truncated = records.len() > r::MAX_RECORDS;
    // The membership graph is built once for the whole replay; each user is read once.
    let graph =
        MembershipGraph::new(&crate::ops::groups::memberships_at(store, tenant.id, now).await?);
    let mut users: HashMap<ObjectId, Option<Facts>> = HashMap::new();
    let mut kept = Vec::new();
    for rec in records
        .iter()
        .take(r::MAX_RECORDS)
        .filter(|x| r::replayable(x))
    {
        let Some(uid) = rec.user_id else { continue };
        if let std::collections::hash_map::Entry::Vacant(slot) = users.entry(uid) {
            let facts = match store.user(tenant.id, uid).await? {
                None => None,
                Some(user) => Some(Facts {
                    groups: graph.transitive_member_of(uid),
                    roles: crate::ops::directory_roles::tenant_wide_roles(
                        store, tenant.id, uid, now,
                    )
                    .await?,
                    mfa_registered: crate::ops::auth_methods::has_registered_method(
                        store, tenant, uid,
                    )
                    .await
                    .unwrap_or(false),
                    user,
                }),
            };
            slot.insert(facts);
        }
        if users.get(&uid).is_some_and(Option::is_some) {
            let ip: Option<core::net::IpAddr> = rec.ip_address.parse().ok();
            let country = r::recorded(rec).country;
            kept.push((
                rec,
                uid,
                ip,
                policy::resolve_location(locations, ip, country),
            ));
        }
    }
    let app = |x: &str| {
        crate::AppId::parse(x).unwrap_or_else(|| crate::AppId::from_uuid(uuid::Uuid::nil()))
    };
    let inputs: Vec<r::ReplayInput<'_>> = kept
        .iter()
        .filter_map(|(rec, uid, ip, location)| {
            let f = users.get(uid)?.as_ref()?;
            let had = r::recorded(rec);
            Some(r::ReplayInput {
                sign_in_id: rec.id,
                user_principal_name: &f.user.user_principal_name,
                ctx: policy::SignInContext {
                    subject: policy::Subject::User(UserSubject {
                        id: f.user.id,
                        is_guest: f.user.user_type == UserType::Guest,
                        groups: &f.groups,
                        roles: &f.roles,
                        risk: had.user_risk,
                        mfa_registered: f.mfa_registered,
                    }),
                    client_app_id: app(&rec.app_id),
                    resource_app_id: app(rec.resource_id.as_deref().unwrap_or("")),
                    client_app_type: r::client_app_type_of(&rec.client_app_used),
                    ip: *ip,
                    location,
                    platform: None,
                    device: had.device,
                    sign_in_risk: had.sign_in_risk,
                    satisfied: policy::Satisfied {
                        password_at: Some(rec.created),
                        mfa_at: had.mfa_done.then_some(rec.created),
                        ..Default::default()
                    },
                    now: rec.created,
                },
            })
        })
        .collect();
    Ok(ReplayRun {
        from,
        to: now,
        truncated,
        outcome: r::replay(draft, &inputs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_protection_needs_p2() {
        assert!(identity_protection_licensed(LicenseTier::P2).is_ok());
        for tier in [LicenseTier::Free, LicenseTier::P1] {
            match identity_protection_licensed(tier) {
                Err(DirectoryError::Forbidden(m)) => {
                    assert!(m.contains("P2") && m.contains(tier.as_str()), "{m}")
                }
                other => panic!("{tier:?}: {other:?}"),
            }
        }
    }

    /// A logged sign-in of `user` (by name) at `at`, with `error_code` (0 = success).
    fn logged(
        n: u128,
        t: &Tenant,
        user: &crate::model::User,
        at: crate::Timestamp,
        error_code: u32,
    ) -> crate::model::SignIn {
        crate::model::SignIn {
            id: uuid::Uuid::from_u128(0x5100 + n),
            tenant_id: t.id,
            created: at,
            user_principal_name: Some(user.user_principal_name.clone()),
            user_id: Some(user.id),
            user_display_name: None,
            app_id: "11111111-1111-1111-1111-111111111111".into(),
            app_display_name: None,
            resource_display_name: None,
            resource_id: Some("00000003-0000-0000-c000-000000000000".into()),
            ip_address: "203.0.113.7".into(),
            client_app_used: "Browser".into(),
            is_interactive: true,
            error_code,
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
        }
    }

    /// Replay reads the window's replayable sign-ins and each user's facts from the store:
    /// a success inside the window counts; a wrong password, a sign-in older than the window
    /// and a sign-in of a user deleted since do not; the draft's control decides the verdict.
    #[test]
    fn replay_gathers_the_window_from_the_store() {
        use crate::ops::testing::{store_with_tenant, NOW};
        use crate::policy::model::BuiltInControl;
        use crate::store::memory::block_on;
        use crate::store::SignInStore;
        let (store, t) = store_with_tenant(41);
        let mut ids = crate::conformance::Ids::new(42);
        let adele = crate::conformance::user(&mut ids, &t, "adele", true);
        let gone = crate::conformance::user(&mut ids, &t, "gone", true);
        let mut set = ChangeSet::new();
        set.push(Change::InsertUser(adele.clone()));
        block_on(store.commit(set)).unwrap();
        let day = 86_400_000;
        block_on(store.insert_sign_ins(&[
            logged(
                1,
                &t,
                &adele,
                crate::Timestamp(NOW.millis() - day + 60_000),
                0,
            ),
            logged(2, &t, &adele, crate::Timestamp(NOW.millis() - 2 * day), 0),
            logged(
                3,
                &t,
                &adele,
                crate::Timestamp(NOW.millis() - day + 60_000),
                50126,
            ),
            logged(4, &t, &adele, crate::Timestamp(NOW.millis() - 9 * day), 0),
            logged(
                5,
                &t,
                &gone,
                crate::Timestamp(NOW.millis() - day + 60_000),
                0,
            ),
        ]))
        .unwrap();

        let mfa = crate::flow::signin::tests::policy(1, BuiltInControl::Mfa);
        let run = block_on(replay(&store, &t, &mfa, &[], 7, NOW)).unwrap();
        assert_eq!(
            (run.from.millis(), run.to, run.truncated),
            (NOW.millis() - 7 * day, NOW, false)
        );
        assert_eq!(run.outcome.evaluated, 2, "{run:?}");
        assert!(run.outcome.would_block.is_empty());
        let [who] = run.outcome.would_challenge.as_slice() else {
            panic!("{run:?}")
        };
        assert_eq!((who.user_id, who.sign_ins), (adele.id, 2));

        let block = crate::flow::signin::tests::policy(2, BuiltInControl::Block);
        let run = block_on(replay(&store, &t, &block, &[], 7, NOW)).unwrap();
        let [who] = run.outcome.would_block.as_slice() else {
            panic!("{run:?}")
        };
        assert_eq!((who.user_id, who.sign_ins), (adele.id, 2));
        // A one-day window holds only the newest success.
        let run = block_on(replay(&store, &t, &block, &[], 1, NOW)).unwrap();
        assert_eq!(run.outcome.evaluated, 1, "{run:?}");
    }
}
