//! Dynamic groups over Graph: create with a rule, members follow user PATCHes in the same
//! request, hand edits refused, parse errors in Graph's shape, evaluateDynamicMembership,
//! Paused/On, rule edits as a diff with a dry-run preview.

use serde_json::{json, Value};

use crate::{alias, G};

fn ids(v: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = v
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn dynamic(g: &G, rule: &str) -> (u16, Value) {
    let name = alias("Dyn");
    g.post(
        "/groups",
        json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true,
               "groupTypes": ["DynamicMembership"], "membershipRule": rule}),
    )
    .await
}

#[tokio::test]
async fn members_follow_the_rule_in_the_same_request_and_cannot_be_edited_by_hand() {
    let g = G::demo().await;
    let dept = alias("dept");
    let u1 = g.create_user(&alias("d1")).await;
    let u2 = g.create_user(&alias("d2")).await;
    let (id1, id2) = (u1["id"].as_str().unwrap(), u2["id"].as_str().unwrap());
    assert_eq!(
        g.patch(&format!("/users/{id1}"), json!({"department": dept}))
            .await
            .0,
        204
    );
    let rule = format!("user.department -eq \"{dept}\"");
    let (st, grp) = dynamic(&g, &rule).await;
    assert_eq!(st, 201, "{grp}");
    assert_eq!(grp["groupTypes"], json!(["DynamicMembership"]));
    assert_eq!(grp["membershipRule"], json!(rule));
    assert_eq!(grp["membershipRuleProcessingState"], "On");
    let gid = grp["id"].as_str().unwrap();
    assert_eq!(
        ids(&g.all(&format!("/groups/{gid}/members")).await),
        vec![id1.to_string()]
    );

    // A PATCH of the attribute: visible in members and transitiveMemberOf at once.
    assert_eq!(
        g.patch(
            &format!("/users/{id2}"),
            json!({"department": dept.to_uppercase()})
        )
        .await
        .0,
        204
    );
    assert_eq!(
        ids(&g.all(&format!("/groups/{gid}/members")).await),
        sorted(vec![id1.to_string(), id2.to_string()])
    );
    assert!(
        ids(&g.all(&format!("/users/{id2}/transitiveMemberOf")).await).contains(&gid.to_string())
    );
    // A PATCH of an attribute no rule reads changes nothing; one that breaks the rule removes.
    assert_eq!(
        g.patch(&format!("/users/{id2}"), json!({"jobTitle": "x"}))
            .await
            .0,
        204
    );
    assert_eq!(g.all(&format!("/groups/{gid}/members")).await.len(), 2);
    assert_eq!(
        g.patch(&format!("/users/{id2}"), json!({"department": "elsewhere"}))
            .await
            .0,
        204
    );
    assert_eq!(
        ids(&g.all(&format!("/groups/{gid}/members")).await),
        vec![id1.to_string()]
    );

    // Hand edits: 400, nothing changes.
    let (st, v) = g
        .post(
            &format!("/groups/{gid}/members/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id2}")}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "Request_BadRequest");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be added or removed by hand"),
        "{v}"
    );
    let (st, _) = g.delete(&format!("/groups/{gid}/members/{id1}/$ref")).await;
    assert_eq!(st, 400);
    assert_eq!(
        ids(&g.all(&format!("/groups/{gid}/members")).await),
        vec![id1.to_string()]
    );

    // otherMails is a writable user property that rules read.
    let mail = format!("{}@partner.test", alias("om"));
    assert_eq!(
        g.patch(&format!("/users/{id2}"), json!({"otherMails": [mail]}))
            .await
            .0,
        204
    );
    assert_eq!(
        g.get(&format!("/users/{id2}")).await.1["otherMails"],
        json!([mail])
    );
    let (st, og) = dynamic(
        &g,
        &format!("user.otherMails -any (_ -eq \"{}\")", mail.to_uppercase()),
    )
    .await;
    assert_eq!(st, 201, "{og}");
    let ogid = og["id"].as_str().unwrap();
    assert_eq!(
        ids(&g.all(&format!("/groups/{ogid}/members")).await),
        vec![id2.to_string()]
    );
}

#[tokio::test]
async fn a_bad_rule_is_a_400_naming_the_position_and_creates_nothing() {
    let g = G::demo().await;
    let name = alias("Bad");
    for (rule, part) in [
        (
            "user.department -eq \"a\" -and user.shoeSize -eq \"9\"",
            "position 30: property 'user.shoeSize'",
        ),
        ("user.department -like \"a\"", "operator '-like'"),
        ("user.department -eq", "position 20"),
    ] {
        let (st, v) = g
            .post(
                "/groups",
                json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true,
                       "groupTypes": ["DynamicMembership"], "membershipRule": rule}),
            )
            .await;
        assert_eq!(st, 400, "{rule}: {v}");
        assert_eq!(v["error"]["code"], "Request_BadRequest");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(part), "{rule}: {msg}");
    }
    // A rule on an assigned group, and a state outside On/Paused.
    let (st, v) = g
        .post("/groups", json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true, "membershipRule": "user.city -eq \"x\""}))
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = g
        .post("/groups", json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true,
                                "groupTypes": ["DynamicMembership"], "membershipRule": "user.city -eq \"x\"", "membershipRuleProcessingState": "Sometimes"}))
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("On"),
        "{v}"
    );
    let listed = g
        .all(&format!("/groups?$filter=displayName eq '{name}'"))
        .await;
    assert!(listed.is_empty(), "nothing was created: {listed:?}");
    // Positive control: the same body with a good rule is created.
    let (st, v) = g
        .post("/groups", json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true,
                                "groupTypes": ["DynamicMembership"], "membershipRule": "user.city -eq \"x\""}))
        .await;
    assert_eq!(st, 201, "{v}");
}

