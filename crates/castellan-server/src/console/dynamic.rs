//! Dynamic groups in the console: create a dynamic group and edit a group's membership rule
//! with a rule editor that validates and previews before anything is saved. "Validate and
//! preview" is a plain submit button (no script): the page comes back with Graph's parse
//! error (its message names the position; the rule is shown with a caret under it) or, for an
//! existing group, who would join and who would leave (`POST /groups/{id}/previewDynamicMembership`,
//! a dry run), and for any rule whether a test user would match
//! (`POST /groups[/{id}]/evaluateDynamicMembership`). The input is always kept. Saving is
//! `POST /groups` or `PATCH /groups/{id}`; Graph decides who may (a Groups or User
//! Administrator, or an owner), and refuses with its own message otherwise.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::api::Answer;
use super::blades::{field, resolve_principal, st};
use super::kit::{guid_or_404, signed_in, signed_post, strings};
use super::view::{render, Cell, Form, Layout, Section, Table};
use super::{Admin, Ctx, FormMap};
use crate::state::AppState;

/// The longest rule the editor sends (Graph bounds it again).
pub const MAX_RULE: usize = 3072;
/// Joiners or leavers listed by name (the rest are counted).
pub const MAX_LISTED: usize = 50;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/dynamic-groups/new",
            get(new_group).post(post_new_group),
        )
        .route("/admin/groups/{id}/rule", get(edit_rule).post(post_rule))
}

/// A preview's outcome.
pub struct Preview {
    /// Heading.
    pub title: String,
    /// One sentence.
    pub summary: String,
    /// Joiners and leavers, or the test user's evaluation.
    pub tables: Vec<Table>,
}

/// The rule editor page.
#[derive(Template)]
#[template(path = "console/rule_editor.html")]
pub struct RuleEditor {
    /// Layout.
    pub l: Layout,
    /// Where the form posts.
    pub action: String,
    /// CSRF token.
    pub csrf: String,
    /// A new group (name and description asked for).
    pub creating: bool,
    /// Group name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The rule as typed.
    pub rule: String,
    /// `On` or `Paused`.
    pub state: String,
    /// The test user as typed.
    pub member: String,
    /// Graph's refusal.
    pub error: Option<String>,
    /// The rule's line holding the error and a caret line under it.
    pub excerpt: Option<(String, String)>,
    /// A successful preview.
    pub result: Option<Preview>,
    /// Whether the Save button is offered.
    pub may_save: bool,
    /// Save button text.
    pub save_text: String,
    /// Why it is not.
    pub not_yours: String,
    /// Back link.
    pub back: String,
    /// Back link text.
    pub back_text: String,
    /// Asked for by the page's script as you type (`X-Castellan-Live: 1`).
    pub live: bool,
}

/// The 1-based position a Graph rule error names ("... at position 34 ..."), if any.
pub fn error_position(message: &str) -> Option<usize> {
    let i = message.find("position ")? + "position ".len();
    let digits: String = message[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|p| *p > 0)
}

/// The line of `rule` holding 1-based character `position`, and a caret line pointing at it
/// (positions past the end point just after the last character).
pub fn excerpt(rule: &str, position: usize) -> Option<(String, String)> {
    if rule.is_empty() {
        return None;
    }
    let chars: Vec<char> = rule.chars().collect();
    let at = position.saturating_sub(1).min(chars.len());
    let start = chars[..at]
        .iter()
        .rposition(|c| *c == '\n')
        .map_or(0, |i| i + 1);
    let end = chars[at..]
        .iter()
        .position(|c| *c == '\n')
        .map_or(chars.len(), |i| at + i);
    let line: String = chars[start..end].iter().collect();
    let caret = format!("{}^", " ".repeat(at - start));
    Some((line, caret))
}

/// The form as typed, trimmed and bounded.
struct Input {
    name: String,
    description: String,
    rule: String,
    state: String,
    member: String,
    save: bool,
}

