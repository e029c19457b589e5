//! The blades: each handler reads or writes through Graph (or ARM) as the signed-in
//! administrator ([`Admin::graph`]) and renders the answer. A refusal from Graph is shown
//! with Graph's own message (which names the permission or role it needs); a part of a page
//! the administrator may not read says so instead of failing the whole page.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::api::{odata_string, q, skiptoken, Answer};
use super::auth;
use super::chart;
use super::view::{render, Cell, Field, Form, Page, Section, Table};
use super::{Admin, Ctx, FormMap};
use crate::state::AppState;

/// What a page says where the administrator's roles do not cover an action.
pub(super) fn not_yours(what: &str, who: &str) -> String {
    format!("Your roles do not allow you to {what}; a {who} or Global Administrator can.")
}

/// Rows per page of every list.
pub const PAGE_SIZE: usize = 25;
/// The longest search text accepted.
pub const MAX_SEARCH: usize = 120;

/// The blades' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users).post(create_user))
        .route("/admin/users/{id}", get(user).post(update_user))
        .route("/admin/users/{id}/password", post(reset_password))
        .route("/admin/users/{id}/revoke", post(revoke_sessions))
        .route("/admin/groups", get(groups).post(create_group))
        .route("/admin/groups/{id}", get(group))
        .route("/admin/groups/{id}/members", post(add_member))
        .route("/admin/groups/{id}/members/remove", post(remove_member))
        .route("/admin/app-registrations", get(apps).post(create_app))
        .route("/admin/enterprise-apps", get(sps))
        .route("/admin/roles", get(roles))
        .route("/admin/roles/{id}", get(role))
        .route("/admin/roles/{id}/assign", post(assign_role))
        .route("/admin/conditional-access/{id}/state", post(ca_state))
        .route("/admin/sign-ins", get(sign_ins))
        .route("/admin/sign-ins/{id}", get(sign_in))
        .route("/admin/troubleshoot", get(troubleshoot))
        .route("/admin/audit", get(audits))
        .route("/admin/audit/{id}", get(audit))
}

type Q = Query<HashMap<String, String>>;

pub(super) fn st(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "Yes" } else { "No" }.into(),
        other => other.to_string(),
    }
}

pub(super) fn items(v: &Value) -> &[Value] {
    v["value"].as_array().map_or(&[], Vec::as_slice)
}

pub(super) fn guid(id: &str) -> Option<String> {
    uuid::Uuid::parse_str(id).ok().map(|u| u.to_string())
}

fn search_text(q: &HashMap<String, String>) -> String {
    q.get("q")
        .map(|s| s.trim().chars().take(MAX_SEARCH).collect())
        .unwrap_or_default()
}

/// `$top`, `$filter` and `$skiptoken` for a list page.
pub fn list_query(filter: Option<String>, next: Option<&String>, extra: &str) -> String {
    let mut parts = vec![format!("$top={PAGE_SIZE}")];
    if let Some(f) = filter {
        parts.push(format!("$filter={}", q(&f)));
    }
    if let Some(n) = next {
        parts.push(format!("$skiptoken={}", q(n)));
    }
    if !extra.is_empty() {
        parts.push(extra.to_string());
    }
    parts.join("&")
}

