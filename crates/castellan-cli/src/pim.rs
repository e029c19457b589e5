//! `castellan pim …`: Privileged Identity Management over Graph. `eligible` and `list` act as
//! the administrator application (client credentials, like every admin command); `activate`,
//! `deactivate` and `approve` act as a signed-in user and need that user's Graph access token
//! (`--user-token` / `CASTELLAN_USER_TOKEN`; MFA-bearing when the role's policy asks for it).
//! With an ARM `--scope` (`/subscriptions/…`, `/providers/Microsoft.Management/…`) `eligible`,
//! `activate` and `deactivate` speak ARM's PIM instead (Azure roles, api-version 2020-10-01;
//! the user's token is then an ARM token).

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::admin::{read_json, uuid_like, Graph, GraphConn};

const BASE: &str = "/roleManagement/directory";
const ARM_SCOPE: &str = "https://management.azure.com/.default";
const ARM_API: &str = "api-version=2020-10-01";

/// Whether `--scope` names an ARM scope (Azure roles) rather than a directory scope.
fn is_arm_scope(scope: &str) -> bool {
    let l = scope.to_ascii_lowercase();
    l.starts_with("/subscriptions/") || l.starts_with("/providers/microsoft.management/")
}

/// An Azure role by GUID or name, as the `roleDefinitionId` ARM takes.
async fn arm_role_id(g: &Graph, scope: &str, role: &str) -> Result<String> {
    if uuid_like(role) {
        return Ok(format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{role}"
        ));
    }
    let filter: String =
        url::form_urlencoded::byte_serialize(format!("roleName eq '{role}'").as_bytes()).collect();
    let v = g
        .get(&format!(
            "{scope}/providers/Microsoft.Authorization/roleDefinitions?$filter={filter}&api-version=2022-04-01"
        ))
        .await?;
    v["value"][0]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no Azure role named '{role}' at {scope}"))
}

/// PUTs a schedule request under a new GUID at an ARM scope.
async fn arm_request(g: &Graph, scope: &str, kind: &str, properties: Value) -> Result<Value> {
    let name = uuid::Uuid::new_v4();
    read_json(
        g.http
            .put(format!(
                "{}{}/providers/Microsoft.Authorization/{kind}/{name}?{ARM_API}",
                g.base,
                scope.trim_end_matches('/')
            ))
            .bearer_auth(&g.token)
            .json(&json!({ "properties": properties }))
            .send()
            .await?,
    )
    .await
}

fn arm_expiration(duration: &str) -> Value {
    if duration.eq_ignore_ascii_case("permanent") {
        json!({"type": "NoExpiration"})
    } else {
        json!({"type": "AfterDuration", "duration": duration})
    }
}

fn arm_summary(g: &Graph, r: &Value) -> Result<()> {
    if g.json {
        return g.show(r);
    }
    let p = &r["properties"];
    println!(
        "{}  {}  {}",
        r["name"].as_str().unwrap_or_default(),
        p["requestType"].as_str().unwrap_or_default(),
        p["status"].as_str().unwrap_or_default()
    );
    if let Some(a) = p["approvalId"].as_str() {
        println!("  pending approval: {a}");
    }
    Ok(())
}

/// A client acting as the signed-in user on ARM.
async fn as_arm_user(conn: GraphConn, token: Option<String>) -> Result<(Graph, String)> {
    let Some(token) = token else {
        bail!("this command acts as the signed-in user: pass --user-token (or CASTELLAN_USER_TOKEN) with the user's ARM access token (https://management.azure.com/.default)");
    };
    let oid = oid_of(&token)?;
    let mut g = conn.connect_to(ARM_SCOPE, "").await?;
    g.token = token;
    Ok((g, oid))
}

