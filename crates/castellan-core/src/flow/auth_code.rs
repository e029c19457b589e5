//! Authorization-code redemption checks (RFC 6749 §4.1.3, RFC 7636 §4.6): the code must be one
//! of ours, unexpired, unredeemed, presented by the client it was issued to, with the same
//! redirect URI and the PKCE verifier matching the challenge. A second presentation of a redeemed
//! code is AADSTS54005 and the caller revokes every token issued from it (RFC 6749 §4.1.2).
//!
//! Any redemption attempt of a live code spends it (RFC 9700 §2.1.1 and §4.8.2: a wrong PKCE
//! verifier must not leave the code usable for a second guess): a wrong client, redirect URI,
//! verifier or client credential is [`CodeDecision::Burn`], which the caller commits with the
//! same compare-and-set (Active → Used, marked `burned`) that a successful redemption uses, so
//! the first attempt decides, once, and a later correct attempt is AADSTS54005. The one
//! exception is a single-page-application code presented outside a cross-origin request
//! ([`decide_request`]): that request is refused as the wrong kind of request before anything
//! about the code is checked, so it learns nothing and spends nothing.

use crate::error::{AadstsError, Code};
use crate::flow::pkce::{self, CodeChallenge};
use crate::model::{Grant, GrantKind, GrantState};
use crate::time::Timestamp;

/// Codes live ten minutes (Entra: "about 10 minutes").
pub const CODE_LIFETIME_SECS: i64 = 600;

/// What the caller must do with a presented code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeDecision {
    /// Redeem it (compare-and-set Active → Used), then issue tokens.
    Redeem,
    /// Refuse and revoke every grant of the code's family (replay).
    RevokeFamily(AadstsError),
    /// Refuse without side effects.
    Refuse(AadstsError),
    /// Spend the code (compare-and-set Active → Used, marked `burned` — see [`burned`]), then
    /// refuse with this error: a redemption attempt with a wrong parameter.
    Burn(AadstsError),
}

/// The stored state of a live code spent by a failed redemption attempt (`Used`, attribute
/// `burned` = 1); `None` when `code` is not a live code (not a code, not active, expired), so
/// there is nothing to spend.
pub fn burned(code: &Grant, now: Timestamp) -> Option<Grant> {
    if code.kind != GrantKind::Code || code.state != GrantState::Active || now >= code.expires {
        return None;
    }
    let mut b = code.clone();
    b.state = GrantState::Used;
    b.set("burned", "1");
    Some(b)
}

/// [`decide`] for a request as it arrived: an SPA code (`spa` = 1) redeemed outside a
/// cross-origin request (no `Origin` header) is AADSTS9002327 *before* its parameters are
/// compared, and does not spend the code — the browser app's own request may still follow.
/// A spent or revoked code answers as [`decide`] does.
pub fn decide_request(
    code: &Grant,
    client_id: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    cross_origin: bool,
    now: Timestamp,
) -> CodeDecision {
    let d = decide(code, client_id, redirect_uri, verifier, now);
    let spa = code.attr("spa") == Some("1");
    match d {
        CodeDecision::Redeem | CodeDecision::Burn(_) if spa && !cross_origin => {
            CodeDecision::Refuse(AadstsError::spa_code_needs_cross_origin())
        }
        d => d,
    }
}

fn burn(e: AadstsError) -> CodeDecision {
    CodeDecision::Burn(e)
}