/// The console link to the next page: the blade's own query plus `next`.
fn next_link(base: &str, keep: &[(&str, &str)], body: &Value) -> Option<String> {
    let tok = skiptoken(body)?;
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in keep {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.append_pair("next", &tok);
    Some(format!("{base}?{}", s.finish()))
}

pub(super) fn page(
    a: &mut Admin,
    title: &str,
    current: &str,
    search: Option<Form>,
    sections: Vec<Section>,
) -> Response {
    let l = a.layout(title, current);
    render(
        StatusCode::OK,
        &Page {
            l,
            search,
            sections,
        },
    )
}

fn signed_in(s: &AppState, ctx: Ctx) -> Result<Admin, Response> {
    Admin::from(s, ctx)
}

/// A section for a read the administrator may not make: Graph's message instead of the data.
pub(super) fn refused(id: &str, title: &str, a: &Answer) -> Section {
    let mut s = Section::new(id, title);
    s.note = Some(format!("Not shown: {}", a.message()));
    s
}

/// After a write: back to `to` with `done` as the message, or the API's refusal.
pub(super) fn after(a: &mut Admin, r: &Answer, done: &str, to: &str) -> Response {
    if r.ok() {
        a.flash(done);
        Redirect::to(to).into_response()
    } else {
        a.api_error("The change was not made", r, to)
    }
}

use super::kit::{signed_in as admin, signed_post as admin_post};

macro_rules! id_or_404 {
    ($id:expr) => {
        match guid(&$id) {
            Some(x) => x,
            None => {
                return super::message_page(
                    StatusCode::NOT_FOUND,
                    "Not found",
                    "error",
                    "That address does not name an object: object ids are GUIDs.",
                    Some(("/admin".into(), "Back to the console".into())),
                )
            }
        }
    };
}

pub(super) fn field(f: &HashMap<String, String>, k: &str) -> String {
    f.get(k).map(|v| v.trim().to_string()).unwrap_or_default()
}

pub(super) fn checked(f: &HashMap<String, String>, k: &str) -> bool {
    f.get(k).is_some_and(|v| v == "true" || v == "on")
}

// ---------------------------------------------------------------- Overview

/// `GET /admin`: the tenant, its domains, object counts and the last week's sign-in health.
pub async fn overview(State(s): State<AppState>, ctx: Ctx) -> Response {
    let Ok(mut a) = signed_in(&s, ctx) else {
        return auth::picker(StatusCode::OK, None);
    };
    let mut sections = Vec::new();
    let org = a.graph(Method::GET, "/v1.0/organization", None).await;
    let mut t = Section::new("tenant", "Tenant");
    if let Some(o) = items(&org.body).first() {
        t.props = vec![
            ("Name".into(), st(o, "displayName")),
            ("Tenant ID".into(), st(o, "id")),
            ("Your roles".into(), a.session.roles.join(", ")),
        ];
        let mut d = Table::new(
            "domains",
            "Domains",
            &["Domain", "Default", "Initial"],
            "No domains.",
        );
        for v in o["verifiedDomains"].as_array().into_iter().flatten() {
            d.rows.push(vec![
                Cell::text(st(v, "name")),
                Cell::text(st(v, "isDefault")),
                Cell::text(st(v, "isInitial")),
            ]);
        }
        t.table = Some(d);
    } else {
        t = refused("tenant", "Tenant", &org);
    }
    sections.push(t);
    let mut counts = Section::new("counts", "Objects");
    for (label, path) in [
        ("Users", "/v1.0/users/$count"),
        ("Groups", "/v1.0/groups/$count"),
        ("App registrations", "/v1.0/applications/$count"),
        ("Enterprise applications", "/v1.0/servicePrincipals/$count"),
    ] {
        let r = a.graph(Method::GET, path, None).await;
        let n = if r.ok() {
            match &r.body {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
                other => other.to_string(),
            }
        } else {
            "not visible to you".into()
        };
        counts.props.push((label.into(), n));
    }
    sections.push(counts);
    sections.push(sign_in_health(&mut a).await);
    sections.extend(super::insights::overview_sections(&mut a).await);
    page(&mut a, "Overview", "/admin", None, sections)
}

async fn sign_in_health(a: &mut Admin) -> Section {
    let now = chrono::Utc::now();
    let since = now - chrono::Duration::days(6);
    let since_day = since.format("%Y-%m-%dT00:00:00Z").to_string();
    let path = format!(
        "/v1.0/auditLogs/signIns?$top=999&$select=createdDateTime,status&$filter={}",
        q(&format!("createdDateTime ge {since_day}"))
    );
    let r = a.graph(Method::GET, &path, None).await;
    if !r.ok() {
        return refused("health", "Sign-ins in the last 7 days", &r);
    }
    let mut days: Vec<(String, u64, u64)> = (0..7)
        .map(|i| {
            (
                (since + chrono::Duration::days(i))
                    .format("%m-%d")
                    .to_string(),
                0,
                0,
            )
        })
        .collect();
    let mut codes: HashMap<String, u64> = HashMap::new();
    for x in items(&r.body) {
        let when = st(x, "createdDateTime");
        let day = when.get(5..10).unwrap_or("").to_string();
        let code = x["status"]["errorCode"].as_i64().unwrap_or(0);
        if let Some(d) = days.iter_mut().find(|d| d.0 == day) {
            if code == 0 {
                d.1 += 1;
            } else {
                d.2 += 1;
            }
        }
        if code != 0 {
            *codes.entry(code.to_string()).or_default() += 1;
        }
    }
    let mut sec = Section::new("health", "Sign-ins in the last 7 days");
    let (ok, fail): (u64, u64) = days.iter().fold((0, 0), |(a, b), d| (a + d.1, b + d.2));
    sec.props = vec![
        ("Successful".into(), ok.to_string()),
        ("Failed".into(), fail.to_string()),
    ];
    sec.svg = Some(chart::sign_ins_by_day(
        "Sign-ins per day: successes (green) and failures (red)",
        &days,
    ));
    let mut top: Vec<(String, u64)> = codes.into_iter().collect();
    top.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut t = Table::new(
        "failures",
        "Top failure codes",
        &["Error code", "Sign-ins"],
        "No failed sign-ins.",
    );
    for (c, n) in top.into_iter().take(5) {
        t.rows.push(vec![
            Cell::link(
                format!("AADSTS{c}"),
                format!("/admin/sign-ins?status=failure&code={c}"),
            ),
            Cell::text(n.to_string()),
        ]);
    }
    sec.table = Some(t);
    sec
}

// ---------------------------------------------------------------- Users

async fn users(State(s): State<AppState>, ctx: Ctx, Query(p): Q) -> Response {
    let mut a = admin!(s, ctx);
    let text = search_text(&p);
    let filter = (!text.is_empty()).then(|| {
        let t = odata_string(&text);
        format!("startswith(displayName,{t}) or startswith(userPrincipalName,{t})")
    });
    let path = format!(
        "/v1.0/users?{}",
        list_query(
            filter,
            p.get("next"),
            "$select=id,displayName,userPrincipalName,accountEnabled,userType,jobTitle"
        )
    );
    let r = a.graph(Method::GET, &path, None).await;
    if !r.ok() {
        return a.api_error("Users", &r, "/admin");
    }
    let mut t = Table::new(
        "users-table",
        "Users",
        &["Name", "User principal name", "Type", "Enabled"],
        "No users match.",
    );
    for u in items(&r.body) {
        t.rows.push(vec![
            Cell::link(
                st(u, "displayName"),
                format!("/admin/users/{}", st(u, "id")),
            ),
            Cell::text(st(u, "userPrincipalName")),
            Cell::text(st(u, "userType")),
            Cell::text(st(u, "accountEnabled")),
        ]);
    }
    let mut list = Section::new("all-users", "All users");
    list.table = Some(t);
    list.next = next_link("/admin/users", &[("q", &text)], &r.body);
    let csrf = a.session.csrf.clone();
    let mut create = Section::new("new-user", "New user");
    create.forms.push(
        Form::post(
            "create-user",
            "/admin/users",
            "Create user",
            "Create user",
            &csrf,
        )
        .hint("The user signs in with this user principal name and password.")
        .fields(vec![
            Field::new("text", "displayName", "Display name").required(),
            Field::new(
                "email",
                "userPrincipalName",
                "User principal name (alias@domain)",
            )
            .required(),
            Field::new("password", "password", "Initial password").required(),
            Field::new(
                "checkbox",
                "forceChange",
                "Require a password change at first sign-in",
            )
            .value("true"),
        ]),
    );
    if !a.may("microsoft.directory/users/create") {
        create.forms.clear();
        create.note = Some(not_yours("create users", "User Administrator"));
    }
    let search = Form::get(
        "/admin/users",
        "Search",
        vec![Field::new("search", "q", "Search by name or UPN").value(text)],
    );
    page(
        &mut a,
        "Users",
        "/admin/users",
        Some(search),
        vec![list, create],
    )
}

async fn create_user(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let upn = field(&f, "userPrincipalName");
    let nick: String = upn
        .split('@')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '_')
        .collect();
    let body = json!({
        "accountEnabled": true,
        "displayName": field(&f, "displayName"),
        "mailNickname": nick,
        "userPrincipalName": upn,
        "passwordProfile": {"password": field(&f, "password"), "forceChangePasswordNextSignIn": checked(&f, "forceChange")},
    });
    let r = a.graph(Method::POST, "/v1.0/users", Some(body)).await;
    let to = format!("/admin/users/{}", st(&r.body, "id"));
    after(
        &mut a,
        &r,
        &format!("User {upn} created."),
        if r.ok() { &to } else { "/admin/users" },
    )
}

