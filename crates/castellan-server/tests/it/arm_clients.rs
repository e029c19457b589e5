//! ARM as the Azure CLI and the SDKs use it: subscriptions visible through a role below them,
//! scope-qualified role definition ids that compare equal with assignments' `roleDefinitionId`,
//! Azure's `RoleAssignmentExists` message, HEAD existence checks, locations, providers,
//! tag names, locks, `$filter` on `/resources`, top-level lists and canonical id casing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{alias, http, shared, token_response, G};

const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const API: &str = "api-version=2022-12-01";

fn sub() -> String {
    shared().demo["subscription_scope"]
        .as_str()
        .unwrap()
        .to_string()
}

fn sub_id() -> String {
    sub().rsplit('/').next().unwrap().to_string()
}

fn arm(token: String) -> G {
    let mut g = G::with_token(token);
    g.base = shared().origin.clone();
    g
}

async fn owner() -> G {
    let d = &shared().demo;
    let (st, v) = token_response(
        d["tenant_id"].as_str().unwrap(),
        d["confidential_client"]["app_id"].as_str().unwrap(),
        d["confidential_client"]["secret"].as_str().unwrap(),
        "https://management.azure.com/.default",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    arm(v["access_token"].as_str().unwrap().to_string())
}

/// A new service principal with no role anywhere: its object id and an ARM client for it.
async fn new_principal() -> (String, G) {
    let g = G::demo().await;
    let (st, app) = g
        .post("/applications", json!({"displayName": alias("armcli")}))
        .await;
    assert_eq!(st, 201, "{app}");
    let (st, sp) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    assert_eq!(st, 201, "{sp}");
    let (_, pw) = g
        .post(
            &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    let (st, t) = token_response(
        shared().demo["tenant_id"].as_str().unwrap(),
        app["appId"].as_str().unwrap(),
        pw["secretText"].as_str().unwrap(),
        "https://management.azure.com/.default",
    )
    .await;
    assert_eq!(st, 200, "{t}");
    (
        sp["id"].as_str().unwrap().to_string(),
        arm(t["access_token"].as_str().unwrap().to_string()),
    )
}

async fn put(a: &G, id: &str, body: Value) -> Value {
    let (st, v) = a
        .send(
            Method::PUT,
            &format!("{id}?api-version=2021-04-01"),
            Some(body),
        )
        .await;
    assert!(st == 200 || st == 201, "PUT {id}: {st} {v}");
    v
}

async fn assign(a: &G, scope: &str, principal: &str, role_definition_id: &str) -> (u16, Value) {
    let name = uuid::Uuid::new_v4();
    a.send(
        Method::PUT,
        &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"),
        Some(json!({"properties": {"roleDefinitionId": role_definition_id, "principalId": principal, "principalType": "ServicePrincipal"}})),
    )
    .await
}

async fn head(a: &G, id: &str) -> (u16, String) {
    let r = a
        .http
        .head(format!("{}{id}?api-version=2021-04-01", a.base))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn ids(v: &Value) -> Vec<String> {
    v["value"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn arm_a_role_below_a_subscription_makes_it_visible_and_lists_only_what_may_be_read() {
    let a = owner().await;
    let n = alias("vis");
    let rg1 = format!("{}/resourceGroups/it-{n}-1", sub());
    let rg2 = format!("{}/resourceGroups/it-{n}-2", sub());
    let site1 = format!("{rg1}/providers/Microsoft.Web/sites/{n}a");
    let site2 = format!("{rg2}/providers/Microsoft.Web/sites/{n}b");
    for id in [&rg1, &rg2, &site1, &site2] {
        put(&a, id, json!({"location": "westeurope"})).await;
    }
    let (p1, c1) = new_principal().await;
    // No role anywhere: no subscription, and reading it is refused by RBAC.
    let (st, v) = c1.get(&format!("/subscriptions?{API}")).await;
    assert_eq!(st, 200, "{v}");
    assert!(!ids(&v).contains(&sub()), "{v}");
    let (st, v) = c1.get(&format!("{}?{API}", sub())).await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "AuthorizationFailed");
    let (st, v) = c1.get(&format!("{}/resourcegroups?{API}", sub())).await;
    assert_eq!(st, 403, "{v}");

    // Reader on one resource group (`az ad sp create-for-rbac --scopes <rg>`).
    let (st, v) = assign(&a, &rg1, &p1, READER).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = c1.get(&format!("/subscriptions?{API}")).await;
    assert_eq!(st, 200, "{v}");
    let subs = v["value"].as_array().unwrap();
    let mine = subs
        .iter()
        .find(|s| s["id"] == sub().as_str())
        .expect("listed");
    assert_eq!(mine["subscriptionId"], sub_id());
    assert_eq!(mine["state"], "Enabled");
    let (st, v) = c1.get(&format!("{}?{API}", sub())).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = c1.get(&format!("{}/resourcegroups?{API}", sub())).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        ids(&v),
        vec![rg1.clone()],
        "only the readable resource group"
    );
    let (st, v) = c1.get(&format!("{}/resources?{API}", sub())).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(ids(&v), vec![site1.clone()]);
    // Visibility is not access: the other group stays unreadable.
    let (st, v) = c1.get(&format!("{rg2}?{API}")).await;
    assert_eq!(st, 403, "{v}");
    let (st, v) = c1.get(&format!("{rg2}/resources?{API}")).await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "AuthorizationFailed");

    // A workload with a role on one resource only (`az login --identity`).
    let (p2, c2) = new_principal().await;
    let (st, v) = assign(&a, &site2, &p2, READER).await;
    assert_eq!(st, 201, "{v}");
    let (_, v) = c2.get(&format!("/subscriptions?{API}")).await;
    assert!(ids(&v).contains(&sub()), "{v}");
    let (_, v) = c2.get(&format!("{}/resourcegroups?{API}", sub())).await;
    assert_eq!(
        ids(&v),
        Vec::<String>::new(),
        "no resource group is readable"
    );
    let (st, v) = c2.get(&format!("{rg2}/resources?{API}")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(ids(&v), vec![site2.clone()]);

    // HEAD: `az group exists` and `check_existence`.
    assert_eq!(head(&c1, &rg1).await, (204, String::new()));
    assert_eq!(head(&c1, &site1).await.0, 204);
    assert_eq!(head(&c1, &rg2).await, (403, String::new()));
    assert_eq!(head(&a, &rg2).await.0, 204);
    let gone = format!("{}/resourceGroups/it-{n}-missing", sub());
    assert_eq!(head(&a, &gone).await, (404, String::new()));
    assert_eq!(
        head(&a, &format!("{rg1}/providers/Microsoft.Web/sites/nope"))
            .await
            .0,
        404
    );
    // HEAD needs an api-version like everything else.
    let r = a
        .http
        .head(format!("{}{rg1}", a.base))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn arm_role_definition_ids_are_scope_qualified_and_compare_with_assignments() {
    let a = owner().await;
    let n = alias("rd");
    let rg = format!("{}/resourceGroups/it-{n}", sub());
    put(&a, &rg, json!({"location": "westeurope"})).await;
    let qualified = format!(
        "{}/providers/Microsoft.Authorization/roleDefinitions/{READER}",
        sub()
    );
    // Listed (with az's filter) and read at a subscription or below: under the subscription.
    for scope in [
        sub(),
        rg.clone(),
        rg.replace("/resourceGroups/", "/resourcegroups/"),
    ] {
        let (st, v) = a
            .get(&format!("{scope}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName eq 'Reader'&api-version=2022-04-01"))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(ids(&v), vec![qualified.clone()], "at {scope}");
        let (st, v) = a
            .get(&format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{READER}?api-version=2022-04-01"))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["id"], qualified.as_str());
    }
    // At the root: unqualified, as Azure shows it.
    let (_, v) = a
        .get(&format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{READER}?api-version=2022-04-01"
        ))
        .await;
    assert_eq!(
        v["id"],
        format!("/providers/Microsoft.Authorization/roleDefinitions/{READER}")
    );

    // Both forms are accepted on input; answers carry the qualified one.
    let (p1, _) = new_principal().await;
    let (p2, _) = new_principal().await;
    let (st, first) = assign(&a, &rg, &p1, &qualified).await;
    assert_eq!(st, 201, "{first}");
    assert_eq!(first["properties"]["roleDefinitionId"], qualified.as_str());
    let (st, v) = assign(
        &a,
        &rg,
        &p2,
        &format!("/providers/Microsoft.Authorization/roleDefinitions/{READER}"),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["properties"]["roleDefinitionId"], qualified.as_str());
    // `az role assignment list --role Reader --scope <rg>` compares these strings.
    let (_, listed) = a
        .get(&format!(
            "{rg}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"
        ))
        .await;
    let readers: Vec<&Value> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["properties"]["roleDefinitionId"] == qualified.as_str())
        .collect();
    assert!(readers
        .iter()
        .any(|x| x["properties"]["principalId"] == p1.as_str()));
    assert!(readers
        .iter()
        .any(|x| x["properties"]["principalId"] == p2.as_str()));

    // `az role assignment list --scope <rg> --assignee … --include-groups`.
    let (st, v) = a
        .get(&format!(
            "{rg}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope() and assignedTo('{p1}')&api-version=2022-04-01"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["properties"]["principalId"].clone())
            .collect::<Vec<_>>(),
        vec![json!(p1)]
    );
    // A repeated create: Azure's 409 with the existing assignment's name, 32 hex digits.
    let (st, v) = assign(&a, &rg, &p1, &qualified).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["code"], "RoleAssignmentExists");
    let hex = first["name"].as_str().unwrap().replace('-', "");
    assert_eq!(
        v["error"]["message"],
        format!(
            "The role assignment already exists. The ID of the existing role assignment is {hex}."
        )
    );
    // Garbage is still refused.
    let (st, v) = assign(
        &a,
        &rg,
        &p1,
        "/providers/Microsoft.Authorization/roleDefinitions/x",
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "InvalidRoleDefinitionId");
}

#[tokio::test]
async fn arm_locations_providers_tag_names_and_locks() {
    let a = owner().await;
    let s = sub();
    let (st, v) = a.get(&format!("{s}/locations?{API}")).await;
    assert_eq!(st, 200, "{v}");
    let locs = ids(&v);
    for l in ["westeurope", "northeurope", "eastus"] {
        assert!(locs.contains(&format!("{s}/locations/{l}")), "{l}: {v}");
    }
    let we = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "westeurope")
        .unwrap();
    assert_eq!(we["displayName"], "West Europe");
    assert_eq!(we["metadata"]["regionType"], "Physical");
    let (st, v) = a.get(&format!("{s}/locations")).await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (400, json!("MissingApiVersionParameter"))
    );
    let other = format!("/subscriptions/{}", uuid::Uuid::new_v4());
    let (st, v) = a.get(&format!("{other}/locations?{API}")).await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(v["error"]["code"], "SubscriptionNotFound");

    // `az login` lists the tenants, then each tenant's subscriptions.
    let (st, v) = a.get(&format!("/tenants?{API}")).await;
    assert_eq!(st, 200, "{v}");
    let tid = shared().demo["tenant_id"].as_str().unwrap();
    assert_eq!(ids(&v), vec![format!("/tenants/{tid}")]);
    assert_eq!(v["value"][0]["tenantId"], tid);
    assert_eq!(v["value"][0]["defaultDomain"], shared().demo["domain"]);
    let (st, _) = http()
        .get(format!("{}/tenants?{API}", shared().origin))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(st, 401);

    // Providers, their namespaces as registered whatever the request's casing.
    let (st, v) = a
        .get(&format!("{s}/providers?api-version=2021-04-01"))
        .await;
    assert_eq!(st, 200, "{v}");
    let storage = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["namespace"] == "Microsoft.Storage")
        .expect("Microsoft.Storage listed");
    assert_eq!(storage["registrationState"], "Registered");
    assert_eq!(storage["id"], format!("{s}/providers/Microsoft.Storage"));
    let (st, v) = a
        .get(&format!(
            "{s}/providers/microsoft.storage?api-version=2021-04-01"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["namespace"], "Microsoft.Storage");
    assert!(v["resourceTypes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["resourceType"] == "storageAccounts"
            && !t["apiVersions"].as_array().unwrap().is_empty()));
    let (st, v) = a
        .get(&format!(
            "{s}/providers/Contoso.Nothing?api-version=2021-04-01"
        ))
        .await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(v["error"]["code"], "InvalidResourceNamespace");
    for path in [
        format!("{s}/providers/Microsoft.Management/register?api-version=2021-04-01"),
        "/providers/Microsoft.Management/register?api-version=2021-04-01".to_string(),
    ] {
        let (st, v) = a.send(Method::POST, &path, None).await;
        assert_eq!(st, 200, "{path}: {v}");
        assert_eq!(v["namespace"], "Microsoft.Management");
        assert_eq!(v["registrationState"], "Registered");
    }
    let (st, v) = a
        .get("/providers/Microsoft.Authorization?api-version=2021-04-01")
        .await;
    assert_eq!(
        (st, v["namespace"].clone()),
        (200, json!("Microsoft.Authorization"))
    );
    // Registering needs `{ns}/register/action` at the subscription (Reader lacks it); a
    // principal without any role there is refused before that.
    let (p, c) = new_principal().await;
    let (st, v) = c
        .send(
            Method::POST,
            &format!("{s}/providers/Microsoft.Storage/register?api-version=2021-04-01"),
            None,
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (403, json!("AuthorizationFailed")),
        "{v}"
    );
    let (st, _) = assign(&a, &s, &p, READER).await;
    assert_eq!(st, 201);
    let (st, v) = c
        .send(
            Method::POST,
            &format!("{s}/providers/Microsoft.Storage/register?api-version=2021-04-01"),
            None,
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.Storage/register/action"),
        "{v}"
    );
    let (st, _) = c
        .get(&format!("{s}/providers?api-version=2021-04-01"))
        .await;
    assert_eq!(st, 200);

    // Tag names over the subscription's scopes.
    let n = alias("tag");
    let tag = format!("it{n}");
    let rg = format!("{s}/resourceGroups/it-{n}");
    put(
        &a,
        &rg,
        json!({"location": "westeurope", "tags": {tag.clone(): "one"}}),
    )
    .await;
    put(
        &a,
        &format!("{rg}/providers/Microsoft.Web/sites/{n}"),
        json!({"location": "westeurope", "tags": {tag.clone(): "two"}}),
    )
    .await;
    let (st, v) = a.get(&format!("{s}/tagNames?api-version=2021-04-01")).await;
    assert_eq!(st, 200, "{v}");
    let t = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tagName"] == tag.as_str())
        .unwrap_or_else(|| panic!("{tag} in {v}"));
    assert_eq!(t["count"]["value"], 2);
    let values: Vec<&str> = t["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["tagValue"].as_str().unwrap())
        .collect();
    assert_eq!(values, vec!["one", "two"]);
    let (p3, c3) = new_principal().await;
    let (st, _) = c3
        .get(&format!("{s}/tagNames?api-version=2021-04-01"))
        .await;
    assert_eq!(st, 403);
    let _ = p3;

    // Locks: none, in ARM's list shape; the scope must exist and be readable.
    for scope in [s.clone(), rg.clone()] {
        let (st, v) = a
            .get(&format!(
                "{scope}/providers/Microsoft.Authorization/locks?api-version=2016-09-01"
            ))
            .await;
        assert_eq!((st, v), (200, json!({"value": []})), "{scope}");
    }
    let (st, _) = a
        .get(&format!("{s}/resourceGroups/it-{n}-none/providers/Microsoft.Authorization/locks?api-version=2016-09-01"))
        .await;
    assert_eq!(st, 404);
    let (st, v) = c3
        .get(&format!(
            "{rg}/providers/Microsoft.Authorization/locks?api-version=2016-09-01"
        ))
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (403, json!("AuthorizationFailed"))
    );
}

