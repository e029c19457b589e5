//! Workload identity federation, the I/O half: fetching an external issuer's OpenID Connect
//! discovery document and JWK Set over https, caching them, and verifying a federated
//! `client_assertion` against them. The decisions (which credential matches, lifetimes, the
//! algorithm allowlist) are `castellan_core::flow::federated_assertion`'s; the byte formats are
//! `castellan_wire::federation`'s.
//!
//! Trust and safety:
//! - Keys come only from `{issuer}/.well-known/openid-configuration` → `jwks_uri`, for an
//!   issuer that an administrator registered in a federated identity credential of the
//!   presenting application (matching runs *before* any fetch, so a token cannot make this
//!   server contact a URL of its choosing; `jku`/`x5u` headers are ignored). The discovery
//!   document's `issuer` must equal the issuer exactly (OpenID Connect Discovery §4.3) and
//!   `jwks_uri` must be https.
//! - TLS trust: the system roots (rustls-platform-verifier, through reqwest) plus every
//!   certificate in the PEM file named by `CASTELLAN_EXTRA_CA_FILE`, read once at start-up.
//!   Redirects are not followed; plain http is refused; requests time out after 5 s; bodies
//!   are capped (64 KiB discovery, 256 KiB JWKS; at most 100 keys kept).
//! - Cache: per issuer (and per `jwks_uri` of an external OpenID Connect provider, whose
//!   discovery document is cached the same hour), keys are reused for an hour. A `kid` the cache does not know triggers
//!   one refresh, at most once per minute per issuer; a failed fetch is remembered for 10 s.
//!   One fetch per issuer runs at a time (others wait for it), so a burst of bad tokens cannot
//!   make this server hammer an issuer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use castellan_core::error::{AadstsError, Code};
use castellan_core::flow::federated_assertion::{
    self as fa, AssertionAlgorithm, FederatedIdentityCredential,
};
use castellan_core::Timestamp;
use castellan_wire::federation::{self as wire, PublicJwk};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::sync::Mutex;

/// The environment variable naming extra trusted CA certificates (PEM).
pub const EXTRA_CA_ENV: &str = "CASTELLAN_EXTRA_CA_FILE";
const MAX_DISCOVERY_BYTES: usize = 64 * 1024;
const MAX_JWKS_BYTES: usize = 256 * 1024;
const MAX_ISSUERS: usize = 1024;

/// Cache timings (tests shorten them).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long fetched keys are used before they are fetched again.
    pub keys_ttl: Duration,
    /// Least time between two fetches for one issuer caused by unknown `kid`s.
    pub min_refresh: Duration,
    /// How long a failed fetch is remembered (answered without contacting the issuer).
    pub failure_ttl: Duration,
    /// Timeout of each request.
    pub timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            keys_ttl: Duration::from_secs(3600),
            min_refresh: Duration::from_secs(60),
            failure_ttl: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Default)]
struct Entry {
    keys: Vec<PublicJwk>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// Why no key could be found for an assertion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The issuer's discovery document or JWKS could not be fetched or used (message names the
    /// URL and the cause).
    Unreachable(String),
    /// The issuer publishes no key with this `kid` (or, without a `kid`, not exactly one key).
    UnknownKey(String),
}

/// Fetches and caches external issuers' signing keys.
pub struct IssuerKeys {
    client: reqwest::Client,
    timing: Timing,
    entries: Mutex<HashMap<String, Arc<Mutex<Entry>>>>,
    documents: Mutex<HashMap<String, Arc<Mutex<Document>>>>,
}

#[derive(Default)]
struct Document {
    body: Option<Arc<Vec<u8>>>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// Reads every certificate of a PEM file (for `CASTELLAN_EXTRA_CA_FILE`); errors name the
/// variable, the path and the problem.
pub fn read_extra_cas(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let ctx = || format!("{EXTRA_CA_ENV} (--extra-ca-file) = {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read the file: {e}", ctx()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a valid PEM file: {e}", ctx()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            ctx()
        ));
    }
    for (i, c) in certs.iter().enumerate() {
        webpki::anchor_from_trusted_cert(c).map_err(|e| {
            format!(
                "{}: certificate #{} is not a usable X.509 CA certificate: {e:?}",
                ctx(),
                i + 1
            )
        })?;
    }
    Ok(certs)
}

pub(crate) fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