async fn user(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let mut a = admin!(s, ctx);
    let id = id_or_404!(id);
    let r = a
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    if !r.ok() {
        return a.api_error("User", &r, "/admin/users");
    }
    let u = r.body.clone();
    let name = st(&u, "displayName");
    let csrf = a.session.csrf.clone();
    let mut props = Section::new("profile", "Profile");
    for (k, label) in [
        ("userPrincipalName", "User principal name"),
        ("id", "Object ID"),
        ("userType", "User type"),
        ("accountEnabled", "Account enabled"),
        ("jobTitle", "Job title"),
        ("department", "Department"),
        ("mail", "Mail"),
        ("createdDateTime", "Created"),
    ] {
        props.props.push((label.into(), st(&u, k)));
    }
    props.forms.push(
        Form::post(
            "edit-user",
            format!("/admin/users/{id}"),
            "Edit profile",
            "Save",
            &csrf,
        )
        .fields(vec![
            Field::new("text", "displayName", "Display name")
                .value(name.clone())
                .required(),
            Field::new("text", "jobTitle", "Job title").value(st(&u, "jobTitle")),
            Field::new("text", "department", "Department").value(st(&u, "department")),
            Field::new("checkbox", "accountEnabled", "Account enabled").value(
                if u["accountEnabled"] == true {
                    "true"
                } else {
                    ""
                },
            ),
        ]),
    );
    props.forms.push(
        Form::post(
            "reset-password",
            format!("/admin/users/{id}/password"),
            "Reset password",
            "Reset password",
            &csrf,
        )
        .hint("Signs the user out of every session (refresh tokens and SSO are revoked).")
        .fields(vec![
            Field::new("password", "password", "New password").required(),
            Field::new(
                "checkbox",
                "forceChange",
                "Require a change at next sign-in",
            )
            .value("true"),
        ])
        .danger(),
    );
    props.forms.push(
        Form::post(
            "revoke",
            format!("/admin/users/{id}/revoke"),
            "Revoke sessions",
            "Revoke sessions",
            &csrf,
        )
        .hint("Ends every refresh token and SSO session of this user; they sign in again.")
        .danger(),
    );
    let mut sections = vec![props];
    // Roles.
    let ra = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/roleManagement/directory/roleAssignments?$filter={}",
                q(&format!("principalId eq '{id}'"))
            ),
            None,
        )
        .await;
    if ra.ok() {
        let mut t = Table::new(
            "user-roles",
            "Assigned roles",
            &["Role", "Scope"],
            "No directory roles.",
        );
        for x in items(&ra.body) {
            let rid = st(x, "roleDefinitionId");
            let rname = uuid::Uuid::parse_str(&rid)
                .ok()
                .and_then(castellan_core::directory_roles::role)
                .map_or_else(|| rid.clone(), |r| r.display_name.clone());
            t.rows.push(vec![
                Cell::link(rname, format!("/admin/roles/{rid}")),
                Cell::text(st(x, "directoryScopeId")),
            ]);
        }
        let mut sec = Section::new("roles", "Assigned roles");
        sec.table = Some(t);
        sections.push(sec);
    } else {
        sections.push(refused("roles", "Assigned roles", &ra));
    }
    // Groups.
    let mo = a
        .graph(Method::GET, &format!("/v1.0/users/{id}/memberOf"), None)
        .await;
    if mo.ok() {
        let mut t = Table::new(
            "user-groups",
            "Groups",
            &["Group", "Type"],
            "Not a member of any group.",
        );
        for g in items(&mo.body) {
            let kind = st(g, "@odata.type");
            let href = if kind.ends_with("group") {
                Some(format!("/admin/groups/{}", st(g, "id")))
            } else {
                None
            };
            t.rows.push(vec![
                Cell {
                    text: st(g, "displayName"),
                    href,
                },
                Cell::text(kind.trim_start_matches("#microsoft.graph.").to_string()),
            ]);
        }
        let mut sec = Section::new("groups", "Groups");
        sec.table = Some(t);
        sections.push(sec);
    } else {
        sections.push(refused("groups", "Groups", &mo));
    }
    // Authentication methods.
    let am = a
        .graph(
            Method::GET,
            &format!("/v1.0/users/{id}/authentication/methods"),
            None,
        )
        .await;
    if am.ok() {
        let mut t = Table::new(
            "user-methods",
            "Authentication methods",
            &["Method", "Name"],
            "No methods.",
        );
        for m in items(&am.body) {
            t.rows.push(vec![
                Cell::text(
                    st(m, "@odata.type")
                        .trim_start_matches("#microsoft.graph.")
                        .to_string(),
                ),
                Cell::text(st(m, "displayName")),
            ]);
        }
        let mut sec = Section::new("methods", "Authentication methods");
        sec.table = Some(t);
        sections.push(sec);
    } else {
        sections.push(refused("methods", "Authentication methods", &am));
    }
    // Sign-ins.
    sections.push(
        sign_in_section(
            &mut a,
            "user-sign-ins",
            "Recent sign-ins",
            &format!("userId eq '{id}'"),
        )
        .await,
    );
    page(&mut a, &name, "/admin/users", None, sections)
}

async fn update_user(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = id_or_404!(id);
    let opt = |k: &str| {
        let v = field(&f, k);
        if v.is_empty() {
            Value::Null
        } else {
            Value::String(v)
        }
    };
    let body = json!({
        "displayName": field(&f, "displayName"),
        "jobTitle": opt("jobTitle"),
        "department": opt("department"),
        "accountEnabled": checked(&f, "accountEnabled"),
    });
    let r = a
        .graph(Method::PATCH, &format!("/v1.0/users/{id}"), Some(body))
        .await;
    after(&mut a, &r, "Profile saved.", &format!("/admin/users/{id}"))
}

async fn reset_password(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = id_or_404!(id);
    let body = json!({"passwordProfile": {"password": field(&f, "password"), "forceChangePasswordNextSignIn": checked(&f, "forceChange")}});
    let r = a
        .graph(Method::PATCH, &format!("/v1.0/users/{id}"), Some(body))
        .await;
    after(
        &mut a,
        &r,
        "Password reset; the user's sessions were revoked.",
        &format!("/admin/users/{id}"),
    )
}

async fn revoke_sessions(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = id_or_404!(id);
    let r = a
        .graph(
            Method::POST,
            &format!("/v1.0/users/{id}/revokeSignInSessions"),
            Some(json!({})),
        )
        .await;
    after(
        &mut a,
        &r,
        "Sessions revoked.",
        &format!("/admin/users/{id}"),
    )
}

// ---------------------------------------------------------------- Groups

