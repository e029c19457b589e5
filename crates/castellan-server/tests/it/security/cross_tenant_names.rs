//! Security suite: cross_tenant_names — names that reach tokens or the resource hierarchy are
//! unique across tenants. Management-group names in GUID form are reserved for tenant root
//! groups (and a tenant's root id is reserved when the tenant is made); identifier URIs follow
//! Entra's holder rules, are unique across all tenants, and a token's audience can only be the
//! identifier of the application that holds it. Every refusal checks the store is unchanged and
//! has a positive control.

use castellan_core::model::ScopeKind;
use castellan_core::ops::arm::{self, ArmCaller, PutResource};
use castellan_core::ops::{applications, service_principals, tenants, Entropy, Env, Field};
use castellan_core::store::{Change, ChangeSet, Store};
use castellan_core::{TenantId, Timestamp};
use serde_json::{json, Value};

use crate::{alias, arm_client, shared, token_response, G};

/// Randomness that hands out given bytes first, then the OS's.
struct Scripted(Vec<[u8; 16]>);

impl Entropy for Scripted {
    fn bytes16(&mut self) -> [u8; 16] {
        if self.0.is_empty() {
            castellan_server::crypto::OsEntropy.bytes16()
        } else {
            self.0.remove(0)
        }
    }
    fn secret(&mut self) -> String {
        castellan_server::crypto::OsEntropy.secret()
    }
}

fn store() -> &'static dyn Store {
    shared().state.store.as_ref()
}

fn hasher() -> &'static castellan_server::crypto::Argon2Hasher {
    static H: std::sync::OnceLock<castellan_server::crypto::Argon2Hasher> =
        std::sync::OnceLock::new();
    H.get_or_init(|| castellan_server::crypto::Argon2Hasher::new(1))
}

fn env(entropy: &mut dyn Entropy) -> Env<'_> {
    Env {
        store: store(),
        now: castellan_server::state::now(),
        entropy,
        hasher: hasher(),
        actor: castellan_core::audit::Actor::Operator,
        correlation_id: "cross-tenant-names".into(),
    }
}

async fn make_tenant(entropy: &mut dyn Entropy) -> castellan_core::model::Tenant {
    tenants::create(
        &mut env(entropy),
        tenants::NewTenant {
            name: alias("names"),
            display_name: None,
            domain_suffix: "onmicrosoft.test".into(),
            license: castellan_core::model::LicenseTier::P2,
            admin_upn: "admin".into(),
            admin_password: "Names-tenant-Passw0rd!".into(),
        },
    )
    .await
    .unwrap()
    .tenant
}

fn mg(name: &str) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{name}")
}

fn demo_tenant_id() -> TenantId {
    TenantId::parse(shared().demo["tenant_id"].as_str().unwrap()).unwrap()
}

async fn demo_tenant() -> castellan_core::model::Tenant {
    store().tenant(demo_tenant_id()).await.unwrap().unwrap()
}

// ---- Management groups --------------------------------------------------------------------------

