//! The Azure resources blade and its Access control (IAM) view: the resource plane as the
//! signed-in administrator sees it through ARM (subscriptions, resource groups, role
//! assignments at a scope with their role names, principals named through Graph). A separate
//! blade from Roles and administrators, because the planes are separate: a directory role
//! grants nothing here, and an Azure role grants nothing in the directory.

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::api::q;
use super::blades::{items, page, st};
use super::view::{Cell, Field, Form, Section, Table};
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
        .route("/admin/azure/iam/add", axum::routing::post(add_assignment))
        .route(
            "/admin/azure/iam/remove",
            axum::routing::post(remove_assignment),
        )
        .route("/admin/azure/iam/check", axum::routing::post(check_access))
        .route("/admin/azure/elevate", axum::routing::post(elevate))
}

const API_MG: &str = "api-version=2020-05-01";
const API_ELEVATE: &str = "api-version=2016-07-01";

fn iam_link(scope: &str) -> String {
    format!("/admin/azure/iam?scope={}", q(scope))
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
            Cell::link("IAM", iam_link(&id)),
        ]);
    }
    let mut sec = Section::new("subscriptions", "Subscriptions");
    sec.note = Some("Azure RBAC governs resources; directory roles (Roles and administrators) do not grant access here, and an Azure role grants nothing in the directory. A Global Administrator reaches resources only through elevate access, which is audited.".into());
    sec.table = Some(t);
    // The hierarchy above the subscriptions: management groups, each with its IAM view.
    let mg = a
        .arm(
            Method::GET,
            &format!("/providers/Microsoft.Management/managementGroups?{API_MG}"),
            None,
        )
        .await;
    let mut groups = Section::new("management-groups", "Management groups");
    if mg.ok() {
        let mut t = Table::new(
            "management-groups-table",
            "Management groups",
            &["Management group", "Name", "Access control"],
            "No management group you may read.",
        );
        for x in items(&mg.body) {
            t.rows.push(vec![
                Cell::text(st(&x["properties"], "displayName")),
                Cell::text(st(x, "name")),
                Cell::link("IAM", iam_link(&st(x, "id"))),
            ]);
        }
        groups.note = Some("Management groups > subscriptions > resource groups > resources: a role assigned at a level applies to everything below it.".into());
        groups.table = Some(t);
    } else {
        groups.note = Some(format!("Not shown: {}", mg.message()));
    }
    let csrf = a.session.csrf.clone();
    let mut elevate = Section::new("elevate", "Elevate access");
    elevate.forms.push(
        Form::post("elevate-form", "/admin/azure/elevate", "Elevate access", "Elevate access", &csrf)
            .hint("A Global Administrator gets User Access Administrator at the root scope (/) to regain access to every subscription and management group. It is audited; remove that role assignment when done. Anyone else is refused.")
            .fields(vec![Field::new("checkbox", "confirm", "Yes, give me User Access Administrator at the root scope")])
            .danger(),
    );
    page(
        &mut a,
        "Azure resources",
        "/admin/azure",
        None,
        vec![groups, sec, elevate],
    )
}

/// The form's value of `k`, trimmed.
fn val(f: &std::collections::HashMap<String, String>, k: &str) -> String {
    f.get(k).map(|v| v.trim().to_string()).unwrap_or_default()
}

/// `POST /admin/azure/elevate`: ARM's elevateAccess for the signed-in Global Administrator.
async fn elevate(State(s): State<AppState>, ctx: Ctx, axum::Form(f): super::FormMap) -> Response {
    let mut a = super::kit::signed_post!(s, ctx, f);
    if val(&f, "confirm") != "true" {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Elevate access",
            "error",
            "Tick the confirmation to elevate access; nothing was changed.",
            Some(("/admin/azure".into(), "Back to Azure resources".into())),
        );
    }
    let r = a
        .arm(
            Method::POST,
            &format!("/providers/Microsoft.Authorization/elevateAccess?{API_ELEVATE}"),
            None,
        )
        .await;
    if !r.ok() {
        return a.api_error("Elevate access", &r, "/admin/azure");
    }
    a.flash("You hold User Access Administrator at the root scope (/). Remove that assignment when you are done.");
    axum::response::Redirect::to(&iam_link("/")).into_response()
}

