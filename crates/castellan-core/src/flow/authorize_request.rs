//! The authorize request's rules (Microsoft identity platform auth-code and implicit flows,
//! OpenID Connect Core §3): response type and mode, scope, `openid` and `nonce` for an ID
//! token, PKCE (required for SPA and native redirects), `max_age`, `prompt`, and which of the
//! browser's session, a login page or `login_required` answers the request.
//!
//! The server has already resolved the tenant, the client and the redirect URI (failures up to
//! there are an error page); [`check`] applies the rest in Entra's order. A response-mode error
//! is still a page (the mode to answer in is what is wrong); every later error goes back to the
//! redirect URI in the request's mode ([`Refusal::Redirect`]).

use crate::error::{AadstsError, Code};
use crate::time::Timestamp;

use super::pkce;
use super::redirect::Platform;
use super::scope;

/// How the answer reaches the redirect URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseMode {
    /// `?code=…`.
    Query,
    /// `#code=…`.
    Fragment,
    /// An auto-submitting form.
    FormPost,
}

/// The request's parameters, as sent (empty values already dropped).
#[derive(Clone, Debug, Default)]
pub struct Params<'a> {
    /// `response_type` (empty when absent).
    pub response_type: &'a str,
    /// `response_mode`.
    pub response_mode: Option<&'a str>,
    /// `scope`.
    pub scope: Option<&'a str>,
    /// `nonce`.
    pub nonce: Option<&'a str>,
    /// `code_challenge`.
    pub code_challenge: Option<&'a str>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<&'a str>,
    /// `max_age`.
    pub max_age: Option<&'a str>,
    /// `prompt`.
    pub prompt: Option<&'a str>,
    /// `admin_consent=1` (the request came from `/adminconsent`).
    pub admin_consent: bool,
    /// The `claims` parameter's verdict (wire parses it): asks for step-up, or why it is
    /// malformed; `None` when absent.
    pub step_up: Option<Result<bool, AadstsError>>,
}

/// A request that passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked<'a> {
    /// A code is asked for.
    pub code: bool,
    /// An ID token is asked for.
    pub id_token: bool,
    /// Where the answer goes.
    pub mode: ResponseMode,
    /// The scope text.
    pub scope: &'a str,
    /// The S256 challenge.
    pub code_challenge: Option<String>,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// Step-up is asked for.
    pub step_up: bool,
    /// `prompt`.
    pub prompt: Option<&'a str>,
}

/// Why a request fails, and how the error is answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An error page (the response mode itself is wrong).
    Page(AadstsError),
    /// To the redirect URI, in this mode.
    Redirect(ResponseMode, AadstsError),
}

/// `response_type`: (code, id_token); both false when unsupported.
pub fn response_type(text: &str) -> (bool, bool) {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    words.sort_unstable();
    match words.as_slice() {
        ["code"] => (true, false),
        ["id_token"] => (false, true),
        ["code", "id_token"] => (true, true),
        _ => (false, false),
    }
}

/// `response_mode`, defaulting to `fragment` for an ID token and `query` otherwise.
pub fn response_mode(requested: Option<&str>, id_token: bool) -> Result<ResponseMode, AadstsError> {
    match requested {
        None if id_token => Ok(ResponseMode::Fragment),
        None | Some("query") => Ok(ResponseMode::Query),
        Some("fragment") => Ok(ResponseMode::Fragment),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(other) => Err(Code::ResponseModeUnsupported.aadsts(&[("mode", &other)])),
    }
}

/// PKCE is required for SPA and native redirects (not for `/adminconsent`, which issues no
/// code to redeem).
pub const fn pkce_required(platform: Platform, admin_consent: bool) -> bool {
    matches!(platform, Platform::Spa | Platform::PublicClient) && !admin_consent
}

/// `max_age`: a non-negative number of seconds.
pub fn max_age(text: Option<&str>) -> Result<Option<i64>, AadstsError> {
    match text {
        Some(m) => match m.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(Some(v)),
            _ => Err(Code::MaxAgeInvalid.aadsts(&[])),
        },
        None => Ok(None),
    }
}

/// `prompt`: login, none, consent, select_account or create.
pub fn prompt(text: Option<&str>) -> Result<Option<&str>, AadstsError> {
    match text {
        Some(p)
            if !matches!(
                p,
                "login" | "none" | "consent" | "select_account" | "create"
            ) =>
        {
            Err(Code::PromptInvalid.aadsts(&[("prompt", &p)]))
        }
        other => Ok(other),
    }
}

