//! Scope parsing (Microsoft identity platform "scopes and permissions": `{resource}/{permission}`,
//! `/.default` for client credentials).
//!
//! Bounds, checked before anything else: a `scope` parameter is at most [`MAX_SCOPE_LEN`] bytes
//! and holds at most [`MAX_SCOPES`] values, each at most [`MAX_SCOPE_VALUE_LEN`] bytes
//! (AADSTS70011 naming the limit otherwise), so de-duplicating the permissions stays cheap.

use crate::error::AadstsError;

/// The longest accepted `scope` parameter, in bytes.
pub const MAX_SCOPE_LEN: usize = 8 * 1024;
/// The most space-separated values one `scope` parameter may hold (Microsoft Graph has a few
/// hundred delegated permissions in all; a real request names a handful).
pub const MAX_SCOPES: usize = 100;
/// The longest single scope value, in bytes (an identifier URI plus a permission name).
pub const MAX_SCOPE_VALUE_LEN: usize = 512;

/// Refuses a `scope` beyond [`MAX_SCOPE_LEN`], [`MAX_SCOPES`] or [`MAX_SCOPE_VALUE_LEN`].
pub fn check_bounds(scope: &str) -> Result<(), AadstsError> {
    if scope.len() > MAX_SCOPE_LEN {
        return Err(AadstsError::scope_over_limit(&format!(
            "The scope is {} bytes long; at most {MAX_SCOPE_LEN} are accepted.",
            scope.len()
        )));
    }
    let mut n = 0usize;
    for s in scope.split_whitespace() {
        n += 1;
        if s.len() > MAX_SCOPE_VALUE_LEN {
            let shown: String = s.chars().take(64).collect();
            return Err(AadstsError::scope_over_limit(&format!(
                "The scope value '{shown}…' is {} bytes long; at most {MAX_SCOPE_VALUE_LEN} are accepted.",
                s.len()
            )));
        }
    }
    if n > MAX_SCOPES {
        return Err(AadstsError::scope_over_limit(&format!(
            "The scope holds {n} values; at most {MAX_SCOPES} are accepted. Request fewer scopes, or '{{resource}}/.default' for every consented permission."
        )));
    }
    Ok(())
}

/// The resource named by a `{resource}/.default` scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultScope {
    /// The resource identifier exactly as requested (an App ID URI or an appId).
    pub resource: String,
}

/// Parses the `scope` of a client-credentials request: exactly one `{resource}/.default`.
pub fn parse_default_scope(scope: &str) -> Result<DefaultScope, AadstsError> {
    check_bounds(scope)?;
    let parts: Vec<&str> = scope.split_whitespace().collect();
    let [single] = parts.as_slice() else {
        if parts.is_empty() {
            return Err(AadstsError::missing_parameter("scope"));
        }
        return Err(AadstsError::invalid_scope(
            scope,
            "The client credentials flow takes exactly one scope, '{resource}/.default', for one resource.",
        ));
    };
    let Some(resource) = single.strip_suffix("/.default") else {
        return Err(AadstsError::invalid_scope(
            single,
            "For the client credentials flow the scope must be the resource identifier followed by '/.default', e.g. 'https://graph.microsoft.com/.default'.",
        ));
    };
    if resource.is_empty() {
        return Err(AadstsError::invalid_scope(
            single,
            "The resource identifier before '/.default' is empty.",
        ));
    }
    Ok(DefaultScope {
        resource: resource.to_string(),
    })
}

/// Whether a service principal name matches the requested resource identifier. App ID URIs
/// compare ignoring ASCII case and one trailing slash (`https://graph.microsoft.com//.default`).
pub fn resource_matches(spn: &str, requested: &str) -> bool {
    let norm = |s: &str| s.strip_suffix('/').unwrap_or(s).to_ascii_lowercase();
    norm(spn) == norm(requested)
}

