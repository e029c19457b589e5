//! A sample protected resource, and the reference for protecting your own API with Castellan:
//! a tiny blob data plane (`GET`/`PUT /{account}/{container}/{blob path}`) that
//!
//! 1. validates the caller's bearer token with `jsonwebtoken`: the signing key comes from the
//!    authority's JWKS (found through its OpenID configuration, cached, fetched again when an
//!    unknown `kid` shows up so key rotation is followed), RS256 only, issuer = the discovery
//!    document's or its v1 form (`{authority}/`: Storage, like every Microsoft resource, gets
//!    v1 tokens), audience = Azure Storage (`https://storage.azure.com`, as requested, or its
//!    appId), expiry checked; then
//! 2. asks Castellan's Azure RBAC engine whether the caller holds the DataAction
//!    (`…/containers/blobs/read` or `/write`) at the blob, through the check-access API
//!    (`POST {scope}/providers/Microsoft.Authorization/checkAccess`), authenticated as the blob
//!    store's own application (client credentials; it needs Reader on the account's scope).
//!
//! Refusals follow Azure Storage: 401 `InvalidAuthenticationInfo` with a `WWW-Authenticate`
//! challenge, 403 `AuthorizationPermissionMismatch` (with the engine's explanation), 404
//! `BlobNotFound`. `castellan serve --demo` mounts this router under `/sample/blob`; `main.rs`
//! runs it on its own.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

/// Azure Storage's appId; tokens for `https://storage.azure.com` may carry it as `aud`.
pub const STORAGE_APP_ID: &str = "e406a681-f3d4-42a8-90b6-c2b029497af1";

/// How the blob store is wired to Castellan.
#[derive(Clone, Debug)]
pub struct Config {
    /// The tenant's authority, `https://host:port/{tenant-id}`.
    pub authority: String,
    /// ARM's base URL (Castellan's origin).
    pub arm_url: String,
    /// The blob store's own application (client id) …
    pub client_id: String,
    /// … and its secret, for check-access calls.
    pub client_secret: String,
    /// Storage accounts served: (account name, its ARM resource id).
    pub accounts: Vec<(String, String)>,
    /// Where blob bytes live (`{dir}/{account}/{container}/{path}`).
    pub data_dir: PathBuf,
    /// Extra CA certificates (PEM) to trust for Castellan's TLS (a local CA).
    pub ca_pem: Option<Vec<u8>>,
}

struct Keys {
    issuer: String,
    jwks: JwkSet,
    fetched: Instant,
}

struct Shared {
    cfg: Config,
    http: reqwest::Client,
    keys: Mutex<Option<Keys>>,
    arm_token: Mutex<Option<(String, Instant)>>,
}

/// Builds the router (state included).
pub fn router(cfg: Config) -> Result<Router, String> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(pem) = &cfg.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("the CA file is not PEM: {e}"))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    let http = b.build().map_err(|e| format!("HTTP client: {e}"))?;
    let shared = Arc::new(Shared {
        cfg,
        http,
        keys: Mutex::new(None),
        arm_token: Mutex::new(None),
    });
    Ok(Router::new()
        .route("/{account}/{container}/{*blob}", get(read).put(write))
        .with_state(shared))
}

fn storage_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{}</Message></Error>",
        message
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    );
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(code) {
        h.insert("x-ms-error-code", v);
    }
    r
}

