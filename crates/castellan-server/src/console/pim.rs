//! Privileged Identity Management in the console: on a role's blade the eligible and the
//! active (time-bound) assignments and a form making someone eligible (`adminAssign` on
//! `roleEligibilityScheduleRequests`); "My roles" (`/admin/my-roles`): the signed-in
//! administrator's own eligible roles with a self-activation form (`selfActivate` on
//! `roleAssignmentScheduleRequests`, justification and duration). Whether a role's policy
//! wants MFA on activation is read from its `Enablement_EndUser_Assignment` rule and set
//! against the console token's `amr`, so the page says why an activation will be refused
//! before it is. Graph (`core::ops::pim`) decides every request.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::api::{q, Answer};
use super::blades::{field, items, page, refused, resolve_principal, st};
use super::kit::{guid_or_404, signed_in, signed_post, strings};
use super::view::{Cell, Field, Form, Section, Table};
use super::{Admin, Ctx, FormMap};
use crate::state::AppState;

const BASE: &str = "/v1.0/roleManagement/directory";

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/roles/{id}/eligible", post(make_eligible))
        .route("/admin/my-roles", get(my_roles))
        .route("/admin/my-roles/activate", post(activate))
}

/// Eligibility durations offered: (ISO 8601 duration or `permanent`, label).
pub const ELIGIBILITY: &[(&str, &str)] = &[
    ("P30D", "30 days"),
    ("P90D", "90 days"),
    ("P180D", "180 days"),
    ("P365D", "1 year"),
    ("permanent", "Permanently eligible"),
];

/// Activation durations offered.
pub const ACTIVATION: &[(&str, &str)] = &[
    ("PT1H", "1 hour"),
    ("PT2H", "2 hours"),
    ("PT4H", "4 hours"),
    ("PT8H", "8 hours"),
];

