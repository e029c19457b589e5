//! Client-credentials token issuance over HTTPS on loopback, at several concurrencies, against
//! the raw RS256 signing rate of the same key on one core, measured in the same run.
//!
//! `cargo run --release -p castellan-bench -- [--seconds N] [--concurrency 1,8,64]`
//! starts an in-process `castellan serve --demo` (own runtime) in a temp dir, then measures.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use serde_json::{json, Value};

mod graph;

#[derive(Parser)]
struct Args {
    /// Run only the Graph-at-scale benchmark: a tenant of `--users` users and `--groups`
    /// groups, filtered list pages over HTTPS.
    #[arg(long)]
    graph: bool,
    /// Connections for `--graph`.
    #[arg(long, default_value_t = 8)]
    graph_concurrency: usize,
    /// Run only the in-process Azure RBAC engine benchmark.
    #[arg(long)]
    rbac: bool,
    /// Run only the in-process Conditional Access evaluator benchmark.
    #[arg(long)]
    ca: bool,
    /// Run only the dynamic-membership benchmark (SQLite, in-process use cases).
    #[arg(long)]
    dynamic: bool,
    /// Run only the overload benchmark: client credentials offered open-loop at 2 × the
    /// measured capacity, against a node with default admission and one without shedding.
    #[arg(long)]
    overload: bool,
    /// Users for `--dynamic` and `--graph`.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Groups for `--dynamic` (dynamic groups; default 1000) and `--graph` (default 5000).
    #[arg(long)]
    groups: Option<usize>,
    /// PATCHes measured by `--dynamic`.
    #[arg(long, default_value_t = 300)]
    patches: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    concurrency: Vec<usize>,
    /// Do not measure the peer (oidc-provider under `bench/peer`, needs `node` and
    /// `npm ci` there).
    #[arg(long)]
    no_peer: bool,
    /// Server worker threads.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Concurrency levels for the user flows (password, refresh, auth code).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    user_concurrency: Vec<usize>,
    /// Which token flows to measure (for profiling one): any of client-credentials, password,
    /// refresh, code. Default: all.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "client-credentials,password,refresh,code"
    )]
    flows: Vec<String>,
    /// Write the JSON summary here too.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.rbac {
        return rbac_bench(args.out.as_deref());
    }
    if args.ca {
        return ca_bench(args.seconds, args.out.as_deref());
    }
    if args.dynamic {
        return dynamic_bench(
            args.users,
            args.groups.unwrap_or(1_000),
            args.patches,
            args.out.as_deref(),
        );
    }
    if args.overload {
        return overload_bench(&args);
    }
    if args.graph {
        return graph::graph_bench(&args);
    }
    let dir = std::env::temp_dir().join(format!("castellan-bench-{}", std::process::id()));
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads)
        .enable_all()
        .build()?;
    let mut serve = castellan_server::ServeArgs::for_test(dir.clone());
    serve.demo = true;
    let running = server_rt
        .block_on(castellan_server::start(serve))
        .map_err(|e| anyhow!("{e}"))?;
    let demo = running
        .demo
        .clone()
        .ok_or_else(|| anyhow!("no demo tenant"))?;
    let keys = running.state.keys.clone();

    // Baseline: raw RS256 signatures of a token-sized message with the server's key, one core.
    let msg = vec![b'x'; 900];
    let now = castellan_server::state::now();
    let t0 = Instant::now();
    let mut signs = 0u64;
    while t0.elapsed() < Duration::from_secs(args.seconds) {
        keys.raw_sign(&msg, now)
            .ok_or_else(|| anyhow!("no signing key"))?;
        signs += 1;
    }
    let raw_per_sec = signs as f64 / t0.elapsed().as_secs_f64();
    println!("raw RS256 signs/s (1 core, same key): {raw_per_sec:.0}");

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ca = std::fs::read(dir.join("tls/ca.pem")).context("reading the CA")?;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .pool_max_idle_per_host(256)
        .build()?;
    let url = format!(
        "{}/oauth2/v2.0/token",
        demo["authority"].as_str().unwrap_or("")
    );
    let form: Vec<(String, String)> = vec![
        ("grant_type".into(), "client_credentials".into()),
        (
            "client_id".into(),
            demo["confidential_client"]["app_id"]
                .as_str()
                .unwrap_or("")
                .into(),
        ),
        (
            "client_secret".into(),
            demo["confidential_client"]["secret"]
                .as_str()
                .unwrap_or("")
                .into(),
        ),
        (
            "scope".into(),
            "https://graph.microsoft.com/.default".into(),
        ),
    ];
    let mut results = Vec::new();
    let cc = args.flows.iter().any(|f| f == "client-credentials");
    for &c in args.concurrency.iter().filter(|_| cc) {
        let (lat, errors, elapsed) =
            client_rt.block_on(measure_form(&http, &url, &form, c, args.seconds));
        results.push(level_row("castellan", c, lat, errors, elapsed, raw_per_sec));
    }
    // The peer: panva's oidc-provider (bench/peer), same load generator, same run.
    let peer = if args.no_peer || !cc {
        json!({"skipped": "--no-peer"})
    } else {
        match peer_levels(&client_rt, &dir, &args, raw_per_sec, &results) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("PEER NOT MEASURED: {e:#}");
                json!({"error": format!("{e:#}")})
            }
        }
    };
    let user_flows = client_rt.block_on(user_flows(
        &http,
        &demo,
        &running.state,
        args.seconds,
        raw_per_sec,
        &args.user_concurrency,
        &args.flows,
    ))?;
    let summary: Value = json!({"raw_rs256_signs_per_sec_1core": raw_per_sec.round(), "seconds_per_level": args.seconds, "server_threads": args.server_threads, "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "levels": results, "peer_oidc_provider": peer, "user_flows": user_flows});
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(p) = args.out {
        std::fs::write(p, serde_json::to_string_pretty(&summary)?)?;
    }
    running.handle.shutdown();
    drop(server_rt);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `c` workers posting `form` to `url` for `secs` (after warming the connection pool).
async fn measure_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(String, String)],
    c: usize,
    secs: u64,
) -> (Vec<Duration>, u64, Duration) {
    let form = Arc::new(form.to_vec());
    for _ in 0..c.min(8) {
        let _ = http.post(url).form(&*form).send().await;
    }
    drive(c, secs, |_, deadline| {
        let (http, url, form) = (http.clone(), url.to_string(), form.clone());
        async move {
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                match http.post(&url).form(&*form).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }
    })
    .await
}

