//! Key rotation: publish first, sign later, keep validating old tokens.

use base64::Engine;
use serde_json::{json, Value};

use crate::{http, shared, G};

fn kid(jwt: &str) -> String {
    let h: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    h["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn rotation_publishes_the_next_key_before_it_signs() {
    let s = shared();
    let tid = s.demo["tenant_id"].as_str().unwrap();
    let jwks = |origin: String| async move {
        let v: Value = http()
            .get(format!("{origin}/{tid}/discovery/v2.0/keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let before = jwks(s.origin.clone()).await;
    let old = G::demo().await;
    let r = http()
        .post(format!("{}/operator/v1/keys/rotate", s.origin))
        .bearer_auth(&s.operator_key)
        .json(&json!({"activateAfterSeconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let next: Value = r.json().await.unwrap();
    let after = jwks(s.origin.clone()).await;
    assert!(
        after.contains(&next["kid"].as_str().unwrap().to_string()),
        "the next key is published at once"
    );
    assert!(before.iter().all(|k| after.contains(k)));
    let fresh = G::demo().await;
    assert_ne!(
        kid(&fresh.token),
        next["kid"].as_str().unwrap(),
        "the next key does not sign before its time"
    );
    assert_eq!(old.get("/organization").await.0, 200);
}
