//! Administrative commands: HTTP clients of the operator API and of Graph.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// How to reach the operator API.
#[derive(Args, Clone)]
pub struct OperatorConn {
    /// Server URL.
    #[arg(
        long,
        env = "CASTELLAN_URL",
        default_value = "https://127.0.0.1:8443",
        global = true
    )]
    url: String,
    /// The operator credential (default: read from <data-dir>/operator.key).
    #[arg(
        long,
        env = "CASTELLAN_OPERATOR_KEY",
        hide_env_values = true,
        global = true
    )]
    operator_key: Option<String>,
    /// Data dir of a local server (for operator.key and tls/ca.pem).
    #[arg(
        long,
        env = "CASTELLAN_DATA_DIR",
        default_value = "./castellan-data",
        global = true
    )]
    data_dir: PathBuf,
    /// CA certificate to trust (default: <data-dir>/tls/ca.pem when it exists).
    #[arg(long, env = "CASTELLAN_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
}

/// How to reach Graph: a tenant and a client with Graph application permissions.
#[derive(Args, Clone)]
pub struct GraphConn {
    /// Server URL.
    #[arg(long, env = "CASTELLAN_URL", global = true)]
    url: Option<String>,
    /// Tenant id or domain.
    #[arg(long, env = "CASTELLAN_TENANT", global = true)]
    tenant: Option<String>,
    /// Client (application) id.
    #[arg(long, env = "CASTELLAN_CLIENT_ID", global = true)]
    client_id: Option<String>,
    /// Client secret.
    #[arg(
        long,
        env = "CASTELLAN_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    client_secret: Option<String>,
    /// Read url, tenant, client id, secret and CA from a demo.json.
    #[arg(long, env = "CASTELLAN_DEMO_FILE", global = true)]
    demo_file: Option<PathBuf>,
    /// CA certificate to trust.
    #[arg(long, env = "CASTELLAN_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// Print raw JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

/// Builds an HTTPS client trusting the given CA (or the system roots).
pub fn http_client(ca: Option<&PathBuf>) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
    if let Some(ca) = ca {
        let pem =
            std::fs::read(ca).with_context(|| format!("cannot read CA file {}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", ca.display()))?;
        b = b.add_root_certificate(cert);
    }
    Ok(b.build()?)
}

pub(crate) async fn read_json(resp: reqwest::Response) -> Result<Value> {
    let status = resp.status();
    let text = resp.text().await?;
    let v: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
    };
    if !status.is_success() {
        let msg = v["error"]["message"]
            .as_str()
            .or(v["error_description"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| text.clone());
        let code = v["error"]["code"]
            .as_str()
            .or(v["error"].as_str())
            .unwrap_or("");
        bail!("{status} {code}: {msg}");
    }
    Ok(v)
}

/// Tenant commands.
#[derive(Subcommand)]
pub enum TenantCmd {
    /// Create a tenant with its first Global Administrator.
    Create {
        /// Short name; the initial domain becomes <name>.onmicrosoft.test.
        #[arg(long)]
        name: String,
        /// First Global Administrator: alias or alias@<initial domain>.
        #[arg(long, default_value = "admin")]
        admin_upn: String,
        /// Their password (generated and printed if omitted).
        #[arg(long)]
        admin_password: Option<String>,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// License tier: Free, P1 or P2.
        #[arg(long, default_value = "P2")]
        license: String,
    },
    /// List tenants.
    List,
    /// A tenant's subscriptions (prepaid units); the tier follows them.
    License {
        #[command(subcommand)]
        cmd: TenantLicenseCmd,
    },
}

/// `castellan tenant license ...`.
#[derive(Subcommand)]
pub enum TenantLicenseCmd {
    /// Set a subscription's prepaid units (0 turns the SKU off; the tenant's tier follows).
    Set {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// P1 (AAD_PREMIUM), P2 (AAD_PREMIUM_P2) or GOVERNANCE (Microsoft_Entra_ID_Governance).
        #[arg(long)]
        sku: String,
        /// Prepaid units (enabled).
        #[arg(long)]
        units: u32,
        /// Units in the warning (grace) state.
        #[arg(long, default_value_t = 0)]
        warning: u32,
        /// Suspended units.
        #[arg(long, default_value_t = 0)]
        suspended: u32,
    },
    /// List a tenant's subscriptions and tier.
    List {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
    },
}

