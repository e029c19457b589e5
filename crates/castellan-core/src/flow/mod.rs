//! Token flows, one file per grant or spec step. Each is a pure function from loaded data and
//! the request to a decision (claims) or an `AadstsError`.

pub mod auth_code;
pub mod client_credentials;
pub mod device;
pub mod lockout;
pub mod password;
pub mod pkce;
pub mod redirect;
pub mod refresh_token;
pub mod scope;
pub mod user_token;

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// How the client proved itself (`azpacr` / `appidacr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// Public client, no credential (`0`).
    None,
    /// Client secret (`1`).
    Secret,
    /// Certificate or federated assertion (`2`).
    Assertion,
}

impl ClientAuthMethod {
    /// The `azpacr` value.
    pub const fn acr(self) -> &'static str {
        match self {
            Self::None => "0",
            Self::Secret => "1",
            Self::Assertion => "2",
        }
    }
}

/// The claims of an access token, as values. `castellan-wire` renders them to JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// Audience: the resource's appId (v2 tokens).
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
}

/// Access-token lifetime in seconds (Entra's typical 3599).
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 3599;

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
}

/// ID-token lifetime in seconds (one hour, as Entra).
pub const ID_TOKEN_LIFETIME_SECS: i64 = 3600;