#[tokio::test]
async fn names_management_group_names_cannot_take_a_tenant_root() {
    let mut os = castellan_server::crypto::OsEntropy;
    let victim = make_tenant(&mut os).await;
    // The victim's root group is reserved with the tenant itself.
    let root = store()
        .arm_resource(&arm::root_management_group(victim.id))
        .await
        .unwrap()
        .expect("the root group exists from the moment the tenant does");
    assert_eq!(
        (root.tenant_id, root.kind, root.parent.clone()),
        (victim.id, ScopeKind::ManagementGroup, None)
    );
    // Even the platform acting for the demo tenant (authorised everywhere) cannot name a
    // management group after the victim's id, nor after any GUID a future tenant could get.
    let attacker = ArmCaller::platform(demo_tenant().await);
    let future = uuid::Uuid::new_v4();
    for name in [
        victim.id.to_string(),
        victim.id.to_string().to_uppercase(),
        future.to_string(),
        future.simple().to_string(),
    ] {
        let e = arm::put_resource(
            &mut env(&mut os),
            &attacker,
            &mg(&name),
            PutResource::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "InvalidManagementGroupName"),
            "{name}: {e:?}"
        );
        assert!(e.message.contains(&name), "{}", e.message);
    }
    let after = store()
        .arm_resource(&arm::root_management_group(victim.id))
        .await
        .unwrap();
    assert_eq!(
        after.as_ref(),
        Some(&root),
        "the victim's root is untouched"
    );
    assert!(store()
        .arm_resource(&mg(&future.to_string()))
        .await
        .unwrap()
        .is_none());
    assert!(store()
        .arm_resource(&mg(&future.simple().to_string()))
        .await
        .unwrap()
        .is_none());
    // Over HTTP the refusal is ARM's shape (checked before authorisation: it depends on the
    // name alone).
    let (st, v) = arm_client()
        .await
        .send(
            reqwest::Method::PUT,
            &format!("{}?api-version=2021-04-01", mg(&future.to_string())),
            Some(json!({"properties": {"displayName": "squat"}})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "InvalidManagementGroupName", "{v}");
    // Positive controls: an ordinary name, and the caller's own root (its tenant id).
    let own = alias("mg-");
    let (r, created) = arm::put_resource(
        &mut env(&mut os),
        &attacker,
        &mg(&own),
        PutResource::default(),
    )
    .await
    .unwrap();
    assert!(created);
    assert_eq!(r.tenant_id, demo_tenant_id());
    let demo_root = mg(&demo_tenant_id().to_string());
    let (r, created) = arm::put_resource(
        &mut env(&mut os),
        &attacker,
        &demo_root,
        PutResource {
            display_name: Some("Tenant Root Group".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(!created);
    assert_eq!(r.tenant_id, demo_tenant_id());
    // Management-group names are one namespace: the victim cannot take the demo's new group.
    let e = arm::put_resource(
        &mut env(&mut os),
        &ArmCaller::platform(victim.clone()),
        &mg(&own),
        PutResource::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (409, "ResourceExistsInAnotherTenant")
    );
    assert_eq!(
        store()
            .arm_resource(&mg(&own))
            .await
            .unwrap()
            .map(|r| r.tenant_id),
        Some(demo_tenant_id())
    );
}

#[tokio::test]
async fn names_tenant_creation_never_gets_an_id_a_management_group_holds() {
    let mut os = castellan_server::crypto::OsEntropy;
    // A management group named by a GUID from before the rule (legacy data), held by the demo
    // tenant; the next tenant's randomness is scripted to draw exactly that GUID first.
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let taken = TenantId::from_random(bytes);
    let legacy = castellan_core::model::ArmResource {
        tenant_id: demo_tenant_id(),
        id: mg(&taken.to_string()),
        kind: ScopeKind::ManagementGroup,
        name: taken.to_string(),
        resource_type: "Microsoft.Management/managementGroups".into(),
        parent: Some(arm::root_management_group(demo_tenant_id())),
        display_name: "legacy".into(),
        location: None,
        tags: vec![],
        properties: "{}".into(),
        identity_principal: None,
        identity: Default::default(),
        federated_credential: None,
        created: Timestamp(0),
    };
    let mut set = ChangeSet::new();
    set.push(Change::InsertArmResource(legacy.clone()));
    store().commit(set).await.unwrap();
    let t = make_tenant(&mut Scripted(vec![bytes])).await;
    assert_ne!(t.id, taken, "the taken id was drawn again, not reused");
    assert_eq!(
        store().arm_resource(&legacy.id).await.unwrap().as_ref(),
        Some(&legacy),
        "the management group keeps its name and owner"
    );
    assert!(store().tenant(taken).await.unwrap().is_none());
    assert_eq!(
        store()
            .arm_resource(&arm::root_management_group(t.id))
            .await
            .unwrap()
            .map(|r| r.tenant_id),
        Some(t.id)
    );
    // A tenant whose root id is held by another tenant (a legacy collision) is refused its
    // root, never handed the other tenant's group.
    let lonely = make_tenant(&mut os).await;
    let root_id = arm::root_management_group(lonely.id);
    let mut set = ChangeSet::new();
    set.push(Change::DeleteArmResource(
        lonely.id,
        root_id.to_ascii_lowercase(),
    ));
    store().commit(set).await.unwrap();
    let mut squat = legacy.clone();
    squat.id = root_id.clone();
    squat.name = lonely.id.to_string();
    let mut set = ChangeSet::new();
    set.push(Change::InsertArmResource(squat.clone()));
    store().commit(set).await.unwrap();
    let e = arm::ensure_root(&mut env(&mut os), &lonely)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (409, "TenantRootGroupConflict"),
        "{e:?}"
    );
    assert_eq!(
        store()
            .arm_resource(&root_id)
            .await
            .unwrap()
            .map(|r| r.tenant_id),
        Some(demo_tenant_id())
    );
}

// ---- Identifier URIs ----------------------------------------------------------------------------

async fn apps_named(g: &G, name: &str) -> Vec<Value> {
    g.all("/applications")
        .await
        .into_iter()
        .filter(|a| a["displayName"] == name)
        .collect()
}

/// Another tenant's application (created through the same op the Graph handler calls).
async fn foreign_app(
    entropy: &mut dyn Entropy,
    t: &castellan_core::model::Tenant,
    uris: Vec<String>,
    audience: castellan_core::model::SignInAudience,
) -> castellan_core::model::Application {
    applications::create(
        &mut env(entropy),
        t,
        applications::ApplicationInput {
            display_name: Field::Value(alias("foreign")),
            sign_in_audience: Field::Value(audience),
            identifier_uris: Field::Value(uris),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn names_identifier_uris_follow_entras_rules_over_graph() {
    use castellan_core::model::SignInAudience::*;
    let mut os = castellan_server::crypto::OsEntropy;
    let other = make_tenant(&mut os).await;
    let theirs = foreign_app(
        &mut os,
        &other,
        vec![format!("api://{}/orders", other.id)],
        AzureAdMultipleOrgs,
    )
    .await;
    let g = G::demo().await;
    let tid = shared().demo["tenant_id"].as_str().unwrap().to_string();
    let domain = shared().demo["domain"].as_str().unwrap().to_string();
    for (uri, audience, needle) in [
        (
            format!("api://{}", theirs.app_id),
            "AzureADMyOrg",
            "neither this application's appId",
        ),
        (
            format!("api://{}/orders", other.id),
            "AzureADMyOrg",
            "neither this application's appId",
        ),
        (
            "https://graph.microsoft.com".into(),
            "AzureADMyOrg",
            "reserved",
        ),
        (
            "https://management.azure.com/".into(),
            "AzureADMyOrg",
            "reserved",
        ),
        ("https://vault.azure.net".into(), "AzureADMyOrg", "reserved"),
        (
            "https://contoso.microsoft.com/api".into(),
            "AzureADMyOrg",
            "reserved",
        ),
        (
            format!("https://{}/api", other.domains[0].name),
            "AzureADMyOrg",
            "must use a verified domain",
        ),
        (
            "https://evil.example/api".into(),
            "AzureADMyOrg",
            "must use a verified domain",
        ),
        (
            alias("api://plain"),
            "AzureADMultipleOrgs",
            "must use a verified domain",
        ),
    ] {
        let name = alias("urirule");
        let (st, v) = g
            .post(
                "/applications",
                json!({"displayName": name, "signInAudience": audience, "identifierUris": [uri]}),
            )
            .await;
        assert_eq!(st, 400, "{uri}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{uri}: {msg}");
        assert!(
            apps_named(&g, &name).await.is_empty(),
            "{uri}: nothing was created"
        );
    }
    // A URI another tenant's application holds is taken, whatever the spelling.
    let held = format!("api://{}/orders", other.id);
    let (_, mine) = g
        .post("/applications", json!({"displayName": alias("holder")}))
        .await;
    let path = format!("/applications/{}", mine["id"].as_str().unwrap());
    let (st, v) = g
        .patch(&path, json!({"identifierUris": [held.to_uppercase()]}))
        .await;
    assert_eq!(st, 400, "{v}");
    let (_, now) = g.get(&path).await;
    assert_eq!(
        now["identifierUris"],
        json!([]),
        "the PATCH changed nothing"
    );
    // Positive controls: the allowed forms, in the demo tenant.
    let app_id = mine["appId"].as_str().unwrap();
    for uris in [
        json!([format!("api://{app_id}")]),
        json!([format!("api://{tid}/{}", alias("orders"))]),
        json!([format!("https://{domain}/{}", alias("orders"))]),
        json!([format!("api://{}", alias("plain"))]),
    ] {
        let (st, v) = g.patch(&path, json!({"identifierUris": uris})).await;
        assert_eq!(st, 204, "{uris}: {v}");
        let (_, now) = g.get(&path).await;
        assert_eq!(now["identifierUris"], uris);
    }
    // Turning the app multi-tenant is refused while it holds a plain api://word.
    let (st, v) = g
        .patch(&path, json!({"signInAudience": "AzureADMultipleOrgs"}))
        .await;
    assert_eq!(st, 400, "{v}");
    let (_, now) = g.get(&path).await;
    assert_eq!(now["signInAudience"], "AzureADMyOrg");
    // The other tenant's application still holds its URI, alone.
    assert_eq!(
        store()
            .application_by_identifier_uri(&held)
            .await
            .unwrap()
            .map(|a| a.id),
        Some(theirs.id)
    );
}

#[tokio::test]
async fn names_identifier_uris_are_unique_across_tenants_and_resolve_to_their_holder() {
    use castellan_core::model::SignInAudience::*;
    let mut os = castellan_server::crypto::OsEntropy;
    let demo = demo_tenant().await;
    let other = make_tenant(&mut os).await;
    // The demo tenant's single-tenant app holds a plain api://word, with a service principal
    // (whose names copy the URI).
    let word = alias("api://shared");
    let old = foreign_app(&mut os, &demo, vec![word.clone()], AzureAdMyOrg).await;
    service_principals::create(&mut env(&mut os), &demo, &old.app_id.to_string())
        .await
        .unwrap();
    // Another tenant cannot take it while it is held (core op and the store's index alike).
    let e = applications::create(
        &mut env(&mut os),
        &other,
        applications::ApplicationInput {
            display_name: Field::Value(alias("squat")),
            identifier_uris: Field::Value(vec![format!("{}/", word.to_uppercase())]),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("another tenant"), "{e}");
    assert!(store()
        .applications(other.id)
        .await
        .unwrap()
        .iter()
        .all(|a| a.identifier_uris.is_empty()));
    let mut squat = old.clone();
    squat.id = castellan_core::ObjectId::from_uuid(uuid::Uuid::new_v4());
    squat.app_id = castellan_core::AppId::from_uuid(uuid::Uuid::new_v4());
    squat.tenant_id = other.id;
    squat.identifier_uris = vec![word.clone()];
    let mut set = ChangeSet::new();
    set.push(Change::InsertApplication(squat.clone()));
    assert!(matches!(
        store().commit(set).await,
        Err(castellan_core::store::StoreError::Conflict(_))
    ));
    assert!(store()
        .application(other.id, squat.id)
        .await
        .unwrap()
        .is_none());
    // The demo app gives the URI up (its service principal keeps the stale name) and the other
    // tenant's app takes it.
    applications::update(
        &mut env(&mut os),
        &demo,
        &old.id.to_string(),
        applications::ApplicationInput {
            identifier_uris: Field::Value(vec![format!("api://{}", old.app_id)]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let new = foreign_app(&mut os, &other, vec![word.clone()], AzureAdMyOrg).await;
    service_principals::create(&mut env(&mut os), &other, &new.app_id.to_string())
        .await
        .unwrap();
    let secret =
        applications::add_password(&mut env(&mut os), &other, &new.id.to_string(), None, None)
            .await
            .unwrap();
    // In the demo tenant the URI now names an application it has no principal for: 500011,
    // never a token for the old app's stale service principal name.
    let d = &shared().demo;
    let (st, v) = token_response(
        d["tenant_id"].as_str().unwrap(),
        d["confidential_client"]["app_id"].as_str().unwrap(),
        d["confidential_client"]["secret"].as_str().unwrap(),
        &format!("{word}/.default"),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error_codes"][0], 500011, "{v}");
    // Positive controls: in its own tenant the holder's URI gives a token for the holder, and
    // the demo app is still reachable by its appId URI.
    let (st, v) = token_response(
        &other.id.to_string(),
        &new.app_id.to_string(),
        secret.secret_text.expose(),
        &format!("{word}/.default"),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let claims = decode(v["access_token"].as_str().unwrap());
    assert_eq!(claims["tid"], other.id.to_string());
    assert!(
        claims["aud"] == word || claims["aud"] == new.app_id.to_string(),
        "{claims}"
    );
    let (st, v) = token_response(
        d["tenant_id"].as_str().unwrap(),
        d["confidential_client"]["app_id"].as_str().unwrap(),
        d["confidential_client"]["secret"].as_str().unwrap(),
        &format!("api://{}/.default", old.app_id),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let claims = decode(v["access_token"].as_str().unwrap());
    assert!(
        claims["aud"] == format!("api://{}", old.app_id) || claims["aud"] == old.app_id.to_string(),
        "{claims}"
    );
}

fn decode(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn names_racing_writers_of_one_identifier_uri_leave_exactly_one_holder() {
    use castellan_core::model::SignInAudience::AzureAdMyOrg;
    let mut os = castellan_server::crypto::OsEntropy;
    let other = make_tenant(&mut os).await;
    let word = alias("api://race");
    let g = G::demo().await;
    // Eight Graph creates in the demo tenant and eight op-level creates in another tenant, all
    // at once, all for the same URI.
    let graph = (0..8).map(|i| {
        let g = &g;
        let word = word.clone();
        async move {
            let (st, _) = g
                .post(
                    "/applications",
                    json!({"displayName": format!("race-{i}"), "identifierUris": [word]}),
                )
                .await;
            st == 201
        }
    });
    let ops = (0..8).map(|_| {
        let (other, word) = (other.clone(), word.clone());
        async move {
            let mut e = castellan_server::crypto::OsEntropy;
            applications::create(
                &mut env(&mut e),
                &other,
                applications::ApplicationInput {
                    display_name: Field::Value(alias("race")),
                    sign_in_audience: Field::Value(AzureAdMyOrg),
                    identifier_uris: Field::Value(vec![word]),
                    ..Default::default()
                },
            )
            .await
            .is_ok()
        }
    });
    let (a, b) = tokio::join!(
        futures_join_all(graph.collect()),
        futures_join_all(ops.collect())
    );
    let wins = a.iter().chain(&b).filter(|ok| **ok).count();
    assert_eq!(wins, 1, "exactly one writer holds the URI ({a:?} / {b:?})");
    let holder = store()
        .application_by_identifier_uri(&word)
        .await
        .unwrap()
        .expect("one holder");
    let mut count = 0;
    for t in [demo_tenant_id(), other.id] {
        count += store()
            .applications(t)
            .await
            .unwrap()
            .iter()
            .filter(|x| x.identifier_uris.iter().any(|u| u == &word))
            .count();
    }
    assert_eq!(count, 1, "only the holder ({}) stores it", holder.id);
}

/// Awaits every future concurrently (no `futures` dependency: one task each).
async fn futures_join_all<F>(fs: Vec<F>) -> Vec<bool>
where
    F: std::future::Future<Output = bool>,
{
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = fs.into_iter().map(Box::pin).collect();
    let mut out = vec![None; pinned.len()];
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.unwrap_or(false)).collect()
}