async fn groups(State(s): State<AppState>, ctx: Ctx, Query(p): Q) -> Response {
    let mut a = admin!(s, ctx);
    let text = search_text(&p);
    let filter =
        (!text.is_empty()).then(|| format!("startswith(displayName,{})", odata_string(&text)));
    let path = format!("/v1.0/groups?{}", list_query(filter, p.get("next"), ""));
    let r = a.graph(Method::GET, &path, None).await;
    if !r.ok() {
        return a.api_error("Groups", &r, "/admin");
    }
    let mut t = Table::new(
        "groups-table",
        "Groups",
        &["Name", "Description", "Security", "Role-assignable"],
        "No groups match.",
    );
    for g in items(&r.body) {
        t.rows.push(vec![
            Cell::link(
                st(g, "displayName"),
                format!("/admin/groups/{}", st(g, "id")),
            ),
            Cell::text(st(g, "description")),
            Cell::text(st(g, "securityEnabled")),
            Cell::text(st(g, "isAssignableToRole")),
        ]);
    }
    let mut list = Section::new("all-groups", "All groups");
    list.table = Some(t);
    list.next = next_link("/admin/groups", &[("q", &text)], &r.body);
    let csrf = a.session.csrf.clone();
    let mut create = Section::new("new-group", "New group");
    create.forms.push(
        Form::post(
            "create-group",
            "/admin/groups",
            "Create security group",
            "Create group",
            &csrf,
        )
        .fields(vec![
            Field::new("text", "displayName", "Group name").required(),
            Field::new("text", "description", "Description"),
        ]),
    );
    create.forms.push(super::dynamic::new_group_link());
    let search = Form::get(
        "/admin/groups",
        "Search",
        vec![Field::new("search", "q", "Search by name").value(text)],
    );
    page(
        &mut a,
        "Groups",
        "/admin/groups",
        Some(search),
        vec![list, create],
    )
}

async fn create_group(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let name = field(&f, "displayName");
    let mut nick: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(60)
        .collect();
    if nick.is_empty() {
        nick = "group".into();
    }
    let desc = field(&f, "description");
    let body = json!({
        "displayName": name,
        "description": if desc.is_empty() { Value::Null } else { Value::String(desc) },
        "mailEnabled": false,
        "mailNickname": nick,
        "securityEnabled": true,
    });
    let r = a.graph(Method::POST, "/v1.0/groups", Some(body)).await;
    let to = format!("/admin/groups/{}", st(&r.body, "id"));
    after(
        &mut a,
        &r,
        &format!("Group {name} created."),
        if r.ok() { &to } else { "/admin/groups" },
    )
}

async fn group(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let mut a = admin!(s, ctx);
    let id = id_or_404!(id);
    let r = a
        .graph(Method::GET, &format!("/v1.0/groups/{id}"), None)
        .await;
    if !r.ok() {
        return a.api_error("Group", &r, "/admin/groups");
    }
    let g = r.body.clone();
    let csrf = a.session.csrf.clone();
    let mut props = Section::new("group-props", "Properties");
    for (k, label) in [
        ("id", "Object ID"),
        ("description", "Description"),
        ("securityEnabled", "Security enabled"),
        ("isAssignableToRole", "Role-assignable"),
        ("createdDateTime", "Created"),
    ] {
        props.props.push((label.into(), st(&g, k)));
    }
    let mut sections = vec![props, super::dynamic::rule_section(&id, &g)];
    let m = a
        .graph(Method::GET, &format!("/v1.0/groups/{id}/members"), None)
        .await;
    let mut members = Section::new("members", "Members");
    if m.ok() {
        let mut t = Table::new(
            "members-table",
            "Members",
            &["Name", "Type", "User principal name"],
            "No members.",
        );
        let mut options = Vec::new();
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
        if !options.is_empty() {
            members.forms.push(
                Form::post(
                    "remove-member",
                    format!("/admin/groups/{id}/members/remove"),
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
        members.note = Some(format!("Not shown: {}", m.message()));
    }
    members.forms.insert(
        0,
        Form::post(
            "add-member",
            format!("/admin/groups/{id}/members"),
            "Add member",
            "Add member",
            &csrf,
        )
        .fields(vec![Field::new(
            "text",
            "member",
            "User principal name or object ID",
        )
        .required()]),
    );
    sections.push(members);
    page(
        &mut a,
        &st(&g, "displayName"),
        "/admin/groups",
        None,
        sections,
    )
}

/// The object id of a user named by UPN or id (read through Graph as the administrator).
pub(super) async fn resolve_principal(a: &mut Admin, who: &str) -> Result<String, Answer> {
    if let Some(g) = guid(who) {
        return Ok(g);
    }
    if who.is_empty() || who.len() > 256 || !who.contains('@') {
        return Err(Answer {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": {"message": format!("'{who}' is neither an object ID (GUID) nor a user principal name (alias@domain).")}}),
        });
    }
    let r = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/users?$filter={}&$select=id",
                q(&format!("userPrincipalName eq {}", odata_string(who)))
            ),
            None,
        )
        .await;
    if !r.ok() {
        return Err(r);
    }
    items(&r.body).first().map(|u| st(u, "id")).ok_or_else(|| Answer {
        status: StatusCode::NOT_FOUND,
        body: json!({"error": {"message": format!("No user {who} in this tenant (or you may not read it). Check the spelling of the user principal name.")}}),
    })
}

async fn add_member(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = id_or_404!(id);
    let back = format!("/admin/groups/{id}");
    let who = field(&f, "member");
    let member = match resolve_principal(&mut a, &who).await {
        Ok(m) => m,
        Err(r) => return a.api_error("The member was not added", &r, &back),
    };
    let body =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")});
    let r = a
        .graph(
            Method::POST,
            &format!("/v1.0/groups/{id}/members/$ref"),
            Some(body),
        )
        .await;
    after(&mut a, &r, &format!("{who} added."), &back)
}

async fn remove_member(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = id_or_404!(id);
    let member = id_or_404!(field(&f, "member"));
    let r = a
        .graph(
            Method::DELETE,
            &format!("/v1.0/groups/{id}/members/{member}/$ref"),
            None,
        )
        .await;
    after(
        &mut a,
        &r,
        "Member removed.",
        &format!("/admin/groups/{id}"),
    )
}

// ---------------------------------------------------------------- App registrations

async fn apps(State(s): State<AppState>, ctx: Ctx, Query(p): Q) -> Response {
    let mut a = admin!(s, ctx);
    let text = search_text(&p);
    let filter =
        (!text.is_empty()).then(|| format!("startswith(displayName,{})", odata_string(&text)));
    let r = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/applications?{}",
                list_query(filter, p.get("next"), "")
            ),
            None,
        )
        .await;
    if !r.ok() {
        return a.api_error("App registrations", &r, "/admin");
    }
    let mut t = Table::new(
        "apps-table",
        "App registrations",
        &[
            "Name",
            "Application (client) ID",
            "Supported accounts",
            "Created",
        ],
        "No app registrations match.",
    );
    for x in items(&r.body) {
        t.rows.push(vec![
            Cell::link(
                st(x, "displayName"),
                format!("/admin/app-registrations/{}", st(x, "id")),
            ),
            Cell::text(st(x, "appId")),
            Cell::text(st(x, "signInAudience")),
            Cell::text(st(x, "createdDateTime")),
        ]);
    }
    let mut list = Section::new("all-apps", "All applications");
    list.note = Some("An app registration is the application's definition (credentials, redirect URIs, the permissions it asks for), kept in its home tenant. Its instance in a tenant — who may use it, what was granted — is the enterprise application.".into());
    list.table = Some(t);
    list.next = next_link("/admin/app-registrations", &[("q", &text)], &r.body);
    let csrf = a.session.csrf.clone();
    let mut create = Section::new("new-app", "Register an application");
    create.forms.push(
        Form::post(
            "create-app",
            "/admin/app-registrations",
            "Register an application",
            "Register",
            &csrf,
        )
        .fields(vec![
            Field::new("text", "displayName", "Name").required(),
            Field::new("select", "signInAudience", "Supported account types")
                .value("AzureADMyOrg")
                .options(vec![
                    ("AzureADMyOrg".into(), "This tenant only".into()),
                    ("AzureADMultipleOrgs".into(), "Any Entra tenant".into()),
                ]),
            Field::new("text", "redirectUri", "Web redirect URI (optional, https)"),
        ]),
    );
    let search = Form::get(
        "/admin/app-registrations",
        "Search",
        vec![Field::new("search", "q", "Search by name").value(text)],
    );
    page(
        &mut a,
        "App registrations",
        "/admin/app-registrations",
        Some(search),
        vec![list, create],
    )
}

