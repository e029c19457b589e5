//! `castellan device ...`: devices through Graph (register with a fresh EC P-256 key, list,
//! show, set compliance, delete) and, offline, the device assertion a sign-in sends in the
//! `x-castellan-device-assertion` header to prove it comes from a registered device.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::admin::GraphConn;

/// Device commands.
#[derive(Subcommand)]
pub enum DeviceCmd {
    /// Register a device: generate its EC P-256 key (private half written to --key-out, mode
    /// 0600), create the device object with the public half, and add its registered owner.
    Register {
        /// Display name.
        #[arg(long)]
        name: String,
        /// operatingSystem: Windows, MacOS, iOS, iPadOS, Android, Linux or WindowsPhone.
        #[arg(long)]
        os: String,
        /// operatingSystemVersion.
        #[arg(long, default_value = "")]
        os_version: String,
        /// trustType: Workplace (registered), AzureAd (joined) or ServerAd (hybrid joined).
        #[arg(long, default_value = "AzureAd")]
        trust_type: String,
        /// The registered owner (UPN or object id).
        #[arg(long)]
        owner: Option<String>,
        /// deviceId (default: a new GUID).
        #[arg(long)]
        device_id: Option<String>,
        /// Mark the device compliant (isCompliant true) at registration.
        #[arg(long)]
        compliant: bool,
        /// Mark the device managed (isManaged true) at registration.
        #[arg(long)]
        managed: bool,
        /// Where to write the device's private key (PKCS#8 PEM; must not exist yet).
        #[arg(long)]
        key_out: PathBuf,
    },
    /// List the tenant's devices.
    List,
    /// Show a device by object id.
    Show {
        /// Object id.
        id: String,
    },
    /// Set isCompliant on a device (what an MDM would report).
    SetCompliant {
        /// Object id.
        id: String,
        /// true or false.
        #[arg(action = clap::ArgAction::Set)]
        compliant: bool,
    },
    /// Delete a device.
    Delete {
        /// Object id.
        id: String,
    },
    /// Print a fresh device assertion (offline: signs with the key file).
    Assertion {
        /// The device's private key (from `device register --key-out`).
        #[arg(long)]
        key: PathBuf,
        /// The deviceId.
        #[arg(long)]
        device_id: String,
        /// The tenant's issuer (https://host:port/{tenant-id}/v2.0) or its authorize or token
        /// endpoint.
        #[arg(long)]
        audience: String,
        /// Lifetime in seconds (at most 300).
        #[arg(long, default_value_t = 300)]
        lifetime: i64,
    },
}

/// `castellan device ...`.
pub async fn run(cmd: DeviceCmd, conn: GraphConn) -> Result<()> {
    if let DeviceCmd::Assertion {
        key,
        device_id,
        audience,
        lifetime,
    } = cmd
    {
        let key = read_key(&key)?;
        println!("{}", assertion(&key, &device_id, &audience, lifetime)?);
        return Ok(());
    }
    let g = conn.connect().await?;
    match cmd {
        DeviceCmd::Register {
            name,
            os,
            os_version,
            trust_type,
            owner,
            device_id,
            compliant,
            managed,
            key_out,
        } => {
            let device_id = device_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let owner_id = match &owner {
                Some(o) => Some(g.resolve("users", o, "userPrincipalName").await?),
                None => None,
            };
            let (pkcs8, spki) = generate()?;
            let body = json!({
                "deviceId": device_id, "displayName": name, "operatingSystem": os,
                "operatingSystemVersion": os_version, "trustType": trust_type,
                "isCompliant": compliant, "isManaged": managed, "accountEnabled": true,
                "alternativeSecurityIds": [{"type": 2, "identityProvider": null, "key": STANDARD.encode(&spki)}],
            });
            // The key file first (refusing to overwrite), so a registered device always has
            // its key somewhere.
            write_key(&key_out, &pkcs8)?;
            let created = match g.post("/devices", &body).await {
                Ok(v) => v,
                Err(e) => {
                    let _ = std::fs::remove_file(&key_out);
                    return Err(e.context("registering the device"));
                }
            };
            let id = created["id"].as_str().unwrap_or_default().to_string();
            if let Some(o) = owner_id {
                g.post(
                    &format!("/devices/{id}/registeredOwners/$ref"),
                    &json!({"@odata.id": format!("{}/directoryObjects/{o}", g.base)}),
                )
                .await
                .context("adding the registered owner")?;
            }
            g.show(&json!({
                "id": id, "deviceId": created["deviceId"], "displayName": created["displayName"],
                "isCompliant": created["isCompliant"], "keyFile": key_out.display().to_string(),
            }))
        }
        DeviceCmd::List => g.list(
            &g.get_all("/devices").await?,
            &[
                "id",
                "deviceId",
                "displayName",
                "operatingSystem",
                "trustType",
                "isCompliant",
                "accountEnabled",
            ],
        ),
        DeviceCmd::Show { id } => g.show(&g.get(&format!("/devices/{id}")).await?),
        DeviceCmd::SetCompliant { id, compliant } => {
            g.patch(
                &format!("/devices/{id}"),
                &json!({ "isCompliant": compliant }),
            )
            .await?;
            println!("device {id}: isCompliant = {compliant}");
            Ok(())
        }
        DeviceCmd::Delete { id } => {
            g.delete(&format!("/devices/{id}")).await?;
            println!("deleted device {id}");
            Ok(())
        }
        DeviceCmd::Assertion { .. } => Ok(()),
    }
}

/// A new EC P-256 key: (PKCS#8 DER, SubjectPublicKeyInfo DER).
fn generate() -> Result<(Vec<u8>, Vec<u8>)> {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| anyhow!("could not generate an EC P-256 key"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
        .map_err(|_| anyhow!("could not load the generated key"))?;
    let spki = castellan_core::model::p256_spki(pair.public_key().as_ref());
    Ok((doc.as_ref().to_vec(), spki))
}

fn write_key(path: &Path, pkcs8: &[u8]) -> Result<()> {
    let b64 = STANDARD.encode(pkcs8);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| {
        format!(
            "cannot create the key file {} (it must not exist yet)",
            path.display()
        )
    })?;
    f.write_all(pem.as_bytes())?;
    Ok(())
}

fn read_key(path: &Path) -> Result<EcdsaKeyPair> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let b64: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = STANDARD
        .decode(b64.trim())
        .with_context(|| format!("{} is not a PEM private key", path.display()))?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).map_err(|_| {
        anyhow!(
            "{} is not an EC P-256 PKCS#8 private key (as written by `castellan device register --key-out`)",
            path.display()
        )
    })
}

/// A signed device assertion (ES256, `kid` = `iss` = `sub` = the deviceId, one-time `jti`).
fn assertion(key: &EcdsaKeyPair, device_id: &str, audience: &str, lifetime: i64) -> Result<String> {
    if uuid::Uuid::parse_str(device_id).is_err() {
        bail!("--device-id must be the device's deviceId GUID");
    }
    if !(1..=300).contains(&lifetime) {
        bail!("--lifetime must be 1 to 300 seconds");
    }
    let now = chrono::Utc::now().timestamp();
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": device_id});
    let claims: Value = json!({
        "iss": device_id, "sub": device_id, "aud": audience,
        "iat": now, "exp": now + lifetime, "jti": uuid::Uuid::new_v4().to_string(),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
    );
    let sig = key
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .map_err(|_| anyhow!("signing failed"))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(sig.as_ref())
    ))
}
