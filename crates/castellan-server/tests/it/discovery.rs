//! Discovery and JWKS.

use crate::{http, shared};
use serde_json::Value;

#[tokio::test]
async fn discovery_by_guid_domain_and_alias() {
    let s = shared();
    let tid = s.demo["tenant_id"].as_str().unwrap();
    let domain = s.demo["domain"].as_str().unwrap().to_uppercase();
    for seg in [tid.to_string(), domain] {
        let v: Value = http()
            .get(format!(
                "{}/{seg}/v2.0/.well-known/openid-configuration",
                s.origin
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["issuer"], format!("{}/{tid}/v2.0", s.origin));
        assert_eq!(
            v["token_endpoint"],
            format!("{}/{tid}/oauth2/v2.0/token", s.origin)
        );
        assert_eq!(
            v["jwks_uri"],
            format!("{}/{tid}/discovery/v2.0/keys", s.origin)
        );
    }
    let v: Value = http()
        .get(format!(
            "{}/organizations/v2.0/.well-known/openid-configuration",
            s.origin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["issuer"], format!("{}/{{tenantid}}/v2.0", s.origin));
}

#[tokio::test]
async fn localhost_origin_is_honoured_but_foreign_host_is_not() {
    let s = shared();
    let tid = s.demo["tenant_id"].as_str().unwrap();
    let port = s.origin.rsplit(':').next().unwrap();
    let v: Value = http()
        .get(format!(
            "{}/{tid}/v2.0/.well-known/openid-configuration",
            s.origin
        ))
        .header("Host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["issuer"], format!("https://localhost:{port}/{tid}/v2.0"));
    let v: Value = http()
        .get(format!(
            "{}/{tid}/v2.0/.well-known/openid-configuration",
            s.origin
        ))
        .header("Host", "evil.example:443")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["issuer"],
        format!("{}/{tid}/v2.0", s.origin),
        "a foreign Host must not leak into the issuer"
    );
}

#[tokio::test]
async fn unknown_tenant_is_aadsts90002() {
    let s = shared();
    let r = http()
        .get(format!(
            "{}/nosuch.example/v2.0/.well-known/openid-configuration",
            s.origin
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_codes"][0], 90002);
}

#[tokio::test]
async fn jwks_publishes_kid_equal_to_x5t_with_cert() {
    let s = shared();
    let tid = s.demo["tenant_id"].as_str().unwrap();
    let v: Value = http()
        .get(format!("{}/{tid}/discovery/v2.0/keys", s.origin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = v["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        assert_eq!(k["kty"], "RSA");
        assert_eq!(k["use"], "sig");
        assert_eq!(k["kid"], k["x5t"]);
        assert_eq!(k["e"], "AQAB");
        assert!(k["n"].as_str().unwrap().len() > 300);
        assert!(k["x5c"][0].as_str().unwrap().len() > 500);
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let s = shared();
    assert_eq!(
        http()
            .get(format!("{}/healthz", s.origin))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http()
        .get(format!("{}/readyz", s.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
