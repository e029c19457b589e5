//! Runs the sample blob store on its own (plain HTTP on loopback; put TLS in front of it for
//! anything but a local try-out). Configuration comes from the environment:
//! `CASTELLAN_AUTHORITY` (`https://host:port/{tenant-id}`), `CASTELLAN_ARM_URL`
//! (`https://host:port`), `BLOB_STORE_CLIENT_ID` / `BLOB_STORE_CLIENT_SECRET` (an app with Reader
//! on the accounts), `BLOB_STORE_ACCOUNTS` (`name=/subscriptions/…/storageAccounts/name`,
//! comma-separated), `BLOB_STORE_DATA_DIR`, `CASTELLAN_CA_FILE` (optional PEM),
//! `BLOB_STORE_LISTEN` (default `127.0.0.1:10000`).

use std::path::PathBuf;

fn need(name: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set (see the top of examples/blob-store/src/main.rs)"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let accounts = need("BLOB_STORE_ACCOUNTS")?
        .split(',')
        .map(|a| {
            a.split_once('=')
                .map(|(n, s)| (n.trim().to_string(), s.trim().to_string()))
                .ok_or_else(|| {
                    format!("BLOB_STORE_ACCOUNTS entry '{a}' is not name=/subscriptions/…")
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ca_pem = match std::env::var("CASTELLAN_CA_FILE") {
        Ok(p) => Some(std::fs::read(&p).map_err(|e| format!("CASTELLAN_CA_FILE {p}: {e}"))?),
        Err(_) => None,
    };
    let cfg = castellan_blob_store::Config {
        authority: need("CASTELLAN_AUTHORITY")?
            .trim_end_matches('/')
            .to_string(),
        arm_url: need("CASTELLAN_ARM_URL")?.trim_end_matches('/').to_string(),
        client_id: need("BLOB_STORE_CLIENT_ID")?,
        client_secret: need("BLOB_STORE_CLIENT_SECRET")?,
        accounts,
        data_dir: PathBuf::from(need("BLOB_STORE_DATA_DIR")?),
        ca_pem,
    };
    let app = castellan_blob_store::router(cfg)?;
    let listen = std::env::var("BLOB_STORE_LISTEN").unwrap_or_else(|_| "127.0.0.1:10000".into());
    let l = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("binding {listen}: {e}"))?;
    println!("sample blob store on http://{listen}/{{account}}/{{container}}/{{blob}}");
    axum::serve(l, app).await.map_err(|e| e.to_string())
}
