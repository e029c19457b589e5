//! `/v1.0/groups`: members, nesting, cycles, owners.

use serde_json::json;

use crate::{alias, G};

fn odata_id(id: &serde_json::Value) -> serde_json::Value {
    json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", id.as_str().unwrap())})
}

#[tokio::test]
async fn nesting_transitive_members_and_member_of() {
    let g = G::demo().await;
    let outer = g.create_group(&alias("Outer")).await;
    let inner = g.create_group(&alias("Inner")).await;
    let u = g.create_user(&alias("n")).await;
    let (o, i) = (outer["id"].as_str().unwrap(), inner["id"].as_str().unwrap());
    assert_eq!(
        g.post(&format!("/groups/{o}/members/$ref"), odata_id(&inner["id"]))
            .await
            .0,
        204
    );
    assert_eq!(
        g.post(&format!("/groups/{i}/members/$ref"), odata_id(&u["id"]))
            .await
            .0,
        204
    );
    let direct: Vec<_> = g
        .all(&format!("/groups/{o}/members"))
        .await
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(direct, vec![inner["id"].clone()]);
    let trans: Vec<_> = g
        .all(&format!("/groups/{o}/transitiveMembers"))
        .await
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert!(trans.contains(&inner["id"]) && trans.contains(&u["id"]));
    let uid = u["id"].as_str().unwrap();
    let mo: Vec<_> = g
        .all(&format!("/users/{uid}/memberOf"))
        .await
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(mo, vec![inner["id"].clone()]);
    let tmo: Vec<_> = g
        .all(&format!("/users/{uid}/transitiveMemberOf"))
        .await
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert!(tmo.contains(&outer["id"]) && tmo.contains(&inner["id"]));
    assert_eq!(
        g.delete(&format!("/groups/{i}/members/{uid}/$ref")).await.0,
        204
    );
    assert_eq!(
        g.delete(&format!("/groups/{i}/members/{uid}/$ref")).await.0,
        404
    );
    assert!(g.all(&format!("/groups/{i}/members")).await.is_empty());
}

#[tokio::test]
async fn cycles_duplicates_and_bad_members_are_refused_and_change_nothing() {
    let g = G::demo().await;
    let a = g.create_group(&alias("A")).await;
    let b = g.create_group(&alias("B")).await;
    let c = g.create_group(&alias("C")).await;
    let (ai, bi, ci) = (
        a["id"].as_str().unwrap(),
        b["id"].as_str().unwrap(),
        c["id"].as_str().unwrap(),
    );
    g.post(&format!("/groups/{ai}/members/$ref"), odata_id(&b["id"]))
        .await;
    g.post(&format!("/groups/{bi}/members/$ref"), odata_id(&c["id"]))
        .await;
    let audits = g.audits_mentioning(ci).await + g.audits_mentioning(ai).await;
    let (st, v) = g
        .post(&format!("/groups/{ci}/members/$ref"), odata_id(&a["id"]))
        .await;
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("cycle"),
        "{v}"
    );
    let (st, _) = g
        .post(&format!("/groups/{ai}/members/$ref"), odata_id(&a["id"]))
        .await;
    assert_eq!(st, 400, "self-membership is a cycle");
    let (st, v) = g
        .post(&format!("/groups/{ai}/members/$ref"), odata_id(&b["id"]))
        .await;
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exist"),
        "{v}"
    );
    let (st, _) = g.post(&format!("/groups/{ai}/members/$ref"), json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", uuid::Uuid::new_v4())})).await;
    assert_eq!(st, 404);
    let (st, _) = g
        .post(&format!("/groups/{ai}/members/$ref"), json!({"nope": 1}))
        .await;
    assert_eq!(st, 400);
    assert_eq!(g.all(&format!("/groups/{ci}/members")).await.len(), 0);
    assert_eq!(
        g.audits_mentioning(ci).await + g.audits_mentioning(ai).await,
        audits
    );
}

#[tokio::test]
async fn unified_groups_validation_and_owners() {
    let g = G::demo().await;
    let (st, m365) = g.post("/groups", json!({"displayName": alias("Team"), "mailEnabled": true, "mailNickname": alias("team"), "securityEnabled": false, "groupTypes": ["Unified"]})).await;
    assert_eq!(st, 201, "{m365}");
    assert_eq!(m365["groupTypes"], json!(["Unified"]));
    let sec = g.create_group(&alias("Sec")).await;
    let (st, v) = g
        .post(
            &format!("/groups/{}/members/$ref", m365["id"].as_str().unwrap()),
            odata_id(&sec["id"]),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    for bad in [
        json!({"displayName": "x", "mailEnabled": true, "mailNickname": "x", "securityEnabled": true}),
        json!({"displayName": "x", "mailEnabled": false, "mailNickname": "has space", "securityEnabled": true}),
        json!({"displayName": "x", "mailEnabled": false, "securityEnabled": true}),
        json!({"displayName": "x", "mailEnabled": false, "mailNickname": "x", "securityEnabled": true, "groupTypes": ["DynamicMembership"]}),
    ] {
        assert_eq!(g.post("/groups", bad.clone()).await.0, 400, "{bad}");
    }
    let owner = g.create_user(&alias("own")).await;
    let sid = sec["id"].as_str().unwrap();
    assert_eq!(
        g.post(
            &format!("/groups/{sid}/owners/$ref"),
            odata_id(&owner["id"])
        )
        .await
        .0,
        204
    );
    assert_eq!(
        g.all(&format!("/groups/{sid}/owners")).await[0]["id"],
        owner["id"]
    );
    assert_eq!(
        g.delete(&format!(
            "/groups/{sid}/owners/{}/$ref",
            owner["id"].as_str().unwrap()
        ))
        .await
        .0,
        204
    );
    let (st, _) = g
        .patch(&format!("/groups/{sid}"), json!({"description": "changed"}))
        .await;
    assert_eq!(st, 204);
    assert_eq!(
        g.get(&format!("/groups/{sid}")).await.1["description"],
        "changed"
    );
    assert_eq!(g.delete(&format!("/groups/{sid}")).await.0, 204);
    assert_eq!(g.get(&format!("/groups/{sid}")).await.0, 404);
}
