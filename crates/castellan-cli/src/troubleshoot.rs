//! `castellan troubleshoot`: the access troubleshooter from the command line, the same answers
//! the console shows at `/admin/troubleshoot`. `--correlation-id …` asks
//! `GET /v1.0/auditLogs/troubleshoot` (a Castellan extension over the sign-in log) for the
//! failure family of each sign-in with that correlation id; `--token …` (or `--token -` to read
//! it from standard input) and `--principal … --action … [--scope …]` ask
//! `POST /v1.0/auditLogs/troubleshoot` about a token or an access. Exits 3 when something failed.

use anyhow::{bail, Result};
use clap::Args;
use serde_json::Value;

use crate::admin::GraphConn;

struct CorrelationArgs {
    correlation_id: String,
}

/// `castellan troubleshoot`.
#[derive(Args)]
pub struct TroubleshootArgs {
    /// The correlation id of the failed request (its `client-request-id` or the error's
    /// `correlation_id`); waits up to 10 s for the sign-in to be logged.
    #[arg(long, conflicts_with_all = ["token", "principal"])]
    correlation_id: Option<String>,
    /// A token to check (`-`: read it from standard input, keeping it out of shell history).
    #[arg(long, conflicts_with = "principal")]
    token: Option<String>,
    /// With --token: the API it was sent to (`graph`, `arm`, or an appId / identifier URI).
    #[arg(long, requires = "token")]
    resource: Option<String>,
    /// With --token: the scope or app role the call needs.
    #[arg(long, requires = "token")]
    permission: Option<String>,
    /// An access question: the user (principal name or object id), group or service principal.
    #[arg(long, requires = "action")]
    principal: Option<String>,
    /// With --principal: the action (`microsoft.directory/…` for the directory, any other for
    /// Azure RBAC).
    #[arg(long, requires = "principal")]
    action: Option<String>,
    /// With --principal and an Azure action: the ARM scope.
    #[arg(long, requires = "principal")]
    scope: Option<String>,
}

/// Prints findings (`{findings: [...]}`); true when one is not a success.
fn print_findings(v: &Value) -> bool {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut failed = false;
    for f in v["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        failed |= f["family"] != "success";
        println!("{} ({})", text(&f["title"]), text(&f["family"]));
        println!("  Evidence: {}", text(&f["evidence"]));
        println!("  {}", text(&f["fix"]));
        if let Some(b) = f["consoleBlade"].as_str() {
            println!("  Fix it in the console: {b}");
        }
    }
    failed
}

/// A token or an access question.
async fn question(args: &TroubleshootArgs, conn: GraphConn) -> Result<()> {
    let body = if let Some(t) = &args.token {
        let token = if t == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s.trim().to_string()
        } else {
            t.clone()
        };
        let mut b = serde_json::json!({"token": token});
        if let Some(r) = &args.resource {
            b["resource"] = r.clone().into();
        }
        if let Some(p) = &args.permission {
            b["permission"] = p.clone().into();
        }
        b
    } else {
        let (Some(p), Some(a)) = (&args.principal, &args.action) else {
            bail!("pass --correlation-id <GUID>, --token <JWT|->, or --principal <upn|id> --action <action> [--scope <ARM scope>]");
        };
        let g = conn.connect().await?;
        let id = if uuid::Uuid::parse_str(p).is_ok() {
            p.clone()
        } else {
            let u = g.get(&format!("/users/{p}?$select=id")).await?;
            u["id"].as_str().unwrap_or_default().to_string()
        };
        let mut b = serde_json::json!({"principalId": id, "action": a});
        if let Some(s) = &args.scope {
            b["scope"] = s.clone().into();
        }
        let v = g.post("/auditLogs/troubleshoot", &b).await?;
        return finish(&g, &v);
    };
    let g = conn.connect().await?;
    let v = g.post("/auditLogs/troubleshoot", &body).await?;
    finish(&g, &v)
}

fn finish(g: &crate::admin::Graph, v: &Value) -> Result<()> {
    let failed = if g.json {
        g.show(v)?;
        v["findings"]
            .as_array()
            .is_some_and(|a| a.iter().any(|f| f["family"] != "success"))
    } else {
        print_findings(v)
    };
    if failed {
        std::process::exit(3);
    }
    Ok(())
}

/// Runs it.
pub async fn run(args: TroubleshootArgs, conn: GraphConn) -> Result<()> {
    let Some(correlation_id) = args.correlation_id.clone() else {
        return question(&args, conn).await;
    };
    let args = CorrelationArgs { correlation_id };
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
