//! Workload identity federation (Microsoft identity platform "Workload identity federation";
//! Graph `federatedIdentityCredential`): an application — and later a user-assigned managed
//! identity — trusts tokens from an external OpenID Connect issuer (GitHub Actions, Kubernetes,
//! Google, …) whose `iss`/`sub`/`aud` exactly match one of its federated identity credentials
//! (FICs). The client presents such a token as `client_assertion` instead of a secret or a
//! certificate-signed assertion (RFC 7523 §2.2 client authentication).
//!
//! This module owns the pure part, so every owner of FICs shares it:
//! - the [`FederatedIdentityCredential`] value and its registration rules
//!   ([`validate_credential`], [`check_add`], [`check_replace`], [`apply_patch`]): name 3–120
//!   URL-friendly characters, unique per owner and immutable; `issuer` an https URL of at most
//!   600 characters; `subject` at most 600; exactly one audience; at most [`MAX_PER_OWNER`]
//!   per owner; `issuer`+`subject` unique per owner; no leading/trailing whitespace anywhere
//!   (Entra stores such values and then never matches them; refusing them up front is kinder).
//! - the exchange decisions: which assertions are federated ([`is_federated`]), the issuer
//!   scheme rule ([`check_issuer_scheme`]), the accepted signature algorithms
//!   ([`AssertionAlgorithm`]), matching with Entra's codes ([`match_credential`]) and the time
//!   checks ([`check_lifetime`]), all combined by [`decide`].
//!
//! Matching is exact and case-sensitive on `iss` and `sub` (Entra's behaviour since 2025, see
//! the breaking-change note "Federated identity credentials now use case-sensitive matching").
//! Error messages name what was *presented*, never what is configured: the caller has not
//! authenticated yet.

use crate::error::{AadstsError, Code};
pub use crate::model::application::FederatedIdentityCredential;
use crate::DirectoryError;

/// The audience Entra recommends and defaults to.
pub const DEFAULT_AUDIENCE: &str = "api://AzureADTokenExchange";
/// At most this many FICs per application or managed identity.
pub const MAX_PER_OWNER: usize = 20;
/// Longest `issuer`, `subject`, audience and `description`.
pub const MAX_VALUE_LEN: usize = 600;
/// Shortest and longest `name`.
pub const NAME_LEN: (usize, usize) = (3, 120);
/// Clock skew allowed on `exp` and `nbf` of a federated assertion, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// A PATCH of a FIC: each `Some` replaces the value (`description: Some(None)` clears it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FicPatch {
    /// `name` (immutable: only the current value is accepted).
    pub name: Option<String>,
    /// `issuer`.
    pub issuer: Option<String>,
    /// `subject`.
    pub subject: Option<String>,
    /// `audiences`.
    pub audiences: Option<Vec<String>>,
    /// `description` (`Some(None)` = null).
    pub description: Option<Option<String>>,
}

fn bad(message: String) -> DirectoryError {
    DirectoryError::BadRequest(message)
}

