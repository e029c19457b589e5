//! Conditional Access at sign-in, the loading half: reads the tenant's policies and named
//! locations (stored Graph documents, parsed by wire), the client's country (GeoIP) and the
//! user's groups, roles and authenticator app. Every decision is core's
//! (`castellan_core::policy::decision`, and the sign-in pipeline `flow::signin`).

use castellan_core::flow::signin::CaFacts;
use std::collections::HashMap;
use std::sync::Arc;

use castellan_core::model::{PolicyDocument, PolicyDocumentKind, Tenant, User, UserType};
use castellan_core::policy::decision::{self, Loaded, UserFacts};
use castellan_core::policy::{self, NamedLocation, PolicySet};
use castellan_core::store::StoreError;
use castellan_core::{ObjectId, TenantId, Timestamp};

use crate::state::AppState;

pub use castellan_core::policy::decision::{CaDecision as Decision, UserSignIn};

/// The tenant's policies and named locations, compiled once per change: the store's read
/// model hands out the same shared documents until a commit changes them, so the compiled set
/// is kept per tenant keyed on those `Arc`s (and the security-defaults switch) — a policy or
/// location change gives new documents, hence a recompile.
#[derive(Default)]
pub struct Compiled {
    by_tenant: std::sync::Mutex<HashMap<TenantId, CompiledEntry>>,
}

struct CompiledEntry {
    policies: Arc<Vec<PolicyDocument>>,
    locations: Arc<Vec<PolicyDocument>>,
    security_defaults: bool,
    set: Arc<PolicySet>,
    named: Arc<Vec<NamedLocation>>,
}

/// Most tenants whose compiled set is kept (the next one empties the map).
const MAX_COMPILED: usize = 10_000;

impl Compiled {
    fn get(
        &self,
        t: TenantId,
        policies: &Arc<Vec<PolicyDocument>>,
        locations: &Arc<Vec<PolicyDocument>>,
        security_defaults: bool,
    ) -> Option<(Arc<PolicySet>, Arc<Vec<NamedLocation>>)> {
        let m = self.by_tenant.lock().ok()?;
        let e = m.get(&t)?;
        (Arc::ptr_eq(&e.policies, policies)
            && Arc::ptr_eq(&e.locations, locations)
            && e.security_defaults == security_defaults)
            .then(|| (e.set.clone(), e.named.clone()))
    }

    fn put(&self, t: TenantId, e: CompiledEntry) {
        if let Ok(mut m) = self.by_tenant.lock() {
            if m.len() >= MAX_COMPILED {
                m.clear();
            }
            m.insert(t, e);
        }
    }
}

/// The tenant's policies and named locations, parsed. With security defaults on, their
/// built-in policies (`policy::security_defaults::policies`) come first, evaluated like any
/// other (custom policies are then at most report-only: the two are mutually exclusive).
pub async fn load(
    s: &AppState,
    tenant: &Tenant,
) -> Result<(Arc<PolicySet>, Arc<Vec<NamedLocation>>), StoreError> {
    let docs = s
        .store
        .policy_documents_shared(tenant.id, PolicyDocumentKind::ConditionalAccessPolicy)
        .await?;
    let location_docs = s
        .store
        .policy_documents_shared(tenant.id, PolicyDocumentKind::NamedLocation)
        .await?;
    let sd = tenant.settings.security_defaults;
    if let Some(hit) = s.policies.get(tenant.id, &docs, &location_docs, sd) {
        return Ok(hit);
    }
    let mut policies = if sd {
        policy::security_defaults::policies()
    } else {
        Vec::new()
    };
    for d in docs.iter() {
        let v: serde_json::Value = serde_json::from_str(&d.document).unwrap_or_default();
        match castellan_wire::graph::conditional_access::parse_policy(&v, d.id) {
            Ok(p) => policies.push(p),
            Err(e) => {
                tracing::error!(policy = %d.id, error = %e.message, "stored conditional access policy is unreadable; skipped")
            }
        }
    }
    let mut locations = Vec::new();
    for d in location_docs.iter() {
        let v: serde_json::Value = serde_json::from_str(&d.document).unwrap_or_default();
        if let Ok(l) = castellan_wire::graph::conditional_access::parse_named_location(&v, d.id) {
            locations.push(l);
        }
    }
    let set = Arc::new(PolicySet::new(policies));
    let named = Arc::new(locations);
    s.policies.put(
        tenant.id,
        CompiledEntry {
            policies: docs,
            locations: location_docs,
            security_defaults: sd,
            set: set.clone(),
            named: named.clone(),
        },
    );
    Ok((set, named))
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

/// Everything Conditional Access needs about a user's sign-in to `resource` from `ip`: the
/// compiled policies and the country here, the user's facts from core
/// (`ops::conditional_access::sign_in_facts`).
pub async fn user_facts(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    ip: &str,
    resource: &str,
) -> Result<CaFacts, StoreError> {
    let loaded = load_for(s, tenant, ip).await?;
    castellan_core::ops::conditional_access::sign_in_facts(
        s.store.as_ref(),
        tenant,
        user,
        loaded,
        resource,
        crate::state::now(),
    )
    .await
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
            set: Arc::new(PolicySet::new(Vec::new())),
            locations: Arc::default(),
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
