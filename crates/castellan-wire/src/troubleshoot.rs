//! The access troubleshooter's answer on the wire (a Castellan extension,
//! `GET /v1.0/auditLogs/troubleshoot?correlationId=…`): each sign-in with that correlation id,
//! as Graph renders it, beside `core::troubleshoot`'s diagnosis.

use castellan_core::troubleshoot::{Diagnosis, Finding, TokenFacts};
use serde_json::{json, Value};

/// A finding: `{family, title, evidence, fix, consoleBlade}`.
pub fn render_finding(f: &Finding) -> Value {
    json!({
        "family": f.family.name(),
        "title": f.title,
        "evidence": f.evidence,
        "fix": f.fix,
        "consoleBlade": f.blade,
    })
}

/// A pasted JWT's header `kid` and payload (not verified: the server checks the signature),
/// or why it is not one.
pub fn split_token(token: &str) -> Result<(Option<String>, Value), String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let token = token.trim().trim_start_matches("Bearer ").trim();
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("the text is not a JWT (it has {} dot-separated parts, a JWT has 3): paste the access or ID token itself, e.g. from the Authorization header after 'Bearer '", parts.len()));
    }
    let part = |i: usize, what: &str| -> Result<Value, String> {
        let raw = parts.get(i).copied().unwrap_or_default();
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim_end_matches('='))
            .map_err(|_| format!("the token's {what} is not base64url"))?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("the token's {what} is not JSON"))?;
        if v.is_object() {
            Ok(v)
        } else {
            Err(format!("the token's {what} is not a JSON object"))
        }
    };
    let header = part(0, "header")?;
    let payload = part(1, "payload")?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((kid, payload))
}

/// What the troubleshooter reads of a token's claims.
pub fn token_facts(c: &Value) -> TokenFacts {
    let text = |k: &str| c[k].as_str().map(str::to_string);
    let list = |k: &str| -> Vec<String> {
        c[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    TokenFacts {
        iss: text("iss"),
        aud: match &c["aud"] {
            Value::String(a) => Some(a.clone()),
            Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_string),
            _ => None,
        },
        ver: text("ver"),
        tid: text("tid"),
        exp: c["exp"].as_i64(),
        nbf: c["nbf"].as_i64(),
        scopes: c["scp"]
            .as_str()
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        roles: list("roles"),
        wids: list("wids"),
    }
}

/// One entry: `{signIn, diagnosis: {family, title, fix, consoleBlade}}`.
pub fn render(sign_in: Value, d: &Diagnosis) -> Value {
    json!({
        "signIn": sign_in,
        "diagnosis": {
            "family": d.family.name(),
            "title": d.title,
            "fix": d.fix,
            "consoleBlade": d.blade,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_split_and_its_claims_read_and_garbage_is_named() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let t = format!(
            "{}.{}.sig",
            enc(json!({"alg": "RS256", "kid": "k1"})),
            enc(json!({"aud": "api", "scp": "a b", "roles": ["R"], "exp": 5, "ver": "2.0"}))
        );
        let (kid, c) = split_token(&format!("Bearer {t}")).unwrap();
        assert_eq!(kid.as_deref(), Some("k1"));
        let f = token_facts(&c);
        assert_eq!(f.scopes, vec!["a", "b"]);
        assert_eq!(
            (f.aud.as_deref(), f.exp, f.roles.len()),
            (Some("api"), Some(5), 1)
        );
        assert!(split_token("abc").unwrap_err().contains("not a JWT"));
        assert!(split_token("a.b.c").unwrap_err().contains("base64url"));
    }

    #[test]
    fn the_diagnosis_is_named_in_camel_case() {
        let v = render(
            json!({"id": "x"}),
            &castellan_core::troubleshoot::diagnose(50011),
        );
        assert_eq!(v["diagnosis"]["family"], "redirectUriMismatch");
        assert_eq!(v["diagnosis"]["consoleBlade"], "/admin/app-registrations");
        assert_eq!(v["signIn"]["id"], "x");
    }
}