/// PIM commands.
#[derive(Subcommand)]
pub enum PimCmd {
    /// Make a user (or service principal, or role-assignable group) eligible for a role.
    Eligible {
        /// User id or UPN (or a principal's object id).
        #[arg(long)]
        user: String,
        /// Role display name or template id.
        #[arg(long)]
        role: String,
        /// `/` or `/administrativeUnits/{id}`; or an ARM scope (`/subscriptions/…`) for an
        /// Azure role.
        #[arg(long, default_value = "/")]
        scope: String,
        /// How long the eligibility lasts (ISO 8601, e.g. P30D), or `permanent`.
        #[arg(long, default_value = "permanent")]
        duration: String,
        /// Why.
        #[arg(long)]
        justification: Option<String>,
    },
    /// Activate an eligible role for the signed-in user.
    Activate {
        /// Role display name or template id.
        #[arg(long)]
        role: String,
        /// ISO 8601 duration (at most the policy's maximum, PT8H by default).
        #[arg(long, default_value = "PT1H")]
        duration: String,
        /// Why (required by the default policy).
        #[arg(long)]
        justification: Option<String>,
        /// Ticket number, when the policy requires ticketing.
        #[arg(long)]
        ticket: Option<String>,
        /// `/` or `/administrativeUnits/{id}`; or an ARM scope (`/subscriptions/…`) for an
        /// Azure role.
        #[arg(long, default_value = "/")]
        scope: String,
        /// The user's Graph access token.
        #[arg(long, env = "CASTELLAN_USER_TOKEN", hide_env_values = true)]
        user_token: Option<String>,
    },
    /// End the signed-in user's activation of a role now.
    Deactivate {
        /// Role display name or template id.
        #[arg(long)]
        role: String,
        /// `/` or `/administrativeUnits/{id}`; or an ARM scope (`/subscriptions/…`) for an
        /// Azure role.
        #[arg(long, default_value = "/")]
        scope: String,
        /// The user's Graph access token.
        #[arg(long, env = "CASTELLAN_USER_TOKEN", hide_env_values = true)]
        user_token: Option<String>,
    },
    /// List eligibilities and active assignments (all, or one user's).
    List {
        /// Only this user (id or UPN).
        #[arg(long)]
        user: Option<String>,
    },
    /// Approve (or deny) a pending activation as one of its approvers.
    Approve {
        /// The approval id (the request's `approvalId`).
        #[arg(long)]
        approval: String,
        /// Deny instead of approving.
        #[arg(long)]
        deny: bool,
        /// The approver's justification.
        #[arg(long)]
        justification: String,
        /// The approver's Graph access token.
        #[arg(long, env = "CASTELLAN_USER_TOKEN", hide_env_values = true)]
        user_token: Option<String>,
    },
}

async fn role_id(g: &Graph, role: &str) -> Result<String> {
    if uuid_like(role) {
        return Ok(role.to_string());
    }
    let all = g.get_all(&format!("{BASE}/roleDefinitions")).await?;
    all.iter()
        .find(|r| {
            r["displayName"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(role))
        })
        .and_then(|r| r["id"].as_str().map(str::to_string))
        .ok_or_else(|| anyhow!("no directory role named '{role}' (castellan pim list shows ids; GET /roleManagement/directory/roleDefinitions lists names)"))
}

fn oid_of(token: &str) -> Result<String> {
    let p = token
        .split('.')
        .nth(1)
        .ok_or_else(|| anyhow!("--user-token is not a JWT"))?;
    let v: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .context("--user-token is not a JWT")?,
    )?;
    v["oid"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("--user-token has no oid claim: use a user's token"))
}

/// A client acting as the signed-in user (same server and CA as the admin connection).
async fn as_user(conn: GraphConn, token: Option<String>) -> Result<(Graph, String)> {
    let Some(token) = token else {
        bail!("this command acts as the signed-in user: pass --user-token (or CASTELLAN_USER_TOKEN) with the user's Microsoft Graph access token");
    };
    let oid = oid_of(&token)?;
    let mut g = conn.connect().await?;
    g.token = token;
    Ok((g, oid))
}

fn expiration(duration: &str) -> Value {
    if duration.eq_ignore_ascii_case("permanent") {
        json!({"type": "noExpiration"})
    } else {
        json!({"type": "afterDuration", "duration": duration})
    }
}

fn summary(g: &Graph, r: &Value) -> Result<()> {
    if g.json {
        return g.show(r);
    }
    println!(
        "{}  {}  {}",
        r["id"].as_str().unwrap_or_default(),
        r["action"].as_str().unwrap_or_default(),
        r["status"].as_str().unwrap_or_default()
    );
    if let Some(a) = r["approvalId"].as_str() {
        println!("  pending approval: castellan pim approve --approval {a} --justification …");
    }
    Ok(())
}

