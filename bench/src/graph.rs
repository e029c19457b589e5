//! Graph at directory scale (`--graph`): a demo node whose tenant is given `--users` users and
//! `--groups` groups, then filtered list pages measured closed-loop over HTTPS (concurrency
//! `--graph-concurrency`, `--seconds` each). The baseline, measured in the same run on one core,
//! is what a page cost before the index: filtering, sorting and paging every rendered user
//! (`odata::apply`; the SQL read of every row, which that path also paid, is left out).

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use castellan_core::model::{Group, User, UserType};
use castellan_core::store::{Change, ChangeSet};
use castellan_core::{ObjectId, TenantId, Timestamp};
use serde_json::{json, Value};

use crate::{drive, percentile, start_node, Args};

const DEPARTMENTS: usize = 40;
const FIRST: &[&str] = &[
    "Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Edsger",
];

fn user(t: TenantId, domain: &str, i: usize) -> User {
    let first = FIRST[i % FIRST.len()];
    User {
        id: ObjectId::from_random(*uuid::Uuid::new_v4().as_bytes()),
        tenant_id: t,
        display_name: format!("{first} Scale{i:06}"),
        user_principal_name: format!("u{i:06}@{domain}"),
        mail_nickname: Some(format!("u{i:06}")),
        mail: Some(format!("{}.{i:06}@{domain}", first.to_lowercase())),
        given_name: Some(first.into()),
        surname: Some(format!("Scale{i:06}")),
        job_title: Some(if i.is_multiple_of(7) {
            "Engineer".into()
        } else {
            "Analyst".into()
        }),
        department: Some(format!("Dept{:02}", i % DEPARTMENTS)),
        office_location: None,
        company_name: None,
        employee_id: Some(format!("E{i:06}")),
        account_enabled: !i.is_multiple_of(20),
        user_type: UserType::Member,
        created: Timestamp(1_700_000_000_000 + i as i64),
        password_hash: None,
        force_change_password_next_sign_in: false,
        manager_id: None,
        other_mails: Vec::new(),
        usage_location: None,
        external: None,
    }
}

fn group(t: TenantId, i: usize) -> Group {
    Group {
        id: ObjectId::from_random(*uuid::Uuid::new_v4().as_bytes()),
        tenant_id: t,
        display_name: format!("Team {i:04}"),
        description: None,
        group_types: Vec::new(),
        mail_enabled: false,
        security_enabled: true,
        mail_nickname: format!("team{i:04}"),
        is_assignable_to_role: false,
        created: Timestamp(0),
        membership_rule: None,
        membership_rule_processing_state: None,
    }
}