/// The principal a form names ([`super::kit::principal_id`]); an empty field is refused.
async fn principal_id(a: &mut super::Admin, who: &str) -> Result<String, String> {
    if who.is_empty() {
        return Err("Name the principal: a user principal name or an object ID.".into());
    }
    super::kit::principal_id(a, who).await
}

/// Whether `id` is a role assignment's id: `{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}`
/// with an ARM scope (or none: the root scope).
fn is_assignment_id(id: &str) -> bool {
    const SEG: &str = "/providers/microsoft.authorization/roleassignments/";
    let lower = id.to_ascii_lowercase();
    let Some(at) = lower.find(SEG) else {
        return false;
    };
    let (scope, name) = (&id[..at], &id[at + SEG.len()..]);
    (scope.is_empty() || valid_scope(scope)) && uuid::Uuid::parse_str(name).is_ok()
}

fn scope_or_refusal(f: &std::collections::HashMap<String, String>) -> Result<String, Response> {
    let scope = val(f, "scope");
    if valid_scope(&scope) || scope == "/" {
        Ok(scope)
    } else {
        Err(message_page(
            StatusCode::BAD_REQUEST,
            "Access control (IAM)",
            "error",
            "The scope must be an ARM scope; nothing was changed.",
            Some(("/admin/azure".into(), "Back to Azure resources".into())),
        ))
    }
}