fn options(o: &[(&str, &str)]) -> Vec<(String, String)> {
    o.iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// A principal's label (`name (upn)`) and console link, read once per page.
async fn principal(
    a: &mut Admin,
    cache: &mut HashMap<String, (String, Option<String>)>,
    pid: &str,
) -> (String, Option<String>) {
    if let Some(v) = cache.get(pid) {
        return v.clone();
    }
    let o = a
        .graph(Method::GET, &format!("/v1.0/directoryObjects/{pid}"), None)
        .await;
    let v = if o.ok() {
        let kind = st(&o.body, "@odata.type");
        let upn = st(&o.body, "userPrincipalName");
        let label = if upn.is_empty() {
            st(&o.body, "displayName")
        } else {
            format!("{} ({upn})", st(&o.body, "displayName"))
        };
        let href = if kind.ends_with("user") {
            Some(format!("/admin/users/{pid}"))
        } else if kind.ends_with("group") {
            Some(format!("/admin/groups/{pid}"))
        } else {
            None
        };
        (label, href)
    } else {
        (pid.to_string(), None)
    };
    cache.insert(pid.to_string(), v.clone());
    v
}

/// The PIM sections of a role's blade: eligible and active assignments, and the form to make
/// someone eligible.
pub async fn role_sections(a: &mut Admin, role: &str) -> Vec<Section> {
    let csrf = a.session.csrf.clone();
    let filter = q(&format!("roleDefinitionId eq '{role}'"));
    let mut names = HashMap::new();
    let el = a
        .graph(
            Method::GET,
            &format!("{BASE}/roleEligibilityScheduleInstances?$filter={filter}"),
            None,
        )
        .await;
    let mut eligible = if el.ok() {
        Section::new("pim-eligible", "Eligible assignments")
    } else {
        refused("pim-eligible", "Eligible assignments", &el)
    };
    eligible.note = Some("Eligible administrators hold nothing until they activate the role (Privileged Identity Management), for a limited time, under the role's activation policy.".into());
    let mut t = Table::new(
        "pim-eligible-table",
        "Eligible assignments",
        &["Principal", "Scope", "Eligible from", "Eligible until"],
        "Nobody is eligible for this role.",
    );
    for x in items(&el.body).iter().take(100) {
        let (label, href) = principal(a, &mut names, &st(x, "principalId")).await;
        t.rows.push(vec![
            Cell { text: label, href },
            Cell::text(st(x, "directoryScopeId")),
            Cell::text(st(x, "startDateTime")),
            Cell::text(until(x)),
        ]);
    }
    eligible.table = Some(t);
    eligible.forms.push(
        Form::post(
            "make-eligible",
            format!("/admin/roles/{role}/eligible"),
            "Make someone eligible",
            "Make eligible",
            &csrf,
        )
        .fields(vec![
            Field::new("text", "principal", "User principal name or object ID").required(),
            Field::new("text", "scope", "Directory scope ('/' for the tenant)").value("/"),
            Field::new("select", "duration", "Eligible for")
                .value("P90D")
                .options(options(ELIGIBILITY)),
            Field::new("text", "justification", "Justification").required(),
        ]),
    );
    if !a.may("microsoft.directory/roleAssignments/allProperties/allTasks") {
        eligible.forms.clear();
        let n = super::blades::not_yours(
            "make anyone eligible for a role",
            "Privileged Role Administrator",
        );
        eligible.note = Some(format!("{} {n}", eligible.note.unwrap_or_default()));
    }
    let ac = a
        .graph(
            Method::GET,
            &format!("{BASE}/roleAssignmentScheduleInstances?$filter={filter}"),
            None,
        )
        .await;
    let mut active = if ac.ok() {
        Section::new("pim-active", "Active assignments (time-bound)")
    } else {
        refused("pim-active", "Active assignments (time-bound)", &ac)
    };
    let mut t = Table::new(
        "pim-active-table",
        "Active time-bound assignments",
        &["Principal", "How", "Scope", "Active from", "Active until"],
        "No time-bound assignment of this role is active.",
    );
    for x in items(&ac.body)
        .iter()
        .filter(|x| !x["endDateTime"].is_null())
        .take(100)
    {
        let (label, href) = principal(a, &mut names, &st(x, "principalId")).await;
        t.rows.push(vec![
            Cell { text: label, href },
            Cell::text(if st(x, "assignmentType") == "Activated" {
                "Activated"
            } else {
                "Assigned"
            }),
            Cell::text(st(x, "directoryScopeId")),
            Cell::text(st(x, "startDateTime")),
            Cell::text(until(x)),
        ]);
    }
    active.table = Some(t);
    vec![eligible, active]
}

fn until(x: &Value) -> String {
    let e = st(x, "endDateTime");
    if e.is_empty() {
        "Permanent".into()
    } else {
        e
    }
}

/// The `Enablement_EndUser_Assignment` rule of a directory role at `/` asks for MFA: read
/// through `roleManagementPolicyAssignments` (None when it cannot be read).
async fn needs_mfa(a: &mut Admin, role: &str) -> Option<bool> {
    let f = q(&format!(
        "scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{role}'"
    ));
    let r = a
        .graph(
            Method::GET,
            &format!("/v1.0/policies/roleManagementPolicyAssignments?$filter={f}"),
            None,
        )
        .await;
    let pid = st(items(&r.body).first()?, "policyId");
    let rule = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/policies/roleManagementPolicies/{}/rules/Enablement_EndUser_Assignment",
                q(&pid)
            ),
            None,
        )
        .await;
    if !rule.ok() {
        return None;
    }
    Some(
        strings(&rule.body["enabledRules"])
            .iter()
            .any(|r| r == "MultiFactorAuthentication"),
    )
}

/// Whether the console's Graph token records MFA (`amr` has `mfa`).
fn token_has_mfa(a: &Admin) -> bool {
    super::api::claims(&a.session.graph.access)
        .is_some_and(|c| strings(&c["amr"]).iter().any(|m| m == "mfa"))
}

/// What the page says when MFA is owed and the sign-in had none.
pub const MFA_OWED: &str = "This role's activation policy requires multifactor authentication, and your console sign-in did not include it (your token's authentication methods have no 'mfa'). Sign out, sign in again completing multifactor authentication, then activate.";

