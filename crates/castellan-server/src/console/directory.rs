//! Administrative units and custom directory roles in the console.
//!
//! Administrative units (`/admin/admin-units`): the list, a new unit, a unit's members (add
//! by user principal name or object id, remove) and directory roles assigned *scoped to the
//! unit* (`roleAssignments` with `directoryScopeId` `/administrativeUnits/{id}`). Custom roles
//! (`/admin/custom-roles/new`, listed on the Roles blade): a role built from resource actions
//! (`POST /roleManagement/directory/roleDefinitions`), deleted from its role blade. Graph
//! decides every change (a Privileged Role Administrator or Global Administrator may); a
//! refused or bad form comes back with Graph's message and the input kept.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::api::{q, Answer};
use super::blades::{after, field, items, not_yours, resolve_principal, st};
use super::kit::{guid_or_404, object_ref, signed_in, signed_post, strings};
use super::view::{render, Cell, Field, Form, Page, Section, Table};
use super::{Admin, Ctx, FormMap};
use crate::state::AppState;

const AUS: &str = "/v1.0/directory/administrativeUnits";
const DEFS: &str = "/v1.0/roleManagement/directory/roleDefinitions";
const ASSIGNMENTS: &str = "/v1.0/roleManagement/directory/roleAssignments";
/// The action that lets an administrator manage administrative units.
pub const AU_ACTION: &str = "microsoft.directory/administrativeUnits/allProperties/allTasks";
/// The action that lets an administrator manage role definitions and assignments.
pub const ROLE_ACTION: &str = "microsoft.directory/roleAssignments/allProperties/allTasks";
/// The most actions a custom role form sends.
pub const MAX_ACTIONS: usize = 200;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/admin-units", get(units).post(create_unit))
        .route("/admin/admin-units/{id}", get(unit))
        .route("/admin/admin-units/{id}/members", post(add_member))
        .route(
            "/admin/admin-units/{id}/members/remove",
            post(remove_member),
        )
        .route("/admin/admin-units/{id}/roles", post(assign_scoped))
        .route("/admin/admin-units/{id}/delete", post(delete_unit))
        .route("/admin/custom-roles/new", get(new_role).post(create_role))
        .route("/admin/custom-roles/{id}/delete", post(delete_role))
}

/// The directory scope id of an administrative unit.
pub fn unit_scope(id: &str) -> String {
    format!("/administrativeUnits/{id}")
}

/// The resource actions typed into the custom role form: one per line (or separated by
/// spaces or commas), trimmed, duplicates dropped, order kept.
pub fn parse_actions(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|a| !a.is_empty())
    {
        if !out.iter().any(|x| x.eq_ignore_ascii_case(a)) {
            out.push(a.to_string());
        }
    }
    out
}

fn page_of(
    a: &mut Admin,
    status: StatusCode,
    title: &str,
    current: &str,
    sections: Vec<Section>,
) -> Response {
    let l = a.layout(title, current);
    render(
        status,
        &Page {
            l,
            search: None,
            sections,
        },
    )
}

fn error_section(id: &str, r: &Answer) -> Section {
    let mut s = Section::new(id, "Not saved");
    s.note = Some(format!(
        "{} Nothing was changed; your input is kept below.",
        r.message()
    ));
    s
}

fn status_of(r: &Answer) -> StatusCode {
    if r.status.is_client_error() || r.status.is_server_error() {
        r.status
    } else {
        StatusCode::BAD_GATEWAY
    }
}

// ---------------------------------------------------------------- Administrative units