/// One client-credentials level, printed and as JSON.
fn level_row(
    who: &str,
    c: usize,
    mut lat: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
    raw_per_sec: f64,
) -> Value {
    lat.sort();
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{who:<15} concurrency {c:>3}: {rate:>7.0} tokens/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {errors}  tokens/s ÷ raw signs/s = {:.3}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        rate / raw_per_sec
    );
    json!({
        "concurrency": c, "tokens": lat.len(), "errors": errors, "tokens_per_sec": rate.round(),
        "p50_ms": (percentile(&lat, 0.50) * 100.0).round() / 100.0, "p99_ms": (percentile(&lat, 0.99) * 100.0).round() / 100.0,
        "ratio_to_raw_signs": (rate / raw_per_sec * 1000.0).round() / 1000.0,
    })
}

/// Starts `node bench/peer/server.mjs` over HTTPS (a throw-away certificate from `openssl`),
/// drives its client credentials at the same levels, stops it.
fn peer_levels(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    args: &Args,
    raw_per_sec: f64,
    ours: &[Value],
) -> Result<Value> {
    let peer_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peer");
    if !peer_dir.join("node_modules/oidc-provider").exists() {
        return Err(anyhow!(
            "bench/peer/node_modules is missing: run `npm ci` in {}",
            peer_dir.display()
        ));
    }
    let (cert, key) = (dir.join("peer-cert.pem"), dir.join("peer-key.pem"));
    let st = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            // An end-entity certificate: rustls refuses a CA certificate as a server's.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .context("running openssl for the peer's certificate")?;
    if !st.success() {
        return Err(anyhow!("openssl could not make the peer's certificate"));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = std::process::Command::new("node")
        .arg(peer_dir.join("server.mjs"))
        .arg(port.to_string())
        .arg(&cert)
        .arg(&key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting node (the peer)")?;
    let result = (|| -> Result<Value> {
        use std::io::BufRead;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no peer stdout"))?;
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line)?;
        if !line.contains("listening") {
            return Err(anyhow!("the peer did not start: {line}"));
        }
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&cert)?)?)
            .pool_max_idle_per_host(256)
            .build()?;
        let url = format!("https://127.0.0.1:{port}/token");
        let form: Vec<(String, String)> = [
            ("grant_type", "client_credentials"),
            ("client_id", "bench-client"),
            ("client_secret", "bench-secret-bench-secret-bench-secret"),
            ("resource", "https://graph.microsoft.com"),
            ("scope", "User.Read.All"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut rows = Vec::new();
        for &c in &args.concurrency {
            let (lat, errors, elapsed) =
                rt.block_on(measure_form(&http, &url, &form, c, args.seconds));
            let mut row = level_row("oidc-provider", c, lat, errors, elapsed, raw_per_sec);
            let theirs = row["tokens_per_sec"].as_f64().unwrap_or(0.0);
            if let Some(o) = ours.iter().find(|o| o["concurrency"] == json!(c)) {
                let mine = o["tokens_per_sec"].as_f64().unwrap_or(0.0);
                let ratio = if theirs > 0.0 { mine / theirs } else { 0.0 };
                println!("                castellan ÷ oidc-provider at {c:>3}: {ratio:.2}");
                row["castellan_over_peer"] = json!((ratio * 100.0).round() / 100.0);
            }
            rows.push(row);
        }
        Ok(json!({"package": "oidc-provider@9.13.3", "levels": rows}))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Runs `c` workers until `secs` pass; each returns its latencies and error count.
async fn drive<F, Fut>(c: usize, secs: u64, worker: F) -> (Vec<Duration>, u64, Duration)
where
    F: Fn(usize, Instant) -> Fut,
    Fut: Future<Output = (Vec<Duration>, u64)> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..c).map(|i| tokio::spawn(worker(i, deadline))).collect();
    let (mut all, mut errs) = (Vec::new(), 0);
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errs += e;
        }
    }
    all.sort();
    (all, errs, start.elapsed())
}

fn row(
    name: &str,
    c: usize,
    lat: &[Duration],
    errors: u64,
    elapsed: Duration,
    baseline: (&str, f64),
) -> Value {
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<28} concurrency {c:>2}: {rate:>7.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {errors}  ÷ {} = {:.3}",
        percentile(lat, 0.5),
        percentile(lat, 0.99),
        baseline.0,
        rate / baseline.1
    );
    json!({"flow": name, "concurrency": c, "count": lat.len(), "errors": errors, "per_sec": rate.round(),
           "p50_ms": (percentile(lat, 0.50) * 100.0).round() / 100.0, "p99_ms": (percentile(lat, 0.99) * 100.0).round() / 100.0,
           "baseline": baseline.0, "ratio_to_baseline": (rate / baseline.1 * 1000.0).round() / 1000.0})
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Prints the first failure of a run (errors are counted; the first says why): the end of
/// the answer, where an error page names its AADSTS code.
fn first_error(what: &str, why: &str) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        let chars: Vec<char> = why.chars().collect();
        let tail: String = chars[chars.len().saturating_sub(900)..].iter().collect();
        eprintln!("first error ({what}): {tail}");
    }
}

