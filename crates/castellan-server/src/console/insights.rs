//! Charts a person would rather look at than read, for the Overview and the Identity Protection
//! blade: Conditional Access outcomes over recent sign-ins, risky sign-ins and users by level,
//! and MFA use by users and by administrators. Each is a server-rendered SVG (no script) with a
//! table beside it as its text equivalent; the counts are pure functions of Graph's answers.
//!
//! MFA coverage is read from the sign-in log (`authenticationRequirement` of each user's
//! successful sign-ins of the last seven days): Castellan has no
//! `/reports/authenticationMethods/userRegistrationDetails`, and asking every user's methods
//! would not stay fast on a 100,000-user tenant.

use std::collections::{HashMap, HashSet};

use axum::http::Method;
use serde_json::Value;

use super::api::q;
use super::blades::{items, st};
use super::chart::esc;
use super::view::{Cell, Section, Table};
use super::Admin;

/// Horizontal bars, one per `(label, value)`, scaled to the largest; `id` makes the title's
/// id unique on the page. `max` fixes the scale (percentages) when given.
pub fn bars(id: &str, title: &str, rows: &[(String, u64)], max: Option<u64>) -> String {
    let (w, row, left) = (640.0_f64, 26.0_f64, 190.0_f64);
    let h = row * rows.len().max(1) as f64 + 8.0;
    let top = max
        .unwrap_or_else(|| rows.iter().map(|r| r.1).max().unwrap_or(0))
        .max(1) as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"{id}-title\"><title id=\"{id}-title\">{}</title>",
        esc(title)
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let len = (*v as f64) / top * (w - left - 60.0);
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#1b1b1b\">{}</text>",
            left - 8.0,
            y + 15.0,
            esc(label)
        ));
        out.push_str(&format!(
            "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{len:.1}\" height=\"{:.1}\" fill=\"#0052a3\"><title>{}: {v}</title></rect>",
            row - 8.0,
            esc(label)
        ));
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#1b1b1b\">{v}</text>",
            left + len + 6.0,
            y + 15.0
        ));
    }
    out.push_str("</svg>");
    out
}

/// A chart section: the bars and the same numbers as a table.
pub fn chart_section(
    id: &str,
    title: &str,
    rows: &[(String, u64)],
    unit: &str,
    max: Option<u64>,
) -> Section {
    let mut s = Section::new(id, title);
    s.svg = Some(bars(id, title, rows, max));
    let mut t = Table::new(
        &format!("{id}-data"),
        &format!("{title} (data)"),
        &["", unit],
        "",
    );
    for (l, v) in rows {
        t.rows.push(vec![Cell::text(l), Cell::text(v.to_string())]);
    }
    s.table = Some(t);
    s
}

/// The Conditional Access outcomes of sign-ins: each sign-in's `conditionalAccessStatus`, and
/// each report-only policy's result across them.
pub fn ca_outcomes(sign_ins: &[Value]) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = [
        "success",
        "failure",
        "notApplied",
        "reportOnlySuccess",
        "reportOnlyFailure",
        "reportOnlyInterrupted",
        "reportOnlyNotApplied",
    ]
    .iter()
    .map(|k| ((*k).to_string(), 0))
    .collect();
    let mut bump = |k: &str| {
        if let Some(c) = counts.iter_mut().find(|c| c.0 == k) {
            c.1 += 1;
        }
    };
    for x in sign_ins {
        bump(&st(x, "conditionalAccessStatus"));
        for p in x["appliedConditionalAccessPolicies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let r = st(p, "result");
            if r.starts_with("reportOnly") {
                bump(&r);
            }
        }
    }
    counts
}

/// Sign-ins by `riskLevelDuringSignIn` (low, medium, high; `none` and hidden are left out).
pub fn by_level(xs: &[Value], key: &str) -> Vec<(String, u64)> {
    ["high", "medium", "low"]
        .iter()
        .map(|l| {
            (
                (*l).to_string(),
                xs.iter().filter(|x| st(x, key) == *l).count() as u64,
            )
        })
        .collect()
}

/// MFA coverage: `(users who signed in, of them with an MFA sign-in)` for everyone and for the
/// `admins` among them, from successful sign-ins.
pub fn mfa_coverage(sign_ins: &[Value], admins: &HashSet<String>) -> ((u64, u64), (u64, u64)) {
    let mut users: HashMap<String, bool> = HashMap::new();
    for x in sign_ins {
        let uid = st(x, "userId");
        if uid.is_empty() || x["status"]["errorCode"].as_i64().unwrap_or(0) != 0 {
            continue;
        }
        let mfa = st(x, "authenticationRequirement") == "multiFactorAuthentication";
        let e = users.entry(uid).or_insert(false);
        *e |= mfa;
    }
    let count = |f: &dyn Fn(&String) -> bool| {
        let v: Vec<_> = users.iter().filter(|(k, _)| f(k)).collect();
        (v.len() as u64, v.iter().filter(|(_, m)| **m).count() as u64)
    };
    (count(&|_| true), count(&|k| admins.contains(k)))
}