async fn create_app(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let name = field(&f, "displayName");
    let redirect = field(&f, "redirectUri");
    let mut body = json!({"displayName": name, "signInAudience": field(&f, "signInAudience")});
    if !redirect.is_empty() {
        body["web"] = json!({"redirectUris": [redirect]});
    }
    let r = a
        .graph(Method::POST, "/v1.0/applications", Some(body))
        .await;
    if !r.ok() {
        return a.api_error(
            "The application was not registered",
            &r,
            "/admin/app-registrations",
        );
    }
    // Its enterprise application (service principal) in this tenant, as the admin center makes.
    let app_id = st(&r.body, "appId");
    let sp = a
        .graph(
            Method::POST,
            "/v1.0/servicePrincipals",
            Some(json!({"appId": app_id})),
        )
        .await;
    let to = format!("/admin/app-registrations/{}", st(&r.body, "id"));
    if sp.ok() {
        a.flash(format!(
            "Application {name} registered, with its enterprise application."
        ));
    } else {
        a.flash(format!(
            "Application {name} registered; its enterprise application was not created: {}",
            sp.message()
        ));
    }
    Redirect::to(&to).into_response()
}

// ---------------------------------------------------------------- Enterprise applications

async fn sps(State(s): State<AppState>, ctx: Ctx, Query(p): Q) -> Response {
    let mut a = admin!(s, ctx);
    let text = search_text(&p);
    let filter =
        (!text.is_empty()).then(|| format!("startswith(displayName,{})", odata_string(&text)));
    let r = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/servicePrincipals?{}",
                list_query(filter, p.get("next"), "")
            ),
            None,
        )
        .await;
    if !r.ok() {
        return a.api_error("Enterprise applications", &r, "/admin");
    }
    let mut t = Table::new(
        "sps-table",
        "Enterprise applications",
        &["Name", "Application ID", "Type", "Home tenant"],
        "No enterprise applications match.",
    );
    for x in items(&r.body) {
        t.rows.push(vec![
            Cell::link(
                st(x, "displayName"),
                format!("/admin/enterprise-apps/{}", st(x, "id")),
            ),
            Cell::text(st(x, "appId")),
            Cell::text(st(x, "servicePrincipalType")),
            Cell::text(st(x, "appOwnerOrganizationId")),
        ]);
    }
    let mut list = Section::new("all-sps", "All enterprise applications");
    list.note = Some("An enterprise application (service principal) is an application's instance in this tenant: who is assigned, which permissions were granted, its sign-ins. Its definition is the app registration in the home tenant.".into());
    list.table = Some(t);
    list.next = next_link("/admin/enterprise-apps", &[("q", &text)], &r.body);
    let search = Form::get(
        "/admin/enterprise-apps",
        "Search",
        vec![Field::new("search", "q", "Search by name").value(text)],
    );
    page(
        &mut a,
        "Enterprise applications",
        "/admin/enterprise-apps",
        Some(search),
        vec![list],
    )
}

// ---------------------------------------------------------------- Roles

async fn roles(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = admin!(s, ctx);
    let r = a
        .graph(
            Method::GET,
            "/v1.0/roleManagement/directory/roleDefinitions",
            None,
        )
        .await;
    if !r.ok() {
        return a.api_error("Roles and administrators", &r, "/admin");
    }
    let mut defs: Vec<&Value> = items(&r.body).iter().collect();
    defs.sort_by_key(|d| st(d, "displayName"));
    let mut t = Table::new(
        "roles-table",
        "Directory roles",
        &["Role", "Type", "Description"],
        "No roles.",
    );
    for d in defs {
        t.rows.push(vec![
            Cell::link(
                st(d, "displayName"),
                format!("/admin/roles/{}", st(d, "id")),
            ),
            Cell::text(if d["isBuiltIn"] == true {
                "Built-in"
            } else {
                "Custom"
            }),
            Cell::text(st(d, "description")),
        ]);
    }
    let mut sec = Section::new("all-roles", "All roles");
    sec.note = Some("Directory roles govern the directory (users, groups, applications). Access to Azure resources is Azure RBAC, assigned on a scope under Azure resources.".into());
    sec.table = Some(t);
    let custom =
        super::directory::custom_roles_section(&a, &items(&r.body).iter().collect::<Vec<_>>());
    page(
        &mut a,
        "Roles and administrators",
        "/admin/roles",
        None,
        vec![sec, custom],
    )
}

