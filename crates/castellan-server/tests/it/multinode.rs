//! Two nodes on one PostgreSQL database with one public origin (`--public-origin`, the load
//! balancer's name) announce the same issuer and accept each other's tokens: a token issued by
//! node A through the public name is honoured by Graph on node B. Control: through its own
//! address a node still names itself. Needs `CASTELLAN_TEST_DATABASE_URL` (fails loudly).

use serde_json::Value;

const PUBLIC: &str = "login.castellan.test";

#[test]
fn nodes_with_one_public_origin_issue_and_accept_the_same_tokens() {
    let Ok(base) = std::env::var("CASTELLAN_TEST_DATABASE_URL") else {
        panic!(
            "CASTELLAN_TEST_DATABASE_URL is not set, so the multi-node test cannot run. \
             Run `scripts/test.sh`, or set it: \
             CASTELLAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test -p castellan-server --test it \
             (to skip it knowingly: -- --skip multinode::)"
        );
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let name = format!(
            "castellan_it_multi_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let url = castellan_store::create_postgres_database(&base, &name)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let root = std::env::temp_dir().join(format!("castellan-it-multi-{name}"));
        let (dir_a, dir_b) = (root.join("a"), root.join("b"));
        let mut a = castellan_server::ServeArgs::for_test(dir_a.clone());
        a.demo = true;
        a.database_url = Some(url.clone());
        a.public_origin = Some(format!("https://{PUBLIC}"));
        let node_a = castellan_server::start(a).await.unwrap();
        let demo = node_a.demo.clone().unwrap();
        // Node B: same database, same master key (it seals the shared signing keys), no demo.
        std::fs::create_dir_all(&dir_b).unwrap();
        std::fs::copy(dir_a.join("master.key"), dir_b.join("master.key")).unwrap();
        let mut b = castellan_server::ServeArgs::for_test(dir_b.clone());
        b.database_url = Some(url);
        b.public_origin = Some(format!("https://{PUBLIC}"));
        let node_b = castellan_server::start(b).await.unwrap();
        let client = |dir: &std::path::Path| {
            let ca = std::fs::read(dir.join("tls/ca.pem")).unwrap();
            reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                .build()
                .unwrap()
        };
        let (http_a, http_b) = (client(&dir_a), client(&dir_b));
        // Each node's own address (its `origin` is now the public one).
        let (at_a, at_b) = (
            format!("https://127.0.0.1:{}", node_a.addr.port()),
            format!("https://127.0.0.1:{}", node_b.addr.port()),
        );
        assert_eq!(node_a.origin, format!("https://{PUBLIC}"));
        let tid = demo["tenant_id"].as_str().unwrap().to_string();
        // Both nodes, reached through the public name, publish one issuer and one JWKS URL.
        let discovery = |http: reqwest::Client, origin: String| {
            let tid = tid.clone();
            async move {
                let v: Value = http
                    .get(format!(
                        "{origin}/{tid}/v2.0/.well-known/openid-configuration"
                    ))
                    .header("host", PUBLIC)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v
            }
        };
        let (da, db) = (
            discovery(http_a.clone(), at_a.clone()).await,
            discovery(http_b.clone(), at_b.clone()).await,
        );
        assert_eq!(da["issuer"], format!("https://{PUBLIC}/{tid}/v2.0"), "{da}");
        assert_eq!(
            (&da["issuer"], &da["jwks_uri"]),
            (&db["issuer"], &db["jwks_uri"])
        );
        // Control: through its own address a node names its own origin.
        let own: Value = http_b
            .get(format!(
                "{}/{tid}/v2.0/.well-known/openid-configuration",
                at_b
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(own["issuer"], format!("{}/{tid}/v2.0", at_b), "{own}");
        // A token issued by A through the public name...
        let tok: Value = http_a
            .post(format!("{}/{tid}/oauth2/v2.0/token", at_a))
            .header("host", PUBLIC)
            .form(&[
                ("grant_type", "client_credentials"),
                (
                    "client_id",
                    demo["confidential_client"]["app_id"].as_str().unwrap(),
                ),
                (
                    "client_secret",
                    demo["confidential_client"]["secret"].as_str().unwrap(),
                ),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = tok["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{tok}"))
            .to_string();
        // ...is honoured by Graph on B.
        let users = http_b
            .get(format!("{}/v1.0/users?$top=1", at_b))
            .header("host", PUBLIC)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(users.status(), 200, "{:?}", users.text().await);
        node_a.handle.shutdown();
        node_b.handle.shutdown();
        drop((node_a, node_b));
        castellan_store::drop_postgres_database(&base, &name)
            .await
            .unwrap();
    });
}
