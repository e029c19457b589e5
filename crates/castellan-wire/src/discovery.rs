//! OpenID Connect discovery and JWKS documents, with the fields Entra publishes.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

/// `/{tenant}/v2.0/.well-known/openid-configuration`. `tenant_segment` is the tenant GUID for a
/// real tenant (MSAL takes the tenant from `token_endpoint`'s first path segment), and
/// `issuer_tid` is the GUID or the literal `{tenantid}` for `common`/`organizations`.
pub fn openid_configuration(origin: &str, tenant_segment: &str, issuer_tid: &str) -> Value {
    let base = format!("{origin}/{tenant_segment}");
    json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        // The algorithms a `private_key_jwt` client assertion may be signed with (RFC 8414 §2;
        // MSAL signs PS256, older libraries RS256).
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{origin}/{issuer_tid}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{origin}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "castellan.local",
        "cloud_graph_host_name": "graph.windows.net",
        // Graph's base without the scheme: this server serves Graph under `/graph/`.
        "msgraph_host": format!("{}/graph", origin.trim_start_matches("https://")),
        "rbac_url": "https://pas.windows.net",
    })
}

/// One published RSA key.
#[derive(Clone, Debug)]
pub struct PublishedKey {
    /// `kid` (= `x5t`).
    pub kid: String,
    /// Modulus, big-endian.
    pub n: Vec<u8>,
    /// Exponent, big-endian.
    pub e: Vec<u8>,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
}

/// `/{tenant}/discovery/v2.0/keys`. Each key carries the issuer template it is valid for.
pub fn jwks(keys: &[PublishedKey], issuer_template: &str) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "kty": "RSA",
                "use": "sig",
                "kid": k.kid,
                "x5t": k.kid,
                "n": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&k.n)),
                "e": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&k.e)),
                "x5c": [STANDARD.encode(&k.cert_der)],
                "issuer": issuer_template,
            })
        })
        .collect();
    json!({ "keys": keys })
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b
        .iter()
        .position(|x| *x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    b.get(first..).unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_uses_tenant_guid_in_endpoints() {
        let d = openid_configuration("https://127.0.0.1:8443", "tid-1", "{tenantid}");
        assert_eq!(
            d["token_endpoint"],
            "https://127.0.0.1:8443/tid-1/oauth2/v2.0/token"
        );
        assert_eq!(d["issuer"], "https://127.0.0.1:8443/{tenantid}/v2.0");
        assert_eq!(
            d["jwks_uri"],
            "https://127.0.0.1:8443/tid-1/discovery/v2.0/keys"
        );
    }

    #[test]
    fn jwks_shape() {
        let j = jwks(
            &[PublishedKey {
                kid: "k".into(),
                n: vec![0, 1, 2],
                e: vec![1, 0, 1],
                cert_der: vec![9],
            }],
            "iss",
        );
        assert_eq!(j["keys"][0]["n"], "AQI");
        assert_eq!(j["keys"][0]["e"], "AQAB");
        assert_eq!(j["keys"][0]["x5t"], "k");
        assert_eq!(j["keys"][0]["x5c"][0], "CQ==");
    }

    #[test]
    fn discovery_announces_client_assertion_algorithms_and_graph() {
        let v = openid_configuration("https://id.example", "t", "t");
        assert_eq!(
            v["token_endpoint_auth_signing_alg_values_supported"],
            json!(["RS256", "PS256"])
        );
        assert_eq!(v["msgraph_host"], "id.example/graph");
    }
}
