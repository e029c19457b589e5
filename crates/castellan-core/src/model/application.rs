//! Application objects: the global blueprint of an app registration.

use crate::ids::{AppId, ObjectId, TenantId};
use crate::time::Timestamp;

/// Who may sign in to the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInAudience {
    /// Only the home tenant.
    AzureAdMyOrg,
    /// Any Entra tenant.
    AzureAdMultipleOrgs,
    /// Any Entra tenant and personal accounts (accepted, treated as multi-tenant).
    AzureAdAndPersonalMicrosoftAccount,
}

impl SignInAudience {
    /// Graph's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AzureAdMyOrg => "AzureADMyOrg",
            Self::AzureAdMultipleOrgs => "AzureADMultipleOrgs",
            Self::AzureAdAndPersonalMicrosoftAccount => "AzureADandPersonalMicrosoftAccount",
        }
    }
    /// Graph's spelling, case-insensitive.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "azureadmyorg" => Some(Self::AzureAdMyOrg),
            "azureadmultipleorgs" => Some(Self::AzureAdMultipleOrgs),
            "azureadandpersonalmicrosoftaccount" => Some(Self::AzureAdAndPersonalMicrosoftAccount),
            _ => None,
        }
    }
}

/// A permission the application asks for on a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceAccess {
    /// The scope or app role id.
    pub id: uuid::Uuid,
    /// `Scope` (delegated) or `Role` (application).
    pub kind: PermissionKind,
}

/// Delegated (`Scope`) or application (`Role`) permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermissionKind {
    /// Delegated permission.
    Scope,
    /// Application permission.
    Role,
}

impl PermissionKind {
    /// Graph's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scope => "Scope",
            Self::Role => "Role",
        }
    }
}

/// `requiredResourceAccess` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredResourceAccess {
    /// The resource application's appId.
    pub resource_app_id: AppId,
    /// The permissions.
    pub resource_access: Vec<ResourceAccess>,
}

/// A delegated permission an API exposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionScope {
    /// Id.
    pub id: uuid::Uuid,
    /// The scope value (`access_as_user`).
    pub value: String,
    /// `User` or `Admin` consent.
    pub consent_type: String,
    /// Enabled.
    pub is_enabled: bool,
    /// Admin consent display name.
    pub admin_consent_display_name: Option<String>,
    /// Admin consent description.
    pub admin_consent_description: Option<String>,
    /// User consent display name.
    pub user_consent_display_name: Option<String>,
    /// User consent description.
    pub user_consent_description: Option<String>,
}

/// An app role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRole {
    /// Id.
    pub id: uuid::Uuid,
    /// The value that appears in the `roles` claim.
    pub value: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// `User` and/or `Application`.
    pub allowed_member_types: Vec<String>,
    /// Enabled.
    pub is_enabled: bool,
}

impl AppRole {
    /// Whether a service principal (application permission) may hold this role.
    pub fn allows_applications(&self) -> bool {
        self.allowed_member_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("Application"))
    }
}

/// A client secret. The secret text itself is never stored, only its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordCredential {
    /// Key id.
    pub key_id: uuid::Uuid,
    /// Display name.
    pub display_name: Option<String>,
    /// First three characters of the secret.
    pub hint: String,
    /// SHA-256 of the secret text.
    pub secret_sha256: [u8; 32],
    /// Valid from.
    pub start: Timestamp,
    /// Valid until.
    pub end: Timestamp,
}

impl std::fmt::Debug for PasswordCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordCredential")
            .field("key_id", &self.key_id)
            .field("hint", &self.hint)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// A certificate credential (`keyCredentials`, type `AsymmetricX509Cert`, usage `Verify`): the
/// certificate's DER and its thumbprints, by which client assertions name it.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyCredential {
    /// Key id.
    pub key_id: uuid::Uuid,
    /// Display name.
    pub display_name: Option<String>,
    /// The X.509 certificate, DER.
    pub certificate_der: Vec<u8>,
    /// SHA-1 thumbprint (`x5t`, `customKeyIdentifier`).
    pub sha1: [u8; 20],
    /// SHA-256 thumbprint (`x5t#S256`).
    pub sha256: [u8; 32],
    /// Valid from, if set.
    pub start: Option<Timestamp>,
    /// Valid until, if set.
    pub end: Option<Timestamp>,
}