/// Decides a redemption.
pub fn decide(
    code: &Grant,
    client_id: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now: Timestamp,
) -> CodeDecision {
    if code.kind != GrantKind::Code {
        return CodeDecision::Refuse(AadstsError::malformed_grant("authorization code"));
    }
    match code.state {
        GrantState::Used if code.attr("burned").is_some() => {
            return CodeDecision::RevokeFamily(AadstsError::code_spent_by_failed_attempt())
        }
        GrantState::Used => return CodeDecision::RevokeFamily(AadstsError::code_already_redeemed()),
        GrantState::Active => {}
        _ => {
            return CodeDecision::Refuse(AadstsError::expired_grant(
                "the code was revoked by a sign-out or password change",
            ))
        }
    }
    if now >= code.expires {
        return CodeDecision::Refuse(AadstsError::expired_grant(
            "authorization codes are valid for 10 minutes",
        ));
    }
    // From here on the code is live: whatever is wrong with the attempt spends it.
    if code.attr("client_id") != Some(client_id) {
        return burn(Code::CodeForOtherClient.aadsts(&[]));
    }
    let registered = code.attr("redirect_uri").unwrap_or("");
    match redirect_uri {
        None => {
            return CodeDecision::Burn(AadstsError::missing_parameter("redirect_uri"));
        }
        Some(r) if !crate::flow::redirect::same_redirect_uri(r, registered) => {
            return burn(
                Code::CodeRedirectUriMismatch.aadsts(&[("uri", &r), ("registered", &registered)]),
            )
        }
        Some(_) => {}
    }
    let challenge = code.attr("code_challenge").map(CodeChallenge::from_stored);
    if let Err(e) = pkce::verify(challenge.as_ref(), verifier) {
        return CodeDecision::Burn(e);
    }
    CodeDecision::Redeem
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn code(state: GrantState) -> Grant {
        Grant {
            handle: "h".into(),
            kind: GrantKind::Code,
            tenant_id: TenantId::from_random([1; 16]),
            family: Some("h".into()),
            user_id: None,
            lookup: None,
            state,
            created: Timestamp::from_secs(100),
            expires: Timestamp::from_secs(100 + CODE_LIFETIME_SECS),
            attrs: vec![
                ("client_id".into(), "c".into()),
                ("redirect_uri".into(), "https://app/cb".into()),
                ("code_challenge".into(), pkce::s256(VERIFIER)),
            ],
        }
    }

    fn code_of(d: &CodeDecision) -> Option<u32> {
        match d {
            CodeDecision::Redeem => None,
            CodeDecision::RevokeFamily(e) | CodeDecision::Refuse(e) | CodeDecision::Burn(e) => {
                Some(e.code)
            }
        }
    }

    #[test]
    fn every_wrong_parameter_of_a_live_code_burns_it() {
        let at = Timestamp::from_secs(200);
        let c = code(GrantState::Active);
        let wrong = "aBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let cases: [(&str, Option<&str>, Option<&str>); 5] = [
            ("other", Some("https://app/cb"), Some(VERIFIER)),
            ("c", Some("https://app/cb/"), Some(VERIFIER)),
            ("c", None, Some(VERIFIER)),
            ("c", Some("https://app/cb"), None),
            ("c", Some("https://app/cb"), Some(wrong)),
        ];
        for (client, redirect, verifier) in cases {
            assert!(
                matches!(
                    decide(&c, client, redirect, verifier, at),
                    CodeDecision::Burn(_)
                ),
                "{client} {redirect:?} {verifier:?}"
            );
        }
        // The spent code: a later correct attempt is 54005 (and revokes the empty family).
        let spent = burned(&c, at).unwrap();
        assert_eq!(spent.state, GrantState::Used);
        let d = decide(&spent, "c", Some("https://app/cb"), Some(VERIFIER), at);
        assert!(
            matches!(d, CodeDecision::RevokeFamily(ref e) if e.code == 54005 && e.message.contains("earlier redemption attempt")),
            "{d:?}"
        );
        // Not live: nothing to spend.
        assert!(burned(&code(GrantState::Used), at).is_none());
        assert!(burned(&code(GrantState::Revoked), at).is_none());
        assert!(burned(&c, Timestamp::from_secs(700)).is_none());
        // Expired, revoked and foreign codes are refused without a write.
        assert!(matches!(
            decide(
                &c,
                "other",
                Some("https://app/cb"),
                Some(VERIFIER),
                Timestamp::from_secs(700)
            ),
            CodeDecision::Refuse(_)
        ));
    }

    #[test]
    fn an_spa_code_outside_a_cross_origin_request_is_refused_unspent() {
        let at = Timestamp::from_secs(200);
        let mut c = code(GrantState::Active);
        c.set("spa", "1");
        let wrong = "aBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        for v in [VERIFIER, wrong] {
            let d = decide_request(&c, "c", Some("https://app/cb"), Some(v), false, at);
            assert!(
                matches!(d, CodeDecision::Refuse(ref e) if e.code == 9002327),
                "{d:?}"
            );
        }
        assert_eq!(
            decide_request(&c, "c", Some("https://app/cb"), Some(VERIFIER), true, at),
            CodeDecision::Redeem
        );
        assert!(matches!(
            decide_request(&c, "c", Some("https://app/cb"), Some(wrong), true, at),
            CodeDecision::Burn(_)
        ));
        // A replay is a replay, with or without Origin.
        let mut used = c.clone();
        used.state = GrantState::Used;
        assert!(matches!(
            decide_request(
                &used,
                "c",
                Some("https://app/cb"),
                Some(VERIFIER),
                false,
                at
            ),
            CodeDecision::RevokeFamily(_)
        ));
    }

    #[test]
    fn a_fresh_code_with_matching_everything_redeems() {
        let d = decide(
            &code(GrantState::Active),
            "c",
            Some("https://app/cb"),
            Some(VERIFIER),
            Timestamp::from_secs(200),
        );
        assert_eq!(d, CodeDecision::Redeem);
    }

    #[test]
    fn a_loopback_redirect_uri_matches_after_normalisation() {
        let mut g = code(GrantState::Active);
        g.attrs.retain(|(k, _)| k != "redirect_uri");
        g.attrs
            .push(("redirect_uri".into(), "http://localhost:53123".into()));
        let at = Timestamp::from_secs(200);
        let with = |r: &str| decide(&g, "c", Some(r), Some(VERIFIER), at);
        assert_eq!(with("http://localhost:53123/"), CodeDecision::Redeem);
        assert_eq!(with("http://LOCALHOST:53123"), CodeDecision::Redeem);
        assert_eq!(code_of(&with("http://localhost:53124/")), Some(70000));
    }

    #[test]
    fn a_redeemed_code_revokes_its_family() {
        let d = decide(
            &code(GrantState::Used),
            "c",
            Some("https://app/cb"),
            Some(VERIFIER),
            Timestamp::from_secs(200),
        );
        assert!(matches!(d, CodeDecision::RevokeFamily(ref e) if e.code == 54005));
    }

    #[test]
    fn each_mismatch_is_refused_with_its_code() {
        let at = Timestamp::from_secs(200);
        let c = code(GrantState::Active);
        assert_eq!(
            code_of(&decide(
                &code(GrantState::Revoked),
                "c",
                Some("https://app/cb"),
                Some(VERIFIER),
                at
            )),
            Some(70008)
        );
        assert_eq!(
            code_of(&decide(
                &c,
                "c",
                Some("https://app/cb"),
                Some(VERIFIER),
                Timestamp::from_secs(700)
            )),
            Some(70008)
        );
        assert_eq!(
            code_of(&decide(
                &c,
                "other",
                Some("https://app/cb"),
                Some(VERIFIER),
                at
            )),
            Some(700005)
        );
        assert_eq!(
            code_of(&decide(
                &c,
                "c",
                Some("https://app/cb/"),
                Some(VERIFIER),
                at
            )),
            Some(70000),
            "trailing slash matters"
        );
        assert_eq!(
            code_of(&decide(&c, "c", None, Some(VERIFIER), at)),
            Some(900144)
        );
        assert_eq!(
            code_of(&decide(&c, "c", Some("https://app/cb"), None, at)),
            Some(900144)
        );
        let wrong = "aBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(code_of(&decide(&c, "c", Some("https://app/cb"), Some(wrong), at)).is_some());
        let mut refresh = c.clone();
        refresh.kind = GrantKind::Refresh;
        assert_eq!(
            code_of(&decide(
                &refresh,
                "c",
                Some("https://app/cb"),
                Some(VERIFIER),
                at
            )),
            Some(9002313)
        );
    }

    #[test]
    fn a_code_without_challenge_refuses_a_verifier() {
        let mut c = code(GrantState::Active);
        c.attrs.retain(|(k, _)| k != "code_challenge");
        let at = Timestamp::from_secs(200);
        assert_eq!(
            decide(&c, "c", Some("https://app/cb"), None, at),
            CodeDecision::Redeem
        );
        assert!(code_of(&decide(&c, "c", Some("https://app/cb"), Some(VERIFIER), at)).is_some());
    }
}