/// Checks the request for a client whose redirect URI matched `platform`.
pub fn check<'a>(platform: Platform, p: &Params<'a>) -> Result<Checked<'a>, Refusal> {
    let (code, id_token) = response_type(p.response_type);
    let mode = response_mode(p.response_mode, id_token).map_err(Refusal::Page)?;
    let back = |e: AadstsError| Refusal::Redirect(mode, e);
    if !code && !id_token {
        return Err(back(
            Code::ResponseTypeUnsupported.aadsts(&[("response_type", &p.response_type)]),
        ));
    }
    if id_token && mode == ResponseMode::Query {
        return Err(back(Code::QueryCannotCarryIdToken.aadsts(&[])));
    }
    let Some(scope_text) = p.scope else {
        return Err(back(AadstsError::missing_parameter("scope")));
    };
    let parsed = scope::parse_delegated(scope_text).map_err(back)?;
    if id_token && !parsed.oidc.iter().any(|x| x == "openid") {
        return Err(back(Code::IdTokenWithoutOpenid.aadsts(&[])));
    }
    if id_token && p.nonce.is_none() {
        return Err(back(AadstsError::missing_parameter("nonce")));
    }
    let challenge = pkce::challenge_from_request(
        p.code_challenge,
        p.code_challenge_method,
        pkce_required(platform, p.admin_consent) && code,
    )
    .map_err(back)?
    .map(|c| c.as_str().to_string());
    let max_age = max_age(p.max_age).map_err(back)?;
    let step_up = match &p.step_up {
        Some(Ok(b)) => *b,
        Some(Err(e)) => return Err(back(e.clone())),
        None => false,
    };
    let prompt = prompt(p.prompt).map_err(back)?;
    Ok(Checked {
        code,
        id_token,
        mode,
        scope: scope_text,
        code_challenge: challenge,
        max_age,
        step_up,
        prompt,
    })
}

/// Whether the browser's session may answer: it is the hinted user (case-insensitive) and its
/// password is not older than `max_age`.
pub fn session_usable(
    login_hint: Option<&str>,
    upn: &str,
    max_age: Option<i64>,
    auth_time: Timestamp,
    now: Timestamp,
) -> bool {
    let hint_ok = login_hint.is_none_or(|h| h.eq_ignore_ascii_case(upn));
    let fresh = max_age.is_none_or(|m| now < auth_time.plus_secs(m));
    hint_ok && fresh
}

/// Who answers an authorize request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The usable session signs the user in.
    Session,
    /// `prompt=none` without a usable session: AADSTS50058 ([`login_required`]).
    LoginRequired,
    /// The sign-in page.
    LoginPage,
}

/// `prompt=login` and `select_account` always show the page; `none` never does.
pub fn entry(usable_session: bool, prompt: Option<&str>) -> Entry {
    let force_login = matches!(prompt, Some("login" | "select_account"));
    match (usable_session, force_login, prompt) {
        (true, false, _) => Entry::Session,
        (false, _, Some("none")) => Entry::LoginRequired,
        _ => Entry::LoginPage,
    }
}

