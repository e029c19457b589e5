//! `castellan troubleshoot --correlation-id …`: the access troubleshooter from the command line.
//! Asks `GET /v1.0/auditLogs/troubleshoot` (a Castellan extension over the sign-in log) for the
//! failure family of each sign-in with that correlation id — `core::troubleshoot::diagnose`, the
//! same judgement the console shows at `/admin/troubleshoot`. Exits 3 when a sign-in failed.

use anyhow::{bail, Result};
use clap::Args;
use serde_json::Value;

use crate::admin::GraphConn;

/// `castellan troubleshoot`.
#[derive(Args)]
pub struct TroubleshootArgs {
    /// The correlation id of the failed request (its `client-request-id` or the error's
    /// `correlation_id`); waits up to 10 s for the sign-in to be logged.
    #[arg(long)]
    correlation_id: String,
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
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let items = loop {
        let v = g
            .get(&format!(
                "/auditLogs/troubleshoot?correlationId={}",
                args.correlation_id
            ))
            .await?;
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
    let out = items;
    if g.json {
        g.show(&Value::Array(out.clone()))?;
    } else {
        for x in &out {
            let (r, d) = (&x["signIn"], &x["diagnosis"]);
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            println!(
                "{}  {} → {}",
                text(&r["correlationId"]),
                text(&r["userPrincipalName"]),
                text(&r["appDisplayName"])
            );
            match r["status"]["errorCode"].as_i64().unwrap_or(0) {
                0 => println!("  {}", text(&d["title"])),
                code => println!("  AADSTS{code}: {}", text(&d["title"])),
            }
            println!("  {}", text(&d["fix"]));
            if let Some(b) = d["consoleBlade"].as_str() {
                println!("  Fix it in the console: {b}");
            }
        }
    }
    if out
        .iter()
        .any(|x| x["signIn"]["status"]["errorCode"].as_i64().unwrap_or(0) != 0)
    {
        std::process::exit(3);
    }
    Ok(())
}