/// Key commands.
#[derive(Subcommand)]
pub enum KeysCmd {
    /// Publish a new signing key now; it signs after the delay.
    Rotate {
        /// Seconds until the new key starts signing (validators refresh their JWKS meanwhile).
        #[arg(long, default_value_t = 3600)]
        activate_after: i64,
    },
}

impl OperatorConn {
    fn ca(&self) -> Option<PathBuf> {
        self.ca_file
            .clone()
            .or_else(|| Some(self.data_dir.join("tls/ca.pem")).filter(|p| p.exists()))
    }
    fn key(&self) -> Result<String> {
        if let Some(k) = &self.operator_key {
            return Ok(k.trim().to_string());
        }
        let p = self.data_dir.join("operator.key");
        std::fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .with_context(|| format!("no operator key: pass --operator-key or CASTELLAN_OPERATOR_KEY, or --data-dir pointing at the server's data dir ({} not readable)", p.display()))
    }
}

/// `castellan tenant ...`.
pub async fn tenant(cmd: TenantCmd, op: OperatorConn) -> Result<()> {
    let http = http_client(op.ca().as_ref())?;
    let key = op.key()?;
    match cmd {
        TenantCmd::Create {
            name,
            admin_upn,
            admin_password,
            display_name,
            license,
        } => {
            let mut body = json!({"name": name, "adminUpn": admin_upn, "license": license});
            if let Some(p) = admin_password {
                body["adminPassword"] = json!(p);
            }
            if let Some(d) = display_name {
                body["displayName"] = json!(d);
            }
            let v = read_json(
                http.post(format!("{}/operator/v1/tenants", op.url))
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await?,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        TenantCmd::List => {
            let v = read_json(
                http.get(format!("{}/operator/v1/tenants", op.url))
                    .bearer_auth(key)
                    .send()
                    .await?,
            )
            .await?;
            table(
                &v["value"],
                &["tenantId", "domain", "displayName", "license"],
            );
        }
        TenantCmd::License { cmd } => {
            let (tenant, req) = match cmd {
                TenantLicenseCmd::Set {
                    tenant,
                    sku,
                    units,
                    warning,
                    suspended,
                } => {
                    let body = json!({"sku": sku, "units": units, "warning": warning, "suspended": suspended});
                    let url = format!("{}/operator/v1/tenants/{tenant}/licenses", op.url);
                    (tenant, http.put(url).json(&body))
                }
                TenantLicenseCmd::List { tenant } => {
                    let url = format!("{}/operator/v1/tenants/{tenant}/licenses", op.url);
                    (tenant, http.get(url))
                }
            };
            let v = read_json(req.bearer_auth(key).send().await?).await?;
            println!(
                "tenant {tenant}: tier {}",
                v["license"].as_str().unwrap_or("?")
            );
            table(
                &v["subscriptions"],
                &[
                    "sku",
                    "skuPartNumber",
                    "enabled",
                    "warning",
                    "suspended",
                    "consumedUnits",
                    "assignedUnits",
                    "capabilityStatus",
                ],
            );
        }
    }
    Ok(())
}

/// `castellan keys ...`.
pub async fn keys(cmd: KeysCmd, op: OperatorConn) -> Result<()> {
    let http = http_client(op.ca().as_ref())?;
    let key = op.key()?;
    match cmd {
        KeysCmd::Rotate { activate_after } => {
            let v = read_json(
                http.post(format!("{}/operator/v1/keys/rotate", op.url))
                    .bearer_auth(key)
                    .json(&json!({"activateAfterSeconds": activate_after}))
                    .send()
                    .await?,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    Ok(())
}

/// A Graph session: base URL and bearer token.
pub struct Graph {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) json: bool,
}

impl GraphConn {
    /// An HTTPS client trusting `--ca-file` (or the demo file's CA).
    pub fn http_client(&self) -> Result<reqwest::Client> {
        let ca = match (&self.ca_file, &self.demo_file) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(p)) => {
                let v: Value = serde_json::from_str(
                    &std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                )?;
                v["ca_file"].as_str().map(PathBuf::from)
            }
            _ => None,
        };
        http_client(ca.as_ref())
    }

    pub(crate) async fn connect(self) -> Result<Graph> {
        self.connect_to("https://graph.microsoft.com/.default", "/v1.0")
            .await
    }

    /// A client for another API of the same server: a token for `scope`, paths under `base_path`.
    pub async fn connect_to(self, scope: &str, base_path: &str) -> Result<Graph> {
        let demo: Option<Value> = match &self.demo_file {
            Some(p) => Some(serde_json::from_str(
                &std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
            )?),
            None => None,
        };
        let d = |k: &str| {
            demo.as_ref()
                .and_then(|v| v.pointer(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let url = self
            .url
            .or_else(|| d("/origin"))
            .unwrap_or_else(|| "https://127.0.0.1:8443".into());
        let tenant = self.tenant.or_else(|| d("/tenant_id")).ok_or_else(|| {
            anyhow!("no tenant: pass --tenant or CASTELLAN_TENANT (or --demo-file)")
        })?;
        let client_id = self
            .client_id
            .or_else(|| d("/confidential_client/app_id"))
            .ok_or_else(|| {
                anyhow!("no client id: pass --client-id or CASTELLAN_CLIENT_ID (or --demo-file)")
            })?;
        let secret = self.client_secret.or_else(|| d("/confidential_client/secret")).ok_or_else(|| anyhow!("no client secret: pass --client-secret or CASTELLAN_CLIENT_SECRET (or --demo-file)"))?;
        let ca = self.ca_file.or_else(|| d("/ca_file").map(PathBuf::from));
        let http = http_client(ca.as_ref())?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", scope),
        ];
        let tok = read_json(
            http.post(format!("{url}/{tenant}/oauth2/v2.0/token"))
                .form(&form)
                .send()
                .await?,
        )
        .await
        .with_context(|| format!("getting a token for {scope}"))?;
        let token = tok["access_token"]
            .as_str()
            .ok_or_else(|| anyhow!("the token response has no access_token"))?
            .to_string();
        Ok(Graph {
            http,
            base: format!("{url}{base_path}"),
            token,
            json: self.json,
        })
    }
}

impl Graph {
    pub(crate) async fn get(&self, path: &str) -> Result<Value> {
        read_json(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await?,
        )
        .await
    }
    /// Every page of a collection.
    pub(crate) async fn get_all(&self, path: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut next = Some(format!("{}{path}", self.base));
        while let Some(url) = next {
            let v = read_json(self.http.get(&url).bearer_auth(&self.token).send().await?).await?;
            out.extend(v["value"].as_array().cloned().unwrap_or_default());
            next = v["@odata.nextLink"].as_str().map(str::to_string);
        }
        Ok(out)
    }
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        read_json(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await?,
        )
        .await
    }
    pub(crate) async fn patch(&self, path: &str, body: &Value) -> Result<Value> {
        read_json(
            self.http
                .patch(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await?,
        )
        .await
    }
    pub(crate) async fn delete(&self, path: &str) -> Result<Value> {
        read_json(
            self.http
                .delete(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await?,
        )
        .await
    }
    pub(crate) fn show(&self, v: &Value) -> Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }
    pub(crate) fn list(&self, items: &[Value], cols: &[&str]) -> Result<()> {
        if self.json {
            return self.show(&Value::Array(items.to_vec()));
        }
        table(&Value::Array(items.to_vec()), cols);
        Ok(())
    }
    /// Resolves a user by id or UPN, a group by id or display name, etc.
    pub(crate) async fn resolve(
        &self,
        collection: &str,
        key: &str,
        name_prop: &str,
    ) -> Result<String> {
        if uuid_like(key) {
            return Ok(key.to_string());
        }
        if collection == "users" {
            return Ok(self.get(&format!("/users/{key}")).await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_string());
        }
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(
                "$filter",
                &format!("{name_prop} eq '{}'", key.replace('\'', "''")),
            )
            .finish();
        let found = self.get_all(&format!("/{collection}?{q}")).await?;
        match found.as_slice() {
            [one] => Ok(one["id"].as_str().unwrap_or_default().to_string()),
            [] => bail!("no {collection} with {name_prop} '{key}'"),
            _ => bail!("several {collection} have {name_prop} '{key}'; use the id"),
        }
    }
}

pub(crate) fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Prints rows as an aligned table.
pub fn table(items: &Value, cols: &[&str]) {
    let rows: Vec<Vec<String>> = items
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    cols.iter()
                        .map(|c| match &r[*c] {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, String::len))
                .max()
                .unwrap_or(0)
                .max(c.len())
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(cols.to_vec()));
    for r in &rows {
        println!("{}", line(r.iter().map(String::as_str).collect()));
    }
    println!("({} rows)", rows.len());
}

/// User commands.
#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Create {
        /// userPrincipalName (alias@domain).
        #[arg(long)]
        upn: String,
        /// Display name.
        #[arg(long)]
        display_name: String,
        /// Initial password.
        #[arg(long)]
        password: String,
        /// Department.
        #[arg(long)]
        department: Option<String>,
        /// Job title.
        #[arg(long)]
        job_title: Option<String>,
        /// Require a new password at next sign-in.
        #[arg(long)]
        force_change_password: bool,
    },
    /// List users (optionally with an OData $filter).
    List {
        /// OData filter, e.g. "department eq 'Sales'".
        #[arg(long)]
        filter: Option<String>,
    },
    /// Show a user by id or UPN.
    Show {
        /// Id or UPN.
        user: String,
    },
    /// Delete a user by id or UPN.
    Delete {
        /// Id or UPN.
        user: String,
    },
    /// Lift a user's MFA lockout (too many wrong verification codes, AADSTS50053): clears the
    /// second-factor attempt counters. The client needs the Graph application permission
    /// UserAuthenticationMethod.ReadWrite.All; audited.
    ResetMfaAttempts {
        /// Id or UPN.
        user: String,
    },
}

/// `castellan user ...`.
pub async fn user(cmd: UserCmd, conn: GraphConn) -> Result<()> {
    let g = conn.connect().await?;
    match cmd {
        UserCmd::Create {
            upn,
            display_name,
            password,
            department,
            job_title,
            force_change_password,
        } => {
            let mut body = json!({
                "accountEnabled": true, "displayName": display_name, "userPrincipalName": upn,
                "mailNickname": upn.split('@').next().unwrap_or(""),
                "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": force_change_password},
            });
            if let Some(d) = department {
                body["department"] = json!(d);
            }
            if let Some(j) = job_title {
                body["jobTitle"] = json!(j);
            }
            g.show(&g.post("/users", &body).await?)
        }
        UserCmd::List { filter } => {
            let path = match filter {
                Some(f) => format!(
                    "/users?{}",
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("$filter", &f)
                        .finish()
                ),
                None => "/users".into(),
            };
            g.list(
                &g.get_all(&path).await?,
                &[
                    "id",
                    "userPrincipalName",
                    "displayName",
                    "department",
                    "accountEnabled",
                ],
            )
        }
        UserCmd::Show { user } => g.show(&g.get(&format!("/users/{user}")).await?),
        UserCmd::Delete { user } => {
            g.delete(&format!("/users/{user}")).await?;
            println!("deleted user {user}");
            Ok(())
        }
        UserCmd::ResetMfaAttempts { user } => {
            g.post(
                &format!("/users/{user}/authentication/resetMfaAttempts"),
                &json!({}),
            )
            .await?;
            println!("reset the MFA attempts of {user}");
            Ok(())
        }
    }
}

