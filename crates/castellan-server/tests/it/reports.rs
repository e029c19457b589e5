//! Hygiene reports (issue 17 item 6): `/v1.0/reports/castellan/expiringCredentials` and
//! `unusedGrants` — what each reports, the window, bad input, and who may read them.

use serde_json::{json, Value};

use crate::{alias, app_with, shared, G};

fn rows<'a>(v: &'a Value, key: &str, want: &str) -> Vec<&'a Value> {
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r[key] == want)
        .collect()
}

#[tokio::test]
async fn expiring_credentials_are_reported_inside_their_window() {
    let g = G::demo().await;
    let (_, app) = g
        .post("/applications", json!({"displayName": alias("expiring")}))
        .await;
    let id = app["id"].as_str().unwrap();
    let soon = castellan_wire::time::graph_datetime(castellan_core::Timestamp(
        castellan_server::state::now().millis() + 5 * 86_400_000 + 3_600_000,
    ));
    let (st, pw) = g
        .post(
            &format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "ci-secret", "endDateTime": soon}}),
        )
        .await;
    assert_eq!(st, 200, "{pw}");
    let (st, v) = g
        .get("/reports/castellan/expiringCredentials?days=30")
        .await;
    assert_eq!(st, 200, "{v}");
    let mine = rows(&v, "applicationId", id);
    assert_eq!(mine.len(), 1, "{v}");
    assert_eq!(mine[0]["credentialType"], "secret");
    assert_eq!(mine[0]["credentialDisplayName"], "ci-secret");
    assert_eq!(mine[0]["daysLeft"], 5);
    assert_eq!(mine[0]["expired"], false);
    assert_eq!(mine[0]["keyId"], pw["keyId"]);
    // Outside a shorter window it is not reported (the positive control of the window).
    let (_, v) = g.get("/reports/castellan/expiringCredentials?days=2").await;
    assert!(rows(&v, "applicationId", id).is_empty(), "{v}");
    // Bad windows are 400 naming the range.
    for bad in ["0", "3651", "soon", "-1"] {
        let (st, v) = g
            .get(&format!(
                "/reports/castellan/expiringCredentials?days={bad}"
            ))
            .await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("1 to 3650"),
            "{v}"
        );
    }
}

#[tokio::test]
async fn grants_without_a_sign_in_are_unused_and_a_used_one_is_not() {
    let g = G::demo().await;
    // A client with a delegated grant and no sign-in at all.
    let (_, app) = g
        .post("/applications", json!({"displayName": alias("idle")}))
        .await;
    let (_, sp) = g
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    let graph = g
        .all("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'")
        .await
        .remove(0);
    let (st, grant) = g
        .post(
            "/oauth2PermissionGrants",
            json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph["id"], "scope": "User.Read"}),
        )
        .await;
    assert_eq!(st, 201, "{grant}");
    // The demo confidential client signs in to Graph (client credentials): its grants are used.
    let d = &shared().demo;
    let _ = crate::demo_token().await;
    let used = d["confidential_client"]["app_id"].as_str().unwrap();
    // The sign-in log is written in batches: wait until the used client is gone from the list.
    let mut last = Value::Null;
    for _ in 0..50 {
        let (st, v) = g.get("/reports/castellan/unusedGrants?days=30").await;
        assert_eq!(st, 200, "{v}");
        last = v;
        if rows(&last, "clientAppId", used).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(rows(&last, "clientAppId", used).is_empty(), "{last}");
    let idle = rows(&last, "clientId", sp["id"].as_str().unwrap());
    assert_eq!(idle.len(), 1, "{last}");
    assert_eq!(idle[0]["grantType"], "delegated");
    assert_eq!(idle[0]["permission"], "User.Read");
    assert_eq!(idle[0]["resourceDisplayName"], graph["displayName"]);
    assert!(idle[0]["lastUsedDateTime"].is_null());
}

#[tokio::test]
async fn reading_reports_needs_the_permissions() {
    // An application that may read applications but not sign-in logs gets the credentials
    // report and is refused the grants report, which reads the sign-in log.
    let reader = app_with(&["Application.Read.All"]).await;
    let (st, v) = reader.get("/reports/castellan/expiringCredentials").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["days"], 30);
    let (st, v) = reader.get("/reports/castellan/unusedGrants").await;
    assert_eq!(st, 403, "{v}");
    let both = app_with(&["Application.Read.All", "AuditLog.Read.All"]).await;
    let (st, v) = both.get("/reports/castellan/unusedGrants").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["days"], 90);
    let none = app_with(&["User.Read.All"]).await;
    let (st, _) = none.get("/reports/castellan/expiringCredentials").await;
    assert_eq!(st, 403);
}