/// `POST /admin/azure/iam/add`: a role assignment at the scope (ARM PUT).
async fn add_assignment(
    State(s): State<AppState>,
    ctx: Ctx,
    axum::Form(f): super::FormMap,
) -> Response {
    let mut a = super::kit::signed_post!(s, ctx, f);
    let scope = match scope_or_refusal(&f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = iam_link(&scope);
    let role = val(&f, "role");
    if uuid::Uuid::parse_str(&role).is_err() {
        return a.api_error_text("Add role assignment", "Pick a role.", &back);
    }
    let principal = match principal_id(&mut a, &val(&f, "principal")).await {
        Ok(p) => p,
        Err(m) => return a.api_error_text("Add role assignment", &m, &back),
    };
    let at = if scope == "/" {
        String::new()
    } else {
        scope.clone()
    };
    let body = json!({"properties": {
        "roleDefinitionId": format!("{at}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        "principalId": principal,
    }});
    let r = a
        .arm(
            Method::PUT,
            &format!(
                "{at}/providers/Microsoft.Authorization/roleAssignments/{}?{API_AUTH}",
                uuid::Uuid::new_v4()
            ),
            Some(body),
        )
        .await;
    if !r.ok() {
        return a.api_error("The role was not assigned", &r, &back);
    }
    a.flash("Role assigned.");
    axum::response::Redirect::to(&back).into_response()
}

/// `POST /admin/azure/iam/remove`: deletes one role assignment made at the scope.
async fn remove_assignment(
    State(s): State<AppState>,
    ctx: Ctx,
    axum::Form(f): super::FormMap,
) -> Response {
    let mut a = super::kit::signed_post!(s, ctx, f);
    let scope = match scope_or_refusal(&f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = iam_link(&scope);
    let id = val(&f, "assignment");
    if !is_assignment_id(&id) {
        return a.api_error_text(
            "Remove role assignment",
            "That is not a role assignment id; nothing was changed.",
            &back,
        );
    }
    let r = a
        .arm(Method::DELETE, &format!("{id}?{API_AUTH}"), None)
        .await;
    if !r.ok() {
        return a.api_error("The role assignment was not removed", &r, &back);
    }
    a.flash("Role assignment removed.");
    axum::response::Redirect::to(&back).into_response()
}

/// `POST /admin/azure/iam/check`: may a principal do an action at the scope — the
/// troubleshooter's access question, so a directory role held instead is named as such.
async fn check_access(
    State(s): State<AppState>,
    ctx: Ctx,
    axum::Form(f): super::FormMap,
) -> Response {
    let mut a = super::kit::signed_post!(s, ctx, f);
    let scope = match scope_or_refusal(&f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = iam_link(&scope);
    let principal = match principal_id(&mut a, &val(&f, "principal")).await {
        Ok(p) => p,
        Err(m) => return a.api_error_text("Check access", &m, &back),
    };
    let action = match val(&f, "action") {
        x if x.is_empty() => "Microsoft.Resources/subscriptions/resourceGroups/read".to_string(),
        x => x,
    };
    let r = a
        .graph(
            Method::POST,
            "/v1.0/auditLogs/troubleshoot",
            Some(json!({"principalId": principal, "action": action, "scope": scope})),
        )
        .await;
    if !r.ok() {
        return a.api_error("Check access", &r, &back);
    }
    let f0 = &r.body["findings"][0];
    let mut sec = Section::new(
        "check-result",
        &format!("Check access: {}", st(f0, "title")),
    );
    sec.note = Some(st(f0, "fix"));
    sec.props = vec![
        ("Principal".into(), val(&f, "principal")),
        ("Action".into(), action),
        ("Scope".into(), scope.clone()),
        ("Evidence".into(), st(f0, "evidence")),
    ];
    page(
        &mut a,
        "Access control (IAM)",
        "/admin/azure",
        None,
        vec![sec],
    )
}

async fn iam(State(s): State<AppState>, ctx: Ctx, Query(p): Q) -> Response {
    let mut a = match super::Admin::from(&s, ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let scope = p.get("scope").cloned().unwrap_or_default();
    // `/` is the root scope (where elevate access assigns).
    if !valid_scope(&scope) && scope != "/" {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Access control (IAM)",
            "error",
            "The scope must be an ARM scope: /subscriptions/{id}, /subscriptions/{id}/resourceGroups/{name}, a resource below them, or /providers/Microsoft.Management/managementGroups/{name}.",
            Some(("/admin/azure".into(), "Back to Azure resources".into())),
        );
    }
    let at = if scope == "/" { "" } else { scope.as_str() };
    let roles = a
        .arm(
            Method::GET,
            &format!("{at}/providers/Microsoft.Authorization/roleDefinitions?{API_AUTH}"),
            None,
        )
        .await;
    let r = a
        .arm(
            Method::GET,
            &format!("{at}/providers/Microsoft.Authorization/roleAssignments?{API_AUTH}"),
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
    let csrf = a.session.csrf.clone();
    let mut sec = Section::new("assignments", "Role assignments");
    sec.note = Some("Assignments at this scope and inherited from above it (Azure RBAC). Inherited ones are removed at the scope they were made at.".into());
    sec.table = Some(t);
    for (i, x) in assignments
        .iter()
        .filter(|x| st(&x["properties"], "scope").eq_ignore_ascii_case(&scope))
        .enumerate()
        .take(20)
    {
        let p = &x["properties"];
        sec.forms.push(
            Form::post(
                &format!("remove-{i}"),
                "/admin/azure/iam/remove",
                &format!(
                    "Remove {} from {}",
                    role_name(&st(p, "roleDefinitionId")),
                    name_of(&st(p, "principalId"))
                ),
                "Remove",
                &csrf,
            )
            .fields(vec![
                Field::new("hidden", "scope", "").value(scope.clone()),
                Field::new("hidden", "assignment", "").value(st(x, "id")),
            ])
            .danger(),
        );
    }
    let mut add = Section::new("add-assignment", "Add role assignment");
    let mut options: Vec<(String, String)> = items(&roles.body)
        .iter()
        .map(|d| (st(d, "name"), st(&d["properties"], "roleName")))
        .collect();
    options.sort_by(|x, y| x.1.cmp(&y.1));
    add.forms.push(
        Form::post("add-form", "/admin/azure/iam/add", "Add role assignment", "Assign", &csrf)
            .hint("Azure RBAC at this scope and below. Needs Microsoft.Authorization/roleAssignments/write here (Owner, User Access Administrator).")
            .fields(vec![
                Field::new("hidden", "scope", "").value(scope.clone()),
                Field::new("select", "role", "Role").options(options).required(),
                Field::new("text", "principal", "User principal name or object ID").required(),
            ]),
    );
    add.forms.push(
        Form::post("check-form", "/admin/azure/iam/check", "Check access", "Check", &csrf)
            .hint("Whether a principal may do an action here, and why — a directory role held instead is named as the mistake it is.")
            .fields(vec![
                Field::new("hidden", "scope", "").value(scope.clone()),
                Field::new("text", "principal", "User principal name or object ID").required(),
                Field::new("text", "action", "Action (default: Microsoft.Resources/subscriptions/resourceGroups/read)"),
            ]),
    );
    // Deny assignments here and above (they win over any role).
    let deny = a
        .arm(
            Method::GET,
            &format!("{at}/providers/Microsoft.Authorization/denyAssignments?{API_AUTH}"),
            None,
        )
        .await;
    let mut denies = Section::new("deny-assignments", "Deny assignments");
    if deny.ok() {
        let mut t = Table::new(
            "deny-table",
            "Deny assignments",
            &["Name", "Scope", "Denied actions"],
            "No deny assignment applies here.",
        );
        for x in items(&deny.body) {
            let p = &x["properties"];
            let actions: Vec<String> = p["permissions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .flat_map(|perm| super::kit::strings(&perm["actions"]))
                .collect();
            t.rows.push(vec![
                Cell::text(st(p, "denyAssignmentName")),
                Cell::text(st(p, "scope")),
                Cell::text(actions.join(", ")),
            ]);
        }
        denies.note = Some(
            "A deny assignment refuses its actions to its principals whatever roles they hold."
                .into(),
        );
        denies.table = Some(t);
    } else {
        denies.note = Some(format!("Not shown: {}", deny.message()));
    }
    let mut sections = vec![about, sec, add, denies];
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
    // A resource group's resources, each with its own IAM view (the hierarchy's last level).
    let parts: Vec<&str> = scope.trim_matches('/').split('/').collect();
    let is = |i: usize, w: &str| parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case(w));
    if parts.len() == 4 && is(0, "subscriptions") && is(2, "resourcegroups") {
        let res = a
            .arm(Method::GET, &format!("{scope}/resources?{API_RG}"), None)
            .await;
        let mut t = Table::new(
            "resources-table",
            "Resources",
            &["Resource", "Type", "Location", "Access control"],
            "No resource you may read in this resource group.",
        );
        for x in items(&res.body) {
            t.rows.push(vec![
                Cell::text(st(x, "name")),
                Cell::text(st(x, "type")),
                Cell::text(st(x, "location")),
                Cell::link("IAM", iam_link(&st(x, "id"))),
            ]);
        }
        let mut sec = Section::new("resources", "Resources");
        if !res.ok() {
            sec.note = Some(format!("Not shown: {}", res.message()));
        }
        sec.table = Some(t);
        sections.push(sec);
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
    fn only_role_assignment_ids_are_removed() {
        use super::is_assignment_id;
        let g = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
        assert!(is_assignment_id(&format!(
            "/subscriptions/{g}/providers/Microsoft.Authorization/roleAssignments/{g}"
        )));
        assert!(is_assignment_id(&format!(
            "/providers/Microsoft.Authorization/roleAssignments/{g}"
        )));
        assert!(!is_assignment_id(&format!(
            "/subscriptions/{g}/resourceGroups/x"
        )));
        assert!(!is_assignment_id(
            "/providers/Microsoft.Authorization/roleAssignments/../x"
        ));
        assert!(!is_assignment_id(&format!(
            "/etc/passwd/providers/Microsoft.Authorization/roleAssignments/{g}x"
        )));
    }

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
