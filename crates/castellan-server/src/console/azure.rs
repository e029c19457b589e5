//! The Azure resources blade and its Access control (IAM) view: the resource plane as the
//! signed-in administrator sees it through ARM (subscriptions, resource groups, role
//! assignments at a scope with their role names, principals named through Graph). A separate
//! blade from Roles and administrators, because the planes are separate: a directory role
//! grants nothing here, and an Azure role grants nothing in the directory.

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::api::q;
use super::blades::{items, page, st};
use super::view::{Cell, Section, Table};
use super::{message_page, Ctx};
use crate::state::AppState;

type Q = Query<std::collections::HashMap<String, String>>;

const API_SUBS: &str = "api-version=2022-12-01";
const API_RG: &str = "api-version=2021-04-01";
const API_AUTH: &str = "api-version=2022-04-01";

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/azure", get(subscriptions))
        .route("/admin/azure/iam", get(iam))
}

/// A scope the IAM view accepts: a subscription, resource group or resource below one, or a
/// management group — ARM path characters only, so that nothing but a scope reaches the call.
pub fn valid_scope(scope: &str) -> bool {
    let lower = scope.to_ascii_lowercase();
    (lower.starts_with("/subscriptions/")
        || lower.starts_with("/providers/microsoft.management/managementgroups/"))
        && scope.len() <= 1024
        && !scope.contains("//")
        && !scope.split('/').any(|s| s == "." || s == "..")
        && scope
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./()".contains(c))
}

