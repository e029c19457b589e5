//! Token payloads and token-endpoint success bodies (Microsoft identity platform access token
//! claims reference: the v2.0 claim set, and the v1.0 one for resources that accept v1 tokens,
//! which include every Microsoft first-party resource).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::flow::{AccessTokenClaims, TokenFormat};
use serde_json::{json, Map, Value};

/// The issuer for a tenant on this server: `{origin}/{tid}/v2.0`.
pub fn issuer(origin: &str, tid: &str) -> String {
    format!("{origin}/{tid}/v2.0")
}

/// The v1 issuer matching a v2 one: `{origin}/{tid}/v2.0` → `{origin}/{tid}/` (this server's
/// counterpart of `https://sts.windows.net/{tid}/`).
pub fn v1_issuer(issuer_v2: &str) -> String {
    format!(
        "{}/",
        issuer_v2.trim_end_matches("/v2.0").trim_end_matches('/')
    )
}

/// Renders an access token's payload, in v2 or v1 shape (`c.format`). `issuer` is the v2
/// issuer; v1 tokens carry [`v1_issuer`].
pub fn access_token_payload(c: &AccessTokenClaims, issuer: &str) -> Value {
    if let TokenFormat::V1 { aud } = &c.format {
        return access_token_payload_v1(c, aud, &v1_issuer(issuer));
    }
    let mut m = Map::new();
    m.insert("aud".into(), json!(c.aud));
    m.insert("iss".into(), json!(issuer));
    m.insert("iat".into(), json!(c.iat.secs()));
    m.insert("nbf".into(), json!(c.nbf.secs()));
    m.insert("exp".into(), json!(c.exp.secs()));
    m.insert("azp".into(), json!(c.azp));
    m.insert("azpacr".into(), json!(c.azpacr.acr()));
    m.insert("idtyp".into(), json!(c.idtyp));
    m.insert("oid".into(), json!(c.oid.to_string()));
    if let Some(n) = &c.name {
        m.insert("name".into(), json!(n));
    }
    if let Some(p) = &c.preferred_username {
        m.insert("preferred_username".into(), json!(p));
    }
    if !c.roles.is_empty() {
        m.insert("roles".into(), json!(c.roles));
    }
    if let Some(scp) = &c.scp {
        m.insert("scp".into(), json!(scp));
    }
    if !c.wids.is_empty() {
        m.insert("wids".into(), json!(c.wids));
    }
    groups_into(&mut m, &c.groups, &c.oid.to_string());
    extra_into(&mut m, &c.extra);
    m.insert("sub".into(), json!(c.sub));
    m.insert("tid".into(), json!(c.tid.to_string()));
    m.insert("uti".into(), json!(c.uti));
    m.insert("ver".into(), json!("2.0"));
    Value::Object(m)
}

/// Optional and guest claims, not overriding a claim already set; `acct` is a number.
fn extra_into(m: &mut Map<String, Value>, extra: &[(String, String)]) {
    for (k, v) in extra {
        let value = match (k.as_str(), v.parse::<i64>()) {
            ("acct", Ok(n)) => json!(n),
            _ => json!(v),
        };
        m.entry(k.clone()).or_insert(value);
    }
}

fn access_token_payload_v1(c: &AccessTokenClaims, aud: &str, issuer: &str) -> Value {
    let mut m = Map::new();
    m.insert("aud".into(), json!(aud));
    m.insert("iss".into(), json!(issuer));
    m.insert("iat".into(), json!(c.iat.secs()));
    m.insert("nbf".into(), json!(c.nbf.secs()));
    m.insert("exp".into(), json!(c.exp.secs()));
    m.insert("appid".into(), json!(c.azp));
    m.insert("appidacr".into(), json!(c.azpacr.acr()));
    // `idp` is the issuer unless the subject comes from elsewhere (access token claims
    // reference); Entra writes it in app-only v1 tokens and leaves it out for member users.
    if c.scp.is_none() {
        m.insert("idp".into(), json!(issuer));
    }
    m.insert("idtyp".into(), json!(c.idtyp));
    m.insert("oid".into(), json!(c.oid.to_string()));
    if let Some(n) = &c.name {
        m.insert("name".into(), json!(n));
    }
    if let Some(p) = &c.preferred_username {
        m.insert("unique_name".into(), json!(p));
        m.insert("upn".into(), json!(p));
    }
    if !c.roles.is_empty() {
        m.insert("roles".into(), json!(c.roles));
    }
    if let Some(scp) = &c.scp {
        m.insert("scp".into(), json!(scp));
    }
    if !c.wids.is_empty() {
        m.insert("wids".into(), json!(c.wids));
    }
    groups_into(&mut m, &c.groups, &c.oid.to_string());
    amr_into(&mut m, &c.amr);
    extra_into(&mut m, &c.extra);
    m.insert("sub".into(), json!(c.sub));
    m.insert("tid".into(), json!(c.tid.to_string()));
    m.insert("uti".into(), json!(c.uti));
    m.insert("ver".into(), json!("1.0"));
    Value::Object(m)
}