async fn units_page(
    a: &mut Admin,
    error: Option<&Answer>,
    f: &HashMap<String, String>,
) -> Response {
    let r = a.graph(Method::GET, &format!("{AUS}?$top=100"), None).await;
    if !r.ok() {
        return a.api_error("Administrative units", &r, "/admin");
    }
    let mut t = Table::new(
        "units-table",
        "Administrative units",
        &["Name", "Description"],
        "No administrative units yet.",
    );
    let mut all: Vec<&Value> = items(&r.body).iter().collect();
    all.sort_by_key(|u| st(u, "displayName").to_lowercase());
    for u in all {
        t.rows.push(vec![
            Cell::link(
                st(u, "displayName"),
                format!("/admin/admin-units/{}", st(u, "id")),
            ),
            Cell::text(st(u, "description")),
        ]);
    }
    let mut list = Section::new("all-units", "All administrative units");
    list.note = Some("An administrative unit holds users and groups; a role assigned scoped to it (for example User Administrator) lets its holder manage only those members.".into());
    list.table = Some(t);
    let mut sections = Vec::new();
    if let Some(e) = error {
        sections.push(error_section("unit-error", e));
    }
    sections.push(list);
    let mut create = Section::new("new-unit", "New administrative unit");
    if a.may(AU_ACTION) {
        let csrf = a.session.csrf.clone();
        create.forms.push(
            Form::post(
                "create-unit",
                "/admin/admin-units",
                "Create administrative unit",
                "Create",
                &csrf,
            )
            .fields(vec![
                Field::new("text", "displayName", "Name")
                    .required()
                    .value(field(f, "displayName")),
                Field::new("text", "description", "Description").value(field(f, "description")),
            ]),
        );
    } else {
        create.note = Some(not_yours(
            "create administrative units",
            "Privileged Role Administrator",
        ));
    }
    sections.push(create);
    let status = error.map_or(StatusCode::OK, status_of);
    page_of(
        a,
        status,
        "Administrative units",
        "/admin/admin-units",
        sections,
    )
}

/// `GET /admin/admin-units`.
async fn units(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = signed_in!(s, ctx);
    units_page(&mut a, None, &HashMap::new()).await
}

/// `POST /admin/admin-units`.
async fn create_unit(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let name = field(&f, "displayName");
    let desc = field(&f, "description");
    let mut body = json!({"displayName": name});
    if !desc.is_empty() {
        body["description"] = Value::String(desc);
    }
    let r = a.graph(Method::POST, AUS, Some(body)).await;
    if r.ok() {
        a.flash(format!("Administrative unit {name} created."));
        return Redirect::to(&format!("/admin/admin-units/{}", st(&r.body, "id"))).into_response();
    }
    units_page(&mut a, Some(&r), &f).await
}

/// The role definitions as select options, by name.
async fn role_options(a: &mut Admin) -> Vec<(String, String)> {
    let r = a.graph(Method::GET, DEFS, None).await;
    let mut o: Vec<(String, String)> = items(&r.body)
        .iter()
        .map(|d| (st(d, "id"), st(d, "displayName")))
        .collect();
    o.sort_by(|x, y| x.1.cmp(&y.1));
    o
}

