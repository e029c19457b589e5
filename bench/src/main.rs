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

#[derive(Parser)]
struct Args {
    /// Run only the in-process Azure RBAC engine benchmark.
    #[arg(long)]
    rbac: bool,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    concurrency: Vec<usize>,
    /// Server worker threads.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Concurrency levels for the user flows (password, refresh, auth code).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    user_concurrency: Vec<usize>,
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
    for &c in &args.concurrency {
        let (http, url, form) = (http.clone(), url.clone(), form.clone());
        let secs = args.seconds;
        let (lat, errors, elapsed) = client_rt.block_on(async move {
            // Warm the connection pool.
            for _ in 0..c.min(8) {
                let _ = http.post(&url).form(&form).send().await;
            }
            let start = Instant::now();
            let deadline = start + Duration::from_secs(secs);
            let mut tasks = Vec::new();
            for _ in 0..c {
                let (http, url, form) = (http.clone(), url.clone(), form.clone());
                tasks.push(tokio::spawn(async move {
                    let (mut lat, mut errors) = (Vec::new(), 0u64);
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match http.post(&url).form(&form).send().await {
                            Ok(r) if r.status().is_success() => {
                                let _ = r.bytes().await;
                                lat.push(t.elapsed());
                            }
                            _ => errors += 1,
                        }
                    }
                    (lat, errors)
                }));
            }
            let (mut all, mut errs) = (Vec::new(), 0);
            for t in tasks {
                if let Ok((l, e)) = t.await {
                    all.extend(l);
                    errs += e;
                }
            }
            (all, errs, start.elapsed())
        });
        let mut lat = lat;
        lat.sort();
        let rate = lat.len() as f64 / elapsed.as_secs_f64();
        let row = json!({
            "concurrency": c, "tokens": lat.len(), "errors": errors, "tokens_per_sec": rate.round(),
            "p50_ms": (percentile(&lat, 0.50) * 100.0).round() / 100.0, "p99_ms": (percentile(&lat, 0.99) * 100.0).round() / 100.0,
            "ratio_to_raw_signs": (rate / raw_per_sec * 1000.0).round() / 1000.0,
        });
        println!(
            "concurrency {c:>3}: {rate:>7.0} tokens/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {errors}  tokens/s ÷ raw signs/s = {:.3}",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            rate / raw_per_sec
        );
        results.push(row);
    }
    let user_flows = client_rt.block_on(user_flows(
        &http,
        &demo,
        &running.state,
        args.seconds,
        raw_per_sec,
        &args.user_concurrency,
    ))?;
    let summary: Value = json!({"raw_rs256_signs_per_sec_1core": raw_per_sec.round(), "seconds_per_level": args.seconds, "server_threads": args.server_threads, "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "levels": results, "user_flows": user_flows});
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(p) = args.out {
        std::fs::write(p, serde_json::to_string_pretty(&summary)?)?;
    }
    running.handle.shutdown();
    drop(server_rt);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
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

/// Password sign-ins (ROPC) against argon2id verifications/s; refresh-token redemptions and
/// authorization-code round trips (SSO authorize + redeem) against raw RS256 signs/s.
async fn user_flows(
    http: &reqwest::Client,
    demo: &Value,
    state: &castellan_server::state::AppState,
    secs: u64,
    raw_per_sec: f64,
    levels: &[usize],
) -> Result<Value> {
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
    for &c in levels {
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
    for &c in levels {
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
    for &c in levels {
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
                        Ok(r) => r
                            .headers()
                            .get("location")
                            .and_then(|l| l.to_str().ok())
                            .and_then(|l| l.split("code=").nth(1))
                            .map(|c| c.split('&').next().unwrap_or("").to_string()),
                        Err(_) => None,
                    };
                    let Some(code) = code else {
                        errors += 1;
                        continue;
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
                        _ => errors += 1,
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
    let resolve = |id: uuid::Uuid| roles.iter().find(|r| r.id == id);
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