/// Renders an ID token's payload.
pub fn id_token_payload(c: &castellan_core::flow::IdTokenClaims, issuer: &str) -> Value {
    let mut m = Map::new();
    m.insert("aud".into(), json!(c.aud));
    m.insert("iss".into(), json!(issuer));
    m.insert("iat".into(), json!(c.iat.secs()));
    m.insert("nbf".into(), json!(c.nbf.secs()));
    m.insert("exp".into(), json!(c.exp.secs()));
    if let Some(n) = &c.name {
        m.insert("name".into(), json!(n));
    }
    if let Some(n) = &c.nonce {
        m.insert("nonce".into(), json!(n));
    }
    m.insert("oid".into(), json!(c.oid.to_string()));
    if let Some(p) = &c.preferred_username {
        m.insert("preferred_username".into(), json!(p));
    }
    if let Some(e) = &c.email {
        m.insert("email".into(), json!(e));
    }
    m.insert("sub".into(), json!(c.sub));
    m.insert("tid".into(), json!(c.tid.to_string()));
    m.insert("uti".into(), json!(c.uti));
    m.insert("ver".into(), json!("2.0"));
    groups_into(&mut m, &c.groups, &c.oid.to_string());
    amr_into(&mut m, &c.amr);
    extra_into(&mut m, &c.extra);
    Value::Object(m)
}

/// `amr` (how the user authenticated) and `acr` (`"1"`: the user authenticated; Entra's
/// value for every user sign-in), when the token is a user's.
fn amr_into(m: &mut Map<String, Value>, amr: &[&'static str]) {
    if !amr.is_empty() {
        m.insert("amr".into(), json!(amr));
        m.insert("acr".into(), json!("1"));
    }
}

/// The `groups` claim, or the JWT overage indicator (`_claim_names` / `_claim_sources`
/// pointing at Graph's `getMemberObjects`) past 200 groups.
fn groups_into(m: &mut Map<String, Value>, g: &castellan_core::flow::GroupsClaim, oid: &str) {
    use castellan_core::flow::GroupsClaim;
    match g {
        GroupsClaim::Absent => {}
        GroupsClaim::List(ids) => {
            m.insert("groups".into(), json!(ids));
        }
        GroupsClaim::Overage => {
            m.insert("_claim_names".into(), json!({"groups": "src1"}));
            m.insert(
                "_claim_sources".into(),
                json!({"src1": {"endpoint": format!("https://graph.microsoft.com/v1.0/users/{oid}/getMemberObjects")}}),
            );
        }
    }
}

/// The token endpoint's success body for an access token without refresh or ID token.
pub fn token_response(access_token: &str, expires_in: i64) -> Value {
    json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    })
}

/// `client_info`: base64url JSON `{"uid","utid"}` (MSAL builds `home_account_id` from it).
pub fn client_info(uid: &str, utid: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({"uid": uid, "utid": utid}).to_string())
}

/// The claims a Graph or resource call needs from a validated access token.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct ValidatedClaims {
    /// Audience.
    pub aud: String,
    /// Issuer.
    pub iss: String,
    /// Tenant.
    pub tid: String,
    /// Expiry.
    pub exp: i64,
    /// Object id of the caller.
    pub oid: String,
    /// Client appId (v2 tokens).
    #[serde(default)]
    pub azp: Option<String>,
    /// Client appId (v1 tokens).
    #[serde(default)]
    pub appid: Option<String>,
    /// App roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Delegated scopes.
    #[serde(default)]
    pub scp: Option<String>,
    /// `app` or `user`.
    #[serde(default)]
    pub idtyp: Option<String>,
    /// Token version.
    #[serde(default)]
    pub ver: Option<String>,
    /// How the user authenticated (`pwd`, `mfa`, …).
    #[serde(default)]
    pub amr: Vec<String>,
    /// Authentication contexts satisfied.
    #[serde(default)]
    pub acrs: Vec<String>,
}