/// `GET /admin/admin-units/{id}`.
async fn unit(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let mut a = signed_in!(s, ctx);
    let id = guid_or_404!(id);
    let u = a.graph(Method::GET, &format!("{AUS}/{id}"), None).await;
    if !u.ok() {
        return a.api_error("Administrative unit", &u, "/admin/admin-units");
    }
    let name = st(&u.body, "displayName");
    let csrf = a.session.csrf.clone();
    let manage = a.may(AU_ACTION);
    let mut props = Section::new("unit-props", "Properties");
    for (k, label) in [("id", "Object ID"), ("description", "Description")] {
        props.props.push((label.into(), st(&u.body, k)));
    }
    props
        .props
        .push(("Directory scope".into(), unit_scope(&id)));
    // Members.
    let m = a
        .graph(Method::GET, &format!("{AUS}/{id}/members"), None)
        .await;
    let mut members = Section::new("unit-members", "Members");
    let mut options = Vec::new();
    if m.ok() {
        let mut t = Table::new(
            "unit-members-table",
            "Members",
            &["Name", "Type", "User principal name"],
            "No members yet.",
        );
        for x in items(&m.body) {
            let kind = st(x, "@odata.type")
                .trim_start_matches("#microsoft.graph.")
                .to_string();
            let href = match kind.as_str() {
                "user" => Some(format!("/admin/users/{}", st(x, "id"))),
                "group" => Some(format!("/admin/groups/{}", st(x, "id"))),
                _ => None,
            };
            options.push((st(x, "id"), st(x, "displayName")));
            t.rows.push(vec![
                Cell {
                    text: st(x, "displayName"),
                    href,
                },
                Cell::text(kind),
                Cell::text(st(x, "userPrincipalName")),
            ]);
        }
        members.table = Some(t);
    } else {
        members.note = Some(format!("Not shown: {}", m.message()));
    }
    if manage {
        members.forms.push(
            Form::post(
                "add-unit-member",
                format!("/admin/admin-units/{id}/members"),
                "Add member",
                "Add member",
                &csrf,
            )
            .fields(vec![Field::new(
                "text",
                "member",
                "User principal name or object ID (user or group)",
            )
            .required()]),
        );
        if !options.is_empty() {
            members.forms.push(
                Form::post(
                    "remove-unit-member",
                    format!("/admin/admin-units/{id}/members/remove"),
                    "Remove member",
                    "Remove",
                    &csrf,
                )
                .fields(vec![Field::new("select", "member", "Member")
                    .options(options)
                    .required()])
                .danger(),
            );
        }
    } else {
        members.note = Some(format!(
            "{} {}",
            members.note.unwrap_or_default(),
            not_yours(
                "change this unit's members",
                "Privileged Role Administrator"
            )
        ));
    }
    // Roles scoped to the unit.
    let r = a
        .graph(
            Method::GET,
            &format!(
                "{ASSIGNMENTS}?$filter={}",
                q(&format!("directoryScopeId eq '{}'", unit_scope(&id)))
            ),
            None,
        )
        .await;
    let mut roles = Section::new("unit-roles", "Roles scoped to this unit");
    roles.note =
        Some("A role assigned here applies only to the unit's members, never tenant-wide.".into());
    let defs = role_options(&mut a).await;
    if r.ok() {
        let mut t = Table::new(
            "unit-roles-table",
            "Role assignments scoped to this unit",
            &["Role", "Principal"],
            "No role is assigned scoped to this unit.",
        );
        for x in items(&r.body)
            .iter()
            .filter(|x| st(x, "directoryScopeId").eq_ignore_ascii_case(&unit_scope(&id)))
            .take(100)
        {
            let rid = st(x, "roleDefinitionId");
            let rname = defs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&rid))
                .map_or_else(|| rid.clone(), |(_, n)| n.clone());
            let pid = st(x, "principalId");
            let o = a
                .graph(Method::GET, &format!("/v1.0/directoryObjects/{pid}"), None)
                .await;
            let label = if o.ok() {
                let upn = st(&o.body, "userPrincipalName");
                if upn.is_empty() {
                    st(&o.body, "displayName")
                } else {
                    format!("{} ({upn})", st(&o.body, "displayName"))
                }
            } else {
                pid.clone()
            };
            let href = st(&o.body, "@odata.type")
                .ends_with("user")
                .then(|| format!("/admin/users/{pid}"));
            t.rows.push(vec![
                Cell::link(rname, format!("/admin/roles/{rid}")),
                Cell { text: label, href },
            ]);
        }
        roles.table = Some(t);
    } else {
        roles.note = Some(format!("Not shown: {}", r.message()));
    }
    if a.may(ROLE_ACTION) {
        let default = defs
            .iter()
            .find(|(_, n)| n == "User Administrator")
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        roles.forms.push(
            Form::post(
                "assign-scoped",
                format!("/admin/admin-units/{id}/roles"),
                "Assign a role scoped to this unit",
                "Assign",
                &csrf,
            )
            .fields(vec![
                Field::new("select", "role", "Role")
                    .options(defs)
                    .value(default)
                    .required(),
                Field::new("text", "principal", "User principal name or object ID").required(),
            ]),
        );
    } else {
        roles.note = Some(format!(
            "{} {}",
            roles.note.unwrap_or_default(),
            not_yours("assign directory roles", "Privileged Role Administrator")
        ));
    }
    let mut sections = vec![props, members, roles];
    if manage {
        let mut del = Section::new("unit-delete", "Delete");
        del.forms.push(
            Form::post(
                "delete-unit",
                format!("/admin/admin-units/{id}/delete"),
                "Delete this administrative unit",
                "Delete unit",
                &csrf,
            )
            .hint("Its members stay in the directory; roles scoped to it stop applying.")
            .danger(),
        );
        sections.push(del);
    }
    page_of(
        &mut a,
        StatusCode::OK,
        &name,
        "/admin/admin-units",
        sections,
    )
}