/// Group commands.
#[derive(Subcommand)]
pub enum GroupCmd {
    /// Create a security group (or a Microsoft 365 group with --unified).
    Create {
        /// Display name.
        #[arg(long)]
        display_name: String,
        /// Mail nickname (default: display name without spaces).
        #[arg(long)]
        mail_nickname: Option<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Microsoft 365 group.
        #[arg(long)]
        unified: bool,
    },
    /// Add a member (user UPN/id, group name/id, or service principal id).
    AddMember {
        /// Group id or display name.
        group: String,
        /// Member: user id or UPN, group id or name, service principal id.
        member: String,
    },
    /// List a group's members (--transitive for nested members).
    Members {
        /// Group id or display name.
        group: String,
        /// Include members of nested groups.
        #[arg(long)]
        transitive: bool,
    },
    /// List groups.
    List,
}

/// `castellan group ...`.
pub async fn group(cmd: GroupCmd, conn: GraphConn) -> Result<()> {
    let g = conn.connect().await?;
    match cmd {
        GroupCmd::Create {
            display_name,
            mail_nickname,
            description,
            unified,
        } => {
            let nick = mail_nickname.unwrap_or_else(|| {
                display_name
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect()
            });
            let mut body = json!({"displayName": display_name, "mailNickname": nick, "mailEnabled": unified, "securityEnabled": !unified, "groupTypes": if unified { vec!["Unified"] } else { vec![] }});
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            g.show(&g.post("/groups", &body).await?)
        }
        GroupCmd::AddMember { group, member } => {
            let gid = g.resolve("groups", &group, "displayName").await?;
            let mid = if uuid_like(&member) {
                member.clone()
            } else if member.contains('@') {
                g.resolve("users", &member, "userPrincipalName").await?
            } else {
                g.resolve("groups", &member, "displayName").await?
            };
            g.post(
                &format!("/groups/{gid}/members/$ref"),
                &json!({"@odata.id": format!("{}/directoryObjects/{mid}", g.base)}),
            )
            .await?;
            println!("added {member} to {group}");
            Ok(())
        }
        GroupCmd::Members { group, transitive } => {
            let gid = g.resolve("groups", &group, "displayName").await?;
            let rel = if transitive {
                "transitiveMembers"
            } else {
                "members"
            };
            g.list(
                &g.get_all(&format!("/groups/{gid}/{rel}")).await?,
                &["id", "@odata.type", "displayName", "userPrincipalName"],
            )
        }
        GroupCmd::List => g.list(
            &g.get_all("/groups").await?,
            &["id", "displayName", "mailNickname", "securityEnabled"],
        ),
    }
}

