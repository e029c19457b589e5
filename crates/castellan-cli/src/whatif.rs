//! `castellan whatif`: asks Graph's What-If evaluation which Conditional Access policies would
//! apply to a described sign-in, and with what outcome, without signing anyone in.

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use crate::admin::GraphConn;

/// `castellan whatif`.
#[derive(Args)]
pub struct WhatIfArgs {
    /// The user (UPN or object id); or use --service-principal.
    #[arg(long, conflicts_with = "service_principal")]
    user: Option<String>,
    /// A service principal's object id (workload identity).
    #[arg(long)]
    service_principal: Option<String>,
    /// The client application's appId.
    #[arg(long)]
    app: Option<String>,
    /// The resource (appId or URI; default Microsoft Graph).
    #[arg(long)]
    resource: Option<String>,
    /// The client IP address.
    #[arg(long)]
    ip: Option<String>,
    /// browser, mobileAppsAndDesktopClients, exchangeActiveSync or other.
    #[arg(long, default_value = "browser")]
    client_app: String,
    /// Device platform (windows, macOS, linux, iOS, android).
    #[arg(long)]
    platform: Option<String>,
    /// A registered device that is (true) or is not (false) compliant.
    #[arg(long, conflicts_with = "device")]
    device_compliant: Option<bool>,
    /// The device's state: compliant, noncompliant (a registered device that is not) or none
    /// (no registered device; the default). A device state, not a device object.
    #[arg(long, value_parser = ["compliant", "noncompliant", "none"])]
    device: Option<String>,
    /// Sign-in risk (none, low, medium, high).
    #[arg(long)]
    risk: Option<String>,
    /// User risk (none, low, medium, high).
    #[arg(long)]
    user_risk: Option<String>,
    /// MFA already done in this session.
    #[arg(long)]
    mfa_done: bool,
}

/// Runs `castellan whatif`; exits 3 when the sign-in would be refused.
pub async fn run(a: WhatIfArgs, conn: GraphConn) -> Result<()> {
    let g = conn
        .connect_to("https://graph.microsoft.com/.default", "/v1.0")
        .await?;
    let mut body = json!({"clientAppType": a.client_app, "mfaDone": a.mfa_done});
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            body[k] = v;
        }
    };
    set("userId", a.user.map(Value::from));
    set("servicePrincipalId", a.service_principal.map(Value::from));
    set("appId", a.app.map(Value::from));
    set("resource", a.resource.map(Value::from));
    set("ipAddress", a.ip.map(Value::from));
    set("devicePlatform", a.platform.map(Value::from));
    let device = match a.device.as_deref() {
        Some("compliant") => Some(true),
        Some("noncompliant") => Some(false),
        _ => a.device_compliant,
    };
    set("deviceIsCompliant", device.map(Value::from));
    set("signInRiskLevel", a.risk.map(Value::from));
    set("userRiskLevel", a.user_risk.map(Value::from));
    let v = g
        .post("/identity/conditionalAccess/evaluate", &body)
        .await?;
    if g.json {
        return g.show(&v);
    }
    println!("outcome: {}", v["outcome"].as_str().unwrap_or("?"));
    if let Some(m) = v["message"].as_str() {
        println!("  {m}");
    }
    let rows: Vec<Value> = v["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            json!({
                "displayName": p["displayName"], "result": p["result"],
                "controls": p["enforcedGrantControls"].as_array().map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
                "reason": p["reason"],
            })
        })
        .collect();
    g.list(&rows, &["displayName", "result", "controls", "reason"])?;
    if v["outcome"] != "allow" {
        std::process::exit(3);
    }
    Ok(())
}
