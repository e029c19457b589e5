//! TLS: a local CA generated on first start (`<data-dir>/tls/ca.pem`, key 0600) and a server
//! certificate for localhost, 127.0.0.1, ::1 and configured host names, re-issued each start.
//! Clients trust the CA via `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE` or `NODE_EXTRA_CA_CERTS`.

use std::path::Path;
use std::sync::Arc;

use castellan_core::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::keys::{anyhow_lite, time_from, write_secret_file};

/// Loads or creates the CA, issues the server certificate and returns the rustls config.
pub fn server_config(
    data_dir: &Path,
    hostnames: &[String],
    now: Timestamp,
) -> anyhow_lite::Result<Arc<rustls::ServerConfig>> {
    let dir = data_dir.join("tls");
    let (ca_pem_path, ca_key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
    let e = |m: String| anyhow_lite::err(m);
    // The CA's parameters are fixed, so the issuer can be rebuilt from them and the saved key.
    let ca_params = || -> anyhow_lite::Result<CertificateParams> {
        let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|x| e(x.to_string()))?;
        p.distinguished_name
            .push(DnType::CommonName, "Castellan local CA");
        p.distinguished_name
            .push(DnType::OrganizationName, "Castellan");
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.not_before = time_from(now.plus_secs(-3600));
        p.not_after = time_from(now.plus_secs(10 * 365 * 24 * 3600));
        Ok(p)
    };
    let ca_key = if ca_key_path.exists() && ca_pem_path.exists() {
        let pem = std::fs::read_to_string(&ca_key_path)
            .map_err(|x| e(format!("cannot read {}: {x}", ca_key_path.display())))?;
        KeyPair::from_pem(&pem)
            .map_err(|x| e(format!("{} is not a valid key: {x}", ca_key_path.display())))?
    } else {
        let key = KeyPair::generate().map_err(|x| e(x.to_string()))?;
        let cert = ca_params()?
            .self_signed(&key)
            .map_err(|x| e(x.to_string()))?;
        write_secret_file(&ca_key_path, key.serialize_pem().as_bytes())?;
        std::fs::write(&ca_pem_path, cert.pem())
            .map_err(|x| e(format!("cannot write {}: {x}", ca_pem_path.display())))?;
        key
    };
    let ca_pem = std::fs::read_to_string(&ca_pem_path)
        .map_err(|x| e(format!("cannot read {}: {x}", ca_pem_path.display())))?;
    let issuer = Issuer::new(ca_params()?, ca_key);

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    names.extend(hostnames.iter().cloned());
    let key = KeyPair::generate().map_err(|x| e(x.to_string()))?;
    let mut p = CertificateParams::new(names).map_err(|x| e(x.to_string()))?;
    p.distinguished_name.push(DnType::CommonName, "Castellan");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Name the CA by its key too (authority key identifier = the CA's subject key identifier):
    // every Castellan CA has the same subject, so a client trusting two of them (a dev and a CI
    // server in one bundle) must pick the issuer by key, not by name.
    p.use_authority_key_identifier_extension = true;
    p.not_before = time_from(now.plus_secs(-3600));
    p.not_after = time_from(now.plus_secs(365 * 24 * 3600));
    let cert = p.signed_by(&key, &issuer).map_err(|x| e(x.to_string()))?;
    let leaf = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
    let ca_der = rustls::pki_types::pem::PemObject::from_pem_slice(ca_pem.as_bytes())
        .map_err(|x| e(format!("CA PEM: {x}")))?;
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|x| e(x.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![leaf, ca_der], key_der)
        .map_err(|x| e(format!("TLS configuration: {x}")))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