/// Application commands.
#[derive(Subcommand)]
pub enum AppCmd {
    /// Register an application.
    Create {
        /// Display name.
        #[arg(long)]
        display_name: String,
        /// Web redirect URIs.
        #[arg(long = "web-redirect-uri")]
        web_redirect_uris: Vec<String>,
        /// Public-client redirect URIs.
        #[arg(long = "public-redirect-uri")]
        public_redirect_uris: Vec<String>,
        /// App ID URIs.
        #[arg(long = "identifier-uri")]
        identifier_uris: Vec<String>,
        /// Multi-tenant (AzureADMultipleOrgs).
        #[arg(long)]
        multi_tenant: bool,
    },
    /// Add a client secret; prints it once.
    AddSecret {
        /// Application object id or appId.
        app: String,
        /// Secret display name.
        #[arg(long)]
        name: Option<String>,
        /// Expiry (RFC 3339).
        #[arg(long)]
        end: Option<String>,
    },
    /// List applications.
    List,
}

async fn app_object_id(g: &Graph, app: &str) -> Result<String> {
    let found = g
        .get_all(&format!(
            "/applications?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("$filter", &format!("appId eq '{app}' or id eq '{app}'"))
                .finish()
        ))
        .await?;
    found
        .first()
        .and_then(|a| a["id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no application with id or appId '{app}' in this tenant"))
}