fn pct(part: u64, whole: u64) -> u64 {
    (part * 100).checked_div(whole).unwrap_or(0)
}

/// The last seven days' sign-ins (at most 999), or Graph's refusal.
pub async fn recent_sign_ins(a: &mut Admin) -> Result<Vec<Value>, String> {
    let since = (chrono::Utc::now() - chrono::Duration::days(7))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let path = format!(
        "/v1.0/auditLogs/signIns?$top=999&$select=id,createdDateTime,userId,userPrincipalName,status,conditionalAccessStatus,appliedConditionalAccessPolicies,riskLevelDuringSignIn,riskState,authenticationRequirement,ipAddress,appDisplayName&$filter={}",
        q(&format!("createdDateTime ge {since}"))
    );
    let r = a.graph(Method::GET, &path, None).await;
    if r.ok() {
        Ok(items(&r.body).to_vec())
    } else {
        Err(r.message())
    }
}

/// The Overview's charts: Conditional Access outcomes and MFA coverage.
pub async fn overview_sections(a: &mut Admin) -> Vec<Section> {
    let sign_ins = match recent_sign_ins(a).await {
        Ok(s) => s,
        Err(m) => {
            let mut s = Section::new("ca-outcomes", "Conditional Access outcomes");
            s.note = Some(format!("Not shown: {m}"));
            return vec![s];
        }
    };
    let mut ca = chart_section(
        "ca-outcomes",
        "Conditional Access outcomes, last 7 days",
        &ca_outcomes(&sign_ins),
        "Count",
        None,
    );
    ca.note = Some("Each sign-in's Conditional Access status, and each report-only policy's result over those sign-ins.".into());
    let r = a
        .graph(
            Method::GET,
            "/v1.0/roleManagement/directory/roleAssignments?$top=999",
            None,
        )
        .await;
    let admins: HashSet<String> = items(&r.body)
        .iter()
        .map(|x| st(x, "principalId"))
        .collect();
    let ((u, um), (ad, adm)) = mfa_coverage(&sign_ins, &admins);
    let mut mfa = chart_section(
        "mfa-coverage",
        "MFA coverage, last 7 days (percent)",
        &[
            (format!("Users ({um} of {u})"), pct(um, u)),
            (format!("Administrators ({adm} of {ad})"), pct(adm, ad)),
        ],
        "Percent",
        Some(100),
    );
    mfa.note = Some(if r.ok() {
        "Of the users who signed in successfully, those with at least one multifactor sign-in."
            .into()
    } else {
        format!("Of the users who signed in successfully, those with at least one multifactor sign-in. Administrators not known: {}", r.message())
    });
    vec![ca, mfa]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes_count_statuses_and_report_only_results() {
        let xs = vec![
            json!({"conditionalAccessStatus": "success", "appliedConditionalAccessPolicies": [{"result": "reportOnlyFailure"}, {"result": "success"}]}),
            json!({"conditionalAccessStatus": "notApplied", "appliedConditionalAccessPolicies": [{"result": "reportOnlyNotApplied"}]}),
            json!({"conditionalAccessStatus": "failure"}),
        ];
        let c: HashMap<String, u64> = ca_outcomes(&xs).into_iter().collect();
        assert_eq!((c["success"], c["failure"], c["notApplied"]), (1, 1, 1));
        assert_eq!(
            (
                c["reportOnlyFailure"],
                c["reportOnlyNotApplied"],
                c["reportOnlySuccess"]
            ),
            (1, 1, 0)
        );
    }

    #[test]
    fn mfa_coverage_counts_users_once_and_ignores_failures() {
        let xs = vec![
            json!({"userId": "a", "status": {"errorCode": 0}, "authenticationRequirement": "singleFactorAuthentication"}),
            json!({"userId": "a", "status": {"errorCode": 0}, "authenticationRequirement": "multiFactorAuthentication"}),
            json!({"userId": "b", "status": {"errorCode": 0}, "authenticationRequirement": "singleFactorAuthentication"}),
            json!({"userId": "c", "status": {"errorCode": 50126}, "authenticationRequirement": "multiFactorAuthentication"}),
        ];
        let admins = HashSet::from(["b".to_string()]);
        assert_eq!(mfa_coverage(&xs, &admins), ((2, 1), (1, 0)));
        assert_eq!(pct(1, 2), 50);
        assert_eq!(pct(0, 0), 0);
    }

    #[test]
    fn bars_escape_labels_and_have_unique_titles() {
        let svg = bars("x1", "<t>", &[("<b>".into(), 3), ("y".into(), 0)], None);
        assert!(!svg.contains("<b>") && !svg.contains("<t>"), "{svg}");
        assert!(svg.contains("aria-labelledby=\"x1-title\"") && svg.contains("id=\"x1-title\""));
        assert!(bars("e", "t", &[], None).ends_with("</svg>"));
        let r = by_level(&[json!({"r": "high"}), json!({"r": "none"})], "r");
        assert_eq!(r[0], ("high".to_string(), 1));
        assert_eq!(r[2], ("low".to_string(), 0));
    }
}
