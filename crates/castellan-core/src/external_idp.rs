//! External OpenID Connect identity providers for B2B guests: a tenant's configuration of an
//! OpenID Provider (Graph's `openIdConnectIdentityProvider` with the `domains` it serves, as
//! `samlOrWsFedExternalDomainFederation` has them), its validation, which provider serves an
//! invited address, and the checks of the provider's ID token after the authorization-code
//! exchange (issuer, audience, expiry, nonce, subject, verified email equal to the invited
//! address). Pure: the server fetches discovery and keys, verifies the signature and passes the
//! verified claims here; `ops::external_idp` stores the configuration.

use crate::ids::{ObjectId, TenantId};
use crate::model::Tenant;

/// Graph's `@odata.type` of the configuration.
pub const ODATA_TYPE: &str = "#microsoft.graph.openIdConnectIdentityProvider";
/// The only `responseType` supported: the authorization code flow (with PKCE).
pub const RESPONSE_TYPE: &str = "code";
/// The scope asked for when the configuration names none.
pub const DEFAULT_SCOPE: &str = "openid profile email";
/// Clock skew allowed on the ID token's `exp` and `iat` (seconds).
pub const SKEW_SECS: i64 = 300;
/// At most this many email domains per provider.
pub const MAX_DOMAINS: usize = 50;

/// `claimsMapping`: which ID-token claims carry the user's id, email and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimsMapping {
    /// `userId` (default `sub`).
    pub user_id: String,
    /// `email` (default `email`).
    pub email: String,
    /// `displayName` (default `name`).
    pub display_name: String,
}

impl Default for ClaimsMapping {
    fn default() -> Self {
        Self {
            user_id: "sub".into(),
            email: "email".into(),
            display_name: "name".into(),
        }
    }
}

/// One configured external OpenID Connect provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcProvider {
    /// Id.
    pub id: ObjectId,
    /// The tenant that configured it.
    pub tenant_id: TenantId,
    /// `displayName` (unique per tenant).
    pub display_name: String,
    /// `clientId`: this tenant's client registration at the provider.
    pub client_id: String,
    /// The client secret, sealed by the server under the master key (base64); empty when none
    /// was given yet. Never rendered.
    pub client_secret_sealed: String,
    /// `issuer`: the provider's issuer identifier, compared exactly with discovery's `issuer`
    /// and the ID token's `iss`.
    pub issuer: String,
    /// `metadataUrl`: the discovery document (default `{issuer}/.well-known/openid-configuration`).
    pub metadata_url: String,
    /// `scope` (space separated, holding `openid`).
    pub scope: String,
    /// `responseType` (always `code`).
    pub response_type: String,
    /// `claimsMapping`.
    pub claims: ClaimsMapping,
    /// `domains[].id`: the email domains whose invited addresses redeem at this provider
    /// (lower case).
    pub domains: Vec<String>,
}

/// The discovery URL for `issuer` (OpenID Connect Discovery §4).
pub fn default_metadata_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

fn is_https(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && !url.contains('#')
}