/// `POST /admin/admin-units/{id}/members`.
async fn add_member(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/admin-units/{id}");
    let who = field(&f, "member");
    let member = match resolve_principal(&mut a, &who).await {
        Ok(m) => m,
        Err(r) => return a.api_error("The member was not added", &r, &back),
    };
    let r = a
        .graph(
            Method::POST,
            &format!("{AUS}/{id}/members/$ref"),
            Some(object_ref(&member)),
        )
        .await;
    after(&mut a, &r, &format!("{who} added to the unit."), &back)
}

/// `POST /admin/admin-units/{id}/members/remove`.
async fn remove_member(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let member = guid_or_404!(field(&f, "member"));
    let r = a
        .graph(
            Method::DELETE,
            &format!("{AUS}/{id}/members/{member}/$ref"),
            None,
        )
        .await;
    after(
        &mut a,
        &r,
        "Member removed from the unit.",
        &format!("/admin/admin-units/{id}"),
    )
}

/// `POST /admin/admin-units/{id}/roles`: a role assignment scoped to the unit.
async fn assign_scoped(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let role = guid_or_404!(field(&f, "role"));
    let back = format!("/admin/admin-units/{id}");
    let principal = match resolve_principal(&mut a, &field(&f, "principal")).await {
        Ok(p) => p,
        Err(r) => return a.api_error("The role was not assigned", &r, &back),
    };
    let r = a
        .graph(
            Method::POST,
            ASSIGNMENTS,
            Some(json!({"principalId": principal, "roleDefinitionId": role, "directoryScopeId": unit_scope(&id)})),
        )
        .await;
    after(&mut a, &r, "Role assigned, scoped to this unit.", &back)
}

/// `POST /admin/admin-units/{id}/delete`.
async fn delete_unit(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let r = a.graph(Method::DELETE, &format!("{AUS}/{id}"), None).await;
    if r.ok() {
        a.flash("Administrative unit deleted.");
        return Redirect::to("/admin/admin-units").into_response();
    }
    a.api_error(
        "The unit was not deleted",
        &r,
        &format!("/admin/admin-units/{id}"),
    )
}

// ---------------------------------------------------------------- Custom roles

/// The Roles blade's custom role section: the tenant's custom roles and the way to make one.
pub fn custom_roles_section(a: &Admin, defs: &[&Value]) -> Section {
    let mut s = Section::new("custom-roles", "Custom roles");
    s.note = Some("A custom role is built from the resource actions of the built-in roles. Assign it like any role, tenant-wide or scoped to an administrative unit.".into());
    let mut t = Table::new(
        "custom-roles-table",
        "Custom roles",
        &["Role", "Actions", "Enabled"],
        "This tenant has no custom roles.",
    );
    for d in defs.iter().filter(|d| d["isBuiltIn"] == false) {
        let n: usize = d["rolePermissions"].as_array().map_or(0, |p| {
            p.iter()
                .map(|x| strings(&x["allowedResourceActions"]).len())
                .sum()
        });
        t.rows.push(vec![
            Cell::link(
                st(d, "displayName"),
                format!("/admin/roles/{}", st(d, "id")),
            ),
            Cell::text(n.to_string()),
            Cell::text(st(d, "isEnabled")),
        ]);
    }
    s.table = Some(t);
    if a.may(ROLE_ACTION) {
        s.forms.push(Form {
            id: "new-custom-role".into(),
            action: "/admin/custom-roles/new".into(),
            method: "get".into(),
            title: "New custom role".into(),
            hint: None,
            submit: "New custom role".into(),
            fields: vec![],
            danger: false,
            csrf: String::new(),
        });
    } else {
        s.note = Some(format!(
            "{} {}",
            s.note.unwrap_or_default(),
            not_yours("create custom roles", "Privileged Role Administrator")
        ));
    }
    s
}

