//! `castellan troubleshoot --correlation-id …`: the access troubleshooter from the command line.
//! Reads the sign-ins with that correlation id through Graph and names each one's failure
//! family with `core::troubleshoot::diagnose` — the same judgement the console shows at
//! `/admin/troubleshoot`. Exits 3 when a sign-in failed.

use anyhow::{bail, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::admin::GraphConn;

/// `castellan troubleshoot`.
#[derive(Args)]
pub struct TroubleshootArgs {
    /// The correlation id of the failed request (its `client-request-id` or the error's
    /// `correlation_id`); waits up to 10 s for the sign-in to be logged.
    #[arg(long)]
    correlation_id: String,
}

/// The diagnosis of one sign-in record, as printed with `--json`.
pub fn diagnose_record(s: &Value) -> Value {
    let code = u32::try_from(s["status"]["errorCode"].as_i64().unwrap_or(0)).unwrap_or(0);
    let d = castellan_core::troubleshoot::diagnose(code);
    json!({
        "signInId": s["id"], "correlationId": s["correlationId"], "user": s["userPrincipalName"],
        "app": s["appDisplayName"], "errorCode": code, "failureReason": s["status"]["failureReason"],
        "family": format!("{:?}", d.family), "title": d.title, "fix": d.fix, "consoleBlade": d.blade,
    })
}

/// Runs it.
pub async fn run(args: TroubleshootArgs, conn: GraphConn) -> Result<()> {
    if uuid::Uuid::parse_str(&args.correlation_id).is_err() {
        bail!(
            "--correlation-id '{}' is not a GUID: pass the request's client-request-id or the error's correlation_id",
            args.correlation_id
        );
    }
    let g = conn.connect().await?;
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "$filter",
            &format!("correlationId eq '{}'", args.correlation_id),
        )
        .finish();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let items = loop {
        let v = g.get(&format!("/auditLogs/signIns?{q}")).await?;
        let items = v["value"].as_array().cloned().unwrap_or_default();
        if !items.is_empty() || std::time::Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    if items.is_empty() {
        bail!(
            "no sign-in with correlation id {} in this tenant's sign-in log",
            args.correlation_id
        );
    }
    let out: Vec<Value> = items.iter().map(diagnose_record).collect();
    if g.json {
        g.show(&Value::Array(out.clone()))?;
    } else {
        for d in &out {
            println!(
                "{}  {} → {}",
                d["correlationId"].as_str().unwrap_or(""),
                d["user"].as_str().unwrap_or(""),
                d["app"].as_str().unwrap_or("")
            );
            if d["errorCode"] == 0 {
                println!("  {}", d["title"].as_str().unwrap_or(""));
            } else {
                println!(
                    "  AADSTS{}: {}",
                    d["errorCode"],
                    d["title"].as_str().unwrap_or("")
                );
            }
            println!("  {}", d["fix"].as_str().unwrap_or(""));
            if let Some(b) = d["consoleBlade"].as_str() {
                println!("  Fix it in the console: {b}");
            }
        }
    }
    if out.iter().any(|d| d["errorCode"] != 0) {
        std::process::exit(3);
    }
    Ok(())
}