impl ValidatedClaims {
    /// The client's appId: `azp` in a v2 token, `appid` in a v1 token.
    pub fn client_app_id(&self) -> Option<&str> {
        self.azp.as_deref().or(self.appid.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_core::flow::{ClientAuthMethod, GroupsClaim};
    use castellan_core::{ObjectId, TenantId, Timestamp};

    #[test]
    fn app_only_payload_has_entra_v2_claims() {
        let c = AccessTokenClaims {
            aud: "00000003-0000-0000-c000-000000000000".into(),
            tid: TenantId::from_random([1; 16]),
            iat: Timestamp::from_secs(100),
            nbf: Timestamp::from_secs(100),
            exp: Timestamp::from_secs(3699),
            azp: "app".into(),
            azpacr: ClientAuthMethod::Secret,
            oid: ObjectId::from_random([2; 16]),
            sub: "s".into(),
            roles: vec!["User.Read.All".into()],
            scp: None,
            name: None,
            preferred_username: None,
            idtyp: "app",
            uti: "u".into(),
            format: TokenFormat::V2,
            wids: vec![],
            groups: GroupsClaim::Absent,
            extra: vec![],
            amr: vec![],
        };
        let p = access_token_payload(&c, "https://x/t/v2.0");
        let keys: Vec<&str> = p
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for k in [
            "aud", "iss", "iat", "nbf", "exp", "azp", "azpacr", "oid", "sub", "tid", "roles",
            "idtyp", "ver", "uti",
        ] {
            assert!(keys.contains(&k), "missing {k}");
        }
        assert_eq!(p["azpacr"], "1");
        assert_eq!(p["ver"], "2.0");
        assert_eq!(p["exp"], 3699);

        // The same claims in v1 shape: appid/appidacr, the v1 issuer, ver 1.0, no azp.
        let mut v1 = c.clone();
        v1.format = TokenFormat::V1 {
            aud: "https://graph.microsoft.com".into(),
        };
        v1.preferred_username = Some("u@x.test".into());
        let p = access_token_payload(&v1, "https://x/t/v2.0");
        assert_eq!(p["aud"], "https://graph.microsoft.com");
        assert_eq!(p["iss"], "https://x/t/");
        assert!(p.get("preferred_username").is_none());
        assert_eq!(p["idp"], "https://x/t/");
        assert_eq!(p["appid"], "app");
        assert_eq!(p["appidacr"], "1");
        assert_eq!(p["ver"], "1.0");
        assert_eq!(p["upn"], "u@x.test");
        assert!(p.get("azp").is_none() && p.get("azpacr").is_none());
        // App-only: no amr/acr.
        assert!(p.get("amr").is_none() && p.get("acr").is_none());

        // A user's v1 token says how the user authenticated; a v2 one does not (as Entra).
        v1.amr = vec!["pwd", "mfa"];
        let p = access_token_payload(&v1, "https://x/t/v2.0");
        assert_eq!(p["amr"], serde_json::json!(["pwd", "mfa"]));
        assert_eq!(p["acr"], "1");
        let mut v2 = c.clone();
        v2.amr = vec!["pwd"];
        let p = access_token_payload(&v2, "https://x/t/v2.0");
        assert!(p.get("amr").is_none() && p.get("acr").is_none());
    }

    #[test]
    fn the_client_is_azp_in_v2_and_appid_in_v1() {
        let parse = |v: serde_json::Value| -> ValidatedClaims {
            serde_json::from_value(v).expect("claims")
        };
        let base = serde_json::json!({"aud": "a", "iss": "i", "tid": "t", "exp": 1, "oid": "o"});
        let mut v2 = base.clone();
        v2["azp"] = "client-v2".into();
        assert_eq!(parse(v2).client_app_id(), Some("client-v2"));
        let mut v1 = base.clone();
        v1["appid"] = "client-v1".into();
        assert_eq!(parse(v1).client_app_id(), Some("client-v1"));
        assert_eq!(parse(base).client_app_id(), None);
    }
}
