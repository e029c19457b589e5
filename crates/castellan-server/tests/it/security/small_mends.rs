//! Security suite: small_mends.
//!
//! - `arm_*`: ARM scopes with `.`/`..` or empty segments, backslashes or encoded separators are
//!   refused (400 `InvalidScope` naming the segment) on resource ids, role assignments, deny
//!   assignments and checkAccess. Requests go to the router in-process (`oneshot`) because
//!   HTTP clients normalise dot segments before sending; a raw client (`curl --path-as-is`)
//!   does not, and the router sees exactly these bytes.
//! - `imds_*`: the IMDS agent refuses requests carrying `X-Forwarded-For` or `Forwarded`.
//! - `ca_*`: Conditional Access policies may name only objects the tenant has; a named location
//!   in use cannot be deleted; a policy naming a deleted user keeps the stale id and evaluates.

use serde_json::{json, Value};

use crate::{alias, arm_token, http, shared, G};

// ---- ARM scopes ---------------------------------------------------------------------------------

/// One request with the path exactly as given (no client-side normalisation).
async fn raw(method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    use tower::ServiceExt;
    let host = shared()
        .origin
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .unwrap();
    let res = castellan_server::http::router(shared().state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn sub() -> String {
    shared().demo["subscription_scope"]
        .as_str()
        .unwrap()
        .to_string()
}

fn assert_invalid_scope(st: u16, v: &Value, segment: &str, what: &str) {
    assert_eq!(st, 400, "{what}: {v}");
    assert_eq!(v["error"]["code"], "InvalidScope", "{what}: {v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(&format!("segment '{segment}'")),
        "{what}: {msg}"
    );
}

#[tokio::test]
async fn arm_resource_ids_with_dot_empty_or_encoded_segments_are_invalid_scope() {
    let t = arm_token().await;
    let rg = alias("it-scope");
    let api = "api-version=2021-04-01";
    for (path, segment) in [
        (format!("{}/resourceGroups/{rg}/..", sub()), ".."),
        (format!("{}/resourceGroups/{rg}/./x", sub()), "."),
        (
            format!("{}/resourceGroups/{rg}%2Fx", sub()),
            &*format!("{rg}%2Fx"),
        ),
        (
            format!("{}/resourceGroups/{rg}%2fx", sub()),
            &*format!("{rg}%2fx"),
        ),
        (format!("{}/resourceGroups/%2E%2E", sub()), "%2E%2E"),
        (
            format!("{}/resourceGroups/{rg}%5Cx", sub()),
            &*format!("{rg}%5Cx"),
        ),
        (format!("{}//resourceGroups/{rg}", sub()), ""),
    ] {
        let (st, v) = raw(
            "PUT",
            &format!("{path}?{api}"),
            &t,
            Some(json!({"location": "westeurope"})),
        )
        .await;
        assert_invalid_scope(st, &v, segment, &path);
        let (st, v) = raw("GET", &format!("{path}?{api}"), &t, None).await;
        assert_invalid_scope(st, &v, segment, &path);
    }
    // Nothing was created under any spelling.
    for name in [rg.clone(), format!("{rg}x")] {
        let (st, _) = raw(
            "GET",
            &format!("{}/resourceGroups/{name}?{api}", sub()),
            &t,
            None,
        )
        .await;
        assert_eq!(st, 404, "{name}");
    }
    // Positive control: the plain id (one trailing slash allowed) is created and read.
    let (st, v) = raw(
        "PUT",
        &format!("{}/resourceGroups/{rg}/?{api}", sub()),
        &t,
        Some(json!({"location": "westeurope"})),
    )
    .await;
    assert!(st == 200 || st == 201, "{v}");
    let (st, v) = raw(
        "GET",
        &format!("{}/resourceGroups/{rg}?{api}", sub()),
        &t,
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = raw(
        "DELETE",
        &format!("{}/resourceGroups/{rg}?{api}", sub()),
        &t,
        None,
    )
    .await;
    assert!(st == 200 || st == 202 || st == 204, "{v}");
}

#[tokio::test]
async fn arm_role_assignment_and_deny_assignment_scopes_refuse_dot_segments() {
    let t = arm_token().await;
    let api = "api-version=2022-04-01";
    let principal = shared().demo["web_app"]["principal_id"].as_str().unwrap();
    let reader = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    let body = json!({"properties": {
        "roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{reader}"),
        "principalId": principal}});
    let name = uuid::Uuid::new_v4();
    let ra = "providers/Microsoft.Authorization/roleAssignments";
    for (scope, segment) in [
        (format!("{}/resourceGroups/x/..", sub()), ".."),
        (format!("{}/%2E%2E", sub()), "%2E%2E"),
        (
            format!("{}/resourceGroups/x%2F..%2F..", sub()),
            "x%2F..%2F..",
        ),
    ] {
        let (st, v) = raw(
            "PUT",
            &format!("{scope}/{ra}/{name}?{api}"),
            &t,
            Some(body.clone()),
        )
        .await;
        assert_invalid_scope(st, &v, segment, &scope);
        let (st, v) = raw("GET", &format!("{scope}/{ra}/{name}?{api}"), &t, None).await;
        assert_invalid_scope(st, &v, segment, &scope);
        let (st, v) = raw("GET", &format!("{scope}/{ra}?{api}"), &t, None).await;
        assert_invalid_scope(st, &v, segment, &scope);
        let (st, v) = raw(
            "GET",
            &format!("{scope}/providers/Microsoft.Authorization/denyAssignments?{api}"),
            &t,
            None,
        )
        .await;
        assert_invalid_scope(st, &v, segment, &scope);
    }
    let (st, v) = raw(
        "GET",
        &format!(
            "{}//providers/Microsoft.Authorization/denyAssignments?{api}",
            sub()
        ),
        &t,
        None,
    )
    .await;
    assert_invalid_scope(st, &v, "", "empty segment");
    // Nothing was assigned anywhere under that name.
    for scope in [sub(), format!("{}/resourceGroups/x", sub())] {
        let (st, _) = raw("GET", &format!("{scope}/{ra}/{name}?{api}"), &t, None).await;
        assert_eq!(st, 404, "{scope}");
    }
    // Positive controls: at the plain scope the assignment is made, read and removed; deny
    // assignments list.
    let (st, v) = raw(
        "PUT",
        &format!("{}/{ra}/{name}?{api}", sub()),
        &t,
        Some(body),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = raw("GET", &format!("{}/{ra}/{name}?{api}", sub()), &t, None).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = raw("DELETE", &format!("{}/{ra}/{name}?{api}", sub()), &t, None).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = raw(
        "GET",
        &format!(
            "{}/providers/Microsoft.Authorization/denyAssignments?{api}",
            sub()
        ),
        &t,
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn arm_check_access_refuses_a_scope_with_dot_segments() {
    let t = arm_token().await;
    let api = "api-version=2022-04-01";
    let principal = shared().demo["web_app"]["principal_id"].as_str().unwrap();
    let body = json!({"subject": {"principalId": principal},
                      "actions": [{"id": "Microsoft.Resources/subscriptions/read", "isDataAction": false}]});
    let check = "providers/Microsoft.Authorization/checkAccess";
    for (scope, segment) in [
        (format!("{}/resourceGroups/rg/..", sub()), ".."),
        (format!("{}/resourceGroups/rg/../..", sub()), ".."),
        (format!("{}/resourceGroups/rg%2F..", sub()), "rg%2F.."),
        (format!("{}/./resourceGroups/rg", sub()), "."),
    ] {
        let (st, v) = raw(
            "POST",
            &format!("{scope}/{check}?{api}"),
            &t,
            Some(body.clone()),
        )
        .await;
        assert_invalid_scope(st, &v, segment, &scope);
    }
    // Positive control: the plain scope answers (checkAccess is a read; it stores nothing).
    let (st, v) = raw("POST", &format!("{}/{check}?{api}", sub()), &t, Some(body)).await;
    assert_eq!(st, 200, "{v}");
}

// ---- IMDS ---------------------------------------------------------------------------------------

/// Serves `agent` on a loopback port; returns its base URL.
async fn serve_agent(endpoint: String, header: String) -> String {
    let app = castellan_server::imds_agent::router(castellan_server::imds_agent::ImdsAgent {
        http: http(),
        endpoint,
        header,
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
}

/// A stand-in platform endpoint that counts connections (and answers nothing useful).
async fn counting_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = n.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(sock);
        }
    });
    (format!("http://{addr}/msi/token"), n)
}

#[tokio::test]
async fn imds_refuses_requests_relayed_through_a_proxy() {
    let (upstream, forwarded) = counting_upstream().await;
    let agent = serve_agent(upstream, "secret".into()).await;
    let url = format!("{agent}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/");
    for (name, value) in [
        ("X-Forwarded-For", "203.0.113.7"),
        ("x-forwarded-for", "127.0.0.1"),
        ("Forwarded", "for=203.0.113.7;proto=http"),
    ] {
        let r = reqwest::Client::new()
            .get(&url)
            .header("Metadata", "true")
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{name}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request", "{name}: {v}");
        assert!(v.get("access_token").is_none(), "{v}");
        let d = v["error_description"].as_str().unwrap_or_default();
        assert!(
            d.contains(&format!("'{}'", name.to_ascii_lowercase())),
            "{name}: {d}"
        );
    }
    assert_eq!(
        forwarded.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a refused request never reaches the platform"
    );
    // Positive control: the same request without a proxy header, through an agent holding the
    // demo web app's real identity endpoint and secret, gets a token.
    let web = &shared().demo["web_app"]["env"];
    let agent = serve_agent(
        web["IDENTITY_ENDPOINT"].as_str().unwrap().into(),
        web["IDENTITY_HEADER"].as_str().unwrap().into(),
    )
    .await;
    let r = reqwest::Client::new()
        .get(format!("{agent}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/"))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["access_token"].as_str().is_some_and(|t| !t.is_empty()),
        "{v}"
    );
    assert_eq!(v["resource"], "https://storage.azure.com/");
}

// ---- Conditional Access references --------------------------------------------------------------

const GLOBAL_ADMIN_ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";

fn policy(name: &str, users: Value, apps: Value, extra: Value) -> Value {
    let mut conditions = json!({"users": users, "applications": apps, "clientAppTypes": ["all"]});
    if let (Some(c), Some(e)) = (conditions.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    json!({"displayName": name, "state": "disabled", "conditions": conditions,
           "grantControls": {"operator": "OR", "builtInControls": ["block"]}})
}

async fn policy_names(g: &G) -> Vec<String> {
    g.all("/identity/conditionalAccess/policies")
        .await
        .iter()
        .filter_map(|p| p["displayName"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn ca_policies_naming_unknown_objects_are_refused() {
    let g = G::demo().await;
    let d = &shared().demo;
    let user = g.create_user(&alias("carefs")).await;
    let uid = user["id"].as_str().unwrap().to_string();
    let group = d["groups"]["engineering"].as_str().unwrap().to_string();
    let app = d["confidential_client"]["app_id"]
        .as_str()
        .unwrap()
        .to_string();
    let location = d["conditional_access"]["office_location_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sp = d["blob_store_app"]["service_principal_id"]
        .as_str()
        .unwrap()
        .to_string();
    let all_apps = json!({"includeApplications": ["All"]});
    let ghost = uuid::Uuid::new_v4().to_string();
    let cases = [
        (
            "conditions.users.includeUsers",
            json!({"includeUsers": [ghost]}),
            all_apps.clone(),
            json!({}),
        ),
        (
            "conditions.users.excludeUsers",
            json!({"includeUsers": ["All"], "excludeUsers": [ghost]}),
            all_apps.clone(),
            json!({}),
        ),
        (
            "conditions.users.includeGroups",
            json!({"includeGroups": [ghost]}),
            all_apps.clone(),
            json!({}),
        ),
        (
            "conditions.users.excludeGroups",
            json!({"includeUsers": ["All"], "excludeGroups": [ghost]}),
            all_apps.clone(),
            json!({}),
        ),
        (
            "conditions.users.includeRoles",
            json!({"includeRoles": [ghost]}),
            all_apps.clone(),
            json!({}),
        ),
        (
            "conditions.users.excludeRoles",
            json!({"includeUsers": ["All"], "excludeRoles": [ghost]}),
            all_apps.clone(),
            json!({}),
        ),
        (
            "conditions.applications.includeApplications",
            json!({"includeUsers": [uid]}),
            json!({"includeApplications": [ghost]}),
            json!({}),
        ),
        (
            "conditions.applications.excludeApplications",
            json!({"includeUsers": [uid]}),
            json!({"includeApplications": ["All"], "excludeApplications": [ghost]}),
            json!({}),
        ),
        (
            "conditions.locations.includeLocations",
            json!({"includeUsers": [uid]}),
            all_apps.clone(),
            json!({"locations": {"includeLocations": [ghost]}}),
        ),
        (
            "conditions.locations.excludeLocations",
            json!({"includeUsers": [uid]}),
            all_apps.clone(),
            json!({"locations": {"includeLocations": ["All"], "excludeLocations": [ghost]}}),
        ),
        (
            "conditions.clientApplications.includeServicePrincipals",
            json!({"includeUsers": ["None"]}),
            all_apps.clone(),
            json!({"clientApplications": {"includeServicePrincipals": [ghost]}}),
        ),
    ];
    for (field, users, apps, extra) in cases {
        let name = alias("ca-unknown");
        let (st, v) = g
            .post(
                "/identity/conditionalAccess/policies",
                policy(&name, users, apps, extra),
            )
            .await;
        assert_eq!(st, 400, "{field}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(field) && msg.contains(&ghost),
            "{field}: {msg}"
        );
        assert!(
            !policy_names(&g).await.contains(&name),
            "{field}: nothing stored"
        );
    }
    // A PATCH that introduces an unknown id is refused and leaves the policy as it was.
    let name = alias("ca-known");
    let (st, p) = g
        .post(
            "/identity/conditionalAccess/policies",
            policy(
                &name,
                json!({"includeUsers": [uid], "excludeUsers": [uid], "includeGroups": [group], "includeRoles": [GLOBAL_ADMIN_ROLE]}),
                json!({"includeApplications": [app, "00000003-0000-0000-c000-000000000000"]}),
                json!({"locations": {"includeLocations": [location, "AllTrusted"]}}),
            ),
        )
        .await;
    assert_eq!(
        st, 201,
        "positive control, every kind of reference known: {p}"
    );
    let path = format!(
        "/identity/conditionalAccess/policies/{}",
        p["id"].as_str().unwrap()
    );
    let (st, v) = g
        .patch(&path, json!({"conditions": {"users": {"includeUsers": [ghost]}, "applications": {"includeApplications": ["All"]}}}))
        .await;
    assert_eq!(st, 400, "{v}");
    let (_, now) = g.get(&path).await;
    assert_eq!(now["conditions"]["users"]["includeUsers"], json!([uid]));
    // Positive control for a workload-identity policy: a real service principal.
    let (st, w) = g
        .post(
            "/identity/conditionalAccess/policies",
            policy(
                &alias("ca-wl"),
                json!({"includeUsers": ["None"]}),
                all_apps.clone(),
                json!({"clientApplications": {"includeServicePrincipals": [sp]}}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{w}");
    for p in [p, w] {
        let (st, _) = g
            .delete(&format!(
                "/identity/conditionalAccess/policies/{}",
                p["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(st, 204);
    }
}

#[tokio::test]
async fn ca_a_named_location_in_use_cannot_be_deleted() {
    let g = G::demo().await;
    let user = g.create_user(&alias("caloc")).await;
    let (st, loc) = g
        .post(
            "/identity/conditionalAccess/namedLocations",
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": alias("ca-loc"),
                   "isTrusted": false,
                   "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "198.51.100.0/24"}]}),
        )
        .await;
    assert_eq!(st, 201, "{loc}");
    let loc_path = format!(
        "/identity/conditionalAccess/namedLocations/{}",
        loc["id"].as_str().unwrap()
    );
    let (st, p) = g
        .post(
            "/identity/conditionalAccess/policies",
            policy(
                &alias("ca-uses-loc"),
                json!({"includeUsers": [user["id"]]}),
                json!({"includeApplications": ["All"]}),
                json!({"locations": {"includeLocations": [loc["id"]]}}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let (st, v) = g.delete(&loc_path).await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("used by"),
        "{v}"
    );
    let (st, still) = g.get(&loc_path).await;
    assert_eq!(
        (st, &still["id"]),
        (200, &loc["id"]),
        "the location is still there"
    );
    // Positive control: once no policy uses it, it goes.
    let (st, _) = g
        .delete(&format!(
            "/identity/conditionalAccess/policies/{}",
            p["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(st, 204);
    let (st, _) = g.delete(&loc_path).await;
    assert_eq!(st, 204);
    assert_eq!(g.get(&loc_path).await.0, 404);
}

#[tokio::test]
async fn ca_a_policy_naming_a_deleted_user_keeps_the_stale_id_and_still_evaluates() {
    let g = G::demo().await;
    let gone = g.create_user(&alias("cagone")).await;
    let stays = g.create_user(&alias("castays")).await;
    let (gid, sid) = (gone["id"].as_str().unwrap(), stays["id"].as_str().unwrap());
    let name = alias("ca-stale");
    let mut body = policy(
        &name,
        json!({"includeUsers": [gid, sid]}),
        json!({"includeApplications": ["All"]}),
        json!({}),
    );
    body["state"] = json!("enabledForReportingButNotEnforced");
    let (st, p) = g.post("/identity/conditionalAccess/policies", body).await;
    assert_eq!(st, 201, "{p}");
    // Entra allows deleting a user a policy names; the policy keeps the id.
    assert_eq!(g.delete(&format!("/users/{gid}")).await.0, 204);
    let path = format!(
        "/identity/conditionalAccess/policies/{}",
        p["id"].as_str().unwrap()
    );
    let (st, now) = g.get(&path).await;
    assert_eq!(st, 200, "{now}");
    assert_eq!(
        now["conditions"]["users"]["includeUsers"],
        json!([gid, sid])
    );
    // Evaluation is unaffected: the remaining user is still in scope of the (report-only) block.
    let (st, v) = g
        .post(
            "/identity/conditionalAccess/evaluate",
            json!({"userId": sid, "clientAppType": "browser"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["displayName"] == name.as_str()),
        "{v}"
    );
    // The policy stays editable: an update may keep the stale id it already named, but may
    // not add another unknown one.
    let (st, v) = g
        .patch(&path, json!({"displayName": format!("{name}-renamed")}))
        .await;
    assert_eq!(st, 204, "{v}");
    let ghost = uuid::Uuid::new_v4().to_string();
    let (st, v) = g
        .patch(
            &path,
            json!({"conditions": {"users": {"includeUsers": [gid, sid, ghost]}}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&ghost),
        "{v}"
    );
    let (_, now) = g.get(&path).await;
    assert_eq!(now["displayName"], format!("{name}-renamed"));
    assert_eq!(
        now["conditions"]["users"]["includeUsers"],
        json!([gid, sid])
    );
    assert_eq!(g.delete(&path).await.0, 204);
}

// ---------------------------------------------------------------------------------------------
// Authorization codes (issue 12, item 5): any redemption attempt spends the code — a wrong PKCE
// verifier, redirect_uri, client or client secret burns it with one compare-and-set, so a later
// correct attempt is invalid_grant (AADSTS54005). Positive control: a correct first redemption
// works. (`core::flow::auth_code::{decide_request, burned}`, `core::ops::signin::redeem_code`.)
// ---------------------------------------------------------------------------------------------

mod codes {
    use serde_json::Value;

    use super::super::mfa_guessing::Browser;
    use crate::{shared, token_form};

    const VERIFIER: &str = "code-burning-verifier-0123456789abcdefghijklmnopqrstuvwxyz";
    const LOOPBACK: &str = "http://localhost:53201";

    /// A code for the demo user from the authorize pages: the public client with PKCE
    /// (`challenge` = S256 of [`VERIFIER`]) or the confidential client without.
    async fn code(public: bool) -> String {
        let d = &shared().demo;
        let (client, redirect) = if public {
            (d["public_client"]["app_id"].as_str().unwrap(), LOOPBACK)
        } else {
            (
                d["confidential_client"]["app_id"].as_str().unwrap(),
                d["confidential_client"]["redirect_uri"].as_str().unwrap(),
            )
        };
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", client)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid User.Read")
            .append_pair("state", "code-test");
        if public {
            q.append_pair(
                "code_challenge",
                &castellan_core::flow::pkce::s256(VERIFIER),
            )
            .append_pair("code_challenge_method", "S256");
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/authorize?{}",
            shared().origin,
            d["tenant_id"].as_str().unwrap(),
            q.finish()
        );
        let b = Browser::new();
        let login = b.get(&url).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let done = b
            .submit(
                &login,
                &[
                    ("username", d["user"]["upn"].as_str().unwrap()),
                    ("password", d["user"]["password"].as_str().unwrap()),
                ],
            )
            .await;
        let location = done
            .location
            .unwrap_or_else(|| panic!("no redirect ({}): {}", done.status, done.body));
        let u = url::Url::parse(&location).unwrap();
        u.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| panic!("no code in {location}"))
    }

    /// Redeems for the public client.
    async fn redeem_public(code: &str, redirect: &str, verifier: &str) -> (u16, Value) {
        let d = &shared().demo;
        token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", d["public_client"]["app_id"].as_str().unwrap()),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("scope", "User.Read"),
        ])
        .await
    }

    /// Redeems for the confidential client with `secret`.
    async fn redeem_confidential(code: &str, secret: &str) -> (u16, Value) {
        let cc = &shared().demo["confidential_client"];
        token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", cc["app_id"].as_str().unwrap()),
            ("client_secret", secret),
            ("code", code),
            ("redirect_uri", cc["redirect_uri"].as_str().unwrap()),
            ("scope", "User.Read"),
        ])
        .await
    }

    fn codes_of(v: &Value) -> Vec<u64> {
        v["error_codes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    }

    /// The later, correct attempt after a failed one: invalid_grant 54005, no tokens.
    fn assert_spent(st: u16, v: &Value) {
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["error"], "invalid_grant", "{v}");
        assert_eq!(codes_of(v), vec![54005], "{v}");
        assert!(v.get("access_token").is_none());
    }

    #[tokio::test]
    async fn code_a_correct_first_redemption_works() {
        let c = code(true).await;
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_eq!(st, 200, "{v}");
        assert!(v["access_token"].is_string());
        let c = code(false).await;
        let secret = shared().demo["confidential_client"]["secret"]
            .as_str()
            .unwrap();
        let (st, v) = redeem_confidential(&c, secret).await;
        assert_eq!(st, 200, "{v}");
    }

    #[tokio::test]
    async fn code_a_wrong_pkce_verifier_burns_the_code() {
        let c = code(true).await;
        let wrong = "wrong-verifier-0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
        let (st, v) = redeem_public(&c, LOOPBACK, wrong).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (400, Some("invalid_grant")),
            "{v}"
        );
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_a_wrong_redirect_uri_burns_the_code() {
        let c = code(true).await;
        let (st, v) = redeem_public(&c, "http://localhost:53202", VERIFIER).await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(codes_of(&v), vec![70000], "{v}");
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_a_wrong_client_burns_the_code() {
        // The public client's code presented by the confidential client (its own secret).
        let c = code(true).await;
        let cc = &shared().demo["confidential_client"];
        let (st, v) = token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", cc["app_id"].as_str().unwrap()),
            ("client_secret", cc["secret"].as_str().unwrap()),
            ("code", &c),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", VERIFIER),
        ])
        .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(codes_of(&v), vec![700005], "{v}");
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
        // A client id that does not exist here spends it too.
        let c = code(true).await;
        let (st, v) = token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &uuid::Uuid::new_v4().to_string()),
            ("code", &c),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", VERIFIER),
        ])
        .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(codes_of(&v), vec![700016], "{v}");
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_a_wrong_client_secret_burns_the_code() {
        let c = code(false).await;
        let (st, v) = redeem_confidential(&c, "not-the-secret").await;
        assert!(matches!(st, 400 | 401), "{v}");
        assert_eq!(v["error"], "invalid_client", "{v}");
        let secret = shared().demo["confidential_client"]["secret"]
            .as_str()
            .unwrap();
        let (st, v) = redeem_confidential(&c, secret).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_a_refused_client_assertion_burns_the_code() {
        let c = code(false).await;
        let cc = &shared().demo["confidential_client"];
        let (st, v) = token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", cc["app_id"].as_str().unwrap()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
            ("code", &c),
            ("redirect_uri", cc["redirect_uri"].as_str().unwrap()),
        ])
        .await;
        assert!(matches!(st, 400 | 401), "{v}");
        assert!(v.get("access_token").is_none(), "{v}");
        let (st, v) = redeem_confidential(&c, cc["secret"].as_str().unwrap()).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_parallel_attempts_with_one_correct_redeem_at_most_once() {
        let c = code(true).await;
        let mut tasks = Vec::new();
        for i in 0..32 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let verifier = if i == 16 {
                    VERIFIER.to_string()
                } else {
                    format!("wrong-verifier-{i:02}-0123456789abcdefghijklmnopqrstuvwxyz")
                };
                redeem_public(&c, LOOPBACK, &verifier).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            let (st, v) = t.await.unwrap();
            if st == 200 {
                ok += 1;
            } else {
                assert_eq!(v["error"], "invalid_grant", "{v}");
            }
        }
        assert!(ok <= 1, "{ok} redemptions succeeded");
        // Whatever won, the code is spent now.
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
    }
}
