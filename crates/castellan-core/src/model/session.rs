//! Short-lived sign-in state: authorization codes, refresh tokens, device codes, SSO sessions,
//! used client-assertion ids, smart-lockout counters — one shape, [`Grant`], keyed by a handle
//! that is the SHA-256 (hex) of the secret the client holds (never the secret itself) — and the
//! sign-in log record, [`SignIn`].

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// What a grant row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantKind {
    /// An authorization code (single use, ten minutes).
    Code,
    /// A refresh token (rotated on every use).
    Refresh,
    /// A device-code authorization (RFC 8628).
    Device,
    /// A browser SSO session (the cookie's hash).
    Sso,
    /// A client assertion's `jti`, kept until the assertion expires (replay refusal).
    AssertionId,
    /// Smart-lockout counters for one user.
    Lockout,
    /// A user's request for admin consent (admin consent workflow).
    ConsentRequest,
    /// A SAML AuthnRequest's `ID`, kept until the request expires: each is answered once.
    SamlRequestId,
    /// A B2B invitation's redemption secret (single use, bound to the invited address).
    Invitation,
    /// An email one-time passcode sent to a guest without a home tenant.
    EmailOtp,
}

impl GrantKind {
    /// Stable name, used by the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Refresh => "refresh",
            Self::Device => "device",
            Self::Sso => "sso",
            Self::AssertionId => "jti",
            Self::Lockout => "lockout",
            Self::ConsentRequest => "consentreq",
            Self::SamlRequestId => "samlreq",
            Self::Invitation => "invite",
            Self::EmailOtp => "emailotp",
        }
    }
    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Code,
            Self::Refresh,
            Self::Device,
            Self::Sso,
            Self::AssertionId,
            Self::Lockout,
            Self::ConsentRequest,
            Self::SamlRequestId,
            Self::Invitation,
            Self::EmailOtp,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where a grant is in its life. Transitions are compare-and-set in the store, so two
/// concurrent redemptions cannot both succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantState {
    /// Usable (a code not yet redeemed, the live refresh token, a live session).
    Active,
    /// Consumed (a redeemed code, a rotated refresh token, a redeemed device code).
    Used,
    /// Revoked (reuse detected, sign-out, password change, `revokeSignInSessions`).
    Revoked,
    /// A device code waiting for the user.
    Pending,
    /// A device code the user approved.
    Approved,
    /// A device code the user declined.
    Declined,
}

impl GrantState {
    /// Stable name, used by the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Used => "used",
            Self::Revoked => "revoked",
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
        }
    }
    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Active,
            Self::Used,
            Self::Revoked,
            Self::Pending,
            Self::Approved,
            Self::Declined,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One piece of sign-in state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// SHA-256 hex of the secret (or a derived key for jti/lockout rows). Unique.
    pub handle: String,
    /// Kind.
    pub kind: GrantKind,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Family: every refresh token descended from one code or sign-in shares it; revoked together.
    pub family: Option<String>,
    /// The user, once known.
    pub user_id: Option<ObjectId>,
    /// A second unique key (the device flow's user code).
    pub lookup: Option<String>,
    /// State.
    pub state: GrantState,
    /// Created.
    pub created: Timestamp,
    /// After this the row is worthless and may be purged.
    pub expires: Timestamp,
    /// Flow-specific values (client_id, redirect_uri, scope, nonce, code_challenge, ...).
    pub attrs: Vec<(String, String)>,
}

impl Grant {
    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Sets (or replaces) an attribute.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name.to_string(), value)),
        }
    }
    /// An attribute parsed as an integer.
    pub fn attr_i64(&self, name: &str) -> Option<i64> {
        self.attr(name).and_then(|v| v.parse().ok())
    }
}

/// What to revoke in bulk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevokeScope {
    /// Every grant of a family (refresh-token reuse, replayed code).
    Family(String),
    /// Every refresh token and SSO session of a user (password change, `revokeSignInSessions`,
    /// account disabled).
    User(TenantId, ObjectId),
}

