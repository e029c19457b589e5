//! SAML 2.0 single sign-on as Entra's identity provider (Microsoft identity platform, "Single
//! sign-on SAML protocol"; OASIS SAML 2.0 Core §3.4 and Profiles §4.1): which AuthnRequests
//! are accepted, where the response goes, which NameID and attributes the assertion carries,
//! and how long it lives. Pure: the server loads the service principal, parses the XML
//! (`castellan_wire::saml`), verifies signatures and replays, and signs the result.

use crate::error::{AadstsError, Code};
use crate::model::{Application, ServicePrincipal, User};
use crate::time::Timestamp;

/// `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`.
pub const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
/// `urn:oasis:names:tc:SAML:2.0:nameid-format:persistent` (pairwise per application).
pub const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// `urn:oasis:names:tc:SAML:2.0:nameid-format:transient` (new per sign-in).
pub const TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
/// `urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified` (Entra: pairwise, like persistent).
pub const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// `Conditions NotOnOrAfter` = `NotBefore` + 70 minutes (Entra's SAML token lifetime).
pub const ASSERTION_LIFETIME_SECS: i64 = 70 * 60;
/// How far `Conditions NotBefore` is set before the issue instant (clock skew).
pub const NOT_BEFORE_SKEW_SECS: i64 = 5 * 60;
/// An AuthnRequest's `IssueInstant` may be this far from now, either way.
pub const ISSUE_INSTANT_WINDOW_SECS: i64 = 10 * 60;
/// A SAML sign-in must complete (login page, MFA) within this time.
pub const SIGNIN_LIFETIME_SECS: i64 = 30 * 60;
/// A request `ID` is remembered (refused again) for this long: longer than the issue window.
pub const REQUEST_ID_MEMORY_SECS: i64 = 2 * ISSUE_INSTANT_WINDOW_SECS + SIGNIN_LIFETIME_SECS;

/// A parsed `samlp:AuthnRequest` (the fields Entra honours or refuses).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthnRequest {
    /// `ID`.
    pub id: String,
    /// `Version`.
    pub version: String,
    /// `IssueInstant`, when it parsed.
    pub issue_instant: Option<Timestamp>,
    /// `Destination`.
    pub destination: Option<String>,
    /// `Issuer` (the application's identifier).
    pub issuer: Option<String>,
    /// `AssertionConsumerServiceURL`.
    pub acs_url: Option<String>,
    /// `ProtocolBinding`.
    pub protocol_binding: Option<String>,
    /// `NameIDPolicy Format`.
    pub name_id_format: Option<String>,
    /// `ForceAuthn="true"`.
    pub force_authn: bool,
    /// `IsPassive="true"`.
    pub is_passive: bool,
    /// A `Subject` element (Entra refuses it).
    pub has_subject: bool,
    /// `RequestedAuthnContext`'s class references.
    pub authn_context: Vec<String>,
    /// `RequestedAuthnContext Comparison`.
    pub comparison: Option<String>,
}

/// How the request's signature stood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    /// Not signed.
    Absent,
    /// Signed, and the signature verified with one of the app's verification certificates.
    Verified,
}

/// An accepted AuthnRequest: what the response needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The request `ID` (the response's `InResponseTo`).
    pub request_id: String,
    /// Where the response is posted.
    pub acs_url: String,
    /// The audience (the request's Issuer).
    pub audience: String,
    /// The NameID format.
    pub name_id_format: &'static str,
    /// `ForceAuthn`: sign in again even with a session.
    pub force_authn: bool,
    /// `IsPassive`: never show a page.
    pub is_passive: bool,
}

fn invalid(detail: &str) -> AadstsError {
    Code::SamlInvalidRequest.aadsts(&[("detail", &detail)])
}

/// Whether `id` is an acceptable xs:ID for a SAML message (present, starts with a letter or
/// `_`, NCName characters, bounded).
pub fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && id.len() <= 256
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The service principal whose identifiers include `issuer` (Entra: the AuthnRequest's Issuer
/// must equal an identifier URI / service principal name of the application).
pub fn find_by_issuer<'a>(
    sps: &'a [ServicePrincipal],
    issuer: &str,
) -> Option<&'a ServicePrincipal> {
    sps.iter()
        .find(|sp| sp.service_principal_names.iter().any(|n| n == issuer))
}

