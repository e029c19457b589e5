//! Resource-plane commands, as HTTP clients of ARM (and Graph to resolve names): resources,
//! role assignments and definitions, check-access, managed identities, the identity
//! environment of a resource, and `imds`, a loopback agent serving the IMDS token endpoint for
//! one resource.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::admin::{read_json, uuid_like, Graph, GraphConn};

const API: &str = "api-version=2022-04-01";
const ARM_SCOPE: &str = "https://management.azure.com/.default";

async fn arm(conn: &GraphConn) -> Result<Graph> {
    conn.clone().connect_to(ARM_SCOPE, "").await
}

impl Graph {
    async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        read_json(
            self.http
                .put(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await?,
        )
        .await
    }
}

fn with_api(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{API}")
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Resolves a user (UPN), group (display name), service principal (display name or appId)
/// or object id to an object id.
async fn principal(g: &Graph, key: &str) -> Result<String> {
    if key.contains('@') {
        return g.resolve("users", key, "userPrincipalName").await;
    }
    if uuid_like(key) {
        let by_app = g
            .get_all(&format!(
                "/servicePrincipals?$filter={}",
                enc(&format!("appId eq '{key}'"))
            ))
            .await?;
        if let Some(sp) = by_app.first() {
            return Ok(sp["id"].as_str().unwrap_or_default().to_string());
        }
        return Ok(key.to_string());
    }
    match g.resolve("groups", key, "displayName").await {
        Ok(id) => Ok(id),
        Err(_) => g
            .resolve("servicePrincipals", key, "displayName")
            .await
            .with_context(|| format!("no user, group or service principal named '{key}'")),
    }
}

async fn role_id(a: &Graph, role: &str, scope: &str) -> Result<String> {
    if uuid_like(role) {
        return Ok(format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{role}"
        ));
    }
    let list = a
        .get(&with_api(&format!(
            "{}/providers/Microsoft.Authorization/roleDefinitions?$filter={}",
            scope_path(scope),
            enc(&format!("roleName eq '{}'", role.replace('\'', "''")))
        )))
        .await?;
    list["value"][0]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no role named '{role}' is assignable at {scope} (see `castellan role definition list`)"))
}

fn scope_path(scope: &str) -> String {
    let s = scope.trim_end_matches('/');
    if s.is_empty() {
        String::new()
    } else {
        s.to_string()
    }
}

/// `castellan role …`.
#[derive(Subcommand)]
pub enum RoleCmd {
    /// Role assignments.
    Assignment {
        #[command(subcommand)]
        cmd: AssignmentCmd,
    },
    /// Role definitions.
    Definition {
        #[command(subcommand)]
        cmd: DefinitionCmd,
    },
    /// Service principals holding Owner, Contributor or User Access Administrator at
    /// management-group or subscription scope (also `castellan report privileged`).
    Report {
        /// A management-group or subscription scope; default: every one visible.
        #[arg(long)]
        scope: Option<String>,
    },
}

