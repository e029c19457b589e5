//! The Conditional Access blade: the policy list, the policy editor (every condition and control
//! Graph's `conditionalAccessPolicy` carries in Castellan), delete with confirmation, named
//! locations, What-If (`POST /identity/conditionalAccess/evaluate`) and impact replay over recent
//! sign-ins (`POST /identity/conditionalAccess/replay`, a Castellan extension).
//!
//! The console holds no rule: the editor turns its form into Graph's JSON ([`policy_body`],
//! pure, unit-tested here) and back ([`policy_form`]); Graph parses, validates and decides who
//! may save it. A refusal or a bad value is shown on the form with Graph's own message and the
//! administrator's input kept.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use castellan_core::policy::{
    BuiltInControl, ClientAppType, DevicePlatform, PersistentBrowserMode, RiskLevel,
};
use serde_json::{json, Map, Value};

use super::api::{q, Answer};
use super::blades::{items, page, st};
use super::view::{render, Cell, Field, Form, Layout, Section, Table};
use super::{message_page, Admin, Ctx, FormMap};
use crate::state::AppState;

/// Who may change policies (Conditional Access Administrator, Security Administrator, Global
/// Administrator); the console offers the editor's save only then, Graph decides again.
pub const WRITE: &str = "microsoft.directory/conditionalAccessPolicies/create";
/// At most this many user principal names are looked up per save.
pub const MAX_UPNS: usize = 50;
/// The longest list field accepted from the editor (Graph bounds the items again).
pub const MAX_LIST_CHARS: usize = 8000;

const POLICIES: &str = "/v1.0/identity/conditionalAccess/policies";
const LOCATIONS: &str = "/v1.0/identity/conditionalAccess/namedLocations";
const BLADE: &str = "/admin/conditional-access";
const CURRENT: &str = "/admin/conditional-access";

/// The blade's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(BLADE, get(policies))
        .route(
            "/admin/conditional-access/new",
            get(new_policy).post(create),
        )
        .route(
            "/admin/conditional-access/policies/{id}",
            get(edit).post(update),
        )
        .route(
            "/admin/conditional-access/policies/{id}/delete",
            post(delete),
        )
        .route(
            "/admin/conditional-access/policies/{id}/replay",
            post(replay_stored),
        )
        .route(
            "/admin/conditional-access/what-if",
            get(what_if_form).post(what_if),
        )
        .route(
            "/admin/conditional-access/named-locations",
            get(locations).post(create_location),
        )
        .route(
            "/admin/conditional-access/named-locations/{id}/delete",
            post(delete_location),
        )
}

use super::kit::{signed_in as admin, signed_post as admin_post};

macro_rules! guid_or_404 {
    ($id:expr) => {
        match uuid::Uuid::parse_str(&$id) {
            Ok(x) => x.to_string(),
            Err(_) => {
                return message_page(
                    StatusCode::NOT_FOUND,
                    "Not found",
                    "error",
                    "That address does not name a policy or location: their ids are GUIDs.",
                    Some((BLADE.into(), "Back to Conditional Access".into())),
                )
            }
        }
    };
}

fn fv(f: &HashMap<String, String>, k: &str) -> String {
    f.get(k).map(|v| v.trim().to_string()).unwrap_or_default()
}

fn on(f: &HashMap<String, String>, k: &str) -> bool {
    f.get(k).is_some_and(|v| v == "true" || v == "on")
}

/// The items of a list field: separated by commas, semicolons or white space.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// The user principal names in the editor's user fields (to be resolved to object ids).
pub fn upns_in(f: &HashMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = ["includeUsers", "excludeUsers"]
        .iter()
        .flat_map(|k| split_list(&fv(f, k)))
        .filter(|x| x.contains('@'))
        .collect();
    out.sort();
    out.dedup();
    out
}

const GUESTS: &str = "GuestsOrExternalUsers";
const RISKS: &[RiskLevel] = &[
    RiskLevel::High,
    RiskLevel::Medium,
    RiskLevel::Low,
    RiskLevel::None,
];
const GRANTS: &[BuiltInControl] = &[
    BuiltInControl::Mfa,
    BuiltInControl::CompliantDevice,
    BuiltInControl::DomainJoinedDevice,
    BuiltInControl::ApprovedApplication,
    BuiltInControl::CompliantApplication,
    BuiltInControl::PasswordChange,
];
/// Microsoft's built-in authentication strengths (`authenticationStrengthPolicy` ids).
pub const STRENGTHS: &[(&str, &str)] = &[
    (
        "00000000-0000-0000-0000-000000000002",
        "Multifactor authentication",
    ),
    ("00000000-0000-0000-0000-000000000003", "Passwordless MFA"),
    (
        "00000000-0000-0000-0000-000000000004",
        "Phishing-resistant MFA",
    ),
];

fn words<T: Copy>(
    f: &HashMap<String, String>,
    prefix: &str,
    all: &[T],
    s: fn(T) -> &'static str,
) -> Vec<Value> {
    all.iter()
        .filter(|x| on(f, &format!("{prefix}.{}", s(**x))))
        .map(|x| Value::String(s(*x).to_string()))
        .collect()
}