/// The NameID format: the request's `NameIDPolicy` when it names one (refused if Entra does
/// not support it), else the app's configured one, else `emailAddress`.
pub fn name_id_format(
    requested: Option<&str>,
    configured: Option<&str>,
) -> Result<&'static str, AadstsError> {
    let known = |f: &str| {
        [EMAIL, PERSISTENT, TRANSIENT, UNSPECIFIED]
            .into_iter()
            .find(|k| *k == f)
    };
    match requested {
        Some(f) => known(f).ok_or_else(|| Code::SamlNameIdPolicy.aadsts(&[("format", &f)])),
        None => Ok(configured.and_then(known).unwrap_or(EMAIL)),
    }
}

/// Checks an AuthnRequest for the service principal found by its Issuer (Entra's order:
/// ID, version, Subject, time, destination, signature, reply URL, NameID policy, authn
/// context). `endpoint`: this tenant's `/saml2` URL (the only acceptable `Destination`).
pub fn check(
    req: &AuthnRequest,
    sp: &ServicePrincipal,
    app: &Application,
    endpoint: &str,
    signature: Signature,
    now: Timestamp,
) -> Result<Accepted, AadstsError> {
    if !valid_id(&req.id) {
        return Err(Code::SamlInvalidId.aadsts(&[("id", &req.id)]));
    }
    if req.version != "2.0" {
        return Err(invalid("Version must be 2.0"));
    }
    if req.has_subject {
        return Err(invalid("an AuthnRequest must not carry a Subject"));
    }
    let Some(instant) = req.issue_instant else {
        return Err(invalid("IssueInstant is missing or not an xs:dateTime"));
    };
    if (instant.secs() - now.secs()).abs() > ISSUE_INSTANT_WINDOW_SECS {
        return Err(Code::SamlIssueInstant.aadsts(&[
            ("instant", &instant.secs()),
            ("window", &ISSUE_INSTANT_WINDOW_SECS),
        ]));
    }
    if let Some(d) = req.destination.as_deref() {
        if d != endpoint {
            return Err(
                Code::SamlDestination.aadsts(&[("destination", &d), ("expected", &endpoint)])
            );
        }
    }
    if !sp.saml.enabled() {
        return Err(Code::SamlNotEnabled.aadsts(&[("app_id", &sp.app_id)]));
    }
    if sp.saml.require_signed_requests && signature != Signature::Verified {
        return Err(Code::SamlUnsigned.aadsts(&[]));
    }
    if let Some(b) = req.protocol_binding.as_deref() {
        if b != "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" {
            return Err(invalid(
                "ProtocolBinding must be urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST (responses are only sent by HTTP POST)",
            ));
        }
    }
    let acs_url = reply_url(app, req.acs_url.as_deref())?;
    let name_id_format = name_id_format(
        req.name_id_format.as_deref(),
        sp.saml.name_id_format.as_deref(),
    )?;
    if let Some(c) = req.comparison.as_deref() {
        if c != "exact" {
            return Err(Code::SamlAuthnContext.aadsts(&[
                ("method", &"Password"),
                ("requested", &format!("Comparison={c}")),
            ]));
        }
    }
    const PASSWORD: [&str; 3] = [
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
    ];
    if let Some(other) = req
        .authn_context
        .iter()
        .find(|c| !PASSWORD.contains(&c.as_str()))
    {
        return Err(Code::SamlAuthnContext.aadsts(&[
            ("method", &"urn:oasis:names:tc:SAML:2.0:ac:classes:Password"),
            ("requested", &other),
        ]));
    }
    Ok(Accepted {
        request_id: req.id.clone(),
        acs_url,
        audience: req.issuer.clone().unwrap_or_default(),
        name_id_format,
        force_authn: req.force_authn,
        is_passive: req.is_passive,
    })
}

/// The reply URL: the requested one if registered exactly (no wildcard, no prefix match), else
/// the app's first reply URL when none was requested.
pub fn reply_url(app: &Application, requested: Option<&str>) -> Result<String, AadstsError> {
    match requested {
        Some(acs) if app.web_redirect_uris.iter().any(|u| u == acs) => Ok(acs.to_string()),
        Some(acs) => {
            Err(Code::SamlReplyUrlMismatch.aadsts(&[("acs", &acs), ("app_id", &app.app_id)]))
        }
        None => app
            .web_redirect_uris
            .first()
            .cloned()
            .ok_or_else(|| Code::SamlNoReplyUrl.aadsts(&[("app_id", &app.app_id)])),
    }
}

