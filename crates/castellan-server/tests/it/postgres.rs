//! The whole server on PostgreSQL: a second demo server whose store is a fresh PostgreSQL
//! database named by `CASTELLAN_TEST_DATABASE_URL` (scripts/test.sh and CI set it; unset fails
//! the test with the command that fixes it, never a silent pass).

use serde_json::{json, Value};

#[test]
fn demo_server_runs_on_postgresql() {
    let Ok(base) = std::env::var("CASTELLAN_TEST_DATABASE_URL") else {
        panic!(
            "CASTELLAN_TEST_DATABASE_URL is not set, so the server-on-PostgreSQL test cannot run. \
             Run `scripts/test.sh` (it sets the variable and starts PostgreSQL), or set it: \
             CASTELLAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test -p castellan-server --test it \
             (to skip it knowingly: -- --skip postgres::)"
        );
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let name = format!("castellan_it_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let url = castellan_store::create_postgres_database(&base, &name).await.unwrap_or_else(|e| panic!("{e}"));
        let dir = std::env::temp_dir().join(format!("castellan-it-pg-{name}"));
        let mut args = castellan_server::ServeArgs::for_test(dir.clone());
        args.demo = true;
        args.database_url = Some(url);
        let r = castellan_server::start(args).await.unwrap();
        let demo = r.demo.clone().unwrap();
        let ca = std::fs::read(dir.join("tls/ca.pem")).unwrap();
        let http = reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap()).build().unwrap();
        let tok: Value = http
            .post(format!("{}/oauth2/v2.0/token", demo["authority"].as_str().unwrap()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", demo["confidential_client"]["app_id"].as_str().unwrap()),
                ("client_secret", demo["confidential_client"]["secret"].as_str().unwrap()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = tok["access_token"].as_str().unwrap_or_else(|| panic!("{tok}")).to_string();
        let g = format!("{}/v1.0", r.origin);
        let upn = format!("pg@{}", demo["domain"].as_str().unwrap());
        let resp = http
            .post(format!("{g}/users"))
            .bearer_auth(&token)
            .json(&json!({"accountEnabled": true, "displayName": "On Postgres", "userPrincipalName": upn, "passwordProfile": {"password": "Test-Passw0rd!"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let dup = http
            .post(format!("{g}/users"))
            .bearer_auth(&token)
            .json(&json!({"accountEnabled": true, "displayName": "Dup", "userPrincipalName": upn.to_uppercase(), "passwordProfile": {"password": "Test-Passw0rd!"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(dup.status(), 400, "case-insensitive UPN uniqueness holds on PostgreSQL");
        let users: Value = http.get(format!("{g}/users?$filter=department eq 'Engineering'&$top=2")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(users["value"].as_array().unwrap().len(), 2);
        assert!(users["@odata.nextLink"].is_string());
        // Concurrent federated-credential adds on PostgreSQL (READ COMMITTED): the
        // compare-and-set keeps the limit of 20 and loses no write.
        let app: Value = http.post(format!("{g}/applications")).bearer_auth(&token).json(&json!({"displayName": "pg-fic"})).send().await.unwrap().json().await.unwrap();
        let fics = format!("{g}/applications/{}/federatedIdentityCredentials", app["id"].as_str().unwrap());
        let mut tasks = Vec::new();
        for i in 0..24 {
            let (http, fics, token) = (http.clone(), fics.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                http.post(&fics).bearer_auth(&token)
                    .json(&json!({"name": format!("f{i:02}"), "issuer": "https://token.actions.githubusercontent.com", "subject": format!("repo:o/r:environment:e{i}")}))
                    .send().await.unwrap().status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses.sort_unstable();
        assert_eq!(statuses, [vec![201; 20], vec![400; 4]].concat(), "{statuses:?}");
        let listed: Value = http.get(&fics).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed["value"].as_array().unwrap().len(), 20);
        // Cross-tenant access settings on PostgreSQL: racing creations of one partner leave
        // exactly one (the store's unique index, 409 for the others); the default changes,
        // reads back and resets.
        let partners = format!("{g}/policies/crossTenantAccessPolicy/partners");
        let other = uuid::Uuid::new_v4().to_string();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (http, partners, token, other) = (http.clone(), partners.clone(), token.clone(), other.clone());
            tasks.push(tokio::spawn(async move {
                http.post(&partners).bearer_auth(&token)
                    .json(&json!({"tenantId": other, "inboundTrust": {"isMfaAccepted": true}}))
                    .send().await.unwrap().status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses.sort_unstable();
        assert_eq!(statuses, [vec![201], vec![409; 5]].concat(), "{statuses:?}");
        let p: Value = http.get(format!("{partners}/{other}")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(p["inboundTrust"]["isMfaAccepted"], true, "{p}");
        let default = format!("{g}/policies/crossTenantAccessPolicy/default");
        let st = http.patch(&default).bearer_auth(&token)
            .json(&json!({"b2bCollaborationOutbound": {"applications": {"accessType": "blocked", "targets": [{"target": "AllApplications", "targetType": "application"}]}}}))
            .send().await.unwrap().status();
        assert_eq!(st, 204);
        let d: Value = http.get(&default).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(d["isServiceDefault"], false, "{d}");
        assert_eq!(d["b2bCollaborationOutbound"]["applications"]["accessType"], "blocked", "{d}");
        assert_eq!(d["b2bCollaborationOutbound"]["usersAndGroups"]["accessType"], "allowed", "{d}");
        let st = http.post(format!("{default}/resetToSystemDefault")).bearer_auth(&token).send().await.unwrap().status();
        assert_eq!(st, 204);
        let d: Value = http.get(&default).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(d["isServiceDefault"], true, "{d}");
        // An external OpenID Connect provider stored on PostgreSQL (a policy document with the
        // sealed secret), read back, and offered by the redemption page of an invited address
        // in its domain.
        {
            use castellan_server::http::graph::identity_providers::parse_stored;
            let store = r.state.store.as_ref();
            let tid = castellan_core::TenantId::parse(demo["tenant_id"].as_str().unwrap()).unwrap();
            let tenant = store.tenant(tid).await.unwrap().unwrap();
            let body = json!({"displayName": "PG OP", "clientId": "cid", "clientSecret": "pg-op-secret",
                "issuer": "https://op.pg.example", "domains": [{"id": "pg-partner.example"}]});
            let id = castellan_core::ObjectId::from_random(*uuid::Uuid::new_v4().as_bytes());
            let (mut p, secret) = castellan_wire::graph::identity_providers::parse(&body, id, tid).unwrap();
            p.client_secret_sealed = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                r.state.keys.seal_purpose(castellan_server::http::graph::identity_providers::SECRET_PURPOSE, secret.unwrap().as_bytes()).unwrap(),
            );
            let doc = castellan_wire::graph::identity_providers::to_document(&p);
            assert!(!doc.contains("pg-op-secret"));
            let mut ent = castellan_server::crypto::OsEntropy;
            let mut env = castellan_core::ops::Env {
                store,
                now: castellan_server::state::now(),
                entropy: &mut ent,
                hasher: &r.state.hasher,
                actor: castellan_core::audit::Actor::Operator,
                correlation_id: "pg".into(),
            };
            castellan_core::ops::external_idp::put(&mut env, &tenant, &p, doc, parse_stored).await.unwrap();
            let back = castellan_core::ops::external_idp::providers(store, &tenant, parse_stored).await.unwrap();
            assert_eq!(back, vec![p.clone()]);
            assert_eq!(castellan_server::http::graph::identity_providers::client_secret(&r.state, &back[0]).unwrap(), "pg-op-secret");
            let inv: Value = http.post(format!("{g}/invitations")).bearer_auth(&token)
                .json(&json!({"invitedUserEmailAddress": "sam@pg-partner.example", "inviteRedirectUrl": "https://app.example"}))
                .send().await.unwrap().json().await.unwrap();
            let page = http.get(inv["inviteRedeemUrl"].as_str().unwrap_or_else(|| panic!("{inv}"))).send().await.unwrap().text().await.unwrap();
            assert!(page.contains("Sign in with PG OP"), "{page}");
        }
        r.handle.shutdown();
        drop(r);
        castellan_store::drop_postgres_database(&base, &name).await.unwrap();
    });
}