/// `castellan app ...`.
pub async fn app(cmd: AppCmd, conn: GraphConn) -> Result<()> {
    let g = conn.connect().await?;
    match cmd {
        AppCmd::Create {
            display_name,
            web_redirect_uris,
            public_redirect_uris,
            identifier_uris,
            multi_tenant,
        } => {
            let body = json!({
                "displayName": display_name,
                "signInAudience": if multi_tenant { "AzureADMultipleOrgs" } else { "AzureADMyOrg" },
                "web": {"redirectUris": web_redirect_uris},
                "publicClient": {"redirectUris": public_redirect_uris},
                "identifierUris": identifier_uris,
            });
            g.show(&g.post("/applications", &body).await?)
        }
        AppCmd::AddSecret { app, name, end } => {
            let id = app_object_id(&g, &app).await?;
            let mut pc = json!({});
            if let Some(n) = name {
                pc["displayName"] = json!(n);
            }
            if let Some(e) = end {
                pc["endDateTime"] = json!(e);
            }
            let v = g
                .post(
                    &format!("/applications/{id}/addPassword"),
                    &json!({"passwordCredential": pc}),
                )
                .await?;
            eprintln!("The secret text is shown only now; store it safely.");
            g.show(&v)
        }
        AppCmd::List => g.list(
            &g.get_all("/applications").await?,
            &["id", "appId", "displayName", "signInAudience"],
        ),
    }
}