fn trimmed(what: &str, v: &str) -> Result<(), DirectoryError> {
    if v.trim() != v {
        return Err(bad(format!(
            "federatedIdentityCredential {what} '{v}' has leading or trailing whitespace; remove it (matching is exact, so it could never match a token)."
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(bad(format!(
            "federatedIdentityCredential {what} contains control characters."
        )));
    }
    Ok(())
}

fn bounded(what: &str, v: &str) -> Result<(), DirectoryError> {
    if v.is_empty() {
        return Err(bad(format!(
            "federatedIdentityCredential {what} is required and must not be empty."
        )));
    }
    if v.chars().count() > MAX_VALUE_LEN {
        return Err(bad(format!(
            "federatedIdentityCredential {what} is longer than {MAX_VALUE_LEN} characters."
        )));
    }
    trimmed(what, v)
}

/// Whether `issuer` is an absolute https URL with a host (and no whitespace, query or fragment).
pub fn is_https_url(issuer: &str) -> bool {
    let Some(rest) = issuer.strip_prefix("https://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or("");
    !host.is_empty()
        && !host.contains('@')
        && !issuer.contains(['#', '?'])
        && !issuer.chars().any(char::is_whitespace)
}

/// Checks one FIC on its own: the Graph registration rules, each failure naming its rule.
pub fn validate_credential(fic: &FederatedIdentityCredential) -> Result<(), DirectoryError> {
    let n = fic.name.chars().count();
    if n < NAME_LEN.0 || n > NAME_LEN.1 {
        return Err(bad(format!(
            "federatedIdentityCredential name '{}' must be {} to {} characters long.",
            fic.name, NAME_LEN.0, NAME_LEN.1
        )));
    }
    // URL-friendly: RFC 3986 unreserved characters, starting with a letter or digit.
    let url_friendly = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
    if !fic.name.chars().all(url_friendly)
        || !fic.name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(bad(format!(
            "federatedIdentityCredential name '{}' must be URL-friendly: letters, digits, '-', '_', '.', '~', starting with a letter or digit.",
            fic.name
        )));
    }
    bounded("issuer", &fic.issuer)?;
    if !is_https_url(&fic.issuer) {
        return Err(bad(format!(
            "federatedIdentityCredential issuer '{}' must be an https URL (https://host/...): the issuer's OpenID Connect discovery document and keys are fetched over https.",
            fic.issuer
        )));
    }
    bounded("subject", &fic.subject)?;
    match fic.audiences.as_slice() {
        [one] => bounded("audience", one)?,
        _ => {
            return Err(bad(format!(
                "federatedIdentityCredential audiences must contain exactly one value (got {}); the recommended value is '{DEFAULT_AUDIENCE}'.",
                fic.audiences.len()
            )))
        }
    }
    if let Some(d) = &fic.description {
        if d.chars().count() > MAX_VALUE_LEN {
            return Err(bad(format!(
                "federatedIdentityCredential description is longer than {MAX_VALUE_LEN} characters."
            )));
        }
    }
    Ok(())
}

fn check_unique(
    others: &[&FederatedIdentityCredential],
    fic: &FederatedIdentityCredential,
) -> Result<(), DirectoryError> {
    if others
        .iter()
        .any(|o| o.name.eq_ignore_ascii_case(&fic.name))
    {
        return Err(DirectoryError::Conflict(format!(
            "A federatedIdentityCredential named '{}' already exists on this object; names are unique (case-insensitive).",
            fic.name
        )));
    }
    if others
        .iter()
        .any(|o| o.issuer == fic.issuer && o.subject == fic.subject)
    {
        return Err(DirectoryError::Conflict(format!(
            "A federatedIdentityCredential with issuer '{}' and subject '{}' already exists on this object; the issuer and subject combination must be unique.",
            fic.issuer, fic.subject
        )));
    }
    Ok(())
}

/// Checks adding `fic` next to `existing`: the single-value rules, the limit of
/// [`MAX_PER_OWNER`], a unique name and a unique issuer+subject pair.
pub fn check_add(
    existing: &[FederatedIdentityCredential],
    fic: &FederatedIdentityCredential,
) -> Result<(), DirectoryError> {
    validate_credential(fic)?;
    if existing.len() >= MAX_PER_OWNER {
        return Err(bad(format!(
            "An object can have at most {MAX_PER_OWNER} federatedIdentityCredentials; delete one before adding another."
        )));
    }
    if existing.iter().any(|o| o.id == fic.id) {
        return Err(DirectoryError::Conflict(format!(
            "A federatedIdentityCredential with id '{}' already exists.",
            fic.id
        )));
    }
    check_unique(&existing.iter().collect::<Vec<_>>(), fic)
}

/// Checks replacing the FIC with `fic.id` by `fic`: the single-value rules and uniqueness
/// against the others.
pub fn check_replace(
    existing: &[FederatedIdentityCredential],
    fic: &FederatedIdentityCredential,
) -> Result<(), DirectoryError> {
    validate_credential(fic)?;
    let others: Vec<_> = existing.iter().filter(|o| o.id != fic.id).collect();
    check_unique(&others, fic)
}

/// Applies a PATCH to `old`. `name` is immutable: sending the current name is accepted, any
/// other value refused. The result still needs [`check_replace`].
pub fn apply_patch(
    old: &FederatedIdentityCredential,
    patch: FicPatch,
) -> Result<FederatedIdentityCredential, DirectoryError> {
    if let Some(n) = &patch.name {
        if *n != old.name {
            return Err(bad(format!(
                "federatedIdentityCredential name is immutable: it is '{}' and cannot become '{n}'. Create a new credential instead.",
                old.name
            )));
        }
    }
    Ok(FederatedIdentityCredential {
        id: old.id,
        name: old.name.clone(),
        issuer: patch.issuer.unwrap_or_else(|| old.issuer.clone()),
        subject: patch.subject.unwrap_or_else(|| old.subject.clone()),
        audiences: patch.audiences.unwrap_or_else(|| old.audiences.clone()),
        description: patch.description.unwrap_or_else(|| old.description.clone()),
    })
}

/// Builds a new FIC from a create body (a [`FicPatch`] with every field it sent): `name`,
/// `issuer` and `subject` are required, `audiences` defaults to [`DEFAULT_AUDIENCE`]. The
/// result still needs [`check_add`].
pub fn new_credential(
    id: uuid::Uuid,
    input: FicPatch,
) -> Result<FederatedIdentityCredential, DirectoryError> {
    let required = |v: Option<String>, name: &str| {
        v.ok_or_else(|| {
            bad(format!(
                "Property '{name}' is required to create a federatedIdentityCredential."
            ))
        })
    };
    Ok(FederatedIdentityCredential {
        id,
        name: required(input.name, "name")?,
        issuer: required(input.issuer, "issuer")?,
        subject: required(input.subject, "subject")?,
        audiences: input
            .audiences
            .unwrap_or_else(|| vec![DEFAULT_AUDIENCE.to_string()]),
        description: input.description.flatten(),
    })
}

/// Finds a FIC by id (`{fic-id}` path segment) or, as Graph's alternate key, by name.
pub fn find<'a>(
    fics: &'a [FederatedIdentityCredential],
    key: &str,
) -> Option<&'a FederatedIdentityCredential> {
    let by_id = uuid::Uuid::parse_str(key).ok();
    fics.iter()
        .find(|f| Some(f.id) == by_id)
        .or_else(|| fics.iter().find(|f| f.name.eq_ignore_ascii_case(key)))
}

// ---------------------------------------------------------------------------------------------
// The exchange.

/// The claims of a presented assertion that federation looks at (parsed by wire, unverified
/// until the server has checked the signature).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssertionClaims {
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`, a string or an array of strings.
    pub aud: Vec<String>,
    /// `exp`, seconds.
    pub exp: Option<i64>,
    /// `nbf`, seconds.
    pub nbf: Option<i64>,
}

/// Whether a `client_assertion` with this `iss` is a federated (external) assertion rather
/// than one the application signed itself with its certificate. Self-signed client assertions
/// carry `iss` = `sub` = client id (RFC 7523 §3; Microsoft "certificate credentials"); an
/// assertion whose `iss` is a URL (`https://` or, to be refused with a clear message,
/// `http://`) comes from an external issuer.
pub fn is_federated(iss: Option<&str>, client_id: &str) -> bool {
    match iss {
        Some(i) if i != client_id => {
            let l = i.to_ascii_lowercase();
            l.starts_with("https://") || l.starts_with("http://")
        }
        _ => false,
    }
}

/// Federated issuers must be https: the issuer's discovery document and signing keys are
/// fetched from the issuer URL, and only TLS makes them trustworthy. 700211 otherwise (no
/// credential can name such an issuer).
pub fn check_issuer_scheme(iss: &str) -> Result<(), AadstsError> {
    if is_https_url(iss) {
        return Ok(());
    }
    Err(Code::FicIssuerNotHttps.aadsts(&[("iss", &iss)]))
}

/// The part of matching that may run before the signature is checked: the owner has FICs
/// (70021 otherwise) and one of them names this exact issuer (700211 otherwise). Only then
/// are the issuer's keys fetched — so an unsigned token cannot make the server contact a URL
/// no administrator registered — and only after the signature verifies does
/// [`match_credential`] report subject (700213) or audience (700212) mismatches, so forged
/// tokens cannot probe which subjects are configured.
pub fn check_issuer_known(
    fics: &[FederatedIdentityCredential],
    iss: &str,
    sub: &str,
    aud: &[String],
) -> Result<(), AadstsError> {
    if fics.is_empty() || !fics.iter().any(|f| f.issuer == iss) {
        return match_credential(fics, iss, sub, aud).map(|_| ());
    }
    Ok(())
}

/// Finds the FIC an assertion matches, with Entra's codes:
/// - no FIC at all → 70021 (`invalid_request`, the older form that lists issuer, subject and
///   audience);
/// - no FIC with this exact issuer → 700211;
/// - issuer matches but no subject does → 700213;
/// - issuer and subject match but `aud` does not contain the FIC's audience → 700212.
pub fn match_credential<'a>(
    fics: &'a [FederatedIdentityCredential],
    iss: &str,
    sub: &str,
    aud: &[String],
) -> Result<&'a FederatedIdentityCredential, AadstsError> {
    if fics.is_empty() {
        return Err(Code::FicNone.aadsts(&[("iss", &iss), ("sub", &sub), ("aud", &aud.join(","))]));
    }
    let by_issuer: Vec<_> = fics.iter().filter(|f| f.issuer == iss).collect();
    if by_issuer.is_empty() {
        return Err(Code::FicIssuerMismatch.aadsts(&[("iss", &iss)]));
    }
    let by_subject: Vec<_> = by_issuer.into_iter().filter(|f| f.subject == sub).collect();
    if by_subject.is_empty() {
        return Err(Code::FicSubjectMismatch.aadsts(&[("sub", &sub)]));
    }
    by_subject
        .into_iter()
        .find(|f| f.audiences.iter().any(|a| aud.contains(a)))
        .ok_or_else(|| Code::FicAudienceMismatch.aadsts(&[("aud", &aud.join(","))]))
}