#[tokio::test]
async fn arm_resources_filter_top_level_and_canonical_casing() {
    let a = owner().await;
    let n = alias("flt");
    let lower_rg = format!("{}/resourcegroups/it-{n}", sub());
    let rg = format!("{}/resourceGroups/it-{n}", sub());
    // Created with the request's lower case, answered in Azure's.
    let v = put(&a, &lower_rg, json!({"location": "westeurope"})).await;
    assert_eq!(v["id"], rg.as_str());
    let v = put(
        &a,
        &format!("{lower_rg}/providers/microsoft.storage/storageaccounts/{n}"),
        json!({"location": "westeurope", "tags": {"env": "prod"}}),
    )
    .await;
    let acct = format!("{rg}/providers/Microsoft.Storage/storageAccounts/{n}");
    assert_eq!(v["id"], acct.as_str());
    assert_eq!(v["type"], "Microsoft.Storage/storageAccounts");
    let container = format!("{acct}/blobServices/default/containers/c1");
    let v = put(
        &a,
        &format!("{lower_rg}/providers/Microsoft.Storage/storageAccounts/{n}/blobservices/default/containers/c1"),
        json!({}),
    )
    .await;
    assert_eq!(v["id"], container.as_str());
    let site = format!("{rg}/providers/Microsoft.Web/sites/web{n}");
    put(
        &a,
        &site,
        json!({"location": "westeurope", "tags": {"env": "dev"}}),
    )
    .await;
    for path in [
        format!("{lower_rg}?{API}"),
        format!("{}/RESOURCEGROUPS/it-{n}?{API}", sub()),
    ] {
        let (st, v) = a.get(&path).await;
        assert_eq!((st, v["id"].clone()), (200, json!(rg)), "{path}");
    }
    let (_, v) = a.get(&format!("{}/resourcegroups?{API}", sub())).await;
    assert!(ids(&v).contains(&rg), "{v}");
    assert!(
        ids(&v).iter().all(|i| i.contains("/resourceGroups/")),
        "{v}"
    );

    // Top-level resources only: no blobServices, no containers.
    let mut all = ids(&a.get(&format!("{lower_rg}/resources?{API}")).await.1);
    all.sort();
    let mut want = vec![acct.clone(), site.clone()];
    want.sort();
    assert_eq!(all, want);
    let (_, v) = a.get(&format!("{}/resources?{API}", sub())).await;
    assert!(
        ids(&v).contains(&acct) && !ids(&v).contains(&container),
        "{v}"
    );
    assert!(v["value"].as_array().unwrap().iter().all(|r| r["type"]
        .as_str()
        .unwrap()
        .matches('/')
        .count()
        == 1));

    // Collections of one type (`storage_accounts.list_by_resource_group`, `az storage account
    // list`, child collections), in canonical casing; a PUT there is still a bad resource id.
    let (st, v) = a
        .get(&format!(
            "{lower_rg}/providers/microsoft.storage/storageaccounts?{API}"
        ))
        .await;
    assert_eq!((st, ids(&v)), (200, vec![acct.clone()]), "{v}");
    let (_, v) = a
        .get(&format!(
            "{}/providers/Microsoft.Storage/storageAccounts?{API}",
            sub()
        ))
        .await;
    assert!(ids(&v).contains(&acct) && !ids(&v).contains(&site), "{v}");
    let (st, v) = a
        .get(&format!("{acct}/blobServices/default/containers?{API}"))
        .await;
    assert_eq!((st, ids(&v)), (200, vec![container.clone()]), "{v}");
    let (st, v) = a
        .send(
            Method::PUT,
            &format!("{rg}/providers/Microsoft.Storage/storageAccounts?{API}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (400, json!("InvalidResourceId"))
    );
    let (p0, c0) = new_principal().await;
    let (st, v) = c0
        .get(&format!(
            "{rg}/providers/Microsoft.Storage/storageAccounts?{API}"
        ))
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (403, json!("AuthorizationFailed"))
    );
    let _ = p0;
    let (st, _) = a
        .get(&format!(
            "{}/resourceGroups/it-{n}-none/providers/Microsoft.Storage/storageAccounts?{API}",
            sub()
        ))
        .await;
    assert_eq!(st, 404);

    // The documented $filter forms, at resource-group and subscription level.
    let cases = [
        (
            "resourceType eq 'Microsoft.Storage/storageAccounts'",
            vec![acct.clone()],
        ),
        ("resourceType eq 'microsoft.web/sites'", vec![site.clone()]),
        (&*format!("name eq '{n}'"), vec![acct.clone()]),
        ("tagName eq 'env'", want.clone()),
        ("tagName eq 'env' and tagValue eq 'dev'", vec![site.clone()]),
        (&*format!("substringof('eb{n}', name)"), vec![site.clone()]),
        (
            &*format!("startswith(name, '{}')", &n[..5]),
            vec![acct.clone()],
        ),
        (
            &*format!("resourceType eq 'Microsoft.Web/sites' and name eq '{n}'"),
            vec![],
        ),
    ];
    for (f, expect) in &cases {
        let (st, v) = a.get(&format!("{rg}/resources?$filter={f}&{API}")).await;
        assert_eq!(st, 200, "{f}: {v}");
        let mut got = ids(&v);
        got.sort();
        assert_eq!(&got, expect, "{f}");
    }
    let (_, v) = a
        .get(&format!(
            "{}/resources?$filter=tagName eq 'env' and tagValue eq 'dev'&{API}",
            sub()
        ))
        .await;
    assert!(ids(&v).contains(&site) && !ids(&v).contains(&acct), "{v}");
    // What `az resource list -g <rg> --location … --resource-type …` sends (subscription level).
    let (st, v) = a
        .get(&format!(
            "{}/resources?$filter=resourceGroup eq 'IT-{}' and location eq 'westeurope' and resourceType eq 'Microsoft.Web/sites'&{API}",
            sub(),
            n.to_uppercase()
        ))
        .await;
    assert_eq!((st, ids(&v)), (200, vec![site.clone()]), "{v}");
    let (_, v) = a
        .get(&format!(
            "{}/resources?$filter=resourceGroup eq 'it-{n}' and resourceType ne 'Microsoft.Web/sites'&{API}",
            sub()
        ))
        .await;
    assert_eq!(ids(&v), vec![acct.clone()], "{v}");
    // `az group list --tag env=prod` filters resource groups the same way.
    put(
        &a,
        &rg,
        json!({"location": "westeurope", "tags": {"grp": n.clone()}}),
    )
    .await;
    let (st, v) = a
        .get(&format!(
            "{}/resourcegroups?$filter=tagName eq 'grp' and tagValue eq '{n}'&{API}",
            sub()
        ))
        .await;
    assert_eq!((st, ids(&v)), (200, vec![rg.clone()]), "{v}");
    let (st, v) = a
        .get(&format!(
            "{}/resourcegroups?$filter=foo eq 'x'&{API}",
            sub()
        ))
        .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "InvalidFilterInQueryString");
    // Anything else is refused, never ignored.
    for f in [
        "provisioningState eq 'Succeeded'",
        "name eq 'a' or name eq 'b'",
        "tagValue eq 'dev'",
        "name gt 'x'",
    ] {
        for parent in [rg.clone(), sub()] {
            let (st, v) = a
                .get(&format!("{parent}/resources?$filter={f}&{API}"))
                .await;
            assert_eq!(st, 400, "{f}: {v}");
            assert_eq!(v["error"]["code"], "InvalidFilterInQueryString");
        }
    }
    // Role assignment scopes are answered in canonical casing too.
    let (p, _) = new_principal().await;
    let (st, v) = assign(&a, &lower_rg, &p, READER).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["properties"]["scope"], rg.as_str());
    assert!(v["id"].as_str().unwrap().starts_with(&format!(
        "{rg}/providers/Microsoft.Authorization/roleAssignments/"
    )));
}
