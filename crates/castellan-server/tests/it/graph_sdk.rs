//! Graph as the SDKs use it: getByIds, member checks, type casts, `/$count`, `$batch`,
//! `$search`, `$expand`, delta, empty segments, and every error in Graph's shape.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::{alias, app_with, new_tenant, G};

fn odata_id(id: &Value) -> Value {
    json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", id.as_str().unwrap())})
}

/// GET with extra headers; the body as text.
async fn get_raw(g: &G, path: &str, eventual: bool) -> (u16, String, String) {
    let mut rb = g
        .http
        .get(format!("{}{path}", g.base))
        .bearer_auth(&g.token);
    if eventual {
        rb = rb.header("ConsistencyLevel", "eventual");
    }
    let r = rb.send().await.unwrap();
    let st = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (st, ct, r.text().await.unwrap())
}

fn assert_graph_error(v: &Value) {
    assert!(v["error"]["code"].is_string(), "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(v["error"]["innerError"].is_object(), "{v}");
}

/// A group holding a user, a nested group and a service principal.
async fn mixed_group(g: &G) -> (Value, Value, Value, Value) {
    let outer = g.create_group(&alias("Mixed")).await;
    let inner = g.create_group(&alias("MixedIn")).await;
    let u = g.create_user(&alias("mx")).await;
    let (_, app) = g
        .post("/applications", json!({"displayName": alias("mxapp")}))
        .await;
    let (st, sp) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    assert_eq!(st, 201, "{sp}");
    let o = outer["id"].as_str().unwrap();
    for m in [&inner["id"], &u["id"], &sp["id"]] {
        let (st, v) = g
            .post(&format!("/groups/{o}/members/$ref"), odata_id(m))
            .await;
        assert_eq!(st, 204, "{v}");
    }
    (outer, inner, u, sp)
}

#[tokio::test]
async fn type_cast_segments_filter_members() {
    let g = G::demo().await;
    let (outer, inner, u, sp) = mixed_group(&g).await;
    let o = outer["id"].as_str().unwrap();
    for (cast, want) in [
        ("microsoft.graph.user", &u),
        ("graph.user", &u),
        ("microsoft.graph.group", &inner),
        ("microsoft.graph.servicePrincipal", &sp),
    ] {
        let got = g.all(&format!("/groups/{o}/members/{cast}")).await;
        assert_eq!(got.len(), 1, "{cast}: {got:?}");
        assert_eq!(got[0]["id"], want["id"], "{cast}");
    }
    // transitiveMembers, memberOf, transitiveMemberOf, owners take casts too.
    let (st, v) = g
        .get(&format!(
            "/groups/{o}/transitiveMembers/microsoft.graph.user?$select=id,displayName"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    assert!(v["@odata.context"].as_str().unwrap().ends_with("#users"));
    let uid = u["id"].as_str().unwrap();
    let mo = g
        .all(&format!("/users/{uid}/memberOf/microsoft.graph.group"))
        .await;
    assert_eq!(mo.len(), 1);
    assert_eq!(mo[0]["id"], outer["id"]);
    assert!(g
        .all(&format!(
            "/users/{uid}/transitiveMemberOf/microsoft.graph.user"
        ))
        .await
        .is_empty());
    assert_eq!(
        g.get(&format!("/groups/{o}/owners/microsoft.graph.user"))
            .await
            .0,
        200
    );
    // An unknown type is refused in Graph's shape.
    let (st, v) = g
        .get(&format!("/groups/{o}/members/microsoft.graph.nope"))
        .await;
    assert_eq!(st, 400, "{v}");
    assert_graph_error(&v);
}

#[tokio::test]
async fn count_segments_need_eventual_and_answer_plain_text() {
    let g = G::demo().await;
    let (outer, ..) = mixed_group(&g).await;
    let o = outer["id"].as_str().unwrap();
    let (st, ct, body) = get_raw(&g, &format!("/groups/{o}/members/$count"), true).await;
    assert_eq!(st, 200, "{body}");
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert_eq!(body, "3");
    let (st, _, body) = get_raw(
        &g,
        &format!("/groups/{o}/members/microsoft.graph.user/$count"),
        true,
    )
    .await;
    assert_eq!((st, body.as_str()), (200, "1"));
    let (st, _, body) = get_raw(&g, "/users/$count", true).await;
    assert_eq!(st, 200);
    let n: usize = body.parse().unwrap();
    assert!(n >= 7, "{n}");
    let (st, _, body) = get_raw(&g, "/users/$count?$filter=department eq 'Finance'", true).await;
    assert_eq!(st, 200);
    assert!(body.parse::<usize>().unwrap() >= 2);
    // Only collections count.
    let (st, _, body) = get_raw(&g, &format!("/groups/{o}/$count"), true).await;
    assert_eq!(st, 400, "{body}");
    assert_graph_error(&serde_json::from_str(&body).unwrap());
    // Without ConsistencyLevel: eventual, Graph refuses.
    let (st, _, body) = get_raw(&g, "/users/$count", false).await;
    assert_eq!(st, 400);
    assert_graph_error(&serde_json::from_str(&body).unwrap());
}

#[tokio::test]
async fn graphs_own_base_normalises_paths_too() {
    // The same casts, `/$count` and empty segments under `/graph/v1.0` (the base the Azure
    // CLI and SDKs are given) as under `/v1.0`.
    let mut g = G::demo().await;
    let (outer, ..) = mixed_group(&g).await;
    let o = outer["id"].as_str().unwrap();
    g.base = format!("{}/graph/v1.0", crate::shared().origin);
    let (st, _, body) = get_raw(
        &g,
        &format!("/groups/{o}/members/microsoft.graph.user/$count"),
        true,
    )
    .await;
    assert_eq!((st, body.as_str()), (200, "1"));
    let (st, v) = g.get(&format!("//groups/{o}/members/graph.group")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    // Positive control at the plain base.
    g.base = format!("{}/v1.0", crate::shared().origin);
    let (st, _, body) = get_raw(&g, &format!("/groups/{o}/members/$count"), true).await;
    assert_eq!((st, body.as_str()), (200, "3"));
}

#[tokio::test]
async fn empty_segments_are_tolerated_and_errors_are_graph_shaped() {
    let g = G::demo().await;
    let (st, v) = g.get("//users?$top=1").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    // 405 on a known path, with a body in Graph's shape.
    for (m, p) in [
        (reqwest::Method::GET, "/directoryObjects/getByIds"),
        (reqwest::Method::PUT, "/users"),
        (reqwest::Method::DELETE, "/groups"),
        (reqwest::Method::GET, "/$batch"),
    ] {
        let (st, v) = g.send(m.clone(), p, None).await;
        assert_eq!(st, 405, "{m} {p}: {v}");
        assert_graph_error(&v);
    }
    let (st, v) = g.get("/nothingHere/at/all").await;
    assert_eq!(st, 404);
    assert_graph_error(&v);
    // A body over the limit is refused in Graph's shape too.
    let big = "x".repeat(70 * 1024);
    let r = g
        .http
        .post(format!("{}/users", g.base))
        .bearer_auth(&g.token)
        .header("content-type", "application/json")
        .body(format!("{{\"displayName\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_graph_error(&v);
    assert_eq!(v["error"]["code"], "Request_EntityTooLarge");
}

#[tokio::test]
async fn get_by_ids_returns_only_the_callers_tenant_and_types() {
    let g = G::demo().await;
    let (outer, inner, u, sp) = mixed_group(&g).await;
    let other = new_tenant(&alias("gbi")).await;
    let foreign = other["admin"]["id"].clone();
    let ids = json!([
        u["id"],
        inner["id"],
        sp["id"],
        foreign,
        "00000000-0000-0000-0000-000000000001"
    ]);
    let (st, v) = g
        .post("/directoryObjects/getByIds", json!({"ids": ids}))
        .await;
    assert_eq!(st, 200, "{v}");
    let got: Vec<&Value> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(got.len(), 3, "{v}");
    assert!(got.contains(&&u["id"]) && got.contains(&&inner["id"]) && got.contains(&&sp["id"]));
    assert!(!got.contains(&&foreign));
    let (st, v) = g
        .post(
            "/directoryObjects/getByIds",
            json!({"ids": ids, "types": ["user", "microsoft.graph.group"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    assert!(v["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["@odata.type"] != "#microsoft.graph.servicePrincipal"));
    let _ = outer;
    // Directory types Castellan holds none of match nothing (the Azure CLI names one).
    let (st, v) = g
        .post(
            "/directoryObjects/getByIds",
            json!({"ids": ids, "types": ["user", "directoryObjectPartnerReference"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let (st, v) = g
        .post(
            "/directoryObjects/getByIds",
            json!({"ids": ids, "types": ["device"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["value"].as_array().unwrap().is_empty());
    for bad in [
        json!({}),
        json!({"ids": "x"}),
        json!({"ids": ["not-a-guid"]}),
        json!({"ids": [u["id"]], "types": ["planet"]}),
    ] {
        let (st, v) = g.post("/directoryObjects/getByIds", bad.clone()).await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert_graph_error(&v);
    }
    // A token that may read users only sees users.
    let reader = app_with(&["User.Read.All"]).await;
    let (st, v) = reader
        .post("/directoryObjects/getByIds", json!({"ids": ids}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    assert_eq!(v["value"][0]["id"], u["id"]);
    // A token that may read none of them is refused.
    let none = app_with(&["AuditLog.Read.All"]).await;
    let (st, v) = none
        .post("/directoryObjects/getByIds", json!({"ids": ids}))
        .await;
    assert_eq!(st, 403, "{v}");
    assert_graph_error(&v);
}

#[tokio::test]
async fn member_checks_follow_nesting() {
    let g = G::demo().await;
    let (outer, inner, _u, _sp) = mixed_group(&g).await;
    let leaf = g.create_user(&alias("leaf")).await;
    let i = inner["id"].as_str().unwrap();
    assert_eq!(
        g.post(&format!("/groups/{i}/members/$ref"), odata_id(&leaf["id"]))
            .await
            .0,
        204
    );
    let lid = leaf["id"].as_str().unwrap();
    let unrelated = g.create_group(&alias("Unrel")).await;
    for coll in ["users", "directoryObjects"] {
        let (st, v) = g
            .post(
                &format!("/{coll}/{lid}/checkMemberGroups"),
                json!({"groupIds": [outer["id"], unrelated["id"], inner["id"]]}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let got = v["value"].as_array().unwrap();
        assert_eq!(got.len(), 2, "{v}");
        assert!(got.contains(&outer["id"]) && got.contains(&inner["id"]));
        assert!(v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#Collection(Edm.String)"));
    }
    let (st, v) = g
        .post(
            &format!("/users/{lid}/checkMemberObjects"),
            json!({"ids": [outer["id"], unrelated["id"]]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"], json!([outer["id"]]));
    let (st, v) = g
        .post(
            &format!("/users/{lid}/getMemberGroups"),
            json!({"securityEnabledOnly": true}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let got = v["value"].as_array().unwrap();
    assert_eq!(got.len(), 2);
    let (st, v) = g
        .post(
            &format!("/groups/{i}/getMemberObjects"),
            json!({"securityEnabledOnly": false}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"], json!([outer["id"]]));
    let (st, v) = g
        .post(
            &format!(
                "/servicePrincipals/{}/getMemberGroups",
                _sp["id"].as_str().unwrap()
            ),
            json!({"securityEnabledOnly": false}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"], json!([outer["id"]]));
    // The object forms include administrative units; the group forms do not.
    let (st, au) = g
        .post(
            "/directory/administrativeUnits",
            json!({"displayName": alias("mchk-au")}),
        )
        .await;
    assert_eq!(st, 201, "{au}");
    let (st, v) = g
        .post(
            &format!(
                "/directory/administrativeUnits/{}/members/$ref",
                au["id"].as_str().unwrap()
            ),
            odata_id(&leaf["id"]),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (_, v) = g
        .post(
            &format!("/users/{lid}/getMemberObjects"),
            json!({"securityEnabledOnly": false}),
        )
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 3, "{v}");
    assert!(v["value"].as_array().unwrap().contains(&au["id"]));
    let (_, v) = g
        .post(
            &format!("/users/{lid}/checkMemberObjects"),
            json!({"ids": [au["id"], unrelated["id"]]}),
        )
        .await;
    assert_eq!(v["value"], json!([au["id"]]));
    for body in [
        json!({"securityEnabledOnly": true}),
        json!({"securityEnabledOnly": false}),
    ] {
        let (_, v) = g.post(&format!("/users/{lid}/getMemberGroups"), body).await;
        assert!(!v["value"].as_array().unwrap().contains(&au["id"]), "{v}");
    }
    // Negative: bad bodies, unknown or foreign objects, callers who may not read groups.
    let (st, v) = g
        .post(&format!("/users/{lid}/checkMemberGroups"), json!({}))
        .await;
    assert_eq!(st, 400, "{v}");
    assert_graph_error(&v);
    let many: Vec<String> = (0..21).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let (st, _) = g
        .post(
            &format!("/users/{lid}/checkMemberGroups"),
            json!({"groupIds": many}),
        )
        .await;
    assert_eq!(st, 400);
    let (st, _) = g
        .post(
            &format!("/users/{lid}/getMemberGroups"),
            json!({"securityEnabledOnly": "yes"}),
        )
        .await;
    assert_eq!(st, 400);
    let other = new_tenant(&alias("mchk")).await;
    let (st, v) = g
        .post(
            &format!(
                "/directoryObjects/{}/getMemberGroups",
                other["admin"]["id"].as_str().unwrap()
            ),
            json!({"securityEnabledOnly": false}),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    assert_graph_error(&v);
    let users_only = app_with(&["User.Read.All"]).await;
    let (st, v) = users_only
        .post(
            &format!("/users/{lid}/getMemberGroups"),
            json!({"securityEnabledOnly": false}),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_graph_error(&v);
}

#[tokio::test]
async fn batch_runs_each_request_as_if_alone() {
    let g = G::demo().await;
    let u = g.create_user(&alias("bt")).await;
    let uid = u["id"].as_str().unwrap();
    let (st, v) = g
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "1", "method": "GET", "url": "/users?$top=1"},
                {"id": "2", "method": "GET", "url": format!("users/{uid}?$select=id,displayName")},
                {"id": "3", "method": "PATCH", "url": format!("/users/{uid}"), "headers": {"Content-Type": "application/json"}, "body": {"jobTitle": "Batched"}, "dependsOn": ["2"]},
                {"id": "4", "method": "GET", "url": format!("/users/{uid}"), "dependsOn": ["3"]},
                {"id": "5", "method": "GET", "url": "/users/00000000-0000-0000-0000-00000000dead"},
                {"id": "6", "method": "GET", "url": "/users", "dependsOn": ["5"]},
                {"id": "7", "method": "GET", "url": "/users/$count", "headers": {"ConsistencyLevel": "eventual"}},
                {"id": "8", "method": "GET", "url": format!("{}/users?$top=1", g.base), "depends_on": ["1"]},
            ]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let r = v["responses"].as_array().unwrap();
    let by = |id: &str| r.iter().find(|x| x["id"] == id).unwrap().clone();
    assert_eq!(by("1")["status"], 200);
    assert_eq!(by("1")["body"]["value"].as_array().unwrap().len(), 1);
    assert_eq!(by("2")["status"], 200);
    assert_eq!(by("2")["body"]["id"], u["id"]);
    assert_eq!(by("3")["status"], 204);
    assert_eq!(by("4")["body"]["jobTitle"], "Batched");
    assert_eq!(by("5")["status"], 404);
    assert_graph_error(&by("5")["body"]);
    assert_eq!(by("6")["status"], 424);
    assert_eq!(by("7")["status"], 200);
    assert!(by("7")["body"].as_str().unwrap().parse::<usize>().is_ok());
    // An absolute URL on this Graph, as msgraph-core's batch helper sends it.
    assert_eq!(by("8")["status"], 200);
    assert!(by("1")["headers"]["Content-Type"]
        .as_str()
        .unwrap()
        .contains("json"));

    // A sub-request the token may not do gets its own 403 while the others succeed.
    let reader = app_with(&["User.Read.All"]).await;
    let (st, v) = reader
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "a", "method": "GET", "url": "/users?$top=1"},
                {"id": "b", "method": "PATCH", "url": format!("/users/{uid}"), "body": {"jobTitle": "Nope"}},
                {"id": "c", "method": "GET", "url": "/groups"},
                {"id": "d", "method": "GET", "url": "/groups", "headers": {"Authorization": format!("Bearer {}", g.token)}},
            ]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let r = v["responses"].as_array().unwrap();
    let by = |id: &str| r.iter().find(|x| x["id"] == id).unwrap().clone();
    assert_eq!(by("a")["status"], 200);
    assert_eq!(by("b")["status"], 403);
    assert_graph_error(&by("b")["body"]);
    assert_eq!(by("c")["status"], 403);
    // A sub-request's own Authorization header is ignored: the batch's token is used.
    assert_eq!(by("d")["status"], 403);
    assert_eq!(
        g.get(&format!("/users/{uid}")).await.1["jobTitle"],
        "Batched"
    );

    // Malformed batches are refused whole.
    let req = |i: usize| json!({"id": i.to_string(), "method": "GET", "url": "/users"});
    let too_many: Vec<Value> = (0..21).map(req).collect();
    for bad in [
        json!({"requests": too_many}),
        json!({"requests": [req(1), req(1)]}),
        json!({"requests": []}),
        json!({}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "https://evil.example/users"}]}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "/$batch"}]}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "../operator/v1/tenants"}]}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "//evil.example/users"}]}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]}, req(2)]}),
        json!({"requests": [{"id": "1", "method": "TRACE", "url": "/users"}]}),
    ] {
        let (st, v) = g.post("/$batch", bad.clone()).await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert_graph_error(&v);
    }
    // Without a token the batch itself is refused.
    let anon = G::with_token("x".into());
    assert_eq!(
        anon.post("/$batch", json!({"requests": [req(1)]})).await.0,
        401
    );
}

#[tokio::test]
async fn search_needs_eventual_and_matches_word_prefixes() {
    let g = G::demo().await;
    let tag = alias("Srch");
    let u = g.create_user(&format!("{tag}x")).await;
    let (st, _, body) = get_raw(&g, &format!("/users?$search=\"displayName:{tag}\""), false).await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("ConsistencyLevel"));
    let (st, _, body) = get_raw(
        &g,
        &format!(
            "/users?$search=\"displayName:{}\"&$count=true",
            tag.to_lowercase()
        ),
        true,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["@odata.count"], 1);
    assert_eq!(v["value"][0]["id"], u["id"]);
    let (st, _, body) = get_raw(
        &g,
        &format!(
            "/users?$search=\"mail:zzzz\" OR \"userPrincipalName:{}\"",
            tag.to_lowercase()
        ),
        true,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let (st, _, body) = get_raw(&g, "/groups?$search=\"displayName:Engin\"", true).await;
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["displayName"] == "Engineering"));
    for bad in [
        "displayName:x",
        "\"jobTitle:x\"",
        "\"displayName:x\" NEAR \"mail:y\"",
    ] {
        let (st, _, body) = get_raw(&g, &format!("/users?$search={bad}"), true).await;
        assert_eq!(st, 400, "{bad}: {body}");
        assert_graph_error(&serde_json::from_str(&body).unwrap());
    }
}

#[tokio::test]
async fn expand_members_owners_manager_and_member_of() {
    let g = G::demo().await;
    let (outer, inner, u, sp) = mixed_group(&g).await;
    let o = outer["id"].as_str().unwrap();
    let (st, v) = g.get(&format!("/groups/{o}?$expand=members")).await;
    assert_eq!(st, 200, "{v}");
    let ids: Vec<&Value> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&&inner["id"]) && ids.contains(&&u["id"]) && ids.contains(&&sp["id"]));
    let (st, v) = g
        .get(&format!(
            "/groups/{o}?$select=id&$expand=members($select=id,displayName),owners"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("displayName").is_none());
    assert!(v["members"][0].get("displayName").is_some());
    assert!(v["members"][0].get("mail").is_none());
    assert!(v["owners"].is_array());
    let i = inner["id"].as_str().unwrap();
    let (_, v) = g.get(&format!("/groups/{i}?$expand=memberOf")).await;
    assert_eq!(v["memberOf"][0]["id"], outer["id"]);

    let boss = g.create_user(&alias("boss")).await;
    let uid = u["id"].as_str().unwrap();
    let (st, v) = g
        .send(
            reqwest::Method::PUT,
            &format!("/users/{uid}/manager/$ref"),
            Some(odata_id(&boss["id"])),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = g
        .get(&format!(
            "/users/{uid}?$expand=manager($select=id,displayName)"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["manager"]["id"], boss["id"]);
    let (_, v) = g.get(&format!("/users/{uid}?$expand=memberOf")).await;
    assert_eq!(v["memberOf"][0]["id"], outer["id"]);
    let (_, v) = g
        .get(&format!(
            "/users/{}?$expand=manager",
            boss["id"].as_str().unwrap()
        ))
        .await;
    assert!(v.get("manager").is_none(), "{v}");
    for bad in [
        format!("/users/{uid}?$expand=nope"),
        format!("/users/{uid}?$expand=manager($filter=id eq 'x')"),
        format!("/users/{uid}?$expand=manager($select=nope)"),
        format!("/users/{uid}?$expand=manager,manager"),
        format!("/groups/{o}?$expand=members(("),
    ] {
        let (st, v) = g.get(&bad).await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert_graph_error(&v);
    }
    // memberOf needs the right to read groups.
    let reader = app_with(&["User.Read.All"]).await;
    assert_eq!(
        reader.get(&format!("/users/{uid}?$expand=manager")).await.0,
        200
    );
    let (st, v) = reader.get(&format!("/users/{uid}?$expand=memberOf")).await;
    assert_eq!(st, 403, "{v}");
}

/// Follows one delta round from `url` (absolute) to its `@odata.deltaLink`: every page's
/// objects, the link, and how many pages it took. Every page but the last has an
/// `@odata.nextLink` and no `@odata.deltaLink`.
async fn delta_round(g: &G, url: String, prefer: Option<&str>) -> (Vec<Value>, String, usize) {
    let (mut items, mut pages, mut next) = (Vec::new(), 0, url);
    loop {
        let mut rb = g.http.get(&next).bearer_auth(&g.token);
        if let Some(p) = prefer {
            rb = rb.header("Prefer", p);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        pages += 1;
        assert!(pages < 1000, "the round never ends");
        items.extend(v["value"].as_array().unwrap().iter().cloned());
        match (v.get("@odata.nextLink"), v.get("@odata.deltaLink")) {
            (Some(n), None) => next = n.as_str().unwrap().to_string(),
            (None, Some(d)) => return (items, d.as_str().unwrap().to_string(), pages),
            _ => panic!("a delta page links either the next page or the next round: {v}"),
        }
    }
}

#[tokio::test]
async fn delta_links_return_changes_since() {
    let g = G::demo().await;
    let untouched = g.create_user(&alias("dU")).await;
    let changed = g.create_user(&alias("dC")).await;
    let gone = g.create_user(&alias("dG")).await;
    let grp = g.create_group(&alias("dGrp")).await;
    // Past the watermark margin, so the follow-up below reports only what changes after.
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    // The first round is paged (the shared tenant may hold more than a page): follow it.
    let (all, link, _) = delta_round(
        &g,
        format!("{}/users/delta()?$select=id,displayName", g.base),
        None,
    )
    .await;
    assert!(all.iter().any(|u| u["id"] == untouched["id"]));
    assert!(all.iter().all(|u| u.get("mail").is_none()));
    assert!(
        link.contains("$deltatoken=") || link.contains("%24deltatoken="),
        "{link}"
    );
    let (_, glink, _) = delta_round(&g, format!("{}/groups/delta", g.base), None).await;
    let gv = json!({"@odata.deltaLink": glink.clone()});

    let cid = changed["id"].as_str().unwrap();
    assert_eq!(
        g.patch(&format!("/users/{cid}"), json!({"jobTitle": "Delta"}))
            .await
            .0,
        204
    );
    assert_eq!(
        g.delete(&format!("/users/{}", gone["id"].as_str().unwrap()))
            .await
            .0,
        204
    );
    let gid = grp["id"].as_str().unwrap();
    assert_eq!(
        g.post(
            &format!("/groups/{gid}/members/$ref"),
            odata_id(&changed["id"])
        )
        .await
        .0,
        204
    );
    let (items, _, _) = delta_round(&g, link, None).await;
    let c = items.iter().find(|u| u["id"] == changed["id"]).unwrap();
    assert_eq!(c["displayName"], changed["displayName"]);
    assert!(c.get("jobTitle").is_none(), "$select carried over: {c}");
    let d = items.iter().find(|u| u["id"] == gone["id"]).unwrap();
    assert_eq!(d["@removed"]["reason"], "deleted");
    assert!(items.iter().all(|u| u["id"] != untouched["id"]));
    let (gitems, _, _) = delta_round(&g, glink, None).await;
    assert!(gitems.iter().any(|x| x["id"] == grp["id"]));
    // latest: no objects, just a link.
    let (st, v) = g.get("/users/delta?$deltatoken=latest").await;
    assert_eq!(st, 200);
    assert!(v["value"].as_array().unwrap().is_empty());
    // Malformed, foreign-collection and other-tenant tokens are refused.
    let (st, v) = g.get("/users/delta?$deltatoken=garbage").await;
    assert_eq!(st, 400, "{v}");
    assert_graph_error(&v);
    let gtok = gv["@odata.deltaLink"]
        .as_str()
        .unwrap()
        .split("deltatoken=")
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        g.get(&format!("/users/delta?$deltatoken={gtok}")).await.0,
        400
    );
    let (st, _) = g.get("/users/delta?$filter=id eq 'x'").await;
    assert_eq!(st, 400);
    // Delta needs the same right as listing.
    let none = app_with(&["AuditLog.Read.All"]).await;
    assert_eq!(none.get("/users/delta").await.0, 403);
}

/// Graph pages a delta round: `@odata.nextLink` while more remain, `@odata.deltaLink` on the
/// last page only; the page size follows `Prefer: odata.maxpagesize`; a change made while the
/// client pages is reported by the next round, not lost.
#[tokio::test]
async fn delta_rounds_are_paged() {
    let g = G::demo().await;
    // Other tests add and delete users in the shared tenant meanwhile: check these five.
    let mut mine = Vec::new();
    for i in 0..5 {
        let u = g.create_user(&alias(&format!("dP{i}"))).await;
        mine.push(u["id"].as_str().unwrap().to_string());
    }
    // Page size 2: many pages, each object exactly once, $select carried in every link.
    let first = format!("{}/users/delta?$select=id,displayName", g.base);
    let r = g
        .http
        .get(&first)
        .bearer_auth(&g.token)
        .header("Prefer", "odata.maxpagesize=2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["preference-applied"].to_str().unwrap(),
        "odata.maxpagesize=2"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 2, "{v}");
    let next = v["@odata.nextLink"].as_str().unwrap();
    assert!(v.get("@odata.deltaLink").is_none(), "{v}");
    assert!(
        next.contains("skiptoken") && next.contains("select"),
        "{next}"
    );
    // A change while the client pages: made after the round's first page.
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    let late = g.create_user(&alias("dLate")).await;
    let (items, link, pages) = delta_round(&g, first.clone(), Some("odata.maxpagesize=2")).await;
    assert!(pages >= 3, "{pages} pages");
    let ids: Vec<String> = items
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an object came twice in one round");
    assert!(mine.iter().all(|id| unique.contains(id)));
    assert!(items.iter().all(|u| u.get("mail").is_none()));
    // Without a preference the whole (small) round may be one page; with one, the rounds agree.
    let (all_default, _, _) = delta_round(&g, first.clone(), None).await;
    assert!(mine
        .iter()
        .all(|id| all_default.iter().any(|u| u["id"] == id.as_str())));
    // The next round reports the late user.
    let (changes, _, _) = delta_round(&g, link, Some("odata.maxpagesize=1")).await;
    assert!(changes.iter().any(|u| u["id"] == late["id"]), "{changes:?}");
    // Refusals, in Graph's shape: a page size out of range, a skip token as a delta token.
    let r = g
        .http
        .get(&first)
        .bearer_auth(&g.token)
        .header("Prefer", "odata.maxpagesize=1000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_graph_error(&e);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("999"),
        "{e}"
    );
    let skip = next
        .split("skiptoken=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let (st, v) = g.get(&format!("/users/delta?$deltatoken={skip}")).await;
    assert_eq!(st, 400, "{v}");
    assert_graph_error(&v);
    let (st, _) = g.get(&format!("/groups/delta?$skiptoken={skip}")).await;
    assert_eq!(st, 400);
}

/// `$expand` on lists, within Graph's limits: the relationship on every object of the page
/// (nested `$select` honoured, at most 20 expanded objects, at most 100 objects a page, the
/// expansion kept in `@odata.nextLink`); advanced queries and anything else Graph does not
/// expand are Graph-shaped 400s.
#[tokio::test]
async fn expand_on_lists() {
    let g = G::demo().await;
    let boss = g.create_user(&alias("lBoss")).await;
    let u = g.create_user(&alias("lUser")).await;
    let uid = u["id"].as_str().unwrap();
    let (st, v) = g
        .send(
            reqwest::Method::PUT,
            &format!("/users/{uid}/manager/$ref"),
            Some(odata_id(&boss["id"])),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let filter = format!("$filter=id in ('{uid}','{}')", boss["id"].as_str().unwrap());
    let (st, v) = g
        .get(&format!(
            "/users?{filter}&$select=displayName&$expand=manager($select=id,displayName)"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    let page = v["value"].as_array().unwrap();
    assert_eq!(page.len(), 2, "{v}");
    let lu = page.iter().find(|x| x["id"] == u["id"]).unwrap();
    assert_eq!(lu["manager"]["id"], boss["id"]);
    assert_eq!(lu["manager"]["displayName"], boss["displayName"]);
    assert!(lu["manager"].get("mail").is_none(), "{lu}");
    assert!(lu.get("mail").is_none(), "$select still applies: {lu}");
    let lb = page.iter().find(|x| x["id"] == boss["id"]).unwrap();
    assert!(lb.get("manager").is_none(), "no manager, no property: {lb}");

    // Groups: members of each, capped at 20; the expansion follows the page to the next.
    let big = g.create_group(&alias("lBig")).await;
    let small = g.create_group(&alias("lSmall")).await;
    for _ in 0..21 {
        let m = g.create_user(&alias("lM")).await;
        let (st, _) = g
            .post(
                &format!("/groups/{}/members/$ref", big["id"].as_str().unwrap()),
                odata_id(&m["id"]),
            )
            .await;
        assert_eq!(st, 204);
    }
    let (st, _) = g
        .post(
            &format!("/groups/{}/members/$ref", small["id"].as_str().unwrap()),
            odata_id(&u["id"]),
        )
        .await;
    assert_eq!(st, 204);
    let gfilter = format!(
        "$filter=id in ('{}','{}')",
        big["id"].as_str().unwrap(),
        small["id"].as_str().unwrap()
    );
    let (st, v) = g
        .get(&format!(
            "/groups?{gfilter}&$top=1&$expand=members($select=id)"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    let mut groups = v["value"].as_array().unwrap().clone();
    let next = v["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(next.contains("expand"), "{next}");
    let r = g
        .http
        .get(&next)
        .bearer_auth(&g.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    groups.extend(v["value"].as_array().unwrap().iter().cloned());
    let b = groups.iter().find(|x| x["id"] == big["id"]).unwrap();
    assert_eq!(
        b["members"].as_array().unwrap().len(),
        20,
        "Graph's 20-object limit"
    );
    assert!(b["members"][0].get("displayName").is_none());
    let s = groups.iter().find(|x| x["id"] == small["id"]).unwrap();
    assert_eq!(s["members"][0]["id"], u["id"]);
    // Without $expand the same list is unchanged (no members property).
    let (_, v) = g.get(&format!("/groups?{gfilter}")).await;
    assert!(v["value"][0].get("members").is_none());
    // At most 100 objects a page when expanding, whatever $top asks.
    let (st, v) = g.get("/users?$top=999&$expand=manager").await;
    assert_eq!(st, 200, "{v}");
    assert!(v["value"].as_array().unwrap().len() <= 100);

    // Refusals, each in Graph's shape and naming the cause.
    let search = g
        .http
        .get(format!(
            "{}/users?$search=\"displayName:lUser\"&$expand=manager",
            g.base
        ))
        .bearer_auth(&g.token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 400);
    let e: Value = search.json().await.unwrap();
    assert_graph_error(&e);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("$expand"),
        "{e}"
    );
    for bad in [
        "/users?$expand=owners".to_string(),
        "/users?$expand=manager($expand=manager)".to_string(),
        "/groups?$expand=members&$expand=owners".to_string(),
        format!("/groups?{gfilter}&$count=true&$expand=members"),
    ] {
        let (st, v) = g.get(&bad).await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert_graph_error(&v);
    }
}