/// The resource identifier with one of `graph_bases` (the server's own Graph base URLs, e.g.
/// `https://host:port/graph`) replaced by [`GRAPH_RESOURCE`]: a client that derives the token
/// resource from the Graph URL it was given (the Azure CLI uses its cloud's
/// `microsoftGraphResourceId` as both) names Microsoft Graph. Other identifiers are returned
/// unchanged.
pub fn canonical_graph_resource(resource: &str, graph_bases: &[String]) -> String {
    if graph_bases.iter().any(|b| resource_matches(b, resource)) {
        GRAPH_RESOURCE.to_string()
    } else {
        resource.to_string()
    }
}

/// A `scope` parameter with every `{own Graph base}/{permission}` (one or two slashes, as MSAL
/// builds `{resource}/.default` from a resource ending in `/`) rewritten to
/// `https://graph.microsoft.com/{permission}`; see [`canonical_graph_resource`].
pub fn canonical_graph_scopes(scope: &str, graph_bases: &[String]) -> String {
    let mut changed = false;
    let parts: Vec<String> = scope
        .split_whitespace()
        .map(|p| {
            let lower = p.to_ascii_lowercase();
            for b in graph_bases {
                let base = b.trim_end_matches('/').to_ascii_lowercase();
                if let Some(rest) = lower.strip_prefix(&base) {
                    if rest.starts_with('/') {
                        let perm = p.get(p.len() - rest.len()..).unwrap_or("");
                        changed = true;
                        return format!("{GRAPH_RESOURCE}/{}", perm.trim_start_matches('/'));
                    }
                }
            }
            p.to_string()
        })
        .collect();
    if changed {
        parts.join(" ")
    } else {
        scope.to_string()
    }
}

#[cfg(test)]
mod graph_alias_tests {
    use super::*;

