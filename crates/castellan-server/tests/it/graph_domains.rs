//! `/v1.0/domains` (issue 17 item 4): adding, reading, the verification records, PATCH of
//! `isDefault` / `supportedServices`, delete rules and authorisation on the shared server; DNS
//! verification on a server of its own whose `--dns-resolver` is a real dnsmasq started here
//! (verify fails without the TXT record and changes nothing, succeeds with it; an unreachable
//! resolver is a 503 naming it). Every refusal is checked to change nothing.

use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};

use crate::security::{assert_denied, assign_role, member_with};
use crate::{alias, app_with, shared, Private, G};

const DOMAIN_NAME_ADMINISTRATOR: &str = "8329153b-31d0-4727-b945-745eb3bc5f31";

fn name(prefix: &str) -> String {
    format!("{}.example", alias(prefix))
}

async fn add(g: &G, d: &str) -> Value {
    let (st, v) = g.post("/domains", json!({"id": d})).await;
    assert_eq!(st, 201, "{v}");
    v
}

#[tokio::test]
async fn domains_are_added_listed_read_updated_and_deleted() {
    let g = G::demo().await;
    let d = name("dom");
    let v = add(&g, &d.to_uppercase()).await;
    assert_eq!(v["id"], d.as_str());
    assert_eq!(v["isVerified"], false);
    assert_eq!(v["isDefault"], false);
    assert_eq!(v["authenticationType"], "Managed");
    assert_eq!(v["supportedServices"], json!([]));
    assert!(v["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#domains/$entity"));

    let listed = g.all("/domains").await;
    let initial = shared().demo["domain"].as_str().unwrap();
    assert!(listed.iter().any(|x| x["id"] == d.as_str()));
    assert!(listed
        .iter()
        .any(|x| x["id"] == initial && x["isInitial"] == true));
    let filtered = g.all("/domains?$filter=isVerified eq false").await;
    assert!(filtered.iter().all(|x| x["isVerified"] == false));
    assert!(filtered.iter().any(|x| x["id"] == d.as_str()));
    let (st, one) = g.get(&format!("/domains/{d}?$select=id,isVerified")).await;
    assert_eq!(st, 200, "{one}");
    assert!(one.get("isDefault").is_none(), "{one}");

    let (st, recs) = g.get(&format!("/domains/{d}/verificationDnsRecords")).await;
    assert_eq!(st, 200, "{recs}");
    let recs = recs["value"].as_array().unwrap().clone();
    assert_eq!(recs.len(), 2);
    let txt = recs[0]["text"].as_str().unwrap();
    assert!(txt.starts_with("MS=ms") && txt.len() == 13, "{txt}");
    assert_eq!(recs[1]["preference"], 32767);
    let (st, svc) = g
        .get(&format!("/domains/{d}/serviceConfigurationRecords"))
        .await;
    assert_eq!((st, svc["value"].clone()), (200, json!([])));

    // supportedServices: Graph's values only; a bad one changes nothing.
    let (st, e) = g
        .patch(
            &format!("/domains/{d}"),
            json!({"supportedServices": ["Fax"]}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("'Fax'"));
    let (st, _) = g
        .patch(
            &format!("/domains/{d}"),
            json!({"supportedServices": ["email", "Intune"]}),
        )
        .await;
    assert_eq!(st, 204);
    assert_eq!(
        g.get(&format!("/domains/{d}")).await.1["supportedServices"],
        json!(["Email", "Intune"])
    );
    // An unverified domain cannot be the default; read-only properties are refused.
    let (st, e) = g
        .patch(&format!("/domains/{d}"), json!({"isDefault": true}))
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("verify"));
    let (st, e) = g
        .patch(&format!("/domains/{d}"), json!({"isVerified": true}))
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("read-only"));
    assert_eq!(g.get(&format!("/domains/{d}")).await.1["isVerified"], false);
    // The default domain cannot be unset, nor the initial one deleted.
    let (st, e) = g
        .patch(&format!("/domains/{initial}"), json!({"isDefault": false}))
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = g.delete(&format!("/domains/{initial}")).await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("initial"));

    assert_eq!(g.delete(&format!("/domains/{d}")).await.0, 204);
    assert_eq!(g.get(&format!("/domains/{d}")).await.0, 404);
    assert_eq!(g.delete(&format!("/domains/{d}")).await.0, 404);
}