/// The `--graph` benchmark.
pub fn graph_bench(args: &Args) -> Result<()> {
    let node = start_node("graph", args.server_threads, |s| {
        // The list engine is measured, not Graph's per-application budget.
        s.graph_throttle = castellan_core::throttle::Limits::Off;
    })?;
    let demo = node
        .running
        .demo
        .clone()
        .ok_or_else(|| anyhow!("no demo tenant"))?;
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let tid = TenantId::parse(&text(&demo["tenant_id"])).ok_or_else(|| anyhow!("bad tenant id"))?;
    let domain = text(&demo["domain"]);
    let store = node.running.state.store.clone();
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let t0 = Instant::now();
    client.block_on(async {
        for chunk in 0..args.users.div_ceil(2_000) {
            let mut set = ChangeSet::new();
            for i in chunk * 2_000..((chunk + 1) * 2_000).min(args.users) {
                set.push(Change::InsertUser(user(tid, &domain, i)));
            }
            store.commit(set).await.map_err(|e| anyhow!("{e}"))?;
        }
        let mut set = ChangeSet::new();
        for i in 0..args.groups.unwrap_or(5_000) {
            set.push(Change::InsertGroup(group(tid, i)));
        }
        store.commit(set).await.map_err(|e| anyhow!("{e}"))
    })?;
    println!(
        "seeded {} users and {} groups in {:.1} s",
        args.users,
        args.groups.unwrap_or(5_000),
        t0.elapsed().as_secs_f64()
    );

    let token: Value = client.block_on(async {
        node.http
            .post(&node.url)
            .form(&*node.form)
            .send()
            .await?
            .json()
            .await
    })?;
    let token = text(&token["access_token"]);
    let graph = text(&demo["graph_url"]);
    let get = {
        let (http, token) = (node.http.clone(), token.clone());
        move |url: String| {
            let (http, token) = (http.clone(), token.clone());
            async move {
                let r = http
                    .get(&url)
                    .bearer_auth(&token)
                    .header("ConsistencyLevel", "eventual")
                    .send()
                    .await?;
                let status = r.status();
                let body: Value = r.json().await?;
                Ok::<_, reqwest::Error>((status, body))
            }
        }
    };
    // The first list builds the index; a write moves the version and the next list rebuilds.
    let t = Instant::now();
    let (status, _) = client.block_on(get(format!("{graph}/users?$top=1")))?;
    let first_build_ms = t.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() {
        return Err(anyhow!("GET /users answered {status}"));
    }
    let mid = args.users / 2;
    let queries: Vec<(&str, String)> = vec![
        ("first page", "/users?$top=100".into()),
        (
            "startswith(displayName)",
            "/users?$filter=startswith(displayName,'Grace Scale04')".into(),
        ),
        (
            "startswith(userPrincipalName)",
            format!(
                "/users?$filter=startswith(userPrincipalName,'u{:05}')",
                mid / 10
            ),
        ),
        (
            "mail eq",
            format!(
                "/users?$filter=mail eq '{}.{mid:06}@{domain}'",
                FIRST[mid % FIRST.len()].to_lowercase()
            ),
        ),
        (
            "department eq + $count",
            "/users?$filter=department eq 'Dept07'&$count=true&$top=100".into(),
        ),
        (
            "accountEnabled eq false + $count",
            "/users?$filter=accountEnabled eq false&$count=true&$top=50".into(),
        ),
        (
            "department and startswith",
            "/users?$filter=department eq 'Dept03' and startswith(displayName,'Ada')&$top=100"
                .into(),
        ),
        (
            "$orderby displayName",
            "/users?$orderby=displayName&$top=100".into(),
        ),
        // The console's user search: displayName or UPN prefix, here one that matches nobody
        // (the worst case before `or` was answered from the index: every row tested).
        (
            "console search (or, no match)",
            "/users?$filter=startswith(displayName,'Zq') or startswith(userPrincipalName,'zq')&$top=50"
                .into(),
        ),
        ("$count only", "/users/$count".into()),
        (
            "groups startswith",
            "/groups?$filter=startswith(displayName,'Team 12')".into(),
        ),
    ];
    // Page 2 of the ordered list: the `$skiptoken` path.
    let (_, p1) = client.block_on(get(format!("{graph}/users?$orderby=displayName&$top=100")))?;
    let mut queries = queries;
    if let Some(next) = p1["@odata.nextLink"].as_str() {
        queries.push(("$orderby page 2 ($skiptoken)", next.replace(&graph, "")));
    }
    let mut rows = Vec::new();
    let (mut all_lat, mut all_n, mut all_secs) = (Vec::new(), 0usize, 0.0);
    for (name, path) in &queries {
        let url = format!("{graph}{path}");
        let (status, body) = client.block_on(get(url.clone()))?;
        if !status.is_success() {
            return Err(anyhow!("{name}: {path} answered {status}: {body}"));
        }
        let matched = body["@odata.count"]
            .as_u64()
            .or_else(|| body["value"].as_array().map(|a| a.len() as u64))
            .unwrap_or(0);
        let get = get.clone();
        let (lat, errors, elapsed) = client.block_on(drive(
            args.graph_concurrency,
            args.seconds,
            move |_, deadline| {
                let (get, url) = (get.clone(), url.clone());
                async move {
                    let (mut lat, mut errors) = (Vec::new(), 0u64);
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match get(url.clone()).await {
                            Ok((s, _)) if s.is_success() => lat.push(t.elapsed()),
                            _ => errors += 1,
                        }
                    }
                    (lat, errors)
                }
            },
        ));
        let rate = lat.len() as f64 / elapsed.as_secs_f64();
        println!(
            "{name:<34} {rate:>6.0}/s  p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms  errors {errors}  (matches {matched})",
            percentile(&lat, 0.5), percentile(&lat, 0.95), percentile(&lat, 0.99)
        );
        rows.push(json!({"query": name, "path": path, "per_sec": rate.round(), "p50_ms": round2(percentile(&lat, 0.5)),
                         "p95_ms": round2(percentile(&lat, 0.95)), "p99_ms": round2(percentile(&lat, 0.99)), "errors": errors, "matches": matched}));
        all_n += lat.len();
        all_secs += elapsed.as_secs_f64();
        all_lat.extend(lat);
    }
    all_lat.sort();
    let overall = all_n as f64 / all_secs;
    // After a write: the version moved, the next list rebuilds the index.
    let victim = client
        .block_on(store.users(tid))
        .map_err(|e| anyhow!("{e}"))?;
    let mut u = victim
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no users"))?;
    u.department = Some("Moved".into());
    client
        .block_on(store.commit(ChangeSet {
            changes: vec![Change::UpdateUser(u)],
            audit: Vec::new(),
        }))
        .map_err(|e| anyhow!("{e}"))?;
    let t = Instant::now();
    client.block_on(get(format!("{graph}/users?$filter=department eq 'Moved'")))?;
    let rebuild_ms = t.elapsed().as_secs_f64() * 1000.0;

    // Baseline: one page the old way — every user rendered, filtered, sorted — on one core.
    let users = client
        .block_on(store.users(tid))
        .map_err(|e| anyhow!("{e}"))?;
    let spec = castellan_server::http::graph::users::spec();
    let pairs = vec![(
        "$filter".to_string(),
        "startswith(displayName,'Grace Scale04')".to_string(),
    )];
    let q = castellan_wire::odata::Query::parse(&pairs, &spec).map_err(|e| anyhow!("{e}"))?;
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed() < Duration::from_secs(args.seconds.min(5)) || n == 0 {
        let rendered: Vec<Value> = users
            .iter()
            .map(castellan_wire::graph::users::render)
            .collect();
        castellan_wire::odata::apply(&q, rendered).map_err(|e| anyhow!("{e}"))?;
        n += 1;
    }
    let baseline = f64::from(n) / t.elapsed().as_secs_f64();
    println!("baseline (render + filter every user, 1 core): {baseline:.1} pages/s");
    println!(
        "all queries: {overall:.0}/s p50 {:.2} ms p95 {:.2} ms p99 {:.2} ms = {:.0} × the baseline; index built in {first_build_ms:.0} ms, rebuilt after a write in {rebuild_ms:.0} ms",
        percentile(&all_lat, 0.5), percentile(&all_lat, 0.95), percentile(&all_lat, 0.99), overall / baseline
    );
    let summary = json!({"graph": {"users": args.users, "groups": args.groups.unwrap_or(5_000), "concurrency": args.graph_concurrency, "seconds_per_query": args.seconds,
        "server_threads": args.server_threads, "queries": rows,
        "overall": {"per_sec": overall.round(), "p50_ms": round2(percentile(&all_lat, 0.5)), "p95_ms": round2(percentile(&all_lat, 0.95)), "p99_ms": round2(percentile(&all_lat, 0.99))},
        "baseline_render_every_user_pages_per_sec_1core": round2(baseline), "ratio_to_baseline": (overall / baseline).round(),
        "first_build_ms": first_build_ms.round(), "rebuild_after_write_ms": rebuild_ms.round()}});
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(p) = &args.out {
        std::fs::write(p, serde_json::to_string_pretty(&summary)?)?;
    }
    node.running.handle.shutdown();
    let _ = std::fs::remove_dir_all(&node.dir);
    Ok(())
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