/// One entry of a sign-in's `appliedConditionalAccessPolicies`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedPolicy {
    /// Policy id.
    pub id: String,
    /// Policy name.
    pub display_name: String,
    /// `success`, `failure`, `notApplied`, `notEnabled`, `reportOnlySuccess`, … .
    pub result: String,
    /// The grant controls the policy required (Graph's words).
    pub enforced_grant_controls: Vec<String>,
    /// The session controls it set.
    pub enforced_session_controls: Vec<String>,
}

/// Graph's `signIn.location`: where GeoIP places the client address (all `None` without a
/// GeoIP database or for addresses it does not know).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignInLocation {
    /// `city`.
    pub city: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `countryOrRegion`: ISO 3166-1 alpha-2.
    pub country_or_region: Option<String>,
    /// `geoCoordinates.latitude`.
    pub latitude: Option<f64>,
    /// `geoCoordinates.longitude`.
    pub longitude: Option<f64>,
}

/// Identity Protection's verdict on one sign-in (Graph's `riskLevelDuringSignIn`,
/// `riskLevelAggregated`, `riskState`, `riskDetail`, `riskEventTypes_v2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInRiskInfo {
    /// `riskLevelDuringSignIn`: `none`, `low`, `medium`, `high`.
    pub during_sign_in: String,
    /// `riskLevelAggregated`: the user's risk after this sign-in.
    pub aggregated: String,
    /// `riskState`.
    pub state: String,
    /// `riskDetail`.
    pub detail: String,
    /// `riskEventTypes_v2`.
    pub event_types: Vec<String>,
}

impl Default for SignInRiskInfo {
    fn default() -> Self {
        Self {
            during_sign_in: "none".into(),
            aggregated: "none".into(),
            state: "none".into(),
            detail: "none".into(),
            event_types: Vec::new(),
        }
    }
}

/// One sign-in attempt, as Graph's `signIn` resource describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct SignIn {
    /// Record id.
    pub id: uuid::Uuid,
    /// Tenant the attempt was made against.
    pub tenant_id: TenantId,
    /// When.
    pub created: Timestamp,
    /// The user, when one was named (also for unknown users: what they typed).
    pub user_principal_name: Option<String>,
    /// The user's object id, when known.
    pub user_id: Option<ObjectId>,
    /// The user's display name, when known.
    pub user_display_name: Option<String>,
    /// The client application (or the service principal itself for app-only).
    pub app_id: String,
    /// Its display name, when known.
    pub app_display_name: Option<String>,
    /// The resource the token was for, when known.
    pub resource_display_name: Option<String>,
    /// The resource's appId, when known.
    pub resource_id: Option<String>,
    /// Client IP.
    pub ip_address: String,
    /// `Browser`, `Mobile Apps and Desktop clients`, ... (Graph's `clientAppUsed`).
    pub client_app_used: String,
    /// Interactive (a user at a page) or not.
    pub is_interactive: bool,
    /// 0 for success, else the AADSTS code.
    pub error_code: u32,
    /// Why it failed (empty on success).
    pub failure_reason: String,
    /// Extra detail (the grant type, the flow).
    pub additional_details: String,
    /// The request's correlation id.
    pub correlation_id: String,
    /// `singleFactorAuthentication`, or `multiFactorAuthentication` once the session did MFA.
    pub authentication_requirement: String,
    /// `conditionalAccessStatus`: `success`, `failure` or `notApplied`.
    pub conditional_access_status: String,
    /// Graph's `appliedConditionalAccessPolicies`: every policy evaluated for the sign-in.
    pub applied_policies: Vec<AppliedPolicy>,
    /// User or service principal sign-in.
    pub is_service_principal: bool,
    /// The client's `User-Agent` (empty when it sent none).
    pub user_agent: String,
    /// GeoIP's placing of `ip_address`.
    pub location: SignInLocation,
    /// Identity Protection's verdict.
    pub risk: SignInRiskInfo,
    /// Graph's `deviceDetail`: the device the sign-in proved it came from, if any.
    pub device: Option<SignInDevice>,
}