fn unauthorized(s: &Shared, message: &str) -> Response {
    let mut r = storage_error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationInfo",
        message,
    );
    let challenge = format!(
        "Bearer authorization_uri={}/oauth2/authorize resource_id=https://storage.azure.com",
        s.cfg.authority
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Claims {
    oid: String,
}

impl Shared {
    async fn fetch_keys(&self) -> Result<Keys, String> {
        let url = format!(
            "{}/v2.0/.well-known/openid-configuration",
            self.cfg.authority
        );
        let d: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("fetching {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let jwks: JwkSet = self
            .http
            .get(&d.jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("fetching {}: {e}", d.jwks_uri))?
            .json()
            .await
            .map_err(|e| format!("{}: {e}", d.jwks_uri))?;
        Ok(Keys {
            issuer: d.issuer,
            jwks,
            fetched: Instant::now(),
        })
    }

    /// The decoding key for `kid` and the expected issuer; refetches the JWKS once for an
    /// unknown kid (at most every 10 s, so a flood of bad tokens cannot hammer the authority).
    async fn key(&self, kid: &str) -> Result<(DecodingKey, String), String> {
        let mut guard = self.keys.lock().await;
        let stale = guard.as_ref().is_none_or(|k| {
            k.jwks.find(kid).is_none() && k.fetched.elapsed() > Duration::from_secs(10)
        });
        if stale {
            *guard = Some(self.fetch_keys().await?);
        }
        let k = guard.as_ref().ok_or("no keys")?;
        let jwk = k
            .jwks
            .find(kid)
            .ok_or_else(|| format!("the token's key '{kid}' is not in the authority's JWKS"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("bad JWK: {e}"))?;
        Ok((key, k.issuer.clone()))
    }

    async fn validate(&self, headers: &HeaderMap) -> Result<Claims, String> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("Server failed to authenticate the request. Send 'Authorization: Bearer <token>' with a token for https://storage.azure.com/.default.")?;
        let h = jsonwebtoken::decode_header(token).map_err(|_| "The token is not a JWT.")?;
        let kid = h.kid.ok_or("The token has no kid.")?;
        let (key, issuer) = self.key(&kid).await?;
        // RS256 only: the algorithm is ours, never the token header's.
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = 60;
        v.set_issuer(&accepted_issuers(&issuer));
        v.set_audience(&[
            "https://storage.azure.com",
            "https://storage.azure.com/",
            STORAGE_APP_ID,
        ]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<Claims>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "Lifetime validation failed. The token is expired.".to_string()
                }
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    "Audience validation failed: request a token for https://storage.azure.com/.default.".to_string()
                }
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    "Issuer validation failed: the token was not issued by this store's authority.".to_string()
                }
                _ => format!("The access token is not valid ({e})."),
            })
    }

    async fn arm_token(&self) -> Result<String, String> {
        let mut guard = self.arm_token.lock().await;
        if let Some((t, until)) = guard.as_ref() {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        #[derive(Deserialize)]
        struct Tok {
            access_token: String,
            expires_in: u64,
        }
        let url = format!("{}/oauth2/v2.0/token", self.cfg.authority);
        let t: Tok = self
            .http
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.cfg.client_id.as_str()),
                ("client_secret", self.cfg.client_secret.as_str()),
                ("scope", "https://management.azure.com/.default"),
            ])
            .send()
            .await
            .map_err(|e| format!("token request: {e}"))?
            .error_for_status()
            .map_err(|e| format!("the blob store could not get its own ARM token: {e}"))?
            .json()
            .await
            .map_err(|e| format!("token response: {e}"))?;
        let until = Instant::now() + Duration::from_secs(t.expires_in.saturating_sub(60));
        *guard = Some((t.access_token.clone(), until));
        Ok(t.access_token)
    }

    /// Asks Castellan whether `principal` holds `action` at `scope`: Ok(None) = allowed,
    /// Ok(Some(reason)) = not allowed.
    async fn check(
        &self,
        principal: &str,
        action: &str,
        scope: &str,
    ) -> Result<Option<String>, String> {
        let token = self.arm_token().await?;
        let enc: String = percent_encoding::utf8_percent_encode(scope, PATH).to_string();
        let url = format!(
            "{}{enc}/providers/Microsoft.Authorization/checkAccess?api-version=2022-04-01",
            self.cfg.arm_url
        );
        let r = self
            .http
            .post(&url)
            .bearer_auth(token)
            .json(&serde_json::json!({"subject": {"principalId": principal}, "actions": [{"id": action, "isDataAction": true}]}))
            .send()
            .await
            .map_err(|e| format!("check-access: {e}"))?;
        let status = r.status();
        let v: serde_json::Value = r.json().await.map_err(|e| format!("check-access: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "check-access answered {status}: {}",
                v["error"]["message"].as_str().unwrap_or("")
            ));
        }
        let first = &v["value"][0];
        if first["accessDecision"] == "Allowed" {
            Ok(None)
        } else {
            Ok(Some(
                first["reason"]
                    .as_str()
                    .unwrap_or("not allowed")
                    .to_string(),
            ))
        }
    }
}

const PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'?')
    .add(b'%')
    .add(b'<')
    .add(b'>');

