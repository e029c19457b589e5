//! `castellan ca`: Conditional Access policies through Graph (create from a JSON file, change
//! state, delete, list), impact replay of a draft over past sign-ins (a Castellan extension),
//! and the tenant's security defaults.

use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::admin::{read_json, uuid_like, Graph, GraphConn};

/// `castellan ca …`.
#[derive(Subcommand)]
pub enum CaCmd {
    /// List the policies (id, name, state).
    List,
    /// Create a policy from a file holding Graph's conditionalAccessPolicy JSON; prints its id.
    Create {
        /// The JSON file ('-' for standard input).
        file: String,
    },
    /// Set a policy's state: enabled, disabled or enabledForReportingButNotEnforced.
    SetState {
        /// The policy id.
        id: String,
        /// The new state.
        state: String,
    },
    /// Delete a policy.
    Delete {
        /// The policy id.
        id: String,
    },
    /// Who a draft policy would have blocked or challenged over the last days of sign-ins
    /// (POST /v1.0/identity/conditionalAccess/replay, a Castellan extension). Exits 3 when
    /// anyone would have been blocked or challenged.
    Replay {
        /// A JSON file holding the draft policy, or a stored policy's id.
        #[arg(long)]
        policy: String,
        /// Look-back in days (1–30).
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
    /// A user's newest sign-ins, with every Conditional Access policy's result for each.
    SignIns {
        /// The user's UPN.
        #[arg(long, required_unless_present = "correlation_id")]
        user: Option<String>,
        /// The sign-in whose request carried this `client-request-id` (its correlation id);
        /// waits up to 10 s for it to be logged (the log is written in batches, a moment after
        /// the sign-in).
        #[arg(long)]
        correlation_id: Option<String>,
        /// How many sign-ins.
        #[arg(long, default_value_t = 1)]
        top: usize,
    },
    /// Show security defaults, or turn them on or off.
    SecurityDefaults {
        /// on or off (omit to show).
        state: Option<String>,
    },
}

const POLICIES: &str = "/identity/conditionalAccess/policies";
const SECURITY_DEFAULTS: &str = "/policies/identitySecurityDefaultsEnforcementPolicy";

fn read_policy(file: &str) -> Result<Value> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(Path::new(file)).with_context(|| format!("cannot read {file}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))
}

async fn patch(g: &Graph, path: &str, body: &Value) -> Result<Value> {
    read_json(
        g.http
            .patch(format!("{}{path}", g.base))
            .bearer_auth(&g.token)
            .json(body)
            .send()
            .await?,
    )
    .await
}

/// Runs `castellan ca …`.
pub async fn run(cmd: CaCmd, conn: GraphConn) -> Result<()> {
    let g = conn
        .connect_to("https://graph.microsoft.com/.default", "/v1.0")
        .await?;
    match cmd {
        CaCmd::List => {
            let all = g.get_all(POLICIES).await?;
            g.list(&all, &["id", "displayName", "state"])
        }
        CaCmd::Create { file } => {
            let v = g.post(POLICIES, &read_policy(&file)?).await?;
            if g.json {
                return g.show(&v);
            }
            println!("{}", v["id"].as_str().unwrap_or_default());
            Ok(())
        }
        CaCmd::SetState { id, state } => {
            let known = ["enabled", "disabled", "enabledForReportingButNotEnforced"];
            let Some(state) = known.iter().find(|k| k.eq_ignore_ascii_case(&state)) else {
                bail!("state '{state}' is not one of {}", known.join(", "));
            };
            patch(&g, &format!("{POLICIES}/{id}"), &json!({"state": state})).await?;
            println!("{id}: {state}");
            Ok(())
        }
        CaCmd::Delete { id } => {
            g.delete(&format!("{POLICIES}/{id}")).await?;
            println!("deleted {id}");
            Ok(())
        }
        CaCmd::Replay { policy, days } => {
            let body = if uuid_like(&policy) && !Path::new(&policy).exists() {
                json!({"policyId": policy, "days": days})
            } else {
                json!({"policy": read_policy(&policy)?, "days": days})
            };
            let v = g.post("/identity/conditionalAccess/replay", &body).await?;
            if g.json {
                g.show(&v)?;
            } else {
                print_replay(&v);
            }
            let affected = |k: &str| v[k].as_array().is_some_and(|a| !a.is_empty());
            if affected("wouldBlock") || affected("wouldChallenge") {
                std::process::exit(3);
            }
            Ok(())
        }
        CaCmd::SignIns {
            user,
            correlation_id,
            top,
        } => {
            let quote = |v: &str| v.replace('\'', "''");
            let mut terms = Vec::new();
            if let Some(u) = &user {
                terms.push(format!("userPrincipalName eq '{}'", quote(u)));
            }
            if let Some(c) = &correlation_id {
                terms.push(format!("correlationId eq '{}'", quote(c)));
            }
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("$filter", &terms.join(" and "))
                .append_pair("$top", &top.to_string())
                .finish();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let items = loop {
                let v = g.get(&format!("/auditLogs/signIns?{q}")).await?;
                let items = v["value"].as_array().cloned().unwrap_or_default();
                let done = !items.is_empty() || correlation_id.is_none();
                if done || std::time::Instant::now() > deadline {
                    break items;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            };
            let who = user.or(correlation_id).unwrap_or_default();
            if g.json {
                return g.show(&Value::Array(items));
            }
            if items.is_empty() {
                println!("no sign-ins of {who}");
            }
            for s in &items {
                println!(
                    "{} {} from {}: errorCode {}, conditionalAccessStatus {}",
                    s["createdDateTime"].as_str().unwrap_or("?"),
                    s["userPrincipalName"].as_str().unwrap_or("?"),
                    s["ipAddress"].as_str().unwrap_or("?"),
                    s["status"]["errorCode"],
                    s["conditionalAccessStatus"].as_str().unwrap_or("?"),
                );
                let rows = s["appliedConditionalAccessPolicies"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if !rows.is_empty() {
                    crate::admin::table(&Value::Array(rows), &["displayName", "result"]);
                }
            }
            Ok(())
        }
        CaCmd::SecurityDefaults { state } => {
            if let Some(s) = state {
                let on = match s.to_ascii_lowercase().as_str() {
                    "on" | "true" | "enabled" => true,
                    "off" | "false" | "disabled" => false,
                    _ => bail!("say on or off (got '{s}')"),
                };
                patch(&g, SECURITY_DEFAULTS, &json!({"isEnabled": on})).await?;
            }
            let v = g.get(SECURITY_DEFAULTS).await?;
            if g.json {
                return g.show(&v);
            }
            println!(
                "security defaults: {}",
                if v["isEnabled"] == true { "on" } else { "off" }
            );
            Ok(())
        }
    }
}

fn print_replay(v: &Value) {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    println!(
        "replay of '{}' over {} to {}: {} sign-ins evaluated, {} not applied, {} already satisfied{}",
        v["policy"]["displayName"].as_str().unwrap_or("?"),
        v["from"].as_str().unwrap_or("?"),
        v["to"].as_str().unwrap_or("?"),
        n("evaluated"),
        n("notApplied"),
        n("satisfied"),
        if v["truncated"] == true {
            format!(" (only the newest {} sign-ins were read)", n("cap"))
        } else {
            String::new()
        }
    );
    for (key, title) in [
        ("wouldBlock", "would be blocked"),
        ("wouldChallenge", "would be challenged"),
    ] {
        let rows: Vec<Value> = v[key]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                json!({
                    "userPrincipalName": u["userPrincipalName"],
                    "signIns": u["signIns"],
                    "controls": u["controls"].as_array().map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
                })
            })
            .collect();
        println!("{title}: {}", rows.len());
        if !rows.is_empty() {
            crate::admin::table(
                &Value::Array(rows),
                &["userPrincipalName", "signIns", "controls"],
            );
        }
    }
}
