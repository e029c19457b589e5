//! The database goes away and comes back: a demo server on PostgreSQL reaches it through a TCP
//! relay the test can cut. While cut, requests are refused at once with 503 and `Retry-After`
//! in each surface's shape (the admission monitor's "store down", not a wait on the pool) and
//! `/readyz` says not ready; once the relay carries traffic again, the server serves again
//! and nothing written before the cut is lost. Needs `CASTELLAN_TEST_DATABASE_URL` (fails
//! loudly without it, like `postgres.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A TCP relay to PostgreSQL that can be cut (existing connections dropped, new ones refused
/// by closing them at once) and restored.
struct Relay {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (c, l) = (cut.clone(), live.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if c.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                l.lock().unwrap().push(h);
            }
        });
        Self { addr, cut, live }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for h in self.live.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[test]
fn a_lost_database_is_refused_at_once_and_service_resumes_when_it_returns() {
    let Ok(base) = std::env::var("CASTELLAN_TEST_DATABASE_URL") else {
        panic!(
            "CASTELLAN_TEST_DATABASE_URL is not set, so the database-outage test cannot run. \
             Run `scripts/test.sh` (it sets the variable and starts PostgreSQL), or set it: \
             CASTELLAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test -p castellan-server --test it \
             (to skip it knowingly: -- --skip outage::)"
        );
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let name = format!("castellan_it_outage_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let url = castellan_store::create_postgres_database(&base, &name).await.unwrap_or_else(|e| panic!("{e}"));
        let mut via = reqwest::Url::parse(&url).unwrap();
        let target = format!("{}:{}", via.host_str().unwrap(), via.port().unwrap_or(5432));
        let relay = Relay::start(target).await;
        via.set_port(Some(relay.addr.port())).unwrap();
        let dir = std::env::temp_dir().join(format!("castellan-it-outage-{name}"));
        let mut args = castellan_server::ServeArgs::for_test(dir.clone());
        args.demo = true;
        args.database_url = Some(via.to_string());
        let r = castellan_server::start(args).await.unwrap();
        let demo = r.demo.clone().unwrap();
        let ca = std::fs::read(dir.join("tls/ca.pem")).unwrap();
        let http = reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap()).build().unwrap();
        let token_url = format!("{}/oauth2/v2.0/token", demo["authority"].as_str().unwrap());
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", demo["confidential_client"]["app_id"].as_str().unwrap()),
            ("client_secret", demo["confidential_client"]["secret"].as_str().unwrap()),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let tok: Value = http.post(&token_url).form(&form).send().await.unwrap().json().await.unwrap();
        let token = tok["access_token"].as_str().unwrap_or_else(|| panic!("{tok}")).to_string();
        let g = format!("{}/v1.0", r.origin);
        let domain = demo["domain"].as_str().unwrap().to_string();
        let new_user = |alias: &str| json!({"accountEnabled": true, "displayName": alias, "userPrincipalName": format!("{alias}@{domain}"), "passwordProfile": {"password": "Test-Passw0rd!"}});
        let before = http.post(format!("{g}/users")).bearer_auth(&token).json(&new_user("before-cut")).send().await.unwrap();
        assert_eq!(before.status(), 201);
        let ready = http.get(format!("{}/readyz", r.origin)).send().await.unwrap();
        assert_eq!(ready.status(), 200, "positive control: ready before the cut");

        relay.cut();
        let cut_at = Instant::now();
        // The monitor notices within two pings; until then a request reaches the store and
        // fails there (at most after the pool's 1.5 s acquire timeout), also with a 503.
        let mut noticed = None;
        for _ in 0..100 {
            let ready = http.get(format!("{}/readyz", r.origin)).send().await.unwrap();
            if ready.status() == 503 {
                let v: Value = ready.json().await.unwrap();
                assert_eq!(v["status"], "not ready", "{v}");
                // The monitor's verdict (not this probe's own failed ping).
                if v["store"].as_str().unwrap_or("").contains("checked every 100 ms") {
                    noticed = Some(cut_at.elapsed());
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let noticed = noticed.expect("/readyz never said not ready after the database went away");
        println!("database cut: /readyz not ready after {noticed:?}");
        // Graph refuses at once, in Graph's shape, with Retry-After; nothing is written.
        let t = Instant::now();
        let during = http.post(format!("{g}/users")).bearer_auth(&token).json(&new_user("during-cut")).send().await.unwrap();
        println!("database cut: Graph write answered {} in {:?}", during.status(), t.elapsed());
        assert_eq!(during.status(), 503);
        assert_eq!(during.headers()["retry-after"], "1");
        let v: Value = during.json().await.unwrap();
        assert_eq!(v["error"]["code"], "serviceNotAvailable", "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("store is not answering"), "{v}");
        // The token endpoint likewise, in OAuth's shape.
        let during = http.post(&token_url).form(&form).send().await.unwrap();
        assert_eq!(during.status(), 503);
        assert_eq!(during.headers()["retry-after"], "1");
        let v: Value = during.json().await.unwrap();
        assert_eq!(v["error"], "temporarily_unavailable", "{v}");
        // /readyz answers at once from the monitor's verdict; /healthz (alive) stays 200.
        let ready = http.get(format!("{}/readyz", r.origin)).send().await.unwrap();
        assert_eq!(ready.status(), 503);
        assert_eq!(http.get(format!("{}/healthz", r.origin)).send().await.unwrap().status(), 200);

        relay.restore();
        let back_at = Instant::now();
        let mut resumed = None;
        for _ in 0..200 {
            let ready = http.get(format!("{}/readyz", r.origin)).send().await.unwrap();
            if ready.status() == 200 {
                resumed = Some(back_at.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let resumed = resumed.expect("/readyz never said ready after the database came back");
        println!("database back: ready again after {resumed:?}");
        let after = http.post(format!("{g}/users")).bearer_auth(&token).json(&new_user("after-cut")).send().await.unwrap();
        assert_eq!(after.status(), 201, "{:?}", after.text().await);
        // What was written before the cut is there; the refused write is not.
        let list: Value = http.get(format!("{g}/users?$filter=startswith(displayName,'before-cut') or startswith(displayName,'during-cut') or startswith(displayName,'after-cut')")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        let mut names: Vec<&str> = list["value"].as_array().unwrap_or_else(|| panic!("{list}")).iter().map(|u| u["displayName"].as_str().unwrap()).collect();
        names.sort_unstable();
        assert_eq!(names, ["after-cut", "before-cut"], "{list}");
        r.handle.shutdown();
        drop(r);
        castellan_store::drop_postgres_database(&base, &name).await.unwrap();
    });
}
