//! Client-credentials token issuance over HTTPS on loopback, at several concurrencies, against
//! the raw RS256 signing rate of the same key on one core, measured in the same run.
//!
//! `cargo run --release -p castellan-bench -- [--seconds N] [--concurrency 1,8,64]`
//! starts an in-process `castellan serve --demo` (own runtime) in a temp dir, then measures.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    concurrency: Vec<usize>,
    /// Server worker threads.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
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
    let summary: Value = json!({"raw_rs256_signs_per_sec_1core": raw_per_sec.round(), "seconds_per_level": args.seconds, "server_threads": args.server_threads, "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "levels": results});
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(p) = args.out {
        std::fs::write(p, serde_json::to_string_pretty(&summary)?)?;
    }
    running.handle.shutdown();
    drop(server_rt);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
