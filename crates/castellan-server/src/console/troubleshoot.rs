//! The troubleshooter's other two questions in the console (`/admin/troubleshoot`): a pasted
//! token (`POST /admin/troubleshoot/token`) and "may this principal do this action here"
//! (`POST /admin/troubleshoot/access`), both answered by `POST /v1.0/auditLogs/troubleshoot`
//! with the administrator's token, so the console shows what the API and `castellan
//! troubleshoot` say. The pasted token is never echoed back into the page.

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::blades::{page, st};
use super::view::{Cell, Field, Form, Section, Table};
use super::{Admin, Ctx, FormMap};
use crate::state::AppState;

const BLADE: &str = "/admin/troubleshoot";

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/troubleshoot/token", post(token))
        .route("/admin/troubleshoot/access", post(access))
}

/// The two forms, with the previous answers' values (never the token).
pub(super) fn forms(csrf: &str, f: Option<&std::collections::HashMap<String, String>>) -> Section {
    let v = |k: &str| f.and_then(|m| m.get(k)).cloned().unwrap_or_default();
    let mut sec = Section::new("questions", "Check a token or an access");
    sec.forms.push(
        Form::post("token-form", format!("{BLADE}/token"), "Check a token", "Check token", csrf)
            .hint("Paste an access or ID token: its signature, tenant, issuer, expiry, audience and version are checked, and, when you name the API it was sent to, whether it carries the permission the call needs.")
            .fields(vec![
                Field::new("password", "token", "Token (JWT)").required(),
                Field::new("text", "resource", "API it was sent to: graph, arm, or an appId / identifier URI (optional)").value(v("resource")),
                Field::new("text", "permission", "Scope or app role the call needs (optional)").value(v("permission")),
            ]),
    );
    sec.forms.push(
        Form::post("access-form", format!("{BLADE}/access"), "Check an access", "Check access", csrf)
            .hint("Whether a user, group or service principal may do an action: microsoft.directory/… actions are the directory's (directory roles), any other is Azure RBAC's at the scope. A role of the other plane is named as the mistake it is.")
            .fields(vec![
                Field::new("text", "principal", "User principal name or object ID").value(v("principal")).required(),
                Field::new("text", "action", "Action (e.g. Microsoft.Compute/virtualMachines/write or microsoft.directory/users/create)").value(v("action")).required(),
                Field::new("text", "scope", "Azure scope (for Azure actions, e.g. /subscriptions/<id>)").value(v("scope")),
            ]),
    );
    sec
}

/// The answer's findings as sections.
fn findings(body: &Value) -> Vec<Section> {
    body["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut s = Section::new(
                &format!("finding-{i}"),
                &format!("Troubleshooter: {}", st(f, "title")),
            );
            s.note = Some(st(f, "fix"));
            s.props = vec![
                ("Family".into(), st(f, "family")),
                ("Evidence".into(), st(f, "evidence")),
            ];
            if let Some(b) = f["consoleBlade"].as_str() {
                let mut t = Table::new(
                    &format!("finding-{i}-fix"),
                    "Where to fix it",
                    &["What", "Where"],
                    "",
                );
                t.rows.push(vec![
                    Cell::text("The setting that fixes it"),
                    Cell::link(b, b.to_string()),
                ]);
                s.table = Some(t);
            }
            s
        })
        .collect()
}

async fn answer(
    a: &mut Admin,
    body: Value,
    f: &std::collections::HashMap<String, String>,
) -> Response {
    let r = a
        .graph(Method::POST, "/v1.0/auditLogs/troubleshoot", Some(body))
        .await;
    let mut sections = Vec::new();
    if r.ok() {
        sections.extend(findings(&r.body));
        if let Some(c) = r.body["claims"].as_object() {
            let mut s = Section::new("claims", "Decoded claims");
            s.props = c
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect();
            sections.push(s);
        }
    } else {
        let mut s = Section::new("finding-0", "No diagnosis");
        s.note = Some(r.message());
        sections.push(s);
    }
    let csrf = a.session.csrf.clone();
    sections.push(forms(&csrf, Some(f)));
    page(a, "Troubleshooter", BLADE, None, sections)
}

async fn token(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = super::kit::signed_post!(s, ctx, f);
    let get = |k: &str| {
        f.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut body = json!({"token": get("token").unwrap_or_default()});
    if let Some(r) = get("resource") {
        body["resource"] = json!(r);
    }
    if let Some(p) = get("permission") {
        body["permission"] = json!(p);
    }
    answer(&mut a, body, &f).await
}

async fn access(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = super::kit::signed_post!(s, ctx, f);
    let get = |k: &str| {
        f.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let who = get("principal").unwrap_or_default();
    // A user principal name is looked up, an id used as is; an empty one is Graph's to refuse.
    let principal = if who.is_empty() {
        who
    } else {
        match super::kit::principal_id(&mut a, &who).await {
            Ok(p) => p,
            Err(m) => {
                let mut s = Section::new("finding-0", "No diagnosis");
                s.note = Some(m);
                let csrf = a.session.csrf.clone();
                return page(
                    &mut a,
                    "Troubleshooter",
                    BLADE,
                    None,
                    vec![s, forms(&csrf, Some(&f))],
                );
            }
        }
    };
    let mut body = json!({"principalId": principal, "action": get("action").unwrap_or_default()});
    if let Some(sc) = get("scope") {
        body["scope"] = json!(sc);
    }
    answer(&mut a, body, &f).await
}