fn domain_ok(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && !d.contains("..")
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// Checks a configuration before it is stored: every property, then the tenant's own verified
/// domains and the domains other providers of the tenant serve (`others`: every provider but
/// this one). The error names the property, the value and the fix.
pub fn validate(p: &OidcProvider, tenant: &Tenant, others: &[OidcProvider]) -> Result<(), String> {
    let name = p.display_name.trim();
    if name.is_empty() || name.chars().count() > 256 {
        return Err("Property 'displayName' must hold 1 to 256 characters: the name guests see on the button that sends them to this provider.".into());
    }
    if p.client_id.trim().is_empty() || p.client_id.len() > 256 {
        return Err("Property 'clientId' is required (at most 256 characters): the client id of this tenant's registration at the identity provider.".into());
    }
    if !is_https(&p.issuer) {
        return Err(format!("Property 'issuer' value '{}' is not an https URL: give the provider's issuer identifier exactly as its discovery document's 'issuer' states it (for example https://op.example.com).", p.issuer));
    }
    if !is_https(&p.metadata_url) {
        return Err(format!("Property 'metadataUrl' value '{}' is not an https URL: give the provider's OpenID Connect discovery document, {}.", p.metadata_url, default_metadata_url(&p.issuer)));
    }
    if !p.scope.split_whitespace().any(|s| s == "openid") {
        return Err(format!(
            "Property 'scope' value '{}' must include 'openid' (for example '{DEFAULT_SCOPE}').",
            p.scope
        ));
    }
    if p.scope.len() > 1024 {
        return Err("Property 'scope' is longer than 1024 characters.".into());
    }
    if p.response_type != RESPONSE_TYPE {
        return Err(format!("Property 'responseType' value '{}' is not supported: only 'code' (the authorization code flow with PKCE) is.", p.response_type));
    }
    for (prop, v) in [
        ("claimsMapping.userId", &p.claims.user_id),
        ("claimsMapping.email", &p.claims.email),
        ("claimsMapping.displayName", &p.claims.display_name),
    ] {
        if v.trim().is_empty() || v.len() > 128 {
            return Err(format!(
                "Property '{prop}' must name an ID-token claim (1 to 128 characters)."
            ));
        }
    }
    if p.domains.is_empty() {
        return Err("Property 'domains' must hold at least one email domain ({\"id\": \"fabrikam.com\"}): invited addresses in those domains redeem at this provider.".into());
    }
    if p.domains.len() > MAX_DOMAINS {
        return Err(format!(
            "Property 'domains' holds {} domains; at most {MAX_DOMAINS} are supported.",
            p.domains.len()
        ));
    }
    for (i, d) in p.domains.iter().enumerate() {
        if !domain_ok(d) {
            return Err(format!(
                "Property 'domains' value '{d}' is not a domain name (for example fabrikam.com)."
            ));
        }
        if p.domains.iter().take(i).any(|e| e == d) {
            return Err(format!("Property 'domains' names '{d}' twice."));
        }
        if tenant.owns_domain(d) {
            return Err(format!("Domain '{d}' is a verified domain of this tenant: people there are members, not guests of an external identity provider. Remove it from 'domains'."));
        }
        if let Some(o) = others.iter().find(|o| o.domains.iter().any(|x| x == d)) {
            return Err(format!("Domain '{d}' is served already by the identity provider '{}' ({}); a domain redeems at one provider only. Remove it there first, or from 'domains' here.", o.display_name, o.id));
        }
    }
    Ok(())
}

/// The provider serving the invited address `email` (its domain, any case), if any.
pub fn for_address<'a>(providers: &'a [OidcProvider], email: &str) -> Option<&'a OidcProvider> {
    let domain = email.rsplit_once('@')?.1.to_ascii_lowercase();
    providers.iter().find(|p| p.domains.contains(&domain))
}

/// The provider whose issuer is `issuer` (a guest's federated identity), if any.
pub fn for_issuer<'a>(providers: &'a [OidcProvider], issuer: &str) -> Option<&'a OidcProvider> {
    providers.iter().find(|p| p.issuer == issuer)
}

/// The members of a verified ID token this server reads (the claims named by the mapping
/// already picked out by the wire layer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdTokenClaims {
    /// `iss`.
    pub iss: Option<String>,
    /// `aud` (a string or an array).
    pub aud: Vec<String>,
    /// `azp`.
    pub azp: Option<String>,
    /// `exp`.
    pub exp: Option<i64>,
    /// `iat`.
    pub iat: Option<i64>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// The `claimsMapping.userId` claim.
    pub user_id: Option<String>,
    /// The `claimsMapping.email` claim.
    pub email: Option<String>,
    /// `email_verified` (`None` when absent).
    pub email_verified: Option<bool>,
    /// The `claimsMapping.displayName` claim.
    pub display_name: Option<String>,
}

/// Who the provider says signed in (after [`check_id_token`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider's issuer.
    pub issuer: String,
    /// The user's id at the provider (`claimsMapping.userId`).
    pub subject: String,
    /// The verified address (lower case).
    pub email: String,
    /// The name, if the provider gave one.
    pub display_name: Option<String>,
}

/// Why an ID token from an external provider was refused; each renders a page naming the
/// cause and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdTokenRefusal {
    /// `iss` is not the configured issuer.
    Issuer {
        /// Expected.
        expected: String,
        /// Found.
        found: String,
    },
    /// `aud` does not name this tenant's client (or `azp` names another).
    Audience {
        /// The configured client id.
        client_id: String,
    },
    /// Past `exp` (or no `exp`).
    Expired,
    /// `iat` in the future.
    NotYetValid,
    /// `nonce` is not the one this sign-in sent.
    Nonce,
    /// No user id claim.
    NoSubject {
        /// The claim looked for.
        claim: String,
    },
    /// No usable email claim.
    NoEmail {
        /// The claim looked for.
        claim: String,
    },
    /// `email_verified` is false.
    Unverified {
        /// The address.
        email: String,
    },
}

