//! ARM over HTTP: authentication, api-version, error shapes, the hierarchy's rules, the
//! managed-identity endpoint's refusals, and the start-up upgrade of built-in service principals.

use serde_json::{json, Value};

use crate::{http, shared, token_response, G};

async fn arm_token() -> String {
    let d = &shared().demo;
    let (st, v) = token_response(
        d["tenant_id"].as_str().unwrap(),
        d["confidential_client"]["app_id"].as_str().unwrap(),
        d["confidential_client"]["secret"].as_str().unwrap(),
        "https://management.azure.com/.default",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

fn arm(token: String) -> G {
    let mut g = G::with_token(token);
    g.base = shared().origin.clone();
    g
}

fn sub() -> String {
    shared().demo["subscription_scope"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn arm_needs_an_arm_token_and_an_api_version() {
    let s = shared();
    let r = http()
        .get(format!("{}/subscriptions?api-version=2022-12-01", s.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    // A Graph token is the wrong audience.
    let (st, v) = arm(crate::demo_token().await)
        .get("/subscriptions?api-version=2022-12-01")
        .await;
    assert_eq!(st, 401, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("management.azure.com"));
    let a = arm(arm_token().await);
    let (st, v) = a.get("/subscriptions").await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["code"], "MissingApiVersionParameter");
    let (st, v) = a.get("/subscriptions?api-version=2022-12-01").await;
    assert_eq!(st, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_bodies_and_ids_change_nothing() {
    let a = arm(arm_token().await);
    let rg = format!("{}/resourceGroups/it-bad", sub());
    for body in [
        json!({"identity": {"type": "Both"}}),
        json!({"tags": {"a": 1}}),
        json!({"location": 7}),
    ] {
        let (st, v) = a
            .send(
                reqwest::Method::PUT,
                &format!("{rg}?api-version=2021-04-01"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], "InvalidRequestContent");
    }
    let (st, _) = a.get(&format!("{rg}?api-version=2021-04-01")).await;
    assert_eq!(st, 404, "nothing was created by the refused PUTs");
    let (st, v) = a
        .send(
            reqwest::Method::PUT,
            "/subscriptions/not-a-guid?api-version=2021-04-01",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["code"], "InvalidResourceId");
    // Access is inherited downwards only: Owner of the subscription cannot read, change or
    // delete the root management group above it, nor create a management group under it.
    let root = format!(
        "/providers/Microsoft.Management/managementGroups/{}",
        shared().demo["tenant_id"].as_str().unwrap()
    );
    for (st, v) in [
        a.get(&format!("{root}?api-version=2021-04-01")).await,
        a.delete(&format!("{root}?api-version=2021-04-01")).await,
        a.send(
            reqwest::Method::PUT,
            "/providers/Microsoft.Management/managementGroups/it-prod?api-version=2021-04-01",
            Some(json!({"properties": {"displayName": "Prod"}})),
        )
        .await,
    ] {
        assert_eq!(st, 403, "{v}");
        assert_eq!(v["error"]["code"], "AuthorizationFailed");
    }
    // Deny assignments are read-only.
    let (st, v) = a
        .send(
            reqwest::Method::PUT,
            &format!(
                "{}/providers/Microsoft.Authorization/denyAssignments/x?api-version=2022-04-01",
                sub()
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "DenyAssignmentsAreSystemManaged");
}

#[tokio::test]
async fn the_identity_endpoint_refuses_what_it_should() {
    let s = shared();
    let web = &s.demo["web_app"];
    let url = web["env"]["IDENTITY_ENDPOINT"].as_str().unwrap();
    let header = web["env"]["IDENTITY_HEADER"].as_str().unwrap();
    let get = |q: String, h: Option<String>| async move {
        let mut rb = http().get(format!("{url}?{q}"));
        if let Some(h) = h {
            rb = rb.header("X-IDENTITY-HEADER", h);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let res = "resource=https://storage.azure.com/";
    let (st, v) = get(format!("api-version=2019-08-01&{res}"), None).await;
    assert_eq!(st, 401);
    assert_eq!(v["statusCode"], 401);
    let (st, _) = get(format!("api-version=2017-09-01&{res}"), Some(header.into())).await;
    assert_eq!(st, 400);
    let (st, v) = get("api-version=2019-08-01".into(), Some(header.into())).await;
    assert_eq!(st, 400);
    assert!(v["message"].as_str().unwrap().contains("resource"));
    // A header for another resource id, or altered, is refused.
    let forged = format!("{}x", header);
    let (st, _) = get(format!("api-version=2019-08-01&{res}"), Some(forged)).await;
    assert_eq!(st, 401);
    let (st, v) = get(
        format!("api-version=2019-08-01&{res}&client_id=a&mi_res_id=b"),
        Some(header.into()),
    )
    .await;
    assert_eq!(st, 400);
    assert!(v["message"].as_str().unwrap().contains("at most one"));
    // An unknown resource (audience) is the token service's 500011.
    let (st, v) = get(
        "api-version=2019-08-01&resource=https://nope.example".into(),
        Some(header.into()),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        v["message"].as_str().unwrap().contains("AADSTS500011"),
        "{v}"
    );
    let (st, v) = get(format!("api-version=2019-08-01&{res}"), Some(header.into())).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["expires_on"].as_str().unwrap().parse::<i64>().unwrap() > 0);
}

#[tokio::test]
async fn existing_tenants_gain_new_built_in_service_principals_at_start() {
    use castellan_core::store::prelude::*;
    use castellan_core::store::{Change, ChangeSet};
    let dir = std::env::temp_dir().join(format!("castellan-it-builtins-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("c.db").display());
    let store = castellan_store::SqlStore::connect(&url).await.unwrap();
    let hasher = castellan_server::crypto::Argon2Hasher::new(1);
    let mut entropy = castellan_server::crypto::OsEntropy;
    let mut env = castellan_core::ops::Env {
        store: &store,
        now: castellan_core::Timestamp::from_secs(1_800_000_000),
        entropy: &mut entropy,
        hasher: &hasher,
        actor: castellan_core::audit::Actor::Operator,
        correlation_id: "t".into(),
    };
    let t = castellan_core::ops::tenants::create(
        &mut env,
        castellan_core::ops::tenants::NewTenant {
            name: "old".into(),
            display_name: None,
            domain_suffix: "onmicrosoft.test".into(),
            license: castellan_core::model::LicenseTier::Free,
            admin_upn: "admin".into(),
            admin_password: "Old-tenant-Passw0rd!".into(),
        },
    )
    .await
    .unwrap()
    .tenant;
    // Simulate a tenant made before Azure Resource Manager was a built-in resource.
    let armsp = store
        .service_principal_by_app_id(t.id, castellan_core::catalog::ARM_APP_ID)
        .await
        .unwrap()
        .unwrap();
    let mut set = ChangeSet::new();
    set.push(Change::DeleteServicePrincipal(t.id, armsp.id));
    store.commit(set).await.unwrap();
    let n = castellan_core::ops::tenants::ensure_built_in_service_principals(&mut env)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(store
        .service_principal_by_app_id(t.id, castellan_core::catalog::ARM_APP_ID)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        castellan_core::ops::tenants::ensure_built_in_service_principals(&mut env)
            .await
            .unwrap(),
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn plain_store() -> (castellan_store::SqlStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("castellan-it-arm-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("c.db").display());
    (castellan_store::SqlStore::connect(&url).await.unwrap(), dir)
}

#[tokio::test]
async fn management_groups_inherit_downwards_and_guard_their_deletion() {
    use castellan_core::ops::arm::{self, ArmCaller, PutResource};
    use castellan_core::store::prelude::*;
    let (store, dir) = plain_store().await;
    let hasher = castellan_server::crypto::Argon2Hasher::new(1);
    let mut entropy = castellan_server::crypto::OsEntropy;
    let mut env = castellan_core::ops::Env {
        store: &store,
        now: castellan_core::Timestamp::from_secs(1_800_000_000),
        entropy: &mut entropy,
        hasher: &hasher,
        actor: castellan_core::audit::Actor::Operator,
        correlation_id: "t".into(),
    };
    let created = castellan_core::ops::tenants::create(
        &mut env,
        castellan_core::ops::tenants::NewTenant {
            name: "mg".into(),
            display_name: None,
            domain_suffix: "onmicrosoft.test".into(),
            license: castellan_core::model::LicenseTier::P2,
            admin_upn: "admin".into(),
            admin_password: "Mg-tenant-Passw0rd!".into(),
        },
    )
    .await
    .unwrap();
    let t = created.tenant;
    let plat = ArmCaller::platform(t.clone());
    let mg = "/providers/Microsoft.Management/managementGroups/prod";
    arm::put_resource(
        &mut env,
        &plat,
        mg,
        PutResource {
            display_name: Some("Prod".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let sub = format!("/subscriptions/{}", uuid::Uuid::new_v4());
    arm::put_resource(
        &mut env,
        &plat,
        &sub,
        PutResource {
            parent: Some(mg.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let rg = format!("{sub}/resourceGroups/app");
    arm::put_resource(&mut env, &plat, &rg, PutResource::default())
        .await
        .unwrap();
    let chain = arm::management_chain(&store, &rg).await.unwrap();
    assert_eq!(chain, vec!["prod".to_string(), t.id.to_string()]);
    // Reader at the management group reads the resource group below the subscription.
    let admin = created.admin.id;
    let reader = castellan_core::azure_rbac::built_in_by_name("Reader")
        .unwrap()
        .id;
    arm::put_assignment(
        &mut env,
        &plat,
        mg,
        uuid::Uuid::new_v4(),
        arm::PutAssignment {
            role_definition_id: reader.to_string(),
            principal_id: admin.to_string(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let d = arm::decide(
        &store,
        t.id,
        castellan_core::Timestamp(0),
        &[admin],
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        false,
        &rg,
    )
    .await
    .unwrap();
    assert!(
        matches!(d, castellan_core::azure_rbac::Decision::Allowed { ref scope, .. } if scope.ends_with("/prod")),
        "{d:?}"
    );
    // A management group with a child, and the root group, cannot be deleted.
    let e = arm::delete_resource(&mut env, &plat, mg).await.unwrap_err();
    assert_eq!(e.code, "ManagementGroupHasChildren");
    let e = arm::delete_resource(&mut env, &plat, &arm::root_management_group(t.id))
        .await
        .unwrap_err();
    assert_eq!(e.code, "CannotDeleteRootManagementGroup");
    // Deleting the subscription takes the resource group with it; then the group may go,
    // and its assignment with it.
    arm::delete_resource(&mut env, &plat, &sub).await.unwrap();
    assert!(store.arm_resource(&rg).await.unwrap().is_none());
    arm::delete_resource(&mut env, &plat, mg).await.unwrap();
    assert!(store.azure_role_assignments(t.id).await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_subscription_holds_at_most_4000_role_assignments() {
    use castellan_core::ops::arm::{self, ArmCaller, PutResource};
    use castellan_core::store::prelude::*;
    use castellan_core::store::{Change, ChangeSet};
    let (store, dir) = plain_store().await;
    let hasher = castellan_server::crypto::Argon2Hasher::new(1);
    let mut entropy = castellan_server::crypto::OsEntropy;
    let mut env = castellan_core::ops::Env {
        store: &store,
        now: castellan_core::Timestamp::from_secs(1_800_000_000),
        entropy: &mut entropy,
        hasher: &hasher,
        actor: castellan_core::audit::Actor::Operator,
        correlation_id: "t".into(),
    };
    let created = castellan_core::ops::tenants::create(
        &mut env,
        castellan_core::ops::tenants::NewTenant {
            name: "limit".into(),
            display_name: None,
            domain_suffix: "onmicrosoft.test".into(),
            license: castellan_core::model::LicenseTier::P2,
            admin_upn: "admin".into(),
            admin_password: "Limit-tenant-Passw0rd!".into(),
        },
    )
    .await
    .unwrap();
    let t = created.tenant;
    let plat = ArmCaller::platform(t.clone());
    let sub = format!("/subscriptions/{}", uuid::Uuid::new_v4());
    arm::put_resource(&mut env, &plat, &sub, PutResource::default())
        .await
        .unwrap();
    let reader = castellan_core::azure_rbac::built_in_by_name("Reader")
        .unwrap()
        .id;
    let mut set = ChangeSet::new();
    for i in 0..4000u32 {
        set.push(Change::InsertAzureRoleAssignment(
            castellan_core::model::AzureRoleAssignment {
                id: uuid::Uuid::new_v4(),
                tenant_id: t.id,
                scope: format!("{sub}/resourceGroups/rg{}", i % 40),
                role_definition_id: reader,
                principal_id: castellan_core::ObjectId::from_random(
                    *uuid::Uuid::new_v4().as_bytes(),
                ),
                principal_type: "User".into(),
                condition: None,
                description: None,
                created: castellan_core::Timestamp::from_secs(1),
                created_by: None,
            },
        ));
    }
    store.commit(set).await.unwrap();
    let e = arm::put_assignment(
        &mut env,
        &plat,
        &sub,
        uuid::Uuid::new_v4(),
        arm::PutAssignment {
            role_definition_id: reader.to_string(),
            principal_id: created.admin.id.to_string(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "RoleAssignmentLimitExceeded");
    assert!(e.message.contains("groups"), "{}", e.message);
    assert_eq!(
        store.azure_role_assignments(t.id).await.unwrap().len(),
        4000
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_stored_deny_assignment_wins_over_owner_through_the_api() {
    let d = &shared().demo;
    let a = arm(arm_token().await);
    let name = format!(
        "it-deny-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let rg = format!("{}/resourceGroups/{name}", sub());
    let (st, v) = a
        .send(
            reqwest::Method::PUT,
            &format!("{rg}?api-version=2021-04-01"),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert!(st == 200 || st == 201, "{v}");
    // The platform denies deleting this resource group to the demo client (Owner above it).
    let sp = castellan_core::ObjectId::parse(
        d["confidential_client"]["service_principal_id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let tenant = castellan_core::TenantId::parse(d["tenant_id"].as_str().unwrap()).unwrap();
    let deny_id = uuid::Uuid::new_v4().to_string();
    let stored = castellan_core::model::StoredDenyAssignment {
        tenant_id: tenant,
        deny: castellan_core::azure_rbac::DenyAssignment {
            id: deny_id.clone(),
            name: "Protect it-deny".into(),
            principals: vec![sp],
            scope: rg.clone(),
            actions: vec!["Microsoft.Resources/subscriptions/resourceGroups/delete".into()],
            data_actions: vec![],
        },
        description: "integration test".into(),
        created: castellan_server::state::now(),
    };
    let store = shared().state.store.clone();
    let mut set = castellan_core::store::ChangeSet::new();
    set.push(castellan_core::store::Change::InsertDenyAssignment(stored));
    store.commit(set).await.unwrap();
    // Listed at the scope, honoured by checkAccess and by the operation itself.
    let (st, v) = a
        .get(&format!(
            "{rg}/providers/Microsoft.Authorization/denyAssignments?api-version=2022-04-01"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["name"] == deny_id.as_str()));
    let (st, v) = a
        .post(
            &format!("{rg}/providers/Microsoft.Authorization/checkAccess?api-version=2022-04-01"),
            json!({"actions": [{"id": "Microsoft.Resources/subscriptions/resourceGroups/delete"},
                               {"id": "Microsoft.Resources/subscriptions/resourceGroups/read"}]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let answers = v["value"].as_array().unwrap();
    let of = |id: &str| {
        answers
            .iter()
            .find(|x| x["actionId"] == id)
            .cloned()
            .unwrap()
    };
    let del = of("Microsoft.Resources/subscriptions/resourceGroups/delete");
    assert_eq!(del["accessDecision"], "NotAllowed", "{v}");
    assert!(del["reason"].as_str().unwrap().contains("deny"), "{del}");
    let read = of("Microsoft.Resources/subscriptions/resourceGroups/read");
    assert_eq!(read["accessDecision"], "Allowed", "{v}");
    let (st, v) = a.delete(&format!("{rg}?api-version=2021-04-01")).await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "AuthorizationFailed");
    let (st, _) = a.get(&format!("{rg}?api-version=2021-04-01")).await;
    assert_eq!(st, 200, "the refused delete removed nothing");
    // Once the platform lifts it, Owner may delete.
    let mut set = castellan_core::store::ChangeSet::new();
    set.push(castellan_core::store::Change::DeleteDenyAssignment(
        tenant, deny_id,
    ));
    store.commit(set).await.unwrap();
    let (st, v) = a.delete(&format!("{rg}?api-version=2021-04-01")).await;
    assert!(st == 200 || st == 202 || st == 204, "{v}");
}

#[tokio::test]
async fn only_the_last_five_identity_endpoint_secrets_work() {
    let a = arm(arm_token().await);
    let name = format!("it-mi-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let rg = format!("{}/resourceGroups/{name}", sub());
    let (st, v) = a
        .send(
            reqwest::Method::PUT,
            &format!("{rg}?api-version=2021-04-01"),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert!(st == 200 || st == 201, "{v}");
    let site = format!("{rg}/providers/Microsoft.Web/sites/{name}");
    let (st, v) = a
        .send(
            reqwest::Method::PUT,
            &format!("{site}?api-version=2022-03-01"),
            Some(json!({"location": "westeurope", "identity": {"type": "SystemAssigned"}})),
        )
        .await;
    assert!(st == 200 || st == 201, "{v}");
    let mut headers = Vec::new();
    for _ in 0..6 {
        let (st, v) = a
            .post(
                &format!("{site}/listIdentityEndpoint?api-version=2022-03-01"),
                json!({}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        headers.push(v["IDENTITY_HEADER"].as_str().unwrap().to_string());
    }
    let url = format!("{}/msi/token", shared().origin);
    let token = |h: String| {
        let url = url.clone();
        async move {
            http()
                .get(format!(
                    "{url}?api-version=2019-08-01&resource=https://storage.azure.com/"
                ))
                .header("X-IDENTITY-HEADER", h)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The first of six is gone; the last five work.
    assert_eq!(token(headers[0].clone()).await, 401);
    for h in &headers[1..] {
        assert_eq!(token(h.clone()).await, 200);
    }
    a.delete(&format!("{rg}?api-version=2021-04-01")).await;
}

#[tokio::test]
async fn the_sample_blob_store_follows_a_signing_key_rotation() {
    let s = shared();
    let web = &s.demo["web_app"];
    let msi = web["env"]["IDENTITY_ENDPOINT"]
        .as_str()
        .unwrap()
        .to_string();
    let header = web["env"]["IDENTITY_HEADER"].as_str().unwrap().to_string();
    let blob_url = s.demo["storage"]["blob_url"].as_str().unwrap().to_string();
    let storage_token = || {
        let (msi, header) = (msi.clone(), header.clone());
        async move {
            let v: Value = http()
                .get(format!(
                    "{msi}?api-version=2019-08-01&resource=https://storage.azure.com/"
                ))
                .header("X-IDENTITY-HEADER", header)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["access_token"].as_str().unwrap().to_string()
        }
    };
    let read = |token: String| {
        let url = blob_url.clone();
        async move {
            http()
                .get(&url)
                .bearer_auth(token)
                .header("x-ms-version", "2023-11-03")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The blob store has the authority's keys cached.
    assert_eq!(read(storage_token().await).await, 200);
    // A new signing key takes over as soon as every node can publish it (5 s); the store
    // learns it from the JWKS when a token with the unknown kid arrives (after its 10-second
    // refetch guard).
    let r = http()
        .post(format!("{}/operator/v1/keys/rotate", s.origin))
        .bearer_auth(&s.operator_key)
        .json(&json!({"activateAfterSeconds": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let next: Value = r.json().await.unwrap();
    let mut fresh = storage_token().await;
    for _ in 0..40 {
        if jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref() == next["kid"].as_str() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        fresh = storage_token().await;
    }
    let h = jsonwebtoken::decode_header(&fresh).unwrap();
    assert_eq!(h.kid.as_deref(), next["kid"].as_str(), "the new key signs");
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    assert_eq!(read(fresh).await, 200);
}
