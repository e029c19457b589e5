//! `castellan report …`: hygiene reports as a table, CSV or JSON — application credentials
//! expiring within N days and grants unused for N days (Graph,
//! `/v1.0/reports/castellan/…`, decided by `core::report`), and service principals holding
//! Owner, Contributor or User Access Administrator at management-group or subscription scope
//! (ARM and Graph, the same report as `castellan role report`).

use anyhow::{bail, Result};
use clap::{Subcommand, ValueEnum};
use serde_json::Value;

use crate::admin::{table, GraphConn};

/// `castellan report …`.
#[derive(Subcommand)]
pub enum ReportCmd {
    /// Application client secrets and certificates expiring within N days (expired ones too).
    Credentials {
        /// The window, in days (1–3650).
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delegated grants and application permissions with no successful sign-in for N days.
    UnusedGrants {
        /// The window, in days (1–3650).
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Service principals holding Owner, Contributor or User Access Administrator at
    /// management-group or subscription scope.
    Privileged {
        /// One management-group or subscription scope; default: every one visible.
        #[arg(long)]
        scope: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

/// How a report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// The rows as a JSON array.
    Json,
}

const CREDENTIAL_COLUMNS: &[&str] = &[
    "displayName",
    "appId",
    "credentialType",
    "credentialDisplayName",
    "keyId",
    "endDateTime",
    "daysLeft",
];
const GRANT_COLUMNS: &[&str] = &[
    "clientDisplayName",
    "clientAppId",
    "grantType",
    "resourceDisplayName",
    "permission",
    "lastUsedDateTime",
];

/// Runs it.
pub async fn run(cmd: ReportCmd, conn: GraphConn) -> Result<()> {
    let (rows, cols, output) = match cmd {
        ReportCmd::Credentials { days, output } => {
            check_days(days)?;
            let g = conn.connect().await?;
            let v = g
                .get(&format!(
                    "/reports/castellan/expiringCredentials?days={days}"
                ))
                .await?;
            (rows_of(&v), CREDENTIAL_COLUMNS, output)
        }
        ReportCmd::UnusedGrants { days, output } => {
            check_days(days)?;
            let g = conn.connect().await?;
            let v = g
                .get(&format!("/reports/castellan/unusedGrants?days={days}"))
                .await?;
            (rows_of(&v), GRANT_COLUMNS, output)
        }
        ReportCmd::Privileged { scope, output } => {
            let a = conn
                .clone()
                .connect_to("https://management.azure.com/.default", "")
                .await?;
            let rows = crate::arm::privileged_rows(&a, &conn, scope).await?;
            (rows, crate::arm::PRIVILEGED_COLUMNS, output)
        }
    };
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&Value::Array(rows))?),
        Output::Csv => print!("{}", csv(&rows, cols)),
        Output::Table => table(&Value::Array(rows), cols),
    }
    Ok(())
}

fn check_days(days: u32) -> Result<()> {
    if !(1..=3650).contains(&days) {
        bail!("--days must be from 1 to 3650 (got {days})");
    }
    Ok(())
}

fn rows_of(v: &Value) -> Vec<Value> {
    v["value"].as_array().cloned().unwrap_or_default()
}

/// RFC 4180: a header row, then one row per item; a field with a comma, quote or line break is
/// quoted, its quotes doubled; lines end with CRLF.
fn csv(rows: &[Value], cols: &[&str]) -> String {
    let field = |v: &Value| -> String {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        if s.contains([',', '"', '\r', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let mut out = cols.join(",");
    out.push_str("\r\n");
    for r in rows {
        let line: Vec<String> = cols.iter().map(|c| field(&r[*c])).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let rows = vec![serde_json::json!({"a": "plain", "b": "x, \"y\"", "c": 3})];
        assert_eq!(
            csv(&rows, &["a", "b", "c", "missing"]),
            "a,b,c,missing\r\nplain,\"x, \"\"y\"\"\",3,\r\n"
        );
    }
}
