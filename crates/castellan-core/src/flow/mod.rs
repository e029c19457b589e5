//! Token flows, one file per grant or spec step. Each is a pure function from loaded data and
//! the request to a decision (claims) or an `AadstsError`.

pub mod client_credentials;
pub mod scope;

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
    /// `app` or `user`.
    pub idtyp: &'static str,
    /// Unique token id.
    pub uti: String,
}

/// Access-token lifetime in seconds (Entra's typical 3599).
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 3599;
