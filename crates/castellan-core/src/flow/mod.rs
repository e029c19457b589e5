//! Token flows, one file per grant or spec step. Each is a pure function from loaded data and
//! the request to a decision (claims) or an `AadstsError`.

pub mod auth_code;
pub mod authorize_request;
pub mod client_credentials;
pub mod consent;
pub mod device;
pub mod device_assertion;
pub mod federated_assertion;
pub mod grants;
pub mod lockout;
pub mod mfa_attempts;
pub mod password;
pub mod pkce;
pub mod redirect;
pub mod refresh_token;
pub mod saml;
pub mod scope;
pub mod signin;
pub mod user_token;
pub use crate::model::session::{Authn, ACCESS_TOKEN_LIFETIME_SECS};

/// Shapes an access token for the resource's accepted version (Microsoft identity platform,
/// "Access tokens", token formats: the format is chosen by the resource's
/// `api.requestedAccessTokenVersion`, not by the endpoint the client called). A v2 token's
/// `aud` is the resource's appId; a v1 token's is the resource identifier exactly as the client
/// requested it (access token claims reference, `aud`: "In v1.0 tokens, it can be the client ID
/// or the resource URI used in the request"), trailing slash included: the Azure CLI asks for
/// `https://management.core.windows.net/` and gets that audience.
pub fn for_token_version(
    mut c: AccessTokenClaims,
    version: u8,
    requested_resource: &str,
) -> AccessTokenClaims {
    c.format = if version == 1 {
        TokenFormat::V1 {
            aud: requested_resource.to_string(),
        }
    } else {
        TokenFormat::V2
    };
    c
}

/// The format a resource's application accepts: 2 when it asks for 2; v1 when
/// `requestedAccessTokenVersion` is null or 1, and for a resource without an application of its
/// own in the store (a managed identity's principal), as Entra does.
pub fn resource_token_version(resource_app: Option<&crate::model::Application>) -> u8 {
    match resource_app.and_then(|a| a.requested_access_token_version) {
        Some(2) => 2,
        _ => 1,
    }
}

/// An access token's format (Microsoft identity platform access tokens, "v1.0 and v2.0").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    /// v2.0: `aud` = the resource's appId, issuer `{origin}/{tid}/v2.0`, `azp`/`azpacr`,
    /// `preferred_username`, `ver: "2.0"`.
    V2,
    /// v1.0: issuer `{origin}/{tid}/` (Entra's `https://sts.windows.net/{tid}/`),
    /// `appid`/`appidacr`, `unique_name`/`upn`, `amr`/`acr`, `ver: "1.0"`.
    V1 {
        /// The audience: the resource identifier as the client requested it.
        aud: String,
    },
}

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// How the client proved itself (`azpacr` / `appidacr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// Public client, no credential (`0`).
    None,
    /// Client secret (`1`).
    Secret,
    /// Certificate-signed client assertion (`2`).
    Assertion,
    /// Federated assertion from an external issuer matched by a federated identity credential
    /// (`2`, as Entra reports `appidacr`/`azpacr` for workload identity federation: the client
    /// proved itself with an asymmetric-key-signed assertion, not a shared secret).
    Federated,
}

/// A client assertion the server verified before calling core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifiedAssertion {
    /// Signed by one of the application's certificates (`iss` = `sub` = client id).
    Certificate,
    /// Issued by an external OIDC issuer and matched to a federated identity credential.
    Federated,
}

impl VerifiedAssertion {
    /// The client authentication method it proves.
    pub const fn method(self) -> ClientAuthMethod {
        match self {
            Self::Certificate => ClientAuthMethod::Assertion,
            Self::Federated => ClientAuthMethod::Federated,
        }
    }
}

impl ClientAuthMethod {
    /// The `azpacr` value.
    pub const fn acr(self) -> &'static str {
        match self {
            Self::None => "0",
            Self::Secret => "1",
            Self::Assertion | Self::Federated => "2",
        }
    }
}