async fn subscriptions(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = match super::Admin::from(&s, ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let r = a
        .arm(Method::GET, &format!("/subscriptions?{API_SUBS}"), None)
        .await;
    if !r.ok() {
        return a.api_error("Azure resources", &r, "/admin");
    }
    let mut t = Table::new(
        "subscriptions-table",
        "Subscriptions",
        &["Subscription", "Id", "State", "Access control"],
        "No subscription you hold an Azure role on (at it, or on anything in it).",
    );
    for x in items(&r.body) {
        let id = st(x, "id");
        t.rows.push(vec![
            Cell::text(st(x, "displayName")),
            Cell::text(st(x, "subscriptionId")),
            Cell::text(st(x, "state")),
            Cell::link("IAM", format!("/admin/azure/iam?scope={}", q(&id))),
        ]);
    }
    let mut sec = Section::new("subscriptions", "Subscriptions");
    sec.note = Some("Azure RBAC governs resources; directory roles (Roles and administrators) do not grant access here, and an Azure role grants nothing in the directory. A Global Administrator reaches resources only through elevate access, which is audited.".into());
    sec.table = Some(t);
    page(&mut a, "Azure resources", "/admin/azure", None, vec![sec])
}

async fn iam(State(s): State<AppState>, ctx: Ctx, Query(p): Q) -> Response {
    let mut a = match super::Admin::from(&s, ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let scope = p.get("scope").cloned().unwrap_or_default();
    if !valid_scope(&scope) {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Access control (IAM)",
            "error",
            "The scope must be an ARM scope: /subscriptions/{id}, /subscriptions/{id}/resourceGroups/{name}, a resource below them, or /providers/Microsoft.Management/managementGroups/{name}.",
            Some(("/admin/azure".into(), "Back to Azure resources".into())),
        );
    }
    let roles = a
        .arm(
            Method::GET,
            &format!("{scope}/providers/Microsoft.Authorization/roleDefinitions?{API_AUTH}"),
            None,
        )
        .await;
    let r = a
        .arm(
            Method::GET,
            &format!("{scope}/providers/Microsoft.Authorization/roleAssignments?{API_AUTH}"),
            None,
        )
        .await;
    if !r.ok() {
        return a.api_error("Access control (IAM)", &r, "/admin/azure");
    }
    let role_name = |id: &str| -> String {
        let tail = id.rsplit('/').next().unwrap_or(id);
        items(&roles.body)
            .iter()
            .find(|d| st(d, "name").eq_ignore_ascii_case(tail))
            .map_or_else(|| tail.to_string(), |d| st(&d["properties"], "roleName"))
    };
    let assignments = items(&r.body).to_vec();
    // Principals named through Graph (what the administrator may read there).
    let ids: Vec<String> = assignments
        .iter()
        .map(|x| st(&x["properties"], "principalId"))
        .collect();
    let names = if ids.is_empty() {
        Value::Null
    } else {
        a.graph(
            Method::POST,
            "/v1.0/directoryObjects/getByIds",
            Some(json!({"ids": ids})),
        )
        .await
        .body
    };
    let name_of = |id: &str| -> String {
        items(&names)
            .iter()
            .find(|o| st(o, "id") == id)
            .map_or_else(
                || id.to_string(),
                |o| {
                    let n = st(o, "displayName");
                    let upn = st(o, "userPrincipalName");
                    if upn.is_empty() {
                        n
                    } else {
                        format!("{n} ({upn})")
                    }
                },
            )
    };
    let mut t = Table::new(
        "assignments-table",
        "Role assignments",
        &["Role", "Principal", "Type", "Scope", "Condition"],
        "No role assignment applies at this scope.",
    );
    for x in &assignments {
        let p = &x["properties"];
        let at = st(p, "scope");
        let inherited = !at.eq_ignore_ascii_case(&scope);
        t.rows.push(vec![
            Cell::text(role_name(&st(p, "roleDefinitionId"))),
            Cell::text(name_of(&st(p, "principalId"))),
            Cell::text(st(p, "principalType")),
            Cell::text(if inherited {
                format!("{at} (inherited)")
            } else {
                "This resource".to_string()
            }),
            Cell::text(if p["condition"].is_string() {
                "Yes"
            } else {
                ""
            }),
        ]);
    }
    let mut about = Section::new("scope", "Scope");
    about.props.push(("Scope".into(), scope.clone()));
    let mut sec = Section::new("assignments", "Role assignments");
    sec.note = Some("Assignments at this scope and inherited from above it (Azure RBAC). Assign or remove roles through ARM (az role assignment, castellan role assignment).".into());
    sec.table = Some(t);
    let mut sections = vec![about, sec];
    // A subscription's resource groups, each with its own IAM view.
    if scope.matches('/').count() == 2 && scope.to_ascii_lowercase().starts_with("/subscriptions/")
    {
        let g = a
            .arm(
                Method::GET,
                &format!("{scope}/resourcegroups?{API_RG}"),
                None,
            )
            .await;
        let mut t = Table::new(
            "resource-groups-table",
            "Resource groups",
            &["Resource group", "Location", "Access control"],
            "No resource group you may read.",
        );
        for x in items(&g.body) {
            t.rows.push(vec![
                Cell::text(st(x, "name")),
                Cell::text(st(x, "location")),
                Cell::link("IAM", format!("/admin/azure/iam?scope={}", q(&st(x, "id")))),
            ]);
        }
        let mut rg = Section::new("resource-groups", "Resource groups");
        rg.table = Some(t);
        sections.push(rg);
    }
    page(
        &mut a,
        "Access control (IAM)",
        "/admin/azure",
        None,
        sections,
    )
}

#[cfg(test)]
mod tests {
    use super::valid_scope;

    #[test]
    fn only_arm_scopes_reach_the_call() {
        assert!(valid_scope(
            "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333"
        ));
        assert!(valid_scope(
            "/subscriptions/x/resourceGroups/rg-1/providers/Microsoft.Storage/storageAccounts/acct"
        ));
        assert!(valid_scope(
            "/providers/Microsoft.Management/managementGroups/prod"
        ));
        for bad in [
            "",
            "/",
            "/v1.0/users",
            "/subscriptions/x?api-version=1",
            "/subscriptions/x/../../v1.0/users",
            "/subscriptions/x//y",
            "/subscriptions/x#frag",
            "/subscriptions/x y",
            "https://evil.example/subscriptions/x",
        ] {
            assert!(!valid_scope(bad), "{bad}");
        }
    }
}
