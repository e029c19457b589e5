//! The console's Conditional Access and Identity Protection blades (`server::console::ca`,
//! `console::idprot`, `console::insights`): the policy editor, named locations, What-If and impact
//! replay are Graph calls as the signed-in administrator, so a Conditional Access Administrator
//! may change policies and a Security Reader only reads them; Graph's refusals and bad-value
//! messages come back on the form with the input kept, and nothing changes.

use serde_json::Value;

use crate::console::{console_as, csrf, new_user, origin, post, PW};
use crate::security::mfa_guessing::Browser;
use crate::security::role;
use crate::{shared, token_form, G};

const CA_ADMIN: &str = "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9";
const SECURITY_READER: &str = "5d6b6bb7-de71-4623-b4af-96380a352509";

async fn policies_named(name: &str) -> Vec<Value> {
    G::demo()
        .await
        .all("/identity/conditionalAccess/policies")
        .await
        .into_iter()
        .filter(|p| p["displayName"] == name)
        .collect()
}

/// A successful password sign-in of `upn` at the demo public client, in the sign-in log.
async fn sign_in_once(upn: &str) {
    let public = shared().demo["public_client"]["app_id"].as_str().unwrap();
    let (st, v) = token_form(&[
        ("grant_type", "password"),
        ("client_id", public),
        ("username", upn),
        ("password", PW),
        ("scope", "User.Read"),
    ])
    .await;
    assert_eq!(st, 200, "{v}");
}

fn editor_fields<'a>(name: &'a str, users: &'a str, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("displayName", name),
        ("state", state),
        ("includeUsers", users),
        ("includeApplications", "All"),
        ("grant", "grant"),
        ("g.mfa", "true"),
        ("operator", "OR"),
        ("replayDays", "7"),
    ]
}

async fn page(b: &Browser, path: &str) -> crate::security::mfa_guessing::Page {
    b.get(&format!("{}{path}", origin())).await
}