impl KeyCredential {
    /// Builds a credential from a certificate, computing its thumbprints.
    pub fn new(
        key_id: uuid::Uuid,
        display_name: Option<String>,
        certificate_der: Vec<u8>,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Self {
        use sha1::Digest;
        let sha1: [u8; 20] = sha1::Sha1::digest(&certificate_der).into();
        let sha256 = crate::secret::sha256(&certificate_der);
        Self {
            key_id,
            display_name,
            certificate_der,
            sha1,
            sha256,
            start,
            end,
        }
    }
    /// Whether the credential is valid at `now`.
    pub fn valid_at(&self, now: Timestamp) -> bool {
        self.start.is_none_or(|s| now >= s) && self.end.is_none_or(|e| now < e)
    }
}

impl std::fmt::Debug for KeyCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.sha1.iter().map(|b| format!("{b:02X}")).collect();
        f.debug_struct("KeyCredential")
            .field("key_id", &self.key_id)
            .field("thumbprint", &hex)
            .finish_non_exhaustive()
    }
}

/// Optional claims this server can add (`optionalClaims[].name`).
pub const OPTIONAL_CLAIMS: &[&str] = &["email", "upn", "given_name", "family_name", "login_hint"];

/// An application object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    /// Object id.
    pub id: ObjectId,
    /// Client id.
    pub app_id: AppId,
    /// Home tenant.
    pub tenant_id: TenantId,
    /// Display name.
    pub display_name: String,
    /// Who may sign in.
    pub sign_in_audience: SignInAudience,
    /// App ID URIs.
    pub identifier_uris: Vec<String>,
    /// Web redirect URIs.
    pub web_redirect_uris: Vec<String>,
    /// SPA redirect URIs.
    pub spa_redirect_uris: Vec<String>,
    /// Public client (mobile/desktop) redirect URIs.
    pub public_client_redirect_uris: Vec<String>,
    /// Allow public client flows (device code, ROPC).
    pub is_fallback_public_client: bool,
    /// Requested permissions.
    pub required_resource_access: Vec<RequiredResourceAccess>,
    /// Delegated permissions it exposes.
    pub oauth2_permission_scopes: Vec<PermissionScope>,
    /// App roles it defines.
    pub app_roles: Vec<AppRole>,
    /// Client secrets.
    pub password_credentials: Vec<PasswordCredential>,
    /// Certificate credentials.
    pub key_credentials: Vec<KeyCredential>,
    /// `api.requestedAccessTokenVersion`: the access-token format this API accepts (`None` and
    /// `1` mean v1, as in Entra; `2` means v2).
    pub requested_access_token_version: Option<u8>,
    /// `groupMembershipClaims`: `None` (absent), `SecurityGroup`, `All`, `DirectoryRole`,
    /// `ApplicationGroup`.
    pub group_membership_claims: Option<String>,
    /// `optionalClaims`: (`idToken` | `accessToken`, claim name).
    pub optional_claims: Vec<(String, String)>,
    /// `federatedIdentityCredentials`: external issuers' tokens this app accepts as its
    /// credential (rules in `flow::federated_assertion`).
    pub federated_identity_credentials: Vec<FederatedIdentityCredential>,
    /// Creation time.
    pub created: Timestamp,
}

/// Checks a redirect URI for registration (security.md: no wildcards, no fragments, https
/// except loopback, no dangerous schemes). `platform` is `web`, `spa` or `publicClient`.
pub fn validate_redirect_uri(uri: &str, platform: &str) -> Result<(), String> {
    if uri.len() > 256 {
        return Err(format!(
            "redirect URI '{uri}' is longer than 256 characters"
        ));
    }
    if uri.contains('*') {
        return Err(format!(
            "redirect URI '{uri}' contains a wildcard; register each URI exactly"
        ));
    }
    if uri.contains('#') {
        return Err(format!(
            "redirect URI '{uri}' contains a fragment ('#'), which is not allowed"
        ));
    }
    let lower = uri.to_ascii_lowercase();
    let Some((scheme, rest)) = lower.split_once("://") else {
        return Err(format!(
            "redirect URI '{uri}' is not an absolute URI (scheme://...)"
        ));
    };
    if ["javascript", "data", "file", "vbscript"].contains(&scheme) {
        return Err(format!(
            "redirect URI '{uri}' uses the scheme '{scheme}', which is not allowed"
        ));
    }
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!("redirect URI '{uri}' uses http on a non-loopback host; use https (http is only allowed for localhost)")),
        _ if platform == "publicClient" => Ok(()),
        _ => Err(format!("redirect URI '{uri}' uses the scheme '{scheme}', only allowed for publicClient redirect URIs")),
    }
}

