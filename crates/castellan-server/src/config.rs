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
    /// Microsoft Graph's own port (same address as `--listen`): `auto` (the listen port + 1, or a
    /// free port when listening on port 0), a port number, or `off` (Graph only under `/graph/`).
    /// Graph on a port of its own lets a client that derives the token resource from a URL (the
    /// Azure CLI's `az rest`) tell Graph from ARM, as it tells graph.microsoft.com from
    /// management.azure.com.
    #[arg(long, env = "CASTELLAN_GRAPH_PORT", default_value = "auto")]
    pub graph_port: GraphPort,
    /// Graph throttling: `entra` (Entra's budgets per application and tenant, by tenant size),
    /// `off`, or `RU[/WRITES]` (resource units per 10 s and writes per 150 s per application and
    /// tenant, e.g. `20/5` to see 429s in development).
    #[arg(long, env = "CASTELLAN_GRAPH_THROTTLE", default_value = "entra", value_parser = crate::throttle::parse_limits)]
    pub graph_throttle: castellan_core::throttle::Limits,
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
    /// Requests served at once per class (token service; Graph, ARM and console) before new
    /// ones queue (0: 32 per CPU core).
    #[arg(long, env = "CASTELLAN_MAX_IN_FLIGHT", default_value_t = 0)]
    pub max_in_flight: usize,
    /// Requests that may wait for a slot per class; past it they are refused with 503 and
    /// `Retry-After` (0: four times the in-flight limit).
    #[arg(long, env = "CASTELLAN_MAX_QUEUE", default_value_t = 0)]
    pub max_queue: usize,
    /// Longest wait for a slot, in milliseconds, before a 503 with `Retry-After`.
    #[arg(long, env = "CASTELLAN_MAX_QUEUE_WAIT_MS", default_value_t = 100)]
    pub max_queue_wait_ms: u64,
    /// The service's public origin (`https://login.example.com`): the load balancer's name,
    /// the same on every node of one service. It is the canonical origin and issuer whatever
    /// this node's listen port, and goes into the TLS certificate.
    #[arg(long, env = "CASTELLAN_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,
    /// The OpenTelemetry collector's OTLP/HTTP base URL (`http://collector:4318`): one span
    /// per request is exported to `<URL>/v1/traces` (protobuf, batched in the background).
    /// Also `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`; the service
    /// name is `OTEL_SERVICE_NAME` or `castellan`. Off when none is set.
    #[arg(long, env = "CASTELLAN_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "CASTELLAN_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// A PEM file of extra CA certificates to trust (besides the system roots) when fetching
    /// federated issuers' OpenID Connect discovery documents and keys (workload identity
    /// federation). Read at start-up; a missing or bad file stops the server.
    #[arg(long, env = "CASTELLAN_EXTRA_CA_FILE")]
    pub extra_ca_file: Option<PathBuf>,
    /// A reverse proxy (address or CIDR range) whose `X-Forwarded-For` header is believed;
    /// repeatable or comma-separated. The client's address is the TCP peer unless the peer is
    /// one of these; then the right-most address in `X-Forwarded-For` that is not one of these.
    #[arg(
        long = "trusted-proxy",
        env = "CASTELLAN_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// A MaxMind DB file (GeoLite2/GeoIP2 Country or City) placing client addresses in a
    /// country (and city and coordinates when the file has them): country named locations,
    /// sign-in log locations, impossible travel. A missing or bad file stops the server.
    #[arg(long, env = "CASTELLAN_GEOIP_DB")]
    pub geoip_db: Option<PathBuf>,
    /// Identity Protection: a file of anonymizer ranges (Tor exits, anonymising VPNs), one
    /// address or CIDR range per line, `#` comments.
    #[arg(long, env = "CASTELLAN_ANONYMOUS_IP_LIST")]
    pub anonymous_ip_list: Option<PathBuf>,
    /// Identity Protection: a file of leaked password SHA-1 hashes (Have I Been Pwned forms:
    /// `HASH`, `HASH:COUNT`, `PREFIX:SUFFIX`), checked at sign-in and password change.
    #[arg(long, env = "CASTELLAN_LEAKED_PASSWORDS")]
    pub leaked_passwords: Option<PathBuf>,
    /// DEVELOPMENT ONLY: the shortest PIM activation or assignment accepted, in seconds
    /// (Entra's minimum, and the default, is 300 = PT5M). Lower it only so tests can watch an
    /// activation expire; never in production.
    #[arg(long, env = "CASTELLAN_PIM_MIN_DURATION_SECS", default_value_t = 300)]
    pub pim_min_duration_secs: i64,
    /// The DNS resolver (`ip:port`) that custom-domain verification asks for TXT and MX
    /// records (`POST /v1.0/domains/{id}/verify`); default: the system's (`/etc/resolv.conf`).
    /// Each question times out after 2 s.
    #[arg(long, env = "CASTELLAN_DNS_RESOLVER")]
    pub dns_resolver: Option<SocketAddr>,
    /// The SMTP relay (`host:port`) that delivers B2B invitation messages and guests' email
    /// one-time passcodes. Without it, `POST /invitations` with `sendInvitationMessage: true`
    /// is refused (the invitation link is still in the answer's `inviteRedeemUrl`).
    #[arg(long, env = "CASTELLAN_SMTP_RELAY")]
    pub smtp_relay: Option<String>,
    /// The sender address of those messages (envelope and `From`); default
    /// `invites@<public host>`.
    #[arg(long, env = "CASTELLAN_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Require STARTTLS with the relay (its certificate checked against the system roots and
    /// `--extra-ca-file`); a relay that does not offer it is a delivery failure.
    #[arg(long, env = "CASTELLAN_SMTP_STARTTLS")]
    pub smtp_starttls: bool,
    /// How long a B2B invitation's redemption link stays valid, in days.
    #[arg(long, env = "CASTELLAN_INVITATION_DAYS", default_value_t = castellan_core::invitations::DEFAULT_LIFETIME_DAYS)]
    pub invitation_days: i64,
    /// A TOML file with any of these settings (`version = 1`, keys named like the flags with
    /// `_`); flags and `CASTELLAN_*` variables take precedence over it.
    #[arg(long, env = "CASTELLAN_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ServeArgs {
    /// Defaults for tests: a data dir, an ephemeral port.
    pub fn for_test(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            graph_port: GraphPort::Auto,
            graph_throttle: castellan_core::throttle::Limits::Entra,
            database_url: None,
            demo: false,
            hostnames: vec![],
            domain_suffix: "onmicrosoft.test".into(),
            key_rotation_days: 30,
            hash_pool: 2,
            max_body_bytes: 1024 * 1024,
            public_origin: None,
            max_in_flight: 0,
            max_queue: 0,
            max_queue_wait_ms: 100,
            log_format: "text".into(),
            otlp_endpoint: None,
            extra_ca_file: None,
            trusted_proxies: vec![],
            geoip_db: None,
            anonymous_ip_list: None,
            leaked_passwords: None,
            pim_min_duration_secs: 300,
            dns_resolver: None,
            smtp_relay: None,
            smtp_from: None,
            smtp_starttls: false,
            invitation_days: castellan_core::invitations::DEFAULT_LIFETIME_DAYS,
            config: None,
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("castellan.db").display()))
    }
}

