//! `castellan`: the one binary. `serve` and `migrate` run the server crate; every
//! administrative command is an HTTP client of the public APIs (the operator API for tenants,
//! the token endpoint and Graph for everything else), so it is authorised and audited like any
//! other client.

mod admin;
mod arm;
mod ca;
mod device;
mod domain;
mod license;
mod pim;
mod report;
mod token;
mod troubleshoot;
mod whatif;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "castellan",
    version,
    about = "A self-hostable, Entra ID–compatible identity platform"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server (HTTPS; SQLite in the data dir unless --database-url is given).
    Serve(castellan_server::ServeArgs),
    /// Apply database migrations and exit.
    Migrate {
        /// Database URL (`sqlite://file` or `postgres://...`).
        #[arg(long, env = "CASTELLAN_DATABASE_URL")]
        database_url: String,
    },
    /// Online backup of the SQLite store into a new file (the server may keep running).
    /// Restore: stop the server, put the file at `<data-dir>/castellan.db` beside the same
    /// `master.key` (it seals the signing keys), start. PostgreSQL: use pg_dump / pg_restore.
    Backup {
        /// The server's data directory (its `castellan.db`), when no --database-url is given.
        #[arg(long, env = "CASTELLAN_DATA_DIR", default_value = "./castellan-data")]
        data_dir: std::path::PathBuf,
        /// Database URL (`sqlite://file`); default: `<data-dir>/castellan.db`.
        #[arg(long, env = "CASTELLAN_DATABASE_URL")]
        database_url: Option<String>,
        /// The new file to write.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Tenants (operator API).
    Tenant {
        #[command(subcommand)]
        cmd: admin::TenantCmd,
        #[command(flatten)]
        op: admin::OperatorConn,
    },
    /// Signing keys (operator API).
    Keys {
        #[command(subcommand)]
        cmd: admin::KeysCmd,
        #[command(flatten)]
        op: admin::OperatorConn,
    },
    /// Users (Graph).
    User {
        #[command(subcommand)]
        cmd: admin::UserCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Groups (Graph).
    Group {
        #[command(subcommand)]
        cmd: admin::GroupCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Application registrations (Graph).
    App {
        #[command(subcommand)]
        cmd: admin::AppCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Service principals (Graph).
    Sp {
        #[command(subcommand)]
        cmd: admin::SpCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Permission grants (Graph).
    Grant {
        #[command(subcommand)]
        cmd: admin::GrantCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Azure role assignments, role definitions and a privileged-access report (ARM).
    Role {
        #[command(subcommand)]
        cmd: arm::RoleCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Decide whether a principal may perform an operation at a scope (prints the explanation).
    CheckAccess {
        #[command(flatten)]
        args: arm::CheckAccessArgs,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Management groups, subscriptions, resource groups and resources (ARM).
    Resource {
        #[command(subcommand)]
        cmd: arm::ResourceCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// User-assigned managed identities (ARM).
    Identity {
        #[command(subcommand)]
        cmd: arm::IdentityCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Serve the IMDS token endpoint for one resource on loopback (a local agent holding the
    /// resource's identity credential; point AZURE_POD_IDENTITY_AUTHORITY_HOST at it).
    Imds {
        #[command(flatten)]
        args: arm::ImdsArgs,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Which Conditional Access policies would apply to a sign-in, and the outcome (What-If).
    Whatif {
        #[command(flatten)]
        args: whatif::WhatIfArgs,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Devices (Graph) and device assertions (offline): register a device with a fresh key,
    /// list, show, mark compliant, delete; print an assertion proving the device at sign-in.
    Device {
        #[command(subcommand)]
        cmd: device::DeviceCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Custom domains: add, print the DNS record, verify, make default, delete (Graph).
    Domain {
        #[command(subcommand)]
        cmd: domain::DomainCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Licences through Graph: the tenant's subscribedSkus, assign or remove a licence on a
    /// user or group, a user's licence states.
    License {
        #[command(subcommand)]
        cmd: license::LicenseCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Conditional Access: policies, impact replay of a draft, security defaults.
    Ca {
        #[command(subcommand)]
        cmd: ca::CaCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// The access troubleshooter: the failure family of a sign-in by its correlation id, and
    /// the fix (the same answer as the console's /admin/troubleshoot).
    Troubleshoot {
        #[command(flatten)]
        args: troubleshoot::TroubleshootArgs,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Hygiene reports: expiring credentials, unused grants, privileged service principals.
    Report {
        #[command(subcommand)]
        cmd: report::ReportCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Privileged Identity Management for directory roles: make eligible, activate,
    /// deactivate, list, approve (Graph).
    Pim {
        #[command(subcommand)]
        cmd: pim::PimCmd,
        #[command(flatten)]
        conn: admin::GraphConn,
    },
    /// Tokens.
    Token {
        #[command(subcommand)]
        cmd: token::TokenCmd,
    },
}

/// Applies `--config FILE` / `CASTELLAN_CONFIG` before parsing: each key becomes its
/// `CASTELLAN_*` variable unless that variable is already set, so flags win over the
/// environment and the environment wins over the file.
fn load_config_file() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let from_flag = args
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--config=").map(str::to_string))
        });
    let Some(path) = from_flag.or_else(|| std::env::var("CASTELLAN_CONFIG").ok()) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read config file {path}: {e}"))?;
    let pairs =
        castellan_server::config::config_env_pairs(&text).map_err(|e| format!("{path}: {e}"))?;
    for (k, v) in pairs {
        if std::env::var_os(&k).is_none() {
            std::env::set_var(k, v);
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = load_config_file() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Serve(args) => castellan_server::run(args)
            .await
            .map_err(|e| anyhow::anyhow!("{e}")),
        Cmd::Migrate { database_url } => castellan_server::serve::migrate(&database_url)
            .await
            .map(|_| println!("migrations applied"))
            .map_err(|e| anyhow::anyhow!("{e}")),
        Cmd::Backup {
            data_dir,
            database_url,
            to,
        } => {
            let url = database_url
                .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("castellan.db").display()));
            castellan_server::serve::backup(&url, &to)
                .await
                .map(|bytes| {
                    println!(
                        "backup written: {} ({bytes} bytes). To restore: stop the server, copy it to <data-dir>/castellan.db next to the same master.key, start the server.",
                        to.display()
                    )
                })
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
        Cmd::Tenant { cmd, op } => admin::tenant(cmd, op).await,
        Cmd::Keys { cmd, op } => admin::keys(cmd, op).await,
        Cmd::User { cmd, conn } => admin::user(cmd, conn).await,
        Cmd::Group { cmd, conn } => admin::group(cmd, conn).await,
        Cmd::App { cmd, conn } => admin::app(cmd, conn).await,
        Cmd::Sp { cmd, conn } => admin::sp(cmd, conn).await,
        Cmd::Grant { cmd, conn } => admin::grant(cmd, conn).await,
        Cmd::Role { cmd, conn } => arm::role(cmd, conn).await,
        Cmd::CheckAccess { args, conn } => arm::check_access(args, conn).await,
        Cmd::Resource { cmd, conn } => arm::resource(cmd, conn).await,
        Cmd::Identity { cmd, conn } => arm::identity(cmd, conn).await,
        Cmd::Imds { args, conn } => arm::imds(args, conn).await,
        Cmd::Whatif { args, conn } => whatif::run(args, conn).await,
        Cmd::Device { cmd, conn } => device::run(cmd, conn).await,
        Cmd::Domain { cmd, conn } => domain::run(cmd, conn).await,
        Cmd::License { cmd, conn } => license::run(cmd, conn).await,
        Cmd::Ca { cmd, conn } => ca::run(cmd, conn).await,
        Cmd::Troubleshoot { args, conn } => troubleshoot::run(args, conn).await,
        Cmd::Report { cmd, conn } => report::run(cmd, conn).await,
        Cmd::Pim { cmd, conn } => pim::run(cmd, conn).await,
        Cmd::Token { cmd } => token::run(cmd).await,
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