/// Service principal commands.
#[derive(Subcommand)]
pub enum SpCmd {
    /// Create the service principal for an appId in this tenant.
    Create {
        /// The application's appId.
        app_id: String,
    },
    /// List service principals.
    List,
}

/// `castellan sp ...`.
pub async fn sp(cmd: SpCmd, conn: GraphConn) -> Result<()> {
    let g = conn.connect().await?;
    match cmd {
        SpCmd::Create { app_id } => {
            let v = g
                .post("/servicePrincipals", &json!({"appId": app_id}))
                .await?;
            g.show(&json!({"id": v["id"], "appId": v["appId"], "displayName": v["displayName"]}))
        }
        SpCmd::List => g.list(
            &g.get_all("/servicePrincipals").await?,
            &["id", "appId", "displayName", "servicePrincipalType"],
        ),
    }
}

/// Grant commands.
#[derive(Subcommand)]
pub enum GrantCmd {
    /// Grant an application permission (app role) on a resource to a client's service principal.
    AppRole {
        /// The client: its appId or service principal id.
        #[arg(long)]
        client: String,
        /// The resource: its appId, an App ID URI, or "graph" for Microsoft Graph.
        #[arg(long, default_value = "graph")]
        resource: String,
        /// The app role value, e.g. User.Read.All.
        #[arg(long)]
        role: String,
    },
}

async fn sp_for(g: &Graph, key: &str) -> Result<Value> {
    let key = if key.eq_ignore_ascii_case("graph") {
        "00000003-0000-0000-c000-000000000000"
    } else {
        key
    };
    let filter = if uuid_like(key) {
        format!("appId eq '{key}' or id eq '{key}'")
    } else {
        format!(
            "servicePrincipalNames/any(n:n eq '{}')",
            key.replace('\'', "''")
        )
    };
    let found = g
        .get_all(&format!(
            "/servicePrincipals?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("$filter", &filter)
                .finish()
        ))
        .await?;
    found.into_iter().next().ok_or_else(|| anyhow!("no service principal for '{key}' in this tenant (create it with `castellan sp create <appId>`)"))
}

/// `castellan grant ...`.
pub async fn grant(cmd: GrantCmd, conn: GraphConn) -> Result<()> {
    let g = conn.connect().await?;
    match cmd {
        GrantCmd::AppRole {
            client,
            resource,
            role,
        } => {
            let client = sp_for(&g, &client).await?;
            let resource = sp_for(&g, &resource).await?;
            let roles = resource["appRoles"].as_array().cloned().unwrap_or_default();
            let r = roles
                .iter()
                .find(|r| {
                    r["value"]
                        .as_str()
                        .is_some_and(|v| v.eq_ignore_ascii_case(&role))
                })
                .ok_or_else(|| {
                    anyhow!(
                        "'{}' has no app role '{role}'",
                        resource["displayName"].as_str().unwrap_or("")
                    )
                })?;
            let body = json!({"principalId": client["id"], "resourceId": resource["id"], "appRoleId": r["id"]});
            let v = g
                .post(
                    &format!(
                        "/servicePrincipals/{}/appRoleAssignments",
                        client["id"].as_str().unwrap_or("")
                    ),
                    &body,
                )
                .await?;
            g.show(&v)
        }
    }
}