async fn role(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let mut a = admin!(s, ctx);
    let id = id_or_404!(id);
    let d = a
        .graph(
            Method::GET,
            &format!("/v1.0/roleManagement/directory/roleDefinitions/{id}"),
            None,
        )
        .await;
    if !d.ok() {
        return a.api_error("Role", &d, "/admin/roles");
    }
    let name = st(&d.body, "displayName");
    let csrf = a.session.csrf.clone();
    let mut about = Section::new("about", "About");
    about
        .props
        .push(("Description".into(), st(&d.body, "description")));
    let mut sections = vec![about];
    sections.extend(super::directory::delete_role_section(&a, &id, &d.body));
    let r = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/roleManagement/directory/roleAssignments?$filter={}",
                q(&format!("roleDefinitionId eq '{id}'"))
            ),
            None,
        )
        .await;
    let mut asg = Section::new("assignments", "Assignments");
    if r.ok() {
        let mut t = Table::new(
            "assignments-table",
            "Assignments",
            &["Principal", "Scope"],
            "Nobody holds this role.",
        );
        for x in items(&r.body).iter().take(100) {
            let pid = st(x, "principalId");
            let o = a
                .graph(Method::GET, &format!("/v1.0/directoryObjects/{pid}"), None)
                .await;
            let label = if o.ok() {
                format!(
                    "{} ({})",
                    st(&o.body, "displayName"),
                    st(&o.body, "userPrincipalName")
                )
            } else {
                pid.clone()
            };
            let href = st(&o.body, "@odata.type")
                .ends_with("user")
                .then(|| format!("/admin/users/{pid}"));
            t.rows.push(vec![
                Cell { text: label, href },
                Cell::text(st(x, "directoryScopeId")),
            ]);
        }
        asg.table = Some(t);
    } else {
        asg.note = Some(format!("Not shown: {}", r.message()));
    }
    asg.forms.push(
        Form::post(
            "assign",
            format!("/admin/roles/{id}/assign"),
            "Add assignment",
            "Assign",
            &csrf,
        )
        .fields(vec![
            Field::new("text", "principal", "User principal name or object ID").required(),
            Field::new(
                "text",
                "scope",
                "Directory scope ('/' for the tenant, or /administrativeUnits/{id})",
            )
            .value("/"),
        ]),
    );
    if !a.may("microsoft.directory/roleAssignments/allProperties/allTasks") {
        asg.forms.clear();
        let n = not_yours("assign directory roles", "Privileged Role Administrator");
        asg.note = Some(asg.note.map_or_else(|| n.clone(), |x| format!("{x} {n}")));
    }
    sections.push(asg);
    sections.extend(super::pim::role_sections(&mut a, &id).await);
    page(&mut a, &name, "/admin/roles", None, sections)
}

async fn assign_role(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = id_or_404!(id);
    let back = format!("/admin/roles/{id}");
    let principal = match resolve_principal(&mut a, &field(&f, "principal")).await {
        Ok(p) => p,
        Err(r) => return a.api_error("The role was not assigned", &r, &back),
    };
    let mut scope = field(&f, "scope");
    if scope.is_empty() {
        scope = "/".into();
    }
    let r = a
        .graph(
            Method::POST,
            "/v1.0/roleManagement/directory/roleAssignments",
            Some(json!({"principalId": principal, "roleDefinitionId": id, "directoryScopeId": scope})),
        )
        .await;
    after(&mut a, &r, "Role assigned.", &back)
}

// ---------------------------------------------------------------- Conditional Access

async fn ca_state(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = id_or_404!(id);
    let state = field(&f, "state");
    let r = a
        .graph(
            Method::PATCH,
            &format!("/v1.0/identity/conditionalAccess/policies/{id}"),
            Some(json!({"state": state})),
        )
        .await;
    after(
        &mut a,
        &r,
        &format!("Policy state set to {state}."),
        "/admin/conditional-access",
    )
}

// ---------------------------------------------------------------- Troubleshooter

/// The troubleshooter's answer for one sign-in record (`core::troubleshoot::diagnose`).
fn diagnosis_section(id: &str, x: &Value) -> Section {
    let code = u32::try_from(x["status"]["errorCode"].as_i64().unwrap_or(0)).unwrap_or(0);
    let d = castellan_core::troubleshoot::diagnose(code);
    let mut sec = Section::new(id, &format!("Troubleshooter: {}", d.title));
    sec.note = Some(d.fix.to_string());
    sec.props = vec![
        ("User".into(), st(x, "userPrincipalName")),
        (
            "Application".into(),
            format!("{} ({})", st(x, "appDisplayName"), st(x, "appId")),
        ),
        (
            "Result".into(),
            if code == 0 {
                "Success".into()
            } else {
                format!("AADSTS{code}")
            },
        ),
        ("Failure reason".into(), st(&x["status"], "failureReason")),
        ("Correlation ID".into(), st(x, "correlationId")),
    ];
    let mut t = Table::new(
        &format!("{id}-links"),
        "Evidence and fix",
        &["What", "Where"],
        "",
    );
    t.rows.push(vec![
        Cell::text("The sign-in record"),
        Cell::link(
            "Sign-in details",
            format!("/admin/sign-ins/{}", st(x, "id")),
        ),
    ]);
    if let Some(b) = d.blade {
        let label = super::BLADES
            .iter()
            .find(|(h, _)| *h == b)
            .map_or(b, |(_, l)| *l);
        t.rows
            .push(vec![Cell::text("Where to fix it"), Cell::link(label, b)]);
    }
    sec.table = Some(t);
    sec
}

/// `GET /admin/troubleshoot?correlationId=…`: the family of each sign-in with that id.
async fn troubleshoot(State(s): State<AppState>, ctx: Ctx, Query(p): Q) -> Response {
    let mut a = admin!(s, ctx);
    let cid = p
        .get("correlationId")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    let search = Form::get(
        "/admin/troubleshoot",
        "Diagnose",
        vec![Field::new(
            "search",
            "correlationId",
            "Correlation ID of the failed request",
        )
        .value(cid.clone())],
    );
    let mut sections = Vec::new();
    if !cid.is_empty() {
        let Some(g) = guid(&cid) else {
            let mut s = Section::new("result", "No diagnosis");
            s.note = Some("A correlation ID is a GUID (the correlation_id of the error response, or its client-request-id).".into());
            return page(
                &mut a,
                "Troubleshooter",
                "/admin/troubleshoot",
                Some(search),
                vec![s],
            );
        };
        let r = a
            .graph(
                Method::GET,
                &format!(
                    "/v1.0/auditLogs/signIns?$top=10&$filter={}",
                    q(&format!("correlationId eq '{g}'"))
                ),
                None,
            )
            .await;
        if !r.ok() {
            sections.push(refused("result", "No diagnosis", &r));
        } else if items(&r.body).is_empty() {
            let mut s = Section::new("result", "No sign-in with that correlation ID");
            s.note = Some("The sign-in log has no record with it yet (records are written within a second), or it belongs to another tenant.".into());
            sections.push(s);
        }
        for (i, x) in items(&r.body).iter().enumerate() {
            sections.push(diagnosis_section(&format!("result-{i}"), x));
        }
    }
    let csrf = a.session.csrf.clone();
    sections.push(super::troubleshoot::forms(&csrf, None));
    page(
        &mut a,
        "Troubleshooter",
        "/admin/troubleshoot",
        Some(search),
        sections,
    )
}