/// The claims of an access token, as values. `castellan-wire` renders them to JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// The resource's appId: the audience of a v2 token, and the resource Conditional Access
    /// and the sign-in log name whatever the format (a v1 token's audience is in `format`; see
    /// [`AccessTokenClaims::audience`]).
    pub aud: String,
    /// Tenant id (the issuer URL is built by the server from its public origin and this).
    pub tid: TenantId,
    /// Issued at.
    pub iat: Timestamp,
    /// Not before.
    pub nbf: Timestamp,
    /// Expires.
    pub exp: Timestamp,
    /// Client appId.
    pub azp: String,
    /// How the client authenticated.
    pub azpacr: ClientAuthMethod,
    /// Object id of the subject (service principal for app-only tokens).
    pub oid: ObjectId,
    /// Subject.
    pub sub: String,
    /// App roles granted.
    pub roles: Vec<String>,
    /// Delegated scopes (user tokens only).
    pub scp: Option<String>,
    /// The user's display name (user tokens).
    pub name: Option<String>,
    /// The user's UPN (user tokens).
    pub preferred_username: Option<String>,
    /// `app` or `user`.
    pub idtyp: &'static str,
    /// Unique token id.
    pub uti: String,
    /// Token format, with a v1 token's audience.
    pub format: TokenFormat,
    /// The user's directory role template ids (`wids`; user tokens).
    pub wids: Vec<String>,
    /// The `groups` claim, per the resource's `groupMembershipClaims`.
    pub groups: GroupsClaim,
    /// Optional claims (name, value) the resource asked for.
    pub extra: Vec<(String, String)>,
    /// `amr`: how the user authenticated (user tokens; empty for app-only tokens). Rendered
    /// in v1 access tokens with `acr`, as Entra does.
    pub amr: Vec<&'static str>,
}

impl AccessTokenClaims {
    /// The `aud` the token carries: the resource's appId (v2) or the identifier requested (v1).
    pub fn audience(&self) -> &str {
        match &self.format {
            TokenFormat::V2 => &self.aud,
            TokenFormat::V1 { aud } => aud,
        }
    }
}

/// The `groups` claim of a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum GroupsClaim {
    /// Not emitted.
    #[default]
    Absent,
    /// The object ids.
    List(Vec<String>),
    /// Too many for a JWT (over 200): the overage indicator points at Graph instead.
    Overage,
}

/// Most groups a JWT carries before the overage indicator replaces them.
pub const GROUPS_JWT_LIMIT: usize = 200;

/// Builds the `groups` claim for a `groupMembershipClaims` setting from the user's transitive
/// groups (`(id, security_enabled)`), their directory role template ids, and the groups
/// assigned to the application.
pub fn groups_claim(
    setting: Option<&str>,
    groups: &[(ObjectId, bool)],
    wids: &[String],
    app_assigned: &[ObjectId],
) -> GroupsClaim {
    let mut ids: Vec<String> = match setting {
        Some("SecurityGroup") => groups
            .iter()
            .filter(|g| g.1)
            .map(|g| g.0.to_string())
            .collect(),
        Some("All") => groups
            .iter()
            .map(|g| g.0.to_string())
            .chain(wids.iter().cloned())
            .collect(),
        Some("DirectoryRole") => wids.to_vec(),
        Some("ApplicationGroup") => groups
            .iter()
            .filter(|g| app_assigned.contains(&g.0))
            .map(|g| g.0.to_string())
            .collect(),
        _ => return GroupsClaim::Absent,
    };
    ids.sort();
    ids.dedup();
    if ids.len() > GROUPS_JWT_LIMIT {
        GroupsClaim::Overage
    } else {
        GroupsClaim::List(ids)
    }
}

/// The claims of an ID token (OpenID Connect Core §2; Microsoft identity platform ID token
/// claims reference, v2.0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdTokenClaims {
    /// The client id.
    pub aud: String,
    /// Tenant.
    pub tid: TenantId,
    /// Issued at.
    pub iat: Timestamp,
    /// Not before.
    pub nbf: Timestamp,
    /// Expires.
    pub exp: Timestamp,
    /// User object id.
    pub oid: ObjectId,
    /// Subject (stable per user and app).
    pub sub: String,
    /// Display name (`profile`).
    pub name: Option<String>,
    /// UPN (`profile`).
    pub preferred_username: Option<String>,
    /// Mail (`email`).
    pub email: Option<String>,
    /// The request's nonce.
    pub nonce: Option<String>,
    /// Unique token id.
    pub uti: String,
    /// The `groups` claim, per the client's `groupMembershipClaims`.
    pub groups: GroupsClaim,
    /// Optional claims (name, value) the client asked for.
    pub extra: Vec<(String, String)>,
    /// `amr`: how the user authenticated (with `acr`).
    pub amr: Vec<&'static str>,
}