impl IdTokenRefusal {
    /// The page's sentence: cause and fix.
    pub fn message(&self, provider: &str) -> String {
        match self {
            Self::Issuer { expected, found } => format!("{provider} answered with an ID token from issuer '{found}', but this organization trusts '{expected}'. Nothing was changed. An administrator must correct the identity provider's 'issuer' setting."),
            Self::Audience { client_id } => format!("{provider} answered with an ID token that is not addressed to this organization's client '{client_id}'. Nothing was changed. An administrator must check the identity provider's 'clientId' setting."),
            Self::Expired => format!("{provider} answered with an expired ID token. Nothing was changed. Check the clocks of both services, then sign in again."),
            Self::NotYetValid => format!("{provider} answered with an ID token issued in the future. Nothing was changed. Check the clocks of both services, then sign in again."),
            Self::Nonce => format!("{provider} answered with an ID token for another sign-in (its nonce does not match). Nothing was changed. Start again from the invitation link or the sign-in page."),
            Self::NoSubject { claim } => format!("{provider}'s ID token has no '{claim}' claim naming the user. Nothing was changed. An administrator must correct claimsMapping.userId."),
            Self::NoEmail { claim } => format!("{provider}'s ID token has no email address in its '{claim}' claim, so the invited address cannot be proven. Nothing was changed. Allow the 'email' scope at the provider, or correct claimsMapping.email."),
            Self::Unverified { email } => format!("{provider} says the address {email} is not verified. Nothing was changed. Verify the address at {provider}, then open the invitation link again."),
        }
    }
}

/// Checks a verified ID token's claims against `p` and the `nonce` this sign-in sent, at
/// `now` (seconds): issuer exact, audience holds the client id (with several audiences `azp`
/// must be it), not expired (skew [`SKEW_SECS`]), not issued in the future, nonce equal, a user
/// id, an email address, `email_verified` not false.
pub fn check_id_token(
    p: &OidcProvider,
    c: &IdTokenClaims,
    nonce: &str,
    now: i64,
) -> Result<ExternalIdentity, IdTokenRefusal> {
    let iss = c.iss.clone().unwrap_or_default();
    if iss != p.issuer {
        return Err(IdTokenRefusal::Issuer {
            expected: p.issuer.clone(),
            found: iss,
        });
    }
    let aud_ok = c.aud.contains(&p.client_id)
        && (c.aud.len() == 1 || c.azp.as_deref() == Some(p.client_id.as_str()))
        && c.azp.as_deref().is_none_or(|a| a == p.client_id);
    if !aud_ok {
        return Err(IdTokenRefusal::Audience {
            client_id: p.client_id.clone(),
        });
    }
    match c.exp {
        Some(exp) if exp + SKEW_SECS > now => {}
        _ => return Err(IdTokenRefusal::Expired),
    }
    if c.iat.is_some_and(|iat| iat > now + SKEW_SECS) {
        return Err(IdTokenRefusal::NotYetValid);
    }
    if nonce.is_empty() || c.nonce.as_deref() != Some(nonce) {
        return Err(IdTokenRefusal::Nonce);
    }
    let Some(subject) = c.user_id.clone().filter(|s| !s.is_empty()) else {
        return Err(IdTokenRefusal::NoSubject {
            claim: p.claims.user_id.clone(),
        });
    };
    let Some(email) = c
        .email
        .as_deref()
        .and_then(|e| crate::invitations::normalise_email("email", e).ok())
    else {
        return Err(IdTokenRefusal::NoEmail {
            claim: p.claims.email.clone(),
        });
    };
    if c.email_verified == Some(false) {
        return Err(IdTokenRefusal::Unverified { email });
    }
    Ok(ExternalIdentity {
        issuer: p.issuer.clone(),
        subject,
        email,
        display_name: c.display_name.clone(),
    })
}

/// Why a sign-in at an external provider (redemption or guest sign-in) stopped, outside the
/// ID token's own claims ([`IdTokenRefusal`]); each renders a page naming the cause and the
/// fix. Nothing is changed by any of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Discovery, the token endpoint or the keys could not be used (`why` names URL and cause).
    Unreachable {
        /// The provider's display name.
        provider: String,
        /// What failed.
        why: String,
        /// The configured `metadataUrl`.
        metadata_url: String,
    },
    /// The callback does not belong to a sign-in started in this browser (no flight).
    NoFlight,
    /// The callback's `state` is not this browser's.
    StateMismatch,
    /// The provider names another issuer in its answer (RFC 9207 `iss`).
    IssuerMismatch {
        /// The provider's display name.
        provider: String,
        /// The configured issuer.
        expected: String,
        /// The answer's `iss`.
        found: String,
    },
    /// The provider was removed while the sign-in was under way.
    ProviderRemoved,
    /// The provider answered with an OAuth error.
    ProviderError {
        /// The provider's display name.
        provider: String,
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// No authorization code in the answer.
    NoCode {
        /// The provider's display name.
        provider: String,
    },
    /// The ID token is not a signed JWT.
    Malformed {
        /// The provider's display name.
        provider: String,
        /// Why.
        why: String,
    },
    /// The ID token's `alg` is not accepted.
    Algorithm {
        /// The provider's display name.
        provider: String,
        /// The `alg`.
        alg: String,
    },
    /// No published key verifies the ID token's signature.
    Signature {
        /// The provider's display name.
        provider: String,
        /// The provider's `jwks_uri`.
        jwks_uri: String,
        /// The token's `kid`.
        kid: String,
    },
    /// No configured provider serves the invited address (any more).
    NotServed,
    /// A guest whose provider is no longer configured.
    NoLongerTrusted {
        /// The typed user name.
        username: String,
        /// The guest's recorded issuer.
        issuer: String,
    },
    /// The provider signed in another account than the guest's.
    WrongAccount {
        /// The provider's display name.
        provider: String,
        /// The address the provider proved.
        email: String,
    },
}