    #[test]
    fn own_graph_base_names_graph() {
        let bases = vec!["https://127.0.0.1:8443/graph".to_string()];
        let check = |input: &str, expected: &str| {
            assert_eq!(canonical_graph_scopes(input, &bases), expected, "{input}");
        };
        check(
            "https://127.0.0.1:8443/graph//.default offline_access",
            "https://graph.microsoft.com/.default offline_access",
        );
        check(
            "https://127.0.0.1:8443/graph/.default",
            "https://graph.microsoft.com/.default",
        );
        check(
            "openid HTTPS://127.0.0.1:8443/Graph/User.Read",
            "openid https://graph.microsoft.com/User.Read",
        );
        // Not the Graph base: a sibling path, another port, ARM at the origin.
        check(
            "https://127.0.0.1:8443/graphx/.default",
            "https://127.0.0.1:8443/graphx/.default",
        );
        check(
            "https://127.0.0.1:9443/graph/.default",
            "https://127.0.0.1:9443/graph/.default",
        );
        check(
            "https://127.0.0.1:8443//.default",
            "https://127.0.0.1:8443//.default",
        );
        assert_eq!(
            canonical_graph_resource("https://127.0.0.1:8443/graph/", &bases),
            GRAPH_RESOURCE
        );
        assert_eq!(
            canonical_graph_resource("https://management.azure.com/", &bases),
            "https://management.azure.com/"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> u32 {
        parse_default_scope(s).err().map_or(0, |e| e.code)
    }

    #[test]
    fn default_scope_forms() {
        assert_eq!(
            parse_default_scope("https://graph.microsoft.com/.default")
                .ok()
                .map(|d| d.resource),
            Some("https://graph.microsoft.com".into())
        );
        assert_eq!(
            parse_default_scope("  api://x/.default ")
                .ok()
                .map(|d| d.resource),
            Some("api://x".into())
        );
        assert_eq!(
            parse_default_scope("https://graph.microsoft.com//.default")
                .ok()
                .map(|d| d.resource),
            Some("https://graph.microsoft.com/".into())
        );
        assert_eq!(code(""), 900144);
        assert_eq!(code("User.Read"), 70011);
        assert_eq!(code("https://graph.microsoft.com/User.Read"), 70011);
        assert_eq!(code("/.default"), 70011);
        assert_eq!(code("a/.default b/.default"), 70011);
    }

    #[test]
    fn resource_matching() {
        assert!(resource_matches(
            "https://graph.microsoft.com",
            "https://GRAPH.microsoft.com/"
        ));
        assert!(!resource_matches(
            "https://graph.microsoft.com",
            "https://graph.microsoft.co"
        ));
        assert!(!resource_matches("api://a", "api://a/b"));
    }
}

/// The OpenID Connect scopes (they name no resource).
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// A delegated (user) scope request: OIDC scopes plus permissions on at most one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegatedScopes {
    /// `openid`, `profile`, `email`, `offline_access` as requested.
    pub oidc: Vec<String>,
    /// The resource identifier (App ID URI or appId); Microsoft Graph when only bare or OIDC
    /// scopes were requested.
    pub resource: String,
    /// The permission values requested on it (empty with `.default`).
    pub permissions: Vec<String>,
    /// `{resource}/.default` was requested: every consented permission.
    pub default: bool,
    /// A scope named the resource (`{resource}/{permission}`); false when only bare or OIDC
    /// scopes were requested, which name Microsoft Graph implicitly.
    pub named_resource: bool,
}

impl DelegatedScopes {
    /// The resource identifier as the client requested it, for a v1 token's `aud`: the one a
    /// scope named, or Graph's appId when bare scopes named Graph implicitly (Entra answers
    /// `scope=User.Read` with `aud: 00000003-0000-0000-c000-000000000000`, and
    /// `https://graph.microsoft.com/User.Read` with `aud: https://graph.microsoft.com`).
    pub fn requested_resource(&self) -> String {
        if self.named_resource {
            self.resource.clone()
        } else {
            crate::ids::GRAPH_APP_ID.to_string()
        }
    }
}

/// The Graph resource identifier bare scopes (`User.Read`) refer to.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// Parses the `scope` of a delegated request (Microsoft identity platform "scopes and
/// permissions"): `{resource}/{permission}`, bare permissions meaning Graph, `.default`, and the
/// OIDC scopes. More than one resource is 700022 (the token endpoint issues for one resource).
pub fn parse_delegated(scope: &str) -> Result<DelegatedScopes, AadstsError> {
    check_bounds(scope)?;
    let mut oidc = Vec::new();
    let mut resource: Option<String> = None;
    let mut permissions = Vec::new();
    let mut default = false;
    let mut named_resource = false;
    let parts: Vec<&str> = scope.split_whitespace().collect();
    if parts.is_empty() {
        return Err(AadstsError::missing_parameter("scope"));
    }
    for p in parts {
        if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(p)) {
            let lower = p.to_ascii_lowercase();
            if !oidc.contains(&lower) {
                oidc.push(lower);
            }
            continue;
        }
        let (res, perm) = match p.rsplit_once('/') {
            Some((r, perm)) if !r.is_empty() => {
                named_resource = true;
                (r.to_string(), perm.to_string())
            }
            _ => (GRAPH_RESOURCE.to_string(), p.to_string()),
        };
        if perm.is_empty() {
            return Err(AadstsError::invalid_scope(p, "A scope must name a permission after the resource, e.g. 'api://my-api/access_as_user'."));
        }
        match &resource {
            Some(r) if !resource_matches(r, &res) => {
                return Err(crate::error::Code::ScopeSeveralResources
                    .aadsts(&[("first", &r), ("second", &res)]))
            }
            Some(_) => {}
            None => resource = Some(res),
        }
        if perm == ".default" {
            default = true;
        } else if !permissions
            .iter()
            .any(|x: &String| x.eq_ignore_ascii_case(&perm))
        {
            permissions.push(perm);
        }
    }
    if default && !permissions.is_empty() {
        return Err(AadstsError::invalid_scope(
            scope,
            "'.default' cannot be combined with other permissions on the same resource.",
        ));
    }
    let resource = resource.unwrap_or_else(|| GRAPH_RESOURCE.to_string());
    if permissions.is_empty() && !default {
        default = true;
    }
    Ok(DelegatedScopes {
        oidc,
        resource,
        permissions,
        default,
        named_resource,
    })
}

