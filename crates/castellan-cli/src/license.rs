//! `castellan license ...`: licences through Graph — the tenant's `subscribedSkus`,
//! `assignLicense` on a user or a group (by SKU short name, skuPartNumber or skuId), and a
//! user's `licenseAssignmentStates` (direct or inherited, in force or in error).

use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::admin::{uuid_like, Graph, GraphConn};

/// Licence commands.
#[derive(Subcommand)]
pub enum LicenseCmd {
    /// The tenant's subscriptions (subscribedSkus) with prepaid and consumed units.
    Skus,
    /// Assign a licence to a user (UPN or id) or, with --group, to a group.
    Assign {
        /// User UPN or id (or group name or id with --group).
        target: String,
        /// P1, P2, GOVERNANCE, a skuPartNumber or a skuId.
        #[arg(long)]
        sku: String,
        /// Service plan ids to disable.
        #[arg(long = "disable-plan")]
        disabled_plans: Vec<String>,
        /// The target is a group (group-based licensing).
        #[arg(long)]
        group: bool,
    },
    /// Remove a licence from a user or, with --group, a group.
    Remove {
        /// User UPN or id (or group name or id with --group).
        target: String,
        /// P1, P2, GOVERNANCE, a skuPartNumber or a skuId.
        #[arg(long)]
        sku: String,
        /// The target is a group.
        #[arg(long)]
        group: bool,
    },
    /// A user's licence assignment states (direct and by group, with errors).
    List {
        /// User UPN or id.
        user: String,
    },
}

/// The skuId the tenant's subscriptions give `name` (a short name, part number or id).
async fn sku_id(g: &Graph, name: &str) -> Result<String> {
    let short = match name.to_ascii_uppercase().as_str() {
        "P1" => "AAD_PREMIUM".to_string(),
        "P2" => "AAD_PREMIUM_P2".to_string(),
        "GOVERNANCE" => "Microsoft_Entra_ID_Governance".to_string(),
        _ => name.to_string(),
    };
    let skus = g.get_all("/subscribedSkus").await?;
    skus.iter()
        .find(|s| {
            s["skuPartNumber"]
                .as_str()
                .is_some_and(|p| p.eq_ignore_ascii_case(&short))
                || s["skuId"]
                    .as_str()
                    .is_some_and(|p| p.eq_ignore_ascii_case(name))
        })
        .and_then(|s| s["skuId"].as_str().map(str::to_string))
        .map_or_else(
            || bail!("the tenant has no subscription '{name}' (see `castellan license skus`)"),
            Ok,
        )
}

async fn target_path(g: &Graph, target: &str, group: bool) -> Result<String> {
    Ok(if group {
        format!(
            "/groups/{}",
            g.resolve("groups", target, "displayName").await?
        )
    } else if uuid_like(target) {
        format!("/users/{target}")
    } else {
        format!(
            "/users/{}",
            g.resolve("users", target, "userPrincipalName").await?
        )
    })
}

/// `castellan license ...`.
pub async fn run(cmd: LicenseCmd, conn: GraphConn) -> Result<()> {
    let g = conn.connect().await?;
    match cmd {
        LicenseCmd::Skus => {
            let rows: Vec<Value> = g
                .get_all("/subscribedSkus")
                .await?
                .into_iter()
                .map(|s| {
                    json!({
                        "skuPartNumber": s["skuPartNumber"],
                        "skuId": s["skuId"],
                        "capabilityStatus": s["capabilityStatus"],
                        "enabled": s["prepaidUnits"]["enabled"],
                        "consumedUnits": s["consumedUnits"],
                    })
                })
                .collect();
            g.list(
                &rows,
                &[
                    "skuPartNumber",
                    "skuId",
                    "capabilityStatus",
                    "enabled",
                    "consumedUnits",
                ],
            )
        }
        LicenseCmd::Assign {
            target,
            sku,
            disabled_plans,
            group,
        } => {
            let id = sku_id(&g, &sku).await?;
            let path = target_path(&g, &target, group).await?;
            let body = json!({"addLicenses": [{"skuId": id, "disabledPlans": disabled_plans}], "removeLicenses": []});
            let v = g.post(&format!("{path}/assignLicense"), &body).await?;
            println!("assigned {sku} ({id}) to {target}");
            g.show(&v["assignedLicenses"])
        }
        LicenseCmd::Remove { target, sku, group } => {
            let id = sku_id(&g, &sku).await?;
            let path = target_path(&g, &target, group).await?;
            let body = json!({"addLicenses": [], "removeLicenses": [id]});
            g.post(&format!("{path}/assignLicense"), &body).await?;
            println!("removed {sku} ({id}) from {target}");
            Ok(())
        }
        LicenseCmd::List { user } => {
            let path = target_path(&g, &user, false).await?;
            let v = g
                .get(&format!(
                    "{path}?$select=id,userPrincipalName,usageLocation,licenseAssignmentStates"
                ))
                .await?;
            println!(
                "{} (usageLocation {})",
                v["userPrincipalName"].as_str().unwrap_or(&user),
                v["usageLocation"].as_str().unwrap_or("not set")
            );
            let rows: Vec<Value> = v["licenseAssignmentStates"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    json!({
                        "skuId": s["skuId"],
                        "state": s["state"],
                        "error": s["error"],
                        "assignedByGroup": s["assignedByGroup"].as_str().unwrap_or("(direct)"),
                    })
                })
                .collect();
            g.list(&rows, &["skuId", "state", "error", "assignedByGroup"])
        }
    }
}