fn safe_path(base: &Path, parts: &[&str]) -> Option<PathBuf> {
    let mut p = base.to_path_buf();
    for part in parts {
        for c in Path::new(part).components() {
            match c {
                Component::Normal(x) => p.push(x),
                _ => return None,
            }
        }
    }
    Some(p)
}

async fn authorize(
    s: &Shared,
    headers: &HeaderMap,
    account: &str,
    container: &str,
    blob: &str,
    verb: &str,
) -> Result<PathBuf, Response> {
    let claims = s.validate(headers).await.map_err(|m| unauthorized(s, &m))?;
    let Some((_, account_scope)) = s.cfg.accounts.iter().find(|(n, _)| n == account) else {
        return Err(storage_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("The storage account '{account}' is not served here."),
        ));
    };
    let Some(path) = safe_path(&s.cfg.data_dir, &[account, container, blob]) else {
        return Err(storage_error(
            StatusCode::BAD_REQUEST,
            "InvalidResourceName",
            "The blob path may not contain '..' or absolute components.",
        ));
    };
    let scope = format!("{account_scope}/blobServices/default/containers/{container}/blobs/{blob}");
    let action = format!("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/{verb}");
    match s.check(&claims.oid, &action, &scope).await {
        Ok(None) => Ok(path),
        Ok(Some(reason)) => Err(storage_error(
            StatusCode::FORBIDDEN,
            "AuthorizationPermissionMismatch",
            &format!("This request is not authorized to perform this operation using this permission. {reason}"),
        )),
        Err(e) if e.contains("404") => Err(storage_error(
            StatusCode::NOT_FOUND,
            "ContainerNotFound",
            &format!("The specified container does not exist. ({e})"),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "check-access failed");
            Err(storage_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServerBusy",
                &format!("The authorization service could not be reached: {e}"),
            ))
        }
    }
}

async fn read(
    State(s): State<Arc<Shared>>,
    UrlPath((account, container, blob)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = match authorize(&s, &headers, &account, &container, &blob, "read").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mut r = bytes.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            r.headers_mut()
                .insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
            r
        }
        Err(_) => storage_error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        ),
    }
}

async fn write(
    State(s): State<Arc<Shared>>,
    UrlPath((account, container, blob)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = match authorize(&s, &headers, &account, &container, &blob, "write").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(dir) = path.parent() {
        if let Err(e) = tokio::fs::create_dir_all(dir).await {
            return storage_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &e.to_string(),
            );
        }
    }
    // Write then rename, so a crash never leaves half a blob.
    let tmp = path.with_extension("castellan-tmp");
    if let Err(e) = tokio::fs::write(&tmp, &body).await {
        return storage_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        );
    }
    if let Err(e) = tokio::fs::rename(&tmp, &path).await {
        return storage_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        );
    }
    StatusCode::CREATED.into_response()
}

/// The issuers a Storage token may carry: the discovery document's (`{authority}/v2.0`) and
/// its v1 form (`{authority}/`, Entra's `https://sts.windows.net/{tid}/`) — Azure Storage
/// accepts v1 tokens, which is what Entra and Castellan issue for it from either endpoint.
pub fn accepted_issuers(discovery_issuer: &str) -> [String; 2] {
    let base = discovery_issuer
        .strip_suffix("/v2.0")
        .unwrap_or(discovery_issuer)
        .trim_end_matches('/');
    [discovery_issuer.to_string(), format!("{base}/")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_issuers_of_the_authority_only() {
        let t = "https://127.0.0.1:8443/0b1c2d3e-0000-4000-8000-000000000001";
        assert_eq!(
            accepted_issuers(&format!("{t}/v2.0")),
            [format!("{t}/v2.0"), format!("{t}/")]
        );
    }

    #[test]
    fn blob_paths_cannot_escape_the_data_dir() {
        let base = Path::new("/data");
        assert_eq!(
            safe_path(base, &["acct", "docs", "a/b.txt"]),
            Some(PathBuf::from("/data/acct/docs/a/b.txt"))
        );
        assert_eq!(safe_path(base, &["acct", "docs", "../../etc/passwd"]), None);
        assert_eq!(safe_path(base, &["acct", "docs", "/etc/passwd"]), None);
    }
}
