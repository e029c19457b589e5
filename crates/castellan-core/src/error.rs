//! The error table. Each token-service failure is one `Aadsts` entry with Entra's AADSTS number,
//! the OAuth `error` value, and a message that names the cause and the fix. Directory (Graph)
//! failures are `DirectoryError`. Only the server turns them into HTTP responses (through wire).

use std::fmt;

/// OAuth 2.0 `error` values Entra uses at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthError {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client`
    InvalidClient,
    /// `invalid_grant`
    InvalidGrant,
    /// `unauthorized_client`
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `invalid_scope`
    InvalidScope,
    /// `invalid_resource`
    InvalidResource,
    /// `temporarily_unavailable`
    TemporarilyUnavailable,
    /// `server_error`
    ServerError,
    /// `authorization_pending` (device flow: the user has not finished).
    AuthorizationPending,
    /// `slow_down` (device flow: polled faster than `interval`).
    SlowDown,
    /// `expired_token` (device flow: the device code expired).
    ExpiredToken,
    /// `authorization_declined` (device flow: the user declined).
    AuthorizationDeclined,
    /// `bad_verification_code` (device flow: unknown device code).
    BadVerificationCode,
    /// `login_required` (`prompt=none` without a session).
    LoginRequired,
    /// `interaction_required` (`prompt=none` but the user must act).
    InteractionRequired,
    /// `consent_required` (authorize: consent missing, sent to the redirect).
    ConsentRequired,
    /// `access_denied`.
    AccessDenied,
    /// `unsupported_response_type`.
    UnsupportedResponseType,
}

impl OAuthError {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidResource => "invalid_resource",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::AuthorizationDeclined => "authorization_declined",
            Self::BadVerificationCode => "bad_verification_code",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::ConsentRequired => "consent_required",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
        }
    }
}

/// A token-service failure with Entra's AADSTS code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AadstsError {
    /// The AADSTS number.
    pub code: u32,
    /// The OAuth error.
    pub error: OAuthError,
    /// What went wrong and how to fix it (without the `AADSTSnnn: ` prefix).
    pub message: String,
}