/// `castellan role assignment …`.
#[derive(Subcommand)]
pub enum AssignmentCmd {
    /// Assign a role.
    Create {
        /// UPN, group name, service principal name or appId, or an object id.
        #[arg(long)]
        assignee: String,
        /// Role name or GUID.
        #[arg(long)]
        role: String,
        /// Scope (`/subscriptions/…`, a resource id, a management group, or `/`).
        #[arg(long)]
        scope: String,
        /// ABAC condition (version 2.0).
        #[arg(long)]
        condition: Option<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// List assignments at, above and below a scope.
    List {
        /// Scope.
        #[arg(long)]
        scope: String,
        /// Only this principal's (and its groups') assignments.
        #[arg(long)]
        assignee: Option<String>,
        /// Only assignments at or above the scope.
        #[arg(long)]
        at_scope: bool,
    },
    /// Delete an assignment by name, or by assignee + role + scope.
    Delete {
        /// Scope.
        #[arg(long)]
        scope: String,
        /// The assignment's name (GUID).
        #[arg(long)]
        id: Option<String>,
        /// Assignee (with --role).
        #[arg(long)]
        assignee: Option<String>,
        /// Role (with --assignee).
        #[arg(long)]
        role: Option<String>,
    },
    /// Export every assignment at and below a scope (what `az role assignment list --all` gives).
    Export {
        /// Scope.
        #[arg(long)]
        scope: String,
        /// Output format.
        #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
        format: String,
    },
}

/// `castellan role definition …`.
#[derive(Subcommand)]
pub enum DefinitionCmd {
    /// List role definitions visible at a scope.
    List {
        /// Scope.
        #[arg(long, default_value = "/")]
        scope: String,
        /// Only the role with this name.
        #[arg(long)]
        name: Option<String>,
        /// Only custom roles.
        #[arg(long)]
        custom: bool,
    },
    /// Create or update a custom role from a JSON file (ARM's `properties` shape, or az CLI's
    /// `{Name, Description, Actions, NotActions, DataActions, NotDataActions, AssignableScopes}`).
    Create {
        /// JSON file.
        #[arg(long)]
        file: std::path::PathBuf,
        /// Role GUID (default: a new one; pass the existing id to update).
        #[arg(long)]
        id: Option<String>,
    },
}

fn role_body(v: &Value) -> Result<Value> {
    if v.get("properties").is_some() {
        return Ok(v.clone());
    }
    let arr = |k: &str| v.get(k).cloned().unwrap_or(json!([]));
    let name = v
        .get("Name")
        .or(v.get("roleName"))
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the role file needs \"Name\" (or an ARM \"properties\" object)"))?;
    Ok(json!({"properties": {
        "roleName": name,
        "description": v.get("Description").cloned().unwrap_or(json!("")),
        "assignableScopes": arr("AssignableScopes"),
        "permissions": [{"actions": arr("Actions"), "notActions": arr("NotActions"), "dataActions": arr("DataActions"), "notDataActions": arr("NotDataActions")}],
    }}))
}

fn flatten_assignment(a: &Value, roles: &[Value]) -> Value {
    let p = &a["properties"];
    let rid = p["roleDefinitionId"].as_str().unwrap_or("");
    let guid = rid.rsplit('/').next().unwrap_or("");
    let role = roles
        .iter()
        .find(|r| r["name"].as_str() == Some(guid))
        .and_then(|r| r["properties"]["roleName"].as_str())
        .unwrap_or(guid);
    json!({
        "name": a["name"], "principalId": p["principalId"], "principalType": p["principalType"],
        "roleName": role, "roleDefinitionId": guid, "scope": p["scope"], "condition": p["condition"],
        "createdOn": p["createdOn"],
    })
}