/// `exp` must be present and not past (with [`LEEWAY_SECS`]); `nbf`, if present, not in the
/// future. 700024 otherwise, as Entra answers for an expired federated token.
pub fn check_lifetime(claims: &AssertionClaims, now_secs: i64) -> Result<(), AadstsError> {
    let Some(exp) = claims.exp else {
        return Err(Code::FicNoExp.aadsts(&[]));
    };
    if exp.saturating_add(LEEWAY_SECS) <= now_secs {
        return Err(Code::FicExpired.aadsts(&[("exp", &exp), ("now", &now_secs)]));
    }
    if let Some(nbf) = claims.nbf {
        if nbf.saturating_sub(LEEWAY_SECS) > now_secs {
            return Err(Code::FicNotYetValid.aadsts(&[("nbf", &nbf), ("now", &now_secs)]));
        }
    }
    Ok(())
}

/// The issuer, subject and audiences of an assertion, or 50027 naming the missing claim.
pub fn required_claims(claims: &AssertionClaims) -> Result<(&str, &str), AadstsError> {
    let missing = |c: &str| Code::FicMissingClaim.aadsts(&[("claim", &c)]);
    let iss = claims.iss.as_deref().ok_or_else(|| missing("iss"))?;
    let sub = claims
        .sub
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("sub"))?;
    if claims.aud.is_empty() {
        return Err(missing("aud"));
    }
    Ok((iss, sub))
}

