//! `castellan token decode`: prints a JWT's header and claims and verifies its signature
//! against the issuing server's JWKS.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Subcommand;
use serde_json::Value;

use crate::admin::http_client;

/// Token commands.
#[derive(Subcommand)]
pub enum TokenCmd {
    /// Decode a JWT and verify its signature against the server's JWKS.
    Decode {
        /// The token (or '-' to read it from standard input).
        jwt: String,
        /// Server URL whose JWKS to use (default: the origin of the token's `iss`).
        #[arg(long, env = "CASTELLAN_URL")]
        url: Option<String>,
        /// CA certificate to trust.
        #[arg(long, env = "CASTELLAN_CA_FILE")]
        ca_file: Option<PathBuf>,
        /// Only decode; do not verify.
        #[arg(long)]
        no_verify: bool,
    },
}

fn part(jwt: &str, i: usize) -> Result<Value> {
    let p = jwt
        .split('.')
        .nth(i)
        .ok_or_else(|| anyhow!("not a JWT: expected three dot-separated parts"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(p.trim_end_matches('='))
        .context("not a JWT: a part is not base64url")?;
    serde_json::from_slice(&bytes).context("not a JWT: a part is not JSON")
}

/// Runs a token command.
pub async fn run(cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Decode {
            jwt,
            url,
            ca_file,
            no_verify,
        } => {
            let jwt = if jwt == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                s.trim().to_string()
            } else {
                jwt.trim().to_string()
            };
            let header = part(&jwt, 0)?;
            let claims = part(&jwt, 1)?;
            println!("Header:\n{}", serde_json::to_string_pretty(&header)?);
            println!("Claims:\n{}", serde_json::to_string_pretty(&claims)?);
            if no_verify {
                return Ok(());
            }
            let tid = claims["tid"]
                .as_str()
                .ok_or_else(|| anyhow!("the token has no tid claim"))?;
            let origin = match url {
                Some(u) => u,
                None => {
                    let iss = claims["iss"]
                        .as_str()
                        .ok_or_else(|| anyhow!("the token has no iss claim; pass --url"))?;
                    let u = url::Url::parse(iss).context("iss is not a URL; pass --url")?;
                    u.origin().ascii_serialization()
                }
            };
            let jwks_url = format!("{origin}/{tid}/discovery/v2.0/keys");
            let http = http_client(ca_file.as_ref())?;
            let jwks: Value = http
                .get(&jwks_url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let kid = header["kid"]
                .as_str()
                .ok_or_else(|| anyhow!("the token has no kid header"))?;
            let key = jwks["keys"].as_array().and_then(|ks| ks.iter().find(|k| k["kid"] == kid)).ok_or_else(|| anyhow!("kid '{kid}' is not in {jwks_url}: the key was rotated out or the token is from another server"))?;
            let dk = jsonwebtoken::DecodingKey::from_rsa_components(
                key["n"].as_str().unwrap_or(""),
                key["e"].as_str().unwrap_or(""),
            )?;
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            v.validate_aud = false;
            v.validate_exp = false;
            v.required_spec_claims.clear();
            match jsonwebtoken::decode::<Value>(&jwt, &dk, &v) {
                Ok(_) => {
                    println!("Signature: valid (RS256, kid {kid}, from {jwks_url})");
                    let exp = claims["exp"].as_i64().unwrap_or(0);
                    let now = chrono::Utc::now().timestamp();
                    if exp < now {
                        println!("Expiry: EXPIRED {}s ago", now - exp);
                    } else {
                        println!("Expiry: valid for {}s more", exp - now);
                    }
                    Ok(())
                }
                Err(e) => bail!("signature INVALID: {e}"),
            }
        }
    }
}