#[tokio::test]
async fn a_conditional_access_administrator_edits_replays_what_ifs_and_deletes_a_policy() {
    let (b, _) = console_as(CA_ADMIN).await;
    let (target, target_id) = new_user("cca").await;
    sign_in_once(&target).await;
    let new = page(&b, "/admin/conditional-access/new").await;
    assert_eq!(new.status, 200, "{}", new.body);
    assert!(new.body.contains("id=\"save-policy\""), "{}", new.body);
    for label in [
        "Include guests or external users",
        "Require compliantDevice",
        "Require authentication strength",
        "Sign-in risk high",
        "Include locations",
        "Persistent browser session",
    ] {
        assert!(new.body.contains(label), "{label}");
    }
    let token = csrf(&new);
    let name = format!("Console MFA {}", &target_id[..8]);
    let mut fields = editor_fields(&name, &target, "enabledForReportingButNotEnforced");
    fields.push(("csrf", &token));

    // Replay of the draft: the target's sign-in would have been challenged; nothing is saved.
    let mut replay = fields.clone();
    replay.push(("intent", "replay"));
    let mut r = post(&b, "/admin/conditional-access/new", &replay).await;
    // The sign-in log is written in batches: poll for up to 20 s (a loaded CI machine).
    for _ in 0..400 {
        if r.body.contains(&target) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        r = post(&b, "/admin/conditional-access/new", &replay).await;
    }
    assert_eq!(r.status, 200, "{}", r.body);
    let challenged = &r.body[r
        .body
        .find("would-challenge-table-cap")
        .expect("challenge table")..];
    assert!(challenged.contains(&target), "{}", r.body);
    assert!(
        challenged.contains("href=\"/admin/sign-ins/"),
        "links the sign-in: {}",
        r.body
    );
    assert!(
        r.body.contains(&format!("value=\"{target}\"")),
        "input kept: {}",
        r.body
    );
    assert!(
        policies_named(&name).await.is_empty(),
        "replay saved a policy"
    );

    // Bad input: an unknown user, and a grant with no control (Graph's message); nothing saved.
    let ghost = format!(
        "ghost-{}@{}",
        &target_id[..8],
        shared().demo["domain"].as_str().unwrap()
    );
    let mut bad = editor_fields(&name, &ghost, "enabledForReportingButNotEnforced");
    bad.push(("csrf", &token));
    bad.push(("intent", "save"));
    let r = post(&b, "/admin/conditional-access/new", &bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("role=\"alert\"") && r.body.contains("in this tenant (in includeUsers)"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!("value=\"{name}\"")),
        "input kept: {}",
        r.body
    );
    let mut bad: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, _)| *k != "g.mfa")
        .cloned()
        .collect();
    bad.push(("intent", "save"));
    let r = post(&b, "/admin/conditional-access/new", &bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("grantControls must contain"), "{}", r.body);
    assert!(
        r.body.contains(&format!("value=\"{target}\"")),
        "input kept: {}",
        r.body
    );
    assert!(
        policies_named(&name).await.is_empty(),
        "a refused save stored a policy"
    );

    // Save (positive control): report-only, for the target's object id.
    let mut save = fields.clone();
    save.push(("intent", "save"));
    let r = post(&b, "/admin/conditional-access/new", &save).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.location.clone().unwrap();
    assert!(
        loc.starts_with("/admin/conditional-access/policies/"),
        "{loc}"
    );
    let stored = policies_named(&name).await;
    assert_eq!(stored.len(), 1);
    let p = &stored[0];
    let pid = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["state"], "enabledForReportingButNotEnforced");
    assert_eq!(
        p["conditions"]["users"]["includeUsers"][0],
        target_id.as_str()
    );
    assert_eq!(p["grantControls"]["builtInControls"][0], "mfa");
    let edit = page(&b, &loc).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert!(
        edit.body.contains(&format!("value=\"{target_id}\"")),
        "{}",
        edit.body
    );

    // Replay of the stored policy.
    let r = post(
        &b,
        &format!("/admin/conditional-access/policies/{pid}/replay"),
        &[("csrf", &token), ("days", "7")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("Sign-ins it would have challenged") && r.body.contains(&target),
        "{}",
        r.body
    );

    // Switch it on in the editor.
    let mut on = editor_fields(&name, &target_id, "enabled");
    on.push(("csrf", &token));
    on.push(("intent", "save"));
    let r = post(&b, &loc, &on).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(policies_named(&name).await[0]["state"], "enabled");

    // What-If: the policy applies to the target and asks for MFA; not to another user.
    let w = page(&b, "/admin/conditional-access/what-if").await;
    assert_eq!(w.status, 200, "{}", w.body);
    let r = post(
        &b,
        "/admin/conditional-access/what-if",
        &[
            ("csrf", &token),
            ("user", &target),
            ("clientAppType", "browser"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let applies = &r.body
        [r.body.find("applies-table-cap").unwrap()..r.body.find("not-applies-table-cap").unwrap()];
    assert!(
        applies.contains(&name) && applies.contains("mfa"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!("value=\"{target}\"")),
        "input kept"
    );
    let (other, _) = new_user("ccao").await;
    let r = post(
        &b,
        "/admin/conditional-access/what-if",
        &[("csrf", &token), ("user", &other)],
    )
    .await;
    let not = &r.body[r.body.find("not-applies-table-cap").unwrap()..];
    assert!(not.contains(&name), "{}", r.body);
    // A bad What-If input is Graph's message, on the page.
    let r = post(
        &b,
        "/admin/conditional-access/what-if",
        &[
            ("csrf", &token),
            ("user", &target),
            ("ipAddress", "300.1.1.1"),
        ],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("300.1.1.1"), "{}", r.body);

    // Delete needs the confirmation; without it nothing is deleted.
    let r = post(
        &b,
        &format!("/admin/conditional-access/policies/{pid}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(policies_named(&name).await.len(), 1);
    let r = post(
        &b,
        &format!("/admin/conditional-access/policies/{pid}/delete"),
        &[("csrf", &token), ("confirm", "true")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(policies_named(&name).await.is_empty());
}

#[tokio::test]
async fn conditional_access_forms_without_the_csrf_token_change_nothing() {
    let (b, _) = console_as(CA_ADMIN).await;
    let (target, _) = new_user("ccsrf").await;
    let name = format!("Console CSRF {target}");
    let mut fields = editor_fields(&name, &target, "enabled");
    fields.push(("intent", "save"));
    fields.push(("csrf", "forged"));
    let r = post(&b, "/admin/conditional-access/new", &fields).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(policies_named(&name).await.is_empty());
    let r = post(
        &b,
        "/admin/conditional-access/named-locations",
        &[
            ("kind", "ip"),
            ("displayName", &name),
            ("ranges", "10.9.0.0/16"),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(
        &b,
        "/admin/identity-protection/act",
        &[("action", "dismiss"), ("userId", "x")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn a_security_reader_reads_conditional_access_and_identity_protection_but_changes_nothing() {
    let (b, _) = console_as(SECURITY_READER).await;
    let list = page(&b, "/admin/conditional-access").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        !list.body.contains("href=\"/admin/conditional-access/new\""),
        "{}",
        list.body
    );
    assert!(
        list.body
            .contains("do not allow you to create or change Conditional Access policies"),
        "{}",
        list.body
    );
    let token = csrf(&list);
    let new = page(&b, "/admin/conditional-access/new").await;
    assert!(
        !new.body.contains("id=\"save-policy\""),
        "no save for a reader"
    );
    // Sent anyway: Graph refuses, the page says so with the input kept, nothing is stored.
    let (target, _) = new_user("ccsr").await;
    let name = format!("Reader policy {target}");
    let mut fields = editor_fields(&name, &target, "disabled");
    fields.push(("csrf", &token));
    fields.push(("intent", "save"));
    let r = post(&b, "/admin/conditional-access/new", &fields).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("role=\"alert\"") && r.body.contains(&format!("value=\"{name}\"")),
        "{}",
        r.body
    );
    assert!(policies_named(&name).await.is_empty());
    let r = post(
        &b,
        "/admin/conditional-access/named-locations",
        &[
            ("csrf", &token),
            ("kind", "ip"),
            ("displayName", &name),
            ("ranges", "10.9.0.0/16"),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // What-If is a read: the reader may.
    let r = post(
        &b,
        "/admin/conditional-access/what-if",
        &[("csrf", &token), ("user", &target)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Identity Protection: read, no forms; an action sent anyway is refused by Graph.
    let ip = page(&b, "/admin/identity-protection").await;
    assert_eq!(ip.status, 200, "{}", ip.body);
    assert!(
        ip.body.contains("risky-users-table-cap") && ip.body.contains("detections-table-cap"),
        "{}",
        ip.body
    );
    assert!(
        ip.body.contains("do not allow you to confirm or dismiss"),
        "{}",
        ip.body
    );
    let victim = crate::console::new_user("ccvic").await.1;
    let r = post(
        &b,
        "/admin/identity-protection/act",
        &[
            ("csrf", &token),
            ("action", "confirmCompromised"),
            ("userId", &victim),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let (st, risky) = G::demo()
        .await
        .get(&format!("/identityProtection/riskyUsers/{victim}"))
        .await;
    assert!(
        st == 404 || risky["riskState"] != "confirmedCompromised",
        "{risky}"
    );
    // Positive control: a Global Administrator confirms, and the user is compromised.
    let (ga, _) = console_as(role::GLOBAL_ADMIN).await;
    let t = csrf(&page(&ga, "/admin/identity-protection").await);
    let r = post(
        &ga,
        "/admin/identity-protection/act",
        &[
            ("csrf", &t),
            ("action", "confirmCompromised"),
            ("userId", &victim),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (st, risky) = G::demo()
        .await
        .get(&format!("/identityProtection/riskyUsers/{victim}"))
        .await;
    assert_eq!(st, 200, "{risky}");
    assert_eq!(risky["riskState"], "confirmedCompromised");
    let ip = page(&ga, "/admin/identity-protection").await;
    assert!(ip.body.contains("id=\"dismiss-risk\""), "{}", ip.body);
    let r = post(
        &ga,
        "/admin/identity-protection/act",
        &[("csrf", &t), ("action", "wipe"), ("userId", &victim)],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(
        &ga,
        "/admin/identity-protection/act",
        &[("csrf", &t), ("action", "dismiss"), ("userId", &victim)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, risky) = G::demo()
        .await
        .get(&format!("/identityProtection/riskyUsers/{victim}"))
        .await;
    assert_eq!(risky["riskState"], "dismissed", "{risky}");
}

#[tokio::test]
async fn named_locations_are_created_and_deleted_with_graphs_errors_on_the_form() {
    let (b, _) = console_as(CA_ADMIN).await;
    let list = page(&b, "/admin/conditional-access/named-locations").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let token = csrf(&list);
    let name = format!("Console HQ {}", uuid::Uuid::new_v4().simple());
    let r = post(
        &b,
        "/admin/conditional-access/named-locations",
        &[
            ("csrf", &token),
            ("kind", "ip"),
            ("displayName", &name),
            ("ranges", "10.0.0.0/33"),
            ("trusted", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("10.0.0.0/33") && r.body.contains("Not created"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!("value=\"{name}\"")),
        "input kept: {}",
        r.body
    );
    let locs = || async {
        G::demo()
            .await
            .all("/identity/conditionalAccess/namedLocations")
            .await
    };
    assert!(!locs()
        .await
        .iter()
        .any(|l| l["displayName"] == name.as_str()));
    let r = post(
        &b,
        "/admin/conditional-access/named-locations",
        &[
            ("csrf", &token),
            ("kind", "ip"),
            ("displayName", &name),
            ("ranges", "10.0.0.0/8, 2001:db8::/32"),
            ("trusted", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let country = format!("{name} countries");
    let r = post(
        &b,
        "/admin/conditional-access/named-locations",
        &[
            ("csrf", &token),
            ("kind", "country"),
            ("displayName", &country),
            ("countries", "nz, de"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let all = locs().await;
    let ip = all
        .iter()
        .find(|l| l["displayName"] == name.as_str())
        .expect("created");
    assert_eq!(ip["isTrusted"], true);
    assert_eq!(ip["ipRanges"].as_array().unwrap().len(), 2);
    let c = all
        .iter()
        .find(|l| l["displayName"] == country.as_str())
        .expect("created");
    assert_eq!(c["countriesAndRegions"], serde_json::json!(["NZ", "DE"]));
    let list = page(&b, "/admin/conditional-access/named-locations").await;
    assert!(
        list.body.contains(&name) && list.body.contains("2001:db8::/32"),
        "{}",
        list.body
    );
    // The editor lists it for the Locations condition.
    let new = page(&b, "/admin/conditional-access/new").await;
    assert!(
        new.body
            .contains(&format!("{name} = {}", ip["id"].as_str().unwrap())),
        "{}",
        new.body
    );
    let id = ip["id"].as_str().unwrap();
    let r = post(
        &b,
        &format!("/admin/conditional-access/named-locations/{id}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(locs().await.iter().any(|l| l["id"] == id));
    let r = post(
        &b,
        &format!("/admin/conditional-access/named-locations/{id}/delete"),
        &[("csrf", &token), ("confirm", "true")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!locs().await.iter().any(|l| l["id"] == id));
    let r = post(
        &b,
        "/admin/conditional-access/named-locations/not-a-guid/delete",
        &[("csrf", &token), ("confirm", "true")],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

#[tokio::test]
async fn the_overview_charts_conditional_access_outcomes_and_mfa_coverage_with_text() {
    let (b, _) = console_as(role::GLOBAL_ADMIN).await;
    let p = page(&b, "/admin").await;
    assert_eq!(p.status, 200, "{}", p.body);
    for needle in [
        "aria-labelledby=\"ca-outcomes-title\"",
        "ca-outcomes-data-cap",
        "reportOnlyFailure",
        "aria-labelledby=\"mfa-coverage-title\"",
        "mfa-coverage-data-cap",
        "Administrators (",
    ] {
        assert!(p.body.contains(needle), "{needle}: {}", p.body);
    }
    assert!(!p.body.contains("<script"), "no script");
    let ip = page(&b, "/admin/identity-protection").await;
    assert_eq!(ip.status, 200, "{}", ip.body);
    assert!(
        ip.body
            .contains("aria-labelledby=\"risky-users-chart-title\"")
            && ip
                .body
                .contains("aria-labelledby=\"risky-sign-ins-chart-title\""),
        "{}",
        ip.body
    );
    assert!(ip.body.contains("aria-current=\"page\""));
}