/// Runs a PIM command.
pub async fn run(cmd: PimCmd, conn: GraphConn) -> Result<()> {
    match cmd {
        PimCmd::Eligible {
            user,
            role,
            scope,
            duration,
            justification,
        } => {
            if is_arm_scope(&scope) {
                let principal = conn
                    .clone()
                    .connect()
                    .await?
                    .resolve("users", &user, "userPrincipalName")
                    .await?;
                let a = conn.connect_to(ARM_SCOPE, "").await?;
                let role = arm_role_id(&a, &scope, &role).await?;
                let r = arm_request(&a, &scope, "roleEligibilityScheduleRequests", json!({
                    "principalId": principal, "roleDefinitionId": role, "requestType": "AdminAssign",
                    "justification": justification,
                    "scheduleInfo": {"expiration": arm_expiration(&duration)}})).await?;
                return arm_summary(&a, &r);
            }
            let g = conn.connect().await?;
            let principal = g.resolve("users", &user, "userPrincipalName").await?;
            let role = role_id(&g, &role).await?;
            let r = g
                .post(
                    &format!("{BASE}/roleEligibilityScheduleRequests"),
                    &json!({"action": "adminAssign", "principalId": principal, "roleDefinitionId": role,
                            "directoryScopeId": scope, "justification": justification,
                            "scheduleInfo": {"expiration": expiration(&duration)}}),
                )
                .await?;
            summary(&g, &r)
        }
        PimCmd::Activate {
            role,
            duration,
            justification,
            ticket,
            scope,
            user_token,
        } => {
            if is_arm_scope(&scope) {
                let (a, me) = as_arm_user(conn, user_token).await?;
                let role = arm_role_id(&a, &scope, &role).await?;
                let mut p = json!({"principalId": me, "roleDefinitionId": role, "requestType": "SelfActivate",
                    "justification": justification,
                    "scheduleInfo": {"expiration": {"type": "AfterDuration", "duration": duration}}});
                if let Some(t) = ticket {
                    p["ticketInfo"] = json!({"ticketNumber": t});
                }
                let r = arm_request(&a, &scope, "roleAssignmentScheduleRequests", p).await?;
                return arm_summary(&a, &r);
            }
            let (g, me) = as_user(conn, user_token).await?;
            let role = role_id(&g, &role).await?;
            let mut body = json!({"action": "selfActivate", "principalId": me, "roleDefinitionId": role,
                "directoryScopeId": scope, "justification": justification,
                "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": duration}}});
            if let Some(t) = ticket {
                body["ticketInfo"] = json!({"ticketNumber": t});
            }
            let r = g
                .post(&format!("{BASE}/roleAssignmentScheduleRequests"), &body)
                .await?;
            summary(&g, &r)
        }
        PimCmd::Deactivate {
            role,
            scope,
            user_token,
        } => {
            if is_arm_scope(&scope) {
                let (a, me) = as_arm_user(conn, user_token).await?;
                let role = arm_role_id(&a, &scope, &role).await?;
                let r = arm_request(
                    &a,
                    &scope,
                    "roleAssignmentScheduleRequests",
                    json!({
                    "principalId": me, "roleDefinitionId": role, "requestType": "SelfDeactivate"}),
                )
                .await?;
                return arm_summary(&a, &r);
            }
            let (g, me) = as_user(conn, user_token).await?;
            let role = role_id(&g, &role).await?;
            let r = g
                .post(
                    &format!("{BASE}/roleAssignmentScheduleRequests"),
                    &json!({"action": "selfDeactivate", "principalId": me, "roleDefinitionId": role, "directoryScopeId": scope}),
                )
                .await?;
            summary(&g, &r)
        }
        PimCmd::List { user } => {
            let g = conn.connect().await?;
            let filter = match &user {
                Some(u) => {
                    let id = g.resolve("users", u, "userPrincipalName").await?;
                    format!("?$filter=principalId eq '{id}'")
                }
                None => String::new(),
            };
            let mut rows = Vec::new();
            for (kind, path) in [
                ("eligible", "roleEligibilityScheduleInstances"),
                ("active", "roleAssignmentScheduleInstances"),
            ] {
                for mut x in g.get_all(&format!("{BASE}/{path}{filter}")).await? {
                    x["state"] = json!(kind);
                    if x["endDateTime"].is_null() {
                        x["endDateTime"] = json!("permanent");
                    }
                    rows.push(x);
                }
            }
            g.list(
                &rows,
                &[
                    "state",
                    "principalId",
                    "roleDefinitionId",
                    "directoryScopeId",
                    "startDateTime",
                    "endDateTime",
                ],
            )
        }
        PimCmd::Approve {
            approval,
            deny,
            justification,
            user_token,
        } => {
            let (g, _) = as_user(conn, user_token).await?;
            let a = g
                .get(&format!("{BASE}/roleAssignmentApprovals/{approval}"))
                .await?;
            let step = a["steps"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["status"] == "InProgress"))
                .and_then(|s| s["id"].as_str())
                .ok_or_else(|| anyhow!("approval {approval} has no step waiting for a review"))?
                .to_string();
            g.patch(
                &format!("{BASE}/roleAssignmentApprovals/{approval}/steps/{step}"),
                &json!({"reviewResult": if deny { "Deny" } else { "Approve" }, "justification": justification}),
            )
            .await?;
            println!("{} {approval}", if deny { "denied" } else { "approved" });
            Ok(())
        }
    }
}