/// `--graph-port`: where Microsoft Graph gets a listener of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphPort {
    /// The listen port + 1 (a free port when the listen port is 0).
    Auto,
    /// No listener of its own: Graph is served under `/graph/` (and the root) of the main port.
    Off,
    /// This port.
    Port(u16),
}

impl std::str::FromStr for GraphPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Self::Auto),
            "off" | "none" | "false" => Ok(Self::Off),
            n => n.parse::<u16>().map(Self::Port).map_err(|_| {
                format!("'{s}' is not a Graph port: use auto, off or a port number (1-65535)")
            }),
        }
    }
}

impl GraphPort {
    /// The port to bind for a main listener on `listen_port`: `None` when off, `Some(0)` for a
    /// free port. An `auto` port past 65535 is an error naming the fix.
    pub fn resolve(self, listen_port: u16) -> Result<Option<u16>, String> {
        match self {
            Self::Off => Ok(None),
            Self::Port(p) => Ok(Some(p)),
            Self::Auto if listen_port == 0 => Ok(Some(0)),
            Self::Auto => listen_port.checked_add(1).map(Some).ok_or_else(|| {
                "--graph-port auto needs the listen port + 1, past 65535: set --graph-port".into()
            }),
        }
    }
}

/// The settings a TOML config file may hold (`version = 1` plus the `serve` options, named as
/// the flags with `_` for `-`). Precedence: flags, then `CASTELLAN_*` environment, then the file.
pub const CONFIG_KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "graph_port",
    "graph_throttle",
    "database_url",
    "demo",
    "hostnames",
    "domain_suffix",
    "key_rotation_days",
    "hash_pool",
    "max_body_bytes",
    "public_origin",
    "max_in_flight",
    "max_queue",
    "max_queue_wait_ms",
    "log_format",
    "otlp_endpoint",
    "extra_ca_file",
    "trusted_proxies",
    "geoip_db",
    "anonymous_ip_list",
    "leaked_passwords",
    "pim_min_duration_secs",
    "dns_resolver",
    "smtp_relay",
    "smtp_from",
    "smtp_starttls",
    "invitation_days",
];