#[tokio::test]
async fn bad_names_and_duplicates_are_refused_and_change_nothing() {
    let g = G::demo().await;
    let d = name("dup");
    add(&g, &d).await;
    let before = g.all("/domains").await.len();
    let marker = alias("nope");
    for (body, needle) in [
        (
            json!({"id": format!("{marker} bad")}),
            "not a valid domain name",
        ),
        (json!({"id": marker.clone()}), "two labels"),
        (json!({"id": d.to_uppercase()}), "already exists"),
        (
            json!({"id": format!("{marker}.onmicrosoft.test")}),
            "reserved",
        ),
        (json!({}), "'id' is required"),
        (
            json!({"id": format!("{marker}.example"), "isVerified": true}),
            "read-only",
        ),
        (
            json!({"id": format!("{marker}.example"), "isDefault": true}),
            "Only 'id'",
        ),
    ] {
        let (st, e) = g.post("/domains", body.clone()).await;
        assert_eq!(st, 400, "{body}: {e}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(m.contains(needle), "{body}: {m}");
    }
    assert_eq!(g.all("/domains").await.len(), before);
    assert_eq!(g.audits_mentioning(&marker).await, 0);
    assert_eq!(g.delete(&format!("/domains/{d}")).await.0, 204);
}

#[tokio::test]
async fn unverified_domains_cannot_carry_upns_or_identifier_uris() {
    let g = G::demo().await;
    let d = name("unv");
    add(&g, &d).await;
    let upn = format!("{}@{d}", alias("u"));
    let (st, e) = g
        .post("/users", json!({"accountEnabled": true, "displayName": "x", "mailNickname": "x", "userPrincipalName": upn, "passwordProfile": {"password": "Test-Passw0rd!"}}))
        .await;
    assert_eq!(st, 400, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("not verified yet") && m.contains(&format!("/domains/{d}/verify")),
        "{m}"
    );
    assert_eq!(g.get(&format!("/users/{upn}")).await.0, 404);
    let (st, e) = g
        .post(
            "/applications",
            json!({"displayName": "x", "identifierUris": [format!("https://api.{d}/orders")]}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not verified yet"));
    assert_eq!(g.delete(&format!("/domains/{d}")).await.0, 204);
}

#[tokio::test]
async fn domain_writes_need_domain_name_administrator_or_the_application_permission() {
    let (member, id) = member_with(&["Domain.ReadWrite.All"]).await;
    let (st, v) = member.get("/domains").await;
    assert_eq!(st, 200, "members read domains: {v}");
    let d = name("authz");
    let (st, e) = member.post("/domains", json!({"id": d})).await;
    assert_denied(st, &e, "domains/allProperties/allTasks");
    let g = G::demo().await;
    assert_eq!(g.get(&format!("/domains/{d}")).await.0, 404);
    // Positive control: the same member as Domain Name Administrator.
    assign_role(&id, DOMAIN_NAME_ADMINISTRATOR).await;
    // (Directory roles are read at each request: the same token now carries the right.)
    let (st, v) = member.post("/domains", json!({"id": d})).await;
    assert_eq!(st, 201, "{v}");
    // App-only: Directory.ReadWrite.All does not cover domains; Domain.ReadWrite.All does.
    let dir = app_with(&["Directory.ReadWrite.All"]).await;
    let (st, e) = dir.delete(&format!("/domains/{d}")).await;
    assert_denied(st, &e, "Domain.ReadWrite.All");
    let read = app_with(&["Domain.Read.All"]).await;
    assert_eq!(read.get(&format!("/domains/{d}")).await.0, 200);
    let (st, e) = read.delete(&format!("/domains/{d}")).await;
    assert_denied(st, &e, "Domain.ReadWrite.All");
    let rw = app_with(&["Domain.ReadWrite.All"]).await;
    assert_eq!(rw.delete(&format!("/domains/{d}")).await.0, 204);
}

// ---- DNS verification against a real dnsmasq ----

/// A dnsmasq on 127.0.0.1:<port>, authoritative for `.example` names of this file.
struct Dnsmasq {
    port: u16,
    child: Mutex<Option<Child>>,
}

impl Dnsmasq {
    fn start(&self, txt: &[(String, String)]) {
        self.stop();
        let mut cmd = Command::new(
            ["/usr/sbin/dnsmasq", "dnsmasq"]
                .into_iter()
                .find(|p| std::path::Path::new(p).exists())
                .unwrap_or("dnsmasq"),
        );
        cmd.args([
            "--keep-in-foreground",
            &format!("--port={}", self.port),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--local=/example/",
        ]);
        for (n, t) in txt {
            cmd.arg(format!("--txt-record={n},{t}"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("dnsmasq could not start ({e}): install Debian's dnsmasq-base (scripts/test-deps.sh does)")
            });
        *self.child.lock().unwrap() = Some(child);
        // Ready when it answers a query.
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
            .unwrap();
        let q =
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x07example\x00\x00\x10\x00\x01";
        for _ in 0..100 {
            let _ = sock.send_to(q, ("127.0.0.1", self.port));
            let mut buf = [0u8; 512];
            if sock.recv(&mut buf).is_ok() {
                return;
            }
        }
        panic!("dnsmasq did not answer on port {}", self.port);
    }

    fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

static DNS: OnceLock<Dnsmasq> = OnceLock::new();
static PRIVATE: OnceLock<Private> = OnceLock::new();

fn dns() -> &'static Dnsmasq {
    DNS.get_or_init(|| {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = Dnsmasq {
            port,
            child: Mutex::new(None),
        };
        d.start(&[]);
        d
    })
}

fn private() -> &'static Private {
    dns();
    PRIVATE.get_or_init(|| {
        crate::start_private("domains", |args| {
            args.dns_resolver = Some(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                DNS.get().map_or(53, |d| d.port),
            )));
        })
    })
}

async fn private_graph() -> G {
    let p = private();
    let d = &p.demo;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&p.ca).unwrap())
        .build()
        .unwrap();
    let r = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            p.origin,
            d["tenant_id"].as_str().unwrap()
        ))
        .form(&crate::demo_client_credentials(d))
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    G {
        token: t["access_token"].as_str().unwrap().to_string(),
        http,
        base: format!("{}/v1.0", p.origin),
    }
}

