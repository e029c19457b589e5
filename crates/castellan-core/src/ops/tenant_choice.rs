//! The candidates of a `/common` or `/organizations` sign-in (`crate::tenant_choice`): the
//! home tenant and every other tenant where the signed-in user is an accepted guest (its
//! redemption recorded this home tenant and user) and the request's app has a service
//! principal. Guests are found by the guest UPN an invitation makes from the user's address
//! (mail and UPN) in each tenant's index — one indexed lookup per tenant, never a scan of
//! users.

use crate::invitations::guest_upn;
use crate::model::{ExternalUserState, Tenant, User};
use crate::store::{Store, StoreError};
use crate::tenant_choice::{choose, Candidate, Choice};
use crate::AppId;

/// A tenant as a candidate.
pub fn candidate(t: &Tenant, guest: Option<&User>) -> Candidate {
    Candidate {
        tenant: t.id,
        name: t.display_name.clone(),
        domains: t
            .domains
            .iter()
            .filter(|d| d.is_verified)
            .map(|d| d.name.to_ascii_lowercase())
            .collect(),
        guest: guest.map(|g| g.id),
    }
}

/// The other tenants where `user` (of `home`) is an accepted guest and `app` is available.
pub async fn guest_tenants(
    store: &dyn Store,
    home: &Tenant,
    user: &User,
    app: AppId,
) -> Result<Vec<Candidate>, StoreError> {
    let mut addresses: Vec<String> = vec![user.user_principal_name.to_lowercase()];
    if let Some(m) = &user.mail {
        if !addresses.contains(&m.to_lowercase()) {
            addresses.push(m.to_lowercase());
        }
    }
    let mut out = Vec::new();
    for t in store.tenants().await? {
        if t.id == home.id {
            continue;
        }
        let mut found = None;
        for a in &addresses {
            if let Some(g) = store
                .user_by_upn(t.id, &guest_upn(a, t.initial_domain()))
                .await?
            {
                let mine = g.account_enabled
                    && g.external.as_ref().is_some_and(|e| {
                        e.state == ExternalUserState::Accepted
                            && e.home_tenant == Some(home.id)
                            && e.home_object_id == Some(user.id)
                    });
                if mine {
                    found = Some(g);
                    break;
                }
            }
        }
        let Some(g) = found else { continue };
        if store
            .service_principal_by_app_id(t.id, app)
            .await?
            .is_none()
        {
            continue;
        }
        out.push(candidate(&t, Some(&g)));
    }
    out.sort_by_key(|c| c.name.to_lowercase());
    Ok(out)
}

/// Decides the tenant of a `/common` sign-in by `user` of `home` for `app`.
pub async fn decide(
    store: &dyn Store,
    home: &Tenant,
    user: &User,
    app: AppId,
    domain_hint: Option<&str>,
) -> Result<Choice, StoreError> {
    let guests = guest_tenants(store, home, user, app).await?;
    Ok(choose(candidate(home, None), guests, domain_hint))
}