fn input(f: &HashMap<String, String>) -> Input {
    let state = if field(f, "membershipRuleProcessingState") == "Paused" {
        "Paused"
    } else {
        "On"
    };
    Input {
        name: field(f, "displayName"),
        description: field(f, "description"),
        rule: f
            .get("membershipRule")
            .map(|r| r.trim().replace("\r\n", "\n"))
            .unwrap_or_default(),
        state: state.into(),
        member: field(f, "member"),
        save: field(f, "intent") == "save",
    }
}

fn editor(a: &mut Admin, title: &str, group: Option<&str>, i: &Input) -> RuleEditor {
    let (action, back, back_text, save_text) = match group {
        Some(id) => (
            format!("/admin/groups/{id}/rule"),
            format!("/admin/groups/{id}"),
            "Back to the group",
            "Save rule",
        ),
        None => (
            "/admin/dynamic-groups/new".into(),
            "/admin/groups".into(),
            "All groups",
            "Create dynamic group",
        ),
    };
    RuleEditor {
        l: a.layout(title, "/admin/groups"),
        action,
        csrf: a.session.csrf.clone(),
        creating: group.is_none(),
        name: i.name.clone(),
        description: i.description.clone(),
        rule: i.rule.clone(),
        state: i.state.clone(),
        member: i.member.clone(),
        error: None,
        excerpt: None,
        result: None,
        // Graph decides: the tenant may let members create groups, and owners edit theirs.
        may_save: true,
        save_text: save_text.into(),
        not_yours: String::new(),
        back,
        back_text: back_text.into(),
        live: false,
    }
}

/// Renders the editor with the script-allowing CSP (the page works without the script).
fn show(status: StatusCode, e: &RuleEditor) -> Response {
    let mut r = render(status, e);
    r.headers_mut().insert(
        "content-security-policy",
        axum::http::HeaderValue::from_static(super::CSP_WITH_SCRIPT),
    );
    r
}

fn is_live(h: &HeaderMap) -> bool {
    h.get("x-castellan-live")
        .is_some_and(|v| v.as_bytes() == b"1")
}

/// The status of a live (as-you-type) preview: always 200, so a browser logs no failed request
/// for a rule that is still being typed; the outcome is in the page either way.
fn live_status(live: bool, status: StatusCode) -> StatusCode {
    if live {
        StatusCode::OK
    } else {
        status
    }
}

fn with_error(mut e: RuleEditor, a: &Answer) -> Response {
    let m = a.message();
    e.excerpt = error_position(&m).and_then(|p| excerpt(&e.rule, p));
    e.error = Some(m);
    let status = if a.status.is_client_error() || a.status.is_server_error() {
        a.status
    } else {
        StatusCode::BAD_GATEWAY
    };
    show(live_status(e.live, status), &e)
}

/// `GET /admin/dynamic-groups/new`.
async fn new_group(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = signed_in!(s, ctx);
    let i = Input {
        name: String::new(),
        description: String::new(),
        rule: String::new(),
        state: "On".into(),
        member: String::new(),
        save: false,
    };
    let e = editor(&mut a, "New dynamic group", None, &i);
    show(StatusCode::OK, &e)
}

/// `GET /admin/groups/{id}/rule`.
async fn edit_rule(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let mut a = signed_in!(s, ctx);
    let id = guid_or_404!(id);
    let g = a
        .graph(Method::GET, &format!("/v1.0/groups/{id}"), None)
        .await;
    if !g.ok() {
        return a.api_error("Membership rule", &g, "/admin/groups");
    }
    let state = st(&g.body, "membershipRuleProcessingState");
    let i = Input {
        name: st(&g.body, "displayName"),
        description: String::new(),
        rule: st(&g.body, "membershipRule"),
        state: if state.is_empty() { "On".into() } else { state },
        member: String::new(),
        save: false,
    };
    let mut e = editor(
        &mut a,
        &format!("Membership rule: {}", i.name),
        Some(&id),
        &i,
    );
    if !is_dynamic(&g.body) {
        e.error = Some("This is an assigned group: its members are added by hand, so it has no membership rule to edit. Create a dynamic group instead.".into());
        e.may_save = false;
        e.not_yours = "Only a dynamic group's rule can be edited.".into();
    }
    show(StatusCode::OK, &e)
}

