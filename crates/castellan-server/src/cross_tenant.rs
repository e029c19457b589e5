//! Cross-tenant access settings as the sign-in reads them: a tenant's stored documents
//! (`core::ops::cross_tenant::stored`, through the read model) parsed by `wire` into core's
//! `Policy`, and the B2B collaboration check of a guest (`core::cross_tenant::decide`) with the
//! facts it needs — the home tenant's settings and, only when a setting names groups, the home
//! user's groups.

use castellan_core::cross_tenant::{self as ct, Policy, PolicyLevel, Subject, TargetType, Verdict};
use castellan_core::model::MembershipGraph;
use castellan_core::ops::cross_tenant::{stored, Stored};
use castellan_core::store::Store;
use castellan_core::{ObjectId, TenantId, Timestamp};
use castellan_wire::graph::cross_tenant as w;
use serde_json::Value;

/// A tenant's settings: the stored documents and what they say.
pub struct Loaded {
    /// The documents.
    pub stored: Stored,
    /// The policy-level properties.
    pub level: PolicyLevel,
    /// The default (complete) and the partners.
    pub policy: Policy,
}

fn json(d: &castellan_core::model::PolicyDocument) -> Result<Value, String> {
    serde_json::from_str(&d.document)
        .map_err(|e| format!("stored cross-tenant document {} is unreadable: {e}", d.id))
}

/// Loads and parses `tenant`'s settings.
pub async fn load(store: &dyn Store, tenant: TenantId) -> Result<Loaded, String> {
    let stored = stored(store, tenant).await.map_err(|e| format!("{e:?}"))?;
    let level = match &stored.policy {
        Some(d) => w::parse_level(&json(d)?).map_err(|e| e.message)?,
        None => PolicyLevel::default(),
    };
    let default = match &stored.default {
        Some(d) => ct::over(
            &w::parse_default(&json(d)?).map_err(|e| e.message)?,
            &ct::service_default(),
        ),
        None => ct::service_default(),
    };
    let partners = stored
        .partners
        .iter()
        .map(|d| w::parse_partner(&json(d)?).map_err(|e| e.message))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded {
        policy: Policy {
            default,
            is_service_default: stored.default.is_none(),
            partners,
        },
        level,
        stored,
    })
}

fn names_groups(c: &ct::Configuration, inbound: bool) -> bool {
    let s = if inbound {
        &c.b2b_collaboration_inbound
    } else {
        &c.b2b_collaboration_outbound
    };
    s.as_ref()
        .and_then(|s| s.users_and_groups.as_ref())
        .is_some_and(|u| u.targets.iter().any(|t| t.target_type == TargetType::Group))
}

/// What the B2B collaboration check found, with the resource tenant's settings (for the trust
/// of the home sign-in).
pub struct Checked {
    /// The verdict.
    pub verdict: Verdict,
    /// The resource tenant's settings.
    pub resource: Policy,
}

/// Whether the user `home_user` of `home` may use `app` of `resource` (or, with `None`,
/// redeem an invitation there).
pub async fn check(
    store: &dyn Store,
    resource: TenantId,
    home: TenantId,
    home_user: ObjectId,
    app: Option<uuid::Uuid>,
    now: Timestamp,
) -> Result<Checked, String> {
    let r = load(store, resource).await?.policy;
    let h = load(store, home).await?.policy;
    let groups =
        if names_groups(&r.effective(home), true) || names_groups(&h.effective(resource), false) {
            let edges = castellan_core::ops::groups::memberships_at(store, home, now)
                .await
                .map_err(|e| format!("{e:?}"))?;
            MembershipGraph::new(&edges).transitive_member_of(home_user)
        } else {
            vec![]
        };
    let verdict = ct::decide(
        &r,
        resource,
        &h,
        home,
        Subject {
            user: home_user,
            groups: &groups,
        },
        app,
    );
    Ok(Checked {
        verdict,
        resource: r,
    })
}

/// The refusal of the cross-tenant access settings for `user` signing in to the application
/// `app` (its appId) of `tenant`, when `user` is a guest whose home is another tenant of this
/// server (500212 outbound at home, 500213 inbound here); `None` for everyone else.
pub async fn refusal_for(
    store: &dyn Store,
    tenant: &castellan_core::model::Tenant,
    user: &castellan_core::model::User,
    app: uuid::Uuid,
    at: Timestamp,
) -> Result<Option<castellan_core::AadstsError>, String> {
    let Some((home, home_user)) = user
        .external
        .as_ref()
        .and_then(|e| e.home_tenant.zip(e.home_object_id))
    else {
        return Ok(None);
    };
    let c = check(store, tenant.id, home, home_user, Some(app), at).await?;
    Ok(ct::refusal(c.verdict, tenant.id, home))
}