fn csv_cell(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        o => o.to_string(),
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Runs `castellan role …`.
pub async fn role(cmd: RoleCmd, conn: GraphConn) -> Result<()> {
    let a = arm(&conn).await?;
    match cmd {
        RoleCmd::Assignment { cmd } => match cmd {
            AssignmentCmd::Create {
                assignee,
                role,
                scope,
                condition,
                description,
            } => {
                let g = conn
                    .clone()
                    .connect_to("https://graph.microsoft.com/.default", "/v1.0")
                    .await?;
                let pid = principal(&g, &assignee).await?;
                let rid = role_id(&a, &role, &scope).await?;
                let mut props = json!({"roleDefinitionId": rid, "principalId": pid});
                if let Some(c) = condition {
                    props["condition"] = json!(c);
                    props["conditionVersion"] = json!("2.0");
                }
                if let Some(d) = description {
                    props["description"] = json!(d);
                }
                let v = a
                    .put(
                        &with_api(&format!(
                            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
                            scope_path(&scope),
                            new_guid()
                        )),
                        &json!({"properties": props}),
                    )
                    .await?;
                a.show(&v)
            }
            AssignmentCmd::List {
                scope,
                assignee,
                at_scope,
            } => {
                let filter = match (&assignee, at_scope) {
                    (Some(x), _) => {
                        let g = conn
                            .clone()
                            .connect_to("https://graph.microsoft.com/.default", "/v1.0")
                            .await?;
                        format!(
                            "&$filter={}",
                            enc(&format!("assignedTo('{}')", principal(&g, x).await?))
                        )
                    }
                    (None, true) => format!("&$filter={}", enc("atScope()")),
                    _ => String::new(),
                };
                let v = a
                    .get(&format!(
                        "{}/providers/Microsoft.Authorization/roleAssignments?{API}{filter}",
                        scope_path(&scope)
                    ))
                    .await?;
                let roles = role_defs(&a, &scope).await?;
                let rows: Vec<Value> = v["value"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|x| flatten_assignment(x, &roles))
                    .collect();
                a.list(
                    &rows,
                    &["name", "roleName", "principalType", "principalId", "scope"],
                )
            }
            AssignmentCmd::Delete {
                scope,
                id,
                assignee,
                role,
            } => {
                let name = match (id, assignee, role) {
                    (Some(id), _, _) => id,
                    (None, Some(who), Some(role)) => {
                        let g = conn
                            .clone()
                            .connect_to("https://graph.microsoft.com/.default", "/v1.0")
                            .await?;
                        let pid = principal(&g, &who).await?;
                        let rid = role_id(&a, &role, &scope).await?;
                        let guid = rid.rsplit('/').next().unwrap_or("").to_string();
                        let v = a
                            .get(&format!(
                                "{}/providers/Microsoft.Authorization/roleAssignments?{API}&$filter={}",
                                scope_path(&scope),
                                enc(&format!("principalId eq '{pid}'"))
                            ))
                            .await?;
                        v["value"]
                            .as_array()
                            .and_then(|l| {
                                l.iter().find(|x| {
                                    x["properties"]["roleDefinitionId"]
                                        .as_str()
                                        .is_some_and(|r| r.ends_with(&guid))
                                        && x["properties"]["scope"].as_str().is_some_and(|s| {
                                            s.eq_ignore_ascii_case(scope.trim_end_matches('/'))
                                        })
                                })
                            })
                            .and_then(|x| x["name"].as_str())
                            .map(str::to_string)
                            .ok_or_else(|| anyhow!("{who} has no {role} assignment at {scope}"))?
                    }
                    _ => bail!("pass --id, or --assignee and --role"),
                };
                a.delete(&with_api(&format!(
                    "{}/providers/Microsoft.Authorization/roleAssignments/{name}",
                    scope_path(&scope)
                )))
                .await?;
                println!("deleted role assignment {name} at {scope}");
                Ok(())
            }
            AssignmentCmd::Export { scope, format } => {
                let v = a
                    .get(&with_api(&format!(
                        "{}/providers/Microsoft.Authorization/roleAssignments",
                        scope_path(&scope)
                    )))
                    .await?;
                let roles = role_defs(&a, &scope).await?;
                let rows: Vec<Value> = v["value"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|x| flatten_assignment(x, &roles))
                    .collect();
                if format == "json" {
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                    return Ok(());
                }
                let cols = [
                    "name",
                    "roleName",
                    "roleDefinitionId",
                    "principalId",
                    "principalType",
                    "scope",
                    "condition",
                    "createdOn",
                ];
                println!("{}", cols.join(","));
                for r in &rows {
                    println!(
                        "{}",
                        cols.iter()
                            .map(|c| csv_cell(&r[*c]))
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                }
                Ok(())
            }
        },
        RoleCmd::Definition { cmd } => match cmd {
            DefinitionCmd::List {
                scope,
                name,
                custom,
            } => {
                let filter = match (&name, custom) {
                    (Some(n), _) => format!(
                        "&$filter={}",
                        enc(&format!("roleName eq '{}'", n.replace('\'', "''")))
                    ),
                    (None, true) => format!("&$filter={}", enc("type eq 'CustomRole'")),
                    _ => String::new(),
                };
                let v = a
                    .get(&format!(
                        "{}/providers/Microsoft.Authorization/roleDefinitions?{API}{filter}",
                        scope_path(&scope)
                    ))
                    .await?;
                let rows: Vec<Value> = v["value"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|r| json!({"name": r["name"], "roleName": r["properties"]["roleName"], "type": r["properties"]["type"]}))
                    .collect();
                a.list(&rows, &["name", "roleName", "type"])
            }
            DefinitionCmd::Create { file, id } => {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let v: Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", file.display()))?;
                let body = role_body(&v)?;
                let scope = body["properties"]["assignableScopes"][0]
                    .as_str()
                    .ok_or_else(|| anyhow!("the role needs at least one assignable scope"))?
                    .to_string();
                let id = id.unwrap_or_else(new_guid);
                let out = a
                    .put(
                        &with_api(&format!(
                            "{}/providers/Microsoft.Authorization/roleDefinitions/{id}",
                            scope_path(&scope)
                        )),
                        &body,
                    )
                    .await?;
                a.show(&out)
            }
        },
        RoleCmd::Report { scope } => {
            let rows = privileged_rows(&a, &conn, scope).await?;
            a.list(&rows, PRIVILEGED_COLUMNS)
        }
    }
}

/// The privileged-access report's columns.
pub const PRIVILEGED_COLUMNS: &[&str] = &[
    "roleName",
    "displayName",
    "appId",
    "servicePrincipalType",
    "scope",
];

/// Service principals holding Owner, Contributor or User Access Administrator at management-group
/// or subscription scope (`scope`: one such scope; default every one visible), through ARM (the
/// assignments) and Graph (the service principals' names).
pub async fn privileged_rows(
    a: &Graph,
    conn: &GraphConn,
    scope: Option<String>,
) -> Result<Vec<Value>> {
    let scopes: Vec<String> = match scope {
        Some(s) => vec![s],
        None => {
            let mut v: Vec<String> = a
                .get(&with_api(
                    "/providers/Microsoft.Management/managementGroups",
                ))
                .await
                .map(|x| x["value"].as_array().cloned().unwrap_or_default())
                .unwrap_or_default()
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect();
            v.extend(
                a.get(&with_api("/subscriptions")).await?["value"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|s| s["id"].as_str().map(str::to_string)),
            );
            v
        }
    };
    let g = conn
        .clone()
        .connect_to("https://graph.microsoft.com/.default", "/v1.0")
        .await?;
    let mut rows = Vec::new();
    for scope in scopes {
        let v = a
            .get(&format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments?{API}&$filter={}",
                enc("atScope()")
            ))
            .await?;
        let roles = role_defs(a, &scope).await?;
        for x in v["value"].as_array().cloned().unwrap_or_default() {
            let f = flatten_assignment(&x, &roles);
            let privileged = matches!(
                f["roleName"].as_str(),
                Some("Owner" | "Contributor" | "User Access Administrator")
            );
            if !privileged || f["principalType"].as_str() != Some("ServicePrincipal") {
                continue;
            }
            let pid = f["principalId"].as_str().unwrap_or_default();
            let sp = g
                .get(&format!("/servicePrincipals/{pid}"))
                .await
                .unwrap_or(Value::Null);
            rows.push(json!({
                "atScope": scope, "roleName": f["roleName"], "scope": f["scope"],
                "principalId": pid, "displayName": sp["displayName"], "appId": sp["appId"],
                "servicePrincipalType": sp["servicePrincipalType"],
            }));
        }
    }
    Ok(rows)
}

async fn role_defs(a: &Graph, scope: &str) -> Result<Vec<Value>> {
    Ok(a.get(&with_api(&format!(
        "{}/providers/Microsoft.Authorization/roleDefinitions",
        scope_path(scope)
    )))
    .await?["value"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// `castellan check-access`.
#[derive(Args)]
pub struct CheckAccessArgs {
    /// Principal: UPN, group, service principal name or appId, or an object id.
    #[arg(long)]
    principal: String,
    /// The operation, e.g. Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read.
    #[arg(long)]
    action: String,
    /// Scope.
    #[arg(long)]
    scope: String,
    /// The operation is a DataAction (default: decided by `/blobs/`, `/secrets/`… heuristics off; pass explicitly).
    #[arg(long)]
    data: bool,
}

/// Runs `castellan check-access`; exits non-zero when not allowed.
pub async fn check_access(args: CheckAccessArgs, conn: GraphConn) -> Result<()> {
    let a = arm(&conn).await?;
    let g = conn
        .clone()
        .connect_to("https://graph.microsoft.com/.default", "/v1.0")
        .await?;
    let pid = principal(&g, &args.principal).await?;
    let v = a
        .post(
            &with_api(&format!(
                "{}/providers/Microsoft.Authorization/checkAccess",
                scope_path(&args.scope)
            )),
            &json!({"subject": {"principalId": pid}, "actions": [{"id": args.action, "isDataAction": args.data}]}),
        )
        .await?;
    let d = &v["value"][0];
    if a.json {
        return a.show(d);
    }
    println!(
        "{}: {} {} at {}",
        d["accessDecision"].as_str().unwrap_or("?"),
        args.principal,
        args.action,
        args.scope
    );
    println!("  {}", d["reason"].as_str().unwrap_or(""));
    if d["accessDecision"] != "Allowed" {
        std::process::exit(3);
    }
    Ok(())
}

/// `castellan resource …`.
#[derive(Subcommand)]
pub enum ResourceCmd {
    /// Create or update a scope (management group, subscription, resource group or resource).
    Create {
        /// ARM id.
        id: String,
        /// Location.
        #[arg(long)]
        location: Option<String>,
        /// Display name (management groups, subscriptions).
        #[arg(long)]
        display_name: Option<String>,
        /// Parent management group id (management groups, subscriptions).
        #[arg(long)]
        parent: Option<String>,
        /// Give the resource a system-assigned managed identity.
        #[arg(long)]
        system_identity: bool,
    },
    /// Show one scope.
    Show {
        /// ARM id.
        id: String,
    },
    /// List subscriptions (no argument), resource groups of a subscription, or resources of a
    /// resource group.
    List {
        /// Parent scope.
        parent: Option<String>,
    },
    /// Delete a scope and everything below it (assignments included).
    Delete {
        /// ARM id.
        id: String,
    },
    /// Print the environment a process needs to act as the resource's managed identity
    /// (IDENTITY_ENDPOINT and a fresh IDENTITY_HEADER), as `KEY=value` lines.
    Env {
        /// ARM id of a resource with a managed identity.
        id: String,
    },
}

/// Runs `castellan resource …`.
pub async fn resource(cmd: ResourceCmd, conn: GraphConn) -> Result<()> {
    let a = arm(&conn).await?;
    match cmd {
        ResourceCmd::Create {
            id,
            location,
            display_name,
            parent,
            system_identity,
        } => {
            let mut body = json!({});
            if let Some(l) = location {
                body["location"] = json!(l);
            }
            if let Some(d) = display_name {
                body["displayName"] = json!(d);
                body["properties"] = json!({"displayName": d});
            }
            if let Some(p) = parent {
                body["managementGroupId"] = json!(p);
            }
            if system_identity {
                body["identity"] = json!({"type": "SystemAssigned"});
            }
            let v = a.put(&with_api(&id), &body).await?;
            a.show(&v)
        }
        ResourceCmd::Show { id } => {
            let v = a.get(&with_api(&id)).await?;
            a.show(&v)
        }
        ResourceCmd::List { parent } => {
            let path = match parent.as_deref().map(|p| p.trim_end_matches('/')) {
                None | Some("") => "/subscriptions".to_string(),
                Some(p) if p.to_ascii_lowercase().contains("/resourcegroups/") => {
                    format!("{p}/resources")
                }
                Some(p) => format!("{p}/resourcegroups"),
            };
            let v = a.get(&with_api(&path)).await?;
            let rows = v["value"].as_array().cloned().unwrap_or_default();
            a.list(&rows, &["id", "type", "location"])
        }
        ResourceCmd::Delete { id } => {
            a.delete(&with_api(&id)).await?;
            println!("deleted {id}");
            Ok(())
        }
        ResourceCmd::Env { id } => {
            let v = a
                .post(
                    &with_api(&format!(
                        "{}/listIdentityEndpoint",
                        id.trim_end_matches('/')
                    )),
                    &json!({}),
                )
                .await?;
            println!(
                "IDENTITY_ENDPOINT={}",
                v["IDENTITY_ENDPOINT"].as_str().unwrap_or("")
            );
            println!(
                "IDENTITY_HEADER={}",
                v["IDENTITY_HEADER"].as_str().unwrap_or("")
            );
            Ok(())
        }
    }
}

/// `castellan identity …`.
#[derive(Subcommand)]
pub enum IdentityCmd {
    /// Create a user-assigned managed identity in a resource group.
    Create {
        /// Resource group scope (`/subscriptions/{id}/resourceGroups/{name}`).
        #[arg(long)]
        resource_group: String,
        /// Name.
        #[arg(long)]
        name: String,
        /// Location.
        #[arg(long, default_value = "westeurope")]
        location: String,
    },
    /// Attach a user-assigned identity to a resource (needs Managed Identity Operator on it).
    Attach {
        /// The identity's ARM id.
        #[arg(long)]
        identity: String,
        /// The resource's ARM id.
        #[arg(long)]
        resource: String,
    },
}

/// Runs `castellan identity …`.
pub async fn identity(cmd: IdentityCmd, conn: GraphConn) -> Result<()> {
    let a = arm(&conn).await?;
    match cmd {
        IdentityCmd::Create {
            resource_group,
            name,
            location,
        } => {
            let id = format!(
                "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
                resource_group.trim_end_matches('/')
            );
            let v = a
                .put(&with_api(&id), &json!({"location": location}))
                .await?;
            a.show(&v)
        }
        IdentityCmd::Attach { identity, resource } => {
            let current = a.get(&with_api(&resource)).await?;
            let mut users: serde_json::Map<String, Value> = current["identity"]
                ["userAssignedIdentities"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            users.insert(identity.clone(), json!({}));
            let system = current["identity"]["type"]
                .as_str()
                .is_some_and(|t| t.contains("SystemAssigned"));
            let kind = if system {
                "SystemAssigned, UserAssigned"
            } else {
                "UserAssigned"
            };
            let mut body = json!({"identity": {"type": kind, "userAssignedIdentities": users}});
            if let Some(l) = current["location"].as_str() {
                body["location"] = json!(l);
            }
            if let Some(p) = current.get("properties") {
                body["properties"] = p.clone();
            }
            if let Some(t) = current.get("tags") {
                body["tags"] = t.clone();
            }
            let v = a.put(&with_api(&resource), &body).await?;
            a.show(&v)
        }
    }
}

/// `castellan imds`.
#[derive(Args)]
pub struct ImdsArgs {
    /// The resource whose identities the agent serves.
    #[arg(long)]
    resource: String,
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:50342")]
    listen: String,
}

/// Runs the IMDS agent (`castellan_server::imds_agent`): `GET /metadata/identity/oauth2/token` (`Metadata: true`,
/// api-version 2018-02-01), forwarded to the platform's identity endpoint with the resource's
/// secret, answered in IMDS's shape. Point `AZURE_POD_IDENTITY_AUTHORITY_HOST` at it.
pub async fn imds(args: ImdsArgs, conn: GraphConn) -> Result<()> {
    let addr: std::net::SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {} is not host:port", args.listen))?;
    if !addr.ip().is_loopback() {
        bail!("the IMDS agent holds a resource's credential and only listens on loopback; {addr} is not a loopback address");
    }
    let (endpoint, header) = match (
        std::env::var("IDENTITY_ENDPOINT"),
        std::env::var("IDENTITY_HEADER"),
    ) {
        (Ok(e), Ok(h)) => (e, h),
        _ => {
            let a = arm(&conn).await?;
            let v = a
                .post(
                    &with_api(&format!(
                        "{}/listIdentityEndpoint",
                        args.resource.trim_end_matches('/')
                    )),
                    &json!({}),
                )
                .await?;
            (
                v["IDENTITY_ENDPOINT"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                v["IDENTITY_HEADER"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        }
    };
    let app = castellan_server::imds_agent::router(castellan_server::imds_agent::ImdsAgent {
        http: conn.http_client()?,
        endpoint,
        header,
    });
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!(
        "IMDS agent for {} on http://{addr} — export AZURE_POD_IDENTITY_AUTHORITY_HOST=http://{addr}",
        args.resource
    );
    axum::serve(l, app).await?;
    Ok(())
}
