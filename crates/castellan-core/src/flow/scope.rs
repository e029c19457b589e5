//! Scope parsing (Microsoft identity platform "scopes and permissions": `{resource}/{permission}`,
//! `/.default` for client credentials).

use crate::error::AadstsError;

/// The resource named by a `{resource}/.default` scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultScope {
    /// The resource identifier exactly as requested (an App ID URI or an appId).
    pub resource: String,
}

/// Parses the `scope` of a client-credentials request: exactly one `{resource}/.default`.
pub fn parse_default_scope(scope: &str) -> Result<DefaultScope, AadstsError> {
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