/// A button (a GET form) to a page.
fn link_form(id: &str, action: String, title: &str, submit: &str) -> Form {
    Form {
        id: id.into(),
        action,
        method: "get".into(),
        title: title.into(),
        hint: None,
        submit: submit.into(),
        fields: vec![],
        danger: false,
        csrf: String::new(),
    }
}

/// The Groups blade's way to the new dynamic group editor.
pub fn new_group_link() -> Form {
    link_form(
        "new-dynamic-group",
        "/admin/dynamic-groups/new".into(),
        "Create dynamic group",
        "New dynamic group",
    )
    .hint("Members follow a rule over user properties; the editor previews who would join.")
}

/// The group blade's membership section: the rule and the way to its editor.
pub fn rule_section(id: &str, g: &Value) -> Section {
    let mut s = Section::new("membership", "Membership");
    if is_dynamic(g) {
        s.props.push(("Membership type".into(), "Dynamic".into()));
        s.props
            .push(("Membership rule".into(), st(g, "membershipRule")));
        s.props
            .push(("Processing".into(), st(g, "membershipRuleProcessingState")));
        s.forms.push(link_form(
            "edit-rule",
            format!("/admin/groups/{id}/rule"),
            "Membership rule",
            "Edit rule",
        ));
    } else {
        s.props.push(("Membership type".into(), "Assigned".into()));
    }
    s
}

fn is_dynamic(g: &Value) -> bool {
    strings(&g["groupTypes"])
        .iter()
        .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
}

/// Checks the rule's size before any call (Graph bounds it again).
fn too_long(i: &Input) -> Option<Answer> {
    if i.rule.is_empty() {
        return Some(bad(
            "Enter a membership rule, for example user.department -eq \"Sales\".",
        ));
    }
    (i.rule.chars().count() > MAX_RULE).then(|| {
        bad(&format!(
            "The rule is longer than {MAX_RULE} characters, the most a membership rule may be."
        ))
    })
}

fn bad(m: &str) -> Answer {
    Answer {
        status: StatusCode::BAD_REQUEST,
        body: json!({"error": {"code": "Request_BadRequest", "message": m}}),
    }
}

/// A label and console link for each object id (at most [`MAX_LISTED`] read).
async fn named(a: &mut Admin, ids: &[String], id: &str, caption: &str, empty: &str) -> Table {
    let mut t = Table::new(id, caption, &["Name", "User principal name"], empty);
    for oid in ids.iter().take(MAX_LISTED) {
        let o = a
            .graph(Method::GET, &format!("/v1.0/directoryObjects/{oid}"), None)
            .await;
        let (name, upn) = if o.ok() {
            (st(&o.body, "displayName"), st(&o.body, "userPrincipalName"))
        } else {
            (oid.clone(), String::new())
        };
        let kind = st(&o.body, "@odata.type");
        let href = if kind.ends_with("user") {
            Some(format!("/admin/users/{oid}"))
        } else {
            None
        };
        t.rows
            .push(vec![Cell { text: name, href }, Cell::text(upn)]);
    }
    if ids.len() > MAX_LISTED {
        t.caption = format!("{caption} (first {MAX_LISTED} of {})", ids.len());
    }
    t
}