// ---------------------------------------------------------------- Logs

pub(super) async fn sign_in_section(a: &mut Admin, id: &str, title: &str, filter: &str) -> Section {
    let r = a
        .graph(
            Method::GET,
            &format!("/v1.0/auditLogs/signIns?$top=10&$filter={}", q(filter)),
            None,
        )
        .await;
    if !r.ok() {
        return refused(id, title, &r);
    }
    let mut sec = Section::new(id, title);
    sec.table = Some(sign_in_table(&format!("{id}-table"), &r.body));
    sec
}

fn sign_in_table(id: &str, body: &Value) -> Table {
    let mut t = Table::new(
        id,
        "Sign-ins",
        &[
            "Time",
            "User",
            "Application",
            "Result",
            "Conditional Access",
        ],
        "No sign-ins.",
    );
    for x in items(body) {
        let code = x["status"]["errorCode"].as_i64().unwrap_or(0);
        t.rows.push(vec![
            Cell::link(
                st(x, "createdDateTime"),
                format!("/admin/sign-ins/{}", st(x, "id")),
            ),
            Cell::text(st(x, "userPrincipalName")),
            Cell::text(st(x, "appDisplayName")),
            Cell::text(if code == 0 {
                "Success".to_string()
            } else {
                format!("Failure AADSTS{code}")
            }),
            Cell::text(st(x, "conditionalAccessStatus")),
        ]);
    }
    t
}

/// The `$filter` of the sign-in log blade from its form (every value quoted as a literal).
pub fn sign_in_filter(p: &HashMap<String, String>) -> Option<String> {
    let mut f = Vec::new();
    match p.get("status").map(String::as_str) {
        Some("success") => f.push("status/errorCode eq 0".to_string()),
        Some("failure") => f.push("status/errorCode ne 0".to_string()),
        _ => {}
    }
    if let Some(c) = p.get("code").and_then(|c| c.trim().parse::<i64>().ok()) {
        f.push(format!("status/errorCode eq {c}"));
    }
    let user = p.get("user").map(|u| u.trim()).unwrap_or("");
    if !user.is_empty() {
        f.push(format!(
            "startswith(userPrincipalName,{})",
            odata_string(&user.chars().take(MAX_SEARCH).collect::<String>())
        ));
    }
    let cid = p.get("correlationId").map(|u| u.trim()).unwrap_or("");
    if let Some(g) = guid(cid) {
        f.push(format!("correlationId eq '{g}'"));
    }
    if let Some(g) = p.get("appId").and_then(|x| guid(x.trim())) {
        f.push(format!("appId eq '{g}'"));
    }
    (!f.is_empty()).then(|| f.join(" and "))
}

async fn sign_ins(State(s): State<AppState>, ctx: Ctx, Query(p): Q) -> Response {
    let mut a = admin!(s, ctx);
    let path = format!(
        "/v1.0/auditLogs/signIns?{}",
        list_query(sign_in_filter(&p), p.get("next"), "")
    );
    let r = a.graph(Method::GET, &path, None).await;
    if !r.ok() {
        return a.api_error("Sign-in logs", &r, "/admin");
    }
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let mut sec = Section::new("sign-ins", "Sign-ins");
    sec.table = Some(sign_in_table("sign-ins-table", &r.body));
    let (status, user, code, cid, app) = (
        get("status"),
        get("user"),
        get("code"),
        get("correlationId"),
        get("appId"),
    );
    sec.next = next_link(
        "/admin/sign-ins",
        &[
            ("status", &status),
            ("user", &user),
            ("code", &code),
            ("correlationId", &cid),
            ("appId", &app),
        ],
        &r.body,
    );
    let search = Form::get(
        "/admin/sign-ins",
        "Apply filters",
        vec![
            Field::new("select", "status", "Result")
                .value(status.clone())
                .options(vec![
                    (String::new(), "Any".into()),
                    ("success".into(), "Success".into()),
                    ("failure".into(), "Failure".into()),
                ]),
            Field::new("search", "user", "User (UPN starts with)").value(user.clone()),
            Field::new("search", "code", "Error code").value(code.clone()),
            Field::new("search", "correlationId", "Correlation ID").value(cid.clone()),
            Field::new("search", "appId", "Application ID").value(app.clone()),
        ],
    );
    page(
        &mut a,
        "Sign-in logs",
        "/admin/sign-ins",
        Some(search),
        vec![sec],
    )
}

async fn sign_in(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let mut a = admin!(s, ctx);
    let id = id_or_404!(id);
    let r = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/auditLogs/signIns?$filter={}",
                q(&format!("id eq '{id}'"))
            ),
            None,
        )
        .await;
    let Some(x) = items(&r.body).first().cloned() else {
        return a.api_error("Sign-in", &r, "/admin/sign-ins");
    };
    let mut basic = Section::new("basic", "Basic info");
    for (k, label) in [
        ("createdDateTime", "Date"),
        ("id", "Request ID"),
        ("correlationId", "Correlation ID"),
        ("userPrincipalName", "User"),
        ("appDisplayName", "Application"),
        ("appId", "Application ID"),
        ("resourceDisplayName", "Resource"),
        ("ipAddress", "IP address"),
        ("clientAppUsed", "Client app"),
        ("conditionalAccessStatus", "Conditional Access"),
        ("authenticationRequirement", "Authentication requirement"),
    ] {
        basic.props.push((label.into(), st(&x, k)));
    }
    let code = x["status"]["errorCode"].as_i64().unwrap_or(0);
    basic.props.push((
        "Status".into(),
        if code == 0 {
            "Success".into()
        } else {
            format!("Failure (AADSTS{code})")
        },
    ));
    basic
        .props
        .push(("Failure reason".into(), st(&x["status"], "failureReason")));
    let mut ca = Section::new("ca", "Conditional Access");
    let mut t = Table::new(
        "applied",
        "Applied policies",
        &["Policy", "Result", "Controls"],
        "No policy applied.",
    );
    for p in x["appliedConditionalAccessPolicies"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let controls = p["enforcedGrantControls"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        t.rows.push(vec![
            Cell::text(st(p, "displayName")),
            Cell::text(st(p, "result")),
            Cell::text(controls),
        ]);
    }
    ca.table = Some(t);
    let why = diagnosis_section("diagnosis", &x);
    page(
        &mut a,
        "Sign-in details",
        "/admin/sign-ins",
        None,
        vec![why, basic, ca],
    )
}