/// The claim decision after the signature has been verified: issuer scheme, required claims,
/// matching ([`match_credential`]) and lifetime ([`check_lifetime`]).
pub fn decide<'a>(
    fics: &'a [FederatedIdentityCredential],
    claims: &AssertionClaims,
    now_secs: i64,
) -> Result<&'a FederatedIdentityCredential, AadstsError> {
    let (iss, sub) = required_claims(claims)?;
    check_issuer_scheme(iss)?;
    let fic = match_credential(fics, iss, sub, &claims.aud)?;
    check_lifetime(claims, now_secs)?;
    Ok(fic)
}

/// The signature algorithms accepted on federated assertions, each tied to the one key type it
/// may be verified with (RFC 8725 §3.1: never let the token choose freely).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssertionAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256; an RSA key.
    Rs256,
    /// RSASSA-PSS with SHA-256; an RSA key.
    Ps256,
    /// ECDSA P-256 with SHA-256; an EC key on P-256.
    Es256,
}

impl AssertionAlgorithm {
    /// Parses the header's `alg`; `None` (refuse) for anything else, including `none` and HMAC.
    pub fn parse(alg: &str) -> Option<Self> {
        match alg {
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
    /// The JOSE name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
        }
    }
    /// Whether a JWK with this `kty` (and `crv`, for EC keys) and optional `alg` may verify
    /// this algorithm.
    pub fn fits_key(self, kty: &str, crv: Option<&str>, key_alg: Option<&str>) -> bool {
        if key_alg.is_some_and(|a| a != self.as_str()) {
            return false;
        }
        match self {
            Self::Rs256 | Self::Ps256 => kty == "RSA",
            Self::Es256 => kty == "EC" && crv == Some("P-256"),
        }
    }
    /// 700027 for an algorithm outside the allowlist.
    pub fn refused(alg: &str) -> AadstsError {
        Code::FicAlgorithmRefused.aadsts(&[("alg", &alg)])
    }
}

