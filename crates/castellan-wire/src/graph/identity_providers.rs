//! `/identity/identityProviders`: Graph's `openIdConnectIdentityProvider` (displayName,
//! clientId, clientSecret — write-only, read back as `****` —, metadataUrl, scope,
//! responseType, responseMode, claimsMapping) plus the `issuer` it is trusted for (from
//! `oidcIdentityProvider`) and the email `domains` it serves (`[{"id": "fabrikam.com"}]`, as
//! `samlOrWsFedExternalDomainFederation` lists them). The stored document is the rendered view
//! plus the sealed secret; the Graph view is always rendered from the parsed provider, so the
//! sealed secret never leaves. Also the external provider's ID token and discovery document.

use castellan_core::external_idp::{
    self as idp, ClaimsMapping, IdTokenClaims, OidcProvider, DEFAULT_SCOPE, ODATA_TYPE,
    RESPONSE_TYPE,
};
use castellan_core::model::PolicyDocument;
use castellan_core::{ObjectId, TenantId};
use serde_json::{json, Map, Value};

use super::check_object;
use crate::errors::GraphError;

/// What a read returns in place of the secret (Entra's mask).
pub const SECRET_MASK: &str = "****";
const TYPE: &str = "openIdConnectIdentityProvider";
const SEALED: &str = "clientSecretSealed";
const ALLOWED: &[&str] = &[
    "displayName",
    "clientId",
    "clientSecret",
    "issuer",
    "metadataUrl",
    "wellKnownEndpoint",
    "scope",
    "responseType",
    "responseMode",
    "claimsMapping",
    "domains",
    "domainHint",
];

fn bad(m: impl Into<String>) -> GraphError {
    GraphError::bad_request(m)
}

fn text(obj: &Map<String, Value>, k: &str) -> Result<Option<String>, GraphError> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(bad(format!(
            "Invalid value for property '{k}': expected a string."
        ))),
    }
}

/// A parsed body: the provider (its `client_secret_sealed` empty) and the plain secret, if the
/// body set one.
pub type Parsed = (OidcProvider, Option<String>);

/// Parses a create body, or a stored view with a PATCH merged onto it, for provider `id`.
pub fn parse(body: &Value, id: ObjectId, tenant: TenantId) -> Result<Parsed, GraphError> {
    let obj = check_object(body, TYPE, ALLOWED, &["id"])?;
    if let Some(t) = obj.get("@odata.type").and_then(Value::as_str) {
        if !t
            .trim_start_matches('#')
            .eq_ignore_ascii_case(ODATA_TYPE.trim_start_matches('#'))
        {
            return Err(bad(format!("'@odata.type' value '{t}' is not supported: only '{ODATA_TYPE}' (an external OpenID Connect provider for guests) can be configured here.")));
        }
    }
    let required = |k: &str, what: &str| -> Result<String, GraphError> {
        text(obj, k)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad(format!("Property '{k}' is required: {what}.")))
    };
    let display_name = required("displayName", "the name guests see on the sign-in button")?;
    let client_id = required(
        "clientId",
        "the client id of this tenant's registration at the provider",
    )?;
    let issuer = required(
        "issuer",
        "the provider's issuer identifier, exactly as its discovery document states it",
    )?;
    let metadata_url = match (text(obj, "metadataUrl")?, text(obj, "wellKnownEndpoint")?) {
        (Some(a), Some(b)) if a != b => {
            return Err(bad("Properties 'metadataUrl' and 'wellKnownEndpoint' name the same discovery document; give one, or both equal."))
        }
        (Some(a), _) | (None, Some(a)) if !a.is_empty() => a,
        _ => idp::default_metadata_url(&issuer),
    };
    let scope = text(obj, "scope")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SCOPE.to_string());
    let response_type = text(obj, "responseType")?.unwrap_or_else(|| RESPONSE_TYPE.to_string());
    if let Some(m) = text(obj, "responseMode")? {
        if m != "query" {
            return Err(bad(format!("Property 'responseMode' value '{m}' is not supported: only 'query' is (the code comes back in the redirect's query).")));
        }
    }
    let mut claims = ClaimsMapping::default();
    match obj.get("claimsMapping") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for k in m.keys() {
                if !k.starts_with("@odata.")
                    && !["userId", "email", "displayName", "givenName", "surname"]
                        .contains(&k.as_str())
                {
                    return Err(bad(format!("Property 'claimsMapping.{k}' does not exist: use userId, email, displayName, givenName or surname.")));
                }
            }
            if let Some(v) = text(m, "userId")? {
                claims.user_id = v;
            }
            if let Some(v) = text(m, "email")? {
                claims.email = v;
            }
            if let Some(v) = text(m, "displayName")? {
                claims.display_name = v;
            }
        }
        Some(_) => {
            return Err(bad(
                "Invalid value for property 'claimsMapping': expected an object.",
            ))
        }
    }
    let domains = match obj.get("domains") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|d| {
                d.get("id")
                    .and_then(Value::as_str)
                    .map(|s| s.trim().to_ascii_lowercase())
                    .ok_or_else(|| {
                        bad("Each of 'domains' must be an object {\"id\": \"fabrikam.com\"}.")
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad(
            "Invalid value for property 'domains': expected an array of {\"id\": \"<domain>\"}.",
        )),
    };
    let secret = text(obj, "clientSecret")?.filter(|s| s != SECRET_MASK);
    if secret
        .as_ref()
        .is_some_and(|s| s.is_empty() || s.len() > 1024)
    {
        return Err(bad(
            "Property 'clientSecret' must hold 1 to 1024 characters.",
        ));
    }
    Ok((
        OidcProvider {
            id,
            tenant_id: tenant,
            display_name,
            client_id,
            client_secret_sealed: String::new(),
            issuer,
            metadata_url,
            scope,
            response_type,
            claims,
            domains,
        },
        secret,
    ))
}

