//! Tenants: operator-only creation, and isolation.

use serde_json::json;

use crate::{alias, http, new_tenant, shared, token_response, G};

#[tokio::test]
async fn operator_api_requires_the_operator_key() {
    let s = shared();
    let r = http()
        .post(format!("{}/operator/v1/tenants", s.origin))
        .json(&json!({"name": "nokey"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(format!("{}/operator/v1/tenants", s.origin))
        .bearer_auth("wrong")
        .json(&json!({"name": "nokey"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(format!("{}/operator/v1/tenants", s.origin))
        .bearer_auth(&s.operator_key)
        .json(&json!({"name": "bad name!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(format!("{}/operator/v1/tenants", s.origin))
        .bearer_auth(&s.operator_key)
        .json(&json!({"name": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "the demo tenant's domain is taken");
    // Graph cannot create tenants.
    let g = G::demo().await;
    assert_eq!(
        g.post("/organization", json!({"displayName": "x"})).await.0,
        405
    );
}

#[tokio::test]
async fn new_tenant_has_admin_and_graph_and_is_isolated() {
    let name = alias("t");
    let t = new_tenant(&name).await;
    let tid = t["tenantId"].as_str().unwrap();
    assert_eq!(t["domain"], format!("{name}.onmicrosoft.test"));
    assert_eq!(t["admin"]["upn"], format!("admin@{name}.onmicrosoft.test"));
    let s = shared();
    // Its own discovery, issuer and Graph service principal.
    let v: serde_json::Value = http()
        .get(format!(
            "{}/{tid}/v2.0/.well-known/openid-configuration",
            s.origin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["issuer"], format!("{}/{tid}/v2.0", s.origin));
    // The demo tenant's client does not exist in the new tenant.
    let d = &s.demo;
    let (st, e) = token_response(
        tid,
        d["confidential_client"]["app_id"].as_str().unwrap(),
        d["confidential_client"]["secret"].as_str().unwrap(),
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!((st, e["error_codes"][0].as_u64()), (400, Some(700016)));
    // The demo tenant cannot see the new tenant's admin by id or UPN.
    let g = G::demo().await;
    assert_eq!(
        g.get(&format!("/users/{}", t["admin"]["id"].as_str().unwrap()))
            .await
            .0,
        404
    );
    assert_eq!(
        g.get(&format!("/users/admin@{name}.onmicrosoft.test"))
            .await
            .0,
        404
    );
    assert_eq!(
        g.get(&format!(
            "/directoryObjects/{}",
            t["admin"]["id"].as_str().unwrap()
        ))
        .await
        .0,
        404
    );
    // Nor create a user in the other tenant's domain.
    let (st, _) = g.post("/users", json!({"accountEnabled": true, "displayName": "x", "userPrincipalName": format!("x@{name}.onmicrosoft.test"), "passwordProfile": {"password": "Test-Passw0rd!"}})).await;
    assert_eq!(st, 400);
    let list: serde_json::Value = http()
        .get(format!("{}/operator/v1/tenants", s.origin))
        .bearer_auth(&s.operator_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["tenantId"] == tid));
}

/// A tenant whose console grant predates a release that pre-authorises more (new blades) gets
/// the wider grant at the next start; what it held is kept, and the change is audited.
#[tokio::test]
async fn an_older_console_grant_is_widened_at_start() {
    use castellan_core::store::{Change, ChangeSet};
    let store = shared().state.store.as_ref();
    let tid = castellan_core::TenantId::parse(
        shared().demo["second_tenant"]["tenant_id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let console = store
        .service_principal_by_app_id(tid, castellan_core::catalog::CONSOLE_APP_ID)
        .await
        .unwrap()
        .unwrap();
    let graph = store
        .service_principal_by_app_id(tid, castellan_core::ids::GRAPH_APP_ID)
        .await
        .unwrap()
        .unwrap();
    let find = || async {
        store
            .permission_grants(tid)
            .await
            .unwrap()
            .into_iter()
            .find(|g| g.client_id == console.id && g.resource_id == graph.id)
            .unwrap()
    };
    // As an older release left it: fewer scopes, one the release no longer names.
    let old = find().await;
    let mut narrow = old.clone();
    narrow.scope = "User.Read Legacy.Scope".into();
    let mut set = ChangeSet::new();
    set.push(Change::DeletePermissionGrant(tid, old.id))
        .push(Change::InsertPermissionGrant(narrow));
    store.commit(set).await.unwrap();
    let mut ent = castellan_server::crypto::OsEntropy;
    let mut env = castellan_core::ops::Env {
        store,
        now: castellan_server::state::now(),
        entropy: &mut ent,
        hasher: &shared().state.hasher,
        actor: castellan_core::audit::Actor::Operator,
        correlation_id: "it-widen".into(),
    };
    castellan_core::ops::tenants::ensure_built_in_service_principals(&mut env)
        .await
        .unwrap();
    let now = find().await;
    for s in [
        "User.Read",
        "Legacy.Scope",
        "IdentityProvider.ReadWrite.All",
        "Policy.ReadWrite.CrossTenantAccess",
    ] {
        assert!(
            now.scope.split(' ').any(|x| x == s),
            "{s} missing from {}",
            now.scope
        );
    }
    // A second start changes nothing more.
    castellan_core::ops::tenants::ensure_built_in_service_principals(&mut env)
        .await
        .unwrap();
    assert_eq!(find().await.scope, now.scope);
}
