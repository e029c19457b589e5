//! Redirect URI matching at authorize time: byte-for-byte against the URIs registered for the
//! right platform; the only freedom is the port of a loopback `http` redirect for public
//! (native) clients (RFC 8252 §7.3). A mismatch is AADSTS50011 and never redirects.

use crate::error::{AadstsError, Code};
use crate::model::Application;

/// Which platform a matched redirect URI is registered under (decides PKCE and token rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// `web`: confidential clients.
    Web,
    /// `spa`: browser apps; PKCE required, refresh tokens live 24 h.
    Spa,
    /// `publicClient`: native/mobile apps; PKCE required.
    PublicClient,
}

fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            authority
        }
    });
    matches!(host, "localhost" | "127.0.0.1" | "[::1]").then_some((host, path))
}

/// A URI in RFC 3986 §6.2.2–6.2.3 normal form for comparison: scheme and host lower case, the
/// scheme's default port dropped, an empty `http(s)` path written `/`. `http://localhost:PORT`
/// and `http://localhost:PORT/` are the same URL (openid-client always sends the slash).
pub fn normalize_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let scheme = scheme.to_ascii_lowercase();
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut authority = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    if let Some(p) = default_port {
        if let Some(a) = authority.strip_suffix(p) {
            authority = a.to_string();
        }
    }
    let tail = if default_port.is_some() && !tail.starts_with('/') {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    format!("{scheme}://{authority}{tail}")
}

/// Whether two redirect URIs are the same URL after [`normalize_uri`] (the token endpoint's
/// check that `redirect_uri` repeats the authorize request's, RFC 6749 §4.1.3).
pub fn same_redirect_uri(a: &str, b: &str) -> bool {
    a == b || normalize_uri(a) == normalize_uri(b)
}

/// Finds the registration `uri` matches, or explains the mismatch (AADSTS50011).
pub fn match_redirect_uri(app: &Application, uri: &str) -> Result<Platform, AadstsError> {
    for (platform, list) in [
        (Platform::Web, &app.web_redirect_uris),
        (Platform::Spa, &app.spa_redirect_uris),
        (Platform::PublicClient, &app.public_client_redirect_uris),
    ] {
        if list.iter().any(|r| r == uri) {
            return Ok(platform);
        }
    }
    if let Some((host, path)) = loopback_parts(uri) {
        let flexible = app
            .public_client_redirect_uris
            .iter()
            .any(|r| loopback_parts(r) == Some((host, path)));
        if flexible {
            return Ok(Platform::PublicClient);
        }
    }
    Err(Code::RedirectUriMismatch.aadsts(&[("uri", &uri), ("app_id", &app.app_id)]))
}

#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) use super::tests::app;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::SignInAudience;
    use crate::{AppId, ObjectId, TenantId, Timestamp};

    pub(crate) fn app() -> Application {
        Application {
            id: ObjectId::from_random([1; 16]),
            app_id: AppId::from_random([2; 16]),
            tenant_id: TenantId::from_random([3; 16]),
            display_name: "a".into(),
            sign_in_audience: SignInAudience::AzureAdMyOrg,
            identifier_uris: vec![],
            web_redirect_uris: vec!["https://app.example/cb".into()],
            spa_redirect_uris: vec!["https://spa.example/".into()],
            public_client_redirect_uris: vec![
                "http://localhost".into(),
                "http://127.0.0.1/native".into(),
                "msal123://auth".into(),
            ],
            is_fallback_public_client: true,
            required_resource_access: vec![],
            oauth2_permission_scopes: vec![],
            app_roles: vec![],
            password_credentials: vec![],
            key_credentials: vec![],
            requested_access_token_version: None,
            group_membership_claims: None,
            optional_claims: vec![],
            federated_identity_credentials: vec![],
            created: Timestamp(0),
        }
    }

    #[test]
    fn exact_match_per_platform() {
        let a = app();
        assert_eq!(
            match_redirect_uri(&a, "https://app.example/cb").ok(),
            Some(Platform::Web)
        );
        assert_eq!(
            match_redirect_uri(&a, "https://spa.example/").ok(),
            Some(Platform::Spa)
        );
        assert_eq!(
            match_redirect_uri(&a, "msal123://auth").ok(),
            Some(Platform::PublicClient)
        );
        for bad in [
            "https://app.example/cb/",
            "https://app.example/CB",
            "https://APP.example/cb",
            "http://app.example/cb",
            "https://app.example:443/cb",
            "https://app.example/cb?x=1",
            "https://spa.example",
            "https://app.example/cb#f",
            "https://evil.example/cb",
            "http://localhost.evil.example",
        ] {
            assert_eq!(
                match_redirect_uri(&a, bad).err().map(|e| e.code),
                Some(50011),
                "{bad}"
            );
        }
    }

    #[test]
    fn loopback_port_is_free_for_public_clients_only() {
        let a = app();
        assert_eq!(
            match_redirect_uri(&a, "http://localhost:53127").ok(),
            Some(Platform::PublicClient)
        );
        assert_eq!(
            match_redirect_uri(&a, "http://127.0.0.1:8400/native").ok(),
            Some(Platform::PublicClient)
        );
        assert!(
            match_redirect_uri(&a, "http://127.0.0.1:8400/other").is_err(),
            "the path must still match"
        );
        assert!(match_redirect_uri(&a, "http://localhost:53127/extra").is_err());
        let mut web_only = app();
        web_only.public_client_redirect_uris.clear();
        web_only
            .web_redirect_uris
            .push("http://localhost:3000/cb".into());
        assert!(
            match_redirect_uri(&web_only, "http://localhost:3001/cb").is_err(),
            "web loopback redirects match exactly"
        );
    }

    #[test]
    fn redirect_uris_compare_after_normalisation() {
        assert!(same_redirect_uri(
            "http://localhost:53123",
            "http://localhost:53123/"
        ));
        assert!(same_redirect_uri(
            "HTTP://LocalHost:53123/",
            "http://localhost:53123"
        ));
        assert!(same_redirect_uri(
            "https://app.example:443/cb",
            "https://app.example/cb"
        ));
        assert!(same_redirect_uri(
            "http://localhost?x=1",
            "http://localhost/?x=1"
        ));
        assert!(!same_redirect_uri(
            "http://localhost:53123",
            "http://localhost:53124/"
        ));
        assert!(!same_redirect_uri(
            "https://app.example/cb",
            "https://app.example/cb/"
        ));
        assert!(!same_redirect_uri(
            "https://app.example/CB",
            "https://app.example/cb"
        ));
    }
}