/// The audience of an IdP-initiated response: the app's first identifier that is not its
/// appId (the Entity ID), else the appId.
pub fn idp_initiated_audience(sp: &ServicePrincipal) -> String {
    let app_id = sp.app_id.to_string();
    sp.service_principal_names
        .iter()
        .find(|n| **n != app_id)
        .cloned()
        .unwrap_or(app_id)
}

/// The NameID value for `format`. Persistent and unspecified are pairwise: stable for one user
/// and one application, different across applications, not the object id. Transient is new
/// per sign-in (`fresh`, random from the caller). emailAddress is the user's mail, else UPN.
pub fn name_id(format: &str, user: &User, sp: &ServicePrincipal, fresh: &str) -> String {
    match format {
        PERSISTENT | UNSPECIFIED => {
            let d =
                crate::secret::sha256(format!("saml-pairwise:{}:{}", sp.id, user.id).as_bytes());
            d.iter().take(20).map(|b| format!("{b:02x}")).collect()
        }
        TRANSIENT => format!("_{fresh}"),
        _ => user
            .mail
            .clone()
            .unwrap_or_else(|| user.user_principal_name.clone()),
    }
}

/// Claim URIs of Entra's default SAML attribute statement.
pub mod claim {
    /// `name` (the user principal name).
    pub const NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
    /// `givenname`.
    pub const GIVEN_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
    /// `surname`.
    pub const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
    /// `emailaddress`.
    pub const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
    /// `objectidentifier`.
    pub const OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
    /// `tenantid`.
    pub const TENANT_ID: &str = "http://schemas.microsoft.com/identity/claims/tenantid";
    /// `identityprovider`.
    pub const IDP: &str = "http://schemas.microsoft.com/identity/claims/identityprovider";
    /// `displayname`.
    pub const DISPLAY_NAME: &str = "http://schemas.microsoft.com/identity/claims/displayname";
    /// `authnmethodsreferences`.
    pub const AMR: &str = "http://schemas.microsoft.com/claims/authnmethodsreferences";
}

/// The user properties a claims mapping may take a value from (Graph names).
pub const SOURCES: &[&str] = &[
    "userPrincipalName",
    "mail",
    "givenName",
    "surname",
    "displayName",
    "objectId",
    "jobTitle",
    "department",
    "officeLocation",
    "companyName",
    "employeeId",
    "mailNickname",
];

fn source_value(user: &User, source: &str) -> Option<String> {
    match source {
        "userPrincipalName" => Some(user.user_principal_name.clone()),
        "mail" => user.mail.clone(),
        "givenName" => user.given_name.clone(),
        "surname" => user.surname.clone(),
        "displayName" => Some(user.display_name.clone()),
        "objectId" => Some(user.id.to_string()),
        "jobTitle" => user.job_title.clone(),
        "department" => user.department.clone(),
        "officeLocation" => user.office_location.clone(),
        "companyName" => user.company_name.clone(),
        "employeeId" => user.employee_id.clone(),
        "mailNickname" => user.mail_nickname.clone(),
        _ => None,
    }
}

/// The attribute statement: Entra's default claims, then the service principal's claims
/// mapping (a mapping for a default claim URI replaces it; an empty source removes it). A
/// claim whose source is empty for this user is left out, as Entra does.
pub fn attributes(
    user: &User,
    sp: &ServicePrincipal,
    issuer: &str,
    mfa: bool,
) -> Vec<(String, Vec<String>)> {
    let mut amr = vec![
        "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
            .to_string(),
    ];
    if mfa {
        amr.push("http://schemas.microsoft.com/claims/multipleauthn".into());
    }
    let mut out: Vec<(String, Vec<String>)> = vec![
        (claim::TENANT_ID.into(), vec![user.tenant_id.to_string()]),
        (claim::OBJECT_ID.into(), vec![user.id.to_string()]),
        (claim::DISPLAY_NAME.into(), vec![user.display_name.clone()]),
        (claim::IDP.into(), vec![issuer.to_string()]),
        (claim::AMR.into(), amr),
    ];
    for (uri, src) in [
        (claim::GIVEN_NAME, "givenName"),
        (claim::SURNAME, "surname"),
        (claim::EMAIL, "mail"),
        (claim::NAME, "userPrincipalName"),
    ] {
        if let Some(v) = source_value(user, src) {
            out.push((uri.into(), vec![v]));
        }
    }
    for (uri, src) in &sp.saml.claims {
        out.retain(|(u, _)| u != uri);
        if let Some(v) = source_value(user, src).filter(|v| !v.is_empty()) {
            out.push((uri.clone(), vec![v]));
        }
    }
    out
}