/// Graph's `authenticationRequirement` of a sign-in that did multifactor authentication (the
/// others are `singleFactorAuthentication`).
pub const MFA_AUTHENTICATION_REQUIREMENT: &str = "multiFactorAuthentication";

impl SignIn {
    /// Records that the session behind this sign-in did multifactor authentication.
    pub fn note_authn(&mut self, authn: &Authn) {
        if authn.mfa_at.is_some() {
            self.authentication_requirement = MFA_AUTHENTICATION_REQUIREMENT.into();
        }
    }
}

/// The device of a sign-in (Graph `deviceDetail`), as it was at sign-in time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignInDevice {
    /// `deviceId`.
    pub device_id: String,
    /// `displayName`.
    pub display_name: String,
    /// `operatingSystem`.
    pub operating_system: String,
    /// `isCompliant`.
    pub is_compliant: bool,
    /// `isManaged`.
    pub is_managed: bool,
    /// `trustType`.
    pub trust_type: String,
}

/// Filter for reading sign-ins (newest first).
#[derive(Clone, Debug, Default)]
pub struct SignInQuery {
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// A failed password sign-in kept for password-spray detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedSignInRecord {
    /// Tenant.
    pub tenant_id: TenantId,
    /// The source failures are grouped by (an IPv4 address, an IPv6 /64).
    pub source: String,
    /// The client address.
    pub ip: String,
    /// The user name tried.
    pub username: String,
    /// When.
    pub at: Timestamp,
}

/// How, and when, the user of a session authenticated: the primary factor's time
/// (`auth_time`) and the multifactor authentication, when one was done. Carried from the
/// sign-in into the SSO session, the authorization code and every refresh token of the family,
/// so Conditional Access sees what the session already proved and tokens say it (`amr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authn {
    /// When the primary factor (the password) was proved.
    pub auth_time: Timestamp,
    /// When multifactor authentication was completed, if it was.
    pub mfa_at: Option<Timestamp>,
}

impl Authn {
    /// A password sign-in at `at`, without MFA.
    pub const fn password(at: Timestamp) -> Self {
        Self {
            auth_time: at,
            mfa_at: None,
        }
    }

    /// The session facts as the plain text sealed into a token's opaque `aio` claim (so an
    /// on-behalf-of exchange knows what the user did): `1.<auth_time ms>.<mfa_at ms or ->`.
    pub fn to_aio_plain(&self) -> String {
        match self.mfa_at {
            Some(m) => format!("1.{}.{}", self.auth_time.millis(), m.millis()),
            None => format!("1.{}.-", self.auth_time.millis()),
        }
    }

    /// Reads [`Authn::to_aio_plain`]'s text; `None` for anything else.
    pub fn from_aio_plain(s: &str) -> Option<Self> {
        let mut it = s.split('.');
        if it.next()? != "1" {
            return None;
        }
        let auth_time = Timestamp(it.next()?.parse().ok()?);
        let mfa_at = match it.next()? {
            "-" => None,
            m => Some(Timestamp(m.parse().ok()?)),
        };
        it.next().is_none().then_some(Self { auth_time, mfa_at })
    }

    /// A claims challenge asking for step-up (`requested`) that this session has not met yet:
    /// the MFA requirement (50076) it stands for.
    pub fn step_up_owed(&self, requested: bool) -> Option<crate::error::AadstsError> {
        (requested && self.mfa_at.is_none()).then(|| {
            crate::error::AadstsError::mfa_required(
                "the claims challenge in the request (step-up authentication)",
            )
        })
    }

    /// The `amr` claim: `pwd`, plus `mfa` once multifactor authentication was done (the
    /// values of Entra's v1 tokens; an authenticator-app code is Entra's `mfa`).
    pub fn amr(&self) -> Vec<&'static str> {
        if self.mfa_at.is_some() {
            vec!["pwd", "mfa"]
        } else {
            vec!["pwd"]
        }
    }
}

/// Access-token lifetime in seconds (Entra's typical 3599).
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 3599;