/// Stops this file's dnsmasq when the test ends, passed or failed (no process outlives it).
struct StopDns;

impl Drop for StopDns {
    fn drop(&mut self) {
        if let Some(d) = DNS.get() {
            d.stop();
        }
    }
}

#[tokio::test]
async fn verification_looks_the_txt_record_up_in_dns() {
    let _stop = StopDns;
    let g = private_graph().await;
    let d = name("dns");
    add(&g, &d).await;
    let (_, recs) = g.get(&format!("/domains/{d}/verificationDnsRecords")).await;
    let txt = recs["value"][0]["text"].as_str().unwrap().to_string();

    // Not in DNS yet: 400 naming the resolver, what was found and what was expected.
    let (st, e) = g.post(&format!("/domains/{d}/verify"), json!({})).await;
    assert_eq!(st, 400, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.contains(&format!("127.0.0.1:{}", dns().port)), "{m}");
    assert!(m.contains("no TXT record") && m.contains(&txt), "{m}");
    assert_eq!(g.get(&format!("/domains/{d}")).await.1["isVerified"], false);

    // Another TXT record there is named as found, and does not verify.
    dns().start(&[(d.clone(), "v=spf1 -all".into())]);
    let (st, e) = g.post(&format!("/domains/{d}/verify"), json!({})).await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'v=spf1 -all'"));

    dns().start(&[(d.clone(), "v=spf1 -all".into()), (d.clone(), txt.clone())]);
    let (st, v) = g.post(&format!("/domains/{d}/verify"), json!({})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["isVerified"], true);
    assert_eq!(v["authenticationType"], "Managed");
    // A user on it now, and the domain as the default.
    let upn = format!("{}@{d}", alias("v"));
    let (st, u) = g
        .post("/users", json!({"accountEnabled": true, "displayName": "v", "mailNickname": "v", "userPrincipalName": upn, "passwordProfile": {"password": "Test-Passw0rd!"}}))
        .await;
    assert_eq!(st, 201, "{u}");
    assert_eq!(
        g.patch(&format!("/domains/{d}"), json!({"isDefault": true}))
            .await
            .0,
        204
    );
    let initial = private().demo["domain"].as_str().unwrap();
    assert_eq!(
        g.get(&format!("/domains/{initial}")).await.1["isDefault"],
        false
    );
    assert_eq!(
        g.patch(&format!("/domains/{initial}"), json!({"isDefault": true}))
            .await
            .0,
        204
    );
    // A subdomain is verified with it (no record of its own); the parent cannot go first.
    let sub = format!("eu.{d}");
    let v = add(&g, &sub).await;
    assert_eq!(
        (v["isVerified"].clone(), v["isRoot"].clone()),
        (json!(true), json!(false))
    );
    // Delete: refused naming the user and the subdomain, then the deleted user, then allowed.
    let (st, e) = g.delete(&format!("/domains/{d}")).await;
    assert_eq!(st, 400, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.contains(&upn) && m.contains(&format!("subdomain '{sub}'")),
        "{m}"
    );
    assert_eq!(g.delete(&format!("/domains/{sub}")).await.0, 204);
    let uid = u["id"].as_str().unwrap();
    assert_eq!(g.delete(&format!("/users/{uid}")).await.0, 204);
    let (st, e) = g.delete(&format!("/domains/{d}")).await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("recycle bin"));
    assert_eq!(
        g.delete(&format!("/directory/deletedItems/{uid}")).await.0,
        204
    );
    assert_eq!(g.delete(&format!("/domains/{d}")).await.0, 204);

    // The resolver goes away: 503 naming it and --dns-resolver; nothing changes.
    let d2 = name("down");
    add(&g, &d2).await;
    dns().stop();
    let (st, e) = g.post(&format!("/domains/{d2}/verify"), json!({})).await;
    dns().start(&[]);
    assert_eq!(st, 503, "{e}");
    assert_eq!(e["error"]["code"], "serviceNotAvailable");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("--dns-resolver") && m.contains(&format!("127.0.0.1:{}", dns().port)),
        "{m}"
    );
    assert_eq!(
        g.get(&format!("/domains/{d2}")).await.1["isVerified"],
        false
    );
    assert_eq!(g.delete(&format!("/domains/{d2}")).await.0, 204);
}