/// The Graph view: the secret masked (or absent when none is set), never the sealed value.
pub fn render(p: &OidcProvider) -> Value {
    json!({
        "@odata.type": ODATA_TYPE,
        "id": p.id.to_string(),
        "displayName": p.display_name,
        "clientId": p.client_id,
        "clientSecret": if p.client_secret_sealed.is_empty() { Value::Null } else { Value::String(SECRET_MASK.into()) },
        "issuer": p.issuer,
        "metadataUrl": p.metadata_url,
        "scope": p.scope,
        "responseType": p.response_type,
        "responseMode": "query",
        "claimsMapping": {
            "userId": p.claims.user_id,
            "email": p.claims.email,
            "displayName": p.claims.display_name,
        },
        "domains": p.domains.iter().map(|d| json!({"@odata.type": "#microsoft.graph.externalDomainName", "id": d})).collect::<Vec<_>>(),
    })
}

/// The stored document: the view plus the sealed secret.
pub fn to_document(p: &OidcProvider) -> String {
    let mut v = render(p);
    if let Some(o) = v.as_object_mut() {
        o.insert(SEALED.into(), Value::String(p.client_secret_sealed.clone()));
    }
    v.to_string()
}

/// Reads a stored document back.
pub fn from_document(d: &PolicyDocument) -> Result<OidcProvider, String> {
    let mut v: Value = serde_json::from_str(&d.document)
        .map_err(|e| format!("stored identity provider {} is unreadable: {e}", d.id))?;
    let sealed = v
        .get(SEALED)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(o) = v.as_object_mut() {
        o.remove(SEALED);
        o.remove("clientSecret");
        o.remove("id");
    }
    let (mut p, _) = parse(&v, d.id, d.tenant_id)
        .map_err(|e| format!("stored identity provider {}: {}", d.id, e.message))?;
    p.client_secret_sealed = sealed;
    Ok(p)
}

/// The members of an OpenID Provider's discovery document the external sign-in uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpMetadata {
    /// `issuer`.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `token_endpoint_auth_methods_supported`.
    pub token_auth_methods: Option<Vec<String>>,
    /// `code_challenge_methods_supported`.
    pub code_challenge_methods: Option<Vec<String>>,
}

/// Parses a discovery document; the error names the missing member.
pub fn parse_op_metadata(body: &[u8]) -> Result<OpMetadata, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the discovery document is not JSON ({e})"))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("the discovery document has no string '{k}'"))
    };
    let list = |k: &str| {
        v.get(k).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
    };
    Ok(OpMetadata {
        issuer: field("issuer")?,
        authorization_endpoint: field("authorization_endpoint")?,
        token_endpoint: field("token_endpoint")?,
        jwks_uri: field("jwks_uri")?,
        token_auth_methods: list("token_endpoint_auth_methods_supported"),
        code_challenge_methods: list("code_challenge_methods_supported"),
    })
}

/// An ID token split and its claims picked by `m`, not yet verified: (`alg`, `kid`, claims,
/// signing input, signature).
pub type UnverifiedIdToken<'a> = (String, Option<String>, IdTokenClaims, &'a str, Vec<u8>);