/// Checks an App ID URI: absolute, no fragment or wildcard, `api://` or `https://` (or another scheme with `:`).
pub fn validate_identifier_uri(uri: &str) -> Result<(), String> {
    if uri.is_empty()
        || uri.len() > 255
        || uri.contains('*')
        || uri.contains('#')
        || !uri.contains(':')
    {
        return Err(format!(
            "identifierUri '{uri}' is not valid: use an absolute URI without wildcards or fragments, e.g. api://<appId>"
        ));
    }
    Ok(())
}

/// The key under which identifier URIs are unique (across all tenants) and matched against a
/// requested resource: ASCII case and one trailing slash ignored, as `flow::scope::resource_matches`.
pub fn identifier_uri_key(uri: &str) -> String {
    let t = uri.trim();
    t.strip_suffix('/').unwrap_or(t).to_ascii_lowercase()
}

/// Entra's message for an identifier URI outside the tenant's own names.
pub const IDENTIFIER_URI_DOMAIN_RULE: &str =
    "Values of identifierUris property must use a verified domain of the organization or its subdomain";

/// DNS names of Microsoft's first-party services: reserved, whatever a tenant has "verified".
const FIRST_PARTY_DOMAINS: &[&str] = &[
    "microsoft.com",
    "microsoftonline.com",
    "microsoftonline-p.com",
    "windows.net",
    "windows.com",
    "azure.com",
    "azure.net",
    "azure-api.net",
    "azurewebsites.net",
    "office.com",
    "office.net",
    "office365.com",
    "sharepoint.com",
    "live.com",
    "outlook.com",
    "dynamics.com",
    "powerbi.com",
    "visualstudio.com",
    "msauth.net",
    "msftauth.net",
    "microsoftazuread-sso.com",
];

fn on_domain(host: &str, domain: &str) -> bool {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    !d.is_empty()
        && (host == d
            || host
                .strip_suffix(d.as_str())
                .is_some_and(|p| p.ends_with('.')))
}

/// Whether an identifier URI names a Microsoft first-party service or a built-in resource of
/// the catalogue (`https://graph.microsoft.com`, `https://management.azure.com/`, …, or
/// `api://{built-in appId}`): those are reserved for customer applications.
pub fn is_reserved_identifier_uri(uri: &str) -> bool {
    let key = identifier_uri_key(uri);
    let host = key
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host);
    if FIRST_PARTY_DOMAINS.iter().any(|d| on_domain(host, d)) {
        return true;
    }
    crate::catalog::built_in_resources().iter().any(|b| {
        key == format!("api://{}", b.app_id)
            || b.service_principal_names.iter().any(|n| {
                let n = identifier_uri_key(n);
                n.contains("://") && (key == n || key.starts_with(&format!("{n}/")))
            })
    })
}