/// Validates the rule through Graph and builds the preview (joiners and leavers for an
/// existing group, the test user's evaluation when one is named).
async fn preview(a: &mut Admin, group: Option<&str>, i: &Input) -> Result<Preview, Answer> {
    if let Some(e) = too_long(i) {
        return Err(e);
    }
    let mut tables = Vec::new();
    let mut summary = Vec::new();
    if let Some(id) = group {
        let p = a
            .graph(
                Method::POST,
                &format!("/v1.0/groups/{id}/previewDynamicMembership"),
                Some(json!({"membershipRule": i.rule})),
            )
            .await;
        if !p.ok() {
            return Err(p);
        }
        let joins = strings(&p.body["joins"]);
        let leaves = strings(&p.body["leaves"]);
        summary.push(format!(
            "The rule is valid. Saving it would add {} and remove {} member{}.",
            joins.len(),
            leaves.len(),
            if leaves.len() == 1 { "" } else { "s" }
        ));
        tables.push(named(a, &joins, "joiners", "Would join", "Nobody would join.").await);
        tables.push(named(a, &leaves, "leavers", "Would leave", "Nobody would leave.").await);
    }
    // The test user: the named one, else the signed-in administrator.
    let who = if i.member.is_empty() {
        a.session.oid.clone()
    } else {
        resolve_principal(a, &i.member).await?
    };
    let path = group.map_or_else(
        || "/v1.0/groups/evaluateDynamicMembership".to_string(),
        |id| format!("/v1.0/groups/{id}/evaluateDynamicMembership"),
    );
    let x = a
        .graph(
            Method::POST,
            &path,
            Some(json!({"memberId": who, "membershipRule": i.rule})),
        )
        .await;
    if !x.ok() {
        return Err(x);
    }
    let label = if i.member.is_empty() {
        "you".to_string()
    } else {
        i.member.clone()
    };
    let matched = x.body["membershipRuleEvaluationResult"] == true;
    if group.is_none() {
        summary.push("The rule is valid.".into());
    }
    let subject = if i.member.is_empty() {
        "You"
    } else {
        label.as_str()
    };
    summary.push(format!(
        "{subject} {} match this rule.",
        if matched { "would" } else { "would not" }
    ));
    let mut t = Table::new(
        "evaluation",
        &format!("How the rule evaluates for {label}"),
        &["Expression", "Value found", "Result"],
        "No expressions.",
    );
    evaluation_rows(&x.body["membershipRuleEvaluationDetails"], &mut t, 0);
    tables.push(t);
    Ok(Preview {
        title: "Preview".into(),
        summary: summary.join(" "),
        tables,
    })
}