/// Splits an ID token (bounded by `jwt::split`) and reads the claims `m` names.
pub fn parse_id_token<'a>(
    token: &'a str,
    m: &ClaimsMapping,
) -> Result<UnverifiedIdToken<'a>, String> {
    let j = crate::jwt::split(token.trim()).map_err(|e| e.to_string())?;
    if j.signature.is_empty() {
        return Err("the ID token is unsigned".into());
    }
    let alg = j
        .header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or("the ID token's header has no alg")?
        .to_string();
    let kid = j
        .header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let p = &j.payload;
    let s = |k: &str| match p.get(k) {
        Some(Value::String(v)) => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let num = |k: &str| {
        p.get(k)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
    };
    let aud = match p.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    };
    let email_verified = match p.get("email_verified") {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(t)) => Some(!t.eq_ignore_ascii_case("false")),
        _ => None,
    };
    let claims = IdTokenClaims {
        iss: s("iss"),
        aud,
        azp: s("azp"),
        exp: num("exp"),
        iat: num("iat"),
        nonce: s("nonce"),
        user_id: s(&m.user_id),
        email: s(&m.email),
        email_verified,
        display_name: s(&m.display_name),
    };
    Ok((alg, kid, claims, j.signing_input, j.signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        json!({
            "@odata.type": ODATA_TYPE,
            "displayName": "Fabrikam",
            "clientId": "cid",
            "clientSecret": "s3cret",
            "issuer": "https://op.example",
            "domains": [{"id": "Fabrikam.example"}],
        })
    }

    #[test]
    fn parse_fills_defaults_and_render_masks_the_secret() {
        let id = ObjectId::from_random([1; 16]);
        let t = TenantId::from_random([2; 16]);
        let (mut p, secret) = parse(&body(), id, t).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(secret.as_deref(), Some("s3cret"));
        assert_eq!(
            p.metadata_url,
            "https://op.example/.well-known/openid-configuration"
        );
        assert_eq!(p.scope, DEFAULT_SCOPE);
        assert_eq!(p.domains, vec!["fabrikam.example".to_string()]);
        p.client_secret_sealed = "SEALED-BLOB".into();
        let v = render(&p);
        assert_eq!(v["clientSecret"], SECRET_MASK);
        assert!(!v.to_string().contains("SEALED-BLOB"));
        let doc = PolicyDocument {
            id,
            tenant_id: t,
            kind: castellan_core::model::PolicyDocumentKind::IdentityProvider,
            display_name: p.display_name.clone(),
            document: to_document(&p),
            created: castellan_core::Timestamp(0),
            modified: castellan_core::Timestamp(0),
        };
        assert_eq!(from_document(&doc), Ok(p));
    }

    #[test]
    fn unknown_properties_and_types_are_refused() {
        let id = ObjectId::from_random([1; 16]);
        let t = TenantId::from_random([2; 16]);
        let mut b = body();
        b["color"] = json!("red");
        assert!(parse(&b, id, t).is_err());
        let mut b = body();
        b["@odata.type"] = json!("#microsoft.graph.socialIdentityProvider");
        assert!(parse(&b, id, t).is_err());
        let mut b = body();
        b["responseMode"] = json!("form_post");
        assert!(parse(&b, id, t).is_err());
        let mut b = body();
        b["claimsMapping"] = json!({"nickname": "x"});
        assert!(parse(&b, id, t).is_err());
        let mut b = body();
        b.as_object_mut().map(|o| o.remove("issuer"));
        assert!(parse(&b, id, t).is_err());
    }

    #[test]
    fn id_token_claims_follow_the_mapping() {
        use base64::Engine;
        let e = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let tok = format!(
            "{}.{}.c2ln",
            e(&json!({"alg": "RS256", "kid": "k1"})),
            e(
                &json!({"iss": "https://op.example", "aud": "cid", "exp": 10, "oid": "u-1", "mail": "a@b.example", "email_verified": "false"})
            )
        );
        let m = ClaimsMapping {
            user_id: "oid".into(),
            email: "mail".into(),
            display_name: "name".into(),
        };
        let (alg, kid, c, _, sig) = parse_id_token(&tok, &m).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((alg.as_str(), kid.as_deref()), ("RS256", Some("k1")));
        assert_eq!(c.user_id.as_deref(), Some("u-1"));
        assert_eq!(c.email.as_deref(), Some("a@b.example"));
        assert_eq!(c.email_verified, Some(false));
        assert_eq!(c.aud, vec!["cid".to_string()]);
        assert_eq!(sig, b"sig".to_vec());
    }
}
