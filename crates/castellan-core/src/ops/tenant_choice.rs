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

/// The tenants where `address` (lower case) is an accepted, enabled guest who signs in at an
/// external identity provider (its redemption recorded an issuer, no home tenant here) and
/// `app` is available — for a `/common` sign-in by a user name no tenant of this server owns.
/// One indexed lookup per tenant (the guest UPN an invitation makes), never a scan of users.
pub async fn external_guest_tenants(
    store: &dyn Store,
    address: &str,
    app: AppId,
) -> Result<Vec<Candidate>, StoreError> {
    let address = address.trim().to_lowercase();
    let mut out = Vec::new();
    for t in store.tenants().await? {
        let Some(g) = store
            .user_by_upn(t.id, &guest_upn(&address, t.initial_domain()))
            .await?
        else {
            continue;
        };
        let external = g.account_enabled
            && g.external
                .as_ref()
                .is_some_and(|e| e.state == ExternalUserState::Accepted && e.home_tenant.is_none())
            && crate::invitations::external_issuer(&g).is_some()
            && crate::invitations::holds_address(&g, &address);
        if !external
            || store
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::conformance::{application, service_principal, tenant, user, Ids};
    use crate::model::ExternalUser;
    use crate::store::memory::{block_on, MemoryStore};
    use crate::store::{Change, ChangeSet};

    #[test]
    fn guest_tenants_are_those_with_an_accepted_guest_of_this_user_and_the_app() {
        let store = MemoryStore::new();
        let mut ids = Ids::new(11);
        let home = tenant(&mut ids, "home");
        let res = tenant(&mut ids, "res");
        let other = tenant(&mut ids, "other");
        let u = user(&mut ids, &home, "pat", false);
        let app = application(&mut ids, &res);
        let sp = service_principal(&mut ids, &res, &app);
        let guest_of = |ids: &mut Ids, t: &Tenant, accepted: bool| {
            let mut g = user(ids, t, "guest", false);
            g.user_principal_name =
                guest_upn(&u.user_principal_name.to_lowercase(), t.initial_domain());
            g.account_enabled = true;
            g.external = Some(ExternalUser {
                invited_email: u.user_principal_name.to_lowercase(),
                state: if accepted {
                    ExternalUserState::Accepted
                } else {
                    ExternalUserState::PendingAcceptance
                },
                state_changed: crate::Timestamp(1),
                identities: vec![],
                home_tenant: Some(home.id),
                home_object_id: Some(u.id),
            });
            g
        };
        let g = guest_of(&mut ids, &res, true);
        // a pending guest elsewhere, and no service principal there: not offered
        let pending = guest_of(&mut ids, &other, false);
        let mut set = ChangeSet::new();
        for t in [&home, &res, &other] {
            set.push(Change::InsertTenant((*t).clone()));
        }
        set.push(Change::InsertUser(u.clone()))
            .push(Change::InsertUser(g.clone()))
            .push(Change::InsertUser(pending))
            .push(Change::InsertApplication(app.clone()))
            .push(Change::InsertServicePrincipal(sp));
        block_on(store.commit(set)).unwrap();

        let found = block_on(guest_tenants(&store, &home, &u, app.app_id)).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].tenant, res.id);
        assert_eq!(found[0].guest, Some(g.id));
        // the picker: home first
        match block_on(decide(&store, &home, &u, app.app_id, None)).unwrap() {
            Choice::Pick(list) => {
                assert_eq!(list.len(), 2);
                assert_eq!(list[0].tenant, home.id);
                assert_eq!(list[0].guest, None);
            }
            c => panic!("{c:?}"),
        }
        // another app (no service principal in res): the home tenant, no question
        let elsewhere = crate::AppId::from_random([42; 16]);
        assert_eq!(
            block_on(decide(&store, &home, &u, elsewhere, None)).unwrap(),
            Choice::Use(candidate(&home, None))
        );
    }

    #[test]
    fn external_guest_tenants_are_those_with_an_accepted_provider_guest_and_the_app() {
        let store = MemoryStore::new();
        let mut ids = Ids::new(12);
        let res = tenant(&mut ids, "res");
        let other = tenant(&mut ids, "other");
        let app = application(&mut ids, &res);
        let sp = service_principal(&mut ids, &res, &app);
        let address = "ext@op.example";
        let guest_in = |ids: &mut Ids, t: &Tenant, accepted: bool, home: Option<&Tenant>| {
            let mut g = user(ids, t, "guest", false);
            g.user_principal_name = guest_upn(address, t.initial_domain());
            g.mail = Some(address.into());
            g.account_enabled = true;
            g.external = Some(ExternalUser {
                invited_email: address.into(),
                state: if accepted {
                    ExternalUserState::Accepted
                } else {
                    ExternalUserState::PendingAcceptance
                },
                state_changed: crate::Timestamp(1),
                identities: vec![crate::model::ObjectIdentity {
                    sign_in_type: "federated".into(),
                    issuer: "https://op.example".into(),
                    issuer_assigned_id: Some("sub-1".into()),
                }],
                home_tenant: home.map(|h| h.id),
                home_object_id: None,
            });
            g
        };
        let g = guest_in(&mut ids, &res, true, None);
        let mut set = ChangeSet::new();
        for t in [&res, &other] {
            set.push(Change::InsertTenant((*t).clone()));
        }
        set.push(Change::InsertUser(g.clone()))
            .push(Change::InsertApplication(app.clone()))
            .push(Change::InsertServicePrincipal(sp));
        block_on(store.commit(set)).unwrap();
        let found = block_on(external_guest_tenants(
            &store,
            " EXT@op.example ",
            app.app_id,
        ))
        .unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].tenant, found[0].guest), (res.id, Some(g.id)));
        // another app (no service principal): none
        let elsewhere = crate::AppId::from_random([43; 16]);
        assert!(block_on(external_guest_tenants(&store, address, elsewhere))
            .unwrap()
            .is_empty());
        // a pending guest, or one whose home is a tenant here, is not such a guest
        let store = MemoryStore::new();
        let pending = guest_in(&mut ids, &res, false, None);
        let homed = guest_in(&mut ids, &other, true, Some(&res));
        let mut set = ChangeSet::new();
        for t in [&res, &other] {
            set.push(Change::InsertTenant((*t).clone()));
        }
        let sp2 = service_principal(&mut ids, &other, &app);
        set.push(Change::InsertUser(pending))
            .push(Change::InsertUser(homed))
            .push(Change::InsertApplication(app.clone()))
            .push(Change::InsertServicePrincipal(sp2));
        block_on(store.commit(set)).unwrap();
        assert!(
            block_on(external_guest_tenants(&store, address, app.app_id))
                .unwrap()
                .is_empty()
        );
    }
}