#[tokio::test]
async fn evaluate_dynamic_membership_explains_the_decision() {
    let g = G::demo().await;
    let dept = alias("ev");
    let u = g.create_user(&alias("ev")).await;
    let uid = u["id"].as_str().unwrap();
    assert_eq!(
        g.patch(
            &format!("/users/{uid}"),
            json!({"department": dept, "jobTitle": "SDE"})
        )
        .await
        .0,
        204
    );
    let rule =
        format!("(user.department -eq \"{dept}\") -and -not (user.jobTitle -startsWith \"SDE\")");
    let (st, v) = g
        .post(
            "/groups/evaluateDynamicMembership",
            json!({"memberId": uid, "membershipRule": rule}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["membershipRule"], json!(rule));
    assert_eq!(v["membershipRuleEvaluationResult"], false);
    let d = &v["membershipRuleEvaluationDetails"];
    assert_eq!(d["expressionResult"], false);
    let kids = d["expressionEvaluationDetails"].as_array().unwrap();
    assert_eq!(
        kids[0]["expression"],
        format!("user.department -eq \"{dept}\"")
    );
    assert_eq!(kids[0]["expressionResult"], true);
    assert_eq!(
        kids[0]["propertyToEvaluate"],
        json!({"propertyName": "department", "propertyValue": dept})
    );
    assert_eq!(kids[1]["expressionResult"], false, "the -not decided");

    let (st, grp) = dynamic(&g, &format!("user.department -eq \"{dept}\"")).await;
    assert_eq!(st, 201);
    let gid = grp["id"].as_str().unwrap();
    let (st, v) = g
        .post(
            &format!("/groups/{gid}/evaluateDynamicMembership"),
            json!({"memberId": uid}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["membershipRuleEvaluationResult"], true);
    assert_eq!(
        v["membershipRuleEvaluationDetails"]["propertyToEvaluate"]["propertyValue"],
        json!(dept)
    );
    let (st, v) = g
        .post(
            "/groups/evaluateDynamicMembership",
            json!({"memberId": uid, "membershipRule": "user.nope -eq 1"}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("position 1"),
        "{v}"
    );
}

#[tokio::test]
async fn paused_keeps_members_resume_catches_up_and_a_rule_edit_is_a_previewed_diff() {
    let g = G::demo().await;
    let (a, b) = (alias("pa"), alias("pb"));
    let ua = g.create_user(&alias("pa")).await;
    let ub = g.create_user(&alias("pb")).await;
    let (ia, ib) = (ua["id"].as_str().unwrap(), ub["id"].as_str().unwrap());
    assert_eq!(
        g.patch(&format!("/users/{ia}"), json!({"department": a}))
            .await
            .0,
        204
    );
    assert_eq!(
        g.patch(&format!("/users/{ib}"), json!({"department": b}))
            .await
            .0,
        204
    );
    let (st, grp) = dynamic(&g, &format!("user.department -eq \"{a}\"")).await;
    assert_eq!(st, 201);
    let gid = grp["id"].as_str().unwrap();
    let members = || async { ids(&g.all(&format!("/groups/{gid}/members")).await) };
    assert_eq!(members().await, vec![ia.to_string()]);

    assert_eq!(
        g.patch(
            &format!("/groups/{gid}"),
            json!({"membershipRuleProcessingState": "Paused"})
        )
        .await
        .0,
        204
    );
    assert_eq!(
        g.get(&format!("/groups/{gid}")).await.1["membershipRuleProcessingState"],
        "Paused"
    );
    assert_eq!(
        g.patch(&format!("/users/{ia}"), json!({"department": "gone"}))
            .await
            .0,
        204
    );
    assert_eq!(members().await, vec![ia.to_string()], "paused: no change");
    assert_eq!(
        g.patch(
            &format!("/groups/{gid}"),
            json!({"membershipRuleProcessingState": "On"})
        )
        .await
        .0,
        204
    );
    assert!(members().await.is_empty(), "resumed: caught up");

    // Preview a rule edit: who joins, who leaves; nothing is written.
    let new_rule = format!("user.department -in [\"{b}\", \"gone\"]");
    let (st, p) = g
        .post(
            &format!("/groups/{gid}/previewDynamicMembership"),
            json!({"membershipRule": new_rule}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let joins: Vec<String> = sorted(
        p["joins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect(),
    );
    assert_eq!(joins, sorted(vec![ia.to_string(), ib.to_string()]));
    assert!(p["leaves"].as_array().unwrap().is_empty());
    assert!(members().await.is_empty(), "a preview writes nothing");
    assert_eq!(
        g.patch(
            &format!("/groups/{gid}"),
            json!({"membershipRule": new_rule})
        )
        .await
        .0,
        204
    );
    assert_eq!(
        members().await,
        sorted(vec![ia.to_string(), ib.to_string()])
    );
    let (st, v) = g
        .patch(
            &format!("/groups/{gid}"),
            json!({"membershipRule": "user.department -eq"}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(
        g.get(&format!("/groups/{gid}")).await.1["membershipRule"],
        json!(new_rule),
        "a bad edit changes nothing"
    );
}