/// Password sign-ins (ROPC) against argon2id verifications/s; refresh-token redemptions and
/// authorization-code round trips (SSO authorize + redeem) against raw RS256 signs/s.
async fn user_flows(
    http: &reqwest::Client,
    demo: &Value,
    state: &castellan_server::state::AppState,
    secs: u64,
    raw_per_sec: f64,
    levels: &[usize],
    flows: &[String],
) -> Result<Value> {
    let only = |f: &str| flows.iter().any(|x| x == f);
    use castellan_core::ops::PasswordHasher;
    // Baseline: argon2id verifications per second with the server's parameters, one at a time.
    let pw = s(&demo["user"]["password"]);
    let phc = state.hasher.hash(&pw).await.map_err(|e| anyhow!(e))?;
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        state.hasher.verify(&pw, &phc).await;
        n += 1;
    }
    let argon_per_sec = n as f64 / t0.elapsed().as_secs_f64();
    println!("argon2id verifications/s (m=19456 KiB, t=2, p=1; one at a time): {argon_per_sec:.1}");

    let token_url = format!("{}/oauth2/v2.0/token", s(&demo["authority"]));
    let public = s(&demo["public_client"]["app_id"]);
    let upn = s(&demo["user"]["upn"]);
    let ropc = Arc::new(vec![
        ("grant_type".to_string(), "password".to_string()),
        ("client_id".into(), public.clone()),
        ("username".into(), upn.clone()),
        ("password".into(), pw.clone()),
        ("scope".into(), "User.Read offline_access".into()),
    ]);
    let mut rows = Vec::new();
    for &c in levels.iter().filter(|_| only("password")) {
        let (lat, e, el) = drive(c, secs, |_, deadline| {
            let (http, url, form) = (http.clone(), token_url.clone(), ropc.clone());
            async move {
                let (mut lat, mut errors) = (Vec::new(), 0);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match http.post(&url).form(&*form).send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }
        })
        .await;
        rows.push(row(
            "password sign-in (ROPC)",
            c,
            &lat,
            e,
            el,
            ("argon2id verifies/s", argon_per_sec),
        ));
    }
    for &c in levels.iter().filter(|_| only("refresh")) {
        let (lat, e, el) = drive(c, secs, |_, deadline| {
            let (http, url, form, public) = (
                http.clone(),
                token_url.clone(),
                ropc.clone(),
                public.clone(),
            );
            async move {
                let (mut lat, mut errors) = (Vec::new(), 0);
                let first: Value = match http.post(&url).form(&*form).send().await {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(_) => return (lat, 1),
                };
                let mut rt = s(&first["refresh_token"]);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let f = [
                        ("grant_type", "refresh_token"),
                        ("client_id", public.as_str()),
                        ("refresh_token", rt.as_str()),
                        ("scope", "User.Read offline_access"),
                    ];
                    match http.post(&url).form(&f).send().await {
                        Ok(r) if r.status().is_success() => {
                            let v: Value = r.json().await.unwrap_or_default();
                            rt = s(&v["refresh_token"]);
                            lat.push(t.elapsed());
                        }
                        _ => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (lat, errors)
            }
        })
        .await;
        rows.push(row(
            "refresh-token redemption",
            c,
            &lat,
            e,
            el,
            ("raw RS256 signs/s", raw_per_sec),
        ));
    }
    // Auth code: one interactive sign-in per worker for an SSO cookie, then authorize (SSO) +
    // redeem per iteration, as a web app does for each new sign-in.
    let nofollow = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(
            state.config.data_dir.join("tls/ca.pem"),
        )?)?)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let conf = s(&demo["confidential_client"]["app_id"]);
    let secret = s(&demo["confidential_client"]["secret"]);
    let redirect = s(&demo["confidential_client"]["redirect_uri"]);
    let authorize = format!(
        "{}/oauth2/v2.0/authorize?client_id={conf}&response_type=code&redirect_uri={}&scope=User.Read",
        s(&demo["authority"]),
        redirect.replace(':', "%3A").replace('/', "%2F")
    );
    for &c in levels.iter().filter(|_| only("code")) {
        let (lat, e, el) = drive(c, secs, |_, deadline| {
            let (http, url, authorize, conf, secret, redirect, upn, pw) = (
                nofollow.clone(),
                token_url.clone(),
                authorize.clone(),
                conf.clone(),
                secret.clone(),
                redirect.clone(),
                upn.clone(),
                pw.clone(),
            );
            async move {
                let (mut lat, mut errors) = (Vec::new(), 0);
                let Some(cookie) = sso_cookie(&http, &authorize, &upn, &pw).await else {
                    return (lat, 1);
                };
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let code = match http.get(&authorize).header("cookie", &cookie).send().await {
                        Ok(r) => {
                            let location = r
                                .headers()
                                .get("location")
                                .and_then(|l| l.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            match location.split("code=").nth(1) {
                                Some(c) => Ok(c.split('&').next().unwrap_or("").to_string()),
                                None => Err(format!(
                                    "{} {location} {}",
                                    r.status(),
                                    r.text().await.unwrap_or_default()
                                )),
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let code = match code {
                        Ok(c) => c,
                        Err(why) => {
                            first_error("authorize", &why);
                            errors += 1;
                            continue;
                        }
                    };
                    let f = [
                        ("grant_type", "authorization_code"),
                        ("client_id", conf.as_str()),
                        ("client_secret", secret.as_str()),
                        ("code", code.as_str()),
                        ("redirect_uri", redirect.as_str()),
                    ];
                    match http.post(&url).form(&f).send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed());
                        }
                        Ok(r) => {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            first_error("code redemption", &format!("{status}: {body}"));
                            errors += 1;
                        }
                        Err(e) => {
                            first_error("code redemption", &e.to_string());
                            errors += 1;
                        }
                    }
                }
                (lat, errors)
            }
        })
        .await;
        rows.push(row(
            "auth code (SSO authorize+redeem)",
            c,
            &lat,
            e,
            el,
            ("raw RS256 signs/s", raw_per_sec),
        ));
    }
    Ok(
        json!({"argon2id_verifies_per_sec": (argon_per_sec * 10.0).round() / 10.0, "argon2id_params": "m=19456 KiB, t=2, p=1", "rows": rows}),
    )
}

/// Signs in through the login form once and returns the `Cookie` header holding the SSO cookie.
async fn sso_cookie(
    http: &reqwest::Client,
    authorize: &str,
    upn: &str,
    pw: &str,
) -> Option<String> {
    let r = http.get(authorize).send().await.ok()?;
    let csrf_cookie: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_string)
        .collect();
    let html = r.text().await.ok()?;
    let field = |name: &str| {
        let key = format!("name=\"{name}\" value=\"");
        html.split(&key)
            .nth(1)
            .and_then(|x| x.split('"').next())
            .map(|v| {
                v.replace("&amp;", "&")
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
            })
    };
    let action = html
        .split("action=\"")
        .nth(1)?
        .split('"')
        .next()?
        .replace("&amp;", "&");
    let base = authorize
        .split("/oauth2/")
        .next()?
        .rsplit_once('/')?
        .0
        .to_string();
    let origin = base;
    let form = [
        ("ctx", field("ctx")?),
        ("csrf", field("csrf")?),
        ("username", upn.to_string()),
        ("password", pw.to_string()),
    ];
    let r = http
        .post(format!("{origin}{action}"))
        .header("cookie", csrf_cookie.join("; "))
        .form(&form)
        .send()
        .await
        .ok()?;
    let sso: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|v| v.starts_with("castellan_sso_"))
        .map(str::to_string)
        .collect();
    (!sso.is_empty()).then(|| sso.join("; "))
}