/// Entra's rules for *who may hold* an identifier URI ("Restrictions on identifier URIs of
/// Microsoft Entra applications"): besides `validate_identifier_uri`'s syntax, the URI must
/// carry a name only its holder can have —
/// - `api://{appId}[/…]` (the application's own appId), `api://{tenantId}/{string}` (its home
///   tenant's id), `api://{string}/{appId}`;
/// - `api://` or `https://`/`http://` on one of the tenant's *verified* domains or a subdomain;
/// - for single-tenant apps (`AzureADMyOrg`) only, a plain `api://{word}` (no dot, not a GUID),
///   as Entra still allows them: unique across all tenants (the store's index) and resolved only
///   inside the home tenant, where no other tenant's app can be found.
///
/// Microsoft first-party URIs and the catalogue's built-in resources are reserved
/// (`is_reserved_identifier_uri`); a GUID that is neither the app's appId nor the tenant's id,
/// an unverified domain and any other scheme are refused, each with a message naming the rule.
pub fn check_identifier_uri_holder(
    uri: &str,
    app_id: AppId,
    tenant: &crate::model::Tenant,
    audience: SignInAudience,
) -> Result<(), String> {
    validate_identifier_uri(uri)?;
    let allowed = format!(
        "use api://{app_id}, api://{}/<name>, or https://<a verified domain of this tenant>/<path>",
        tenant.id
    );
    if is_reserved_identifier_uri(uri) {
        return Err(format!(
            "identifierUri '{uri}' is reserved: it names a Microsoft first-party service or a built-in resource, which customer applications cannot claim; {allowed}."
        ));
    }
    let lower = uri.trim().to_ascii_lowercase();
    let Some((scheme, rest)) = lower.split_once("://") else {
        return Err(format!(
            "identifierUri '{uri}' is not valid: it must be scheme://host[/path]; {allowed}."
        ));
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.contains('@') || authority.is_empty() {
        return Err(format!(
            "identifierUri '{uri}' is not valid: the host is empty or carries user information; {allowed}."
        ));
    }
    let host = authority.split(':').next().unwrap_or(authority);
    let verified = tenant
        .domains
        .iter()
        .any(|d| d.is_verified && on_domain(host, &d.name));
    let domain_rule = || {
        // A domain the tenant added but has not verified yet: say so, and how to verify it.
        if let Some(m) = tenant
            .domains
            .iter()
            .find(|d| !d.is_verified && on_domain(host, &d.name))
            .and_then(|d| crate::domains::unverified_use(tenant, &d.name, "identifierUri", uri))
        {
            return Err(format!("{IDENTIFIER_URI_DOMAIN_RULE}: {m}"));
        }
        Err(format!(
            "{IDENTIFIER_URI_DOMAIN_RULE}: '{host}' in identifierUri '{uri}' is not a verified domain of this tenant; {allowed}."
        ))
    };
    match scheme {
        "api" => {
            if let Ok(g) = uuid::Uuid::parse_str(host) {
                if g == app_id.uuid() {
                    return Ok(());
                }
                if g == tenant.id.uuid() {
                    return if path.trim_matches('/').is_empty() {
                        Err(format!(
                            "identifierUri '{uri}' names only the tenant: the tenant-id form is api://{}/<name>; {allowed}.",
                            tenant.id
                        ))
                    } else {
                        Ok(())
                    };
                }
                return Err(format!(
                    "identifierUri '{uri}' names the GUID '{host}', which is neither this application's appId nor its tenant's id; {allowed}."
                ));
            }
            let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            if uuid::Uuid::parse_str(last).is_ok_and(|g| g == app_id.uuid()) {
                return Ok(());
            }
            if verified {
                return Ok(());
            }
            if host.contains('.') {
                return domain_rule();
            }
            if audience == SignInAudience::AzureAdMyOrg {
                return Ok(());
            }
            Err(format!(
                "{IDENTIFIER_URI_DOMAIN_RULE}: the multi-tenant application's identifierUri '{uri}' carries no name of this tenant or application ({} apps need one); {allowed}.",
                audience.as_str()
            ))
        }
        "https" | "http" => {
            if verified {
                Ok(())
            } else {
                domain_rule()
            }
        }
        other => Err(format!(
            "identifierUri '{uri}' uses the scheme '{other}', which is not allowed for identifier URIs; {allowed}."
        )),
    }
}

/// A federated identity credential: "tokens from `issuer` about `subject` for `audiences`
/// authenticate this application (or managed identity)".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederatedIdentityCredential {
    /// Object id (a GUID, Graph's `id`).
    pub id: uuid::Uuid,
    /// Unique, immutable, URL-friendly name (Graph's alternate key).
    pub name: String,
    /// The external issuer URL; equal to the token's `iss`, exactly.
    pub issuer: String,
    /// The external identity; equal to the token's `sub`, exactly.
    pub subject: String,
    /// Exactly one audience the token's `aud` must contain.
    pub audiences: Vec<String>,
    /// Free text.
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_with(domains: &[(&str, bool)]) -> crate::model::Tenant {
        crate::model::Tenant {
            id: TenantId::from_uuid(uuid::Uuid::from_u128(0xaaaa)),
            display_name: "t".into(),
            domains: domains
                .iter()
                .map(|(n, v)| crate::model::Domain {
                    name: (*n).into(),
                    is_initial: false,
                    is_default: false,
                    is_verified: *v,
                    ..Default::default()
                })
                .collect(),
            license: crate::model::LicenseTier::P1,
            settings: crate::model::TenantSettings::default(),
            created: Timestamp(0),
        }
    }

    #[test]
    fn identifier_uris_must_carry_a_name_of_their_holder() {
        let app = AppId::from_uuid(uuid::Uuid::from_u128(0xbbbb));
        let t = tenant_with(&[("contoso.example", true), ("pending.example", false)]);
        let (tid, single, multi) = (
            t.id,
            SignInAudience::AzureAdMyOrg,
            SignInAudience::AzureAdMultipleOrgs,
        );
        for (uri, aud) in [
            (format!("api://{app}"), multi),
            (format!("api://{app}/"), multi),
            (format!("api://{}", app.to_string().to_uppercase()), multi),
            (format!("api://{tid}/orders"), multi),
            (format!("api://productapi/{app}"), multi),
            ("https://contoso.example/orders".into(), multi),
            ("https://api.contoso.example".into(), multi),
            ("http://api.contoso.example/x".into(), multi),
            ("api://contoso.example/orders".into(), multi),
            ("api://orders-api".into(), single),
        ] {
            assert_eq!(
                check_identifier_uri_holder(&uri, app, &t, aud),
                Ok(()),
                "{uri} ({aud:?})"
            );
        }
        for (uri, aud, needle) in [
            (
                "api://orders-api".to_string(),
                multi,
                IDENTIFIER_URI_DOMAIN_RULE,
            ),
            (format!("api://{tid}"), multi, "names only the tenant"),
            (
                "api://00000003-0000-0000-c000-000000000000".into(),
                single,
                "reserved",
            ),
            (
                format!("api://{}", uuid::Uuid::from_u128(0xcccc)),
                single,
                "neither this application's appId",
            ),
            (
                "https://evil.example/api".into(),
                single,
                IDENTIFIER_URI_DOMAIN_RULE,
            ),
            (
                "https://pending.example/api".into(),
                single,
                IDENTIFIER_URI_DOMAIN_RULE,
            ),
            (
                "https://api.pending.example/v1".into(),
                single,
                "POST /domains/pending.example/verify",
            ),
            (
                "https://contoso.example.evil/api".into(),
                single,
                IDENTIFIER_URI_DOMAIN_RULE,
            ),
            (
                "https://xcontoso.example/api".into(),
                single,
                IDENTIFIER_URI_DOMAIN_RULE,
            ),
            (
                "api://other.example/orders".into(),
                single,
                IDENTIFIER_URI_DOMAIN_RULE,
            ),
            ("https://graph.microsoft.com".into(), single, "reserved"),
            (
                "https://graph.microsoft.com/.default".into(),
                single,
                "reserved",
            ),
            ("https://management.azure.com/".into(), single, "reserved"),
            (
                "https://management.core.windows.net/".into(),
                single,
                "reserved",
            ),
            ("https://storage.azure.com".into(), single, "reserved"),
            ("https://vault.azure.net".into(), single, "reserved"),
            (
                "https://anything.microsoft.com/x".into(),
                single,
                "reserved",
            ),
            (
                "https://user@contoso.example/x".into(),
                single,
                "user information",
            ),
            ("urn:contoso:orders".into(), single, "scheme"),
            ("ftp://contoso.example/x".into(), single, "scheme"),
        ] {
            match check_identifier_uri_holder(&uri, app, &t, aud) {
                Err(m) => assert!(m.contains(needle), "{uri}: {m}"),
                Ok(()) => panic!("{uri} ({aud:?}) should be refused"),
            }
        }
        // A tenant cannot make a first-party name its own by "verifying" it.
        let squatter = tenant_with(&[("microsoft.com", true)]);
        assert!(
            check_identifier_uri_holder("https://graph.microsoft.com", app, &squatter, single)
                .is_err()
        );
        assert_eq!(identifier_uri_key(" API://Orders/ "), "api://orders");
    }

    #[test]
    fn redirect_uri_registration_rules() {
        for (uri, platform) in [
            ("https://app.example/cb", "web"),
            ("http://localhost:3000/cb", "spa"),
            ("http://127.0.0.1/cb", "web"),
            ("http://localhost", "publicClient"),
            ("msal1234://auth", "publicClient"),
            (
                "https://login.microsoftonline.com/common/oauth2/nativeclient",
                "publicClient",
            ),
        ] {
            assert!(
                validate_redirect_uri(uri, platform).is_ok(),
                "{uri} ({platform})"
            );
        }
        for (uri, platform) in [
            ("http://app.example/cb", "web"),
            ("https://*.example/cb", "web"),
            ("https://app.example/cb#x", "spa"),
            ("javascript:alert(1)", "web"),
            ("msal1234://auth", "web"),
            ("data://x", "publicClient"),
            ("relative/path", "web"),
            ("http://localhost.evil.example/cb", "web"),
        ] {
            assert!(
                validate_redirect_uri(uri, platform).is_err(),
                "{uri} ({platform}) should be refused"
            );
        }
        assert!(
            validate_redirect_uri(&format!("https://a.example/{}", "x".repeat(300)), "web")
                .is_err()
        );
    }

    #[test]
    fn identifier_uri_rules() {
        assert!(validate_identifier_uri("api://8f2c5b6e-1111-2222-3333-444455556666").is_ok());
        assert!(validate_identifier_uri("https://contoso.example/api").is_ok());
        for bad in ["", "noscheme", "api://x/*", "api://x#y"] {
            assert!(validate_identifier_uri(bad).is_err(), "{bad}");
        }
    }
}