/// AADSTS50058 for a silent request nobody is signed in for.
pub fn login_required() -> AadstsError {
    Code::SilentSignInWithoutSession.aadsts(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn base() -> Params<'static> {
        Params {
            response_type: "code",
            scope: Some("openid profile"),
            code_challenge: Some(CHALLENGE),
            code_challenge_method: Some("S256"),
            ..Params::default()
        }
    }

    fn code_of(r: &Result<Checked<'_>, Refusal>) -> Option<u32> {
        match r {
            Ok(_) => None,
            Err(Refusal::Page(e) | Refusal::Redirect(_, e)) => Some(e.code),
        }
    }

    #[test]
    fn table() {
        type Case = (
            &'static str,
            Platform,
            fn(&mut Params<'static>),
            Option<u32>,
            bool,
        );
        let cases: &[Case] = &[
            (
                "code for a SPA with PKCE",
                Platform::Spa,
                |_| {},
                None,
                false,
            ),
            (
                "SPA without PKCE",
                Platform::Spa,
                |p| {
                    p.code_challenge = None;
                    p.code_challenge_method = None;
                },
                Some(9002325),
                false,
            ),
            (
                "native without PKCE",
                Platform::PublicClient,
                |p| {
                    p.code_challenge = None;
                    p.code_challenge_method = None;
                },
                Some(9002325),
                false,
            ),
            (
                "web without PKCE is fine",
                Platform::Web,
                |p| {
                    p.code_challenge = None;
                    p.code_challenge_method = None;
                },
                None,
                false,
            ),
            (
                "adminconsent needs no PKCE",
                Platform::Spa,
                |p| {
                    p.code_challenge = None;
                    p.code_challenge_method = None;
                    p.admin_consent = true;
                },
                None,
                false,
            ),
            (
                "plain PKCE",
                Platform::Web,
                |p| p.code_challenge_method = Some("plain"),
                Some(501491),
                false,
            ),
            (
                "method without challenge",
                Platform::Web,
                |p| p.code_challenge = None,
                Some(50147),
                false,
            ),
            (
                "unsupported response type",
                Platform::Web,
                |p| p.response_type = "token",
                Some(900144),
                false,
            ),
            (
                "empty response type",
                Platform::Web,
                |p| p.response_type = "",
                Some(900144),
                false,
            ),
            (
                "unknown response mode is a page",
                Platform::Web,
                |p| p.response_mode = Some("web_message"),
                Some(900144),
                true,
            ),
            (
                "id_token in the query",
                Platform::Web,
                |p| {
                    p.response_type = "id_token";
                    p.response_mode = Some("query");
                    p.nonce = Some("n");
                },
                Some(900144),
                false,
            ),
            (
                "id_token without nonce",
                Platform::Web,
                |p| p.response_type = "id_token",
                Some(900144),
                false,
            ),
            (
                "id_token without openid",
                Platform::Web,
                |p| {
                    p.response_type = "id_token";
                    p.nonce = Some("n");
                    p.scope = Some("User.Read");
                },
                Some(900144),
                false,
            ),
            (
                "id_token with nonce and openid",
                Platform::Web,
                |p| {
                    p.response_type = "id_token code";
                    p.nonce = Some("n");
                },
                None,
                false,
            ),
            (
                "no scope",
                Platform::Web,
                |p| p.scope = None,
                Some(900144),
                false,
            ),
            (
                "negative max_age",
                Platform::Web,
                |p| p.max_age = Some("-1"),
                Some(900144),
                false,
            ),
            (
                "text max_age",
                Platform::Web,
                |p| p.max_age = Some("soon"),
                Some(900144),
                false,
            ),
            (
                "zero max_age",
                Platform::Web,
                |p| p.max_age = Some("0"),
                None,
                false,
            ),
            (
                "unknown prompt",
                Platform::Web,
                |p| p.prompt = Some("always"),
                Some(900144),
                false,
            ),
            (
                "prompt create",
                Platform::Web,
                |p| p.prompt = Some("create"),
                None,
                false,
            ),
            (
                "malformed claims",
                Platform::Web,
                |p| p.step_up = Some(Err(AadstsError::missing_parameter("claims"))),
                Some(900144),
                false,
            ),
        ];
        for (name, platform, edit, want, page) in cases {
            let mut p = base();
            edit(&mut p);
            let got = check(*platform, &p);
            assert_eq!(code_of(&got), *want, "{name}");
            if want.is_some() {
                assert_eq!(matches!(got, Err(Refusal::Page(_))), *page, "{name}");
            }
        }
    }

    #[test]
    fn modes_default_by_response_type_and_errors_go_back_in_that_mode() {
        let mut p = base();
        p.response_type = "id_token";
        p.nonce = Some("n");
        assert_eq!(
            check(Platform::Web, &p).map(|c| c.mode),
            Ok(ResponseMode::Fragment)
        );
        p.response_mode = Some("form_post");
        p.prompt = Some("sometimes");
        assert!(matches!(
            check(Platform::Web, &p),
            Err(Refusal::Redirect(ResponseMode::FormPost, _))
        ));
        let ok = check(Platform::Spa, &base()).unwrap();
        assert_eq!(ok.mode, ResponseMode::Query);
        assert_eq!(ok.code_challenge.as_deref(), Some(CHALLENGE));
        assert!((ok.code, ok.id_token) == (true, false));
    }

    #[test]
    fn the_session_answers_unless_hint_age_or_prompt_say_otherwise() {
        let t = Timestamp(1_000_000);
        let later = t.plus_secs(100);
        assert!(session_usable(None, "a@b", None, t, later));
        assert!(session_usable(Some("A@B"), "a@b", None, t, later));
        assert!(!session_usable(Some("c@b"), "a@b", None, t, later));
        assert!(!session_usable(None, "a@b", Some(100), t, later));
        assert!(session_usable(None, "a@b", Some(101), t, later));
        assert_eq!(entry(true, None), Entry::Session);
        assert_eq!(entry(true, Some("none")), Entry::Session);
        assert_eq!(entry(true, Some("login")), Entry::LoginPage);
        assert_eq!(entry(true, Some("select_account")), Entry::LoginPage);
        assert_eq!(entry(false, Some("none")), Entry::LoginRequired);
        assert_eq!(entry(false, Some("consent")), Entry::LoginPage);
        assert_eq!(entry(false, None), Entry::LoginPage);
    }
}