/// The editor's form as Graph's `conditionalAccessPolicy` body. `upns` maps each user principal
/// name the form names to its object id (looked up through Graph); one not in it is an error
/// naming it. Everything else — unknown words, empty conditions, impossible combinations — is
/// Graph's to refuse with its own message.
pub fn policy_body(
    f: &HashMap<String, String>,
    upns: &HashMap<String, String>,
) -> Result<Value, String> {
    for (k, v) in f {
        if v.len() > MAX_LIST_CHARS {
            return Err(format!(
                "The field {k} is longer than {MAX_LIST_CHARS} characters."
            ));
        }
    }
    let users = |k: &str, guests: &str| -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        for x in split_list(&fv(f, k)) {
            if x.contains('@') {
                let id = upns.get(&x.to_lowercase()).ok_or_else(|| {
                    format!("No user '{x}' in this tenant (in {k}); use a user principal name or object id of one of its users.")
                })?;
                out.push(Value::String(id.clone()));
            } else {
                out.push(Value::String(x));
            }
        }
        if on(f, guests) && !out.iter().any(|v| v.as_str() == Some(GUESTS)) {
            out.push(Value::String(GUESTS.into()));
        }
        Ok(out)
    };
    let list = |k: &str| -> Vec<Value> {
        split_list(&fv(f, k))
            .into_iter()
            .map(Value::String)
            .collect()
    };
    let mut conditions = json!({
        "users": {
            "includeUsers": users("includeUsers", "includeGuests")?,
            "excludeUsers": users("excludeUsers", "excludeGuests")?,
            "includeGroups": list("includeGroups"),
            "excludeGroups": list("excludeGroups"),
            "includeRoles": list("includeRoles"),
            "excludeRoles": list("excludeRoles"),
        },
        "applications": {
            "includeApplications": list("includeApplications"),
            "excludeApplications": list("excludeApplications"),
        },
        "clientAppTypes": words(f, "cat", ClientAppType::ALL_VALUES, ClientAppType::as_str),
        "signInRiskLevels": words(f, "sr", RISKS, RiskLevel::as_str),
        "userRiskLevels": words(f, "ur", RISKS, RiskLevel::as_str),
        "platforms": null,
        "locations": null,
    });
    let (pi, pe) = (
        words(f, "pi", DevicePlatform::ALL_VALUES, DevicePlatform::as_str),
        words(f, "pe", DevicePlatform::ALL_VALUES, DevicePlatform::as_str),
    );
    if !pi.is_empty() || !pe.is_empty() {
        conditions["platforms"] = json!({"includePlatforms": pi, "excludePlatforms": pe});
    }
    let (li, le) = (list("includeLocations"), list("excludeLocations"));
    if !li.is_empty() || !le.is_empty() {
        conditions["locations"] = json!({"includeLocations": li, "excludeLocations": le});
    }
    let grant = match fv(f, "grant").as_str() {
        "block" => json!({"operator": "OR", "builtInControls": ["block"]}),
        "grant" => {
            let mut g = json!({
                "operator": if fv(f, "operator") == "AND" { "AND" } else { "OR" },
                "builtInControls": words(f, "g", GRANTS, BuiltInControl::as_str),
            });
            let strength = fv(f, "authStrength");
            if !strength.is_empty() {
                let name = STRENGTHS
                    .iter()
                    .find(|(id, _)| *id == strength)
                    .map_or("Custom authentication strength", |(_, n)| n);
                g["authenticationStrength"] = json!({"id": strength, "displayName": name});
            }
            g
        }
        _ => Value::Null,
    };
    let mut session = Map::new();
    let every = on(f, "sifEveryTime");
    let value = fv(f, "sifValue");
    if every || !value.is_empty() {
        let n: u64 = if every {
            0
        } else {
            value.parse().map_err(|_| {
                format!("Sign-in frequency '{value}' is not a whole number of hours or days.")
            })?
        };
        let mut sif = json!({
            "isEnabled": true,
            "frequencyInterval": if every { "everyTime" } else { "timeBased" },
        });
        if !every {
            sif["value"] = json!(n);
            sif["type"] = json!(if fv(f, "sifUnit") == "days" {
                "days"
            } else {
                "hours"
            });
        }
        session.insert("signInFrequency".into(), sif);
    }
    let pb = fv(f, "persistentBrowser");
    if !pb.is_empty() {
        session.insert(
            "persistentBrowser".into(),
            json!({"mode": pb, "isEnabled": true}),
        );
    }
    Ok(json!({
        "displayName": fv(f, "displayName"),
        "state": fv(f, "state"),
        "conditions": conditions,
        "grantControls": grant,
        "sessionControls": if session.is_empty() { Value::Null } else { Value::Object(session) },
    }))
}