/// 700229: an assertion issued by this server (Castellan's own tokens cannot be exchanged as
/// federated credentials; Entra only allows its own app-only tokens for its own issuer, which
/// this server does not offer).
pub fn own_token_refused(iss: &str) -> AadstsError {
    Code::FicOwnToken.aadsts(&[("iss", &iss)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OAuthError;

    fn fic(n: u8, issuer: &str, subject: &str) -> FederatedIdentityCredential {
        FederatedIdentityCredential {
            id: uuid::Uuid::from_bytes([n; 16]),
            name: format!("fic-{n}"),
            issuer: issuer.into(),
            subject: subject.into(),
            audiences: vec![DEFAULT_AUDIENCE.into()],
            description: None,
        }
    }
    const GH: &str = "https://token.actions.githubusercontent.com";
    const MAIN: &str = "repo:org/repo:ref:refs/heads/main";
    const PROD: &str = "repo:org/repo:environment:prod";

    fn aud() -> Vec<String> {
        vec![DEFAULT_AUDIENCE.into()]
    }
    fn code<T>(r: Result<T, AadstsError>) -> u32 {
        r.err().map_or(0, |e| e.code)
    }
    fn msg<T: std::fmt::Debug>(r: Result<T, DirectoryError>) -> String {
        match r {
            Err(DirectoryError::BadRequest(m) | DirectoryError::Conflict(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn matching_codes() {
        let fics = vec![fic(1, GH, MAIN), fic(2, GH, PROD)];
        // Each code, in Entra's order.
        assert_eq!(
            match_credential(&fics, GH, MAIN, &aud()).unwrap().id,
            fics[0].id
        );
        assert_eq!(
            match_credential(&fics, GH, PROD, &aud()).unwrap().id,
            fics[1].id
        );
        assert_eq!(code(match_credential(&[], GH, MAIN, &aud())), 70021);
        assert_eq!(
            code(match_credential(
                &fics,
                "https://other.example",
                MAIN,
                &aud()
            )),
            700211
        );
        assert_eq!(
            code(match_credential(
                &fics,
                GH,
                "repo:org/repo:pull_request",
                &aud()
            )),
            700213
        );
        assert_eq!(
            code(match_credential(
                &fics,
                GH,
                MAIN,
                &["api://other".to_string()]
            )),
            700212
        );
        // aud may be an array; one matching entry is enough.
        let many = vec!["x".to_string(), DEFAULT_AUDIENCE.to_string()];
        assert!(match_credential(&fics, GH, MAIN, &many).is_ok());
        // Messages name what was presented.
        let e = match_credential(&fics, GH, "repo:org/repo:pull_request", &aud()).unwrap_err();
        assert!(
            e.message.contains("'repo:org/repo:pull_request'"),
            "{}",
            e.message
        );
        assert_eq!(e.error, OAuthError::InvalidClient);
        let e = match_credential(&fics, "https://evil.example", MAIN, &aud()).unwrap_err();
        assert!(
            e.message.contains("'https://evil.example'"),
            "{}",
            e.message
        );
        let e = match_credential(&[], GH, MAIN, &aud()).unwrap_err();
        assert_eq!(e.error, OAuthError::InvalidRequest);
        assert!(e
            .message
            .contains("Assertion Subject: 'repo:org/repo:ref:refs/heads/main'"));
        // The configured subject never leaks into an error.
        let e = match_credential(&fics, GH, "repo:x/y:pull_request", &aud()).unwrap_err();
        assert!(!e.message.contains(MAIN), "{}", e.message);
    }

    #[test]
    fn issuer_check_before_the_signature() {
        let fics = vec![fic(1, GH, MAIN)];
        assert_eq!(code(check_issuer_known(&fics, GH, MAIN, &aud())), 0);
        // Subject and audience are not judged before the signature.
        assert_eq!(
            code(check_issuer_known(&fics, GH, "other", &["x".into()])),
            0
        );
        assert_eq!(
            code(check_issuer_known(&fics, "https://x.example", MAIN, &aud())),
            700211
        );
        assert_eq!(code(check_issuer_known(&[], GH, MAIN, &aud())), 70021);
    }

    #[test]
    fn matching_is_exact_and_case_sensitive() {
        let fics = vec![fic(1, GH, MAIN)];
        assert_eq!(
            code(match_credential(
                &fics,
                GH,
                "repo:Org/repo:ref:refs/heads/main",
                &aud()
            )),
            700213
        );
        assert_eq!(
            code(match_credential(
                &fics,
                "https://Token.actions.githubusercontent.com",
                MAIN,
                &aud()
            )),
            700211
        );
        assert_eq!(
            code(match_credential(&fics, &format!("{GH}/"), MAIN, &aud())),
            700211
        );
        assert_eq!(
            code(match_credential(&fics, &format!("{GH} "), MAIN, &aud())),
            700211
        );
        assert_eq!(
            code(match_credential(&fics, GH, &format!(" {MAIN}"), &aud())),
            700213
        );
        assert_eq!(
            code(match_credential(
                &fics,
                GH,
                MAIN,
                &["API://AzureADTokenExchange".into()]
            )),
            700212
        );
        // No wildcards.
        let star = vec![fic(1, GH, "repo:org/repo:*")];
        assert_eq!(code(match_credential(&star, GH, MAIN, &aud())), 700213);
    }

    #[test]
    fn lifetime() {
        let c = |exp: Option<i64>, nbf: Option<i64>| AssertionClaims {
            iss: Some(GH.into()),
            sub: Some(MAIN.into()),
            aud: aud(),
            exp,
            nbf,
        };
        assert_eq!(code(check_lifetime(&c(Some(1000), None), 900)), 0);
        assert_eq!(code(check_lifetime(&c(None, None), 900)), 700024);
        assert_eq!(
            code(check_lifetime(&c(Some(1000), None), 1000 + LEEWAY_SECS)),
            700024
        );
        assert_eq!(
            code(check_lifetime(&c(Some(1000), None), 1000 + LEEWAY_SECS - 1)),
            0
        );
        assert_eq!(code(check_lifetime(&c(Some(5000), Some(950)), 900)), 0);
        assert_eq!(
            code(check_lifetime(&c(Some(5000), Some(2000)), 900)),
            700024
        );
        // decide: missing claims and the https rule come first.
        let fics = vec![fic(1, GH, MAIN)];
        assert_eq!(
            decide(&fics, &c(Some(1000), None), 900).unwrap().id,
            fics[0].id
        );
        let mut no_sub = c(Some(1000), None);
        no_sub.sub = None;
        assert_eq!(code(decide(&fics, &no_sub, 900)), 50027);
        let mut no_aud = c(Some(1000), None);
        no_aud.aud.clear();
        assert_eq!(code(decide(&fics, &no_aud, 900)), 50027);
        let mut http = c(Some(1000), None);
        http.iss = Some("http://token.actions.githubusercontent.com".into());
        let e = decide(&fics, &http, 900).unwrap_err();
        assert_eq!(e.code, 700211);
        assert!(e.message.contains("https"), "{}", e.message);
        // An expired token that does not match reports the match first (like Entra).
        let mut other = c(Some(1), None);
        other.sub = Some(PROD.into());
        assert_eq!(code(decide(&fics, &other, 900)), 700213);
    }

    #[test]
    fn federated_or_self_signed() {
        let cid = "11111111-2222-3333-4444-555555555555";
        assert!(!is_federated(Some(cid), cid));
        assert!(!is_federated(None, cid));
        assert!(!is_federated(Some("someone-else"), cid));
        assert!(is_federated(Some(GH), cid));
        assert!(is_federated(Some("http://issuer.example"), cid));
        assert!(is_federated(Some("HTTPS://issuer.example"), cid));
    }

    #[test]
    fn algorithms_are_tied_to_key_types() {
        assert_eq!(AssertionAlgorithm::parse("none"), None);
        assert_eq!(AssertionAlgorithm::parse("HS256"), None);
        assert_eq!(AssertionAlgorithm::parse("rs256"), None);
        let rs = AssertionAlgorithm::parse("RS256").unwrap();
        let ps = AssertionAlgorithm::parse("PS256").unwrap();
        let es = AssertionAlgorithm::parse("ES256").unwrap();
        assert!(rs.fits_key("RSA", None, None));
        assert!(rs.fits_key("RSA", None, Some("RS256")));
        assert!(!rs.fits_key("RSA", None, Some("PS256")));
        assert!(!rs.fits_key("EC", Some("P-256"), None));
        assert!(!rs.fits_key("oct", None, None));
        assert!(ps.fits_key("RSA", None, None));
        assert!(es.fits_key("EC", Some("P-256"), None));
        assert!(!es.fits_key("EC", Some("P-384"), None));
        assert!(!es.fits_key("RSA", None, None));
        assert_eq!(AssertionAlgorithm::refused("none").code, 700027);
    }

    #[test]
    fn registration_rules() {
        assert!(validate_credential(&fic(1, GH, MAIN)).is_ok());
        let with = |f: &dyn Fn(&mut FederatedIdentityCredential)| {
            let mut x = fic(1, GH, MAIN);
            f(&mut x);
            validate_credential(&x)
        };
        assert!(msg(with(&|x| x.name = "ab".into())).contains("3 to 120"));
        assert!(with(&|x| x.name = "abc".into()).is_ok());
        assert!(with(&|x| x.name = "a".repeat(120)).is_ok());
        assert!(msg(with(&|x| x.name = "a".repeat(121))).contains("3 to 120"));
        assert!(msg(with(&|x| x.name = "has space".into())).contains("URL-friendly"));
        assert!(msg(with(&|x| x.name = "a/b/c".into())).contains("URL-friendly"));
        assert!(msg(with(&|x| x.name = "-abc".into())).contains("URL-friendly"));
        assert!(with(&|x| x.name = "gh_main-1.x".into()).is_ok());
        assert!(msg(with(&|x| x.issuer = "http://issuer.example".into())).contains("https"));
        assert!(msg(with(&|x| x.issuer = "issuer.example".into())).contains("https"));
        assert!(msg(with(&|x| x.issuer = "https://".into())).contains("https"));
        assert!(msg(with(&|x| x.issuer = String::new())).contains("required"));
        assert!(msg(with(
            &|x| x.issuer = format!("https://x/{}", "a".repeat(600))
        ))
        .contains("600"));
        assert!(msg(with(&|x| x.issuer = format!("{GH} "))).contains("whitespace"));
        assert!(msg(with(&|x| x.subject = format!(" {MAIN}"))).contains("whitespace"));
        assert!(msg(with(&|x| x.subject = format!("{MAIN}\n"))).contains("whitespace"));
        assert!(msg(with(&|x| x.subject = String::new())).contains("subject"));
        assert!(msg(with(&|x| x.subject = "s".repeat(601))).contains("600"));
        assert!(with(&|x| x.subject = "s".repeat(600)).is_ok());
        assert!(msg(with(&|x| x.audiences = vec![])).contains("exactly one"));
        assert!(msg(with(&|x| x.audiences = vec!["a".into(), "b".into()])).contains("exactly one"));
        assert!(msg(with(&|x| x.audiences = vec![String::new()])).contains("audience"));
        assert!(msg(with(&|x| x.description = Some("d".repeat(601)))).contains("description"));
    }

    #[test]
    fn limit_and_uniqueness() {
        let mut all: Vec<_> = (1..=19).map(|n| fic(n, GH, &format!("sub-{n}"))).collect();
        assert!(check_add(&all, &fic(20, GH, "sub-20")).is_ok());
        all.push(fic(20, GH, "sub-20"));
        assert!(msg(check_add(&all, &fic(21, GH, "sub-21"))).contains("at most 20"));
        let existing = vec![fic(1, GH, MAIN)];
        // Same issuer+subject under another name.
        let mut dup = fic(2, GH, MAIN);
        dup.name = "other".into();
        assert!(msg(check_add(&existing, &dup)).contains("issuer and subject"));
        // Same name (case-insensitive), other subject.
        let mut same_name = fic(2, GH, PROD);
        same_name.name = "FIC-1".into();
        assert!(msg(check_add(&existing, &same_name)).contains("already exists"));
        // Subjects differing only in case are distinct (matching is case-sensitive).
        assert!(check_add(&existing, &fic(2, GH, "repo:Org/repo:ref:refs/heads/main")).is_ok());
        // Replace: itself does not clash; another does.
        let two = vec![fic(1, GH, MAIN), fic(2, GH, PROD)];
        let mut moved = two[1].clone();
        moved.description = Some("x".into());
        assert!(check_replace(&two, &moved).is_ok());
        moved.subject = MAIN.into();
        assert!(msg(check_replace(&two, &moved)).contains("issuer and subject"));
    }

    #[test]
    fn patching() {
        let old = fic(1, GH, MAIN);
        let p = FicPatch {
            subject: Some(PROD.into()),
            description: Some(Some("prod".into())),
            ..FicPatch::default()
        };
        let new = apply_patch(&old, p).unwrap();
        assert_eq!(new.subject, PROD);
        assert_eq!(new.issuer, GH);
        assert_eq!(new.description.as_deref(), Some("prod"));
        let same_name = FicPatch {
            name: Some(old.name.clone()),
            ..FicPatch::default()
        };
        assert_eq!(apply_patch(&old, same_name).unwrap(), old);
        let rename = FicPatch {
            name: Some("renamed".into()),
            ..FicPatch::default()
        };
        assert!(msg(apply_patch(&old, rename)).contains("immutable"));
        assert_eq!(
            find(std::slice::from_ref(&old), "FIC-1").map(|f| f.id),
            Some(old.id)
        );
        assert_eq!(
            find(std::slice::from_ref(&old), &old.id.to_string()).map(|f| f.id),
            Some(old.id)
        );
        assert!(find(&[old], "nope").is_none());
    }
}