/// Turns a config file into `(CASTELLAN_*, value)` pairs; errors name the file's problem.
pub fn config_env_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("the config file is not valid TOML: {e}"))?;
    match table.get("version") {
        Some(toml::Value::Integer(1)) => {}
        Some(v) => {
            return Err(format!(
                "config 'version' is {v:?}; this castellan understands version = 1"
            ))
        }
        None => return Err("the config file must start with 'version = 1'".into()),
    }
    let mut out = Vec::new();
    for (k, v) in &table {
        if k == "version" {
            continue;
        }
        if !CONFIG_KEYS.contains(&k.as_str()) {
            return Err(format!(
                "unknown config key '{k}'; known keys: version, {}",
                CONFIG_KEYS.join(", ")
            ));
        }
        let value = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("config key '{k}' must be a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            _ => return Err(format!("config key '{k}' has an unsupported value type")),
        };
        out.push((format!("CASTELLAN_{}", k.to_ascii_uppercase()), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_maps_to_env_names() {
        let pairs = config_env_pairs("version = 1\nlisten = '0.0.0.0:9443'\ndemo = true\nhostnames = ['id.example', 'login.example']\nhash_pool = 4\n").unwrap_or_default();
        assert!(pairs.contains(&("CASTELLAN_LISTEN".into(), "0.0.0.0:9443".into())));
        assert!(pairs.contains(&("CASTELLAN_DEMO".into(), "true".into())));
        assert!(pairs.contains(&(
            "CASTELLAN_HOSTNAMES".into(),
            "id.example,login.example".into()
        )));
        assert!(pairs.contains(&("CASTELLAN_HASH_POOL".into(), "4".into())));
        // Identity Protection inputs come from the file too.
        let pairs = config_env_pairs(
            "version = 1
trusted_proxies = ['10.0.0.5/32', '10.0.0.6']
geoip_db = '/g.mmdb'
anonymous_ip_list = '/a.txt'
leaked_passwords = '/l.txt'
",
        )
        .unwrap_or_default();
        for (k, v) in [
            ("CASTELLAN_TRUSTED_PROXIES", "10.0.0.5/32,10.0.0.6"),
            ("CASTELLAN_GEOIP_DB", "/g.mmdb"),
            ("CASTELLAN_ANONYMOUS_IP_LIST", "/a.txt"),
            ("CASTELLAN_LEAKED_PASSWORDS", "/l.txt"),
        ] {
            assert!(pairs.contains(&(k.into(), v.into())), "{k}: {pairs:?}");
        }
    }

    #[test]
    fn config_file_errors_name_the_problem() {
        let e = |t: &str| config_env_pairs(t).err().unwrap_or_default();
        assert!(e("listen = 'x'").contains("version = 1"));
        assert!(e("version = 2").contains("version = 1"));
        assert!(e("version = 1\nlisen = 'x'").contains("'lisen'"));
        assert!(e("version = 1\nhostnames = [1]").contains("list of strings"));
        assert!(e("not toml =").contains("TOML"));
    }
}

#[cfg(test)]
mod graph_port_tests {
    use super::GraphPort;

    #[test]
    fn graph_port_parses_and_resolves() {
        assert_eq!("auto".parse::<GraphPort>(), Ok(GraphPort::Auto));
        assert_eq!("OFF".parse::<GraphPort>(), Ok(GraphPort::Off));
        assert_eq!("8444".parse::<GraphPort>(), Ok(GraphPort::Port(8444)));
        let e = "eighty".parse::<GraphPort>().unwrap_err();
        assert!(e.contains("auto, off or a port number"), "{e}");
        assert!("70000".parse::<GraphPort>().is_err());
        assert_eq!(GraphPort::Auto.resolve(8443), Ok(Some(8444)));
        assert_eq!(GraphPort::Auto.resolve(0), Ok(Some(0)));
        assert_eq!(GraphPort::Off.resolve(8443), Ok(None));
        assert_eq!(GraphPort::Port(9000).resolve(8443), Ok(Some(9000)));
        assert!(GraphPort::Auto
            .resolve(65535)
            .unwrap_err()
            .contains("--graph-port"));
    }
}