/// ID-token lifetime in seconds (one hour, as Entra).
pub const ID_TOKEN_LIFETIME_SECS: i64 = 3600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authn_round_trips_through_the_aio_text_and_says_amr() {
        let with = Authn {
            auth_time: Timestamp(1_000),
            mfa_at: Some(Timestamp(2_000)),
        };
        let without = Authn::password(Timestamp(3_000));
        for a in [with, without] {
            assert_eq!(Authn::from_aio_plain(&a.to_aio_plain()), Some(a));
        }
        assert_eq!(with.step_up_owed(true), None);
        assert_eq!(without.step_up_owed(false), None);
        assert_eq!(without.step_up_owed(true).map(|e| e.code), Some(50076));
        assert_eq!(with.amr(), vec!["pwd", "mfa"]);
        assert_eq!(without.amr(), vec!["pwd"]);
        for bad in ["", "1", "1.x.-", "2.1.-", "1.1.2.3", "1.1.y"] {
            assert_eq!(Authn::from_aio_plain(bad), None, "{bad}");
        }
    }

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            aud: "11111111-1111-1111-1111-111111111111".into(),
            tid: TenantId::from_random([1; 16]),
            iat: Timestamp(0),
            nbf: Timestamp(0),
            exp: Timestamp(1),
            azp: "c".into(),
            azpacr: ClientAuthMethod::Secret,
            oid: ObjectId::from_random([2; 16]),
            sub: "s".into(),
            roles: vec![],
            scp: Some("x".into()),
            name: None,
            preferred_username: None,
            idtyp: "user",
            uti: "u".into(),
            format: TokenFormat::V2,
            wids: vec![],
            groups: GroupsClaim::Absent,
            extra: vec![],
            amr: vec![],
        }
    }

    #[test]
    fn v1_uses_the_requested_identifier_as_audience() {
        // As requested, trailing slash kept: the Azure CLI asks for
        // `https://management.core.windows.net/` and expects that audience back.
        let c = for_token_version(claims(), 1, "https://management.core.windows.net/");
        assert_eq!(c.audience(), "https://management.core.windows.net/");
        assert!(matches!(c.format, TokenFormat::V1 { .. }));
        let c = for_token_version(claims(), 1, "api://my-api");
        assert_eq!(c.audience(), "api://my-api");
        // The resource stays the appId, whatever the audience says.
        assert_eq!(c.aud, "11111111-1111-1111-1111-111111111111");
        let c = for_token_version(claims(), 2, "api://my-api");
        assert_eq!(c.format, TokenFormat::V2);
        assert_eq!(c.audience(), "11111111-1111-1111-1111-111111111111");
    }

    #[test]
    fn groups_claim_follows_the_setting_and_overflows_past_200() {
        let g = |n: u8, sec: bool| (ObjectId::from_random([n; 16]), sec);
        let groups = vec![g(1, true), g(2, false), g(3, true)];
        let wids = vec!["62e90394-69f5-4237-9190-012177145e10".to_string()];
        assert_eq!(groups_claim(None, &groups, &wids, &[]), GroupsClaim::Absent);
        let GroupsClaim::List(sec) = groups_claim(Some("SecurityGroup"), &groups, &wids, &[])
        else {
            panic!("list")
        };
        assert_eq!(sec.len(), 2);
        let GroupsClaim::List(all) = groups_claim(Some("All"), &groups, &wids, &[]) else {
            panic!("list")
        };
        assert_eq!(all.len(), 4);
        assert_eq!(
            groups_claim(Some("DirectoryRole"), &groups, &wids, &[]),
            GroupsClaim::List(wids.clone())
        );
        let GroupsClaim::List(app) =
            groups_claim(Some("ApplicationGroup"), &groups, &wids, &[groups[1].0])
        else {
            panic!("list")
        };
        assert_eq!(app, vec![groups[1].0.to_string()]);
        let many: Vec<(ObjectId, bool)> = (0..201u32)
            .map(|i| {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&i.to_be_bytes());
                (ObjectId::from_random(b), true)
            })
            .collect();
        assert_eq!(
            groups_claim(Some("SecurityGroup"), &many, &[], &[]),
            GroupsClaim::Overage
        );
        assert!(
            matches!(groups_claim(Some("SecurityGroup"), &many[..200], &[], &[]), GroupsClaim::List(v) if v.len() == 200)
        );
    }

    #[test]
    fn null_and_1_mean_v1_and_2_means_v2() {
        // No application of its own (a managed identity's principal): v1, as null.
        assert_eq!(resource_token_version(None), 1);
        let mut app = crate::flow::redirect::tests_support::app();
        assert_eq!(resource_token_version(Some(&app)), 1);
        app.requested_access_token_version = Some(1);
        assert_eq!(resource_token_version(Some(&app)), 1);
        app.requested_access_token_version = Some(2);
        assert_eq!(resource_token_version(Some(&app)), 2);
    }
}