/// The resource-plane engine in-process: principals in 1k/10k/100k populations, users in a
/// chain of 200 nested groups, 4,000 assignments in one subscription at subscription, resource
/// group, account and container scopes; p50/p99 per `check`, against the cost of one plain scan
/// of the same 4,000 assignments' principal ids measured in the same run.
fn rbac_bench(out: Option<&std::path::Path>) -> Result<()> {
    use castellan_core::azure_rbac::{
        ancestors, built_in_roles, check, Assignment, AssignmentIndex, Decision,
    };
    use castellan_core::ObjectId;
    let roles = built_in_roles();
    let resolve = |id: uuid::Uuid| castellan_core::azure_rbac::built_in_by_id(id);
    let sub = "/subscriptions/11111111-1111-1111-1111-111111111111";
    let container = |a: usize, c: usize| {
        format!("{sub}/resourceGroups/rg{}/providers/Microsoft.Storage/storageAccounts/acct{a}/blobServices/default/containers/c{c}", a % 50)
    };
    // Deterministic pseudo-random numbers (no RNG dependency in the measurement).
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let oid = |n: u64| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&n.to_be_bytes());
        ObjectId::from_random(b)
    };
    let mut rows = Vec::new();
    for population in [1_000u64, 10_000, 100_000] {
        let groups: Vec<ObjectId> = (0..200).map(|g| oid(10_000_000 + g)).collect();
        let role_ids: Vec<uuid::Uuid> = roles.iter().map(|r| r.id).collect();
        let mut assignments = Vec::with_capacity(4_000);
        for i in 0..4_000u64 {
            let principal = if i % 4 == 0 {
                groups[(next() % 200) as usize]
            } else {
                oid(next() % population)
            };
            let scope = match next() % 4 {
                0 => sub.to_string(),
                1 => format!("{sub}/resourceGroups/rg{}", next() % 50),
                2 => format!(
                    "{sub}/resourceGroups/rg{}/providers/Microsoft.Storage/storageAccounts/acct{}",
                    next() % 50,
                    next() % 500
                ),
                _ => container((next() % 500) as usize, (next() % 10) as usize),
            };
            assignments.push(Assignment {
                condition: None,
                id: format!("a{i}"),
                principal_id: principal,
                role_id: role_ids[(next() % role_ids.len() as u64) as usize],
                // Stored normalised, as a store would keep them.
                scope: castellan_core::azure_rbac::normalise_scope(&scope),
            });
        }
        let index = AssignmentIndex::new(&assignments);
        let mut lat = Vec::with_capacity(20_000);
        let mut allowed = 0usize;
        let mut scan = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let user = oid(next() % population);
            // Half the users sit at the bottom of the 200-deep group chain.
            let mut principals = vec![user];
            if next() % 2 == 0 {
                principals.extend(groups.iter().copied());
            }
            let target = container((next() % 500) as usize, (next() % 10) as usize);
            let chain = ancestors(&target, &["root".into()]);
            let t = Instant::now();
            let d = check(
                &principals,
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
                true,
                &chain,
                &index,
                &resolve,
                &[],
            );
            lat.push(t.elapsed());
            if matches!(d, Decision::Allowed { .. }) {
                allowed += 1;
            }
            let t = Instant::now();
            let hits = assignments
                .iter()
                .filter(|a| a.principal_id == user)
                .count();
            scan.push(t.elapsed());
            std::hint::black_box(hits);
        }
        lat.sort();
        scan.sort();
        let (p50, p99, s50) = (
            percentile(&lat, 0.5) * 1000.0,
            percentile(&lat, 0.99) * 1000.0,
            percentile(&scan, 0.5) * 1000.0,
        );
        println!("rbac population {population:>7}: check p50 {p50:>8.2} µs  p99 {p99:>8.2} µs  allowed {allowed}/20000  baseline scan p50 {s50:.2} µs  ratio {:.1}", p50 / s50);
        rows.push(json!({"principals": population, "groups_in_chain": 200, "assignments": 4000, "checks": 20000,
            "p50_us": (p50 * 100.0).round() / 100.0, "p99_us": (p99 * 100.0).round() / 100.0,
            "baseline_scan_p50_us": (s50 * 100.0).round() / 100.0, "ratio_p50_to_scan": (p50 / s50 * 10.0).round() / 10.0, "allowed": allowed}));
    }
    let summary = json!({"rbac": rows});
    if let Some(p) = out {
        std::fs::write(p, serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(())
}

/// The Conditional Access evaluator in-process: 195 varied policies (MFA for groups, roles and
/// apps; block legacy authentication; locations; platforms; risk; compliant device; report-only
/// and disabled ones; workload-identity blocks), 50 named locations, 2,000 groups; p50/p99 per
/// `PolicySet::evaluate` over rotating realistic user contexts (20–60 transitive groups), against
/// the cost of one RS256 signature of a token-sized message on the same core in the same run.
fn ca_bench(seconds: u64, out: Option<&std::path::Path>) -> Result<()> {
    use castellan_core::policy::*;
    use castellan_core::{AppId, ObjectId, Timestamp};

    // Deterministic pseudo-random numbers (no RNG dependency in the measurement).
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let oid = |kind: u64, n: u64| ObjectId::from_uuid(uuid::Uuid::from_u64_pair(kind, n));
    let aid = |n: u64| AppId::from_uuid(uuid::Uuid::from_u64_pair(0xA, n));
    let role = |n: u64| uuid::Uuid::from_u64_pair(0xB, n);
    const GROUPS: u64 = 2_000;
    const APPS: u64 = 100;
    const LOCATIONS: u64 = 50;
    let break_glass = oid(0x6, 0);

    // Named locations: 40 IP ranges (a quarter trusted), 10 country lists.
    let mut named = Vec::new();
    for i in 0..LOCATIONS {
        let kind = if i < 40 {
            let ranges = (0..4)
                .map(|j| parse_cidr(&format!("10.{i}.{}.0/24", j * 16)))
                .chain(std::iter::once(parse_cidr(&format!("2001:db8:{i:x}::/48"))))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow!(e))?;
            NamedLocationKind::Ip {
                ranges,
                is_trusted: i % 4 == 0,
            }
        } else {
            NamedLocationKind::Country {
                countries: vec!["KP".into(), format!("C{i}")],
                include_unknown: i == 49,
            }
        };
        named.push(NamedLocation {
            id: oid(0x5, i),
            display_name: format!("L{i}"),
            kind,
        });
    }

    let grant = |op: GrantOperator, c: &[BuiltInControl]| {
        Some(GrantControls {
            operator: op,
            built_in_controls: c.to_vec(),
            authentication_strength: None,
        })
    };
    let mut policies = Vec::with_capacity(195);
    for i in 0..195u64 {
        let mut users = UsersCondition {
            include_users: vec![UserRef::All],
            exclude_groups: vec![break_glass],
            ..Default::default()
        };
        let mut c = Conditions {
            applications: ApplicationsCondition {
                include_applications: vec![AppRef::All],
                ..Default::default()
            },
            ..Default::default()
        };
        let mut g = grant(GrantOperator::And, &[BuiltInControl::Mfa]);
        let mut session = None;
        let mut state = PolicyState::Enabled;
        match i % 13 {
            // MFA for a few groups on a few apps.
            0..=2 => {
                users.include_users.clear();
                users.include_groups = (0..5).map(|_| oid(0x2, next() % GROUPS)).collect();
                c.applications.include_applications =
                    (0..3).map(|_| AppRef::Id(aid(next() % APPS))).collect();
            }
            // Admin roles: MFA with a 4-hour sign-in frequency.
            3 => {
                users.include_users.clear();
                users.include_roles = (0..4).map(|_| role(next() % 30)).collect();
                session = Some(SessionControls {
                    sign_in_frequency: Some(SignInFrequency {
                        value: 4,
                        unit: FrequencyUnit::Hours,
                        interval: FrequencyInterval::TimeBased,
                        is_enabled: true,
                    }),
                    persistent_browser: None,
                });
            }
            // Block legacy authentication.
            4 => {
                c.client_app_types = vec![ClientAppType::ExchangeActiveSync, ClientAppType::Other];
                g = grant(GrantOperator::Or, &[BuiltInControl::Block]);
            }
            // MFA outside trusted locations; block some countries.
            5 => {
                c.locations = Some(LocationsCondition {
                    include_locations: vec![LocationRef::All],
                    exclude_locations: vec![
                        LocationRef::AllTrusted,
                        LocationRef::Id(oid(0x5, next() % 40)),
                    ],
                });
            }
            6 => {
                c.locations = Some(LocationsCondition {
                    include_locations: vec![LocationRef::Id(oid(0x5, 40 + next() % 10))],
                    exclude_locations: vec![],
                });
                g = grant(GrantOperator::Or, &[BuiltInControl::Block]);
            }
            // Compliant device or MFA on mobile platforms for an app.
            7 => {
                c.platforms = Some(PlatformsCondition {
                    include_platforms: vec![DevicePlatform::Android, DevicePlatform::IOS],
                    exclude_platforms: vec![],
                });
                c.applications.include_applications = vec![AppRef::Id(aid(next() % APPS))];
                g = grant(
                    GrantOperator::Or,
                    &[BuiltInControl::CompliantDevice, BuiltInControl::Mfa],
                );
            }
            // Risk-based.
            8 => c.sign_in_risk_levels = vec![RiskLevel::Medium, RiskLevel::High],
            9 => {
                c.user_risk_levels = vec![RiskLevel::High];
                g = grant(
                    GrantOperator::And,
                    &[BuiltInControl::Mfa, BuiltInControl::PasswordChange],
                );
            }
            // Report-only compliant device for a group, excluding guests.
            10 => {
                state = PolicyState::ReportOnly;
                users.exclude_users = vec![UserRef::GuestsOrExternalUsers];
                users.include_groups = vec![oid(0x2, next() % GROUPS)];
                g = grant(GrantOperator::And, &[BuiltInControl::CompliantDevice]);
            }
            // Disabled experiments.
            11 => {
                state = PolicyState::Disabled;
                g = grant(GrantOperator::Or, &[BuiltInControl::Block]);
            }
            // Workload identities: block service principals outside trusted locations.
            _ => {
                users = UsersCondition {
                    include_users: vec![UserRef::None],
                    ..Default::default()
                };
                c.client_applications = Some(ClientApplicationsCondition {
                    include_service_principals: vec![ServicePrincipalRef::InMyTenant],
                    exclude_service_principals: vec![],
                });
                c.locations = Some(LocationsCondition {
                    include_locations: vec![LocationRef::All],
                    exclude_locations: vec![LocationRef::AllTrusted],
                });
                g = grant(GrantOperator::Or, &[BuiltInControl::Block]);
            }
        }
        c.users = users;
        policies.push(ConditionalAccessPolicy {
            id: oid(0x9, i),
            display_name: format!("CA{i:03}"),
            state,
            conditions: c,
            grant_controls: g,
            session_controls: session,
        });
    }
    for p in &policies {
        validate(p).map_err(|e| anyhow!("bench policy {} is invalid: {e}", p.display_name))?;
    }
    let t = Instant::now();
    let set = PolicySet::new(policies);
    let build = t.elapsed();

    // 64 realistic contexts: members of 20–60 groups (transitive), some admins, mostly
    // browsers on Windows/macOS from office or home networks, MFA done within the last day.
    let now = Timestamp::from_secs(1_800_000_000);
    struct Owned {
        user: ObjectId,
        groups: Vec<ObjectId>,
        roles: Vec<uuid::Uuid>,
        facts: LocationFacts,
        resource: AppId,
        platform: DevicePlatform,
        client: ClientAppType,
        mfa_ago: i64,
    }
    let mut owned = Vec::new();
    let mut resolve_lat = Vec::new();
    for k in 0..64u64 {
        let n_groups = 20 + next() % 41;
        let groups: Vec<ObjectId> = (0..n_groups).map(|_| oid(0x2, next() % GROUPS)).collect();
        let roles = if k % 8 == 0 {
            vec![role(next() % 30)]
        } else {
            vec![]
        };
        let ip: std::net::IpAddr = if k % 3 == 0 {
            format!("10.{}.16.{}", next() % 40, next() % 250).parse()?
        } else {
            format!("203.0.113.{}", next() % 250).parse()?
        };
        let country = if k % 5 == 0 { "US" } else { "DE" };
        let t = Instant::now();
        let facts = resolve_location(&named, Some(ip), Some(country));
        resolve_lat.push(t.elapsed());
        owned.push(Owned {
            user: oid(0x1, next() % 10_000),
            groups,
            roles,
            facts,
            resource: aid(next() % APPS),
            platform: [
                DevicePlatform::Windows,
                DevicePlatform::MacOS,
                DevicePlatform::IOS,
            ][(k % 3) as usize],
            client: if k % 16 == 0 {
                ClientAppType::Other
            } else if k % 2 == 0 {
                ClientAppType::Browser
            } else {
                ClientAppType::MobileAppsAndDesktopClients
            },
            mfa_ago: (next() % 86_400) as i64,
        });
    }
    let contexts: Vec<SignInContext<'_>> = owned
        .iter()
        .map(|o| SignInContext {
            subject: Subject::User(UserSubject {
                id: o.user,
                is_guest: false,
                groups: &o.groups,
                roles: &o.roles,
                risk: RiskLevel::None,
                mfa_registered: true,
            }),
            client_app_id: o.resource,
            resource_app_id: o.resource,
            client_app_type: o.client,
            ip: None,
            location: &o.facts,
            platform: Some(o.platform),
            device: DeviceState::Registered {
                is_compliant: true,
                trust_type: DeviceTrustType::AzureAd,
            },
            sign_in_risk: RiskLevel::None,
            satisfied: Satisfied {
                password_at: Some(now),
                mfa_at: Some(now.plus_secs(-o.mfa_ago)),
                ..Satisfied::default()
            },
            now,
        })
        .collect();

    // Baseline, same run: RS256 over a token-sized message with an RSA-2048 key on one core
    // (aws-lc-rs, as the server's KeyRing signs).
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| anyhow!("RSA key generation failed"))?;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let msg = vec![b'x'; 900];
    let mut sig = vec![0u8; key.public_modulus_len()];
    // Each signature timed on its own, half before and half after the evaluations, so both
    // sides see the same machine load; the median is compared with the evaluation's median.
    let mut sign_lat = Vec::new();
    let mut sign_for = |secs: f64, out: &mut Vec<Duration>| -> Result<()> {
        let t0 = Instant::now();
        while t0.elapsed().as_secs_f64() < secs {
            let t = Instant::now();
            key.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                &msg,
                &mut sig,
            )
            .map_err(|_| anyhow!("signing failed"))?;
            out.push(t.elapsed());
        }
        Ok(())
    };
    let half = seconds.clamp(2, 10) as f64 / 2.0;
    sign_for(half, &mut sign_lat)?;

    // Warm up, then measure each evaluation.
    let mut outcomes = [0usize; 3];
    for c in contexts.iter().cycle().take(10_000) {
        std::hint::black_box(set.evaluate(c));
    }
    let n = 200_000;
    let mut lat = Vec::with_capacity(n);
    for c in contexts.iter().cycle().take(n) {
        let t = Instant::now();
        let e = set.evaluate(std::hint::black_box(c));
        let d = t.elapsed();
        outcomes[match e.outcome {
            Outcome::Allow => 0,
            Outcome::Block { .. } => 1,
            Outcome::RequireControls { .. } => 2,
        }] += 1;
        std::hint::black_box(&e);
        lat.push(d);
    }
    sign_for(half, &mut sign_lat)?;
    sign_lat.sort();
    let sign_us = percentile(&sign_lat, 0.5) * 1000.0;
    lat.sort();
    resolve_lat.sort();
    let (p50, p99) = (
        percentile(&lat, 0.5) * 1000.0,
        percentile(&lat, 0.99) * 1000.0,
    );
    let resolve_p50 = percentile(&resolve_lat, 0.5) * 1000.0;
    let applied: f64 = contexts
        .iter()
        .map(|c| {
            set.evaluate(c)
                .policies
                .iter()
                .filter(|p| p.result.applied())
                .count() as f64
        })
        .sum::<f64>()
        / contexts.len() as f64;
    println!("ca: {} policies indexed in {:.2} ms; {} named locations resolved in {resolve_p50:.2} µs (p50)", set.len(), build.as_secs_f64() * 1000.0, named.len());
    println!("ca: evaluate p50 {p50:.2} µs  p99 {p99:.2} µs  ({n} evaluations, {applied:.1} policies apply on average; allow/block/controls = {}/{}/{})", outcomes[0], outcomes[1], outcomes[2]);
    println!("ca: RS256 sign p50 (1 core, same run, {} signatures) {sign_us:.1} µs → evaluation p50 = {:.2}% of a token signature, p99 = {:.2}%", sign_lat.len(), p50 / sign_us * 100.0, p99 / sign_us * 100.0);
    let summary = json!({"ca": {
        "policies": set.len(), "named_locations": named.len(), "contexts": contexts.len(), "evaluations": n,
        "build_ms": (build.as_secs_f64() * 1e5).round() / 100.0,
        "p50_us": (p50 * 100.0).round() / 100.0, "p99_us": (p99 * 100.0).round() / 100.0,
        "resolve_location_p50_us": (resolve_p50 * 100.0).round() / 100.0,
        "avg_policies_applied": (applied * 10.0).round() / 10.0,
        "outcomes": {"allow": outcomes[0], "block": outcomes[1], "require_controls": outcomes[2]},
        "rs256_sign_p50_us": (sign_us * 10.0).round() / 10.0, "rs256_signatures": sign_lat.len(),
        "p50_percent_of_sign": (p50 / sign_us * 10000.0).round() / 100.0,
        "p99_percent_of_sign": (p99 / sign_us * 10000.0).round() / 100.0,
    }});
    if let Some(p) = out {
        std::fs::write(p, serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(())
}

/// Dynamic membership on SQLite: `users` users and `groups` dynamic groups (rules over
/// department, jobTitle, otherMails and -match), then `patches` user PATCHes through the same use
/// case Graph calls (`ops::users::update`); each is timed from the call until the new membership
/// is read back from the store (`direct_member_of`), p50/p99.
fn dynamic_bench(
    users: usize,
    groups: usize,
    patches: usize,
    out: Option<&std::path::Path>,
) -> Result<()> {
    use castellan_core::audit::Actor;
    use castellan_core::model::{
        Group, Membership, ObjectKind, RuleProcessingState, User, UserType,
    };
    use castellan_core::ops::dynamic_groups::{desired_members, parse_rule};
    use castellan_core::ops::users::{update, UserInput};
    use castellan_core::ops::{Entropy, Env, Field, PasswordHasher};
    use castellan_core::store::prelude::*;
    use castellan_core::store::{Change, ChangeSet, Store};
    use castellan_core::{ObjectId, Timestamp};
    use std::collections::HashMap;

    struct Counter(u64);
    impl Entropy for Counter {
        fn bytes16(&mut self) -> [u8; 16] {
            self.0 += 1;
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&self.0.to_be_bytes());
            b[8..].copy_from_slice(&self.0.rotate_left(29).to_le_bytes());
            b
        }
        fn secret(&mut self) -> String {
            format!("s{}", self.0)
        }
    }
    struct NoHash;
    #[async_trait::async_trait]
    impl PasswordHasher for NoHash {
        async fn hash(&self, p: &str) -> Result<String, String> {
            Ok(p.to_string())
        }
        async fn verify(&self, p: &str, phc: &str) -> bool {
            p == phc
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = std::env::temp_dir().join(format!("castellan-dyn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let result = rt.block_on(async {
        let store = castellan_store::SqlStore::connect(&url)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let mut ent = Counter(1);
        let tenant = castellan_core::model::Tenant {
            id: castellan_core::TenantId::from_random(ent.bytes16()),
            display_name: "bench".into(),
            domains: vec![castellan_core::model::Domain {
                name: "bench.onmicrosoft.test".into(),
                is_initial: true,
                is_default: true,
                is_verified: true,
                ..Default::default()
            }],
            license: castellan_core::model::LicenseTier::P1,
            settings: castellan_core::model::TenantSettings::default(),
            created: Timestamp(0),
        };
        let mut set = ChangeSet::new();
        set.push(Change::InsertTenant(tenant.clone()));
        store.commit(set).await.map_err(|e| anyhow!("{e}"))?;
        let dept = |i: usize| format!("Dept{}", i % 500);
        let rule_of = |i: usize| match i % 4 {
            0 => format!("user.department -eq \"{}\"", dept(i)),
            1 => format!("user.department -eq \"{}\" -and user.jobTitle -startsWith \"Eng\"", dept(i)),
            2 => format!("user.otherMails -any (_ -endsWith \"@p{}.test\")", i % 500),
            _ => format!("user.jobTitle -match \"^Lead {}$\"", i % 500),
        };
        let t0 = Instant::now();
        let mut gs = Vec::new();
        let mut set = ChangeSet::new();
        for i in 0..groups {
            let g = Group {
                id: ObjectId::from_random(ent.bytes16()),
                tenant_id: tenant.id,
                display_name: format!("Dyn {i}"),
                description: None,
                group_types: vec!["DynamicMembership".into()],
                mail_enabled: false,
                security_enabled: true,
                mail_nickname: format!("dyn{i}"),
                is_assignable_to_role: false,
                created: Timestamp(0),
                membership_rule: Some(rule_of(i)),
                membership_rule_processing_state: Some(RuleProcessingState::On),
            };
            set.push(Change::InsertGroup(g.clone()));
            gs.push((g.id, parse_rule(&rule_of(i)).map_err(|e| anyhow!("{e}"))?));
        }
        store.commit(set).await.map_err(|e| anyhow!("{e}"))?;
        // Users in batches, with the edges the rules decide (the full recomputation).
        let mut ids = Vec::with_capacity(users);
        let empty = HashMap::new();
        for chunk in 0..users.div_ceil(2_000) {
            let mut set = ChangeSet::new();
            let mut batch = Vec::new();
            for i in chunk * 2_000..((chunk + 1) * 2_000).min(users) {
                let u = User {
                    id: ObjectId::from_random(ent.bytes16()),
                    tenant_id: tenant.id,
                    display_name: format!("User {i}"),
                    user_principal_name: format!("u{i}@{}", tenant.initial_domain()),
                    mail_nickname: Some(format!("u{i}")),
                    mail: None,
                    given_name: None,
                    surname: None,
                    job_title: Some(if i % 3 == 0 { "Engineer".into() } else { format!("Lead {}", i % 500) }),
                    department: Some(dept(i)),
                    office_location: None,
                    company_name: None,
                    employee_id: None,
                    account_enabled: true,
                    user_type: UserType::Member,
                    created: Timestamp(0),
                    password_hash: None,
                    force_change_password_next_sign_in: false,
                    manager_id: None,
                    other_mails: vec![format!("u{i}@p{}.test", i % 500)],
                    usage_location: None,
                    external: None,
                };
                ids.push(u.id);
                batch.push(u);
            }
            for (gid, rule) in &gs {
                for m in desired_members(rule, &batch, &empty, Timestamp(0)) {
                    set.push(Change::AddMember(
                        tenant.id,
                        Membership { group_id: *gid, member_id: m, member_kind: ObjectKind::User },
                    ));
                }
            }
            for u in batch {
                set.push(Change::InsertUser(u));
            }
            store.commit(set).await.map_err(|e| anyhow!("{e}"))?;
        }
        let seeded = t0.elapsed();
        println!("seeded {users} users and {groups} dynamic groups in {:.1} s", seeded.as_secs_f64());
        let mut lat = Vec::with_capacity(patches);
        let mut changed = 0usize;
        for k in 0..patches {
            let who = ids[(k * 7_919) % ids.len()];
            let new_dept = format!("Dept{}", (k * 31) % 500);
            let mut env = Env {
                store: &store,
                now: Timestamp(0),
                entropy: &mut ent,
                hasher: &NoHash,
                actor: Actor::Operator,
                correlation_id: "bench".into(),
            };
            let before = store.direct_member_of(tenant.id, who).await.map_err(|e| anyhow!("{e}"))?;
            let t = Instant::now();
            update(
                &mut env,
                &tenant,
                &who.to_string(),
                UserInput { department: Field::Value(new_dept), ..UserInput::default() },
            )
            .await
            .map_err(|e| anyhow!("{e}"))?;
            let after = store.direct_member_of(tenant.id, who).await.map_err(|e| anyhow!("{e}"))?;
            lat.push(t.elapsed());
            if after != before {
                changed += 1;
            }
        }
        lat.sort();
        let (p50, p99) = (percentile(&lat, 0.50), percentile(&lat, 0.99));
        println!("PATCH department → membership visible: p50 {p50:.2} ms, p99 {p99:.2} ms ({patches} PATCHes, {changed} changed membership)");
        Ok::<_, anyhow::Error>(json!({"users": users, "groups": groups, "patches": patches, "changed": changed, "seed_s": seeded.as_secs_f64(), "p50_ms": p50, "p99_ms": p99}))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let summary = json!({"dynamic": result?});
    if let Some(p) = out {
        std::fs::write(p, serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(())
}

/// A demo node on its own runtime, its client-credentials token URL and form, and an HTTPS
/// client trusting it.
struct Node {
    _rt: tokio::runtime::Runtime,
    running: castellan_server::Running,
    url: String,
    form: Arc<Vec<(String, String)>>,
    http: reqwest::Client,
    dir: std::path::PathBuf,
}

fn start_node(
    name: &str,
    threads: usize,
    adjust: impl FnOnce(&mut castellan_server::ServeArgs),
) -> Result<Node> {
    let dir = std::env::temp_dir().join(format!("castellan-bench-{name}-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let mut serve = castellan_server::ServeArgs::for_test(dir.clone());
    serve.demo = true;
    adjust(&mut serve);
    let running = rt
        .block_on(castellan_server::start(serve))
        .map_err(|e| anyhow!("{e}"))?;
    let demo = running
        .demo
        .clone()
        .ok_or_else(|| anyhow!("no demo tenant"))?;
    let ca = std::fs::read(dir.join("tls/ca.pem")).context("reading the CA")?;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .pool_max_idle_per_host(1024)
        .build()?;
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    Ok(Node {
        url: format!("{}/oauth2/v2.0/token", text(&demo["authority"])),
        form: Arc::new(vec![
            ("grant_type".into(), "client_credentials".into()),
            (
                "client_id".into(),
                text(&demo["confidential_client"]["app_id"]),
            ),
            (
                "client_secret".into(),
                text(&demo["confidential_client"]["secret"]),
            ),
            (
                "scope".into(),
                "https://graph.microsoft.com/.default".into(),
            ),
        ]),
        http,
        running,
        _rt: rt,
        dir,
    })
}

/// Offers `rate` requests/s open-loop for `secs` (each request its own task; at most
/// `max_outstanding` at once, beyond which the offer is counted as dropped by the client).
async fn open_loop(node: &Node, rate: f64, secs: u64, max_outstanding: usize) -> Value {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let (ok, shed, other, dropped) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let outstanding = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / rate);
    let mut next = start;
    let mut tasks = Vec::new();
    while start.elapsed() < Duration::from_secs(secs) {
        next += gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        if outstanding.load(Ordering::Relaxed) >= max_outstanding {
            dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        outstanding.fetch_add(1, Ordering::Relaxed);
        let (http, url, form) = (node.http.clone(), node.url.clone(), node.form.clone());
        let (ok, shed, other, outstanding, lat) = (
            ok.clone(),
            shed.clone(),
            other.clone(),
            outstanding.clone(),
            lat.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            match http.post(&url).form(&*form).send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    ok.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut l) = lat.lock() {
                        l.push(t.elapsed());
                    }
                }
                Ok(r) if r.status() == 503 || r.status() == 429 => {
                    let _ = r.bytes().await;
                    shed.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    other.fetch_add(1, Ordering::Relaxed);
                }
            }
            outstanding.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut l = lat.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort();
    json!({
        "offered_per_sec": rate.round(),
        "goodput_per_sec": (ok.load(Ordering::Relaxed) as f64 / elapsed).round(),
        "shed_503": shed.load(Ordering::Relaxed),
        "other_errors": other.load(Ordering::Relaxed),
        "client_dropped": dropped.load(Ordering::Relaxed),
        "accepted_p50_ms": (percentile(&l, 0.50) * 100.0).round() / 100.0,
        "accepted_p99_ms": (percentile(&l, 0.99) * 100.0).round() / 100.0,
        "accepted_max_ms": (percentile(&l, 1.0) * 100.0).round() / 100.0,
    })
}

/// Opens `n` connections to the node (concurrent requests, answers ignored).
async fn warm(node: &Node, n: usize) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (http, url, form) = (node.http.clone(), node.url.clone(), node.form.clone());
            tokio::spawn(async move {
                let _ = http.post(&url).form(&*form).send().await;
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// Capacity (closed loop, 32 connections), then 2 × capacity offered open-loop to a node with
/// the default admission, one with tight limits (8 in flight, 16 queued, 20 ms) and one whose
/// limits are out of reach (no shedding).
fn overload_bench(args: &Args) -> Result<()> {
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    let mut capacity = 0.0;
    // (name, in flight, queue, longest wait ms); zeros are the defaults.
    let configs: [(&str, usize, usize, u64); 3] = [
        ("default admission", 0, 0, 100),
        ("tight admission", 8, 16, 20),
        ("no shedding", 1_000_000, 1_000_000, 3_600_000),
    ];
    for (name, in_flight, queue, wait) in configs {
        let node = start_node(&name.replace(' ', "-"), args.server_threads, |a| {
            a.max_in_flight = in_flight;
            a.max_queue = queue;
            a.max_queue_wait_ms = wait;
        })?;
        if capacity == 0.0 {
            let (lat, errors, elapsed) = client.block_on(measure_form(
                &node.http,
                &node.url,
                &node.form,
                32,
                args.seconds,
            ));
            capacity = lat.len() as f64 / elapsed.as_secs_f64();
            println!(
                "capacity (closed loop, 32 connections): {capacity:.0} tokens/s, errors {errors}"
            );
        }
        // 1,024 connections, opened before the clock starts; past 1,024 outstanding the
        // client counts the offer as dropped instead of opening more (TLS handshakes would be
        // the bottleneck, not the service).
        client.block_on(warm(&node, 1024));
        let v = client.block_on(open_loop(&node, 2.0 * capacity, args.seconds, 1024));
        println!("{name:<18} offered {}/s: goodput {}/s, shed {}, other errors {}, accepted p50 {} ms p99 {} ms max {} ms",
            v["offered_per_sec"], v["goodput_per_sec"], v["shed_503"], v["other_errors"], v["accepted_p50_ms"], v["accepted_p99_ms"], v["accepted_max_ms"]);
        rows.push(json!({"node": name, "result": v}));
        node.running.handle.shutdown();
        let _ = std::fs::remove_dir_all(&node.dir);
    }
    let summary = json!({"capacity_tokens_per_sec": capacity.round(), "offered_multiple": 2, "seconds": args.seconds, "server_threads": args.server_threads, "runs": rows});
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(p) = &args.out {
        std::fs::write(p, serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(())
}