fn join(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn has(v: &Value, word: &str) -> bool {
    v.as_array().is_some_and(|a| {
        a.iter()
            .any(|x| x.as_str().is_some_and(|s| s.eq_ignore_ascii_case(word)))
    })
}

/// A stored policy as the editor's form (the inverse of [`policy_body`] for ids).
pub fn policy_form(p: &Value) -> HashMap<String, String> {
    let mut f = HashMap::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    put("displayName", st(p, "displayName"));
    put("state", st(p, "state"));
    let c = &p["conditions"];
    let u = &c["users"];
    for (k, guests) in [
        ("includeUsers", "includeGuests"),
        ("excludeUsers", "excludeGuests"),
    ] {
        let list: Vec<&str> = u[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|s| !s.eq_ignore_ascii_case(GUESTS))
            .collect();
        put(k, list.join(", "));
        if has(&u[k], GUESTS) {
            put(guests, "true".into());
        }
    }
    for k in [
        "includeGroups",
        "excludeGroups",
        "includeRoles",
        "excludeRoles",
    ] {
        put(k, join(&u[k]));
    }
    for k in ["includeApplications", "excludeApplications"] {
        put(k, join(&c["applications"][k]));
    }
    for k in ["includeLocations", "excludeLocations"] {
        put(k, join(&c["locations"][k]));
    }
    for t in ClientAppType::ALL_VALUES {
        if has(&c["clientAppTypes"], t.as_str()) {
            put(&format!("cat.{}", t.as_str()), "true".into());
        }
    }
    for x in DevicePlatform::ALL_VALUES {
        if has(&c["platforms"]["includePlatforms"], x.as_str()) {
            put(&format!("pi.{}", x.as_str()), "true".into());
        }
        if has(&c["platforms"]["excludePlatforms"], x.as_str()) {
            put(&format!("pe.{}", x.as_str()), "true".into());
        }
    }
    for r in RISKS {
        if has(&c["signInRiskLevels"], r.as_str()) {
            put(&format!("sr.{}", r.as_str()), "true".into());
        }
        if has(&c["userRiskLevels"], r.as_str()) {
            put(&format!("ur.{}", r.as_str()), "true".into());
        }
    }
    let g = &p["grantControls"];
    if has(&g["builtInControls"], "block") {
        put("grant", "block".into());
    } else if g.is_object() {
        put("grant", "grant".into());
        put("operator", st(g, "operator"));
        for x in GRANTS {
            if has(&g["builtInControls"], x.as_str()) {
                put(&format!("g.{}", x.as_str()), "true".into());
            }
        }
        put("authStrength", st(&g["authenticationStrength"], "id"));
    } else {
        put("grant", "none".into());
    }
    let sif = &p["sessionControls"]["signInFrequency"];
    if sif.is_object() {
        if sif["frequencyInterval"] == "everyTime" {
            put("sifEveryTime", "true".into());
        } else {
            put("sifValue", st(sif, "value"));
            put("sifUnit", st(sif, "type"));
        }
    }
    put(
        "persistentBrowser",
        st(&p["sessionControls"]["persistentBrowser"], "mode"),
    );
    f
}

fn not_yours(what: &str, who: &str) -> String {
    format!("Your roles do not allow you to {what}; a {who} or Global Administrator can.")
}

// ---------------------------------------------------------------- Editor page

/// A group of the editor's fields.
pub struct Group {
    /// Unique id on the page.
    pub id: String,
    /// The fieldset's legend.
    pub legend: String,
    /// A hint under the legend.
    pub hint: Option<String>,
    /// Fields.
    pub fields: Vec<Field>,
}

/// The policy editor (and the replay's results under it).
#[derive(Template)]
#[template(path = "console/ca_editor.html")]
pub struct Editor {
    /// Layout.
    pub l: Layout,
    /// Where the form posts.
    pub action: String,
    /// The CSRF token.
    pub csrf: String,
    /// Graph's (or the console's) refusal of the last submission.
    pub error: Option<String>,
    /// The fieldsets.
    pub groups: Vec<Group>,
    /// Whether the administrator may save (else the form only replays).
    pub may_save: bool,
    /// Sections under the form (replay results, delete).
    pub after: Vec<Section>,
}

fn text(f: &HashMap<String, String>, name: &str, label: &str) -> Field {
    Field::new("text", name, label).value(fv(f, name))
}

fn check(f: &HashMap<String, String>, name: &str, label: &str) -> Field {
    Field::new("checkbox", name, label).value(if on(f, name) { "true" } else { "" })
}

fn select(f: &HashMap<String, String>, name: &str, label: &str, o: &[(&str, &str)]) -> Field {
    Field::new("select", name, label)
        .value(fv(f, name))
        .options(o.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect())
}

fn groups(f: &HashMap<String, String>, named: &[(String, String)]) -> Vec<Group> {
    let g = |id: &str, legend: &str, hint: Option<&str>, fields: Vec<Field>| Group {
        id: id.into(),
        legend: legend.into(),
        hint: hint.map(str::to_string),
        fields,
    };
    let locs = if named.is_empty() {
        "No named locations yet (create them under Named locations).".to_string()
    } else {
        format!(
            "Named locations: {}.",
            named
                .iter()
                .map(|(id, n)| format!("{n} = {id}"))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    vec![
        g(
            "basics",
            "Name and state",
            None,
            vec![
                text(f, "displayName", "Policy name").required(),
                select(
                    f,
                    "state",
                    "State",
                    &[
                        ("enabledForReportingButNotEnforced", "Report-only"),
                        ("enabled", "On"),
                        ("disabled", "Off"),
                    ],
                ),
            ],
        ),
        g(
            "users",
            "Users",
            Some("Lists are separated by commas. Users: All, None, object ids or user principal names. Groups: object ids. Roles: role template ids."),
            vec![
                text(f, "includeUsers", "Include users"),
                check(f, "includeGuests", "Include guests or external users"),
                text(f, "excludeUsers", "Exclude users"),
                check(f, "excludeGuests", "Exclude guests or external users"),
                text(f, "includeGroups", "Include groups"),
                text(f, "excludeGroups", "Exclude groups"),
                text(f, "includeRoles", "Include directory roles"),
                text(f, "excludeRoles", "Exclude directory roles"),
            ],
        ),
        g(
            "apps",
            "Target resources",
            Some("All, Office365, MicrosoftAdminPortals or application (client) ids."),
            vec![
                text(f, "includeApplications", "Include applications"),
                text(f, "excludeApplications", "Exclude applications"),
            ],
        ),
        g(
            "client-apps",
            "Client app types",
            Some("None ticked is every type."),
            ClientAppType::ALL_VALUES
                .iter()
                .map(|t| check(f, &format!("cat.{}", t.as_str()), t.as_str()))
                .collect(),
        ),
        g(
            "platforms",
            "Device platforms",
            Some("None ticked is every platform."),
            DevicePlatform::ALL_VALUES
                .iter()
                .map(|p| check(f, &format!("pi.{}", p.as_str()), &format!("Include {}", p.as_str())))
                .chain(
                    DevicePlatform::ALL_VALUES
                        .iter()
                        .filter(|p| **p != DevicePlatform::All)
                        .map(|p| check(f, &format!("pe.{}", p.as_str()), &format!("Exclude {}", p.as_str()))),
                )
                .collect(),
        ),
        g(
            "locations",
            "Locations",
            Some(&format!("All, AllTrusted or named location ids. {locs}")),
            vec![
                text(f, "includeLocations", "Include locations"),
                text(f, "excludeLocations", "Exclude locations"),
            ],
        ),
        g(
            "risk",
            "Sign-in risk and user risk",
            Some("None ticked is any risk (Identity Protection, Entra ID P2)."),
            RISKS
                .iter()
                .map(|r| check(f, &format!("sr.{}", r.as_str()), &format!("Sign-in risk {}", r.as_str())))
                .chain(RISKS.iter().map(|r| {
                    check(f, &format!("ur.{}", r.as_str()), &format!("User risk {}", r.as_str()))
                }))
                .collect(),
        ),
        g(
            "grant",
            "Grant",
            None,
            [select(
                f,
                "grant",
                "Access",
                &[
                    ("grant", "Grant access with the controls below"),
                    ("block", "Block access"),
                    ("none", "No grant control (session controls only)"),
                ],
            )]
            .into_iter()
            .chain(GRANTS.iter().map(|x| check(f, &format!("g.{}", x.as_str()), &format!("Require {}", x.as_str()))))
            .chain([
                select(
                    f,
                    "operator",
                    "For several controls",
                    &[("OR", "Require one of them (OR)"), ("AND", "Require all of them (AND)")],
                ),
                select(
                    f,
                    "authStrength",
                    "Require authentication strength",
                    &[
                        ("", "None"),
                        (STRENGTHS[0].0, STRENGTHS[0].1),
                        (STRENGTHS[1].0, STRENGTHS[1].1),
                        (STRENGTHS[2].0, STRENGTHS[2].1),
                    ],
                ),
            ])
            .collect(),
        ),
        g(
            "session",
            "Session",
            None,
            vec![
                text(f, "sifValue", "Sign-in frequency (number)"),
                select(f, "sifUnit", "Sign-in frequency unit", &[("hours", "Hours"), ("days", "Days")]),
                check(f, "sifEveryTime", "Sign-in frequency: every time"),
                select(
                    f,
                    "persistentBrowser",
                    "Persistent browser session",
                    &[
                        ("", "Not configured"),
                        (PersistentBrowserMode::Always.as_str(), "Always persistent"),
                        (PersistentBrowserMode::Never.as_str(), "Never persistent"),
                    ],
                ),
            ],
        ),
        g(
            "replay",
            "Impact replay",
            Some("Replay the policy as written (as if it were on) over recent sign-ins without saving it."),
            vec![text(f, "replayDays", "Replay over the last N days (1-30)")],
        ),
    ]
}

async fn named_locations(a: &mut Admin) -> Vec<(String, String)> {
    let r = a.graph(Method::GET, LOCATIONS, None).await;
    items(&r.body)
        .iter()
        .map(|l| (st(l, "id"), st(l, "displayName")))
        .collect()
}

/// Renders the editor with `f` (kept on an error), `error`, and `after`.
async fn editor(
    a: &mut Admin,
    title: &str,
    action: String,
    f: &HashMap<String, String>,
    error: Option<String>,
    after: Vec<Section>,
    status: StatusCode,
) -> Response {
    let named = named_locations(a).await;
    let mut f = f.clone();
    f.entry("replayDays".into()).or_insert_with(|| "7".into());
    let may_save = a.may(WRITE);
    let l = a.layout(title, CURRENT);
    render(
        status,
        &Editor {
            l,
            action,
            csrf: a.session.csrf.clone(),
            error,
            groups: groups(&f, &named),
            may_save,
            after,
        },
    )
}

fn new_defaults() -> HashMap<String, String> {
    HashMap::from([
        ("state".into(), "enabledForReportingButNotEnforced".into()),
        ("includeApplications".into(), "All".into()),
        ("grant".into(), "grant".into()),
        ("g.mfa".into(), "true".into()),
        ("operator".into(), "OR".into()),
    ])
}

async fn new_policy(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = admin!(s, ctx);
    editor(
        &mut a,
        "New Conditional Access policy",
        "/admin/conditional-access/new".into(),
        &new_defaults(),
        None,
        vec![],
        StatusCode::OK,
    )
    .await
}

/// The form's user principal names resolved through Graph (an unknown one is left out, so
/// [`policy_body`] names it).
async fn resolve(
    a: &mut Admin,
    f: &HashMap<String, String>,
) -> Result<HashMap<String, String>, String> {
    let upns = upns_in(f);
    if upns.len() > MAX_UPNS {
        return Err(format!(
            "The policy names {} users by user principal name; at most {MAX_UPNS} can be looked up at once — use object ids or a group.",
            upns.len()
        ));
    }
    let mut out = HashMap::new();
    for u in upns {
        let r = a
            .graph(
                Method::GET,
                &format!("/v1.0/users/{}?$select=id", q(&u)),
                None,
            )
            .await;
        if let (true, Some(id)) = (r.ok(), r.body["id"].as_str()) {
            out.insert(u.to_lowercase(), id.to_string());
        }
    }
    Ok(out)
}

fn replay_days(f: &HashMap<String, String>) -> Value {
    let d = fv(f, "replayDays");
    d.parse::<u64>()
        .map_or_else(|_| Value::String(d), Value::from)
}

/// The replay's answer as sections: counts, then the sign-ins it would block or challenge.
pub fn replay_sections(r: &Value) -> Vec<Section> {
    let mut sum = Section::new("replay-result", "Impact replay");
    sum.note = r["note"].as_str().map(str::to_string);
    sum.props = vec![
        ("Policy".into(), st(&r["policy"], "displayName")),
        ("From".into(), st(r, "from")),
        ("To".into(), st(r, "to")),
        ("Sign-ins evaluated".into(), st(r, "evaluated")),
        ("Not applied".into(), st(r, "notApplied")),
        ("Already satisfied".into(), st(r, "satisfied")),
        (
            "Truncated".into(),
            if r["truncated"] == true {
                format!("Yes: only the newest {} sign-ins", st(r, "cap"))
            } else {
                "No".into()
            },
        ),
    ];
    let mut out = vec![sum];
    for (key, id, title) in [
        (
            "wouldBlock",
            "would-block",
            "Sign-ins it would have blocked",
        ),
        (
            "wouldChallenge",
            "would-challenge",
            "Sign-ins it would have challenged",
        ),
    ] {
        let mut t = Table::new(
            &format!("{id}-table"),
            title,
            &["User", "Sign-ins", "Controls", "Example sign-in"],
            "None.",
        );
        for u in r[key].as_array().into_iter().flatten() {
            let user = Cell::link(
                st(u, "userPrincipalName"),
                format!("/admin/users/{}", st(u, "userId")),
            );
            let examples: Vec<&str> = u["examples"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for (i, ex) in examples.iter().enumerate() {
                t.rows.push(vec![
                    if i == 0 { user.clone() } else { Cell::text("") },
                    Cell::text(if i == 0 {
                        st(u, "signIns")
                    } else {
                        String::new()
                    }),
                    Cell::text(join(&u["controls"])),
                    Cell::link("Sign-in details", format!("/admin/sign-ins/{ex}")),
                ]);
            }
            if examples.is_empty() {
                t.rows.push(vec![
                    user,
                    Cell::text(st(u, "signIns")),
                    Cell::text(join(&u["controls"])),
                    Cell::text(""),
                ]);
            }
        }
        let mut s = Section::new(id, title);
        s.table = Some(t);
        out.push(s);
    }
    out
}

/// Saves (or, with `intent=replay`, replays) the editor's form; on a refusal the editor comes
/// back with Graph's message and the input kept.
async fn submit(a: &mut Admin, f: &HashMap<String, String>, id: Option<&str>) -> Response {
    let (title, action) = match id {
        None => (
            "New Conditional Access policy".to_string(),
            "/admin/conditional-access/new".to_string(),
        ),
        Some(id) => (
            format!("Policy: {}", fv(f, "displayName")),
            format!("/admin/conditional-access/policies/{id}"),
        ),
    };
    let upns = match resolve(a, f).await {
        Ok(u) => u,
        Err(m) => {
            return editor(
                a,
                &title,
                action,
                f,
                Some(m),
                vec![],
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    };
    let body = match policy_body(f, &upns) {
        Ok(b) => b,
        Err(m) => {
            return editor(
                a,
                &title,
                action,
                f,
                Some(m),
                vec![],
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    };
    if fv(f, "intent") == "replay" {
        let r = a
            .graph(
                Method::POST,
                "/v1.0/identity/conditionalAccess/replay",
                Some(json!({"policy": body, "days": replay_days(f)})),
            )
            .await;
        if !r.ok() {
            return editor(
                a,
                &title,
                action,
                f,
                Some(r.message()),
                vec![],
                error_status(&r),
            )
            .await;
        }
        let after = replay_sections(&r.body);
        return editor(a, &title, action, f, None, after, StatusCode::OK).await;
    }
    let r = match id {
        None => a.graph(Method::POST, POLICIES, Some(body)).await,
        Some(id) => {
            a.graph(Method::PATCH, &format!("{POLICIES}/{id}"), Some(body))
                .await
        }
    };
    if !r.ok() {
        return editor(
            a,
            &title,
            action,
            f,
            Some(r.message()),
            vec![],
            error_status(&r),
        )
        .await;
    }
    let pid = id.map_or_else(|| st(&r.body, "id"), str::to_string);
    a.flash(format!(
        "Policy '{}' saved ({}).",
        fv(f, "displayName"),
        state_name(&fv(f, "state"))
    ));
    Redirect::to(&format!("/admin/conditional-access/policies/{pid}")).into_response()
}

fn error_status(r: &Answer) -> StatusCode {
    if r.status.is_client_error() || r.status.is_server_error() {
        r.status
    } else {
        StatusCode::BAD_GATEWAY
    }
}

fn state_name(s: &str) -> &str {
    match s {
        "enabled" => "On",
        "disabled" => "Off",
        "enabledForReportingButNotEnforced" => "Report-only",
        other => other,
    }
}

async fn create(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = admin_post!(s, ctx, f);
    submit(&mut a, &f, None).await
}

async fn update(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = guid_or_404!(id);
    submit(&mut a, &f, Some(&id)).await
}

/// The edit page's extra sections: replay the stored policy, delete it.
fn stored_sections(a: &Admin, id: &str, name: &str) -> Vec<Section> {
    let csrf = a.session.csrf.clone();
    let mut s = Section::new("stored", "This policy");
    s.forms.push(
        Form::post(
            "replay-stored",
            format!("/admin/conditional-access/policies/{id}/replay"),
            "Replay the saved policy",
            "Run impact replay",
            &csrf,
        )
        .hint("The saved version, as if it were on, over recent sign-ins.")
        .fields(vec![Field::new("text", "days", "Days (1-30)").value("7")]),
    );
    if a.may(WRITE) {
        s.forms.push(
            Form::post(
                "delete-policy",
                format!("/admin/conditional-access/policies/{id}/delete"),
                &format!("Delete {name}"),
                "Delete policy",
                &csrf,
            )
            .hint("Deleting cannot be undone.")
            .fields(vec![Field::new(
                "checkbox",
                "confirm",
                "Yes, delete this policy",
            )
            .required()])
            .danger(),
        );
    }
    vec![s]
}

async fn load_policy(a: &mut Admin, id: &str) -> Result<Value, Response> {
    let r = a
        .graph(Method::GET, &format!("{POLICIES}/{id}"), None)
        .await;
    if r.ok() {
        Ok(r.body)
    } else {
        Err(a.api_error("Conditional Access policy", &r, BLADE))
    }
}

async fn edit(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let mut a = admin!(s, ctx);
    let id = guid_or_404!(id);
    let p = match load_policy(&mut a, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let name = st(&p, "displayName");
    let after = stored_sections(&a, &id, &name);
    editor(
        &mut a,
        &format!("Policy: {name}"),
        format!("/admin/conditional-access/policies/{id}"),
        &policy_form(&p),
        None,
        after,
        StatusCode::OK,
    )
    .await
}

async fn replay_stored(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let p = match load_policy(&mut a, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut form = policy_form(&p);
    form.insert("replayDays".into(), fv(&f, "days"));
    let r = a
        .graph(
            Method::POST,
            "/v1.0/identity/conditionalAccess/replay",
            Some(json!({"policyId": id, "days": replay_days(&form)})),
        )
        .await;
    let name = st(&p, "displayName");
    let mut after = stored_sections(&a, &id, &name);
    let (error, status) = if r.ok() {
        after.splice(0..0, replay_sections(&r.body));
        (None, StatusCode::OK)
    } else {
        (Some(r.message()), error_status(&r))
    };
    editor(
        &mut a,
        &format!("Policy: {name}"),
        format!("/admin/conditional-access/policies/{id}"),
        &form,
        error,
        after,
        status,
    )
    .await
}

async fn delete(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = guid_or_404!(id);
    if !on(&f, "confirm") {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Not deleted",
            "error",
            "Tick \"Yes, delete this policy\" to delete it; nothing was deleted.",
            Some((
                format!("/admin/conditional-access/policies/{id}"),
                "Back to the policy".into(),
            )),
        );
    }
    let r = a
        .graph(Method::DELETE, &format!("{POLICIES}/{id}"), None)
        .await;
    if r.ok() {
        a.flash("Policy deleted.");
        Redirect::to(BLADE).into_response()
    } else {
        a.api_error("The policy was not deleted", &r, BLADE)
    }
}

// ---------------------------------------------------------------- Policy list

fn summary(p: &Value) -> String {
    let g = &p["grantControls"];
    if has(&g["builtInControls"], "block") {
        return "Block".into();
    }
    let mut parts: Vec<String> = g["builtInControls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if let Some(n) = g["authenticationStrength"]["displayName"].as_str() {
        parts.push(n.to_string());
    }
    if parts.is_empty() {
        "Session controls".into()
    } else {
        parts.join(&format!(" {} ", st(g, "operator")))
    }
}

/// `GET /admin/conditional-access`: the policies with their state switch.
async fn policies(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = admin!(s, ctx);
    let r = a.graph(Method::GET, POLICIES, None).await;
    if !r.ok() {
        return a.api_error("Conditional Access", &r, "/admin");
    }
    let csrf = a.session.csrf.clone();
    let may = a.may("microsoft.directory/conditionalAccessPolicies/basic/update");
    let mut sec = Section::new("policies", "Policies");
    let mut t = Table::new(
        "policies-table",
        "Conditional Access policies",
        &["Policy", "State", "Grant", "Modified"],
        "No policies.",
    );
    for p in items(&r.body) {
        let pid = st(p, "id");
        t.rows.push(vec![
            Cell::link(
                st(p, "displayName"),
                format!("/admin/conditional-access/policies/{pid}"),
            ),
            Cell::text(state_name(&st(p, "state"))),
            Cell::text(summary(p)),
            Cell::text(st(p, "modifiedDateTime")),
        ]);
        if uuid::Uuid::parse_str(&pid).is_ok() && may {
            sec.forms.push(
                Form::post(
                    &format!("state-{pid}"),
                    format!("/admin/conditional-access/{pid}/state"),
                    &format!("State of {}", st(p, "displayName")),
                    "Set state",
                    &csrf,
                )
                .fields(vec![Field::new("select", "state", "State")
                    .value(st(p, "state"))
                    .options(vec![
                        (
                            "enabledForReportingButNotEnforced".into(),
                            "Report-only".into(),
                        ),
                        ("enabled".into(), "On".into()),
                        ("disabled".into(), "Off".into()),
                    ])]),
            );
        }
    }
    sec.table = Some(t);
    let mut tools = Section::new("ca-tools", "Tools");
    let mut links = Table::new(
        "ca-tools-table",
        "Conditional Access tools",
        &["Tool", "What it does"],
        "",
    );
    if a.may(WRITE) {
        links.rows.push(vec![
            Cell::link("New policy", "/admin/conditional-access/new"),
            Cell::text("Create a policy in the editor (every condition and control)."),
        ]);
    } else {
        tools.note = Some(not_yours(
            "create or change Conditional Access policies",
            "Conditional Access Administrator, Security Administrator",
        ));
    }
    links.rows.push(vec![
        Cell::link("What If", "/admin/conditional-access/what-if"),
        Cell::text("Which policies apply to a described sign-in, and why."),
    ]);
    links.rows.push(vec![
        Cell::link(
            "Named locations",
            "/admin/conditional-access/named-locations",
        ),
        Cell::text("IP ranges and countries that policies name."),
    ]);
    tools.table = Some(links);
    page(
        &mut a,
        "Conditional Access",
        CURRENT,
        None,
        vec![tools, sec],
    )
}

// ---------------------------------------------------------------- What If

const PLATFORM_OPTIONS: &[(&str, &str)] = &[
    ("", "Not known"),
    ("windows", "Windows"),
    ("macOS", "macOS"),
    ("iOS", "iOS"),
    ("android", "Android"),
    ("linux", "Linux"),
    ("windowsPhone", "Windows Phone"),
];
const CLIENT_OPTIONS: &[(&str, &str)] = &[
    ("browser", "Browser"),
    (
        "mobileAppsAndDesktopClients",
        "Mobile apps and desktop clients",
    ),
    ("exchangeActiveSync", "Exchange ActiveSync"),
    ("other", "Other clients (legacy authentication)"),
];
const RISK_OPTIONS: &[(&str, &str)] = &[
    ("none", "None"),
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
];

fn what_if_form_of(a: &Admin, f: &HashMap<String, String>) -> Form {
    Form::post(
        "what-if",
        "/admin/conditional-access/what-if",
        "Describe a sign-in",
        "What If",
        &a.session.csrf,
    )
    .hint("Evaluates every policy for this sign-in without signing anyone in.")
    .fields(vec![
        text(f, "user", "User (user principal name or object id)").required(),
        Field::new(
            "text",
            "resource",
            "Cloud app (application id or URI; empty is Microsoft Graph)",
        )
        .value(fv(f, "resource")),
        text(f, "appId", "Client application id (optional)"),
        text(f, "ipAddress", "IP address (optional)"),
        select(f, "devicePlatform", "Device platform", PLATFORM_OPTIONS),
        select(f, "clientAppType", "Client app", CLIENT_OPTIONS),
        select(f, "signInRiskLevel", "Sign-in risk", RISK_OPTIONS),
        select(f, "userRiskLevel", "User risk", RISK_OPTIONS),
        select(
            f,
            "device",
            "Device",
            &[
                ("", "No registered device"),
                ("compliant", "Registered, compliant"),
                ("noncompliant", "Registered, not compliant"),
            ],
        ),
        check(f, "mfaDone", "Multifactor authentication already done"),
    ])
}

/// The What-If request body from its form.
pub fn what_if_body(f: &HashMap<String, String>) -> Value {
    let mut b = Map::new();
    b.insert("userId".into(), json!(fv(f, "user")));
    for k in [
        "resource",
        "appId",
        "ipAddress",
        "devicePlatform",
        "clientAppType",
    ] {
        let v = fv(f, k);
        if !v.is_empty() {
            b.insert(k.into(), json!(v));
        }
    }
    for k in ["signInRiskLevel", "userRiskLevel"] {
        let v = fv(f, k);
        if !v.is_empty() && v != "none" {
            b.insert(k.into(), json!(v));
        }
    }
    match fv(f, "device").as_str() {
        "compliant" => {
            b.insert("deviceIsCompliant".into(), json!(true));
        }
        "noncompliant" => {
            b.insert("deviceIsCompliant".into(), json!(false));
        }
        _ => {}
    }
    if on(f, "mfaDone") {
        b.insert("mfaDone".into(), json!(true));
    }
    Value::Object(b)
}

fn what_if_page(
    a: &mut Admin,
    f: &HashMap<String, String>,
    result: Vec<Section>,
    status: StatusCode,
) -> Response {
    let mut s = Section::new("what-if-input", "Sign-in");
    s.forms.push(what_if_form_of(a, f));
    let mut sections = vec![s];
    sections.extend(result);
    let l = a.layout("What If", CURRENT);
    render(
        status,
        &super::view::Page {
            l,
            search: None,
            sections,
        },
    )
}

async fn what_if_form(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = admin!(s, ctx);
    what_if_page(&mut a, &HashMap::new(), vec![], StatusCode::OK)
}

/// The What-If answer as sections.
pub fn what_if_sections(r: &Value) -> Vec<Section> {
    let mut out = Section::new("what-if-result", "Result");
    let outcome = match st(r, "outcome").as_str() {
        "allow" => "Access allowed".to_string(),
        "block" => "Access blocked".to_string(),
        "requireControls" => "Access needs more (controls owed)".to_string(),
        o => o.to_string(),
    };
    out.props = vec![
        ("Outcome".into(), outcome),
        (
            "Conditional Access status".into(),
            st(r, "conditionalAccessStatus"),
        ),
        ("Message".into(), st(r, "message")),
    ];
    let mut applies = Table::new(
        "applies-table",
        "Policies that apply",
        &["Policy", "Result", "Controls", "Why"],
        "No policy applies.",
    );
    let mut not = Table::new(
        "not-applies-table",
        "Policies that do not apply",
        &["Policy", "Result", "Why not"],
        "Every policy applies.",
    );
    for p in items(r) {
        let name = Cell::link(
            st(p, "displayName"),
            format!("/admin/conditional-access/policies/{}", st(p, "id")),
        );
        if p["policyApplies"] == true {
            let mut c = join(&p["enforcedGrantControls"]);
            let sc = join(&p["enforcedSessionControls"]);
            if !sc.is_empty() {
                c = if c.is_empty() {
                    sc
                } else {
                    format!("{c}; {sc}")
                };
            }
            applies.rows.push(vec![
                name,
                Cell::text(st(p, "result")),
                Cell::text(c),
                Cell::text(st(p, "reason")),
            ]);
        } else {
            not.rows.push(vec![
                name,
                Cell::text(st(p, "result")),
                Cell::text(st(p, "reason")),
            ]);
        }
    }
    out.table = Some(applies);
    let mut n = Section::new("what-if-not", "Not applied");
    n.table = Some(not);
    vec![out, n]
}

async fn what_if(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let r = a
        .graph(
            Method::POST,
            "/v1.0/identity/conditionalAccess/evaluate",
            Some(what_if_body(&f)),
        )
        .await;
    if r.ok() {
        let res = what_if_sections(&r.body);
        what_if_page(&mut a, &f, res, StatusCode::OK)
    } else {
        let mut e = Section::new("what-if-error", "Not evaluated");
        e.note = Some(r.message());
        what_if_page(&mut a, &f, vec![e], error_status(&r))
    }
}

// ---------------------------------------------------------------- Named locations

fn location_kind(l: &Value) -> &'static str {
    if l["@odata.type"]
        .as_str()
        .is_some_and(|t| t.contains("country"))
        || l.get("countriesAndRegions").is_some()
    {
        "Countries"
    } else {
        "IP ranges"
    }
}

async fn locations_page(
    a: &mut Admin,
    f: &HashMap<String, String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let r = a.graph(Method::GET, LOCATIONS, None).await;
    if !r.ok() {
        return a.api_error("Named locations", &r, BLADE);
    }
    let csrf = a.session.csrf.clone();
    let may = a.may(WRITE);
    let mut list = Section::new("locations", "Named locations");
    let mut t = Table::new(
        "locations-table",
        "Named locations",
        &["Name", "Type", "Trusted", "Ranges or countries", "Id"],
        "No named locations.",
    );
    let mut deletes = Vec::new();
    for l in items(&r.body) {
        let kind = location_kind(l);
        let what = if kind == "Countries" {
            let mut c = join(&l["countriesAndRegions"]);
            if l["includeUnknownCountriesAndRegions"] == true {
                c.push_str(" (and unknown)");
            }
            c
        } else {
            l["ipRanges"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| st(x, "cidrAddress"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let id = st(l, "id");
        t.rows.push(vec![
            Cell::text(st(l, "displayName")),
            Cell::text(kind),
            Cell::text(if l["isTrusted"] == true { "Yes" } else { "No" }),
            Cell::text(what),
            Cell::text(&id),
        ]);
        if may && uuid::Uuid::parse_str(&id).is_ok() {
            deletes.push(
                Form::post(
                    &format!("delete-{id}"),
                    format!("/admin/conditional-access/named-locations/{id}/delete"),
                    &format!("Delete {}", st(l, "displayName")),
                    "Delete location",
                    &csrf,
                )
                .fields(vec![Field::new(
                    "checkbox",
                    "confirm",
                    "Yes, delete this location",
                )
                .required()])
                .danger(),
            );
        }
    }
    list.table = Some(t);
    list.forms = deletes;
    let mut new = Section::new("new-location", "New named location");
    if let Some(e) = error {
        new.note = Some(format!("Not created: {e}"));
    }
    let kind = fv(f, "kind");
    let keep = |k: &str, name: &str| {
        if kind == k {
            fv(f, name)
        } else {
            String::new()
        }
    };
    let keep_on = |k: &str, name: &str| if kind == k && on(f, name) { "true" } else { "" };
    if may {
        new.forms.push(
            Form::post(
                "new-ip",
                "/admin/conditional-access/named-locations",
                "IP ranges",
                "Create IP ranges location",
                &csrf,
            )
            .hint("CIDR ranges, IPv4 or IPv6, separated by commas.")
            .fields(vec![
                Field::new("hidden", "kind", "").value("ip"),
                Field::new("text", "displayName", "Name")
                    .value(keep("ip", "displayName"))
                    .required(),
                Field::new("text", "ranges", "IP ranges (CIDR)")
                    .value(keep("ip", "ranges"))
                    .required(),
                Field::new("checkbox", "trusted", "Mark as trusted location")
                    .value(keep_on("ip", "trusted")),
            ]),
        );
        new.forms.push(
            Form::post(
                "new-country",
                "/admin/conditional-access/named-locations",
                "Countries or regions",
                "Create countries location",
                &csrf,
            )
            .hint("Two-letter ISO 3166 codes (NZ, DE, US), separated by commas.")
            .fields(vec![
                Field::new("hidden", "kind", "").value("country"),
                Field::new("text", "displayName", "Location name")
                    .value(keep("country", "displayName"))
                    .required(),
                Field::new("text", "countries", "Countries or regions")
                    .value(keep("country", "countries"))
                    .required(),
                Field::new(
                    "checkbox",
                    "unknown",
                    "Include unknown countries and regions",
                )
                .value(keep_on("country", "unknown")),
            ]),
        );
    } else {
        new.note = Some(not_yours(
            "create or delete named locations",
            "Conditional Access Administrator, Security Administrator",
        ));
    }
    let l = a.layout("Named locations", CURRENT);
    render(
        status,
        &super::view::Page {
            l,
            search: None,
            sections: vec![new, list],
        },
    )
}

async fn locations(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = admin!(s, ctx);
    locations_page(&mut a, &HashMap::new(), None, StatusCode::OK).await
}

/// A named location's Graph body from its form.
pub fn location_body(f: &HashMap<String, String>) -> Value {
    if fv(f, "kind") == "country" {
        json!({
            "@odata.type": "#microsoft.graph.countryNamedLocation",
            "displayName": fv(f, "displayName"),
            "countriesAndRegions": split_list(&fv(f, "countries")).iter().map(|c| c.to_uppercase()).collect::<Vec<_>>(),
            "includeUnknownCountriesAndRegions": on(f, "unknown"),
        })
    } else {
        json!({
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "displayName": fv(f, "displayName"),
            "isTrusted": on(f, "trusted"),
            "ipRanges": split_list(&fv(f, "ranges")).iter().map(|r| {
                let t = if r.contains(':') { "#microsoft.graph.iPv6CidrRange" } else { "#microsoft.graph.iPv4CidrRange" };
                json!({"@odata.type": t, "cidrAddress": r})
            }).collect::<Vec<_>>(),
        })
    }
}

async fn create_location(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let r = a
        .graph(Method::POST, LOCATIONS, Some(location_body(&f)))
        .await;
    if r.ok() {
        a.flash(format!(
            "Named location '{}' created.",
            fv(&f, "displayName")
        ));
        Redirect::to("/admin/conditional-access/named-locations").into_response()
    } else {
        let status = error_status(&r);
        locations_page(&mut a, &f, Some(r.message()), status).await
    }
}

async fn delete_location(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = admin_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = "/admin/conditional-access/named-locations";
    if !on(&f, "confirm") {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Not deleted",
            "error",
            "Tick \"Yes, delete this location\" to delete it; nothing was deleted.",
            Some((back.into(), "Back to named locations".into())),
        );
    }
    let r = a
        .graph(Method::DELETE, &format!("{LOCATIONS}/{id}"), None)
        .await;
    if r.ok() {
        a.flash("Named location deleted.");
        Redirect::to(back).into_response()
    } else {
        a.api_error("The location was not deleted", &r, back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn the_editor_form_becomes_graphs_policy_and_back() {
        let f = form(&[
            ("displayName", "MFA for ann"),
            ("state", "enabledForReportingButNotEnforced"),
            (
                "includeUsers",
                "ann@x.test, 11111111-1111-1111-1111-111111111111",
            ),
            ("includeGuests", "true"),
            ("excludeGroups", "22222222-2222-2222-2222-222222222222"),
            ("includeApplications", "All"),
            ("cat.browser", "true"),
            ("pi.iOS", "true"),
            ("pe.android", "true"),
            ("includeLocations", "All"),
            ("excludeLocations", "AllTrusted"),
            ("sr.high", "true"),
            ("ur.medium", "true"),
            ("grant", "grant"),
            ("g.mfa", "true"),
            ("g.compliantDevice", "true"),
            ("operator", "AND"),
            ("authStrength", STRENGTHS[2].0),
            ("sifValue", "4"),
            ("sifUnit", "hours"),
            ("persistentBrowser", "never"),
        ]);
        let upns = HashMap::from([("ann@x.test".to_string(), "aaaa".to_string())]);
        let b = policy_body(&f, &upns).unwrap();
        let c = &b["conditions"];
        assert_eq!(
            c["users"]["includeUsers"],
            json!([
                "aaaa",
                "11111111-1111-1111-1111-111111111111",
                "GuestsOrExternalUsers"
            ])
        );
        assert_eq!(c["clientAppTypes"], json!(["browser"]));
        assert_eq!(
            c["platforms"],
            json!({"includePlatforms": ["iOS"], "excludePlatforms": ["android"]})
        );
        assert_eq!(c["locations"]["excludeLocations"], json!(["AllTrusted"]));
        assert_eq!(c["signInRiskLevels"], json!(["high"]));
        assert_eq!(c["userRiskLevels"], json!(["medium"]));
        assert_eq!(b["grantControls"]["operator"], "AND");
        assert_eq!(
            b["grantControls"]["builtInControls"],
            json!(["mfa", "compliantDevice"])
        );
        assert_eq!(
            b["grantControls"]["authenticationStrength"]["displayName"],
            "Phishing-resistant MFA"
        );
        assert_eq!(b["sessionControls"]["signInFrequency"]["value"], 4);
        assert_eq!(b["sessionControls"]["persistentBrowser"]["mode"], "never");
        // And back: what the editor shows for the stored policy (ids where UPNs were).
        let back = policy_form(&b);
        for k in [
            "includeGuests",
            "pi.iOS",
            "pe.android",
            "sr.high",
            "ur.medium",
            "g.mfa",
            "g.compliantDevice",
            "cat.browser",
        ] {
            assert_eq!(back.get(k).map(String::as_str), Some("true"), "{k}");
        }
        assert_eq!(
            back["includeUsers"],
            "aaaa, 11111111-1111-1111-1111-111111111111"
        );
        assert_eq!(back["operator"], "AND");
        assert_eq!(back["sifValue"], "4");
        assert_eq!(back["persistentBrowser"], "never");
        assert_eq!(policy_body(&back, &HashMap::new()).unwrap(), b);
    }

    #[test]
    fn block_none_and_every_time_are_their_own_shapes() {
        let b = policy_body(
            &form(&[("grant", "block"), ("g.mfa", "true")]),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(b["grantControls"]["builtInControls"], json!(["block"]));
        assert!(b["sessionControls"].is_null());
        assert!(b["conditions"]["platforms"].is_null() && b["conditions"]["locations"].is_null());
        let b = policy_body(
            &form(&[("grant", "none"), ("sifEveryTime", "true")]),
            &HashMap::new(),
        )
        .unwrap();
        assert!(b["grantControls"].is_null());
        assert_eq!(
            b["sessionControls"]["signInFrequency"]["frequencyInterval"],
            "everyTime"
        );
        assert_eq!(policy_form(&b)["grant"], "none");
        assert_eq!(policy_form(&b)["sifEveryTime"], "true");
    }

    #[test]
    fn bad_input_is_named_and_nothing_is_guessed() {
        let e =
            policy_body(&form(&[("includeUsers", "nobody@x.test")]), &HashMap::new()).unwrap_err();
        assert!(
            e.contains("nobody@x.test") && e.contains("includeUsers"),
            "{e}"
        );
        let e = policy_body(&form(&[("sifValue", "four")]), &HashMap::new()).unwrap_err();
        assert!(e.contains("four"), "{e}");
        let e = policy_body(
            &form(&[("includeGroups", &"x".repeat(MAX_LIST_CHARS + 1))]),
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(e.contains("includeGroups"), "{e}");
        // Positive control: the same fields well-formed.
        assert!(policy_body(
            &form(&[("sifValue", "4"), ("includeGroups", "x")]),
            &HashMap::new()
        )
        .is_ok());
        assert_eq!(
            upns_in(&form(&[
                ("includeUsers", "B@x.test,a@x.test"),
                ("excludeUsers", "a@x.test All")
            ])),
            vec!["B@x.test", "a@x.test"]
        );
    }

    #[test]
    fn what_if_and_locations_bodies() {
        let b = what_if_body(&form(&[
            ("user", "ann@x.test"),
            ("signInRiskLevel", "none"),
            ("userRiskLevel", "high"),
            ("device", "compliant"),
            ("ipAddress", ""),
        ]));
        assert_eq!(
            b,
            json!({"userId": "ann@x.test", "userRiskLevel": "high", "deviceIsCompliant": true})
        );
        let l = location_body(&form(&[
            ("kind", "ip"),
            ("displayName", "HQ"),
            ("ranges", "10.0.0.0/8, 2001:db8::/32"),
            ("trusted", "true"),
        ]));
        assert_eq!(
            l["ipRanges"][1]["@odata.type"],
            "#microsoft.graph.iPv6CidrRange"
        );
        assert_eq!(l["isTrusted"], true);
        let l = location_body(&form(&[
            ("kind", "country"),
            ("displayName", "X"),
            ("countries", "nz de"),
        ]));
        assert_eq!(l["countriesAndRegions"], json!(["NZ", "DE"]));
    }

    #[test]
    fn replay_answers_link_each_example_sign_in() {
        let r = json!({"policy": {"displayName": "p"}, "evaluated": 3, "wouldBlock": [{"userId": "u1", "userPrincipalName": "a@x", "signIns": 2, "controls": ["block"], "examples": ["s1", "s2"]}], "wouldChallenge": []});
        let s = replay_sections(&r);
        let t = s[1].table.as_ref().unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1][3].href.as_deref(), Some("/admin/sign-ins/s2"));
        assert!(s[2].table.as_ref().unwrap().rows.is_empty());
    }
}