impl fmt::Display for AadstsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AADSTS{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AadstsError {}

macro_rules! aadsts {
    ($code:expr, $err:ident, $($fmt:tt)+) => {
        AadstsError { code: $code, error: OAuthError::$err, message: format!($($fmt)+) }
    };
}

/// Constructors, one per failure family. Keeping them here keeps the table in one place.
impl AadstsError {
    /// 900144: a required parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        aadsts!(
            900144,
            InvalidRequest,
            "The request body must contain the following parameter: '{name}'."
        )
    }
    /// 90002: the tenant in the path does not exist.
    pub fn tenant_not_found(tenant: &str) -> Self {
        aadsts!(90002, InvalidRequest, "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Use the tenant's GUID or one of its verified domains in the authority URL.")
    }
    /// 9001023: grant type not allowed on `common`/`organizations`/`consumers`.
    pub fn grant_needs_tenant(grant: &str, alias: &str) -> Self {
        aadsts!(9001023, InvalidRequest, "The grant type '{grant}' is not supported over the /{alias} endpoint. Use a tenant-specific authority: /<tenant-id> or /<domain>.")
    }
    /// 70003: unsupported grant type.
    pub fn unsupported_grant_type(grant: &str) -> Self {
        aadsts!(70003, UnsupportedGrantType, "The app requested an unsupported grant type '{grant}'. Supported here: client_credentials, password.")
    }
    /// 700016: the client application is not in this tenant.
    pub fn client_not_found(client_id: &str, tenant: &str) -> Self {
        aadsts!(700016, UnauthorizedClient, "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.")
    }
    /// 7000218: no client credential in the request.
    pub fn missing_client_credential() -> Self {
        aadsts!(7000218, InvalidClient, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
    }
    /// 7000215: the client secret does not match.
    pub fn invalid_client_secret(client_id: &str) -> Self {
        aadsts!(7000215, InvalidClient, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.")
    }
    /// 7000222: the client secret has expired.
    pub fn expired_client_secret(client_id: &str, key_id: &str) -> Self {
        aadsts!(7000222, InvalidClient, "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds. Expired key id: {key_id}.")
    }
    /// 7000112: the application or its service principal is disabled.
    pub fn client_disabled(client_id: &str) -> Self {
        aadsts!(
            7000112,
            UnauthorizedClient,
            "Application '{client_id}' is disabled."
        )
    }
    /// 70011: the scope is not valid.
    pub fn invalid_scope(scope: &str, why: &str) -> Self {
        aadsts!(70011, InvalidScope, "The provided value for the input parameter 'scope' is not valid. The scope '{scope}' is not valid. {why}")
    }
    /// 70011: the `scope` parameter is beyond a parser limit (`flow::scope::MAX_SCOPES`,
    /// `MAX_SCOPE_LEN`); the message names the limit and the value, not the whole text.
    pub fn scope_over_limit(detail: &str) -> Self {
        aadsts!(
            70011,
            InvalidScope,
            "The provided value for the input parameter 'scope' is not valid. {detail}"
        )
    }
    /// 500011: the resource principal is not in the tenant.
    pub fn resource_not_found(resource: &str, tenant: &str) -> Self {
        aadsts!(500011, InvalidResource, "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.")
    }
    /// 90014: a parameter appears more than once or is malformed.
    pub fn malformed(what: &str) -> Self {
        aadsts!(90014, InvalidRequest, "{what}")
    }
    /// 50034: no such user in the tenant.
    pub fn user_not_found(upn: &str, tenant: &str) -> Self {
        aadsts!(50034, InvalidGrant, "The user account {upn} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory.")
    }
    /// 50126: wrong user name or password.
    pub fn invalid_credentials() -> Self {
        aadsts!(
            50126,
            InvalidGrant,
            "Error validating credentials due to invalid username or password."
        )
    }
    /// 50057: the account is disabled.
    pub fn user_disabled() -> Self {
        aadsts!(50057, InvalidGrant, "The user account is disabled. An administrator must enable it (accountEnabled = true).")
    }
    /// 50055: the password must be changed first.
    pub fn password_must_change() -> Self {
        aadsts!(50055, InvalidGrant, "The password is expired or must be changed at next sign-in. Sign in interactively to change it, then retry.")
    }
    /// 65001: consent is missing for a requested permission.
    pub fn consent_required(client_id: &str, client_name: &str, missing: &str) -> Self {
        aadsts!(65001, InvalidGrant, "The user or administrator has not consented to use the application with ID '{client_id}' named '{client_name}'. Send an interactive authorization request for this user and resource. Missing: {missing}.")
    }
    /// 50053: smart lockout.
    pub fn locked_out(secs: i64) -> Self {
        aadsts!(50053, InvalidGrant, "Your account is locked because the wrong password was entered too many times. Try again in {secs} seconds, or ask an administrator to reset the password.")
    }
    /// 70008: an expired or revoked authorization code or refresh token.
    pub fn expired_grant(what: &str) -> Self {
        aadsts!(70008, InvalidGrant, "The provided authorization code or refresh token has expired or been revoked ({what}). Send a new interactive authorization request.")
    }
    /// 54005: a code presented twice.
    pub fn code_already_redeemed() -> Self {
        aadsts!(54005, InvalidGrant, "OAuth2 Authorization code was already redeemed; the tokens issued from it have been revoked. Please retry with a new valid code.")
    }
    /// 9002327: a single-page-application code redeemed outside a cross-origin request.
    pub fn spa_code_needs_cross_origin() -> Self {
        aadsts!(9002327, InvalidRequest, "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests (from the browser, with an Origin header).")
    }
    /// 9002313: a grant value that is not one of ours.
    pub fn malformed_grant(what: &str) -> Self {
        aadsts!(9002313, InvalidGrant, "Invalid request. Request is malformed or invalid: the {what} is not one this tenant issued.")
    }
    /// 53003: a Conditional Access policy blocks the sign-in.
    pub fn blocked_by_conditional_access(policies: &str) -> Self {
        aadsts!(53003, InteractionRequired, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance. Blocking policies: {policies}. An administrator can exclude the user or application, or change the policy's conditions.")
    }
    /// 530035: blocked by security defaults (legacy authentication).
    pub fn blocked_by_security_defaults(policies: &str) -> Self {
        aadsts!(530035, InteractionRequired, "Access has been blocked by security defaults: the request uses legacy authentication (here: the resource owner password credentials grant). Blocking policy: {policies}. Use an interactive or device-code sign-in, or an administrator can turn security defaults off and use Conditional Access instead.")
    }
    /// 53000: a Conditional Access policy requires a compliant device.
    pub fn device_not_compliant(policies: &str) -> Self {
        aadsts!(53000, InteractionRequired, "Device is not in required device state: compliant. Conditional Access policy requires a compliant device, and the device is not compliant. The user must enroll their device with an approved MDM provider. Policies: {policies}.")
    }
    /// 50155: a device assertion was presented and failed (signature, time, audience, replay,
    /// form). UNCONFIRMED: Entra's number for "DeviceAuthenticationFailed", as remembered.
    pub fn device_authentication_failed(why: &str) -> Self {
        aadsts!(50155, InvalidGrant, "Device authentication failed: {why} Send a fresh assertion signed with the device key registered for the device (castellan device assertion), or no device assertion at all.")
    }
    /// 700003: the device an assertion names is not in the tenant's directory. UNCONFIRMED:
    /// Entra's number as remembered.
    pub fn device_not_found(device_id: &str) -> Self {
        aadsts!(700003, InvalidGrant, "Device object was not found in the tenant directory: no device with deviceId '{device_id}' is registered in this tenant. Register the device (POST /v1.0/devices or castellan device register) or sign in without a device assertion.")
    }
    /// 135011: the device an assertion names is disabled. UNCONFIRMED: Entra's number as
    /// remembered.
    pub fn device_disabled(device_id: &str) -> Self {
        aadsts!(135011, InvalidGrant, "Device used during the authentication is disabled: device '{device_id}' has accountEnabled false. An administrator can enable it (PATCH /v1.0/devices/{{id}} with accountEnabled true).")
    }
    /// 53001: a Conditional Access policy requires a hybrid (domain) joined device.
    pub fn device_not_domain_joined(policies: &str) -> Self {
        aadsts!(53001, InteractionRequired, "Device is not in required device state: domain_joined. Conditional Access policy requires a domain joined device, and the device is not domain joined. Sign in from a hybrid joined device. Policies: {policies}.")
    }
    /// 53002: a Conditional Access policy requires an approved (or protected) client app.
    pub fn client_app_not_approved(policies: &str) -> Self {
        aadsts!(53002, InteractionRequired, "Application used is not an approved application for Conditional Access. The user must use an approved client app (or one under an app protection policy) to get access. Policies: {policies}.")
    }
    /// 50076: multifactor authentication is required.
    pub fn mfa_required(policies: &str) -> Self {
        aadsts!(50076, InteractionRequired, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access this resource. Sign in interactively and complete MFA. Policies: {policies}.")
    }
    /// 500121: the authenticator code entered at the MFA challenge was refused.
    pub fn mfa_code_rejected() -> Self {
        aadsts!(500121, InvalidGrant, "Authentication failed during the strong authentication request: the code is wrong, expired or already used. Enter the current code from your authenticator app.")
    }
    /// 50053 (IdsLocked) for the second factor: too many verification codes were tried
    /// (`flow::mfa_attempts`); refused, even with a valid code, until the cool-down ends.
    pub fn mfa_locked_out(retry_after_secs: i64, threshold: u32, window_mins: i64) -> Self {
        aadsts!(50053, InvalidGrant, "Your account is temporarily locked out of multifactor authentication because too many verification codes were tried ({threshold} within {window_mins} minutes). Try again in {retry_after_secs} seconds; codes entered before then are not checked. An Authentication Administrator can reset the MFA attempts (POST /v1.0/users/{{id}}/authentication/resetMfaAttempts).")
    }
    /// 54005 for a code an earlier, failed redemption attempt consumed: every presentation of
    /// an authorization code spends it (RFC 9700 §4.8.2 "a wrong verifier burns the code").
    pub fn code_spent_by_failed_attempt() -> Self {
        aadsts!(54005, InvalidGrant, "OAuth2 Authorization code was already redeemed: an earlier redemption attempt with this code failed (wrong client, redirect_uri, code_verifier or client credential), and any attempt consumes the code. Please retry with a new valid code.")
    }
    /// 50079: multifactor authentication is required and the user has no method registered.
    pub fn mfa_registration_required(policies: &str) -> Self {
        aadsts!(50079, InteractionRequired, "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access this resource. Sign in interactively and register a method. Policies: {policies}.")
    }
    /// 50142: a Conditional Access policy requires a secure password change (user risk).
    /// UNCONFIRMED: the code is Entra's as remembered, not in `shared/reference`.
    pub fn password_change_required(policies: &str) -> Self {
        aadsts!(50142, InteractionRequired, "Password change is required due to a conditional access policy. Sign in interactively, complete multi-factor authentication and change the password. Policies: {policies}.")
    }
    /// 70043: the session is older than a Conditional Access sign-in frequency allows.
    pub fn sign_in_frequency(policies: &str) -> Self {
        aadsts!(70043, InvalidGrant, "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. Sign in again interactively. Policies: {policies}.")
    }
    /// 700025: a public client sent a credential.
    pub fn public_client_with_credential() -> Self {
        aadsts!(700025, InvalidClient, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
    }
}

/// A failure of a directory (Graph) operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// 404 `Request_ResourceNotFound`.
    #[error("{0}")]
    NotFound(String),
    /// 400 `Request_BadRequest`.
    #[error("{0}")]
    BadRequest(String),
    /// 400 `Request_BadRequest` for a uniqueness clash (Graph answers 400 here, not 409).
    #[error("{0}")]
    Conflict(String),
    /// 403 `Authorization_RequestDenied`.
    #[error("{0}")]
    Forbidden(String),
    /// 503: the store failed; retry.
    #[error("{0}")]
    Unavailable(String),
}

impl From<crate::store::StoreError> for DirectoryError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound(m) => Self::NotFound(m),
            crate::store::StoreError::Conflict(c) => Self::Conflict(c.to_string()),
            crate::store::StoreError::Backend(m) | crate::store::StoreError::Busy(m) => {
                Self::Unavailable(m)
            }
        }
    }
}
