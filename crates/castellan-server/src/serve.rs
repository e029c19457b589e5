//! Start-up: data dir, store, keys, TLS, operator credential, demo seed, background jobs, serve.

use std::net::SocketAddr;
use std::sync::Arc;

use castellan_core::secret::SecretText;
use castellan_core::store::Store;
use tokio::task::JoinHandle;

use crate::config::ServeArgs;
use crate::crypto::{random_secret, Argon2Hasher};
use crate::keys::{anyhow_lite, write_secret_file, KeyRing, MasterKey};
use crate::state::{now, AppState, Origins};

/// A running server (for tests, benchmarks and `run`).
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT`.
    pub origin: String,
    /// The state (tests reach the store and keys through it).
    pub state: AppState,
    /// The demo tenant's `demo.json`, when seeded.
    pub demo: Option<serde_json::Value>,
    /// Stops the server gracefully.
    pub handle: axum_server::Handle<SocketAddr>,
    /// The serving task.
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Opens everything and starts serving in the background.
pub async fn start(args: ServeArgs) -> anyhow_lite::Result<Running> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // Trust for federated issuers is settled before anything else opens: a bad
    // CASTELLAN_EXTRA_CA_FILE is a start-up error naming the variable and the path.
    let federation = Arc::new(
        crate::federation::IssuerKeys::from_config(args.extra_ca_file.as_deref())
            .map_err(anyhow_lite::err)?,
    );
    // So are the proxy, GeoIP and Identity Protection inputs: a bad file names itself.
    let protection =
        Arc::new(crate::protection::Protection::from_config(&args).map_err(anyhow_lite::err)?);
    // And the trace endpoint: a bad one stops start-up; an unreachable collector never does.
    let otlp = crate::otel::traces_url(args.otlp_endpoint.as_deref(), |k| std::env::var(k).ok())
        .map_err(anyhow_lite::err)?;
    std::fs::create_dir_all(&args.data_dir).map_err(|e| {
        anyhow_lite::err(format!(
            "cannot create data dir {}: {e}",
            args.data_dir.display()
        ))
    })?;
    let url = args.database_url();
    let sql = castellan_store::SqlStore::connect(&url)
        .await
        .map_err(|e| anyhow_lite::err(format!("cannot open the store at {}: {e}", redact(&url))))?;
    // The directory read model over the engine (`castellan_store::CachedStore`): entries live
    // until a commit invalidates them, and on PostgreSQL at most 1 s (other nodes' commits).
    let ttl = castellan_store::CachedStore::ttl_for(&sql);
    let follows = !sql.is_sqlite();
    let cached = Arc::new(castellan_store::CachedStore::new(Arc::new(sql), ttl));
    if follows {
        // Other nodes' commits, as PostgreSQL notifications (`CachedStore::follow`).
        cached.clone().follow(url.clone());
    }
    let store: Arc<dyn Store> = cached;
    let master = MasterKey::load(&args.data_dir)?;
    let keys = Arc::new(KeyRing::open(master, store.as_ref(), now()).await?);

    let op_path = args.data_dir.join("operator.key");
    if !op_path.exists() {
        write_secret_file(&op_path, random_secret().as_bytes())?;
    }
    let op_key = std::fs::read_to_string(&op_path)
        .map_err(|e| anyhow_lite::err(format!("cannot read {}: {e}", op_path.display())))?;
    let operator_key_sha256 = SecretText::new(op_key.trim()).sha256();

    let listener = std::net::TcpListener::bind(args.listen).map_err(|e| {
        anyhow_lite::err(format!(
            "cannot listen on {}: {e} (is another server running? use --listen)",
            args.listen
        ))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| anyhow_lite::err(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| anyhow_lite::err(e.to_string()))?;
    // Microsoft Graph's own listener (`--graph-port`), on the same address. `auto` follows the
    // *requested* port: a requested ephemeral port (0) gives Graph an ephemeral port of its own,
    // never "the bound port + 1", which another process may hold (a CI flake).
    let graph_listener = match args
        .graph_port
        .resolve(args.listen.port())
        .map_err(anyhow_lite::err)?
    {
        None => None,
        Some(p) => {
            let at = std::net::SocketAddr::new(args.listen.ip(), p);
            let l = std::net::TcpListener::bind(at).map_err(|e| {
                anyhow_lite::err(format!(
                    "cannot listen for Microsoft Graph on {at}: {e} (set --graph-port to a free \
                     port, or --graph-port off to serve Graph only under /graph/)"
                ))
            })?;
            l.set_nonblocking(true)
                .map_err(|e| anyhow_lite::err(e.to_string()))?;
            Some(l)
        }
    };
    let graph_port = match &graph_listener {
        Some(l) => Some(
            l.local_addr()
                .map_err(|e| anyhow_lite::err(e.to_string()))?
                .port(),
        ),
        None => None,
    };
    let mut origins = Origins::for_listener(addr, &args.hostnames).with_graph_port(graph_port);
    // The certificate names the listen address too when it is a specific one, and the public
    // origin's host.
    let mut cert_names = args.hostnames.clone();
    if let Some(public) = &args.public_origin {
        origins = origins
            .with_public_origin(public)
            .map_err(anyhow_lite::err)?;
        if let Some(h) = Origins::public_host_name(public) {
            if !cert_names.contains(&h) {
                cert_names.push(h);
            }
        }
    }
    let ip = addr.ip().to_string();
    if !addr.ip().is_unspecified() && ip != "127.0.0.1" && ip != "::1" && !cert_names.contains(&ip)
    {
        cert_names.push(ip);
    }
    let tls = crate::tls::server_config(&args.data_dir, &cert_names, now())?;

    let dns = crate::dns::Dns::new(args.dns_resolver).map_err(anyhow_lite::err)?;
    let mail_host = args
        .public_origin
        .as_deref()
        .and_then(Origins::public_host_name)
        .unwrap_or_else(|| "localhost".into());
    let smtp = crate::smtp::Relay::from_config(&args, &mail_host)
        .map_err(anyhow_lite::err)?
        .map(Arc::new);
    let traces = match otlp {
        Some(url) => {
            let service = crate::otel::service_name(|k| std::env::var(k).ok());
            tracing::info!(endpoint = %url, service = %service, "exporting traces over OTLP/HTTP");
            Some(Arc::new(
                crate::otel::Tracing::start(&url, &service).map_err(anyhow_lite::err)?,
            ))
        }
        None => None,
    };
    let state = AppState {
        store: store.clone(),
        keys: keys.clone(),
        hasher: Argon2Hasher::new(args.hash_pool),
        config: Arc::new(args.clone()),
        origins: Arc::new(origins.clone()),
        operator_key_sha256,
        signins: crate::signin_log::SignInLog::start(store.clone(), protection.clone()),
        federation,
        protection,
        console: Arc::default(),
        graph_throttle: Arc::new(crate::throttle::GraphThrottle::new(args.graph_throttle)),
        metrics: Arc::default(),
        tracing: traces,
        policies: Arc::default(),
        admission: Arc::new(crate::admission::Admission::from_args(&args)),
        dns: Arc::new(dns),
        lists: Arc::default(),
        smtp,
        redemptions: Arc::default(),
        external_idp: Arc::default(),
        tenant_picks: Arc::default(),
    };
    crate::admission::monitor(store.clone(), state.admission.clone());
    {
        let mut entropy = crate::crypto::OsEntropy;
        let mut env = castellan_core::ops::Env {
            store: store.as_ref(),
            now: now(),
            entropy: &mut entropy,
            hasher: &state.hasher,
            actor: castellan_core::audit::Actor::Operator,
            correlation_id: "startup".into(),
        };
        match castellan_core::ops::tenants::ensure_built_in_service_principals(&mut env).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                created = n,
                "added built-in resource service principals to existing tenants"
            ),
            Err(e) => {
                return Err(anyhow_lite::err(format!(
                    "checking built-in service principals: {e}"
                )))
            }
        }
    }
    // The admin console's registration: its redirect URIs are this server's own origins.
    let console_redirects: Vec<String> = origins
        .all()
        .iter()
        .flat_map(|o| {
            [
                format!("{o}{}", castellan_core::catalog::CONSOLE_REDIRECT_PATH),
                format!("{o}{}", crate::http::identity::redeem::CALLBACK_PATH),
            ]
        })
        .collect();
    castellan_core::ops::console::ensure_application(store.as_ref(), &console_redirects)
        .await
        .map_err(|e| anyhow_lite::err(format!("registering the admin console: {e}")))?;
    let demo = if args.demo {
        Some(crate::demo::ensure(&state, &args.data_dir).await?)
    } else {
        None
    };

    // The key set is reloaded every second (through the read model, so usually without a
    // database round trip): a key another node made is published here well within
    // `PROPAGATION_SECS`, before any node signs with it.
    let (key_store, key_ring) = (store.clone(), keys.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match key_ring.refresh(key_store.as_ref()).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "signing-key refresh failed (retrying every second)");
                }
                Err(_) => {}
            }
        }
    });
    // Key rotation and the sweeps.
    let interval = i64::from(args.key_rotation_days) * 24 * 3600;
    let (bg_store, bg_keys) = (store.clone(), keys.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            // Expired codes, refresh tokens, device codes, sessions and jtis are worthless.
            match bg_store.purge_grants(now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired sign-in grants removed"),
                Err(e) => tracing::warn!(error = %e, "purging expired grants failed"),
            }
            // PIM: record expiries and time out unanswered approvals (roles in force are decided
            // by time at every check; this only writes the audit trail, and catches up after a
            // restart because it works from the stored schedules).
            match crate::http::graph::pim::sweep(bg_store.as_ref(), now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(records = n, "PIM expiries recorded"),
                Err(e) => tracing::warn!(error = %e, "PIM sweep failed"),
            }
            // The recycle bin: items deleted 30 days ago are purged (audited by the system).
            match crate::http::graph::deleted_items::sweep(bg_store.as_ref(), now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "deleted items purged after 30 days"),
                Err(e) => tracing::warn!(error = %e, "deleted-items purge failed"),
            }
            match bg_keys.maintain(bg_store.as_ref(), now(), interval).await {
                Ok(true) => tracing::info!("published the next signing key"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "key rotation failed"),
            }
        }
    });

    let mut app = crate::http::router(state.clone());
    if let Some(d) = &demo {
        app = app.nest(
            "/sample/blob",
            sample_blob_store(d, &origins.canonical, &args.data_dir)?,
        );
    }
    let handle = axum_server::Handle::new();
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(tls);
    let server = axum_server::from_tcp_rustls(listener, tls.clone())
        .map_err(|e| anyhow_lite::err(e.to_string()))?
        .handle(handle.clone());
    // Graph's port serves the same router (one handle stops both): a request there is told
    // apart by its `Host` (`Origins::is_graph_host`).
    let graph_server = match graph_listener {
        Some(l) => Some(
            axum_server::from_tcp_rustls(l, tls)
                .map_err(|e| anyhow_lite::err(e.to_string()))?
                .handle(handle.clone()),
        ),
        None => None,
    };
    let task = tokio::spawn(async move {
        let main = server.serve(
            app.clone()
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        );
        match graph_server {
            Some(g) => {
                let graph =
                    g.serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>());
                let (a, b) = tokio::join!(main, graph);
                a.and(b)
            }
            None => main.await,
        }
    });
    Ok(Running {
        addr,
        origin: origins.canonical,
        state,
        demo,
        handle,
        task,
    })
}

/// The sample data plane `serve --demo` mounts under `/sample/blob` (examples/blob-store),
/// wired to this server as its authority and check-access API.
fn sample_blob_store(
    demo: &serde_json::Value,
    origin: &str,
    data_dir: &std::path::Path,
) -> anyhow_lite::Result<axum::Router> {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let ca_pem = std::fs::read(data_dir.join("tls").join("ca.pem")).ok();
    let cfg = castellan_blob_store::Config {
        authority: format!("{origin}/{}", s(&demo["tenant_id"])),
        arm_url: origin.to_string(),
        client_id: s(&demo["blob_store_app"]["app_id"]),
        client_secret: s(&demo["blob_store_app"]["secret"]),
        accounts: vec![(
            s(&demo["storage"]["account"]),
            s(&demo["storage"]["account_scope"]),
        )],
        data_dir: data_dir.join("sample-blobs"),
        ca_pem,
    };
    castellan_blob_store::router(cfg).map_err(anyhow_lite::err)
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!(
            "{}://***{}",
            url.get(..s).unwrap_or(""),
            url.get(at..).unwrap_or("")
        ),
        _ => url.to_string(),
    }
}

/// `castellan serve`: starts, logs where to connect, waits for Ctrl-C, shuts down gracefully.
pub async fn run(args: ServeArgs) -> anyhow_lite::Result<()> {
    init_logging(&args.log_format);
    let data_dir = args.data_dir.clone();
    let r = start(args).await?;
    let ca = data_dir.join("tls").join("ca.pem");
    tracing::info!(origin = %r.origin, "castellan is serving");
    println!("Castellan is serving on {} (HTTPS)", r.origin);
    println!("  CA certificate: {}  (export REQUESTS_CA_BUNDLE / SSL_CERT_FILE / NODE_EXTRA_CA_CERTS to trust it)", ca.display());
    println!(
        "  Operator key:   {}",
        data_dir.join("operator.key").display()
    );
    let graph = r.state.origins.graph_base(&r.origin);
    println!("  Graph:          {graph}/v1.0  (token resource {graph}/)");
    println!(
        "  ARM:            {}/  (az cloud register -n Castellan --endpoint-resource-manager {})",
        r.origin, r.origin
    );
    if let Some(d) = &r.demo {
        println!(
            "  Demo tenant:    {} ({})",
            d["tenant_id"].as_str().unwrap_or(""),
            d["domain"].as_str().unwrap_or("")
        );
        println!(
            "  Authority:      {}",
            d["authority"].as_str().unwrap_or("")
        );
        println!("  Demo details:   {}", data_dir.join("demo.json").display());
    }
    let handle = r.handle.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        println!("Shutting down…");
        handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    let served = r.task.await.map_err(|e| anyhow_lite::err(e.to_string()))?;
    // The last spans go out before the process ends (background tasks keep the exporter).
    if let Some(t) = r.state.tracing.clone() {
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || t.flush()).await {
            tracing::warn!("the last traces were not exported: {e}");
        }
    }
    served.map_err(|e| anyhow_lite::err(e.to_string()))
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASTELLAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn,sqlx=warn"));
    let b = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if format == "json" {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

/// `castellan backup`: an online copy of the SQLite store into the new file `to` (the server
/// may keep running). Returns the copy's size in bytes.
pub async fn backup(url: &str, to: &std::path::Path) -> anyhow_lite::Result<u64> {
    if to.exists() {
        return Err(anyhow_lite::err(format!(
            "{} already exists: name a new file (a backup never overwrites)",
            to.display()
        )));
    }
    if let Some(file) = url.strip_prefix("sqlite://") {
        let file = file.split('?').next().unwrap_or(file);
        if !std::path::Path::new(file).is_file() {
            return Err(anyhow_lite::err(format!(
                "there is no database at {file}: pass the server's --data-dir (or --database-url)"
            )));
        }
    }
    let store = castellan_store::SqlStore::connect(url)
        .await
        .map_err(|e| anyhow_lite::err(format!("cannot open {}: {e}", redact(url))))?;
    store
        .backup_sqlite_into(to)
        .await
        .map_err(|e| anyhow_lite::err(format!("backup of {} failed: {e}", redact(url))))
}

/// `castellan migrate`: opens the store (which applies migrations) and exits.
pub async fn migrate(url: &str) -> anyhow_lite::Result<()> {
    castellan_store::SqlStore::connect(url)
        .await
        .map(|_| ())
        .map_err(|e| anyhow_lite::err(format!("migration of {} failed: {e}", redact(url))))
}