impl IssuerKeys {
    /// A fetcher trusting the system roots plus `extra_cas`.
    pub fn new(extra_cas: &[CertificateDer<'static>], timing: Timing) -> Result<Self, String> {
        let certs = extra_cas
            .iter()
            .map(|c| reqwest::Certificate::from_der(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot use an extra CA certificate: {e}"))?;
        let client = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timing.timeout)
            .connect_timeout(timing.timeout)
            .user_agent(concat!("castellan/", env!("CARGO_PKG_VERSION")))
            .tls_certs_merge(certs)
            .build()
            .map_err(|e| {
                format!(
                    "cannot build the HTTPS client for federated issuers: {}",
                    cause_chain(&e)
                )
            })?;
        Ok(Self {
            client,
            timing,
            entries: Mutex::new(HashMap::new()),
            documents: Mutex::new(HashMap::new()),
        })
    }

    /// From `CASTELLAN_EXTRA_CA_FILE` (or `--extra-ca-file`), if set.
    pub fn from_config(extra_ca_file: Option<&Path>) -> Result<Self, String> {
        let cas = match extra_ca_file {
            Some(p) => read_extra_cas(p)?,
            None => vec![],
        };
        Self::new(&cas, Timing::default())
    }

    /// The HTTPS client (system roots plus the extra CAs, no redirects, 5 s timeouts), for the
    /// external OpenID Connect sign-in (`http::identity::external_idp`).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.client
    }

    /// GET `url` (https only), its body capped at `cap` bytes; errors name the URL and cause.
    pub(crate) async fn get_capped(&self, url: &str, cap: usize) -> Result<Vec<u8>, String> {
        let mut resp = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url} failed: {}", cause_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url} answered HTTP {}", resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > cap as u64) {
            return Err(format!(
                "GET {url}: the response is larger than {cap} bytes"
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: reading the body failed: {}", cause_chain(&e)))?
        {
            if body.len() + chunk.len() > cap {
                return Err(format!(
                    "GET {url}: the response is larger than {cap} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Fetches discovery then the JWKS for `issuer`.
    async fn fetch(&self, issuer: &str) -> Result<Vec<PublicJwk>, String> {
        if !fa::is_https_url(issuer) {
            return Err(format!("issuer '{issuer}' is not an https URL"));
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let meta =
            wire::parse_provider_metadata(&self.get_capped(&url, MAX_DISCOVERY_BYTES).await?)
                .map_err(|e| format!("{url}: {e}"))?;
        if meta.issuer != issuer {
            return Err(format!(
                "{url}: the discovery document's issuer '{}' is not the requested issuer '{issuer}'",
                meta.issuer
            ));
        }
        if !fa::is_https_url(&meta.jwks_uri) {
            return Err(format!(
                "{url}: jwks_uri '{}' is not an https URL",
                meta.jwks_uri
            ));
        }
        let keys = wire::parse_jwks(&self.get_capped(&meta.jwks_uri, MAX_JWKS_BYTES).await?)
            .map_err(|e| format!("{}: {e}", meta.jwks_uri))?;
        if keys.is_empty() {
            return Err(format!(
                "{}: the JWKS holds no usable RSA or EC signature key",
                meta.jwks_uri
            ));
        }
        Ok(keys)
    }

    async fn entry(&self, issuer: &str) -> Arc<Mutex<Entry>> {
        let mut map = self.entries.lock().await;
        if !map.contains_key(issuer) && map.len() >= MAX_ISSUERS {
            map.clear();
        }
        map.entry(issuer.to_string()).or_default().clone()
    }

    /// The key `kid` of `issuer` that may verify `alg` (from cache, or fetched).
    pub async fn key(
        &self,
        issuer: &str,
        kid: Option<&str>,
        alg: AssertionAlgorithm,
    ) -> Result<PublicJwk, KeyError> {
        self.key_from(issuer, issuer, kid, alg, || self.fetch(issuer))
            .await
    }

    /// The key `kid` that may verify `alg` from the key set at `jwks_uri` (an external OpenID
    /// Connect provider's, whose discovery document named it), cached like an issuer's.
    pub(crate) async fn key_at(
        &self,
        jwks_uri: &str,
        kid: Option<&str>,
        alg: AssertionAlgorithm,
    ) -> Result<PublicJwk, KeyError> {
        let fetch = || async move {
            let keys = wire::parse_jwks(&self.get_capped(jwks_uri, MAX_JWKS_BYTES).await?)
                .map_err(|e| format!("its key set {jwks_uri} is unusable ({e})"))?;
            if keys.is_empty() {
                return Err(format!(
                    "its key set {jwks_uri} holds no usable RSA or EC signature key"
                ));
            }
            Ok(keys)
        };
        self.key_from(&format!("jwks {jwks_uri}"), jwks_uri, kid, alg, fetch)
            .await
    }

    /// An OpenID Connect discovery document at `url` (https, capped), reused for the keys'
    /// lifetime; a failed fetch is remembered for [`Timing::failure_ttl`], so a burst of
    /// sign-ins cannot make this server hammer a provider that is down.
    pub(crate) async fn document(&self, url: &str, cap: usize) -> Result<Arc<Vec<u8>>, String> {
        let entry = {
            let mut map = self.documents.lock().await;
            if !map.contains_key(url) && map.len() >= MAX_ISSUERS {
                map.clear();
            }
            map.entry(url.to_string()).or_default().clone()
        };
        let mut e = entry.lock().await;
        let now = Instant::now();
        if let (Some(body), Some(t)) = (&e.body, e.fetched) {
            if now.duration_since(t) < self.timing.keys_ttl {
                return Ok(body.clone());
            }
        }
        if let (Some(err), Some(t)) = (&e.last_error, e.last_attempt) {
            if now.duration_since(t) < self.timing.failure_ttl {
                return Err(err.clone());
            }
        }
        e.last_attempt = Some(now);
        match self.get_capped(url, cap).await {
            Ok(b) => {
                let b = Arc::new(b);
                e.body = Some(b.clone());
                e.fetched = Some(Instant::now());
                e.last_error = None;
                Ok(b)
            }
            Err(msg) => {
                e.last_error = Some(msg.clone());
                Err(msg)
            }
        }
    }

    /// Forgets a cached discovery document (its content failed a check, e.g. a changed issuer).
    pub(crate) async fn forget_document(&self, url: &str) {
        self.documents.lock().await.remove(url);
    }

    /// The cache behind [`Self::key`] and [`Self::key_at`]: `cache_key`'s entry, `fetch` on a
    /// miss (at most once per [`Timing::min_refresh`] for an unknown `kid`).
    async fn key_from<F, Fut>(
        &self,
        cache_key: &str,
        issuer: &str,
        kid: Option<&str>,
        alg: AssertionAlgorithm,
        fetch: F,
    ) -> Result<PublicJwk, KeyError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<PublicJwk>, String>>,
    {
        let entry = self.entry(cache_key).await;
        let mut e = entry.lock().await;
        let now = Instant::now();
        let fresh = e
            .fetched
            .is_some_and(|t| now.duration_since(t) < self.timing.keys_ttl);
        let pick = |keys: &[PublicJwk]| -> Option<PublicJwk> {
            let fits = |k: &&PublicJwk| alg.fits_key(&k.kty, k.crv.as_deref(), k.alg.as_deref());
            match kid {
                Some(kid) => keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .find(fits)
                    .cloned(),
                // Without a kid only an unambiguous key set is usable.
                None => match keys.iter().filter(fits).collect::<Vec<_>>().as_slice() {
                    [one] => Some((*one).clone()),
                    _ => None,
                },
            }
        };
        if fresh {
            if let Some(k) = pick(&e.keys) {
                return Ok(k);
            }
        }
        let recently = e
            .last_attempt
            .is_some_and(|t| now.duration_since(t) < self.timing.min_refresh);
        let failed_recently = e
            .last_attempt
            .is_some_and(|t| now.duration_since(t) < self.timing.failure_ttl);
        let unknown = || {
            KeyError::UnknownKey(match kid {
                Some(k) => format!("issuer '{issuer}' publishes no {} signing key with kid '{k}'", alg.as_str()),
                None => format!("the assertion has no kid and issuer '{issuer}' does not publish exactly one {} signing key", alg.as_str()),
            })
        };
        if let (Some(err), true) = (&e.last_error, failed_recently) {
            return Err(KeyError::Unreachable(err.clone()));
        }
        if fresh && recently {
            // Known issuer, unknown kid, refreshed less than a minute ago: do not refetch.
            return Err(unknown());
        }
        e.last_attempt = Some(now);
        match fetch().await {
            Ok(keys) => {
                tracing::info!(issuer, keys = keys.len(), "fetched federated issuer keys");
                e.keys = keys;
                e.fetched = Some(Instant::now());
                e.last_error = None;
                pick(&e.keys).ok_or_else(unknown)
            }
            Err(msg) => {
                tracing::warn!(issuer, error = %msg, "fetching federated issuer keys failed");
                e.last_error = Some(msg.clone());
                Err(KeyError::Unreachable(msg))
            }
        }
    }
}

/// Verifies a signature with a JWK under an allowlisted algorithm (the key's type was checked
/// to fit the algorithm when it was picked).
pub(crate) fn verify_signature(
    jwk: &PublicJwk,
    alg: AssertionAlgorithm,
    signing_input: &str,
    signature: &[u8],
) -> bool {
    use aws_lc_rs::signature as sig;
    let b64 = |s: &Option<String>| {
        use base64::Engine;
        s.as_deref().and_then(|v| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v.trim_end_matches('='))
                .ok()
        })
    };
    match alg {
        AssertionAlgorithm::Rs256 | AssertionAlgorithm::Ps256 => {
            let (Some(n), Some(e)) = (b64(&jwk.n), b64(&jwk.e)) else {
                return false;
            };
            let params: &sig::RsaParameters = if alg == AssertionAlgorithm::Rs256 {
                &sig::RSA_PKCS1_2048_8192_SHA256
            } else {
                &sig::RSA_PSS_2048_8192_SHA256
            };
            sig::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(params, signing_input.as_bytes(), signature)
                .is_ok()
        }
        AssertionAlgorithm::Es256 => {
            let (Some(x), Some(y)) = (b64(&jwk.x), b64(&jwk.y)) else {
                return false;
            };
            if x.len() != 32 || y.len() != 32 {
                return false;
            }
            // Uncompressed SEC1 point; JWS ES256 signatures are fixed-length r||s.
            let mut point = Vec::with_capacity(65);
            point.push(4u8);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &point)
                .verify(signing_input.as_bytes(), signature)
                .is_ok()
        }
    }
}

/// Verifies a federated `client_assertion` for an owner of `fics` (an application today, a
/// user-assigned managed identity later) and returns the credential it matched.
///
/// Order: parse (50027) → refuse this server's own tokens (`own_origins`, 700229) → https
/// issuer (700211) → the issuer is one a FIC names, checked *before any network access*
/// (70021/700211) → algorithm allowlist (700027) → key by `kid` from the issuer's JWKS, key
/// type tied to the algorithm (50166 if the issuer cannot be reached, 700027 for an unknown
/// key) → signature (700027) → subject and audience (700213/700212; only for a token the
/// issuer really signed, so forged tokens cannot probe configured subjects) → `exp`/`nbf`
/// (700024).
pub async fn verify_federated_assertion(
    keys: &IssuerKeys,
    fics: &[FederatedIdentityCredential],
    assertion: &str,
    own_origins: &[String],
    now: Timestamp,
) -> Result<FederatedIdentityCredential, AadstsError> {
    let jwt = wire::parse_unverified(assertion)?;
    let (iss, sub) = fa::required_claims(&jwt.claims)?;
    let lower = iss.to_ascii_lowercase();
    if own_origins
        .iter()
        .any(|o| lower == *o || lower.starts_with(&format!("{o}/")))
    {
        return Err(fa::own_token_refused(iss));
    }
    fa::check_issuer_scheme(iss)?;
    fa::check_issuer_known(fics, iss, sub, &jwt.claims.aud)?;
    let alg = AssertionAlgorithm::parse(&jwt.header.alg)
        .ok_or_else(|| AssertionAlgorithm::refused(&jwt.header.alg))?;
    let jwk = keys
        .key(iss, jwt.header.kid.as_deref(), alg)
        .await
        .map_err(|e| match e {
            KeyError::Unreachable(cause) => {
                Code::FicIssuerUnreachable.aadsts(&[("iss", &iss), ("cause", &cause)])
            }
            KeyError::UnknownKey(why) => Code::FicUnknownKey.aadsts(&[("why", &why)]),
        })?;
    if !verify_signature(&jwk, alg, jwt.signing_input, &jwt.signature) {
        return Err(
            Code::FicSignature.aadsts(&[("iss", &iss), ("kid", &jwk.kid.as_deref().unwrap_or(""))])
        );
    }
    fa::decide(fics, &jwt.claims, now.secs()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_ca_errors_name_the_variable_and_path() {
        let dir = std::env::temp_dir().join(format!("castellan-extra-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let missing = dir.join("missing.pem");
        let e = read_extra_cas(&missing).err().unwrap_or_default();
        assert!(e.contains(EXTRA_CA_ENV) && e.contains("missing.pem"), "{e}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap_or_default();
        let e = read_extra_cas(&empty).err().unwrap_or_default();
        assert!(
            e.contains("no PEM certificate") && e.contains("empty.pem"),
            "{e}"
        );
        let garbage = dir.join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap_or_default();
        let e = read_extra_cas(&garbage).err().unwrap_or_default();
        assert!(e.contains("garbage.pem"), "{e}");
        let ca = rcgen::CertificateParams::new(Vec::<String>::new())
            .and_then(|mut p| {
                p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                let k = rcgen::KeyPair::generate()?;
                p.self_signed(&k)
            })
            .map(|c| c.pem())
            .unwrap_or_default();
        let good = dir.join("good.pem");
        std::fs::write(&good, format!("{ca}{ca}")).unwrap_or_default();
        assert_eq!(read_extra_cas(&good).map(|v| v.len()), Ok(2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