impl Failure {
    /// Whether the provider (not the browser or the configuration) failed: HTTP 502.
    pub fn is_upstream(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// The page's sentence: cause and fix.
    pub fn message(&self) -> String {
        const AGAIN: &str =
            "Nothing was changed. Start again from the invitation link or the sign-in page.";
        match self {
            Self::Unreachable { provider, why, metadata_url } => format!("The identity provider {provider} could not be used: {why}. Nothing was changed. Try again in a few minutes; if it keeps failing, an administrator must check the provider's metadataUrl ({metadata_url}) and that this server trusts its certificate."),
            Self::NoFlight => format!("This answer from the identity provider does not belong to a sign-in started in this browser, was used already, or took longer than 10 minutes. {AGAIN}"),
            Self::StateMismatch => format!("This answer from the identity provider does not match the sign-in started in this browser (its state differs). {AGAIN}"),
            Self::IssuerMismatch { provider, expected, found } => format!("This answer names the issuer '{found}', not {provider} ('{expected}') where this sign-in was sent. {AGAIN}"),
            Self::ProviderRemoved => format!("The identity provider this sign-in used was removed meanwhile. {AGAIN}"),
            Self::ProviderError { provider, error, description } => format!("The sign-in at {provider} was not completed ({error}: {description}). Nothing was changed. Start again and complete the sign-in there."),
            Self::NoCode { provider } => format!("{provider} answered without an authorization code. {AGAIN}"),
            Self::Malformed { provider, why } => format!("{provider}'s ID token is malformed ({why}). Nothing was changed. Try again; if it keeps failing, the provider is misbehaving and its administrator must look at it."),
            Self::Algorithm { provider, alg } => format!("{provider}'s ID token is signed with '{alg}', which this server does not accept (RS256, PS256 or ES256). Nothing was changed. Configure the client at the provider to sign ID tokens with RS256."),
            Self::Signature { provider, jwks_uri, kid } => format!("{provider}'s ID token signature does not verify with any key the provider publishes at {jwks_uri} (kid '{kid}'). Nothing was changed. Sign in again; if it keeps failing, someone may be tampering with the sign-in."),
            Self::NotServed => "No external identity provider of this organization serves the invited address any more. Nothing was changed. Open the invitation link again to redeem it another way.".into(),
            Self::NoLongerTrusted { username, issuer } => format!("{username} is a guest who signs in at the identity provider {issuer}, which this organization no longer trusts. Nothing was changed. Ask an administrator to configure it again under External Identities, or to reset your redemption."),
            Self::WrongAccount { provider, email } => format!("You signed in at {provider} as another account ({email}) than the one this guest account belongs to. Nothing was changed. Sign in there again with the right account."),
        }
    }
}

/// How the server authenticates at the token endpoint, from discovery's
/// `token_endpoint_auth_methods_supported` (absent: `client_secret_basic`, the default of
/// OpenID Connect Discovery §3). `client_secret_post` is preferred when offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// The secret in the form.
    Post,
    /// HTTP Basic.
    Basic,
}

/// Picks the client authentication, or the refusal naming what the provider offers.
pub fn client_auth(supported: Option<&[String]>) -> Result<ClientAuth, String> {
    let Some(s) = supported else {
        return Ok(ClientAuth::Basic);
    };
    if s.iter().any(|m| m == "client_secret_post") {
        Ok(ClientAuth::Post)
    } else if s.iter().any(|m| m == "client_secret_basic") {
        Ok(ClientAuth::Basic)
    } else {
        Err(format!("the provider's token endpoint accepts none of client_secret_post or client_secret_basic (it offers: {}); configure the client at the provider for one of them", s.join(", ")))
    }
}

#[cfg(test)]
mod tests;
