//! The Identity Protection blade: risky users (level, state, last updated) with Confirm
//! compromised and Dismiss (`POST /identityProtection/riskyUsers/confirmCompromised` and
//! `/dismiss`), risk detections, risky sign-ins (from the sign-in log's
//! `riskLevelDuringSignIn`; Castellan has no `riskySignIns` list), and charts of both by level.
//! Graph decides who may read (Security Reader and up) and act (Security Administrator and up),
//! and whether the tenant's licence has Identity Protection (Entra ID P2).

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::blades::{items, page, st};
use super::insights::{by_level, chart_section, recent_sign_ins};
use super::view::{Cell, Field, Form, Section, Table};
use super::{Admin, Ctx, FormMap};
use crate::state::AppState;

/// Who may confirm or dismiss user risk.
pub const WRITE: &str = "microsoft.directory/identityProtection/allProperties/update";
const BLADE: &str = "/admin/identity-protection";

/// The blade's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(BLADE, get(blade))
        .route("/admin/identity-protection/act", post(act))
}

async fn blade(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = match Admin::from(&s, ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let csrf = a.session.csrf.clone();
    let mut sections = Vec::new();
    let users = a
        .graph(
            Method::GET,
            "/v1.0/identityProtection/riskyUsers?$top=100",
            None,
        )
        .await;
    let mut ru = Section::new("risky-users", "Risky users");
    if users.ok() {
        let mut t = Table::new(
            "risky-users-table",
            "Risky users",
            &["User", "Risk level", "Risk state", "Detail", "Last updated"],
            "No risky users.",
        );
        let mut at_risk = Vec::new();
        for u in items(&users.body) {
            t.rows.push(vec![
                Cell::link(
                    st(u, "userPrincipalName"),
                    format!("/admin/users/{}", st(u, "id")),
                ),
                Cell::text(st(u, "riskLevel")),
                Cell::text(st(u, "riskState")),
                Cell::text(st(u, "riskDetail")),
                Cell::text(st(u, "riskLastUpdatedDateTime")),
            ]);
            if matches!(
                st(u, "riskState").as_str(),
                "atRisk" | "confirmedCompromised"
            ) {
                at_risk.push((st(u, "id"), st(u, "userPrincipalName")));
            }
        }
        ru.table = Some(t);
        if !a.may(WRITE) {
            ru.note = Some("Your roles do not allow you to confirm or dismiss user risk; a Security Administrator or Global Administrator can.".into());
        } else if at_risk.is_empty() {
            ru.note = Some("No user is at risk, so there is nothing to confirm or dismiss.".into());
        } else {
            for (id, action, title, submit, danger) in [
                (
                    "confirm-compromised",
                    "confirmCompromised",
                    "Confirm a user compromised",
                    "Confirm compromised",
                    true,
                ),
                (
                    "dismiss-risk",
                    "dismiss",
                    "Dismiss a user's risk",
                    "Dismiss risk",
                    false,
                ),
            ] {
                let mut f = Form::post(id, "/admin/identity-protection/act", title, submit, &csrf)
                    .fields(vec![
                        Field::new("hidden", "action", "").value(action),
                        Field::new("select", "userId", "User").options(at_risk.clone()),
                    ]);
                if danger {
                    f = f
                        .hint("Sets the user's risk to high; risk-based policies then apply.")
                        .danger();
                }
                ru.forms.push(f);
            }
        }
        sections.push(chart_section(
            "risky-users-chart",
            "Risky users by level",
            &by_level(items(&users.body), "riskLevel"),
            "Users",
            None,
        ));
    } else {
        ru.note = Some(format!("Not shown: {}", users.message()));
    }
    sections.insert(0, ru);
    let det = a
        .graph(
            Method::GET,
            "/v1.0/identityProtection/riskDetections?$top=50",
            None,
        )
        .await;
    let mut ds = Section::new("detections", "Risk detections");
    if det.ok() {
        let mut t = Table::new(
            "detections-table",
            "Risk detections",
            &["Detected", "Type", "Level", "State", "User", "IP address"],
            "No risk detections.",
        );
        for d in items(&det.body) {
            t.rows.push(vec![
                Cell::text(st(d, "detectedDateTime")),
                Cell::text(st(d, "riskEventType")),
                Cell::text(st(d, "riskLevel")),
                Cell::text(st(d, "riskState")),
                Cell::text(st(d, "userPrincipalName")),
                Cell::text(st(d, "ipAddress")),
            ]);
        }
        ds.table = Some(t);
    } else {
        ds.note = Some(format!("Not shown: {}", det.message()));
    }
    sections.push(ds);
    match recent_sign_ins(&mut a).await {
        Ok(xs) => {
            let risky: Vec<_> = xs
                .iter()
                .filter(|x| {
                    matches!(
                        st(x, "riskLevelDuringSignIn").as_str(),
                        "low" | "medium" | "high"
                    )
                })
                .cloned()
                .collect();
            let mut rs = Section::new("risky-sign-ins", "Risky sign-ins, last 7 days");
            let mut t = Table::new(
                "risky-sign-ins-table",
                "Risky sign-ins",
                &["Sign-in", "User", "Risk level", "Risk state", "IP address"],
                "No risky sign-ins.",
            );
            for x in risky.iter().take(25) {
                t.rows.push(vec![
                    Cell::link(
                        st(x, "createdDateTime"),
                        format!("/admin/sign-ins/{}", st(x, "id")),
                    ),
                    Cell::text(st(x, "userPrincipalName")),
                    Cell::text(st(x, "riskLevelDuringSignIn")),
                    Cell::text(st(x, "riskState")),
                    Cell::text(st(x, "ipAddress")),
                ]);
            }
            rs.table = Some(t);
            sections.push(rs);
            sections.push(chart_section(
                "risky-sign-ins-chart",
                "Risky sign-ins by level, last 7 days",
                &by_level(&risky, "riskLevelDuringSignIn"),
                "Sign-ins",
                None,
            ));
        }
        Err(m) => {
            let mut rs = Section::new("risky-sign-ins", "Risky sign-ins");
            rs.note = Some(format!("Not shown: {m}"));
            sections.push(rs);
        }
    }
    page(&mut a, "Identity Protection", BLADE, None, sections)
}

async fn act(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = match Admin::from(&s, ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(r) = a.check_csrf(&f) {
        return r;
    }
    let action = f.get("action").map(String::as_str).unwrap_or("");
    let (path, done) = match action {
        "confirmCompromised" => ("confirmCompromised", "User confirmed compromised."),
        "dismiss" => ("dismiss", "User risk dismissed."),
        _ => {
            return super::message_page(
                StatusCode::BAD_REQUEST,
                "Not changed",
                "error",
                "The action must be confirmCompromised or dismiss; nothing was changed.",
                Some((BLADE.into(), "Back to Identity Protection".into())),
            )
        }
    };
    let uid = f.get("userId").cloned().unwrap_or_default();
    let r = a
        .graph(
            Method::POST,
            &format!("/v1.0/identityProtection/riskyUsers/{path}"),
            Some(json!({"userIds": [uid.trim()]})),
        )
        .await;
    if r.ok() {
        a.flash(done);
        Redirect::to(BLADE).into_response()
    } else {
        a.api_error("Nothing was changed", &r, BLADE)
    }
}