/// A claims-mapping entry is well-formed: an absolute claim URI (or a short name) and a known
/// source property (empty: remove the claim).
pub fn check_claim_mapping(uri: &str, source: &str) -> Result<(), String> {
    if uri.is_empty() || uri.len() > 256 || uri.chars().any(char::is_whitespace) {
        return Err(format!("The claim name '{uri}' is not valid: use a URI without spaces, at most 256 characters."));
    }
    if !source.is_empty() && !SOURCES.contains(&source) {
        return Err(format!(
            "The claim source '{source}' is not a user property Castellan maps: use one of {}.",
            SOURCES.join(", ")
        ));
    }
    Ok(())
}

/// The assertion's validity window: (`NotBefore`, `NotOnOrAfter`).
pub fn validity(now: Timestamp) -> (Timestamp, Timestamp) {
    let nb = now.plus_secs(-NOT_BEFORE_SKEW_SECS);
    (nb, nb.plus_secs(ASSERTION_LIFETIME_SECS))
}

/// A parsed `samlp:LogoutRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogoutRequest {
    /// `ID`.
    pub id: String,
    /// `Version`.
    pub version: String,
    /// `IssueInstant`.
    pub issue_instant: Option<Timestamp>,
    /// `Destination`.
    pub destination: Option<String>,
    /// `Issuer`.
    pub issuer: Option<String>,
    /// `NameID`.
    pub name_id: Option<String>,
    /// `NotOnOrAfter`.
    pub not_on_or_after: Option<Timestamp>,
}

/// Checks a LogoutRequest from the service principal named by its Issuer: ID, version, time,
/// destination, and a signature whenever the app has verification certificates (a logout
/// request ends the user's session, so an unsigned one is refused when it could be signed).
pub fn check_logout(
    req: &LogoutRequest,
    sp: &ServicePrincipal,
    endpoint: &str,
    signature: Signature,
    now: Timestamp,
) -> Result<(), AadstsError> {
    if !valid_id(&req.id) {
        return Err(Code::SamlInvalidId.aadsts(&[("id", &req.id)]));
    }
    if req.version != "2.0" {
        return Err(invalid("Version must be 2.0"));
    }
    let Some(instant) = req.issue_instant else {
        return Err(invalid("IssueInstant is missing or not an xs:dateTime"));
    };
    if (instant.secs() - now.secs()).abs() > ISSUE_INSTANT_WINDOW_SECS {
        return Err(Code::SamlIssueInstant.aadsts(&[
            ("instant", &instant.secs()),
            ("window", &ISSUE_INSTANT_WINDOW_SECS),
        ]));
    }
    if req.not_on_or_after.is_some_and(|t| t <= now) {
        return Err(invalid("the LogoutRequest is past its NotOnOrAfter"));
    }
    if let Some(d) = req.destination.as_deref() {
        if d != endpoint {
            return Err(
                Code::SamlDestination.aadsts(&[("destination", &d), ("expected", &endpoint)])
            );
        }
    }
    let needs_signature =
        sp.saml.require_signed_requests || !sp.saml.verification_certificates.is_empty();
    if needs_signature && signature != Signature::Verified {
        return Err(Code::SamlUnsigned.aadsts(&[]));
    }
    Ok(())
}

/// User assignment (`appRoleAssignmentRequired`): the user, or a group they are in, must hold
/// an app-role assignment to the application's service principal (`assignments`: the user's,
/// direct and through groups).
pub fn assignment(
    sp: &ServicePrincipal,
    app: &Application,
    user: &User,
    assignments: &[crate::model::AppRoleAssignment],
) -> Result<(), AadstsError> {
    if sp.app_role_assignment_required && !assignments.iter().any(|a| a.resource_id == sp.id) {
        return Err(Code::UserNotAssigned.aadsts(&[
            ("app_name", &app.display_name),
            ("app_id", &app.app_id),
            ("upn", &user.user_principal_name),
            ("sp_id", &sp.id),
        ]));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