async fn my_roles(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = signed_in!(s, ctx);
    let csrf = a.session.csrf.clone();
    let mfa = token_has_mfa(&a);
    let mine = "filterByCurrentUser(on='principal')";
    let el = a
        .graph(
            Method::GET,
            &format!("{BASE}/roleEligibilityScheduleInstances/{mine}"),
            None,
        )
        .await;
    let mut role_names: HashMap<String, String> = HashMap::new();
    let defs = a
        .graph(Method::GET, &format!("{BASE}/roleDefinitions"), None)
        .await;
    for d in items(&defs.body) {
        role_names.insert(st(d, "id"), st(d, "displayName"));
    }
    let name_of = |id: &str| {
        role_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    let mut eligible = if el.ok() {
        Section::new("my-eligible", "Eligible roles")
    } else {
        refused("my-eligible", "Eligible roles", &el)
    };
    eligible.note = Some(format!(
        "Roles you may activate for a while. Your console sign-in {} multifactor authentication.",
        if mfa { "included" } else { "did not include" }
    ));
    let mut t = Table::new(
        "my-eligible-table",
        "Your eligible roles",
        &[
            "Role",
            "Scope",
            "Eligible until",
            "Activation needs MFA",
            "Can you activate now",
        ],
        "You are not eligible for any role.",
    );
    let mut opts = vec![];
    let list: Vec<Value> = items(&el.body).iter().take(50).cloned().collect();
    for x in &list {
        let rid = st(x, "roleDefinitionId");
        let scope = st(x, "directoryScopeId");
        let want = needs_mfa(&mut a, &rid).await;
        let now_ok = match want {
            Some(true) if !mfa => "No: sign in again with MFA first".to_string(),
            Some(_) => "Yes".to_string(),
            None => "Unknown (the policy could not be read)".to_string(),
        };
        opts.push((
            format!("{rid}|{scope}"),
            format!("{} at {scope}", name_of(&rid)),
        ));
        t.rows.push(vec![
            Cell::link(name_of(&rid), format!("/admin/roles/{rid}")),
            Cell::text(scope),
            Cell::text(until(x)),
            Cell::text(match want {
                Some(true) => "Yes",
                Some(false) => "No",
                None => "Unknown",
            }),
            Cell::text(now_ok),
        ]);
    }
    eligible.table = Some(t);
    if !opts.is_empty() {
        eligible.forms.push(
            Form::post(
                "activate",
                "/admin/my-roles/activate",
                "Activate a role",
                "Activate",
                &csrf,
            )
            .hint(
                "The role is in your next token; sign out and in again for the console to use it.",
            )
            .fields(vec![
                Field::new("select", "role", "Role")
                    .required()
                    .options(opts),
                Field::new("select", "duration", "Duration")
                    .value("PT1H")
                    .options(options(ACTIVATION)),
                Field::new("text", "justification", "Justification").required(),
            ]),
        );
    }
    let ac = a
        .graph(
            Method::GET,
            &format!("{BASE}/roleAssignmentScheduleInstances/{mine}"),
            None,
        )
        .await;
    let mut active = if ac.ok() {
        Section::new("my-active", "Active roles")
    } else {
        refused("my-active", "Active roles", &ac)
    };
    let mut t = Table::new(
        "my-active-table",
        "Your active roles",
        &["Role", "How", "Scope", "Until"],
        "You hold no active role.",
    );
    for x in items(&ac.body) {
        let rid = st(x, "roleDefinitionId");
        t.rows.push(vec![
            Cell::link(name_of(&rid), format!("/admin/roles/{rid}")),
            Cell::text(if st(x, "assignmentType") == "Activated" {
                "Activated"
            } else {
                "Assigned"
            }),
            Cell::text(st(x, "directoryScopeId")),
            Cell::text(until(x)),
        ]);
    }
    active.table = Some(t);
    page(
        &mut a,
        "My roles",
        "/admin/my-roles",
        None,
        vec![eligible, active],
    )
}

async fn make_eligible(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/roles/{id}");
    let title = "The eligibility was not granted";
    let duration = field(&f, "duration");
    let Some(expiration) = eligibility_expiration(&duration) else {
        return a.api_error(title, &bad("Choose one of the offered durations."), &back);
    };
    let justification = field(&f, "justification");
    if justification.is_empty() || justification.len() > 500 {
        return a.api_error(
            title,
            &bad("Give a justification of at most 500 characters."),
            &back,
        );
    }
    let principal = match resolve_principal(&mut a, &field(&f, "principal")).await {
        Ok(p) => p,
        Err(r) => return a.api_error(title, &r, &back),
    };
    let mut scope = field(&f, "scope");
    if scope.is_empty() {
        scope = "/".into();
    }
    let r = a
        .graph(
            Method::POST,
            &format!("{BASE}/roleEligibilityScheduleRequests"),
            Some(json!({
                "action": "adminAssign",
                "principalId": principal,
                "roleDefinitionId": id,
                "directoryScopeId": scope,
                "justification": justification,
                "scheduleInfo": {"expiration": expiration},
            })),
        )
        .await;
    if r.ok() {
        a.flash(format!(
            "Eligibility granted ({}).",
            ELIGIBILITY
                .iter()
                .find(|(k, _)| *k == duration)
                .map_or("", |(_, l)| l)
        ));
        return Redirect::to(&back).into_response();
    }
    a.api_error(title, &r, &back)
}

/// The `scheduleInfo.expiration` of an offered eligibility duration.
pub fn eligibility_expiration(d: &str) -> Option<Value> {
    match d {
        "permanent" => Some(json!({"type": "noExpiration"})),
        _ if ELIGIBILITY.iter().any(|(k, _)| *k == d) => {
            Some(json!({"type": "afterDuration", "duration": d}))
        }
        _ => None,
    }
}

fn bad(m: &str) -> Answer {
    Answer {
        status: axum::http::StatusCode::BAD_REQUEST,
        body: json!({"error": {"message": m}}),
    }
}

async fn activate(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let back = "/admin/my-roles";
    let title = "The role was not activated";
    let choice = field(&f, "role");
    let parsed = choice
        .split_once('|')
        .and_then(|(r, s)| Some((super::blades::guid(r)?, s.to_string())));
    let Some((role, scope)) = parsed.filter(|(_, s)| s.starts_with('/') && s.len() <= 200) else {
        return a.api_error(title, &bad("Choose one of your eligible roles."), back);
    };
    let duration = field(&f, "duration");
    if !ACTIVATION.iter().any(|(k, _)| *k == duration) {
        return a.api_error(title, &bad("Choose one of the offered durations."), back);
    }
    let justification = field(&f, "justification");
    if justification.is_empty() || justification.len() > 500 {
        return a.api_error(
            title,
            &bad("Give a justification of at most 500 characters."),
            back,
        );
    }
    let me = a.session.oid.clone();
    let r = a
        .graph(
            Method::POST,
            &format!("{BASE}/roleAssignmentScheduleRequests"),
            Some(json!({
                "action": "selfActivate",
                "principalId": me,
                "roleDefinitionId": role,
                "directoryScopeId": scope,
                "justification": justification,
                "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": duration}},
            })),
        )
        .await;
    if r.ok() {
        a.flash(format!(
            "Role activated for {}. Sign out and in again for the console to use it.",
            ACTIVATION
                .iter()
                .find(|(k, _)| *k == duration)
                .map_or("", |(_, l)| l)
        ));
        return Redirect::to(back).into_response();
    }
    let mfa_owed = r.body["error"]["code"] == "RoleAssignmentRequestAcrsValidationFailed";
    if mfa_owed {
        let mut shown = r.clone();
        shown.body = json!({"error": {"message": format!("{MFA_OWED} (Graph: {})", r.message())}});
        return a.api_error(title, &shown, back);
    }
    a.api_error(title, &r, back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_offered_durations_make_an_expiration() {
        assert_eq!(eligibility_expiration("P90D").unwrap()["duration"], "P90D");
        assert_eq!(
            eligibility_expiration("permanent").unwrap()["type"],
            "noExpiration"
        );
        assert!(eligibility_expiration("P9999D").is_none());
        assert!(eligibility_expiration("").is_none());
    }
}