/// One row per expression of Graph's evaluation details (depth-first, bounded).
fn evaluation_rows(d: &Value, t: &mut Table, depth: usize) {
    if depth > 8 || t.rows.len() >= 100 || d.is_null() {
        return;
    }
    let p = &d["propertyToEvaluate"];
    let found = if p.is_null() {
        String::new()
    } else {
        format!("{} = {}", st(p, "propertyName"), st(p, "propertyValue"))
    };
    t.rows.push(vec![
        Cell::text(format!("{}{}", "· ".repeat(depth), st(d, "expression"))),
        Cell::text(found),
        Cell::text(if d["expressionResult"] == true {
            "true"
        } else {
            "false"
        }),
    ]);
    for c in d["expressionEvaluationDetails"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
    {
        evaluation_rows(c, t, depth + 1);
    }
}

/// A mail nickname from a display name (letters and digits).
fn nickname(name: &str) -> String {
    let n: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(60)
        .collect();
    if n.is_empty() {
        "group".into()
    } else {
        n
    }
}

/// `POST /admin/dynamic-groups/new`: preview, or create the group.
async fn post_new_group(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let i = input(&f);
    if !i.save {
        let r = preview(&mut a, None, &i).await;
        let mut e = editor(&mut a, "New dynamic group", None, &i);
        e.live = is_live(&headers);
        return match r {
            Ok(p) => {
                e.result = Some(p);
                show(StatusCode::OK, &e)
            }
            Err(x) => with_error(e, &x),
        };
    }
    if let Some(x) = too_long(&i) {
        let e = editor(&mut a, "New dynamic group", None, &i);
        return with_error(e, &x);
    }
    let body = json!({
        "displayName": i.name,
        "description": if i.description.is_empty() { Value::Null } else { Value::String(i.description.clone()) },
        "mailEnabled": false,
        "mailNickname": nickname(&i.name),
        "securityEnabled": true,
        "groupTypes": ["DynamicMembership"],
        "membershipRule": i.rule,
        "membershipRuleProcessingState": i.state,
    });
    let r = a.graph(Method::POST, "/v1.0/groups", Some(body)).await;
    if r.ok() {
        a.flash(format!("Dynamic group {} created.", i.name));
        return Redirect::to(&format!("/admin/groups/{}", st(&r.body, "id"))).into_response();
    }
    let e = editor(&mut a, "New dynamic group", None, &i);
    with_error(e, &r)
}

/// `POST /admin/groups/{id}/rule`: preview, or save the rule.
async fn post_rule(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let mut i = input(&f);
    let g = a
        .graph(Method::GET, &format!("/v1.0/groups/{id}"), None)
        .await;
    if !g.ok() {
        return a.api_error("Membership rule", &g, "/admin/groups");
    }
    i.name = st(&g.body, "displayName");
    let title = format!("Membership rule: {}", i.name);
    if !i.save {
        let r = preview(&mut a, Some(&id), &i).await;
        let mut e = editor(&mut a, &title, Some(&id), &i);
        e.live = is_live(&headers);
        return match r {
            Ok(p) => {
                e.result = Some(p);
                show(StatusCode::OK, &e)
            }
            Err(x) => with_error(e, &x),
        };
    }
    if let Some(x) = too_long(&i) {
        let e = editor(&mut a, &title, Some(&id), &i);
        return with_error(e, &x);
    }
    let r = a
        .graph(
            Method::PATCH,
            &format!("/v1.0/groups/{id}"),
            Some(json!({"membershipRule": i.rule, "membershipRuleProcessingState": i.state})),
        )
        .await;
    if r.ok() {
        a.flash("Membership rule saved.");
        return Redirect::to(&format!("/admin/groups/{id}")).into_response();
    }
    let e = editor(&mut a, &title, Some(&id), &i);
    with_error(e, &r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_position_is_read_from_graphs_message() {
        assert_eq!(
            error_position("Unknown property 'user.shoeSize' at position 34."),
            Some(34)
        );
        assert_eq!(error_position("position 0"), None);
        assert_eq!(error_position("no position given"), None);
        assert_eq!(error_position("nothing"), None);
    }

    #[test]
    fn the_caret_points_at_the_position_on_its_line() {
        let (line, caret) = excerpt("user.a -eq \"x\"\nand user.b -eq 1", 20).unwrap();
        assert_eq!(line, "and user.b -eq 1");
        assert_eq!(caret, "    ^");
        let (line, caret) = excerpt("abc", 1).unwrap();
        assert_eq!((line.as_str(), caret.as_str()), ("abc", "^"));
        // Past the end: just after the last character, never a panic.
        let (_, caret) = excerpt("abc", 99).unwrap();
        assert_eq!(caret, "   ^");
        assert!(excerpt("", 3).is_none());
        // Multi-byte characters count as one.
        let (_, caret) = excerpt("ü ü x", 5).unwrap();
        assert_eq!(caret, "    ^");
    }

    #[test]
    fn nicknames_are_letters_and_digits() {
        assert_eq!(nickname("Sales – EMEA 2"), "SalesEMEA2");
        assert_eq!(nickname("––"), "group");
    }

    #[test]
    fn only_save_saves_and_paused_is_the_only_other_state() {
        let f: HashMap<String, String> = [
            ("intent", "preview"),
            ("membershipRule", " user.city -eq \"Oslo\"\r\n"),
            ("membershipRuleProcessingState", "Off"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        let i = input(&f);
        assert!(!i.save);
        assert_eq!(i.state, "On");
        assert_eq!(i.rule, "user.city -eq \"Oslo\"");
    }
}