/// The role blade's delete section for a custom role (`None` for a built-in one).
pub fn delete_role_section(a: &Admin, id: &str, def: &Value) -> Option<Section> {
    if def["isBuiltIn"] != false {
        return None;
    }
    let mut s = Section::new("custom-role", "Custom role");
    s.props.push((
        "Allowed resource actions".into(),
        def["rolePermissions"]
            .as_array()
            .map(|p| {
                p.iter()
                    .flat_map(|x| strings(&x["allowedResourceActions"]))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
    ));
    if a.may(ROLE_ACTION) {
        s.forms.push(
            Form::post(
                "delete-custom-role",
                format!("/admin/custom-roles/{id}/delete"),
                "Delete this custom role",
                "Delete role",
                &a.session.csrf,
            )
            .hint("Graph refuses while the role is still assigned.")
            .danger(),
        );
    }
    Some(s)
}

fn role_form(a: &Admin, f: &HashMap<String, String>) -> Section {
    let mut s = Section::new("role-form", "Role");
    s.forms.push(
        Form::post(
            "create-custom-role",
            "/admin/custom-roles/new",
            "New custom role",
            "Create role",
            &a.session.csrf,
        )
        .hint("Allowed resource actions: one per line, e.g. microsoft.directory/users/basic/update or microsoft.directory/groups/members/update. Each must be an action some built-in role holds.")
        .fields(vec![
            Field::new("text", "displayName", "Name")
                .required()
                .value(field(f, "displayName")),
            Field::new("text", "description", "Description").value(field(f, "description")),
            Field::new("textarea", "actions", "Allowed resource actions")
                .required()
                .value(f.get("actions").cloned().unwrap_or_default()),
        ]),
    );
    s
}

/// `GET /admin/custom-roles/new`.
async fn new_role(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = signed_in!(s, ctx);
    let sec = role_form(&a, &HashMap::new());
    page_of(
        &mut a,
        StatusCode::OK,
        "New custom role",
        "/admin/roles",
        vec![sec],
    )
}

/// `POST /admin/custom-roles/new`.
async fn create_role(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let name = field(&f, "displayName");
    let desc = field(&f, "description");
    let actions = parse_actions(f.get("actions").map_or("", String::as_str));
    let r = if actions.len() > MAX_ACTIONS {
        Answer {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": {"message": format!("A custom role may list at most {MAX_ACTIONS} actions here.")}}),
        }
    } else {
        let mut body = json!({
            "displayName": name,
            "isEnabled": true,
            "rolePermissions": [{"allowedResourceActions": actions}],
        });
        if !desc.is_empty() {
            body["description"] = Value::String(desc);
        }
        a.graph(Method::POST, DEFS, Some(body)).await
    };
    if r.ok() {
        a.flash(format!("Custom role {name} created."));
        return Redirect::to(&format!("/admin/roles/{}", st(&r.body, "id"))).into_response();
    }
    let sections = vec![error_section("role-error", &r), role_form(&a, &f)];
    page_of(
        &mut a,
        status_of(&r),
        "New custom role",
        "/admin/roles",
        sections,
    )
}

/// `POST /admin/custom-roles/{id}/delete`.
async fn delete_role(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let r = a.graph(Method::DELETE, &format!("{DEFS}/{id}"), None).await;
    if r.ok() {
        a.flash("Custom role deleted.");
        return Redirect::to("/admin/roles").into_response();
    }
    a.api_error(
        "The role was not deleted",
        &r,
        &format!("/admin/roles/{id}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_split_trimmed_and_deduplicated() {
        assert_eq!(
            parse_actions(" microsoft.directory/users/basic/update\r\nmicrosoft.directory/groups/members/update, MICROSOFT.directory/users/basic/update \n\n"),
            vec![
                "microsoft.directory/users/basic/update",
                "microsoft.directory/groups/members/update"
            ]
        );
        assert!(parse_actions(" \n, ").is_empty());
    }

    #[test]
    fn a_unit_scope_names_the_unit() {
        assert_eq!(unit_scope("abc"), "/administrativeUnits/abc");
    }
}
