//! Security suite: parser limits (issue 12). Every parser of untrusted input bounds depth,
//! length and counts and answers a clear 400 (or, for a bearer token, 401) in the endpoint's
//! own error shape, naming the limit — never a crash. Each refusal is paired with the
//! normal-sized version of the same request, which succeeds, and with a check that the server
//! still answers and nothing was written.

use serde_json::{json, Value};

use crate::federation::{exchange, new_app, Issuer, MAIN};
use crate::{alias, arm_client, shared, token_form, G};

const BLOB_READER: &str = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1";
const API: &str = "api-version=2022-04-01";

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

/// A `Content-Type: application/json` request with a raw body (serde_json cannot even build a
/// value nested past its recursion limit, so these bodies are text).
async fn raw(g: &G, method: reqwest::Method, path: &str, body: String) -> (u16, Value) {
    let r = g
        .http
        .request(method, format!("{}{path}", g.base))
        .bearer_auth(&g.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn nested_json(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

#[tokio::test]
async fn a_deeply_nested_abac_condition_is_400_and_the_server_lives() {
    let a = arm_client().await;
    let g = G::demo().await;
    let user = g.create_user(&alias("abac")).await;
    let uid = user["id"].as_str().unwrap();
    let scope = shared().demo["storage"]["container_scope"]
        .as_str()
        .unwrap()
        .to_string();
    let sub = shared().demo["subscription_scope"].as_str().unwrap();
    let put = |name: String, condition: String| {
        let a = &a;
        let path =
            format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?{API}");
        let body = json!({"properties": {
            "roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{BLOB_READER}"),
            "principalId": uid, "principalType": "User",
            "condition": condition, "conditionVersion": "2.0",
        }});
        async move { a.send(reqwest::Method::PUT, &path, Some(body)).await }
    };
    let leaf = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'docs'";
    // Three thousand levels: once a stack overflow that aborted the server for every tenant.
    let refused = [
        (
            format!("{}{leaf}{}", "(".repeat(3000), ")".repeat(3000)),
            "nested more than 32 levels",
        ),
        (
            format!("{}{leaf}", "!".repeat(3000)),
            "nested more than 32 levels",
        ),
        (
            format!("{}{leaf}{}", "(".repeat(20_000), ")".repeat(20_000)),
            "at most 8192",
        ),
        (
            vec!["ActionMatches{'a'}"; 300].join(" AND "),
            "more than 256",
        ),
    ];
    for (condition, needle) in refused {
        let name = uuid::Uuid::new_v4().to_string();
        let (st, v) = put(name.clone(), condition).await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["error"]["code"], "InvalidCondition", "{v}");
        assert!(message(&v).contains(needle), "{needle}: {v}");
        // Nothing was created, and the server still answers.
        let (st, _) = a
            .get(&format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?{API}"
            ))
            .await;
        assert_eq!(st, 404, "the refused PUT created nothing");
        let (st, _) = a.get(&format!("/subscriptions?{API}")).await;
        assert_eq!(st, 200, "the server still answers");
    }
    let mine = format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments?{API}&$filter=principalId eq '{uid}'"
    );
    let (st, v) = a.get(&mine).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"], json!([]), "no assignment for the user: {v}");
    // Positive control: the portal-shaped condition, nested a little, is accepted.
    let name = uuid::Uuid::new_v4().to_string();
    let fine = format!(
        "((!(ActionMatches{{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'}})) OR ({}{leaf}{}))",
        "(".repeat(20),
        ")".repeat(20)
    );
    let (st, v) = put(name.clone(), fine).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = a
        .delete(&format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?{API}"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn deep_long_and_wide_filters_are_400() {
    let g = G::demo().await;
    let get = |f: String| {
        let g = &g;
        async move {
            let q: String = url::form_urlencoded::byte_serialize(f.as_bytes()).collect();
            g.get(&format!("/users?$filter={q}")).await
        }
    };
    for (f, needle) in [
        (
            format!("{}displayName eq 'x'{}", "(".repeat(2000), ")".repeat(2000)),
            "nested more than 32 levels",
        ),
        (
            format!("displayName eq '{}'", "x".repeat(5000)),
            "at most 4096 are allowed",
        ),
        (
            format!(
                "displayName in ({})",
                (0..101)
                    .map(|i| format!("'{i}'"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            "at most 100 values",
        ),
    ] {
        let (st, v) = get(f).await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["error"]["code"], "Request_BadRequest", "{v}");
        assert!(message(&v).contains(needle), "{needle}: {v}");
    }
    let terms = vec!["id eq 'x'"; 301].join(" or ");
    assert!(terms.len() <= 4096, "{}", terms.len());
    let (st, v) = get(terms).await;
    assert_eq!(st, 400, "{v}");
    assert!(message(&v).contains("more than 300 terms"), "{v}");
    // Positive control: a normal filter, nested a little.
    let (st, v) = get(format!(
        "{}accountEnabled eq true{} and startswith(displayName,'a')",
        "(".repeat(5),
        ")".repeat(5)
    ))
    .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn deeply_nested_json_bodies_are_400_on_graph_and_arm() {
    let g = G::demo().await;
    let marker = alias("deepjson");
    // Graph: nested past serde_json's recursion limit (128), and a CA document nested deep.
    let body = format!(
        "{{\"displayName\": \"{marker}\", \"mailEnabled\": false, \"mailNickname\": \"{marker}\", \"securityEnabled\": true, \"description\": {}}}",
        nested_json(5000)
    );
    let (st, v) = raw(&g, reqwest::Method::POST, "/groups", body).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "Request_BadRequest", "{v}");
    assert!(message(&v).contains("recursion limit"), "{v}");
    let ca = format!(
        "{{\"displayName\": \"{marker}\", \"state\": \"disabled\", \"conditions\": {}}}",
        nested_json(3000)
    );
    let (st, v) = raw(
        &g,
        reqwest::Method::POST,
        "/identity/conditionalAccess/policies",
        ca,
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "Request_BadRequest", "{v}");
    // A CA list past its count limit names the field and the limit.
    let users: Vec<String> = (0..1001)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    let (st, v) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": marker, "state": "disabled",
                   "conditions": {"users": {"includeUsers": users},
                                  "applications": {"includeApplications": ["All"]}},
                   "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        message(&v).contains("includeUsers holds 1001 items; at most 1000"),
        "{v}"
    );
    assert_eq!(g.audits_mentioning(&marker).await, 0, "nothing was written");
    // Positive controls: the same group and a normal (disabled) policy are created.
    let (st, grp) = g.post("/groups", json!({"displayName": marker, "mailEnabled": false, "mailNickname": marker, "securityEnabled": true, "description": "ok"})).await;
    assert_eq!(st, 201, "{grp}");
    let (st, p) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": marker, "state": "disabled",
                   "conditions": {"users": {"includeUsers": [shared().demo["user"]["id"]]},
                                  "applications": {"includeApplications": ["All"]}},
                   "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let (st, _) = g
        .delete(&format!(
            "/identity/conditionalAccess/policies/{}",
            p["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(st, 204);

    // ARM: a resource group PUT with a body nested past the limit.
    let a = arm_client().await;
    let rg = format!(
        "{}/resourceGroups/{}",
        shared().demo["subscription_scope"].as_str().unwrap(),
        alias("deep")
    );
    let body = format!(
        "{{\"location\": \"westeurope\", \"tags\": {}}}",
        nested_json(5000)
    );
    let (st, v) = raw(
        &a,
        reqwest::Method::PUT,
        &format!("{rg}?api-version=2021-04-01"),
        body,
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "InvalidRequestContent", "{v}");
    assert!(message(&v).contains("recursion limit"), "{v}");
    let (st, _) = a.get(&format!("{rg}?api-version=2021-04-01")).await;
    assert_eq!(st, 404, "nothing was created");
    // Positive control.
    let (st, v) = a
        .send(
            reqwest::Method::PUT,
            &format!("{rg}?api-version=2021-04-01"),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = a.delete(&format!("{rg}?api-version=2021-04-01")).await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn oversized_arm_ids_are_400_naming_the_limit() {
    let a = arm_client().await;
    let base = format!(
        "{}/providers/Microsoft.Storage/storageAccounts/x",
        shared().demo["resource_group_scope"].as_str().unwrap()
    );
    for (path, needle) in [
        (format!("{base}{}", "/a/b".repeat(200)), "at most 300"),
        (format!("{base}/c/{}", "n".repeat(3000)), "at most 2048"),
    ] {
        let (st, v) = a.get(&format!("{path}?api-version=2021-04-01")).await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["error"]["code"], "InvalidResourceId", "{v}");
        assert!(message(&v).contains(needle), "{needle}: {v}");
    }
    let (st, v) = a
        .get(&format!(
            "{}?api-version=2021-04-01",
            shared().demo["storage"]["container_scope"]
                .as_str()
                .unwrap()
        ))
        .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn an_oversized_client_assertion_or_bearer_token_gets_a_clear_error() {
    let g = G::demo().await;
    let issuer = Issuer::start("/limits", None).await;
    let (obj, app_id) = new_app(&g).await;
    let (st, fic) = g
        .post(
            &format!("/applications/{obj}/federatedIdentityCredentials"),
            json!({"name": alias("limits-"), "issuer": issuer.url, "subject": MAIN}),
        )
        .await;
    assert_eq!(st, 201, "{fic}");
    // Positive control: the same exchange with a normal-sized token.
    let (st, v) = exchange(&app_id, &issuer.mint(|_| {})).await;
    assert_eq!(st, 200, "{v}");
    // 20 KB of claims: refused before any decoding or network access.
    let big = issuer.mint(|c| c["pad"] = json!("x".repeat(20_000)));
    let (st, v) = exchange(&app_id, &big).await;
    // A client assertion that fails is a client-authentication failure (401 invalid_client,
    // as Entra answers), with the size named.
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error"], "invalid_client", "{v}");
    assert_eq!(v["error_codes"][0], 50027, "{v}");
    let d = v["error_description"].as_str().unwrap();
    assert!(d.contains(&format!("{} bytes long", big.len())), "{d}");
    assert!(d.contains("at most 16384"), "{d}");

    // Bearer tokens at Graph and ARM: 401 naming the limit; the normal token works. Over
    // HTTP/2 hyper already refuses a header list past 16 KiB with 431; over HTTP/1.1 the token
    // reaches the bearer check, which bounds it before decoding.
    let huge = format!("{}.{}.{}", "e".repeat(10_000), "e".repeat(10_000), "x");
    let h1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&shared().ca).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let mut bad = G::with_token(huge.clone());
    bad.http = h1.clone();
    let (st, v) = bad.get("/users?$top=1").await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken", "{v}");
    assert!(
        message(&v).contains("is 20003 bytes long; at most 16384"),
        "{v}"
    );
    let (st, _) = G::with_token(huge.clone()).get("/users?$top=1").await;
    assert!(st == 431 || st == 401, "HTTP/2: {st}");
    let (st, _) = g.get("/users?$top=1").await;
    assert_eq!(st, 200);
    let mut bad_arm = G::with_token(huge);
    bad_arm.http = h1;
    bad_arm.base = shared().origin.clone();
    let (st, v) = bad_arm.get(&format!("/subscriptions?{API}")).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken", "{v}");
    assert!(message(&v).contains("at most 16384"), "{v}");
    let (st, _) = arm_client()
        .await
        .get(&format!("/subscriptions?{API}"))
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn a_form_with_too_many_pairs_or_scopes_is_refused() {
    let d = &shared().demo;
    let client = d["confidential_client"]["app_id"].as_str().unwrap();
    let secret = d["confidential_client"]["secret"].as_str().unwrap();
    let base = [
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", secret),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    // Positive control.
    let (st, v) = token_form(&base).await;
    assert_eq!(st, 200, "{v}");
    // 150 extra (ignored, telemetry-like) parameters: past the pair limit.
    let names: Vec<String> = (0..150).map(|i| format!("x-client-extra-{i}")).collect();
    let mut many: Vec<(&str, &str)> = base.to_vec();
    many.extend(names.iter().map(|n| (n.as_str(), "1")));
    let (st, v) = token_form(&many).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"], "invalid_request", "{v}");
    assert_eq!(v["error_codes"][0], 90014, "{v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("more than 100 parameters"),
        "{v}"
    );
    // A value past its length limit.
    let long = "s".repeat(40_000);
    let mut one = base.to_vec();
    one[2] = ("client_secret", long.as_str());
    let (st, v) = token_form(&one).await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("'client_secret' is 40000 bytes long"),
        "{v}"
    );
    // 101 scopes: a clear invalid_scope naming the count and the limit.
    let scopes = vec!["https://graph.microsoft.com/.default"; 101].join(" ");
    let mut wide = base.to_vec();
    wide[3] = ("scope", scopes.as_str());
    let (st, v) = token_form(&wide).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"], "invalid_scope", "{v}");
    assert_eq!(v["error_codes"][0], 70011, "{v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("holds 101 values; at most 100"),
        "{v}"
    );
    // Delegated (ROPC) scopes are bounded by the same rule.
    let public = d["public_client"]["app_id"].as_str().unwrap();
    let user = &d["user"];
    let perms: Vec<String> = (0..101).map(|i| format!("P{i}.Read")).collect();
    let perms = perms.join(" ");
    let (st, v) = token_form(&[
        ("grant_type", "password"),
        ("client_id", public),
        ("username", user["upn"].as_str().unwrap()),
        ("password", user["password"].as_str().unwrap()),
        ("scope", perms.as_str()),
    ])
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error_codes"][0], 70011, "{v}");
    // The server answers normally afterwards.
    let (st, v) = token_form(&base).await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn an_authorize_request_with_too_many_parameters_is_an_error_page() {
    let s = shared();
    let d = &s.demo;
    let base = [
        ("client_id", d["public_client"]["app_id"].as_str().unwrap()),
        ("response_type", "code"),
        ("redirect_uri", "http://localhost"),
        ("scope", "openid User.Read"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
        ("state", "s"),
    ];
    let url = |pairs: &[(&str, &str)]| {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!(
            "{}/{}/oauth2/v2.0/authorize?{q}",
            s.origin,
            d["tenant_id"].as_str().unwrap()
        )
    };
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&s.ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Positive control: the sign-in page.
    let r = client.get(url(&base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let names: Vec<String> = (0..150).map(|i| format!("x{i}")).collect();
    let mut many: Vec<(&str, &str)> = base.to_vec();
    many.extend(names.iter().map(|n| (n.as_str(), "1")));
    let r = client.get(url(&many)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("AADSTS90014"), "{page}");
    assert!(page.contains("more than 100 parameters"), "{page}");
}