#[cfg(test)]
mod delegated_tests {
    use super::*;

    #[test]
    fn delegated_forms() {
        let d = parse_delegated("openid profile offline_access User.Read").unwrap();
        assert_eq!(d.oidc, vec!["openid", "profile", "offline_access"]);
        assert_eq!(d.resource, GRAPH_RESOURCE);
        assert_eq!(d.permissions, vec!["User.Read"]);
        assert!(!d.default);
        let d = parse_delegated(
            "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read",
        )
        .unwrap();
        assert_eq!(d.permissions, vec!["User.Read", "Mail.Read"]);
        let d = parse_delegated("api://my-api/.default openid").unwrap();
        assert_eq!((d.resource.as_str(), d.default), ("api://my-api", true));
        let d = parse_delegated("openid").unwrap();
        assert_eq!(
            (d.resource.as_str(), d.default),
            (GRAPH_RESOURCE, true),
            "OIDC-only means Graph with what was consented"
        );
        let code = |s: &str| parse_delegated(s).err().map(|e| e.code);
        assert_eq!(code("User.Read api://other/read"), Some(700022));
        assert_eq!(code("api://x/.default api://x/read"), Some(70011));
        assert_eq!(code(""), Some(900144));
        assert_eq!(code("api://x/"), Some(70011));
    }

    #[test]
    fn the_requested_resource_is_graphs_app_id_when_only_bare_scopes_name_it() {
        let graph = crate::ids::GRAPH_APP_ID.to_string();
        for bare in [
            "User.Read",
            "openid profile",
            "openid User.Read Mail.Read",
            ".default",
        ] {
            let d = parse_delegated(bare).unwrap();
            assert_eq!(d.resource, GRAPH_RESOURCE, "{bare}");
            assert_eq!(d.requested_resource(), graph, "{bare}");
        }
        for (named, want) in [
            (
                "https://graph.microsoft.com/User.Read",
                "https://graph.microsoft.com",
            ),
            (
                "User.Read https://graph.microsoft.com/Mail.Read",
                "https://graph.microsoft.com",
            ),
            (
                "https://management.core.windows.net//.default",
                "https://management.core.windows.net/",
            ),
            ("api://my-api/read openid", "api://my-api"),
        ] {
            assert_eq!(
                parse_delegated(named).unwrap().requested_resource(),
                want,
                "{named}"
            );
        }
    }
}

#[cfg(test)]
mod bounds_tests {
    use super::*;

    #[test]
    fn too_many_or_too_long_scopes_are_70011_naming_the_limit() {
        let many = (0..=MAX_SCOPES)
            .map(|i| format!("P{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        for r in [
            parse_delegated(&many).map(|_| ()),
            parse_default_scope(&many).map(|_| ()),
        ] {
            let e = r.unwrap_err();
            assert_eq!(e.code, 70011);
            assert!(e.message.contains("holds 101 values; at most 100"), "{e}");
        }
        let ok = (0..MAX_SCOPES)
            .map(|i| format!("P{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(parse_delegated(&ok).unwrap().permissions.len(), MAX_SCOPES);
        let long = "x".repeat(MAX_SCOPE_LEN + 1);
        assert!(parse_delegated(&long)
            .unwrap_err()
            .message
            .contains("8193 bytes long; at most 8192"));
        let one = format!("api://a/{}", "p".repeat(MAX_SCOPE_VALUE_LEN));
        assert!(parse_delegated(&one)
            .unwrap_err()
            .message
            .contains("at most 512"));
        // Whitespace alone is not a value.
        assert!(check_bounds(&" ".repeat(MAX_SCOPE_LEN)).is_ok());
    }
}
