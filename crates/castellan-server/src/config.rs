//! Configuration: flags, then `CASTELLAN_*` environment variables (clap reads both), loaded
//! once and passed down explicitly.

use std::net::SocketAddr;
use std::path::PathBuf;

/// `castellan serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Directory for the SQLite file, TLS material, keys and demo.json.
    #[arg(long, env = "CASTELLAN_DATA_DIR", default_value = "./castellan-data")]
    pub data_dir: PathBuf,
    /// Address to listen on (HTTPS). Port 0 picks a free port (printed at start).
    #[arg(long, env = "CASTELLAN_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Database URL: `postgres://...` for PostgreSQL; default is `sqlite://<data-dir>/castellan.db`.
    #[arg(long, env = "CASTELLAN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Seed a demo tenant on first start and write `<data-dir>/demo.json`.
    #[arg(long, env = "CASTELLAN_DEMO")]
    pub demo: bool,
    /// Extra host names clients may use to reach this server (besides localhost and 127.0.0.1);
    /// they go into the TLS certificate and are accepted as issuer origins.
    #[arg(long = "hostname", env = "CASTELLAN_HOSTNAMES", value_delimiter = ',')]
    pub hostnames: Vec<String>,
    /// Suffix of new tenants' initial domains (`<name>.<suffix>`).
    #[arg(
        long,
        env = "CASTELLAN_DOMAIN_SUFFIX",
        default_value = "onmicrosoft.test"
    )]
    pub domain_suffix: String,
    /// Days between automatic signing-key rotations.
    #[arg(long, env = "CASTELLAN_KEY_ROTATION_DAYS", default_value_t = 30)]
    pub key_rotation_days: u32,
    /// Concurrent argon2id hashes allowed (memory used = this × 19 MiB).
    #[arg(long, env = "CASTELLAN_HASH_POOL", default_value_t = 2)]
    pub hash_pool: usize,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "CASTELLAN_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Log format: `text` or `json`.
    #[arg(long, env = "CASTELLAN_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

impl ServeArgs {
    /// Defaults for tests: a data dir, an ephemeral port.
    pub fn for_test(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: None,
            demo: false,
            hostnames: vec![],
            domain_suffix: "onmicrosoft.test".into(),
            key_rotation_days: 30,
            hash_pool: 2,
            max_body_bytes: 1024 * 1024,
            log_format: "text".into(),
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("castellan.db").display()))
    }
}
