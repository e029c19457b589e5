//! The console's dynamic group rule editor, Administrative units blade and custom directory
//! roles (`server::console::{dynamic, directory}`): every form a Graph call as the signed-in
//! administrator, so Graph decides — a Groups Administrator edits a rule, a Helpdesk
//! Administrator is refused and nothing changes; a Privileged Role Administrator manages
//! units and custom roles, a Helpdesk Administrator may not; a form without the session's
//! CSRF token changes nothing; bad input comes back with Graph's error and the input kept.

use serde_json::{json, Value};

use crate::console::{abs, console_as, csrf, post};
use crate::security::mfa_guessing::{Browser, Page};
use crate::security::role;
use crate::{alias, G};

async fn get(b: &Browser, path: &str) -> Page {
    b.get(&abs(path)).await
}

fn ids(v: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = v
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

async fn group(id: &str) -> Value {
    let (st, v) = G::demo().await.get(&format!("/groups/{id}")).await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn groups_named(name: &str) -> Vec<Value> {
    G::demo()
        .await
        .all(&format!("/groups?$filter=displayName eq '{name}'"))
        .await
}

/// A user of the demo tenant whose department is `dept`: (upn, id).
async fn user_in(dept: &str) -> (String, String) {
    let g = G::demo().await;
    let u = g.create_user(&alias("dg")).await;
    let id = u["id"].as_str().unwrap().to_string();
    let (st, v) = g
        .patch(&format!("/users/{id}"), json!({"department": dept}))
        .await;
    assert_eq!(st, 204, "{v}");
    (u["userPrincipalName"].as_str().unwrap().to_string(), id)
}

#[tokio::test]
async fn a_groups_administrator_previews_and_saves_a_rule_a_helpdesk_administrator_cannot() {
    let (d1, d2) = (alias("dpa"), alias("dpb"));
    let (upn1, id1) = user_in(&d1).await;
    let (upn2, id2) = user_in(&d2).await;
    let (b, _) = console_as(role::GROUPS_ADMIN).await;
    let list = get(&b, "/admin/groups").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains("id=\"new-dynamic-group\""),
        "{}",
        list.body
    );
    let token = csrf(&list);
    let editor = get(&b, "/admin/dynamic-groups/new").await;
    assert_eq!(editor.status, 200, "{}", editor.body);
    assert!(editor.body.contains("id=\"preview-rule\""));
    assert!(editor.body.contains("id=\"save-rule\""));
    // The editor's one script is the binary's file, allowed by this page's CSP only; never
    // inline (no inline handlers either), and other pages keep the script-free policy.
    let csp = editor.csp.clone().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(editor.body.matches("<script").count(), 1, "{}", editor.body);
    assert!(editor
        .body
        .contains("<script src=\"/admin/assets/console.js\"></script>"));
    assert!(!editor.body.contains(" onclick=") && !editor.body.contains(" oninput="));
    assert!(
        !list.csp.clone().unwrap().contains("script-src"),
        "{:?}",
        list.csp
    );
    let js = get(&b, "/admin/assets/console.js").await;
    assert_eq!(js.status, 200);
    assert!(js.content_type.unwrap().starts_with("text/javascript"));
    assert!(js.body.contains("rule-outcome"));
    let name = alias("CDyn");
    let rule1 = format!("user.department -eq \"{d1}\"");

    // Validate and preview: valid, the test user would match, nothing created.
    let p = post(
        &b,
        "/admin/dynamic-groups/new",
        &[
            ("csrf", &token),
            ("intent", "preview"),
            ("displayName", &name),
            ("membershipRule", &rule1),
            ("member", &upn1),
        ],
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("The rule is valid."), "{}", p.body);
    assert!(
        p.body.contains(&format!("{upn1} would match")),
        "{}",
        p.body
    );
    assert!(p.body.contains(&format!("value=\"{name}\"")), "name kept");
    assert!(groups_named(&name).await.is_empty());
    // The other user would not (positive control for the evaluation).
    let p = post(
        &b,
        "/admin/dynamic-groups/new",
        &[
            ("csrf", &token),
            ("intent", "preview"),
            ("displayName", &name),
            ("membershipRule", &rule1),
            ("member", &upn2),
        ],
    )
    .await;
    assert!(
        p.body.contains(&format!("{upn2} would not match")),
        "{}",
        p.body
    );

    // A bad rule: Graph's position and message, a caret, the input kept, nothing created.
    let bad = "user.department -eq \"a\" -and user.shoeSize -eq \"9\"";
    for intent in ["preview", "save"] {
        let p = post(
            &b,
            "/admin/dynamic-groups/new",
            &[
                ("csrf", &token),
                ("intent", intent),
                ("displayName", &name),
                ("membershipRule", bad),
            ],
        )
        .await;
        assert_eq!(p.status, 400, "{intent}: {}", p.body);
        assert!(p.body.contains("position 30"), "{}", p.body);
        assert!(p.body.contains("class=\"rule-excerpt\""), "{}", p.body);
        assert!(p.body.contains("aria-invalid=\"true\""), "{}", p.body);
        assert!(
            p.body.contains("-and user.shoeSize -eq"),
            "rule kept: {}",
            p.body
        );
        assert!(p.body.contains("Nothing was saved"));
    }
    assert!(groups_named(&name).await.is_empty());
    // As you type (the script's request): the same outcome in the page, answered 200.
    let live = b
        .post_with(
            "/admin/dynamic-groups/new",
            &[
                ("csrf".to_string(), token.clone()),
                ("intent".to_string(), "preview".to_string()),
                ("membershipRule".to_string(), bad.to_string()),
            ],
            &[("X-Castellan-Live", "1")],
        )
        .await;
    assert_eq!(live.status, 200, "{}", live.body);
    assert!(live.body.contains("position 30") && live.body.contains("id=\"rule-outcome\""));
    assert!(groups_named(&name).await.is_empty());

    let (hd, _) = console_as(role::HELPDESK_ADMIN).await;
    let hd_token = csrf(&get(&hd, "/admin/users").await);
    // The Groups Administrator saves: the group exists and the rule decides its members.
    let r = post(
        &b,
        "/admin/dynamic-groups/new",
        &[
            ("csrf", &token),
            ("intent", "save"),
            ("displayName", &name),
            ("description", "made in the console"),
            ("membershipRule", &rule1),
            ("membershipRuleProcessingState", "On"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.location.clone().unwrap();
    let gid = path.rsplit('/').next().unwrap().to_string();
    let g = group(&gid).await;
    assert_eq!(g["groupTypes"], json!(["DynamicMembership"]));
    assert_eq!(g["membershipRule"], json!(rule1));
    assert_eq!(g["membershipRuleProcessingState"], "On");
    let members = G::demo().await.all(&format!("/groups/{gid}/members")).await;
    assert_eq!(ids(&members), vec![id1.clone()]);
    let blade = get(&b, &path).await;
    assert_eq!(blade.status, 200, "{}", blade.body);
    assert!(blade.body.contains("id=\"edit-rule\""), "{}", blade.body);
    assert!(blade.body.contains("Dynamic"));

    // Edit: the preview names who joins and leaves; nothing changes until Save.
    let rule2 = format!("user.department -eq \"{d2}\"");
    let edit = get(&b, &format!("/admin/groups/{gid}/rule")).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert!(edit.body.contains(&d1), "current rule shown: {}", edit.body);
    let p = post(
        &b,
        &format!("/admin/groups/{gid}/rule"),
        &[
            ("csrf", &token),
            ("intent", "preview"),
            ("membershipRule", &rule2),
        ],
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("would add 1 and remove 1 member."),
        "{}",
        p.body
    );
    let joins = p.body.find("Would join").unwrap();
    let leaves = p.body.find("Would leave").unwrap();
    let at2 = p.body.find(&upn2).expect("joiner listed");
    let at1 = p.body.find(&upn1).expect("leaver listed");
    assert!(joins < at2 && at2 < leaves && leaves < at1, "{}", p.body);
    assert_eq!(group(&gid).await["membershipRule"], json!(rule1));
    // A bad edit: 400 with the position, the rule unchanged.
    let p = post(
        &b,
        &format!("/admin/groups/{gid}/rule"),
        &[
            ("csrf", &token),
            ("intent", "save"),
            ("membershipRule", bad),
        ],
    )
    .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("position 30"), "{}", p.body);
    assert_eq!(group(&gid).await["membershipRule"], json!(rule1));
    // The Helpdesk Administrator may not save the rule; a form without the CSRF token
    // changes nothing either.
    let r = post(
        &hd,
        &format!("/admin/groups/{gid}/rule"),
        &[
            ("csrf", &hd_token),
            ("intent", "save"),
            ("membershipRule", &rule2),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(
        &b,
        &format!("/admin/groups/{gid}/rule"),
        &[("intent", "save"), ("membershipRule", &rule2)],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("security token"), "{}", r.body);
    assert_eq!(group(&gid).await["membershipRule"], json!(rule1));
    // Saved: the members follow.
    let r = post(
        &b,
        &format!("/admin/groups/{gid}/rule"),
        &[
            ("csrf", &token),
            ("intent", "save"),
            ("membershipRule", &rule2),
            ("membershipRuleProcessingState", "On"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(group(&gid).await["membershipRule"], json!(rule2));
    let members = G::demo().await.all(&format!("/groups/{gid}/members")).await;
    assert_eq!(ids(&members), vec![id2]);
}

#[tokio::test]
async fn an_assigned_groups_rule_cannot_be_edited_and_a_bad_id_is_a_404() {
    let (b, _) = console_as(role::GROUPS_ADMIN).await;
    let g = G::demo().await.create_group(&alias("CAsg")).await;
    let gid = g["id"].as_str().unwrap();
    let p = get(&b, &format!("/admin/groups/{gid}/rule")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("This is an assigned group"), "{}", p.body);
    assert!(!p.body.contains("id=\"save-rule\""));
    let blade = get(&b, &format!("/admin/groups/{gid}")).await;
    assert!(!blade.body.contains("id=\"edit-rule\""), "{}", blade.body);
    assert!(blade.body.contains("Assigned"));
    let token = csrf(&blade);
    let r = post(
        &b,
        &format!("/admin/groups/{gid}/rule"),
        &[
            ("csrf", &token),
            ("intent", "save"),
            ("membershipRule", "user.city -eq \"x\""),
        ],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(group(gid).await["membershipRule"].is_null());
    let p = get(&b, "/admin/groups/not-a-guid/rule").await;
    assert_eq!(p.status, 404, "{}", p.body);
}

async fn unit_members(id: &str) -> Vec<String> {
    ids(&G::demo()
        .await
        .all(&format!("/directory/administrativeUnits/{id}/members"))
        .await)
}

#[tokio::test]
async fn a_privileged_role_administrator_manages_units_a_helpdesk_administrator_cannot() {
    let (b, _) = console_as(role::PRIVILEGED_ROLE_ADMIN).await;
    let list = get(&b, "/admin/admin-units").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("id=\"create-unit\""), "{}", list.body);
    assert!(list.body.contains("aria-current=\"page\""));
    let token = csrf(&list);
    // Bad input: Graph's error, the input kept, nothing created.
    let keep = alias("keepme");
    let r = post(
        &b,
        "/admin/admin-units",
        &[
            ("csrf", &token),
            ("displayName", ""),
            ("description", &keep),
        ],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("Not saved"), "{}", r.body);
    assert!(r.body.contains(&format!("value=\"{keep}\"")), "{}", r.body);
    let all = G::demo().await.all("/directory/administrativeUnits").await;
    assert!(!all.iter().any(|u| u["description"] == json!(keep)));
    // Created.
    let name = alias("CAU");
    let r = post(
        &b,
        "/admin/admin-units",
        &[
            ("csrf", &token),
            ("displayName", &name),
            ("description", "console"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.location.clone().unwrap();
    let id = path.rsplit('/').next().unwrap().to_string();
    let (st, au) = G::demo()
        .await
        .get(&format!("/directory/administrativeUnits/{id}"))
        .await;
    assert_eq!(st, 200, "{au}");
    assert_eq!(au["displayName"], json!(name));
    // Members: add by UPN, shown on the blade.
    let g = G::demo().await;
    let member = g.create_user(&alias("aum")).await;
    let (mupn, mid) = (
        member["userPrincipalName"].as_str().unwrap(),
        member["id"].as_str().unwrap(),
    );
    let r = post(
        &b,
        &format!("{path}/members"),
        &[("csrf", &token), ("member", mupn)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(unit_members(&id).await, vec![mid.to_string()]);
    // A role scoped to the unit.
    let holder = g.create_user(&alias("auh")).await;
    let (hupn, hid) = (
        holder["userPrincipalName"].as_str().unwrap(),
        holder["id"].as_str().unwrap(),
    );
    let r = post(
        &b,
        &format!("{path}/roles"),
        &[
            ("csrf", &token),
            ("role", role::USER_ADMIN),
            ("principal", hupn),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let asg = g
        .all(&format!(
            "/roleManagement/directory/roleAssignments?$filter=principalId eq '{hid}'"
        ))
        .await;
    assert_eq!(asg.len(), 1, "{asg:?}");
    assert_eq!(
        asg[0]["directoryScopeId"],
        json!(format!("/administrativeUnits/{id}"))
    );
    assert_eq!(asg[0]["roleDefinitionId"], json!(role::USER_ADMIN));
    let blade = get(&b, &path).await;
    assert_eq!(blade.status, 200, "{}", blade.body);
    assert!(blade.body.contains(mupn), "{}", blade.body);
    assert!(
        blade.body.contains(hupn),
        "scoped holder shown: {}",
        blade.body
    );
    assert!(blade.body.contains("id=\"add-unit-member\""));
    assert!(blade.body.contains("id=\"assign-scoped\""));

    // A Helpdesk Administrator sees no forms and is refused by Graph: nothing changes.
    let (hd, _) = console_as(role::HELPDESK_ADMIN).await;
    let hd_list = get(&hd, "/admin/admin-units").await;
    assert!(
        !hd_list.body.contains("id=\"create-unit\""),
        "{}",
        hd_list.body
    );
    let hd_token = csrf(&get(&hd, "/admin/users").await);
    let hd_blade = get(&hd, &path).await;
    assert!(
        !hd_blade.body.contains("id=\"add-unit-member\""),
        "{}",
        hd_blade.body
    );
    let other = g.create_user(&alias("auo")).await;
    let r = post(
        &hd,
        &format!("{path}/members"),
        &[
            ("csrf", &hd_token),
            ("member", other["id"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(
        &hd,
        &format!("{path}/members/remove"),
        &[("csrf", &hd_token), ("member", mid)],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(
        &hd,
        "/admin/admin-units",
        &[("csrf", &hd_token), ("displayName", &alias("hdau"))],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(unit_members(&id).await, vec![mid.to_string()]);
    // Without the CSRF token: refused, unchanged.
    let r = post(&b, &format!("{path}/members/remove"), &[("member", mid)]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("security token"));
    assert_eq!(unit_members(&id).await, vec![mid.to_string()]);
    // The Privileged Role Administrator removes the member.
    let r = post(
        &b,
        &format!("{path}/members/remove"),
        &[("csrf", &token), ("member", mid)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(unit_members(&id).await.is_empty());
    // Deleting: refused to the Helpdesk Administrator, done by the Privileged Role Administrator.
    let unit_status = |id: String| async move {
        G::demo()
            .await
            .get(&format!("/directory/administrativeUnits/{id}"))
            .await
            .0
    };
    let r = post(&hd, &format!("{path}/delete"), &[("csrf", &hd_token)]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(unit_status(id.clone()).await, 200);
    let r = post(&b, &format!("{path}/delete"), &[("csrf", &token)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/admin/admin-units"));
    assert_eq!(unit_status(id).await, 404);
}

#[tokio::test]
async fn a_privileged_role_administrator_creates_and_deletes_a_custom_role_helpdesk_cannot() {
    let (b, _) = console_as(role::PRIVILEGED_ROLE_ADMIN).await;
    let roles = get(&b, "/admin/roles").await;
    assert_eq!(roles.status, 200, "{}", roles.body);
    assert!(roles.body.contains("id=\"custom-roles\""), "{}", roles.body);
    assert!(roles.body.contains("id=\"new-custom-role\""));
    let token = csrf(&roles);
    let form = get(&b, "/admin/custom-roles/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("<textarea"), "{}", form.body);
    let name = alias("CRole");
    let custom_named = |n: String| async move {
        G::demo()
            .await
            .all("/roleManagement/directory/roleDefinitions")
            .await
            .into_iter()
            .filter(|d| d["displayName"] == json!(n))
            .count()
    };
    // Bad input: an action no built-in role has, and an empty list — Graph's message, kept.
    for actions in ["microsoft.directory/nonsense/doEverything", " \n "] {
        let r = post(
            &b,
            "/admin/custom-roles/new",
            &[
                ("csrf", &token),
                ("displayName", &name),
                ("description", "kept"),
                ("actions", actions),
            ],
        )
        .await;
        assert_eq!(r.status, 400, "{actions}: {}", r.body);
        assert!(r.body.contains("Not saved"), "{}", r.body);
        assert!(r.body.contains(&format!("value=\"{name}\"")), "{}", r.body);
        assert!(r.body.contains(actions.trim()), "{}", r.body);
    }
    let r = post(
        &b,
        "/admin/custom-roles/new",
        &[
            ("csrf", &token),
            ("displayName", &name),
            ("actions", "microsoft.directory/nonsense/doEverything"),
        ],
    )
    .await;
    assert!(r.body.contains("is not a resource action"), "{}", r.body);
    assert_eq!(custom_named(name.clone()).await, 0);
    // The Helpdesk Administrator is offered nothing and refused by Graph.
    let (hd, _) = console_as(role::HELPDESK_ADMIN).await;
    let hd_roles = get(&hd, "/admin/roles").await;
    assert_eq!(hd_roles.status, 200, "{}", hd_roles.body);
    assert!(!hd_roles.body.contains("id=\"new-custom-role\""));
    let hd_token = csrf(&hd_roles);
    let r = post(
        &hd,
        "/admin/custom-roles/new",
        &[
            ("csrf", &hd_token),
            ("displayName", &name),
            ("actions", "microsoft.directory/users/basic/update"),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Without the CSRF token: refused.
    let r = post(
        &b,
        "/admin/custom-roles/new",
        &[
            ("displayName", &name),
            ("actions", "microsoft.directory/users/basic/update"),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(custom_named(name.clone()).await, 0);
    // Created from two actions (one line each).
    let r = post(
        &b,
        "/admin/custom-roles/new",
        &[
            ("csrf", &token),
            ("displayName", &name),
            ("description", "console custom role"),
            (
                "actions",
                "microsoft.directory/users/basic/update\r\nmicrosoft.directory/groups/members/update\r\n",
            ),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.location.clone().unwrap();
    let id = path.rsplit('/').next().unwrap().to_string();
    let (st, d) = G::demo()
        .await
        .get(&format!("/roleManagement/directory/roleDefinitions/{id}"))
        .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["isBuiltIn"], json!(false));
    assert_eq!(
        d["rolePermissions"][0]["allowedResourceActions"],
        json!([
            "microsoft.directory/users/basic/update",
            "microsoft.directory/groups/members/update"
        ])
    );
    let blade = get(&b, &path).await;
    assert_eq!(blade.status, 200, "{}", blade.body);
    assert!(
        blade.body.contains("id=\"delete-custom-role\""),
        "{}",
        blade.body
    );
    let listed = get(&b, "/admin/roles").await;
    assert!(listed.body.contains(&name));
    // Helpdesk may not delete it; the Privileged Role Administrator does.
    let r = post(
        &hd,
        &format!("/admin/custom-roles/{id}/delete"),
        &[("csrf", &hd_token)],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(custom_named(name.clone()).await, 1);
    let r = post(
        &b,
        &format!("/admin/custom-roles/{id}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(custom_named(name).await, 0);
    // A built-in role's blade offers no delete.
    let ua = get(&b, &format!("/admin/roles/{}", role::USER_ADMIN)).await;
    assert!(!ua.body.contains("id=\"delete-custom-role\""));
}
