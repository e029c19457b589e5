//! What the Azure CLI and Microsoft's first-party public clients rely on (issue 15): ARM's
//! cloud metadata document, Graph at a base of its own (`/graph/`) that is also Graph's
//! identifier, the first-party client ids in every tenant, and the small token-endpoint fixes.

use serde_json::Value;

use crate::{http, new_tenant, shared, token_form, G};

const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const FIRST_PARTY: [&str; 4] = [
    AZURE_CLI,
    "1950a258-227b-4e31-a9cf-717495945fc2",
    "14d82eec-204b-4c2f-b7e8-296a70dab67e",
    "04f0c124-f2bc-4f59-8241-bf6df9866bbd",
];

async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = http().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn user() -> (String, String) {
    let d = &shared().demo;
    (
        d["user"]["upn"].as_str().unwrap().into(),
        d["user"]["password"].as_str().unwrap().into(),
    )
}

async fn ropc_as_cli(scope: &str) -> (u16, Value) {
    let (upn, pw) = user();
    token_form(&[
        ("grant_type", "password"),
        ("client_id", AZURE_CLI),
        ("username", &upn),
        ("password", &pw),
        ("scope", scope),
        ("client_info", "1"),
    ])
    .await
}

#[tokio::test]
async fn metadata_endpoints_announce_castellan_urls() {
    let o = &shared().origin;
    let (st, v) = get(
        &format!("{o}/metadata/endpoints?api-version=2022-09-01"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["resourceManager"], format!("{o}/"));
    // Graph is announced at its own port, an origin apart from ARM's.
    let g = shared().state.origins.graph_base(o);
    assert!(!g.starts_with(o.as_str()), "{g}");
    assert_eq!(v["microsoftGraphResourceId"], format!("{g}/"));
    assert_eq!(v["authentication"]["loginEndpoint"], o.as_str());
    assert_eq!(
        v["authentication"]["audiences"][0],
        "https://management.core.windows.net/"
    );
    assert_eq!(v["name"], "Castellan");
    let (st, v) = get(
        &format!("{o}/metadata/endpoints?api-version=2015-01-01"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["graphEndpoint"], format!("{g}/"));
    let (st, v) = get(
        &format!("{o}/metadata/endpoints?api-version=2019-05-01"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v[0]["resourceManager"], format!("{o}/"));
    let (st, v) = get(&format!("{o}/metadata/endpoints"), None).await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["code"], "MissingApiVersionParameter");
    let (st, v) = get(
        &format!("{o}/metadata/endpoints?api-version=1999-01-01"),
        None,
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["code"], "InvalidApiVersionParameter");
}

/// Graph on a port of its own (`--graph-port`): the URL az derives the token resource from
/// (`az rest --url https://host:graph_port/v1.0/...`) names Graph, not ARM.
#[tokio::test]
async fn graph_port_is_graphs_identifier_and_serves_graph() {
    let o = &shared().origin;
    let g = shared().state.origins.graph_base(o);
    assert!(!g.starts_with(o.as_str()), "{g}");
    let (st, t) = ropc_as_cli(&format!("{g}//.default offline_access openid profile")).await;
    assert_eq!(st, 200, "{t}");
    let at = t["access_token"].as_str().unwrap();
    let (st, me) = get(&format!("{g}/v1.0/me"), Some(at)).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["userPrincipalName"], user().0.as_str());
    assert!(
        me["@odata.context"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{g}/v1.0/")),
        "{me}"
    );
    // Paging links stay on Graph's port.
    let (st, page) = get(&format!("{g}/v1.0/users?$top=1"), Some(at)).await;
    assert_eq!(st, 200, "{page}");
    let next = page["@odata.nextLink"]
        .as_str()
        .expect("more than one user");
    assert!(next.starts_with(&format!("{g}/v1.0/users?")), "{next}");
    assert_eq!(get(next, Some(at)).await.0, 200);
    // The token is a Graph token: ARM refuses it, on either port.
    let (st, _) = get(
        &format!("{o}/subscriptions?api-version=2022-12-01"),
        Some(at),
    )
    .await;
    assert_eq!(st, 401);
    // An ARM token is refused by Graph's port (the positive control of the audience check).
    let (st, arm) = ropc_as_cli("https://management.core.windows.net//.default").await;
    assert_eq!(st, 200, "{arm}");
    let (st, v) = get(&format!("{g}/v1.0/me"), arm["access_token"].as_str()).await;
    assert_eq!(st, 401, "{v}");
    // Discovery through Graph's port still names the main origin as the issuer.
    let (st, d) = get(
        &format!(
            "{g}/{}/v2.0/.well-known/openid-configuration",
            shared().demo["tenant_id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(st, 200, "{d}");
    assert!(d["issuer"].as_str().unwrap().starts_with(o.as_str()), "{d}");
}

#[tokio::test]
async fn graph_base_url_is_graphs_identifier_and_serves_graph() {
    let o = &shared().origin;
    // What az sends: `{microsoftGraphResourceId}/.default` with the resource's trailing slash.
    let (st, t) = ropc_as_cli(&format!(
        "{o}/graph//.default offline_access openid profile"
    ))
    .await;
    assert_eq!(st, 200, "{t}");
    let at = t["access_token"].as_str().unwrap();
    let (st, me) = get(&format!("{o}/graph/v1.0/me"), Some(at)).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["userPrincipalName"], user().0.as_str());
    assert!(
        me["@odata.context"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{o}/graph/v1.0/")),
        "{me}"
    );
    // The same token works at the root Graph base, and paging links follow the base used.
    assert_eq!(get(&format!("{o}/v1.0/me"), Some(at)).await.0, 200);
    let (st, page) = get(&format!("{o}/graph/v1.0/users?$top=1"), Some(at)).await;
    assert_eq!(st, 200, "{page}");
    if let Some(next) = page["@odata.nextLink"].as_str() {
        assert!(
            next.starts_with(&format!("{o}/graph/v1.0/users?")),
            "{next}"
        );
    }
    // App-only: the confidential client asks for the Graph base's `.default`.
    let d = &shared().demo;
    let (st, t) = token_form(&[
        ("grant_type", "client_credentials"),
        (
            "client_id",
            d["confidential_client"]["app_id"].as_str().unwrap(),
        ),
        (
            "client_secret",
            d["confidential_client"]["secret"].as_str().unwrap(),
        ),
        ("scope", &format!("{o}/graph/.default")),
    ])
    .await;
    assert_eq!(st, 200, "{t}");
    let (st, v) = get(
        &format!("{o}/graph/v1.0/users?$top=1"),
        t["access_token"].as_str(),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    // Unknown Graph paths under the prefix answer in Graph's shape.
    let (st, v) = get(
        &format!("{o}/graph/v1.0/nothingHere"),
        t["access_token"].as_str(),
    )
    .await;
    assert_eq!(st, 404, "{v}");
    assert!(v["error"]["code"].is_string(), "{v}");
}

#[tokio::test]
async fn azure_cli_signs_users_in_to_arm_and_graph_without_consent() {
    // ARM as az asks for it (`activeDirectoryResourceId` + `/.default`).
    let (st, t) =
        ropc_as_cli("https://management.core.windows.net//.default offline_access openid profile")
            .await;
    assert_eq!(st, 200, "{t}");
    assert!(t["refresh_token"].is_string());
    let (st, t) = ropc_as_cli("https://graph.microsoft.com/.default").await;
    assert_eq!(st, 200, "{t}");
    let scopes = t["scope"].as_str().unwrap();
    assert!(scopes.contains("Directory.AccessAsUser.All"), "{scopes}");
    // Device code: the CLI's client id is known and allowed the flow.
    let s = shared();
    let r = http()
        .post(format!(
            "{}/{}/oauth2/v2.0/devicecode",
            s.origin,
            s.demo["tenant_id"].as_str().unwrap()
        ))
        .form(&[
            ("client_id", AZURE_CLI),
            (
                "scope",
                &format!("{}/graph//.default offline_access", s.origin),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["user_code"].is_string(), "{v}");
}

#[tokio::test]
async fn first_party_clients_exist_in_every_tenant_pre_authorised() {
    let g = G::demo().await;
    for id in FIRST_PARTY {
        let sps = g
            .all(&format!("/servicePrincipals?$filter=appId eq '{id}'"))
            .await;
        assert_eq!(sps.len(), 1, "{id}");
    }
    let cli = g
        .all(&format!(
            "/servicePrincipals?$filter=appId eq '{AZURE_CLI}'"
        ))
        .await
        .remove(0);
    let grants = g
        .all(&format!(
            "/oauth2PermissionGrants?$filter=clientId eq '{}'",
            cli["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        grants.iter().any(|x| x["consentType"] == "AllPrincipals"
            && x["scope"].as_str().unwrap().contains("user_impersonation")),
        "{grants:?}"
    );
    // A tenant created now has them too.
    let t = new_tenant(&crate::alias("fp")).await;
    let tid = castellan_core::TenantId::parse(t["id"].as_str().or(t["tenantId"].as_str()).unwrap())
        .unwrap();
    for id in FIRST_PARTY {
        let sp = shared()
            .state
            .store
            .service_principal_by_app_id(tid, castellan_core::AppId::parse(id).unwrap())
            .await
            .unwrap();
        assert!(sp.is_some(), "{id} missing in a new tenant");
    }
}

#[tokio::test]
async fn client_assertion_without_client_id_names_the_parameter() {
    let (st, v) = token_form(&[
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", "not-a-jwt"),
        ("scope", "https://graph.microsoft.com/.default"),
    ])
    .await;
    assert_eq!(st, 400, "{v}");
    let d = v["error_description"].as_str().unwrap();
    assert!(d.contains("client_id"), "{d}");
    assert!(!d.contains("identifier ''"), "{d}");
}

#[tokio::test]
async fn discovery_lists_client_assertion_algorithms() {
    let s = shared();
    let (st, v) = get(
        &format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            s.origin,
            s.demo["tenant_id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert!(v["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == "PS256")));
}

#[tokio::test]
async fn existing_tenants_gain_the_first_party_clients_at_start() {
    use castellan_core::store::prelude::*;
    use castellan_core::store::{Change, ChangeSet};
    let dir =
        std::env::temp_dir().join(format!("castellan-it-firstparty-{}", uuid::Uuid::new_v4()));
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
            name: "before".into(),
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
    // Simulate a tenant made before the Azure CLI was a first-party client: no service
    // principal, no pre-authorisation.
    let cli = castellan_core::catalog::AZURE_CLI_APP_ID;
    let sp = store
        .service_principal_by_app_id(t.id, cli)
        .await
        .unwrap()
        .unwrap();
    let mut set = ChangeSet::new();
    for g in store.permission_grants(t.id).await.unwrap() {
        if g.client_id == sp.id {
            set.push(Change::DeletePermissionGrant(t.id, g.id));
        }
    }
    set.push(Change::DeleteServicePrincipal(t.id, sp.id));
    store.commit(set).await.unwrap();
    let n = castellan_core::ops::tenants::ensure_built_in_service_principals(&mut env)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let sp = store
        .service_principal_by_app_id(t.id, cli)
        .await
        .unwrap()
        .unwrap();
    let grants: Vec<String> = store
        .permission_grants(t.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.client_id == sp.id && g.consent_type == "AllPrincipals")
        .map(|g| g.scope)
        .collect();
    assert!(
        grants.iter().any(|s| s == "user_impersonation"),
        "{grants:?}"
    );
    assert!(
        grants
            .iter()
            .any(|s| s.contains("Directory.AccessAsUser.All")),
        "{grants:?}"
    );
    assert_eq!(
        castellan_core::ops::tenants::ensure_built_in_service_principals(&mut env)
            .await
            .unwrap(),
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
