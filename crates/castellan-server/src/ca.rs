//! Conditional Access at sign-in, the loading half: reads the tenant's policies and named
//! locations (stored Graph documents, parsed by wire), the client's country (GeoIP) and the
//! user's groups, roles and authenticator app. Every decision is core's
//! (`castellan_core::policy::decision`, and the sign-in pipeline `flow::signin`).

use castellan_core::flow::signin::CaFacts;
use castellan_core::model::{PolicyDocumentKind, Tenant, User, UserType};
use castellan_core::policy::decision::{self, Loaded, UserFacts};
use castellan_core::policy::{self, NamedLocation, PolicySet};
use castellan_core::store::StoreError;
use castellan_core::{ObjectId, Timestamp};

use crate::state::AppState;

pub use castellan_core::policy::decision::{CaDecision as Decision, UserSignIn};

/// The tenant's policies and named locations, parsed. With security defaults on, their
/// built-in policies (`policy::security_defaults::policies`) come first, evaluated like any
/// other (custom policies are then at most report-only: the two are mutually exclusive).
pub async fn load(
    s: &AppState,
    tenant: &Tenant,
) -> Result<(PolicySet, Vec<NamedLocation>), StoreError> {
    let mut policies = if tenant.settings.security_defaults {
        policy::security_defaults::policies()
    } else {
        Vec::new()
    };
    for d in s
        .store
        .policy_documents(tenant.id, PolicyDocumentKind::ConditionalAccessPolicy)
        .await?
    {
        let v: serde_json::Value = serde_json::from_str(&d.document).unwrap_or_default();
        match castellan_wire::graph::conditional_access::parse_policy(&v, d.id) {
            Ok(p) => policies.push(p),
            Err(e) => {
                tracing::error!(policy = %d.id, error = %e.message, "stored conditional access policy is unreadable; skipped")
            }
        }
    }
    let mut locations = Vec::new();
    for d in s
        .store
        .policy_documents(tenant.id, PolicyDocumentKind::NamedLocation)
        .await?
    {
        let v: serde_json::Value = serde_json::from_str(&d.document).unwrap_or_default();
        if let Ok(l) = castellan_wire::graph::conditional_access::parse_named_location(&v, d.id) {
            locations.push(l);
        }
    }
    Ok((PolicySet::new(policies), locations))
}

/// The tenant's policies, named locations and the country of `ip`.
pub async fn load_for(s: &AppState, tenant: &Tenant, ip: &str) -> Result<Loaded, StoreError> {
    let (set, locations) = load(s, tenant).await?;
    // The country comes from GeoIP (`--geoip-db`); without one it is unknown, which only
    // country locations with `includeUnknownCountriesAndRegions` match.
    let country = if set.is_empty() {
        None
    } else {
        s.protection.locate(ip).country_or_region
    };
    Ok(Loaded {
        set,
        locations,
        country,
    })
}

/// Everything Conditional Access needs about a user's sign-in to `resource` from `ip`; the
/// user's groups, roles and authenticator app are loaded only when there is a policy.
pub async fn user_facts(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    ip: &str,
    resource: &str,
) -> Result<CaFacts, StoreError> {
    let loaded = load_for(s, tenant, ip).await?;
    let facts = if loaded.set.is_empty() {
        UserFacts {
            id: user.id,
            is_guest: user.user_type == UserType::Guest,
            groups: vec![],
            roles: vec![],
            mfa_registered: false,
        }
    } else {
        let (groups, roles) = castellan_core::ops::conditional_access::user_facts(
            s.store.as_ref(),
            tenant,
            user.id,
            crate::state::now(),
        )
        .await?;
        // 50076 (challenge) vs 50079 (register first) depends on a confirmed authenticator app.
        let mfa_registered = castellan_core::ops::auth_methods::has_registered_method(
            s.store.as_ref(),
            tenant,
            user.id,
        )
        .await
        .unwrap_or(false);
        UserFacts {
            id: user.id,
            is_guest: user.user_type == UserType::Guest,
            groups,
            roles,
            mfa_registered,
        }
    };
    Ok(CaFacts {
        loaded,
        user: facts,
        resource: resource.to_string(),
    })
}

/// Evaluates a user's sign-in (What-If).
pub async fn for_user(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    req: &UserSignIn<'_>,
) -> Result<Decision, StoreError> {
    let f = user_facts(s, tenant, user, req.ip, req.resource).await?;
    Ok(decision::for_user(&f.loaded, &f.user, req))
}

/// Evaluates a workload identity's token request (client credentials).
pub async fn for_workload(
    s: &AppState,
    tenant: &Tenant,
    service_principal: ObjectId,
    client_app_id: &str,
    resource: &str,
    ip: &str,
    now: Timestamp,
) -> Result<Decision, StoreError> {
    let loaded = load_for(s, tenant, ip).await?;
    Ok(decision::for_workload(
        &loaded,
        service_principal,
        client_app_id,
        resource,
        ip,
        now,
    ))
}

/// No policy to evaluate (the device-login page treats a failed load as this: any refusal is
/// the token endpoint's to answer at the next poll).
pub fn nothing_for(user: &User) -> CaFacts {
    CaFacts {
        loaded: Loaded {
            set: PolicySet::new(Vec::new()),
            locations: Vec::new(),
            country: None,
        },
        user: UserFacts {
            id: user.id,
            is_guest: user.user_type == UserType::Guest,
            groups: vec![],
            roles: vec![],
            mfa_registered: false,
        },
        resource: String::new(),
    }
}