async fn audits(State(s): State<AppState>, ctx: Ctx, Query(p): Q) -> Response {
    let mut a = admin!(s, ctx);
    let category = p
        .get("category")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    let filter = (!category.is_empty() && category.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| format!("category eq {}", odata_string(&category)));
    let path = format!(
        "/v1.0/auditLogs/directoryAudits?{}",
        list_query(filter, p.get("next"), "$orderby=activityDateTime%20desc")
    );
    let r = a.graph(Method::GET, &path, None).await;
    if !r.ok() {
        return a.api_error("Audit logs", &r, "/admin");
    }
    let mut t = Table::new(
        "audit-table",
        "Audit records",
        &["Date", "Category", "Activity", "Initiated by", "Target"],
        "No audit records match.",
    );
    for x in items(&r.body) {
        let by = x["initiatedBy"]["user"]["userPrincipalName"]
            .as_str()
            .or_else(|| x["initiatedBy"]["app"]["displayName"].as_str())
            .unwrap_or("")
            .to_string();
        let target = x["targetResources"][0]["displayName"]
            .as_str()
            .or_else(|| x["targetResources"][0]["userPrincipalName"].as_str())
            .unwrap_or("")
            .to_string();
        t.rows.push(vec![
            Cell::link(
                st(x, "activityDateTime"),
                format!("/admin/audit/{}", st(x, "id")),
            ),
            Cell::text(st(x, "category")),
            Cell::text(st(x, "activityDisplayName")),
            Cell::text(by),
            Cell::text(target),
        ]);
    }
    let mut sec = Section::new("audits", "Audit records");
    sec.table = Some(t);
    sec.next = next_link("/admin/audit", &[("category", &category)], &r.body);
    let search = Form::get(
        "/admin/audit",
        "Apply filter",
        vec![Field::new("select", "category", "Category")
            .value(category.clone())
            .options(
                [
                    "",
                    "UserManagement",
                    "GroupManagement",
                    "ApplicationManagement",
                    "RoleManagement",
                    "Policy",
                    "DirectoryManagement",
                    "AzureRBAC",
                    "Device",
                    "UserAuthenticationMethod",
                ]
                .iter()
                .map(|c| {
                    (
                        (*c).to_string(),
                        if c.is_empty() {
                            "Any".to_string()
                        } else {
                            (*c).to_string()
                        },
                    )
                })
                .collect(),
            )],
    );
    page(
        &mut a,
        "Audit logs",
        "/admin/audit",
        Some(search),
        vec![sec],
    )
}

async fn audit(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let mut a = admin!(s, ctx);
    let id = id_or_404!(id);
    let r = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/auditLogs/directoryAudits?$filter={}",
                q(&format!("id eq '{id}'"))
            ),
            None,
        )
        .await;
    let Some(x) = items(&r.body).first().cloned() else {
        return a.api_error("Audit record", &r, "/admin/audit");
    };
    let mut basic = Section::new("activity", "Activity");
    for (k, label) in [
        ("activityDateTime", "Date"),
        ("id", "Record ID"),
        ("correlationId", "Correlation ID"),
        ("category", "Category"),
        ("activityDisplayName", "Activity"),
        ("operationType", "Operation"),
        ("result", "Result"),
    ] {
        basic.props.push((label.into(), st(&x, k)));
    }
    let by = x["initiatedBy"]["user"]["userPrincipalName"]
        .as_str()
        .or_else(|| x["initiatedBy"]["app"]["displayName"].as_str())
        .unwrap_or("")
        .to_string();
    basic.props.push(("Initiated by".into(), by));
    let mut tg = Section::new("targets", "Targets");
    let mut t = Table::new(
        "targets-table",
        "Targets and modified properties",
        &["Target", "Type", "Property", "Old", "New"],
        "No targets.",
    );
    for r in x["targetResources"].as_array().into_iter().flatten() {
        let name = st(r, "displayName");
        let kind = st(r, "type");
        let props = r["modifiedProperties"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if props.is_empty() {
            t.rows.push(vec![
                Cell::text(name.clone()),
                Cell::text(kind.clone()),
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
            ]);
        }
        for p in props {
            t.rows.push(vec![
                Cell::text(name.clone()),
                Cell::text(kind.clone()),
                Cell::text(st(&p, "displayName")),
                Cell::text(st(&p, "oldValue")),
                Cell::text(st(&p, "newValue")),
            ]);
        }
    }
    tg.table = Some(t);
    page(
        &mut a,
        "Audit record",
        "/admin/audit",
        None,
        vec![basic, tg],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_filters_are_literals() {
        let mut p = HashMap::new();
        assert_eq!(sign_in_filter(&p), None);
        p.insert("status".to_string(), "failure".to_string());
        p.insert("user".to_string(), "x') or (1 eq 1".to_string());
        p.insert("code".to_string(), "50126".to_string());
        p.insert("correlationId".to_string(), "not-a-guid".to_string());
        assert_eq!(
            sign_in_filter(&p).as_deref(),
            Some("status/errorCode ne 0 and status/errorCode eq 50126 and startswith(userPrincipalName,'x'') or (1 eq 1')")
        );
        // An application id filters only when it is a GUID.
        let mut p = HashMap::new();
        p.insert("appId".to_string(), "x' or 1 eq 1".to_string());
        assert_eq!(sign_in_filter(&p), None);
        p.insert(
            "appId".to_string(),
            "00000003-0000-0000-C000-000000000000".to_string(),
        );
        assert_eq!(
            sign_in_filter(&p).as_deref(),
            Some("appId eq '00000003-0000-0000-c000-000000000000'")
        );
    }

    #[test]
    fn list_queries_page_with_the_skiptoken() {
        assert_eq!(list_query(None, None, ""), "$top=25");
        assert_eq!(
            list_query(
                Some("a eq 'b c'".into()),
                Some(&"t=".to_string()),
                "$select=id"
            ),
            "$top=25&$filter=a+eq+%27b+c%27&$skiptoken=t%3D&$select=id"
        );
    }
}
